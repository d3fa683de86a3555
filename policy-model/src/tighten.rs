//! Policy chains: a later policy sees the decision so far and may only
//! tighten it.
//!
//! [`check_tightens`] compares two [normal forms](crate::normal) field by
//! field. Every struct is destructured without `..`, so a field added to
//! the model does not compile until it has a rule here. The rules:
//!
//! | field | a later policy may |
//! |---|---|
//! | namespaces | add new ones; never drop one, never add a join |
//! | `hostname`, `domainname` | set them where the earlier left them unset |
//! | id mappings | keep them (or add them with a new user namespace) |
//! | `cgroupsPath` | stay at or below the earlier path |
//! | limits (memory, swap, pids, cpu bandwidth, burst, realtime, hugepages, throttles, rlimits) | lower them; never raise or remove one |
//! | swap alone (OCI `swap` minus `limit`: cgroup v2's `memory.swap.max`) | lower it; a lower memory limit under the same swap limit raises it |
//! | cpu shares | lower them (a silent decision has the kernel default, 1024) |
//! | block I/O weights | lower them; never set one the earlier left at the kernel default |
//! | `cpus`, `mems` | narrow them to a subset |
//! | `disableOOMKiller` | never turn it on |
//! | devices | allow a subset (exactly: every device class the rules tell apart, each access bit) |
//! | `unified` | keep the earlier keys, tighten a known key (against what the file would hold without it: `hugetlb.<size>.rsvd.max` holds the typed hugepage limit); never set an unknown key or one a typed field owns |
//! | user | keep the uid and gid; drop supplementary groups; add umask bits |
//! | capabilities | drop capabilities from any set |
//! | `noNewPrivileges` | turn it on |
//! | `privateHostIds` | turn it on (where the earlier policies fixed no id mappings); never off |
//! | `root` | set one where the earlier left it unset; keep its `path`; turn `readonly` on, never off; never unset it |
//! | `mounts` | keep every earlier mount, in the same relative order, with the same destination, type, source, id maps and other options; add `ro`, `nosuid`, `nodev`, `noexec` to it (never lose one, never turn `ro` into `rw`); add only tmpfs mounts, anywhere, writable ones only with `noNewPrivileges` on (no bind, proc, sysfs, cgroup, ...: they expose the host) |
//! | `maskedPaths`, `readonlyPaths` | add paths; never drop one |
//! | `seccomp` | set a filter where there was none; keep it: a default at least as strict; every earlier rule (name, conditions) kept with an action at least as strict; new rules only at least as strict as the earlier default; architectures a subset; flags kept, `SECCOMP_FILTER_FLAG_SPEC_ALLOW` never added (why this is sound: `tighten/confinement.rs`) |
//! | `network.loopback` | take it down; never bring it up |
//! | `network.interfaces` | drop interfaces (matched by in-sandbox `name`); never add one; a kept one keeps its `network`, `hostName` and `mtu` |
//! | `network.interfaces[].egress` | narrow the list: each later rule inside *one* earlier rule (its block covered, the same protocol or the earlier names none, its ports within the earlier range or the earlier names none); an absent list stays absent and is not replaced by a list (the enforcer resolves each network's default first); a union of earlier rules covers nothing (two /25s do not cover their /24: sound, not complete; `tighten/network.rs`) |
//! | settings that grant nothing (`swappiness`, `useHierarchy`, `idle`, net_cls/net_prio tags, `checkBeforeUpdate`, env, cwd, reason) | set them where unset; `swappiness`, `checkBeforeUpdate`, env, cwd and reason freely |

mod confinement;
mod network;

use std::collections::{BTreeMap, BTreeSet};

use crate::decision::{DeviceRule, DeviceType, IdMapping};
use crate::devices::permits;
use crate::normal::{
    DeviceNumber, DeviceWeight, Limit, NormalBlockIo, NormalCapabilities, NormalCpu,
    NormalDecision, NormalMemory, NormalProcess, NormalResources, NormalUser, RlimitValue,
};

/// A later policy loosened the decision of the policies before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("loosens {field}: {message}")]
pub struct Loosened {
    /// The field path it loosened, e.g. `process.capabilities.effective`.
    pub field: String,
    /// How, e.g. `adds CAP_SYS_ADMIN`.
    pub message: String,
}

type Checked = Result<(), Loosened>;

fn loosened(field: impl Into<String>, message: impl Into<String>) -> Checked {
    Err(Loosened {
        field: field.into(),
        message: message.into(),
    })
}

/// Checks that `later` is at least as tight as `earlier`.
pub fn check_tightens(earlier: &NormalDecision, later: &NormalDecision) -> Checked {
    let NormalDecision {
        reason: _,
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
    } = earlier;
    namespaces_kept(namespaces, &later.namespaces)?;
    settable_once("hostname", hostname, &later.hostname)?;
    settable_once("domainname", domainname, &later.domainname)?;
    mappings_kept("uidMappings", uid_mappings, &later.uid_mappings)?;
    mappings_kept("gidMappings", gid_mappings, &later.gid_mappings)?;
    confinement::private_host_ids_kept(
        *private_host_ids,
        !uid_mappings.is_empty() || !gid_mappings.is_empty(),
        later.private_host_ids,
    )?;
    let below = later.cgroups_path == *cgroups_path
        || later.cgroups_path.starts_with(&format!("{cgroups_path}/"));
    if !below {
        return loosened(
            "cgroupsPath",
            format!(
                "{:?} is not {cgroups_path:?} or below it",
                later.cgroups_path
            ),
        );
    }
    resources_tightened(resources, &later.resources)?;
    process_tightened(process, &later.process)?;
    confinement::filesystem_tightened(
        filesystem,
        &later.filesystem,
        later.process.no_new_privileges,
    )?;
    confinement::seccomp_tightened(seccomp.as_ref(), later.seccomp.as_ref())?;
    network::network_tightened(network, &later.network)
}

fn namespaces_kept(
    earlier: &[crate::decision::Namespace],
    later: &[crate::decision::Namespace],
) -> Checked {
    for namespace in earlier {
        if !later.contains(namespace) {
            let what = match &namespace.path {
                Some(path) => format!("drops the join of {} namespace {path}", namespace.kind),
                None => format!("drops the new {} namespace", namespace.kind),
            };
            return loosened("namespaces", what);
        }
    }
    for namespace in later {
        if let Some(path) = &namespace.path
            && !earlier.contains(namespace)
        {
            return loosened(
                "namespaces",
                format!(
                    "adds a join of {} namespace {path}; only earlier policies may join",
                    namespace.kind
                ),
            );
        }
    }
    Ok(())
}

/// A value the earlier policies set stays; an unset one may be set.
fn settable_once<T: PartialEq + std::fmt::Debug>(
    field: &str,
    earlier: &Option<T>,
    later: &Option<T>,
) -> Checked {
    match (earlier, later) {
        (Some(before), after) if after.as_ref() != Some(before) => loosened(
            field,
            match after {
                Some(after) => {
                    format!("changes {before:?} to {after:?}; only an unset value may be set")
                }
                None => format!("unsets {before:?}; a value the earlier policies set stays"),
            },
        ),
        _ => Ok(()),
    }
}

fn mappings_kept(field: &str, earlier: &[IdMapping], later: &[IdMapping]) -> Checked {
    if !earlier.is_empty() && earlier != later {
        return loosened(field, "must keep the earlier id mappings");
    }
    Ok(())
}

fn limit(field: &str, earlier: Limit, later: Limit) -> Checked {
    if later <= earlier {
        return Ok(());
    }
    match later {
        Limit::Unlimited => loosened(field, format!("removes the limit {earlier}")),
        Limit::At(_) => loosened(field, format!("raises {earlier} to {later}")),
    }
}

fn resources_tightened(earlier: &NormalResources, later: &NormalResources) -> Checked {
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
    } = earlier;
    memory_tightened(memory, &later.memory)?;
    cpu_tightened(cpu, &later.cpu)?;
    limit("resources.pids.limit", *pids, later.pids)?;
    block_io_tightened(block_io, &later.block_io)?;
    limits_kept(
        "resources.hugepageLimits",
        hugepage_limits,
        &later.hugepage_limits,
    )?;
    settable_once(
        "resources.network.classID",
        network_class_id,
        &later.network_class_id,
    )?;
    for (name, priority) in network_priorities {
        settable_once(
            &format!("resources.network.priorities[{name}]"),
            &Some(*priority),
            &later.network_priorities.get(name).copied(),
        )?;
    }
    devices_subset(devices, &later.devices)?;
    unified_tightened(
        (unified, hugepage_limits),
        (&later.unified, &later.hugepage_limits),
    )
}

fn memory_tightened(earlier: &NormalMemory, later: &NormalMemory) -> Checked {
    let NormalMemory {
        limit: hard,
        reservation,
        swap,
        kernel,
        kernel_tcp,
        swappiness: _,
        disable_oom_killer,
        use_hierarchy,
        check_before_update: _,
    } = earlier;
    limit("resources.memory.limit", *hard, later.limit)?;
    limit(
        "resources.memory.reservation",
        *reservation,
        later.reservation,
    )?;
    limit("resources.memory.swap", *swap, later.swap)?;
    // OCI swap is memory plus swap; cgroup v2 limits swap alone
    // (`memory.swap.max` = swap - limit), so a lower memory limit under the
    // same swap would raise it.
    limit(
        "resources.memory.swap",
        swap_alone(*hard, *swap),
        swap_alone(later.limit, later.swap),
    )
    .map_err(|error| Loosened {
        message: format!("swap alone (swap minus limit): {}", error.message),
        ..error
    })?;
    limit("resources.memory.kernel", *kernel, later.kernel)?;
    limit("resources.memory.kernelTCP", *kernel_tcp, later.kernel_tcp)?;
    if later.disable_oom_killer && !disable_oom_killer {
        return loosened(
            "resources.memory.disableOOMKiller",
            "turns it on: the workload would hang at its limit instead of being killed",
        );
    }
    settable_once(
        "resources.memory.useHierarchy",
        use_hierarchy,
        &later.use_hierarchy,
    )
}

/// The swap a memory limit and an OCI (memory plus swap) swap limit leave,
/// as cgroup v2 writes it. With no memory limit, the swap limit bounds
/// swap alone too.
pub fn swap_alone(memory: Limit, swap: Limit) -> Limit {
    match (memory, swap) {
        (Limit::At(memory), Limit::At(swap)) => Limit::At(swap.saturating_sub(memory)),
        (Limit::Unlimited, swap) | (_, swap @ Limit::Unlimited) => swap,
    }
}

/// CPUs worth of bandwidth, in millionths (`u128`: no overflow);
/// `None`: unlimited.
pub fn share(runtime: Limit, period: u64) -> Option<u128> {
    runtime
        .value()
        .map(|runtime| u128::from(runtime) * 1_000_000 / u128::from(period.max(1)))
}

fn bandwidth(field: &str, earlier: (Limit, u64), later: (Limit, u64)) -> Checked {
    match (share(earlier.0, earlier.1), share(later.0, later.1)) {
        (_, None) | (None, _) => limit(field, earlier.0, later.0),
        (Some(before), Some(after)) if after > before => loosened(
            field,
            format!(
                "raises {}/{} µs to {}/{} µs",
                earlier.0, earlier.1, later.0, later.1
            ),
        ),
        _ => Ok(()),
    }
}

fn cpu_tightened(earlier: &NormalCpu, later: &NormalCpu) -> Checked {
    let NormalCpu {
        shares,
        quota,
        period,
        burst,
        realtime_runtime,
        realtime_period,
        cpus,
        mems,
        idle,
    } = earlier;
    if later.shares > *shares {
        return loosened(
            "resources.cpu.shares",
            format!("raises {shares} to {}", later.shares),
        );
    }
    bandwidth(
        "resources.cpu.quota",
        (*quota, *period),
        (later.quota, later.period),
    )?;
    limit(
        "resources.cpu.burst",
        Limit::At(*burst),
        Limit::At(later.burst),
    )?;
    limit(
        "resources.cpu.realtimeRuntime",
        *realtime_runtime,
        later.realtime_runtime,
    )?;
    const KERNEL_RT_PERIOD: u64 = 1_000_000;
    bandwidth(
        "resources.cpu.realtimeRuntime",
        (
            *realtime_runtime,
            realtime_period.unwrap_or(KERNEL_RT_PERIOD),
        ),
        (
            later.realtime_runtime,
            later.realtime_period.unwrap_or(KERNEL_RT_PERIOD),
        ),
    )?;
    subset("resources.cpu.cpus", cpus, &later.cpus)?;
    subset("resources.cpu.mems", mems, &later.mems)?;
    settable_once("resources.cpu.idle", idle, &later.idle)
}

fn subset(field: &str, earlier: &Option<BTreeSet<u32>>, later: &Option<BTreeSet<u32>>) -> Checked {
    let Some(before) = earlier else {
        return Ok(());
    };
    let list = crate::normal::cpu_list;
    match later {
        None => loosened(
            field,
            format!("removes the restriction to {:?}", list(before)),
        ),
        Some(after) if !after.is_subset(before) => loosened(
            field,
            format!("{:?} is not a subset of {:?}", list(after), list(before)),
        ),
        Some(_) => Ok(()),
    }
}

/// Every earlier entry stays, no higher; new entries may be added.
fn limits_kept<K: Ord + std::fmt::Display>(
    field: &str,
    earlier: &BTreeMap<K, u64>,
    later: &BTreeMap<K, u64>,
) -> Checked {
    for (key, before) in earlier {
        let after = later.get(key).map_or(Limit::Unlimited, |v| Limit::At(*v));
        limit(&format!("{field}[{key}]"), Limit::At(*before), after)?;
    }
    Ok(())
}

fn weight(field: &str, earlier: Option<u16>, later: Option<u16>) -> Checked {
    match (earlier, later) {
        (_, None) if earlier.is_none() => Ok(()),
        (None, Some(after)) => loosened(
            field,
            format!("sets {after}, where the earlier policies left the kernel's default weight"),
        ),
        (Some(before), None) => loosened(field, format!("removes the weight {before}")),
        (Some(before), Some(after)) if after > before => {
            loosened(field, format!("raises {before} to {after}"))
        }
        _ => Ok(()),
    }
}

fn block_io_tightened(earlier: &NormalBlockIo, later: &NormalBlockIo) -> Checked {
    let NormalBlockIo {
        weight: default_weight,
        leaf_weight,
        weight_device,
        throttle_read_bps_device,
        throttle_write_bps_device,
        throttle_read_iops_device,
        throttle_write_iops_device,
    } = earlier;
    weight("resources.blockIO.weight", *default_weight, later.weight)?;
    weight(
        "resources.blockIO.leafWeight",
        *leaf_weight,
        later.leaf_weight,
    )?;
    let devices: BTreeSet<&DeviceNumber> = weight_device
        .keys()
        .chain(later.weight_device.keys())
        .collect();
    let unset = DeviceWeight {
        weight: None,
        leaf_weight: None,
    };
    for device in devices {
        let before = weight_device.get(device).unwrap_or(&unset);
        let after = later.weight_device.get(device).unwrap_or(&unset);
        let DeviceWeight {
            weight: device_weight,
            leaf_weight: device_leaf_weight,
        } = before;
        let field = format!("resources.blockIO.weightDevice[{device}]");
        weight(&field, *device_weight, after.weight)?;
        weight(
            &format!("{field}.leafWeight"),
            *device_leaf_weight,
            after.leaf_weight,
        )?;
    }
    for (field, before, after) in [
        (
            "resources.blockIO.throttleReadBpsDevice",
            throttle_read_bps_device,
            &later.throttle_read_bps_device,
        ),
        (
            "resources.blockIO.throttleWriteBpsDevice",
            throttle_write_bps_device,
            &later.throttle_write_bps_device,
        ),
        (
            "resources.blockIO.throttleReadIOPSDevice",
            throttle_read_iops_device,
            &later.throttle_read_iops_device,
        ),
        (
            "resources.blockIO.throttleWriteIOPSDevice",
            throttle_write_iops_device,
            &later.throttle_write_iops_device,
        ),
    ] {
        limits_kept(field, before, after)?;
    }
    Ok(())
}

/// How the value of a raw cgroup v2 file a later policy may set compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnifiedKind {
    /// Bytes or `max`, lower is tighter; the value of a fresh cgroup.
    Bytes(Limit),
    /// Grants nothing; any value.
    Any,
    /// A typed field owns the file: set that instead.
    Typed(&'static str),
}

/// The raw files a later policy may name, and how each compares.
fn unified_kind(key: &str) -> Option<UnifiedKind> {
    use UnifiedKind::{Any, Bytes, Typed};
    let kind = match key {
        "memory.high" | "memory.swap.high" | "memory.zswap.max" => Bytes(Limit::Unlimited),
        "memory.min" => Bytes(Limit::At(0)),
        "memory.oom.group" => Any,
        "memory.max" => Typed("resources.memory.limit"),
        "memory.low" => Typed("resources.memory.reservation"),
        "memory.swap.max" => Typed("resources.memory.swap"),
        "memory.swappiness" => Typed("resources.memory.swappiness"),
        "pids.max" => Typed("resources.pids.limit"),
        "cpu.max" => Typed("resources.cpu.quota"),
        "cpu.max.burst" => Typed("resources.cpu.burst"),
        "cpu.weight" | "cpu.weight.nice" => Typed("resources.cpu.shares"),
        "cpu.idle" => Typed("resources.cpu.idle"),
        "cpuset.cpus" => Typed("resources.cpu.cpus"),
        "cpuset.mems" => Typed("resources.cpu.mems"),
        "io.weight" | "io.bfq.weight" => Typed("resources.blockIO.weight"),
        "io.max" => Typed("resources.blockIO throttles"),
        _ if key.starts_with("hugetlb.") && key.ends_with(".rsvd.max") => Bytes(Limit::Unlimited),
        _ if key.starts_with("hugetlb.") && key.ends_with(".max") => {
            Typed("resources.hugepageLimits")
        }
        _ => return None,
    };
    Some(kind)
}

/// A cgroup v2 byte value as the kernel reads it (`memparse`): `max`, or
/// a number with an optional `K`, `M`, `G`, `T`, `P` or `E` suffix.
pub fn unified_bytes(value: &str) -> Option<Limit> {
    let value = value.trim();
    if value == "max" {
        return Some(Limit::Unlimited);
    }
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &value[digits.len()..] {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        "p" | "P" => 50,
        "e" | "E" => 60,
        _ => return None,
    };
    let number: u64 = digits.parse().ok()?;
    number.checked_mul(1 << shift).map(Limit::At)
}

/// The raw files and the typed hugepage limits, of one decision.
type UnifiedAndHugepages<'a> = (&'a BTreeMap<String, String>, &'a BTreeMap<String, u64>);

/// What a raw file holds when the decision does not set it: the typed
/// field that writes the same file (the typed hugepage limit is also
/// written to `hugetlb.<size>.rsvd.max`, before the raw files), else a
/// fresh cgroup's value.
fn unset_unified(key: &str, fresh: Limit, hugepages: &BTreeMap<String, u64>) -> Limit {
    key.strip_prefix("hugetlb.")
        .and_then(|rest| rest.strip_suffix(".rsvd.max"))
        .and_then(|size| hugepages.get(size))
        .map_or(fresh, |limit| Limit::At(*limit))
}

fn unified_tightened(
    (earlier, earlier_hugepages): UnifiedAndHugepages<'_>,
    (later, later_hugepages): UnifiedAndHugepages<'_>,
) -> Checked {
    let keys: BTreeSet<&String> = earlier.keys().chain(later.keys()).collect();
    for key in keys {
        let field = format!("resources.unified[{key}]");
        let (before, after) = (earlier.get(key), later.get(key));
        if before == after {
            continue;
        }
        let Some(kind) = unified_kind(key) else {
            return loosened(
                field,
                match after {
                    Some(_) => {
                        "is not a file a later policy may set (unknown to the enforcer's tighten-only rules)"
                    }
                    None => "removes a raw file the earlier policies set",
                },
            );
        };
        match kind {
            UnifiedKind::Typed(owner) => {
                return loosened(
                    field,
                    format!("duplicates the typed field {owner}; tighten that instead"),
                );
            }
            UnifiedKind::Any => {
                if before.is_some() && after.is_none() {
                    return loosened(field, "removes a raw file the earlier policies set");
                }
            }
            UnifiedKind::Bytes(fresh) => {
                let parse = |value: Option<&String>, hugepages| match value {
                    None => Ok(unset_unified(key, fresh, hugepages)),
                    Some(text) => unified_bytes(text).ok_or_else(|| Loosened {
                        field: field.clone(),
                        message: format!("{text:?} is not a number of bytes or \"max\""),
                    }),
                };
                limit(
                    &field,
                    parse(before, earlier_hugepages)?,
                    parse(after, later_hugepages)?,
                )?;
            }
        }
    }
    Ok(())
}

fn process_tightened(earlier: &NormalProcess, later: &NormalProcess) -> Checked {
    let NormalProcess {
        user,
        capabilities,
        no_new_privileges,
        rlimits,
        env: _,
        cwd: _,
    } = earlier;
    user_kept(user, &later.user)?;
    capabilities_subset(capabilities, &later.capabilities)?;
    if *no_new_privileges && !later.no_new_privileges {
        return loosened("process.noNewPrivileges", "turns it off");
    }
    rlimits_tightened(rlimits, &later.rlimits)
}

fn user_kept(earlier: &NormalUser, later: &NormalUser) -> Checked {
    let NormalUser {
        uid,
        gid,
        umask,
        additional_gids,
    } = earlier;
    if later.uid != *uid {
        return loosened(
            "process.user.uid",
            format!(
                "changes {uid} to {}; the workload's user must stay",
                later.uid
            ),
        );
    }
    if later.gid != *gid {
        return loosened(
            "process.user.gid",
            format!(
                "changes {gid} to {}; the workload's group must stay",
                later.gid
            ),
        );
    }
    if let Some(extra) = later.additional_gids.difference(additional_gids).next() {
        return loosened("process.user.additionalGids", format!("adds group {extra}"));
    }
    if let Some(before) = umask {
        let after = later.umask.unwrap_or(0);
        if after & before != *before {
            return loosened(
                "process.user.umask",
                format!("{after:03o} clears bits of {before:03o}"),
            );
        }
    }
    Ok(())
}

fn capabilities_subset(earlier: &NormalCapabilities, later: &NormalCapabilities) -> Checked {
    let NormalCapabilities {
        bounding,
        effective,
        inheritable,
        permitted,
        ambient,
    } = earlier;
    for (set, before, after) in [
        ("bounding", bounding, &later.bounding),
        ("effective", effective, &later.effective),
        ("inheritable", inheritable, &later.inheritable),
        ("permitted", permitted, &later.permitted),
        ("ambient", ambient, &later.ambient),
    ] {
        if let Some(extra) = after.difference(before).next() {
            return loosened(
                format!("process.capabilities.{set}"),
                format!("adds {extra}"),
            );
        }
    }
    Ok(())
}

fn rlimits_tightened(
    earlier: &BTreeMap<String, RlimitValue>,
    later: &BTreeMap<String, RlimitValue>,
) -> Checked {
    for (kind, before) in earlier {
        let field = format!("process.rlimits[{kind}]");
        let RlimitValue { soft, hard } = before;
        match later.get(kind) {
            None => return loosened(field, "removes the limit"),
            Some(after) if after.hard > *hard || after.soft > *soft => {
                return loosened(
                    field,
                    format!(
                        "raises {soft}/{hard} to {}/{} (soft/hard)",
                        after.soft, after.hard
                    ),
                );
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Every device access the later rules allow must be allowed by the
/// earlier rules, exactly (OCI semantics, [`crate::devices::permits`]).
///
/// Whether a rule matches a device depends only on whether each of the
/// device's numbers equals a number some rule names, so the devices of
/// both lists fall into finitely many classes: for each type (`c`, `b`),
/// each major named anywhere or one named nowhere, and likewise each
/// minor. One device of each class, each access bit, decides.
fn devices_subset(before: &[DeviceRule], after: &[DeviceRule]) -> Checked {
    let named = |pick: fn(&DeviceRule) -> Option<i64>| -> Vec<i64> {
        let mut numbers: BTreeSet<i64> = before
            .iter()
            .chain(after)
            .filter_map(pick)
            .filter(|n| *n >= 0)
            .collect();
        let unnamed = (0..).find(|n| !numbers.contains(n)).unwrap_or(0);
        numbers.insert(unnamed);
        numbers.into_iter().collect()
    };
    let majors = named(|rule| rule.major);
    let minors = named(|rule| rule.minor);
    for kind in [DeviceType::Char, DeviceType::Block] {
        for &major in &majors {
            for &minor in &minors {
                for bit in ['r', 'w', 'm'] {
                    let access = bit.to_string();
                    if permits(after, kind, major, minor, &access)
                        && !permits(before, kind, major, minor, &access)
                    {
                        // Name the rule that grants it (none: a fresh
                        // cgroup's allow-all).
                        let grant = after
                            .iter()
                            .rev()
                            .find(|rule| {
                                rule.matches(kind, major, minor)
                                    && rule.access_or_default().contains(bit)
                            })
                            .map_or_else(|| DeviceRule::allow_all().target(), DeviceRule::target);
                        return loosened(
                            "resources.devices",
                            format!(
                                "allows {bit} access to devices {grant} that earlier policies deny ({} {major}:{minor} among them)",
                                kind.letter()
                            ),
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Decision, NamespaceType};
    use crate::normal::{Context, normalize};
    use crate::units::MIB;

    fn normal(decision: &Decision) -> NormalDecision {
        normalize(decision, &Context::typical())
    }

    fn base() -> Decision {
        Decision::allow()
            .namespaces([NamespaceType::Pid, NamespaceType::Network])
            .cgroups_path("acme")
            .memory_limit(512 * MIB)
            .pids(256)
            .cpu_quota(100_000, 100_000)
            .default_devices()
            .hugepage_limit("2MB", 0)
            .no_new_privileges(true)
    }

    fn error(later: Decision) -> String {
        check_tightens(&normal(&base()), &normal(&later))
            .expect_err("must loosen")
            .to_string()
    }

    #[test]
    fn tightening_is_accepted() {
        let later = base()
            .namespace(NamespaceType::Ipc)
            .cgroups_path("acme/job")
            .memory_limit(256 * MIB)
            .pids(64)
            .cpu_quota(25_000, 50_000)
            .deny_all_devices()
            .append_device_rule(DeviceRule::allow_char(1, Some(3), "rw"));
        check_tightens(&normal(&base()), &normal(&later)).expect("tighter");
        check_tightens(&normal(&base()), &normal(&base())).expect("equal");
    }

    #[test]
    fn each_loosening_names_its_field() {
        assert!(
            error(base().memory_limit(1024 * MIB)).starts_with("loosens resources.memory.limit")
        );
        assert!(error(base().pids(1000)).starts_with("loosens resources.pids.limit"));
        assert!(
            error(base().cpu_quota(300_000, 100_000)).starts_with("loosens resources.cpu.quota")
        );
        assert!(error(base().hugepage_limit("2MB", 2 * MIB)).contains("hugepageLimits[2MB]"));
        assert!(error(base().cgroups_path("other")).contains("cgroupsPath"));
        assert!(error(base().no_new_privileges(false)).contains("noNewPrivileges"));
        let mut fewer = base();
        fewer
            .namespaces
            .retain(|ns| ns.kind != NamespaceType::Network);
        assert!(error(fewer).contains("drops the new network namespace"));
        assert!(
            error(base().join_namespace(NamespaceType::Ipc, "/proc/1/ns/ipc"))
                .contains("adds a join")
        );
        let mut unlimited = base();
        unlimited.resources.as_mut().expect("resources").pids = None;
        assert!(error(unlimited).contains("removes the limit 256"));
    }

    #[test]
    fn a_silent_platform_still_binds_the_process() {
        let platform = Decision::allow().standard_namespaces().pids(64);
        let mut tenant = platform.clone().no_new_privileges(false);
        let caps: Vec<String> = vec!["CAP_SYS_ADMIN".into()];
        tenant
            .process
            .get_or_insert_with(Default::default)
            .capabilities = Some(crate::Capabilities {
            bounding: caps.clone(),
            effective: caps.clone(),
            inheritable: caps.clone(),
            permitted: caps.clone(),
            ambient: caps,
        });
        let error = check_tightens(&normal(&platform), &normal(&tenant))
            .expect_err("adds a capability")
            .to_string();
        assert!(
            error.starts_with("loosens process.capabilities.bounding: adds CAP_SYS_ADMIN"),
            "{error}"
        );
    }

    #[test]
    fn unified_keys_are_known_tighter_and_not_typed() {
        let mut platform = base();
        platform
            .resources_mut()
            .unified
            .insert("memory.high".into(), "200000000".into());
        let with = |key: &str, value: &str| {
            let mut later = platform.clone();
            later
                .resources_mut()
                .unified
                .insert(key.into(), value.into());
            check_tightens(&normal(&platform), &normal(&later)).map_err(|e| e.to_string())
        };
        with("memory.high", "100000000").expect("tighter");
        with("memory.high", "100M").expect("suffixes are read as the kernel reads them");
        assert!(with("memory.high", "1G").is_err());
        let raised = with("memory.high", "max").expect_err("looser");
        assert!(
            raised.contains("resources.unified[memory.high]"),
            "{raised}"
        );
        let typed = with("pids.max", "max").expect_err("typed");
        assert!(
            typed.contains("duplicates the typed field resources.pids.limit"),
            "{typed}"
        );
        let unknown = with("memory.frobnicate", "1").expect_err("unknown");
        assert!(
            unknown.contains("resources.unified[memory.frobnicate]"),
            "{unknown}"
        );
    }

    #[test]
    fn device_sets_must_shrink() {
        let more = base().append_device_rule(DeviceRule::allow_char(1, Some(1), "r"));
        assert!(error(more).contains("allows r access to devices c 1:1"), "");
        let mut none = base();
        none.resources.as_mut().expect("resources").devices.clear();
        assert!(error(none).contains("a *:*"));
        let wildcard = base().append_device_rule(DeviceRule::allow_char(136, None, "rw"));
        check_tightens(&normal(&base()), &normal(&wildcard))
            .expect("pts wildcard was allowed before");
    }

    #[test]
    fn device_rules_tighten_themselves() {
        // Found by the property test: a deny cutting into an earlier allow
        // (or into a fresh cgroup's allow-all) made a list refuse itself.
        let lists = [
            (
                vec![DeviceRule::deny_char(136, None, "rwm")],
                DeviceRule::allow_char(136, None, "r"),
                "allows r access to devices c 136:*",
            ),
            (
                vec![
                    DeviceRule::deny_all(),
                    DeviceRule::allow_block(8, Some(0), "w"),
                    DeviceRule::allow_char(1, Some(8), "rwm"),
                    DeviceRule {
                        allow: false,
                        ..DeviceRule::allow_block(8, Some(0), "wm")
                    },
                ],
                DeviceRule::allow_block(8, Some(0), "m"),
                "allows m access to devices b 8:0",
            ),
        ];
        for (rules, again, message) in lists {
            let mut decision = base();
            decision.resources_mut().devices = rules.clone();
            let earlier = normal(&decision);
            check_tightens(&earlier, &earlier).expect("a list is as tight as itself");
            decision
                .resources_mut()
                .devices
                .push(DeviceRule::deny_char(1, Some(8), "w"));
            check_tightens(&earlier, &normal(&decision)).expect("one more deny");
            decision.resources_mut().devices.push(again);
            let error = check_tightens(&earlier, &normal(&decision))
                .expect_err("allows a denied access again")
                .to_string();
            assert!(error.contains(message), "{error}");
        }
    }

    #[test]
    fn a_lower_memory_limit_under_the_same_swap_limit_is_more_swap() {
        // Found by the property test: OCI swap is memory plus swap, and
        // cgroup v2 writes memory.swap.max = swap - limit, so 8M/128M gives
        // 120M of swap where 128M/128M gave none.
        let earlier = base().memory_limit(128 * MIB).memory_swap(128 * MIB);
        let more_swap = earlier.clone().memory_limit(8 * MIB);
        let error = check_tightens(&normal(&earlier), &normal(&more_swap))
            .expect_err("raises swap alone")
            .to_string();
        assert!(
            error.starts_with("loosens resources.memory.swap: swap alone"),
            "{error}"
        );
        let both = more_swap.memory_swap(8 * MIB);
        check_tightens(&normal(&earlier), &normal(&both)).expect("both lower");
    }

    #[test]
    fn a_raw_hugetlb_reservation_limit_starts_from_the_typed_limit() {
        // Found by the property test: the typed hugepage limit is written
        // to hugetlb.<size>.rsvd.max too, before the raw files, so a raw
        // value above it loosens the reservation limit.
        let earlier = base();
        let with = |value: &str| {
            let mut later = base();
            later
                .resources_mut()
                .unified
                .insert("hugetlb.2MB.rsvd.max".into(), value.into());
            check_tightens(&normal(&earlier), &normal(&later)).map_err(|e| e.to_string())
        };
        let error = with("2097152").expect_err("above the typed 0");
        assert!(
            error.contains("resources.unified[hugetlb.2MB.rsvd.max]"),
            "{error}"
        );
        with("0").expect("equal to the typed limit");
    }
}
