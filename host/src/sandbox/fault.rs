//! Why a handler stopped, told so that the user can act on it.

use super::limits::{Limits, MemoryLimitExceeded};
use super::output::OutputLimitExceeded;
use std::fmt;
use std::time::Duration;

/// The export that was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Instantiate,
    Init,
    Batch,
    End,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Instantiate => "instantiation",
            Phase::Init => "init",
            Phase::Batch => "handle-batch",
            Phase::End => "end",
        })
    }
}

/// The event the cursor stood on when the handler stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventContext {
    /// Index of the event in its batch.
    pub index: usize,
    pub pp: Option<String>,
    pub pid: u32,
    pub tid: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultCause {
    /// The call ran past its CPU bound.
    CpuLimit(Duration),
    /// A memory grew past the cap.
    MemoryLimit { limit: usize },
    /// The call wrote more than the output cap.
    OutputLimit { limit: usize },
    /// A WebAssembly trap (a panic, `unreachable`, an out-of-bounds access, ...), with the
    /// guest backtrace when there is one.
    Trap(String),
    /// The handler returned an error.
    HandlerError(String),
}

/// A handler's end, as reported to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerFault {
    pub handler: String,
    pub phase: Phase,
    /// 1-based number of the batch being handled (0: before the first).
    pub batch: u64,
    pub event: Option<EventContext>,
    pub cause: FaultCause,
}

impl std::error::Error for HandlerFault {}

impl fmt::Display for HandlerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handler {} stopped in {}", self.handler, self.phase)?;
        if self.phase == Phase::Batch {
            write!(f, " (batch {}", self.batch)?;
            match &self.event {
                Some(e) => {
                    // Counted from 1, as the SDKs count them in their own messages.
                    write!(f, ", event {} of the batch: ", e.index + 1)?;
                    if let Some(pp) = &e.pp {
                        write!(f, "{pp}, ")?;
                    }
                    write!(f, "pid {}, tid {})", e.pid, e.tid)?;
                }
                None => f.write_str(")")?,
            }
        }
        f.write_str(": ")?;
        match &self.cause {
            FaultCause::CpuLimit(d) => write!(
                f,
                "exceeded its CPU limit of {} ms per call (an endless loop?); raise it with --cpu-limit-ms",
                d.as_millis()
            ),
            FaultCause::MemoryLimit { limit } => {
                write!(f, "exceeded its memory limit of {} MiB; raise it with --memory-limit", limit.div_ceil(1 << 20))
            }
            FaultCause::OutputLimit { limit } => {
                write!(f, "wrote more than its output limit of {limit} bytes in one call; raise it with --output-limit")
            }
            FaultCause::Trap(msg) => write!(f, "trapped: {msg}"),
            FaultCause::HandlerError(msg) => write!(f, "returned an error: {msg}"),
        }
    }
}

/// Turns a wasmtime error from a call into the cause the user needs to know.
pub(crate) fn classify(error: wasmtime::Error, limits: &Limits) -> FaultCause {
    if let Some(e) = error.downcast_ref::<MemoryLimitExceeded>() {
        return FaultCause::MemoryLimit { limit: e.limit };
    }
    if let Some(e) = error.downcast_ref::<OutputLimitExceeded>() {
        return FaultCause::OutputLimit { limit: e.limit };
    }
    if let Some(wasmtime::Trap::Interrupt) = error.downcast_ref::<wasmtime::Trap>() {
        return FaultCause::CpuLimit(limits.cpu_per_call);
    }
    FaultCause::Trap(format!("{error:?}"))
}
