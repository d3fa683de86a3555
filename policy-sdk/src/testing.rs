//! Helpers for policy unit tests: request builders and assertions.
//!
//! The same tests run natively (`cargo test`) and inside Wasm
//! (`cargo test --target wasm32-wasip1`, with `enforcer test-runner` as the
//! cargo runner), so a policy is tested in the engine that runs it.
//!
//! ```
//! use policy_sdk::testing::{request, assert_allowed};
//! use policy_sdk::{Decision, EvaluationError, Request};
//!
//! fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
//!     Ok(Decision::allow().pids(16))
//! }
//! let decision = assert_allowed(evaluate(&request().tenant("acme").build()));
//! assert_eq!(decision.pids_limit(), Some(16));
//! ```
//!
//! With settings (see [`crate::settings`]):
//!
//! ```
//! use policy_sdk::testing::{assert_settings_invalid, request};
//! use serde_json::json;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(default, rename_all = "camelCase")]
//! struct Settings { max_pids: u32 }
//! impl Default for Settings { fn default() -> Self { Settings { max_pids: 64 } } }
//! fn check(settings: &Settings) -> Result<(), String> {
//!     if settings.max_pids == 0 { Err("maxPids must be at least 1".into()) } else { Ok(()) }
//! }
//!
//! let request = request().settings(json!({"maxPids": 8})).build();
//! assert_eq!(request.settings::<Settings>().map(|s| s.max_pids), Ok(8));
//! assert_settings_invalid(check, json!({"maxPids": 0}), "at least 1");
//! ```

use std::cell::RefCell;
use std::fmt::Display;

use serde::de::DeserializeOwned;

use crate::abi::SettingsValidation;
use crate::devices::permits;
use crate::settings::validate;
use crate::{CgroupMode, Decision, DeviceType, EvaluationError, Host, Request, User};

pub use policy_model::host::typical_host;

/// Starts a request: id `test`, user 1000:1000, command `/bin/true`
/// (executable `/bin/true`), on [`typical_host`].
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
            executable: Some("/bin/true".into()),
            host: typical_host(),
            ..Request::default()
        },
    }
}

/// A host shape of [`hosts`], with the name assertions print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedHost {
    /// `"cgroup v1"`, `"cgroup v2"`, `"cgroup v2, hugetlb not enabled"`,
    /// `"hybrid"`.
    pub name: &'static str,
    /// Its facts, as the enforcer would put them in `request.host`.
    pub host: Host,
}

/// The host shapes a policy meets in the field, each with 4 CPUs, 8 GiB,
/// 2MB and 1GB hugepages:
///
/// * `"cgroup v1"`: every v1 controller mounted, `hugetlb`, `net_cls`
///   and `net_prio` included;
/// * `"cgroup v2"`: `cpu cpuset hugetlb io memory misc pids` enabled for
///   the root's children;
/// * `"cgroup v2, hugetlb not enabled"`: the same without `hugetlb` (the
///   root offers it but has not enabled it: common on distributions);
/// * `"hybrid"`: v1 hierarchies without `hugetlb` and a cgroup2 hierarchy
///   with no controller enabled (systemd's hybrid layout).
///
/// Run a policy against each, so a decision that cannot be applied on one
/// of them fails its unit test:
///
/// ```
/// use policy_sdk::testing::{assert_allowed, hosts, request};
/// use policy_sdk::{Decision, EvaluationError, Request};
///
/// fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
///     let decision = Decision::allow().pids(64);
///     // Hugepage limits only where the host can enforce them.
///     Ok(if request.host.has_controller("hugetlb") {
///         decision.no_hugepages(&request.host.hugepage_sizes)
///     } else {
///         decision
///     })
/// }
///
/// for shape in hosts() {
///     assert_allowed(evaluate(&request().host(shape.host).build()));
/// }
/// ```
pub fn hosts() -> Vec<NamedHost> {
    let shape = |name, mode, controllers: &[&str], v2: bool| NamedHost {
        name,
        host: Host {
            cgroup_mode: mode,
            controllers: controllers.iter().map(|name| name.to_string()).collect(),
            v2_controllers: if v2 {
                controllers.iter().map(|name| name.to_string()).collect()
            } else {
                Vec::new()
            },
            ..typical_host()
        },
    };
    vec![
        shape(
            "cgroup v1",
            CgroupMode::V1,
            &[
                "blkio",
                "cpu",
                "cpuacct",
                "cpuset",
                "devices",
                "freezer",
                "hugetlb",
                "memory",
                "net_cls",
                "net_prio",
                "perf_event",
                "pids",
            ],
            false,
        ),
        shape(
            "cgroup v2",
            CgroupMode::V2,
            &["cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids"],
            true,
        ),
        shape(
            "cgroup v2, hugetlb not enabled",
            CgroupMode::V2,
            &["cpu", "cpuset", "io", "memory", "misc", "pids"],
            true,
        ),
        shape(
            "hybrid",
            CgroupMode::Hybrid,
            &[
                "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
            ],
            false,
        ),
    ]
}

thread_local! {
    /// The host of the request [`RequestBuilder::build`] built last in
    /// this thread: what [`assert_allowed`] checks a decision against.
    static LAST_HOST: RefCell<Option<Host>> = const { RefCell::new(None) };
    /// Whether that request was a container runtime's (it had a
    /// `container`): its decisions are validated as the enforcer validates
    /// a container's ([`policy_model::validate_container`]).
    static LAST_WAS_CONTAINER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `decision` validated as the enforcer would for the request last built
/// in this thread: a container's or a sandbox's.
fn validate_as_last(
    decision: &Decision,
    host: &Host,
    default_cgroup: &str,
) -> Result<Decision, policy_model::InvalidDecision> {
    if LAST_WAS_CONTAINER.with(std::cell::Cell::get) {
        policy_model::validate_container(decision.clone(), host, default_cgroup)
    } else {
        policy_model::validate(decision.clone(), host, default_cgroup)
    }
}

/// The host of the request last built in this thread, or
/// [`typical_host`] when none was.
fn last_host() -> Host {
    LAST_HOST
        .with(|last| last.borrow().clone())
        .unwrap_or_else(typical_host)
}

/// How assertions name `host`: its shape in [`hosts`], else a
/// description.
fn shape_name(host: &Host) -> String {
    if let Some(shape) = hosts().into_iter().find(|shape| shape.host == *host) {
        return format!("the {:?} host", shape.name);
    }
    if *host == typical_host() {
        return "the typical host".to_string();
    }
    let mode = serde_json::to_string(&host.cgroup_mode).unwrap_or_default();
    format!(
        "the request's host (cgroupMode {mode}, controllers: {})",
        host.controllers.join(", ")
    )
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

    /// Sets the command line, and [`Request::executable`] to a plausible
    /// resolution of `argv[0]`: the path itself when it contains a `/`,
    /// else `/usr/bin/<name>` (`python3` → `/usr/bin/python3`). Set
    /// another with [`RequestBuilder::executable`] (after this), or none
    /// with [`RequestBuilder::no_executable`].
    pub fn command(mut self, argv: &[&str]) -> Self {
        self.request.command = argv.iter().map(|arg| (*arg).to_string()).collect();
        self.request.executable = argv.first().map(|first| {
            if first.contains('/') {
                (*first).to_string()
            } else {
                format!("/usr/bin/{first}")
            }
        });
        self
    }

    /// Sets what the enforcer resolved `command[0]` to (an absolute path).
    pub fn executable(mut self, path: &str) -> Self {
        self.request.executable = Some(path.into());
        self
    }

    /// Leaves the executable unresolved, as for a program that is not
    /// found.
    pub fn no_executable(mut self) -> Self {
        self.request.executable = None;
        self
    }

    /// Makes the request a container runtime's (`enforcer runtime
    /// create`), for `container`.
    pub fn container(mut self, container: crate::Container) -> Self {
        self.request.container = Some(container);
        self
    }

    /// Sets the host facts (a shape of [`hosts`], or your own).
    pub fn host(mut self, host: Host) -> Self {
        self.request.host = host;
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

    /// Sets the caller's working directory (`request.cwd`; absent by
    /// default, as for a request that did not come from `enforcer run`).
    pub fn cwd(mut self, path: &str) -> Self {
        self.request.cwd = Some(path.into());
        self
    }

    /// Sets what an OCI bundle asks for beyond its resources
    /// (`request.requestedSpec`: its process, root, mounts, hostname and
    /// linux sections in decision shape).
    pub fn requested_spec(mut self, spec: Decision) -> Self {
        self.request.requested_spec = Some(Box::new(spec));
        self
    }

    /// Sets the decision of earlier policies in a chain.
    pub fn previous(mut self, decision: Decision) -> Self {
        self.request.set_previous_decision(Some(&decision));
        self
    }

    /// Sets the settings the operator gives the policy (a JSON object, or
    /// anything that serializes to one), as the enforcer passes them in
    /// `request.settings`: `request().settings(json!({"maxPids": 8}))`.
    ///
    /// Panics if `settings` does not serialize to a JSON object.
    #[track_caller]
    pub fn settings(mut self, settings: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(settings)
            .unwrap_or_else(|error| panic!("settings do not serialize: {error}"));
        assert!(
            value.is_object(),
            "settings must be a JSON object, got {value}"
        );
        self.request.set_settings(Some(&value));
        self
    }

    /// The request. Its host is remembered (per thread): [`assert_allowed`]
    /// and [`assert_denied`] check the decision against it.
    pub fn build(self) -> Request {
        LAST_HOST.with(|last| *last.borrow_mut() = Some(self.request.host.clone()));
        LAST_WAS_CONTAINER.with(|last| last.set(self.request.container.is_some()));
        self.request
    }
}

/// Asserts the policy allowed, checks the decision with the enforcer's own
/// rules on the host of the request last built in this thread by
/// [`RequestBuilder::build`] ([`typical_host`] when none was), and returns
/// it. Panics, naming the host, with every validation violation
/// ([`policy_model::validate`]; [`policy_model::validate_container`] when
/// that request had a `container`) or the field the host cannot apply
/// ([`policy_model::check_applicable`]). To check against another host,
/// use [`assert_allowed_on`].
#[track_caller]
pub fn assert_allowed(result: Result<Decision, EvaluationError>) -> Decision {
    assert_allowed_on(result, &last_host())
}

/// [`assert_allowed`] on `host`, whatever request was built last.
#[track_caller]
pub fn assert_allowed_on(result: Result<Decision, EvaluationError>, host: &Host) -> Decision {
    let decision = match result {
        Ok(decision) if decision.allow => decision,
        Ok(decision) => panic!("expected an allow, got a denial: {:?}", decision.reason),
        Err(error) => panic!("expected an allow, got an evaluation error: {error}"),
    };
    if let Err(problem) = enforcers_check(&decision, host) {
        panic!("the policy allowed, but {problem}");
    }
    decision
}

/// Asserts the policy denied with a reason containing `needle`, and that
/// the denial passes what the enforcer checks of one (its reason's
/// length; a denial applies nothing, so nothing else), on the host of the
/// request last built in this thread.
#[track_caller]
pub fn assert_denied(result: Result<Decision, EvaluationError>, needle: &str) -> Decision {
    match result {
        Ok(decision) if !decision.allow => {
            let reason = decision.reason.clone().unwrap_or_default();
            assert!(
                reason.contains(needle),
                "denial reason {reason:?} does not contain {needle:?}"
            );
            if let Err(problem) = enforcers_check(&decision, &last_host()) {
                panic!("the policy denied, but {problem}");
            }
            decision
        }
        Ok(_) => panic!("expected a denial containing {needle:?}, got an allow"),
        Err(error) => panic!("expected a denial, got an evaluation error: {error}"),
    }
}

/// What the enforcer checks of a decision a policy returns, on `host`:
/// validation, then (for an allow) applicability. The error says which
/// host and every problem.
fn enforcers_check(decision: &Decision, host: &Host) -> Result<Decision, String> {
    let context = policy_model::Context::typical();
    let valid = validate_as_last(decision, host, &context.default_cgroup).map_err(|invalid| {
        format!(
            "the enforcer would refuse its decision on {}: {invalid}",
            shape_name(host)
        )
    })?;
    policy_model::check_applicable(&valid, host).map_err(|inapplicable| {
        format!(
            "its decision cannot be applied on {}: {inapplicable}",
            shape_name(host)
        )
    })?;
    Ok(valid)
}

/// Asserts the policy failed with an error containing `needle`.
#[track_caller]
pub fn assert_evaluation_error(result: Result<Decision, EvaluationError>, needle: &str) {
    match result {
        Err(error) => assert!(
            error.message().contains(needle),
            "evaluation error {error:?} does not contain {needle:?}"
        ),
        Ok(decision) => panic!("expected an evaluation error, got {decision:?}"),
    }
}

/// Asserts the settings check `check` (the function given to
/// `export_policy!(evaluate, validate_settings = check)`) accepts
/// `settings`, exactly as the exported `policy_validate_settings` would.
#[track_caller]
pub fn assert_settings_valid<T: DeserializeOwned, E: Display>(
    check: fn(&T) -> Result<(), E>,
    settings: impl serde::Serialize,
) {
    let validation = run_settings_check(check, settings);
    assert!(
        validation.valid,
        "expected valid settings, got invalid: {}",
        validation.message.unwrap_or_default()
    );
}

/// Asserts the settings check `check` refuses `settings` with a message
/// containing `needle` (settings that do not parse as `T` count, with
/// serde's message), and returns the message.
#[track_caller]
pub fn assert_settings_invalid<T: DeserializeOwned, E: Display>(
    check: fn(&T) -> Result<(), E>,
    settings: impl serde::Serialize,
    needle: &str,
) -> String {
    let validation = run_settings_check(check, settings);
    assert!(!validation.valid, "expected invalid settings, got valid");
    let message = validation.message.unwrap_or_default();
    assert!(
        message.contains(needle),
        "settings message {message:?} does not contain {needle:?}"
    );
    message
}

#[track_caller]
fn run_settings_check<T: DeserializeOwned, E: Display>(
    check: fn(&T) -> Result<(), E>,
    settings: impl serde::Serialize,
) -> SettingsValidation {
    let json = serde_json::to_vec(&settings)
        .unwrap_or_else(|error| panic!("settings do not serialize: {error}"));
    validate(&json, check).unwrap_or_else(|error| panic!("{error}"))
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
/// policy returns (ranges, confinement, what `host` offers, and whether
/// `host` can apply it: [`policy_model::check_applicable`]) and returns
/// its normal form, every default explicit. Panics with every violation.
///
/// ```
/// use policy_sdk::testing::{assert_valid, typical_host};
/// use policy_sdk::{Decision, MIB};
/// let normal = assert_valid(&Decision::allow().memory_limit(256 * MIB), &typical_host());
/// assert!(normal.process.no_new_privileges);
/// ```
#[track_caller]
pub fn assert_valid(decision: &Decision, host: &Host) -> policy_model::NormalDecision {
    let context = policy_model::Context::typical();
    match enforcers_check(decision, host) {
        Ok(valid) => policy_model::normalize(&valid, &context),
        Err(problem) => panic!("{problem}"),
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
    let (earlier, later) = (validated(earlier, &host), validated(later, &host));
    if let Err(loosened) = policy_model::check_tightens(&earlier, &later) {
        panic!("{loosened}");
    }
}

/// Checks that `later` loosens `earlier` at `field` (a test that a chain
/// would refuse it), and returns the refusal's message.
pub fn assert_loosens(earlier: &Decision, later: &Decision, field: &str) -> String {
    let host = typical_host();
    let (earlier, later) = (validated(earlier, &host), validated(later, &host));
    match policy_model::check_tightens(&earlier, &later) {
        Ok(()) => panic!("expected a loosening of {field}, but the later decision only tightens"),
        Err(loosened) if loosened.field == field => loosened.to_string(),
        Err(loosened) => panic!("expected a loosening of {field}, got: {loosened}"),
    }
}

/// The normal form of `decision` validated on `host` (no applicability
/// check: composition compares decisions, it applies neither).
#[track_caller]
fn validated(decision: &Decision, host: &Host) -> policy_model::NormalDecision {
    let context = policy_model::Context::typical();
    match validate_as_last(decision, host, &context.default_cgroup) {
        Ok(valid) => policy_model::normalize(&valid, &context),
        Err(invalid) => panic!("{invalid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MIB, NamespaceType};

    #[test]
    fn a_request_carries_its_cwd_and_bundle_spec() {
        let spec = Decision::allow().readonly_host_root();
        let request = request()
            .cwd("/home/alice/job")
            .requested_spec(spec.clone())
            .build();
        assert_eq!(request.cwd.as_deref(), Some("/home/alice/job"));
        assert_eq!(request.requested_spec.as_deref(), Some(&spec));
        let json = serde_json::to_value(&request).expect("serializes");
        assert_eq!(json["cwd"], "/home/alice/job");
        assert_eq!(json["requestedSpec"]["root"]["readonly"], true);
        assert!(super::request().build().cwd.is_none());
    }

    #[test]
    fn the_confinement_rules_run_in_a_policy_test() {
        let platform = Decision::allow()
            .namespace(NamespaceType::Mount)
            .readonly_host_root()
            .mask("/proc/kcore");
        assert_tightens(
            &platform,
            &platform.clone().tmpfs("/tmp", None).mask("/home"),
        );
        // A bind mount added by a later policy loosens (no catch_unwind:
        // a panic aborts a Wasm test).
        let message = assert_loosens(
            &platform,
            &platform.clone().bind("/etc", "/host-etc", true),
            "mounts[0]",
        );
        assert!(message.contains("/host-etc"), "{message}");
    }

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
    fn the_network_rules_run_in_a_policy_test() {
        use crate::EgressRule;
        let platform = Decision::allow()
            .standard_namespaces()
            .network_interface("tenants")
            .egress("eth0", vec![EgressRule::to("192.0.2.0/24")]);
        assert_valid(&platform, &typical_host());
        let tenant = platform
            .clone()
            .egress("eth0", vec![EgressRule::tcp("192.0.2.10", 443)])
            .loopback(false);
        assert_tightens(&platform, &tenant);
        assert_tightens(&platform, &platform.clone().without_interface("eth0"));
        let message = assert_loosens(
            &platform,
            &platform
                .clone()
                .egress("eth0", vec![EgressRule::to("198.51.100.0/24")]),
            "network.interfaces[0].egress[0]",
        );
        assert!(message.contains("198.51.100.0/24"), "{message}");
        assert_loosens(
            &platform,
            &platform.clone().network_interface("storage"),
            "network.interfaces[1]",
        );
        assert_loosens(&tenant, &tenant.clone().loopback(true), "network.loopback");
    }

    #[test]
    #[should_panic(expected = "egress needs a network")]
    fn a_misspelt_interface_fails_the_test() {
        assert_valid(
            &Decision::allow()
                .network_interface("tenants")
                .egress("eth9", vec![]),
            &typical_host(),
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

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::MIB;

    /// A policy that forgets to guard its hugepage limits.
    fn unguarded(request: &Request) -> Result<Decision, EvaluationError> {
        Ok(Decision::allow()
            .pids(64)
            .no_hugepages(&request.host.hugepage_sizes))
    }

    /// The same policy, guarded.
    fn guarded(request: &Request) -> Result<Decision, EvaluationError> {
        let decision = Decision::allow().pids(64);
        Ok(if request.host.has_controller("hugetlb") {
            decision.no_hugepages(&request.host.hugepage_sizes)
        } else {
            decision
        })
    }

    #[test]
    fn the_host_shapes_are_the_ones_in_the_field() {
        let shapes = hosts();
        let names: Vec<&str> = shapes.iter().map(|shape| shape.name).collect();
        assert_eq!(
            names,
            [
                "cgroup v1",
                "cgroup v2",
                "cgroup v2, hugetlb not enabled",
                "hybrid"
            ]
        );
        for shape in &shapes {
            assert_eq!(shape.host.hugepage_sizes, ["2MB", "1GB"], "{}", shape.name);
            assert!(shape.host.has_controller("memory"), "{}", shape.name);
        }
        let [v1, v2, v2_no_hugetlb, hybrid] = &shapes[..] else {
            panic!("four shapes");
        };
        for name in ["hugetlb", "net_cls", "net_prio", "blkio", "devices"] {
            assert!(v1.host.has_controller(name), "v1 {name}");
        }
        assert!(v2.host.has_controller("hugetlb") && v2.host.has_controller("io"));
        assert_eq!(v2.host.v2_controllers, v2.host.controllers);
        assert!(!v2_no_hugetlb.host.has_controller("hugetlb"));
        assert_eq!(hybrid.host.cgroup_mode, CgroupMode::Hybrid);
        assert!(!hybrid.host.has_controller("hugetlb") && hybrid.host.v2_controllers.is_empty());
    }

    #[test]
    fn a_guarded_policy_passes_on_every_shape() {
        for shape in hosts() {
            let decision = assert_allowed(guarded(&request().host(shape.host.clone()).build()));
            assert_eq!(
                decision.hugepage_limit_bytes("2MB").is_some(),
                shape.host.has_controller("hugetlb"),
                "{}",
                shape.name
            );
        }
    }

    #[test]
    #[should_panic(
        expected = "the policy allowed, but its decision cannot be applied on the \"cgroup v2, hugetlb not enabled\" host: resources.hugepageLimits[0] needs the hugetlb controller, which this host does not offer (host.controllers: cpu, cpuset, io, memory, misc, pids); guard it: only set hugepage limits when request.host.controllers contains \"hugetlb\""
    )]
    fn an_unguarded_policy_fails_on_a_host_without_hugetlb() {
        let shape = hosts().remove(2);
        assert_allowed(unguarded(&request().host(shape.host).build()));
    }

    #[test]
    #[should_panic(expected = "the \"hybrid\" host: resources.hugepageLimits[0] needs the hugetlb")]
    fn assert_allowed_on_names_the_host_it_was_given() {
        let request = request().build();
        assert_allowed(unguarded(&request));
        assert_allowed_on(unguarded(&request), &hosts()[3].host);
    }

    #[test]
    #[should_panic(
        expected = "the enforcer would refuse its decision on the typical host: invalid decision: resources.memory.reservation"
    )]
    fn an_invalid_allow_fails_assert_allowed() {
        let request = request().build();
        let evaluate = |_: &Request| -> Result<Decision, EvaluationError> {
            Ok(Decision::allow()
                .memory_limit(64 * MIB)
                .memory_reservation(128 * MIB))
        };
        assert_allowed(evaluate(&request));
    }

    #[test]
    #[should_panic(expected = "the policy denied, but the enforcer would refuse its decision")]
    fn a_denial_is_checked_as_the_enforcer_checks_it() {
        let request = request().build();
        let long = |_: &Request| Ok(Decision::deny("x".repeat(5000)));
        // A short reason passes, whatever else the denial says.
        let mut denial = Decision::deny("no").pids(0);
        denial.hostname = Some("without a uts namespace".into());
        assert_denied(Ok(denial), "no");
        assert_denied(long(&request), "x");
    }

    #[test]
    #[should_panic(expected = "resources.unified[\"memory.high\"] is not supported on cgroup v1")]
    fn assert_valid_checks_applicability() {
        let mut decision = Decision::allow();
        decision
            .resources_mut()
            .unified
            .insert("memory.high".into(), "1G".into());
        assert_valid(&decision, &hosts()[1].host);
        assert_valid(&decision, &hosts()[0].host);
    }

    #[test]
    fn the_builder_resolves_the_executable_plausibly() {
        let bare = request().command(&["python3", "job.py"]).build();
        assert_eq!(bare.executable(), Some("/usr/bin/python3"));
        assert_eq!(bare.program(), Some("python3"));
        let path = request().command(&["/tmp/x/python3"]).build();
        assert_eq!(path.executable(), Some("/tmp/x/python3"));
        assert_eq!(path.program(), Some("python3"));
        let relative = request().command(&["./run.sh"]).build();
        assert_eq!(relative.executable(), Some("./run.sh"));
        let explicit = request()
            .command(&["python3"])
            .executable("/opt/python/bin/python3")
            .build();
        assert_eq!(explicit.executable(), Some("/opt/python/bin/python3"));
        assert_eq!(
            request()
                .command(&["nope"])
                .no_executable()
                .build()
                .executable(),
            None
        );
        assert_eq!(request().build().executable(), Some("/bin/true"));
        let json = serde_json::to_value(&bare).expect("serializes");
        assert_eq!(json["executable"], "/usr/bin/python3");
    }
}

#[cfg(test)]
mod settings_tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(default, rename_all = "camelCase", deny_unknown_fields)]
    struct Settings {
        max_pids: u32,
    }

    impl Default for Settings {
        fn default() -> Settings {
            Settings { max_pids: 64 }
        }
    }

    fn check(settings: &Settings) -> Result<(), String> {
        if settings.max_pids == 0 {
            Err("maxPids must be at least 1".into())
        } else {
            Ok(())
        }
    }

    #[test]
    fn the_builder_sets_settings() {
        let with = request().settings(json!({"maxPids": 8})).build();
        assert_eq!(with.settings(), Ok(Settings { max_pids: 8 }));
        assert_eq!(request().build().settings(), Ok(Settings::default()));
    }

    #[test]
    fn settings_assertions_run_the_check() {
        assert_settings_valid(check, json!({}));
        assert_settings_valid(check, json!({"maxPids": 2}));
        assert_eq!(
            assert_settings_invalid(check, json!({"maxPids": 0}), "at least 1"),
            "maxPids must be at least 1"
        );
        assert_settings_invalid(check, json!({"other": 1}), "unknown field `other`");
    }
}
