//! The leases on disk: `<state dir>/.host-ids/` (mode 0700, the
//! enforcer's own, like the rest of the state directory) holds one file
//! per leased range, named by its first host id in decimal and holding
//! the id of the sandbox it is leased to (`2147483648` → `web\n`).
//!
//! Every change is made with the state directory's lock held
//! ([`StateDir::lock_directory`]), relative to the descriptors of the
//! checked directories, never through a symbolic link: two runs never
//! lease the same range, and a lease is removed only by the sandbox it
//! names (its lock held) or by [`sweep`] once that sandbox is gone. A
//! lease is written to a temporary file first and renamed into place
//! without replacing anything, so a lease file is always whole. The
//! directory is removed when its last lease is.
//!
//! The name starts with `.`, which no sandbox id may, so it is never
//! taken for a sandbox.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;
use serde::Serialize;

use super::{HostIdError, HostIdRange, Pool};
use crate::sandbox::state::{DirectoryLock, StateDir, StateError};
use crate::trusted::{Kind, is_entry, open_checked};

/// The lease directory's name inside the state directory.
pub const LEASE_DIR: &str = ".host-ids";

/// Temporary files of leases being written start with this.
use crate::lease_file::TEMPORARY_PREFIX;

/// One leased range and the sandbox it is leased to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The range.
    pub range: HostIdRange,
    /// The sandbox id.
    pub sandbox: String,
}

/// The lease directory, opened and checked.
struct LeaseDir {
    fd: OwnedFd,
    path: PathBuf,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> HostIdError + 'a {
    move |errno| {
        HostIdError::State(StateError::Io {
            action,
            path: path.to_path_buf(),
            err: errno.into(),
        })
    }
}

/// The state directory's lock; `None` if the state directory does not
/// exist (then neither does any lease).
fn lock_states(states: &StateDir) -> Result<Option<DirectoryLock>, HostIdError> {
    Ok(states.lock_directory_if_present()?)
}

/// The lease directory of `states` (whose lock is `lock`), checked;
/// created first if `create`. `None`: it does not exist.
fn open_dir(
    states: &StateDir,
    lock: &DirectoryLock,
    create: bool,
) -> Result<Option<LeaseDir>, HostIdError> {
    let path = states.root().join(LEASE_DIR);
    if create {
        match nix::sys::stat::mkdirat(lock.root(), LEASE_DIR, Mode::S_IRWXU) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(io("create", &path)(errno)),
        }
    }
    let fd = open_checked(
        lock.root(),
        Path::new(LEASE_DIR),
        &path,
        Kind::Directory,
        OFlag::empty(),
        true,
    )
    .map_err(StateError::from)?;
    Ok(fd.map(|fd| LeaseDir { fd, path }))
}

/// The names in `dir`.
fn names(dir: &LeaseDir) -> Result<Vec<String>, HostIdError> {
    let mut listing = nix::dir::Dir::openat(
        &dir.fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io("read", &dir.path))?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(io("read", &dir.path))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// The sandbox the lease file `name` names.
fn read_holder(dir: &LeaseDir, name: &str) -> Result<Option<String>, HostIdError> {
    let path = dir.path.join(name);
    let Some(fd) = open_checked(
        dir.fd.as_fd(),
        Path::new(name),
        &path,
        Kind::File,
        OFlag::O_RDONLY,
        true,
    )
    .map_err(StateError::from)?
    else {
        return Ok(None);
    };
    let mut text = String::new();
    File::from(fd)
        .take(256)
        .read_to_string(&mut text)
        .map_err(|err| {
            HostIdError::State(StateError::Io {
                action: "read",
                path: path.clone(),
                err,
            })
        })?;
    let holder = text.strip_suffix('\n').unwrap_or(&text);
    if !policy_model::is_valid_id(holder) {
        return Err(HostIdError::Corrupt {
            path,
            why: format!("it names {holder:?}, not a sandbox id"),
        });
    }
    Ok(Some(holder.to_string()))
}

/// Every lease in `dir`, by first host id. Leftover temporary files (of
/// a run that died while writing one; the lock is held) are removed.
fn read_all(dir: &LeaseDir) -> Result<Vec<Lease>, HostIdError> {
    let mut leases = Vec::new();
    for name in names(dir)? {
        if name.starts_with(TEMPORARY_PREFIX) {
            match nix::unistd::unlinkat(&dir.fd, name.as_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(errno) => return Err(io("remove", &dir.path.join(&name))(errno)),
            }
            continue;
        }
        let start = name
            .parse::<u32>()
            .ok()
            .filter(|start| start.to_string() == name)
            .ok_or_else(|| HostIdError::Corrupt {
                path: dir.path.join(&name),
                why: "not a lease (a lease file is named by its first host id)".into(),
            })?;
        if let Some(sandbox) = read_holder(dir, &name)? {
            leases.push(Lease {
                range: HostIdRange::at(start),
                sandbox,
            });
        }
    }
    leases.sort_by_key(|lease| lease.range.start);
    Ok(leases)
}

/// Writes the lease of `start` to `id`: a temporary file renamed to its
/// name, never over another lease.
fn write_lease(dir: &LeaseDir, start: u32, id: &str) -> Result<(), HostIdError> {
    crate::lease_file::create_new(
        dir.fd.as_fd(),
        &dir.path,
        &start.to_string(),
        format!("{id}\n").as_bytes(),
    )?;
    Ok(())
}

/// Removes the lease directory if it holds nothing (and is still the
/// one checked).
fn remove_if_empty(lock: &DirectoryLock, dir: &LeaseDir) -> Result<(), HostIdError> {
    if !names(dir)?.is_empty() || !is_entry(lock.root(), Path::new(LEASE_DIR), dir.fd.as_fd()) {
        return Ok(());
    }
    match nix::unistd::unlinkat(lock.root(), LEASE_DIR, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT | Errno::ENOTEMPTY) => Ok(()),
        Err(errno) => Err(io("remove", &dir.path)(errno)),
    }
}

/// Leases the lowest free range of `pool` to sandbox `id` (whose lock
/// the caller holds, so that [`sweep`] leaves the lease alone until the
/// sandbox's state records it).
pub fn lease(states: &StateDir, pool: &Pool, id: &str) -> Result<HostIdRange, HostIdError> {
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        return Err(HostIdError::NotRoot {
            euid: euid.as_raw(),
        });
    }
    let lock = lock_states(states)?.ok_or_else(|| {
        HostIdError::State(StateError::Io {
            action: "open the state directory",
            path: states.root().to_path_buf(),
            err: std::io::ErrorKind::NotFound.into(),
        })
    })?;
    let dir = open_dir(states, &lock, true)?
        .ok_or_else(|| io("open", &states.root().join(LEASE_DIR))(Errno::ENOENT))?;
    let leases = read_all(&dir)?;
    let taken: BTreeSet<u32> = leases.iter().map(|lease| lease.range.start).collect();
    let Some(start) = pool.lowest_free(&taken) else {
        let holders = leases
            .into_iter()
            .map(|lease| (lease.range.start, lease.sandbox))
            .collect();
        let error = HostIdError::Exhausted {
            ranges: pool.len(),
            pool: pool.describe().to_string(),
            holders,
        };
        remove_if_empty(&lock, &dir)?;
        return Err(error);
    };
    write_lease(&dir, start, id)?;
    Ok(HostIdRange::at(start))
}

/// Releases `range` if it is leased to sandbox `id` (whose lock the
/// caller holds); whether it was. A lease of another sandbox is left
/// alone.
pub fn release(states: &StateDir, range: HostIdRange, id: &str) -> Result<bool, HostIdError> {
    let Some(lock) = lock_states(states)? else {
        return Ok(false);
    };
    let Some(dir) = open_dir(states, &lock, false)? else {
        return Ok(false);
    };
    let name = range.start.to_string();
    if read_holder(&dir, &name)?.as_deref() != Some(id) {
        return Ok(false);
    }
    nix::unistd::unlinkat(&dir.fd, name.as_str(), UnlinkatFlags::NoRemoveDir)
        .map_err(io("remove", &dir.path.join(&name)))?;
    remove_if_empty(&lock, &dir)?;
    Ok(true)
}

/// Every lease, by first host id.
pub fn leases(states: &StateDir) -> Result<Vec<Lease>, HostIdError> {
    let Some(lock) = lock_states(states)? else {
        return Ok(Vec::new());
    };
    match open_dir(states, &lock, false)? {
        Some(dir) => read_all(&dir),
        None => Ok(Vec::new()),
    }
}

/// Releases every lease whose sandbox is gone (`enforcer gc`, after the
/// stale sandboxes are removed): its id has no sandbox, or one that
/// nobody holds locked whose state is missing or records another range.
/// A lease whose sandbox is locked (being started or cleaned up), records
/// it, or cannot be read is kept. Returns the leases released.
pub fn sweep(states: &StateDir) -> Result<Vec<Lease>, HostIdError> {
    let Some(lock) = lock_states(states)? else {
        return Ok(Vec::new());
    };
    let Some(dir) = open_dir(states, &lock, false)? else {
        return Ok(Vec::new());
    };
    let mut released = Vec::new();
    for lease in read_all(&dir)? {
        if !is_orphaned(states, &lease) {
            continue;
        }
        let name = lease.range.start.to_string();
        nix::unistd::unlinkat(&dir.fd, name.as_str(), UnlinkatFlags::NoRemoveDir)
            .map_err(io("remove", &dir.path.join(&name)))?;
        released.push(lease);
    }
    remove_if_empty(&lock, &dir)?;
    Ok(released)
}

/// Whether `lease`'s sandbox is gone (see [`sweep`]). Never waits for a
/// sandbox's lock: one held means the sandbox is in use.
fn is_orphaned(states: &StateDir, lease: &Lease) -> bool {
    let id = &lease.sandbox;
    match states.is_sandbox(id) {
        Ok(true) => {}
        Ok(false) => return true,
        Err(error) => return error.is_not_found(),
    }
    let lock = match states.try_lock(id) {
        Ok(Some(lock)) => lock,
        Ok(None) => return false,
        Err(error) => return error.is_not_found(),
    };
    if !states.has_state(&lock) {
        return true; // an abandoned claim
    }
    match states.load_locked(&lock) {
        Ok(state) => state.host_ids.map(|range| range.start) != Some(lease.range.start),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_release_and_sweep_in_a_state_directory() {
        if !nix::unistd::geteuid().is_root() {
            let error = lease(
                &StateDir::new("/nonexistent"),
                &Pool::range(1 << 30, 65536),
                "a",
            )
            .expect_err("not root");
            assert!(matches!(error, HostIdError::NotRoot { .. }), "{error}");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path());
        let pool = Pool::range(1 << 30, 2 * 65536);
        let _a = states.claim("a").expect("claims a");
        let _b = states.claim("b").expect("claims b");
        let first = lease(&states, &pool, "a").expect("leases");
        let second = lease(&states, &pool, "b").expect("leases");
        assert_eq!((first.start, second.start), (1 << 30, (1 << 30) + 65536));
        let error = lease(&states, &pool, "c")
            .expect_err("exhausted")
            .to_string();
        assert!(
            error.contains("all 2 ranges of 65536 ids")
                && error.contains("1073741824 to sandbox \"a\", 1073807360 to sandbox \"b\""),
            "{error}"
        );
        assert!(!release(&states, first, "b").expect("releases"), "not b's");
        assert!(release(&states, first, "a").expect("releases"));
        assert!(!release(&states, first, "a").expect("releases"), "gone");
        assert_eq!(
            lease(&states, &pool, "c").expect("leases"),
            first,
            "the lowest free again"
        );
        // a and b are claimed (and locked by us): the sweep keeps theirs;
        // c has no sandbox: its lease goes.
        let released = sweep(&states).expect("sweeps");
        assert_eq!(
            released,
            [Lease {
                range: first,
                sandbox: "c".into()
            }]
        );
        assert_eq!(leases(&states).expect("lists").len(), 1);
        assert!(release(&states, second, "b").expect("releases"));
        assert!(
            !dir.path().join(LEASE_DIR).exists(),
            "the empty lease directory is removed"
        );
    }
}
