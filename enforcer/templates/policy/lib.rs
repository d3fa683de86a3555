//! {{name}}: an enforcer isolation policy.
//!
//! It allows a request that names a tenant and runs it with:
//!
//! * new pid, network, mount, ipc, uts and cgroup namespaces;
//! * 256 MiB of memory and 128 tasks, in the cgroup `tenants/<tenant>/<id>`;
//! * the OCI default devices only; no hugepages (where the host's hugetlb
//!   controller can enforce that);
//! * the caller's own user, with no capabilities and `noNewPrivileges`; a
//!   root caller runs as root of a private user namespace, never as the
//!   host's root.
//!
//! Every line of it works on any host the enforcer runs on (cgroup v1, v2
//! or hybrid, with or without hugetlb): the tests below check it on each.

use policy_sdk::{Decision, EvaluationError, MIB, Request, export_policy};

/// The memory limit.
pub const MEMORY_LIMIT: u64 = 256 * MIB;
/// The most tasks (processes and threads) the workload may have.
pub const PIDS_LIMIT: u64 = 128;

/// Decides a request.
pub fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
    let Some(tenant) = request.tenant.as_deref() else {
        return Ok(Decision::deny(
            "requests must name a tenant (--tenant NAME)",
        ));
    };
    let decision = Decision::allow()
        .reason(format!("tenant {tenant}"))
        .standard_namespaces()
        .cgroups_path(format!("tenants/{tenant}/{}", request.id))
        .memory_limit(MEMORY_LIMIT)
        .pids(PIDS_LIMIT)
        .default_devices()
        .no_hugepages(hugepage_sizes(request))
        // Root only inside a user namespace of its own; anyone else as
        // themselves with no capabilities. (`.unprivileged(uid, gid)` would
        // leave a root caller as the host's uid 0.)
        .run_as_caller(request.user.uid, request.user.gid);
    Ok(decision)
}

/// The page sizes to limit to zero: the host's, if it has the hugetlb
/// controller; none otherwise (a limit nothing can enforce would make the
/// enforcer refuse the decision).
fn hugepage_sizes(request: &Request) -> &[String] {
    let host = &request.host;
    if host.has_controller("hugetlb") {
        &host.hugepage_sizes
    } else {
        &[]
    }
}

export_policy!(evaluate);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::NamespaceType;
    use policy_sdk::testing::{assert_allowed, assert_denied, request};

    #[test]
    fn a_request_without_a_tenant_is_denied() {
        assert_denied(
            evaluate(&request().no_tenant().build()),
            "must name a tenant",
        );
    }

    #[test]
    fn a_tenant_gets_the_limits() {
        let decision = assert_allowed(evaluate(&request().tenant("acme").build()));
        assert_eq!(decision.memory_limit_bytes(), Some(MEMORY_LIMIT as i64));
        assert_eq!(decision.pids_limit(), Some(PIDS_LIMIT as i64));
        assert_eq!(decision.cgroups_path.as_deref(), Some("tenants/acme/test"));
        for kind in NamespaceType::STANDARD {
            assert!(decision.has_namespace(kind), "{kind} missing");
        }
    }

    #[test]
    fn hugepages_are_limited_only_with_the_hugetlb_controller() {
        let with = assert_allowed(evaluate(&request().tenant("acme").build()));
        assert_eq!(with.hugepage_limit_bytes("2MB"), Some(0));
        let mut without = request().tenant("acme").build();
        without.host.controllers.retain(|name| name != "hugetlb");
        let decision = assert_allowed(evaluate(&without));
        assert_eq!(decision.hugepage_limit_bytes("2MB"), None);
    }

    #[test]
    fn a_user_runs_as_itself_and_root_only_inside_a_user_namespace() {
        let user = assert_allowed(evaluate(&request().tenant("acme").user(1000, 1000).build()));
        assert!(!user.has_namespace(NamespaceType::User));
        let root = assert_allowed(evaluate(&request().tenant("acme").user(0, 0).build()));
        assert!(
            root.has_namespace(NamespaceType::User),
            "root must not be the host's root"
        );
    }

    #[test]
    fn runs_on_every_host_shape() {
        for shape in policy_sdk::testing::hosts() {
            // Printed when the assertion below fails. `assert_allowed` also
            // checks that the enforcer could apply the decision on this host.
            println!("host shape: {}", shape.name);
            assert_allowed(evaluate(
                &request().host(shape.host.clone()).tenant("acme").build(),
            ));
        }
    }
}
