//! The WIT package version comes from wit/probe.wit's `package` line, so that bumping it
//! (wit/README.md) is one edit: the host's names for the handler world and its imports
//! follow it (`WPROBE_WIT_VERSION`, read by `sandbox::load`).

fn main() {
    let path = "../wit/probe.wit";
    println!("cargo:rerun-if-changed={path}");
    let wit = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let version = wit
        .lines()
        .find_map(|l| l.trim().strip_prefix("package wprobe:probe@")?.strip_suffix(';'))
        .unwrap_or_else(|| panic!("{path} has no `package wprobe:probe@X.Y.Z;` line"));
    println!("cargo:rustc-env=WPROBE_WIT_VERSION={version}");
}
