//! Where each controller lives: read from `/proc/self/mountinfo`,
//! `/proc/cgroups` and the v2 root's `cgroup.controllers`.
//!
//! Only a cgroup mount that path lookup reaches is a hierarchy. A mount
//! that a later mount covers (one stacked on it at the same mount point, or
//! mounted over a directory above it) is not: a `mkdir` at its path lands
//! on whatever covers it. [`parse_layout`] resolves every cgroup mount's
//! path the way the kernel walks it (from the root mount down through each
//! mount's children, by the parent ids of mountinfo; where two children
//! sit at the same point, the later one in mountinfo order is on top) and
//! keeps the covered ones apart as [`Shadowed`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use policy_sdk::CgroupMode;

/// The version of a cgroup hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// A v1 hierarchy (`cgroup`): one or more co-mounted controllers, or a
    /// named one.
    V1,
    /// The unified hierarchy (`cgroup2`).
    V2,
}

impl Version {
    /// `v1` or `v2`, as messages and `check` name it.
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The directory of the hierarchy mounted there (mountinfo's root
    /// field, `/` unless a subtree was mounted), as `/proc/<pid>/cgroup`
    /// names cgroups.
    pub root: PathBuf,
    /// Whether it is a v1 hierarchy or cgroup2.
    pub version: Version,
    /// Controllers on it: those co-mounted on a v1 hierarchy, or those the
    /// v2 root offers (`cgroup.controllers`).
    pub controllers: Vec<String>,
    /// On cgroup2, the controllers the root enables for its children
    /// (`cgroup.subtree_control`); empty on v1.
    pub enabled: Vec<String>,
    /// A v1 named hierarchy (`name=systemd`), if any.
    pub name: Option<String>,
}

impl Hierarchy {
    /// Whether `other` is the same hierarchy (mounted elsewhere): cgroup2
    /// is one hierarchy; a v1 one is known by its controllers and name.
    pub fn same_as(&self, other: &Hierarchy) -> bool {
        match (self.version, other.version) {
            (Version::V2, Version::V2) => true,
            (Version::V1, Version::V1) => {
                self.controllers == other.controllers && self.name == other.name
            }
            _ => false,
        }
    }

    /// `cgroup2`, or the v1 controllers and name as mount options
    /// (`cpu,cpuacct`, `name=systemd`).
    pub fn describe(&self) -> String {
        if self.version == Version::V2 {
            return "cgroup2".into();
        }
        let mut parts = self.controllers.clone();
        parts.extend(self.name.iter().map(|name| format!("name={name}")));
        format!("cgroup v1 {}", parts.join(","))
    }
}

/// A cgroup mount that another mount covers: nothing below its mount point
/// reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    /// The covered hierarchy (a covered cgroup2's controllers are unknown:
    /// its `cgroup.controllers` cannot be read).
    pub hierarchy: Hierarchy,
    /// The mount that path lookup of its mount point ends in instead.
    pub covered_by: Cover,
}

/// The mount covering a [`Shadowed`] one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    /// Where it is mounted (the covered mount point or a directory above).
    pub mount_point: PathBuf,
    /// Its filesystem type (`tmpfs`).
    pub fstype: String,
    /// Its source (`none`).
    pub source: String,
}

/// The state of one controller on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerState {
    /// On a v1 hierarchy mounted at this path.
    V1(PathBuf),
    /// Offered by the cgroup2 root at this path and enabled for its
    /// children (`cgroup.subtree_control`).
    V2(PathBuf),
    /// Offered by the cgroup2 root at this path but not enabled in its
    /// `cgroup.subtree_control`, so no child cgroup can use it.
    V2NotEnabled(PathBuf),
    /// Its hierarchy is mounted at `mount_point` but covered by a mount at
    /// `covered_by`, and mounted nowhere else: unusable from here. (A
    /// controller bound to no v1 hierarchy is taken to be on a covered
    /// cgroup2 when that is the only cgroup2 mount.)
    Shadowed {
        /// The covered mount point.
        mount_point: PathBuf,
        /// The mount point of what covers it.
        covered_by: PathBuf,
    },
    /// Enabled in the kernel but mounted nowhere (and not offered by v2).
    Unmounted,
    /// Disabled in the kernel (`cgroup_disable=` or not built).
    Disabled,
}

pub use crate::linux::proc::{KernelController, parse_proc_cgroups};

/// Everything discovery learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// Mounted v1 hierarchies, controllers and named ones.
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 mount, if any.
    pub v2: Option<Hierarchy>,
    /// Cgroup mounts that other mounts cover (and that are not reachable at
    /// another mount point); never used.
    pub shadowed: Vec<Shadowed>,
    /// Controllers the kernel knows (`/proc/cgroups`), in its order.
    pub kernel_controllers: Vec<KernelController>,
}

/// Reads the layout of this host.
pub fn discover() -> CgroupLayout {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let proc_cgroups = crate::linux::proc::read_proc_cgroups().unwrap_or_default();
    let mut layout = parse_layout(&mountinfo, &proc_cgroups);
    if let Some(v2) = &mut layout.v2 {
        v2.controllers = read_words(&v2.mount_point.join("cgroup.controllers"));
        v2.enabled = read_words(&v2.mount_point.join("cgroup.subtree_control"));
    }
    layout
}

/// Parses mountinfo and `/proc/cgroups`; the v2 root's controllers are left
/// empty (they live in a file under the mount point). Of several visible
/// mounts of one hierarchy the first is kept.
pub fn parse_layout(mountinfo: &str, proc_cgroups: &str) -> CgroupLayout {
    let mut layout = CgroupLayout {
        kernel_controllers: parse_proc_cgroups(proc_cgroups),
        ..CgroupLayout::default()
    };
    let known: BTreeSet<&str> = layout
        .kernel_controllers
        .iter()
        .map(|row| row.name.as_str())
        .collect();
    let mounts = parse_mountinfo(mountinfo);
    let tree = MountTree::new(&mounts);
    let mut shadowed = Vec::new();
    for (index, mount) in mounts.iter().enumerate() {
        let Some(hierarchy) = cgroup_hierarchy(mount, &known) else {
            continue;
        };
        match tree.reached(&mount.mount_point) {
            Some(top) if top != index => {
                let cover = &mounts[top];
                shadowed.push(Shadowed {
                    hierarchy,
                    covered_by: Cover {
                        mount_point: cover.mount_point.clone(),
                        fstype: cover.fstype.clone(),
                        source: cover.source.clone(),
                    },
                });
            }
            // Reached, or a fragment without its root mount: taken as is.
            _ if hierarchy.version == Version::V2 => {
                if layout.v2.is_none() {
                    layout.v2 = Some(hierarchy);
                }
            }
            _ => {
                if !layout
                    .v1
                    .iter()
                    .any(|existing| existing.same_as(&hierarchy))
                {
                    layout.v1.push(hierarchy);
                }
            }
        }
    }
    for covered in shadowed {
        let visible = layout
            .v1
            .iter()
            .chain(layout.v2.iter())
            .any(|hierarchy| hierarchy.same_as(&covered.hierarchy));
        let listed = layout
            .shadowed
            .iter()
            .any(|other| other.hierarchy.same_as(&covered.hierarchy));
        if !visible && !listed {
            layout.shadowed.push(covered);
        }
    }
    layout
}

/// The hierarchy a `cgroup` or `cgroup2` mount holds (v2 controllers
/// empty); `None` for any other filesystem.
fn cgroup_hierarchy(mount: &MountEntry, known: &BTreeSet<&str>) -> Option<Hierarchy> {
    let options = mount.super_options.split(',');
    let (version, controllers, name) = match mount.fstype.as_str() {
        "cgroup2" => (Version::V2, Vec::new(), None),
        "cgroup" => (
            Version::V1,
            options
                .clone()
                .filter(|option| known.contains(option))
                .map(String::from)
                .collect(),
            options
                .clone()
                .find_map(|option| option.strip_prefix("name="))
                .map(String::from),
        ),
        _ => return None,
    };
    Some(Hierarchy {
        mount_point: mount.mount_point.clone(),
        root: mount.root.clone(),
        version,
        controllers,
        enabled: Vec::new(),
        name,
    })
}

/// One line of `/proc/<pid>/mountinfo` (see proc(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The mount's id.
    pub id: u32,
    /// The id of the mount it is mounted on (its own id, or one not listed,
    /// for the root of the namespace or of a chroot).
    pub parent: u32,
    /// The directory of the filesystem mounted here.
    pub root: PathBuf,
    /// Where it is mounted, relative to the reader's root.
    pub mount_point: PathBuf,
    /// The filesystem type.
    pub fstype: String,
    /// The mount source.
    pub source: String,
    /// The superblock options (a v1 hierarchy's controllers).
    pub super_options: String,
}

/// Parses mountinfo, in its order; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut fields = left.split_whitespace();
            let id = fields.next()?.parse().ok()?;
            let parent = fields.next()?.parse().ok()?;
            let _device = fields.next()?;
            let root = PathBuf::from(unescape_mount_path(fields.next()?));
            let mount_point = PathBuf::from(unescape_mount_path(fields.next()?));
            let mut fields = right.split_whitespace();
            Some(MountEntry {
                id,
                parent,
                root,
                mount_point,
                fstype: fields.next()?.to_string(),
                source: unescape_mount_path(fields.next().unwrap_or("")),
                super_options: fields.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The index of the mount in which path lookup of `path` ends, walking
/// from the root mount down: at each mount, the child lying on the way to
/// `path` at the shallowest mount point is crossed into (a child at the
/// mount's own mount point is stacked on it); of two children at the same
/// point the later one is on top. `None` when no parentless mount holds
/// `path` (a fragment of mountinfo).
pub fn reached(mounts: &[MountEntry], path: &Path) -> Option<usize> {
    MountTree::new(mounts).reached(path)
}

/// The mounts of mountinfo as a tree, by parent id.
struct MountTree<'a> {
    /// Each mount's mount point, as bytes, and its depth in components.
    points: Vec<(&'a [u8], usize)>,
    /// Each mount's children, in mountinfo order.
    children: Vec<Vec<usize>>,
    /// The mounts whose parent is not listed (or is themselves).
    roots: Vec<usize>,
}

impl<'a> MountTree<'a> {
    fn new(mounts: &'a [MountEntry]) -> MountTree<'a> {
        use std::os::unix::ffi::OsStrExt;
        let mut by_id = std::collections::HashMap::with_capacity(mounts.len());
        for (index, mount) in mounts.iter().enumerate() {
            by_id.entry(mount.id).or_insert(index);
        }
        let mut children = vec![Vec::new(); mounts.len()];
        let mut roots = Vec::new();
        for (index, mount) in mounts.iter().enumerate() {
            match by_id.get(&mount.parent) {
                Some(&parent) if parent != index => children[parent].push(index),
                _ => roots.push(index),
            }
        }
        let points = mounts
            .iter()
            .map(|mount| {
                let bytes = mount.mount_point.as_os_str().as_bytes();
                let depth = bytes.iter().filter(|&&byte| byte == b'/').count();
                (bytes, if bytes == b"/" { 0 } else { depth })
            })
            .collect();
        MountTree {
            points,
            children,
            roots,
        }
    }

    fn reached(&self, path: &Path) -> Option<usize> {
        use std::os::unix::ffi::OsStrExt;
        let path = path.as_os_str().as_bytes();
        // On the way to `path`: fewest components first, the later mount on
        // a tie.
        let first_crossing = |candidates: &[usize]| {
            candidates
                .iter()
                .copied()
                .filter(|&index| lies_below(path, self.points[index].0))
                .min_by_key(|&index| (self.points[index].1, std::cmp::Reverse(index)))
        };
        let mut current = first_crossing(&self.roots)?;
        // Each step goes one mount up a stack or down the tree; a cycle in
        // malformed input (duplicated ids) ends after as many steps as
        // there are mounts.
        for _ in 0..self.points.len() {
            match first_crossing(&self.children[current]) {
                Some(next) => current = next,
                None => break,
            }
        }
        Some(current)
    }
}

/// Whether `path` is `mount_point` or below it (both canonical, as
/// mountinfo writes them).
fn lies_below(path: &[u8], mount_point: &[u8]) -> bool {
    mount_point == b"/"
        || path == mount_point
        || (path.starts_with(mount_point) && path.get(mount_point.len()) == Some(&b'/'))
}

fn read_words(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(index) = rest.find('\\') {
        out.push_str(&rest[..index]);
        let code = rest.get(index + 1..index + 4);
        match code.and_then(|digits| u8::from_str_radix(digits, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[index + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[index + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl CgroupLayout {
    /// Pure v1, pure v2, hybrid or unknown, counting only the hierarchies
    /// that are reachable.
    pub fn mode(&self) -> CgroupMode {
        let has_v1 = self
            .v1
            .iter()
            .any(|hierarchy| !hierarchy.controllers.is_empty());
        match (has_v1, self.v2.is_some()) {
            (true, true) => CgroupMode::Hybrid,
            (true, false) => CgroupMode::V1,
            (false, true) => CgroupMode::V2,
            (false, false) => CgroupMode::Unknown,
        }
    }

    /// Where `controller` can be used. A controller on a v1 hierarchy is
    /// not available on v2 (the kernel binds it to one hierarchy).
    pub fn controller_state(&self, controller: &str) -> ControllerState {
        let holds =
            |hierarchy: &Hierarchy| hierarchy.controllers.iter().any(|name| name == controller);
        if let Some(hierarchy) = self.v1.iter().find(|hierarchy| holds(hierarchy)) {
            return ControllerState::V1(hierarchy.mount_point.clone());
        }
        if let Some(v2) = &self.v2
            && holds(v2)
        {
            return if v2.enabled.iter().any(|name| name == controller) {
                ControllerState::V2(v2.mount_point.clone())
            } else {
                ControllerState::V2NotEnabled(v2.mount_point.clone())
            };
        }
        let shadowed = |covered: &Shadowed| ControllerState::Shadowed {
            mount_point: covered.hierarchy.mount_point.clone(),
            covered_by: covered.covered_by.mount_point.clone(),
        };
        if let Some(covered) = self
            .shadowed
            .iter()
            .find(|covered| holds(&covered.hierarchy))
        {
            return shadowed(covered);
        }
        let row = self
            .kernel_controllers
            .iter()
            .find(|row| row.name == controller);
        match row {
            Some(row) if row.enabled => {
                let covered_v2 = self
                    .shadowed
                    .iter()
                    .find(|covered| covered.hierarchy.version == Version::V2);
                match covered_v2 {
                    Some(covered) if self.v2.is_none() && row.hierarchy == 0 => shadowed(covered),
                    _ => ControllerState::Unmounted,
                }
            }
            _ => ControllerState::Disabled,
        }
    }

    /// Every controller a sandbox cgroup can use (mounted on v1, or offered
    /// and enabled by the v2 root), sorted.
    pub fn usable_controllers(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .v1
            .iter()
            .flat_map(|hierarchy| hierarchy.controllers.iter().cloned())
            .collect();
        if let Some(v2) = &self.v2 {
            names.extend(
                v2.controllers
                    .iter()
                    .filter(|name| v2.enabled.contains(name))
                    .cloned(),
            );
        }
        names.into_iter().collect()
    }

    /// The reachable hierarchy whose mount point `directory` lies below
    /// (the deepest such mount point), with the cgroup's path as
    /// `/proc/<pid>/cgroup` names it (the mount's root joined with the
    /// rest).
    pub fn locate(&self, directory: &Path) -> Option<(&Hierarchy, PathBuf)> {
        let hierarchy = self
            .v1
            .iter()
            .chain(self.v2.iter())
            .filter(|hierarchy| directory.starts_with(&hierarchy.mount_point))
            .max_by_key(|hierarchy| hierarchy.mount_point.components().count())?;
        let relative = directory.strip_prefix(&hierarchy.mount_point).ok()?;
        Some((hierarchy, hierarchy.root.join(relative)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_CGROUPS: &str = "\
#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
cpu	1	1	1
cpuacct	2	1	1
blkio	7	1	1
memory	4	45	1
devices	5	1	1
freezer	6	1	1
net_cls	0	1	1
perf_event	0	1	1
net_prio	0	1	1
hugetlb	0	1	1
pids	8	1	1
rdma	0	1	0
";

    const HYBRID: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/my\\040cpuset rw,nosuid shared:14 - cgroup cgroup rw,cpuset,clone_children
";

    /// The top of a real mountinfo: the root, `/sys`, the cgroup tmpfs.
    const TOP: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
";

    fn hybrid_with(lines: &[&str]) -> CgroupLayout {
        parse_layout(&format!("{TOP}{HYBRID}{}", lines.join("\n")), PROC_CGROUPS)
    }

    fn shadowed(layout: &CgroupLayout) -> Vec<(String, String)> {
        layout
            .shadowed
            .iter()
            .map(|covered| {
                (
                    covered.hierarchy.mount_point.display().to_string(),
                    format!(
                        "{} at {}",
                        covered.covered_by.fstype,
                        covered.covered_by.mount_point.display()
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn hybrid_layout() {
        let mut layout = parse_layout(HYBRID, PROC_CGROUPS);
        assert_eq!(layout.mode(), CgroupMode::Hybrid);
        assert_eq!(layout.v1.len(), 4);
        assert_eq!(layout.v1[0].name.as_deref(), Some("systemd"));
        assert!(layout.v1[0].controllers.is_empty());
        assert_eq!(layout.v1[1].controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            layout.v1[3].mount_point,
            PathBuf::from("/sys/fs/cgroup/my cpuset")
        );
        assert!(layout.shadowed.is_empty());
        let v2 = layout.v2.as_mut().expect("v2");
        v2.controllers = vec!["hugetlb".into(), "pids".into()];
        v2.enabled = vec!["hugetlb".into()];
        assert_eq!(
            layout.controller_state("cpuacct"),
            ControllerState::V1("/sys/fs/cgroup/cpu,cpuacct".into())
        );
        assert_eq!(
            layout.controller_state("hugetlb"),
            ControllerState::V2("/sys/fs/cgroup/unified".into())
        );
        assert_eq!(
            layout.controller_state("net_cls"),
            ControllerState::Unmounted
        );
        assert_eq!(layout.controller_state("rdma"), ControllerState::Disabled);
        assert_eq!(
            layout.controller_state("nonsense"),
            ControllerState::Disabled
        );
    }

    #[test]
    fn pure_layouts() {
        let v2 = "31 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(parse_layout(v2, PROC_CGROUPS).mode(), CgroupMode::V2);
        let v1 = "34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  35 30 0:30 / /mnt/memory-again rw - cgroup cgroup rw,memory\n";
        let layout = parse_layout(v1, PROC_CGROUPS);
        assert_eq!(layout.mode(), CgroupMode::V1);
        assert_eq!(layout.v1.len(), 1, "a hierarchy mounted twice counts once");
        assert_eq!(parse_layout("", "").mode(), CgroupMode::Unknown);
    }

    #[test]
    fn a_full_mountinfo_has_nothing_shadowed() {
        let layout = hybrid_with(&[]);
        assert_eq!(layout.mode(), CgroupMode::Hybrid);
        assert!(layout.v2.is_some());
        assert_eq!(layout.v1.len(), 4);
        assert!(layout.shadowed.is_empty(), "{:?}", layout.shadowed);
    }

    #[test]
    fn a_mount_stacked_on_a_hierarchy_covers_it() {
        // `mount -t tmpfs none /sys/fs/cgroup/unified`: mounted on the
        // cgroup2 mount's root, so its parent is the cgroup2 mount.
        let layout =
            hybrid_with(&["90 31 0:50 / /sys/fs/cgroup/unified rw,relatime - tmpfs none rw"]);
        assert_eq!(layout.v2, None, "the covered cgroup2 is not a hierarchy");
        assert_eq!(layout.mode(), CgroupMode::V1);
        assert_eq!(
            shadowed(&layout),
            [(
                "/sys/fs/cgroup/unified".to_string(),
                "tmpfs at /sys/fs/cgroup/unified".to_string()
            )]
        );
        // hugetlb is bound to no v1 hierarchy: its home is the covered v2.
        assert_eq!(
            layout.controller_state("hugetlb"),
            ControllerState::Shadowed {
                mount_point: "/sys/fs/cgroup/unified".into(),
                covered_by: "/sys/fs/cgroup/unified".into()
            }
        );
        assert_eq!(
            layout.controller_state("memory"),
            ControllerState::V1("/sys/fs/cgroup/memory".into())
        );
    }

    #[test]
    fn a_mount_over_a_parent_directory_covers_everything_below() {
        // `mount -t tmpfs none /sys/fs/cgroup`: stacked on the cgroup tmpfs,
        // so every hierarchy below it is out of reach.
        let layout = hybrid_with(&["90 30 0:50 / /sys/fs/cgroup rw - tmpfs other rw"]);
        assert_eq!(layout.mode(), CgroupMode::Unknown);
        assert!(layout.v1.is_empty() && layout.v2.is_none());
        assert_eq!(layout.shadowed.len(), 5);
        assert!(
            shadowed(&layout)
                .iter()
                .all(|(_, cover)| cover == "tmpfs at /sys/fs/cgroup")
        );
        assert_eq!(
            layout.controller_state("memory"),
            ControllerState::Shadowed {
                mount_point: "/sys/fs/cgroup/memory".into(),
                covered_by: "/sys/fs/cgroup".into()
            }
        );
        // A mount on /sys itself (stacked on sysfs) covers them as well.
        let layout = hybrid_with(&["90 23 0:50 / /sys rw - tmpfs other rw"]);
        assert_eq!(layout.shadowed.len(), 5);
        assert!(
            shadowed(&layout)
                .iter()
                .all(|(_, cover)| cover == "tmpfs at /sys")
        );
        // A mount at /sys/fs, a child of sysfs beside /sys/fs/cgroup's
        // tmpfs at a shallower point, hides the tmpfs and all below it.
        let layout = hybrid_with(&["90 23 0:50 / /sys/fs rw - tmpfs other rw"]);
        assert_eq!(layout.shadowed.len(), 5);
    }

    #[test]
    fn a_new_hierarchy_mounted_over_the_old_one_is_used() {
        // A fresh cgroup tmpfs with the same hierarchies mounted again on
        // top (as a container runtime does): the upper mounts are reached,
        // and nothing is missing.
        let layout = hybrid_with(&[
            "90 30 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw",
            "91 90 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
            "92 90 0:27 /sandboxes/a /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
        ]);
        assert!(
            layout
                .shadowed
                .iter()
                .all(|covered| covered.hierarchy.version == Version::V1
                    && covered.hierarchy.controllers != ["memory"]),
            "{:?}",
            layout.shadowed
        );
        let v2 = layout.v2.as_ref().expect("the upper cgroup2");
        assert_eq!(v2.root, PathBuf::from("/sandboxes/a"));
        assert_eq!(
            layout.controller_state("memory"),
            ControllerState::V1("/sys/fs/cgroup/memory".into())
        );
        // The others are covered, and say by what.
        assert_eq!(shadowed(&layout).len(), 3);
        assert_eq!(
            layout.locate(Path::new("/sys/fs/cgroup/unified/enforcer/x")),
            Some((v2, PathBuf::from("/sandboxes/a/enforcer/x")))
        );
    }

    #[test]
    fn order_decides_between_two_mounts_at_one_point() {
        // Two children of one mount at the same mount point (older kernels'
        // propagation could make them): the later one is on top.
        let layout = hybrid_with(&["90 30 0:50 / /sys/fs/cgroup/memory rw - tmpfs late rw"]);
        // The tmpfs is a sibling of memory (parent 30) at the same point,
        // and later: it covers memory.
        assert_eq!(
            shadowed(&layout),
            [(
                "/sys/fs/cgroup/memory".to_string(),
                "tmpfs at /sys/fs/cgroup/memory".to_string()
            )]
        );
        // Listed before memory, the same tmpfs is under it.
        let text = format!(
            "{TOP}30 23 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
             90 30 0:50 / /sys/fs/cgroup/memory rw - tmpfs early rw\n\
             34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        );
        let layout = parse_layout(&text, PROC_CGROUPS);
        assert!(layout.shadowed.is_empty());
        assert_eq!(layout.v1.len(), 1);
    }

    #[test]
    fn parent_ids_decide_over_order() {
        // `mount --move` of an older tmpfs onto the cgroup2 mount point:
        // listed before the cgroup2 mount, but mounted on it (parent 31).
        let text = format!(
            "{TOP}30 23 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
             29 31 0:50 / /sys/fs/cgroup/unified rw - tmpfs moved rw\n\
             31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        );
        let layout = parse_layout(&text, PROC_CGROUPS);
        assert_eq!(layout.v2, None);
        assert_eq!(layout.shadowed.len(), 1);
        // A mount below a hierarchy (a child of it at a deeper path) does
        // not cover the hierarchy itself.
        let layout = hybrid_with(&["91 34 0:51 / /sys/fs/cgroup/memory/sub rw - tmpfs t rw"]);
        assert!(layout.shadowed.is_empty());
        assert_eq!(
            layout.controller_state("memory"),
            ControllerState::V1("/sys/fs/cgroup/memory".into())
        );
    }

    #[test]
    fn a_hierarchy_still_reachable_elsewhere_is_not_shadowed() {
        let layout = hybrid_with(&[
            "90 22 0:30 / /mnt/memory rw - cgroup cgroup rw,memory",
            "91 34 0:50 / /sys/fs/cgroup/memory rw - tmpfs t rw",
        ]);
        assert!(layout.shadowed.is_empty(), "{:?}", layout.shadowed);
        assert_eq!(
            layout.controller_state("memory"),
            ControllerState::V1("/mnt/memory".into())
        );
    }

    #[test]
    fn a_chroot_fragment_is_taken_as_is() {
        // No parentless mount holds the path: nothing can be judged.
        let mounts = parse_mountinfo("34 30 0:30 / /a rw - cgroup cgroup rw,memory\n");
        assert_eq!(reached(&mounts, Path::new("/b")), None);
        assert_eq!(reached(&mounts, Path::new("/a/x")), Some(0));
        // Malformed input with a duplicated id still resolves.
        let mounts = parse_mountinfo(
            "1 9 0:1 / / rw - ext4 r rw\n2 1 0:2 / / rw - tmpfs a rw\n1 2 0:3 / / rw - tmpfs b rw\n",
        );
        assert!(reached(&mounts, Path::new("/x")).is_some());
    }

    #[test]
    fn mountinfo_lines_parse() {
        let mounts = parse_mountinfo(
            "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\nbroken\n",
        );
        assert_eq!(
            mounts,
            [MountEntry {
                id: 36,
                parent: 35,
                root: "/mnt1".into(),
                mount_point: "/mnt 2".into(),
                fstype: "ext3".into(),
                source: "/dev/root".into(),
                super_options: "rw,errors=continue".into(),
            }]
        );
    }

    #[test]
    fn proc_cgroups_rows_parse() {
        let rows = parse_proc_cgroups(PROC_CGROUPS);
        assert_eq!(rows.len(), 13);
        assert_eq!(
            rows[4],
            KernelController {
                name: "memory".into(),
                hierarchy: 4,
                cgroups: 45,
                enabled: true
            }
        );
        assert!(!rows[12].enabled);
    }

    #[test]
    fn this_host_is_discovered() {
        let layout = discover();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        if layout.shadowed.is_empty() {
            assert_eq!(layout.v2.is_some(), mountinfo.contains(" - cgroup2 "));
        }
        for hierarchy in &layout.v1 {
            assert!(
                hierarchy.mount_point.join("cgroup.procs").exists(),
                "{hierarchy:?}"
            );
        }
        if let Some(v2) = &layout.v2 {
            assert!(v2.mount_point.join("cgroup.controllers").exists());
        }
    }
}
