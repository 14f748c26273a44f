//! The VM scenarios: each is a guest shell script (run by tests/vm/init.sh, whose helpers
//! it uses) and a check, in Rust, of what the guest reported.
//!
//! Guest helpers: `wp LABEL ARGS…` runs `wprobe ARGS…` to the end and reports its stdout,
//! stderr, exit status, time and whatever it left in the kernel; `wp_start`/`wp_stop` do the
//! same for a wprobe in the background; `fact KEY VALUE` reports a value measured in the
//! guest; `ksym NAME` prints the /proc/kallsyms address of the function NAME, `kvar NAME`
//! that of the variable NAME; `listen PORT` starts a one-shot TCP listener on
//! 127.0.0.1:PORT; `modload NAME` insmods a module with its dependencies; `as_user tenant
//! CMD…` runs CMD as the guest's unprivileged user (uid 1000), `wp_start_as tenant LABEL
//! ARGS…` a background wprobe as it; `wait_line LABEL TEXT` waits for a background step's
//! stderr to say TEXT.
//!
//! Every wprobe step is also checked for what it leaves behind: after it exits the kernel
//! must list no kprobe (`/sys/kernel/debug/kprobes/list`), no kprobe/uprobe trace event and
//! no pinned BPF object. Nothing else in the guest creates kprobes, so any is wprobe's.
//!
//! Most scenarios make a process whose pid they know trigger the probe: the `-c` command
//! writes its own pid (`$$`) to a file, then `exec`s the real command, which keeps that pid.

use super::arch::VmArch;
use super::console::{Run, Scenario as Seen};
use std::collections::BTreeSet;
use std::fmt::Debug;

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    /// Kernel modules the initramfs must carry (with their dependencies).
    pub modules: &'static [&'static str],
    /// `@IP@` stands for the instruction pointer's register name (`rip`, `pc`).
    pub script: &'static str,
    pub check: fn(&Seen, &Ctx, &mut Checker),
}

impl Scenario {
    /// The guest script for `arch`.
    pub fn script_for(&self, arch: VmArch) -> String {
        self.script.trim_start().replace("@IP@", arch.ip_register())
    }
}

/// What the checks know besides the scenario's own report.
pub struct Ctx {
    pub arch: VmArch,
    /// arm64: the kernel's virtual address bits (CONFIG_ARM64_VA_BITS: 48, or 52 as in
    /// Debian's 6.12), which move the start of kernel addresses.
    pub va_bits: u32,
    pub ncpus: u32,
    /// Page-table levels the guest kernel runs with: 4, or 5 with LA57.
    pub paging: u32,
    /// Flip one expectation (tcp-connect's `uint_arg(3)`), to show that the harness fails.
    pub break_expectation: bool,
}

impl Ctx {
    /// The start of the kernel half of the address space: a pointer at or above it is a
    /// kernel address. x86_64: 0xffff800000000000 with 4-level paging (the seed's pointers,
    /// 0xffff81…), 0xff00000000000000 with 5-level paging (LA57: pointers such as 0xff38…).
    /// arm64: 0xffff000000000000 with 48-bit kernel addresses (Debian's 6.1),
    /// 0xfff0000000000000 with 52 bits (6.12: its linear map is at 0xfff0…).
    pub fn kernel_min(&self) -> u64 {
        match self.arch {
            VmArch::Aarch64 => !((1u64 << self.va_bits) - 1),
            VmArch::X86_64 if self.paging == 5 => 0xff00_0000_0000_0000,
            VmArch::X86_64 => 0xffff_8000_0000_0000,
        }
    }

    /// The end of user space: a user pointer lies below it (x86_64: 47 or 56 address bits;
    /// arm64: at most the kernel's VA bits).
    pub fn user_end(&self) -> u64 {
        match self.arch {
            VmArch::Aarch64 => 1u64 << self.va_bits,
            VmArch::X86_64 if self.paging == 5 => 0x0100_0000_0000_0000,
            VmArch::X86_64 => 0x0000_8000_0000_0000,
        }
    }
}

/// Collects what differed (failures) and what was seen (notes, shown for passing scenarios).
#[derive(Default, Debug)]
pub struct Checker {
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

impl Checker {
    pub fn fail(&mut self, msg: impl Into<String>) {
        self.failures.push(msg.into());
    }

    pub fn note(&mut self, msg: impl Into<String>) {
        self.notes.push(msg.into());
    }

    /// Fails with "WHAT: expected E, saw S" unless `ok`.
    pub fn that(
        &mut self,
        ok: bool,
        what: &str,
        expected: impl std::fmt::Display,
        seen: impl std::fmt::Display,
    ) -> bool {
        if !ok {
            self.fail(format!("{what}: expected {expected}, saw {seen}"));
        }
        ok
    }

    pub fn eq<T: PartialEq + Debug>(&mut self, what: &str, expected: T, seen: T) -> bool {
        let ok = expected == seen;
        if !ok {
            self.fail(format!("{what}: expected {expected:?}, saw {seen:?}"));
        }
        ok
    }
}

/// One line of `tcp_connect.wasm`: `pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3)`
/// (the seed's format), used for every entry probe here, whatever the function's arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgsLine {
    pub pp: String,
    pub pid: u32,
    pub cpu: u32,
    pub arg1: u64,
    pub arg2: u64,
    pub arg3: u64,
}

pub fn parse_args_line(line: &str) -> Option<ArgsLine> {
    let mut p = line.rsplitn(6, ", ");
    let arg3 = p.next()?.parse().ok()?;
    let arg2 = u64::from_str_radix(p.next()?.strip_prefix("0x")?, 16).ok()?;
    let arg1 = u64::from_str_radix(p.next()?.strip_prefix("0x")?, 16).ok()?;
    let cpu = p.next()?.parse().ok()?;
    let pid = p.next()?.parse().ok()?;
    let pp = p.next()?.to_string();
    Some(ArgsLine { pp, pid, cpu, arg1, arg2, arg3 })
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

fn tail(lines: &[String], n: usize) -> String {
    let start = lines.len().saturating_sub(n);
    if lines.is_empty() {
        "(nothing)".to_string()
    } else {
        lines[start..].join(" | ")
    }
}

/// The step ran, exited 0 and left nothing in the kernel. Returns it when it exited 0.
fn finished<'a>(s: &'a Seen, label: &str, c: &mut Checker) -> Option<&'a Run> {
    let Some(run) = s.run(label) else {
        c.fail(format!("step {label:?} did not run (the guest stopped before it?)"));
        return None;
    };
    watchdog(run, c);
    left_nothing(run, c);
    match run.exit {
        Some(0) if run.killed.is_empty() => Some(run),
        Some(0) => None,
        Some(code) => {
            c.fail(format!(
                "[{label}] `{}`: exit status: expected 0, saw {code}; stderr: {}",
                run.command,
                tail(&run.stderr, 4)
            ));
            None
        }
        None => {
            c.fail(format!("[{label}] `{}`: no exit status reported", run.command));
            None
        }
    }
}

fn watchdog(run: &Run, c: &mut Checker) {
    if !run.killed.is_empty() {
        c.fail(format!("[{}] `{}` did not end by itself: {}", run.label, run.command, run.killed.join("; ")));
    }
}

fn left_nothing(run: &Run, c: &mut Checker) {
    if !run.leftovers.is_empty() {
        c.fail(format!(
            "[{}] after wprobe exited: expected no kprobe, trace event or BPF pin left, saw: {}",
            run.label,
            run.leftovers.join(" | ")
        ));
    }
}

fn fact_num(s: &Seen, key: &str, c: &mut Checker) -> Option<u64> {
    match s.fact(key).and_then(|v| v.parse().ok()) {
        Some(v) => Some(v),
        None => {
            c.fail(format!("the guest reported no number for {key:?} (saw {:?})", s.fact(key)));
            None
        }
    }
}

fn fact_hex(s: &Seen, key: &str, c: &mut Checker) -> Option<u64> {
    match s.fact(key).and_then(hex) {
        Some(v) => Some(v),
        None => {
            c.fail(format!("the guest reported no address for {key:?} (saw {:?})", s.fact(key)));
            None
        }
    }
}

/// Every stdout line of `run` in tcp_connect.wasm's format; a line that is not fails.
/// (A killed run's last line may be cut short: it is left out.)
fn args_lines(run: &Run, c: &mut Checker) -> Vec<ArgsLine> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    let cut = usize::from(!run.killed.is_empty());
    for line in &run.stdout[..run.stdout.len().saturating_sub(cut)] {
        match parse_args_line(line) {
            Some(l) => out.push(l),
            None => bad.push(line),
        }
    }
    if let Some(first) = bad.first() {
        c.fail(format!(
            "[{}] stdout: expected lines `PP, PID, CPU, 0xARG1, 0xARG2, ARG3`, saw {} other lines, the first {first:?}",
            run.label,
            bad.len()
        ));
    }
    out
}

/// The run printed exactly one tcp_connect.wasm line: returns it.
fn one_line(run: &Run, c: &mut Checker) -> Option<ArgsLine> {
    let lines = args_lines(run, c);
    if !c.that(
        lines.len() == 1,
        &format!("[{}] events", run.label),
        "exactly 1 line",
        format!("{} lines: {}", run.stdout.len(), tail(&run.stdout, 6)),
    ) {
        return None;
    }
    lines.into_iter().next()
}

/// Checks the seed's tcp_v4_connect line: pp, the connecting pid, a valid cpu, two kernel
/// pointers (`struct sock *`, `struct sockaddr *`) and `addr_len` = 16.
fn check_connect_line(l: &ArgsLine, pp: &str, pid: Option<u64>, ctx: &Ctx, c: &mut Checker) {
    c.eq("pp()", pp, &l.pp);
    if let Some(pid) = pid {
        c.eq("pid() (the connecting nc's)", pid, l.pid as u64);
    }
    c.that(l.cpu < ctx.ncpus, "cpu()", format!("< {} (the guest's cpus)", ctx.ncpus), l.cpu);
    let min = ctx.kernel_min();
    c.that(
        l.arg1 >= min,
        "pointer_arg(1) (struct sock *)",
        format!("a kernel address >= {min:#x}"),
        format!("{:#x}", l.arg1),
    );
    c.that(
        l.arg2 >= min,
        "pointer_arg(2) (struct sockaddr *)",
        format!("a kernel address >= {min:#x}"),
        format!("{:#x}", l.arg2),
    );
    let len = if ctx.break_expectation { 17 } else { 16 };
    c.eq("uint_arg(3) (addr_len of a sockaddr_in)", len, l.arg3);
}

fn show(l: &ArgsLine) -> String {
    format!("{}, {}, {}, {:#x}, {:#x}, {}", l.pp, l.pid, l.cpu, l.arg1, l.arg2, l.arg3)
}

const CONNECT_PP: &str = "kprobe.function(\"tcp_v4_connect\")";

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "wprobe-starts",
            about: "the wprobe binary and its shared libraries work in the guest",
            modules: &[],
            script: r#"
wp version --version
wp help run --help
"#,
            check: |s, _, c| {
                if let Some(r) = finished(s, "version", c) {
                    let first = r.stdout.first().map(String::as_str).unwrap_or("");
                    if c.that(first.starts_with("wprobe "), "wprobe --version", "`wprobe VERSION`", first) {
                        c.note(first.to_string());
                    }
                }
                finished(s, "help", c);
            },
        },
        Scenario {
            name: "tcp-connect",
            about: "--kprobe tcp_v4_connect: the seed's line, the connecting pid, kernel pointers, addr_len 16",
            modules: &[],
            script: r#"
listen 4001
wp main run /handlers/tcp_connect.wasm --kprobe tcp_v4_connect -c 'echo $$ >/tmp/pid; exec nc 127.0.0.1 4001 </dev/null'
fact pid "$(cat /tmp/pid)"
"#,
            check: |s, ctx, c| {
                let pid = fact_num(s, "pid", c);
                if let Some(l) = finished(s, "main", c).and_then(|r| one_line(r, c)) {
                    check_connect_line(&l, CONNECT_PP, pid, ctx, c);
                    c.note(show(&l));
                }
            },
        },
        Scenario {
            name: "tcp-connect-return",
            about: "--kretprobe tcp_v4_connect: returnval() is 0 for a connect to a listening port",
            modules: &[],
            script: r#"
listen 4002
wp main run /handlers/tcp_connect_ret.wasm --kretprobe tcp_v4_connect -c 'exec nc 127.0.0.1 4002 </dev/null'
"#,
            check: |s, _, c| {
                if let Some(r) = finished(s, "main", c) {
                    if c.eq("returnval() lines", vec!["0".to_string()], r.stdout.clone()) {
                        c.note("returnval() = 0");
                    }
                }
            },
        },
        Scenario {
            name: "stap-spelling",
            about: "kprobe.function(\"tcp_v4_connect\") and its .return as positional probes give what the flags give",
            modules: &[],
            script: r#"
listen 4003
wp entry run /handlers/tcp_connect.wasm 'kprobe.function("tcp_v4_connect")' -c 'echo $$ >/tmp/pid; exec nc 127.0.0.1 4003 </dev/null'
fact pid "$(cat /tmp/pid)"
listen 4004
wp return run /handlers/tcp_connect_ret.wasm 'kprobe.function("tcp_v4_connect").return' -c 'exec nc 127.0.0.1 4004 </dev/null'
"#,
            check: |s, ctx, c| {
                let pid = fact_num(s, "pid", c);
                if let Some(l) = finished(s, "entry", c).and_then(|r| one_line(r, c)) {
                    check_connect_line(&l, CONNECT_PP, pid, ctx, c);
                    c.note(show(&l));
                }
                if let Some(r) = finished(s, "return", c) {
                    c.eq("returnval() lines of the .return probe", vec!["0".to_string()], r.stdout.clone());
                }
            },
        },
        Scenario {
            name: "regs-rip",
            about: "register(\"rip\") (x86_64: the kprobe's address + 1) or register(\"pc\") (arm64: the kprobe's address), against the kernel's kprobes list and /proc/kallsyms",
            modules: &[],
            script: r#"
listen 4005
fact kallsyms "$(ksym tcp_v4_connect)"
wp main run /handlers/regs.wasm 'kprobe.function("tcp_v4_connect")' -c 'cat /sys/kernel/debug/kprobes/list >/tmp/kprobes; echo $$ >/tmp/pid; exec nc 127.0.0.1 4005 </dev/null'
fact pid "$(cat /tmp/pid)"
fact kprobe "$(grep -m1 tcp_v4_connect /tmp/kprobes)"
"#,
            check: |s, ctx, c| {
                let pid = fact_num(s, "pid", c);
                let sym = fact_hex(s, "kallsyms", c);
                // "ffffffff88b61dd4  k  tcp_v4_connect+0x4    [FTRACE]"
                let kprobe = s.fact("kprobe").unwrap_or("");
                let mut words = kprobe.split_whitespace();
                let listed = words.next().and_then(hex);
                let offset = words.nth(1).and_then(|w| w.strip_prefix("tcp_v4_connect+")).and_then(hex);
                let (Some(listed), Some(offset)) = (listed, offset) else {
                    c.fail(format!("kprobes list while attached: expected a `ADDR k tcp_v4_connect+OFF` line, saw {kprobe:?}"));
                    return;
                };
                if let Some(sym) = sym {
                    c.eq("kprobe address (kprobes list) - kallsyms address", offset, listed.wrapping_sub(sym));
                    // x86_64: 0, or 4 when the function starts with ENDBR64 (IBT kernels probe
                    // after it). arm64: the first instruction.
                    let ok = match ctx.arch {
                        VmArch::X86_64 => offset == 0 || offset == 4,
                        VmArch::Aarch64 => offset == 0,
                    };
                    c.that(ok, "kprobe offset into tcp_v4_connect", "+0x0 (or +0x4 after x86's ENDBR64)", format!("{offset:#x}"));
                }
                let Some(r) = finished(s, "main", c) else { return };
                // "PID, CPU, RIPHEX", then print_regs().
                let first = r.stdout.first().map(String::as_str).unwrap_or("");
                let parts: Vec<&str> = first.split(", ").collect();
                let (Some(seen_pid), Some(rip)) = (parts.first().and_then(|p| p.parse::<u64>().ok()), parts.get(2).and_then(|h| hex(h))) else {
                    c.fail(format!("first line: expected `PID, CPU, RIP`, saw {first:?}"));
                    return;
                };
                if let Some(pid) = pid {
                    c.eq("pid()", pid, seen_pid);
                }
                let name = ctx.arch.ip_register();
                match ctx.arch {
                    // x86 reports the ip just past the int3 byte; ftrace-based kprobes emulate the same.
                    VmArch::X86_64 => {
                        c.that(rip == listed + 1, "register(\"rip\")", format!("{:#x} (kprobe address + 1)", listed + 1), format!("{rip:#x}"));
                        let rip_line = format!("RIP: {rip:016x}");
                        c.that(r.stdout.iter().any(|l| l == &rip_line), "print_regs()", &rip_line, tail(&r.stdout, 8));
                        c.that(r.stdout.iter().any(|l| l.starts_with("RDX: 0000000000000010 ")), "print_regs() RDX (addr_len)", "RDX: 0000000000000010", tail(&r.stdout, 8));
                    }
                    // arm64's BRK leaves pc at the probed instruction.
                    VmArch::Aarch64 => {
                        c.that(rip == listed, "register(\"pc\")", format!("{listed:#x} (the kprobe address)"), format!("{rip:#x}"));
                        let pc_line = format!("pc : {rip:016x}");
                        c.that(r.stdout.iter().any(|l| l == &pc_line), "print_regs()", &pc_line, tail(&r.stdout, 8));
                        c.that(r.stdout.iter().any(|l| l.starts_with("x2 : 0000000000000010 ")), "print_regs() x2 (addr_len)", "x2 : 0000000000000010", tail(&r.stdout, 8));
                    }
                }
                c.note(format!("{name} = tcp_v4_connect+{:#x}, kprobe at +{offset:#x} ({})", rip.wrapping_sub(sym.unwrap_or(0)), kprobe.split_whitespace().skip(3).collect::<Vec<_>>().join(" ")));
            },
        },
        Scenario {
            name: "stap-seed-scripts",
            about: "the seed's three SystemTap scripts, verbatim with -e, print what tcp_connect, tcp_connect_ret and regs print for the same connect",
            modules: &[],
            // Each script runs in the background while its Rust twin runs the connect, so both
            // see the same event: same pid, cpu, pointers and rip. `warm` compiles the embedded
            // script component into the cache first (the guest's slowest part).
            script: r#"
wp warm run -e 'probe begin { printf("ready\n"); exit() }'
listen 4011
wp_start entry-script run -e 'probe kprobe.function("tcp_v4_connect") { asmlinkage(); printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3)) }' --max-events 1
wait_kprobes entry-script 1
wp entry-rust run /handlers/tcp_connect.wasm --kprobe tcp_v4_connect -c 'echo $$ >/tmp/pid; exec nc 127.0.0.1 4011 </dev/null'
wp_finish entry-script
fact pid "$(cat /tmp/pid)"
listen 4012
wp_start return-script run -e 'probe kprobe.function("tcp_v4_connect").return { asmlinkage(); printf("%d\n", returnval()); }' --max-events 1
wait_kprobes return-script 2
wp return-rust run /handlers/tcp_connect_ret.wasm --kretprobe tcp_v4_connect -c 'exec nc 127.0.0.1 4012 </dev/null'
wp_finish return-script
listen 4013
wp_start regs-script run -e 'probe kprobe.function("tcp_v4_connect") { printf("%d, %d, %x\n", pid(), cpu(), register("@IP@")); exit() }'
wait_kprobes regs-script 1
wp regs-rust run /handlers/regs.wasm --kprobe tcp_v4_connect -c 'exec nc 127.0.0.1 4013 </dev/null'
wp_finish regs-script
"#,
            check: |s, ctx, c| {
                if let Some(r) = finished(s, "warm", c) {
                    c.eq("the begin probe's line", vec!["ready".to_string()], r.stdout.clone());
                }
                let pid = fact_num(s, "pid", c);
                for (what, script, rust) in [("entry", "entry-script", "entry-rust"), ("return", "return-script", "return-rust"), ("regs", "regs-script", "regs-rust")] {
                    let (Some(sr), Some(rr)) = (finished(s, script, c), finished(s, rust, c)) else { continue };
                    // The script's exit() stops it after the first event: regs' first line.
                    let want: Vec<String> = if what == "regs" { rr.stdout.iter().take(1).cloned().collect() } else { rr.stdout.clone() };
                    if !c.that(!want.is_empty(), &format!("[{rust}] lines"), "at least one", "none") {
                        continue;
                    }
                    if c.eq(&format!("[{script}] stdout, against the Rust example's for the same connect"), &want, &sr.stdout) {
                        c.note(format!("{what}: {}", want[0]));
                    }
                }
                // (finished() above already reported a failed run.)
                let ok = |label| s.run(label).filter(|r| r.exit == Some(0) && r.killed.is_empty());
                if let Some(l) = ok("entry-script").and_then(|r| one_line(r, c)) {
                    check_connect_line(&l, CONNECT_PP, pid, ctx, c);
                }
                if let Some(r) = ok("return-script") {
                    c.eq("returnval() of the .return script", vec!["0".to_string()], r.stdout.clone());
                }
            },
        },
        Scenario {
            name: "module",
            about: "kprobe.module(\"tun\").function(\"tun_chr_open\") and --kprobe tun:tun_chr_open: insmod tun.ko, open /dev/net/tun once",
            modules: &["tun"],
            // tun_chr_open(struct inode *, struct file *) is the open() of the misc device
            // /dev/net/tun, which devtmpfs creates when tun.ko loads: a shell redirection opens
            // it exactly once, from the shell's own pid, and `:` succeeds.
            script: r#"
modload tun && fact loaded yes
fact kallsyms "$(ksym tun_chr_open)"
wp stap run /handlers/tcp_connect.wasm 'kprobe.module("tun").function("tun_chr_open")' -c 'echo $$ >/tmp/pid.stap; : </dev/net/tun'
fact pid.stap "$(cat /tmp/pid.stap)"
wp flag run /handlers/tcp_connect.wasm --kprobe tun:tun_chr_open -c 'echo $$ >/tmp/pid.flag; : </dev/net/tun'
fact pid.flag "$(cat /tmp/pid.flag)"
"#,
            check: |s, ctx, c| {
                let min = ctx.kernel_min();
                c.eq("insmod tun.ko", Some("yes"), s.fact("loaded"));
                if let Some(a) = fact_hex(s, "kallsyms", c) {
                    c.that(a >= min, "tun_chr_open in /proc/kallsyms", "a kernel (module) address", format!("{a:#x}"));
                }
                for label in ["stap", "flag"] {
                    let pid = fact_num(s, &format!("pid.{label}"), c);
                    if let Some(l) = finished(s, label, c).and_then(|r| one_line(r, c)) {
                        c.eq(&format!("[{label}] pp()"), "kprobe.module(\"tun\").function(\"tun_chr_open\")", &l.pp);
                        if let Some(pid) = pid {
                            c.eq(&format!("[{label}] pid() (the shell that opened /dev/net/tun)"), pid, l.pid as u64);
                        }
                        c.that(l.arg1 >= min, &format!("[{label}] pointer_arg(1) (struct inode *)"), "a kernel address", format!("{:#x}", l.arg1));
                        c.that(l.arg2 >= min, &format!("[{label}] pointer_arg(2) (struct file *)"), "a kernel address", format!("{:#x}", l.arg2));
                        c.note(format!("[{label}] {}", show(&l)));
                    }
                }
            },
        },
        Scenario {
            name: "statement-guru",
            about: "kprobe.statement(0xADDR).absolute (and --kprobe-addr) at tcp_v4_connect's address works with --guru, is refused without",
            modules: &[],
            script: r#"
a=$(ksym tcp_v4_connect)
fact addr "$a"
listen 4006
wp guru run /handlers/tcp_connect.wasm "kprobe.statement(0x$a).absolute" --guru -c 'echo $$ >/tmp/pid.guru; exec nc 127.0.0.1 4006 </dev/null'
fact pid.guru "$(cat /tmp/pid.guru)"
wp noguru run /handlers/tcp_connect.wasm "kprobe.statement(0x$a).absolute" -c true
listen 4007
wp flag run /handlers/tcp_connect.wasm --kprobe-addr "0x$a" --guru -c 'echo $$ >/tmp/pid.flag; exec nc 127.0.0.1 4007 </dev/null'
fact pid.flag "$(cat /tmp/pid.flag)"
"#,
            check: |s, ctx, c| {
                let Some(addr) = fact_hex(s, "addr", c) else { return };
                let pp = format!("kprobe.statement({addr:#x}).absolute");
                for label in ["guru", "flag"] {
                    let pid = fact_num(s, &format!("pid.{label}"), c);
                    if let Some(l) = finished(s, label, c).and_then(|r| one_line(r, c)) {
                        check_connect_line(&l, &pp, pid, ctx, c);
                        c.note(format!("[{label}] {}", show(&l)));
                    }
                }
                match s.run("noguru") {
                    None => c.fail("step \"noguru\" did not run"),
                    Some(r) => {
                        left_nothing(r, c);
                        c.that(r.exit.is_some_and(|e| e != 0), "without --guru: exit status", "non-zero (refused)", format!("{:?}", r.exit));
                        c.that(r.stdout.is_empty(), "without --guru: stdout", "nothing", tail(&r.stdout, 3));
                        let err = r.stderr.join("\n");
                        if c.that(err.to_lowercase().contains("guru"), "without --guru: stderr", "a message naming --guru", tail(&r.stderr, 3)) {
                            c.note(format!("refused: {}", r.stderr.first().map(String::as_str).unwrap_or("")));
                        }
                    }
                }
            },
        },
        Scenario {
            name: "syscall-args",
            about: "--kprobe ksys_write(fd, buf, count) while tee copies a 777-byte file to fd 3 and fd 1",
            modules: &[],
            // tee opens its file as the lowest free descriptor, 3 (higher would mean wprobe
            // leaked one into the command), then writes each 777-byte read to the file and to
            // stdout from one buffer. wprobe's own output writes are events too; only the tee
            // process's are checked.
            script: r#"
head -c 777 /dev/zero >/tmp/in
wp main run /handlers/tcp_connect.wasm --kprobe ksys_write -c 'echo $$ >/tmp/pid; exec tee /tmp/tee.out </tmp/in >/dev/null'
fact pid "$(cat /tmp/pid)"
fact copied "$(wc -c </tmp/tee.out)"
"#,
            check: |s, ctx, c| {
                let pid = fact_num(s, "pid", c);
                c.eq("bytes tee copied", Some("777"), s.fact("copied"));
                finished(s, "main", c);
                // The arguments are checked even when the run did not end cleanly.
                let (Some(pid), Some(r)) = (pid, s.run("main")) else { return };
                let lines = args_lines(r, c);
                let pp = "kprobe.function(\"ksys_write\")";
                if let Some(l) = lines.iter().find(|l| l.pp != pp) {
                    c.fail(format!("pp(): expected {pp:?} on every line, saw {:?}", l.pp));
                }
                let mine: Vec<&ArgsLine> = lines.iter().filter(|l| l.pid as u64 == pid).collect();
                let seen = mine.iter().map(|l| format!("(fd {}, buf {:#x}, count {})", l.arg1, l.arg2, l.arg3)).collect::<Vec<_>>().join(" ");
                let to_file = mine.iter().find(|l| l.arg1 == 3 && l.arg3 == 777);
                let to_stdout = mine.iter().find(|l| l.arg1 == 1 && l.arg3 == 777);
                c.that(to_file.is_some(), "tee's write to its file", "ksys_write(fd 3, buf, count 777)", &seen);
                c.that(to_stdout.is_some(), "tee's write to stdout", "ksys_write(fd 1, buf, count 777)", &seen);
                if let (Some(f), Some(o)) = (to_file, to_stdout) {
                    c.that(f.arg2 != 0 && f.arg2 < ctx.user_end(), "buf (pointer_arg(2))", "a user-space address", format!("{:#x}", f.arg2));
                    c.eq("buf of both writes (one buffer)", f.arg2, o.arg2);
                    c.note(format!("tee's writes: {} | {} ({} events in all, {} from tee)", show(f), show(o), r.stdout_lines.unwrap_or(lines.len()), mine.len()));
                }
            },
        },
        Scenario {
            name: "tcpconnect-address",
            about: "tcpconnect.wasm: the seed's line plus the destination 127.0.0.1:PORT from a 16-byte capture of pointer_arg(2)",
            modules: &[],
            script: r#"
listen 4011
wp main run /handlers/tcpconnect.wasm --kprobe tcp_v4_connect -c 'echo $$ >/tmp/pid; exec nc 127.0.0.1 4011 </dev/null'
fact pid "$(cat /tmp/pid)"
"#,
            check: |s, _, c| {
                let pid = fact_num(s, "pid", c);
                if let Some(r) = finished(s, "main", c) {
                    let want = ", 16, 127.0.0.1:4011".to_string();
                    let line = r.stdout.iter().find(|l| l.ends_with(&want));
                    if c.that(line.is_some(), "tcpconnect line", format!("a line ending in {want:?}"), tail(&r.stdout, 3)) {
                        let line = line.unwrap();
                        if let Some(pid) = pid {
                            c.that(line.contains(&format!(", {pid}, ")), "the connecting pid", pid, line);
                        }
                        c.note(line.clone());
                    }
                }
            },
        },
        Scenario {
            name: "serve-redaction",
            about: "wprobe serve: a tenant's and an admin's sessions on tcp_v4_connect share one kprobe and see one connect, the tenant's pointer_arg(1) and (2) redacted to 0, the admin's kernel pointers",
            modules: &[],
            // One daemon, two clients at once: `tenant` (uid 1000, scope: its own processes,
            // no kernel_pointers right) and root (an admin with it). The tenant's nc makes
            // the connect, so both scopes hold it. Each client stops after its one event.
            // Under TCG the guest's CPU clock runs on while QEMU waits for a host core: on a
            // busy host, instantiating a handler took over serve's default 200 ms per call
            // (arm64 6.1 at load 14), so both tenants and clients allow 10 s: this scenario
            // is about redaction, not CPU bounds.
            script: r#"
mkdir -p /tmp/serve
chmod 1777 /tmp/serve
cat >/tmp/serve/serve.toml <<'EOF'
[server]
socket = "/tmp/serve/wprobe.sock"
cache_dir = "/tmp/wprobe-cache"
[[tenant]]
name = "ops"
users = [0]
admin = true
scope = "all"
probes = ["*"]
kernel_pointers = true
[tenant.limits]
cpu_ms_per_call = 10000
[[tenant]]
name = "web"
users = [1000]
probes = ['kprobe.function("tcp_v4_connect")']
[tenant.limits]
cpu_ms_per_call = 10000
EOF
wp_start daemon serve --config /tmp/serve/serve.toml
wait_line daemon "listening on"
wp_start_as tenant tenant run --connect /tmp/serve/wprobe.sock /handlers/tcp_connect.wasm --kprobe tcp_v4_connect --max-events 1 --cpu-limit-ms 10000
wp_start admin run --connect /tmp/serve/wprobe.sock /handlers/tcp_connect.wasm --kprobe tcp_v4_connect --max-events 1 --cpu-limit-ms 10000
wait_line tenant attached
wait_line admin attached
fact kprobes "$(grep -c tcp_v4_connect /sys/kernel/debug/kprobes/list)"
listen 4014
as_user tenant sh -c 'echo $$ >/tmp/serve/pid; exec nc 127.0.0.1 4014 </dev/null'
fact pid "$(cat /tmp/serve/pid)"
wp_finish tenant
wp_finish admin
wp_stop daemon TERM
"#,
            check: |s, ctx, c| {
                let pid = fact_num(s, "pid", c);
                // The clients hold nothing in the kernel (the daemon does, checked when it
                // stops), and one may finish while the other's session is still attached.
                let client = |label: &str, c: &mut Checker| -> Option<ArgsLine> {
                    let Some(r) = s.run(label) else {
                        c.fail(format!("step {label:?} did not run"));
                        return None;
                    };
                    watchdog(r, c);
                    let ok = c.that(
                        r.exit == Some(0),
                        &format!("[{label}] `{}`: exit status", r.command),
                        0,
                        format!("{:?}; stderr: {}", r.exit, tail(&r.stderr, 4)),
                    );
                    c.that(
                        r.stderr.iter().any(|l| l.contains(" attached")),
                        &format!("[{label}] stderr"),
                        "`wprobe: session N attached`",
                        tail(&r.stderr, 4),
                    );
                    if ok {
                        one_line(r, c)
                    } else {
                        None
                    }
                };
                let tenant = client("tenant", c);
                let admin = client("admin", c);
                if let Some(l) = &admin {
                    check_connect_line(l, CONNECT_PP, pid, ctx, c);
                    c.note(format!("[admin] {}", show(l)));
                }
                if let Some(l) = &tenant {
                    c.eq("[tenant] pp()", CONNECT_PP, &l.pp);
                    if let Some(pid) = pid {
                        c.eq("[tenant] pid() (its own nc's)", pid, l.pid as u64);
                    }
                    c.eq("[tenant] pointer_arg(1) (struct sock *, redacted)", 0, l.arg1);
                    c.eq("[tenant] pointer_arg(2) (struct sockaddr *, redacted)", 0, l.arg2);
                    c.eq("[tenant] uint_arg(3) (addr_len, not an address: kept)", 16, l.arg3);
                    c.note(format!("[tenant] {}", show(l)));
                }
                // Both sessions on one point with the same captures: one kernel attachment.
                if let Some(n) = fact_num(s, "kprobes", c) {
                    c.eq("tcp_v4_connect kprobes while both sessions ran (shared)", 1, n);
                }
                // The daemon's audit lines (on its stderr without an audit_log) say who each
                // client was to it (SO_PEERCRED) and the scope it got.
                if let Some(r) = finished(s, "daemon", c) {
                    let attached = |tenant: &str, uid: u32, scope: &str| {
                        r.stderr.iter().any(|l| {
                            l.contains(r#""event":"attached""#)
                                && l.contains(&format!(r#""uid":{uid},"#))
                                && l.contains(&format!(r#""tenant":"{tenant}""#))
                                && l.contains(&format!(r#""detail":"scope: {scope}""#))
                        })
                    };
                    for (tenant, uid, scope) in [("web", 1000, "processes of uid 1000"), ("ops", 0, "every process")] {
                        c.that(
                            attached(tenant, uid, scope),
                            "the daemon's audit",
                            format!("tenant {tenant} (uid {uid}) attached with scope {scope:?}"),
                            tail(&r.stderr, 6),
                        );
                    }
                }
            },
        },
        Scenario {
            name: "syscall-paths",
            about: "nd_syscall.openat and .return through the __x64_sys_openat (__arm64_sys_openat) kprobe and through the syscalls tracepoints print the same lines",
            modules: &[],
            script: r#"
for how in kprobe tracepoint; do
  wp "entry-$how" run /handlers/opensnoop.wasm --syscall-path $how nd_syscall.openat -c 'exec cat /tmp/wprobe-vm-absent'
  wp "return-$how" run /handlers/opensnoop.wasm --syscall-path $how nd_syscall.openat.return -c 'exec cat /tmp/wprobe-vm-absent'
done
"#,
            check: |s, _, c| {
                // `PID COMM FLAGS PATH[ = RET]`: the same but for the pid, which differs per run.
                let line = |label: &str, c: &mut Checker| -> Option<String> {
                    let r = finished(s, label, c)?;
                    let l = r.stdout.iter().find(|l| l.contains("/tmp/wprobe-vm-absent"));
                    c.that(l.is_some(), &format!("[{label}] a line for the file"), "one", tail(&r.stdout, 3));
                    l.map(|l| l.split_once(' ').map_or(l.clone(), |(_, rest)| rest.to_string()))
                };
                for kind in ["entry", "return"] {
                    let via_kprobe = line(&format!("{kind}-kprobe"), c);
                    let via_tracepoint = line(&format!("{kind}-tracepoint"), c);
                    if let (Some(k), Some(t)) = (via_kprobe, via_tracepoint) {
                        if c.eq(&format!("{kind}: kprobe path vs tracepoint path"), &k, &t) {
                            c.note(format!("{kind}: {k}"));
                        }
                    }
                }
                if let Some(r) = s.run("return-kprobe") {
                    let ok = r.stdout.iter().any(|l| l.ends_with("cat 0o0 /tmp/wprobe-vm-absent = -2 (ENOENT)"));
                    c.that(ok, "the return line", "`cat 0o0 /tmp/wprobe-vm-absent = -2 (ENOENT)`", tail(&r.stdout, 3));
                }
            },
        },
        Scenario {
            name: "kernel-pointer-chain",
            about: "a capture following sk->sk_prot (offset 40) reads tcp_prot, whose first member is tcp_close",
            modules: &[],
            script: r#"
listen 4012
fact tcp_prot "$(kvar tcp_prot)"
fact tcp_close "$(ksym tcp_close)"
wp main run /handlers/captures.wasm --kprobe tcp_v4_connect --arg cap=kernel,bytes,arg1,8,40,0 --arg kptr="$(kvar tcp_prot)" -c 'exec nc 127.0.0.1 4012 </dev/null'
"#,
            check: |s, _, c| {
                let (Some(prot), Some(close)) = (fact_hex(s, "tcp_prot", c), fact_hex(s, "tcp_close", c)) else { return };
                if let Some(r) = finished(s, "main", c) {
                    let want = format!(" *{prot:#x}={close:#x}");
                    let ok = r.stdout.iter().any(|l| l.ends_with(&want));
                    if c.that(ok, "kernel_pointer(tcp_prot) through the chain", &want, tail(&r.stdout, 3)) {
                        c.note(format!("*(*(sk + 40)) = {close:#x} (tcp_close)"));
                    }
                }
            },
        },
        Scenario {
            name: "wildcard",
            about: "--kprobe 'tcp_v4_conn*': a connect hits tcp_v4_connect and, on the listener's side, tcp_v4_conn_request, each with its own pp",
            modules: &[],
            script: r#"
fact matches "$(awk '$3 ~ /^tcp_v4_conn/ && ($2 == "t" || $2 == "T") { print $3 }' /proc/kallsyms | sort -u | tr '\n' ' ')"
listen 4008
wp main run /handlers/tcp_connect.wasm --kprobe 'tcp_v4_conn*' -c 'echo $$ >/tmp/pid; exec nc 127.0.0.1 4008 </dev/null'
fact pid "$(cat /tmp/pid)"
"#,
            check: |s, ctx, c| {
                let pid = fact_num(s, "pid", c);
                let matches: BTreeSet<String> = s.fact("matches").unwrap_or("").split_whitespace().map(String::from).collect();
                let Some(r) = finished(s, "main", c) else { return };
                let lines = args_lines(r, c);
                let mut pps = BTreeSet::new();
                for l in &lines {
                    let f = l.pp.strip_prefix("kprobe.function(\"").and_then(|f| f.strip_suffix("\")"));
                    match f {
                        Some(f) if matches.contains(f) => {
                            pps.insert(f.to_string());
                        }
                        _ => c.fail(format!("pp(): expected kprobe.function(\"F\") with F one of {matches:?}, saw {:?}", l.pp)),
                    }
                }
                let want: BTreeSet<String> = ["tcp_v4_connect", "tcp_v4_conn_request"].map(String::from).into();
                c.that(want.is_subset(&pps), "functions with events", format!("{want:?}"), format!("{pps:?}"));
                match lines.iter().find(|l| l.pp == CONNECT_PP) {
                    Some(l) => check_connect_line(l, CONNECT_PP, pid, ctx, c),
                    None => c.fail(format!("expected a {CONNECT_PP} event, saw {}", tail(&r.stdout, 6))),
                }
                c.note(format!("{} events from {pps:?} (kallsyms matches: {matches:?})", lines.len()));
            },
        },
        Scenario {
            name: "stop-under-load",
            about: "a probe that never stops firing (ksys_write of a busy `yes`, --pid) still ends at -c's exit and at SIGINT",
            modules: &[],
            script: r#"
yes >/dev/null &
y=$!
fact yes "$y"
wp command run /handlers/count.wasm --kprobe ksys_write --pid "$y" -c 'sleep 1'
wp_start signal run /handlers/count.wasm --kprobe ksys_write --pid "$y"
wait_kprobes signal 1
sleep 1
wp_stop signal INT
kill "$y"
"#,
            check: |s, _, c| {
                let yes = fact_num(s, "yes", c);
                for label in ["command", "signal"] {
                    if let Some(r) = finished(s, label, c) {
                        let line = yes.map(|p| format!("pid {p} (yes): "));
                        let n = r.stdout.iter().find_map(|l| line.as_deref().and_then(|p| l.strip_prefix(p))).and_then(|n| n.trim().parse::<u64>().ok());
                        c.that(n.is_some_and(|n| n > 0), &format!("[{label}] count.wasm's summary"), "`pid PID (yes): N` with N > 0", tail(&r.stdout, 3));
                        c.note(format!("[{label}] {} ({})", n.map_or("?".into(), |n| format!("{n} writes by yes")), tail(&r.stderr, 1)));
                    }
                }
            },
        },
        Scenario {
            name: "cleanup",
            about: "probes are gone after SIGINT and after --duration; four kprobes (a kretprobe and its entry half) listed while running",
            modules: &[],
            script: r#"
wp_start sig run /handlers/count.wasm --kprobe tcp_v4_connect --kretprobe tcp_v4_connect --kprobe ksys_read
wait_kprobes sig 4
fact during "$(tr '\n' ';' </sys/kernel/debug/kprobes/list)"
listen 4009
nc 127.0.0.1 4009 </dev/null
sleep 1
wp_stop sig INT
wp duration run /handlers/count.wasm --kprobe tcp_v4_connect --duration 1
"#,
            check: |s, _, c| {
                // The return probe is two: its entry half (for the entry's arguments and the
                // latency) and the kretprobe.
                c.eq("kprobes listed while wprobe ran", Some("4"), s.fact("kprobes_listed"));
                let during = s.fact("during").unwrap_or("");
                c.that(during.contains(" r ") || during.contains("  r  "), "a kretprobe in the list while running", "an `r` entry", during);
                for label in ["sig", "duration"] {
                    if let Some(r) = finished(s, label, c) {
                        let total = r.stdout.iter().find_map(|l| l.strip_prefix("total: ")).and_then(|n| n.trim().parse::<u64>().ok());
                        c.that(total.is_some(), &format!("[{label}] count.wasm's summary"), "a `total: N` line", tail(&r.stdout, 3));
                        if label == "sig" {
                            c.that(total.unwrap_or(0) >= 2, "[sig] events counted (connect entry + return at least)", ">= 2", format!("{total:?}"));
                        }
                        c.note(format!("[{label}] total {}", total.map_or("?".into(), |t| t.to_string())));
                    }
                }
            },
        },
    ]
}

/// The scenarios for `arch`: [`all`], and on aarch64 also [`uprobe`] (x86_64's uprobes are
/// proven on the host itself by the live tests). aarch64 leaves out `kernel-pointer-chain`:
/// it compares the chain's end with `tcp_prot`'s /proc/kallsyms address, and Debian's arm64
/// kernels are built without CONFIG_KALLSYMS_ALL, so kallsyms lists no data symbols there.
pub fn for_arch(arch: VmArch) -> Vec<Scenario> {
    let mut v = all();
    if arch == VmArch::Aarch64 {
        v.retain(|s| s.name != "kernel-pointer-chain");
        v.push(uprobe());
    }
    v
}

/// Uprobes on a program built for the guest's architecture: `tests/targets/wprobe_target.c`,
/// compiled statically by vm-test into the guest's `/files/`.
pub fn uprobe() -> Scenario {
    Scenario {
        name: "uprobe",
        about: "--uprobe and --uretprobe on wprobe_target(7, 0xdeadbeef, 16), called twice by a static test program: the arguments, the caller's pid, returnval() = 23",
        modules: &[],
        // The target prints its pid line and `sum`, then waits for a line on stdin; its
        // output goes to a file so that wprobe's stdout holds only the handler's lines.
        script: r#"
echo >/tmp/nl
wp entry run /handlers/tcp_connect.wasm --uprobe /files/wprobe_target:wprobe_target -c 'echo $$ >/tmp/pid; exec /files/wprobe_target 2 1 </tmp/nl >/tmp/target.out'
fact pid "$(cat /tmp/pid)"
fact sum "$(grep '^sum ' /tmp/target.out)"
wp return run /handlers/tcp_connect_ret.wasm --uretprobe /files/wprobe_target:wprobe_target -c 'exec /files/wprobe_target 2 1 </tmp/nl >/dev/null'
"#,
        check: |s, _, c| {
            let pid = fact_num(s, "pid", c);
            c.eq("the target's own sum line", Some("sum 46"), s.fact("sum"));
            if let Some(r) = finished(s, "entry", c) {
                let lines = args_lines(r, c);
                c.that(lines.len() == 2, "[entry] events", "2 lines (two calls)", tail(&r.stdout, 4));
                for l in &lines {
                    if let Some(pid) = pid {
                        c.eq("pid() (the target's)", pid, l.pid as u64);
                    }
                    c.eq("(arg 1, arg 2, arg 3)", (7, 0xdead_beef, 16), (l.arg1, l.arg2, l.arg3));
                }
                if let Some(l) = lines.first() {
                    c.note(show(l));
                }
            }
            if let Some(r) = finished(s, "return", c) {
                if c.eq("returnval() lines", vec!["23".to_string(), "23".to_string()], r.stdout.clone()) {
                    c.note("returnval() = 23, twice");
                }
            }
        },
    }
}

/// Checks one scenario's report.
pub fn evaluate(sc: &Scenario, seen: Option<&Seen>, ctx: &Ctx) -> Checker {
    let mut c = Checker::default();
    match seen {
        None => c.fail("did not run (the guest stopped before it)"),
        Some(s) => {
            (sc.check)(s, ctx, &mut c);
            if !s.ended {
                c.fail("did not finish (the guest stopped during it)");
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_line() {
        let l = parse_args_line(
            "kprobe.function(\"tcp_v4_connect\"), 32372, 11, 0xffff81024ce51380, 0xffff81038aa2fec8, 16",
        )
        .unwrap();
        assert_eq!(l.pp, CONNECT_PP);
        assert_eq!((l.pid, l.cpu, l.arg1, l.arg2, l.arg3), (32372, 11, 0xffff81024ce51380, 0xffff81038aa2fec8, 16));
        assert!(parse_args_line("0").is_none());
        assert!(parse_args_line("a, 1, 2, 3, 4, 5").is_none());
    }

    #[test]
    fn names_are_unique_and_shell_safe() {
        let all = all();
        let names: BTreeSet<_> = all.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), all.len());
        assert!(all.iter().all(|s| s.name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')));
    }
}
