//! Whether a process's `/proc/<pid>/cgroup` (parsed by
//! [`crate::linux::proc::parse_proc_cgroup`]) puts it in a given cgroup
//! directory of the layout.

use std::path::{Path, PathBuf};

use super::discovery::{CgroupLayout, Hierarchy, Version};
pub use crate::linux::proc::{Membership, parse_proc_cgroup};

/// Whether `line` is the one of `hierarchy`: the cgroup2 line for
/// cgroup2, else the line with the same controllers and name.
pub fn is_line_of(line: &Membership, hierarchy: &Hierarchy) -> bool {
    if hierarchy.version == Version::V2 {
        return line.is_unified();
    }
    let mut expected: Vec<String> = hierarchy.controllers.clone();
    expected.extend(hierarchy.name.iter().map(|name| format!("name={name}")));
    expected.sort();
    let mut listed = line.controllers.clone();
    listed.sort();
    !line.is_unified() && listed == expected
}

/// Why a process's `/proc/<pid>/cgroup` does not put it in a cgroup
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotMember {
    /// The directory is below no reachable hierarchy.
    #[error(
        "it is below no cgroup hierarchy reachable on this host (is its mount covered by another? see enforcer check)"
    )]
    NoHierarchy,
    /// No line names the directory's hierarchy.
    #[error("its /proc/<pid>/cgroup has no line for the hierarchy at {mount_point} ({hierarchy})")]
    NoLine {
        /// The hierarchy's mount point.
        mount_point: PathBuf,
        /// The hierarchy ([`Hierarchy::describe`]).
        hierarchy: String,
    },
    /// The line names another cgroup.
    #[error(
        "the kernel has it in {actual} of the hierarchy at {mount_point} ({hierarchy}), not in {expected}"
    )]
    Elsewhere {
        /// The hierarchy's mount point.
        mount_point: PathBuf,
        /// The hierarchy ([`Hierarchy::describe`]).
        hierarchy: String,
        /// The cgroup the kernel names.
        actual: String,
        /// The directory's cgroup.
        expected: PathBuf,
    },
}

/// Whether `memberships` (one process's `/proc/<pid>/cgroup`) put the
/// process in the cgroup at `directory`, a directory of a reachable
/// hierarchy of `layout`.
pub fn confirm(
    layout: &CgroupLayout,
    memberships: &[Membership],
    directory: &Path,
) -> Result<(), NotMember> {
    let (hierarchy, expected) = layout.locate(directory).ok_or(NotMember::NoHierarchy)?;
    let line = memberships
        .iter()
        .find(|line| is_line_of(line, hierarchy))
        .ok_or_else(|| NotMember::NoLine {
            mount_point: hierarchy.mount_point.clone(),
            hierarchy: hierarchy.describe(),
        })?;
    if Path::new(&line.path) != expected {
        return Err(NotMember::Elsewhere {
            mount_point: hierarchy.mount_point.clone(),
            hierarchy: hierarchy.describe(),
            actual: line.path.clone(),
            expected,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::discovery::parse_layout;

    const PROC_CGROUPS: &str = "cpu\t1\t1\t1\ncpuacct\t1\t1\t1\nmemory\t4\t1\t1\n";

    fn layout() -> CgroupLayout {
        parse_layout(
            "1 0 8:1 / / rw - ext4 /dev/root rw\n\
             30 1 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
             31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
             33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n\
             34 30 0:30 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
            PROC_CGROUPS,
        )
    }

    const MEMBERSHIPS: &str = "\
4:memory:/outer/enforcer/a
3:cpu,cpuacct:/enforcer/a
2:name=systemd:/init.scope
0::/enforcer/b
";

    #[test]
    fn a_directory_is_confirmed_against_its_hierarchy_line() {
        let layout = layout();
        let memberships = parse_proc_cgroup(MEMBERSHIPS);
        let confirm = |directory: &str| confirm(&layout, &memberships, Path::new(directory));
        // cpu,cpuacct listed in another order than mounted.
        assert_eq!(confirm("/sys/fs/cgroup/cpu,cpuacct/enforcer/a"), Ok(()));
        // The mount's root is part of the kernel's path.
        assert_eq!(confirm("/sys/fs/cgroup/memory/enforcer/a"), Ok(()));
        assert_eq!(confirm("/sys/fs/cgroup/systemd/init.scope"), Ok(()));
        let error = confirm("/sys/fs/cgroup/unified/enforcer/a").expect_err("elsewhere");
        assert_eq!(
            error.to_string(),
            "the kernel has it in /enforcer/b of the hierarchy at /sys/fs/cgroup/unified (cgroup2), not in /enforcer/a"
        );
        let error = confirm("/tmp/enforcer/a").expect_err("no hierarchy");
        assert_eq!(error, NotMember::NoHierarchy);
        let only_v1 = parse_proc_cgroup("4:memory:/outer/enforcer/a\n");
        let error = super::confirm(
            &layout,
            &only_v1,
            Path::new("/sys/fs/cgroup/cpu,cpuacct/enforcer/a"),
        )
        .expect_err("no line");
        assert!(
            error.to_string().contains(
                "no line for the hierarchy at /sys/fs/cgroup/cpu,cpuacct (cgroup v1 cpuacct,cpu)"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_covered_hierarchy_confirms_nothing() {
        // The tmpfs over the cgroup2 mount: its directories are no cgroup.
        let mut text = String::from("1 0 8:1 / / rw - ext4 /dev/root rw\n");
        text.push_str("31 1 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
        text.push_str("90 31 0:50 / /sys/fs/cgroup/unified rw - tmpfs none rw\n");
        let layout = parse_layout(&text, PROC_CGROUPS);
        let memberships = parse_proc_cgroup("0::/enforcer/a\n");
        assert_eq!(
            confirm(
                &layout,
                &memberships,
                Path::new("/sys/fs/cgroup/unified/enforcer/a")
            ),
            Err(NotMember::NoHierarchy)
        );
    }
}
