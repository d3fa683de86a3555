//! The default policy, compiled into the binary so `enforcer` works alone.

/// Name used for the embedded policy in messages.
pub const DEFAULT_POLICY_NAME: &str = "embedded default";

/// The `policies/default` module, built by `build.rs`.
pub const DEFAULT_POLICY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/policy_default.wasm"));

/// Where `build.rs` put every example policy's `.wasm` (for tests and
/// benchmarks of this workspace).
#[doc(hidden)]
pub const EXAMPLE_POLICY_DIR: &str = env!("ENFORCER_POLICY_DIR");
