//! Range checks, confinement and normalisation of one decision. Every
//! violation names the field path, e.g.
//! `resources.devices[2].access: "rwz" is not a subset of "rwm"`.

use std::collections::BTreeSet;

mod confinement;
mod network;
mod unified;

pub use network::{
    MAX_EGRESS_RULES, MTU_RANGE, RESERVED_HOST_PREFIX, is_interface_name, is_network_name,
};

use crate::linux::{capability_number, rlimit_number};
use crate::units::parse_page_size;
use crate::{
    BlockIo, Cpu, Decision, Host, IdMapping, Memory, NamespaceType, Process, Resources,
    ThrottleDevice,
};

/// One problem in a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path, e.g. `resources.memory.limit`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A decision that failed validation, with every violation found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid decision: {}", .violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct InvalidDecision {
    /// What is wrong, in field order.
    pub violations: Vec<Violation>,
}

/// Largest cgroup path depth accepted below the operator's root.
const MAX_CGROUP_DEPTH: usize = 16;
/// Largest number of id-map lines the kernel accepts.
const MAX_ID_MAP_LINES: usize = 340;
/// How a namespace `path` names another sandbox: `sandbox:<id>`.
pub const SANDBOX_PREFIX: &str = "sandbox:";

/// Ids a private host range maps (`privateHostIds`): 0 to 65535.
pub const PRIVATE_RANGE: u32 = 65_536;
/// Largest hostname the kernel accepts.
const MAX_HOSTNAME: usize = 64;
/// Largest interface name (`IFNAMSIZ - 1`).
const MAX_IFNAME: usize = 15;
/// Longest reason kept.
const MAX_REASON: usize = 4096;
/// Prefixes of cgroupfs interface files; a cgroup directory must not look
/// like one.
const RESERVED_PREFIXES: [&str; 19] = [
    "cgroup.",
    "cpu.",
    "cpuacct.",
    "cpuset.",
    "memory.",
    "io.",
    "blkio.",
    "pids.",
    "hugetlb.",
    "devices.",
    "freezer.",
    "net_cls.",
    "net_prio.",
    "perf_event.",
    "rdma.",
    "misc.",
    "notify_on_release",
    "release_agent",
    "tasks",
];
/// What [`is_valid_id`] accepts, for error messages.
pub const ID_RULE: &str =
    "1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-', not starting with '.' or '-'";

/// Whether `id` can name a sandbox: 1 to 64 characters of `A-Z`, `a-z`,
/// `0-9`, `_`, `.` and `-`, not starting with `.` or `-` (it becomes a
/// directory name and a cgroup name). See [`ID_RULE`].
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Checks `decision` against the host and normalises it: a missing
/// `cgroupsPath` becomes `default_cgroup`, a trailing `/` is dropped.
/// A denial is returned as is, after checking its reason.
pub fn validate(
    decision: Decision,
    host: &Host,
    default_cgroup: &str,
) -> Result<Decision, InvalidDecision> {
    validate_in(decision, host, default_cgroup, false)
}

/// [`validate`] for a container a runtime creates (`enforcer runtime
/// create`, `request.container` set): the container's spec has a root of
/// its own, so masked and read-only paths need no `root` in the decision
/// (in a sandbox the enforcer sets up, they are applied inside the
/// decision's root and need one).
pub fn validate_container(
    decision: Decision,
    host: &Host,
    default_cgroup: &str,
) -> Result<Decision, InvalidDecision> {
    validate_in(decision, host, default_cgroup, true)
}

fn validate_in(
    mut decision: Decision,
    host: &Host,
    default_cgroup: &str,
    container: bool,
) -> Result<Decision, InvalidDecision> {
    let mut check = Checker::default();
    if let Some(reason) = &decision.reason {
        check.that(reason.len() <= MAX_REASON, "reason", || {
            format!("{} bytes is longer than {MAX_REASON}", reason.len())
        });
    }
    if decision.allow {
        check.namespaces(&decision);
        let path = decision
            .cgroups_path
            .take()
            .unwrap_or_else(|| default_cgroup.to_string());
        decision.cgroups_path = Some(check.cgroups_path(&path));
        if let Some(resources) = &decision.resources {
            check.resources(resources, host);
        }
        if let Some(process) = &decision.process {
            check.process(process);
        }
        check.filesystem(&decision, container);
        if let Some(seccomp) = &decision.seccomp {
            check.seccomp(seccomp);
        }
        check.private_host_ids(&decision);
        check.network(&decision);
    }
    check.finish().map(|()| decision)
}

#[derive(Default)]
struct Checker {
    violations: Vec<Violation>,
}

impl Checker {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            path: path.into(),
            message: message.into(),
        });
    }

    fn that(&mut self, ok: bool, path: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.fail(path, message());
        }
    }

    fn finish(self) -> Result<(), InvalidDecision> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(InvalidDecision {
                violations: self.violations,
            })
        }
    }

    fn namespaces(&mut self, decision: &Decision) {
        let mut seen = BTreeSet::new();
        for (index, namespace) in decision.namespaces.iter().enumerate() {
            let path = format!("namespaces[{index}]");
            if !seen.insert(namespace.kind) {
                self.fail(
                    format!("{path}.type"),
                    format!("{:?} appears more than once", namespace.kind.as_str()),
                );
            }
            if let Some(target) = &namespace.path {
                let valid = match target.strip_prefix(SANDBOX_PREFIX) {
                    Some(id) => is_valid_id(id),
                    None => is_clean_absolute(target),
                };
                self.that(valid, &format!("{path}.path"), || {
                    format!(
                        "{target:?} must be an absolute path without '.', '..' or '//', or sandbox:<id> of a running sandbox"
                    )
                });
            }
        }
        let creates = |kind| {
            decision
                .namespaces
                .iter()
                .any(|ns| ns.kind == kind && ns.path.is_none())
        };
        if let Some(hostname) = &decision.hostname {
            self.that(creates(NamespaceType::Uts), "hostname", || {
                "setting a hostname needs a new uts namespace".into()
            });
            self.that(is_valid_hostname(hostname), "hostname", || {
                format!("{hostname:?} must be 1 to {MAX_HOSTNAME} characters of a-z, A-Z, 0-9, '-', '_' and '.'")
            });
        }
        if let Some(domainname) = &decision.domainname {
            self.that(creates(NamespaceType::Uts), "domainname", || {
                "setting a domain name needs a new uts namespace".into()
            });
            self.that(is_valid_hostname(domainname), "domainname", || {
                format!("{domainname:?} must be 1 to {MAX_HOSTNAME} characters of a-z, A-Z, 0-9, '-', '_' and '.'")
            });
        }
        let maps = !decision.uid_mappings.is_empty() || !decision.gid_mappings.is_empty();
        if maps && !creates(NamespaceType::User) {
            self.fail("uidMappings", "id mappings need a new user namespace");
        }
        if creates(NamespaceType::User)
            && !decision.private_host_ids
            && (decision.uid_mappings.is_empty() || decision.gid_mappings.is_empty())
        {
            self.fail(
                "uidMappings",
                "a new user namespace needs uidMappings and gidMappings (without them its processes are nobody), or privateHostIds",
            );
        }
        self.id_mappings("uidMappings", &decision.uid_mappings);
        self.id_mappings("gidMappings", &decision.gid_mappings);
        if creates(NamespaceType::User) {
            self.workload_ids_mapped(decision);
        }
    }

    /// In a new user namespace the workload runs as `process.user` (or the
    /// namespace's root without one): those ids must be mapped, or the
    /// process would keep the enforcer's own host ids, shown as `nobody`
    /// inside but with the host's file access.
    fn workload_ids_mapped(&mut self, decision: &Decision) {
        let user = decision
            .process
            .as_ref()
            .and_then(|process| process.user.as_ref());
        let (uid, gid) = user.map_or((0, 0), |user| (user.uid, user.gid));
        let field = if user.is_some() {
            "process.user"
        } else {
            "uidMappings"
        };
        let runs_as = if user.is_some() {
            "the workload's"
        } else {
            "without process.user the workload runs as root of the new user namespace, so"
        };
        // privateHostIds maps ids 0 to 65535 (to a leased host range).
        let private = [IdMapping {
            container_id: 0,
            host_id: 0,
            size: PRIVATE_RANGE,
        }];
        let (uid_map, gid_map, uid_in, gid_in) =
            if decision.private_host_ids && decision.uid_mappings.is_empty() {
                (
                    &private[..],
                    &private[..],
                    "the private range 0 to 65535",
                    "the private range 0 to 65535",
                )
            } else {
                (
                    &decision.uid_mappings[..],
                    &decision.gid_mappings[..],
                    "uidMappings",
                    "gidMappings",
                )
            };
        self.that(maps(uid_map, uid), &format!("{field}.uid"), || {
            format!("{runs_as} uid {uid} is not in {uid_in}")
        });
        self.that(maps(gid_map, gid), &format!("{field}.gid"), || {
            format!("{runs_as} gid {gid} is not in {gid_in}")
        });
        for (index, gid) in user
            .iter()
            .flat_map(|user| &user.additional_gids)
            .enumerate()
        {
            self.that(
                maps(gid_map, *gid),
                &format!("process.user.additionalGids[{index}]"),
                || format!("gid {gid} is not in {gid_in}"),
            );
        }
    }

    fn id_mappings(&mut self, field: &str, mappings: &[IdMapping]) {
        self.that(mappings.len() <= MAX_ID_MAP_LINES, field, || {
            format!(
                "{} ranges; the kernel accepts at most {MAX_ID_MAP_LINES}",
                mappings.len()
            )
        });
        for (index, mapping) in mappings.iter().enumerate() {
            let path = format!("{field}[{index}]");
            if mapping.size == 0 {
                self.fail(format!("{path}.size"), "must be at least 1");
                continue;
            }
            for (end, what) in [
                (
                    u64::from(mapping.container_id) + u64::from(mapping.size),
                    "containerID",
                ),
                (
                    u64::from(mapping.host_id) + u64::from(mapping.size),
                    "hostID",
                ),
            ] {
                self.that(end <= 1 << 32, &format!("{path}.{what}"), || {
                    "the range runs past the largest id 4294967295".into()
                });
            }
            for (other_index, other) in mappings.iter().enumerate().skip(index + 1) {
                let overlaps = |a: u32, b: u32| {
                    let (a, b) = (u64::from(a), u64::from(b));
                    a < b + u64::from(other.size) && b < a + u64::from(mapping.size)
                };
                if overlaps(mapping.container_id, other.container_id)
                    || overlaps(mapping.host_id, other.host_id)
                {
                    self.fail(path.clone(), format!("overlaps {field}[{other_index}]"));
                }
            }
        }
    }

    /// Returns the normalised path (or the input, with a violation recorded).
    fn cgroups_path(&mut self, path: &str) -> String {
        const FIELD: &str = "cgroupsPath";
        if path.starts_with('/') {
            self.fail(
                FIELD,
                format!("{path:?} must be relative to the operator's cgroup root, not absolute"),
            );
            return path.to_string();
        }
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let components: Vec<&str> = trimmed.split('/').collect();
        if trimmed.is_empty() {
            self.fail(FIELD, "must not be empty");
        } else if components.len() > MAX_CGROUP_DEPTH {
            self.fail(
                FIELD,
                format!("{path:?} is deeper than {MAX_CGROUP_DEPTH} levels"),
            );
        }
        for component in &components {
            let problem = match *component {
                "" => Some("has an empty component ('//')".to_string()),
                "." | ".." => Some(format!(
                    "must not contain {component:?}: the path must stay below the operator's cgroup root"
                )),
                name if name.len() > 255 => {
                    Some(format!("component {name:?} is longer than 255 bytes"))
                }
                name if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b)) =>
                {
                    Some(format!(
                        "component {name:?} may contain only a-z, A-Z, 0-9 and - _ . : @"
                    ))
                }
                name if RESERVED_PREFIXES
                    .iter()
                    .any(|prefix| name.starts_with(prefix)) =>
                {
                    Some(format!(
                        "component {name:?} looks like a cgroupfs interface file"
                    ))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                if !trimmed.is_empty() {
                    self.fail(FIELD, format!("{path:?} {problem}"));
                }
                break;
            }
        }
        trimmed.to_string()
    }

    fn resources(&mut self, resources: &Resources, host: &Host) {
        for (index, rule) in resources.devices.iter().enumerate() {
            let path = format!("resources.devices[{index}]");
            for (number, name) in [(rule.major, "major"), (rule.minor, "minor")] {
                if let Some(number) = number {
                    self.that(
                        (-1..=i64::from(u32::MAX)).contains(&number),
                        &format!("{path}.{name}"),
                        || {
                            format!(
                                "{number} must be -1 (any) or a device number from 0 to 4294967295"
                            )
                        },
                    );
                }
            }
            if let Some(access) = &rule.access {
                let valid = !access.is_empty()
                    && access.chars().all(|c| "rwm".contains(c))
                    && access.chars().collect::<BTreeSet<_>>().len() == access.len();
                self.that(valid, &format!("{path}.access"), || {
                    format!("{access:?} is not a non-empty subset of \"rwm\"")
                });
            }
        }
        if let Some(memory) = &resources.memory {
            self.memory(memory);
        }
        if let Some(cpu) = &resources.cpu {
            self.cpu(cpu, host);
        }
        if let Some(pids) = &resources.pids {
            self.that(
                pids.limit == -1 || pids.limit > 0,
                "resources.pids.limit",
                || format!("{} must be -1 (unlimited) or a positive count", pids.limit),
            );
        }
        if let Some(block_io) = &resources.block_io {
            self.block_io(block_io);
        }
        let mut sizes = BTreeSet::new();
        for (index, limit) in resources.hugepage_limits.iter().enumerate() {
            let path = format!("resources.hugepageLimits[{index}]");
            let size = &limit.page_size;
            let Some(page_bytes) = parse_page_size(size) else {
                self.fail(
                    format!("{path}.pageSize"),
                    format!("{size:?} is not a page size such as \"2MB\" or \"1GB\""),
                );
                continue;
            };
            if !host.has_hugepage_size(size) {
                self.fail(
                    format!("{path}.pageSize"),
                    format!(
                        "{size:?} hugepages do not exist on this host (it has: {})",
                        list_or_none(&host.hugepage_sizes)
                    ),
                );
            }
            if !sizes.insert(size.clone()) {
                self.fail(
                    format!("{path}.pageSize"),
                    format!("{size:?} appears more than once"),
                );
            }
            self.that(
                limit.limit % page_bytes == 0,
                &format!("{path}.limit"),
                || format!("{} is not a multiple of the {size} page size", limit.limit),
            );
            self.that(
                limit.limit <= i64::MAX as u64,
                &format!("{path}.limit"),
                || format!("{} is too large", limit.limit),
            );
        }
        if let Some(network) = &resources.network {
            for (index, priority) in network.priorities.iter().enumerate() {
                let name = &priority.name;
                let valid = !name.is_empty()
                    && name.len() <= MAX_IFNAME
                    && !name.contains(['/', ' ', '\n', '\t', ':'])
                    && name != "."
                    && name != "..";
                self.that(
                    valid,
                    &format!("resources.network.priorities[{index}].name"),
                    || format!("{name:?} is not an interface name"),
                );
            }
        }
        for (key, value) in &resources.unified {
            let path = format!("resources.unified[{key:?}]");
            let valid_key = key.split_once('.').is_some_and(|(controller, file)| {
                !controller.is_empty()
                    && !file.is_empty()
                    && controller != "cgroup"
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
            self.that(valid_key, &path, || {
                "must name a controller file such as \"memory.high\" (not a path, not cgroup.*)"
                    .into()
            });
            if valid_key {
                self.unified_file(key, &path, host);
            }
            self.that(!value.contains('\n'), &path, || {
                "value must be one line".into()
            });
        }
    }

    /// `key` must be a cgroup v2 file a sandbox's cgroup can write (see
    /// [`unified`]); a hugetlb file must name a size the host has.
    fn unified_file(&mut self, key: &str, path: &str, host: &Host) {
        match unified::access(key) {
            Some(unified::Access::Writable) => {
                if let Some(size) = unified::hugetlb_size(key) {
                    self.that(host.has_hugepage_size(size), path, || {
                        format!(
                            "{size:?} hugepages do not exist on this host (it has: {})",
                            list_or_none(&host.hugepage_sizes)
                        )
                    });
                }
            }
            Some(unified::Access::ReadOnly) => {
                self.fail(
                    path,
                    "is a read-only cgroup v2 file (a counter or statistic, not a limit)",
                );
            }
            Some(unified::Access::RootOnly) => {
                self.fail(path, "exists only on the root cgroup, never on a sandbox's");
            }
            None => {
                let hint = unified::suggestion(key, &host.hugepage_sizes)
                    .map(|name| format!("; did you mean {name:?}?"))
                    .unwrap_or_else(|| {
                        "; see the kernel's Documentation/admin-guide/cgroup-v2.rst for the files of memory, cpu, io, pids, hugetlb, cpuset, misc and rdma".into()
                    });
                self.fail(path, format!("not a cgroup v2 interface file{hint}"));
            }
        }
    }

    fn memory(&mut self, memory: &Memory) {
        const PAGE: i64 = 4096;
        let byte_fields = [
            ("limit", memory.limit),
            ("reservation", memory.reservation),
            ("swap", memory.swap),
            ("kernel", memory.kernel),
            ("kernelTCP", memory.kernel_tcp),
        ];
        for (name, value) in byte_fields {
            if let Some(value) = value {
                self.that(
                    value == -1 || value >= PAGE,
                    &format!("resources.memory.{name}"),
                    || format!("{value} must be -1 (unlimited) or at least {PAGE} bytes"),
                );
            }
        }
        if let (Some(limit), Some(reservation)) = (memory.limit, memory.reservation) {
            self.that(
                limit == -1 || reservation == -1 || reservation <= limit,
                "resources.memory.reservation",
                || format!("{reservation} is above the limit {limit}"),
            );
        }
        if let (Some(limit), Some(swap)) = (memory.limit, memory.swap) {
            self.that(swap == -1 || (limit != -1 && swap >= limit), "resources.memory.swap", || {
                format!("{swap} must be -1 or at least the memory limit {limit} (OCI swap is memory plus swap)")
            });
        }
        if let Some(swappiness) = memory.swappiness {
            self.that(swappiness <= 100, "resources.memory.swappiness", || {
                format!("{swappiness} must be from 0 to 100")
            });
        }
    }

    fn cpu(&mut self, cpu: &Cpu, host: &Host) {
        if let Some(shares) = cpu.shares {
            self.that(
                (2..=262_144).contains(&shares),
                "resources.cpu.shares",
                || format!("{shares} must be from 2 to 262144"),
            );
        }
        if let Some(quota) = cpu.quota {
            self.that(quota == -1 || quota >= 1000, "resources.cpu.quota", || {
                format!("{quota} must be -1 (unlimited) or at least 1000 microseconds")
            });
        }
        if let Some(period) = cpu.period {
            self.that(
                (1000..=1_000_000).contains(&period),
                "resources.cpu.period",
                || format!("{period} must be from 1000 to 1000000 microseconds"),
            );
        }
        if let (Some(burst), Some(quota)) = (cpu.burst, cpu.quota) {
            self.that(
                quota != -1 && burst <= quota as u64,
                "resources.cpu.burst",
                || format!("{burst} needs a quota and must not exceed it ({quota})"),
            );
        }
        if let Some(runtime) = cpu.realtime_runtime {
            self.that(runtime >= -1, "resources.cpu.realtimeRuntime", || {
                format!("{runtime} must be -1 or a positive number of microseconds")
            });
            if let Some(period) = cpu.realtime_period {
                self.that(
                    runtime == -1 || runtime as u64 <= period,
                    "resources.cpu.realtimeRuntime",
                    || format!("{runtime} exceeds the realtime period {period}"),
                );
            }
        }
        if let Some(idle) = cpu.idle {
            self.that(idle == 0 || idle == 1, "resources.cpu.idle", || {
                format!("{idle} must be 0 or 1")
            });
        }
        if let Some(cpus) = &cpu.cpus {
            match parse_cpu_list(cpus) {
                Some(ids) => {
                    if let Some(&highest) = ids.last() {
                        self.that(
                            host.cpus == 0 || highest < host.cpus,
                            "resources.cpu.cpus",
                            || {
                                format!(
                                    "{cpus:?} names CPU {highest}, but this host has CPUs 0 to {}",
                                    host.cpus.saturating_sub(1)
                                )
                            },
                        );
                    }
                }
                None => self.fail(
                    "resources.cpu.cpus",
                    format!("{cpus:?} is not a cpuset list such as \"0-3,6\""),
                ),
            }
        }
        if let Some(mems) = &cpu.mems {
            self.that(parse_cpu_list(mems).is_some(), "resources.cpu.mems", || {
                format!("{mems:?} is not a cpuset list such as \"0\" or \"0-1\"")
            });
        }
    }

    fn block_io(&mut self, block_io: &BlockIo) {
        let weight = |checker: &mut Checker, path: &str, value: Option<u16>| {
            if let Some(value) = value {
                checker.that((10..=1000).contains(&value), path, || {
                    format!("{value} must be from 10 to 1000")
                });
            }
        };
        weight(self, "resources.blockIO.weight", block_io.weight);
        weight(self, "resources.blockIO.leafWeight", block_io.leaf_weight);
        for (index, device) in block_io.weight_device.iter().enumerate() {
            let path = format!("resources.blockIO.weightDevice[{index}]");
            self.device_number(&path, device.major, device.minor);
            weight(self, &format!("{path}.weight"), device.weight);
            weight(self, &format!("{path}.leafWeight"), device.leaf_weight);
        }
        let throttles: [(&str, &[ThrottleDevice]); 4] = [
            ("throttleReadBpsDevice", &block_io.throttle_read_bps_device),
            (
                "throttleWriteBpsDevice",
                &block_io.throttle_write_bps_device,
            ),
            (
                "throttleReadIOPSDevice",
                &block_io.throttle_read_iops_device,
            ),
            (
                "throttleWriteIOPSDevice",
                &block_io.throttle_write_iops_device,
            ),
        ];
        for (field, devices) in throttles {
            for (index, device) in devices.iter().enumerate() {
                let path = format!("resources.blockIO.{field}[{index}]");
                self.device_number(&path, device.major, device.minor);
                self.that(
                    device.rate <= i64::MAX as u64,
                    &format!("{path}.rate"),
                    || format!("{} is too large", device.rate),
                );
            }
        }
    }

    fn device_number(&mut self, path: &str, major: i64, minor: i64) {
        for (number, name) in [(major, "major"), (minor, "minor")] {
            self.that(
                (0..=i64::from(u32::MAX)).contains(&number),
                &format!("{path}.{name}"),
                || format!("{number} is not a device number"),
            );
        }
    }

    fn process(&mut self, process: &Process) {
        if let Some(capabilities) = &process.capabilities {
            let sets = [
                ("bounding", &capabilities.bounding),
                ("effective", &capabilities.effective),
                ("inheritable", &capabilities.inheritable),
                ("permitted", &capabilities.permitted),
                ("ambient", &capabilities.ambient),
            ];
            for (set, names) in sets {
                for (index, name) in names.iter().enumerate() {
                    self.that(
                        capability_number(name).is_some(),
                        &format!("process.capabilities.{set}[{index}]"),
                        || {
                            format!(
                                "{name:?} is not a capability name such as \"CAP_NET_BIND_SERVICE\""
                            )
                        },
                    );
                }
            }
        }
        if let Some(user) = &process.user
            && let Some(umask) = user.umask
        {
            self.that(umask <= 0o777, "process.user.umask", || {
                format!("{umask:o} is not a file mode mask")
            });
        }
        for (index, entry) in process.env.iter().enumerate() {
            let key = entry.split_once('=').map(|(key, _)| key);
            self.that(
                key.is_some_and(|key| !key.is_empty()) && !entry.contains('\0'),
                &format!("process.env[{index}]"),
                || format!("{entry:?} is not KEY=VALUE with a non-empty KEY and no NUL byte"),
            );
        }
        if let Some(cwd) = &process.cwd {
            self.that(
                cwd.starts_with('/') && !cwd.contains('\0') && cwd.len() <= 4096,
                "process.cwd",
                || format!("{cwd:?} must be an absolute path without NUL bytes"),
            );
        }
        let mut seen = BTreeSet::new();
        for (index, rlimit) in process.rlimits.iter().enumerate() {
            let path = format!("process.rlimits[{index}]");
            self.that(
                rlimit_number(&rlimit.kind).is_some(),
                &format!("{path}.type"),
                || {
                    format!(
                        "{:?} is not a resource limit such as \"RLIMIT_NOFILE\"",
                        rlimit.kind
                    )
                },
            );
            self.that(rlimit.soft <= rlimit.hard, &format!("{path}.soft"), || {
                format!("{} is above the hard limit {}", rlimit.soft, rlimit.hard)
            });
            if !seen.insert(rlimit.kind.clone()) {
                self.fail(
                    format!("{path}.type"),
                    format!("{:?} appears more than once", rlimit.kind),
                );
            }
        }
    }
}

/// Whether `id` lies in one of `mappings`' container ranges.
fn maps(mappings: &[IdMapping], id: u32) -> bool {
    mappings.iter().any(|mapping| {
        id >= mapping.container_id
            && u64::from(id) < u64::from(mapping.container_id) + u64::from(mapping.size)
    })
}

/// Parses cpuset list syntax (`0-3,6`) into sorted ids; `None` if malformed.
pub fn parse_cpu_list(list: &str) -> Option<Vec<u32>> {
    let mut ids = BTreeSet::new();
    for part in list.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (first.parse::<u32>().ok()?, last.parse::<u32>().ok()?),
            None => {
                let id = part.parse::<u32>().ok()?;
                (id, id)
            }
        };
        if first > last || last - first > 4096 {
            return None;
        }
        ids.extend(first..=last);
    }
    Some(ids.into_iter().collect())
}

fn is_clean_absolute(path: &str) -> bool {
    path.starts_with('/')
        && path.len() > 1
        && path[1..]
            .split('/')
            .all(|component| !component.is_empty() && component != "." && component != "..")
}

fn is_valid_hostname(name: &str) -> bool {
    (1..=MAX_HOSTNAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::typical_host;
    use crate::{DeviceRule, MIB};

    fn violations(decision: Decision) -> Vec<String> {
        match validate(decision, &typical_host(), "job") {
            Ok(_) => Vec::new(),
            Err(error) => error.violations.iter().map(ToString::to_string).collect(),
        }
    }

    fn assert_violation(decision: Decision, expected: &str) {
        let found = violations(decision);
        assert!(
            found.iter().any(|violation| violation.contains(expected)),
            "expected {expected:?} in {found:?}"
        );
    }

    #[test]
    fn a_sane_decision_passes_and_is_normalised() {
        let decision = Decision::allow()
            .namespaces(NamespaceType::ALL)
            .hostname("box")
            .map_ids(0, 100000, 65536)
            .cgroups_path("acme/job/")
            .memory_limit(256 * MIB)
            .pids(64)
            .default_devices()
            .cpus("0-1")
            .hugepage_limit("2MB", 4 * MIB)
            .rlimit("RLIMIT_NOFILE", 1024, 4096);
        let valid = validate(decision, &typical_host(), "job").expect("valid");
        assert_eq!(valid.cgroups_path.as_deref(), Some("acme/job"));
        let defaulted = validate(Decision::allow(), &typical_host(), "job").expect("valid");
        assert_eq!(defaulted.cgroups_path.as_deref(), Some("job"));
    }

    #[test]
    fn cgroup_paths_stay_below_the_root() {
        assert_violation(
            Decision::allow().cgroups_path("../escape"),
            "cgroupsPath: \"../escape\" must not contain \"..\"",
        );
        assert_violation(
            Decision::allow().cgroups_path("a/../../b"),
            "must not contain",
        );
        assert_violation(
            Decision::allow().cgroups_path("/sys/fs/cgroup"),
            "not absolute",
        );
        assert_violation(Decision::allow().cgroups_path("a//b"), "empty component");
        assert_violation(Decision::allow().cgroups_path(""), "must not be empty");
        assert_violation(
            Decision::allow().cgroups_path("a/cgroup.procs"),
            "interface file",
        );
        assert_violation(Decision::allow().cgroups_path("a b"), "may contain only");
    }

    #[test]
    fn limits_are_range_checked() {
        let mut decision = Decision::allow();
        decision.resources_mut().memory = Some(Memory {
            limit: Some(-5),
            swappiness: Some(101),
            ..Memory::default()
        });
        let found = violations(decision);
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("resources.memory.limit: -5")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|v| v.starts_with("resources.memory.swappiness")),
            "{found:?}"
        );
        let mut decision = Decision::allow();
        decision.resources_mut().pids = Some(crate::Pids { limit: 0 });
        assert_violation(decision, "resources.pids.limit: 0 must be -1");
        assert_violation(Decision::allow().cpu_shares(1), "resources.cpu.shares");
        assert_violation(Decision::allow().cpus("0-9"), "this host has CPUs 0 to 3");
        assert_violation(Decision::allow().cpus("3-1"), "not a cpuset list");
    }

    #[test]
    fn device_rules_are_checked() {
        let mut bad = DeviceRule::allow_char(1, Some(3), "rwz");
        let decision = Decision::allow()
            .deny_all_devices()
            .append_device_rule(DeviceRule::allow_char(1, Some(5), "r"))
            .append_device_rule(bad.clone());
        assert_violation(
            decision,
            "resources.devices[2].access: \"rwz\" is not a non-empty subset of \"rwm\"",
        );
        bad.access = Some(String::new());
        assert_violation(
            Decision::allow().append_device_rule(bad),
            "resources.devices[0].access",
        );
        assert_violation(
            Decision::allow().append_device_rule(DeviceRule::allow_char(-2, None, "r")),
            "resources.devices[0].major",
        );
    }

    #[test]
    fn hugepage_sizes_must_exist_here() {
        let mut host = typical_host();
        host.hugepage_sizes = vec!["2MB".into()];
        let error =
            validate(Decision::allow().hugepage_limit("1GB", 0), &host, "job").expect_err("no 1GB");
        assert!(
            error
                .to_string()
                .contains("\"1GB\" hugepages do not exist on this host (it has: 2MB)"),
            "{error}"
        );
        assert_violation(
            Decision::allow().hugepage_limit("2MB", 1000),
            "not a multiple",
        );
        assert_violation(
            Decision::allow().hugepage_limit("3XB", 0),
            "not a page size",
        );
    }

    #[test]
    fn namespace_rules() {
        assert_violation(Decision::allow().hostname("x"), "needs a new uts namespace");
        assert_violation(
            Decision::allow()
                .namespace(NamespaceType::Uts)
                .hostname("bad host"),
            "hostname: \"bad host\"",
        );
        assert_violation(
            Decision::allow().domainname("example.test"),
            "domainname: setting a domain name needs a new uts namespace",
        );
        assert_violation(
            Decision::allow()
                .namespace(NamespaceType::Uts)
                .domainname("bad domain"),
            "domainname: \"bad domain\"",
        );
        assert_violation(
            Decision::allow().map_ids(0, 1000, 1),
            "need a new user namespace",
        );
        assert_violation(
            Decision::allow().join_namespace(NamespaceType::Network, "proc/1/ns/net"),
            "namespaces[0].path",
        );
        let overlapping = Decision::allow()
            .namespace(NamespaceType::User)
            .map_ids(0, 1000, 10)
            .map_ids(5, 2000, 10);
        assert_violation(overlapping, "uidMappings[0]: overlaps uidMappings[1]");
    }

    #[test]
    fn process_rules() {
        let mut decision =
            Decision::allow()
                .rlimit("RLIMIT_NOFILE", 10, 5)
                .rlimit("RLIMIT_FOO", 1, 1);
        decision.process.as_mut().expect("process").capabilities = Some(crate::Capabilities {
            bounding: vec!["CAP_SYS_ADMIN".into(), "CAP_WIZARD".into()],
            ..Default::default()
        });
        let found = violations(decision);
        for expected in [
            "process.rlimits[0].soft",
            "process.rlimits[1].type",
            "process.capabilities.bounding[1]",
        ] {
            assert!(
                found.iter().any(|v| v.starts_with(expected)),
                "{expected} in {found:?}"
            );
        }
    }

    #[test]
    fn env_and_cwd_rules() {
        let mut decision = Decision::allow().run_as(1000, 1000);
        let process = decision.process.as_mut().expect("process");
        process.env = vec!["PATH=/bin".into(), "=x".into(), "NOEQUALS".into()];
        process.cwd = Some("relative/dir".into());
        let found = violations(decision);
        for expected in ["process.env[1]", "process.env[2]", "process.cwd"] {
            assert!(
                found.iter().any(|v| v.starts_with(expected)),
                "{expected} in {found:?}"
            );
        }
        assert!(
            !found.iter().any(|v| v.starts_with("process.env[0]")),
            "{found:?}"
        );
    }

    #[test]
    fn a_new_user_namespace_must_map_the_workload_ids() {
        // Root inside, but only ids 1000.. mapped: the workload would keep
        // the enforcer's host ids.
        let decision = Decision::allow()
            .namespace(NamespaceType::User)
            .map_ids(1000, 200000, 10);
        let found = violations(decision);
        assert!(
            found.iter().any(|v| v.starts_with("uidMappings.uid")
                && v.contains("root of the new user namespace")),
            "{found:?}"
        );
        let mut decision = Decision::allow()
            .namespace(NamespaceType::User)
            .map_ids(0, 200000, 10)
            .run_as(5, 20);
        decision
            .process
            .as_mut()
            .and_then(|p| p.user.as_mut())
            .expect("user")
            .additional_gids = vec![3, 11];
        let found = violations(decision);
        for expected in ["process.user.gid", "process.user.additionalGids[1]"] {
            assert!(
                found.iter().any(|v| v.starts_with(expected)),
                "{expected} in {found:?}"
            );
        }
        assert!(
            !found.iter().any(|v| v.starts_with("process.user.uid")),
            "{found:?}"
        );
        assert!(
            !found
                .iter()
                .any(|v| v.starts_with("process.user.additionalGids[0]")),
            "{found:?}"
        );
        let fine = Decision::allow()
            .namespace(NamespaceType::User)
            .map_ids(0, 200000, 65536)
            .run_as(1000, 1000);
        assert!(violations(fine).is_empty());
    }

    #[test]
    fn denials_skip_resource_checks() {
        let mut decision = Decision::deny("no");
        decision.cgroups_path = Some("../x".into());
        assert!(validate(decision, &typical_host(), "job").is_ok());
    }
}

#[cfg(test)]
mod private_host_ids_tests {
    use super::*;

    fn violations(decision: Decision) -> Vec<String> {
        match validate(decision, &crate::host::typical_host(), "job") {
            Ok(_) => Vec::new(),
            Err(error) => error.violations.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn private_host_ids_stand_for_the_maps() {
        let decision = Decision::allow()
            .namespace(NamespaceType::Mount)
            .root_in_private_user_namespace();
        assert_eq!(violations(decision.clone()), Vec::<String>::new());
        let mapped = decision.clone().map_ids(0, 100000, 65536);
        let found = violations(mapped).join("\n");
        assert!(
            found.contains("privateHostIds: the leased host range is the id map"),
            "{found}"
        );
        let mut without_user = Decision::allow();
        without_user.private_host_ids = true;
        let found = violations(without_user).join("\n");
        assert!(
            found.contains("privateHostIds: needs a new user namespace"),
            "{found}"
        );
        let outside = decision.run_as(70000, 0);
        let found = violations(outside).join("\n");
        assert!(
            found.contains("uid 70000 is not in the private range 0 to 65535"),
            "{found}"
        );
    }
}

#[cfg(test)]
mod unified_tests {
    use super::*;

    fn violations(decision: Decision) -> Vec<String> {
        match validate(decision, &crate::host::typical_host(), "job") {
            Ok(_) => Vec::new(),
            Err(error) => error.violations.iter().map(ToString::to_string).collect(),
        }
    }

    fn with_unified(key: &str, value: &str) -> Vec<String> {
        let mut decision = Decision::allow();
        decision
            .resources
            .get_or_insert_with(Default::default)
            .unified
            .insert(key.into(), value.into());
        violations(decision)
    }

    #[test]
    fn unified_keys_must_be_writable_cgroup_v2_files() {
        for key in [
            "memory.high",
            "memory.oom.group",
            "io.latency",
            "cpu.uclamp.min",
            "hugetlb.2MB.rsvd.max",
            "misc.max",
            "rdma.max",
            // A typed field owns it: validation accepts it, the tighten
            // rule refuses it in a chain.
            "pids.max",
        ] {
            assert_eq!(with_unified(key, "1"), Vec::<String>::new(), "{key}");
        }
        assert_eq!(
            with_unified("memroy.max", "1"),
            [
                r#"resources.unified["memroy.max"]: not a cgroup v2 interface file; did you mean "memory.max"?"#
            ]
        );
        assert_eq!(
            with_unified("hugetlb.2MB.mx", "0"),
            [
                r#"resources.unified["hugetlb.2MB.mx"]: not a cgroup v2 interface file; did you mean "hugetlb.2MB.max"?"#
            ]
        );
        let far = with_unified("frobnicate.everything", "1").join("\n");
        assert!(
            far.contains("not a cgroup v2 interface file; see the kernel's")
                && !far.contains("did you mean"),
            "{far}"
        );
        let counter = with_unified("memory.current", "1").join("\n");
        assert!(
            counter.contains("is a read-only cgroup v2 file"),
            "{counter}"
        );
        let root = with_unified("io.cost.qos", "1").join("\n");
        assert!(root.contains("only on the root cgroup"), "{root}");
        let size = with_unified("hugetlb.64KB.max", "0").join("\n");
        assert!(
            size.contains(r#""64KB" hugepages do not exist on this host (it has: 2MB, 1GB)"#),
            "{size}"
        );
        // The old rules still hold.
        let core = with_unified("cgroup.procs", "1").join("\n");
        assert!(core.contains("not cgroup.*"), "{core}");
        let lines = with_unified("memory.high", "1\n2").join("\n");
        assert!(lines.contains("value must be one line"), "{lines}");
    }
}
