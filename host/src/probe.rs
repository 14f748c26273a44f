//! The session's probe table: what `pp()` says for each probe id.

/// One attached (or recorded) probe. Its index in the session's table is its probe id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeInfo {
    /// SystemTap's spelling of the probe point: `kprobe.function("tcp_v4_connect")`,
    /// `kprobe.function("tcp_v4_connect").return`, `process("/bin/x").function("f")`.
    pub pp: String,
    /// True for return probes.
    pub is_return: bool,
}

impl ProbeInfo {
    pub fn new(pp: impl Into<String>, is_return: bool) -> Self {
        Self { pp: pp.into(), is_return }
    }
}
