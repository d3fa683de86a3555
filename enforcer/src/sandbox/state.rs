//! The state directory: one directory per sandbox (`<state dir>/<id>/`)
//! holding `state.json`, written atomically (temporary file + rename), and
//! a `lock` file that commands hold with `flock` while they read-modify
//! the sandbox, so concurrent `kill`, `delete` and `gc` cannot trip over
//! each other. The lock is held only around changes of the state (never
//! while a workload runs), and every wait for it is bounded
//! ([`LOCK_TIMEOUT`]). Claiming an id is one `renameat2(RENAME_NOREPLACE)`
//! of a fresh directory whose lock is already held, so a second sandbox
//! with the same id fails with a clear conflict and no other command ever
//! sees a half-claimed directory.
//!
//! Nothing here is trusted by its path. The state directory, each `<id>/`
//! and each file must be owned by the enforcer's effective uid and must not
//! be writable by group or others, or the command refuses with an error
//! naming the path ([`StateError::Untrusted`]) and touches nothing. Every
//! file and directory is opened with `O_NOFOLLOW` relative to the
//! descriptor of the directory checked before it, and renames and unlinks
//! are made relative to that descriptor too, so a planted symlink or a
//! swapped directory cannot redirect them. Files other than `lock` are
//! created only by [`StateDir::claim`] and [`StateDir::save`]; no lifecycle
//! command creates anything.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, RenameFlags};
use nix::libc;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;
use policy_sdk::Decision;
use serde::{Deserialize, Serialize};

use super::namespaces::RecordedNamespace;
use crate::cgroup::CreatedCgroup;
use crate::host_ids::HostIdRange;
use crate::linux::proc::{Stat, read_stat};

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/run/enforcer";

/// How long a command waits for another one to release a sandbox's lock
/// (or the state directory's) before it gives up, saying so.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The format version [`SandboxState::version`] is written with.
pub const FORMAT_VERSION: u32 = 2;

/// The cgroup root of a state written before the root was recorded
/// (format 1): `enforcer run`'s default `--cgroup-root`.
const FORMAT_1_CGROUP_ROOT: &str = "enforcer";

/// A process, identified beyond its pid (pids are reused): the start time
/// in clock ticks after boot, field 22 of `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRef {
    /// The pid (in the enforcer's pid namespace).
    pub pid: i32,
    /// Its start time.
    pub start_time: u64,
}

impl ProcessRef {
    /// The process `pid` as it is now, if it exists.
    pub fn of(pid: i32) -> Option<ProcessRef> {
        Some(ProcessRef {
            pid,
            start_time: start_time(pid)?,
        })
    }

    /// Whether this very process still runs (a zombie does not).
    pub fn is_alive(&self) -> bool {
        let Ok(bytes) = read_stat(self.pid) else {
            return false;
        };
        Stat::parse(&bytes)
            .is_some_and(|stat| !stat.is_dead() && stat.start_time() == Some(self.start_time))
    }

    /// Sends `signal` to this very process, never to another that reused
    /// its pid: through a pidfd opened first, then checked against the
    /// start time. `ESRCH` when it is gone.
    pub fn signal(&self, signal: Signal) -> std::io::Result<()> {
        // SAFETY: pidfd_open with a pid and no flags returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        if !self.is_alive() {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: pidfd_send_signal on our pidfd, without siginfo.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits until this process is gone, at most `timeout`; whether it is.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`.
pub fn start_time(pid: i32) -> Option<u64> {
    Stat::parse(&read_stat(pid).ok()?)?.start_time()
}

/// A policy that took part in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Its name.
    pub name: String,
    /// sha256 of the module.
    pub sha256: String,
}

/// Everything known about a running sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxState {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The sandbox id.
    pub id: String,
    /// The tenant of the request, if any: `sandbox:<id>` joins resolve
    /// only to sandboxes of the same tenant.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Its first process (the workload, or its init); `None` while it is
    /// being started.
    pub process: Option<ProcessRef>,
    /// The `enforcer run` waiting for it; `None` when detached.
    pub supervisor: Option<ProcessRef>,
    /// Unix time it started.
    pub started_at: u64,
    /// The workload's command line.
    pub command: Vec<String>,
    /// The decision it runs under.
    pub decision: Decision,
    /// The cgroup root it was started under (`--cgroup-root`): every
    /// recorded cgroup must lie below it.
    #[serde(default = "format_1_cgroup_root")]
    pub cgroup_root: String,
    /// Its cgroups.
    pub cgroup: CreatedCgroup,
    /// Namespace inodes by `/proc/<pid>/ns` name.
    pub namespaces: BTreeMap<String, u64>,
    /// The inode of the user namespace that owns each of them
    /// (`NS_GET_USERNS`), by the same names.
    #[serde(default)]
    pub namespace_owners: BTreeMap<String, u64>,
    /// The policies that decided.
    pub policies: Vec<PolicyRecord>,
    /// The host ids leased to it (`privateHostIds`): its user
    /// namespace maps ids 0 to `size - 1` to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ids: Option<HostIdRange>,
    /// Its network: interfaces, leases, egress chain (recorded before any
    /// of it is made, so that `gc` finds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::network::record::NetworkRecord>,
}

fn format_1_cgroup_root() -> String {
    FORMAT_1_CGROUP_ROOT.to_string()
}

impl SandboxState {
    /// Whether the sandbox is gone or orphaned: the `enforcer run` that
    /// should be waiting for it died, or, detached, its first process has
    /// exited (or never started). An attached sandbox whose supervisor
    /// lives is never stale: the supervisor cleans it up. Check it with the
    /// sandbox locked: a sandbox being started is locked by its
    /// `enforcer run`.
    pub fn is_stale(&self) -> bool {
        match self.supervisor {
            Some(supervisor) => !supervisor.is_alive(),
            None => !self.process.is_some_and(|process| process.is_alive()),
        }
    }

    /// The recorded namespace named `name` (`net`, `pid`, ...): its inode
    /// and its owner's.
    pub fn namespace(&self, name: &str) -> Option<RecordedNamespace> {
        Some(RecordedNamespace {
            inode: *self.namespaces.get(name)?,
            owner: *self.namespace_owners.get(name)?,
        })
    }
}

/// Why the state directory or a sandbox's state cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not the enforcer's own: foreign owner, writable by others, a
    /// symlink, not a directory or regular file.
    #[error(
        "refusing untrusted sandbox state {path}: {why} (the enforcer acts only on state that it wrote itself)"
    )]
    Untrusted {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// No such sandbox.
    #[error("no sandbox {id:?} in {root}")]
    NotFound {
        /// The id.
        id: String,
        /// The state directory.
        root: PathBuf,
    },
    /// The id is taken.
    #[error(
        "a sandbox with id {id:?} exists already (state in {path}); pick another --id, or `enforcer delete {id}`"
    )]
    Exists {
        /// The id.
        id: String,
        /// Its directory.
        path: PathBuf,
    },
    /// Another command held the lock for the whole wait.
    #[error("{what} is busy: another enforcer command holds {path} (waited {waited:?})")]
    Busy {
        /// `sandbox web`, `the state directory`.
        what: String,
        /// The lock file (or directory).
        path: PathBuf,
        /// How long this command waited.
        waited: Duration,
    },
    /// Not a sandbox id.
    #[error("{0:?} is not a sandbox id")]
    InvalidId(String),
    /// A system call failed.
    #[error("cannot {action} {path}: {err}")]
    Io {
        /// What was tried (`open`, `write`, `remove`, ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The kernel's error.
        err: std::io::Error,
    },
    /// `state.json` does not parse, or belongs to another id.
    #[error("corrupt state file {path}: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl StateError {
    /// Whether this is [`StateError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StateError::NotFound { .. })
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// An exclusive `flock` on one sandbox's `lock` file, released on drop,
/// with the descriptors of the directories it was found in: every change
/// of the state goes through them.
#[derive(Debug)]
pub struct Lock {
    id: String,
    path: PathBuf,
    root: OwnedFd,
    directory: OwnedFd,
    _file: File,
}

impl Lock {
    /// The sandbox id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lock file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An exclusive `flock` on the state directory itself, released on drop:
/// held by `enforcer run` while it checks its cgroup against every other
/// sandbox's and records it, so two runs cannot claim nested cgroups.
#[derive(Debug)]
pub struct DirectoryLock {
    root: OwnedFd,
}

impl DirectoryLock {
    /// The state directory's descriptor (the one locked): the host id
    /// leases are made relative to it.
    pub(crate) fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

use crate::trusted::{Kind, TrustError, is_entry};

impl From<TrustError> for StateError {
    fn from(error: TrustError) -> StateError {
        match error {
            TrustError::Untrusted { path, why } => StateError::Untrusted { path, why },
            TrustError::Io {
                action,
                path,
                err: source,
            } => StateError::Io {
                action,
                path,
                err: source,
            },
        }
    }
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> StateError + 'a {
    move |errno| StateError::Io {
        action,
        path: path.to_path_buf(),
        err: errno.into(),
    }
}

/// [`crate::trusted::open_checked`] of a state file or directory, which
/// must be the enforcer's own.
fn open_checked(
    at: BorrowedFd<'_>,
    name: &Path,
    path: &Path,
    kind: Kind,
    flags: OFlag,
) -> Result<Option<OwnedFd>, StateError> {
    Ok(crate::trusted::open_checked(
        at, name, path, kind, flags, true,
    )?)
}

/// `flock` without blocking: `Ok(false)` when somebody else holds it.
fn try_flock(fd: BorrowedFd<'_>, path: &Path) -> Result<bool, StateError> {
    loop {
        // SAFETY: flock on a descriptor we hold.
        if unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            Errno::EWOULDBLOCK => return Ok(false),
            errno => return Err(io_error("lock", path)(errno)),
        }
    }
}

/// Retries `attempt` until it returns `Some` or `timeout` has passed.
fn retry<T>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Option<T>, StateError>,
) -> Result<Option<T>, StateError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = attempt()? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

const LOCK_FILE: &str = "lock";
const STATE_FILE: &str = "state.json";
const TEMPORARY_FILE: &str = "state.json.tmp";

impl StateDir {
    /// The state directory at `root` (created when first needed, mode 0700).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// Its path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, id: &str, file: Option<&str>) -> PathBuf {
        let directory = self.root.join(id);
        match file {
            Some(file) => directory.join(file),
            None => directory,
        }
    }

    fn not_found(&self, id: &str) -> StateError {
        StateError::NotFound {
            id: id.to_string(),
            root: self.root.clone(),
        }
    }

    /// Checks the state directory, if it exists, as every other use does
    /// (owner, mode, not a symbolic link): a caller that puts files of its
    /// own beside the sandboxes' (the audit log) refuses it the same way.
    pub fn check(&self) -> Result<(), StateError> {
        self.open_root().map(|_| ())
    }

    /// The state directory, checked; `None` if it does not exist.
    fn open_root(&self) -> Result<Option<OwnedFd>, StateError> {
        open_checked(
            AT_FDCWD,
            &self.root,
            &self.root,
            Kind::Directory,
            OFlag::empty(),
        )
    }

    /// `<id>/`, checked, with the state directory it is in.
    fn open_sandbox(&self, id: &str) -> Result<(OwnedFd, OwnedFd), StateError> {
        if !policy_model::is_valid_id(id) {
            return Err(StateError::InvalidId(id.to_string()));
        }
        let root = self.open_root()?.ok_or_else(|| self.not_found(id))?;
        let directory = open_checked(
            root.as_fd(),
            Path::new(id),
            &self.path(id, None),
            Kind::Directory,
            OFlag::empty(),
        )?
        .ok_or_else(|| self.not_found(id))?;
        Ok((root, directory))
    }

    /// Claims `id` and locks it. Fails if a sandbox with this id exists.
    pub fn claim(&self, id: &str) -> Result<Lock, StateError> {
        use std::os::unix::fs::DirBuilderExt;
        if !policy_model::is_valid_id(id) {
            return Err(StateError::InvalidId(id.to_string()));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|source| StateError::Io {
                action: "create the state directory",
                path: self.root.clone(),
                err: source,
            })?;
        let root = self.open_root()?.ok_or_else(|| StateError::Io {
            action: "open the state directory",
            path: self.root.clone(),
            err: std::io::ErrorKind::NotFound.into(),
        })?;
        // A fresh directory gets its lock, held, before it appears under
        // the id: nobody can lock or remove it half-made.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |time| time.subsec_nanos());
        let temporary = format!(".claim-{id}-{}-{nanos}", std::process::id());
        let temporary_path = self.root.join(&temporary);
        nix::sys::stat::mkdirat(&root, temporary.as_str(), Mode::S_IRWXU)
            .map_err(io_error("create", &temporary_path))?;
        let made = (|| {
            let directory = open_checked(
                root.as_fd(),
                Path::new(&temporary),
                &temporary_path,
                Kind::Directory,
                OFlag::empty(),
            )?
            .ok_or_else(|| io_error("open", &temporary_path)(Errno::ENOENT))?;
            let lock_path = self.path(id, Some(LOCK_FILE));
            let file = nix::fcntl::openat(
                &directory,
                LOCK_FILE,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_RDWR
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::S_IRUSR | Mode::S_IWUSR,
            )
            .map_err(io_error("create", &lock_path))?;
            if !try_flock(file.as_fd(), &lock_path)? {
                return Err(io_error("lock", &lock_path)(Errno::EWOULDBLOCK));
            }
            match nix::fcntl::renameat2(
                &root,
                temporary.as_str(),
                &root,
                id,
                RenameFlags::RENAME_NOREPLACE,
            ) {
                Ok(()) => Ok((directory, file, lock_path)),
                Err(Errno::EEXIST) => Err(StateError::Exists {
                    id: id.to_string(),
                    path: self.path(id, None),
                }),
                Err(errno) => Err(io_error("create", &self.path(id, None))(errno)),
            }
        })();
        match made {
            Ok((directory, file, path)) => Ok(Lock {
                id: id.to_string(),
                path,
                root,
                directory,
                _file: File::from(file),
            }),
            Err(error) => {
                let _ = nix::fcntl::openat(
                    &root,
                    temporary.as_str(),
                    OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .and_then(|directory| {
                    nix::unistd::unlinkat(&directory, LOCK_FILE, UnlinkatFlags::NoRemoveDir)
                });
                let _ = nix::unistd::unlinkat(&root, temporary.as_str(), UnlinkatFlags::RemoveDir);
                Err(error)
            }
        }
    }

    /// One attempt at locking sandbox `id`: `None` if another command
    /// holds it.
    fn attempt_lock(&self, id: &str) -> Result<Option<Lock>, StateError> {
        let (root, directory) = self.open_sandbox(id)?;
        let path = self.path(id, Some(LOCK_FILE));
        let file = open_checked(
            directory.as_fd(),
            Path::new(LOCK_FILE),
            &path,
            Kind::File,
            OFlag::O_RDWR,
        )?
        .ok_or_else(|| self.not_found(id))?;
        if !try_flock(file.as_fd(), &path)? {
            return Ok(None);
        }
        // Removed (or replaced) while we opened it: that sandbox is gone.
        if !is_entry(root.as_fd(), Path::new(id), directory.as_fd())
            || !is_entry(directory.as_fd(), Path::new(LOCK_FILE), file.as_fd())
        {
            return Err(self.not_found(id));
        }
        Ok(Some(Lock {
            id: id.to_string(),
            path,
            root,
            directory,
            _file: File::from(file),
        }))
    }

    /// Locks sandbox `id`, waiting at most [`LOCK_TIMEOUT`] for another
    /// command holding it.
    pub fn lock(&self, id: &str) -> Result<Lock, StateError> {
        self.lock_within(id, LOCK_TIMEOUT)
    }

    /// Locks sandbox `id`, waiting at most `timeout`.
    pub fn lock_within(&self, id: &str, timeout: Duration) -> Result<Lock, StateError> {
        let started = Instant::now();
        retry(timeout, || self.attempt_lock(id))?.ok_or_else(|| StateError::Busy {
            what: format!("sandbox {id}"),
            path: self.path(id, Some(LOCK_FILE)),
            waited: round(started.elapsed()),
        })
    }

    /// Locks sandbox `id` if nobody holds it; `None` if somebody does (an
    /// `enforcer run` starting it, another command).
    pub fn try_lock(&self, id: &str) -> Result<Option<Lock>, StateError> {
        self.attempt_lock(id)
    }

    /// Locks the state directory itself (see [`DirectoryLock`]), waiting
    /// at most [`LOCK_TIMEOUT`].
    pub fn lock_directory(&self) -> Result<DirectoryLock, StateError> {
        let started = Instant::now();
        let root = retry(LOCK_TIMEOUT, || {
            let root = self.open_root()?.ok_or_else(|| StateError::Io {
                action: "open the state directory",
                path: self.root.clone(),
                err: std::io::ErrorKind::NotFound.into(),
            })?;
            Ok(try_flock(root.as_fd(), &self.root)?.then_some(root))
        })?
        .ok_or_else(|| StateError::Busy {
            what: "the state directory".into(),
            path: self.root.clone(),
            waited: round(started.elapsed()),
        })?;
        Ok(DirectoryLock { root })
    }

    /// [`StateDir::lock_directory`], or `None` when the state directory
    /// does not exist (then neither does anything in it: no sandbox, no
    /// lease).
    pub fn lock_directory_if_present(&self) -> Result<Option<DirectoryLock>, StateError> {
        match self.lock_directory() {
            Ok(lock) => Ok(Some(lock)),
            Err(StateError::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Writes `state` atomically (its lock must be held): a fresh
    /// temporary file, renamed over `state.json`, both relative to the
    /// locked directory.
    pub fn save(&self, state: &SandboxState, lock: &Lock) -> Result<(), StateError> {
        if state.id != lock.id {
            return Err(StateError::InvalidId(state.id.clone()));
        }
        let temporary = self.path(&lock.id, Some(TEMPORARY_FILE));
        let target = self.path(&lock.id, Some(STATE_FILE));
        let text = serde_json::to_vec_pretty(state).map_err(|error| StateError::Corrupt {
            path: target.clone(),
            why: error.to_string(),
        })?;
        match nix::unistd::unlinkat(&lock.directory, TEMPORARY_FILE, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(errno) => return Err(io_error("remove", &temporary)(errno)),
        }
        let fd = nix::fcntl::openat(
            &lock.directory,
            TEMPORARY_FILE,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .map_err(io_error("create", &temporary))?;
        // No fsync: the state lives on a tmpfs (/run) and describes
        // processes that do not survive a reboot either; the rename alone
        // keeps readers from ever seeing half a file.
        File::from(fd)
            .write_all(&text)
            .map_err(|source| StateError::Io {
                action: "write",
                path: temporary.clone(),
                err: source,
            })?;
        nix::fcntl::renameat(&lock.directory, TEMPORARY_FILE, &lock.directory, STATE_FILE)
            .map_err(io_error("write", &target))
    }

    fn read_state(&self, id: &str, directory: BorrowedFd<'_>) -> Result<SandboxState, StateError> {
        let path = self.path(id, Some(STATE_FILE));
        let fd = open_checked(
            directory,
            Path::new(STATE_FILE),
            &path,
            Kind::File,
            OFlag::O_RDONLY,
        )?
        .ok_or_else(|| self.not_found(id))?;
        let mut text = Vec::new();
        File::from(fd)
            .read_to_end(&mut text)
            .map_err(|source| StateError::Io {
                action: "read",
                path: path.clone(),
                err: source,
            })?;
        let state: SandboxState =
            serde_json::from_slice(&text).map_err(|error| StateError::Corrupt {
                path: path.clone(),
                why: error.to_string(),
            })?;
        if state.id != id {
            return Err(StateError::Corrupt {
                path,
                why: format!("it records the id {:?}", state.id),
            });
        }
        Ok(state)
    }

    /// Reads sandbox `id`'s state (without its lock; its lock file, too,
    /// must be the enforcer's own).
    pub fn load(&self, id: &str) -> Result<SandboxState, StateError> {
        let (_root, directory) = self.open_sandbox(id)?;
        if self.lock_file(id, directory.as_fd())?.is_none() {
            return Err(self.not_found(id));
        }
        self.read_state(id, directory.as_fd())
    }

    /// `<id>/lock` opened for reading and checked; `None` if missing.
    fn lock_file(
        &self,
        id: &str,
        directory: BorrowedFd<'_>,
    ) -> Result<Option<OwnedFd>, StateError> {
        open_checked(
            directory,
            Path::new(LOCK_FILE),
            &self.path(id, Some(LOCK_FILE)),
            Kind::File,
            OFlag::O_RDONLY,
        )
    }

    /// Reads the state of the sandbox `lock` holds, from the directory
    /// that was locked.
    pub fn load_locked(&self, lock: &Lock) -> Result<SandboxState, StateError> {
        self.read_state(&lock.id, lock.directory.as_fd())
    }

    /// Whether `<id>/` has a `lock` file: claimed as a sandbox (another
    /// directory there, such as `--mount-controllers`' `cgroup/`, is not).
    pub fn is_sandbox(&self, id: &str) -> Result<bool, StateError> {
        let (_root, directory) = self.open_sandbox(id)?;
        Ok(self.lock_file(id, directory.as_fd())?.is_some())
    }

    /// Whether `<id>/state.json` exists (the lock must be held).
    pub fn has_state(&self, lock: &Lock) -> bool {
        nix::sys::stat::fstatat(
            &lock.directory,
            STATE_FILE,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok()
    }

    /// The ids with a directory here, sorted (the state directory itself
    /// is checked; each entry is checked when it is opened).
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let Some(root) = self.open_root()? else {
            return Ok(Vec::new());
        };
        let mut listing = nix::dir::Dir::from_fd(root).map_err(io_error("read", &self.root))?;
        let mut ids = Vec::new();
        for entry in listing.iter() {
            let entry = entry.map_err(io_error("read", &self.root))?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if policy_model::is_valid_id(name)
                && matches!(
                    entry.file_type(),
                    Some(nix::dir::Type::Directory) | Some(nix::dir::Type::Symlink) | None
                )
            {
                ids.push(name.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Removes sandbox `id`'s state (the lock must be held; it stays valid
    /// until dropped), relative to the locked directory.
    pub fn remove(&self, lock: &Lock) -> Result<(), StateError> {
        let id = &lock.id;
        for file in [TEMPORARY_FILE, STATE_FILE, LOCK_FILE] {
            match nix::unistd::unlinkat(&lock.directory, file, UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(errno) => return Err(io_error("remove", &self.path(id, Some(file)))(errno)),
            }
        }
        if !is_entry(lock.root.as_fd(), Path::new(id), lock.directory.as_fd()) {
            return Ok(()); // gone already (or replaced: not ours to remove)
        }
        nix::unistd::unlinkat(&lock.root, id.as_str(), UnlinkatFlags::RemoveDir)
            .map_err(io_error("remove", &self.path(id, None)))
    }
}

/// `waited` to a tenth of a second, for messages (`waited 5s`).
fn round(waited: Duration) -> Duration {
    Duration::from_millis((waited.as_millis() as u64 + 50) / 100 * 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample(id: &str) -> SandboxState {
        SandboxState {
            version: FORMAT_VERSION,
            id: id.into(),
            tenant: None,
            process: ProcessRef::of(std::process::id() as i32),
            supervisor: None,
            started_at: 0,
            command: vec!["true".into()],
            decision: Decision::allow(),
            cgroup_root: "enforcer".into(),
            cgroup: CreatedCgroup::default(),
            namespaces: BTreeMap::new(),
            namespace_owners: BTreeMap::new(),
            policies: Vec::new(),
            host_ids: None,
            network: None,
        }
    }

    #[test]
    fn the_cgroup_record_keeps_the_state_file_shape() {
        // What state files of earlier versions hold loads as it did.
        let text = r#"{"created":["/sys/fs/cgroup/pids/enforcer"],"leaves":["/sys/fs/cgroup/pids/enforcer/a"]}"#;
        let cgroup: CreatedCgroup = serde_json::from_str(text).expect("loads");
        assert_eq!(
            cgroup,
            CreatedCgroup {
                created: vec!["/sys/fs/cgroup/pids/enforcer".into()],
                leaves: vec!["/sys/fs/cgroup/pids/enforcer/a".into()],
            }
        );
        assert_eq!(serde_json::to_string(&cgroup).expect("saves"), text);
    }

    #[test]
    fn claim_save_load_list_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path().join("state"));
        let lock = states.claim("job").expect("claims");
        let error = states.claim("job").expect_err("a second claim conflicts");
        assert!(error.to_string().contains("exists already"), "{error}");
        states.save(&sample("job"), &lock).expect("saves");
        assert_eq!(states.load("job").expect("loads"), sample("job"));
        assert_eq!(states.load_locked(&lock).expect("loads"), sample("job"));
        assert_eq!(states.ids().expect("lists"), ["job"]);
        assert!(
            !states.load("job").expect("loads").is_stale(),
            "we are alive"
        );
        states.remove(&lock).expect("removes");
        assert!(states.ids().expect("lists").is_empty());
        let error = states.load("job").expect_err("gone");
        assert!(error.to_string().contains("no sandbox \"job\""), "{error}");
        let names: Vec<_> = std::fs::read_dir(states.root())
            .expect("lists")
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert!(names.is_empty(), "no claim directory left: {names:?}");
    }

    #[test]
    fn a_held_lock_makes_others_wait_a_bounded_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path());
        let _held = states.claim("busy").expect("claims");
        assert!(states.try_lock("busy").expect("tries").is_none());
        let started = Instant::now();
        let error = states
            .lock_within("busy", Duration::from_millis(200))
            .expect_err("busy");
        assert!(started.elapsed() < Duration::from_secs(2));
        let text = error.to_string();
        assert!(
            text.starts_with("sandbox busy is busy: another enforcer command holds")
                && text.contains("busy/lock (waited 2"),
            "{text}"
        );
    }

    #[test]
    fn untrusted_directories_and_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path());
        let lock = states.claim("job").expect("claims");
        states.save(&sample("job"), &lock).expect("saves");
        drop(lock);
        let state = dir.path().join("job").join("state.json");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let error = states.load("job").expect_err("world-writable");
        assert!(
            error.to_string().contains("state.json: its mode 0666"),
            "{error}"
        );
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let error = states.lock("job").expect_err("world-writable root");
        assert!(error.to_string().contains("its mode 0777"), "{error}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let lock_file = dir.path().join("job").join("lock");
        std::fs::remove_file(&lock_file).expect("removes");
        let decoy = dir.path().join("decoy");
        std::os::unix::fs::symlink(&decoy, &lock_file).expect("symlink");
        let error = states.lock("job").expect_err("a symlinked lock");
        assert!(
            error.to_string().contains("lock: it is a symbolic link"),
            "{error}"
        );
        assert!(!decoy.exists(), "nothing created through the symlink");
    }

    #[test]
    fn a_dead_or_reused_pid_is_stale() {
        let mut state = sample("job");
        if let Some(process) = &mut state.process {
            process.start_time += 1;
        }
        assert!(state.is_stale(), "same pid, another start time");
        let mut state = sample("job");
        state.supervisor = Some(ProcessRef {
            pid: i32::MAX,
            start_time: 0,
        });
        assert!(state.is_stale(), "the supervisor is gone");
        let mut state = sample("job");
        state.process = None;
        state.supervisor = ProcessRef::of(std::process::id() as i32);
        assert!(
            !state.is_stale(),
            "a live supervisor cleans up its own sandbox"
        );
    }

    #[test]
    fn signals_reach_only_the_recorded_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("sleep starts");
        let pid = child.id() as i32;
        let process = ProcessRef::of(pid).expect("running");
        let other = ProcessRef {
            pid,
            start_time: process.start_time + 1,
        };
        let error = other
            .signal(Signal::SIGKILL)
            .expect_err("another start time");
        assert_eq!(error.raw_os_error(), Some(libc::ESRCH));
        assert!(process.is_alive());
        process.signal(Signal::SIGKILL).expect("signals");
        let status = child.wait().expect("reaps");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
