//! Carrying out a [`CgroupPlan`]: create the directories, write the files,
//! put processes in, and remove it all again. Creation is atomic: if any
//! step fails, every directory this call created is removed before the
//! error is returned. Only paths named by the plan are touched.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cgroupfs::{self, NotCgroupfs};
use super::devices_bpf;
use super::freezer;
use super::membership::{self, NotMember};
use super::plan::{CgroupPlan, Value};

/// A cgroup failure, naming the file, the value and the kernel's error.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The sandbox's cgroup already exists.
    #[error("cgroup {0} already exists (another sandbox with this cgroupsPath?)")]
    Exists(PathBuf),
    /// `mkdir` failed.
    #[error("cannot create cgroup {path}: {err}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The kernel's error.
        err: std::io::Error,
    },
    /// A directory would be made where no cgroup filesystem is (a plain
    /// directory, a mount covering the hierarchy).
    #[error("refusing to create cgroup {path} in {parent}: {why}")]
    NotCgroupfs {
        /// The directory to create.
        path: PathBuf,
        /// Its parent.
        parent: PathBuf,
        /// What the parent is instead.
        why: NotCgroupfs,
    },
    /// A file could not be read.
    #[error("cannot read {file}: {err}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The kernel's error.
        err: std::io::Error,
    },
    /// A write failed.
    #[error("cannot write {value:?} to {file}: {err}")]
    Write {
        /// The file.
        file: PathBuf,
        /// The value.
        value: String,
        /// The kernel's error.
        err: std::io::Error,
    },
    /// The v2 device program could not be loaded or attached.
    #[error("cannot attach the eBPF device program to {cgroup}: {err}")]
    DeviceProgram {
        /// The cgroup v2 directory.
        cgroup: PathBuf,
        /// The kernel's error (with the verifier's log if it refused).
        err: std::io::Error,
    },
    /// Freezing did not complete.
    #[error("cgroup {path} did not reach the {state} state within {waited:?}")]
    Freeze {
        /// The freezer file's cgroup.
        path: PathBuf,
        /// The state asked for.
        state: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// Removal tried every hierarchy and some directories stayed: each is
    /// named with why; every other one was removed.
    #[error(
        "cgroup not fully removed: {}{}",
        list_left(.left),
        if *.others_removed { "; removed the others" } else { "" }
    )]
    NotRemoved {
        /// The directories left, each with why.
        left: Vec<LeftDirectory>,
        /// Whether other leaves of the cgroup were removed.
        others_removed: bool,
    },
    /// The sandbox has no freezer to freeze it with.
    #[error("cgroup {path} has no freezer: neither cgroup.freeze nor a v1 freezer hierarchy")]
    NoFreezer {
        /// The sandbox's first leaf.
        path: PathBuf,
    },
    /// After the write to `cgroup.procs`, the kernel does not show the
    /// process in the leaf (`/proc/<pid>/cgroup`).
    #[error("process {pid} did not join cgroup {leaf}: {why}")]
    NotJoined {
        /// The process.
        pid: i32,
        /// The leaf.
        leaf: PathBuf,
        /// What the kernel shows instead.
        why: Box<NotMember>,
    },
}

/// A directory removal left, and why.
#[derive(Debug)]
pub struct LeftDirectory {
    /// The directory.
    pub path: PathBuf,
    /// Why it stayed.
    pub why: LeftReason,
}

/// Why a cgroup directory could not be removed.
#[derive(Debug, thiserror::Error)]
pub enum LeftReason {
    /// Members did not go away in time.
    #[error("busy: processes {pids:?} still in it after {waited:?}")]
    Busy {
        /// Remaining members.
        pids: Vec<i32>,
        /// How long removal waited.
        waited: Duration,
    },
    /// Someone made cgroups inside the sandbox's leaf; the enforcer removes
    /// only what it created.
    #[error("busy: it has child cgroups the enforcer did not create: {}", .0.join(", "))]
    Children(Vec<String>),
    /// `rmdir` failed otherwise.
    #[error("{0}")]
    Kernel(std::io::Error),
}

impl std::fmt::Display for LeftDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.path.display(), self.why)
    }
}

/// `a (why), b (why)`.
fn list_left(left: &[LeftDirectory]) -> String {
    left.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A sandbox's cgroups: what [`create`] made from a plan, and what the
/// sandbox's state file records (`state.json`'s `cgroup`, with these field
/// names) so that later commands and `gc` find and remove them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedCgroup {
    /// Directories the sandbox created, in creation order, removed with it.
    pub created: Vec<PathBuf>,
    /// The sandbox's cgroup in each hierarchy.
    pub leaves: Vec<PathBuf>,
}

/// Creates the plan's directories, makes its writes and attaches its
/// device program. On failure nothing that this call created remains.
pub fn create(plan: &CgroupPlan) -> Result<CreatedCgroup, CgroupError> {
    let mut created = Vec::new();
    let result = create_inner(plan, &mut created);
    match result {
        Ok(()) => Ok(CreatedCgroup {
            created,
            leaves: plan.leaves.clone(),
        }),
        Err(error) => {
            // Nothing has joined yet, so the directories are empty.
            let _ = remove_directories(&created, &plan.leaves, Duration::from_secs(1));
            Err(error)
        }
    }
}

/// How often the directories are made again when a shared level (a
/// tenant's directory, say) was removed by another sandbox's clean-up
/// between two of our `mkdir`s.
const CREATE_ATTEMPTS: usize = 8;

fn create_inner(plan: &CgroupPlan, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    let mut attempt = 1;
    while !make_directories(plan, created, attempt == CREATE_ATTEMPTS)? {
        attempt += 1;
    }
    write_plan(plan)
}

/// Makes the plan's directories in order; `Ok(false)` when a level above
/// one vanished meanwhile (another sandbox removed a shared level it found
/// empty), so the caller starts again; on the `last` attempt that is an
/// error.
fn make_directories(
    plan: &CgroupPlan,
    created: &mut Vec<PathBuf>,
    last: bool,
) -> Result<bool, CgroupError> {
    let mut checked: Vec<&Path> = Vec::new();
    for directory in &plan.directories {
        // Each parent is a cgroupfs directory: a mount over a hierarchy or
        // over a level of it would otherwise take the mkdir. (One this call
        // made itself is, as its own parent was.)
        if let Some(parent) = directory.parent()
            && !checked.contains(&parent)
            && !created.iter().any(|made| made == parent)
        {
            match cgroupfs::check_directory(parent) {
                Ok(true) => checked.push(parent),
                // The mkdir below reports it.
                Ok(false) => {}
                Err(why) => {
                    return Err(CgroupError::NotCgroupfs {
                        path: directory.clone(),
                        parent: parent.to_path_buf(),
                        why,
                    });
                }
            }
        }
        match std::fs::create_dir(directory) {
            Ok(()) => created.push(directory.clone()),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                // A leaf made by an earlier attempt of this call is ours.
                if plan.leaves.contains(directory) && !created.contains(directory) {
                    return Err(CgroupError::Exists(directory.clone()));
                }
            }
            Err(source)
                if source.kind() == ErrorKind::NotFound
                    && !last
                    && directory
                        .parent()
                        .is_some_and(|parent| plan.directories.iter().any(|d| d == parent)) =>
            {
                created.retain(|made| made.exists());
                return Ok(false);
            }
            Err(source) => {
                return Err(CgroupError::Create {
                    path: directory.clone(),
                    err: source,
                });
            }
        }
    }
    Ok(true)
}

fn write_plan(plan: &CgroupPlan) -> Result<(), CgroupError> {
    for write in &plan.writes {
        if write.optional && !write.file.exists() {
            continue;
        }
        let value = match &write.value {
            Value::Literal(text) => text.clone(),
            Value::CopyFromParent => read_parent(&write.file)?,
        };
        match &write.fallback {
            Some(fallback) if !write.file.exists() && fallback.file.exists() => {
                write_file(&fallback.file, &fallback.value)?
            }
            _ => write_file(&write.file, &value)?,
        }
    }
    if let Some(program) = &plan.device_program {
        devices_bpf::attach(&program.cgroup, &program.rules).map_err(|source| {
            CgroupError::DeviceProgram {
                cgroup: program.cgroup.clone(),
                err: source,
            }
        })?;
    }
    Ok(())
}

/// The same file in the parent cgroup, trimmed.
fn read_parent(file: &Path) -> Result<String, CgroupError> {
    let name = file.file_name().unwrap_or_default();
    let parent = file
        .parent()
        .and_then(Path::parent)
        .map(|directory| directory.join(name))
        .unwrap_or_default();
    read_nofollow(&parent)
        .map(|text| text.trim().to_string())
        .map_err(|source| CgroupError::Read {
            file: parent,
            err: source,
        })
}

fn write_file(file: &Path, value: &str) -> Result<(), CgroupError> {
    write_nofollow(file, value).map_err(|source| CgroupError::Write {
        file: file.to_path_buf(),
        value: value.to_string(),
        err: source,
    })
}

/// Opens a cgroupfs interface file without following a symlink (`O_NOFOLLOW`;
/// `ELOOP` if it is one), for reading or for writing (never creating). A
/// file opened for writing must be on a cgroup filesystem: a plain file
/// where an interface file should be (a mount covering the hierarchy, a
/// planted tree) is never written.
pub(crate) fn open_nofollow(file: &Path, write: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(file)?;
    if write {
        cgroupfs::check_fd(&opened).map_err(std::io::Error::other)?;
    }
    Ok(opened)
}

/// Writes `value` to the interface file `file` in one `write`, without
/// following a symlink.
pub(crate) fn write_nofollow(file: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    open_nofollow(file, true)?.write_all(value.as_bytes())
}

/// Reads the interface file `file`, without following a symlink.
pub(crate) fn read_nofollow(file: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    open_nofollow(file, false)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Reads the interface file `file`, without following a symlink, only if it
/// is on a cgroup filesystem.
fn read_cgroupfs(file: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut opened = open_nofollow(file, false)?;
    cgroupfs::check_fd(&opened).map_err(std::io::Error::other)?;
    let mut text = String::new();
    opened.read_to_string(&mut text)?;
    Ok(text)
}

/// Moves process `pid` into every leaf, then confirms from
/// `/proc/<pid>/cgroup` that the kernel has it there, hierarchy by
/// hierarchy (on `layout`, the one the cgroup was planned on): a leaf that
/// is not the kernel's
/// cgroup is a [`CgroupError::NotJoined`] naming the leaf and the
/// hierarchy. The caller then removes the cgroup, killing `pid` with it.
pub fn join(
    cgroup: &CreatedCgroup,
    layout: &super::CgroupLayout,
    pid: i32,
) -> Result<(), CgroupError> {
    for leaf in &cgroup.leaves {
        write_file(&leaf.join("cgroup.procs"), &pid.to_string())?;
    }
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text =
        std::fs::read_to_string(&file).map_err(|source| CgroupError::Read { file, err: source })?;
    confirm_joined(layout, &text, cgroup, pid)
}

/// Checks that `proc_cgroup` (the text of `/proc/<pid>/cgroup`) puts `pid`
/// in every leaf of `cgroup` on `layout`.
pub fn confirm_joined(
    layout: &super::CgroupLayout,
    proc_cgroup: &str,
    cgroup: &CreatedCgroup,
    pid: i32,
) -> Result<(), CgroupError> {
    let memberships = membership::parse_proc_cgroup(proc_cgroup);
    for leaf in &cgroup.leaves {
        membership::confirm(layout, &memberships, leaf).map_err(|why| CgroupError::NotJoined {
            pid,
            leaf: leaf.clone(),
            why: Box::new(why),
        })?;
    }
    Ok(())
}

/// The processes in `leaf`, as its `cgroup.procs` lists them: none unless
/// that file is on a cgroup filesystem (a plain file's "pids" are never
/// signalled).
pub fn members(leaf: &Path) -> Vec<i32> {
    read_cgroupfs(&leaf.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Kills every member and removes the directories this cgroup created,
/// deepest first, within `timeout`. Members are killed atomically where the
/// kernel can: v2 `cgroup.kill` (Linux 5.14), else freeze (v2
/// `cgroup.freeze` or v1 `freezer.state`), SIGKILL every member, thaw, so
/// nothing forks away between reading the member list and the kill. It then
/// waits until every leaf is empty (v2 `cgroup.events`, polled, v1 by
/// reading `cgroup.procs`). Safe to call twice and on a half-created
/// cgroup; a member that will not die is a [`CgroupError::Busy`].
pub fn remove(cgroup: &CreatedCgroup, timeout: Duration) -> Result<(), CgroupError> {
    let deadline = Instant::now() + timeout;
    let existing: Vec<&PathBuf> = cgroup.leaves.iter().filter(|leaf| leaf.exists()).collect();
    // The common case after a workload exited: nothing left to kill (an
    // empty cgroup is removable frozen or not).
    if existing.iter().all(|leaf| members(leaf).is_empty())
        && remove_directories(&cgroup.created, &cgroup.leaves, remaining(deadline)).is_empty()
    {
        return Ok(());
    }
    let killed_by_kernel = existing.iter().any(|leaf| {
        let kill = leaf.join("cgroup.kill");
        kill.exists() && write_nofollow(&kill, "1").is_ok()
    });
    if !killed_by_kernel && existing.iter().any(|leaf| !members(leaf).is_empty()) {
        let _ = freezer::freeze(cgroup, remaining(deadline).min(FREEZE_TIMEOUT));
        for leaf in &existing {
            kill_members(leaf);
        }
    }
    // A killed task dies only once thawed (the v1 freezer holds even
    // SIGKILLed tasks), whoever froze it.
    freezer::thaw_all(&existing)?;
    // Every hierarchy is tried: a leaf that stays busy is reported, and the
    // others are still emptied and removed.
    let mut left: Vec<LeftDirectory> = existing
        .iter()
        .filter_map(|leaf| wait_until_empty(leaf, deadline, timeout).err())
        .collect();
    for stayed in remove_directories(&cgroup.created, &cgroup.leaves, remaining(deadline)) {
        if !left.iter().any(|known| known.path == stayed.path) {
            left.push(stayed);
        }
    }
    not_removed(left, &cgroup.leaves)
}

/// `Ok` if nothing is `left`, else the [`CgroupError::NotRemoved`] naming
/// it.
fn not_removed(left: Vec<LeftDirectory>, leaves: &[PathBuf]) -> Result<(), CgroupError> {
    if left.is_empty() {
        return Ok(());
    }
    let others_removed = leaves
        .iter()
        .any(|leaf| !left.iter().any(|stayed| &stayed.path == leaf));
    Err(CgroupError::NotRemoved {
        left,
        others_removed,
    })
}

/// How long removal waits for a freeze before killing without one.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(1);

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// SIGKILLs the members of `leaf`: only processes of our own cgroup, the
/// ones we put there and their descendants.
fn kill_members(leaf: &Path) {
    for pid in members(leaf) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Waits until `leaf` has no process, killing stragglers, until `deadline`.
fn wait_until_empty(
    leaf: &Path,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), LeftDirectory> {
    let events = leaf.join("cgroup.events");
    loop {
        // Opened before reading, so a change after the read wakes the poll.
        let watched = open_nofollow(&events, false).ok();
        let pids = members(leaf);
        let populated = watched.is_some() && read_key(&events, "populated") == Some(1);
        if pids.is_empty() && !populated {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LeftDirectory {
                path: leaf.to_path_buf(),
                why: LeftReason::Busy {
                    pids,
                    waited: timeout,
                },
            });
        }
        kill_members(leaf);
        match &watched {
            Some(file) => wait_for_change(file, remaining(deadline).min(POLL_INTERVAL)),
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// How long to wait for a `cgroup.events` change before checking again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Waits until the kernel notifies a change of the cgroupfs file (v2
/// `cgroup.events` wakes pollers with `POLLPRI` when `populated` flips), or
/// `timeout`. Polling the file itself, not inotify: closing an inotify
/// instance waits for an SRCU grace period, milliseconds per removal.
fn wait_for_change(file: &std::fs::File, timeout: Duration) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
    let _ = poll(&mut fds, PollTimeout::from(millis));
}

/// The number after `key` in a flat-keyed cgroupfs file.
pub(crate) fn read_key(file: &Path, key: &str) -> Option<u64> {
    flat_keys(&read_nofollow(file).ok()?).remove(key)
}

/// The `key value` lines of a flat-keyed cgroupfs file (`memory.events`,
/// `cpu.stat`), numbers only.
pub(crate) fn flat_keys(text: &str) -> std::collections::BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Removes `created` deepest first, every one it can: a directory that
/// cannot be removed does not stop the others (of other hierarchies) from
/// being tried. A directory that is gone already is fine. A leaf still busy
/// just after its last member left is retried until `timeout`; a leaf with
/// child cgroups (which the enforcer did not make) is reported at once; a
/// busy parent is shared with another sandbox (or holds a leaf that
/// stayed) and stays. Returns the leaves, and the other directories, that
/// stayed, each with why.
fn remove_directories(
    created: &[PathBuf],
    leaves: &[PathBuf],
    timeout: Duration,
) -> Vec<LeftDirectory> {
    let deadline = Instant::now() + timeout;
    let mut ordered: Vec<&PathBuf> = created.iter().collect();
    ordered.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    let mut left = Vec::new();
    for directory in ordered {
        if let Err(why) = remove_directory(directory, leaves.contains(directory), deadline) {
            left.push(LeftDirectory {
                path: directory.clone(),
                why,
            });
        }
    }
    left
}

/// Removes one directory of [`remove_directories`].
fn remove_directory(directory: &Path, leaf: bool, deadline: Instant) -> Result<(), LeftReason> {
    loop {
        match std::fs::remove_dir(directory) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(()),
            Err(error) if error.raw_os_error() == Some(nix::libc::EBUSY) && !leaf => {
                return Ok(());
            }
            Err(error) if error.raw_os_error() == Some(nix::libc::EBUSY) => {
                let children = child_cgroups(directory);
                if !children.is_empty() {
                    return Err(LeftReason::Children(children));
                }
                if Instant::now() >= deadline {
                    return Err(LeftReason::Kernel(error));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(error) => return Err(LeftReason::Kernel(error)),
        }
    }
}

/// The names of the cgroups inside `directory` (its subdirectories; its
/// files are interface files), sorted.
fn child_cgroups(directory: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_goes_on_past_a_directory_it_cannot_remove() {
        // Plain directories stand in for two hierarchies: rmdir of a
        // non-empty one fails (ENOTEMPTY) as a busy cgroup's would.
        let base = tempfile::tempdir().expect("tempdir");
        let (memory, pids) = (base.path().join("memory"), base.path().join("pids"));
        let created: Vec<PathBuf> = [&memory, &pids]
            .iter()
            .flat_map(|hierarchy| [hierarchy.join("enforcer"), hierarchy.join("enforcer/sbx")])
            .collect();
        for directory in &created {
            std::fs::create_dir_all(directory).expect("mkdir");
        }
        std::fs::write(memory.join("enforcer/sbx/held"), "").expect("file");
        let leaves = vec![memory.join("enforcer/sbx"), pids.join("enforcer/sbx")];
        let left = remove_directories(&created, &leaves, Duration::ZERO);
        let paths: Vec<&Path> = left.iter().map(|stayed| stayed.path.as_path()).collect();
        // The held leaf stays, and its parent with it (that rmdir fails
        // too); every directory of the other hierarchy is gone.
        assert_eq!(
            paths,
            [memory.join("enforcer/sbx"), memory.join("enforcer")]
        );
        assert!(!pids.join("enforcer").exists());
        let error = not_removed(left, &leaves).expect_err("not removed");
        let text = error.to_string();
        assert!(
            text.starts_with(&format!(
                "cgroup not fully removed: {} (",
                memory.join("enforcer/sbx").display()
            )) && text.ends_with("; removed the others"),
            "{text}"
        );
    }

    #[test]
    fn the_error_lists_every_directory_left_and_why() {
        let left = vec![
            LeftDirectory {
                path: "/sys/fs/cgroup/memory/enforcer/sbx-x".into(),
                why: LeftReason::Busy {
                    pids: vec![42],
                    waited: Duration::from_secs(10),
                },
            },
            LeftDirectory {
                path: "/sys/fs/cgroup/pids/enforcer/sbx-x".into(),
                why: LeftReason::Children(vec!["a".into(), "b".into()]),
            },
        ];
        let leaves: Vec<PathBuf> = left.iter().map(|stayed| stayed.path.clone()).collect();
        assert_eq!(
            not_removed(left, &leaves).expect_err("left").to_string(),
            "cgroup not fully removed: /sys/fs/cgroup/memory/enforcer/sbx-x (busy: processes [42] still in it after 10s), \
             /sys/fs/cgroup/pids/enforcer/sbx-x (busy: it has child cgroups the enforcer did not create: a, b)"
        );
        assert!(not_removed(Vec::new(), &leaves).is_ok());
    }

    #[test]
    fn child_cgroups_are_the_subdirectories() {
        let leaf = tempfile::tempdir().expect("tempdir");
        std::fs::write(leaf.path().join("cgroup.procs"), "").expect("file");
        std::fs::create_dir(leaf.path().join("b")).expect("mkdir");
        std::fs::create_dir(leaf.path().join("a")).expect("mkdir");
        assert_eq!(child_cgroups(leaf.path()), ["a", "b"]);
        assert!(child_cgroups(&leaf.path().join("gone")).is_empty());
    }
}
