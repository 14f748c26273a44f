//! The handler lifecycle: what `init`, `handle-batch` and `end` do around the author's
//! [`Handler`].

use crate::bindings::wprobe::probe::context as ctx;
use crate::bindings::wprobe::probe::types as wit;
use crate::context::{self, EventScope, Probe};
use crate::error::Error;
use crate::output;
use crate::Capture;
use core::cell::RefCell;
use wprobe_common::tracepoint::{Field, FieldKind};
use wprobe_common::{Arch, BatchRef};

/// How the handler wants its batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Delivery {
    /// The whole batch as one byte buffer, decoded inside the handler: no import call per
    /// accessor. The right choice unless you are measuring the other one.
    #[default]
    Flat,
    /// One import call per `next()` and per accessor, as every guest language can do it.
    Cursor,
}

/// A probe handler: SystemTap's `probe begin` (`init`), probe body (`event`) and
/// `probe end` (`end`) in one type whose fields are the handler's state.
///
/// ```ignore
/// struct Count { n: u64 }
/// impl wprobe_sdk::Handler for Count {
///     fn init(_: &wprobe_sdk::Session) -> Result<Self, String> { Ok(Count { n: 0 }) }
///     fn event(&mut self) -> Result<(), wprobe_sdk::Error> { self.n += 1; Ok(()) }
///     fn end(&mut self) -> Result<(), wprobe_sdk::Error> { wprobe_sdk::printf!("{}\n", self.n); Ok(()) }
/// }
/// wprobe_sdk::handler!(Count);
/// ```
pub trait Handler: Sized + 'static {
    /// How the host should deliver batches; see [`Delivery`].
    const DELIVERY: Delivery = Delivery::Flat;

    /// Called once before any event. An error refuses to start; the user sees the message.
    fn init(session: &Session) -> Result<Self, String>;

    /// Called once per event; the accessors (`pid()`, `pointer_arg(1)`, …) read that event.
    /// An error ends the session and is reported with the event.
    fn event(&mut self) -> Result<(), Error>;

    /// Called once per period of a timer declared in `init` with [`Session::timer_ms`] (or
    /// `timer_s`): SystemTap's `probe timer.ms(N)`, bpftrace's `interval:ms:N`. `timer` is
    /// the index `timer_ms` returned. No event is current here; printing works.
    fn tick(&mut self, timer: u32) -> Result<(), Error> {
        let _ = timer;
        Ok(())
    }

    /// Called once after the last batch, for summaries.
    fn end(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// What `init` learns about the session.
#[derive(Debug)]
pub struct Session {
    args: Vec<(String, String)>,
    probes: &'static [Probe],
    arch: Arch,
    captures: RefCell<Vec<Capture>>,
    timers: RefCell<Vec<u32>>,
}

impl Session {
    /// Builds a session by hand, for testing a handler's `init` natively.
    pub fn new(args: Vec<(String, String)>, probes: &'static [Probe], arch: Arch) -> Self {
        Self { args, probes, arch, captures: RefCell::new(Vec::new()), timers: RefCell::new(Vec::new()) }
    }

    /// Declares memory to take at every hit (of every probe, or of the one
    /// [`Capture::probe`] names), for the memory accessors to read in `event`.
    pub fn capture(&self, capture: Capture) -> &Self {
        self.captures.borrow_mut().push(capture);
        self
    }

    /// Asks for [`Handler::tick`] every `period_ms` milliseconds (at least 1); returns the
    /// timer's index, which `tick` is called with.
    pub fn timer_ms(&self, period_ms: u32) -> u32 {
        let mut timers = self.timers.borrow_mut();
        timers.push(period_ms);
        timers.len() as u32 - 1
    }

    /// [`timer_ms`](Self::timer_ms) in seconds: SystemTap's `timer.s(N)`.
    pub fn timer_s(&self, period_s: u32) -> u32 {
        self.timer_ms(period_s.saturating_mul(1000))
    }

    /// The timers' periods declared so far, in milliseconds.
    pub fn timers(&self) -> Vec<u32> {
        self.timers.borrow().clone()
    }

    /// The captures declared so far.
    pub fn captures(&self) -> Vec<Capture> {
        self.captures.borrow().clone()
    }

    /// The `--arg key=value` pairs, in command-line order.
    pub fn args(&self) -> &[(String, String)] {
        &self.args
    }

    /// The value of `--arg key=…`; the last one wins if the key is repeated.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `--arg key=…` parsed, or `default` when absent; the error names the key and the value.
    pub fn arg_or<T>(&self, key: &str, default: T) -> Result<T, String>
    where
        T: core::str::FromStr,
        T::Err: core::fmt::Display,
    {
        match self.arg(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("--arg {key}={v}: {e}")),
        }
    }

    /// Every probe of the session; [`probe_id()`](crate::probe_id) indexes it.
    pub fn probes(&self) -> &'static [Probe] {
        self.probes
    }

    /// The architecture the snapshots come from.
    pub fn arch(&self) -> Arch {
        self.arch
    }
}

/// The author's handler behind one virtual call per batch; the per-event loop inside is
/// monomorphized for the concrete type.
trait Instance {
    fn batch(&mut self, flat: Option<&[u8]>) -> Result<(), String>;
    fn tick(&mut self, timer: u32) -> Result<(), String>;
    fn end(&mut self) -> Result<(), String>;
}

impl<H: Handler> Instance for H {
    fn batch(&mut self, flat: Option<&[u8]>) -> Result<(), String> {
        match flat {
            Some(bytes) => run_flat(self, bytes),
            None => run_cursor(self),
        }
    }

    fn tick(&mut self, timer: u32) -> Result<(), String> {
        // The host's report names the timer.
        Handler::tick(self, timer).map_err(|e| e.to_string())
    }

    fn end(&mut self) -> Result<(), String> {
        // The host's report says it was in `end`.
        Handler::end(self).map_err(|e| e.to_string())
    }
}

fn run_flat<H: Handler>(handler: &mut H, bytes: &[u8]) -> Result<(), String> {
    let batch = BatchRef::parse(bytes).map_err(|e| format!("the host sent a malformed flat batch: {e}"))?;
    context::set_lost(batch.header().lost);
    let mut scope = EventScope::new();
    for (i, event) in batch.iter().enumerate() {
        // SAFETY: `bytes` outlives `scope`, which clears the current event when dropped.
        unsafe { scope.set_flat(i as u32, event) };
        if let Err(e) = handler.event() {
            return Err(event_error(e));
        }
    }
    Ok(())
}

fn run_cursor<H: Handler>(handler: &mut H) -> Result<(), String> {
    context::set_lost(ctx::lost_events());
    let mut scope = EventScope::new();
    let mut i = 0u32;
    while ctx::next() {
        scope.set_cursor(i);
        if let Err(e) = handler.event() {
            return Err(event_error(e));
        }
        i += 1;
    }
    Ok(())
}

/// The message only: the host words the position from its cursor, which this puts on the
/// failing event.
#[cold]
fn event_error(e: Error) -> String {
    context::point_host_at_current();
    e.to_string()
}

thread_local! {
    static INSTANCE: RefCell<Option<Box<dyn Instance>>> = const { RefCell::new(None) };
}

/// The `init` export.
pub fn init<H: Handler>(session: wit::Session) -> Result<wit::HandlerConfig, String> {
    install_panic_hook();
    let session = convert_session(session);
    context::set_probes(session.probes);
    let handler = H::init(&session);
    output::flush();
    let handler: Box<dyn Instance> = Box::new(handler?);
    INSTANCE.with_borrow_mut(|i| *i = Some(handler));
    let delivery = match H::DELIVERY {
        Delivery::Flat => wit::Delivery::Flat,
        Delivery::Cursor => wit::Delivery::Cursor,
    };
    let captures = session.captures.borrow().iter().map(Capture::to_wit).collect();
    Ok(wit::HandlerConfig { delivery, captures, timers: session.timers() })
}

/// The `tick` export.
pub fn tick(timer: u32) -> Result<(), String> {
    let result = INSTANCE.with_borrow_mut(|i| match i {
        Some(handler) => handler.tick(timer),
        None => Err("tick called before a successful init".into()),
    });
    output::flush();
    result
}

/// The `handle-batch` export.
pub fn handle_batch(flat: Option<Vec<u8>>) -> Result<(), String> {
    let result = INSTANCE.with_borrow_mut(|i| match i {
        Some(handler) => handler.batch(flat.as_deref()),
        None => Err("handle-batch called before a successful init".into()),
    });
    output::flush();
    result
}

/// The `end` export.
pub fn end() -> Result<(), String> {
    let result = INSTANCE.with_borrow_mut(|i| match i {
        Some(handler) => handler.end(),
        None => Err("end called before a successful init".into()),
    });
    output::flush();
    result
}

fn convert_session(s: wit::Session) -> Session {
    // Leaked once per instance: `pp()` hands out `&'static str` so that it costs nothing per
    // event, and the table lives as long as the instance anyway.
    let probes: Vec<Probe> = s
        .probes
        .into_iter()
        .map(|p| Probe {
            id: p.id,
            pp: String::leak(p.pp),
            is_return: p.is_return,
            fields: Vec::leak(p.fields.into_iter().map(convert_field).collect()),
        })
        .collect();
    let arch = match s.arch {
        wit::Arch::X8664 => Arch::X86_64,
        wit::Arch::Aarch64 => Arch::Aarch64,
    };
    Session::new(s.args, Vec::leak(probes), arch)
}

fn convert_field(f: wit::FieldInfo) -> Field<'static> {
    let kind = match f.kind {
        wit::FieldKind::Unsigned => FieldKind::Int { signed: false },
        wit::FieldKind::Signed => FieldKind::Int { signed: true },
        wit::FieldKind::Chars => FieldKind::Chars,
        wit::FieldKind::DataLocString => FieldKind::DataLoc { string: true, relative: false },
        wit::FieldKind::DataLocBytes => FieldKind::DataLoc { string: false, relative: false },
        wit::FieldKind::RelLocString => FieldKind::DataLoc { string: true, relative: true },
        wit::FieldKind::RelLocBytes => FieldKind::DataLoc { string: false, relative: true },
        wit::FieldKind::Bytes => FieldKind::Bytes,
    };
    Field { name: String::leak(f.name), offset: f.offset, size: f.size, kind }
}

/// Reports a panic before the trap: the host only sees `unreachable`, the author needs the
/// message and the event. Native unit tests keep the test harness's own hook.
fn install_panic_hook() {
    #[cfg(not(test))]
    std::panic::set_hook(Box::new(|info| {
        output::try_flush();
        // The trap that follows is reported by the host with the event its cursor is on.
        context::point_host_at_current();
        let message = info.payload_as_str().unwrap_or("(non-string panic payload)");
        crate::host::warn(&panic_report(info.location(), message));
    }));
}

fn panic_report(location: Option<&std::panic::Location<'_>>, message: &str) -> String {
    match location {
        Some(l) => format!("handler panicked at {}:{}: {message}", l.file(), l.line()),
        None => format!("handler panicked: {message}"),
    }
}

#[cfg(test)]
mod tests;
