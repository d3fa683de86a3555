//! The decide stages: the request (with this host's facts), the caller's
//! settings checked against the policies that get them, and the chain's
//! evaluation down to one normal decision or a denial.

use std::path::PathBuf;

use anyhow::Context;
use policy_sdk::Request;
use serde_json::Value;

use crate::audit::Trail;
use crate::cgroup::CgroupLayout;
use crate::decision::NormalDecision;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::evaluation::{Chain, Outcome, evaluate_chain};
use crate::policy::Policy;
use crate::request::{RequestOptions, fill_cwd, from_bundle, from_file, from_options};

/// Where a request comes from.
#[derive(Debug, Clone)]
pub enum RequestSource {
    /// A JSON file (`--request FILE`, `-` for stdin).
    File(PathBuf),
    /// Command-line options (`--tenant`, `--label`, ..., the command).
    Options(RequestOptions),
    /// An OCI bundle (`--bundle DIR`: `DIR/config.json`) and the options
    /// given with it (`--id`, `--tenant`, `--label`, `--user`; no command).
    Bundle(PathBuf, RequestOptions),
}

/// The request from `source`, with the caller's `settings` (`--settings`)
/// and the host facts read on `layout` (the run's one discovery). A
/// request from options or a bundle gets the caller's working directory as
/// its `cwd`; a request file's is kept as written (`run` replaces it, see
/// [`crate::pipeline::Pipeline::request`]). What a bundle's translation
/// ignored is said on `diagnostics`.
pub fn build_request(
    source: &RequestSource,
    settings: Option<&Value>,
    layout: &CgroupLayout,
    diagnostics: &Diagnostics,
) -> anyhow::Result<Request> {
    let host = crate::host::detect_with(layout);
    let mut request = match source {
        RequestSource::File(path) => from_file(path, host)?,
        RequestSource::Options(options) => {
            let mut request = from_options(options.clone(), host)?;
            fill_cwd(&mut request, diagnostics);
            request
        }
        RequestSource::Bundle(dir, options) => {
            let bundle = crate::bundle::load(dir)?;
            for warning in &bundle.warnings {
                diagnostics.emit(Diagnostic::warning(crate::printable::escape(warning)));
            }
            let mut request = from_bundle(bundle, options.clone(), host)?;
            fill_cwd(&mut request, diagnostics);
            request
        }
    };
    request.set_settings(settings);
    Ok(request)
}

/// Asks every policy of `chain` the operator gave no settings whether it
/// accepts the caller's (`request.settings`), before anything is evaluated
/// with them; a refusal names the policy and its reason.
pub fn check_caller_settings(chain: &Chain, request: &Request) -> anyhow::Result<()> {
    let Some(raw) = &request.settings else {
        return Ok(());
    };
    let settings: Value = serde_json::from_str(raw.get()).context("--settings")?;
    let policies: Vec<Policy> = chain
        .links()
        .filter(|link| link.settings.is_none())
        .map(|link| link.policy.clone())
        .collect();
    crate::settings::require_valid_for_all(&policies, &settings)?;
    Ok(())
}

/// What the chain decided.
#[derive(Debug)]
pub enum Verdict {
    /// Allowed, with this decision (its normal form).
    Allowed(Box<NormalDecision>),
    /// Denied by `policy` for `reason`.
    Denied {
        /// The policy.
        policy: String,
        /// Its reason (`no reason given` when it gave none).
        reason: String,
    },
}

/// Evaluates `request` through `chain`, recording in `trail` each link's
/// report, the decision, and (on failure) the step that failed.
pub fn decide(chain: &Chain, request: &Request, trail: &mut Trail) -> anyhow::Result<Verdict> {
    let evaluation = match evaluate_chain(chain, request) {
        Ok(evaluation) => evaluation,
        Err(mut failure) => {
            trail.links = std::mem::take(&mut failure.links);
            trail.step = failure.error.step();
            return Err(failure.into());
        }
    };
    trail.links = evaluation.links;
    Ok(match evaluation.outcome {
        Outcome::Allowed(decision) => {
            trail.decision = Some(decision.clone());
            Verdict::Allowed(Box::new(decision))
        }
        Outcome::Denied { policy, decision } => Verdict::Denied {
            policy,
            reason: decision
                .reason
                .unwrap_or_else(|| "no reason given".to_string()),
        },
    })
}
