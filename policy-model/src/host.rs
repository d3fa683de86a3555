//! Facts about the machine a decision is checked against.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How the host's cgroup hierarchies are laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Only cgroup v1 hierarchies.
    V1,
    /// Only the unified cgroup v2 hierarchy.
    V2,
    /// v1 hierarchies plus cgroup2 (usually at `/sys/fs/cgroup/unified`).
    Hybrid,
    /// The enforcer could not tell.
    #[default]
    #[serde(other)]
    Unknown,
}

/// Facts about the machine, filled in by the enforcer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    /// The cgroup layout.
    #[serde(default)]
    pub cgroup_mode: CgroupMode,
    /// Controllers mounted and usable (`memory`, `pids`, `hugetlb`, ...):
    /// mounted v1 controllers and the v2 controllers enabled for the
    /// cgroup2 root's children.
    #[serde(default)]
    pub controllers: Vec<String>,
    /// Which of `controllers` are on the cgroup2 hierarchy (the rest are
    /// on v1 hierarchies): what tells them apart on a hybrid host. On a
    /// pure v2 host every controller is on cgroup2 and on a pure v1 host
    /// none, whatever this says. Absent means none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v2_controllers: Vec<String>,
    /// Number of online CPUs.
    #[serde(default)]
    pub cpus: u32,
    /// Total memory in bytes (`MemTotal`).
    #[serde(default)]
    pub memory_bytes: u64,
    /// Hugepage sizes the kernel supports, OCI notation (`"2MB"`, `"1GB"`).
    #[serde(default)]
    pub hugepage_sizes: Vec<String>,
    /// Pages reserved in each hugepage pool (`nr_hugepages`), by size.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hugepage_pools: BTreeMap<String, u64>,
    /// Character device majors by driver name, from `/proc/devices`
    /// (`"nvidia-uvm": 510`), for drivers with dynamic majors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub char_devices: BTreeMap<String, u32>,
    /// `uname -r`.
    #[serde(default)]
    pub kernel_release: String,
}

impl Host {
    /// Whether the host offers the cgroup controller `name` to sandboxes
    /// (it is in [`Host::controllers`]): the guard for a limit that needs
    /// it, e.g. `hugetlb` for hugepage limits.
    pub fn has_controller(&self, name: &str) -> bool {
        self.controllers.iter().any(|controller| controller == name)
    }

    /// Whether the host supports hugepages of `page_size` (OCI notation).
    pub fn has_hugepage_size(&self, page_size: &str) -> bool {
        self.hugepage_sizes.iter().any(|size| size == page_size)
    }
}

/// A hybrid host with the usual controllers, 4 CPUs, 8 GiB, 2MB and 1GB
/// hugepages: the host unit tests of policies and of the model start from.
pub fn typical_host() -> Host {
    Host {
        cgroup_mode: CgroupMode::Hybrid,
        controllers: [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
        ]
        .map(String::from)
        .to_vec(),
        v2_controllers: Vec::new(),
        cpus: 4,
        memory_bytes: 8 * crate::units::GIB,
        hugepage_sizes: vec!["2MB".into(), "1GB".into()],
        hugepage_pools: [("2MB".to_string(), 512), ("1GB".to_string(), 2)].into(),
        char_devices: Default::default(),
        kernel_release: "6.1.0".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_uses_camel_case() {
        let host = Host {
            cgroup_mode: CgroupMode::Hybrid,
            memory_bytes: 1,
            hugepage_sizes: vec!["2MB".into()],
            ..Host::default()
        };
        let json = serde_json::to_string(&host).expect("serializes");
        assert!(json.contains(r#""cgroupMode":"hybrid""#), "{json}");
        assert!(json.contains(r#""memoryBytes":1"#), "{json}");
        assert!(json.contains(r#""hugepageSizes":["2MB"]"#), "{json}");
    }
}
