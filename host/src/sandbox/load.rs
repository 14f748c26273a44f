//! Checks that a file is a handler component before anything runs, with messages that say
//! what is wrong and how to fix it.

use super::compile::CompileFailure;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The version of the WIT package this host speaks: wit/probe.wit's `package` line, read by
/// build.rs. wit/README.md says what changes bump it.
macro_rules! wit_version {
    () => {
        env!("WPROBE_WIT_VERSION")
    };
}
pub const WIT_VERSION: &str = wit_version!();
/// The world every handler implements.
pub const WORLD: &str = concat!("wprobe:probe/handler@", wit_version!());
const EXPORTS: [&str; 4] = ["init", "handle-batch", "end", "tick"];
const CONTEXT: &str = concat!("wprobe:probe/context@", wit_version!());
const TYPES: &str = concat!("wprobe:probe/types@", wit_version!());
/// The package, without a version: imports of it at another version mean a handler built
/// against another version of the WIT.
const PACKAGE: &str = "wprobe:probe/";

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read handler {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{name} is not a WebAssembly file (it starts with {start:02x?}); a handler is a Wasm component built for the world {WORLD}")]
    NotWasm { name: String, start: Vec<u8> },
    #[error("{name} is a core WebAssembly module without wit-bindgen's `component-type` section, so nothing says which WIT world it implements; build it with wprobe's SDK (Rust: depend on wprobe-sdk and use `wprobe_sdk::handler!`; C: link guest-sdk/c's bindings/handler_component_type.o), or turn it into a component yourself (`wasm-tools component new`); `wprobe new NAME --lang rust` writes a project that does it right")]
    NoComponentType { name: String },
    #[error("cannot turn the core module {name} into a component: {message}; was it built against this wprobe's SDK or wit/? ({})", rebuild_hint())]
    Componentize { name: String, message: String },
    #[error("{name} is not a valid WebAssembly component: {message}")]
    Invalid { name: String, message: String },
    #[error("{name} is a component of another world: it exports {exports}, but a handler of {WORLD} exports `init`, `handle-batch`, `tick` and `end`; build it against wprobe's wit/ (or with the wprobe SDK)")]
    WrongWorld { name: String, exports: String },
    #[error("{name} does not export `{missing}`, which the world {WORLD} requires (it exports {exports}); rebuild it against this version of wprobe's wit/")]
    MissingExport { name: String, missing: &'static str, exports: String },
    #[error("{name} imports `{import}`, which wprobe does not provide; a handler may import only {CONTEXT} (and WASI, which wprobe satisfies with a deny-all stub)")]
    UnknownImport { name: String, import: String },
    #[error("{name} was built against version {found} of wprobe's WIT (it imports {import}), but this wprobe speaks version {WIT_VERSION} ({CONTEXT}); rebuild the handler against this wprobe's SDK or wit/ ({}), or run it with a wprobe of version {found}", rebuild_hint())]
    OtherVersion { name: String, import: String, found: String },
    #[error("{name} cannot be linked against wprobe's imports: {message}; it was probably built against another version of wprobe's wit/")]
    Link { name: String, message: String },
    #[error("{name} is {}, more than the {} a component may have (--max-component-size); raise the bound if you trust this component", human_size(*size), human_size(*max))]
    TooLarge { name: String, size: u64, max: u64 },
    #[error("compiling {name} took longer than {} s and was stopped (--compile-timeout); a pathological component? raise the bound if you trust it", timeout.as_secs_f64())]
    CompileTimeout { name: String, timeout: Duration },
    #[error("compiling {name} needed more than {} of memory (--compile-memory-limit) and was stopped: {detail}; a pathological component? raise the bound if you trust it", human_size(*limit))]
    CompileMemory { name: String, limit: u64, detail: String },
    #[error("cannot compile {name}: {message}")]
    Compiler { name: String, message: String },
}

/// How to rebuild a handler, per language.
fn rebuild_hint() -> &'static str {
    "Rust: depend on this wprobe's wprobe-sdk and rebuild; C: rebuild with this wprobe's guest-sdk/c; \
     Python, JavaScript: componentize again with this wprobe's guest-sdk and wit/; the repo's own: cargo xtask handlers"
}

/// A size for people: `17.5 MiB`, `812 KiB`, `96 bytes`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

impl LoadError {
    pub(crate) fn compile_failure(name: &str, e: CompileFailure) -> Self {
        let name = name.to_owned();
        match e {
            CompileFailure::Invalid(message) => LoadError::Invalid { name, message },
            CompileFailure::Timeout(timeout) => LoadError::CompileTimeout { name, timeout },
            CompileFailure::Memory { limit, detail } => LoadError::CompileMemory { name, limit, detail },
            CompileFailure::Spawn(message) => LoadError::Compiler { name, message },
        }
    }
}

/// Reads the file at `path`, refusing it before reading when it is larger than `max`.
pub(crate) fn read_bounded(path: &Path, name: &str, max: u64) -> Result<Vec<u8>, LoadError> {
    let read_err = |source| LoadError::Read { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    check_size(name, size, max)?;
    let mut bytes = Vec::with_capacity(size as usize);
    // `take`: the file may grow between the check and the read.
    file.take(max + 1).read_to_end(&mut bytes).map_err(read_err)?;
    check_size(name, bytes.len() as u64, max)?;
    Ok(bytes)
}

pub(crate) fn check_size(name: &str, size: u64, max: u64) -> Result<(), LoadError> {
    if size > max {
        return Err(LoadError::TooLarge { name: name.to_owned(), size, max });
    }
    Ok(())
}

/// What a Wasm file's preamble says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binary {
    Component,
    /// A core module, which wprobe componentizes itself (see `core_module`).
    CoreModule,
}

/// Checks the preamble: WebAssembly at all, and a component or a core module.
pub(crate) fn check_binary(name: &str, bytes: &[u8]) -> Result<Binary, LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm { name: name.to_owned(), start: bytes.iter().take(8).copied().collect() });
    }
    // Bytes 4..8: version 1 and layer 0 for a core module, layer 1 for a component.
    match bytes[4..8] {
        [1, 0, 0, 0] => Ok(Binary::CoreModule),
        [_, _, 1, 0] => Ok(Binary::Component),
        _ => Err(LoadError::Invalid {
            name: name.to_owned(),
            message: format!("unknown binary version {:02x?}", &bytes[4..8]),
        }),
    }
}

/// Checks the component's exports and imports against the handler world.
pub(crate) fn check_world(name: &str, engine: &Engine, component: &Component) -> Result<(), LoadError> {
    let ty = component.component_type();
    let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
    let listed = if exports.is_empty() {
        "nothing".to_owned()
    } else {
        exports.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
    };
    // The version first: a handler of another version also lacks or has other exports, and
    // "rebuild it" is the message that helps.
    for (import, _) in ty.imports(engine) {
        if import.starts_with(PACKAGE) && import != CONTEXT && import != TYPES {
            let found = import.rsplit_once('@').map_or("(none)", |(_, v)| v).to_owned();
            return Err(LoadError::OtherVersion { name: name.to_owned(), import: import.to_owned(), found });
        }
    }
    if !EXPORTS.iter().any(|e| exports.contains(e)) {
        return Err(LoadError::WrongWorld { name: name.to_owned(), exports: listed });
    }
    if let Some(missing) = EXPORTS.iter().find(|e| !exports.contains(e)) {
        return Err(LoadError::MissingExport { name: name.to_owned(), missing, exports: listed });
    }
    for (import, _) in ty.imports(engine) {
        if import != CONTEXT && import != TYPES && !import.starts_with("wasi:") {
            return Err(LoadError::UnknownImport { name: name.to_owned(), import: import.to_owned() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble() {
        assert!(matches!(check_binary("x", b"hello world"), Err(LoadError::NotWasm { .. })));
        assert!(matches!(check_binary("x", b"\0asm"), Err(LoadError::NotWasm { .. })));
        assert_eq!(check_binary("x", b"\0asm\x01\0\0\0").unwrap(), Binary::CoreModule);
        assert_eq!(check_binary("x", b"\0asm\x0d\0\x01\0").unwrap(), Binary::Component);
        assert!(matches!(check_binary("x", b"\0asm\x02\0\x02\0"), Err(LoadError::Invalid { .. })));
    }

    #[test]
    fn size_bound_names_both_sizes_and_the_flag() {
        let e = check_size("big.wasm", 18_350_080, 1 << 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "big.wasm is 17.5 MiB, more than the 1.0 MiB a component may have (--max-component-size); \
             raise the bound if you trust this component"
        );
        assert!(check_size("ok.wasm", 1 << 20, 1 << 20).is_ok());
    }
}
