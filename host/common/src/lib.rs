//! The one event model of wprobe, shared by the three places that touch an event:
//!
//! * the eBPF program, which writes [`EventHeader`] plus the raw register snapshot into the
//!   ring buffer ([`record`]);
//! * the host, which copies those records unchanged into a flat batch ([`batch`]) and reads
//!   them for the per-accessor imports;
//! * the Rust guest SDK, which receives the very same flat batch on the fast path and decodes
//!   it inside the sandbox.
//!
//! Because all three read events through [`EventRef`], an accessor such as `int_arg(1)` gives
//! the same answer whether the handler asked the host or decoded the batch itself.
//!
//! `no_std` and dependency-free so that it builds for `bpfel-unknown-none` and `wasm32`.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub mod abi;
pub mod batch;
pub mod digits;
pub mod errno;
pub mod ext;
pub mod record;
pub mod sdk;
pub mod syscalls;
pub mod texts;
pub mod tracepoint;

pub use abi::{AccessError, Arch, RegisterRef};
pub use batch::{BatchError, BatchHeader, BatchRef};
pub use record::{EventHeader, EventRef};
