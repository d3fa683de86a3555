//! A multi-tenant policy keyed on the `tier` label.
//!
//! | tier | memory | cpu | pids | commands |
//! |---|---|---|---|---|
//! | `free` (default) | 256 MiB | 0.5 CPU, weight 256 | 64 | [`FREE_TIER_EXECUTABLES`] only |
//! | `pro` | 2 GiB | 2 CPUs, weight 1024 | 512 | any |
//! | `enterprise` | 8 GiB | 8 CPUs, weight 4096 | 4096 | any |
//!
//! Requests without a tenant, with a malformed tenant name or with an
//! unknown tier are denied. A caller may ask for less memory or fewer pids
//! than its tier (`requested`), never more.
//!
//! The free tier's allow-list is matched against `request.executable()`,
//! the absolute path the enforcer resolved the command to, never against
//! the command's basename: `/tmp/anything/python3` is not
//! `/usr/bin/python3`. A command the enforcer could not resolve is denied.
//! The allow-list says which program starts, not what it does (`sh -c`
//! runs anything): the sandbox is the boundary, not the list.
//!
//! Every tier runs the workload as the caller ([`Decision::run_as_caller`]):
//! a user as itself without privileges, root only inside a user namespace
//! of its own. Hugepages are limited to zero where the host has a hugetlb
//! controller to enforce it with.

use policy_sdk::{Decision, EvaluationError, GIB, MIB, Request, export_policy, log};

/// CFS period used for every tier, in microseconds.
const CPU_PERIOD_US: u64 = 100_000;

/// The programs the free tier may run, as absolute paths (both halves of
/// a merged `/usr`, where `/bin` is `/usr/bin`).
pub const FREE_TIER_EXECUTABLES: [&str; 12] = [
    "/usr/bin/python3",
    "/usr/bin/node",
    "/bin/sh",
    "/usr/bin/sh",
    "/bin/bash",
    "/usr/bin/bash",
    "/bin/true",
    "/usr/bin/true",
    "/bin/echo",
    "/usr/bin/echo",
    "/bin/cat",
    "/usr/bin/cat",
];

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
    /// Whether only [`FREE_TIER_EXECUTABLES`] may run.
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
        let Some(executable) = request.executable() else {
            let command = request.command.first().map_or("", String::as_str);
            log!("tenant {tenant}: free tier refused unresolved {command:?}");
            return Ok(Decision::deny(format!(
                "the free tier may not run {command:?}: the enforcer found no such program"
            )));
        };
        if !FREE_TIER_EXECUTABLES.contains(&executable) {
            log!("tenant {tenant}: free tier refused {executable:?}");
            return Ok(Decision::deny(format!(
                "the free tier may not run {executable:?}; allowed: {}",
                FREE_TIER_EXECUTABLES.join(", ")
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
        .no_hugepages(hugetlb_sizes(request))
        .run_as_caller(request.user.uid, request.user.gid))
}

/// The page sizes to limit to zero: all the host's where it has a hugetlb
/// controller, none where it has nothing to enforce a limit with.
fn hugetlb_sizes(request: &Request) -> &[String] {
    if request.host.has_controller("hugetlb") {
        &request.host.hugepage_sizes
    } else {
        &[]
    }
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
    use policy_sdk::testing::{assert_allowed, assert_denied, hosts, request};
    use policy_sdk::{Memory, NamespaceType, Pids, Resources};

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
            "may not run \"/usr/bin/gcc\"",
        );
    }

    #[test]
    fn the_free_tier_matches_the_resolved_path_not_the_name() {
        // A bare name the enforcer resolved to the system's python3.
        assert_allowed(evaluate(
            &request().tenant("acme").command(&["python3"]).build(),
        ));
        // The attack: a program of one's own named python3.
        assert_denied(
            evaluate(
                &request()
                    .tenant("acme")
                    .command(&["/tmp/anything/python3"])
                    .build(),
            ),
            "may not run \"/tmp/anything/python3\"",
        );
        // The same, reached through PATH.
        assert_denied(
            evaluate(
                &request()
                    .tenant("acme")
                    .command(&["python3"])
                    .executable("/tmp/anything/python3")
                    .build(),
            ),
            "may not run \"/tmp/anything/python3\"",
        );
        // Unresolved: denied, whatever its name.
        assert_denied(
            evaluate(
                &request()
                    .tenant("acme")
                    .command(&["python3"])
                    .no_executable()
                    .build(),
            ),
            "found no such program",
        );
        // Paid tiers run anything, resolved or not.
        assert_allowed(evaluate(
            &request()
                .tenant("acme")
                .label("tier", "pro")
                .command(&["/tmp/anything/python3"])
                .build(),
        ));
    }

    #[test]
    fn every_tier_applies_on_every_host_shape() {
        for shape in hosts() {
            for tier in TIERS {
                let decision = assert_allowed(evaluate(
                    &request()
                        .tenant("acme")
                        .label("tier", tier.name)
                        .command(&["python3"])
                        .host(shape.host.clone())
                        .build(),
                ));
                assert_eq!(
                    decision.hugepage_limit_bytes("2MB"),
                    shape.host.has_controller("hugetlb").then_some(0),
                    "{} on {}",
                    tier.name,
                    shape.name
                );
            }
        }
    }

    #[test]
    fn root_runs_as_root_only_inside_a_user_namespace() {
        let decision = assert_allowed(evaluate(&request().tenant("acme").user(0, 0).build()));
        assert!(decision.has_namespace(NamespaceType::User));
        assert!(decision.private_host_ids);
        let user = assert_allowed(evaluate(&request().tenant("acme").user(1000, 1000).build()));
        assert!(!user.has_namespace(NamespaceType::User));
        let process = user.process.expect("process");
        assert_eq!(process.user.map(|u| (u.uid, u.gid)), Some((1000, 1000)));
        assert_eq!(process.no_new_privileges, Some(true));
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
