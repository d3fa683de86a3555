//! `enforcer check`: what this host offers and whether `run` can work here,
//! gathered into one report (like `lxc-checkconfig` or `docker info`).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use policy_sdk::NamespaceType;
use serde::Serialize;

use crate::cgroup::{CgroupLayout, ControllerState, Hierarchy, Version, discover};
use crate::network::networks::{DefaultEgress, Networks};

/// Capabilities `run` needs when not root (numbers from
/// [`crate::linux::CAPABILITIES`]).
const NEEDED_CAPABILITIES: [&str; 5] = [
    "CAP_SYS_ADMIN",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_DAC_OVERRIDE",
    "CAP_KILL",
];

/// Everything `check` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    /// `uname -r`.
    pub kernel_release: String,
    /// `v1`, `v2`, `hybrid` or `unknown`, from the reachable hierarchies.
    pub cgroup_mode: policy_sdk::CgroupMode,
    /// Every reachable cgroup hierarchy: the cgroup2 mount first (listed
    /// even when it holds no controller: device programs attach there and
    /// sandboxes have a cgroup there), then the v1 ones.
    pub hierarchies: Vec<HierarchyRow>,
    /// Cgroup mounts another mount covers: unusable from here.
    pub shadowed_mounts: Vec<ShadowedRow>,
    /// v1 hierarchies the enforcer mounted (`run --mount-controllers`).
    pub enforcer_mounts: Vec<EnforcerMountRow>,
    /// One row per controller the kernel knows.
    pub controllers: Vec<ControllerRow>,
    /// The namespace types, whether the kernel offers them, and their
    /// limits.
    pub namespaces: Vec<NamespaceRow>,
    /// Whether processes without privileges may create user namespaces.
    pub user_namespaces: UserNamespaces,
    /// Hugepage sizes and their pools.
    pub hugepages: Vec<HugepageRow>,
    /// Whether this process can do what `run` needs.
    pub privileges: Privileges,
    /// The operator's networks (`[networks.<name>]` in the config) and
    /// whether each bridge exists.
    pub networks: Vec<NetworkRow>,
    /// Where `nft` is, when some network needs it (its default egress is
    /// not `all`, or it masquerades); absent when none does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nftables: Option<NftablesRow>,
    /// Why the config could not be read (then no network is listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
}

/// One operator network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRow {
    /// Its name.
    pub name: String,
    /// Its bridge.
    pub bridge: String,
    /// Whether the bridge exists in the enforcer's network namespace
    /// (`run` creates it when missing).
    pub bridge_exists: bool,
    /// Its IPv4 block.
    pub subnet: String,
    /// The bridge's address.
    pub gateway: String,
    /// Its IPv6 block, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<String>,
    /// The bridge's IPv6 address, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<String>,
    /// Its default egress: `all`, `none`, or `N rules`.
    pub egress: String,
    /// Whether it masquerades.
    pub masquerade: bool,
}

/// `nft`, which egress rules and masquerading need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NftablesRow {
    /// The networks that need it.
    pub needed_by: Vec<String>,
    /// Where it is (`PATH`, else `/usr/sbin/nft`); absent: not installed.
    pub path: Option<String>,
}

/// One controller.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerRow {
    /// Controller name.
    pub name: String,
    /// `v1`, `v2` or absent.
    pub version: Option<&'static str>,
    /// Where its hierarchy is mounted (for `shadowed`, the covered mount).
    pub mount_point: Option<String>,
    /// `mounted` (v1), `available` (v2, enabled at the root),
    /// `not-enabled` (v2, offered but not in the root's subtree_control),
    /// `shadowed` (its hierarchy's mount is covered by another mount),
    /// `unmounted` or `disabled`.
    pub state: &'static str,
}

/// One reachable cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HierarchyRow {
    /// `v1` or `v2`.
    pub version: &'static str,
    /// Where it is mounted.
    pub mount_point: String,
    /// The directory of the hierarchy mounted there (`/` unless a subtree).
    pub root: String,
    /// Its controllers: co-mounted (v1) or offered by the root (v2).
    pub controllers: Vec<String>,
    /// On v2, the controllers the root enables for its children.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<Vec<String>>,
    /// A v1 named hierarchy (`systemd`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A covered cgroup mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowedRow {
    /// `v1` or `v2`.
    pub version: &'static str,
    /// Where it is mounted.
    pub mount_point: String,
    /// Its controllers (v1; unknown for a covered cgroup2).
    pub controllers: Vec<String>,
    /// A v1 named hierarchy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the mount covering it is mounted.
    pub covered_by: String,
    /// The covering mount's filesystem type.
    pub covered_by_fstype: String,
}

/// A v1 hierarchy the enforcer mounted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnforcerMountRow {
    /// Its controllers (one, as the enforcer mounts them).
    pub controllers: Vec<String>,
    /// Where it is mounted.
    pub mount_point: String,
    /// How many cgroups the hierarchy has, its root included
    /// (`/proc/cgroups`): more than 1 while sandboxes use it.
    pub cgroups: u64,
    /// How to give the controller back.
    pub release: String,
}

/// One namespace type.
#[derive(Debug, Clone, Serialize)]
pub struct NamespaceRow {
    /// OCI name.
    #[serde(rename = "type")]
    pub kind: NamespaceType,
    /// Whether `/proc/self/ns/<name>` exists.
    pub available: bool,
    /// `/proc/sys/user/max_<name>_namespaces`: how many of this type each
    /// user may hold (0: none can be created); absent if unreadable.
    pub max: Option<u64>,
}

/// The knobs that let or stop processes without privileges from creating
/// user namespaces. An absent knob does not restrict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserNamespaces {
    /// Whether a process without privileges may create one.
    pub unprivileged_allowed: bool,
    /// The settings that forbid it (`kernel.unprivileged_userns_clone = 0`).
    pub restricted_by: Vec<String>,
    /// `kernel.unprivileged_userns_clone` (Debian's and Ubuntu's kernels).
    pub unprivileged_userns_clone: Option<i64>,
    /// `kernel.apparmor_restrict_unprivileged_userns` (AppArmor).
    pub apparmor_restrict_unprivileged_userns: Option<i64>,
    /// `user.max_user_namespaces` (0 forbids them to everyone, root too).
    pub max_user_namespaces: Option<u64>,
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

/// Gathers the report from this host; `mount_base` is where `run
/// --mount-controllers` mounts controllers, `networks` the operator's.
pub fn gather(mount_base: &Path, networks: &Networks) -> HostReport {
    let layout = discover();
    let host = crate::host::detect_with(&layout);
    let proc_status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let sysctl = |path: &str| std::fs::read_to_string(path).ok();
    let max = |name: &str| {
        sysctl(&format!("/proc/sys/user/max_{name}_namespaces"))
            .and_then(|text| text.trim().parse::<u64>().ok())
    };
    HostReport {
        kernel_release: host.kernel_release.clone(),
        cgroup_mode: layout.mode(),
        hierarchies: hierarchy_rows(&layout),
        shadowed_mounts: shadowed_rows(&layout),
        enforcer_mounts: enforcer_mounts(&layout, mount_base),
        controllers: controller_rows(&layout),
        namespaces: NamespaceType::ALL
            .iter()
            .map(|&kind| NamespaceRow {
                kind,
                available: Path::new("/proc/self/ns").join(kind.proc_name()).exists(),
                max: max(kind.proc_name()),
            })
            .collect(),
        user_namespaces: user_namespaces(
            sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref(),
            sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref(),
            max("user"),
        ),
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
            crate::linux::proc::effective_capabilities(&proc_status),
        ),
        networks: network_rows(networks, interface_exists),
        nftables: nftables_row(
            networks,
            find_nft(std::env::var_os("PATH").as_deref(), Path::new(NFT_FALLBACK)),
        ),
        config_error: None,
    }
}

/// Where `nft` is looked for when `PATH` has none.
pub const NFT_FALLBACK: &str = "/usr/sbin/nft";

/// One row per network, `exists` telling whether an interface of that
/// name exists.
pub fn network_rows(networks: &Networks, exists: impl Fn(&str) -> bool) -> Vec<NetworkRow> {
    networks
        .values()
        .map(|network| NetworkRow {
            name: network.name.clone(),
            bridge: network.bridge.clone(),
            bridge_exists: exists(&network.bridge),
            subnet: network.subnet.to_string(),
            gateway: network.gateway.to_string(),
            subnet6: network.subnet6.map(|block| block.to_string()),
            gateway6: network.gateway6.map(|address| address.to_string()),
            egress: match &network.egress {
                DefaultEgress::All => "all".to_string(),
                DefaultEgress::None => "none".to_string(),
                DefaultEgress::List(rules) => format!("{} rules", rules.len()),
            },
            masquerade: network.masquerade,
        })
        .collect()
}

/// The `nft` row: which networks need it and where it is (`nft`, as
/// found); `None` when no network needs it.
pub fn nftables_row(networks: &Networks, nft: Option<PathBuf>) -> Option<NftablesRow> {
    let needed_by: Vec<String> = networks
        .values()
        .filter(|network| network.needs_nftables())
        .map(|network| network.name.clone())
        .collect();
    (!needed_by.is_empty()).then(|| NftablesRow {
        needed_by,
        path: nft.map(|path| path.display().to_string()),
    })
}

/// `nft` in the directories of `path_var` (a `PATH`), else `fallback` if
/// it is an executable file.
pub fn find_nft(path_var: Option<&OsStr>, fallback: &Path) -> Option<PathBuf> {
    let is_executable = |path: &Path| {
        std::fs::metadata(path)
            .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
    };
    path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("nft"))
        .find(|path| is_executable(path))
        .or_else(|| is_executable(fallback).then(|| fallback.to_path_buf()))
}

/// Whether an interface named `name` exists in this process's network
/// namespace (`if_nametoindex`; `/sys/class/net` would show the namespace
/// of whoever mounted sysfs).
pub fn interface_exists(name: &str) -> bool {
    let Ok(name) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a NUL-terminated string that lives across the call.
    unsafe { nix::libc::if_nametoindex(name.as_ptr()) != 0 }
}

/// The reachable hierarchies, cgroup2 first.
pub fn hierarchy_rows(layout: &CgroupLayout) -> Vec<HierarchyRow> {
    layout
        .v2
        .iter()
        .chain(layout.v1.iter())
        .map(|hierarchy| HierarchyRow {
            version: version(hierarchy),
            mount_point: hierarchy.mount_point.display().to_string(),
            root: hierarchy.root.display().to_string(),
            controllers: hierarchy.controllers.clone(),
            enabled: (hierarchy.version == Version::V2).then(|| hierarchy.enabled.clone()),
            name: hierarchy.name.clone(),
        })
        .collect()
}

/// The covered cgroup mounts.
pub fn shadowed_rows(layout: &CgroupLayout) -> Vec<ShadowedRow> {
    layout
        .shadowed
        .iter()
        .map(|covered| ShadowedRow {
            version: version(&covered.hierarchy),
            mount_point: covered.hierarchy.mount_point.display().to_string(),
            controllers: covered.hierarchy.controllers.clone(),
            name: covered.hierarchy.name.clone(),
            covered_by: covered.covered_by.mount_point.display().to_string(),
            covered_by_fstype: covered.covered_by.fstype.clone(),
        })
        .collect()
}

fn version(hierarchy: &Hierarchy) -> &'static str {
    hierarchy.version.name()
}

/// The v1 hierarchies mounted below `base` (where `run
/// --mount-controllers` mounts them), covered ones included, with their
/// cgroup counts from `/proc/cgroups` and how to release each.
pub fn enforcer_mounts(layout: &CgroupLayout, base: &Path) -> Vec<EnforcerMountRow> {
    layout
        .v1
        .iter()
        .chain(layout.shadowed.iter().map(|covered| &covered.hierarchy))
        .filter(|hierarchy| hierarchy.version == Version::V1 && hierarchy.mount_point.starts_with(base))
        .map(|hierarchy| {
            let cgroups = layout
                .kernel_controllers
                .iter()
                .find(|row| hierarchy.controllers.contains(&row.name))
                .map_or(0, |row| row.cgroups);
            let mount = hierarchy.mount_point.display();
            let unmount = release_command(base);
            let release = if cgroups > 1 {
                format!(
                    "it still has {} cgroup(s) besides its root: remove the sandboxes using it (enforcer ps, enforcer delete ID, enforcer gc), then {unmount}",
                    cgroups - 1
                )
            } else {
                unmount
            };
            EnforcerMountRow {
                controllers: hierarchy.controllers.clone(),
                mount_point: mount.to_string(),
                cgroups,
                release,
            }
        })
        .collect()
}

/// The command that releases the enforcer's mounts under `base`.
fn release_command(base: &Path) -> String {
    if base == Path::new(crate::cgroup::mount::DEFAULT_MOUNT_BASE) {
        "enforcer gc --mounts".to_string()
    } else {
        format!("enforcer gc --mounts --mount-dir {}", base.display())
    }
}

/// Whether processes without privileges may create user namespaces, from
/// the text of `kernel.unprivileged_userns_clone`,
/// `kernel.apparmor_restrict_unprivileged_userns` (each `None` when the
/// file is absent: that knob does not restrict) and
/// `user.max_user_namespaces`.
pub fn user_namespaces(
    unprivileged_userns_clone: Option<&str>,
    apparmor_restrict: Option<&str>,
    max_user_namespaces: Option<u64>,
) -> UserNamespaces {
    let number = |text: Option<&str>| text.and_then(|text| text.trim().parse::<i64>().ok());
    let clone = number(unprivileged_userns_clone);
    let apparmor = number(apparmor_restrict);
    let mut restricted_by = Vec::new();
    if clone == Some(0) {
        restricted_by.push("kernel.unprivileged_userns_clone = 0".to_string());
    }
    if apparmor.is_some_and(|value| value != 0) {
        restricted_by.push(format!(
            "kernel.apparmor_restrict_unprivileged_userns = {}",
            apparmor.unwrap_or_default()
        ));
    }
    if max_user_namespaces == Some(0) {
        restricted_by.push("user.max_user_namespaces = 0".to_string());
    }
    UserNamespaces {
        unprivileged_allowed: restricted_by.is_empty(),
        restricted_by,
        unprivileged_userns_clone: clone,
        apparmor_restrict_unprivileged_userns: apparmor,
        max_user_namespaces,
    }
}

/// One row per controller of `/proc/cgroups`, in its order.
pub fn controller_rows(layout: &CgroupLayout) -> Vec<ControllerRow> {
    layout
        .kernel_controllers
        .iter()
        .map(|row| {
            let (version, mount_point, state) = match layout.controller_state(&row.name) {
                ControllerState::V1(path) => (Some("v1"), Some(path), "mounted"),
                ControllerState::V2(path) => (Some("v2"), Some(path), "available"),
                ControllerState::V2NotEnabled(path) => (Some("v2"), Some(path), "not-enabled"),
                ControllerState::Shadowed { mount_point, .. } => {
                    (None, Some(mount_point), "shadowed")
                }
                ControllerState::Unmounted => (None, None, "unmounted"),
                ControllerState::Disabled => (None, None, "disabled"),
            };
            ControllerRow {
                name: row.name.clone(),
                version,
                mount_point: mount_point.map(|path| path.display().to_string()),
                state,
            }
        })
        .collect()
}

/// Which needed capabilities `cap_eff` lacks, and whether that matters.
pub fn privileges(euid: u32, cap_eff: u64) -> Privileges {
    let missing: Vec<&'static str> = NEEDED_CAPABILITIES
        .iter()
        .filter(|name| {
            crate::linux::capability_number(name)
                .is_none_or(|number| number >= 64 || cap_eff & (1 << number) == 0)
        })
        .copied()
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
    fn needed_capabilities_are_known_and_checked_by_number() {
        let root = privileges(0, 0x1ff_ffff_ffff);
        assert!(root.sufficient && root.missing_capabilities.is_empty());
        let nobody = privileges(65534, 0);
        assert!(!nobody.sufficient);
        assert_eq!(nobody.missing_capabilities.len(), NEEDED_CAPABILITIES.len());
        // Everything but CAP_SETGID (6).
        let almost = privileges(1000, 0x1ff_ffff_ffff & !(1 << 6));
        assert_eq!(almost.missing_capabilities, ["CAP_SETGID"]);
    }

    #[test]
    fn user_namespace_knobs() {
        // Absent files: not restricted by them.
        let open = user_namespaces(None, None, Some(63_000));
        assert!(open.unprivileged_allowed && open.restricted_by.is_empty());
        assert_eq!(open.unprivileged_userns_clone, None);
        let open = user_namespaces(Some("1\n"), Some("0\n"), None);
        assert!(open.unprivileged_allowed);
        assert_eq!(open.unprivileged_userns_clone, Some(1));
        let closed = user_namespaces(Some("0\n"), Some("1\n"), Some(0));
        assert!(!closed.unprivileged_allowed);
        assert_eq!(
            closed.restricted_by,
            [
                "kernel.unprivileged_userns_clone = 0",
                "kernel.apparmor_restrict_unprivileged_userns = 1",
                "user.max_user_namespaces = 0"
            ]
        );
    }

    const PROC_CGROUPS: &str =
        "memory\t4\t1\t1\nnet_cls\t9\t3\t1\nnet_prio\t10\t1\t1\nhugetlb\t0\t1\t1\n";

    fn layout(extra: &str) -> CgroupLayout {
        crate::cgroup::discovery::parse_layout(
            &format!(
                "1 0 8:1 / / rw - ext4 /dev/root rw\n\
                 30 1 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
                 31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                 34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                 40 1 0:40 / /run/enforcer/cgroup/net_cls rw - cgroup cgroup rw,net_cls\n\
                 41 1 0:41 / /srv/mounts/net_prio rw - cgroup cgroup rw,net_prio\n{extra}"
            ),
            PROC_CGROUPS,
        )
    }

    #[test]
    fn the_cgroup2_mount_is_listed_without_controllers() {
        let rows = hierarchy_rows(&layout(""));
        assert_eq!(rows[0].version, "v2");
        assert_eq!(rows[0].mount_point, "/sys/fs/cgroup/unified");
        assert!(rows[0].controllers.is_empty());
        assert_eq!(rows[0].enabled, Some(Vec::new()));
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].enabled, None, "v1 has no subtree_control");
    }

    #[test]
    fn shadowed_mounts_are_reported_with_what_covers_them() {
        let layout = layout("90 31 0:90 / /sys/fs/cgroup/unified rw - tmpfs none rw\n");
        assert_eq!(layout.mode(), policy_sdk::CgroupMode::V1);
        assert_eq!(
            shadowed_rows(&layout),
            [ShadowedRow {
                version: "v2",
                mount_point: "/sys/fs/cgroup/unified".into(),
                controllers: Vec::new(),
                name: None,
                covered_by: "/sys/fs/cgroup/unified".into(),
                covered_by_fstype: "tmpfs".into(),
            }]
        );
        let hugetlb = controller_rows(&layout)
            .into_iter()
            .find(|row| row.name == "hugetlb")
            .expect("hugetlb");
        assert_eq!(hugetlb.state, "shadowed");
        assert_eq!(
            hugetlb.mount_point.as_deref(),
            Some("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn mounts_below_the_base_are_the_enforcers() {
        let layout = layout("");
        let rows = enforcer_mounts(&layout, Path::new("/run/enforcer/cgroup"));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].controllers, ["net_cls"]);
        assert_eq!(rows[0].cgroups, 3);
        assert!(
            rows[0].release.starts_with("it still has 2 cgroup(s)")
                && rows[0].release.ends_with("then enforcer gc --mounts"),
            "{}",
            rows[0].release
        );
        let rows = enforcer_mounts(&layout, Path::new("/srv/mounts"));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].release,
            "enforcer gc --mounts --mount-dir /srv/mounts"
        );
        assert!(enforcer_mounts(&layout, Path::new("/nowhere")).is_empty());
    }

    fn spec(
        name: &str,
        bridge: &str,
        egress: DefaultEgress,
        masquerade: bool,
    ) -> crate::network::networks::NetworkSpec {
        crate::network::networks::NetworkSpec {
            name: name.into(),
            bridge: bridge.into(),
            subnet: policy_model::decision::Cidr::parse("192.0.2.0/24").expect("cidr"),
            gateway: "192.0.2.1".parse().expect("address"),
            subnet6: None,
            gateway6: None,
            egress,
            masquerade,
            mtu: None,
        }
    }

    #[test]
    fn networks_are_listed_with_their_bridge_and_what_needs_nft() {
        let mut networks = Networks::new();
        for network in [
            spec("open", "br-open", DefaultEgress::All, false),
            spec(
                "listed",
                "br-listed",
                DefaultEgress::List(vec![policy_model::decision::EgressRule::tcp(
                    "203.0.113.0/24",
                    443,
                )]),
                false,
            ),
            spec("masq", "br-masq", DefaultEgress::All, true),
        ] {
            networks.insert(network.name.clone(), network);
        }
        let rows = network_rows(&networks, |name| name == "br-open");
        assert_eq!(
            rows.iter()
                .map(|row| (row.name.as_str(), row.bridge_exists, row.egress.as_str()))
                .collect::<Vec<_>>(),
            [
                ("listed", false, "1 rules"),
                ("masq", false, "all"),
                ("open", true, "all")
            ]
        );
        assert_eq!(rows[0].subnet, "192.0.2.0/24");
        assert_eq!(rows[0].gateway, "192.0.2.1");
        let nft = nftables_row(&networks, None).expect("needed");
        assert_eq!(nft.needed_by, ["listed", "masq"]);
        assert_eq!(nft.path, None);
        networks.retain(|name, _| name == "open");
        assert_eq!(nftables_row(&networks, Some(PathBuf::from("/x/nft"))), None);
        // The loopback exists in every network namespace; this name cannot.
        assert!(interface_exists("lo"));
        assert!(!interface_exists("enforcer-none0"));
        assert!(!interface_exists("bad\0name"));
    }

    #[test]
    fn nft_is_found_on_the_path_else_at_the_fallback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let fallback = dir.path().join("sbin-nft");
        assert_eq!(find_nft(Some(bin.as_os_str()), &fallback), None);
        std::fs::write(&fallback, "").expect("writes");
        assert_eq!(find_nft(None, &fallback), None, "not executable");
        std::fs::set_permissions(&fallback, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(find_nft(None, &fallback), Some(fallback.clone()));
        let on_path = bin.join("nft");
        std::fs::write(&on_path, "").expect("writes");
        std::fs::set_permissions(&on_path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = std::env::join_paths([Path::new("relative"), &bin]).expect("joins");
        assert_eq!(find_nft(Some(&path), &fallback), Some(on_path));
    }

    #[test]
    fn this_host_report_matches_the_kernel() {
        let report = gather(
            Path::new(crate::cgroup::mount::DEFAULT_MOUNT_BASE),
            &Networks::new(),
        );
        assert!(report.networks.is_empty() && report.nftables.is_none());
        let proc_cgroups = crate::linux::proc::read_proc_cgroups().expect("readable");
        assert_eq!(
            report.controllers.len(),
            crate::linux::proc::parse_proc_cgroups(&proc_cgroups).len()
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
        let max = std::fs::read_to_string("/proc/sys/user/max_pid_namespaces")
            .ok()
            .and_then(|text| text.trim().parse().ok());
        assert_eq!(pid.max, max);
        let layout = discover();
        assert_eq!(
            report.hierarchies.len(),
            layout.v1.len() + usize::from(layout.v2.is_some())
        );
        if let Some(v2) = &layout.v2 {
            assert_eq!(
                report.hierarchies[0].mount_point,
                v2.mount_point.display().to_string()
            );
        }
    }
}
