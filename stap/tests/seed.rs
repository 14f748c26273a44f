//! The seed's three scripts on hand-made events, against the Rust examples' format.

mod common;
use common::{run, Event};

fn tcp_event(ret: Option<i64>) -> Event {
    Event {
        pp: if ret.is_some() {
            "kprobe.function(\"tcp_v4_connect\").return"
        } else {
            "kprobe.function(\"tcp_v4_connect\")"
        }
        .into(),
        pid: 32372,
        cpu: 11,
        args: vec![0xffff81024ce51380, 0xffff81038aa2fec8, 16],
        ret,
        regs: [("rip".to_string(), 0xffffffff8025b538u64 as i64)].into_iter().collect(),
        ..Event::default()
    }
}

#[test]
fn the_article_lines() {
    let o = run(
        r#"probe kprobe.function("tcp_v4_connect") { asmlinkage(); printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3)) }"#,
        &[],
        &[tcp_event(None)],
    )
    .unwrap();
    assert_eq!(o.out, "kprobe.function(\"tcp_v4_connect\"), 32372, 11, 0xffff81024ce51380, 0xffff81038aa2fec8, 16\n");
    let o = run(
        r#"probe kprobe.function("tcp_v4_connect").return { asmlinkage(); printf("%d\n", returnval()); }"#,
        &[],
        &[tcp_event(Some(0)), tcp_event(Some(-111))],
    )
    .unwrap();
    assert_eq!(o.out, "0\n-111\n");
    let o = run(
        r#"probe kprobe.function("tcp_v4_connect") { printf("%d, %d, %x\n", pid(), cpu(), register("rip")); exit() }"#,
        &[],
        &[tcp_event(None), tcp_event(None)],
    )
    .unwrap();
    // exit(): no probe body runs after it.
    assert_eq!(o.out, "32372, 11, ffffffff8025b538\n");
}

#[test]
fn event_strings_written_straight_into_the_line_keep_their_format() {
    // pp() and execname() are formatted in place, after the other arguments were evaluated.
    let mut ev = tcp_event(None);
    ev.execname = "curl".into();
    let o = run(
        r#"global n; probe kprobe.function("tcp_v4_connect") { printf("[%.6s|%6s|%-6s|%d|%s]\n", pp(), execname(), execname(), n++, sprintf("%s-%d", execname(), n)) }"#,
        &[],
        &[ev.clone(), ev],
    )
    .unwrap();
    assert_eq!(o.out, "[kprobe|  curl|curl  |0|curl-1]\n[kprobe|  curl|curl  |1|curl-2]\n");
}

#[test]
fn binding_session_probes_to_probe_clauses() {
    use wprobe_stap::{bind, Script};
    let s = Script::parse(
        r#"probe kprobe.function("tcp_*") { } probe process("./t").function("f").return { } probe nd_syscall.open* { }"#,
        "<input>",
        &[],
    )
    .unwrap();
    let b = bind(
        &s,
        &[
            r#"kprobe.function("tcp_v4_connect")"#,
            r#"process("/abs/t").function("f").return"#,
            "nd_syscall.openat",
            r#"kprobe.function("udp_sendmsg")"#,
        ],
    )
    .unwrap();
    assert_eq!(b.bodies, vec![vec![0], vec![1], vec![2], vec![]]);
    assert_eq!(b.notes.len(), 1, "{:?}", b.notes);
    // A recording of other probes replays through a script's only body, with a note.
    let one = Script::parse(r#"probe kprobe.function("x") { }"#, "<input>", &[]).unwrap();
    let b = bind(&one, &[r#"process("/t").function("f")"#]).unwrap();
    assert_eq!(b.bodies, vec![vec![0]]);
    assert!(b.notes[0].contains("is not one of the script's probe points"), "{:?}", b.notes);
    let two =
        Script::parse(r#"probe kprobe.function("x") { } probe kprobe.function("y") { }"#, "<input>", &[]).unwrap();
    assert!(bind(&two, &[r#"process("/t").function("f")"#]).unwrap_err().contains("several probe bodies"));
}

#[test]
fn captures_come_from_the_memory_reads() {
    use wprobe_stap::{CaptureBase, Script};
    let s = Script::parse(
        r#"probe nd_syscall.openat { printf("%s %d %s\n", user_string(pointer_arg(2)), kernel_int(pointer_arg(1) + 4),
             kernel_string(kernel_pointer(register("rdi") + 8) + 16)) }"#,
        "<input>",
        &[],
    )
    .unwrap();
    let c = s.captures(0);
    assert_eq!(c.len(), 4, "{c:?}");
    assert_eq!((c[0].base.clone(), c[0].user, c[0].string, c[0].size), (CaptureBase::Arg(2), true, true, 256));
    assert_eq!((c[1].base.clone(), c[1].offset, c[1].size, c[1].string), (CaptureBase::Arg(1), 4, 4, false));
    assert_eq!(
        (c[2].base.clone(), c[2].offset, c[2].derefs.clone()),
        (CaptureBase::Register("rdi".into()), 8, vec![16])
    );
    assert_eq!((c[3].offset, c[3].size, c[3].derefs.clone()), (8, 8, vec![]));
}

#[test]
fn timers_run_their_bodies_by_index() {
    use wprobe_stap::{Limits, Script, Session};
    let s = Script::parse(
        "global n; probe timer.s(2) { n += 10 } probe timer.ms(100), timer.ms(300) { n++ } probe end { printf(\"%d\\n\", n) }",
        "<input>",
        &[],
    )
    .unwrap();
    let mut session = Session::new(&s, Limits::default());
    assert_eq!(session.timer_periods(), vec![2000, 100, 300]);
    let mut env = common::MockEnv::default();
    for i in [0, 1, 2, 2] {
        session.tick(i, &mut env).unwrap();
    }
    session.end(&mut env).unwrap();
    assert_eq!(env.out, "13\n");
}
