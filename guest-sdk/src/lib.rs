//! Write wprobe probe handlers in Rust.
//!
//! A handler reads the current event with SystemTap's accessors, exactly as a SystemTap probe
//! body does, and prints with `printf!`:
//!
//! ```ignore
//! use wprobe_sdk::prelude::*;
//!
//! fn tcp_connect() -> Result<(), Error> {
//!     asmlinkage();
//!     printf!("{}, {}, {}, {:#x}, {:#x}, {}\n", pp(), pid(), cpu(), pointer_arg(1)?, pointer_arg(2)?, uint_arg(3)?);
//!     Ok(())
//! }
//!
//! wprobe_sdk::handler!(fn tcp_connect);
//! ```
//!
//! Handlers with state implement [`Handler`] and export it with `handler!(MyType)`. See the
//! crate's README for the whole guide: building, running, and SystemTap's names.
//!
//! Builds for `wasm32-unknown-unknown` (no WASI) or `wasm32-wasip2`, and natively so that
//! handler crates can have unit tests.

// The generated bindings name the runtime as `wprobe_sdk::…`, which must resolve here too.
extern crate self as wprobe_sdk;

pub mod agg;
mod capture;
mod context;
mod error;
#[doc(hidden)]
pub mod fastfmt;
mod host;
mod output;
mod returns;
mod runtime;
mod text;
mod wit_context;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "handler",
        // The export macro is expanded in the handler's crate by `handler!`.
        pub_export_macro: true,
        export_macro_name: "__export_handler",
        // Handler crates do not depend on wit-bindgen; they reach it through this crate.
        runtime_path: "wprobe_sdk::__private::wit_bindgen::rt",
    });
}

/// Everything a handler usually needs: `use wprobe_sdk::prelude::*;`. Its accessors are the
/// SDK's one list, generated from the WIT (`wit_context::exports`; tests/all/sdk_parity.rs
/// checks it): the crate root re-exports it.
///
/// `warn!` is left out on purpose: a glob-imported macro named `warn` would make the
/// built-in `#[warn(…)]` attribute ambiguous. Write `wprobe_sdk::warn!`.
pub mod prelude {
    pub use crate::capture::{Base, Capture};
    pub use crate::error::{AccessError, Error};
    pub use crate::returns::{errno_str, int_returnval, long_returnval, uint_returnval, ulong_returnval};
    pub use crate::runtime::{Delivery, Handler, Session};
    pub use crate::wit_context::exports::*;
}

pub use context::Probe;
pub use prelude::*;
pub use text::{ShortStr, SHORT_STR_CAP};
pub use wprobe_common::Arch;

/// Formats like `format!` and appends to the handler's output, SystemTap's `printf`.
///
/// No newline is added. `%d` is `{}`, `0x%x` is `{:#x}`, `%x` is `{:x}`, `%s` is `{}`.
/// Output is buffered and sent to the host once per batch (and whenever 64 KiB are pending).
///
/// A literal format string whose directives are all `{}`, `{:x}`, `{:#x}`, `{:X}` or `{:#X}`
/// is formatted by the SDK's own formatter (integers and strings directly, other `Display`
/// types through `core::fmt` one at a time), which is several times cheaper in the guest;
/// anything else goes through `core::fmt` as `format!` would, with the same text.
#[macro_export]
macro_rules! printf {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::__printf_bind!($fmt [] $($arg,)*)
    };
    ($($arg:tt)*) => {
        $crate::__private::printf(::core::format_args!($($arg)*))
    };
}

/// `printf!`'s arguments, each evaluated once, in order, into a binding of its own (macro
/// hygiene keeps the `a`s of the recursion apart), then formatted.
#[doc(hidden)]
#[macro_export]
macro_rules! __printf_bind {
    ($fmt:literal [$($done:ident)*] $head:expr, $($rest:expr,)*) => {{
        let a = &$head;
        $crate::__printf_bind!($fmt [$($done)* a] $($rest,)*)
    }};
    ($fmt:literal [$($done:ident)*]) => {{
        #[allow(unused_imports)]
        use $crate::__private::fastfmt::{ViaDisplay as _, ViaNothing as _, ViaValue as _};
        $crate::__private::printf_fast(
            $crate::__printf_spec!($fmt),
            &[$((&&&$crate::__private::fastfmt::Wrap($done)).wp_arg()),*],
            |out| ::core::fmt::Write::write_fmt(out, ::core::format_args!($fmt, $($done),*)),
        )
    }};
}

/// Formats like `format!` and writes `WARNING: …` to wprobe's diagnostics, SystemTap's
/// `warn`. Pending `printf!` output is sent first, so the two stay in order.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::__private::warn(::core::format_args!($($arg)*))
    };
}

/// Exports a handler: `handler!(MyType)` for a type implementing [`Handler`], or
/// `handler!(fn my_probe)` for a plain `fn my_probe() -> Result<(), E>` run on every event
/// (flat delivery, no state, no end hook). Use it once per crate.
#[macro_export]
macro_rules! handler {
    (fn $probe:path) => {
        #[doc(hidden)]
        struct __WprobeFnHandler;

        impl $crate::Handler for __WprobeFnHandler {
            fn init(_: &$crate::Session) -> ::core::result::Result<Self, $crate::__private::String> {
                ::core::result::Result::Ok(__WprobeFnHandler)
            }

            #[inline]
            fn event(&mut self) -> ::core::result::Result<(), $crate::Error> {
                ::core::result::Result::map_err($probe(), $crate::__private::into_error)
            }
        }

        $crate::handler!(__WprobeFnHandler);
    };
    ($handler:ty) => {
        #[doc(hidden)]
        struct __WprobeExports;

        impl $crate::__private::bindings::Guest for __WprobeExports {
            fn init(
                session: $crate::__private::bindings::Session,
            ) -> ::core::result::Result<$crate::__private::bindings::HandlerConfig, $crate::__private::String> {
                $crate::__private::init::<$handler>(session)
            }

            fn handle_batch(
                flat: ::core::option::Option<$crate::__private::Vec<u8>>,
            ) -> ::core::result::Result<(), $crate::__private::String> {
                $crate::__private::handle_batch(flat)
            }

            fn tick(timer: u32) -> ::core::result::Result<(), $crate::__private::String> {
                $crate::__private::tick(timer)
            }

            fn end() -> ::core::result::Result<(), $crate::__private::String> {
                $crate::__private::end()
            }
        }

        $crate::__private::bindings::__export_handler!(__WprobeExports with_types_in $crate::__private::bindings);
    };
}

/// What the macros expand to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::fastfmt;
    pub use crate::output::{printf, printf_fast, warn};
    pub use crate::runtime::{end, handle_batch, init, tick};
    pub use std::string::String;
    pub use std::vec::Vec;
    pub use wit_bindgen;

    /// `handler!(fn f)` accepts any error type that converts into `Error`.
    #[inline]
    pub fn into_error<E: Into<crate::Error>>(e: E) -> crate::Error {
        e.into()
    }
}
