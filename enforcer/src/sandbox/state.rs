//! The state directory: one directory per sandbox (`<state dir>/<id>/`)
//! holding `state.json`, written atomically (temporary file + rename), and
//! a `lock` file that commands hold with `flock` while they read-modify
//! the sandbox, so concurrent `kill`, `delete` and `gc` cannot trip over
//! each other. Creating the directory is what claims an id: a second
//! sandbox with the same id fails with a clear conflict.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::libc;
use policy_sdk::Decision;
use serde::{Deserialize, Serialize};

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/run/enforcer";

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
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let Some(fields) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            return false;
        };
        let mut fields = fields.split_whitespace();
        let state = fields.next();
        state != Some("Z")
            && state != Some("X")
            && fields.nth(18).and_then(|field| field.parse().ok()) == Some(self.start_time)
    }
}

/// Field 22 (`starttime`) of `/proc/<pid>/stat`.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A policy that took part in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Its name.
    pub name: String,
    /// sha256 of the module.
    pub sha256: String,
}

/// The sandbox's cgroups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupRecord {
    /// Directories the sandbox created, removed with it.
    pub created: Vec<PathBuf>,
    /// Its cgroup in each hierarchy.
    pub leaves: Vec<PathBuf>,
}

/// Everything known about a running sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxState {
    /// Format version.
    pub version: u32,
    /// The sandbox id.
    pub id: String,
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
    /// Its cgroups.
    pub cgroup: CgroupRecord,
    /// Namespace inodes by `/proc/<pid>/ns` name.
    pub namespaces: BTreeMap<String, u64>,
    /// The policies that decided.
    pub policies: Vec<PolicyRecord>,
}

impl SandboxState {
    /// Whether the sandbox is gone or orphaned: its first process has
    /// exited (or never started), or the `enforcer run` that should be
    /// waiting for it died. Check it with the sandbox locked: a sandbox
    /// being started is locked by its `enforcer run`.
    pub fn is_stale(&self) -> bool {
        !self.process.is_some_and(|process| process.is_alive())
            || self
                .supervisor
                .is_some_and(|supervisor| !supervisor.is_alive())
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// An exclusive `flock` on one sandbox's `lock` file, released on drop.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

fn flock(file: &File, path: &Path, operation: libc::c_int) -> anyhow::Result<()> {
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        match error.kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => return Err(error.into()),
            _ => return Err(error).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

impl StateDir {
    /// The state directory at `root` (created when first needed, mode 0700).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// Its path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn directory(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Claims `id` and locks it. Fails if a sandbox with this id exists.
    pub fn claim(&self, id: &str) -> anyhow::Result<Lock> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .with_context(|| {
                format!("cannot create the state directory {}", self.root.display())
            })?;
        let directory = self.directory(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&directory) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "a sandbox with id {id:?} exists already (state in {}); pick another --id, or `enforcer delete {id}`",
                directory.display()
            ),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot create {}", directory.display()));
            }
        }
        self.lock(id)
    }

    /// Locks sandbox `id` (waits for other commands holding it).
    pub fn lock(&self, id: &str) -> anyhow::Result<Lock> {
        let (file, path) = self.lock_file(id)?;
        flock(&file, &path, libc::LOCK_EX)?;
        Ok(Lock { _file: file })
    }

    /// Locks sandbox `id` if nobody holds it; `None` if somebody does (an
    /// `enforcer run` starting it, another command).
    pub fn try_lock(&self, id: &str) -> anyhow::Result<Option<Lock>> {
        let (file, path) = self.lock_file(id)?;
        match flock(&file, &path, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(Lock { _file: file })),
            Err(error)
                if error
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::WouldBlock) =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    fn lock_file(&self, id: &str) -> anyhow::Result<(File, PathBuf)> {
        if !crate::request::is_valid_id(id) {
            bail!("{id:?} is not a sandbox id");
        }
        let path = self.directory(id).join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("no sandbox {id:?} (cannot open {})", path.display()))?;
        Ok((file, path))
    }

    /// Writes `state` atomically (the lock must be held).
    pub fn save(&self, state: &SandboxState, _lock: &Lock) -> anyhow::Result<()> {
        let directory = self.directory(&state.id);
        let temporary = directory.join("state.json.tmp");
        let target = directory.join("state.json");
        let text = serde_json::to_vec_pretty(state)?;
        let mut file = File::create(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        // No fsync: the state lives on a tmpfs (/run) and describes
        // processes that do not survive a reboot either; the rename alone
        // keeps readers from ever seeing half a file.
        file.write_all(&text)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, &target)
            .with_context(|| format!("cannot write {}", target.display()))?;
        Ok(())
    }

    /// Reads sandbox `id`'s state.
    pub fn load(&self, id: &str) -> anyhow::Result<SandboxState> {
        if !crate::request::is_valid_id(id) {
            bail!("{id:?} is not a sandbox id");
        }
        let path = self.directory(id).join("state.json");
        let text = std::fs::read(&path).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!("no sandbox {id:?} in {}", self.root.display())
            } else {
                anyhow::Error::new(error).context(format!("cannot read {}", path.display()))
            }
        })?;
        serde_json::from_slice(&text)
            .with_context(|| format!("corrupt state file {}", path.display()))
    }

    /// The ids with a directory here, sorted.
    pub fn ids(&self) -> anyhow::Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", self.root.display()));
            }
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|id| crate::request::is_valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Removes sandbox `id`'s state (the lock must be held; it stays valid
    /// until dropped).
    pub fn remove(&self, id: &str, _lock: &Lock) -> anyhow::Result<()> {
        let directory = self.directory(id);
        for file in ["state.json", "state.json.tmp", "lock"] {
            match std::fs::remove_file(directory.join(file)) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("cannot remove {}", directory.join(file).display())
                    });
                }
            }
        }
        std::fs::remove_dir(&directory)
            .with_context(|| format!("cannot remove {}", directory.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str) -> SandboxState {
        SandboxState {
            version: 1,
            id: id.into(),
            process: ProcessRef::of(std::process::id() as i32),
            supervisor: None,
            started_at: 0,
            command: vec!["true".into()],
            decision: Decision::allow(),
            cgroup: CgroupRecord::default(),
            namespaces: BTreeMap::new(),
            policies: Vec::new(),
        }
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
        assert_eq!(states.ids().expect("lists"), ["job"]);
        assert!(
            !states.load("job").expect("loads").is_stale(),
            "we are alive"
        );
        states.remove("job", &lock).expect("removes");
        assert!(states.ids().expect("lists").is_empty());
        let error = states.load("job").expect_err("gone");
        assert!(error.to_string().contains("no sandbox \"job\""), "{error}");
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
    }
}
