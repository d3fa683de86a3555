//! What one test's run means (read from libtest's own lines in its
//! output), and the report of the whole run in libtest's format, so that
//! tools reading `test result:` lines see nothing new.

use std::io::{self, Write};
use std::time::Duration;

use super::guest::{End, Outcome};
use crate::config::format_duration;

/// The env var that sets the per-test deadline.
pub const TIMEOUT_ENV: &str = "ENFORCER_TEST_TIMEOUT";

/// The line std prints after a panic; the guest has no environment, so
/// the advice cannot be followed.
const BACKTRACE_NOTE: &str =
    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Passed,
    /// It failed, panicked, trapped or timed out.
    Failed,
    /// libtest skipped it (`#[ignore]`, or `#[should_panic]` on a target
    /// without unwinding), with the reason if one was given.
    Ignored(Option<String>),
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The test's name.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// What the test wrote (stdout, stderr and log lines, in order), with
    /// libtest's own lines taken out.
    pub output: String,
    /// The runner's one line about the ending (a trap, the deadline), if
    /// any.
    pub note: Option<String>,
}

/// Reads the result of test `name` from its run alone (`NAME --exact
/// --nocapture --test-threads=1`), which was given `timeout`.
pub fn interpret(name: &str, outcome: &Outcome, timeout: Duration) -> TestResult {
    let text = outcome.output.as_str();
    // libtest's `test NAME ... `, or `test NAME - should panic ... `.
    let framed = text
        .strip_prefix("\nrunning 1 test\n")
        .and_then(|rest| rest.strip_prefix(&format!("test {name}")))
        .map(|rest| rest.strip_prefix(" - should panic").unwrap_or(rest))
        .and_then(|rest| rest.strip_prefix(" ... "));
    let body = framed.unwrap_or(text);
    let result = |status, output: &str, note: Option<String>| TestResult {
        name: name.to_string(),
        status,
        output: tidy(output),
        note,
    };
    match &outcome.end {
        End::TimedOut => result(
            Status::Failed,
            body,
            Some(format!(
                "{name}: timed out after {} ({TIMEOUT_ENV} or --timeout to change)",
                format_duration(timeout)
            )),
        ),
        End::Trapped {
            message,
            unreachable,
        } => {
            let note = if *unreachable && body.contains(" panicked at ") {
                format!("note: the panic aborted the test ({message})")
            } else {
                format!("error: {name} trapped: {message}")
            };
            result(Status::Failed, body, Some(note))
        }
        End::Exited(code) => {
            let summary = framed.and_then(|body| {
                let at = body.rfind("\ntest result: ")?;
                let counts = Counts::parse(&body[at + 1..])?;
                Some((&body[..at], counts))
            });
            let not_reported = |why: String| {
                result(
                    Status::Failed,
                    body,
                    Some(format!(
                        "error: {name} {why} (exit status {code}) before libtest reported a result"
                    )),
                )
            };
            let Some((body, counts)) = summary else {
                return not_reported("ended the test binary".into());
            };
            if counts.passed == 1 {
                result(
                    Status::Passed,
                    body.strip_suffix("ok\n").unwrap_or(body),
                    None,
                )
            } else if counts.ignored == 1 {
                let line = body.trim_end_matches('\n');
                let (before, last) = line.rsplit_once('\n').unwrap_or(("", line));
                let reason = last
                    .strip_prefix("ignored, ")
                    .map(str::to_string)
                    .filter(|reason| !reason.is_empty());
                result(Status::Ignored(reason), before, None)
            } else if counts.failed == 1 {
                let (own, section) = match body.rfind("FAILED\n\nfailures:\n") {
                    Some(at) => (&body[..at], &body[at..]),
                    None => (body, ""),
                };
                let header = format!("---- {name} stdout ----\n");
                let message = section
                    .split_once(&header)
                    .map(|(_, tail)| tail.split("\n\nfailures:\n").next().unwrap_or(tail))
                    .unwrap_or("");
                result(Status::Failed, &format!("{own}{message}"), None)
            } else {
                not_reported(format!("did not run (no test is named exactly {name})"))
            }
        }
    }
}

/// Leaves out std's backtrace advice and trailing blank lines.
fn tidy(output: &str) -> String {
    let mut text: String = output
        .split_inclusive('\n')
        .filter(|line| line.trim_end() != BACKTRACE_NOTE)
        .collect();
    while text.ends_with("\n\n") {
        text.pop();
    }
    text
}

/// The counts of a `test result:` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    /// Reads `test result: ok. 1 passed; 0 failed; 0 ignored; ...`.
    fn parse(line: &str) -> Option<Counts> {
        let line = line.lines().next()?;
        let (_, counts) = line.split_once(". ")?;
        let mut result = Counts::default();
        for part in counts.split("; ") {
            let Some((number, what)) = part.split_once(' ') else {
                continue;
            };
            let Ok(number) = number.parse() else {
                continue;
            };
            match what {
                "passed" => result.passed = number,
                "failed" => result.failed = number,
                "ignored" => result.ignored = number,
                _ => {}
            }
        }
        Some(result)
    }
}

/// libtest's widest line of progress characters in quiet mode.
const QUIET_COLUMNS: usize = 88;

/// Writes the report as the tests end, in libtest's pretty or terse
/// format.
pub struct Reporter<'a> {
    out: &'a mut dyn Write,
    quiet: bool,
    nocapture: bool,
    show_output: bool,
    total: usize,
    done: usize,
    column: usize,
    results: Vec<TestResult>,
}

impl<'a> Reporter<'a> {
    /// A reporter writing to `out`.
    pub fn new(out: &'a mut dyn Write, quiet: bool, nocapture: bool, show_output: bool) -> Self {
        Reporter {
            out,
            quiet,
            nocapture,
            show_output,
            total: 0,
            done: 0,
            column: 0,
            results: Vec::new(),
        }
    }

    /// `running N tests`.
    pub fn start(&mut self, total: usize) -> io::Result<()> {
        self.total = total;
        let noun = if total == 1 { "test" } else { "tests" };
        writeln!(self.out, "\nrunning {total} {noun}")?;
        self.out.flush()
    }

    /// Before test `name` runs: its `test NAME ... ` (flushed, so a slow
    /// test shows which it is).
    pub fn test_started(&mut self, name: &str) -> io::Result<()> {
        if !self.quiet {
            write!(self.out, "test {name} ... ")?;
            self.out.flush()?;
        }
        Ok(())
    }

    /// After a test: its result word (and its output with --nocapture).
    pub fn test_ended(&mut self, result: TestResult) -> io::Result<()> {
        if self.quiet {
            self.quiet_result(&result)?;
        } else {
            if self.nocapture {
                self.out.write_all(result.output.as_bytes())?;
                if !result.output.is_empty() && !result.output.ends_with('\n') {
                    writeln!(self.out)?;
                }
            }
            match &result.status {
                Status::Passed => writeln!(self.out, "ok")?,
                Status::Failed => writeln!(self.out, "FAILED")?,
                Status::Ignored(None) => writeln!(self.out, "ignored")?,
                Status::Ignored(Some(reason)) => writeln!(self.out, "ignored, {reason}")?,
            }
        }
        self.out.flush()?;
        self.done += 1;
        self.results.push(result);
        Ok(())
    }

    /// One character per test, a line per failure (libtest's terse).
    fn quiet_result(&mut self, result: &TestResult) -> io::Result<()> {
        let mark = match result.status {
            Status::Passed => ".",
            Status::Ignored(_) => "i",
            Status::Failed => {
                if self.column > 0 {
                    writeln!(self.out, " {}/{}", self.done, self.total)?;
                    self.column = 0;
                }
                return writeln!(self.out, "{} --- FAILED", result.name);
            }
        };
        self.out.write_all(mark.as_bytes())?;
        self.column += 1;
        if self.column == QUIET_COLUMNS {
            writeln!(self.out, " {}/{}", self.done + 1, self.total)?;
            self.column = 0;
        }
        Ok(())
    }

    /// The successes (with --show-output), the failures and the summary
    /// line; returns whether every test passed.
    pub fn finish(&mut self, filtered_out: usize, elapsed: Duration) -> io::Result<bool> {
        let failed = self.count(|status| *status == Status::Failed);
        let passed = self.count(|status| *status == Status::Passed);
        let ignored = self.count(|status| matches!(status, Status::Ignored(_)));
        if self.show_output && !self.nocapture {
            self.section("successes", |status| *status == Status::Passed, false)?;
        }
        if failed > 0 {
            self.section(
                "failures",
                |status| *status == Status::Failed,
                self.nocapture,
            )?;
        }
        let verdict = if failed == 0 { "ok" } else { "FAILED" };
        writeln!(
            self.out,
            "\ntest result: {verdict}. {passed} passed; {failed} failed; {ignored} ignored; \
             0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
            elapsed.as_secs_f64()
        )?;
        self.out.flush()?;
        Ok(failed == 0)
    }

    fn count(&self, which: impl Fn(&Status) -> bool) -> usize {
        self.results
            .iter()
            .filter(|result| which(&result.status))
            .count()
    }

    /// `failures:` (or `successes:`): each test's output under
    /// `---- NAME stdout ----`, then the sorted names. With `shown`, the
    /// output was printed already and only the runner's note is.
    fn section(
        &mut self,
        title: &str,
        which: impl Fn(&Status) -> bool,
        shown: bool,
    ) -> io::Result<()> {
        writeln!(self.out, "\n{title}:")?;
        let mut names = Vec::new();
        let mut entries = String::new();
        for result in self.results.iter().filter(|result| which(&result.status)) {
            names.push(result.name.as_str());
            let mut text = if shown {
                String::new()
            } else {
                result.output.clone()
            };
            if let Some(note) = &result.note {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(note);
                text.push('\n');
            }
            if !text.is_empty() {
                entries.push_str(&format!("---- {} stdout ----\n{text}\n", result.name));
            }
        }
        if !entries.is_empty() {
            writeln!(self.out)?;
            self.out.write_all(entries.as_bytes())?;
        }
        writeln!(self.out, "\n{title}:")?;
        names.sort_unstable();
        for name in names {
            writeln!(self.out, "    {name}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(end: End, output: &str) -> Outcome {
        Outcome {
            end,
            output: output.into(),
        }
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[test]
    fn a_pass_keeps_only_the_tests_output() {
        let text = "\nrunning 1 test\ntest a::b ... [policy] info: hi\nout\nok\n\n\
                    test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 4 filtered out; \
                    finished in 0.00s\n\n";
        let result = interpret("a::b", &outcome(End::Exited(0), text), TIMEOUT);
        assert_eq!(result.status, Status::Passed);
        assert_eq!(result.output, "[policy] info: hi\nout\n");
        assert_eq!(result.note, None);
    }

    #[test]
    fn an_ignored_test_keeps_its_reason() {
        let text = "\nrunning 1 test\ntest t ... ignored, slow\n\n\
                    test result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; \
                    finished in 0.00s\n\n";
        let result = interpret("t", &outcome(End::Exited(0), text), TIMEOUT);
        assert_eq!(result.status, Status::Ignored(Some("slow".into())));
        assert_eq!(result.output, "");
        // What libtest says of a #[should_panic] test without unwinding.
        let text = text.replace("t ... ignored, slow", "t - should panic ... ignored");
        let result = interpret("t", &outcome(End::Exited(0), &text), TIMEOUT);
        assert_eq!(result.status, Status::Ignored(None));
    }

    #[test]
    fn a_panic_keeps_its_message_and_loses_the_backtrace_advice() {
        let text = "\nrunning 1 test\ntest t ... log\n\nthread 'main' (1) panicked at src/lib.rs:3:5:\n\
                    boom\n\
                    note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let end = End::Trapped {
            message: "wasm trap: wasm `unreachable` instruction executed".into(),
            unreachable: true,
        };
        let result = interpret("t", &outcome(end, text), TIMEOUT);
        assert_eq!(result.status, Status::Failed);
        assert_eq!(
            result.output,
            "log\n\nthread 'main' (1) panicked at src/lib.rs:3:5:\nboom\n"
        );
        assert_eq!(
            result.note.as_deref(),
            Some(
                "note: the panic aborted the test (wasm trap: wasm `unreachable` instruction executed)"
            )
        );
    }

    #[test]
    fn a_timeout_names_the_test_and_the_knobs() {
        let result = interpret(
            "t",
            &outcome(End::TimedOut, "\nrunning 1 test\ntest t ... "),
            TIMEOUT,
        );
        assert_eq!(result.status, Status::Failed);
        assert_eq!(
            result.note.as_deref(),
            Some("t: timed out after 10s (ENFORCER_TEST_TIMEOUT or --timeout to change)")
        );
    }

    #[test]
    fn a_returned_error_keeps_libtests_message() {
        let text = "\nrunning 1 test\ntest t ... Error: \"bad\"\nFAILED\n\nfailures:\n\n\
                    ---- t stdout ----\nnote: the test returned an error\n\n\nfailures:\n    t\n\n\
                    test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; \
                    finished in 0.00s\n\n";
        let result = interpret("t", &outcome(End::Exited(101), text), TIMEOUT);
        assert_eq!(result.status, Status::Failed);
        assert_eq!(
            result.output,
            "Error: \"bad\"\nnote: the test returned an error\n"
        );
    }

    #[test]
    fn exiting_before_a_result_is_a_failure() {
        let text = "\nrunning 1 test\ntest t ... ";
        let result = interpret("t", &outcome(End::Exited(0), text), TIMEOUT);
        assert_eq!(result.status, Status::Failed);
        assert!(
            result
                .note
                .as_deref()
                .is_some_and(|note| note.contains("exit status 0")),
            "{result:?}"
        );
    }

    fn report(quiet: bool, results: Vec<TestResult>) -> String {
        let mut out = Vec::new();
        let mut reporter = Reporter::new(&mut out, quiet, false, false);
        reporter.start(results.len()).expect("writes");
        for result in results {
            reporter.test_started(&result.name).expect("writes");
            reporter.test_ended(result).expect("writes");
        }
        reporter
            .finish(1, Duration::from_millis(120))
            .expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    fn result(name: &str, status: Status, output: &str, note: Option<&str>) -> TestResult {
        TestResult {
            name: name.into(),
            status,
            output: output.into(),
            note: note.map(str::to_string),
        }
    }

    #[test]
    fn the_report_is_libtests() {
        let results = vec![
            result("b", Status::Failed, "boom\n", Some("note: aborted")),
            result("a", Status::Passed, "hidden\n", None),
            result("c", Status::Ignored(Some("slow".into())), "", None),
        ];
        assert_eq!(
            report(false, results.clone()),
            "\nrunning 3 tests\ntest b ... FAILED\ntest a ... ok\ntest c ... ignored, slow\n\
             \nfailures:\n\n---- b stdout ----\nboom\nnote: aborted\n\n\nfailures:\n    b\n\
             \ntest result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 1 filtered out; \
             finished in 0.12s\n\n"
        );
        let quiet = report(true, results);
        assert!(
            quiet.starts_with("\nrunning 3 tests\nb --- FAILED\n.i\nfailures:"),
            "{quiet}"
        );
    }
}
