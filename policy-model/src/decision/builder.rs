//! Builders that make a policy read like prose, and getters for tests.

use super::{
    Capabilities, Cpu, Decision, DeviceRule, HugepageLimit, IdMapping, Memory, Namespace,
    NamespaceType, Network, Pids, Process, ProcessUser, Resources, Rlimit,
};
use crate::devices::oci_default_devices;

/// The capabilities container runtimes give root in a container by
/// default (Docker's and Podman's set): no `CAP_SYS_ADMIN`, no
/// `CAP_NET_ADMIN`, no `CAP_SYS_PTRACE`.
pub const CONTAINER_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

impl Decision {
    /// An allowing decision with nothing set yet.
    pub fn allow() -> Decision {
        Decision {
            allow: true,
            ..Decision::default()
        }
    }

    /// A denial with the reason shown to the caller.
    pub fn deny(reason: impl Into<String>) -> Decision {
        Decision {
            allow: false,
            reason: Some(reason.into()),
            ..Decision::default()
        }
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Decision {
        self.reason = Some(reason.into());
        self
    }

    /// Creates a new namespace of `kind` (idempotent).
    pub fn namespace(mut self, kind: NamespaceType) -> Decision {
        if !self.namespaces.iter().any(|ns| ns.kind == kind) {
            self.namespaces.push(Namespace { kind, path: None });
        }
        self
    }

    /// Creates new namespaces of each kind.
    pub fn namespaces(self, kinds: impl IntoIterator<Item = NamespaceType>) -> Decision {
        kinds.into_iter().fold(self, Decision::namespace)
    }

    /// Creates the [`NamespaceType::STANDARD`] namespaces: pid, ipc, uts,
    /// mount, network and cgroup.
    pub fn standard_namespaces(self) -> Decision {
        self.namespaces(NamespaceType::STANDARD)
    }

    /// Joins the existing namespace at `path` (replacing a "create" of the
    /// same kind).
    pub fn join_namespace(mut self, kind: NamespaceType, path: impl Into<String>) -> Decision {
        self.namespaces.retain(|ns| ns.kind != kind);
        self.namespaces.push(Namespace {
            kind,
            path: Some(path.into()),
        });
        self
    }

    /// Sets the hostname (needs a new `uts` namespace).
    pub fn hostname(mut self, hostname: impl Into<String>) -> Decision {
        self.hostname = Some(hostname.into());
        self
    }

    /// Sets the NIS domain name (OCI `domainname`, what `domainname(1)`
    /// prints; needs a new `uts` namespace).
    pub fn domainname(mut self, domainname: impl Into<String>) -> Decision {
        self.domainname = Some(domainname.into());
        self
    }

    /// Maps `size` ids starting at `inside` to `host` for both uids and gids
    /// (needs a new `user` namespace).
    pub fn map_ids(mut self, inside: u32, host: u32, size: u32) -> Decision {
        let mapping = IdMapping {
            container_id: inside,
            host_id: host,
            size,
        };
        self.uid_mappings.push(mapping);
        self.gid_mappings.push(mapping);
        self
    }

    /// Sets the cgroup path, relative to the operator's cgroup root.
    pub fn cgroups_path(mut self, path: impl Into<String>) -> Decision {
        self.cgroups_path = Some(path.into());
        self
    }

    /// The resources, created empty on first use.
    pub fn resources_mut(&mut self) -> &mut Resources {
        self.resources.get_or_insert_with(Resources::default)
    }

    fn memory_mut(&mut self) -> &mut Memory {
        self.resources_mut()
            .memory
            .get_or_insert_with(Memory::default)
    }

    fn cpu_mut(&mut self) -> &mut Cpu {
        self.resources_mut().cpu.get_or_insert_with(Cpu::default)
    }

    fn process_mut(&mut self) -> &mut Process {
        self.process.get_or_insert_with(Process::default)
    }

    /// Hard memory limit in bytes.
    pub fn memory_limit(mut self, bytes: u64) -> Decision {
        self.memory_mut().limit = Some(saturating_i64(bytes));
        self
    }

    /// Memory soft limit (reservation) in bytes.
    pub fn memory_reservation(mut self, bytes: u64) -> Decision {
        self.memory_mut().reservation = Some(saturating_i64(bytes));
        self
    }

    /// Memory plus swap limit in bytes (OCI semantics; equal to the memory
    /// limit means no swap).
    pub fn memory_swap(mut self, bytes: u64) -> Decision {
        self.memory_mut().swap = Some(saturating_i64(bytes));
        self
    }

    /// Maximum number of tasks.
    pub fn pids(mut self, limit: u64) -> Decision {
        self.resources_mut().pids = Some(Pids {
            limit: saturating_i64(limit),
        });
        self
    }

    /// CPU weight in v1 shares (1024 is the default weight).
    pub fn cpu_shares(mut self, shares: u64) -> Decision {
        self.cpu_mut().shares = Some(shares);
        self
    }

    /// CFS bandwidth: `quota_us` of CPU time per `period_us`.
    pub fn cpu_quota(mut self, quota_us: u64, period_us: u64) -> Decision {
        let cpu = self.cpu_mut();
        cpu.quota = Some(saturating_i64(quota_us));
        cpu.period = Some(period_us);
        self
    }

    /// The CPUs the workload may use, cpuset list syntax (`"0-1"`).
    pub fn cpus(mut self, list: impl Into<String>) -> Decision {
        self.cpu_mut().cpus = Some(list.into());
        self
    }

    /// Replaces the device rules with a single deny-all.
    pub fn deny_all_devices(mut self) -> Decision {
        self.resources_mut().devices = vec![DeviceRule::deny_all()];
        self
    }

    /// Replaces the device rules with the OCI default list
    /// ([`oci_default_devices`]).
    pub fn default_devices(mut self) -> Decision {
        self.resources_mut().devices = oci_default_devices();
        self
    }

    /// Denies `/dev/tty` (`c 5:0`), which [`Decision::default_devices`]
    /// grants: for a workload without a terminal of its own
    /// (the request's `terminal` false), which has no business opening
    /// the controlling terminal of anybody else.
    pub fn deny_tty_device(mut self) -> Decision {
        self.resources_mut()
            .devices
            .push(DeviceRule::deny_char(5, Some(0), "rwm"));
        self
    }

    /// Appends a device rule, allowing or denying: the last rule that
    /// matches a device decides (OCI order), so it wins over earlier rules.
    /// Start from [`Decision::deny_all_devices`] or
    /// [`Decision::default_devices`]: on its own an allowing rule grants
    /// nothing beyond an empty list, which already grants every device.
    pub fn append_device_rule(mut self, rule: DeviceRule) -> Decision {
        self.resources_mut().devices.push(rule);
        self
    }

    /// Sets the hugetlb limit for `page_size` (`"2MB"`), replacing any
    /// earlier limit for that size.
    pub fn hugepage_limit(mut self, page_size: impl Into<String>, bytes: u64) -> Decision {
        let page_size = page_size.into();
        let limits = &mut self.resources_mut().hugepage_limits;
        limits.retain(|limit| limit.page_size != page_size);
        limits.push(HugepageLimit {
            page_size,
            limit: bytes,
        });
        self
    }

    /// A zero hugetlb limit for every page size in `page_sizes`.
    pub fn no_hugepages<S: AsRef<str>>(self, page_sizes: &[S]) -> Decision {
        page_sizes.iter().fold(self, |decision, size| {
            decision.hugepage_limit(size.as_ref(), 0)
        })
    }

    /// The net_cls class id.
    pub fn net_class_id(mut self, class_id: u32) -> Decision {
        self.resources_mut()
            .network
            .get_or_insert_with(Network::default)
            .class_id = Some(class_id);
        self
    }

    /// Runs the workload as `uid:gid`.
    pub fn run_as(mut self, uid: u32, gid: u32) -> Decision {
        self.process_mut().user = Some(ProcessUser {
            uid,
            gid,
            ..ProcessUser::default()
        });
        self
    }

    /// Runs the workload as `uid:gid` with every capability set empty and
    /// `noNewPrivileges`: it cannot gain privileges it was not given.
    pub fn unprivileged(self, uid: u32, gid: u32) -> Decision {
        self.run_as(uid, gid)
            .drop_all_capabilities()
            .no_new_privileges(true)
    }

    /// Runs the workload as root inside a new user namespace whose ids
    /// `0..size` map to the unprivileged host ids `host_base..`: root's
    /// powers (the usual container capability set,
    /// [`CONTAINER_CAPABILITIES`]) apply only to what the namespace owns,
    /// never to the host; `noNewPrivileges` is on.
    pub fn root_in_user_namespace(self, host_base: u32, size: u32) -> Decision {
        self.namespace(NamespaceType::User)
            .map_ids(0, host_base, size)
            .as_container_root()
    }

    /// Runs the workload as root (0:0) with [`CONTAINER_CAPABILITIES`] in
    /// the bounding, effective and permitted sets and `noNewPrivileges`:
    /// what a container runtime gives root inside a user namespace.
    pub fn as_container_root(self) -> Decision {
        let capabilities: Vec<String> = CONTAINER_CAPABILITIES
            .iter()
            .map(|name| name.to_string())
            .collect();
        let mut decision = self.run_as(0, 0).no_new_privileges(true);
        decision.process_mut().capabilities = Some(Capabilities {
            bounding: capabilities.clone(),
            effective: capabilities.clone(),
            permitted: capabilities,
            ..Capabilities::default()
        });
        decision
    }

    /// Sets `noNewPrivileges`.
    pub fn no_new_privileges(mut self, enabled: bool) -> Decision {
        self.process_mut().no_new_privileges = Some(enabled);
        self
    }

    /// Empties every capability set.
    pub fn drop_all_capabilities(mut self) -> Decision {
        self.process_mut().capabilities = Some(Capabilities::default());
        self
    }

    /// Adds a resource limit such as `("RLIMIT_NOFILE", 1024, 1024)`.
    pub fn rlimit(mut self, kind: impl Into<String>, soft: u64, hard: u64) -> Decision {
        self.process_mut().rlimits.push(Rlimit {
            kind: kind.into(),
            hard,
            soft,
        });
        self
    }

    /// The memory limit, if set.
    pub fn memory_limit_bytes(&self) -> Option<i64> {
        self.resources.as_ref()?.memory.as_ref()?.limit
    }

    /// The pids limit, if set.
    pub fn pids_limit(&self) -> Option<i64> {
        Some(self.resources.as_ref()?.pids?.limit)
    }

    /// The CPU settings, if any.
    pub fn cpu(&self) -> Option<&Cpu> {
        self.resources.as_ref()?.cpu.as_ref()
    }

    /// The device rules (empty when unset).
    pub fn device_rules(&self) -> &[DeviceRule] {
        self.resources
            .as_ref()
            .map_or(&[], |resources| resources.devices.as_slice())
    }

    /// The hugetlb limit for `page_size`, if set.
    pub fn hugepage_limit_bytes(&self, page_size: &str) -> Option<u64> {
        self.resources
            .as_ref()?
            .hugepage_limits
            .iter()
            .find(|limit| limit.page_size == page_size)
            .map(|limit| limit.limit)
    }

    /// Whether the decision creates or joins a namespace of `kind`.
    pub fn has_namespace(&self, kind: NamespaceType) -> bool {
        self.namespaces.iter().any(|ns| ns.kind == kind)
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::permits;
    use crate::{DeviceType, MIB};

    #[test]
    fn builders_compose() {
        let decision = Decision::allow()
            .namespaces([NamespaceType::Pid, NamespaceType::Network])
            .namespace(NamespaceType::Pid)
            .memory_limit(256 * MIB)
            .pids(64)
            .deny_all_devices()
            .append_device_rule(DeviceRule::allow_char(1, Some(3), "rw"))
            .hugepage_limit("2MB", 4 * MIB)
            .hugepage_limit("2MB", 8 * MIB);
        assert_eq!(decision.namespaces.len(), 2);
        assert_eq!(decision.memory_limit_bytes(), Some(256 * MIB as i64));
        assert_eq!(decision.pids_limit(), Some(64));
        assert_eq!(decision.hugepage_limit_bytes("2MB"), Some(8 * MIB));
        assert!(permits(
            decision.device_rules(),
            DeviceType::Char,
            1,
            3,
            "rw"
        ));
        assert!(!permits(
            decision.device_rules(),
            DeviceType::Char,
            1,
            5,
            "r"
        ));
    }

    #[test]
    fn hostname_and_domainname_set_the_oci_fields() {
        let decision = Decision::allow()
            .namespace(NamespaceType::Uts)
            .hostname("box")
            .domainname("example.test");
        let json = serde_json::to_string(&decision).expect("serializes");
        assert!(
            json.contains(r#""hostname":"box","domainname":"example.test""#),
            "{json}"
        );
    }

    #[test]
    fn appended_device_rules_win_over_earlier_ones() {
        let null =
            |decision: &Decision| permits(decision.device_rules(), DeviceType::Char, 1, 3, "rw");
        let granted = Decision::allow()
            .deny_all_devices()
            .append_device_rule(DeviceRule::allow_char(1, Some(3), "rw"));
        assert!(null(&granted));
        // The same call appends a deny rule, which takes the grant back.
        let taken_back = granted.append_device_rule(DeviceRule::deny_char(1, Some(3), "rwm"));
        assert!(!null(&taken_back));
        assert_eq!(taken_back.device_rules().len(), 3);
    }

    #[test]
    fn joining_replaces_creating() {
        let decision = Decision::allow()
            .namespace(NamespaceType::Network)
            .join_namespace(NamespaceType::Network, "/run/netns/a");
        assert_eq!(decision.namespaces.len(), 1);
        assert_eq!(decision.namespaces[0].path.as_deref(), Some("/run/netns/a"));
    }

    #[test]
    fn serializes_with_oci_field_names() {
        let decision = Decision::allow()
            .cgroups_path("acme/job")
            .map_ids(0, 100000, 65536)
            .cpu_quota(50_000, 100_000)
            .hugepage_limit("2MB", 0)
            .net_class_id(7)
            .no_new_privileges(true);
        let json = serde_json::to_string(&decision).expect("serializes");
        for needle in [
            r#""cgroupsPath":"acme/job""#,
            r#""uidMappings":[{"containerID":0"#,
            r#""hugepageLimits":[{"pageSize":"2MB","limit":0}]"#,
            r#""network":{"classID":7}"#,
            r#""noNewPrivileges":true"#,
            r#""cpu":{"quota":50000,"period":100000}"#,
        ] {
            assert!(json.contains(needle), "{needle} missing in {json}");
        }
        let back: Decision = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, decision);
    }
}
