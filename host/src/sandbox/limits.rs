//! The bounds every handler runs within.

use super::output::OutputBounds;
use std::time::Duration;

/// Per-handler resource bounds. Each has a default and a `wprobe` flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// CPU time one call into the handler (`init`, one batch, a tick, `end`) may use
    /// (`--cpu-limit-ms`): the calling thread's, so time it waits for a CPU on a busy machine
    /// does not count. Enforced with wasmtime's epoch deadline (see `ticker`).
    pub cpu_per_call: Duration,
    /// Linear memory, in bytes, summed over the component's memories (`--memory-limit`).
    pub memory: usize,
    /// Output bytes (printf and warn together) one call may write (`--output-limit`).
    pub output_per_call: usize,
    /// Output bytes the handler may write over the whole run (`--output-total`).
    pub output_total: u64,
    /// Sustained output bytes per second (`--output-rate`); `None`: unbounded.
    pub output_rate: Option<u64>,
    /// Show control characters in `printf` text visibly (`--escape`, or stdout is a
    /// terminal); diagnostics are always escaped.
    pub escape_output: bool,
}

impl Limits {
    pub const DEFAULT_CPU_PER_CALL: Duration = Duration::from_millis(500);
    /// Room for every shipped SDK's runtime at its plateau: componentize-js's engine collects
    /// its old generation only once 27 MB of it is allocated (each 1 MiB GC chunk takes 2 MiB
    /// of linear memory), so a long-running JavaScript handler settles near 67 MiB; Rust and
    /// C handlers need 1–2 MiB, Python 12–13 MiB (guest-sdk/*/README.md, "Memory").
    pub const DEFAULT_MEMORY: usize = 128 << 20;
    pub const DEFAULT_OUTPUT_PER_CALL: usize = 4 << 20;
    pub const DEFAULT_OUTPUT_TOTAL: u64 = 1 << 30;
    /// A handler whose memory passes this share of `memory` gets one warning line, so that a
    /// slow climb shows before the limit ends the run.
    pub const MEMORY_WARN_PERCENT: usize = 80;

    pub(crate) fn output_bounds(&self) -> OutputBounds {
        OutputBounds {
            per_call: self.output_per_call,
            total: self.output_total,
            rate: self.output_rate,
            escape: self.escape_output,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_per_call: Self::DEFAULT_CPU_PER_CALL,
            memory: Self::DEFAULT_MEMORY,
            output_per_call: Self::DEFAULT_OUTPUT_PER_CALL,
            output_total: Self::DEFAULT_OUTPUT_TOTAL,
            output_rate: None,
            escape_output: false,
        }
    }
}

/// Raised (as a trap) when a memory would grow past the cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (growing to {desired} bytes)")]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub desired: usize,
}

/// Caps the sum of the handler's linear memories, and the number of instances, tables and
/// memories a component may create.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// Bytes of all memories as of their last growth; memories only grow.
    total: usize,
}

impl MemoryLimiter {
    pub fn new(limit: usize) -> Self {
        Self { limit, total: 0 }
    }

    /// Bytes of all the handler's memories now (wasm memories never shrink: also the peak).
    pub fn bytes(&self) -> usize {
        self.total
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            // An error, not `Ok(false)`: a failed grow would return -1 to the guest, and most
            // guests then abort with a vague message; this names the cause.
            return Err(wasmtime::Error::new(MemoryLimitExceeded { limit: self.limit, desired: total }));
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }
    fn tables(&self) -> usize {
        64
    }
    fn memories(&self) -> usize {
        16
    }
}
