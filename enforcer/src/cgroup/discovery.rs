//! Where each controller lives: read from `/proc/self/mountinfo`,
//! `/proc/cgroups` and the v2 root's `cgroup.controllers`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use policy_sdk::CgroupMode;

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `false` for a v1 hierarchy, `true` for cgroup2.
    pub unified: bool,
    /// Controllers on it: those co-mounted on a v1 hierarchy, or those the
    /// v2 root offers (`cgroup.controllers`).
    pub controllers: Vec<String>,
    /// On cgroup2, the controllers the root enables for its children
    /// (`cgroup.subtree_control`); empty on v1.
    pub enabled: Vec<String>,
    /// A v1 named hierarchy (`name=systemd`), if any.
    pub name: Option<String>,
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
    /// Enabled in the kernel but mounted nowhere (and not offered by v2).
    Unmounted,
    /// Disabled in the kernel (`cgroup_disable=` or not built).
    Disabled,
}

/// Everything discovery learned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLayout {
    /// Mounted v1 hierarchies, controllers and named ones.
    pub v1: Vec<Hierarchy>,
    /// The cgroup2 mount, if any.
    pub v2: Option<Hierarchy>,
    /// Controllers the kernel knows, with their `enabled` flag from
    /// `/proc/cgroups`.
    pub kernel_controllers: Vec<(String, bool)>,
}

/// Reads the layout of this host.
pub fn discover() -> CgroupLayout {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let proc_cgroups = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    let mut layout = parse_layout(&mountinfo, &proc_cgroups);
    if let Some(v2) = &mut layout.v2 {
        v2.controllers = read_words(&v2.mount_point.join("cgroup.controllers"));
        v2.enabled = read_words(&v2.mount_point.join("cgroup.subtree_control"));
    }
    layout
}

/// Parses mountinfo and `/proc/cgroups`; the v2 root's controllers are left
/// empty (they live in a file under the mount point).
pub fn parse_layout(mountinfo: &str, proc_cgroups: &str) -> CgroupLayout {
    let mut layout = CgroupLayout {
        kernel_controllers: parse_proc_cgroups(proc_cgroups),
        ..CgroupLayout::default()
    };
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let mount_point = PathBuf::from(unescape_mount_path(mount_point));
        let mut fields = right.split_whitespace();
        let fstype = fields.next();
        let options = fields.nth(1).unwrap_or("");
        match fstype {
            Some("cgroup2") if layout.v2.is_none() => {
                layout.v2 = Some(Hierarchy {
                    mount_point,
                    unified: true,
                    controllers: Vec::new(),
                    enabled: Vec::new(),
                    name: None,
                });
            }
            Some("cgroup") => {
                let known: BTreeSet<&str> = layout
                    .kernel_controllers
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect();
                let controllers = options
                    .split(',')
                    .filter(|option| known.contains(option))
                    .map(String::from)
                    .collect();
                let name = options
                    .split(',')
                    .find_map(|option| option.strip_prefix("name="))
                    .map(String::from);
                // The same hierarchy may be mounted twice; keep the first.
                let hierarchy = Hierarchy {
                    mount_point,
                    unified: false,
                    controllers,
                    enabled: Vec::new(),
                    name,
                };
                let duplicate = layout.v1.iter().any(|existing| {
                    existing.controllers == hierarchy.controllers && existing.name == hierarchy.name
                });
                if !duplicate {
                    layout.v1.push(hierarchy);
                }
            }
            _ => {}
        }
    }
    layout
}

/// `(name, enabled)` for each row of `/proc/cgroups`.
pub fn parse_proc_cgroups(text: &str) -> Vec<(String, bool)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, _hierarchy, _count, enabled] = fields.as_slice() else {
                return None;
            };
            Some((name.to_string(), *enabled == "1"))
        })
        .collect()
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
    /// Pure v1, pure v2, hybrid or unknown.
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
        if let Some(hierarchy) = self
            .v1
            .iter()
            .find(|hierarchy| hierarchy.controllers.iter().any(|name| name == controller))
        {
            return ControllerState::V1(hierarchy.mount_point.clone());
        }
        if let Some(v2) = &self.v2
            && v2.controllers.iter().any(|name| name == controller)
        {
            return if v2.enabled.iter().any(|name| name == controller) {
                ControllerState::V2(v2.mount_point.clone())
            } else {
                ControllerState::V2NotEnabled(v2.mount_point.clone())
            };
        }
        match self
            .kernel_controllers
            .iter()
            .find(|(name, _)| name == controller)
        {
            Some((_, true)) => ControllerState::Unmounted,
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
    fn this_host_is_discovered() {
        let layout = discover();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert_eq!(layout.v2.is_some(), mountinfo.contains(" - cgroup2 "));
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
