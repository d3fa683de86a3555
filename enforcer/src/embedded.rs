//! The default policy, compiled into the binary so `enforcer` works alone.

/// Name used for the embedded policy in messages.
pub const DEFAULT_POLICY_NAME: &str = "embedded default";

/// The `policies/default` module, as committed in
/// `enforcer/policy/default.wasm`: building the enforcer needs no Wasm
/// target. `scripts/build-default-policy` regenerates it from source
/// (reproducibly), and the `embedded` test fails when it differs from what
/// the source builds to.
pub const DEFAULT_POLICY: &[u8] = include_bytes!("../policy/default.wasm");
