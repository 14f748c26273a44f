//! The flat path end to end, natively: `init`, `handle-batch` and `end` as the host calls
//! them, with the output imports replaced by a recorder (see `host.rs`).

use super::*;
use crate::host::imp::{take, Sent};
use crate::prelude::*;
use wprobe_common::abi::x86_64 as x86;
use wprobe_common::record::{record_size, FLAG_RETURN, HEADER_SIZE};
use wprobe_common::{BatchHeader, EventHeader};

struct Ev {
    probe_id: u32,
    flags: u32,
    pid: u32,
    cpu: u32,
    comm: &'static [u8],
    regs: Vec<(usize, u64)>,
}

impl Ev {
    fn new(pid: u32, cpu: u32, regs: &[(usize, u64)]) -> Self {
        Ev { probe_id: 0, flags: 0, pid, cpu, comm: b"curl", regs: regs.to_vec() }
    }
}

fn batch(arch: Arch, lost: u64, events: &[Ev]) -> Vec<u8> {
    let size = record_size(arch);
    let mut b = BatchHeader { arch, count: events.len() as u32, lost }.to_bytes().to_vec();
    for e in events {
        let mut comm = [0u8; 16];
        comm[..e.comm.len()].copy_from_slice(e.comm);
        let h = EventHeader {
            probe_id: e.probe_id,
            flags: e.flags,
            pid: e.pid,
            tid: e.pid + 1,
            uid: 1000,
            cpu: e.cpu,
            timestamp_ns: 5_000_000_000 + e.pid as u64,
            comm,
        };
        let mut r = vec![0u8; size];
        r[..HEADER_SIZE].copy_from_slice(&h.to_bytes());
        for &(slot, v) in &e.regs {
            r[HEADER_SIZE + 8 * slot..HEADER_SIZE + 8 * slot + 8].copy_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&r);
    }
    b
}

fn session(args: &[(&str, &str)]) -> wit::Session {
    let probe = |id, pp: &str, is_return| wit::ProbeInfo { id, pp: pp.into(), is_return, fields: vec![] };
    wit::Session {
        args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        probes: vec![
            probe(0, "kprobe.function(\"tcp_v4_connect\")", false),
            probe(1, "kprobe.function(\"tcp_v4_connect\").return", true),
        ],
        arch: wit::Arch::X8664,
    }
}

fn printed(sent: &[Sent]) -> String {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Printf(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// The article's first example, verbatim.
fn tcp_connect() -> Result<(), Error> {
    asmlinkage();
    printf!("{}, {}, {}, {:#x}, {:#x}, {}\n", pp(), pid(), cpu(), pointer_arg(1)?, pointer_arg(2)?, uint_arg(3)?);
    Ok(())
}

struct Probe0;
impl Handler for Probe0 {
    fn init(_: &Session) -> Result<Self, String> {
        Ok(Probe0)
    }
    fn event(&mut self) -> Result<(), Error> {
        tcp_connect()
    }
}

fn connect_event(pid: u32, cpu: u32) -> Ev {
    Ev::new(pid, cpu, &[(x86::RDI, 0xffff_8102_4ce5_1380), (x86::RSI, 0xffff_8103_8aa2_fec8), (x86::RDX, 16)])
}

#[test]
fn flat_batch_prints_the_articles_line_in_one_call() {
    let config = init::<Probe0>(session(&[])).unwrap();
    assert!(matches!(config.delivery, wit::Delivery::Flat));
    handle_batch(Some(batch(Arch::X86_64, 0, &[connect_event(32372, 11), connect_event(32373, 2)]))).unwrap();
    assert_eq!(
        take(),
        [Sent::Printf(
            "kprobe.function(\"tcp_v4_connect\"), 32372, 11, 0xffff81024ce51380, 0xffff81038aa2fec8, 16\n\
             kprobe.function(\"tcp_v4_connect\"), 32373, 2, 0xffff81024ce51380, 0xffff81038aa2fec8, 16\n"
                .into()
        )]
    );
    // An empty batch sends nothing.
    handle_batch(Some(batch(Arch::X86_64, 0, &[]))).unwrap();
    assert_eq!(take(), []);
}

/// Records every accessor's answer, so the test can compare them with the shared decoder.
#[derive(Default)]
struct Recorder {
    seen: Vec<String>,
}

impl Handler for Recorder {
    fn init(_: &Session) -> Result<Self, String> {
        Ok(Recorder::default())
    }
    fn event(&mut self) -> Result<(), Error> {
        self.seen.push(format!(
            "{} {} {} {} {} {} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            pid(),
            tid(),
            uid(),
            cpu(),
            timestamp_ns(),
            probe_id(),
            is_return(),
            lost_events(),
            pp(),
            execname(),
            int_arg(1),
            uint_arg(1),
            long_arg(1),
            ulong_arg(1),
            longlong_arg(2),
            ulonglong_arg(2),
            s32_arg(2),
            u32_arg(2),
            s64_arg(6),
            u64_arg(7),
            returnval(),
            returnstr().map(String::from),
            register("eax"),
            u_register("EAX"),
            register("rip"),
            register("nope"),
        ));
        Ok(())
    }
    fn end(&mut self) -> Result<(), Error> {
        for line in &self.seen {
            printf!("{line}\n");
        }
        Ok(())
    }
}

#[test]
fn flat_accessors_decode_like_systemtap() {
    init::<Recorder>(session(&[])).unwrap();
    let mut ret = Ev::new(7, 3, &[(x86::RAX, (-111i64) as u64), (x86::RIP, 0xffff_ffff_8025_b538)]);
    ret.probe_id = 1;
    ret.flags = FLAG_RETURN;
    ret.comm = b"a-very-long-comm"; // 16 bytes, no NUL
    let entry = Ev::new(
        4859,
        10,
        &[
            (x86::RDI, 0xffff_ffff_ffff_fff6),
            (x86::RSI, 0x1234_5678_8000_0000),
            (x86::RAX, 0xdead_beef_ffff_fffe),
            (x86::R9, 9),
        ],
    );
    handle_batch(Some(batch(Arch::X86_64, 42, &[entry, ret]))).unwrap();
    end().unwrap();
    let out = printed(&take());
    let lines: Vec<&str> = out.lines().collect();
    let nope = r#"Err(NoSuchRegister("nope"))"#;
    assert_eq!(
        lines[0],
        format!(
            "4859 4860 1000 10 5000004859 0 false 42 \"kprobe.function(\\\"tcp_v4_connect\\\")\" \"curl\" \
             Ok(-10) Ok(4294967286) Ok(-10) Ok(18446744073709551606) Ok(1311768467015204864) \
             Ok(1311768467015204864) Ok(-2147483648) Ok(2147483648) Ok(9) Err(NoSuchArgument(7)) \
             Err(NotAReturnProbe) Err(NotAReturnProbe) Ok(-2) Ok(4294967294) Ok(0) {nope}"
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "7 8 1000 3 5000000007 1 true 42 \"kprobe.function(\\\"tcp_v4_connect\\\").return\" \
             \"a-very-long-comm\" Err(NoEntry) Err(NoEntry) Err(NoEntry) Err(NoEntry) Err(NoEntry) Err(NoEntry) \
             Err(NoEntry) Err(NoEntry) Err(NoEntry) Err(NoSuchArgument(7)) \
             Ok(-111) Ok(\"-111 (ECONNREFUSED)\") Ok(-111) Ok(4294967185) Ok({}) {nope}",
            0xffff_ffff_8025_b538u64 as i64
        )
    );
    assert_eq!(lines.len(), 2);
}

struct RegsThenLine;
impl Handler for RegsThenLine {
    fn init(_: &Session) -> Result<Self, String> {
        Ok(RegsThenLine)
    }
    fn event(&mut self) -> Result<(), Error> {
        printf!("{}, {}, {:x}\n", pid(), cpu(), register("rip")?);
        print_regs()?;
        crate::warn!("seen {}", pid());
        printf!("after\n");
        exit();
        Ok(())
    }
}

#[test]
fn print_regs_warn_and_exit_keep_the_output_order() {
    init::<RegsThenLine>(session(&[])).unwrap();
    handle_batch(Some(batch(Arch::X86_64, 0, &[Ev::new(4859, 10, &[(x86::RIP, 0xffff_ffff_8025_b538)])]))).unwrap();
    let sent = take();
    let Sent::Printf(first) = &sent[0] else { panic!("{sent:?}") };
    assert!(first.starts_with("4859, 10, ffffffff8025b538\nRIP: ffffffff8025b538\n"), "{first}");
    assert!(first.ends_with("ORIG_RAX: 0000000000000000\n"), "{first}");
    assert_eq!(sent[1..], [Sent::Warn("seen 4859".into()), Sent::Printf("after\n".into()), Sent::Exit]);
}

struct FailsOnSecond {
    n: u32,
}
impl Handler for FailsOnSecond {
    fn init(session: &Session) -> Result<Self, String> {
        Ok(FailsOnSecond { n: session.arg_or("n", 9)? })
    }
    fn event(&mut self) -> Result<(), Error> {
        printf!("event {}\n", pid());
        if pid() == 2 {
            pointer_arg(self.n)?;
        }
        Ok(())
    }
}

#[test]
fn an_event_error_names_the_event_and_keeps_earlier_output() {
    init::<FailsOnSecond>(session(&[])).unwrap();
    let err = handle_batch(Some(batch(Arch::X86_64, 0, &[Ev::new(1, 0, &[]), Ev::new(2, 0, &[]), Ev::new(3, 0, &[])])))
        .unwrap_err();
    // The message only: the host words the position, from its cursor, which the SDK moved
    // onto the second event (two `next()` calls) before failing.
    assert_eq!(
        err,
        "argument 9 is not passed in a register (arguments count from 1; x86_64 passes 6 in registers, aarch64 8)"
    );
    assert_eq!(take(), [Sent::Next, Sent::Next, Sent::Printf("event 1\nevent 2\n".into())]);
}

#[test]
fn init_errors_and_arguments() {
    assert_eq!(init::<FailsOnSecond>(session(&[("n", "x")])).unwrap_err(), "--arg n=x: invalid digit found in string");
    let s = convert_session(session(&[("n", "1"), ("k", "v"), ("n", "3")]));
    assert_eq!(s.arg("n"), Some("3"));
    assert_eq!(s.arg_or("k", String::new()).unwrap(), "v");
    assert_eq!(s.arg_or("missing", 5u8).unwrap(), 5);
    assert_eq!(s.args().len(), 3);
    assert_eq!(s.arch(), Arch::X86_64);
    assert_eq!(s.probes()[1].pp, "kprobe.function(\"tcp_v4_connect\").return");
    assert!(s.probes()[1].is_return);
}

#[test]
fn handle_batch_before_init_and_bad_batches_are_errors() {
    assert!(handle_batch(None).unwrap_err().contains("before a successful init"));
    init::<Probe0>(session(&[])).unwrap();
    let err = handle_batch(Some(b"nonsense".to_vec())).unwrap_err();
    assert_eq!(err, "the host sent a malformed flat batch: batch shorter than its header");
}

#[test]
fn fallible_accessors_outside_an_event_say_so() {
    assert_eq!(pointer_arg(1), Err(AccessError::NoCurrentEvent));
    assert_eq!(returnval(), Err(AccessError::NoCurrentEvent));
    assert_eq!(register("rip"), Err(AccessError::NoCurrentEvent));
    assert_eq!(print_regs(), Err(AccessError::NoCurrentEvent));
}

#[test]
#[should_panic(expected = "wprobe_sdk::pid() called outside an event")]
fn infallible_accessors_outside_an_event_panic() {
    pid();
}

#[test]
fn aarch64_batches_decode_with_aarch64_rules() {
    init::<Recorder>(session(&[])).unwrap();
    let e = Ev::new(1, 0, &[(0, 0x1_ffff_ffff), (6, 66), (32, 0x40_0000)]);
    let mut r = Ev::new(1, 0, &[(0, 0x1_ffff_ffff), (6, 66), (32, 0x40_0000)]);
    r.flags = FLAG_RETURN;
    handle_batch(Some(batch(Arch::Aarch64, 0, &[e, r]))).unwrap();
    end().unwrap();
    let out = printed(&take());
    // x0 is argument 1 and, in the return, the return value; argument 7 exists on aarch64;
    // rip does not; a return without its entry has no arguments.
    assert!(out.contains("Ok(-1) Ok(4294967295) Ok(8589934591)"), "{out}");
    assert!(out.contains("Ok(0) Ok(66) Err(NotAReturnProbe)"), "{out}");
    assert!(out.contains("Err(NoEntry) Err(NoEntry) Ok(8589934591) Ok(\"8589934591\")"), "{out}");
    assert!(out.ends_with("Err(NoSuchRegister(\"rip\")) Err(NoSuchRegister(\"nope\"))\n"), "{out}");
}

#[test]
fn panic_reports_name_the_place_in_the_source() {
    let l = std::panic::Location::caller();
    let r = panic_report(Some(l), "boom");
    assert_eq!(r, format!("handler panicked at {}:{}: boom", l.file(), l.line()));
}

/// Prints each typed decode of the return value, and the errno name of the `int` one.
struct TypedReturns;
impl Handler for TypedReturns {
    fn init(_: &Session) -> Result<Self, String> {
        Ok(TypedReturns)
    }
    fn event(&mut self) -> Result<(), Error> {
        let r = int_returnval()?;
        printf!(
            "{} | {r} ({}) {} {} {}\n",
            returnval()?,
            errno_str(r.into()).unwrap_or("?"),
            uint_returnval()?,
            long_returnval()?,
            ulong_returnval()?
        );
        Ok(())
    }
}

#[test]
fn typed_returns_decode_an_int_functions_errno() {
    init::<TypedReturns>(session(&[])).unwrap();
    // `return -ENOENT;` from an `int` function: only eax is written, rax's upper half is 0.
    let mut ret = Ev::new(7, 0, &[(x86::RAX, 0x0000_0000_ffff_fffe)]);
    ret.probe_id = 1;
    ret.flags = FLAG_RETURN;
    handle_batch(Some(batch(Arch::X86_64, 0, &[ret]))).unwrap();
    assert_eq!(printed(&take()), "4294967294 | -2 (ENOENT) 4294967294 4294967294 4294967294\n");

    // In an entry probe each decode fails like returnval() itself.
    init::<TypedReturns>(session(&[])).unwrap();
    assert!(handle_batch(Some(batch(Arch::X86_64, 0, &[Ev::new(7, 0, &[])]))).unwrap_err().contains("return probe"));
}
