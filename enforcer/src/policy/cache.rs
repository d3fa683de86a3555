//! The on-disk cache of compiled policy code.
//!
//! An entry is keyed by the module's sha256 and a hash of the engine
//! settings that affect compiled code (wasmtime version, target, tunables),
//! so the second load of a policy costs a memory-mapped deserialize instead
//! of a compile. Entries are written atomically (temporary file, then
//! rename). An entry is used only if it and its directory belong to the
//! current user and are writable by no one else; wasmtime then checks its
//! header (version, engine configuration). Anything that fails a check is
//! recompiled and rewritten, never trusted.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};

/// What the cache did for one load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Caching is off.
    Disabled,
    /// A valid entry was deserialized.
    Hit,
    /// No entry existed; the module was compiled (and stored if possible).
    Miss,
    /// An entry existed but was refused; the module was recompiled.
    Refused(String),
}

impl std::fmt::Display for CacheOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheOutcome::Disabled => f.write_str("disabled"),
            CacheOutcome::Hit => f.write_str("hit"),
            CacheOutcome::Miss => f.write_str("miss (compiled)"),
            CacheOutcome::Refused(why) => write!(f, "refused ({why}), recompiled"),
        }
    }
}

/// A directory of compiled modules.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// A cache in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> ArtifactCache {
        ArtifactCache { dir: dir.into() }
    }

    /// `/var/cache/enforcer` for root; otherwise `$XDG_CACHE_HOME/enforcer`
    /// or `~/.cache/enforcer`.
    pub fn default_dir() -> Option<PathBuf> {
        if nix::unistd::geteuid().is_root() {
            return Some(PathBuf::from("/var/cache/enforcer"));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
        Some(base.join("enforcer"))
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for a module with `digest` lives for `engine`.
    pub fn entry_path(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// Whether a usable-looking entry exists (for `enforcer inspect`).
    pub fn describe_entry(&self, engine: &Engine, digest: &str) -> String {
        let path = self.entry_path(engine, digest);
        if !path.exists() {
            return format!("not cached ({})", path.display());
        }
        match check_trusted(&path) {
            Ok(()) => format!("cached ({})", path.display()),
            Err(why) => format!("cached but refused: {why} ({})", path.display()),
        }
    }

    /// Loads the compiled module for `bytes` (whose sha256 is `digest`),
    /// compiling and storing it when no trustworthy entry exists.
    pub fn load(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Module, CacheOutcome)> {
        let path = self.entry_path(engine, digest);
        let outcome = match self.try_deserialize(engine, &path) {
            Ok(Some(module)) => return Ok((module, CacheOutcome::Hit)),
            Ok(None) => CacheOutcome::Miss,
            Err(why) => CacheOutcome::Refused(why),
        };
        let module = Module::new(engine, bytes)?;
        if let Err(error) = self.store(&module, &path) {
            eprintln!(
                "enforcer: warning: cannot write compiled policy to {}: {error:#}",
                path.display()
            );
        }
        Ok((module, outcome))
    }

    fn try_deserialize(&self, engine: &Engine, path: &Path) -> Result<Option<Module>, String> {
        if !path.exists() {
            return Ok(None);
        }
        check_trusted(&self.dir)?;
        check_trusted(path)?;
        // SAFETY: the file and its directory belong to us and nobody else can
        // write them; wasmtime validates the header (version, configuration,
        // target) and refuses a mismatch or a truncated file.
        unsafe { Module::deserialize_file(engine, path) }
            .map(Some)
            .map_err(|error| format!("stale or corrupt entry: {error}"))
    }

    fn store(&self, module: &Module, path: &Path) -> anyhow::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        check_trusted(&self.dir).map_err(anyhow::Error::msg)?;
        let bytes = module.serialize()?;
        let temporary = self.dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("entry"),
            std::process::id()
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        Ok(result?)
    }
}

/// Refuses a path that is a symlink, is not owned by the effective user, or
/// is writable by group or others.
fn check_trusted(path: &Path) -> Result<(), String> {
    let metadata = std::fs::symlink_metadata(path)
        .map_err(|error| format!("cannot stat {}: {error}", path.display()))?;
    if metadata.file_type().is_symlink() {
        return Err(format!("{} is a symlink", path.display()));
    }
    let euid = nix::unistd::geteuid().as_raw();
    if metadata.uid() != euid {
        return Err(format!(
            "{} is owned by uid {}, not {euid}",
            path.display(),
            metadata.uid()
        ));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by group or others (mode {:o})",
            path.display(),
            metadata.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const WAT: &str = r#"(module (func (export "f") (result i32) i32.const 7))"#;

    fn engine() -> Engine {
        Engine::default()
    }

    #[test]
    fn miss_then_hit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path().join("cache"));
        let engine = engine();
        let (_, first) = cache
            .load(&engine, "abc", WAT.as_bytes())
            .expect("compiles");
        assert_eq!(first, CacheOutcome::Miss);
        let (_, second) = cache.load(&engine, "abc", WAT.as_bytes()).expect("loads");
        assert_eq!(second, CacheOutcome::Hit);
    }

    #[test]
    fn corrupt_entries_are_recompiled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path());
        let engine = engine();
        cache
            .load(&engine, "abc", WAT.as_bytes())
            .expect("compiles");
        let path = cache.entry_path(&engine, "abc");
        std::fs::write(&path, b"\x7fELF garbage").expect("corrupts");
        let (_, outcome) = cache
            .load(&engine, "abc", WAT.as_bytes())
            .expect("recompiles");
        assert!(
            matches!(outcome, CacheOutcome::Refused(ref why) if why.contains("corrupt")),
            "{outcome:?}"
        );
        let (_, outcome) = cache.load(&engine, "abc", WAT.as_bytes()).expect("loads");
        assert_eq!(outcome, CacheOutcome::Hit, "the entry was rewritten");
    }

    #[test]
    fn world_writable_entries_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path());
        let engine = engine();
        cache
            .load(&engine, "abc", WAT.as_bytes())
            .expect("compiles");
        let path = cache.entry_path(&engine, "abc");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let (_, outcome) = cache
            .load(&engine, "abc", WAT.as_bytes())
            .expect("recompiles");
        assert!(
            matches!(outcome, CacheOutcome::Refused(ref why) if why.contains("writable")),
            "{outcome:?}"
        );
    }
}
