//! Why a handler stopped, told so that the user can act on it.

use super::limits::{Limits, MemoryLimitExceeded};
use super::output::{cap_to, escaped, indent_block, quote, OutputLimitExceeded, MESSAGE_CAP};
use std::fmt;
use std::time::Duration;

/// The export that was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Instantiate,
    Init,
    Batch,
    /// A timer's `tick`; the index of the timer.
    Tick(u32),
    End,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Instantiate => "instantiation",
            Phase::Init => "init",
            Phase::Batch => "handle-batch",
            Phase::Tick(i) => return write!(f, "tick of timer {i}"),
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
    /// The run wrote more than `--output-total`.
    OutputTotal { limit: u64 },
    /// The handler wrote faster than `--output-rate` for longer than a second.
    OutputRate { rate: u64 },
    /// A WebAssembly trap (a panic, an out-of-bounds access, a stack overflow, …) or a host
    /// check that stopped the call: `what` names it in words; `backtrace` is the guest's
    /// wasm backtrace, when there is one (boxed: faults travel in `Result`s).
    Trap { what: String, backtrace: Option<Box<str>> },
    /// The handler returned an error (capped at [`MESSAGE_CAP`](super::output::MESSAGE_CAP)).
    HandlerError(String),
}

impl FaultCause {
    /// The cause in words, for the first line of the report.
    fn words(&self) -> String {
        match self {
            FaultCause::CpuLimit(d) => format!("CPU limit of {} ms per call exceeded", d.as_millis()),
            FaultCause::MemoryLimit { limit } => format!("memory limit of {} MiB exceeded", limit.div_ceil(1 << 20)),
            FaultCause::OutputLimit { limit } => format!("output limit of {limit} bytes per call exceeded"),
            FaultCause::OutputTotal { limit } => format!("output total of {limit} bytes per run exceeded"),
            FaultCause::OutputRate { rate } => format!("output rate limit of {rate} bytes per second exceeded"),
            FaultCause::Trap { what, .. } => what.clone(),
            FaultCause::HandlerError(_) => "error returned".into(),
        }
    }

    /// What the user can do about it, after the probe and event.
    fn advice(&self) -> &'static str {
        match self {
            FaultCause::CpuLimit(_) => "; an endless loop? raise the bound with --cpu-limit-ms",
            FaultCause::MemoryLimit { .. } => "; raise it with --memory-limit",
            FaultCause::OutputLimit { .. } => "; raise it with --output-limit",
            FaultCause::OutputTotal { .. } => "; raise it with --output-total",
            FaultCause::OutputRate { .. } => "; raise it with --output-rate",
            FaultCause::Trap { .. } | FaultCause::HandlerError(_) => "",
        }
    }
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

/// First line: the cause in words, then where (export, batch, event, probe); then, for a
/// handler's error, its message quoted on the same line; the wasm backtrace follows,
/// indented. Nothing the handler chose can start a line of its own.
impl fmt::Display for HandlerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handler {}: {} in {}", self.handler, self.cause.words(), self.phase)?;
        if self.phase == Phase::Batch {
            write!(f, " (batch {}", self.batch)?;
            match &self.event {
                Some(e) => {
                    // Counted from 1, for people. The SDKs send only their message and put the
                    // cursor on the failing event first, so this is the one place that words it.
                    write!(f, ", event {} of the batch: ", e.index + 1)?;
                    if let Some(pp) = &e.pp {
                        write!(f, "{}, ", escaped(pp))?;
                    }
                    write!(f, "pid {}, tid {})", e.pid, e.tid)?;
                }
                None => f.write_str(")")?,
            }
        }
        f.write_str(self.cause.advice())?;
        match &self.cause {
            FaultCause::HandlerError(message) => write!(f, ": {}", quote(message)),
            FaultCause::Trap { backtrace: Some(bt), .. } => write!(f, "\n{}", indent_block(bt, "    ").trim_end()),
            _ => Ok(()),
        }
    }
}

/// Turns a wasmtime error from a call into the cause the user needs to know.
pub(crate) fn classify(error: wasmtime::Error, limits: &Limits) -> FaultCause {
    if let Some(e) = error.downcast_ref::<MemoryLimitExceeded>() {
        return FaultCause::MemoryLimit { limit: e.limit };
    }
    if let Some(e) = error.downcast_ref::<OutputLimitExceeded>() {
        return match *e {
            OutputLimitExceeded::PerCall { limit } => FaultCause::OutputLimit { limit },
            OutputLimitExceeded::Total { limit } => FaultCause::OutputTotal { limit },
            OutputLimitExceeded::Rate { rate } => FaultCause::OutputRate { rate },
        };
    }
    let trap = error.downcast_ref::<wasmtime::Trap>().copied();
    if trap == Some(wasmtime::Trap::Interrupt) {
        return FaultCause::CpuLimit(limits.cpu_per_call);
    }
    let backtrace = error.downcast_ref::<wasmtime::WasmBacktrace>().map(|bt| {
        let text = bt.to_string().replacen("error while executing at wasm backtrace:", "wasm backtrace:", 1);
        // Deep recursion makes backtraces of thousands of frames; the innermost say enough.
        cap_to(text, MESSAGE_CAP).into_boxed_str()
    });
    let what = match trap {
        Some(t) => trap_words(t),
        // A host check (an accessor outside an event, a WASI stream error, …): its message
        // is wprobe's own, with handler-chosen text at most escaped.
        None => escaped(&error.root_cause().to_string()).into_owned(),
    };
    FaultCause::Trap { what, backtrace }
}

fn trap_words(trap: wasmtime::Trap) -> String {
    use wasmtime::Trap as T;
    match trap {
        T::StackOverflow => "stack overflow (recursion too deep?)".into(),
        T::MemoryOutOfBounds => "out-of-bounds memory access".into(),
        // Rust panics, C's abort() and most languages' fatal errors end in `unreachable`.
        T::UnreachableCodeReached => "unreachable (panic)".into(),
        T::IntegerDivisionByZero => "integer division by zero".into(),
        T::IntegerOverflow => "integer overflow".into(),
        T::BadConversionToInteger => "invalid conversion to integer".into(),
        T::TableOutOfBounds | T::IndirectCallToNull => "call through an invalid function pointer".into(),
        T::BadSignature => "call through a function pointer of the wrong type".into(),
        T::HeapMisaligned | T::UnalignedPointer => "misaligned memory access".into(),
        T::AllocationTooLarge => "allocation too large".into(),
        other => format!("trap: {other}"),
    }
}
