//! Cgroup limits in the shape of OCI's `LinuxResources`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// OCI `linux.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// Ordered device allow/deny rules; later rules win.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRule>,
    /// Memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// CPU shares, quota and placement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Process count limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    /// Block I/O weights and throttles.
    #[serde(default, rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<BlockIo>,
    /// Hugetlb limits per page size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hugepage_limits: Vec<HugepageLimit>,
    /// net_cls class id and net_prio priorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Raw cgroup v2 files (`"memory.high": "100M"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unified: BTreeMap<String, String>,
}

/// The device classes a cgroup device rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceType {
    /// Every device, character and block.
    #[serde(rename = "a")]
    All,
    /// Character devices.
    #[serde(rename = "c")]
    Char,
    /// Block devices.
    #[serde(rename = "b")]
    Block,
}

impl DeviceType {
    /// The letter the kernel and OCI use: `a`, `c` or `b`.
    pub fn letter(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Char => 'c',
            DeviceType::Block => 'b',
        }
    }
}

/// OCI `LinuxDeviceCgroup`: one allow or deny rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRule {
    /// Allow (`true`) or deny (`false`).
    pub allow: bool,
    /// Device class; absent means all (`a`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<DeviceType>,
    /// Major number; absent or `-1` means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    /// Minor number; absent or `-1` means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    /// Any non-empty subset of `rwm`; absent means `rwm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
}

/// OCI `LinuxMemory`; byte values, `-1` meaning unlimited where OCI allows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Memory {
    /// Hard limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Soft limit (v1 `soft_limit_in_bytes`, v2 `memory.low`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    /// Memory plus swap limit (OCI semantics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    /// Kernel memory limit (deprecated by the kernel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    /// Kernel TCP buffer limit (deprecated by the kernel).
    #[serde(default, rename = "kernelTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_tcp: Option<i64>,
    /// Swappiness, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    /// Disable the OOM killer for the cgroup.
    #[serde(
        default,
        rename = "disableOOMKiller",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_oom_killer: Option<bool>,
    /// v1 `memory.use_hierarchy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_hierarchy: Option<bool>,
    /// Refuse to lower the limit below current usage (runc checks it on
    /// `update`). The enforcer writes limits only into a cgroup it has just
    /// created, before any process joins it, and has no `update`: usage is
    /// zero then, so the check holds by construction and needs no write. A
    /// future command that changes a running sandbox's limits must apply it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_before_update: Option<bool>,
}

/// OCI `LinuxCPU`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cpu {
    /// Relative weight (v1 `cpu.shares`, 2 to 262144).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// CFS quota in microseconds per period; `-1` unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    /// CFS burst in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u64>,
    /// CFS period in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Real-time runtime in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    /// Real-time period in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    /// CPUs the workload may run on, cpuset list syntax (`0-3,6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// Memory nodes, cpuset list syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
    /// `SCHED_IDLE` for the cgroup (0 or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<i64>,
}

impl Cpu {
    /// Whether a field the `cpu` controller applies is set: every field
    /// but `cpus` and `mems`, which are cpuset's. The cgroup plan and
    /// `check_applicable` both ask this; it names every field, so a new
    /// one does not compile until it is placed.
    pub fn uses_cpu_controller(&self) -> bool {
        let Cpu {
            shares,
            quota,
            burst,
            period,
            realtime_runtime,
            realtime_period,
            cpus: _,
            mems: _,
            idle,
        } = self;
        shares.is_some()
            || quota.is_some()
            || burst.is_some()
            || period.is_some()
            || realtime_runtime.is_some()
            || realtime_period.is_some()
            || idle.is_some()
    }
}

/// OCI `LinuxPids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pids {
    /// Maximum number of tasks; `-1` unlimited.
    pub limit: i64,
}

/// OCI `LinuxBlockIO`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockIo {
    /// Default weight, 10 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Weight for the cgroup's own tasks, 10 to 1000 (v1 CFQ only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    /// Per-device weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    /// Read bytes per second, per device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_read_bps_device: Vec<ThrottleDevice>,
    /// Write bytes per second, per device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_write_bps_device: Vec<ThrottleDevice>,
    /// Read operations per second, per device.
    #[serde(
        default,
        rename = "throttleReadIOPSDevice",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub throttle_read_iops_device: Vec<ThrottleDevice>,
    /// Write operations per second, per device.
    #[serde(
        default,
        rename = "throttleWriteIOPSDevice",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub throttle_write_iops_device: Vec<ThrottleDevice>,
}

/// OCI `LinuxWeightDevice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightDevice {
    /// Device major number.
    pub major: i64,
    /// Device minor number.
    pub minor: i64,
    /// Weight, 10 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Leaf weight, 10 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
}

/// OCI `LinuxThrottleDevice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDevice {
    /// Device major number.
    pub major: i64,
    /// Device minor number.
    pub minor: i64,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// OCI `LinuxHugepageLimit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HugepageLimit {
    /// Page size, OCI notation (`"2MB"`, `"1GB"`).
    pub page_size: String,
    /// Bytes of hugepages of that size the cgroup may use.
    pub limit: u64,
}

/// OCI `LinuxNetwork`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// net_cls class id.
    #[serde(default, rename = "classID", skip_serializing_if = "Option::is_none")]
    pub class_id: Option<u32>,
    /// net_prio priorities per interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<InterfacePriority>,
}

/// OCI `LinuxInterfacePriority`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfacePriority {
    /// Interface name.
    pub name: String,
    /// Priority.
    pub priority: u32,
}
