//! The case file format: `[[case]]` tables (TOML) or a `"cases"` list
//! (JSON), each a request, optional settings, and what must come of it.
//! Field paths and patterns are checked when the file is read, so a typo
//! refuses the file (naming it, the case and the key) before any case runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

use crate::diagnostics::Level;

use super::path::{FieldPath, PathError};

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
    /// Field paths that must be absent from the final decision.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Field path → regular expression its value must match (a string as
    /// it is, anything else as compact JSON).
    #[serde(default)]
    pub matches: BTreeMap<String, String>,
    /// Lines that some policy of the chain must have logged while the case
    /// was evaluated.
    #[serde(default)]
    pub logs: Vec<LogExpectation>,
    /// `absent` and `matches`, parsed (by [`CaseFile::check`]).
    #[serde(skip)]
    pub(super) checked: Checked,
}

/// The parsed forms of an expectation's paths and patterns.
#[derive(Debug, Default)]
pub(super) struct Checked {
    pub(super) absent: Vec<FieldPath>,
    pub(super) matches: Vec<(FieldPath, Regex)>,
}

/// One expected log line: a substring of its message, and optionally its
/// level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogExpectation {
    /// `"text"`: a line of any level whose message contains it.
    Contains(String),
    /// `{ level = "warn", contains = "text" }`.
    Line {
        /// The line's level; any when absent.
        level: Option<LogLevelName>,
        /// A substring of its message.
        contains: String,
    },
}

/// The table form of a [`LogExpectation`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineTable {
    #[serde(default)]
    level: Option<LogLevelName>,
    contains: String,
}

/// A string or a table, each with the parser's own message when wrong (an
/// unknown key, a level that is none of error, warn, info, debug).
impl<'de> Deserialize<'de> for LogExpectation {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = LogExpectation;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, or a table { level = \"warn\", contains = \"...\" }")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<LogExpectation, E> {
                Ok(LogExpectation::Contains(text.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<LogExpectation, A::Error> {
                let table =
                    LineTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(LogExpectation::Line {
                    level: table.level,
                    contains: table.contains,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl LogExpectation {
    /// The level asked for, if any.
    pub fn level(&self) -> Option<Level> {
        match self {
            LogExpectation::Contains(_) => None,
            LogExpectation::Line { level, .. } => level.map(LogLevelName::level),
        }
    }

    /// The text the message must contain.
    pub fn contains(&self) -> &str {
        match self {
            LogExpectation::Contains(text) | LogExpectation::Line { contains: text, .. } => text,
        }
    }
}

/// A policy log level as case files spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevelName {
    /// `error`.
    Error,
    /// `warn`.
    Warn,
    /// `info`.
    Info,
    /// `debug`.
    Debug,
}

impl LogLevelName {
    /// The diagnostics level of the same name.
    pub fn level(self) -> Level {
        match self {
            LogLevelName::Error => Level::Error,
            LogLevelName::Warn => Level::Warning,
            LogLevelName::Info => Level::Info,
            LogLevelName::Debug => Level::Debug,
        }
    }
}

/// Why a case file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    /// It cannot be read.
    #[error("cannot read case file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// Its name ends in neither `.toml` nor `.json`.
    #[error("case file {} must end in .toml or .json", path.display())]
    Extension {
        /// The file.
        path: PathBuf,
    },
    /// It does not parse as a case file.
    #[error("case file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with the line, for TOML).
        message: String,
    },
    /// A case's `expect` has a bad field path or pattern.
    #[error("case file {}: case {case:?}: expect.{key}: {problem}", path.display())]
    Expectation {
        /// The file.
        path: PathBuf,
        /// The case's name.
        case: String,
        /// `absent[N]` or `matches["PATH"]`.
        key: String,
        /// What is wrong.
        problem: ExpectationProblem,
    },
}

/// What is wrong with an `absent` or `matches` entry.
#[derive(Debug, thiserror::Error)]
pub enum ExpectationProblem {
    /// The field path does not parse.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The pattern is not a regular expression.
    #[error("invalid regex {pattern:?}: {error}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// The regex crate's message (one line).
        error: String,
    },
}

impl CaseFile {
    /// Parses every case's `absent` paths and `matches` paths and
    /// patterns; `path` names the file in the error.
    pub fn check(mut self, path: &Path) -> Result<CaseFile, CaseFileError> {
        for case in &mut self.case {
            let fail = |key: String, problem: ExpectationProblem| CaseFileError::Expectation {
                path: path.to_path_buf(),
                case: case.name.clone(),
                key,
                problem,
            };
            let expect = &case.expect;
            let absent = expect
                .absent
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    FieldPath::parse(text)
                        .map_err(|error| fail(format!("absent[{index}]"), error.into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let matches = expect
                .matches
                .iter()
                .map(|(field, pattern)| {
                    let key = format!("matches[{field:?}]");
                    let field =
                        FieldPath::parse(field).map_err(|error| fail(key.clone(), error.into()))?;
                    let regex = Regex::new(pattern).map_err(|error| {
                        fail(
                            key.clone(),
                            ExpectationProblem::Regex {
                                pattern: pattern.clone(),
                                error: one_line(&error.to_string()),
                            },
                        )
                    })?;
                    Ok((field, regex))
                })
                .collect::<Result<Vec<_>, _>>()?;
            case.expect.checked = Checked { absent, matches };
        }
        Ok(self)
    }
}

/// The regex crate's multi-line message (the pattern, a caret, the
/// error) as one line: its last line, the error itself.
fn one_line(message: &str) -> String {
    message
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or(message)
        .trim()
        .to_string()
}

/// The format of a case file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `[[case]]` tables.
    Toml,
    /// `{"cases": [...]}`.
    Json,
}

/// Parses and checks the text of a case file; `path` names it in errors.
pub fn parse_case_file(text: &str, format: Format, path: &Path) -> Result<CaseFile, CaseFileError> {
    let parsed = match format {
        Format::Toml => toml::from_str::<CaseFile>(text).map_err(|error| error.to_string()),
        Format::Json => serde_json::from_str::<CaseFile>(text).map_err(|error| error.to_string()),
    };
    parsed
        .map_err(|message| CaseFileError::Parse {
            path: path.to_path_buf(),
            message: message.trim_end().to_string(),
        })?
        .check(path)
}

/// Reads and checks a `.toml` or `.json` case file.
pub fn read_case_file(path: &Path) -> Result<CaseFile, CaseFileError> {
    let format = match path.extension().and_then(|ext| ext.to_str()) {
        Some("toml") => Format::Toml,
        Some("json") => Format::Json,
        _ => {
            return Err(CaseFileError::Extension {
                path: path.to_path_buf(),
            });
        }
    };
    let text = std::fs::read_to_string(path).map_err(|error| CaseFileError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    parse_case_file(&text, format, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn toml_file(text: &str) -> Result<CaseFile, CaseFileError> {
        parse_case_file(text, Format::Toml, Path::new("c.toml"))
    }

    #[test]
    fn toml_and_json_case_files_parse() {
        let file = toml_file(
            "[[case]]\nname = \"a\"\nrequest = { tenant = \"x\" }\nexpect = { allow = true }\n",
        )
        .expect("toml");
        assert_eq!(file.case.len(), 1);
        let json_file = parse_case_file(
            r#"{"cases":[{"name":"a","request":{},"expect":{"error":"x"}}]}"#,
            Format::Json,
            Path::new("c.json"),
        )
        .expect("json");
        assert_eq!(json_file.case[0].expect.error.as_deref(), Some("x"));
        let typo = toml_file("[[case]]\nname=\"a\"\nrequest={}\nexpect={alow=true}\n")
            .expect_err("unknown key");
        assert!(typo.to_string().starts_with("case file c.toml: "), "{typo}");
        assert!(typo.to_string().contains("alow"), "{typo}");
    }

    #[test]
    fn case_settings_are_a_table() {
        let file = toml_file(
            "[[case]]\nname = \"a\"\nrequest = {}\nsettings = { maxPids = 8, allowedCommands = [\"sh\"] }\nexpect = { allow = true }\n",
        )
        .expect("toml");
        assert_eq!(
            file.case[0].settings.clone().map(Value::Object),
            Some(json!({"maxPids": 8, "allowedCommands": ["sh"]}))
        );
        let error = toml_file(
            "[[case]]\nname = \"a\"\nrequest = {}\nsettings = [1]\nexpect = { allow = true }\n",
        )
        .expect_err("not a table");
        assert!(error.to_string().contains("settings"), "{error}");
    }

    #[test]
    fn the_new_expectations_parse() {
        let file = toml_file(
            r#"
[[case]]
name = "a"
request = {}
expect.absent = ["hostname", "resources.hugepageLimits", "namespaces[2]"]
expect.matches = { "reason" = "^CI job", "resources.memory.limit" = "^26" }
expect.logs = ["plain", { level = "warn", contains = "granting" }, { contains = "any" }]
"#,
        )
        .expect("parses");
        let expect = &file.case[0].expect;
        assert_eq!(expect.checked.absent.len(), 3);
        assert_eq!(expect.checked.matches.len(), 2);
        assert_eq!(
            expect.logs,
            [
                LogExpectation::Contains("plain".into()),
                LogExpectation::Line {
                    level: Some(LogLevelName::Warn),
                    contains: "granting".into()
                },
                LogExpectation::Line {
                    level: None,
                    contains: "any".into()
                },
            ]
        );
        assert_eq!(expect.logs[1].level(), Some(Level::Warning));
        assert_eq!(expect.logs[0].contains(), "plain");
    }

    #[test]
    fn a_bad_pattern_or_path_refuses_the_file_naming_case_and_key() {
        let error = toml_file(
            "[[case]]\nname = \"first\"\nrequest = {}\nexpect = { allow = true }\n\
             [[case]]\nname = \"second\"\nrequest = {}\nexpect = { matches = { reason = \"(unclosed\" } }\n",
        )
        .expect_err("bad regex");
        let text = error.to_string();
        assert!(
            text.starts_with(
                "case file c.toml: case \"second\": expect.matches[\"reason\"]: invalid regex \"(unclosed\": "
            ),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        let error = toml_file(
            "[[case]]\nname = \"p\"\nrequest = {}\nexpect = { absent = [\"ok\", \"a..b\"] }\n",
        )
        .expect_err("bad path");
        assert!(
            error
                .to_string()
                .starts_with("case file c.toml: case \"p\": expect.absent[1]: \"a..b\" is not a field path (empty key)"),
            "{error}"
        );
        let error = toml_file(
            "[[case]]\nname = \"l\"\nrequest = {}\nexpect = { logs = [{ level = \"loud\", contains = \"x\" }] }\n",
        )
        .expect_err("bad level");
        let text = error.to_string();
        assert!(
            text.contains("case file c.toml") && text.contains("unknown variant `loud`"),
            "{text}"
        );
        let error = toml_file(
            "[[case]]\nname = \"l\"\nrequest = {}\nexpect = { logs = [{ contain = \"x\" }] }\n",
        )
        .expect_err("typo");
        assert!(
            error.to_string().contains("unknown field `contain`"),
            "{error}"
        );
        let error = parse_case_file(
            r#"{"cases":[{"name":"l","request":{},"expect":{"logs":[3]}}]}"#,
            Format::Json,
            Path::new("c.json"),
        )
        .expect_err("a number");
        assert!(
            error.to_string().contains("a string, or a table"),
            "{error}"
        );
    }
}
