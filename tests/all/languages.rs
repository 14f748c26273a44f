//! Handlers in C, Python and JavaScript (`examples/{c,python,js}`, built by `cargo xtask
//! handlers` into `NAME_c.wasm`, `NAME_py.wasm`, `NAME_js.wasm`): on the same events each
//! prints byte for byte what the Rust handler of the same name prints, and the sandbox holds
//! for them as for Rust.
//!
//! Without these toolchains (`cargo xtask handlers --skip-languages`) the components are
//! missing and these tests say so and pass, except under CI (`CI` set), where they fail.

use super::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use wprobe::events_file::make_record;
use wprobe::probe::{CaptureBase, CaptureSpec};
use wprobe::sandbox::{FaultCause, LoadedHandler};
use wprobe::session::SessionError;
use wprobe_common::abi::x86_64;
use wprobe_common::ext::{ExtWriter, Space, KIND_CAPTURE, SPACE_KERNEL, SPACE_USER, STATUS_FAULT, STATUS_OK};
use wprobe_common::record::{FLAG_EXT, FLAG_RETURN};
use wprobe_common::EventHeader;

pub(super) const LANGUAGES: [&str; 3] = ["c", "py", "js"];
const SEED_LINE: &str = "kprobe.function(\"tcp_v4_connect\"), 32372, 11, 0xffff81024ce51380, 0xffff81038aa2fec8, 16\n";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// `target/handlers/NAME.wasm`. A missing one fails the test: these handlers can be built
/// on every machine `.ci/setup` has prepared, so a skip would only hide a broken build.
fn built(name: &str) -> Option<PathBuf> {
    let path = target_dir().join("handlers").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build every language with `cargo xtask handlers` (toolchains: bash .ci/setup)",
        path.display()
    );
    Some(path)
}

/// One runtime for the module, caching compiled code in the same directory as the `wprobe`
/// CLI that `wprobe()` runs: Python and JavaScript components take many seconds to compile,
/// so each is compiled once per test run, whichever path loads it first.
pub(super) fn shared_runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(RuntimeConfig { cache_dir: Some(scratch_dir("cache")), ..Default::default() }).unwrap()
    })
}

pub(super) fn load(path: &std::path::Path) -> Arc<LoadedHandler> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<LoadedHandler>>>> = OnceLock::new();
    let mut map = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    map.entry(path.to_path_buf()).or_insert_with(|| Arc::new(shared_runtime().load(path).unwrap())).clone()
}

/// Runs `records` through the handler at `path` in batches of `batch`: its stdout, or the
/// error that ended it.
fn output(path: &std::path::Path, args: &[(&str, &str)], records: &[Vec<u8>], batch: usize) -> Result<String, String> {
    let loaded = load(path);
    let mut h = shared_runtime().start(&loaded, &session(args), Limits::default()).map_err(|e| e.to_string())?;
    let run = run_records(&mut h, Arch::X86_64, records, batch);
    match run.result {
        Ok(()) => Ok(run.stdout),
        Err(e) => Err(format!("{e}\nstdout: {}\nstderr: {}", run.stdout, run.stderr)),
    }
}

/// Asserts that every language's `name` prints what the Rust `name` prints; returns that.
pub(super) fn same_as_rust(name: &str, args: &[(&str, &str)], records: &[Vec<u8>], batch: usize) -> String {
    let expected = output(&handler(name), args, records, batch).unwrap();
    for lang in LANGUAGES {
        let Some(path) = built(&format!("{name}_{lang}")) else { continue };
        let got = output(&path, args, records, batch).unwrap_or_else(|e| panic!("{name}_{lang}: {e}"));
        assert_eq!(got, expected, "{name}_{lang} differs from the Rust {name}");
    }
    expected
}

#[test]
fn tcp_connect_prints_the_seed_line_in_every_language() {
    let mut records = vec![seed_entry(32372, 11)];
    records.extend((0..9).map(|i| seed_entry(4000 + i * 37, i % 3)));
    let out = same_as_rust("tcp_connect", &[], &records, 4);
    assert!(out.starts_with(SEED_LINE), "{out}");
    assert_eq!(out.lines().count(), 10);
}

#[test]
fn count_summarises_alike_in_every_language() {
    let pids = [7, 9, 7, 7, 9, 3, 11, 3, 7, 100_000, 4_000_000, 9];
    let records: Vec<_> = pids.iter().map(|&pid| seed_entry(pid, 0)).collect();
    let out = same_as_rust("count", &[], &records, 4);
    assert_eq!(
        out,
        "pid 7 (curl): 4\npid 9 (curl): 3\npid 3 (curl): 2\npid 11 (curl): 1\npid 100000 (curl): 1\n\
         pid 4000000 (curl): 1\ntotal: 12\n"
    );
}

#[test]
fn count_exits_alike_in_every_language() {
    let records: Vec<_> = (0..10).map(|i| seed_entry(100 + i, 0)).collect();
    let out = same_as_rust("count", &[("exit_after", "3")], &records, 2);
    assert!(out.ends_with("total: 4\n"), "{out}");
}

#[test]
fn count_refuses_a_bad_argument_alike_in_every_language() {
    let rust = output(&handler("count"), &[("exit_after", "many")], &[], 1).unwrap_err();
    let message = "--arg exit_after=many: expected a number of events";
    assert!(rust.contains(message), "{rust}");
    for lang in LANGUAGES {
        let Some(path) = built(&format!("count_{lang}")) else { continue };
        let err = output(&path, &[("exit_after", "many")], &[], 1).unwrap_err();
        assert!(err.contains(message), "count_{lang}: {err}");
    }
}

/// `int_returnval()` & co. decode the return register alike in every SDK: an `int`
/// function's `-ENOENT` with rax's upper half clear reads `-2 (ENOENT)`, not `4294967294`.
#[test]
fn typed_return_values_decode_alike_in_every_language() {
    let rets = [0xffff_fffe, 0, -111, 0x1234_5678_0000_0005, -2];
    let records: Vec<_> = rets.iter().enumerate().map(|(i, &r)| seed_return(7 + i as u32, r)).collect();
    let out = same_as_rust("errno_ret", &[], &records, 2);
    let pp = "kprobe.function(\"tcp_v4_connect\").return";
    assert_eq!(
        out,
        format!(
            "{pp}: int -2 (ENOENT), unsigned int 4294967294, long 4294967294, unsigned long 4294967294\n\
             {pp}: int 0, unsigned int 0, long 0, unsigned long 0\n\
             {pp}: int -111 (ECONNREFUSED), unsigned int 4294967185, long -111, unsigned long 18446744073709551505\n\
             {pp}: int 5, unsigned int 5, long 1311768464867721221, unsigned long 1311768464867721221\n\
             {pp}: int -2 (ENOENT), unsigned int 4294967294, long -2, unsigned long 18446744073709551614\n"
        )
    );
}

/// The message a handler's error ends the session with, and what it printed before.
fn handler_error(path: &std::path::Path, args: &[(&str, &str)], records: &[Vec<u8>]) -> (String, String) {
    let loaded = load(path);
    let mut h = shared_runtime().start(&loaded, &session(args), Limits::default()).unwrap();
    let run = run_records(&mut h, Arch::X86_64, records, records.len());
    let Err(SessionError::Handler(fault)) = run.result else { panic!("{}: no error", path.display()) };
    let FaultCause::HandlerError(msg) = &fault.cause else { panic!("{}: {fault}", path.display()) };
    // Where the host says it happened: from its cursor, which the SDK put on the event.
    let at = fault.event.as_ref().map_or("(no event)".into(), |e| format!("(event {}, pid {})", e.index + 1, e.pid));
    (format!("{at}: {msg}"), run.stdout)
}

/// An accessor's error ends the session with the same words, naming the same event, in
/// every language (the C SDK's recorded error, Python's and JavaScript's AccessError, Rust's
/// `?`); the output printed before it is kept, the failing event's is not.
#[test]
fn access_errors_read_alike_in_every_language() {
    let records = [seed_entry(7, 0), seed_entry(8, 1)];
    for what in ["argument", "register", "returnval"] {
        let args = [("what", what)];
        let (expected, out) = handler_error(&handler("access_error"), &args, &records);
        // The SDK sends the message only; the host's report names the event (handler_error).
        assert!(expected.starts_with("(event 1, pid 7): ") && !expected.contains("batch"), "{expected}");
        assert_eq!(out, "");
        for lang in LANGUAGES {
            let Some(path) = built(&format!("access_error_{lang}")) else { continue };
            assert_eq!(handler_error(&path, &args, &records), (expected.clone(), out.clone()), "access_error_{lang}");
        }
    }
    for lang in LANGUAGES {
        let Some(path) = built(&format!("access_error_{lang}")) else { continue };
        let err = output(&path, &[("what", "bogus")], &[], 1).unwrap_err();
        assert!(
            err.contains("--arg what=bogus: expected argument, register, returnval, memory, address, field or entry"),
            "access_error_{lang}: {err}"
        );
    }
}

// ---- Probe-time data (WIT 0.2.0): extension areas, captures, entry values ----------------

/// `record` (from `make_record`) with the extension area `ext` after its registers.
fn with_ext(mut record: Vec<u8>, ext: &ExtWriter) -> Vec<u8> {
    let flags = u32::from_le_bytes(record[4..8].try_into().unwrap()) | FLAG_EXT;
    record[4..8].copy_from_slice(&flags.to_le_bytes());
    record.extend_from_slice(&ext.finish());
    record
}

/// An entry event whose arguments 1 to 3 point at captured memory: kernel bytes at
/// `arg1 + 8` (integers of every width, negative ones, and a pointer), a user string with a
/// byte that is not UTF-8 at `arg2`, a kernel string cut in the middle of a UTF-8 sequence at
/// `arg3`.
fn captured_entry(pid: u32) -> Vec<u8> {
    let mut regs = [0u64; x86_64::NREGS];
    regs[x86_64::RDI] = 0x7000;
    regs[x86_64::RSI] = 0x5000 + u64::from(pid);
    regs[x86_64::RDX] = 0x9000;
    let header = EventHeader { probe_id: 0, pid, tid: pid, ..Default::default() };
    let kernel = [0x80, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
    let mut ext = ExtWriter::default();
    ext.item(KIND_CAPTURE, STATUS_OK, SPACE_USER, 0, regs[x86_64::RSI], b"/tmp/x\xffy")
        .item(KIND_CAPTURE, STATUS_OK, SPACE_KERNEL, 1, 0x7008, &kernel)
        .item(KIND_CAPTURE, STATUS_OK, SPACE_KERNEL, 2, 0x9000, b"sock\xc3");
    with_ext(make_record(Arch::X86_64, &header, &regs), &ext)
}

/// A return event paired with its entry (whose first argument differs from the return's
/// clobbered register), returning a pointer to a captured user string.
fn captured_return(pid: u32) -> Vec<u8> {
    let mut regs = [0u64; x86_64::NREGS];
    regs[x86_64::RAX] = 0x6000;
    regs[x86_64::RDI] = 0xdead;
    let mut entry_regs = [0u64; x86_64::NREGS];
    entry_regs[x86_64::RDI] = 0x5000;
    let header =
        EventHeader { probe_id: 1, flags: FLAG_RETURN, pid, tid: pid, timestamp_ns: 1_000_500, ..Default::default() };
    let mut ext = ExtWriter::default();
    ext.entry(1_000_000, &entry_regs).item(KIND_CAPTURE, STATUS_OK, SPACE_USER, 3, 0x6000, b"hello, world");
    with_ext(make_record(Arch::X86_64, &header, &regs), &ext)
}

/// The memory, entry-value and latency accessors answer alike in every language, over
/// batches that mix records with and without extension areas of different lengths (so the
/// flat decoders must step over each area), and every language declares the same captures.
#[test]
fn probe_data_reads_alike_in_every_language() {
    let records =
        vec![captured_entry(7), captured_return(8), captured_entry(9), captured_entry(10), captured_return(11)];
    let out = same_as_rust("probe_data", &[], &records, 2);
    let entry = |pid: u32| {
        format!(
            "{pid} target=0 entry path=/tmp/x\\xffy path4=/tmp char=-128 short=-128 int=-65664 long=-65664 \
             ptr=0x1122334455667788 kbytes=fffeffff kstr=sock\\xc3 kstr2=so\n"
        )
    };
    let ret = |pid: u32| {
        format!(
            "{pid} target=0 return entry_ts=1000000 latency=500 arg1=0x5000 name=hello, world uchar=104 \
             ushort=25960 uint=1819043176 ulong=8583909746840200552 ubytes=68656c\n"
        )
    };
    assert_eq!(out, [entry(7), ret(8), entry(9), entry(10), ret(11)].concat());

    let captures = |path: &std::path::Path| {
        let h = shared_runtime().start(&load(path), &session(&[]), Limits::default()).unwrap();
        h.captures().to_vec()
    };
    let spec = |base, offset, derefs: Vec<i64>, string, size, space, probe, at_entry| CaptureSpec {
        probe,
        base,
        offset,
        derefs,
        string,
        size,
        space,
        at_entry,
    };
    let expected = vec![
        spec(CaptureBase::Arg(2), 0, vec![], true, 256, Space::User, None, true),
        spec(CaptureBase::Arg(1), 8, vec![], false, 16, Space::Kernel, Some(0), true),
        spec(CaptureBase::Register("rdx".into()), 0, vec![0, -8], true, 32, Space::Kernel, None, true),
        spec(CaptureBase::ReturnValue, 0, vec![], true, 64, Space::User, Some(1), false),
        spec(CaptureBase::Field("filename".into()), -16, vec![], false, 4, Space::User, None, true),
    ];
    assert_eq!(captures(&handler("probe_data")), expected);
    for lang in LANGUAGES {
        let Some(path) = built(&format!("probe_data_{lang}")) else { continue };
        assert_eq!(captures(&path), expected, "probe_data_{lang}");
    }
}

/// The access errors WIT 0.2.0 added end the session with the same words in every language.
#[test]
fn probe_data_errors_read_alike_in_every_language() {
    let mut faulted = ExtWriter::default();
    faulted.item(KIND_CAPTURE, STATUS_FAULT, SPACE_USER, 0, 0xffff_8102_4ce5_1380, b"");
    let cases = [
        (
            "memory",
            vec![seed_entry(7, 0)],
            "memory at 0xffff81024ce51380 was not captured at probe time: add a capture of pointer_arg(1) in init",
        ),
        (
            "memory",
            vec![with_ext(seed_entry(7, 0), &faulted)],
            "reading memory at 0xffff81024ce51380 faulted at probe time (a bad or paged-out address)",
        ),
        (
            "address",
            vec![seed_entry(7, 0)],
            "memory at 0x1234 was not captured at probe time: declare a capture that covers it in init",
        ),
        (
            "field",
            vec![seed_entry(7, 0)],
            "fields exist only in tracepoint probes (--tracepoint, kernel.trace(\"CAT:NAME\"))",
        ),
        (
            "entry",
            vec![seed_return(7, 0)],
            "the entry of this return was not seen (attached mid-call, or the entry event was lost): entry arguments \
             and latency are unknown",
        ),
    ];
    for (what, records, words) in cases {
        let args = [("what", what)];
        let (expected, out) = handler_error(&handler("access_error"), &args, &records);
        assert!(expected.ends_with(&format!("): {words}")), "{what}: {expected}");
        for lang in LANGUAGES {
            let Some(path) = built(&format!("access_error_{lang}")) else { continue };
            assert_eq!(handler_error(&path, &args, &records), (expected.clone(), out.clone()), "access_error_{lang}");
        }
    }
}

/// Through `wprobe replay`, on every recording under tests/fixtures.
#[test]
fn recorded_runs_replay_alike_in_every_language() {
    let dir = workspace_root().join("tests").join("fixtures");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => {
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "events")).collect()
        }
        Err(_) => Vec::new(),
    };
    files.sort();
    // The synthetic recording too, so that the test means something without fixtures.
    files.push(synthetic_events("languages", 300));
    for name in ["tcp_connect", "count"] {
        // Compile each once into the CLI's cache (see shared_runtime).
        load(&handler(name));
        for lang in LANGUAGES {
            if let Some(path) = built(&format!("{name}_{lang}")) {
                load(&path);
            }
        }
        for events in &files {
            let replay = |path: &std::path::Path| {
                let out = wprobe(&["replay", path.to_str().unwrap(), events.to_str().unwrap()]);
                assert!(out.status.success(), "{} on {}: {}", path.display(), events.display(), stderr(&out));
                stdout(&out)
            };
            let expected = replay(&handler(name));
            assert!(!expected.is_empty(), "{name} printed nothing on {}", events.display());
            for lang in LANGUAGES {
                let Some(path) = built(&format!("{name}_{lang}")) else { continue };
                assert_eq!(replay(&path), expected, "{name}_{lang} on {}", events.display());
            }
        }
    }
}

// ---- The conformance dump: every accessor, every access error ---------------------------

/// Runs `records` of `arch` through the handler at `path` in batches of `batch`: its stdout.
fn dump_of(path: &std::path::Path, arch: Arch, records: &[Vec<u8>], batch: usize) -> String {
    let session = Session { args: vec![], probes: seed_probes(), arch };
    let mut h = shared_runtime().start(&load(path), &session, Limits::default()).unwrap();
    let run = run_records(&mut h, arch, records, batch);
    run.result.unwrap_or_else(|e| panic!("{}: {e}\nstderr: {}", path.display(), run.stderr));
    run.stdout
}

/// Byte for byte, with the first line that differs in the message (dumps are long).
fn assert_same_dump(got: &str, expected: &str, what: &str) {
    if got == expected {
        return;
    }
    let line = got.lines().zip(expected.lines()).position(|(g, e)| g != e);
    let show = |t: &str, i: Option<usize>| i.and_then(|i| t.lines().nth(i)).unwrap_or("(end)").to_string();
    panic!(
        "{what} differs from the Rust dump at line {}:\n  got:      {}\n  expected: {}\n({} and {} lines)",
        line.map_or(0, |l| l + 1),
        show(got, line.or(Some(expected.lines().count()))),
        show(expected, line.or(Some(got.lines().count()))),
        got.lines().count(),
        expected.lines().count()
    );
}

/// Every accessor's answer and every access error, for every event, is the same in C,
/// Python and JavaScript as in Rust (flat and cursor), on synthetic batches of both
/// architectures: entries, returns with and without their entry, captured memory of every
/// width, faulted and missing captures.
#[test]
fn the_dump_reads_alike_in_every_language_on_both_architectures() {
    let mut faulted = ExtWriter::default();
    faulted.item(KIND_CAPTURE, STATUS_FAULT, SPACE_USER, 0, 0xffff_8103_8aa2_fec8, b"");
    let x86 = vec![
        seed_entry(10, 1),
        seed_return(10, -111),
        captured_entry(7),
        captured_return(8),
        with_ext(seed_entry(12, 2), &faulted),
        seed_return(11, 0),
    ];
    let arm = vec![super::abi::aarch64_entry(42), super::abi::aarch64_return(), super::abi::aarch64_entry(43)];
    for (arch, records) in [(Arch::X86_64, x86), (Arch::Aarch64, arm)] {
        let expected = dump_of(&handler("dump_flat"), arch, &records, 2);
        assert_same_dump(&dump_of(&handler("dump_cursor"), arch, &records, 2), &expected, "dump_cursor");
        assert_eq!(expected.matches("event pid=").count(), records.len(), "{expected}");
        // Not trivially alike: answers and errors of every kind are there.
        for words in [" = ", "not passed in a register", "no register named", "was not captured", "faulted at"] {
            assert!(expected.contains(words) || (arch == Arch::Aarch64 && words == "faulted at"), "{words}: {arch}");
        }
        for lang in LANGUAGES {
            let Some(path) = built(&format!("dump_{lang}")) else { continue };
            assert_same_dump(&dump_of(&path, arch, &records, 2), &expected, &format!("dump_{lang} on {arch}"));
        }
    }
}

/// The same, through `wprobe replay`, on every recording under tests/fixtures.
#[test]
fn the_dump_reads_alike_in_every_language_on_every_recording() {
    let dir = workspace_root().join("tests").join("fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "events"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no recordings under {}", dir.display());
    let paths: Vec<PathBuf> = LANGUAGES.iter().filter_map(|l| built(&format!("dump_{l}"))).collect();
    // Compile each once into the CLI's cache (see shared_runtime).
    for p in &paths {
        load(p);
    }
    for events in &files {
        // The dump makes some 300 accessor calls and lines per event: a whole recorded batch
        // takes the interpreted languages longer than the default 500 ms on a loaded machine,
        // prints more than the default 4 MiB per call, and JavaScript's heap grows with it.
        let replay = |path: &std::path::Path| {
            let (p, e) = (path.to_str().unwrap(), events.to_str().unwrap());
            let limits = ["--cpu-limit-ms", "60000", "--output-limit", "256M", "--memory-limit", "1G"];
            let out = wprobe(&[&["replay", p, e][..], &limits[..]].concat());
            assert!(out.status.success(), "{} on {}: {}", path.display(), events.display(), stderr(&out));
            stdout(&out)
        };
        let expected = replay(&handler("dump_flat"));
        assert!(expected.contains("event pid="), "{}", events.display());
        for p in &paths {
            assert_same_dump(&replay(p), &expected, &format!("{} on {}", p.display(), events.display()));
        }
    }
}

/// The context interface's import name at the WIT package's version, from wit/probe.wit.
fn context_import() -> String {
    let wit = std::fs::read_to_string(workspace_root().join("wit").join("probe.wit")).unwrap();
    let version = wit
        .lines()
        .find_map(|l| l.trim().strip_prefix("package wprobe:probe@")?.strip_suffix(';'))
        .expect("wit/probe.wit names its package");
    format!("wprobe:probe/context@{version}")
}

/// The C components import nothing but wprobe's context, like Rust ones; the Python ones
/// import WASI besides, which gives them nothing (next test); the JavaScript ones WASI's
/// WASI for stdout (the SDK's output path).
#[test]
fn c_and_javascript_components_import_only_the_context() {
    let context = context_import();
    for name in ["tcp_connect", "count"] {
        for lang in LANGUAGES {
            let Some(path) = built(&format!("{name}_{lang}")) else { continue };
            let imports = component_imports(&std::fs::read(&path).unwrap());
            assert!(imports.contains(&context), "{name}_{lang}: {imports:?}");
            let foreign: Vec<_> = imports.iter().filter(|i| !i.starts_with("wprobe:probe/")).collect();
            if lang == "py" {
                assert!(foreign.iter().all(|i| i.starts_with("wasi:")), "{name}_{lang}: {foreign:?}");
            } else if lang == "js" {
                // The engine's stdio brings its WASI worlds' imports; the host's WASI context
                // grants nothing but stdout and stderr into wprobe's output.
                assert!(foreign.iter().all(|i| i.starts_with("wasi:")), "{name}_{lang}: {foreign:?}");
            } else {
                assert!(foreign.is_empty(), "{name}_{lang} imports {foreign:?}");
            }
        }
    }
}

/// What a C or Python handler reaches through libc's or Python's own I/O: nothing.
#[test]
fn wasi_gives_c_and_python_handlers_nothing() {
    let records = [seed_entry(77, 0)];
    if let Some(path) = built("sandbox_c") {
        let out = output(&path, &[], &records, 1).unwrap();
        assert_eq!(
            out,
            "fopen /etc/hostname: error: Capabilities insufficient\n\
             opendir /: error\n\
             getenv PATH: (null)\n\
             env vars: 0\n\
             time: 0\n\
             getentropy: error\n\
             stdio printf: into the output\n\
             event: pid 77\n"
        );
    }
    if let Some(path) = built("sandbox_py") {
        let out = output(&path, &[], &records, 1).unwrap();
        assert_eq!(
            out,
            "open /etc/hostname: error: FileNotFoundError\n\
             listdir /: error: FileNotFoundError\n\
             getenv PATH: None\n\
             env vars: 0\n\
             time: 0\n\
             connect: error: ModuleNotFoundError\n\
             print: into the output\n\
             event: pid 77\n"
        );
    }
}

/// The instances and functions a component imports at its top level
/// (`wprobe:probe/context@0.2.0`, `wasi:cli/environment@0.2.6`, ...), read
/// from its import section (id 10) as the component model's binary format lays it out.
fn component_imports(bytes: &[u8]) -> Vec<String> {
    fn leb(b: &[u8], i: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    assert_eq!(&bytes[..8], b"\0asm\x0d\0\x01\0", "not a component");
    let mut names = Vec::new();
    let mut i = 8;
    while i < bytes.len() {
        let id = bytes[i];
        i += 1;
        let size = leb(bytes, &mut i) as usize;
        let end = i + size;
        if id == 10 {
            let mut j = i;
            for _ in 0..leb(bytes, &mut j) {
                let form = bytes[j];
                j += 1;
                let len = leb(bytes, &mut j) as usize;
                let name = String::from_utf8(bytes[j..j + len].to_vec()).unwrap();
                j += len;
                if form == 0x01 {
                    // A version suffix follows the name.
                    let len = leb(bytes, &mut j) as usize;
                    j += len;
                }
                // externdesc: sort byte, then an index or a bound. Types (0x03) are names
                // for the world's own `use`d types, which grant nothing: left out.
                if bytes[j] != 0x03 {
                    names.push(name);
                }
                match bytes[j] {
                    0x00 => {
                        j += 2;
                        leb(bytes, &mut j);
                    }
                    0x02 | 0x03 => {
                        let bound = bytes[j + 1];
                        j += 2;
                        if bound == 0x00 || bytes[j - 2] == 0x02 {
                            leb(bytes, &mut j);
                        }
                    }
                    _ => {
                        j += 1;
                        leb(bytes, &mut j);
                    }
                }
            }
        }
        i = end;
    }
    names
}

/// The C SDK's printf against wasi-libc's (tests/all/languages/c_printf.rs).
mod c_printf;
