//! Whether a chain's decision can be applied where it would run, and if
//! not, which policy's decision first made it so: what `eval` and
//! `enforcer test --plan` check before they call a decision good.

use policy_sdk::Request;

use crate::evaluation::Evaluation;

/// A decision that cannot be applied, with the policy to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy}: its decision cannot be applied on {host}: {message}")]
pub struct InapplicableDecision {
    /// The policy (its label in the chain, as `LinkReport::policy`) whose
    /// decision first could not be applied.
    pub policy: String,
    /// `this host`, or `the request's host` for a host given in the request.
    pub host: String,
    /// What cannot be applied and why (the field's path first).
    pub message: String,
}

/// Where the decision would be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This machine: the real cgroup plan on its discovered layout.
    ThisMachine,
    /// The host facts in `request.host` (a golden case's or a request
    /// file's `host`), checked with `policy_model::check_applicable`.
    RequestHost,
}

/// `Err` naming the first policy of `evaluation` whose decision cannot be
/// applied on `target`; `Ok` for a denial and for an applicable allow.
pub fn check(
    evaluation: &Evaluation,
    request: &Request,
    target: Target,
) -> Result<(), InapplicableDecision> {
    // Groundwork stub: the enforcer-side helper fills this in.
    let _ = (evaluation, request, target);
    Ok(())
}
