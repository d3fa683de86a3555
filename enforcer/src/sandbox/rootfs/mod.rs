//! The sandbox's own root filesystem (`NormalFilesystem.root`): planned by
//! the parent, built by the child in its private mount namespace, entered
//! with `pivot_root`.
//!
//! - [`plan`]: the pure plan (the standard set, the decision's mounts,
//!   masks and read-only paths as a step list) and its labels;
//! - [`build`]: the child's allocation-free executor;
//! - [`idmap`]: idmapped bind mounts, prepared by the parent before the
//!   clone (the child in a user namespace may not make them);
//! - [`sys`]: the raw mount-API system calls;
//! - here: the facts the parent reads from the host for the plan, the
//!   errors, and the message for a failed step.

pub mod build;
pub mod idmap;
pub mod plan;
pub mod sys;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::libc;
use policy_model::normal::NormalFilesystem;

use crate::cgroup::{CgroupLayout, CreatedCgroup};
use crate::sandbox::child::{ChildError, Stage};

pub use plan::{HostFacts, Namespaces, PlannedRootfs, RootfsPlan, Step, plan_rootfs};

/// Why the root cannot be planned (before anything starts).
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A path is not absolute and normal.
    #[error("{field}: {path:?} must be an absolute path without empty, `.` or `..` components")]
    Path {
        /// The field.
        field: String,
        /// The path.
        path: String,
    },
    /// A decision mount cannot be applied.
    #[error("mounts[{index}] (at {destination}): {why}")]
    Mount {
        /// Its index.
        index: usize,
        /// Its destination.
        destination: String,
        /// Why.
        why: String,
    },
    /// A string holds a NUL byte.
    #[error("{what} contains a NUL byte")]
    Nul {
        /// Which string.
        what: String,
    },
    /// A root without a new mount namespace.
    #[error("root: a root of the sandbox's own needs a new mount namespace (namespaces: mount)")]
    NoMountNamespace,
    /// No directory to stage the new root on.
    #[error("root: no directory to stage the new root on (tried {tried})")]
    NoStaging {
        /// The candidates.
        tried: String,
    },
    /// Preparing an idmapped mount failed.
    #[error(transparent)]
    Idmap(#[from] idmap::IdmapError),
}

/// What a step of the root is, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// A decision mount.
    Mount {
        /// Its index in the decision's `mounts`.
        index: usize,
        /// Its type (`bind` for a bind mount).
        kind: String,
        /// Its destination.
        destination: String,
        /// Its source.
        source: String,
    },
    /// A mount or entry of the enforcer's standard set.
    Standard {
        /// Where.
        destination: String,
        /// What (`tmpfs`, `bind of the host's /sys`, `symlink to ...`).
        what: String,
    },
    /// A masked path.
    Masked(String),
    /// A read-only path.
    Readonly(String),
}

impl Label {
    /// The path inside the root the step works on.
    pub fn destination(&self) -> &str {
        match self {
            Label::Mount { destination, .. } | Label::Standard { destination, .. } => destination,
            Label::Masked(path) | Label::Readonly(path) => path,
        }
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Mount {
                index,
                kind,
                destination,
                source,
            } => write!(
                f,
                "mount {index} ({kind} at {destination}, source {source})"
            ),
            Label::Standard { destination, what } => {
                write!(f, "the standard {destination} ({what})")
            }
            Label::Masked(path) => write!(f, "maskedPaths {path}"),
            Label::Readonly(path) => write!(f, "readonlyPaths {path}"),
        }
    }
}

/// Where the staging tmpfs may go when the root is the host's `/`.
const STAGING: &[&str] = &["/tmp", "/mnt", "/run", "/var/tmp", "/opt", "/srv"];

/// Reads what the plan of `filesystem` needs from the host: where to stage
/// the root, the device nodes present, which bind sources are files, and
/// the sandbox's cgroup directories (from `cgroup`, on its layout).
pub fn read_facts(
    filesystem: &NormalFilesystem,
    cgroup: Option<(&CreatedCgroup, &CgroupLayout)>,
) -> Result<HostFacts, RootfsError> {
    let Some(root) = &filesystem.root else {
        return Ok(HostFacts::default());
    };
    let real_directory =
        |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_dir());
    let own = (root.path != "/").then(|| PathBuf::from(&root.path));
    let candidates: Vec<PathBuf> = own
        .into_iter()
        .chain(STAGING.iter().map(PathBuf::from))
        .collect();
    let staging = candidates
        .iter()
        .find(|path| real_directory(path))
        .cloned()
        .ok_or_else(|| RootfsError::NoStaging {
            tried: candidates
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let device_nodes = plan::DEVICE_NODES
        .iter()
        .filter(|(name, ..)| {
            std::fs::symlink_metadata(Path::new("/dev").join(name))
                .is_ok_and(|meta| meta.file_type().is_char_device())
        })
        .map(|(name, ..)| name.to_string())
        .collect();
    let file_sources = filesystem
        .mounts
        .iter()
        .filter(|mount| mount.is_bind())
        .filter_map(|mount| mount.source.clone())
        .filter(|source| std::fs::metadata(source).is_ok_and(|meta| !meta.is_dir()))
        .collect();
    let mut cgroups = BTreeMap::new();
    if let Some((created, layout)) = cgroup {
        cgroups = cgroup_directories(created, layout);
    }
    let mut cgroup_links = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(CGROUP_MOUNT) {
        for entry in entries.flatten() {
            let (Ok(name), Ok(link)) = (
                entry.file_name().into_string(),
                std::fs::read_link(entry.path()),
            ) else {
                continue;
            };
            let link = link.display().to_string();
            if cgroups.contains_key(&link) {
                cgroup_links.insert(name, link);
            }
        }
    }
    Ok(HostFacts {
        staging,
        device_nodes,
        file_sources,
        cgroups,
        cgroup_links,
        idmapped: BTreeMap::new(),
    })
}

const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// The sandbox's cgroup per directory under `/sys/fs/cgroup` (`""` when a
/// hierarchy is mounted there itself).
pub fn cgroup_directories(
    created: &CreatedCgroup,
    layout: &CgroupLayout,
) -> BTreeMap<String, PathBuf> {
    let base = Path::new(CGROUP_MOUNT);
    let mut directories = BTreeMap::new();
    for leaf in &created.leaves {
        let Some(hierarchy) = layout
            .v1
            .iter()
            .chain(&layout.v2)
            .filter(|hierarchy| leaf.starts_with(&hierarchy.mount_point))
            .max_by_key(|hierarchy| hierarchy.mount_point.as_os_str().len())
        else {
            continue;
        };
        let point = &hierarchy.mount_point;
        if point == base {
            directories.insert(String::new(), leaf.clone());
        } else if point.parent() == Some(base)
            && let Some(name) = point.file_name().and_then(|name| name.to_str())
        {
            directories.insert(name.to_string(), leaf.clone());
        }
    }
    directories
}

/// The message for a failed root step (`record.stage` is one of the
/// root's stages), with `root` the root's path on the host.
pub fn describe(record: &ChildError, labels: &[Label], root: &str) -> String {
    let detail = record.detail;
    let label = || {
        labels
            .get(detail as usize)
            .map_or_else(|| format!("root step {detail}"), Label::to_string)
    };
    match record.stage {
        Stage::Mount => label(),
        Stage::MountTarget => {
            let destination = labels
                .get(detail as usize)
                .map(Label::destination)
                .unwrap_or_default();
            match record.errno {
                libc::ELOOP => format!(
                    "{}: the destination {destination} leads through a symlink{}; destinations are resolved inside the root without following symlinks",
                    label(),
                    symlink_on_the_way(root, destination)
                        .map(|(path, link)| format!(" ({path} -> {})", link.display()))
                        .unwrap_or_default()
                ),
                libc::ENOENT => format!(
                    "{}: the destination {destination} does not exist, and no mount point is created in the host's own root",
                    label()
                ),
                libc::EROFS => format!(
                    "{}: the destination {destination} does not exist, and the sandbox's root is read-only, so it cannot be created",
                    label()
                ),
                _ => format!("{}: cannot open the destination {destination}", label()),
            }
        }
        Stage::NewRoot => match detail {
            build::new_root::STAGING => {
                "cannot mount the private staging tmpfs for the new root".into()
            }
            build::new_root::DIRECTORIES | build::new_root::PIVOT => {
                "cannot enter the private staging tmpfs for the new root".into()
            }
            build::new_root::CLONE => {
                format!("root.path {root}: cannot bind-mount it as the new root")
            }
            build::new_root::READONLY => format!("root.path {root}: cannot make it read-only"),
            _ => format!("root.path {root}: cannot attach it as the new root"),
        },
        Stage::PivotRoot => match detail {
            build::pivot::ENTER => "cannot enter the new root".into(),
            build::pivot::PIVOT => "cannot pivot_root into the new root".into(),
            _ => "cannot detach the old root after pivot_root".into(),
        },
        _ => label(),
    }
}

/// What the kernel says about a new filesystem's options that it refused
/// (`tmpfs: Bad value for 'size'`): the parent replays the step's
/// `fsopen`/`fsconfig` calls, mounting nothing, and reads the message the
/// kernel logged on the context. `None` for other steps or when the replay
/// succeeds.
pub fn kernel_message(step: &Step) -> Option<String> {
    let Step::Filesystem {
        fstype,
        source,
        options,
        ..
    } = step
    else {
        return None;
    };
    // SAFETY: NUL-terminated strings of the plan; the descriptor is ours.
    let context = unsafe { sys::fs_open(fstype.as_ptr()) }.ok()?;
    // SAFETY: as above.
    let context = unsafe { std::os::fd::OwnedFd::from_raw_fd(context) };
    let fd = context.as_raw_fd();
    // SAFETY: NUL-terminated keys and values of the plan.
    let refused = unsafe {
        sys::fs_config(
            fd,
            sys::FSCONFIG_SET_STRING,
            c"source".as_ptr(),
            source.as_ptr(),
        )
        .and_then(|()| {
            options.iter().try_for_each(|option| match &option.value {
                Some(value) => sys::fs_config(
                    fd,
                    sys::FSCONFIG_SET_STRING,
                    option.key.as_ptr(),
                    value.as_ptr(),
                ),
                None => sys::fs_config(
                    fd,
                    sys::FSCONFIG_SET_FLAG,
                    option.key.as_ptr(),
                    std::ptr::null(),
                ),
            })
        })
        .is_err()
    };
    if !refused {
        return None;
    }
    let mut buffer = [0u8; 256];
    let read = nix::unistd::read(&context, &mut buffer).ok()?;
    let text = String::from_utf8_lossy(&buffer[..read]);
    // "e tmpfs: Bad value for 'size'": the error lines start with "e ".
    text.strip_prefix("e ")
        .map(|message| crate::printable::escape_message(message.trim()).into_owned())
}

/// The first symlink on the way to `destination` in the host directory
/// `root`, and what it points to.
fn symlink_on_the_way(root: &str, destination: &str) -> Option<(String, PathBuf)> {
    let mut inside = PathBuf::from("/");
    for component in destination.split('/').filter(|part| !part.is_empty()) {
        inside.push(component);
        let on_host = Path::new(root).join(inside.strip_prefix("/").ok()?);
        if let Ok(link) = std::fs::read_link(&on_host) {
            return Some((inside.display().to_string(), link));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_mount_its_source_and_destination() {
        let label = Label::Mount {
            index: 3,
            kind: "tmpfs".into(),
            destination: "/tmp".into(),
            source: "tmpfs".into(),
        };
        let record = ChildError {
            stage: Stage::Mount,
            detail: 0,
            errno: libc::ENOENT,
        };
        assert_eq!(
            describe(&record, &[label], "/"),
            "mount 3 (tmpfs at /tmp, source tmpfs)"
        );
    }

    #[test]
    fn a_symlinked_destination_names_the_link_and_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/etc", dir.path().join("evil")).expect("symlink");
        let label = Label::Mount {
            index: 0,
            kind: "tmpfs".into(),
            destination: "/evil/x".into(),
            source: "tmpfs".into(),
        };
        let record = ChildError {
            stage: Stage::MountTarget,
            detail: 0,
            errno: libc::ELOOP,
        };
        let message = describe(&record, &[label], &dir.path().display().to_string());
        assert!(message.contains("(/evil -> /etc)"), "{message}");
        assert!(
            message.starts_with("mount 0 (tmpfs at /evil/x, source tmpfs): "),
            "{message}"
        );
    }

    #[test]
    fn cgroup_directories_are_named_after_their_mount_points() {
        let layout = crate::cgroup::discovery::parse_layout(
            "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t1\t1\n",
        );
        let created = CreatedCgroup {
            created: vec![],
            leaves: vec![
                PathBuf::from("/sys/fs/cgroup/memory/r/job"),
                PathBuf::from("/sys/fs/cgroup/unified/r/job"),
            ],
        };
        let directories = cgroup_directories(&created, &layout);
        assert_eq!(
            directories.keys().collect::<Vec<_>>(),
            ["memory", "unified"],
            "{layout:?}"
        );
    }
}
