//! Facts about this machine that the enforcer puts in `request.host`.
//! Read from procfs and sysfs only; each fact that cannot be read is left
//! empty rather than failing the request.

use std::collections::BTreeMap;
use std::path::Path;

use policy_sdk::Host;
use policy_sdk::units::format_page_size;

/// Reads the host facts from `/proc` and `/sys`.
pub fn detect() -> Host {
    detect_with(&crate::cgroup::discover())
}

/// Like [`detect`], with the cgroup layout already discovered.
pub fn detect_with(cgroups: &crate::cgroup::CgroupLayout) -> Host {
    let (hugepage_sizes, hugepage_pools) = hugepages(Path::new("/sys/kernel/mm/hugepages"));
    Host {
        cgroup_mode: cgroups.mode(),
        controllers: cgroups.usable_controllers(),
        v2_controllers: v2_controllers(cgroups),
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

/// The usable controllers on the cgroup2 hierarchy (offered and enabled
/// for the root's children), sorted.
fn v2_controllers(cgroups: &crate::cgroup::CgroupLayout) -> Vec<String> {
    let Some(v2) = &cgroups.v2 else {
        return Vec::new();
    };
    let mut names: Vec<String> = v2
        .controllers
        .iter()
        .filter(|name| v2.enabled.contains(name))
        .cloned()
        .collect();
    names.sort();
    names
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
