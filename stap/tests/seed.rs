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
