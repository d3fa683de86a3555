//! Checking a final decision's JSON against a case's expectations on its
//! fields: `expect.decision` (a subset), `expect.absent` (paths that must
//! not be there) and `expect.matches` (paths whose value must match a
//! pattern), and its log lines against `expect.logs`.

use regex::Regex;
use serde_json::Value;

use crate::diagnostics::{Diagnostic, Level};

use super::case_file::LogExpectation;
use super::path::FieldPath;

/// The first place where a decision does not meet an expectation on its
/// fields.
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
    /// A path of `expect.absent` is present.
    #[error("{path}: expected absent, got {actual}")]
    Present {
        /// The path, as the case gives it.
        path: String,
        /// The value found there.
        actual: Value,
    },
    /// A path of `expect.matches` is missing.
    #[error("{path}: expected a match for /{pattern}/, but it is absent")]
    NothingToMatch {
        /// The path, as the case gives it.
        path: String,
        /// The pattern.
        pattern: String,
    },
    /// A value of `expect.matches` does not match.
    #[error("{path}: expected a match for /{pattern}/, got {actual}")]
    NoMatch {
        /// The path, as the case gives it.
        path: String,
        /// The pattern.
        pattern: String,
        /// The value found.
        actual: Value,
    },
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

/// `Err` for the first of `paths` present in `actual`.
pub fn absent_mismatch(paths: &[FieldPath], actual: &Value) -> Result<(), Mismatch> {
    match paths
        .iter()
        .find_map(|path| path.lookup(actual).map(|found| (path, found)))
    {
        Some((path, found)) => Err(Mismatch::Present {
            path: path.to_string(),
            actual: found.clone(),
        }),
        None => Ok(()),
    }
}

/// `Err` for the first of `patterns` whose path is missing from `actual`
/// or whose value does not match: a string is matched as it is, any other
/// value as its compact JSON (`268435456`, `true`, `{"limit":5}`).
pub fn matches_mismatch(patterns: &[(FieldPath, Regex)], actual: &Value) -> Result<(), Mismatch> {
    for (path, regex) in patterns {
        let Some(found) = path.lookup(actual) else {
            return Err(Mismatch::NothingToMatch {
                path: path.to_string(),
                pattern: regex.as_str().to_string(),
            });
        };
        let text = match found {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        if !regex.is_match(&text) {
            return Err(Mismatch::NoMatch {
                path: path.to_string(),
                pattern: regex.as_str().to_string(),
                actual: found.clone(),
            });
        }
    }
    Ok(())
}

/// An expected log line that no policy logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no policy log line{} contains {contains:?}; lines seen: {}",
    level.map(|level| format!(" at level {}", level.as_log_str())).unwrap_or_default(),
    if seen.is_empty() { "none".to_string() } else { seen.join(" | ") }
)]
pub struct MissingLog {
    /// The level asked for, if any.
    pub level: Option<Level>,
    /// The text asked for.
    pub contains: String,
    /// Every policy log line of the case, as `enforcer` prints them.
    pub seen: Vec<String>,
}

/// `Err` for the first of `expected` that no line of `logs` (the case's
/// policy log lines) meets: its message contains the text, at the level
/// given if one is.
pub fn logs_mismatch(expected: &[LogExpectation], logs: &[Diagnostic]) -> Result<(), MissingLog> {
    for wanted in expected {
        let found = logs.iter().any(|line| {
            wanted.level().is_none_or(|level| level == line.level)
                && line.message.contains(wanted.contains())
        });
        if !found {
            return Err(MissingLog {
                level: wanted.level(),
                contains: wanted.contains().to_string(),
                seen: logs.iter().map(Diagnostic::to_string).collect(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::golden::case_file::LogLevelName;
    use serde_json::json;

    fn paths(texts: &[&str]) -> Vec<FieldPath> {
        texts
            .iter()
            .map(|text| FieldPath::parse(text).expect("parses"))
            .collect()
    }

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
    fn absent_paths_fail_with_what_is_there() {
        let actual = json!({"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}});
        assert!(
            absent_mismatch(
                &paths(&["hostname", "resources.memory", "linux.seccomp"]),
                &actual
            )
            .is_ok()
        );
        assert_eq!(
            absent_mismatch(&paths(&["hostname", "resources.hugepageLimits"]), &actual)
                .expect_err("present")
                .to_string(),
            r#"resources.hugepageLimits: expected absent, got [{"limit":0,"pageSize":"2MB"}]"#
        );
        assert_eq!(
            absent_mismatch(&paths(&["resources.hugepageLimits[0].limit"]), &actual)
                .expect_err("present")
                .to_string(),
            "resources.hugepageLimits[0].limit: expected absent, got 0"
        );
        assert!(absent_mismatch(&paths(&["resources.hugepageLimits[1]"]), &actual).is_ok());
    }

    #[test]
    fn patterns_match_strings_as_they_are_and_the_rest_as_json() {
        let actual = json!({"reason": "CI job 7", "resources": {"memory": {"limit": 268435456}}, "ns": [{"type": "pid"}]});
        let pattern = |path: &str, regex: &str| {
            (
                FieldPath::parse(path).expect("path"),
                Regex::new(regex).expect("regex"),
            )
        };
        assert!(
            matches_mismatch(
                &[
                    pattern("reason", "^CI job"),
                    pattern("resources.memory.limit", "^26"),
                    pattern("ns[0]", r#"^\{"type":"pid"\}$"#),
                ],
                &actual
            )
            .is_ok()
        );
        assert_eq!(
            matches_mismatch(&[pattern("reason", "^job")], &actual)
                .expect_err("no match")
                .to_string(),
            "reason: expected a match for /^job/, got \"CI job 7\""
        );
        assert_eq!(
            matches_mismatch(&[pattern("hostname", ".")], &actual)
                .expect_err("absent")
                .to_string(),
            "hostname: expected a match for /./, but it is absent"
        );
    }

    #[test]
    fn log_expectations_name_what_was_seen() {
        let logs = [
            Diagnostic::policy(Some("p.wasm"), Level::Info, "tenant acme: refused"),
            Diagnostic::policy(Some("p.wasm"), Level::Warning, "asked 9 pages, granting 4"),
        ];
        let text = |text: &str| LogExpectation::Contains(text.into());
        let line = |level, text: &str| LogExpectation::Line {
            level: Some(level),
            contains: text.into(),
        };
        assert!(
            logs_mismatch(
                &[text("refused"), line(LogLevelName::Warn, "granting")],
                &logs
            )
            .is_ok()
        );
        assert_eq!(
            logs_mismatch(&[line(LogLevelName::Warn, "refused")], &logs)
                .expect_err("wrong level")
                .to_string(),
            "no policy log line at level warn contains \"refused\"; lines seen: \
             [policy p.wasm] info: tenant acme: refused | [policy p.wasm] warn: asked 9 pages, granting 4"
        );
        assert_eq!(
            logs_mismatch(&[text("x")], &[])
                .expect_err("none")
                .to_string(),
            "no policy log line contains \"x\"; lines seen: none"
        );
    }
}
