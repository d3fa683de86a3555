//! The enforcer's built-in policy, used when no `--policy` is given.
//!
//! * new pid, ipc, uts, mount, network and cgroup namespaces;
//! * memory at most 512 MiB or a quarter of the host's memory, whichever is
//!   lower; 256 tasks;
//! * the OCI default devices only; no hugepages;
//! * the host's files read-only, private `/tmp`, `/var/tmp` and `/run`,
//!   `/home` and `/root` hidden, the OCI default masks, the caller's
//!   working directory bound where the workload starts (see
//!   [`filesystem`]);
//! * a loopback that is up, and, with the label `network=NAME[,NAME...]`,
//!   an interface on each of the operator's networks named (see
//!   [`network`]);
//! * the container runtimes' default system call filter
//!   ([`default_seccomp`]);
//! * the workload runs as the requesting user, with no capabilities and
//!   `noNewPrivileges`; a request from root instead runs as root inside a
//!   new user namespace mapped to a range of 65,536 unprivileged host ids
//!   the enforcer leases to this sandbox alone, with the usual container
//!   capabilities, which give it no power over the host or over another
//!   sandbox;
//! * a request from a non-root user with group 0 (root's group) is denied:
//!   group 0 owns host files a workload must not reach;
//! * the cgroup is `sandboxes/<id>` without a tenant and
//!   `tenants/<tenant>/<id>` with one: separate subtrees, so a tenant-less
//!   id can never become a tenant's parent cgroup.
//!
//! A request for a container a runtime creates (`enforcer runtime
//! create`, the Kubernetes path: `request.container()` is set) is decided
//! by [`container`] instead: allowed, with the spec's own namespaces, user
//! and `noNewPrivileges`, its capabilities within the container runtimes'
//! default set, the OCI default masks and devices, and nothing else of
//! the default's own.

pub mod container;
pub mod filesystem;
pub mod network;

use policy_sdk::{Decision, EvaluationError, MIB, Request, default_seccomp, export_policy};

mod bundle;

/// Upper bound on the memory limit.
pub const MEMORY_CAP: u64 = 512 * MIB;
/// The pids limit.
pub const PIDS_LIMIT: u64 = 256;
/// The memory limit for a host with `host_memory` bytes (0: unknown).
pub fn memory_limit(host_memory: u64) -> u64 {
    match host_memory {
        0 => MEMORY_CAP,
        total => MEMORY_CAP.min(total / 4),
    }
}

/// Why a non-root request may not run with root's group.
pub const ROOT_GROUP_REASON: &str = "a non-root user may not run with group 0 (root's group owns host files; pick another --user UID:GID)";

/// Evaluates a request.
pub fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
    if let Some(one) = request.container() {
        return Ok(container::decide(request, one));
    }
    if request.user.uid != 0 && request.user.gid == 0 {
        return Ok(Decision::deny(ROOT_GROUP_REASON));
    }
    let cgroup = match request.tenant.as_deref() {
        Some(tenant) => format!("tenants/{tenant}/{}", request.id),
        None => format!("sandboxes/{}", request.id),
    };
    let memory = memory_limit(request.host.memory_bytes);
    let decision = Decision::allow()
        .reason("default policy")
        .standard_namespaces()
        .hostname(hostname_for(&request.id))
        .cgroups_path(cgroup)
        .memory_limit(memory)
        .pids(PIDS_LIMIT)
        .default_devices()
        .no_hugepages(hugetlb_sizes(request));
    // `/dev/tty` only for a workload given a terminal of its own (`-t`).
    let decision = if request.terminal {
        decision
    } else {
        decision.deny_tty_device()
    };
    // The container runtimes' default system call filter.
    let decision = decision.seccomp(default_seccomp());
    let as_root = request.user.uid == 0;
    let decision = if as_root {
        decision.root_in_private_user_namespace()
    } else {
        decision.unprivileged(request.user.uid, request.user.gid)
    };
    let decision = filesystem::confine(decision, request, memory, as_root);
    let decision = network::join_networks(decision, request);
    Ok(bundle::apply_bundle(decision, request))
}

/// The page sizes to limit to zero: all the host's, when it has a usable
/// hugetlb controller (without one there is nothing to enforce with).
fn hugetlb_sizes(request: &Request) -> &[String] {
    let host = &request.host;
    if host.controllers.iter().any(|name| name == "hugetlb") {
        &host.hugepage_sizes
    } else {
        &[]
    }
}

/// A hostname from the sandbox id: at most 63 characters.
fn hostname_for(id: &str) -> String {
    let name: String = id.chars().take(63).collect();
    if name.is_empty() {
        "sandbox".into()
    } else {
        name
    }
}

export_policy!(evaluate);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::testing::{
        assert_allowed, assert_device_denied, assert_device_permitted, request,
    };
    use policy_sdk::{DeviceType, GIB, NamespaceType};

    #[test]
    fn creates_the_six_namespaces_but_not_user() {
        let decision = assert_allowed(evaluate(&request().user(1000, 1000).build()));
        for kind in NamespaceType::STANDARD {
            assert!(decision.has_namespace(kind), "{kind} missing");
        }
        assert!(!decision.has_namespace(NamespaceType::User));
        assert!(decision.namespaces.iter().all(|ns| ns.path.is_none()));
    }

    #[test]
    fn memory_is_the_lower_of_512_mib_and_a_quarter_of_the_host() {
        let big = assert_allowed(evaluate(&request().host_memory(64 * GIB).build()));
        assert_eq!(big.memory_limit_bytes(), Some(512 * MIB as i64));
        let small = assert_allowed(evaluate(&request().host_memory(GIB).build()));
        assert_eq!(small.memory_limit_bytes(), Some(256 * MIB as i64));
    }

    #[test]
    fn dev_tty_only_with_a_terminal() {
        let decision = assert_allowed(evaluate(&request().build()));
        assert_device_denied(&decision, DeviceType::Char, 5, 0, "r");
        assert_device_permitted(&decision, DeviceType::Char, 136, 3, "rw");
        let mut with_terminal = request().build();
        with_terminal.terminal = true;
        let decision = assert_allowed(evaluate(&with_terminal));
        assert_device_permitted(&decision, DeviceType::Char, 5, 0, "rw");
    }

    #[test]
    fn pids_and_hugepages_are_capped() {
        let decision = assert_allowed(evaluate(&request().build()));
        assert_eq!(decision.pids_limit(), Some(256));
        assert_eq!(decision.hugepage_limit_bytes("2MB"), Some(0));
        assert_eq!(decision.hugepage_limit_bytes("1GB"), Some(0));
    }

    #[test]
    fn no_hugepage_limits_without_a_usable_hugetlb_controller() {
        let mut request = request().build();
        request.host.controllers.retain(|name| name != "hugetlb");
        let decision = assert_allowed(evaluate(&request));
        assert_eq!(decision.hugepage_limit_bytes("2MB"), None);
    }

    #[test]
    fn only_default_devices() {
        let decision = assert_allowed(evaluate(&request().build()));
        assert_device_permitted(&decision, DeviceType::Char, 1, 3, "rwm");
        assert_device_denied(&decision, DeviceType::Char, 1, 1, "r");
        assert_device_denied(&decision, DeviceType::Block, 8, 0, "r");
    }

    #[test]
    fn runs_as_the_requesting_user_without_privileges() {
        let decision = assert_allowed(evaluate(&request().user(1234, 99).build()));
        let process = decision.process.expect("process is set");
        let user = process.user.expect("user is set");
        assert_eq!((user.uid, user.gid), (1234, 99));
        assert_eq!(process.no_new_privileges, Some(true));
        assert!(process.capabilities.expect("caps").bounding.is_empty());
    }

    #[test]
    fn root_runs_as_root_only_inside_a_private_user_namespace() {
        let decision = assert_allowed(evaluate(&request().user(0, 0).build()));
        assert!(decision.has_namespace(NamespaceType::User));
        assert!(decision.private_host_ids);
        assert!(decision.uid_mappings.is_empty() && decision.gid_mappings.is_empty());
        let process = decision.process.expect("process is set");
        assert_eq!(process.no_new_privileges, Some(true));
        let capabilities = process.capabilities.expect("caps");
        assert!(!capabilities.bounding.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(capabilities.ambient.is_empty());
    }

    #[test]
    fn tenants_and_tenantless_sandboxes_live_in_separate_subtrees() {
        let decision = assert_allowed(evaluate(&request().id("job1").tenant("acme").build()));
        assert_eq!(decision.cgroups_path.as_deref(), Some("tenants/acme/job1"));
        let decision = assert_allowed(evaluate(&request().id("job2").build()));
        assert_eq!(decision.cgroups_path.as_deref(), Some("sandboxes/job2"));
        // The attack: a tenant-less id named after a tenant.
        let tenantless = assert_allowed(evaluate(&request().id("acme").build()));
        let tenant = assert_allowed(evaluate(&request().id("job").tenant("acme").build()));
        let (a, b) = (
            tenantless.cgroups_path.expect("set"),
            tenant.cgroups_path.expect("set"),
        );
        assert!(
            !b.starts_with(&format!("{a}/")) && !a.starts_with(&format!("{b}/")),
            "{a} and {b} nest"
        );
    }

    #[test]
    fn a_non_root_user_with_group_0_is_denied() {
        let decision = evaluate(&request().user(1000, 0).build()).expect("decides");
        assert!(!decision.allow);
        assert_eq!(decision.reason.as_deref(), Some(ROOT_GROUP_REASON));
        // Root itself runs in its user namespace; other groups are fine,
        // and the workload never gets supplementary groups.
        assert_allowed(evaluate(&request().user(0, 0).build()));
        let decision = assert_allowed(evaluate(&request().user(1000, 1000).build()));
        let user = decision
            .process
            .and_then(|process| process.user)
            .expect("user");
        assert_eq!(user.gid, 1000);
        assert!(
            user.additional_gids.is_empty(),
            "{:?}",
            user.additional_gids
        );
    }
}
