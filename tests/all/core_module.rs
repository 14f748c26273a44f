//! Core modules with wit-bindgen's component-type section (what `cargo build --target
//! wasm32-unknown-unknown` gives with the SDK, or clang with the C SDK) run as handlers:
//! wprobe makes the component itself, caches the result, and refuses a module without the
//! section with the cause and the fix.

use super::*;
use wprobe::sandbox::{CacheOutcome, LoadError};

/// The core module `cargo xtask handlers` built for the Rust example `name`, before it became
/// `target/handlers/NAME.wasm`.
fn rust_core(name: &str) -> std::path::PathBuf {
    let path = target_dir().join("wasm32-unknown-unknown/handler").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `cargo xtask handlers` first", path.display());
    path
}

fn replay(handler: &std::path::Path, events: &str) -> std::process::Output {
    wprobe(&["replay", handler.to_str().unwrap(), fixture(events).to_str().unwrap()])
}

/// `module` without its custom sections named `component-type…`, section by section.
fn without_component_type(module: &[u8]) -> Vec<u8> {
    fn leb(bytes: &[u8], at: &mut usize) -> usize {
        let (mut v, mut shift) = (0usize, 0);
        loop {
            let b = bytes[*at];
            *at += 1;
            v |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return v;
            }
        }
    }
    let mut out = module[..8].to_vec();
    let mut at = 8;
    let mut dropped = 0;
    while at < module.len() {
        let start = at;
        let id = module[at];
        at += 1;
        let size = leb(module, &mut at);
        let body = at;
        at += size;
        if id == 0 {
            let mut p = body;
            let len = leb(module, &mut p);
            if module[p..p + len].starts_with(b"component-type") {
                dropped += 1;
                continue;
            }
        }
        out.extend_from_slice(&module[start..at]);
    }
    assert!(dropped > 0, "the module had no component-type section to drop");
    out
}

#[test]
fn a_rust_core_module_replays_byte_identical_to_its_component() {
    for (name, events) in [("tcp_connect", "target_entry.events"), ("count", "target_both.events")] {
        let core = rust_core(name);
        assert_eq!(&std::fs::read(&core).unwrap()[4..8], [1, 0, 0, 0], "{} is not a core module", core.display());
        let from_core = replay(&core, events);
        assert!(from_core.status.success(), "{}", stderr(&from_core));
        let from_component = replay(&handler(name), events);
        assert!(from_component.status.success(), "{}", stderr(&from_component));
        assert!(!from_core.stdout.is_empty());
        assert_eq!(stdout(&from_core), stdout(&from_component), "{name}");
    }
}

#[test]
fn a_c_core_module_replays_byte_identical_to_its_component() {
    // What `cargo xtask handlers` linked with clang before componentizing tcp_connect_c.
    let core = target_dir().join("guests/tcp_connect_c/tcp_connect_c.core.wasm");
    assert!(core.exists(), "{} is missing: build every language with `cargo xtask handlers`", core.display());
    let from_core = replay(&core, "target_entry.events");
    assert!(from_core.status.success(), "{}", stderr(&from_core));
    let want = replay(&handler("tcp_connect"), "target_entry.events");
    assert!(!from_core.stdout.is_empty());
    assert_eq!(stdout(&from_core), stdout(&want));
}

#[test]
fn a_core_module_is_componentized_once_then_comes_from_the_cache() {
    let dir = scratch_dir("core-module-cache");
    let core = std::fs::read(rust_core("regs")).unwrap();
    let rt = Runtime::new(RuntimeConfig { cache_dir: Some(dir.clone()), ..Default::default() }).unwrap();
    assert_eq!(rt.load_bytes("regs.core.wasm", &core).unwrap().cache_outcome(), CacheOutcome::Compiled);
    let rt2 = Runtime::new(RuntimeConfig { cache_dir: Some(dir), ..Default::default() }).unwrap();
    let loaded = rt2.load_bytes("regs.core.wasm", &core).unwrap();
    assert_eq!(loaded.cache_outcome(), CacheOutcome::Hit);
    let mut h = rt2.start(&loaded, &session(&[]), Limits::default()).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    run.result.unwrap();
    assert!(run.stdout.starts_with("1, "), "{}", run.stdout);
}

#[test]
fn a_core_module_without_the_component_type_section_is_refused_with_the_fix() {
    let stripped = without_component_type(&std::fs::read(rust_core("tcp_connect")).unwrap());
    let e = runtime().load_bytes("plain.wasm", &stripped).err().expect("loaded");
    assert!(matches!(e, LoadError::NoComponentType { .. }), "{e}");

    let path = scratch_dir("core-module").join("plain.wasm");
    std::fs::write(&path, &stripped).unwrap();
    let out = replay(&path, "target_entry.events");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("plain.wasm is a core WebAssembly module without wit-bindgen's `component-type` section"),
        "{err}"
    );
    assert!(err.contains("depend on wprobe-sdk") && err.contains("wprobe new"), "{err}");
    assert!(stdout(&out).is_empty());
}

/// What `cargo xtask handlers` linked for the C example `name` without the SDK's own WASI
/// answers (`wasi_deny.c`): a core module importing WASI preview 1.
fn wasip1_core(name: &str) -> std::path::PathBuf {
    let path = target_dir().join(format!("guests/{name}/{name}.wasip1.core.wasm"));
    assert!(path.exists(), "{} is missing: build every language with `cargo xtask handlers`", path.display());
    let bytes = std::fs::read(&path).unwrap();
    let imports_wasi = wasmparser::Parser::new(0).parse_all(&bytes).any(|p| match p.unwrap() {
        wasmparser::Payload::ImportSection(s) => {
            s.into_imports().any(|i| i.unwrap().module == "wasi_snapshot_preview1")
        }
        _ => false,
    });
    assert!(imports_wasi, "{} does not import WASI preview 1", path.display());
    path
}

#[test]
fn a_core_module_importing_wasi_runs_through_the_adapter_byte_identical() {
    let from_core = replay(&wasip1_core("tcp_connect_c"), "target_entry.events");
    assert!(from_core.status.success(), "{}", stderr(&from_core));
    let want = replay(&handler("tcp_connect"), "target_entry.events");
    assert!(!from_core.stdout.is_empty());
    assert_eq!(stdout(&from_core), stdout(&want));
}

/// Through the adapter, libc's WASI calls reach wprobe's own WASI context, which grants as
/// little as the C SDK's stubs: no files, no directories, no environment, a frozen clock.
#[test]
fn a_core_module_importing_wasi_gets_nothing_from_it() {
    let out = replay(&wasip1_core("sandbox_c"), "target_entry.events");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "fopen /etc/hostname: error: Capabilities insufficient",
        "opendir /: error",
        "getenv PATH: (null)",
        "env vars: 0",
        "time: 0",
        // libc's stdout reaches wprobe's output through WASI (not in order with the SDK's
        // buffered printf: that order needs wasi_deny.c).
        "stdio printf: into the output",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
}
