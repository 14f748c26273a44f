//! Probe specs: what the user asked to probe, before anything is looked up.

use super::error::SpecError;
use std::path::PathBuf;

/// One probe point, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeSpec {
    /// A uprobe (`is_return: false`) or uretprobe on `symbol` (+ `offset` bytes) in the ELF
    /// file `path` (a path, or a command name looked up in `$PATH`). `symbol` may be a glob
    /// (`str*`, never with an offset), expanded against the file's symbol tables when attaching.
    User { path: PathBuf, symbol: String, offset: u64, is_return: bool },
    /// A uprobe on a virtual address of the ELF file `path` (as `nm` or `objdump` print it, not
    /// a file offset): SystemTap's `process("PATH").statement(ADDR).absolute`. It needs no
    /// symbol table, so stripped binaries can be probed.
    UserAddr { path: PathBuf, addr: u64, is_return: bool },
    /// A kprobe or kretprobe on the kernel function `symbol`, in `module` if given. `symbol`
    /// may be a glob (`tcp_v4_*`), expanded against `/proc/kallsyms` when attaching.
    Kernel { module: Option<String>, symbol: String, is_return: bool },
    /// A kprobe on a raw kernel address: SystemTap's `kprobe.statement(ADDR).absolute`.
    /// It can point anywhere, so attaching it needs guru mode ([`super::LiveOptions::guru`]).
    KernelAddr { addr: u64 },
    /// A system call's entry or return, SystemTap's `nd_syscall.NAME[.return]`; `name` may
    /// be a glob (`open*`). The argument accessors give the syscall's arguments.
    Syscall { name: String, is_return: bool },
    /// A tracepoint, `CAT:NAME` (either part may be a glob): SystemTap's
    /// `kernel.trace("CAT:NAME")`, bpftrace's `tracepoint:CAT:NAME`.
    Tracepoint { category: String, name: String },
}

impl ProbeSpec {
    /// `--uprobe PATH:FUNCTION[+OFFSET]`, `--uprobe PATH:GLOB` or `--uprobe PATH:0xADDR`
    /// (`is_return: false`), and `--uretprobe PATH:FUNCTION|GLOB|0xADDR`.
    pub fn parse_uprobe(arg: &str, is_return: bool) -> Result<Self, SpecError> {
        let syntax = || SpecError::UprobeSyntax { arg: arg.to_string() };
        // The path may itself contain ':'; the function name never does.
        let (path, target) = arg.rsplit_once(':').ok_or_else(syntax)?;
        if path.is_empty() || target.is_empty() {
            return Err(syntax());
        }
        // No C or Rust symbol starts with a digit, so `0x…` is always an address.
        if target.starts_with("0x") || target.starts_with("0X") {
            let addr = parse_hex(target).ok_or_else(|| SpecError::UserAddressSyntax { arg: arg.to_string() })?;
            return Ok(ProbeSpec::UserAddr { path: PathBuf::from(path), addr, is_return });
        }
        let (symbol, offset) = match target.split_once('+') {
            Some((symbol, off)) => (symbol, parse_offset(arg, off)?),
            None => (target, 0),
        };
        if symbol.is_empty() {
            return Err(syntax());
        }
        if is_glob(symbol) && offset != 0 {
            return Err(SpecError::GlobWithOffset { arg: arg.to_string() });
        }
        if is_return && offset != 0 {
            return Err(SpecError::ReturnWithOffset { arg: arg.to_string() });
        }
        Ok(ProbeSpec::User { path: PathBuf::from(path), symbol: symbol.to_string(), offset, is_return })
    }

    /// `--kprobe FUNCTION`, `--kprobe MODULE:FUNCTION`, and the `--kretprobe` forms.
    pub fn parse_kprobe(arg: &str, is_return: bool) -> Result<Self, SpecError> {
        let syntax = || SpecError::KprobeSyntax { arg: arg.to_string() };
        let (module, symbol) = match arg.split_once(':') {
            Some((m, s)) => (Some(m), s),
            None => (None, arg),
        };
        let valid = |s: &str| !s.is_empty() && !s.contains([':', '+', '/', ' ']);
        if !valid(symbol) || !module.is_none_or(valid) {
            return Err(syntax());
        }
        // Globs are allowed in the function name (expanded against /proc/kallsyms), not in
        // the module name, as SystemTap's kprobe.module("M") requires one module.
        if let Some(m) = module {
            check_no_wildcard(arg, m)?;
        }
        Ok(ProbeSpec::Kernel { module: module.map(str::to_string), symbol: symbol.to_string(), is_return })
    }

    /// `--kprobe-addr 0xADDR`.
    pub fn parse_kprobe_addr(arg: &str) -> Result<Self, SpecError> {
        match parse_hex(arg) {
            Some(addr) => Ok(ProbeSpec::KernelAddr { addr }),
            None => Err(SpecError::AddressSyntax { arg: arg.to_string() }),
        }
    }

    /// `--syscall NAME` / `--syscall-return NAME`: a syscall name or glob.
    pub fn parse_syscall(arg: &str, is_return: bool) -> Result<Self, SpecError> {
        let valid = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "_*?[]".contains(c));
        if !valid {
            return Err(SpecError::SyscallSyntax { arg: arg.to_string() });
        }
        Ok(ProbeSpec::Syscall { name: arg.to_string(), is_return })
    }

    /// `--tracepoint CAT:NAME` (also `tracepoint:CAT:NAME` and `kernel.trace("CAT:NAME")`).
    pub fn parse_tracepoint(arg: &str) -> Result<Self, SpecError> {
        let body = arg.trim();
        let body = body.strip_prefix("tracepoint:").unwrap_or(body);
        let body = match body.strip_prefix("kernel.trace(") {
            Some(rest) => match quoted(rest) {
                Some((inner, ")")) => inner,
                _ => return Err(SpecError::TracepointSyntax { arg: arg.to_string() }),
            },
            None => body,
        };
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-*?[]".contains(c));
        match body.split_once(':') {
            Some((c, n)) if valid(c) && valid(n) => {
                Ok(ProbeSpec::Tracepoint { category: c.to_string(), name: n.to_string() })
            }
            _ => Err(SpecError::TracepointSyntax { arg: arg.to_string() }),
        }
    }

    /// SystemTap's spelling of a probe point:
    ///
    /// * `kprobe.function("F")`, `kprobe.function("F").return`
    /// * `kprobe.module("M").function("F")` and its `.return`
    /// * `kprobe.statement(0xADDR).absolute`
    /// * `process("PATH").function("F")` and its `.return` (a uprobe; F may be a glob)
    /// * `process("PATH").statement(0xADDR).absolute` (a uprobe on a virtual address), and
    ///   wprobe's `.absolute.return` for a uretprobe there
    /// * `nd_syscall.NAME` and its `.return` (a system call; NAME may be a glob)
    /// * `kernel.trace("CAT:NAME")` (a tracepoint), and bpftrace's `tracepoint:CAT:NAME`
    pub fn parse_stap(arg: &str) -> Result<Self, SpecError> {
        let syntax = || SpecError::StapSyntax { arg: arg.to_string() };
        let mut rest = arg.trim();
        if rest.starts_with("kernel.trace(") || rest.starts_with("tracepoint:") {
            return Self::parse_tracepoint(rest);
        }
        let (base, is_return) = match rest.strip_suffix(".return") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        rest = base;
        if let Some(name) = rest.strip_prefix("nd_syscall.") {
            return Self::parse_syscall(name, is_return);
        }
        if let Some(after) = rest.strip_prefix("kprobe.statement(") {
            let (addr, tail) = after.split_once(')').ok_or_else(syntax)?;
            if tail != ".absolute" || is_return {
                return Err(syntax());
            }
            return Self::parse_kprobe_addr(addr.trim());
        }
        if let Some(after) = rest.strip_prefix("kprobe.") {
            let (module, after) = match after.strip_prefix("module(") {
                Some(m) => {
                    let (name, after) = quoted(m).ok_or_else(syntax)?;
                    (Some(name), after.strip_prefix(").").ok_or_else(syntax)?)
                }
                None => (None, after),
            };
            let func = after.strip_prefix("function(").ok_or_else(syntax)?;
            let (func, tail) = quoted(func).ok_or_else(syntax)?;
            if tail != ")" {
                return Err(syntax());
            }
            let flag = match module {
                Some(m) => format!("{m}:{func}"),
                None => func.to_string(),
            };
            return Self::parse_kprobe(&flag, is_return);
        }
        if let Some(after) = rest.strip_prefix("process(") {
            let (path, after) = quoted(after).ok_or_else(syntax)?;
            if let Some(stmt) = after.strip_prefix(").statement(") {
                let (addr, tail) = stmt.split_once(')').ok_or_else(syntax)?;
                if tail != ".absolute" {
                    return Err(syntax());
                }
                let addr =
                    parse_hex(addr.trim()).ok_or_else(|| SpecError::UserAddressSyntax { arg: arg.to_string() })?;
                return Ok(ProbeSpec::UserAddr { path: PathBuf::from(path), addr, is_return });
            }
            let func = after.strip_prefix(").function(").ok_or_else(syntax)?;
            let (func, tail) = quoted(func).ok_or_else(syntax)?;
            if tail != ")" {
                return Err(syntax());
            }
            return Self::parse_uprobe(&format!("{path}:{func}"), is_return);
        }
        if rest.starts_with("kernel.function(") || rest.starts_with("module(") {
            return Err(SpecError::NeedsDebuginfo { arg: arg.to_string() });
        }
        Err(syntax())
    }

    pub fn is_return(&self) -> bool {
        match self {
            ProbeSpec::User { is_return, .. }
            | ProbeSpec::UserAddr { is_return, .. }
            | ProbeSpec::Kernel { is_return, .. }
            | ProbeSpec::Syscall { is_return, .. } => *is_return,
            ProbeSpec::KernelAddr { .. } | ProbeSpec::Tracepoint { .. } => false,
        }
    }

    /// SystemTap's spelling of this probe point. For uprobes `path` should already be the
    /// resolved absolute path, as SystemTap prints it; [`super::LiveSource`] does that.
    ///
    /// An offset inside a user function has no SystemTap spelling; wprobe writes it as
    /// `process("/bin/x").function("f+0x4")`, bpftrace's `f+0x4` inside SystemTap's form.
    pub fn pp(&self) -> String {
        let suffix = if self.is_return() { ".return" } else { "" };
        match self {
            ProbeSpec::User { path, symbol, offset: 0, .. } => {
                format!("process(\"{}\").function(\"{symbol}\"){suffix}", path.display())
            }
            ProbeSpec::User { path, symbol, offset, .. } => {
                format!("process(\"{}\").function(\"{symbol}+{offset:#x}\"){suffix}", path.display())
            }
            ProbeSpec::UserAddr { path, addr, .. } => {
                format!("process(\"{}\").statement({addr:#x}).absolute{suffix}", path.display())
            }
            ProbeSpec::Kernel { module: None, symbol, .. } => format!("kprobe.function(\"{symbol}\"){suffix}"),
            ProbeSpec::Kernel { module: Some(m), symbol, .. } => {
                format!("kprobe.module(\"{m}\").function(\"{symbol}\"){suffix}")
            }
            ProbeSpec::KernelAddr { addr } => format!("kprobe.statement({addr:#x}).absolute"),
            ProbeSpec::Syscall { name, .. } => format!("nd_syscall.{name}{suffix}"),
            ProbeSpec::Tracepoint { category, name } => format!("kernel.trace(\"{category}:{name}\")"),
        }
    }
}

fn parse_offset(arg: &str, s: &str) -> Result<u64, SpecError> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| SpecError::BadOffset { arg: arg.to_string(), offset: s.to_string() })
}

/// `0x…` hexadecimal, as addresses are written.
fn parse_hex(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u64::from_str_radix(digits, 16).ok()
}

/// Splits `"text"rest` into `text` and `rest`.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('"')?;
    let end = inner.find('"')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// True when `name` is a glob pattern rather than one name.
pub(crate) fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

fn check_no_wildcard(arg: &str, name: &str) -> Result<(), SpecError> {
    if name.contains(['*', '?', '[']) {
        return Err(SpecError::Wildcard { arg: arg.to_string() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uprobe_forms() {
        assert_eq!(
            ProbeSpec::parse_uprobe("/bin/x:main", false),
            Ok(ProbeSpec::User { path: "/bin/x".into(), symbol: "main".into(), offset: 0, is_return: false })
        );
        assert_eq!(
            ProbeSpec::parse_uprobe("./a:b:f+0x10", false),
            Ok(ProbeSpec::User { path: "./a:b".into(), symbol: "f".into(), offset: 16, is_return: false })
        );
        assert_eq!(
            ProbeSpec::parse_uprobe("x:f+8", false).map(|s| s.pp()),
            Ok("process(\"x\").function(\"f+0x8\")".to_string())
        );
        assert_eq!(
            ProbeSpec::parse_uprobe("/bin/x:f", true).map(|s| s.pp()),
            Ok("process(\"/bin/x\").function(\"f\").return".to_string())
        );
        for bad in ["/bin/x", ":f", "/bin/x:", "/bin/x:+4"] {
            assert!(matches!(ProbeSpec::parse_uprobe(bad, false), Err(SpecError::UprobeSyntax { .. })), "{bad}");
        }
        assert!(matches!(ProbeSpec::parse_uprobe("x:f+zz", false), Err(SpecError::BadOffset { .. })));
        assert!(matches!(ProbeSpec::parse_uprobe("x:f+4", true), Err(SpecError::ReturnWithOffset { .. })));
        assert!(matches!(ProbeSpec::parse_uprobe("x:f*+4", false), Err(SpecError::GlobWithOffset { .. })));
    }

    #[test]
    fn uprobe_globs_and_addresses() {
        assert_eq!(
            ProbeSpec::parse_uprobe("/lib/libc.so.6:str*", false),
            Ok(ProbeSpec::User { path: "/lib/libc.so.6".into(), symbol: "str*".into(), offset: 0, is_return: false })
        );
        assert_eq!(
            ProbeSpec::parse_uprobe("/bin/x:0x1139", false),
            Ok(ProbeSpec::UserAddr { path: "/bin/x".into(), addr: 0x1139, is_return: false })
        );
        assert_eq!(
            ProbeSpec::parse_uprobe("/bin/x:0X1139", true),
            Ok(ProbeSpec::UserAddr { path: "/bin/x".into(), addr: 0x1139, is_return: true })
        );
        assert_eq!(
            ProbeSpec::parse_uprobe("/bin/x:0x1139", false).map(|s| s.pp()),
            Ok("process(\"/bin/x\").statement(0x1139).absolute".to_string())
        );
        for bad in ["/bin/x:0x", "/bin/x:0xg1", "/bin/x:0x1139+4"] {
            assert!(matches!(ProbeSpec::parse_uprobe(bad, false), Err(SpecError::UserAddressSyntax { .. })), "{bad}");
        }
        let err = ProbeSpec::parse_uprobe("/bin/x:0xzz", false).unwrap_err().to_string();
        assert!(err.contains("virtual address") && err.contains("0x"), "{err}");
    }

    #[test]
    fn kprobe_forms_and_their_pp() {
        let pp = |a: &str, r: bool| ProbeSpec::parse_kprobe(a, r).map(|s| s.pp());
        assert_eq!(pp("tcp_v4_connect", false), Ok("kprobe.function(\"tcp_v4_connect\")".to_string()));
        assert_eq!(pp("tcp_v4_connect", true), Ok("kprobe.function(\"tcp_v4_connect\").return".to_string()));
        assert_eq!(
            pp("ext4:ext4_sync_fs", false),
            Ok("kprobe.module(\"ext4\").function(\"ext4_sync_fs\")".to_string())
        );
        assert_eq!(
            pp("ext4:ext4_sync_fs", true),
            Ok("kprobe.module(\"ext4\").function(\"ext4_sync_fs\").return".to_string())
        );
        for bad in ["", ":f", "m:", "a:b:c", "f+4"] {
            assert!(matches!(ProbeSpec::parse_kprobe(bad, false), Err(SpecError::KprobeSyntax { .. })), "{bad}");
        }
        assert_eq!(pp("tcp_*", false), Ok("kprobe.function(\"tcp_*\")".to_string()));
        assert!(matches!(ProbeSpec::parse_kprobe("ext*:f", false), Err(SpecError::Wildcard { .. })));
    }

    #[test]
    fn systemtap_spelling_parses_to_the_same_specs_as_the_flags() {
        let stap = |a: &str| ProbeSpec::parse_stap(a);
        assert_eq!(stap("kprobe.function(\"tcp_v4_connect\")"), ProbeSpec::parse_kprobe("tcp_v4_connect", false));
        assert_eq!(stap("kprobe.function(\"tcp_v4_connect\").return"), ProbeSpec::parse_kprobe("tcp_v4_connect", true));
        assert_eq!(
            stap("kprobe.module(\"ext4\").function(\"ext4_sync_fs\")"),
            ProbeSpec::parse_kprobe("ext4:ext4_sync_fs", false)
        );
        assert_eq!(
            stap("kprobe.module(\"ext4\").function(\"ext4_sync_fs\").return"),
            ProbeSpec::parse_kprobe("ext4:ext4_sync_fs", true)
        );
        assert_eq!(
            stap("kprobe.statement(0xffffffff8025b538).absolute"),
            Ok(ProbeSpec::KernelAddr { addr: 0xffffffff8025b538 })
        );
        assert_eq!(stap("process(\"/bin/ls\").function(\"main\")"), ProbeSpec::parse_uprobe("/bin/ls:main", false));
        assert_eq!(
            stap("process(\"/bin/ls\").function(\"main\").return"),
            ProbeSpec::parse_uprobe("/bin/ls:main", true)
        );
        assert_eq!(
            stap("process(\"/lib/libc.so.6\").function(\"str*\")"),
            ProbeSpec::parse_uprobe("/lib/libc.so.6:str*", false)
        );
        assert_eq!(
            stap("process(\"/bin/ls\").statement(0x4a10).absolute"),
            ProbeSpec::parse_uprobe("/bin/ls:0x4a10", false)
        );
        assert_eq!(
            stap("process(\"/bin/ls\").statement(0x4a10).absolute.return"),
            ProbeSpec::parse_uprobe("/bin/ls:0x4a10", true)
        );
        // Every spelling's pp() reads back as itself.
        for pp in [
            "kprobe.function(\"tcp_v4_connect\")",
            "kprobe.function(\"tcp_v4_connect\").return",
            "kprobe.module(\"ext4\").function(\"ext4_sync_fs\").return",
            "kprobe.statement(0xffffffff8025b538).absolute",
            "process(\"/bin/ls\").function(\"main\").return",
            "process(\"/bin/ls\").statement(0x4a10).absolute",
            "process(\"/bin/ls\").statement(0x4a10).absolute.return",
        ] {
            assert_eq!(stap(pp).unwrap().pp(), pp);
        }
        for bad in [
            "kprobe.function(tcp_v4_connect)",
            "kprobe.function(\"f\").retrun",
            "kprobe.statement(0x10)",
            "kprobe.statement(0x10).absolute.return",
            "kprobe.statement(1234).absolute",
            "process(\"/bin/ls\").function(\"main\"",
            "process(\"/bin/ls\").statement(0x4a10)",
            "process(\"/bin/ls\").statement(4a10).absolute",
            "tcp_v4_connect",
        ] {
            assert!(stap(bad).is_err(), "{bad}");
        }
        assert!(matches!(stap("kernel.function(\"tcp_v4_connect\")"), Err(SpecError::NeedsDebuginfo { .. })));
    }

    #[test]
    fn syscall_and_tracepoint_forms() {
        let stap = |a: &str| ProbeSpec::parse_stap(a);
        assert_eq!(stap("nd_syscall.openat"), ProbeSpec::parse_syscall("openat", false));
        assert_eq!(stap("nd_syscall.open*.return"), ProbeSpec::parse_syscall("open*", true));
        assert_eq!(stap("nd_syscall.openat.return").unwrap().pp(), "nd_syscall.openat.return");
        let spec = ProbeSpec::Tracepoint { category: "sched".into(), name: "sched_process_exec".into() };
        let tp = Ok(spec.clone());
        assert_eq!(stap("kernel.trace(\"sched:sched_process_exec\")"), tp);
        assert_eq!(stap("tracepoint:sched:sched_process_exec"), tp);
        assert_eq!(ProbeSpec::parse_tracepoint("sched:sched_process_exec"), tp);
        assert_eq!(spec.pp(), "kernel.trace(\"sched:sched_process_exec\")");
        for bad in ["nd_syscall.", "nd_syscall.open at", "nd_syscall.a/b"] {
            assert!(matches!(stap(bad), Err(SpecError::SyscallSyntax { .. })), "{bad}");
        }
        for bad in ["sched", "sched:", ":x", "kernel.trace(sched:x)", "tracepoint:a:b:c"] {
            assert!(ProbeSpec::parse_tracepoint(bad).is_err(), "{bad}");
        }
    }
}
