//! The WIT versioning rule (wit/README.md): a handler built against another version of the
//! WIT package is refused at load with a message that names both versions and how to
//! rebuild. The handler "built against the previous version" is made here from the copy of
//! that WIT kept in tests/wit/previous/ (a component of its world with stub functions, as
//! `wasm-tools component embed --dummy` makes one): no toolchain of that day is needed.

use super::*;
use wprobe::sandbox::{LoadError, WIT_VERSION};

/// A component of the `handler` world of the WIT package in `dir`, with stub bodies.
fn component_for(dir: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_path(workspace_root().join(dir)).unwrap();
    let world = resolve.select_world(&[pkg], Some("handler")).unwrap();
    let mut module = wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8, false)
        .unwrap();
    wit_component::ComponentEncoder::default().module(&module).unwrap().validate(true).encode().unwrap()
}

fn package_version(dir: &str) -> String {
    let wit = std::fs::read_to_string(workspace_root().join(dir).join("probe.wit")).unwrap();
    wit.lines()
        .find_map(|l| Some(l.trim().strip_prefix("package wprobe:probe@")?.strip_suffix(';')?.to_string()))
        .unwrap()
}

#[test]
fn the_host_speaks_the_version_of_wit_probe_wit() {
    assert_eq!(WIT_VERSION, package_version("wit"), "bump host/src/sandbox/load.rs's wit_version! with the WIT");
    assert_ne!(package_version("tests/wit/previous"), WIT_VERSION, "tests/wit/previous must hold the previous WIT");
}

#[test]
fn a_handler_of_this_version_loads() {
    runtime().load_bytes("current.wasm", &component_for("wit")).unwrap();
}

#[test]
fn a_handler_built_against_the_previous_version_is_refused_with_both_versions_and_the_fix() {
    let previous = package_version("tests/wit/previous");
    let err = runtime().load_bytes("old.wasm", &component_for("tests/wit/previous")).err().unwrap();
    assert!(matches!(&err, LoadError::OtherVersion { found, .. } if *found == previous), "{err}");
    let msg = err.to_string();
    for part in [
        format!("old.wasm was built against version {previous} of wprobe's WIT"),
        format!("this wprobe speaks version {WIT_VERSION}"),
        "rebuild the handler against this wprobe's SDK".to_string(),
        "cargo xtask handlers".to_string(),
    ] {
        assert!(msg.contains(&part), "{part:?} not in: {msg}");
    }
}
