//! Golden tests of `enforcer runtime`'s spec patching: each fixture spec
//! (`tests/fixtures/runtime/specs/`, where each shape comes from is in its
//! README) read as a request and patched by a few decisions, compared
//! with `tests/fixtures/runtime/patched/<spec>.<decision>.json`: the paths
//! changed and the patched spec, or the refusal. `ENFORCER_BLESS=1`
//! rewrites the expected files (review the diff before committing).
//!
//! The decisions:
//! - `default`: the embedded default policy's, for the container's request;
//!   it asks for what runtime mode cannot give (leased host ids, its own
//!   root and mounts), so it is refused.
//! - `memory-and-capability`: the container's own ask (its user, groups,
//!   capabilities and rlimits, as a policy adopting `requestedSpec` would
//!   give them)
//!   with `CAP_NET_RAW` dropped, a 128 MiB memory limit and 100 pids.
//! - `new-network`: the same ask plus a new network namespace: refused
//!   where the container joins its pod's (by path), kept where it already
//!   has its own.

use std::path::{Path, PathBuf};

use enforcer::evaluation::{Chain, Outcome, evaluate_chain};
use enforcer::runtime::RuntimeSettings;
use enforcer::runtime::container_request::build;
use enforcer::runtime::patch::patch_inheriting;
use policy_model::host::typical_host;
use policy_model::normal::NormalDecision;
use policy_model::{Context, Decision, NamespaceType, Process, normalize};
use serde_json::{Value, json};

const SPECS: [&str; 5] = [
    "containerd-sandbox",
    "containerd-container",
    "crio-container",
    "podman",
    "ctr",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/runtime")
}

fn spec(name: &str) -> Value {
    let path = fixtures().join(format!("specs/{name}.json"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn request(spec: &Value) -> policy_sdk::Request {
    build(
        spec,
        "c1",
        Path::new("/run/enforcer-test-bundle"),
        &RuntimeSettings::default(),
        typical_host(),
    )
    .expect("a request")
}

/// The embedded default policy, as a one-link chain (compiled once: it
/// takes a while in a debug build).
fn default_chain() -> Chain {
    let engine = enforcer::policy::PolicyEngine::new(enforcer::policy::EngineOptions {
        cache_dir: None,
        ..enforcer::policy::EngineOptions::default()
    })
    .expect("engine");
    let policy = enforcer::chain::embedded_default(&engine).expect("the embedded policy");
    Chain::of_policies(vec![policy])
}

fn default_decision(chain: &Chain, spec: &Value) -> NormalDecision {
    let evaluation = evaluate_chain(chain, &request(spec))
        .unwrap_or_else(|failure| panic!("evaluates: {failure}"));
    match evaluation.outcome {
        // The rlimits the policy leaves to the enforcer are this process's
        // own: the typical ones instead, so the expected files hold on any
        // machine.
        Outcome::Allowed(mut decision) => {
            let own = enforcer::decision::own_rlimits();
            let typical = Context::typical().rlimits;
            for (name, value) in decision.process.rlimits.iter_mut() {
                if own.get(name) == Some(value)
                    && let Some(typical) = typical.get(name)
                {
                    *value = *typical;
                }
            }
            decision
        }
        Outcome::Denied { decision, .. } => panic!("denied: {:?}", decision.reason),
    }
}

/// The container's own ask, adopted, with `CAP_NET_RAW` dropped, 128 MiB
/// and 100 pids.
fn adopted(spec: &Value) -> Decision {
    let request = request(spec);
    let ask = request.requested_spec.as_deref().expect("an ask");
    let mut process = ask.process.clone().unwrap_or_default();
    if let Some(caps) = process.capabilities.as_mut() {
        for set in [
            &mut caps.bounding,
            &mut caps.effective,
            &mut caps.inheritable,
            &mut caps.permitted,
            &mut caps.ambient,
        ] {
            set.retain(|cap| cap != "CAP_NET_RAW");
        }
    }
    Decision {
        allow: true,
        process: Some(Process {
            no_new_privileges: Some(true),
            ..process
        }),
        ..Decision::default()
    }
    .memory_limit(128 << 20)
    .pids(100)
}

fn outcome(spec: &Value, decision: &NormalDecision) -> Value {
    match patch_inheriting(spec, decision, &Context::typical().rlimits) {
        Ok(patched) => json!({ "changed": patched.changed, "spec": patched.spec }),
        Err(error) => json!({ "error": { "field": error.field, "message": error.message } }),
    }
}

fn compare(name: &str, actual: &Value) {
    let path = fixtures().join(format!("patched/{name}.json"));
    if std::env::var_os("ENFORCER_BLESS").is_some() {
        let text = serde_json::to_string_pretty(actual).expect("JSON") + "\n";
        std::fs::write(&path, text).expect("writes");
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err} (ENFORCER_BLESS=1 writes it)", path.display()));
    let expected: Value = serde_json::from_str(&text).expect("expected JSON");
    assert_eq!(
        *actual,
        expected,
        "{name}: got\n{}",
        serde_json::to_string_pretty(actual).unwrap_or_default()
    );
}

#[test]
fn each_fixture_patched_by_each_decision() {
    let context = Context::typical();
    let chain = default_chain();
    for name in SPECS {
        let spec = spec(name);
        let default = outcome(&spec, &default_decision(&chain, &spec));
        compare(&format!("{name}.default"), &default);
        let adopted = adopted(&spec);
        compare(
            &format!("{name}.memory-and-capability"),
            &outcome(&spec, &normalize(&adopted, &context)),
        );
        let network = adopted.namespace(NamespaceType::Network);
        compare(
            &format!("{name}.new-network"),
            &outcome(&spec, &normalize(&network, &context)),
        );
    }
}

#[test]
fn a_patched_spec_is_patched_no_further() {
    let context = Context::typical();
    for name in SPECS {
        let spec = spec(name);
        let decision = normalize(&adopted(&spec), &context);
        let once = patch_inheriting(&spec, &decision, &context.rlimits).expect("patches");
        let twice = patch_inheriting(&once.spec, &decision, &context.rlimits).expect("again");
        assert_eq!(twice.spec, once.spec, "{name}");
        assert!(twice.changed.is_empty(), "{name}: {:?}", twice.changed);
    }
}

/// Every JSON path of `value`, as pointers.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let pointer = format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let pointer = format!("{prefix}/{index}");
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        _ => {}
    }
}

#[test]
fn no_spec_makes_them_panic() {
    // Every field of every fixture replaced by each wrong-typed value:
    // the request builder and the patcher answer (Ok or an error), never
    // panic.
    let context = Context::typical();
    let mut decision = Decision::allow()
        .memory_limit(1 << 20)
        .memory_swap(2 << 20)
        .pids(10)
        .cpu_quota(1000, 100_000)
        .cpus("0")
        .hugepage_limit("2MB", 0)
        .default_devices()
        .rlimit("RLIMIT_NOFILE", 10, 10)
        .hostname("h")
        .mask("/proc/kcore")
        .seccomp(policy_model::default_seccomp());
    decision
        .resources_mut()
        .unified
        .insert("memory.high".into(), "1M".into());
    let decision = normalize(&decision, &context);
    for name in SPECS {
        let spec = spec(name);
        let mut paths = Vec::new();
        pointers(&spec, String::new(), &mut paths);
        for path in &paths {
            for wrong in [json!("x"), json!(-7), json!([]), json!({}), Value::Null] {
                let mut mutated = spec.clone();
                if let Some(slot) = mutated.pointer_mut(path) {
                    *slot = wrong.clone();
                }
                let _ = build(
                    &mutated,
                    "c1",
                    Path::new("/nonexistent/enforcer-test"),
                    &RuntimeSettings::default(),
                    typical_host(),
                );
                let _ = patch_inheriting(&mutated, &decision, &context.rlimits);
            }
        }
    }
}

#[test]
fn the_default_profile_over_a_runtime_default_profile_allows_what_both_allow() {
    // containerd's RuntimeDefault-like allow-list and the enforcer's
    // default profile: neither contains the other, so the patched spec
    // gets a profile at least as strict as both, which still runs what
    // both allow.
    use policy_model::normal::{NormalSeccomp, effective_action};
    use policy_model::{SeccompAction, default_seccomp};
    let context = Context::typical();
    let spec = spec("containerd-container");
    let decision = normalize(&adopted(&spec).seccomp(default_seccomp()), &context);
    let patched = patch_inheriting(&spec, &decision, &context.rlimits).expect("patches");
    assert!(patched.changed.contains(&"linux.seccomp".to_string()));
    let profile: policy_model::Seccomp =
        serde_json::from_value(patched.spec["linux"]["seccomp"].clone()).expect("a profile");
    let merged = NormalSeccomp::from_oci(&profile);
    let before = NormalSeccomp::from_oci(
        &serde_json::from_value(spec["linux"]["seccomp"].clone()).expect("the spec's"),
    );
    let wanted = decision.seccomp.as_ref().expect("the decision's");
    for name in [
        "read",
        "write",
        "execve",
        "openat",
        "mount",
        "keyctl",
        "personality",
        "clone",
    ] {
        for arg in [0, 8, 0x7e02_0000, 0xffff_ffff] {
            let args = [arg, 0, 0, 0, 0, 0];
            let got = effective_action(&merged, name, &args);
            let both =
                effective_action(&before, name, &args).max(effective_action(wanted, name, &args));
            assert!(got >= both, "{name}({arg:#x}): {got:?} < {both:?}");
            if both.action == SeccompAction::Allow {
                assert_eq!(got.action, SeccompAction::Allow, "{name}({arg:#x})");
            }
        }
    }
}
