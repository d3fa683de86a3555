//! Helpers for policy unit tests: request builders and assertions.
//!
//! The same tests run natively (`cargo test`) and inside Wasm
//! (`cargo test --target wasm32-wasip1`, with `enforcer test-runner` as the
//! cargo runner), so a policy is tested in the engine that runs it.
//!
//! ```
//! use policy_sdk::testing::{request, assert_allowed};
//! use policy_sdk::{Decision, PolicyError, Request};
//!
//! fn evaluate(request: &Request) -> Result<Decision, PolicyError> {
//!     Ok(Decision::allow().pids(16))
//! }
//! let decision = assert_allowed(evaluate(&request().tenant("acme").build()));
//! assert_eq!(decision.pids_limit(), Some(16));
//! ```

use crate::devices::permits;
use crate::{Decision, DeviceType, Host, PolicyError, Request, User};

pub use policy_model::host::typical_host;

/// Starts a request: id `test`, user 1000:1000, command `/bin/true`, on
/// [`typical_host`].
pub fn request() -> RequestBuilder {
    RequestBuilder {
        request: Request {
            id: "test".into(),
            user: User {
                uid: 1000,
                gid: 1000,
                name: Some("tester".into()),
            },
            command: vec!["/bin/true".into()],
            host: typical_host(),
            ..Request::default()
        },
    }
}

/// Builds a [`Request`] step by step; see [`request`].
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    request: Request,
}

impl RequestBuilder {
    /// Sets the id.
    pub fn id(mut self, id: &str) -> Self {
        self.request.id = id.into();
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: &str) -> Self {
        self.request.tenant = Some(tenant.into());
        self
    }

    /// Removes the tenant.
    pub fn no_tenant(mut self) -> Self {
        self.request.tenant = None;
        self
    }

    /// Sets a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.request.labels.insert(key.into(), value.into());
        self
    }

    /// Sets the command line.
    pub fn command(mut self, argv: &[&str]) -> Self {
        self.request.command = argv.iter().map(|arg| (*arg).to_string()).collect();
        self
    }

    /// Sets the requesting user.
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.request.user = User {
            uid,
            gid,
            name: None,
        };
        self
    }

    /// Sets the host's total memory.
    pub fn host_memory(mut self, bytes: u64) -> Self {
        self.request.host.memory_bytes = bytes;
        self
    }

    /// Sets the host's CPU count.
    pub fn host_cpus(mut self, cpus: u32) -> Self {
        self.request.host.cpus = cpus;
        self
    }

    /// Sets the host's hugepage sizes.
    pub fn host_hugepage_sizes(mut self, sizes: &[&str]) -> Self {
        self.request.host.hugepage_sizes = sizes.iter().map(|size| (*size).to_string()).collect();
        self
    }

    /// Sets the number of pages reserved in the host's pool of `page_size`.
    pub fn host_hugepage_pool(mut self, page_size: &str, pages: u64) -> Self {
        self.request
            .host
            .hugepage_pools
            .insert(page_size.into(), pages);
        self
    }

    /// Registers a character device driver's major number on the host.
    pub fn host_char_device(mut self, driver: &str, major: u32) -> Self {
        self.request.host.char_devices.insert(driver.into(), major);
        self
    }

    /// Sets the decision of earlier policies in a chain.
    pub fn previous(mut self, decision: Decision) -> Self {
        self.request.set_previous_decision(Some(&decision));
        self
    }

    /// The request.
    pub fn build(self) -> Request {
        self.request
    }
}

/// Asserts the policy allowed and returns the decision.
#[track_caller]
pub fn assert_allowed(result: Result<Decision, PolicyError>) -> Decision {
    match result {
        Ok(decision) if decision.allow => decision,
        Ok(decision) => panic!("expected an allow, got a denial: {:?}", decision.reason),
        Err(error) => panic!("expected an allow, got a policy error: {error}"),
    }
}

/// Asserts the policy denied with a reason containing `needle`.
#[track_caller]
pub fn assert_denied(result: Result<Decision, PolicyError>, needle: &str) -> Decision {
    match result {
        Ok(decision) if !decision.allow => {
            let reason = decision.reason.clone().unwrap_or_default();
            assert!(
                reason.contains(needle),
                "denial reason {reason:?} does not contain {needle:?}"
            );
            decision
        }
        Ok(_) => panic!("expected a denial containing {needle:?}, got an allow"),
        Err(error) => panic!("expected a denial, got a policy error: {error}"),
    }
}

/// Asserts the policy failed with an error containing `needle`.
#[track_caller]
pub fn assert_policy_error(result: Result<Decision, PolicyError>, needle: &str) {
    match result {
        Err(error) => assert!(
            error.message().contains(needle),
            "policy error {error:?} does not contain {needle:?}"
        ),
        Ok(decision) => panic!("expected a policy error, got {decision:?}"),
    }
}

/// Asserts the decision's device rules permit `access` on `kind major:minor`.
#[track_caller]
pub fn assert_device_permitted(
    decision: &Decision,
    kind: DeviceType,
    major: i64,
    minor: i64,
    access: &str,
) {
    assert!(
        permits(decision.device_rules(), kind, major, minor, access),
        "device {}:{major}:{minor} {access} should be permitted by {:?}",
        kind.letter(),
        decision.device_rules()
    );
}

/// Asserts the decision's device rules deny `access` on `kind major:minor`.
#[track_caller]
pub fn assert_device_denied(
    decision: &Decision,
    kind: DeviceType,
    major: i64,
    minor: i64,
    access: &str,
) {
    assert!(
        !permits(decision.device_rules(), kind, major, minor, access),
        "device {}:{major}:{minor} {access} should be denied by {:?}",
        kind.letter(),
        decision.device_rules()
    );
}

/// Checks `decision` with exactly the rules the enforcer applies to what a
/// policy returns (ranges, confinement, what `host` offers) and returns
/// its normal form, every default explicit. Panics with every violation.
///
/// ```
/// use policy_sdk::testing::{assert_valid, typical_host};
/// use policy_sdk::{Decision, MIB};
/// let normal = assert_valid(&Decision::allow().memory_limit(256 * MIB), &typical_host());
/// assert!(normal.process.no_new_privileges);
/// ```
pub fn assert_valid(decision: &Decision, host: &Host) -> policy_model::NormalDecision {
    let context = policy_model::Context::typical();
    match policy_model::validate(decision.clone(), host, &context.default_cgroup) {
        Ok(valid) => policy_model::normalize(&valid, &context),
        Err(invalid) => panic!("{invalid}"),
    }
}

/// Checks that `later` only tightens `earlier`, with the rule the enforcer
/// applies between policies of a chain (both are validated on
/// [`typical_host`] first). Panics with the loosened field, e.g.
/// `loosens process.capabilities.effective: adds CAP_SYS_ADMIN`.
///
/// ```
/// use policy_sdk::testing::assert_tightens;
/// use policy_sdk::Decision;
/// assert_tightens(&Decision::allow().pids(64), &Decision::allow().pids(32));
/// ```
pub fn assert_tightens(earlier: &Decision, later: &Decision) {
    let host = typical_host();
    let (earlier, later) = (assert_valid(earlier, &host), assert_valid(later, &host));
    if let Err(loosened) = policy_model::check_tightens(&earlier, &later) {
        panic!("{loosened}");
    }
}

/// Checks that `later` loosens `earlier` at `field` (a test that a chain
/// would refuse it), and returns the refusal's message.
pub fn assert_loosens(earlier: &Decision, later: &Decision, field: &str) -> String {
    let host = typical_host();
    let (earlier, later) = (assert_valid(earlier, &host), assert_valid(later, &host));
    match policy_model::check_tightens(&earlier, &later) {
        Ok(()) => panic!("expected a loosening of {field}, but the later decision only tightens"),
        Err(loosened) if loosened.field == field => loosened.to_string(),
        Err(loosened) => panic!("expected a loosening of {field}, got: {loosened}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MIB, NamespaceType};

    #[test]
    fn the_enforcers_rules_run_in_a_policy_test() {
        let platform = Decision::allow().standard_namespaces().pids(64);
        assert_tightens(&platform, &platform.clone().pids(32));
        let mut tenant = platform.clone();
        tenant
            .process
            .get_or_insert_with(Default::default)
            .capabilities = Some(crate::Capabilities {
            effective: vec!["CAP_SYS_ADMIN".into()],
            ..Default::default()
        });
        let message = assert_loosens(&platform, &tenant, "process.capabilities.effective");
        assert!(message.contains("adds CAP_SYS_ADMIN"), "{message}");
        assert_loosens(
            &platform,
            &platform.clone().pids(128),
            "resources.pids.limit",
        );
    }

    #[test]
    #[should_panic(expected = "needs a new uts namespace")]
    fn an_invalid_decision_fails_the_test() {
        assert_valid(
            &Decision::allow()
                .namespace(NamespaceType::Pid)
                .hostname("box")
                .memory_limit(MIB),
            &typical_host(),
        );
    }
}
