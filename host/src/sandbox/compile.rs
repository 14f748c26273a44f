//! Compiling a component into machine code, bounded.
//!
//! Cranelift's time and memory grow faster than linearly with some shapes of code: a
//! sub-megabyte function with deep branching and many locals can take minutes and
//! gigabytes. A handler is untrusted, so its compilation must not be able to exhaust the
//! host. [`Compiler::Child`] compiles in a child process (wprobe re-running itself with a
//! hidden subcommand, see [`child_main`]) under `RLIMIT_AS` and a wall-time bound; the
//! parent stores the artifact in the compiled-component cache and loads it from there.
//!
//! ```text
//! parent: component bytes ──stdin──► child: setrlimit(RLIMIT_AS) → precompile ──stdout──► artifact
//!         wait (timeout: SIGKILL) ◄── exit status, stderr
//! ```

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use wait_timeout::ChildExt;
use wasmtime::Engine;

/// How a component is compiled when the cache does not already hold it.
#[derive(Clone, Debug, Default)]
pub enum Compiler {
    /// In this process, unbounded: for tests, benchmarks and embedders that trust their
    /// components.
    #[default]
    InProcess,
    /// In a child process, `program args… MEMORY` (MEMORY: the address-space bound in
    /// bytes), which must call [`child_main`]; the CLI runs its own executable with a hidden
    /// subcommand.
    Child { program: PathBuf, args: Vec<OsString>, bounds: CompileBounds },
}

/// Bounds on compiling one component in a child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileBounds {
    /// Wall time (`--compile-timeout`).
    pub timeout: Duration,
    /// Address space of the compiler process, in bytes (`--compile-memory-limit`).
    pub memory: u64,
}

impl CompileBounds {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
    pub const DEFAULT_MEMORY: u64 = 4 << 30;
}

impl Default for CompileBounds {
    fn default() -> Self {
        Self { timeout: Self::DEFAULT_TIMEOUT, memory: Self::DEFAULT_MEMORY }
    }
}

/// Why a bounded compilation produced nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompileFailure {
    #[error("{0}")]
    Invalid(String),
    #[error("timeout")]
    Timeout(Duration),
    #[error("memory")]
    Memory { limit: u64, detail: String },
    #[error("{0}")]
    Spawn(String),
}

/// Told when a component is compiled (not when it comes from the cache), so that a front
/// end can show progress: a large component takes seconds.
pub trait CompileProgress: Send + Sync {
    /// Compilation of `name`, `size` bytes, starts; `cached`: the result will be kept, so
    /// this happens on the first run only.
    fn started(&self, name: &str, size: usize, cached: bool);
    /// It ended, successfully or not.
    fn finished(&self, name: &str);
}

/// Compiles `bytes` with `compiler`; the result is the precompiled artifact for `engine`.
pub(crate) fn precompile(compiler: &Compiler, engine: &Engine, bytes: &[u8]) -> Result<Vec<u8>, CompileFailure> {
    match compiler {
        Compiler::InProcess => {
            engine.precompile_component(bytes).map_err(|e| CompileFailure::Invalid(format!("{e:#}")))
        }
        Compiler::Child { program, args, bounds } => in_child(program, args, *bounds, bytes),
    }
}

fn in_child(program: &Path, args: &[OsString], bounds: CompileBounds, bytes: &[u8]) -> Result<Vec<u8>, CompileFailure> {
    let mut child = Command::new(program)
        .args(args)
        .arg(bounds.memory.to_string())
        // glibc reserves 64 MiB of address space per thread arena; with few arenas the
        // address-space bound stays close to the memory actually used.
        .env("MALLOC_ARENA_MAX", "2")
        // Its error is one line; a backtrace would only bury it.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CompileFailure::Spawn(format!("cannot start {}: {e}", program.display())))?;
    // Pipes drain on threads of their own, so that a large artifact never blocks the child
    // while this thread waits on the clock.
    let mut stdin = child.stdin.take().expect("piped");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        // A child that died early closes the pipe; its exit status tells why.
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).map(|_| v)
    });
    let mut stderr = child.stderr.take().expect("piped");
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        // Only the end says why; bound what is kept.
        let _ = (&mut stderr).take(64 << 10).read_to_end(&mut v);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        String::from_utf8_lossy(&v).into_owned()
    });

    let status = match child.wait_timeout(bounds.timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CompileFailure::Timeout(bounds.timeout));
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CompileFailure::Spawn(format!("cannot wait for the compiler process: {e}")));
        }
    };
    let _ = writer.join();
    let artifact = reader.join().unwrap_or_else(|_| Ok(Vec::new()));
    let message = err_reader.join().unwrap_or_default();
    let message = message.trim();
    if status.success() {
        return artifact.map_err(|e| CompileFailure::Spawn(format!("cannot read the compiled code: {e}")));
    }
    // Under RLIMIT_AS an allocation fails: Rust aborts ("memory allocation of N bytes
    // failed"), mmap reports ENOMEM, or a thread cannot get its stack.
    let out_of_memory = OUT_OF_MEMORY.iter().any(|m| message.contains(m));
    use std::os::unix::process::ExitStatusExt;
    // Failed allocations abort (SIGABRT), a stack that cannot grow faults (SIGSEGV, SIGBUS),
    // and the kernel's OOM killer sends SIGKILL; other signals came from someone else.
    let memory_signal = matches!(status.signal(), Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS | libc::SIGKILL));
    if let Some(sig) = status.signal().filter(|_| !out_of_memory && !memory_signal) {
        return Err(CompileFailure::Spawn(format!("the compiler process was ended by signal {sig}")));
    }
    if out_of_memory || memory_signal {
        let detail = message
            .lines()
            .find(|l| OUT_OF_MEMORY.iter().any(|m| l.contains(m)))
            .map(str::to_owned)
            .or_else(|| status.signal().map(|sig| format!("the compiler process ended with signal {sig}")))
            .unwrap_or_default();
        return Err(CompileFailure::Memory { limit: bounds.memory, detail });
    }
    Err(CompileFailure::Invalid(message.strip_prefix("wprobe: error: ").unwrap_or(message).to_owned()))
}

/// What a compiler process that ran out of address space says, one way or another.
const OUT_OF_MEMORY: [&str; 4] =
    ["memory allocation of", "os error 12", "Cannot allocate memory", "failed to spawn thread"];

/// Errors of the compiler child process.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot bound the compiler's memory: {0}")]
    Rlimit(std::io::Error),
    #[error("cannot read the component from stdin: {0}")]
    Input(std::io::Error),
    #[error("cannot write the compiled code to stdout: {0}")]
    Output(std::io::Error),
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    #[error("{0}")]
    Compile(String),
}

/// The compiler child process: bounds its own address space to `memory` bytes, reads a
/// component from `input`, writes the artifact for wprobe's engine to `output`.
pub fn child_main(memory: u64, mut input: impl Read, mut output: impl Write) -> Result<(), ChildError> {
    let limit = libc::rlimit { rlim_cur: memory as libc::rlim_t, rlim_max: memory as libc::rlim_t };
    // SAFETY: setrlimit reads the struct we pass and changes only this process's limits.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        return Err(ChildError::Rlimit(std::io::Error::last_os_error()));
    }
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(ChildError::Input)?;
    let engine = Engine::new(&super::engine_config()).map_err(|e| ChildError::Engine(format!("{e:#}")))?;
    let compiled = engine.precompile_component(&bytes).map_err(|e| ChildError::Compile(format!("{e:#}")))?;
    output.write_all(&compiled).and_then(|()| output.flush()).map_err(ChildError::Output)
}
