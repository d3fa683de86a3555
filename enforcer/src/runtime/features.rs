//! `features`: the delegate's `features` JSON restricted to what this
//! mode can guarantee, and the check that a decision sets nothing the
//! delegate would ignore.
//!
//! The document is the runtime-spec's features structure (features.md,
//! features-linux.md): `linux.namespaces` names the namespace types the
//! runtime recognises, `linux.seccomp.{enabled, actions, operators,
//! archs, supportedFlags}` its seccomp support, `linux.cgroup.{v1, v2}`
//! its cgroup managers, `annotations` free metadata. A list that is
//! missing means "unknown" (runc 1.1.5 has no `supportedFlags`, crun
//! 1.8.1 no `features` command at all), and nothing is refused on it.

use policy_model::normal::NormalDecision;
use policy_model::{Context, Decision, normalize};
use serde_json::{Map, Value};

use super::version::ENFORCER_VERSION;

/// The annotation `restrict` adds, with the enforcer's version.
pub const ANNOTATION: &str = "org.enforcer.runtime";

/// The namespace types this mode judges and patches (a decision can name
/// no other); `time` and anything newer are dropped from `features`.
pub const NAMESPACES: [&str; 7] = ["mount", "uts", "ipc", "pid", "network", "user", "cgroup"];

/// The delegate's features, restricted: what the policy mode cannot
/// judge or patch is removed (containerd 2.x reads `linux.namespaces` and
/// `linux.idmap` before it allows user-namespaced pods).
///
/// `linux.namespaces` keeps only [`NAMESPACES`] (in the delegate's
/// order); the seccomp lists stay as they are; `annotations` gains
/// [`ANNOTATION`]. A delegate document that is not an object (a runtime
/// without `features`) becomes one holding only the annotation.
pub fn restrict(delegate: &Value) -> Value {
    let mut features = match delegate {
        Value::Object(object) => object.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(linux)) = features.get_mut("linux") {
        match linux.get_mut("namespaces") {
            Some(Value::Array(names)) => {
                names.retain(|name| name.as_str().is_some_and(|name| NAMESPACES.contains(&name)));
            }
            Some(_) => {
                // Not a list: nothing this mode can vouch for.
                linux.remove("namespaces");
            }
            None => {}
        }
    }
    let annotations = features
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Value::Object(annotations) = annotations {
        annotations.insert(ANNOTATION.into(), Value::String(ENFORCER_VERSION.into()));
    }
    Value::Object(features)
}

/// A decision field the delegate would ignore, by the JSON path of the
/// decision and what `features` lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the decision sets {field}, which {delegate} would ignore ({missing})")]
pub struct Unsupported {
    /// The decision's JSON path (`seccomp.defaultAction`).
    pub field: String,
    /// The delegate (`runc`).
    pub delegate: String,
    /// What its features lack (`linux.seccomp.actions has no SCMP_ACT_KILL_PROCESS`).
    pub missing: String,
}

/// Whether `decision` sets only what the delegate's `features` support.
///
/// Refused: a namespace (created or joined) whose type is not in
/// `linux.namespaces`; with seccomp, `linux.seccomp.enabled: false`, or
/// a default or rule action not in `linux.seccomp.actions`, an
/// architecture not in `archs`, an operator not in `operators`, a flag
/// not in `supportedFlags`; cgroup resources beyond an empty decision's
/// when `linux.cgroup.v1` and `v2` are both `false`. Each only when
/// `features` has the list (or the `false`). Paths are those of the
/// normal decision's JSON (`namespaces[2]`, `seccomp.rules[3].action`,
/// `seccomp.rules[3].args[0].op`, `resources.memory`).
pub fn check_decision(
    features: &Value,
    delegate: &str,
    decision: &NormalDecision,
) -> Result<(), Unsupported> {
    let unsupported = |field: String, missing: String| Unsupported {
        field,
        delegate: delegate.to_string(),
        missing,
    };
    let linux = &features["linux"];

    if let Some(names) = string_list(&linux["namespaces"]) {
        for (i, namespace) in decision.namespaces.iter().enumerate() {
            let name = namespace.kind.as_str();
            if !names.contains(&name) {
                return Err(unsupported(
                    format!("namespaces[{i}]"),
                    format!("linux.namespaces has no {name}"),
                ));
            }
        }
    }

    if let Some(seccomp) = &decision.seccomp {
        let features = &linux["seccomp"];
        if features["enabled"] == Value::Bool(false) {
            return Err(unsupported(
                "seccomp".into(),
                "linux.seccomp.enabled is false".into(),
            ));
        }
        if let Some(actions) = string_list(&features["actions"]) {
            let action = seccomp.default_action.action.as_str();
            if !actions.contains(&action) {
                return Err(unsupported(
                    "seccomp.defaultAction".into(),
                    format!("linux.seccomp.actions has no {action}"),
                ));
            }
            for (i, rule) in seccomp.rules.iter().enumerate() {
                let action = rule.action.action.as_str();
                if !actions.contains(&action) {
                    return Err(unsupported(
                        format!("seccomp.rules[{i}].action"),
                        format!("linux.seccomp.actions has no {action} (for {})", rule.name),
                    ));
                }
            }
        }
        if let Some(archs) = string_list(&features["archs"]) {
            for arch in &seccomp.architectures {
                if !archs.contains(&arch.as_str()) {
                    return Err(unsupported(
                        "seccomp.architectures".into(),
                        format!("linux.seccomp.archs has no {arch}"),
                    ));
                }
            }
        }
        if let Some(operators) = string_list(&features["operators"]) {
            for (i, rule) in seccomp.rules.iter().enumerate() {
                for (j, arg) in rule.args.iter().enumerate() {
                    let op = arg.op.as_str();
                    if !operators.contains(&op) {
                        return Err(unsupported(
                            format!("seccomp.rules[{i}].args[{j}].op"),
                            format!("linux.seccomp.operators has no {op} (for {})", rule.name),
                        ));
                    }
                }
            }
        }
        if let Some(flags) = string_list(&features["supportedFlags"]) {
            for flag in &seccomp.flags {
                if !flags.contains(&flag.as_str()) {
                    return Err(unsupported(
                        "seccomp.flags".into(),
                        format!("linux.seccomp.supportedFlags has no {flag}"),
                    ));
                }
            }
        }
    }

    let cgroup = &linux["cgroup"];
    if cgroup["v1"] == Value::Bool(false)
        && cgroup["v2"] == Value::Bool(false)
        && let Some(field) = resources_set(decision)
    {
        return Err(unsupported(
            field,
            "linux.cgroup.v1 and linux.cgroup.v2 are both false".into(),
        ));
    }
    Ok(())
}

/// A JSON list's strings; `None` when it is not a list (missing:
/// unknown).
fn string_list(value: &Value) -> Option<Vec<&str>> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
}

/// The first resource field (`resources.memory`) where `decision` differs
/// from a decision that sets none.
fn resources_set(decision: &NormalDecision) -> Option<String> {
    let empty = normalize(&Decision::allow(), &Context::typical()).resources;
    let ours = serde_json::to_value(&decision.resources).ok()?;
    let empty = serde_json::to_value(&empty).ok()?;
    match (&ours, &empty) {
        (Value::Object(ours), Value::Object(empty)) => ours
            .iter()
            .find(|(key, value)| empty.get(key.as_str()) != Some(value))
            .map(|(key, _)| format!("resources.{key}")),
        _ => (ours != empty).then(|| "resources".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use policy_model::{
        Decision, MIB, NamespaceType, Seccomp, SeccompAction, SeccompOperator, SyscallArg,
        SyscallRule, default_seccomp,
    };
    use serde_json::json;

    use super::*;

    const RUNC: &str = include_str!("../../../tests/fixtures/runtime/features/runc-1.1.5.json");
    const CRUN: &str = include_str!("../../../tests/fixtures/runtime/features/crun-1.8.1.out");

    fn runc() -> Value {
        serde_json::from_str(RUNC).expect("runc features")
    }

    fn normal(decision: Decision) -> NormalDecision {
        normalize(&decision, &Context::typical())
    }

    fn typical() -> Decision {
        Decision::allow()
            .standard_namespaces()
            .cgroups_path("/enforcer-test-features")
            .memory_limit(256 * MIB)
            .pids(100)
            .default_devices()
            .seccomp(default_seccomp())
    }

    #[test]
    fn every_namespace_type_the_model_knows_is_kept() {
        for kind in NamespaceType::ALL {
            assert!(NAMESPACES.contains(&kind.as_str()), "{kind:?}");
        }
    }

    #[test]
    fn restrict_runc_features() {
        let delegate = runc();
        let restricted = restrict(&delegate);
        assert_eq!(
            restricted["linux"]["namespaces"],
            json!(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"])
        );
        for key in ["actions", "operators", "archs", "enabled"] {
            assert_eq!(
                restricted["linux"]["seccomp"][key], delegate["linux"]["seccomp"][key],
                "{key}"
            );
        }
        assert_eq!(restricted["annotations"][ANNOTATION], ENFORCER_VERSION);
        assert_eq!(
            restricted["annotations"]["org.opencontainers.runc.version"],
            "1.1.5+ds1"
        );
        // Everything else as the delegate had it.
        let mut without = restricted.clone();
        without["annotations"]
            .as_object_mut()
            .expect("object")
            .remove(ANNOTATION);
        assert_eq!(without, delegate);
    }

    #[test]
    fn restrict_drops_time_and_unknown_namespaces() {
        let delegate = json!({
            "linux": {"namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts", 7, "future"]},
            "annotations": "not an object"
        });
        let restricted = restrict(&delegate);
        assert_eq!(
            restricted["linux"]["namespaces"],
            json!(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"])
        );
        assert_eq!(
            restricted["annotations"],
            json!({ANNOTATION: ENFORCER_VERSION})
        );
        let odd = restrict(&json!({"linux": {"namespaces": "all"}}));
        assert!(odd["linux"].get("namespaces").is_none());
    }

    #[test]
    fn crun_without_features() {
        // crun 1.8.1 has no `features` command: its output is not JSON.
        assert!(serde_json::from_str::<Value>(CRUN).is_err());
        for delegate in [Value::Null, json!(CRUN), json!([1])] {
            let restricted = restrict(&delegate);
            assert_eq!(
                restricted,
                json!({"annotations": {ANNOTATION: ENFORCER_VERSION}})
            );
            // Nothing known: nothing refused.
            check_decision(&restricted, "crun", &normal(typical())).expect("unknown is no refusal");
            check_decision(&delegate, "crun", &normal(typical())).expect("unknown is no refusal");
        }
    }

    #[test]
    fn typical_decisions_pass_runc() {
        let features = restrict(&runc());
        check_decision(&features, "runc", &normal(typical())).expect("supported");
        check_decision(&runc(), "runc", &normal(typical())).expect("supported");
        let joined = typical().join_namespace(NamespaceType::Network, "/proc/1/ns/net");
        check_decision(&features, "runc", &normal(joined)).expect("supported");
    }

    #[test]
    fn a_namespace_the_delegate_lacks() {
        let mut features = runc();
        features["linux"]["namespaces"] = json!(["mount", "pid", "network", "ipc", "uts"]);
        let decision = normal(typical().namespace(NamespaceType::Cgroup));
        let error = check_decision(&features, "runc", &decision).expect_err("no cgroup ns");
        let at = decision
            .namespaces
            .iter()
            .position(|ns| ns.kind == NamespaceType::Cgroup)
            .expect("cgroup namespace");
        assert_eq!(error.field, format!("namespaces[{at}]"));
        assert_eq!(error.missing, "linux.namespaces has no cgroup");
        assert_eq!(error.delegate, "runc");
        assert!(error.to_string().contains("runc would ignore"), "{error}");
        let joined =
            normal(Decision::allow().join_namespace(NamespaceType::User, "/proc/1/ns/user"));
        let error = check_decision(&features, "runc", &joined).expect_err("no user ns");
        assert_eq!(error.field, "namespaces[0]");
    }

    fn profile(default_action: SeccompAction, rules: Vec<SyscallRule>) -> Decision {
        Decision::allow().seccomp(Seccomp {
            default_action,
            default_errno_ret: None,
            architectures: vec!["SCMP_ARCH_X86_64".into()],
            flags: Vec::new(),
            syscalls: rules,
        })
    }

    fn rule(name: &str, action: SeccompAction, args: Vec<SyscallArg>) -> SyscallRule {
        SyscallRule {
            names: vec![name.into()],
            action,
            errno_ret: None,
            args,
        }
    }

    #[test]
    fn seccomp_actions_archs_operators_flags() {
        let mut features = runc();
        features["linux"]["seccomp"]["actions"] =
            json!(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL"]);
        let kill = normal(profile(SeccompAction::KillProcess, Vec::new()));
        let error = check_decision(&features, "runc", &kill).expect_err("no kill process");
        assert_eq!(error.field, "seccomp.defaultAction");
        assert_eq!(
            error.missing,
            "linux.seccomp.actions has no SCMP_ACT_KILL_PROCESS"
        );

        let rules = vec![
            rule("read", SeccompAction::Allow, Vec::new()),
            rule("write", SeccompAction::Allow, Vec::new()),
            rule("ptrace", SeccompAction::Trap, Vec::new()),
        ];
        let trap = normal(profile(SeccompAction::Errno, rules));
        let at = trap
            .seccomp
            .as_ref()
            .expect("seccomp")
            .rules
            .iter()
            .position(|r| r.name == "ptrace")
            .expect("ptrace");
        let error = check_decision(&features, "runc", &trap).expect_err("no trap");
        assert_eq!(error.field, format!("seccomp.rules[{at}].action"));
        assert!(
            error.missing.contains("SCMP_ACT_TRAP (for ptrace)"),
            "{error}"
        );
        check_decision(&runc(), "runc", &trap).expect("runc 1.1.5 has SCMP_ACT_TRAP");

        let mut features = runc();
        features["linux"]["seccomp"]["archs"] = json!(["SCMP_ARCH_AARCH64"]);
        let error = check_decision(&features, "runc", &trap).expect_err("no x86_64");
        assert_eq!(error.field, "seccomp.architectures");

        let masked = SyscallArg {
            index: 0,
            value: 0xff,
            value_two: 1,
            op: SeccompOperator::MaskedEqual,
        };
        let decision = normal(profile(
            SeccompAction::Errno,
            vec![rule("personality", SeccompAction::Allow, vec![masked])],
        ));
        let mut features = runc();
        features["linux"]["seccomp"]["operators"] = json!(["SCMP_CMP_EQ"]);
        let error = check_decision(&features, "runc", &decision).expect_err("no masked eq");
        assert_eq!(error.field, "seccomp.rules[0].args[0].op");

        let mut flagged = profile(SeccompAction::Errno, Vec::new());
        if let Some(seccomp) = flagged.seccomp.as_mut() {
            seccomp.flags = vec!["SECCOMP_FILTER_FLAG_LOG".into()];
        }
        let flagged = normal(flagged);
        check_decision(&runc(), "runc", &flagged).expect("runc 1.1.5 lists no flags: unknown");
        let mut features = runc();
        features["linux"]["seccomp"]["supportedFlags"] = json!(["SECCOMP_FILTER_FLAG_TSYNC"]);
        let error = check_decision(&features, "runc", &flagged).expect_err("no log flag");
        assert_eq!(error.field, "seccomp.flags");

        let mut features = runc();
        features["linux"]["seccomp"] = json!({"enabled": false});
        let error = check_decision(&features, "runc", &flagged).expect_err("seccomp off");
        assert_eq!(error.field, "seccomp");
        // Without seccomp in the decision, a runtime without it is fine.
        check_decision(&features, "runc", &normal(Decision::allow())).expect("no seccomp");
    }

    #[test]
    fn resources_without_cgroups() {
        let mut features = runc();
        features["linux"]["cgroup"] = json!({"v1": false, "v2": false, "systemd": false});
        let error = check_decision(&features, "runc", &normal(Decision::allow().pids(10)))
            .expect_err("no cgroups");
        assert_eq!(error.field, "resources.pids");
        let error = check_decision(&features, "runc", &normal(typical())).expect_err("no cgroups");
        assert!(error.field.starts_with("resources."), "{error}");
        check_decision(&features, "runc", &normal(Decision::allow())).expect("no resources");
        // One of the two, or an unknown one: fine.
        features["linux"]["cgroup"] = json!({"v1": false, "v2": true});
        check_decision(&features, "runc", &normal(typical())).expect("v2");
        features["linux"]["cgroup"] = json!({"v1": false});
        check_decision(&features, "runc", &normal(typical())).expect("v2 unknown");
    }
}
