//! The sandbox: runs one handler component per wasmtime `Store`, with bounded CPU, memory and
//! output, and no authority beyond the WIT imports.
//!
//! Lifecycle:
//!
//! ```text
//! Runtime::new(config)          one Engine (epoch ticker thread), one Linker, the cache
//!   └─ Runtime::load(path)      size bound → validate → fetch from cache, or compile
//!        │                      (a core module is componentized first, see `core_module`;
//!        │                      in a bounded child process, see `compile`) → HandlerPre
//!        └─ Runtime::start(..)  Store + limits → instantiate → init(session)
//!             ├─ Handler::handle_batch(flat)   once per batch (CPU deadline re-armed)
//!             └─ Handler::end()                SystemTap's `probe end`
//! ```
//!
//! A fault (trap, exhausted CPU bound, memory cap, output cap, handler error) ends that
//! handler only, and comes back as a [`HandlerFault`] naming the cause, the probe and the
//! event. The host process and any other handler's Store are unaffected. Everything a
//! handler writes or says is treated as hostile text (see `output`).

mod cache;
mod compile;
mod context;
mod core_module;
mod fault;
mod limits;
mod load;
mod output;
mod ticker;
mod wasi;

pub use cache::{CacheOutcome, ComponentCache};
pub use compile::{child_main as compile_child_main, ChildError, CompileBounds, CompileProgress, Compiler};
pub use fault::{FaultCause, HandlerFault, Phase};
pub use limits::Limits;
pub use load::{human_size, LoadError, WIT_VERSION};
pub use output::{Output, OutputBounds, OutputLimitExceeded, MESSAGE_CAP};

use crate::probe::{CaptureBase, CaptureSpec, ProbeInfo};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
pub use ticker::thread_cpu_time;
use ticker::Ticker;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wprobe_common::Arch;

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "handler",
        imports: {
            // Output past the cap, and a context accessor outside an event, end the handler:
            // every import may trap.
            default: trappable,
        },
    });
}

use bindings::wprobe::probe::types as wit;

/// Errors of setting up the runtime itself (not of a handler).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    #[error("cannot link the wprobe imports: {0}")]
    Linker(String),
}

/// Settings shared by every handler of a runtime.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are kept; `None` disables the cache.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Components larger than this many bytes are refused before anything else is done
    /// with them (`--max-component-size`).
    pub max_component_size: u64,
    /// Where components are compiled: in this process, or bounded in a child.
    pub compiler: Compiler,
    /// Told when a component is compiled rather than found in the cache.
    pub progress: Option<Arc<dyn CompileProgress>>,
}

impl RuntimeConfig {
    pub const DEFAULT_MAX_COMPONENT_SIZE: u64 = 64 << 20;
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_component_size: Self::DEFAULT_MAX_COMPONENT_SIZE,
            compiler: Compiler::InProcess,
            progress: None,
        }
    }
}

/// The engine, linker and cache, set up once before the hot path.
pub struct Runtime {
    engine: Engine,
    ticker: Ticker,
    linker: Linker<HandlerState>,
    cache: Option<ComponentCache>,
    max_component_size: u64,
    compiler: Compiler,
    progress: Option<Arc<dyn CompileProgress>>,
}

/// The engine's settings. The compiler child process builds its engine from the same, so
/// that what it compiles loads here.
fn engine_config() -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true)
        // A deadline per call, checked at function entries and loop heads: an infinite
        // loop is stopped without the per-instruction cost of fuel.
        .epoch_interruption(true)
        // Deep recursion traps instead of exhausting the host thread's stack.
        .max_wasm_stack(1 << 20)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Enable);
    // `perf record` can name handler functions when this is set (writes /tmp/perf-PID.map).
    if std::env::var_os("WPROBE_PERF_MAP").is_some() {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    c
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&engine_config()).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let ticker = Ticker::start(&engine);

        let mut linker = Linker::new(&engine);
        bindings::Handler::add_to_linker::<HandlerState, HasSelf<HandlerState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Linker(e.to_string()))?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| RuntimeError::Linker(e.to_string()))?;
        let cache = config.cache_dir.map(ComponentCache::new);
        Ok(Self {
            engine,
            ticker,
            linker,
            cache,
            max_component_size: config.max_component_size,
            compiler: config.compiler,
            progress: config.progress,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, validates and compiles (or fetches from the cache) a handler component.
    pub fn load(&self, path: &Path) -> Result<LoadedHandler, LoadError> {
        let bytes = load::read_bounded(path, &display_name(path), self.max_component_size)?;
        self.load_bytes(&display_name(path), &bytes)
    }

    /// As [`Runtime::load`], from bytes already in memory; `name` names it in messages.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<LoadedHandler, LoadError> {
        load::check_size(name, bytes.len() as u64, self.max_component_size)?;
        let binary = load::check_binary(name, bytes)?;
        let (component, cache) = self.compiled(name, bytes, binary)?;
        load::check_world(name, &self.engine, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link { name: name.to_owned(), message: format!("{e:#}") })?;
        let pre = bindings::HandlerPre::new(pre)
            .map_err(|e| LoadError::Link { name: name.to_owned(), message: format!("{e:#}") })?;
        Ok(LoadedHandler { name: name.to_owned(), pre, cache })
    }

    /// The component from the cache, or compiled (within the compile bounds) and stored. A
    /// core module is cached under its own bytes, so a hit skips componentizing too.
    fn compiled(&self, name: &str, bytes: &[u8], binary: load::Binary) -> Result<(Component, CacheOutcome), LoadError> {
        let salt = match binary {
            load::Binary::Component => &[][..],
            load::Binary::CoreModule => core_module::CACHE_SALT,
        };
        if let Some(component) = self.cache.as_ref().and_then(|c| c.get(&self.engine, bytes, salt)) {
            return Ok((component, CacheOutcome::Hit));
        }
        let componentized;
        let component_bytes = match binary {
            load::Binary::Component => bytes,
            load::Binary::CoreModule => {
                componentized = core_module::componentize(name, bytes)?;
                load::check_size(name, componentized.len() as u64, self.max_component_size)?;
                &componentized[..]
            }
        };
        if let Some(p) = &self.progress {
            p.started(name, component_bytes.len(), self.cache.is_some());
        }
        let compiled = compile::precompile(&self.compiler, &self.engine, component_bytes);
        if let Some(p) = &self.progress {
            p.finished(name);
        }
        let compiled = compiled.map_err(|e| LoadError::compile_failure(name, e))?;
        let outcome = match &self.cache {
            Some(cache) if cache.put(&self.engine, bytes, salt, &compiled).is_ok() => CacheOutcome::Compiled,
            _ => CacheOutcome::Disabled,
        };
        // SAFETY: `compiled` came from `Engine::precompile_component` with this engine's
        // settings, in this process or in wprobe's own compiler child over a pipe; wasmtime
        // checks the version and settings again.
        let component = unsafe { Component::deserialize(&self.engine, &compiled) }
            .map_err(|e| LoadError::Invalid { name: name.to_owned(), message: format!("{e:#}") })?;
        Ok((component, outcome))
    }

    /// Compiles `path` into the cache (`wprobe compile`), unless it is there already.
    pub fn precompile(&self, path: &Path) -> Result<CacheOutcome, LoadError> {
        let name = display_name(path);
        let bytes = load::read_bounded(path, &name, self.max_component_size)?;
        let binary = load::check_binary(&name, &bytes)?;
        let (component, outcome) = self.compiled(&name, &bytes, binary)?;
        load::check_world(&name, &self.engine, &component)?;
        Ok(outcome)
    }

    /// Instantiates a loaded handler in a Store of its own and calls its `init`.
    pub fn start(&self, loaded: &LoadedHandler, session: &Session, limits: Limits) -> Result<Handler, HandlerFault> {
        let state = HandlerState::new(session, &limits);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // The bound is the CPU time the call has used, not the wall time the epoch clock
        // counts: at the wall-clock deadline, extend it by the CPU time still left.
        let bound = limits.cpu_per_call;
        store.epoch_deadline_callback(move |ctx| {
            let used = ticker::thread_cpu_time().saturating_sub(ctx.data().call_cpu_start);
            Ok(match bound.checked_sub(used) {
                Some(left) if !left.is_zero() => UpdateDeadline::Continue(ticker::ticks(left)),
                _ => UpdateDeadline::Interrupt,
            })
        });
        let mut handler = Handler {
            name: loaded.name.clone(),
            store,
            ticker: self.ticker.clone(),
            bindings: None,
            limits,
            batches: 0,
            delivery: wit::Delivery::Cursor,
            captures: Vec::new(),
            timers: Vec::new(),
            memory_warned: false,
        };
        let _call = handler.arm_deadline();
        let bindings = match loaded.pre.instantiate(&mut handler.store) {
            Ok(b) => b,
            Err(e) => return Err(handler.fault(Phase::Instantiate, e)),
        };
        let wit_session = wit::Session {
            args: session.args.clone(),
            probes: session
                .probes
                .iter()
                .enumerate()
                .map(|(id, p)| wit::ProbeInfo {
                    id: id as u32,
                    pp: p.pp.clone(),
                    is_return: p.is_return,
                    fields: p.fields.iter().map(field_info).collect(),
                })
                .collect(),
            arch: match session.arch {
                Arch::X86_64 => wit::Arch::X8664,
                Arch::Aarch64 => wit::Arch::Aarch64,
            },
        };
        let result = outside_runtime(|| bindings.call_init(&mut handler.store, &wit_session));
        handler.bindings = Some(bindings);
        match result {
            Ok(Ok(config)) => {
                handler.delivery = config.delivery;
                handler.captures = config.captures.into_iter().map(capture_spec).collect();
                if let Some(i) = config.timers.iter().position(|&ms| ms == 0) {
                    let message = format!("timer {i} has a period of 0 ms; a timer's period is at least 1 ms");
                    return Err(handler.refused(Phase::Init, message));
                }
                handler.timers = config.timers.into_iter().map(|ms| Duration::from_millis(ms.into())).collect();
                Ok(handler)
            }
            Ok(Err(message)) => Err(handler.refused(Phase::Init, message)),
            Err(e) => Err(handler.fault(Phase::Init, e)),
        }
    }
}

/// A compiled handler, ready to be started any number of times.
pub struct LoadedHandler {
    name: String,
    pre: bindings::HandlerPre<HandlerState>,
    cache: CacheOutcome,
}

impl LoadedHandler {
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Whether the compiled code came from the cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }
}

/// What a handler is told at `init`.
#[derive(Clone, Debug)]
pub struct Session {
    pub args: Vec<(String, String)>,
    pub probes: Arc<[ProbeInfo]>,
    pub arch: Arch,
}

/// What a batch asked of the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The handler called `exit()`.
    pub exit_requested: bool,
}

/// A running handler: its Store, instance and limits.
pub struct Handler {
    name: String,
    store: Store<HandlerState>,
    ticker: Ticker,
    bindings: Option<bindings::Handler>,
    limits: Limits,
    batches: u64,
    delivery: wit::Delivery,
    captures: Vec<CaptureSpec>,
    timers: Vec<Duration>,
    /// The memory warning was given (once a run).
    memory_warned: bool,
}

impl Handler {
    /// Bytes of linear memory the handler has now, summed over its memories. Wasm memories
    /// never shrink, so this is also the most it has had.
    pub fn memory(&self) -> usize {
        self.store.data().memory.bytes()
    }

    /// The first time the handler's memory passes [`Limits::MEMORY_WARN_PERCENT`] of its
    /// limit: the warning line to show (without a newline). `None` after that.
    pub fn take_memory_warning(&mut self) -> Option<String> {
        let (bytes, limit) = (self.memory(), self.limits.memory);
        if self.memory_warned || bytes * 100 < limit * Limits::MEMORY_WARN_PERCENT {
            return None;
        }
        self.memory_warned = true;
        Some(format!(
            "wprobe: warning: handler {} has grown to {} of memory, {}% of its limit of {}; \
             it stops if it reaches the limit: raise it with --memory-limit",
            self.name,
            load::human_size(bytes as u64),
            bytes * 100 / limit.max(1),
            load::human_size(limit as u64),
        ))
    }

    /// The periods of the handler's timers (from its `init`); `tick(i)` is due every
    /// `timers()[i]`.
    pub fn timers(&self) -> &[Duration] {
        &self.timers
    }

    /// The memory the handler asked to take at each hit (from its `init`), for the live
    /// source to check and configure.
    pub fn captures(&self) -> &[CaptureSpec] {
        &self.captures
    }

    /// The pid `target()` answers: the `-c` command's, or `--pid`'s.
    pub fn set_target(&mut self, pid: u32) {
        self.store.data_mut().target = pid;
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the handler asked for the flat fast path.
    pub fn wants_flat(&self) -> bool {
        matches!(self.delivery, wit::Delivery::Flat)
    }

    /// Runs the handler over one finished flat batch.
    pub fn handle_batch(&mut self, flat: &[u8]) -> Result<BatchOutcome, HandlerFault> {
        self.batches += 1;
        self.store.data_mut().begin_batch(flat);
        let _call = self.arm_deadline();
        let bindings = self.bindings.as_ref().expect("started handlers have bindings");
        let arg = self.wants_flat().then_some(flat);
        let result = outside_runtime(|| bindings.call_handle_batch(&mut self.store, arg));
        match result {
            Ok(Ok(())) => {
                let state = self.store.data_mut();
                state.cursor = Cursor::Outside;
                Ok(BatchOutcome { exit_requested: state.exit_requested })
            }
            Ok(Err(message)) => Err(self.refused(Phase::Batch, message)),
            Err(e) => Err(self.fault(Phase::Batch, e)),
        }
    }

    /// Runs timer `timer`'s tick (SystemTap's `probe timer.ms(N)`), bounded like a batch.
    pub fn tick(&mut self, timer: u32) -> Result<BatchOutcome, HandlerFault> {
        self.store.data_mut().begin_call();
        let _call = self.arm_deadline();
        let bindings = self.bindings.as_ref().expect("started handlers have bindings");
        match outside_runtime(|| bindings.call_tick(&mut self.store, timer)) {
            Ok(Ok(())) => Ok(BatchOutcome { exit_requested: self.store.data().exit_requested }),
            Ok(Err(message)) => Err(self.refused(Phase::Tick(timer), message)),
            Err(e) => Err(self.fault(Phase::Tick(timer), e)),
        }
    }

    /// Runs the end hook (SystemTap's `probe end`).
    pub fn end(&mut self) -> Result<(), HandlerFault> {
        self.store.data_mut().begin_call();
        let _call = self.arm_deadline();
        let bindings = self.bindings.as_ref().expect("started handlers have bindings");
        match outside_runtime(|| bindings.call_end(&mut self.store)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(self.refused(Phase::End, message)),
            Err(e) => Err(self.fault(Phase::End, e)),
        }
    }

    /// The output the handler produced since the last call: `printf` text (and WASI stdout)
    /// first, then diagnostics (`warn`, WASI stderr). The caller writes it out.
    pub fn output(&mut self) -> &mut Output {
        self.store.data_mut().output_mut()
    }

    /// Arms the call's CPU bound; the clock ticks until the returned guard is dropped.
    fn arm_deadline(&mut self) -> ticker::Call {
        let call = self.ticker.call();
        self.store.data_mut().call_cpu_start = ticker::thread_cpu_time();
        // +1: the current tick may be about to end.
        self.store.set_epoch_deadline(ticker::ticks(self.limits.cpu_per_call) + 1);
        call
    }

    fn refused(&mut self, phase: Phase, message: String) -> HandlerFault {
        let state = self.store.data_mut();
        let message = state.output.take_message(message);
        let event = state.current_event_context();
        HandlerFault {
            handler: self.name.clone(),
            phase,
            batch: self.batches,
            event,
            cause: FaultCause::HandlerError(message),
        }
    }

    fn fault(&mut self, phase: Phase, error: wasmtime::Error) -> HandlerFault {
        let state = self.store.data();
        let cause = fault::classify(error, &self.limits);
        HandlerFault {
            handler: self.name.clone(),
            phase,
            batch: self.batches,
            event: state.current_event_context(),
            cause,
        }
    }
}

/// Where the cursor of the current batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cursor {
    /// Not in `handle-batch` (in `init`, `end`, or between calls).
    Outside,
    /// In `handle-batch`, before the first `next()`.
    Before,
    /// On record `index`, `len` bytes at `offset` in the batch.
    At { index: usize, offset: usize, len: usize },
    /// `next()` returned false.
    Done,
}

/// Everything a handler's Store holds.
pub(crate) struct HandlerState {
    batch: Vec<u8>,
    batch_arch: Arch,
    batch_len: usize,
    batch_lost: u64,
    cursor: Cursor,
    probes: Arc<[ProbeInfo]>,
    exit_requested: bool,
    /// What `target()` answers.
    target: u32,
    output: Output,
    memory: limits::MemoryLimiter,
    wasi: wasi::DenyAll,
    /// The calling thread's CPU time when the current call began (for the CPU bound).
    call_cpu_start: Duration,
}

impl HandlerState {
    fn new(session: &Session, limits: &Limits) -> Self {
        let output = Output::new(limits.output_bounds());
        Self {
            batch: Vec::new(),
            batch_arch: session.arch,
            batch_len: 0,
            batch_lost: 0,
            cursor: Cursor::Outside,
            probes: session.probes.clone(),
            exit_requested: false,
            target: 0,
            wasi: wasi::DenyAll::new(&output),
            output,
            memory: limits::MemoryLimiter::new(limits.memory),
            call_cpu_start: Duration::ZERO,
        }
    }

    fn begin_call(&mut self) {
        self.cursor = Cursor::Outside;
        self.output.begin_call();
    }

    fn begin_batch(&mut self, flat: &[u8]) {
        self.begin_call();
        let view = wprobe_common::BatchRef::parse(flat).expect("the host builds valid batches");
        self.batch.clear();
        self.batch.extend_from_slice(flat);
        self.batch_arch = view.header().arch;
        self.batch_len = view.len();
        self.batch_lost = view.header().lost;
        self.cursor = Cursor::Before;
    }

    fn output_mut(&mut self) -> &mut Output {
        &mut self.output
    }

    fn current(&self) -> Option<wprobe_common::EventRef<'_>> {
        match self.cursor {
            Cursor::At { offset, len, .. } => {
                wprobe_common::EventRef::new(self.batch_arch, &self.batch[offset..offset + len])
            }
            _ => None,
        }
    }

    /// The cursor on the record that starts at `offset`, or `Done` past the last.
    fn record_at(&self, index: usize, offset: usize) -> Cursor {
        if index >= self.batch_len {
            return Cursor::Done;
        }
        // The batch was checked when it was built (BatchRef::parse), so the length is there.
        match wprobe_common::record::record_len(self.batch_arch, &self.batch[offset..]) {
            Some(len) => Cursor::At { index, offset, len },
            None => Cursor::Done,
        }
    }

    fn current_event_context(&self) -> Option<fault::EventContext> {
        let index = match self.cursor {
            Cursor::At { index, .. } => index,
            // A flat-delivery handler steps through the batch without telling the host; with
            // one event in the batch (as with --json) there is no doubt which it was on.
            Cursor::Before if self.batch_len == 1 => 0,
            _ => return None,
        };
        // Records vary in length: step to the one the index names (only on a fault).
        let e = wprobe_common::BatchRef::parse(&self.batch).ok()?.get(index)?;
        Some(fault::EventContext {
            index,
            pp: self.probes.get(e.probe_id() as usize).map(|p| p.pp.clone()),
            pid: e.pid(),
            tid: e.tid(),
        })
    }
}

fn field_info(f: &crate::probe::FieldInfo) -> wit::FieldInfo {
    use wprobe_common::tracepoint::FieldKind as K;
    wit::FieldInfo {
        name: f.name.clone(),
        offset: f.offset,
        size: f.size,
        kind: match f.kind {
            K::Int { signed: false } => wit::FieldKind::Unsigned,
            K::Int { signed: true } => wit::FieldKind::Signed,
            K::Chars => wit::FieldKind::Chars,
            K::DataLoc { string: true, relative: false } => wit::FieldKind::DataLocString,
            K::DataLoc { string: false, relative: false } => wit::FieldKind::DataLocBytes,
            K::DataLoc { string: true, relative: true } => wit::FieldKind::RelLocString,
            K::DataLoc { string: false, relative: true } => wit::FieldKind::RelLocBytes,
            K::Bytes => wit::FieldKind::Bytes,
        },
    }
}

fn capture_spec(c: wit::Capture) -> CaptureSpec {
    CaptureSpec {
        probe: c.probe,
        base: match c.base {
            wit::CaptureBase::Arg(n) => CaptureBase::Arg(n),
            wit::CaptureBase::Register(r) => CaptureBase::Register(r),
            wit::CaptureBase::Returnval => CaptureBase::ReturnValue,
            wit::CaptureBase::Field(f) => CaptureBase::Field(f),
        },
        offset: c.offset,
        derefs: c.derefs,
        string: matches!(c.kind, wit::CaptureKind::String),
        size: c.size,
        space: match c.space {
            wit::AddressSpace::Kernel => wprobe_common::ext::Space::Kernel,
            wit::AddressSpace::User => wprobe_common::ext::Space::User,
        },
        at_entry: matches!(c.at, wit::CaptureTime::Entry),
    }
}

fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// A tokio runtime for loops that call handlers (the live loop, serve's sessions): the loop
/// runs in `block_on` on the calling thread, one worker thread serves the I/O driver.
pub fn live_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()
}

/// Runs a call into the guest outside the tokio runtime the caller may be running in.
/// wasmtime-wasi runs a guest's blocking WASI calls (a JavaScript handler's `console.log` is
/// a `blocking-write-and-flush` on stdout) with a `block_on` of their own, which panics
/// inside a runtime's `block_on`; `block_in_place` leaves that context for the call (it
/// needs a multi-thread runtime there: [`live_runtime`]), and outside any runtime it only
/// calls `f`. So replay and live runs call handlers alike.
fn outside_runtime<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}
