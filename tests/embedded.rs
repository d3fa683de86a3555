//! The default policy the enforcer embeds (`enforcer/policy/default.wasm`,
//! committed so that building the enforcer needs no Wasm target) is exactly
//! what `policies/default` and `policy-sdk` build to today.

mod common;

use sha2::{Digest, Sha256};

#[test]
fn committed_default_policy_is_what_the_source_builds_to() {
    let built = common::policies::example("default");
    let built_bytes =
        std::fs::read(&built).unwrap_or_else(|error| panic!("{}: {error}", built.display()));
    let committed = enforcer::embedded::DEFAULT_POLICY;
    let digest = |bytes: &[u8]| {
        Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    assert!(
        built_bytes == committed,
        "enforcer/policy/default.wasm (sha256 {}, {} bytes) is not what policies/default \
         builds to ({}: sha256 {}, {} bytes): run scripts/build-default-policy and commit \
         enforcer/policy/default.wasm",
        digest(committed),
        committed.len(),
        built.display(),
        digest(&built_bytes),
        built_bytes.len()
    );
}

#[test]
fn embedded_default_policy_loads_and_decides() {
    let engine = enforcer::policy::PolicyEngine::new(enforcer::policy::EngineOptions {
        cache_dir: None,
        ..enforcer::policy::EngineOptions::default()
    })
    .expect("engine");
    let policy = engine
        .load_bytes(
            enforcer::embedded::DEFAULT_POLICY_NAME,
            enforcer::embedded::DEFAULT_POLICY,
        )
        .expect("the embedded policy loads");
    let metadata = policy.metadata().expect("metadata").expect("has metadata");
    assert_eq!(metadata.name, "policy-default");
}
