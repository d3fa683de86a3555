//! Evaluating a request against a chain of policies: each policy sees the
//! decision so far (`request.previous`, in its explicit normal form), its
//! decision is validated and normalised, and it may only tighten what came
//! before. The first denial ends the chain.

use policy_sdk::{Decision, Request};

use crate::decision::{
    Context, InvalidDecision, Loosened, NormalDecision, check_tightens, normalize, validate,
};
use crate::policy::{Policy, PolicyError};

/// What the enforcer knows when it normalises a decision for `request`:
/// its own ids and rlimits (what a silent decision keeps), the id-derived
/// cgroup, and the workload's `TERM` when it gets a terminal.
pub fn context(request: &Request) -> Context {
    Context {
        caller: (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        ),
        default_cgroup: crate::request::default_cgroups_path(request),
        term: request.terminal.then(|| {
            crate::sandbox::privileges::terminal_type(std::env::var("TERM").ok().as_deref())
        }),
        rlimits: crate::decision::own_rlimits(),
    }
}

/// The result of a chain that ran to the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every policy allowed; the final decision, normalised.
    Allowed(NormalDecision),
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
        error: Loosened,
    },
}

/// Runs `request` through `policies` in order.
pub fn evaluate_chain(policies: &[Policy], request: &Request) -> Result<Outcome, ChainError> {
    let context = context(request);
    let mut request = request.clone();
    let mut so_far: Option<NormalDecision> = None;
    for policy in policies {
        request.set_previous_decision(so_far.as_ref().map(NormalDecision::to_decision).as_ref());
        let decision = policy.evaluate(&request)?;
        let decision =
            validate(decision, &request.host, &context.default_cgroup).map_err(|error| {
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
        let decision = normalize(&decision, &context);
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
