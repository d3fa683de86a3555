//! Carrying out a [`CgroupPlan`]: create the directories, write the files,
//! put processes in, and remove it all again. Creation is atomic: if any
//! step fails, every directory this call created is removed before the
//! error is returned. Only paths named by the plan are touched.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::plan::{CgroupPlan, Value};

/// A cgroup failure, naming the file, the value and the kernel's error.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The sandbox's cgroup already exists.
    #[error("cgroup {0} already exists (another sandbox with this cgroupsPath?)")]
    Exists(PathBuf),
    /// `mkdir` failed.
    #[error("cannot create cgroup {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The kernel's error.
        source: std::io::Error,
    },
    /// A read or write failed.
    #[error("cannot write {value:?} to {file}: {source}")]
    Write {
        /// The file.
        file: PathBuf,
        /// The value.
        value: String,
        /// The kernel's error.
        source: std::io::Error,
    },
    /// A feature the plan needs is not built yet.
    #[error("{0}")]
    Unsupported(String),
    /// Members did not go away in time.
    #[error("cgroup {path} still has processes {pids:?} after {waited:?}")]
    Busy {
        /// The cgroup.
        path: PathBuf,
        /// Remaining members.
        pids: Vec<i32>,
        /// How long removal waited.
        waited: Duration,
    },
}

/// A cgroup created from a plan.
#[derive(Debug, Clone)]
pub struct CreatedCgroup {
    /// Directories this call created, in creation order.
    pub created: Vec<PathBuf>,
    /// The sandbox's cgroup in each hierarchy.
    pub leaves: Vec<PathBuf>,
}

/// Creates the plan's directories and makes its writes. On failure nothing
/// that this call created remains.
pub fn create(plan: &CgroupPlan) -> Result<CreatedCgroup, CgroupError> {
    if plan.device_program.is_some() {
        return Err(CgroupError::Unsupported(
            "device rules on cgroup v2 need the eBPF device program, which is not implemented yet"
                .into(),
        ));
    }
    let mut created = Vec::new();
    let result = create_inner(plan, &mut created);
    match result {
        Ok(()) => Ok(CreatedCgroup {
            created,
            leaves: plan.leaves.clone(),
        }),
        Err(error) => {
            remove_directories(&created);
            Err(error)
        }
    }
}

fn create_inner(plan: &CgroupPlan, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    for directory in &plan.directories {
        match std::fs::create_dir(directory) {
            Ok(()) => created.push(directory.clone()),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                if plan.leaves.contains(directory) {
                    return Err(CgroupError::Exists(directory.clone()));
                }
            }
            Err(source) => {
                return Err(CgroupError::Create {
                    path: directory.clone(),
                    source,
                });
            }
        }
    }
    for write in &plan.writes {
        if write.optional && !write.file.exists() {
            continue;
        }
        let value = match &write.value {
            Value::Literal(text) => text.clone(),
            Value::CopyFromParent => read_parent(&write.file)?,
        };
        write_file(&write.file, &value)?;
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
    std::fs::read_to_string(&parent)
        .map(|text| text.trim().to_string())
        .map_err(|source| CgroupError::Write {
            file: parent,
            value: "(read)".into(),
            source,
        })
}

fn write_file(file: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(file, value).map_err(|source| CgroupError::Write {
        file: file.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// Moves process `pid` into every leaf; verify with `/proc/<pid>/cgroup`.
pub fn join(cgroup: &CreatedCgroup, pid: i32) -> Result<(), CgroupError> {
    for leaf in &cgroup.leaves {
        write_file(&leaf.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// The processes in `leaf`.
pub fn members(leaf: &Path) -> Vec<i32> {
    std::fs::read_to_string(leaf.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Kills every member of every leaf (SIGKILL), waits until they are gone
/// (at most `timeout`), then removes the directories this cgroup created,
/// deepest first. Safe to call twice and on a half-created cgroup.
pub fn remove(cgroup: &CreatedCgroup, timeout: Duration) -> Result<(), CgroupError> {
    let started = Instant::now();
    for leaf in &cgroup.leaves {
        loop {
            let pids = members(leaf);
            if pids.is_empty() {
                break;
            }
            if started.elapsed() > timeout {
                return Err(CgroupError::Busy {
                    path: leaf.clone(),
                    pids,
                    waited: started.elapsed(),
                });
            }
            for pid in pids {
                // Members of our own cgroup only: the processes we put there
                // and their descendants.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    remove_directories(&cgroup.created);
    Ok(())
}

/// Removes `created` deepest first; a directory that is gone already is
/// fine, one still in use (shared parent) is left.
fn remove_directories(created: &[PathBuf]) {
    let mut ordered: Vec<&PathBuf> = created.iter().collect();
    ordered.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    for directory in ordered {
        let _ = std::fs::remove_dir(directory);
    }
}
