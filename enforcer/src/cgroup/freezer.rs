//! Freezing and thawing a sandbox's cgroup: v2 `cgroup.freeze` where the
//! unified hierarchy holds the sandbox, else the v1 freezer's
//! `freezer.state`. A frozen cgroup's processes make no progress and cannot
//! fork, which is what makes killing every member race-free.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::apply::{CgroupError, CreatedCgroup, read_key, read_nofollow, write_nofollow};

/// Which freezer interface a leaf offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freezer {
    /// cgroup v2 `cgroup.freeze` (Linux 5.2), in this leaf.
    V2(PathBuf),
    /// The v1 freezer controller's `freezer.state`, in this leaf.
    V1(PathBuf),
}

impl Freezer {
    /// The freezer of `cgroup`: v2 if its unified leaf has `cgroup.freeze`,
    /// else v1 if it has a freezer leaf.
    pub fn of(cgroup: &CreatedCgroup) -> Option<Freezer> {
        let v2 = cgroup
            .leaves
            .iter()
            .find(|leaf| leaf.join("cgroup.freeze").exists())
            .map(|leaf| Freezer::V2(leaf.clone()));
        v2.or_else(|| {
            cgroup
                .leaves
                .iter()
                .find(|leaf| leaf.join("freezer.state").exists())
                .map(|leaf| Freezer::V1(leaf.clone()))
        })
    }

    /// Freezes and waits (at most `timeout`) until every member is frozen.
    pub fn freeze(&self, timeout: Duration) -> Result<(), CgroupError> {
        match self {
            Freezer::V2(leaf) => {
                write(leaf, "cgroup.freeze", "1")?;
                wait(leaf, "FROZEN", timeout, |leaf| {
                    read_key(&leaf.join("cgroup.events"), "frozen") == Some(1)
                })
            }
            Freezer::V1(leaf) => {
                write(leaf, "freezer.state", "FROZEN")?;
                wait(leaf, "FROZEN", timeout, |leaf| {
                    v1_state(leaf).as_deref() == Some("FROZEN")
                })
            }
        }
    }

    /// Thaws: the members run again.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self {
            Freezer::V2(leaf) => write(leaf, "cgroup.freeze", "0"),
            Freezer::V1(leaf) => write(leaf, "freezer.state", "THAWED"),
        }
    }

    /// Whether this freezer's file exists.
    fn exists(&self) -> bool {
        match self {
            Freezer::V2(leaf) => leaf.join("cgroup.freeze").exists(),
            Freezer::V1(leaf) => leaf.join("freezer.state").exists(),
        }
    }

    /// Whether a freeze is asked for, complete or not (v2 `cgroup.freeze`
    /// is 1; v1 state `FROZEN` or `FREEZING`): one read of one file.
    fn is_held(&self) -> bool {
        match self {
            Freezer::V2(leaf) => {
                read_nofollow(&leaf.join("cgroup.freeze")).is_ok_and(|text| text.trim() == "1")
            }
            Freezer::V1(leaf) => v1_state(leaf).is_some_and(|state| state != "THAWED"),
        }
    }

    /// Whether the cgroup is frozen now.
    pub fn is_frozen(&self) -> bool {
        match self {
            Freezer::V2(leaf) => read_key(&leaf.join("cgroup.events"), "frozen") == Some(1),
            Freezer::V1(leaf) => v1_state(leaf).as_deref() == Some("FROZEN"),
        }
    }
}

/// Freezes `cgroup` with whichever freezer it has.
pub fn freeze(cgroup: &CreatedCgroup, timeout: Duration) -> Result<(), CgroupError> {
    match Freezer::of(cgroup) {
        Some(freezer) => freezer.freeze(timeout),
        None => Err(no_freezer(cgroup)),
    }
}

/// Thaws every freezer among `leaves`, v1 and v2, that holds its cgroup.
pub fn thaw_all(leaves: &[&PathBuf]) -> Result<(), CgroupError> {
    for leaf in leaves {
        for freezer in [
            Freezer::V1(leaf.to_path_buf()),
            Freezer::V2(leaf.to_path_buf()),
        ] {
            if freezer.is_held() {
                freezer.thaw()?;
            }
        }
    }
    Ok(())
}

/// Whether any of `leaves` is frozen, or `None` where none has a freezer.
pub fn any_frozen(leaves: &[PathBuf]) -> Option<bool> {
    let mut found = None;
    for leaf in leaves {
        for freezer in [Freezer::V1(leaf.clone()), Freezer::V2(leaf.clone())] {
            if freezer.exists() {
                found = Some(found.unwrap_or(false) || freezer.is_frozen());
            }
        }
    }
    found
}

fn no_freezer(cgroup: &CreatedCgroup) -> CgroupError {
    CgroupError::NoFreezer {
        path: cgroup.leaves.first().cloned().unwrap_or_default(),
    }
}

fn v1_state(leaf: &Path) -> Option<String> {
    read_nofollow(&leaf.join("freezer.state"))
        .ok()
        .map(|text| text.trim().to_string())
}

fn write(leaf: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let file = leaf.join(file);
    write_nofollow(&file, value).map_err(|source| CgroupError::Write {
        file,
        value: value.to_string(),
        err: source,
    })
}

fn wait(
    leaf: &Path,
    state: &'static str,
    timeout: Duration,
    reached: impl Fn(&Path) -> bool,
) -> Result<(), CgroupError> {
    let started = Instant::now();
    while !reached(leaf) {
        if started.elapsed() >= timeout {
            return Err(CgroupError::Freeze {
                path: leaf.to_path_buf(),
                state,
                waited: started.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    Ok(())
}
