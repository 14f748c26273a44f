//! The WIT versioning rule (wit/README.md): a handler built against another version of the
//! WIT package is refused at load with a message that names both versions and how to
//! rebuild. The handler built against the previous version is checked in:
//! tests/wit/previous/spin-0.2.0.wasm is `tests/handlers/spin` as `cargo xtask handlers`
//! built it at WIT 0.2.0 (commit 2a1b51f), beside that WIT (tests/wit/previous/probe.wit).

use super::*;
use wprobe::sandbox::{LoadError, WIT_VERSION};

fn package_version(dir: &str) -> String {
    let wit = std::fs::read_to_string(workspace_root().join(dir).join("probe.wit")).unwrap();
    wit.lines()
        .find_map(|l| Some(l.trim().strip_prefix("package wprobe:probe@")?.strip_suffix(';')?.to_string()))
        .unwrap()
}

#[test]
fn the_host_speaks_the_version_of_wit_probe_wit() {
    assert_eq!(WIT_VERSION, package_version("wit"), "host/build.rs reads the version from wit/probe.wit");
    assert_ne!(package_version("tests/wit/previous"), WIT_VERSION, "tests/wit/previous must hold the previous WIT");
}

#[test]
fn a_handler_built_against_the_previous_version_is_refused_with_both_versions_and_the_fix() {
    let previous = package_version("tests/wit/previous");
    let path = workspace_root().join(format!("tests/wit/previous/spin-{previous}.wasm"));
    let err = runtime().load(&path).err().unwrap();
    assert!(matches!(&err, LoadError::OtherVersion { found, .. } if *found == previous), "{err}");
    let msg = err.to_string();
    for part in [
        format!("spin-{previous}.wasm was built against version {previous} of wprobe's WIT"),
        format!("this wprobe speaks version {WIT_VERSION}"),
        "rebuild the handler against this wprobe's SDK".to_string(),
        "cargo xtask handlers".to_string(),
    ] {
        assert!(msg.contains(&part), "{part:?} not in: {msg}");
    }
    // The same handler rebuilt at this version loads.
    runtime().load(&handler("spin")).unwrap();
}
