//! The report of a run of golden cases, in the formats `enforcer test
//! --format` offers: text (one line per case and a summary), JSON, JUnit
//! XML and TAP version 14.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::diagnostics::Diagnostic;
use crate::printable::{escape, escape_message};

/// What became of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It ran and met its expectations.
    Passed,
    /// It ran and did not.
    Failed,
    /// `--filter` left it out.
    Filtered,
}

impl Status {
    /// `passed`, `failed`, `filtered`: as the JSON report names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Filtered => "filtered",
        }
    }
}

/// One case in the report.
#[derive(Debug, Clone)]
pub struct CaseReport {
    /// The case file, as given on the command line.
    pub file: String,
    /// The case's name.
    pub name: String,
    /// What became of it.
    pub status: Status,
    /// Why it failed.
    pub message: Option<String>,
    /// How long it took (none when filtered out).
    pub duration: Option<Duration>,
    /// The policy log lines it caused.
    pub logs: Vec<Diagnostic>,
}

/// Every case of a run, in the order of the files and cases.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The cases.
    pub cases: Vec<CaseReport>,
    /// Whether `--filter` was given (the text summary then counts the
    /// cases it left out).
    pub filtered: bool,
}

impl Report {
    fn count(&self, status: Status) -> usize {
        self.cases
            .iter()
            .filter(|case| case.status == status)
            .count()
    }

    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.count(Status::Passed)
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.count(Status::Failed)
    }

    /// Cases left out by `--filter`.
    pub fn filtered_out(&self) -> usize {
        self.count(Status::Filtered)
    }

    /// `N passed, N failed`, with `, N filtered out` after `--filter`.
    pub fn summary(&self) -> String {
        let mut summary = format!("{} passed, {} failed", self.passed(), self.failed());
        if self.filtered {
            let _ = write!(summary, ", {} filtered out", self.filtered_out());
        }
        summary
    }

    /// One line per case that ran (`ok    FILE: NAME`, `FAIL  FILE: NAME:
    /// MESSAGE`) and the summary; `verbose` adds each case's time (`ok
    /// FILE: NAME (0.8 ms)`) and its log lines, indented, under it.
    pub fn text(&self, verbose: bool) -> String {
        let mut out = String::new();
        for case in &self.cases {
            let label = format!("{}: {}", escape(&case.file), escape(&case.name));
            let time = match (verbose, case.duration) {
                (true, Some(duration)) => format!(" ({:.1} ms)", millis(duration)),
                _ => String::new(),
            };
            match case.status {
                Status::Filtered => continue,
                Status::Passed => {
                    let _ = writeln!(out, "ok    {label}{time}");
                }
                Status::Failed => {
                    let message = case.message.as_deref().unwrap_or_default();
                    let _ = writeln!(out, "FAIL  {label}{time}: {}", escape_message(message));
                }
            }
            if verbose {
                for line in &case.logs {
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
        out.push_str(&self.summary());
        out
    }

    /// `{"cases": [{"file", "name", "status", "message", "durationMs",
    /// "logs": [{"policy", "level", "message"}]}], "passed", "failed",
    /// "filtered"}`.
    pub fn json(&self) -> Value {
        let cases: Vec<Value> = self
            .cases
            .iter()
            .map(|case| {
                json!({
                    "file": case.file,
                    "name": case.name,
                    "status": case.status.as_str(),
                    "message": case.message,
                    "durationMs": case.duration.map(millis),
                    "logs": case.logs.iter().map(log_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "cases": cases,
            "passed": self.passed(),
            "failed": self.failed(),
            "filtered": self.filtered_out(),
        })
    }

    /// JUnit XML: a `<testsuite>` per case file (`name` the file) with a
    /// `<testcase classname="FILE" name="NAME" time="SECONDS">` per case,
    /// a `<failure message="...">` when it failed, `<skipped>` when
    /// filtered out, and its log lines in `<system-out>`.
    pub fn junit(&self) -> String {
        let mut files: Vec<&str> = Vec::new();
        for case in &self.cases {
            if !files.contains(&case.file.as_str()) {
                files.push(&case.file);
            }
        }
        let seconds = |cases: &[&CaseReport]| -> f64 {
            cases
                .iter()
                .filter_map(|case| case.duration)
                .map(|duration| duration.as_secs_f64())
                .sum()
        };
        let all: Vec<&CaseReport> = self.cases.iter().collect();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"enforcer test\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.6}\">",
            self.cases.len(),
            self.failed(),
            self.filtered_out(),
            seconds(&all)
        );
        for file in files {
            let cases: Vec<&CaseReport> =
                self.cases.iter().filter(|case| case.file == file).collect();
            let count = |status| cases.iter().filter(|case| case.status == status).count();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.6}\">",
                xml(file),
                cases.len(),
                count(Status::Failed),
                count(Status::Filtered),
                seconds(&cases)
            );
            for case in cases {
                let time = case.duration.map(|d| d.as_secs_f64()).unwrap_or_default();
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.6}\"",
                    xml(&case.file),
                    xml(&case.name)
                );
                if case.status == Status::Passed && case.logs.is_empty() {
                    out.push_str("/>\n");
                    continue;
                }
                out.push_str(">\n");
                match case.status {
                    Status::Failed => {
                        let message = xml(case.message.as_deref().unwrap_or_default());
                        let _ = writeln!(
                            out,
                            "      <failure message=\"{message}\">{message}</failure>"
                        );
                    }
                    Status::Filtered => {
                        out.push_str("      <skipped message=\"filtered out by --filter\"/>\n");
                    }
                    Status::Passed => {}
                }
                if !case.logs.is_empty() {
                    let lines: Vec<String> = case.logs.iter().map(Diagnostic::to_string).collect();
                    let _ = writeln!(
                        out,
                        "      <system-out>{}</system-out>",
                        xml(&lines.join("\n"))
                    );
                }
                out.push_str("    </testcase>\n");
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>");
        out
    }

    /// TAP version 14: the plan, `ok N - FILE: NAME` or `not ok N - FILE:
    /// NAME` per case (`# SKIP` when filtered out), each run case followed
    /// by a YAML block (`message` when it failed, `durationMs`, `logs`),
    /// and the summary as a comment.
    pub fn tap(&self) -> String {
        let mut out = format!("TAP version 14\n1..{}\n", self.cases.len());
        for (index, case) in self.cases.iter().enumerate() {
            let number = index + 1;
            let description = tap_description(&format!("{}: {}", case.file, case.name));
            match case.status {
                Status::Filtered => {
                    let _ = writeln!(
                        out,
                        "ok {number} - {description} # SKIP filtered out by --filter"
                    );
                    continue;
                }
                Status::Passed => {
                    let _ = writeln!(out, "ok {number} - {description}");
                }
                Status::Failed => {
                    let _ = writeln!(out, "not ok {number} - {description}");
                }
            }
            out.push_str("  ---\n");
            if let Some(message) = &case.message {
                let _ = writeln!(out, "  message: {}", yaml_string(message));
            }
            if let Some(duration) = case.duration {
                let _ = writeln!(out, "  durationMs: {:.3}", millis(duration));
            }
            if case.logs.is_empty() {
                out.push_str("  logs: []\n");
            } else {
                out.push_str("  logs:\n");
                for line in &case.logs {
                    let _ = writeln!(out, "    - {}", yaml_string(&line.to_string()));
                }
            }
            out.push_str("  ...\n");
        }
        let _ = write!(out, "# {}", self.summary());
        out
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn log_json(line: &Diagnostic) -> Value {
    let policy = match &line.source {
        crate::diagnostics::Source::Policy(name) => name.clone(),
        _ => None,
    };
    json!({
        "policy": policy,
        "level": line.level.as_log_str(),
        "message": line.message,
    })
}

/// `text` for an XML attribute or element: its controls escaped as
/// [`escape_message`] does (XML 1.0 cannot hold most of them at all), the
/// five special characters as entities, a newline as `&#10;` so that an
/// attribute keeps it.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push_str("&#10;");
        }
        for c in escape_message(line).chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                c => out.push(c),
            }
        }
    }
    out
}

/// A TAP description: one line, `#` and `\` escaped with a backslash (TAP
/// 14), so a name cannot end the description or add a directive.
fn tap_description(text: &str) -> String {
    escape_message(text)
        .replace('\\', "\\\\")
        .replace('#', "\\#")
}

/// A YAML double-quoted scalar (JSON's string syntax, which YAML reads),
/// of one printable line.
fn yaml_string(text: &str) -> String {
    Value::String(escape_message(text).into_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Level;

    fn report() -> Report {
        Report {
            cases: vec![
                CaseReport {
                    file: "a.toml".into(),
                    name: "passes".into(),
                    status: Status::Passed,
                    message: None,
                    duration: Some(Duration::from_micros(812)),
                    logs: vec![Diagnostic::policy(Some("p.wasm"), Level::Warning, "hi")],
                },
                CaseReport {
                    file: "a.toml".into(),
                    name: "fails <&> \"#1\"".into(),
                    status: Status::Failed,
                    message: Some("reason \"x\" does not contain \"y\"".into()),
                    duration: Some(Duration::from_micros(1500)),
                    logs: vec![],
                },
                CaseReport {
                    file: "b.json".into(),
                    name: "left out".into(),
                    status: Status::Filtered,
                    message: None,
                    duration: None,
                    logs: vec![],
                },
            ],
            filtered: true,
        }
    }

    #[test]
    fn text_lists_cases_and_counts_the_filtered_ones() {
        assert_eq!(
            report().text(false),
            "ok    a.toml: passes\n\
             FAIL  a.toml: fails <&> \"#1\": reason \"x\" does not contain \"y\"\n\
             1 passed, 1 failed, 1 filtered out"
        );
        assert_eq!(
            report().text(true),
            "ok    a.toml: passes (0.8 ms)\n      [policy p.wasm] warn: hi\n\
             FAIL  a.toml: fails <&> \"#1\" (1.5 ms): reason \"x\" does not contain \"y\"\n\
             1 passed, 1 failed, 1 filtered out"
        );
        let unfiltered = Report {
            filtered: false,
            ..report()
        };
        assert!(unfiltered.text(false).ends_with("\n1 passed, 1 failed"));
    }

    #[test]
    fn json_has_every_case_and_the_counts() {
        let value = report().json();
        assert_eq!(value["passed"], 1);
        assert_eq!(value["failed"], 1);
        assert_eq!(value["filtered"], 1);
        assert_eq!(value["cases"][0]["durationMs"], 0.812);
        assert_eq!(
            value["cases"][0]["logs"],
            json!([{"policy": "p.wasm", "level": "warn", "message": "hi"}])
        );
        assert_eq!(value["cases"][1]["status"], "failed");
        assert_eq!(value["cases"][2]["status"], "filtered");
        assert_eq!(value["cases"][2]["durationMs"], Value::Null);
    }

    #[test]
    fn junit_and_tap_escape_what_the_case_controls() {
        let junit = report().junit();
        assert!(
            junit.contains(r#"name="fails &lt;&amp;&gt; &quot;#1&quot;""#),
            "{junit}"
        );
        assert!(
            junit.contains(
                r#"<failure message="reason &quot;x&quot; does not contain &quot;y&quot;">"#
            ),
            "{junit}"
        );
        assert!(
            junit.contains("<system-out>[policy p.wasm] warn: hi</system-out>"),
            "{junit}"
        );
        assert_eq!(xml("a\nb\u{1b}"), "a&#10;b\\x1b");
        let tap = report().tap();
        assert!(tap.starts_with("TAP version 14\n1..3\nok 1 - a.toml: passes\n  ---\n  durationMs: 0.812\n  logs:\n    - \"[policy p.wasm] warn: hi\"\n  ...\n"), "{tap}");
        assert!(
            tap.contains("not ok 2 - a.toml: fails <&> \"\\#1\"\n"),
            "{tap}"
        );
        assert!(
            tap.contains("ok 3 - b.json: left out # SKIP filtered out by --filter\n"),
            "{tap}"
        );
        assert!(
            tap.ends_with("\n# 1 passed, 1 failed, 1 filtered out"),
            "{tap}"
        );
    }
}
