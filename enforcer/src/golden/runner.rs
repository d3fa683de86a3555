//! Running one case: its request completed with host facts, its settings
//! checked, the chain evaluated (and with `--plan`, its allow checked for
//! applicability), the policy log lines captured, and the result judged
//! against the case's expectations.

use std::time::{Duration, Instant};

use policy_sdk::Request;
use serde_json::Value;

use crate::applicability::{InapplicableDecision, Target};
use crate::diagnostics::Diagnostic;
use crate::evaluation::{Chain, Evaluation, Outcome, evaluate_chain};
use crate::settings::require_valid_for_all;

use super::case_file::{Case, Expectation};
use super::expect::{
    Mismatch, MissingLog, absent_mismatch, logs_mismatch, matches_mismatch, subset_mismatch,
};
use super::logs::LogCapture;

/// How cases are run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Check that an allow can be applied (`enforcer test --plan`): on the
    /// case's `host` when it gives one, else on this machine.
    pub plan: bool,
}

/// Why a case failed. The texts are what `enforcer test` prints after
/// `FAIL`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CaseFailure {
    /// The case's request does not parse.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Evaluation failed, as expected, but with another error.
    #[error("error {message:?} does not contain {needle:?}")]
    OtherError {
        /// The error.
        message: String,
        /// What `expect.error` looks for.
        needle: String,
    },
    /// Evaluation failed, and the case expects an outcome.
    #[error("unexpected error: {0}")]
    UnexpectedError(String),
    /// With `--plan`: the allow cannot be applied, and the case expects it
    /// can.
    #[error(transparent)]
    Inapplicable(InapplicableDecision),
    /// Evaluation succeeded, and the case expects an error.
    #[error("expected an error containing {needle:?}, got {got}")]
    ExpectedError {
        /// What `expect.error` looks for.
        needle: String,
        /// The outcome (`an allow`, `a denial (...)`).
        got: String,
    },
    /// Allowed where the case expects a denial, or the other way round.
    #[error("expected {}, got {got}", if *allow { "allow" } else { "deny" })]
    Verdict {
        /// What `expect.allow` says.
        allow: bool,
        /// The outcome (`an allow`, `a denial (...)`).
        got: String,
    },
    /// The reason lacks the expected text.
    #[error("reason {reason:?} does not contain {needle:?}")]
    Reason {
        /// The decision's reason.
        reason: String,
        /// What `expect.reason` looks for.
        needle: String,
    },
    /// The decision cannot be serialized to compare it.
    #[error("{0}")]
    Serialize(String),
    /// The decision does not meet `expect.decision`, `expect.absent` or
    /// `expect.matches`.
    #[error(transparent)]
    Decision(#[from] Mismatch),
    /// A line of `expect.logs` was not logged.
    #[error(transparent)]
    Log(#[from] MissingLog),
}

/// What came of one case.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// Passed, or why not.
    pub result: Result<(), CaseFailure>,
    /// How long the case took, without building its chain (loading and
    /// compiling the policies): the request, the settings checks, the
    /// evaluation and, with `--plan`, the applicability check.
    pub duration: Duration,
    /// The policy log lines emitted meanwhile, in order.
    pub logs: Vec<Diagnostic>,
}

/// Whether a case runs under `filters`: always without any, else when its
/// name or `FILE: NAME` contains one of them.
pub fn selected(filters: &[String], file: &str, name: &str) -> bool {
    filters.is_empty()
        || filters.iter().any(|filter| {
            name.contains(filter.as_str()) || format!("{file}: {name}").contains(filter.as_str())
        })
}

/// Why evaluating a case's request gave no decision to judge.
enum Failed {
    /// The chain could not be built, a setting was refused, or the chain
    /// failed.
    Error(String),
    /// `--plan`: the allow cannot be applied.
    Inapplicable(InapplicableDecision),
}

impl Failed {
    fn message(&self) -> String {
        match self {
            Failed::Error(message) => message.clone(),
            Failed::Inapplicable(error) => error.to_string(),
        }
    }
}

/// Runs one case against the chain `chain_for` gives for its request
/// (which depends on the request's tenant when a config is in use), with
/// the policy log lines taken from `capture` (the sink of the engine the
/// chain's policies were loaded with). A chain that cannot be built counts
/// as an evaluation error (an unknown tenant, say), which `expect.error`
/// may expect.
pub fn run_case(
    chain_for: impl FnOnce(&Request) -> Result<Chain, String>,
    case: &Case,
    options: RunOptions,
    capture: &LogCapture,
) -> CaseRun {
    // Whatever was logged before this case is not its own.
    drop(capture.take());
    let mut started = Instant::now();
    let evaluated = request_of(case).map(|(request, target)| {
        let chain = chain_for(&request);
        started = Instant::now();
        chain
            .map_err(Failed::Error)
            .and_then(|chain| evaluate(&chain, &request, case, target, options))
    });
    let duration = started.elapsed();
    let logs = capture.take();
    let result = evaluated.and_then(|evaluated| judge(&case.expect, evaluated, &logs));
    CaseRun {
        result,
        duration,
        logs,
    }
}

/// The case's request, completed, and where its decision would apply.
fn request_of(case: &Case) -> Result<(Request, Target), CaseFailure> {
    let has_host = case.request.get("host").is_some();
    let request = crate::request::parse(&case.request.to_string())
        .map_err(|error| CaseFailure::BadRequest(format!("{error:#}")))?;
    // A case may pin `executable` (a case is a test, not a caller: it
    // keeps the case independent of this machine's programs); without
    // one, it is resolved here as `eval` resolves it.
    let pinned = request.executable.clone();
    let mut request = if has_host {
        request
    } else {
        crate::request::complete(request, crate::host::detect())
    };
    match pinned {
        Some(executable) => request.executable = Some(executable),
        // `complete` resolved it; a case's own host skips `complete`.
        None if has_host => crate::request::resolve_executable(&mut request),
        None => {}
    }
    if request.id.is_empty() {
        request.id = "golden".into();
    }
    let settings = case.settings.clone().map(Value::Object);
    request.set_settings(settings.as_ref());
    let target = if has_host {
        Target::RequestHost
    } else {
        Target::ThisMachine
    };
    Ok((request, target))
}

/// Checks the case's settings with every policy, evaluates the chain and,
/// with `--plan`, checks that an allow can be applied on `target`.
fn evaluate(
    chain: &Chain,
    request: &Request,
    case: &Case,
    target: Target,
    options: RunOptions,
) -> Result<Evaluation, Failed> {
    if let Some(settings) = &case.settings {
        let policies: Vec<_> = chain.links().map(|link| link.policy.clone()).collect();
        require_valid_for_all(&policies, &Value::Object(settings.clone()))
            .map_err(|error| Failed::Error(error.to_string()))?;
    }
    let evaluation =
        evaluate_chain(chain, request).map_err(|error| Failed::Error(error.to_string()))?;
    if options.plan && matches!(evaluation.outcome, Outcome::Allowed(_)) {
        crate::applicability::check(&evaluation, request, target).map_err(Failed::Inapplicable)?;
    }
    Ok(evaluation)
}

/// Judges what came of the case against `expect`: the error or the
/// decision, then the log lines.
fn judge(
    expect: &Expectation,
    evaluated: Result<Evaluation, Failed>,
    logs: &[Diagnostic],
) -> Result<(), CaseFailure> {
    match (evaluated, &expect.error) {
        (Err(failed), Some(needle)) => {
            let message = failed.message();
            if !message.contains(needle.as_str()) {
                return Err(CaseFailure::OtherError {
                    message,
                    needle: needle.clone(),
                });
            }
        }
        (Err(Failed::Error(message)), None) => return Err(CaseFailure::UnexpectedError(message)),
        (Err(Failed::Inapplicable(error)), None) => return Err(CaseFailure::Inapplicable(error)),
        (Ok(evaluation), Some(needle)) => {
            return Err(CaseFailure::ExpectedError {
                needle: needle.clone(),
                got: describe(&evaluation.outcome),
            });
        }
        (Ok(evaluation), None) => judge_outcome(expect, &evaluation.outcome)?,
    }
    logs_mismatch(&expect.logs, logs)?;
    Ok(())
}

/// Judges the outcome against `allow`, `reason`, `decision`, `absent` and
/// `matches`, in that order.
fn judge_outcome(expect: &Expectation, outcome: &Outcome) -> Result<(), CaseFailure> {
    let decision = match outcome {
        Outcome::Allowed(normal) => normal.to_decision(),
        Outcome::Denied { decision, .. } => decision.clone(),
    };
    if let Some(allow) = expect.allow
        && decision.allow != allow
    {
        return Err(CaseFailure::Verdict {
            allow,
            got: describe(outcome),
        });
    }
    if let Some(needle) = &expect.reason {
        let reason = decision.reason.clone().unwrap_or_default();
        if !reason.contains(needle.as_str()) {
            return Err(CaseFailure::Reason {
                reason,
                needle: needle.clone(),
            });
        }
    }
    let checked = &expect.checked;
    if expect.decision.is_none() && checked.absent.is_empty() && checked.matches.is_empty() {
        return Ok(());
    }
    let actual = serde_json::to_value(&decision)
        .map_err(|error| CaseFailure::Serialize(error.to_string()))?;
    if let Some(expected) = &expect.decision {
        subset_mismatch(expected, &actual, "")?;
    }
    absent_mismatch(&checked.absent, &actual)?;
    matches_mismatch(&checked.matches, &actual)?;
    Ok(())
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Allowed(_) => "an allow".into(),
        Outcome::Denied { decision, .. } => format!(
            "a denial ({})",
            decision.reason.as_deref().unwrap_or("no reason")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_the_name_or_file_and_name() {
        let none: [String; 0] = [];
        assert!(selected(&none, "a.toml", "x"));
        let filters = ["free".to_string(), "b.toml: pro".to_string()];
        assert!(selected(&filters, "a.toml", "free tier"));
        assert!(selected(&filters, "b.toml", "pro tier"));
        assert!(!selected(&filters, "a.toml", "pro tier"));
        assert!(selected(&["a.toml".to_string()], "a.toml", "anything"));
    }
}
