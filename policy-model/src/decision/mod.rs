//! The decision a policy returns.
//!
//! Field names and shapes follow the OCI runtime spec's `linux` section
//! (`namespaces`, `uidMappings`, `cgroupsPath`, `resources`) and `process`
//! section (`user`, `capabilities`, `noNewPrivileges`, `rlimits`). Unknown
//! fields are rejected when a decision is parsed: a typo such as `memroy`
//! is an error, never silently ignored.

mod builder;
mod confinement_builder;
mod network_builder;
pub use builder::CONTAINER_CAPABILITIES;
pub use confinement_builder::{OCI_MASKED_PATHS, OCI_READONLY_PATHS};
mod default_seccomp;
mod filesystem;
mod network;
mod process;
mod resources;
mod seccomp;
pub use default_seccomp::default_seccomp;

use serde::{Deserialize, Serialize};

pub use filesystem::{MOUNT_FLAGS, MOUNT_TYPES, Mount, PROPAGATING, RESTRICTIONS, Root};
pub use network::{
    Cidr, CidrError, DEFAULT_INTERFACE, EgressRule, Interface, MAX_INTERFACE_NAME, MAX_INTERFACES,
    Protocol, SandboxNetwork,
};
pub use process::{Capabilities, Process, ProcessUser, Rlimit};
pub use resources::{
    BlockIo, Cpu, DeviceRule, DeviceType, HugepageLimit, InterfacePriority, Memory, Network, Pids,
    Resources, ThrottleDevice, WeightDevice,
};
pub use seccomp::{
    SECCOMP_ARCHITECTURES, SECCOMP_FLAG_LOG, SECCOMP_FLAG_SPEC_ALLOW, SECCOMP_FLAG_TSYNC,
    SECCOMP_FLAG_WAIT_KILLABLE_RECV, SECCOMP_FLAGS, SYSCALL_ARGS, Seccomp, SeccompAction,
    SeccompOperator, SyscallArg, SyscallRule,
};

/// Allow or deny, and when allowing, the isolation to apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Decision {
    /// Whether the workload may run at all.
    pub allow: bool,
    /// Why: shown to the caller, required in practice for a denial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Namespaces to create (no `path`) or join (`path` given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    /// Hostname inside a new UTS namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The domain name inside a new `uts` namespace (OCI `domainname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// User id mappings for a new user namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// Group id mappings for a new user namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    /// The workload's cgroup, relative to the operator's cgroup root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    /// Cgroup limits, as an OCI `LinuxResources` object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// The workload's privileges, OCI `process` shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// The sandbox's root filesystem (OCI `root`); absent: the host's
    /// root as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    /// Mounts inside the new root, in order (OCI `mounts[]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Paths hidden from the workload (OCI `linux.maskedPaths`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    /// Paths made read-only (OCI `linux.readonlyPaths`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
    /// The system call filter (OCI `linux.seccomp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<Seccomp>,
    /// An enforcer extension: with a new user namespace and no id maps,
    /// map ids 0 to 65535 to a host range leased to this sandbox alone
    /// from the operator's pool.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private_host_ids: bool,
    /// An enforcer extension: the new network namespace's loopback and
    /// interfaces (veth pairs on the operator's networks) and where each
    /// may send traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<SandboxNetwork>,
}

/// The Linux namespace types, with OCI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceType {
    /// Process ids (`CLONE_NEWPID`).
    Pid,
    /// Network stack (`CLONE_NEWNET`).
    Network,
    /// Mount table (`CLONE_NEWNS`).
    Mount,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Hostname and domain name (`CLONE_NEWUTS`).
    Uts,
    /// User and group ids, capabilities (`CLONE_NEWUSER`).
    User,
    /// Cgroup root view (`CLONE_NEWCGROUP`).
    Cgroup,
}

impl NamespaceType {
    /// Every namespace type, in the order the kernel needs them created
    /// (user first).
    pub const ALL: [NamespaceType; 7] = [
        NamespaceType::User,
        NamespaceType::Pid,
        NamespaceType::Network,
        NamespaceType::Mount,
        NamespaceType::Ipc,
        NamespaceType::Uts,
        NamespaceType::Cgroup,
    ];

    /// The namespaces a workload usually gets: everything but `user`
    /// (pid, ipc, uts, mount, network, cgroup).
    pub const STANDARD: [NamespaceType; 6] = [
        NamespaceType::Pid,
        NamespaceType::Ipc,
        NamespaceType::Uts,
        NamespaceType::Mount,
        NamespaceType::Network,
        NamespaceType::Cgroup,
    ];

    /// The OCI name (`"network"`).
    pub fn as_str(self) -> &'static str {
        match self {
            NamespaceType::Pid => "pid",
            NamespaceType::Network => "network",
            NamespaceType::Mount => "mount",
            NamespaceType::Ipc => "ipc",
            NamespaceType::Uts => "uts",
            NamespaceType::User => "user",
            NamespaceType::Cgroup => "cgroup",
        }
    }

    /// The file name under `/proc/<pid>/ns/` (`"net"`, `"mnt"`).
    pub fn proc_name(self) -> &'static str {
        match self {
            NamespaceType::Network => "net",
            NamespaceType::Mount => "mnt",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for NamespaceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One namespace: create it (no path) or join the one at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    /// Which namespace.
    #[serde(rename = "type")]
    pub kind: NamespaceType,
    /// Join the namespace at this path (`/proc/<pid>/ns/net`) with `setns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One range of a user namespace id map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdMapping {
    /// First id inside the namespace.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// First id on the host it maps to.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// Number of ids in the range.
    pub size: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_rejected() {
        let error = serde_json::from_str::<Decision>(r#"{"allow":true,"memroy":{}}"#)
            .expect_err("typo must fail");
        assert!(error.to_string().contains("memroy"), "{error}");
        let error =
            serde_json::from_str::<Decision>(r#"{"allow":true,"resources":{"memory":{"limt":1}}}"#)
                .expect_err("nested typo must fail");
        assert!(error.to_string().contains("limt"), "{error}");
    }

    #[test]
    fn namespaces_use_oci_names() {
        let json = serde_json::to_string(&Namespace {
            kind: NamespaceType::Network,
            path: Some("/proc/1/ns/net".into()),
        })
        .expect("serializes");
        assert_eq!(json, r#"{"type":"network","path":"/proc/1/ns/net"}"#);
        assert!(serde_json::from_str::<Namespace>(r#"{"type":"time"}"#).is_err());
    }

    #[test]
    fn id_mappings_use_oci_names() {
        let json = serde_json::to_string(&IdMapping {
            container_id: 0,
            host_id: 100000,
            size: 65536,
        })
        .expect("serializes");
        assert_eq!(json, r#"{"containerID":0,"hostID":100000,"size":65536}"#);
    }
}
