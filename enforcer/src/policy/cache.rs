//! The on-disk cache of compiled policy code.
//!
//! An entry is named by the module's sha256 and a hash of the engine
//! settings that affect compiled code (wasmtime version, target, tunables),
//! `<sha256>-<engine hash>.v2.cwasm`, so the second load of a policy costs a
//! memory-mapped deserialize instead of a compile. Entries are written
//! atomically (temporary file, then rename).
//!
//! An entry is bound to its module, not trusted by its name: after
//! wasmtime's artifact it records the module's sha256 and a magic that
//! names the format,
//!
//! ```text
//! wasmtime artifact (ELF) | module sha256 (32 bytes) | "enforcer-cwasm\0\x02" (16 bytes)
//! ```
//!
//! (wasmtime reads the ELF image by its headers and ignores what follows).
//! A load opens the directory and then the entry by descriptor
//! (`O_NOFOLLOW`), checks on the descriptors that both belong to the current
//! user and are writable by no one else, reads the record from the open
//! entry and compares the sha256 with the module's (an entry copied over
//! another module's name is refused), and only then hands that same
//! descriptor to wasmtime, which maps it and checks its own header (version,
//! engine configuration). Anything that fails a check is recompiled and
//! rewritten, never trusted.
//!
//! There is no MAC: a key would have to live beside the entries, owned by
//! the same user, so whoever can write an entry could read the key; the
//! owner and mode checks are the boundary, and the record makes an entry
//! mean one module.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use wasmtime::{Engine, Module};

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::digest::parse_sha256_hex;

/// Version of the entry format, in the file name and the magic; entries of
/// other versions are never opened.
const ENTRY_VERSION: &str = "v2";
const MAGIC: &[u8; 16] = b"enforcer-cwasm\0\x02";
const DIGEST_LEN: usize = crate::digest::SHA256_LEN;
const RECORD_LEN: usize = DIGEST_LEN + MAGIC.len();

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

/// What [`ArtifactCache::lookup`] found.
pub enum Lookup {
    /// A trustworthy entry, deserialized.
    Hit(Module),
    /// No entry.
    Miss,
    /// An entry that failed a check, and why.
    Refused(String),
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

    /// The file name of the entry for a module with `digest` for `engine`.
    fn entry_name(engine: &Engine, digest: &str) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{digest}-{:016x}.{ENTRY_VERSION}.cwasm", hasher.finish())
    }

    /// Where the entry for a module with `digest` lives for `engine`.
    pub fn entry_path(&self, engine: &Engine, digest: &str) -> PathBuf {
        self.dir.join(Self::entry_name(engine, digest))
    }

    /// Whether a usable entry exists (for `enforcer inspect`): every check
    /// of a load but wasmtime's own.
    pub fn describe_entry(&self, engine: &Engine, digest: &str) -> String {
        let path = self.entry_path(engine, digest);
        match self.open_entry(engine, digest) {
            Ok(None) => format!("not cached ({})", path.display()),
            Ok(Some(_)) => format!("cached ({})", path.display()),
            Err(why) => format!("cached but refused: {why} ({})", path.display()),
        }
    }

    /// The compiled module for `digest`, if a trustworthy entry holds it.
    pub fn lookup(&self, engine: &Engine, digest: &str) -> Lookup {
        let file = match self.open_entry(engine, digest) {
            Ok(Some(file)) => file,
            Ok(None) => return Lookup::Miss,
            Err(why) => return Lookup::Refused(why),
        };
        // SAFETY: the descriptor is of a regular file that belongs to us, in
        // a directory that belongs to us, neither writable by anyone else,
        // and its record names this module: this cache wrote it for this
        // module. wasmtime checks the header (version, configuration,
        // target) and refuses a mismatch or a truncated artifact.
        match unsafe { Module::deserialize_open_file(engine, file) } {
            Ok(module) => Lookup::Hit(module),
            Err(error) => Lookup::Refused(format!("stale or corrupt entry: {error:#}")),
        }
    }

    /// Compiles `bytes` in this process, through the cache, without the
    /// compile caps or budget: for trusted modules only (the test runner's
    /// test binaries), never for policies. An entry that cannot be written
    /// is reported to `diagnostics`.
    pub fn load(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
        diagnostics: &Diagnostics,
    ) -> wasmtime::Result<(Module, CacheOutcome)> {
        let outcome = match self.lookup(engine, digest) {
            Lookup::Hit(module) => return Ok((module, CacheOutcome::Hit)),
            Lookup::Miss => CacheOutcome::Miss,
            Lookup::Refused(why) => CacheOutcome::Refused(why),
        };
        let module = Module::new(engine, bytes)?;
        let stored = module
            .serialize()
            .map_err(|error| anyhow::anyhow!("cannot serialize: {error}"))
            .and_then(|artifact| self.store(engine, digest, &artifact));
        if let Err(error) = stored {
            diagnostics.emit(Diagnostic::warning(format!(
                "cannot write compiled code to {}: {error:#}",
                self.entry_path(engine, digest).display()
            )));
        }
        Ok((module, outcome))
    }

    /// Writes `artifact` (wasmtime's serialized module) as the entry for the
    /// module with `digest`, creating the directory if needed.
    pub fn store(&self, engine: &Engine, digest: &str, artifact: &[u8]) -> anyhow::Result<()> {
        let recorded = parse_sha256_hex(digest)
            .ok_or_else(|| anyhow::anyhow!("{digest:?} is not a hex sha256"))?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let dir = self.open_dir().map_err(anyhow::Error::msg)?;
        let name = Self::entry_name(engine, digest);
        write_atomically(&dir, &name, &[artifact, &recorded, MAGIC])
            .map_err(|errno| anyhow::anyhow!("{errno}"))
    }

    /// Opens and checks the entry for `digest`: `None` if there is none,
    /// the open file if it passes every check, or why it does not.
    fn open_entry(&self, engine: &Engine, digest: &str) -> Result<Option<File>, String> {
        let expected =
            parse_sha256_hex(digest).ok_or_else(|| format!("{digest:?} is not a hex sha256"))?;
        let dir = match self.open_dir() {
            Ok(dir) => dir,
            Err(_) if !self.dir.exists() => return Ok(None),
            Err(why) => return Err(why),
        };
        let name = Self::entry_name(engine, digest);
        let path = self.dir.join(&name);
        let file = match openat(
            dir.as_fd(),
            name.as_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => File::from(fd),
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(format!("{} is a symlink", path.display())),
            Err(errno) => return Err(format!("cannot open {}: {errno}", path.display())),
        };
        let metadata = check_owned(&file, &path)?;
        if !metadata.is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let mut record = [0u8; RECORD_LEN];
        let end = metadata.len();
        if end < RECORD_LEN as u64 {
            return Err("stale or corrupt entry: no enforcer record".into());
        }
        file.read_exact_at(&mut record, end - RECORD_LEN as u64)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let (recorded, magic) = record.split_at(DIGEST_LEN);
        if magic != MAGIC {
            return Err("stale or corrupt entry: no enforcer record".into());
        }
        if recorded != expected {
            return Err(format!(
                "it holds the compiled code of another module (sha256 {}), not of this one",
                crate::digest::hex(recorded)
            ));
        }
        Ok(Some(file))
    }

    /// The cache directory, opened without following a symlink and checked
    /// on its descriptor.
    fn open_dir(&self) -> Result<File, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).bits())
            .open(&self.dir)
            .map_err(|error| match error.raw_os_error() {
                Some(code) if code == Errno::ELOOP as i32 || code == Errno::ENOTDIR as i32 => {
                    format!("{} is a symlink or not a directory", self.dir.display())
                }
                _ => format!("cannot open {}: {error}", self.dir.display()),
            })?;
        check_owned(&dir, &self.dir)?;
        Ok(dir)
    }
}

/// Refuses an open file that is not owned by the effective user or is
/// writable by group or others.
fn check_owned(file: &File, path: &Path) -> Result<std::fs::Metadata, String> {
    let metadata = file
        .metadata()
        .map_err(|error| format!("cannot stat {}: {error}", path.display()))?;
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
    Ok(metadata)
}

/// Writes `parts` to a new temporary file in `dir` (never through a
/// symlink, never over an existing file, mode 0600), syncs it and renames
/// it to `name`.
fn write_atomically(dir: &File, name: &str, parts: &[&[u8]]) -> Result<(), Errno> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let temporary = format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let io =
        |error: std::io::Error| Errno::from_raw(error.raw_os_error().unwrap_or(Errno::EIO as i32));
    let result = openat(
        dir.as_fd(),
        temporary.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .and_then(|fd: OwnedFd| {
        let mut file = File::from(fd);
        for part in parts {
            file.write_all(part).map_err(io)?;
        }
        file.sync_all().map_err(io)
    })
    .and_then(|()| renameat(dir.as_fd(), temporary.as_str(), dir.as_fd(), name));
    if result.is_err() {
        let _ = unlinkat(dir.as_fd(), temporary.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::parse_sha256_hex as digest_bytes;
    use std::os::unix::fs::PermissionsExt;

    const WAT: &str = r#"(module (func (export "f") (result i32) i32.const 7))"#;
    const OTHER: &str = r#"(module (func (export "f") (result i32) i32.const 8))"#;

    fn engine() -> Engine {
        Engine::default()
    }

    fn digest(text: &str) -> String {
        crate::digest::sha256_hex(text.as_bytes())
    }

    /// Loads `wat` through `cache`: what its `f` answers, and the outcome.
    fn run(cache: &ArtifactCache, wat: &str) -> (i32, CacheOutcome) {
        let engine = engine();
        let (module, outcome) = cache
            .load(
                &engine,
                &digest(wat),
                wat.as_bytes(),
                &Diagnostics::default(),
            )
            .expect("loads");
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instantiates");
        let f = instance
            .get_typed_func::<(), i32>(&mut store, "f")
            .expect("exports f");
        (f.call(&mut store, ()).expect("runs"), outcome)
    }

    #[test]
    fn an_unwritable_cache_is_a_warning_to_the_sink() {
        use crate::diagnostics::{Collect, Level, Source};
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, b"not a directory").expect("writes");
        // A directory below a plain file cannot be created, even by root.
        let cache = ArtifactCache::new(file.join("cache"));
        let collect = std::sync::Arc::new(Collect::default());
        let engine = engine();
        let (_, outcome) = cache
            .load(
                &engine,
                &digest(WAT),
                WAT.as_bytes(),
                &Diagnostics::new(collect.clone()),
            )
            .expect("compiles anyway");
        assert_eq!(outcome, CacheOutcome::Miss);
        let seen = collect.take();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            (seen[0].level, &seen[0].source),
            (Level::Warning, &Source::Enforcer)
        );
        assert!(
            seen[0]
                .message
                .starts_with("cannot write compiled code to ")
                && seen[0].message.contains(&file.display().to_string()),
            "{}",
            seen[0].message
        );
    }

    #[test]
    fn miss_then_hit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path().join("cache"));
        assert_eq!(run(&cache, WAT), (7, CacheOutcome::Miss));
        // wasmtime maps the entry, record and all, and accepts it.
        assert_eq!(run(&cache, WAT), (7, CacheOutcome::Hit));
        let entry = cache.entry_path(&engine(), &digest(WAT));
        assert!(entry.to_string_lossy().ends_with(".v2.cwasm"), "{entry:?}");
        let metadata = std::fs::metadata(&entry).expect("an entry");
        assert_eq!(metadata.mode() & 0o777, 0o600);
        let bytes = std::fs::read(&entry).expect("reads");
        assert!(bytes.ends_with(MAGIC));
        assert_eq!(
            &bytes[bytes.len() - RECORD_LEN..bytes.len() - MAGIC.len()],
            digest_bytes(&digest(WAT)).expect("hex")
        );
    }

    #[test]
    fn a_swapped_entry_is_refused_and_rewritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path());
        run(&cache, WAT);
        run(&cache, OTHER);
        let engine = engine();
        let (mine, other) = (
            cache.entry_path(&engine, &digest(WAT)),
            cache.entry_path(&engine, &digest(OTHER)),
        );
        std::fs::copy(&other, &mine).expect("swaps");
        match run(&cache, WAT) {
            (7, CacheOutcome::Refused(why)) => {
                assert!(why.contains(&digest(OTHER)), "{why}");
                assert!(why.contains("another module"), "{why}");
            }
            other => panic!("the swapped entry ran: {other:?}"),
        }
        assert_eq!(run(&cache, WAT), (7, CacheOutcome::Hit), "and rewritten");
    }

    #[test]
    fn an_entry_without_a_record_is_refused() {
        // A bare wasmtime artifact (as the previous format wrote) under the
        // new name: valid code, but nothing says which module it is.
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path());
        run(&cache, WAT);
        let engine = engine();
        let bare = engine
            .precompile_module(OTHER.as_bytes())
            .expect("compiles");
        std::fs::write(cache.entry_path(&engine, &digest(WAT)), bare).expect("plants");
        match run(&cache, WAT) {
            (7, CacheOutcome::Refused(why)) => assert!(why.contains("no enforcer record"), "{why}"),
            other => panic!("the bare artifact ran: {other:?}"),
        }
    }

    #[test]
    fn corrupt_entries_are_recompiled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path());
        run(&cache, WAT);
        let path = cache.entry_path(&engine(), &digest(WAT));
        // A good record after a broken artifact: wasmtime refuses it.
        let mut bytes = b"\x7fELF garbage".to_vec();
        bytes.extend_from_slice(&digest_bytes(&digest(WAT)).expect("hex"));
        bytes.extend_from_slice(MAGIC);
        std::fs::write(&path, bytes).expect("corrupts");
        let (_, outcome) = run(&cache, WAT);
        assert!(
            matches!(outcome, CacheOutcome::Refused(ref why) if why.starts_with("stale or corrupt")),
            "{outcome:?}"
        );
        assert_eq!(
            run(&cache, WAT).1,
            CacheOutcome::Hit,
            "the entry was rewritten"
        );
    }

    #[test]
    fn group_writable_entries_and_directories_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path());
        run(&cache, WAT);
        let path = cache.entry_path(&engine(), &digest(WAT));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let (_, outcome) = run(&cache, WAT);
        assert!(
            matches!(outcome, CacheOutcome::Refused(ref why) if why.contains("writable")),
            "{outcome:?}"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o770))
            .expect("chmod");
        let (_, outcome) = run(&cache, WAT);
        assert!(
            matches!(outcome, CacheOutcome::Refused(ref why) if why.contains("writable")),
            "{outcome:?}"
        );
    }

    #[test]
    fn symlinked_entries_and_directories_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ArtifactCache::new(dir.path().join("real"));
        run(&cache, WAT);
        run(&cache, OTHER);
        let engine = engine();
        let mine = cache.entry_path(&engine, &digest(WAT));
        std::fs::remove_file(&mine).expect("removes");
        std::os::unix::fs::symlink(cache.entry_path(&engine, &digest(OTHER)), &mine)
            .expect("links");
        match run(&cache, WAT) {
            (7, CacheOutcome::Refused(why)) => assert!(why.contains("symlink"), "{why}"),
            other => panic!("{other:?}"),
        }
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(dir.path().join("real"), &linked).expect("links");
        match run(&ArtifactCache::new(&linked), WAT) {
            (7, CacheOutcome::Refused(why)) => assert!(why.contains("symlink"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
