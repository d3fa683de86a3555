//! `update`: a container's resources after an in-place update may not be
//! looser than its decision (the tighten rule's resource comparisons,
//! `policy_model::tighten`).
//!
//! [`check`] overlays the update on the decision's resources as the
//! delegate applies an update (runc's `update.go`, crun's
//! `libcrun_container_update`) and asks the chain's own comparison
//! ([`policy_model::check_tightens`]) whether the result is at least as
//! tight as the decision: no limit is listed here by hand. What the
//! delegates do that the overlay must mirror:
//!
//! * a `0` is "unchanged" for memory limit, swap, reservation and kernel
//!   limits, cpu shares, quota, period, realtime runtime and period, and
//!   the block I/O weights (both skip writing a zero); an empty `cpus` or
//!   `mems` likewise;
//! * runc sets the CFS quota and period apart (`update.go`: "leave the
//!   unset parameter at the old value"), so an update giving one of them
//!   against an unseen current other is refused where the decision limits
//!   bandwidth; likewise the realtime pair, and `swap` without `limit`
//!   where the decision limits both (cgroup v2 writes swap minus limit);
//! * a memory limit of `-1` without a swap limit makes swap unlimited too
//!   (runc's fix-up and `ConvertMemorySwapToCgroupV2Value`);
//! * throttles, device weights, hugepage limits, `unified` keys and
//!   net_prio priorities are upserted one by one; a throttle rate of `0`
//!   removes the throttle (cgroup v1 `blkio.throttle.*`); a device weight
//!   of `0` removes it;
//! * `devices`: runc's update ignores them (`SkipDevices`), crun's writes
//!   them (a new device program on cgroup v2): a non-empty list replaces
//!   the decision's and must allow no more. Hugepage limits, network and
//!   kernel memory are ignored by runc and written by crun, so they are
//!   checked too.

use std::collections::BTreeMap;

use policy_model::normal::NormalResources;
use policy_model::{
    Context, Decision, Limit, Resources, ThrottleDevice, check_tightens, normalize,
};

use super::record::ContainerRecord;

/// Why an update is refused: the resource's JSON path (or flag) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct UpdateRefusal {
    /// `memory.limit` or `--memory`.
    pub field: String,
    /// Why (`1073741824 is above the container's decision, 268435456`).
    pub message: String,
}

/// The resources an update sets: `resources` (the `--resources` JSON, if
/// any) with runc's individual flags (`("memory", "1G")`, as
/// [`super::args::UpdateArgs::flags`]) applied over it.
///
/// The JSON is read strictly: an unknown member (or one spelled in
/// another case, which Go would still read) is refused, naming it. runc
/// and crun ignore every individual flag when `--resources` is given, so
/// the two together are refused rather than guessed at; so is a flag
/// given twice. The Intel RDT flags (`--l3-cache-schema`,
/// `--mem-bw-schema`) are no resources and pass.
pub fn resources_of(
    resources: Option<&str>,
    flags: &[(String, String)],
) -> Result<Resources, UpdateRefusal> {
    let flags: Vec<&(String, String)> = flags
        .iter()
        .filter(|(name, _)| !RDT_FLAGS.contains(&name.as_str()))
        .collect();
    if let Some(text) = resources {
        if let Some((name, _)) = flags.first() {
            return refuse(
                &format!("--{name}"),
                "runc and crun ignore the individual flags when --resources is given; give one or the other",
            );
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let parsed: Resources =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let path = error.path().to_string();
                UpdateRefusal {
                    field: if path == "." {
                        "resources".to_string()
                    } else {
                        path
                    },
                    message: format!("{}: this update cannot be checked", error.inner()),
                }
            })?;
        deserializer.end().map_err(|error| UpdateRefusal {
            field: "resources".to_string(),
            message: format!("{error}: this update cannot be checked"),
        })?;
        return Ok(parsed);
    }
    let mut update = Resources::default();
    let mut seen = Vec::new();
    for (name, value) in flags {
        if seen.contains(&name) {
            return refuse(
                &format!("--{name}"),
                "given twice: runc takes the last, crun may take the first",
            );
        }
        seen.push(name);
        apply_flag(&mut update, name, value)?;
    }
    Ok(update)
}

/// runc's Intel RDT flags of `update`: not cgroup resources.
const RDT_FLAGS: [&str; 2] = ["l3-cache-schema", "mem-bw-schema"];

fn refuse<T>(field: &str, message: &str) -> Result<T, UpdateRefusal> {
    Err(UpdateRefusal {
        field: field.to_string(),
        message: message.to_string(),
    })
}

/// One of runc's `update` flags, parsed as runc parses it (`update.go`):
/// sizes with `units.RAMInBytes` (or `-1`), unsigned and signed decimal
/// integers, cpuset strings. An empty value is no flag (runc skips it),
/// except for the integer flags, which runc cannot parse.
fn apply_flag(update: &mut Resources, name: &str, value: &str) -> Result<(), UpdateRefusal> {
    let field = format!("--{name}");
    let bad = |what: &str| UpdateRefusal {
        field: field.clone(),
        message: format!("{value:?} is not {what}"),
    };
    let unsigned = || value.parse::<u64>().map_err(|_| bad("an unsigned integer"));
    let signed = || value.parse::<i64>().map_err(|_| bad("an integer"));
    let size = || {
        if value == "-1" {
            Ok(-1)
        } else {
            ram_in_bytes(value).ok_or_else(|| bad("a size (such as 512m or 1G)"))
        }
    };
    let integer_flag = matches!(name, "blkio-weight" | "pids-limit");
    if value.is_empty() && !integer_flag {
        return Ok(());
    }
    let memory = || update.memory.clone().unwrap_or_default();
    let cpu = || update.cpu.clone().unwrap_or_default();
    match name {
        "blkio-weight" => {
            let weight = value
                .parse::<u16>()
                .map_err(|_| bad("a weight (10 to 1000)"))?;
            // runc: `if val := cmd.Int("blkio-weight"); val != 0`.
            if weight != 0 {
                let mut io = update.block_io.clone().unwrap_or_default();
                io.weight = Some(weight);
                update.block_io = Some(io);
            }
        }
        "pids-limit" => update.pids = Some(policy_model::Pids { limit: signed()? }),
        "cpuset-cpus" | "cpuset-mems" => {
            let mut cpu = cpu();
            if name == "cpuset-cpus" {
                cpu.cpus = Some(value.to_string());
            } else {
                cpu.mems = Some(value.to_string());
            }
            update.cpu = Some(cpu);
        }
        "cpu-idle" | "cpu-quota" | "cpu-rt-runtime" => {
            let number = signed()?;
            let mut cpu = cpu();
            match name {
                "cpu-idle" => cpu.idle = Some(number),
                "cpu-quota" => cpu.quota = Some(number),
                _ => cpu.realtime_runtime = Some(number),
            }
            update.cpu = Some(cpu);
        }
        "cpu-burst" | "cpu-period" | "cpu-rt-period" | "cpu-share" => {
            let number = unsigned()?;
            let mut cpu = cpu();
            match name {
                "cpu-burst" => cpu.burst = Some(number),
                "cpu-period" => cpu.period = Some(number),
                "cpu-rt-period" => cpu.realtime_period = Some(number),
                _ => cpu.shares = Some(number),
            }
            update.cpu = Some(cpu);
        }
        "memory" | "memory-swap" | "kernel-memory" | "kernel-memory-tcp" | "memory-reservation" => {
            let bytes = size()?;
            let mut memory = memory();
            match name {
                "memory" => memory.limit = Some(bytes),
                "memory-swap" => memory.swap = Some(bytes),
                "kernel-memory" => memory.kernel = Some(bytes),
                "kernel-memory-tcp" => memory.kernel_tcp = Some(bytes),
                _ => memory.reservation = Some(bytes),
            }
            update.memory = Some(memory);
        }
        _ => {
            return refuse(
                &field,
                "is not a flag of runc's update this mode knows: it cannot be checked",
            );
        }
    }
    Ok(())
}

/// docker's `units.RAMInBytes` (runc's sizes): a decimal number with an
/// optional fraction, an optional space, an optional `k`, `m`, `g`, `t`
/// or `p` (any case, powers of 1024), an optional `i` and an optional
/// `b`. `None` for anything else or a size past `i64`.
pub fn ram_in_bytes(text: &str) -> Option<i64> {
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, mut rest) = text.split_at(digits_end);
    // `^(\d+(\.\d+)*)`: digits, then groups of a dot and digits; ParseFloat
    // then takes only one dot.
    let mut parts = number.split('.');
    let whole = parts.next()?;
    let fraction = parts.next();
    if whole.is_empty()
        || parts.next().is_some()
        || fraction.is_some_and(|fraction| fraction.is_empty())
    {
        return None;
    }
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars().peekable();
    let shift = match chars.peek().map(char::to_ascii_lowercase) {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift != 0 {
        chars.next();
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        chars.next();
    }
    if chars.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        chars.next();
    }
    if chars.next().is_some() {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let scaled = whole.checked_mul(1_i64 << shift)?;
    let Some(fraction) = fraction else {
        return Some(scaled);
    };
    // Go computes in float64 and truncates; so does this, bounded.
    let value = format!("{whole}.{fraction}").parse::<f64>().ok()? * (1_u64 << shift) as f64;
    if !(0.0..9.2e18).contains(&value) {
        return None;
    }
    Some(value as i64)
}

/// `update` without what runc's `update` does not apply (`devices`,
/// `hugepageLimits`): containerd's CRI sends a resize as the whole
/// resource block of its own, unpatched copy of the spec, whose device
/// and hugepage rules may be looser than the decision though runc never
/// writes them. With crun, which writes them, they are checked.
pub fn without_what_runc_ignores(mut update: Resources) -> Resources {
    update.devices.clear();
    update.hugepage_limits.clear();
    update
}

/// Whether `update` keeps within `record`'s limits: every limit the
/// decision set is set no higher (an update that leaves a limit out keeps
/// the container's current value, which `create` already tightened).
pub fn check(update: &Resources, record: &ContainerRecord) -> Result<(), UpdateRefusal> {
    let update = as_applied(update);
    let decision = NormalResources::from_oci(&record.resources);
    let memory = update.memory.clone().unwrap_or_default();
    let cpu = update.cpu.clone().unwrap_or_default();
    let unseen = |given: &str, kept: &str| {
        refuse(
            given,
            &format!(
                "set without {kept}: the delegate keeps the container's current {kept}, which this check cannot see; set both"
            ),
        )
    };
    if decision.cpu.quota != Limit::Unlimited {
        match (cpu.quota.is_some(), cpu.period.is_some()) {
            (true, false) => return unseen("cpu.quota", "cpu.period"),
            (false, true) => return unseen("cpu.period", "cpu.quota"),
            _ => {}
        }
    }
    if !matches!(
        decision.cpu.realtime_runtime,
        Limit::At(0) | Limit::Unlimited
    ) {
        match (
            cpu.realtime_runtime.is_some(),
            cpu.realtime_period.is_some(),
        ) {
            (true, false) => return unseen("cpu.realtimeRuntime", "cpu.realtimePeriod"),
            (false, true) => return unseen("cpu.realtimePeriod", "cpu.realtimeRuntime"),
            _ => {}
        }
    }
    if memory.swap.is_some()
        && memory.limit.is_none()
        && decision.memory.swap != Limit::Unlimited
        && decision.memory.limit != Limit::Unlimited
    {
        return unseen("memory.swap", "memory.limit");
    }
    let merged = NormalResources::from_oci(&overlay(&record.resources, &update));
    let base = normalize(&Decision::allow(), &Context::typical());
    let earlier = policy_model::NormalDecision {
        resources: decision,
        ..base.clone()
    };
    let later = policy_model::NormalDecision {
        resources: merged,
        ..base
    };
    check_tightens(&earlier, &later).map_err(|loosened| {
        let field = loosened
            .field
            .strip_prefix("resources.")
            .unwrap_or(&loosened.field)
            .to_string();
        UpdateRefusal {
            field,
            message: above(&loosened.message),
        }
    })
}

/// The chain's wording (`raises 268435456 to 1073741824`) as an update's
/// (`1073741824 is above the container's decision, 268435456`).
fn above(message: &str) -> String {
    let (prefix, rest) = match message.split_once(": ") {
        Some((prefix, rest)) if !prefix.starts_with("raises") => (format!("{prefix}: "), rest),
        _ => (String::new(), message),
    };
    if let Some((before, after)) = rest
        .strip_prefix("raises ")
        .and_then(|rest| rest.split_once(" to "))
    {
        return format!("{prefix}{after} is above the container's decision, {before}");
    }
    if let Some(before) = rest.strip_prefix("removes the limit ") {
        return format!("{prefix}unlimited is above the container's decision, {before}");
    }
    format!("{message}: looser than the container's decision")
}

/// `update` with the delegates' "unchanged" zeros dropped and runc's
/// fix-ups made (see the module's notes).
fn as_applied(update: &Resources) -> Resources {
    let mut update = update.clone();
    let nonzero_i = |value: &mut Option<i64>| {
        if *value == Some(0) {
            *value = None;
        }
    };
    let nonzero_u = |value: &mut Option<u64>| {
        if *value == Some(0) {
            *value = None;
        }
    };
    let nonempty = |value: &mut Option<String>| {
        if value.as_deref() == Some("") {
            *value = None;
        }
    };
    if let Some(memory) = update.memory.as_mut() {
        nonzero_i(&mut memory.limit);
        nonzero_i(&mut memory.swap);
        nonzero_i(&mut memory.reservation);
        nonzero_i(&mut memory.kernel);
        nonzero_i(&mut memory.kernel_tcp);
        if memory.limit.is_some_and(|limit| limit < 0) && memory.swap.is_none() {
            memory.swap = Some(-1);
        }
    }
    if let Some(cpu) = update.cpu.as_mut() {
        nonzero_u(&mut cpu.shares);
        nonzero_i(&mut cpu.quota);
        nonzero_u(&mut cpu.period);
        nonzero_i(&mut cpu.realtime_runtime);
        nonzero_u(&mut cpu.realtime_period);
        nonempty(&mut cpu.cpus);
        nonempty(&mut cpu.mems);
    }
    if let Some(io) = update.block_io.as_mut() {
        if io.weight == Some(0) {
            io.weight = None;
        }
        if io.leaf_weight == Some(0) {
            io.leaf_weight = None;
        }
    }
    update
}

/// The decision's resources with `update` applied as the delegate applies
/// it.
fn overlay(decision: &Resources, update: &Resources) -> Resources {
    let mut merged = decision.clone();
    if !update.devices.is_empty() {
        merged.devices = update.devices.clone();
    }
    if let Some(new) = &update.memory {
        let memory = merged.memory.get_or_insert_with(Default::default);
        let set = |to: &mut Option<i64>, from: Option<i64>| {
            if from.is_some() {
                *to = from;
            }
        };
        set(&mut memory.limit, new.limit);
        set(&mut memory.reservation, new.reservation);
        set(&mut memory.swap, new.swap);
        set(&mut memory.kernel, new.kernel);
        set(&mut memory.kernel_tcp, new.kernel_tcp);
        memory.swappiness = new.swappiness.or(memory.swappiness);
        memory.disable_oom_killer = new.disable_oom_killer.or(memory.disable_oom_killer);
        memory.use_hierarchy = new.use_hierarchy.or(memory.use_hierarchy);
        memory.check_before_update = new.check_before_update.or(memory.check_before_update);
    }
    if let Some(new) = &update.cpu {
        let cpu = merged.cpu.get_or_insert_with(Default::default);
        cpu.shares = new.shares.or(cpu.shares);
        cpu.quota = new.quota.or(cpu.quota);
        cpu.burst = new.burst.or(cpu.burst);
        cpu.period = new.period.or(cpu.period);
        cpu.realtime_runtime = new.realtime_runtime.or(cpu.realtime_runtime);
        cpu.realtime_period = new.realtime_period.or(cpu.realtime_period);
        cpu.cpus = new.cpus.clone().or(cpu.cpus.take());
        cpu.mems = new.mems.clone().or(cpu.mems.take());
        cpu.idle = new.idle.or(cpu.idle);
    }
    if update.pids.is_some() {
        merged.pids = update.pids;
    }
    if let Some(new) = &update.block_io {
        let io = merged.block_io.get_or_insert_with(Default::default);
        io.weight = new.weight.or(io.weight);
        io.leaf_weight = new.leaf_weight.or(io.leaf_weight);
        for device in &new.weight_device {
            let zero_is_none = |weight: Option<u16>| weight.filter(|weight| *weight != 0);
            match io
                .weight_device
                .iter_mut()
                .rfind(|ours| (ours.major, ours.minor) == (device.major, device.minor))
            {
                Some(ours) => {
                    if device.weight.is_some() {
                        ours.weight = zero_is_none(device.weight);
                    }
                    if device.leaf_weight.is_some() {
                        ours.leaf_weight = zero_is_none(device.leaf_weight);
                    }
                }
                None => {
                    let mut device = device.clone();
                    device.weight = zero_is_none(device.weight);
                    device.leaf_weight = zero_is_none(device.leaf_weight);
                    io.weight_device.push(device);
                }
            }
        }
        for (ours, theirs) in [
            (
                &mut io.throttle_read_bps_device,
                &new.throttle_read_bps_device,
            ),
            (
                &mut io.throttle_write_bps_device,
                &new.throttle_write_bps_device,
            ),
            (
                &mut io.throttle_read_iops_device,
                &new.throttle_read_iops_device,
            ),
            (
                &mut io.throttle_write_iops_device,
                &new.throttle_write_iops_device,
            ),
        ] {
            upsert_throttles(ours, theirs);
        }
    }
    for limit in &update.hugepage_limits {
        merged
            .hugepage_limits
            .retain(|ours| ours.page_size != limit.page_size);
        merged.hugepage_limits.push(limit.clone());
    }
    if let Some(new) = &update.network {
        let network = merged.network.get_or_insert_with(Default::default);
        network.class_id = new.class_id.or(network.class_id);
        for priority in &new.priorities {
            network.priorities.retain(|ours| ours.name != priority.name);
            network.priorities.push(priority.clone());
        }
    }
    let unified: BTreeMap<String, String> = update.unified.clone();
    merged.unified.extend(unified);
    merged
}

/// Throttles set one device at a time; a rate of 0 lifts the device's
/// throttle (cgroup v1 reads 0 as no limit).
fn upsert_throttles(ours: &mut Vec<ThrottleDevice>, theirs: &[ThrottleDevice]) {
    for device in theirs {
        ours.retain(|ours| (ours.major, ours.minor) != (device.major, device.minor));
        if device.rate != 0 {
            ours.push(device.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::record::VERSION;
    use policy_model::{MIB, NormalDecision};

    fn decision() -> NormalDecision {
        normalize(
            &Decision::allow()
                .memory_limit(256 * MIB)
                .pids(100)
                .cpu_quota(50_000, 100_000)
                .cpus("0-1")
                .hugepage_limit("2MB", 64 * MIB),
            &Context::typical(),
        )
    }

    fn record_of(decision: &NormalDecision) -> ContainerRecord {
        ContainerRecord {
            version: VERSION,
            resources: decision.resources.to_oci(),
            ..ContainerRecord::default()
        }
    }

    fn record() -> ContainerRecord {
        record_of(&decision())
    }

    fn json(text: &str) -> Result<(), UpdateRefusal> {
        check(&resources_of(Some(text), &[])?, &record())
    }

    fn flags(flags: &[(&str, &str)]) -> Result<(), UpdateRefusal> {
        let flags: Vec<(String, String)> = flags
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        check(&resources_of(None, &flags)?, &record())
    }

    fn field(result: Result<(), UpdateRefusal>) -> String {
        match result {
            Err(refusal) => refusal.field,
            Ok(()) => panic!("not refused"),
        }
    }

    #[test]
    fn raising_memory_above_the_decision_is_refused() {
        let refusal = json(r#"{"memory": {"limit": 1073741824}}"#).expect_err("refused");
        assert_eq!(refusal.field, "memory.limit");
        assert_eq!(
            refusal.message,
            "1073741824 is above the container's decision, 268435456"
        );
        assert_eq!(
            refusal.to_string(),
            "memory.limit: 1073741824 is above the container's decision, 268435456"
        );
        let refusal = flags(&[("memory", "1G")]).expect_err("refused");
        assert_eq!(refusal.field, "memory.limit");
        assert_eq!(field(flags(&[("memory", "-1")])), "memory.limit");
        assert_eq!(
            json(r#"{"memory": {"limit": -1}}"#)
                .expect_err("refused")
                .message,
            "unlimited is above the container's decision, 268435456"
        );
    }

    #[test]
    fn lowering_or_leaving_out_is_fine() {
        json(r#"{"memory": {"limit": 134217728}}"#).expect("as the test builds it");
        json(r#"{"memory": {"limit": 268435456, "reservation": 0, "swap": 0}}"#)
            .expect("as the test builds it");
        json("{}").expect("as the test builds it");
        flags(&[("memory", "128m")]).expect("as the test builds it");
        flags(&[]).expect("as the test builds it");
        json(r#"{"memory": {"limit": 0}, "cpu": {"quota": 0, "period": 0, "shares": 0, "cpus": ""}}"#)
            .expect("as the test builds it");
        // What go-runc sends for a kubelet resize, within the decision.
        json(
            r#"{"memory": {"limit": 201326592, "swap": 201326592},
                "cpu": {"shares": 512, "quota": 25000, "period": 100000, "cpus": "1"},
                "pids": {"limit": 50},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
                "unified": {"memory.high": "100M"}}"#,
        )
        .expect("as the test builds it");
    }

    #[test]
    fn pids() {
        assert_eq!(field(json(r#"{"pids": {"limit": 101}}"#)), "pids.limit");
        assert_eq!(field(json(r#"{"pids": {"limit": -1}}"#)), "pids.limit");
        assert_eq!(field(flags(&[("pids-limit", "1000")])), "pids.limit");
        assert_eq!(field(flags(&[("pids-limit", "")])), "--pids-limit");
        json(r#"{"pids": {"limit": 100}}"#).expect("as the test builds it");
        json(r#"{"pids": {"limit": 0}}"#).expect("as the test builds it");
        flags(&[("pids-limit", "5")]).expect("as the test builds it");
    }

    #[test]
    fn cpu() {
        // Twice the bandwidth by period alone, quota alone, or both.
        let refusal = json(r#"{"cpu": {"quota": 100000, "period": 100000}}"#).expect_err("refused");
        assert_eq!(refusal.field, "cpu.quota");
        assert!(
            refusal
                .message
                .contains("is above the container's decision"),
            "{refusal}"
        );
        json(r#"{"cpu": {"quota": 10000, "period": 20000}}"#).expect("as the test builds it");
        assert_eq!(
            field(json(r#"{"cpu": {"quota": -1, "period": 100000}}"#)),
            "cpu.quota"
        );
        assert_eq!(field(json(r#"{"cpu": {"period": 10000}}"#)), "cpu.period");
        assert_eq!(field(flags(&[("cpu-quota", "10000")])), "cpu.quota");
        flags(&[("cpu-quota", "10000"), ("cpu-period", "100000")]).expect("as the test builds it");
        assert_eq!(field(json(r#"{"cpu": {"shares": 2048}}"#)), "cpu.shares");
        assert_eq!(field(json(r#"{"cpu": {"cpus": "0-3"}}"#)), "cpu.cpus");
        assert_eq!(field(flags(&[("cpuset-cpus", "2")])), "cpu.cpus");
        flags(&[("cpuset-cpus", "0")]).expect("as the test builds it");
        assert_eq!(
            field(json(
                r#"{"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 1000000}}"#
            )),
            "cpu.realtimeRuntime"
        );
        // A decision without bandwidth: quota alone is fine, as long as it
        // is not unlimited... which it already is.
        let free = record_of(&normalize(&Decision::allow(), &Context::typical()));
        check(
            &resources_of(Some(r#"{"cpu": {"quota": 20000}}"#), &[])
                .expect("as the test builds it"),
            &free,
        )
        .expect("as the test builds it");
    }

    #[test]
    fn swap() {
        let limited = record_of(&normalize(
            &Decision::allow()
                .memory_limit(256 * MIB)
                .memory_swap(512 * MIB),
            &Context::typical(),
        ));
        let run = |text: &str| {
            check(
                &resources_of(Some(text), &[]).expect("as the test builds it"),
                &limited,
            )
        };
        run(r#"{"memory": {"limit": 134217728, "swap": 268435456}}"#)
            .expect("as the test builds it");
        // Lower memory under the same swap: more swap alone (cgroup v2).
        assert_eq!(
            field(run(r#"{"memory": {"limit": 134217728}}"#)),
            "memory.swap"
        );
        assert_eq!(
            field(run(r#"{"memory": {"swap": 268435456}}"#)),
            "memory.swap"
        );
        assert_eq!(
            field(run(r#"{"memory": {"limit": 268435456, "swap": -1}}"#)),
            "memory.swap"
        );
        // Unlimited memory with swap unset is unlimited swap too; a
        // decision with only a swap limit sees it.
        let swap_only = ContainerRecord {
            resources: Resources {
                memory: Some(policy_model::Memory {
                    swap: Some(512 * MIB as i64),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..limited.clone()
        };
        let update =
            resources_of(Some(r#"{"memory": {"limit": -1}}"#), &[]).expect("as the test builds it");
        assert_eq!(field(check(&update, &swap_only)), "memory.swap");
    }

    #[test]
    fn devices_hugepages_throttles_unified() {
        let strict = record_of(&normalize(
            &Decision::allow()
                .deny_all_devices()
                .hugepage_limit("2MB", 64 * MIB),
            &Context::typical(),
        ));
        let run = |text: &str| {
            check(
                &resources_of(Some(text), &[]).expect("as the test builds it"),
                &strict,
            )
        };
        assert_eq!(
            field(run(r#"{"devices": [{"allow": true, "access": "rwm"}]}"#)),
            "devices"
        );
        // containerd's resize carries its unpatched device and hugepage
        // rules; runc writes neither, so for runc they are not judged.
        let resize = resources_of(
            Some(
                r#"{"devices": [{"allow": true, "access": "rwm"}],
                    "hugepageLimits": [{"pageSize": "2MB", "limit": 134217728}]}"#,
            ),
            &[],
        )
        .expect("as the test builds it");
        assert!(check(&resize, &strict).is_err());
        check(&without_what_runc_ignores(resize), &strict).expect("nothing runc writes");
        run(r#"{"devices": [{"allow": false, "access": "rwm"}]}"#).expect("as the test builds it");
        assert_eq!(
            field(run(
                r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 134217728}]}"#
            )),
            "hugepageLimits[2MB]"
        );
        run(r#"{"hugepageLimits": [{"pageSize": "1GB", "limit": 0}]}"#)
            .expect("as the test builds it");
        let throttled = ContainerRecord {
            resources: Resources {
                block_io: Some(policy_model::BlockIo {
                    throttle_read_bps_device: vec![ThrottleDevice {
                        major: 8,
                        minor: 0,
                        rate: 1000,
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..strict.clone()
        };
        let run = |text: &str| {
            check(
                &resources_of(Some(text), &[]).expect("as the test builds it"),
                &throttled,
            )
        };
        run(r#"{"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 10}]}}"#)
            .expect("as the test builds it");
        for rate in [0, 2000] {
            let text = format!(
                r#"{{"blockIO": {{"throttleReadBpsDevice": [{{"major": 8, "minor": 0, "rate": {rate}}}]}}}}"#
            );
            assert_eq!(
                field(run(&text)),
                "blockIO.throttleReadBpsDevice[8:0]",
                "{rate}"
            );
        }
        assert_eq!(
            field(run(r#"{"blockIO": {"weight": 500}}"#)),
            "blockIO.weight"
        );
        // unified: a key a typed field owns, an unknown key, a higher one.
        assert_eq!(
            field(json(r#"{"unified": {"memory.max": "max"}}"#)),
            "unified[memory.max]"
        );
        assert!(json(r#"{"unified": {"memory.high": "max"}}"#).is_ok());
        let high = record_of(&normalize(
            &{
                let mut decision = Decision::allow();
                decision
                    .resources_mut()
                    .unified
                    .insert("memory.high".into(), "100M".into());
                decision
            },
            &Context::typical(),
        ));
        let update = resources_of(Some(r#"{"unified": {"memory.high": "200M"}}"#), &[])
            .expect("as the test builds it");
        assert!(check(&update, &high).is_err());
        let update = resources_of(Some(r#"{"unified": {"memory.high": "50M"}}"#), &[])
            .expect("as the test builds it");
        check(&update, &high).expect("as the test builds it");
    }

    #[test]
    fn unknown_and_malformed_json_is_refused_naming_the_field() {
        let refusal = resources_of(Some(r#"{"rdma": {}}"#), &[]).expect_err("refused");
        assert!(refusal.message.contains("`rdma`"), "{refusal}");
        let refusal = resources_of(Some(r#"{"memory": {"limit": 1, "bogus": 2}}"#), &[])
            .expect_err("refused");
        assert!(refusal.field.starts_with("memory"), "{refusal}");
        assert!(refusal.message.contains("`bogus`"), "{refusal}");
        // Go would read "Memory" as "memory": refused, not skipped.
        let refusal =
            resources_of(Some(r#"{"Memory": {"limit": 1073741824}}"#), &[]).expect_err("refused");
        assert!(refusal.message.contains("`Memory`"), "{refusal}");
        let refusal = resources_of(Some(r#"{"memory": {"limit": 1, "limit": 2}}"#), &[])
            .expect_err("refused");
        assert!(refusal.message.contains("duplicate"), "{refusal}");
        for text in ["", "[", "{} {}", "null", r#"{"memory": {"limit": "1G"}}"#] {
            assert!(resources_of(Some(text), &[]).is_err(), "{text:?}");
        }
    }

    #[test]
    fn flags_are_parsed_as_runc_does() {
        let memory = |value: &str| {
            resources_of(None, &[("memory".into(), value.into())])
                .map(|update| update.memory.and_then(|memory| memory.limit))
        };
        assert_eq!(memory("1G"), Ok(Some(1 << 30)));
        assert_eq!(memory("512m"), Ok(Some(512 << 20)));
        assert_eq!(memory("512 MiB"), Ok(Some(512 << 20)));
        assert_eq!(memory("1.5g"), Ok(Some(3 << 29)));
        assert_eq!(memory("100"), Ok(Some(100)));
        assert_eq!(memory("100b"), Ok(Some(100)));
        assert_eq!(memory("-1"), Ok(Some(-1)));
        assert_eq!(memory(""), Ok(None));
        for bad in [
            "1X",
            "-2",
            "1..5",
            ".5",
            "1 G B",
            "9999999999P",
            "1GG",
            " 1",
        ] {
            assert!(memory(bad).is_err(), "{bad:?}");
        }
        let both = resources_of(Some("{}"), &[("memory".into(), "1".into())]).expect_err("refused");
        assert_eq!(both.field, "--memory");
        let twice = resources_of(
            None,
            &[("memory".into(), "1".into()), ("memory".into(), "2".into())],
        )
        .expect_err("refused");
        assert_eq!(twice.field, "--memory");
        assert_eq!(
            resources_of(None, &[("frobnicate".into(), "1".into())])
                .expect_err("refused")
                .field,
            "--frobnicate"
        );
        resources_of(Some("{}"), &[("l3-cache-schema".into(), "L3:0=ff".into())])
            .expect("as the test builds it");
        let update = resources_of(
            None,
            &[
                ("cpu-share".into(), "512".into()),
                ("cpu-quota".into(), "-1".into()),
                ("cpuset-mems".into(), "0".into()),
                ("blkio-weight".into(), "0".into()),
                ("memory-swap".into(), "2g".into()),
            ],
        )
        .expect("as the test builds it");
        let cpu = update.cpu.expect("as the test builds it");
        assert_eq!(
            (cpu.shares, cpu.quota, cpu.mems.as_deref()),
            (Some(512), Some(-1), Some("0"))
        );
        assert_eq!(update.block_io, None, "weight 0 is no flag");
        assert_eq!(
            update.memory.expect("as the test builds it").swap,
            Some(2 << 30)
        );
        assert!(resources_of(None, &[("cpu-period".into(), "-5".into())]).is_err());
    }

    /// xorshift64*: deterministic, no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn maybe<T>(&mut self, value: T) -> Option<T> {
            (self.below(3) == 0).then_some(value)
        }
        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }
    }

    const SIZES: [i64; 6] = [-1, 0, 64 << 20, 128 << 20, 256 << 20, 512 << 20];

    fn random_resources(rng: &mut Rng, decision: bool) -> Resources {
        // A decision has no "unchanged" zeros: it is what the container got.
        let size = |rng: &mut Rng| {
            let size = rng.pick(&SIZES);
            if decision && size == 0 { -1 } else { size }
        };
        let mut resources = Resources::default();
        if rng.below(4) != 0 {
            resources.memory = Some(policy_model::Memory {
                limit: rng.maybe(()).map(|()| size(rng)),
                swap: rng.maybe(()).map(|()| size(rng)),
                reservation: rng.maybe(()).map(|()| size(rng)),
                ..Default::default()
            });
        }
        if rng.below(4) != 0 {
            let quota = rng
                .maybe(())
                .map(|()| rng.pick(&[-1, 0, 10_000, 50_000, 200_000]));
            let period = rng
                .maybe(())
                .map(|()| rng.pick(&[0, 10_000, 100_000, 1_000_000]))
                .filter(|period| !decision || *period != 0);
            resources.cpu = Some(policy_model::Cpu {
                shares: rng.maybe(()).map(|()| rng.pick(&[0, 2, 512, 1024, 4096])),
                quota: quota.filter(|quota| !decision || *quota != 0),
                period,
                cpus: rng
                    .maybe(())
                    .map(|()| rng.pick(&["", "0", "0-1", "0-3", "1"]).to_string())
                    .filter(|cpus| !decision || !cpus.is_empty()),
                ..Default::default()
            });
        }
        if let Some(limit) = rng.maybe(()).map(|()| rng.pick(&[-1, 0, 10, 100, 1000])) {
            resources.pids = Some(policy_model::Pids { limit });
        }
        if let Some(limit) = rng.maybe(()).map(|()| rng.pick(&[0, 1 << 21, 1 << 30])) {
            resources.hugepage_limits.push(policy_model::HugepageLimit {
                page_size: "2MB".into(),
                limit,
            });
        }
        if let Some(rate) = rng
            .maybe(())
            .map(|()| rng.pick(&[0, 10, 1000]))
            .filter(|rate| !(decision && *rate == 0))
        {
            resources.block_io = Some(policy_model::BlockIo {
                throttle_write_iops_device: vec![ThrottleDevice {
                    major: 8,
                    minor: rng.pick(&[0, 16]),
                    rate,
                }],
                ..Default::default()
            });
        }
        resources
    }

    /// What runc's `update` leaves in the cgroup, modelled on its OCI
    /// values independently of [`overlay`]: non-zero values replace, the
    /// CFS pair as `update.go` sets it, memory -1 with no swap makes swap
    /// unlimited, throttles upserted with 0 lifting one.
    fn runc_applies(current: &mut Resources, update: &Resources) {
        if let Some(new) = &update.memory {
            let memory = current.memory.get_or_insert_with(Default::default);
            let mut swap = new.swap;
            if new.limit == Some(-1) && swap.is_none() {
                swap = Some(-1);
            }
            for (to, from) in [
                (&mut memory.limit, new.limit),
                (&mut memory.swap, swap),
                (&mut memory.reservation, new.reservation),
            ] {
                if let Some(value) = from.filter(|value| *value != 0) {
                    *to = Some(value);
                }
            }
        }
        if let Some(new) = &update.cpu {
            let cpu = current.cpu.get_or_insert_with(Default::default);
            let (q, p) = (new.quota.unwrap_or(0), new.period.unwrap_or(0));
            if q != 0 {
                cpu.quota = Some(q);
            }
            if p != 0 {
                cpu.period = Some(p);
            }
            if let Some(shares) = new.shares.filter(|shares| *shares != 0) {
                cpu.shares = Some(shares);
            }
            if let Some(cpus) = new.cpus.clone().filter(|cpus| !cpus.is_empty()) {
                cpu.cpus = Some(cpus);
            }
        }
        if update.pids.is_some() {
            current.pids = update.pids;
        }
        for limit in &update.hugepage_limits {
            current
                .hugepage_limits
                .retain(|ours| ours.page_size != limit.page_size);
            current.hugepage_limits.push(limit.clone());
        }
        if let Some(new) = &update.block_io {
            let io = current.block_io.get_or_insert_with(Default::default);
            for device in &new.throttle_write_iops_device {
                io.throttle_write_iops_device
                    .retain(|ours| (ours.major, ours.minor) != (device.major, device.minor));
                if device.rate != 0 {
                    io.throttle_write_iops_device.push(device.clone());
                }
            }
        }
    }

    /// The runs of updates the "set both" refusals are for: each accepted
    /// step is fine on its own, the last would loosen what an earlier one
    /// left behind.
    #[test]
    fn runs_that_would_loosen_through_an_unseen_current_value() {
        let base = normalize(&Decision::allow(), &Context::typical());
        let run = |decision: Decision, steps: &[&str]| {
            let decision = normalize(&decision, &Context::typical());
            let record = record_of(&decision);
            let mut current = record.resources.clone();
            let mut last = Ok(());
            for step in steps {
                let update = resources_of(Some(step), &[]).expect("as the test builds it");
                last = check(&update, &record);
                if last.is_ok() {
                    runc_applies(&mut current, &update);
                    let now = NormalDecision {
                        resources: NormalResources::from_oci(&current),
                        ..base.clone()
                    };
                    check_tightens(&decision, &now).expect("as the test builds it");
                }
            }
            last
        };
        // 0.5 CPU as 100000/1000000, then the period alone back to 100000:
        // 1 CPU.
        let cpu = Decision::allow().cpu_quota(50_000, 100_000);
        assert_eq!(
            field(run(
                cpu.clone(),
                &[
                    r#"{"cpu": {"quota": 100000, "period": 1000000}}"#,
                    r#"{"cpu": {"period": 100000}}"#
                ]
            )),
            "cpu.period"
        );
        assert_eq!(
            field(run(
                cpu,
                &[
                    r#"{"cpu": {"quota": 5000, "period": 10000}}"#,
                    r#"{"cpu": {"quota": 50000}}"#
                ]
            )),
            "cpu.quota"
        );
        // 256M + 256M swap as 128M + 256M swap, then swap alone back to
        // 512M: 384M of swap.
        assert_eq!(
            field(run(
                Decision::allow()
                    .memory_limit(256 * MIB)
                    .memory_swap(512 * MIB),
                &[
                    r#"{"memory": {"limit": 134217728, "swap": 402653184}}"#,
                    r#"{"memory": {"swap": 536870912}}"#
                ]
            )),
            "memory.swap"
        );
    }

    #[test]
    fn property_accepted_updates_keep_the_container_within_its_decision() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let base = normalize(&Decision::allow(), &Context::typical());
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..5_000 {
            let resources = random_resources(&mut rng, true);
            let decision = NormalDecision {
                resources: NormalResources::from_oci(&resources),
                ..base.clone()
            };
            let record = record_of(&decision);
            // The container starts at its decision; a run of updates follows.
            let mut current = record.resources.clone();
            for _ in 0..6 {
                let update = random_resources(&mut rng, false);
                if check(&update, &record).is_err() {
                    refused += 1;
                    continue;
                }
                accepted += 1;
                runc_applies(&mut current, &update);
                let now = NormalDecision {
                    resources: NormalResources::from_oci(&current),
                    ..base.clone()
                };
                if let Err(loosened) = check_tightens(&decision, &now) {
                    panic!(
                        "{loosened}\ndecision {}\nupdate {}\nnow {}",
                        serde_json::to_string(&record.resources).unwrap_or_default(),
                        serde_json::to_string(&update).unwrap_or_default(),
                        serde_json::to_string(&current).unwrap_or_default(),
                    );
                }
            }
        }
        assert!(accepted > 1000 && refused > 1000, "{accepted} {refused}");
    }
}
