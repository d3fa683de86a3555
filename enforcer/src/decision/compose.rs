//! Policy chains: a later policy sees the decision so far and may only
//! tighten it. Lower or equal limits, a device set that is a subset, a
//! namespace set that is a superset, no new joins, privileges no wider.

use std::collections::BTreeSet;

use policy_sdk::{Decision, DeviceRule, Resources};

use super::validate::parse_cpu_list;

/// A later policy loosened the decision of the policies before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("loosens {field}: {message}")]
pub struct ComposeError {
    /// The field it loosened.
    pub field: String,
    /// How.
    pub message: String,
}

/// Checks that `later` is at least as tight as `earlier` (both allowing).
pub fn check_tightens(earlier: &Decision, later: &Decision) -> Result<(), ComposeError> {
    namespaces(earlier, later)?;
    if !earlier.uid_mappings.is_empty() && earlier.uid_mappings != later.uid_mappings {
        return loosened("uidMappings", "must keep the earlier id mappings");
    }
    if !earlier.gid_mappings.is_empty() && earlier.gid_mappings != later.gid_mappings {
        return loosened("gidMappings", "must keep the earlier id mappings");
    }
    if let (Some(before), Some(after)) = (&earlier.cgroups_path, &later.cgroups_path) {
        let below = after == before || after.starts_with(&format!("{before}/"));
        if !below {
            return loosened(
                "cgroupsPath",
                format!("{after:?} is not {before:?} or below it"),
            );
        }
    }
    let empty = Resources::default();
    let before = earlier.resources.as_ref().unwrap_or(&empty);
    let after = later.resources.as_ref().unwrap_or(&empty);
    resources(before, after)?;
    process(earlier, later)
}

fn loosened<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, ComposeError> {
    Err(ComposeError {
        field: field.into(),
        message: message.into(),
    })
}

fn namespaces(earlier: &Decision, later: &Decision) -> Result<(), ComposeError> {
    for namespace in &earlier.namespaces {
        if !later.namespaces.contains(namespace) {
            let what = match &namespace.path {
                Some(path) => format!("drops the join of {} namespace {path}", namespace.kind),
                None => format!("drops the new {} namespace", namespace.kind),
            };
            return loosened("namespaces", what);
        }
    }
    for namespace in &later.namespaces {
        if let Some(path) = &namespace.path
            && !earlier.namespaces.contains(namespace)
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

/// A limit where `-1` (or absence, when the earlier one is set) is infinite.
fn limit_not_raised(
    field: &str,
    before: Option<i64>,
    after: Option<i64>,
) -> Result<(), ComposeError> {
    let Some(before) = before.filter(|&value| value != -1) else {
        return Ok(());
    };
    match after {
        None => loosened(field, format!("removes the limit {before}")),
        Some(-1) => loosened(field, format!("raises {before} to unlimited")),
        Some(after) if after > before => loosened(field, format!("raises {before} to {after}")),
        Some(_) => Ok(()),
    }
}

fn resources(before: &Resources, after: &Resources) -> Result<(), ComposeError> {
    let memory = |resources: &Resources, pick: fn(&policy_sdk::Memory) -> Option<i64>| {
        resources.memory.as_ref().and_then(pick)
    };
    limit_not_raised(
        "resources.memory.limit",
        memory(before, |m| m.limit),
        memory(after, |m| m.limit),
    )?;
    limit_not_raised(
        "resources.memory.swap",
        memory(before, |m| m.swap),
        memory(after, |m| m.swap),
    )?;
    limit_not_raised(
        "resources.pids.limit",
        before.pids.map(|pids| pids.limit),
        after.pids.map(|pids| pids.limit),
    )?;
    cpu(before, after)?;
    for limit in &before.hugepage_limits {
        let later = after
            .hugepage_limits
            .iter()
            .find(|other| other.page_size == limit.page_size)
            .map(|other| other.limit as i64);
        limit_not_raised(
            &format!("resources.hugepageLimits[{}]", limit.page_size),
            Some(limit.limit as i64),
            later,
        )?;
    }
    if let Some(block_io) = &before.block_io {
        let later_weight = after.block_io.as_ref().and_then(|io| io.weight);
        limit_not_raised(
            "resources.blockIO.weight",
            block_io.weight.map(i64::from),
            later_weight.map(i64::from),
        )?;
    }
    devices(&before.devices, &after.devices)
}

fn cpu(before: &Resources, after: &Resources) -> Result<(), ComposeError> {
    let Some(earlier) = &before.cpu else {
        return Ok(());
    };
    let later = after.cpu.clone().unwrap_or_default();
    limit_not_raised(
        "resources.cpu.shares",
        earlier.shares.map(|v| v as i64),
        later.shares.map(|v| v as i64),
    )?;
    // Compare bandwidth as CPUs (quota / period), in millionths.
    let bandwidth = |quota: Option<i64>, period: Option<u64>| {
        quota.map(|quota| {
            if quota == -1 {
                -1
            } else {
                quota.saturating_mul(1_000_000) / period.unwrap_or(100_000).max(1) as i64
            }
        })
    };
    limit_not_raised(
        "resources.cpu.quota",
        bandwidth(earlier.quota, earlier.period),
        bandwidth(later.quota, later.period),
    )?;
    for (field, before, after) in [
        ("resources.cpu.cpus", &earlier.cpus, &later.cpus),
        ("resources.cpu.mems", &earlier.mems, &later.mems),
    ] {
        let Some(before) = before else { continue };
        let parse = |list: &str| {
            parse_cpu_list(list)
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeSet<_>>()
        };
        match after {
            None => return loosened(field, format!("removes the restriction to {before:?}")),
            Some(after) if !parse(after).is_subset(&parse(before)) => {
                return loosened(field, format!("{after:?} is not a subset of {before:?}"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn process(earlier: &Decision, later: &Decision) -> Result<(), ComposeError> {
    let Some(before) = &earlier.process else {
        return Ok(());
    };
    let after = later.process.clone().unwrap_or_default();
    if before.no_new_privileges == Some(true) && after.no_new_privileges != Some(true) {
        return loosened("process.noNewPrivileges", "turns it off");
    }
    if let Some(user) = &before.user {
        let same = after
            .user
            .as_ref()
            .is_some_and(|other| other.uid == user.uid && other.gid == user.gid);
        if !same {
            return loosened(
                "process.user",
                format!("must stay {}:{}", user.uid, user.gid),
            );
        }
    }
    if let Some(caps) = &before.capabilities {
        let Some(later_caps) = &after.capabilities else {
            return loosened("process.capabilities", "drops the earlier capability sets");
        };
        let sets = [
            ("bounding", &caps.bounding, &later_caps.bounding),
            ("effective", &caps.effective, &later_caps.effective),
            ("inheritable", &caps.inheritable, &later_caps.inheritable),
            ("permitted", &caps.permitted, &later_caps.permitted),
            ("ambient", &caps.ambient, &later_caps.ambient),
        ];
        for (set, before, after) in sets {
            if let Some(extra) = after.iter().find(|cap| !before.contains(cap)) {
                return loosened(
                    format!("process.capabilities.{set}"),
                    format!("adds {extra}"),
                );
            }
        }
    }
    for rlimit in &before.rlimits {
        let later = after.rlimits.iter().find(|other| other.kind == rlimit.kind);
        let field = format!("process.rlimits[{}]", rlimit.kind);
        match later {
            None => return loosened(field, "removes the limit"),
            Some(other) if other.hard > rlimit.hard || other.soft > rlimit.soft => {
                return loosened(
                    field,
                    format!(
                        "raises {}/{} to {}/{}",
                        rlimit.soft, rlimit.hard, other.soft, other.hard
                    ),
                );
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Every device access the later rules allow must be allowed by the
/// earlier rules. Checked rule by rule, conservatively: a later allow rule
/// must be wholly covered by an earlier allow that no earlier deny cuts into.
fn devices(before: &[DeviceRule], after: &[DeviceRule]) -> Result<(), ComposeError> {
    let effective = |rules: &[DeviceRule]| -> Vec<DeviceRule> {
        // Rules before the last full deny-all are shadowed; with no deny-all
        // the fresh-cgroup default (allow everything) is in force.
        match rules.iter().rposition(is_full_deny) {
            Some(start) => rules[start..].to_vec(),
            None => std::iter::once(DeviceRule::allow_all())
                .chain(rules.iter().cloned())
                .collect(),
        }
    };
    let before = effective(before);
    for rule in effective(after).iter().filter(|rule| rule.allow) {
        for bit in rule.access_or_default().chars() {
            if !covered(&before, rule, bit) {
                return loosened(
                    "resources.devices",
                    format!(
                        "allows {bit} access to devices {} that earlier policies deny",
                        rule.target()
                    ),
                );
            }
        }
    }
    Ok(())
}

fn is_full_deny(rule: &DeviceRule) -> bool {
    !rule.allow && rule.covers_everything()
}

/// Whether `rules` surely grant `bit` on every device `wanted` names: the
/// last rule touching those devices with that bit must be an allow that
/// covers them all.
fn covered(rules: &[DeviceRule], wanted: &DeviceRule, bit: char) -> bool {
    for rule in rules.iter().rev() {
        if !rule.access_or_default().contains(bit) || !rule.overlaps(wanted) {
            continue;
        }
        if !rule.allow {
            return false;
        }
        if rule.contains(wanted) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::{MIB, NamespaceType};

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
        check_tightens(&base(), &later)
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
            .allow_device(DeviceRule::allow_char(1, Some(3), "rw"));
        check_tightens(&base(), &later).expect("tighter");
        check_tightens(&base(), &base()).expect("equal");
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
    fn device_sets_must_shrink() {
        let more = base().allow_device(DeviceRule::allow_char(1, Some(1), "r"));
        assert!(error(more).contains("allows r access to devices c 1:1"), "");
        let mut none = base();
        none.resources.as_mut().expect("resources").devices.clear();
        assert!(error(none).contains("a *:*"));
        let wildcard = base().allow_device(DeviceRule::allow_char(136, None, "rw"));
        check_tightens(&base(), &wildcard).expect("pts wildcard was allowed before");
    }
}
