//! Golden cases for `enforcer test`: requests and what the policy chain
//! must answer, in TOML or JSON.
//!
//! ```toml
//! [[case]]
//! name = "free tier gets 256 MiB"
//! request = { tenant = "acme", labels = { tier = "free" }, command = ["python3"] }
//! expect = { allow = true, decision = { resources = { memory = { limit = 268435456 } } } }
//!
//! [[case]]
//! name = "no tenant"
//! request = { command = ["sh"] }
//! expect = { allow = false, reason = "must name a tenant" }
//! ```
//!
//! A case may give `settings = { ... }` (a table, a JSON object): every
//! policy gets them in `request.settings`, and each policy that exports a
//! settings check must accept them first; a refusal fails the case with the
//! policy's message, unless `expect.error` matches it.
//!
//! `expect.decision` matches as a subset: every key given must be present
//! with an equal value (arrays compare element by element, whole).
//! `expect.reason` and `expect.error` match as substrings. A request without
//! `host` gets this machine's facts.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

use policy_sdk::Request;

use crate::evaluation::{Chain, Outcome, evaluate_chain};
use crate::settings::require_valid_for_all;

/// A file of cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// The cases, in order.
    #[serde(alias = "cases")]
    pub case: Vec<Case>,
}

/// One request and what must come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in the report.
    pub name: String,
    /// The request (host facts filled in when absent).
    pub request: Value,
    /// Settings for every policy, as the operator's config gives them.
    #[serde(default)]
    pub settings: Option<serde_json::Map<String, Value>>,
    /// What must happen.
    pub expect: Expectation,
}

/// What a case expects.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Allowed (true) or denied (false).
    pub allow: Option<bool>,
    /// Substring of the denial (or allow) reason.
    pub reason: Option<String>,
    /// Subset of the final decision.
    pub decision: Option<Value>,
    /// Substring of the error; the case expects evaluation to fail.
    pub error: Option<String>,
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
    /// The decision does not contain `expect.decision`.
    #[error(transparent)]
    Decision(#[from] Mismatch),
}

/// The first place where a decision does not contain the expected subset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Mismatch {
    /// An expected key is missing.
    #[error("{field}: expected {expected}, but it is absent")]
    Absent {
        /// The key's path (`resources.memory.limit`).
        field: String,
        /// The expected value.
        expected: Value,
    },
    /// A value differs.
    #[error("{}: expected {expected}, got {actual}", if path.is_empty() { "decision" } else { path })]
    Differs {
        /// The value's path; empty for the whole decision.
        path: String,
        /// The expected value.
        expected: Value,
        /// The value found.
        actual: Value,
    },
}

/// Reads a `.toml` or `.json` case file.
pub fn read_case_file(path: &Path) -> anyhow::Result<CaseFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read case file {}", path.display()))?;
    let parsed = match path.extension().and_then(|ext| ext.to_str()) {
        Some("toml") => toml::from_str(&text).map_err(anyhow::Error::from),
        Some("json") => serde_json::from_str(&text).map_err(anyhow::Error::from),
        _ => bail!("case file {} must end in .toml or .json", path.display()),
    };
    parsed.with_context(|| format!("case file {}", path.display()))
}

/// Runs one case against the chain `chain_for` gives for its request
/// (which depends on the request's tenant when a config is in use); `Err`
/// is the failure message. A chain that cannot be built counts as an
/// evaluation error (an unknown tenant, say), which `expect.error` may
/// expect.
pub fn run_case(
    chain_for: impl FnOnce(&Request) -> Result<Chain, String>,
    case: &Case,
) -> Result<(), CaseFailure> {
    let has_host = case.request.get("host").is_some();
    let request = crate::request::parse(&case.request.to_string())
        .map_err(|error| CaseFailure::BadRequest(format!("{error:#}")))?;
    let mut request = if has_host {
        request
    } else {
        crate::request::complete(request, crate::host::detect())
    };
    if request.id.is_empty() {
        request.id = "golden".into();
    }
    let settings = case.settings.clone().map(Value::Object);
    request.set_settings(settings.as_ref());
    let expect = &case.expect;
    let evaluated = chain_for(&request).and_then(|chain| {
        if let Some(settings) = &settings {
            let policies: Vec<_> = chain.links().map(|link| link.policy.clone()).collect();
            require_valid_for_all(&policies, settings).map_err(|error| error.to_string())?;
        }
        evaluate_chain(&chain, &request)
            .map(|evaluation| evaluation.outcome)
            .map_err(|error| error.to_string())
    });
    let outcome = match (evaluated, &expect.error) {
        (Err(message), Some(needle)) => {
            return if message.contains(needle.as_str()) {
                Ok(())
            } else {
                Err(CaseFailure::OtherError {
                    message,
                    needle: needle.clone(),
                })
            };
        }
        (Err(message), None) => return Err(CaseFailure::UnexpectedError(message)),
        (Ok(outcome), Some(needle)) => {
            return Err(CaseFailure::ExpectedError {
                needle: needle.clone(),
                got: describe(&outcome),
            });
        }
        (Ok(outcome), None) => outcome,
    };
    let decision = match &outcome {
        Outcome::Allowed(normal) => normal.to_decision(),
        Outcome::Denied { decision, .. } => decision.clone(),
    };
    if let Some(allow) = expect.allow
        && decision.allow != allow
    {
        return Err(CaseFailure::Verdict {
            allow,
            got: describe(&outcome),
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
    if let Some(expected) = &expect.decision {
        let actual = serde_json::to_value(&decision)
            .map_err(|error| CaseFailure::Serialize(error.to_string()))?;
        subset_mismatch(expected, &actual, "")?;
    }
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

/// `Err` with the first path where `actual` does not contain `expected`.
pub fn subset_mismatch(expected: &Value, actual: &Value, path: &str) -> Result<(), Mismatch> {
    let field = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                match actual.get(key) {
                    Some(found) => subset_mismatch(value, found, &field(key))?,
                    None => {
                        return Err(Mismatch::Absent {
                            field: field(key),
                            expected: value.clone(),
                        });
                    }
                }
            }
            Ok(())
        }
        (Value::Array(expected), Value::Array(actual)) if expected.len() == actual.len() => {
            for (index, (value, found)) in expected.iter().zip(actual).enumerate() {
                subset_mismatch(value, found, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        (Value::Number(expected), Value::Number(actual))
            if expected.as_f64() == actual.as_f64() =>
        {
            Ok(())
        }
        _ if expected == actual => Ok(()),
        _ => Err(Mismatch::Differs {
            path: path.to_string(),
            expected: expected.clone(),
            actual: actual.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_matching_reports_the_path() {
        let actual =
            json!({"allow": true, "resources": {"memory": {"limit": 5}, "pids": {"limit": 3}}});
        assert!(
            subset_mismatch(&json!({"resources": {"memory": {"limit": 5}}}), &actual, "").is_ok()
        );
        assert_eq!(
            subset_mismatch(&json!({"resources": {"memory": {"limit": 6}}}), &actual, ""),
            Err(Mismatch::Differs {
                path: "resources.memory.limit".into(),
                expected: json!(6),
                actual: json!(5)
            })
        );
        assert_eq!(
            subset_mismatch(&json!({"resources": {"memory": {"limit": 6}}}), &actual, "")
                .expect_err("differs")
                .to_string(),
            "resources.memory.limit: expected 6, got 5"
        );
        let absent = subset_mismatch(&json!({"hostname": "x"}), &actual, "").expect_err("absent");
        assert_eq!(
            absent.to_string(),
            "hostname: expected \"x\", but it is absent"
        );
        assert_eq!(
            subset_mismatch(&json!(1), &json!(2), "")
                .expect_err("differs")
                .to_string(),
            "decision: expected 1, got 2"
        );
    }

    #[test]
    fn toml_and_json_case_files_parse() {
        let toml_file: CaseFile = toml::from_str(
            "[[case]]\nname = \"a\"\nrequest = { tenant = \"x\" }\nexpect = { allow = true }\n",
        )
        .expect("toml");
        assert_eq!(toml_file.case.len(), 1);
        let json_file: CaseFile =
            serde_json::from_str(r#"{"cases":[{"name":"a","request":{},"expect":{"error":"x"}}]}"#)
                .expect("json");
        assert_eq!(json_file.case[0].expect.error.as_deref(), Some("x"));
        assert!(
            toml::from_str::<CaseFile>("[[case]]\nname=\"a\"\nrequest={}\nexpect={alow=true}\n")
                .is_err()
        );
    }

    #[test]
    fn case_settings_are_a_table() {
        let file: CaseFile = toml::from_str(
            "[[case]]\nname = \"a\"\nrequest = {}\nsettings = { maxPids = 8, allowedCommands = [\"sh\"] }\nexpect = { allow = true }\n",
        )
        .expect("toml");
        assert_eq!(
            file.case[0].settings.clone().map(Value::Object),
            Some(json!({"maxPids": 8, "allowedCommands": ["sh"]}))
        );
        let error = toml::from_str::<CaseFile>(
            "[[case]]\nname = \"a\"\nrequest = {}\nsettings = [1]\nexpect = { allow = true }\n",
        )
        .expect_err("not a table");
        assert!(error.to_string().contains("settings"), "{error}");
    }
}
