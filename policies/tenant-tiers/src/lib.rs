//! A multi-tenant policy keyed on the `tier` label.
//!
//! | tier | memory | cpu | pids | commands |
//! |---|---|---|---|---|
//! | `free` (default) | 256 MiB | 0.5 CPU, weight 256 | 64 | allow-list only |
//! | `pro` | 2 GiB | 2 CPUs, weight 1024 | 512 | any |
//! | `enterprise` | 8 GiB | 8 CPUs, weight 4096 | 4096 | any |
//!
//! Requests without a tenant, with a malformed tenant name or with an
//! unknown tier are denied. A caller may ask for less memory or fewer pids
//! than its tier (`requested`), never more.

use policy_sdk::{Decision, EvaluationError, GIB, MIB, Request, export_policy, log};

/// CFS period used for every tier, in microseconds.
const CPU_PERIOD_US: u64 = 100_000;

/// Programs the free tier may run.
pub const FREE_TIER_COMMANDS: [&str; 7] = ["python3", "node", "sh", "bash", "true", "echo", "cat"];

/// What a tier grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// Tier name.
    pub name: &'static str,
    /// Memory limit in bytes.
    pub memory: u64,
    /// CPU quota, in hundredths of a CPU.
    pub cpu_percent: u64,
    /// CPU weight in v1 shares.
    pub shares: u64,
    /// Maximum tasks.
    pub pids: u64,
    /// Whether only [`FREE_TIER_COMMANDS`] may run.
    pub restricted_commands: bool,
}

/// The tiers, cheapest first.
pub const TIERS: [Tier; 3] = [
    Tier {
        name: "free",
        memory: 256 * MIB,
        cpu_percent: 50,
        shares: 256,
        pids: 64,
        restricted_commands: true,
    },
    Tier {
        name: "pro",
        memory: 2 * GIB,
        cpu_percent: 200,
        shares: 1024,
        pids: 512,
        restricted_commands: false,
    },
    Tier {
        name: "enterprise",
        memory: 8 * GIB,
        cpu_percent: 800,
        shares: 4096,
        pids: 4096,
        restricted_commands: false,
    },
];

/// Evaluates a request.
pub fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
    let Some(tenant) = request.tenant.as_deref() else {
        return Ok(Decision::deny("requests must name a tenant"));
    };
    if !is_valid_tenant(tenant) {
        return Ok(Decision::deny(format!(
            "tenant name {tenant:?} must be 1 to 32 characters of a-z, 0-9 and '-'"
        )));
    }
    let tier_name = request.label("tier").unwrap_or("free");
    let Some(tier) = TIERS.iter().find(|tier| tier.name == tier_name) else {
        return Ok(Decision::deny(format!(
            "unknown tier {tier_name:?}: expected free, pro or enterprise"
        )));
    };
    if tier.restricted_commands {
        let program = request.program().unwrap_or("");
        if !FREE_TIER_COMMANDS.contains(&program) {
            log!("tenant {tenant}: free tier refused {program:?}");
            return Ok(Decision::deny(format!(
                "the free tier may not run {program:?}; allowed: {}",
                FREE_TIER_COMMANDS.join(", ")
            )));
        }
    }
    let (memory, pids) = within_request(request, tier);
    Ok(Decision::allow()
        .reason(format!("tenant {tenant}, tier {}", tier.name))
        .standard_namespaces()
        .cgroups_path(format!("tenants/{tenant}/{}", request.id))
        .memory_limit(memory)
        .cpu_shares(tier.shares)
        .cpu_quota(tier.cpu_percent * CPU_PERIOD_US / 100, CPU_PERIOD_US)
        .pids(pids)
        .default_devices()
        .no_hugepages(&request.host.hugepage_sizes)
        .unprivileged(request.user.uid, request.user.gid))
}

/// The tier's memory and pids, lowered to what the caller requested.
fn within_request(request: &Request, tier: &Tier) -> (u64, u64) {
    let requested = request.requested.as_ref();
    let memory = requested
        .and_then(|resources| resources.memory.as_ref()?.limit)
        .and_then(|limit| u64::try_from(limit).ok())
        .map_or(tier.memory, |limit| limit.min(tier.memory));
    let pids = requested
        .and_then(|resources| resources.pids)
        .and_then(|pids| u64::try_from(pids.limit).ok())
        .filter(|&limit| limit > 0)
        .map_or(tier.pids, |limit| limit.min(tier.pids));
    (memory, pids)
}

fn is_valid_tenant(tenant: &str) -> bool {
    (1..=32).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

export_policy!(evaluate);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::testing::{assert_allowed, assert_denied, request};
    use policy_sdk::{Memory, Pids, Resources};

    #[test]
    fn denies_requests_without_a_tenant() {
        assert_denied(
            evaluate(&request().no_tenant().build()),
            "must name a tenant",
        );
    }

    #[test]
    fn denies_malformed_tenants_and_unknown_tiers() {
        assert_denied(evaluate(&request().tenant("../etc").build()), "tenant name");
        assert_denied(
            evaluate(&request().tenant("acme").label("tier", "gold").build()),
            "unknown tier",
        );
    }

    #[test]
    fn free_tier_is_small_and_restricted() {
        let decision = assert_allowed(evaluate(
            &request()
                .tenant("acme")
                .command(&["/usr/bin/python3", "job.py"])
                .build(),
        ));
        assert_eq!(decision.memory_limit_bytes(), Some(256 * MIB as i64));
        assert_eq!(decision.pids_limit(), Some(64));
        let cpu = decision.cpu().expect("cpu is set");
        assert_eq!(
            (cpu.quota, cpu.period, cpu.shares),
            (Some(50_000), Some(100_000), Some(256))
        );
        assert_denied(
            evaluate(&request().tenant("acme").command(&["/usr/bin/gcc"]).build()),
            "may not run \"gcc\"",
        );
    }

    #[test]
    fn paid_tiers_get_more_and_any_command() {
        let pro = assert_allowed(evaluate(
            &request()
                .tenant("acme")
                .label("tier", "pro")
                .command(&["gcc"])
                .build(),
        ));
        assert_eq!(pro.memory_limit_bytes(), Some(2 * GIB as i64));
        let enterprise = assert_allowed(evaluate(
            &request().tenant("acme").label("tier", "enterprise").build(),
        ));
        assert_eq!(enterprise.pids_limit(), Some(4096));
        assert_eq!(enterprise.cpu().and_then(|cpu| cpu.quota), Some(800_000));
    }

    #[test]
    fn requested_resources_can_only_lower_limits() {
        let mut lower = request().tenant("acme").label("tier", "pro").build();
        lower.requested = Some(Resources {
            memory: Some(Memory {
                limit: Some(100 * MIB as i64),
                ..Memory::default()
            }),
            pids: Some(Pids { limit: 10 }),
            ..Resources::default()
        });
        let decision = assert_allowed(evaluate(&lower));
        assert_eq!(decision.memory_limit_bytes(), Some(100 * MIB as i64));
        assert_eq!(decision.pids_limit(), Some(10));

        let mut higher = lower.clone();
        higher.requested = Some(Resources {
            memory: Some(Memory {
                limit: Some(100 * GIB as i64),
                ..Memory::default()
            }),
            ..Resources::default()
        });
        let decision = assert_allowed(evaluate(&higher));
        assert_eq!(decision.memory_limit_bytes(), Some(2 * GIB as i64));
    }

    #[test]
    fn cgroups_are_grouped_per_tenant() {
        let decision = assert_allowed(evaluate(&request().id("j1").tenant("acme").build()));
        assert_eq!(decision.cgroups_path.as_deref(), Some("tenants/acme/j1"));
    }
}
