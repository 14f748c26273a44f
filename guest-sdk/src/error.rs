//! The two error types a handler meets: [`AccessError`] from an accessor, [`Error`] from its
//! own `event` / `end`.

use crate::bindings::wprobe::probe::types as wit;
use core::fmt;

/// Why an accessor could not answer (the WIT `access-error`, with the same cases on both
/// delivery paths).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Argument `n` is not passed in a register: arguments count from 1, and x86_64 passes
    /// 6 in registers, aarch64 8.
    NoSuchArgument(u32),
    /// The architecture has no register of that name.
    NoSuchRegister(String),
    /// `returnval()` / `returnstr()` in an entry probe.
    NotAReturnProbe,
    /// The accessor was called outside [`Handler::event`](crate::Handler::event).
    NoCurrentEvent,
    /// The memory at `addr` was not captured at probe time (declare a
    /// [`Capture`](crate::Capture) in `init`); `arg` is the argument whose value `addr` is,
    /// or 0.
    NotCaptured { addr: u64, arg: u32 },
    /// The capture at this address faulted in the kernel.
    Fault(u64),
    /// A return probe whose entry was not seen: entry arguments and latency are unknown.
    NoEntry,
    /// `field()` on a probe that is not a tracepoint.
    NotATracepoint,
    /// No such field, or not of the accessor's type; the text says which and lists them.
    NoSuchField(String),
}

/// In the words of `wprobe_common::texts`, the table every SDK takes them from.
impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use wprobe_common::texts::{self, fill, Hole};
        match self {
            AccessError::NoSuchArgument(n) => fill(texts::NO_SUCH_ARGUMENT, &[("n", Hole::Dec((*n).into()))], f),
            AccessError::NoSuchRegister(name) => fill(texts::NO_SUCH_REGISTER, &[("name", Hole::Text(name))], f),
            AccessError::NotAReturnProbe => f.write_str(texts::NOT_A_RETURN_PROBE),
            AccessError::NoCurrentEvent => f.write_str(texts::NO_CURRENT_EVENT),
            AccessError::NotCaptured { addr, arg: 0 } => fill(texts::NOT_CAPTURED, &[("addr", Hole::Hex(*addr))], f),
            AccessError::NotCaptured { addr, arg } => {
                fill(texts::NOT_CAPTURED_ARG, &[("addr", Hole::Hex(*addr)), ("arg", Hole::Dec((*arg).into()))], f)
            }
            AccessError::Fault(addr) => fill(texts::FAULT, &[("addr", Hole::Hex(*addr))], f),
            AccessError::NoEntry => f.write_str(texts::NO_ENTRY),
            AccessError::NotATracepoint => f.write_str(texts::NOT_A_TRACEPOINT),
            AccessError::NoSuchField(what) => fill(texts::NO_SUCH_FIELD, &[("what", Hole::Text(what))], f),
        }
    }
}

impl std::error::Error for AccessError {}

impl From<wit::AccessError> for AccessError {
    fn from(e: wit::AccessError) -> Self {
        match e {
            wit::AccessError::NoSuchArgument(n) => AccessError::NoSuchArgument(n),
            wit::AccessError::NoSuchRegister(name) => AccessError::NoSuchRegister(name),
            wit::AccessError::NotAReturnProbe => AccessError::NotAReturnProbe,
            wit::AccessError::NoCurrentEvent => AccessError::NoCurrentEvent,
            wit::AccessError::NotCaptured(u) => AccessError::NotCaptured { addr: u.addr, arg: u.arg },
            wit::AccessError::Fault(addr) => AccessError::Fault(addr),
            wit::AccessError::NoEntry => AccessError::NoEntry,
            wit::AccessError::NotATracepoint => AccessError::NotATracepoint,
            wit::AccessError::NoSuchField(what) => AccessError::NoSuchField(what),
        }
    }
}

impl AccessError {
    /// The flat path's error, given the register name the caller asked for (the shared
    /// decoder does not keep it).
    pub(crate) fn from_common(e: wprobe_common::AccessError, register: &str) -> Self {
        match e {
            wprobe_common::AccessError::NoSuchArgument { n, .. } => AccessError::NoSuchArgument(n),
            wprobe_common::AccessError::NoSuchRegister => AccessError::NoSuchRegister(register.into()),
            wprobe_common::AccessError::NotAReturnProbe => AccessError::NotAReturnProbe,
            wprobe_common::AccessError::NotCaptured { addr, arg } => AccessError::NotCaptured { addr, arg: arg.into() },
            wprobe_common::AccessError::Fault { addr } => AccessError::Fault(addr),
            wprobe_common::AccessError::NoEntry => AccessError::NoEntry,
            wprobe_common::AccessError::NotATracepoint => AccessError::NotATracepoint,
            // The flat path words this itself, with the field list (see `context::field`).
            wprobe_common::AccessError::NoSuchField => AccessError::NoSuchField(register.into()),
        }
    }
}

/// The error a handler's `event` or `end` returns: a message, reported by the host with the
/// event it happened on.
///
/// Every `std::error::Error` converts into it, [`AccessError`] included, so `?` works on
/// accessors and on parsing; for a plain message use [`Error::msg`].
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self { message: message.to_string() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

// No `impl std::error::Error for Error`: that would collide with this blanket conversion
// (the same trade-off as `anyhow::Error`).
impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Self {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self { message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_keep_the_cause() {
        fn parse(s: &str) -> Result<u32, Error> {
            Ok(s.parse::<u32>()?)
        }
        assert_eq!(parse("x").unwrap_err().message(), "invalid digit found in string");
        let e: Error = AccessError::NoSuchRegister("nope".into()).into();
        assert_eq!(e.to_string(), "no register named \"nope\" on this architecture");
        assert_eq!(Error::msg(format_args!("n={}", 3)).message(), "n=3");
    }

    #[test]
    fn wit_and_common_errors_map_to_the_same_value() {
        let common = wprobe_common::AccessError::NoSuchArgument { n: 9, max: 6 };
        assert_eq!(AccessError::from_common(common, ""), AccessError::from(wit::AccessError::NoSuchArgument(9)));
        assert_eq!(
            AccessError::from_common(wprobe_common::AccessError::NoSuchRegister, "nope"),
            AccessError::from(wit::AccessError::NoSuchRegister("nope".into()))
        );
    }
}
