//! What the build tasks need to know of wit/probe.wit, read from it: its package version
//! (so bumping it is one edit of the WIT; see wit/README.md) and the imports a handler may
//! have.

use crate::workspace_root;
use anyhow::{bail, ensure, Context, Result};
use std::path::Path;
use std::sync::OnceLock;

/// The version of `package wprobe:probe@X.Y.Z;` in `root`'s wit/probe.wit.
pub fn version(root: &Path) -> Result<String> {
    let path = root.join("wit/probe.wit");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    package_version(&text).with_context(|| format!("{} has no `package wprobe:probe@X.Y.Z;` line", path.display()))
}

fn package_version(wit: &str) -> Option<String> {
    wit.lines().find_map(|l| l.trim().strip_prefix("package wprobe:probe@")?.strip_suffix(';')).map(str::to_owned)
}

/// Checks that a handler component imports nothing but wprobe's `context` and `types`
/// (its sandbox is the WIT), and WASI where `wasi` allows it. `what` names the handler in
/// the error (`count.wasm`, …). Returns a summary of the imports for the build log.
pub fn check_imports(what: &str, component: &[u8], wasi: bool) -> Result<String> {
    // Read once per build, not once per handler.
    static NAMES: OnceLock<(String, String)> = OnceLock::new();
    let (context, types) = match NAMES.get() {
        Some(names) => names,
        None => {
            let version = version(&workspace_root())?;
            NAMES.get_or_init(|| (format!("wprobe:probe/context@{version}"), format!("wprobe:probe/types@{version}")))
        }
    };
    let imports = component_imports(component).with_context(|| format!("cannot decode {what}"))?;
    let is_wasi = |name: &str| wasi && name.starts_with("wasi:");
    let unexpected: Vec<&String> = imports.iter().filter(|n| !(*n == context || *n == types || is_wasi(n))).collect();
    ensure!(
        unexpected.is_empty(),
        "{what} imports {unexpected:?}; it may import only {context}{}",
        if wasi { " and wasi:*" } else { "" }
    );
    let wasi_count = imports.iter().filter(|n| is_wasi(n)).count();
    let mut summary: Vec<String> = imports.iter().filter(|n| !is_wasi(n)).cloned().collect();
    if wasi_count > 0 {
        summary.push(format!("{wasi_count} wasi:* interfaces"));
    }
    if summary.is_empty() {
        summary.push("nothing".into());
    }
    Ok(summary.join(", "))
}

fn component_imports(component: &[u8]) -> Result<Vec<String>> {
    match wit_component::decode(component)? {
        wit_component::DecodedWasm::Component(resolve, world) => Ok(resolve.worlds[world]
            .imports
            .iter()
            .filter(|(_, item)| !matches!(item, wit_parser::WorldItem::Type { .. }))
            .map(|(key, _)| resolve.name_world_key(key))
            .collect()),
        wit_component::DecodedWasm::WitPackage(..) => bail!("a WIT package, not a component"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_package_line_gives_the_version() {
        assert_eq!(super::package_version("// x\npackage wprobe:probe@0.3.0;\n").as_deref(), Some("0.3.0"));
        assert_eq!(super::package_version("package other:x@1.0.0;"), None);
        let v = super::version(&crate::workspace_root()).unwrap();
        assert!(v.split('.').count() == 3, "{v}");
    }
}
