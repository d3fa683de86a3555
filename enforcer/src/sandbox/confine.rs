//! Checks on the cgroups a sandbox's state records, made before anything
//! is written, read or killed there: every recorded directory (those it
//! created and its leaves) must lie below `<hierarchy mount>/<cgroup
//! root>/` of a hierarchy this host has mounted, be written without `.`,
//! `..` or empty components, and, where it exists, be a directory of a
//! cgroup filesystem (`statfs` magic `CGROUP_SUPER_MAGIC` or
//! `CGROUP2_SUPER_MAGIC`), not a symlink. The cgroup root is the state's
//! own (`cgroupRoot`), itself one plain directory name.
//!
//! Below a cgroupfs mount only root can make or rename directories and
//! nobody can make symlinks, so a path that passes stays what it was
//! checked to be.
//!
//! A recorded process is the sandbox's only if it is in the sandbox's
//! cgroups ([`holds_process`]): that binds the pid (and through it the
//! namespaces to join) to the cgroups the enforcer made.

use std::path::{Component, Path, PathBuf};

use crate::cgroup::{CgroupLayout, CreatedCgroup};

/// A recorded cgroup the enforcer will not touch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfineError {
    /// The recorded cgroup root is not one plain directory name.
    #[error(
        "the recorded cgroup root {0:?} is not one directory name of A-Z, a-z, 0-9, '-', '_' and '.'"
    )]
    Root(String),
    /// The path is outside every `<mount>/<root>/`.
    #[error(
        "refusing the recorded cgroup {path}: it is not below the cgroup root {root:?} of any cgroup hierarchy of this host ({allowed})"
    )]
    Outside {
        /// The path.
        path: PathBuf,
        /// The cgroup root.
        root: String,
        /// `<mount>/<root>/` of each hierarchy.
        allowed: String,
    },
    /// The path has `.`, `..`, `//` or is relative.
    #[error(
        "refusing the recorded cgroup {0}: it must be an absolute path without '.', '..' or '//'"
    )]
    NotCanonical(PathBuf),
    /// The path exists but is not a cgroupfs directory.
    #[error("refusing the recorded cgroup {path}: {why}")]
    NotCgroup {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
}

/// Whether `root` is one plain directory name, as `--cgroup-root` takes it.
pub fn is_valid_root(root: &str) -> bool {
    !root.is_empty()
        && root != "."
        && root != ".."
        && root
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Checks every directory `record` names, against `root` on `layout`.
pub fn check(
    record: &CreatedCgroup,
    root: &str,
    layout: &CgroupLayout,
) -> Result<(), ConfineError> {
    if !is_valid_root(root) {
        return Err(ConfineError::Root(root.to_string()));
    }
    let bases: Vec<PathBuf> = layout
        .v1
        .iter()
        .filter(|hierarchy| !hierarchy.controllers.is_empty())
        .chain(layout.v2.iter())
        .map(|hierarchy| hierarchy.mount_point.join(root))
        .collect();
    for (path, leaf) in record
        .created
        .iter()
        .map(|path| (path, false))
        .chain(record.leaves.iter().map(|path| (path, true)))
    {
        check_path(path, leaf, root, &bases)?;
    }
    Ok(())
}

/// One path: canonical, below a base (a leaf strictly below; a created
/// directory may be the root itself, made by the first sandbox), and a
/// cgroupfs directory if it exists.
fn check_path(path: &Path, leaf: bool, root: &str, bases: &[PathBuf]) -> Result<(), ConfineError> {
    if !is_canonical(path) {
        return Err(ConfineError::NotCanonical(path.to_path_buf()));
    }
    let inside = bases
        .iter()
        .any(|base| path.starts_with(base) && (!leaf || path != base));
    if !inside {
        return Err(ConfineError::Outside {
            path: path.to_path_buf(),
            root: root.to_string(),
            allowed: bases
                .iter()
                .map(|base| format!("{}/", base.display()))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    is_cgroup_directory(path)
}

/// Absolute, and nothing but normal components (`Path::components`
/// silently drops `.` and repeated `/`, so the text is compared too).
fn is_canonical(path: &Path) -> bool {
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return false;
    }
    let mut rebuilt = PathBuf::from("/");
    for component in components {
        match component {
            Component::Normal(name) => rebuilt.push(name),
            _ => return false,
        }
    }
    rebuilt.as_os_str() == path.as_os_str()
}

/// A missing directory is fine (nothing to touch there); an existing one
/// must be a real directory on cgroupfs.
fn is_cgroup_directory(path: &Path) -> Result<(), ConfineError> {
    crate::cgroup::cgroupfs::check_directory(path)
        .map(|_| ())
        .map_err(|why| ConfineError::NotCgroup {
            path: path.to_path_buf(),
            why: why.to_string(),
        })
}

/// Whether process `pid` is in every leaf of `record`, as its
/// `/proc/<pid>/cgroup` shows (a record without leaves holds nothing).
pub fn holds_process(record: &CreatedCgroup, layout: &CgroupLayout, pid: i32) -> bool {
    let Ok(text) = crate::linux::proc::read_proc_cgroup(pid) else {
        return false;
    };
    let memberships = crate::cgroup::parse_proc_cgroup(&text);
    !record.leaves.is_empty()
        && record
            .leaves
            .iter()
            .all(|leaf| crate::cgroup::membership::confirm(layout, &memberships, leaf).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::discovery::parse_layout;

    fn layout() -> CgroupLayout {
        parse_layout(
            "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\nmemory\t4\t1\t1\n",
        )
    }

    fn record(created: &[&str], leaves: &[&str]) -> CreatedCgroup {
        CreatedCgroup {
            created: created.iter().map(PathBuf::from).collect(),
            leaves: leaves.iter().map(PathBuf::from).collect(),
        }
    }

    #[test]
    fn paths_must_lie_below_the_root_of_a_hierarchy() {
        // Missing directories pass the cgroupfs check: nothing to touch.
        let fine = record(
            &[
                "/sys/fs/cgroup/memory/enforcer-test-confine",
                "/sys/fs/cgroup/memory/enforcer-test-confine/sandboxes/a",
            ],
            &[
                "/sys/fs/cgroup/memory/enforcer-test-confine/sandboxes/a",
                "/sys/fs/cgroup/unified/enforcer-test-confine/sandboxes/a",
            ],
        );
        assert_eq!(check(&fine, "enforcer-test-confine", &layout()), Ok(()));
        for (bad, needle) in [
            (
                "/sys/fs/cgroup/memory/elsewhere/a",
                "not below the cgroup root",
            ),
            (
                "/sys/fs/cgroup/systemd/enforcer-test-confine/a",
                "not below",
            ),
            ("/tmp/enforcer-test-confine/a", "not below"),
            (
                "/sys/fs/cgroup/memory/enforcer-test-confine/../x",
                "without '.', '..'",
            ),
            ("/sys/fs/cgroup/memory/enforcer-test-confine//a", "'//'"),
            ("/sys/fs/cgroup/memory/enforcer-test-confine/./a", "'.'"),
            ("sys/fs/cgroup/memory/enforcer-test-confine/a", "absolute"),
            ("/sys/fs/cgroup/memory/enforcer-test-confine", "not below"),
        ] {
            let error =
                check(&record(&[], &[bad]), "enforcer-test-confine", &layout()).expect_err(bad);
            assert!(error.to_string().contains(needle), "{bad}: {error}");
        }
        let error = check(&fine, "../x", &layout()).expect_err("a bad root");
        assert!(
            error.to_string().contains("cgroup root \"../x\""),
            "{error}"
        );
    }

    #[test]
    fn an_existing_directory_must_be_cgroupfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mount = dir.path().join("memory");
        let leaf = mount.join("enforcer").join("a");
        std::fs::create_dir_all(&leaf).expect("mkdir");
        let layout = parse_layout(
            &format!(
                "34 30 0:30 / {} rw - cgroup cgroup rw,memory\n",
                mount.display()
            ),
            "memory\t4\t1\t1\n",
        );
        let error = check(
            &record(&[], &[leaf.to_str().expect("utf-8")]),
            "enforcer",
            &layout,
        )
        .expect_err("tmpfs is not cgroupfs");
        assert!(
            error.to_string().contains("not on a cgroup filesystem"),
            "{error}"
        );
        let link = mount.join("enforcer").join("b");
        std::os::unix::fs::symlink(&leaf, &link).expect("symlink");
        let error = check(
            &record(&[], &[link.to_str().expect("utf-8")]),
            "enforcer",
            &layout,
        )
        .expect_err("a symlink");
        assert!(error.to_string().contains("symbolic link"), "{error}");
    }
}
