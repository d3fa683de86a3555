//! Every example policy's `resources` must deserialize as the OCI runtime
//! spec's `LinuxResources` (via the `oci-spec` crate) and serialize back to
//! the same JSON: the decision format really is OCI's.

mod common;

use common::{enforcer_with_stdin, example};
use serde_json::Value;

/// Requests that make each policy produce its richest decision.
const CASES: [(&str, &str); 6] = [
    ("default", r#"{"tenant":"acme","command":["sh"]}"#),
    (
        "tenant_tiers",
        r#"{"tenant":"acme","labels":{"tier":"free"},"command":["python3"]}"#,
    ),
    (
        "tenant_tiers",
        r#"{"tenant":"acme","labels":{"tier":"enterprise"},"command":["gcc"]}"#,
    ),
    (
        "gpu",
        r#"{"tenant":"vision","labels":{"gpu":"2"},"command":["python3"],"host":{"charDevices":{"nvidia-uvm":510},"hugepageSizes":["2MB"]}}"#,
    ),
    (
        "hugepages",
        r#"{"tenant":"acme","labels":{"hugepages.2MB":"0"},"command":["db"]}"#,
    ),
    ("gpu", r#"{"tenant":"acme","command":["python3"]}"#),
];

/// Drops nulls and empty arrays/objects, which OCI treats as absent.
fn normalise(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, normalise(value)))
                .filter(|(_, value)| !is_empty(value))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

#[test]
fn every_example_decision_is_oci_linux_resources() {
    for (policy, request) in CASES {
        let run = enforcer_with_stdin(
            &[
                "eval",
                "--no-cache",
                // The shape of every example's decision is under test, on
                // any host (hugepages and tenant-tiers limit hugetlb).
                "--skip-host-check",
                "-p",
                &example(policy),
                "--request",
                "-",
            ],
            request,
        );
        run.expect_code(0);
        let resources = run.json()["resources"].clone();
        assert!(resources.is_object(), "{policy} sets resources");
        let oci: oci_spec::runtime::LinuxResources = serde_json::from_value(resources.clone())
            .unwrap_or_else(|error| {
                panic!("{policy}: not OCI LinuxResources: {error}\n{resources}")
            });
        let back = serde_json::to_value(&oci).expect("serializes");
        assert_eq!(
            normalise(back),
            normalise(resources),
            "{policy} with {request}"
        );
    }
}
