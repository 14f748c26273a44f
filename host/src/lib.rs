//! wprobe: kernel and user-space probes whose handlers are sandboxed WebAssembly components.
//!
//! ```text
//! probe hit ─► eBPF snapshot ─► ring buffer ─► BatchBuilder ─► sandbox::Handler ─► output
//!                                 events file ─┘ (replay)
//! ```
//!
//! * [`batch`]: flat batches, the one in-memory form of events (layout in `wprobe_common`).
//! * [`events_file`]: the versioned recording format, for `record` and `replay`.
//! * [`sandbox`]: the wasmtime runtime: loading, limits, the WIT imports, faults.
//! * [`session`]: the dispatcher that feeds batches from a source into a handler.
//! * [`probe`]: the probe table (`pp()` per probe id).
//! * [`live`]: the eBPF program, probe attachment and the ring reader.
//! * [`redact`]: kernel pointer redaction, for tenants of `wprobe serve` without the right.
//! * [`run`]: the live loop: signals, `-c CMD`, `--duration`, `--max-events`.

pub mod batch;
pub mod events_file;
pub mod live;
pub mod probe;
pub mod redact;
pub mod run;
pub mod sandbox;
pub mod session;
pub mod timers;

pub use wprobe_common as common;
