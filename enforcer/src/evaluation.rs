//! Evaluating a request against a chain of policies: each policy sees the
//! decision so far (`request.previous`), its decision is validated, and it
//! may only tighten what came before. The first denial ends the chain.

use policy_sdk::{Decision, Request};

use crate::decision::{ComposeError, InvalidDecision, check_tightens, validate};
use crate::policy::{Policy, PolicyError};

/// The result of a chain that ran to the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every policy allowed; the final, validated decision.
    Allowed(Decision),
    /// A policy denied.
    Denied {
        /// The policy that denied.
        policy: String,
        /// Its decision (with the reason).
        decision: Decision,
    },
}

/// Why a chain could not reach a decision.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The chain was empty.
    #[error("no policy to evaluate")]
    NoPolicies,
    /// A policy failed to evaluate.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A policy returned an invalid decision.
    #[error("policy {policy}: {error}")]
    Invalid {
        /// The policy.
        policy: String,
        /// What is wrong.
        error: InvalidDecision,
    },
    /// A later policy loosened an earlier decision.
    #[error("policy {policy}: {error} (a later policy may only tighten the decision)")]
    Loosened {
        /// The policy.
        policy: String,
        /// What it loosened.
        error: ComposeError,
    },
}

/// Runs `request` through `policies` in order.
pub fn evaluate_chain(policies: &[Policy], request: &Request) -> Result<Outcome, ChainError> {
    let mut request = request.clone();
    let mut so_far: Option<Decision> = None;
    for policy in policies {
        request.set_previous_decision(so_far.as_ref());
        let decision = policy.evaluate(&request)?;
        let default_cgroup = crate::request::default_cgroups_path(&request);
        let decision = validate(decision, &request.host, &default_cgroup).map_err(|error| {
            ChainError::Invalid {
                policy: policy.name().to_string(),
                error,
            }
        })?;
        if !decision.allow {
            return Ok(Outcome::Denied {
                policy: policy.name().to_string(),
                decision,
            });
        }
        if let Some(earlier) = &so_far {
            check_tightens(earlier, &decision).map_err(|error| ChainError::Loosened {
                policy: policy.name().to_string(),
                error,
            })?;
        }
        so_far = Some(decision);
    }
    so_far.map(Outcome::Allowed).ok_or(ChainError::NoPolicies)
}
