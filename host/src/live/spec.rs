//! Probe specs: what the user asked to probe, before anything is looked up.

use super::error::SpecError;
use std::path::PathBuf;

/// One probe point, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeSpec {
    /// A uprobe (`is_return: false`) or uretprobe on `symbol` (+ `offset` bytes) in the ELF
    /// file `path` (a path, or a command name looked up in `$PATH`).
    User { path: PathBuf, symbol: String, offset: u64, is_return: bool },
    /// A kprobe or kretprobe on the kernel function `symbol`, in `module` if given.
    Kernel { module: Option<String>, symbol: String, is_return: bool },
}

impl ProbeSpec {
    /// `--uprobe PATH:FUNCTION[+OFFSET]` (`is_return: false`) or `--uretprobe PATH:FUNCTION`.
    pub fn parse_uprobe(arg: &str, is_return: bool) -> Result<Self, SpecError> {
        let syntax = || SpecError::UprobeSyntax { arg: arg.to_string() };
        // The path may itself contain ':'; the function name never does.
        let (path, target) = arg.rsplit_once(':').ok_or_else(syntax)?;
        if path.is_empty() || target.is_empty() {
            return Err(syntax());
        }
        let (symbol, offset) = match target.split_once('+') {
            Some((symbol, off)) => (symbol, parse_offset(arg, off)?),
            None => (target, 0),
        };
        if symbol.is_empty() {
            return Err(syntax());
        }
        check_no_wildcard(arg, symbol)?;
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
        check_no_wildcard(arg, symbol)?;
        if let Some(m) = module {
            check_no_wildcard(arg, m)?;
        }
        Ok(ProbeSpec::Kernel { module: module.map(str::to_string), symbol: symbol.to_string(), is_return })
    }

    pub fn is_return(&self) -> bool {
        match self {
            ProbeSpec::User { is_return, .. } | ProbeSpec::Kernel { is_return, .. } => *is_return,
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
            ProbeSpec::Kernel { module: None, symbol, .. } => format!("kprobe.function(\"{symbol}\"){suffix}"),
            ProbeSpec::Kernel { module: Some(m), symbol, .. } => {
                format!("kprobe.module(\"{m}\").function(\"{symbol}\"){suffix}")
            }
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
        assert!(matches!(ProbeSpec::parse_uprobe("x:f*", false), Err(SpecError::Wildcard { .. })));
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
        assert!(matches!(ProbeSpec::parse_kprobe("tcp_*", false), Err(SpecError::Wildcard { .. })));
    }
}
