//! The interpreter natively on synthetic seed events, for profiling without the sandbox:
//!
//! ```text
//! cargo build --release -p wprobe-stap --example profile
//! valgrind --tool=callgrind target/release/examples/profile printf 100000
//! ```
//!
//! `count` runs `a[pid()] <<< 1`, `empty` an empty body, `incr` `n++`, `printf` the seed's
//! printf script (the dispatch benchmark's script rows), `strkey` `c[execname()]++`; the output is flushed
//! after every event as the script handler does. Callgrind's instruction counts are stable
//! on a loaded machine where times are not.

use wprobe_stap::{Env, Limits, Script, Session};
struct E {
    pid: i64,
    cpu: i64,
    args: [u64; 3],
    out: String,
}
impl Env for E {
    fn pid(&self) -> Result<i64, String> {
        Ok(self.pid)
    }
    fn tid(&self) -> Result<i64, String> {
        Ok(self.pid)
    }
    fn uid(&self) -> Result<i64, String> {
        Ok(0)
    }
    fn cpu(&self) -> Result<i64, String> {
        Ok(self.cpu)
    }
    fn pp(&self, out: &mut String) -> Result<(), String> {
        out.push_str("kprobe.function(\"tcp_v4_connect\")");
        Ok(())
    }
    fn execname(&self, out: &mut String) -> Result<(), String> {
        out.push_str("curl");
        Ok(())
    }
    fn probe_id(&self) -> Result<i64, String> {
        Ok(0)
    }
    fn is_return(&self) -> Result<bool, String> {
        Ok(false)
    }
    fn target(&self) -> i64 {
        0
    }
    fn timestamp_ns(&self) -> Result<i64, String> {
        Ok(0)
    }
    fn entry_timestamp_ns(&self) -> Result<i64, String> {
        Ok(0)
    }
    fn latency_ns(&self) -> Result<i64, String> {
        Ok(0)
    }
    fn arg(&self, n: i64) -> Result<u64, String> {
        Ok(self.args[(n - 1) as usize])
    }
    fn returnval(&self) -> Result<i64, String> {
        Ok(0)
    }
    fn returnstr(&self, _: &mut String) -> Result<(), String> {
        Ok(())
    }
    fn register(&self, _: &str, _: bool) -> Result<i64, String> {
        Ok(0)
    }
    fn print_regs(&self, _: &mut String) -> Result<(), String> {
        Ok(())
    }
    fn string(&self, _: bool, _: u64, _: u32, _: &mut String) -> Result<(), String> {
        Ok(())
    }
    fn read(&self, _: bool, _: u64, _: u8) -> Result<u64, String> {
        Ok(0)
    }
    fn field(&self, _: &str) -> Result<i64, String> {
        Ok(0)
    }
    fn field_string(&self, _: &str, _: &mut String) -> Result<(), String> {
        Ok(())
    }
    fn print(&mut self, t: &str) {
        self.out.push_str(t);
        if self.out.len() > 1 << 16 {
            self.out.clear();
        }
    }
    fn warn(&mut self, _: &str) {}
    fn exit(&mut self) {}
}
fn main() {
    let which = std::env::args().nth(1).unwrap_or("count".into());
    let n: u32 = std::env::args().nth(2).map_or(1_000_000, |s| s.parse().unwrap());
    // The dispatch benchmark's script rows.
    let src = match which.as_str() {
        "count" => r#"global a; probe kprobe.function("tcp_v4_connect") { a[pid()] <<< 1 }"#,
        "empty" => r#"probe kprobe.function("tcp_v4_connect") { }"#,
        "incr" => r#"global n; probe kprobe.function("tcp_v4_connect") { n++ }"#,
        // An array keyed by a string (SystemTap's everyday `count[execname()]++`).
        "strkey" => r#"global c; probe kprobe.function("tcp_v4_connect") { c[execname()]++ }"#,
        "printf" => {
            r#"probe kprobe.function("tcp_v4_connect") { asmlinkage(); printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3)) }"#
        }
        other => panic!("unknown script {other}: count, empty, incr, strkey or printf"),
    };
    let s = Script::parse(src, "<input>", &[]).unwrap();
    let mut sess = Session::new(&s, Limits::default());
    let mut e = E { pid: 0, cpu: 0, args: [0xffff_8102_4ce5_1380, 0xffff_8103_8aa2_fec8, 16], out: String::new() };
    let t = std::time::Instant::now();
    for i in 0..n {
        e.pid = 30_000 + (i % 17) as i64;
        e.cpu = (i % 2) as i64;
        e.args[0] += 64;
        sess.event(&[0], &mut e).unwrap();
        sess.flush(&mut e);
    }
    let dt = t.elapsed().as_secs_f64();
    eprintln!("{which}: {:.2} M/s", n as f64 / dt / 1e6);
}
