//! The normal form: a validated, allowing decision with every default made
//! explicit, in one place.
//!
//! What an absent field means is decided here and nowhere else: no
//! `process` is the caller's ids (root of a new user namespace), no
//! supplementary groups, every capability set empty (bounding included),
//! `noNewPrivileges` on and no rlimits; no `cgroupsPath` is the id-derived
//! one; an absent limit is [`Limit::Unlimited`]; an absent weight is the
//! kernel's default. Composition ([`crate::tighten`]), the cgroup plan, the
//! spawn, `eval`'s output and the audit log read only this form, so a field
//! cannot mean one thing to the comparison and another when it is applied.
//!
//! [`NormalDecision::to_decision`] renders the form back in the OCI shape
//! (explicit wherever OCI can say it), and normalising that rendering gives
//! the same form again.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::decision::{
    BlockIo, Capabilities, Cpu, Decision, DeviceRule, HugepageLimit, IdMapping, InterfacePriority,
    Memory, Namespace, NamespaceType, Network, Pids, Process, ProcessUser, Resources, Rlimit,
    ThrottleDevice, WeightDevice,
};
use crate::validate::parse_cpu_list;

mod confinement;
mod network;
pub use confinement::{
    DEFAULT_ERRNO, NormalAction, NormalFilesystem, NormalSeccomp, NormalSyscallRule,
    effective_action,
};
pub use network::{NormalInterface, NormalNetwork};

/// The search path of the default environment, as runc and docker give it.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The CFS period when a decision gives a quota without one, in µs.
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;
/// `cpu.shares` of a fresh cgroup (v2 `cpu.weight` 100).
pub const DEFAULT_CPU_SHARES: u64 = 1024;

/// What the enforcer knows when it normalises: whose request it is, the
/// cgroup path derived from the sandbox id, and the workload's terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The caller's `(uid, gid)`: the workload's ids when the decision
    /// names none and creates no user namespace.
    pub caller: (u32, u32),
    /// `cgroupsPath` when the decision gives none.
    pub default_cgroup: String,
    /// `TERM` for a workload with a terminal of its own; `None` without one.
    pub term: Option<String>,
    /// The enforcer's own rlimits, by name: what the workload inherits for
    /// each limit the decision does not set.
    pub rlimits: BTreeMap<String, RlimitValue>,
    /// Each operator network's default egress, by network name: an
    /// interface on one of them whose decision gives no `egress` gets its
    /// network's list here, so that later policies see (and may only
    /// narrow) what really applies. Empty: no network is known, and an
    /// absent `egress` stays absent.
    pub network_egress: BTreeMap<String, Vec<crate::decision::EgressRule>>,
}

impl Context {
    /// A context for unit tests: caller 1000:1000, cgroup
    /// `sandboxes/test`, no terminal, and the rlimits a Linux login
    /// session usually has (`RLIMIT_NOFILE` 1024/524288, ...).
    pub fn typical() -> Context {
        let unlimited = u64::MAX;
        let rlimits = [
            ("RLIMIT_AS", unlimited, unlimited),
            ("RLIMIT_CORE", 0, unlimited),
            ("RLIMIT_CPU", unlimited, unlimited),
            ("RLIMIT_DATA", unlimited, unlimited),
            ("RLIMIT_FSIZE", unlimited, unlimited),
            ("RLIMIT_LOCKS", unlimited, unlimited),
            ("RLIMIT_MEMLOCK", 8 << 20, 8 << 20),
            ("RLIMIT_MSGQUEUE", 819_200, 819_200),
            ("RLIMIT_NICE", 0, 0),
            ("RLIMIT_NOFILE", 1024, 524_288),
            ("RLIMIT_NPROC", 31_000, 31_000),
            ("RLIMIT_RSS", unlimited, unlimited),
            ("RLIMIT_RTPRIO", 0, 0),
            ("RLIMIT_RTTIME", unlimited, unlimited),
            ("RLIMIT_SIGPENDING", 31_000, 31_000),
            ("RLIMIT_STACK", 8 << 20, unlimited),
        ]
        .into_iter()
        .map(|(name, soft, hard)| (name.to_string(), RlimitValue { soft, hard }))
        .collect();
        Context {
            caller: (1000, 1000),
            default_cgroup: "sandboxes/test".into(),
            term: None,
            rlimits,
            network_egress: BTreeMap::new(),
        }
    }
}

/// A limit: a number, or none at all. Ordered from tightest to loosest
/// (`At(0) < At(1) < … < Unlimited`), so "no looser" is `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    /// At most this many (bytes, tasks, µs, …).
    At(u64),
    /// No limit.
    Unlimited,
}

impl Limit {
    /// OCI's signed form: `-1` (or any negative) is unlimited.
    pub fn from_oci(value: i64) -> Limit {
        u64::try_from(value).map_or(Limit::Unlimited, Limit::At)
    }

    /// The OCI form: `-1` for unlimited.
    pub fn to_oci(self) -> i64 {
        match self {
            Limit::At(value) => i64::try_from(value).unwrap_or(i64::MAX),
            Limit::Unlimited => -1,
        }
    }

    /// The number, if limited.
    pub fn value(self) -> Option<u64> {
        match self {
            Limit::At(value) => Some(value),
            Limit::Unlimited => None,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::At(value) => write!(f, "{value}"),
            Limit::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.to_oci())
    }
}

/// A block device, `major:minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DeviceNumber {
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
}

impl std::fmt::Display for DeviceNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// A validated, allowing decision with every default explicit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalDecision {
    /// The policy's reason, if it gave one.
    pub reason: Option<String>,
    /// Namespaces, one per type at most, in [`NamespaceType::ALL`] order.
    pub namespaces: Vec<Namespace>,
    /// Hostname in the new uts namespace; `None` keeps the copy of the
    /// host's the namespace starts with.
    pub hostname: Option<String>,
    /// Domain name in the new uts namespace; `None` keeps the host's.
    pub domainname: Option<String>,
    /// uid map of a new user namespace (empty without one).
    pub uid_mappings: Vec<IdMapping>,
    /// gid map of a new user namespace (empty without one).
    pub gid_mappings: Vec<IdMapping>,
    /// The workload's cgroup, relative to the operator's cgroup root.
    pub cgroups_path: String,
    /// Cgroup limits.
    pub resources: NormalResources,
    /// The workload's privileges.
    pub process: NormalProcess,
    /// Root, mounts, masked and read-only paths.
    pub filesystem: NormalFilesystem,
    /// The system call filter; `None`: no filter.
    pub seccomp: Option<NormalSeccomp>,
    /// Map the new user namespace to a host range leased to this sandbox.
    pub private_host_ids: bool,
    /// The new network namespace's loopback and interfaces.
    pub network: NormalNetwork,
}

/// Cgroup limits, every one explicit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalResources {
    /// Ordered device rules (OCI semantics, later rules win); empty leaves
    /// a fresh cgroup's default (every device).
    pub devices: Vec<DeviceRule>,
    /// Memory.
    pub memory: NormalMemory,
    /// CPU bandwidth, weight, realtime and placement.
    pub cpu: NormalCpu,
    /// Most tasks.
    pub pids: Limit,
    /// Block I/O.
    pub block_io: NormalBlockIo,
    /// Hugetlb limit per page size (OCI notation); an absent size is
    /// unlimited.
    pub hugepage_limits: BTreeMap<String, u64>,
    /// net_cls class id; `None`: unclassified.
    pub network_class_id: Option<u32>,
    /// net_prio priorities per interface.
    pub network_priorities: BTreeMap<String, u32>,
    /// Raw cgroup v2 files, written after the typed limits.
    pub unified: BTreeMap<String, String>,
}

/// Memory limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalMemory {
    /// Hard limit.
    pub limit: Limit,
    /// Protection (v1 soft limit, v2 `memory.low`); `At(0)`: none.
    pub reservation: Limit,
    /// Memory plus swap (OCI semantics).
    pub swap: Limit,
    /// Kernel memory (deprecated by the kernel).
    pub kernel: Limit,
    /// Kernel TCP buffers (deprecated by the kernel).
    pub kernel_tcp: Limit,
    /// Swappiness; `None`: the kernel's.
    pub swappiness: Option<u64>,
    /// The OOM killer is off for the cgroup (v1 only).
    #[serde(rename = "disableOOMKiller")]
    pub disable_oom_killer: bool,
    /// v1 `memory.use_hierarchy`; `None`: the kernel's.
    pub use_hierarchy: Option<bool>,
    /// Refuse to lower the limit below current usage.
    pub check_before_update: bool,
}

/// CPU settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalCpu {
    /// Relative weight in v1 units ([`DEFAULT_CPU_SHARES`] when silent).
    pub shares: u64,
    /// CFS quota per period, µs.
    pub quota: Limit,
    /// CFS period, µs.
    pub period: u64,
    /// CFS burst, µs (0: none).
    pub burst: u64,
    /// Realtime runtime per period, µs (0: no realtime, a fresh cgroup's).
    pub realtime_runtime: Limit,
    /// Realtime period, µs; `None`: the kernel's.
    pub realtime_period: Option<u64>,
    /// CPUs the workload may use; `None`: every CPU its parent has.
    pub cpus: Option<BTreeSet<u32>>,
    /// Memory nodes; `None`: every node its parent has.
    pub mems: Option<BTreeSet<u32>>,
    /// `SCHED_IDLE` for the cgroup; `None`: the kernel's (0).
    pub idle: Option<i64>,
}

/// Block I/O weights and throttles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalBlockIo {
    /// Default weight; `None`: the kernel's.
    pub weight: Option<u16>,
    /// Leaf weight; `None`: the kernel's.
    pub leaf_weight: Option<u16>,
    /// Per-device weights.
    pub weight_device: BTreeMap<DeviceNumber, DeviceWeight>,
    /// Read bytes per second; an absent device is unthrottled.
    pub throttle_read_bps_device: BTreeMap<DeviceNumber, u64>,
    /// Write bytes per second.
    pub throttle_write_bps_device: BTreeMap<DeviceNumber, u64>,
    /// Read operations per second.
    #[serde(rename = "throttleReadIOPSDevice")]
    pub throttle_read_iops_device: BTreeMap<DeviceNumber, u64>,
    /// Write operations per second.
    #[serde(rename = "throttleWriteIOPSDevice")]
    pub throttle_write_iops_device: BTreeMap<DeviceNumber, u64>,
}

/// One device's weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceWeight {
    /// Weight; `None`: the default weight.
    pub weight: Option<u16>,
    /// Leaf weight; `None`: the default leaf weight.
    pub leaf_weight: Option<u16>,
}

/// The workload's privileges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalProcess {
    /// User, groups and umask.
    pub user: NormalUser,
    /// Capability sets.
    pub capabilities: NormalCapabilities,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privileges: bool,
    /// `setrlimit` values by name (`RLIMIT_NOFILE`): the decision's, and
    /// the enforcer's own for every limit it does not set.
    pub rlimits: BTreeMap<String, RlimitValue>,
    /// The whole environment.
    pub env: Vec<String>,
    /// The working directory.
    pub cwd: String,
}

/// The workload's ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalUser {
    /// User id (in the workload's user namespace).
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// File mode creation mask; `None`: inherited.
    pub umask: Option<u32>,
    /// Supplementary groups.
    pub additional_gids: BTreeSet<u32>,
}

/// Capability sets by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NormalCapabilities {
    /// Bounding set.
    pub bounding: BTreeSet<String>,
    /// Effective set.
    pub effective: BTreeSet<String>,
    /// Inheritable set.
    pub inheritable: BTreeSet<String>,
    /// Permitted set.
    pub permitted: BTreeSet<String>,
    /// Ambient set.
    pub ambient: BTreeSet<String>,
}

/// One rlimit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RlimitValue {
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// The environment of a workload whose decision gives none: `PATH`,
/// `HOME` (`/root` for uid 0, else `/`), `LANG`, and `TERM` with a
/// terminal. Nothing of the enforcer's own environment.
pub fn default_environment(uid: u32, term: Option<&str>) -> Vec<String> {
    let home = if uid == 0 { "/root" } else { "/" };
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOME={home}"),
        "LANG=C.UTF-8".to_string(),
    ];
    if let Some(term) = term {
        env.push(format!("TERM={term}"));
    }
    env
}

/// Turns a validated, allowing decision into its normal form. Anything
/// validation lets through is accepted; a value it would refuse is
/// normalised as best it can be (the callers validate first).
pub fn normalize(decision: &Decision, context: &Context) -> NormalDecision {
    let mut namespaces = decision.namespaces.clone();
    namespaces.sort_by_key(|namespace| {
        NamespaceType::ALL
            .iter()
            .position(|kind| *kind == namespace.kind)
    });
    namespaces.dedup_by_key(|namespace| namespace.kind);
    let has_user_namespace = namespaces
        .iter()
        .any(|namespace| namespace.kind == NamespaceType::User);
    let cgroups_path = decision
        .cgroups_path
        .as_deref()
        .map(|path| path.strip_suffix('/').unwrap_or(path).to_string())
        .unwrap_or_else(|| context.default_cgroup.clone());
    let empty = Resources::default();
    NormalDecision {
        reason: decision.reason.clone(),
        namespaces,
        hostname: decision.hostname.clone(),
        domainname: decision.domainname.clone(),
        uid_mappings: decision.uid_mappings.clone(),
        gid_mappings: decision.gid_mappings.clone(),
        cgroups_path,
        resources: NormalResources::from_oci(decision.resources.as_ref().unwrap_or(&empty)),
        process: normal_process(decision.process.as_ref(), has_user_namespace, context),
        filesystem: NormalFilesystem::from_decision(decision),
        seccomp: decision.seccomp.as_ref().map(NormalSeccomp::from_oci),
        private_host_ids: decision.private_host_ids,
        network: NormalNetwork::from_decision(decision.network.as_ref(), &context.network_egress),
    }
}

fn normal_process(
    process: Option<&Process>,
    has_user_namespace: bool,
    context: &Context,
) -> NormalProcess {
    let default = Process::default();
    let process = process.unwrap_or(&default);
    let user = match &process.user {
        Some(user) => NormalUser {
            uid: user.uid,
            gid: user.gid,
            umask: user.umask,
            additional_gids: user.additional_gids.iter().copied().collect(),
        },
        None => {
            let (uid, gid) = if has_user_namespace {
                (0, 0)
            } else {
                context.caller
            };
            NormalUser {
                uid,
                gid,
                umask: None,
                additional_gids: BTreeSet::new(),
            }
        }
    };
    let set = |names: &[String]| names.iter().cloned().collect::<BTreeSet<_>>();
    let capabilities = process
        .capabilities
        .as_ref()
        .map(|sets| NormalCapabilities {
            bounding: set(&sets.bounding),
            effective: set(&sets.effective),
            inheritable: set(&sets.inheritable),
            permitted: set(&sets.permitted),
            ambient: set(&sets.ambient),
        })
        .unwrap_or_default();
    let env = if process.env.is_empty() {
        default_environment(user.uid, context.term.as_deref())
    } else {
        process.env.clone()
    };
    NormalProcess {
        capabilities,
        no_new_privileges: process.no_new_privileges.unwrap_or(true),
        rlimits: context
            .rlimits
            .clone()
            .into_iter()
            .chain(process.rlimits.iter().map(|rlimit| {
                (
                    rlimit.kind.clone(),
                    RlimitValue {
                        soft: rlimit.soft,
                        hard: rlimit.hard,
                    },
                )
            }))
            .collect(),
        env,
        cwd: process.cwd.clone().unwrap_or_else(|| "/".to_string()),
        user,
    }
}

impl NormalResources {
    /// The normal form of OCI resources on their own (they depend on no
    /// context).
    pub fn from_oci(resources: &Resources) -> NormalResources {
        let memory = resources.memory.clone().unwrap_or_default();
        let cpu = resources.cpu.clone().unwrap_or_default();
        let block_io = resources.block_io.clone().unwrap_or_default();
        let network = resources.network.clone().unwrap_or_default();
        let cpu_set = |list: &Option<String>| {
            list.as_deref()
                .and_then(parse_cpu_list)
                .map(|ids| ids.into_iter().collect())
        };
        let throttles = |devices: &[ThrottleDevice]| {
            devices
                .iter()
                .map(|device| (number(device.major, device.minor), device.rate))
                .collect()
        };
        NormalResources {
            devices: resources.devices.clone(),
            memory: NormalMemory {
                limit: optional_limit(memory.limit),
                reservation: memory.reservation.map_or(Limit::At(0), Limit::from_oci),
                swap: optional_limit(memory.swap),
                kernel: optional_limit(memory.kernel),
                kernel_tcp: optional_limit(memory.kernel_tcp),
                swappiness: memory.swappiness,
                disable_oom_killer: memory.disable_oom_killer.unwrap_or(false),
                use_hierarchy: memory.use_hierarchy,
                check_before_update: memory.check_before_update.unwrap_or(false),
            },
            cpu: NormalCpu {
                shares: cpu.shares.unwrap_or(DEFAULT_CPU_SHARES),
                quota: optional_limit(cpu.quota),
                period: cpu.period.unwrap_or(DEFAULT_CPU_PERIOD),
                burst: cpu.burst.unwrap_or(0),
                realtime_runtime: cpu.realtime_runtime.map_or(Limit::At(0), Limit::from_oci),
                realtime_period: cpu.realtime_period,
                cpus: cpu_set(&cpu.cpus),
                mems: cpu_set(&cpu.mems),
                idle: cpu.idle,
            },
            pids: resources
                .pids
                .map_or(Limit::Unlimited, |pids| Limit::from_oci(pids.limit)),
            block_io: NormalBlockIo {
                weight: block_io.weight,
                leaf_weight: block_io.leaf_weight,
                weight_device: block_io
                    .weight_device
                    .iter()
                    .map(|device| {
                        (
                            number(device.major, device.minor),
                            DeviceWeight {
                                weight: device.weight,
                                leaf_weight: device.leaf_weight,
                            },
                        )
                    })
                    .collect(),
                throttle_read_bps_device: throttles(&block_io.throttle_read_bps_device),
                throttle_write_bps_device: throttles(&block_io.throttle_write_bps_device),
                throttle_read_iops_device: throttles(&block_io.throttle_read_iops_device),
                throttle_write_iops_device: throttles(&block_io.throttle_write_iops_device),
            },
            hugepage_limits: resources
                .hugepage_limits
                .iter()
                .map(|limit| (limit.page_size.clone(), limit.limit))
                .collect(),
            network_class_id: network.class_id,
            network_priorities: network
                .priorities
                .iter()
                .map(|priority| (priority.name.clone(), priority.priority))
                .collect(),
            unified: resources.unified.clone(),
        }
    }

    /// What a fresh cgroup does not already have, in OCI shape: the values
    /// the cgroup plan writes. An unlimited limit, no reservation, the
    /// default weight, no burst and no realtime runtime are left out; a
    /// fresh cgroup is already so.
    pub fn changes(&self) -> Resources {
        let mut resources = self.to_oci();
        let NormalResources {
            memory, cpu, pids, ..
        } = self;
        if let Some(oci) = resources.memory.as_mut() {
            oci.limit = memory.limit.value().map(|_| memory.limit.to_oci());
            oci.reservation =
                (memory.reservation != Limit::At(0)).then(|| memory.reservation.to_oci());
            oci.swap = memory.swap.value().map(|_| memory.swap.to_oci());
            oci.disable_oom_killer = memory.disable_oom_killer.then_some(true);
            oci.check_before_update = None;
        }
        if resources
            .memory
            .as_ref()
            .is_some_and(|memory| *memory == Memory::default())
        {
            resources.memory = None;
        }
        if let Some(oci) = resources.cpu.as_mut() {
            oci.shares = (cpu.shares != DEFAULT_CPU_SHARES).then_some(cpu.shares);
            oci.quota = cpu.quota.value().map(|_| cpu.quota.to_oci());
            oci.period = (cpu.quota != Limit::Unlimited || cpu.period != DEFAULT_CPU_PERIOD)
                .then_some(cpu.period);
        }
        if resources
            .cpu
            .as_ref()
            .is_some_and(|cpu| *cpu == Cpu::default())
        {
            resources.cpu = None;
        }
        if *pids == Limit::Unlimited {
            resources.pids = None;
        }
        if resources
            .block_io
            .as_ref()
            .is_some_and(|io| *io == BlockIo::default())
        {
            resources.block_io = None;
        }
        resources
    }

    /// The OCI rendering: explicit wherever OCI can say it, and itself a
    /// valid decision's resources.
    pub fn to_oci(&self) -> Resources {
        let NormalResources {
            devices,
            memory,
            cpu,
            pids,
            block_io,
            hugepage_limits,
            network_class_id,
            network_priorities,
            unified,
        } = self;
        let deprecated = |limit: Limit| (limit != Limit::Unlimited).then(|| limit.to_oci());
        let set_list = |set: &Option<BTreeSet<u32>>| set.as_ref().map(cpu_list);
        let throttles = |devices: &BTreeMap<DeviceNumber, u64>| {
            devices
                .iter()
                .map(|(device, rate)| ThrottleDevice {
                    major: device.major,
                    minor: device.minor,
                    rate: *rate,
                })
                .collect()
        };
        let any_network = network_class_id.is_some() || !network_priorities.is_empty();
        Resources {
            devices: devices.clone(),
            memory: Some(Memory {
                limit: Some(memory.limit.to_oci()),
                // OCI has no explicit "no reservation" (0 is refused).
                reservation: (memory.reservation != Limit::At(0))
                    .then(|| memory.reservation.to_oci()),
                swap: Some(memory.swap.to_oci()),
                kernel: deprecated(memory.kernel),
                kernel_tcp: deprecated(memory.kernel_tcp),
                swappiness: memory.swappiness,
                disable_oom_killer: Some(memory.disable_oom_killer),
                use_hierarchy: memory.use_hierarchy,
                check_before_update: memory.check_before_update.then_some(true),
            }),
            cpu: Some(Cpu {
                shares: Some(cpu.shares),
                quota: Some(cpu.quota.to_oci()),
                burst: (cpu.burst != 0).then_some(cpu.burst),
                period: Some(cpu.period),
                realtime_runtime: (cpu.realtime_runtime != Limit::At(0))
                    .then(|| cpu.realtime_runtime.to_oci()),
                realtime_period: cpu.realtime_period,
                cpus: set_list(&cpu.cpus),
                mems: set_list(&cpu.mems),
                idle: cpu.idle,
            }),
            pids: Some(Pids {
                limit: pids.to_oci(),
            }),
            block_io: Some(BlockIo {
                weight: block_io.weight,
                leaf_weight: block_io.leaf_weight,
                weight_device: block_io
                    .weight_device
                    .iter()
                    .map(|(device, weights)| WeightDevice {
                        major: device.major,
                        minor: device.minor,
                        weight: weights.weight,
                        leaf_weight: weights.leaf_weight,
                    })
                    .collect(),
                throttle_read_bps_device: throttles(&block_io.throttle_read_bps_device),
                throttle_write_bps_device: throttles(&block_io.throttle_write_bps_device),
                throttle_read_iops_device: throttles(&block_io.throttle_read_iops_device),
                throttle_write_iops_device: throttles(&block_io.throttle_write_iops_device),
            }),
            hugepage_limits: hugepage_limits
                .iter()
                .map(|(page_size, limit)| HugepageLimit {
                    page_size: page_size.clone(),
                    limit: *limit,
                })
                .collect(),
            network: any_network.then(|| Network {
                class_id: *network_class_id,
                priorities: network_priorities
                    .iter()
                    .map(|(name, priority)| InterfacePriority {
                        name: name.clone(),
                        priority: *priority,
                    })
                    .collect(),
            }),
            unified: unified.clone(),
        }
    }
}

impl NormalDecision {
    /// The OCI rendering of the form: `process`, `cgroupsPath` and every
    /// limit explicit (`-1` for unlimited). What `eval` prints, what a
    /// later policy reads as `request.previous`, what the audit log keeps.
    pub fn to_decision(&self) -> Decision {
        let NormalDecision {
            reason,
            namespaces,
            hostname,
            domainname,
            uid_mappings,
            gid_mappings,
            cgroups_path,
            resources,
            process,
            filesystem,
            seccomp,
            private_host_ids,
            network,
        } = self;
        let NormalFilesystem {
            root,
            mounts,
            masked_paths,
            readonly_paths,
        } = filesystem;
        let NormalProcess {
            user,
            capabilities,
            no_new_privileges,
            rlimits,
            env,
            cwd,
        } = process;
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>();
        Decision {
            allow: true,
            reason: reason.clone(),
            namespaces: namespaces.clone(),
            hostname: hostname.clone(),
            domainname: domainname.clone(),
            uid_mappings: uid_mappings.clone(),
            gid_mappings: gid_mappings.clone(),
            cgroups_path: Some(cgroups_path.clone()),
            resources: Some(resources.to_oci()),
            process: Some(Process {
                user: Some(ProcessUser {
                    uid: user.uid,
                    gid: user.gid,
                    umask: user.umask,
                    additional_gids: user.additional_gids.iter().copied().collect(),
                }),
                capabilities: Some(Capabilities {
                    bounding: list(&capabilities.bounding),
                    effective: list(&capabilities.effective),
                    inheritable: list(&capabilities.inheritable),
                    permitted: list(&capabilities.permitted),
                    ambient: list(&capabilities.ambient),
                }),
                no_new_privileges: Some(*no_new_privileges),
                rlimits: rlimits
                    .iter()
                    .map(|(kind, value)| Rlimit {
                        kind: kind.clone(),
                        hard: value.hard,
                        soft: value.soft,
                    })
                    .collect(),
                env: env.clone(),
                cwd: Some(cwd.clone()),
            }),
            root: root.clone(),
            mounts: mounts.clone(),
            masked_paths: masked_paths.iter().cloned().collect(),
            readonly_paths: readonly_paths.iter().cloned().collect(),
            seccomp: seccomp.as_ref().map(NormalSeccomp::to_oci),
            private_host_ids: *private_host_ids,
            network: network.to_decision(),
        }
    }

    /// Whether the workload gets a new namespace of `kind`.
    pub fn creates(&self, kind: NamespaceType) -> bool {
        self.namespaces
            .iter()
            .any(|namespace| namespace.kind == kind && namespace.path.is_none())
    }
}

fn optional_limit(value: Option<i64>) -> Limit {
    value.map_or(Limit::Unlimited, Limit::from_oci)
}

fn number(major: i64, minor: i64) -> DeviceNumber {
    DeviceNumber { major, minor }
}

/// `{0,1,2,3,6}` → `"0-3,6"`.
pub fn cpu_list(ids: &BTreeSet<u32>) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for &id in ids {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(id) => *end = id,
            _ => ranges.push((id, id)),
        }
    }
    ranges
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::MIB;

    fn context() -> Context {
        Context::typical()
    }

    #[test]
    fn silence_is_the_tightest_process_and_no_limit() {
        let normal = normalize(&Decision::allow(), &context());
        let process = &normal.process;
        assert_eq!((process.user.uid, process.user.gid), (1000, 1000));
        assert!(process.user.additional_gids.is_empty());
        assert_eq!(process.capabilities, NormalCapabilities::default());
        assert!(process.no_new_privileges);
        assert_eq!(process.rlimits, context().rlimits);
        assert_eq!(process.cwd, "/");
        assert!(process.env.iter().any(|entry| entry.starts_with("PATH=")));
        assert_eq!(normal.cgroups_path, "sandboxes/test");
        assert_eq!(normal.resources.memory.limit, Limit::Unlimited);
        assert_eq!(normal.resources.memory.reservation, Limit::At(0));
        assert_eq!(normal.resources.pids, Limit::Unlimited);
        assert_eq!(normal.resources.cpu.shares, DEFAULT_CPU_SHARES);
        assert_eq!(normal.resources.cpu.realtime_runtime, Limit::At(0));
        assert!(!normal.resources.memory.disable_oom_killer);
    }

    #[test]
    fn a_new_user_namespace_defaults_to_its_root() {
        let decision = Decision::allow()
            .namespace(NamespaceType::User)
            .map_ids(0, 100_000, 65_536);
        let normal = normalize(&decision, &context());
        assert_eq!((normal.process.user.uid, normal.process.user.gid), (0, 0));
        assert!(normal.process.env.contains(&"HOME=/root".to_string()));
    }

    #[test]
    fn the_rendering_normalises_to_the_same_form() {
        let decision = Decision::allow()
            .standard_namespaces()
            .memory_limit(256 * MIB)
            .pids(64)
            .cpu_quota(50_000, 100_000)
            .cpus("0-1,3")
            .default_devices()
            .hugepage_limit("2MB", 0)
            .rlimit("RLIMIT_NOFILE", 64, 128);
        let normal = normalize(&decision, &context());
        let again = normalize(&normal.to_decision(), &context());
        assert_eq!(normal, again);
        let silent = normalize(&Decision::allow(), &context());
        for form in [&normal, &silent] {
            crate::validate(form.to_decision(), &crate::host::typical_host(), "x")
                .expect("the rendering is a valid decision");
        }
        assert_eq!(
            normal.to_decision().resources.and_then(|r| r.cpu?.cpus),
            Some("0-1,3".to_string())
        );
    }

    #[test]
    fn the_filesystem_and_seccomp_render_and_normalise_back() {
        use crate::decision::{Mount, Seccomp, SeccompAction, SyscallRule};
        let decision = Decision::allow()
            .namespaces([NamespaceType::Mount, NamespaceType::Pid])
            .root_in_private_user_namespace()
            .readonly_host_root()
            .tmpfs("/tmp", Some(64 * MIB))
            .mount(Mount {
                destination: "/data".into(),
                kind: None,
                source: Some("/srv/data".into()),
                options: vec!["rbind".into(), "rw".into(), "ro".into()],
                uid_mappings: Vec::new(),
                gid_mappings: Vec::new(),
            })
            .mask("/proc/kcore")
            .mask("/proc/keys")
            .readonly_path("/proc/sys")
            .seccomp(Seccomp {
                default_action: SeccompAction::Errno,
                default_errno_ret: None,
                architectures: vec!["SCMP_ARCH_X86".into()],
                flags: Vec::new(),
                syscalls: vec![
                    SyscallRule {
                        names: vec!["write".into(), "read".into()],
                        action: SeccompAction::Allow,
                        errno_ret: None,
                        args: Vec::new(),
                    },
                    SyscallRule {
                        names: vec!["read".into()],
                        action: SeccompAction::Trace,
                        errno_ret: Some(38),
                        args: Vec::new(),
                    },
                ],
            });
        let valid = crate::validate(decision, &crate::host::typical_host(), "x").expect("valid");
        let normal = normalize(&valid, &context());
        assert_eq!(normal.filesystem.mounts[1].kind.as_deref(), Some("bind"));
        let seccomp = normal.seccomp.as_ref().expect("seccomp");
        assert_eq!(seccomp.rules.len(), 2, "{seccomp:?}");
        assert_eq!(seccomp.default_action.errno, Some(DEFAULT_ERRNO));
        let rendering = normal.to_decision();
        crate::validate(rendering.clone(), &crate::host::typical_host(), "x")
            .expect("the rendering is a valid decision");
        assert_eq!(normalize(&rendering, &context()), normal);
    }

    #[test]
    fn limits_order_from_tight_to_unlimited() {
        assert!(Limit::At(0) < Limit::At(1));
        assert!(Limit::At(u64::MAX) < Limit::Unlimited);
        assert_eq!(Limit::from_oci(-1), Limit::Unlimited);
        assert_eq!(Limit::Unlimited.to_oci(), -1);
    }
}
