//! A cache of compiled components, so that a second start does not recompile.
//!
//! Key: SHA-256 of the component's bytes and of the engine's compatibility hash (wasmtime
//! version, target, and every setting that changes code generation). An entry from another
//! engine or a damaged entry is simply recompiled and replaced.
//!
//! Trust: loading precompiled code is `unsafe` in wasmtime, because the bytes become
//! executable. The cache directory is created mode 0700 and entries are written atomically
//! (temporary file, then rename), so only the user who runs wprobe can place code there.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Where a loaded component's machine code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Found in the cache: nothing was compiled.
    Hit,
    /// Compiled now, and stored for next time.
    Compiled,
    /// Compiled now; the cache is off or could not be written.
    Disabled,
}

pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The default location: `$WPROBE_CACHE_DIR`, else `$XDG_CACHE_HOME/wprobe`, else
    /// `~/.cache/wprobe`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("WPROBE_CACHE_DIR") {
            return Some(d.into());
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(d).join("wprobe"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("wprobe"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for `bytes` compiled by `engine`.
    pub fn entry_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        self.salted_path(engine, bytes, &[])
    }

    /// As [`Self::entry_path`], with `salt` in the key: what else the compiled code depends on
    /// (a core module's componentizer). An empty salt gives the unsalted key.
    fn salted_path(&self, engine: &Engine, bytes: &[u8], salt: &[u8]) -> PathBuf {
        let mut key = Sha256::new();
        key.update(bytes);
        key.update(salt);
        let mut engine_hash = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut engine_hash);
        key.update(engine_hash.0.finalize());
        let digest = key.finalize();
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.cwasm"))
    }

    /// The compiled component for `bytes`, if the cache holds a usable one.
    pub(crate) fn get(&self, engine: &Engine, bytes: &[u8], salt: &[u8]) -> Option<Component> {
        let path = self.salted_path(engine, bytes, salt);
        // Read, rather than map, the entry: a mapped file that someone truncates later would
        // take the process down with SIGBUS.
        let compiled = std::fs::read(&path).ok()?;
        // SAFETY: the entry was written by `put` below into a directory only this user can
        // write, from the output of `Engine::precompile_component` (in this process or in
        // wprobe's compiler child); wasmtime checks that it matches this engine's version
        // and settings before using it.
        unsafe { Component::deserialize(engine, &compiled) }.ok()
    }

    /// Stores the artifact `compiled` for `bytes`.
    pub(crate) fn put(&self, engine: &Engine, bytes: &[u8], salt: &[u8], compiled: &[u8]) -> std::io::Result<()> {
        self.store(&self.salted_path(engine, bytes, salt), compiled)
    }

    fn store(&self, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(compiled)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Feeds `Hash` output into SHA-256, for the engine's compatibility hash.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only used to feed the digest")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
