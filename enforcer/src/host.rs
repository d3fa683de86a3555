//! Facts about this machine that the enforcer puts in `request.host`.
//! Read from procfs and sysfs only; each fact that cannot be read is left
//! empty rather than failing the request.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use policy_sdk::units::format_page_size;
use policy_sdk::{CgroupMode, Host};

/// Reads the host facts from `/proc` and `/sys`.
pub fn detect() -> Host {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let cgroups = cgroup_mounts(&mountinfo);
    let (hugepage_sizes, hugepage_pools) = hugepages(Path::new("/sys/kernel/mm/hugepages"));
    Host {
        cgroup_mode: cgroups.mode(),
        controllers: cgroups.controllers().into_iter().collect(),
        cpus: online_cpus(),
        memory_bytes: std::fs::read_to_string("/proc/meminfo")
            .map(|text| mem_total(&text))
            .unwrap_or(0),
        hugepage_sizes,
        hugepage_pools,
        char_devices: std::fs::read_to_string("/proc/devices")
            .map(|text| char_devices(&text))
            .unwrap_or_default(),
        kernel_release: nix::sys::utsname::uname()
            .map(|uts| uts.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The cgroup filesystems mounted on this host.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// v1 mounts: mount point and the controllers on it.
    pub v1: Vec<(String, Vec<String>)>,
    /// The cgroup2 mount point, if any.
    pub v2: Option<String>,
}

impl CgroupMounts {
    /// The layout these mounts make.
    pub fn mode(&self) -> CgroupMode {
        let has_v1 = self
            .v1
            .iter()
            .any(|(_, controllers)| !controllers.is_empty());
        match (has_v1, &self.v2) {
            (true, Some(_)) => CgroupMode::Hybrid,
            (true, None) => CgroupMode::V1,
            (false, Some(_)) => CgroupMode::V2,
            (false, None) => CgroupMode::Unknown,
        }
    }

    /// Every controller usable somewhere: v1 controllers plus those the v2
    /// root offers.
    pub fn controllers(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = self
            .v1
            .iter()
            .flat_map(|(_, controllers)| controllers.iter().cloned())
            .collect();
        if let Some(root) = &self.v2 {
            let offered = std::fs::read_to_string(Path::new(root).join("cgroup.controllers"))
                .unwrap_or_default();
            all.extend(offered.split_whitespace().map(String::from));
        }
        all
    }
}

/// Parses `/proc/self/mountinfo` for cgroup and cgroup2 mounts.
pub fn cgroup_mounts(mountinfo: &str) -> CgroupMounts {
    let mut mounts = CgroupMounts::default();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let mut fields = right.split_whitespace();
        let (fstype, _source, options) =
            (fields.next(), fields.next(), fields.next().unwrap_or(""));
        match fstype {
            Some("cgroup2") => {
                mounts.v2.get_or_insert_with(|| mount_point.to_string());
            }
            Some("cgroup") => {
                let controllers = options
                    .split(',')
                    .filter(|option| {
                        !option.contains('=')
                            && ![
                                "rw",
                                "ro",
                                "nosuid",
                                "nodev",
                                "noexec",
                                "relatime",
                                "clone_children",
                                "xattr",
                                "noprefix",
                                "cpuset_v2_mode",
                                "favordynmods",
                            ]
                            .contains(option)
                    })
                    .map(String::from)
                    .collect();
                mounts.v1.push((mount_point.to_string(), controllers));
            }
            _ => {}
        }
    }
    mounts
}

fn online_cpus() -> u32 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .and_then(|count| u32::try_from(count).ok())
        .unwrap_or(0)
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Hugepage sizes (OCI notation) and pool sizes from
/// `/sys/kernel/mm/hugepages/hugepages-<N>kB/nr_hugepages`.
pub fn hugepages(dir: &Path) -> (Vec<String>, BTreeMap<String, u64>) {
    let mut sizes = Vec::new();
    let mut pools = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (sizes, pools);
    };
    let mut found: Vec<(u64, String)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(kib) = name
            .strip_prefix("hugepages-")
            .and_then(|rest| rest.strip_suffix("kB"))
            .and_then(|number| number.parse::<u64>().ok())
        else {
            continue;
        };
        let size = format_page_size(kib * 1024);
        let pages = std::fs::read_to_string(entry.path().join("nr_hugepages"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        pools.insert(size.clone(), pages);
        found.push((kib, size));
    }
    found.sort();
    sizes.extend(found.into_iter().map(|(_, size)| size));
    (sizes, pools)
}

/// Character device majors by driver name, from `/proc/devices`.
pub fn char_devices(devices: &str) -> BTreeMap<String, u32> {
    devices
        .lines()
        .skip_while(|line| !line.starts_with("Character devices:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty() && !line.starts_with("Block devices:"))
        .filter_map(|line| {
            let (major, name) = line.trim().split_once(' ')?;
            Some((name.trim().to_string(), major.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory
";

    #[test]
    fn detects_hybrid_layout_and_controllers() {
        let mounts = cgroup_mounts(HYBRID);
        assert_eq!(mounts.mode(), CgroupMode::Hybrid);
        assert_eq!(mounts.v2.as_deref(), Some("/sys/fs/cgroup/unified"));
        assert_eq!(
            mounts.v1[0].1,
            Vec::<String>::new(),
            "name=systemd is no controller"
        );
        assert_eq!(
            mounts.v1[1],
            (
                "/sys/fs/cgroup/cpu,cpuacct".into(),
                vec!["cpu".into(), "cpuacct".into()]
            )
        );
    }

    #[test]
    fn detects_pure_layouts() {
        let v2 = "31 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup_mounts(v2).mode(), CgroupMode::V2);
        let v1 = "34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert_eq!(cgroup_mounts(v1).mode(), CgroupMode::V1);
        assert_eq!(cgroup_mounts("").mode(), CgroupMode::Unknown);
    }

    #[test]
    fn parses_meminfo_and_devices() {
        assert_eq!(
            mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            16384 * 1024
        );
        let devices = "Character devices:\n  1 mem\n195 nvidia-frontend\n510 nvidia-uvm\n\nBlock devices:\n  8 sd\n";
        let majors = char_devices(devices);
        assert_eq!(majors.get("nvidia-uvm"), Some(&510));
        assert_eq!(majors.get("mem"), Some(&1));
        assert!(!majors.contains_key("sd"));
    }

    #[test]
    fn reads_this_hosts_facts() {
        let host = detect();
        assert!(host.cpus >= 1);
        assert!(host.memory_bytes > 0);
        assert!(!host.kernel_release.is_empty());
    }
}
