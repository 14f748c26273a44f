//! Core modules in, components out: what `cargo build --target wasm32-unknown-unknown` gives
//! with the Rust SDK (or clang with the C SDK) is a core module carrying wit-bindgen's
//! `component-type` custom section, which says which WIT world its imports and exports
//! implement. wprobe turns such a module into the handler component itself, as `wasm-tools
//! component new` would, so that writing a handler needs no tool beyond the compiler. The
//! result is compiled into the component cache under the core module's own bytes, so this
//! runs on the first load only.
//!
//! A module that imports WASI preview 1 (`wasi_snapshot_preview1`, e.g. Rust's
//! `wasm32-wasip1` or C without the SDK's `wasi_deny.c`) gets wasmtime's reactor adapter,
//! shipped on crates.io by the Bytecode Alliance; its WASI calls then reach wprobe's deny-all
//! WASI context like any component's.

use super::load::LoadError;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};

/// The prefix of the custom sections in which wit-bindgen records the world
/// (`component-type:wit-bindgen:0.63.0:wprobe:probe@0.3.0:handler:encoded world`).
const COMPONENT_TYPE: &str = "component-type";

/// Mixed into the cache key of a core module: the component made from it depends on this
/// encoder and adapter, not only on the module's bytes.
pub(crate) const CACHE_SALT: &[u8] = b"wprobe core module: wit-component 0.262, wasi adapter 48";

/// What a core module holds that decides how it becomes a component.
struct Survey {
    has_world: bool,
    imports_wasi_p1: bool,
}

fn survey(name: &str, module: &[u8]) -> Result<Survey, LoadError> {
    let mut s = Survey { has_world: false, imports_wasi_p1: false };
    for payload in Parser::new(0).parse_all(module) {
        let invalid = |e: wasmparser::BinaryReaderError| LoadError::Invalid {
            name: name.to_owned(),
            message: format!("not a valid core WebAssembly module: {e}"),
        };
        match payload.map_err(invalid)? {
            Payload::CustomSection(c) if c.name().starts_with(COMPONENT_TYPE) => s.has_world = true,
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    if import.map_err(invalid)?.module == WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME {
                        s.imports_wasi_p1 = true;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

/// The handler component for the core module `module`.
pub(crate) fn componentize(name: &str, module: &[u8]) -> Result<Vec<u8>, LoadError> {
    let s = survey(name, module)?;
    if !s.has_world {
        return Err(LoadError::NoComponentType { name: name.to_owned() });
    }
    let failed = |e: anyhow::Error| LoadError::Componentize { name: name.to_owned(), message: format!("{e:#}") };
    let mut encoder = wit_component::ComponentEncoder::default();
    encoder.module(module).map_err(failed)?;
    if s.imports_wasi_p1 {
        encoder.adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER).map_err(failed)?;
    }
    encoder.validate(true).encode().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_without_the_world_section_is_refused_with_the_fix() {
        // The empty module: valid, but nothing says which world it implements.
        let e = componentize("plain.wasm", b"\0asm\x01\0\0\0").unwrap_err();
        assert!(matches!(e, LoadError::NoComponentType { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.contains("component-type") && msg.contains("wprobe-sdk"), "{msg}");
    }

    #[test]
    fn a_damaged_module_is_invalid() {
        let e = componentize("cut.wasm", b"\0asm\x01\0\0\0\x01\x05\x01").unwrap_err();
        assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
    }
}
