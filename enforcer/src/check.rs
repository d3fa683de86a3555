//! `enforcer check`: what this host offers and whether `run` can work here,
//! gathered into one report (like `lxc-checkconfig` or `docker info`).

use std::path::Path;

use policy_sdk::NamespaceType;
use serde::Serialize;

use crate::cgroup::{CgroupLayout, ControllerState, discover};

/// Capabilities `run` needs when not root: (name, bit).
const NEEDED_CAPABILITIES: [(&str, u32); 5] = [
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SETUID", 7),
    ("CAP_SETGID", 6),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_KILL", 5),
];

/// Everything `check` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    /// `uname -r`.
    pub kernel_release: String,
    /// `v1`, `v2`, `hybrid` or `unknown`.
    pub cgroup_mode: policy_sdk::CgroupMode,
    /// One row per controller the kernel knows.
    pub controllers: Vec<ControllerRow>,
    /// The namespace types and whether the kernel offers them.
    pub namespaces: Vec<NamespaceRow>,
    /// Hugepage sizes and their pools.
    pub hugepages: Vec<HugepageRow>,
    /// Whether this process can do what `run` needs.
    pub privileges: Privileges,
}

/// One controller.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerRow {
    /// Controller name.
    pub name: String,
    /// `v1`, `v2` or absent.
    pub version: Option<&'static str>,
    /// Where its hierarchy is mounted.
    pub mount_point: Option<String>,
    /// `mounted` (v1), `available` (v2, enabled at the root),
    /// `not-enabled` (v2, offered but not in the root's subtree_control),
    /// `unmounted` or `disabled`.
    pub state: &'static str,
}

/// One namespace type.
#[derive(Debug, Clone, Serialize)]
pub struct NamespaceRow {
    /// OCI name.
    #[serde(rename = "type")]
    pub kind: NamespaceType,
    /// Whether `/proc/self/ns/<name>` exists.
    pub available: bool,
}

/// One hugepage size.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HugepageRow {
    /// OCI notation.
    pub page_size: String,
    /// Pages reserved in the pool.
    pub pool_pages: u64,
}

/// The process's privileges.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Privileges {
    /// Effective uid.
    pub euid: u32,
    /// Needed capabilities missing from the effective set.
    pub missing_capabilities: Vec<&'static str>,
    /// Whether `run` can work (root, or every needed capability).
    pub sufficient: bool,
}

/// Gathers the report from this host.
pub fn gather() -> HostReport {
    let layout = discover();
    let host = crate::host::detect_with(&layout);
    let proc_status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    HostReport {
        kernel_release: host.kernel_release.clone(),
        cgroup_mode: layout.mode(),
        controllers: controller_rows(&layout),
        namespaces: NamespaceType::ALL
            .iter()
            .map(|&kind| NamespaceRow {
                kind,
                available: Path::new("/proc/self/ns").join(kind.proc_name()).exists(),
            })
            .collect(),
        hugepages: host
            .hugepage_sizes
            .iter()
            .map(|size| HugepageRow {
                page_size: size.clone(),
                pool_pages: host.hugepage_pools.get(size).copied().unwrap_or(0),
            })
            .collect(),
        privileges: privileges(
            nix::unistd::geteuid().as_raw(),
            effective_caps(&proc_status),
        ),
    }
}

/// One row per controller of `/proc/cgroups`, in its order.
pub fn controller_rows(layout: &CgroupLayout) -> Vec<ControllerRow> {
    layout
        .kernel_controllers
        .iter()
        .map(|(name, _)| {
            let (version, mount_point, state) = match layout.controller_state(name) {
                ControllerState::V1(path) => (Some("v1"), Some(path), "mounted"),
                ControllerState::V2(path) => (Some("v2"), Some(path), "available"),
                ControllerState::V2NotEnabled(path) => (Some("v2"), Some(path), "not-enabled"),
                ControllerState::Unmounted => (None, None, "unmounted"),
                ControllerState::Disabled => (None, None, "disabled"),
            };
            ControllerRow {
                name: name.clone(),
                version,
                mount_point: mount_point.map(|path| path.display().to_string()),
                state,
            }
        })
        .collect()
}

/// The `CapEff` mask from `/proc/<pid>/status`.
pub fn effective_caps(status: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// Whether this process has capability `number` in its effective set.
pub fn has_capability(number: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    effective_caps(&status) & (1 << number) != 0
}

/// Which needed capabilities `cap_eff` lacks, and whether that matters.
pub fn privileges(euid: u32, cap_eff: u64) -> Privileges {
    let missing: Vec<&'static str> = NEEDED_CAPABILITIES
        .iter()
        .filter(|(_, bit)| cap_eff & (1 << bit) == 0)
        .map(|(name, _)| *name)
        .collect();
    Privileges {
        euid,
        sufficient: missing.is_empty(),
        missing_capabilities: missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_read_from_status() {
        assert_eq!(
            effective_caps("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            0x1ff_ffff_ffff
        );
        let root = privileges(0, 0x1ff_ffff_ffff);
        assert!(root.sufficient && root.missing_capabilities.is_empty());
        let nobody = privileges(65534, 0);
        assert!(!nobody.sufficient);
        assert_eq!(nobody.missing_capabilities.len(), NEEDED_CAPABILITIES.len());
    }

    #[test]
    fn this_host_report_matches_the_kernel() {
        let report = gather();
        let proc_cgroups = std::fs::read_to_string("/proc/cgroups").expect("readable");
        assert_eq!(
            report.controllers.len(),
            proc_cgroups.lines().filter(|l| !l.starts_with('#')).count()
        );
        for row in &report.controllers {
            if let Some(mount) = &row.mount_point {
                assert!(Path::new(mount).exists(), "{row:?}");
            }
        }
        let pid = report
            .namespaces
            .iter()
            .find(|row| row.kind == NamespaceType::Pid)
            .expect("pid");
        assert!(pid.available);
    }
}
