//! The test harness's arguments: which of libtest's options the runner
//! handles itself (filters, ignored tests, output capture), which make it
//! hand the whole run to libtest in one instance (`--list`, `--help`,
//! `--bench`, `--format json`, anything it does not know), and its own
//! `--timeout`.

use std::time::Duration;

use crate::config::parse_duration;

/// The runner's own option among libtest's: the per-test deadline.
pub const TIMEOUT_FLAG: &str = "--timeout";

/// A test harness argument the runner cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// `--timeout` without a value.
    #[error("--timeout needs a value, such as 30s or 500ms")]
    MissingTimeout,
    /// `--timeout` with a value that is not a duration.
    #[error("--timeout {value}: {why}")]
    BadTimeout {
        /// The value given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
}

/// What a run of the test binary should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Run the binary once with the arguments, its output going straight
    /// to the terminal (as libtest alone would).
    PassThrough,
    /// List the tests, then run each in a fresh instance.
    Isolated(Selection),
}

/// The test harness arguments, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// What to do.
    pub mode: Mode,
    /// `--timeout` among the harness arguments, if given.
    pub timeout: Option<Duration>,
    /// The harness arguments without `--timeout`.
    pub args: Vec<String>,
}

/// Which tests an isolated run runs, and how it reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Filters and the options that narrow the list (`--exact`, `--skip`,
    /// `--exclude-should-panic`), passed to the listing as given.
    pub filters: Vec<String>,
    /// `--ignored` or `--include-ignored`, passed to the listing and to
    /// every test.
    pub ignored: Option<String>,
    /// `--nocapture`: show every test's output as it ends.
    pub nocapture: bool,
    /// `--show-output`: show passing tests' output after the run.
    pub show_output: bool,
    /// `-q`, `--quiet`, `--format terse`: one character per test.
    pub quiet: bool,
}

impl Selection {
    /// Whether the listing leaves tests out (so that a second, unfiltered
    /// listing is needed to count them).
    pub fn narrows(&self) -> bool {
        !self.filters.is_empty() || self.ignored.as_deref() == Some("--ignored")
    }

    /// Arguments of the listing of the selected tests.
    pub fn list_args(&self) -> Vec<String> {
        let mut args = list_all_args();
        args.extend(self.filters.iter().cloned());
        args.extend(self.ignored.iter().cloned());
        args
    }

    /// Arguments of the run of test `name` alone.
    pub fn test_args(&self, name: &str) -> Vec<String> {
        let mut args: Vec<String> = [name, "--exact", "--nocapture", "--test-threads=1"]
            .into_iter()
            .map(str::to_string)
            .collect();
        args.extend(self.ignored.iter().cloned());
        args
    }
}

/// Arguments of the listing of every test.
pub fn list_all_args() -> Vec<String> {
    ["--list", "--format", "terse"]
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// libtest options that take a value, as the next argument or after `=`.
const WITH_VALUE: &[&str] = &[
    "--skip",
    "--test-threads",
    "--color",
    "--format",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

/// Splits the harness arguments `args` (cargo's, after the test binary).
pub fn parse(args: &[String]) -> Result<Invocation, ArgsError> {
    let mut timeout = None;
    let mut rest = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = if arg == TIMEOUT_FLAG {
            Some(iter.next().ok_or(ArgsError::MissingTimeout)?.as_str())
        } else {
            arg.strip_prefix("--timeout=")
        };
        match value {
            Some(value) => {
                timeout = Some(parse_duration(value).map_err(|why| ArgsError::BadTimeout {
                    value: value.to_string(),
                    why,
                })?);
            }
            None => rest.push(arg.clone()),
        }
    }
    let mode = match select(&rest) {
        Some(selection) => Mode::Isolated(selection),
        None => Mode::PassThrough,
    };
    Ok(Invocation {
        mode,
        timeout,
        args: rest,
    })
}

/// The selection `args` ask for, or `None` when they ask for something the
/// runner leaves to libtest.
fn select(args: &[String]) -> Option<Selection> {
    let mut selection = Selection::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if !arg.starts_with('-') {
            selection.filters.push(arg.clone());
            continue;
        }
        let (option, inline) = match arg.split_once('=') {
            Some((option, value)) if arg.starts_with("--") => (option, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let value = if WITH_VALUE.contains(&option) {
            match inline {
                Some(value) => Some(value),
                None => Some(iter.next()?.clone()),
            }
        } else if inline.is_some() {
            return None;
        } else {
            None
        };
        match (option, value.as_deref()) {
            ("--ignored" | "--include-ignored", _) => {
                if selection
                    .ignored
                    .as_deref()
                    .is_some_and(|seen| seen != option)
                {
                    // libtest refuses the pair; let it say so.
                    return None;
                }
                selection.ignored = Some(option.to_string());
            }
            ("--exact" | "--exclude-should-panic", _) => selection.filters.push(arg.clone()),
            ("--skip", Some(value)) => {
                selection.filters.push("--skip".into());
                selection.filters.push(value.to_string());
            }
            ("--nocapture" | "--no-capture", _) => selection.nocapture = true,
            ("--show-output", _) => selection.show_output = true,
            ("-q" | "--quiet", _) | ("--format", Some("terse")) => selection.quiet = true,
            ("--format", Some("pretty")) => selection.quiet = false,
            // Tests run one at a time, each alone, without colour.
            ("--test" | "--test-threads" | "--color", _) => {}
            _ => return None,
        }
    }
    Some(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| arg.to_string()).collect()
    }

    fn selection(args: &[&str]) -> Selection {
        match parse(&strings(args)).expect("parses").mode {
            Mode::Isolated(selection) => selection,
            Mode::PassThrough => panic!("passed through: {args:?}"),
        }
    }

    fn passes_through(args: &[&str]) -> Vec<String> {
        let invocation = parse(&strings(args)).expect("parses");
        match invocation.mode {
            Mode::PassThrough => invocation.args,
            Mode::Isolated(selection) => panic!("isolated: {selection:?}"),
        }
    }

    #[test]
    fn filters_and_ignored_go_to_the_listing_and_each_test() {
        let selection = selection(&["sdk::", "--exact", "--skip=slow", "--ignored"]);
        assert_eq!(
            selection.list_args(),
            strings(&[
                "--list",
                "--format",
                "terse",
                "sdk::",
                "--exact",
                "--skip",
                "slow",
                "--ignored"
            ])
        );
        assert_eq!(
            selection.test_args("a::b"),
            strings(&[
                "a::b",
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "--ignored"
            ])
        );
        assert!(selection.narrows());
        assert!(!self::selection(&["--include-ignored"]).narrows());
        assert!(!self::selection(&[]).narrows());
    }

    #[test]
    fn output_options_are_the_runners() {
        let selection = selection(&["--nocapture", "--show-output", "--test-threads", "4"]);
        assert!(selection.nocapture && selection.show_output && !selection.quiet);
        assert!(self::selection(&["--quiet"]).quiet);
        assert!(self::selection(&["--format=terse"]).quiet);
        assert!(
            self::selection(&["--color", "always", "--test"])
                .filters
                .is_empty()
        );
    }

    #[test]
    fn what_the_runner_does_not_handle_passes_through_verbatim() {
        for args in [
            &["--list"][..],
            &["--help"],
            &["-h"],
            &["--bench"],
            &["--format", "json", "-Z", "unstable-options"],
            &["one", "--two"],
            &["--ignored", "--include-ignored"],
            &["--skip"],
        ] {
            assert_eq!(passes_through(args), strings(args));
        }
    }

    #[test]
    fn the_timeout_is_taken_out_wherever_it_stands() {
        let invocation = parse(&strings(&["--list", "--timeout", "2s"])).expect("parses");
        assert_eq!(invocation.timeout, Some(Duration::from_secs(2)));
        assert_eq!(invocation.mode, Mode::PassThrough);
        assert_eq!(invocation.args, strings(&["--list"]));
        let invocation = parse(&strings(&["--timeout=500ms", "name"])).expect("parses");
        assert_eq!(invocation.timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            parse(&strings(&["--timeout"])),
            Err(ArgsError::MissingTimeout)
        );
        let error = parse(&strings(&["--timeout", "soon"])).expect_err("refused");
        assert!(error.to_string().starts_with("--timeout soon: "), "{error}");
    }
}
