//! A tenant policy for the Kubernetes path (`enforcer runtime`), where a
//! tenant is a Kubernetes namespace: memory, cpu and pids ceilings for
//! each container by the namespace's **tier**.
//!
//! The runtime cannot see a namespace's labels (CRI passes none), so the
//! operator mirrors them into the tenant's entry: whatever syncs
//! namespaces writes `tenants.d/<namespace>.toml` with
//! `settings = { tier = "pro" }` (from the namespace's label). A pod may
//! pick a smaller tier with the label or annotation `podTierLabel`
//! (`enforcer/tier` by default), which the operator allow-lists in
//! `[runtime] pod_labels` or `label_annotations` so that it arrives in
//! `request.labels`: it can lower each limit to that tier's, never raise
//! one above the namespace's (a larger tier is capped, with a warning).
//!
//! | tier (default tiers) | memory | cpu | pids |
//! |---|---|---|---|
//! | `free` | 256Mi | 500m | 128 |
//! | `pro` | 2Gi | 2 | 1024 |
//! | `enterprise` | 8Gi | 8 | 4096 |
//!
//! The limits are per container (kubelet's pod cgroup holds the pod's
//! sum). In a chain (behind a platform policy such as `pss-baseline`), the
//! policy starts from `request.previous_decision()` and only lowers its
//! memory, cpu quota and pids; alone, it takes the container's spec as it
//! is (namespaces, user, capabilities) and adds the limits. The runtime
//! then keeps the tighter of these and the pod's own `resources.limits`.
//!
//! Settings (the tenant's `settings`):
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `tier` | `"free"` | the namespace's tier |
//! | `tiers` | the table above | each tier's `memory` (`"512Mi"`, `"2Gi"`, bytes), `cpu` (`"500m"`, `"2"`) and `pids` |
//! | `podTierLabel` | `"enforcer/tier"` | the request label a pod picks a smaller tier with |

use std::collections::BTreeMap;

use policy_sdk::{
    Capabilities, Decision, EvaluationError, GIB, KIB, MIB, NamespaceType, Process, ProcessUser,
    Request, export_policy, log,
};
use serde::Deserialize;

/// CFS period used for every tier, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;

/// One tier's ceilings, as the operator writes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierSettings {
    /// Memory limit: `"512Mi"`, `"2Gi"`, `"64Ki"` or bytes.
    pub memory: String,
    /// CPU bandwidth: `"500m"` (millicores) or whole CPUs (`"2"`).
    pub cpu: String,
    /// Most tasks.
    pub pids: u64,
}

/// A tier's ceilings, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// Memory limit, bytes.
    pub memory: u64,
    /// CPU bandwidth, thousandths of a CPU.
    pub cpu_millis: u64,
    /// Most tasks.
    pub pids: u64,
}

impl Tier {
    /// Each limit the lower of the two.
    pub fn min(self, other: Tier) -> Tier {
        Tier {
            memory: self.memory.min(other.memory),
            cpu_millis: self.cpu_millis.min(other.cpu_millis),
            pids: self.pids.min(other.pids),
        }
    }

    /// Whether no limit of `self` is above `other`'s.
    pub fn within(self, other: Tier) -> bool {
        self.min(other) == self
    }
}

/// What the operator configures, per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// The namespace's tier.
    pub tier: String,
    /// The tiers by name.
    pub tiers: BTreeMap<String, TierSettings>,
    /// The request label a pod picks a smaller tier with.
    pub pod_tier_label: String,
}

impl Default for Settings {
    fn default() -> Settings {
        let tier = |memory: &str, cpu: &str, pids| TierSettings {
            memory: memory.into(),
            cpu: cpu.into(),
            pids,
        };
        Settings {
            tier: "free".into(),
            tiers: BTreeMap::from([
                ("free".into(), tier("256Mi", "500m", 128)),
                ("pro".into(), tier("2Gi", "2", 1024)),
                ("enterprise".into(), tier("8Gi", "8", 4096)),
            ]),
            pod_tier_label: "enforcer/tier".into(),
        }
    }
}

/// `"512Mi"` → 536870912: a byte count, or `Ki`, `Mi`, `Gi` (powers of
/// 1024, as Kubernetes writes them). Decimal suffixes (`M`, `G`) are
/// refused: they mean powers of 1000 to Kubernetes and 1024 elsewhere.
pub fn parse_memory(text: &str) -> Option<u64> {
    let (digits, scale) = [("Ki", KIB), ("Mi", MIB), ("Gi", GIB)]
        .iter()
        .find_map(|(suffix, scale)| Some((text.strip_suffix(suffix)?, *scale)))
        .unwrap_or((text, 1));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)
        .filter(|&bytes| bytes > 0)
}

/// `"500m"` → 500, `"2"` → 2000: thousandths of a CPU, at least 1.
pub fn parse_cpu(text: &str) -> Option<u64> {
    let (digits, scale) = match text.strip_suffix('m') {
        Some(digits) => (digits, 1),
        None => (text, 1000),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)
        .filter(|&millis| millis > 0)
}

/// The tier named `name`, parsed.
fn tier(settings: &Settings, name: &str) -> Result<Tier, String> {
    let Some(given) = settings.tiers.get(name) else {
        let known: Vec<&str> = settings.tiers.keys().map(String::as_str).collect();
        return Err(format!(
            "unknown tier {name:?} (tiers: {})",
            known.join(", ")
        ));
    };
    let memory = parse_memory(&given.memory).ok_or_else(|| {
        format!(
            "tiers.{name}.memory {:?} is not a size such as \"512Mi\", \"2Gi\" or a byte count",
            given.memory
        )
    })?;
    let cpu_millis = parse_cpu(&given.cpu).ok_or_else(|| {
        format!(
            "tiers.{name}.cpu {:?} is not a CPU amount such as \"500m\" or \"2\"",
            given.cpu
        )
    })?;
    if given.pids == 0 {
        return Err(format!("tiers.{name}.pids must be at least 1"));
    }
    Ok(Tier {
        memory,
        cpu_millis,
        pids: given.pids,
    })
}

/// The settings check (`enforcer config check`, `enforcer test`): every
/// tier parses, and `tier` is one of them.
pub fn check_settings(settings: &Settings) -> Result<(), String> {
    for name in settings.tiers.keys() {
        tier(settings, name)?;
    }
    tier(settings, &settings.tier).map(|_| ())
}

/// Evaluates a request.
pub fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
    let settings: Settings = request.settings()?;
    check_settings(&settings)
        .map_err(|message| EvaluationError::new(format!("settings: {message}")))?;
    let Some(tenant) = request.tenant.as_deref() else {
        return Ok(Decision::deny(
            "namespace-tiers: the container has no tenant (its pod's namespace)",
        ));
    };
    let namespace_tier = tier(&settings, &settings.tier)
        .map_err(|message| EvaluationError::new(format!("settings: {message}")))?;
    let mut limits = namespace_tier;
    let mut tier_name = settings.tier.clone();
    if let Some(asked) = request.label(&settings.pod_tier_label) {
        let pod_tier = match tier(&settings, asked) {
            Ok(pod_tier) => pod_tier,
            Err(message) => {
                return Ok(Decision::deny(format!(
                    "namespace-tiers: label {}: {message}",
                    settings.pod_tier_label
                )));
            }
        };
        if !pod_tier.within(namespace_tier) {
            log!(
                Warn: "namespace-tiers: {tenant}: the pod asks for tier {asked}, larger than the namespace's {}: capped at the namespace's",
                settings.tier
            );
        }
        limits = pod_tier.min(namespace_tier);
        tier_name = asked.to_string();
    }
    let start = match request.previous_decision()? {
        Some(previous) => previous,
        None => as_requested(request),
    };
    let decision = lower(start, limits).reason(format!("namespace {tenant}, tier {tier_name}"));
    log!(
        "namespace-tiers: {tenant}: tier {tier_name}: memory {} bytes, cpu {}m, pids {}",
        limits.memory,
        limits.cpu_millis,
        limits.pids
    );
    Ok(decision)
}

/// `decision` with its memory, cpu quota and pids lowered to `limits`
/// (each kept where already lower).
fn lower(mut decision: Decision, limits: Tier) -> Decision {
    let bytes = i64::try_from(limits.memory).unwrap_or(i64::MAX);
    let resources = decision.resources_mut();
    let memory = resources.memory.get_or_insert_with(Default::default);
    let old = memory.limit.filter(|&limit| limit > 0);
    let new = old.map_or(bytes, |limit| limit.min(bytes));
    // Keep swap beyond the limit (`swap - limit`) where it was: a lower
    // limit under the same `swap` would give more swap.
    if let Some(swap) = memory.swap.filter(|&swap| swap > 0) {
        let beyond = old.map_or(0, |old| (swap - old).max(0));
        memory.swap = Some(new.saturating_add(beyond));
    }
    memory.limit = Some(new);
    let pids = i64::try_from(limits.pids).unwrap_or(i64::MAX);
    let old = resources
        .pids
        .map(|given| given.limit)
        .filter(|&limit| limit > 0);
    resources.pids = Some(policy_sdk::Pids {
        limit: old.map_or(pids, |limit| limit.min(pids)),
    });
    let quota = limits.cpu_millis * CPU_PERIOD_US / 1000;
    let cpu = resources.cpu.get_or_insert_with(Default::default);
    let given = match (cpu.quota, cpu.period) {
        (Some(quota), Some(period)) if quota > 0 && period > 0 => Some((quota as u128, period)),
        _ => None,
    };
    // Compared as a share of a CPU: quota / period.
    let lower_already = given.is_some_and(|(given_quota, period)| {
        given_quota * u128::from(CPU_PERIOD_US) <= u128::from(quota) * u128::from(period)
    });
    if !lower_already {
        cpu.quota = Some(i64::try_from(quota).unwrap_or(i64::MAX));
        cpu.period = Some(CPU_PERIOD_US);
    }
    decision
}

/// Without a platform policy before it: the container's spec as it is
/// (its namespaces, joins included, user, capabilities,
/// `noNewPrivileges`, rlimits); a request that is not a container's gets
/// the usual namespaces and runs as the caller.
fn as_requested(request: &Request) -> Decision {
    let Some(spec) = request.container().and(request.requested_spec.as_deref()) else {
        if request.container().is_some() {
            return Decision::allow();
        }
        return Decision::allow()
            .standard_namespaces()
            .run_as_caller(request.user.uid, request.user.gid);
    };
    let mut decision = Decision::allow();
    decision.namespaces = spec.namespaces.clone();
    if spec
        .namespaces
        .iter()
        .any(|namespace| namespace.kind == NamespaceType::User && namespace.path.is_none())
    {
        decision.uid_mappings = spec.uid_mappings.clone();
        decision.gid_mappings = spec.gid_mappings.clone();
    }
    let asked = spec.process.as_ref();
    decision.process = Some(Process {
        user: asked
            .and_then(|process| process.user.clone())
            .or(Some(ProcessUser {
                uid: request.user.uid,
                gid: request.user.gid,
                umask: None,
                additional_gids: Vec::new(),
            })),
        capabilities: Some(
            asked
                .and_then(|process| process.capabilities.clone())
                .unwrap_or_else(Capabilities::default),
        ),
        no_new_privileges: asked.and_then(|process| process.no_new_privileges),
        rlimits: asked
            .map(|process| process.rlimits.clone())
            .unwrap_or_default(),
        env: Vec::new(),
        cwd: None,
    });
    decision
}

export_policy!(evaluate, validate_settings = check_settings);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::testing::{
        RequestBuilder, assert_allowed, assert_denied, assert_evaluation_error,
        assert_settings_invalid, assert_settings_valid, assert_tightens, assert_valid, request,
        typical_host,
    };
    use policy_sdk::{CONTAINER_CAPABILITIES, Container, ContainerKind};
    use serde_json::json;

    fn spec() -> Decision {
        let caps: Vec<String> = CONTAINER_CAPABILITIES.map(String::from).to_vec();
        let mut spec = Decision::allow()
            .namespace(NamespaceType::Pid)
            .join_namespace(NamespaceType::Ipc, "/proc/4242/ns/ipc")
            .join_namespace(NamespaceType::Uts, "/proc/4242/ns/uts")
            .namespace(NamespaceType::Mount)
            .join_namespace(NamespaceType::Network, "/proc/4242/ns/net");
        spec.process = Some(Process {
            user: Some(ProcessUser {
                uid: 0,
                gid: 0,
                umask: None,
                additional_gids: Vec::new(),
            }),
            capabilities: Some(Capabilities {
                bounding: caps.clone(),
                effective: caps.clone(),
                inheritable: Vec::new(),
                permitted: caps,
                ambient: Vec::new(),
            }),
            ..Process::default()
        });
        spec
    }

    fn pod(namespace: &str) -> RequestBuilder {
        request()
            .user(0, 0)
            .tenant(namespace)
            .command(&["/app"])
            .container(Container {
                id: "c1".into(),
                kind: ContainerKind::Container,
                namespace: Some(namespace.into()),
                pod: Some("api-7d9f".into()),
                ..Container::default()
            })
            .requested_spec(spec())
    }

    fn limits(decision: &Decision) -> (Option<i64>, Option<i64>, Option<i64>, Option<u64>) {
        let cpu = decision.cpu();
        (
            decision.memory_limit_bytes(),
            decision.pids_limit(),
            cpu.and_then(|cpu| cpu.quota),
            cpu.and_then(|cpu| cpu.period),
        )
    }

    #[test]
    fn the_namespaces_tier_sets_the_ceilings() {
        let free = assert_allowed(evaluate(&pod("team-a").build()));
        assert_eq!(
            limits(&free),
            (
                Some(256 * MIB as i64),
                Some(128),
                Some(50_000),
                Some(100_000)
            )
        );
        let pro = assert_allowed(evaluate(
            &pod("team-b").settings(json!({ "tier": "pro" })).build(),
        ));
        assert_eq!(
            limits(&pro),
            (
                Some(2 * GIB as i64),
                Some(1024),
                Some(200_000),
                Some(100_000)
            )
        );
        assert_eq!(pro.reason.as_deref(), Some("namespace team-b, tier pro"));
    }

    #[test]
    fn alone_it_keeps_the_containers_spec() {
        let decision = assert_allowed(evaluate(&pod("team-a").build()));
        assert_eq!(decision.namespaces, spec().namespaces);
        let caps = decision
            .process
            .and_then(|process| process.capabilities)
            .expect("capabilities");
        assert_eq!(caps.bounding.len(), CONTAINER_CAPABILITIES.len());
    }

    #[test]
    fn a_pod_label_picks_a_smaller_tier_never_a_larger_one() {
        let smaller = assert_allowed(evaluate(
            &pod("team-b")
                .settings(json!({ "tier": "pro" }))
                .label("enforcer/tier", "free")
                .build(),
        ));
        assert_eq!(smaller.memory_limit_bytes(), Some(256 * MIB as i64));
        let larger = assert_allowed(evaluate(
            &pod("team-a").label("enforcer/tier", "enterprise").build(),
        ));
        assert_eq!(larger.memory_limit_bytes(), Some(256 * MIB as i64));
        assert_eq!(larger.pids_limit(), Some(128));
        assert_denied(
            evaluate(&pod("team-a").label("enforcer/tier", "gold").build()),
            "namespace-tiers: label enforcer/tier: unknown tier \"gold\"",
        );
        // A tier table of the operator's, with a label of its own.
        let settings = json!({
            "tier": "big",
            "podTierLabel": "example.com/size",
            "tiers": {
                "big": { "memory": "4Gi", "cpu": "4", "pids": 2048 },
                "small": { "memory": "512Mi", "cpu": "250m", "pids": 2048 },
            },
        });
        let decision = assert_allowed(evaluate(
            &pod("team-c")
                .settings(settings)
                .label("example.com/size", "small")
                .build(),
        ));
        assert_eq!(
            limits(&decision),
            (
                Some(512 * MIB as i64),
                Some(2048),
                Some(25_000),
                Some(100_000)
            )
        );
    }

    #[test]
    fn behind_a_platform_policy_it_only_lowers() {
        let platform = Decision::allow()
            .namespace(NamespaceType::Pid)
            .join_namespace(NamespaceType::Network, "/proc/4242/ns/net")
            .memory_limit(128 * MIB)
            .pids(4096)
            .cpu_quota(400_000, 100_000);
        let previous = assert_valid(&platform, &typical_host()).to_decision();
        let decision = assert_allowed(evaluate(
            &pod("team-b")
                .settings(json!({ "tier": "pro" }))
                .previous(previous.clone())
                .build(),
        ));
        assert_eq!(
            limits(&decision),
            (
                Some(128 * MIB as i64),
                Some(1024),
                Some(200_000),
                Some(100_000)
            )
        );
        assert_eq!(decision.namespaces, previous.namespaces);
        assert_tightens(&previous, &decision);
    }

    #[test]
    fn swap_beyond_the_limit_is_not_raised() {
        let mut platform = Decision::allow().memory_limit(4 * GIB);
        platform
            .resources_mut()
            .memory
            .get_or_insert_with(Default::default)
            .swap = Some(5 * GIB as i64);
        let decision = lower(
            platform,
            Tier {
                memory: GIB,
                cpu_millis: 1000,
                pids: 10,
            },
        );
        let memory = decision
            .resources
            .and_then(|resources| resources.memory)
            .expect("memory");
        assert_eq!(memory.limit, Some(GIB as i64));
        assert_eq!(memory.swap, Some(2 * GIB as i64));
    }

    #[test]
    fn a_container_without_a_tenant_is_denied() {
        assert_denied(
            evaluate(&pod("team-a").no_tenant().build()),
            "the container has no tenant",
        );
    }

    #[test]
    fn sizes_and_cpu_amounts_parse_as_kubernetes_writes_them() {
        assert_eq!(parse_memory("512Mi"), Some(512 * MIB));
        assert_eq!(parse_memory("2Gi"), Some(2 * GIB));
        assert_eq!(parse_memory("4096"), Some(4096));
        assert_eq!(parse_memory("512M"), None);
        assert_eq!(parse_memory("0"), None);
        assert_eq!(parse_cpu("500m"), Some(500));
        assert_eq!(parse_cpu("2"), Some(2000));
        assert_eq!(parse_cpu("0.5"), None);
        assert_eq!(parse_cpu("0m"), None);
    }

    #[test]
    fn settings_are_checked() {
        assert_settings_valid(check_settings, json!({}));
        assert_settings_valid(check_settings, json!({ "tier": "enterprise" }));
        assert_settings_invalid(check_settings, json!({ "tier": "gold" }), "unknown tier");
        assert_settings_invalid(
            check_settings,
            json!({ "tier": "x", "tiers": { "x": { "memory": "1G", "cpu": "1", "pids": 1 } } }),
            "tiers.x.memory \"1G\" is not a size",
        );
        assert_settings_invalid(check_settings, json!({ "level": "pro" }), "unknown field");
        assert_evaluation_error(
            evaluate(&pod("team-a").settings(json!({ "tier": "gold" })).build()),
            "settings: unknown tier",
        );
    }
}
