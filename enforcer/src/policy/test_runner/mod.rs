//! `enforcer test-runner`: runs a `wasm32-wasip1` test binary (a policy's
//! `cargo test` harness) in wasmtime, so policies are unit-tested inside the
//! engine that runs them. The guest gets WASI with stdout, stderr and
//! arguments only: no filesystem, no environment, no network. It may also
//! import `enforcer.log`.
//!
//! On `wasm32-wasip1` a panic aborts the whole binary, and libtest's output
//! capture would lose its message; a loop would hang the run. So the
//! runner lists the tests (`--list --format terse`, with the caller's
//! filters), then runs each alone in a fresh instance of the once-compiled
//! module (`NAME --exact --nocapture --test-threads=1`), its stdout,
//! stderr and log lines captured together, under a deadline
//! ([`DEFAULT_TIMEOUT`], `--timeout`, [`TIMEOUT_ENV`]). It reports them in
//! libtest's format, showing a failed test's output (the panic message
//! and location, its log lines, the trap in one line) and exits 101 when
//! one failed. Arguments it does not handle (`--list`, `--help`, `--bench`,
//! `--format json`, ...) go to one instance, as libtest alone would run.

mod args;
mod guest;
mod report;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

pub use args::{ArgsError, TIMEOUT_FLAG};
pub use report::TIMEOUT_ENV;

use crate::config::parse_duration;
use crate::diagnostics::{Diagnostic, Diagnostics, Level};
use args::{Mode, Selection};
use guest::{End, Guest, Output};
use report::Reporter;

/// Exit status of a failed run (as a failed Rust test binary's).
pub const TRAP_EXIT_CODE: i32 = 101;
/// A test's deadline unless `--timeout` or [`TIMEOUT_ENV`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the runner was asked to run, besides the harness arguments.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--timeout` given before the test binary.
    pub timeout: Option<Duration>,
    /// The value of [`TIMEOUT_ENV`], if set.
    pub timeout_env: Option<String>,
}

/// Runs the WASI command module at `wasm` with the harness arguments
/// `args` (not including the program name) and returns the exit status.
/// The report goes to `out`; runner errors and cache warnings to
/// `diagnostics` (and, when the run is passed through, the guest's log
/// lines; its stdout and stderr are then the process's).
pub fn run(
    wasm: &Path,
    args: &[String],
    settings: &Settings,
    out: &mut dyn Write,
    diagnostics: &Diagnostics,
) -> anyhow::Result<i32> {
    let invocation = args::parse(args)?;
    let timeout = match invocation.timeout.or(settings.timeout) {
        Some(timeout) => timeout,
        None => match settings.timeout_env.as_deref() {
            Some(value) => parse_duration(value)
                .map_err(|why| anyhow::anyhow!("{TIMEOUT_ENV}={value:?}: {why}"))?,
            None => DEFAULT_TIMEOUT,
        },
    };
    let tick = (timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(100));
    let guest = Guest::load(wasm, tick, diagnostics)?;
    match invocation.mode {
        Mode::PassThrough => pass_through(&guest, &invocation.args, out, diagnostics),
        Mode::Isolated(selection) => run_each(
            &guest,
            &selection,
            timeout,
            out,
            diagnostics,
            &invocation.args,
        ),
    }
}

/// Runs the binary once with `args`, as libtest alone would (no deadline).
fn pass_through(
    guest: &Guest,
    args: &[String],
    out: &mut dyn Write,
    diagnostics: &Diagnostics,
) -> anyhow::Result<i32> {
    let outcome = guest.run(args, Output::Inherit, None)?;
    let code = match outcome.end {
        End::Exited(code) => code,
        End::TimedOut => TRAP_EXIT_CODE,
        End::Trapped { message, .. } => {
            diagnostics.emit(Diagnostic::test_runner(
                Level::Error,
                format!("{} trapped: {message}", guest.program()),
            ));
            TRAP_EXIT_CODE
        }
    };
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        write!(out, "{}", help())?;
    }
    Ok(code)
}

/// What `--help` adds to libtest's.
fn help() -> String {
    format!(
        "\nenforcer test-runner runs each test alone in a fresh Wasm instance, under a deadline:\n    \
         {TIMEOUT_FLAG} DURATION  stop a test after DURATION (e.g. 30s, 500ms; default {}, or ${TIMEOUT_ENV})\n\
         --list, --help, --bench, --format json|junit and options it does not know run the binary once, \
         without a deadline.\n",
        crate::config::format_duration(DEFAULT_TIMEOUT)
    )
}

/// Lists the selected tests, runs each alone and reports them.
fn run_each(
    guest: &Guest,
    selection: &Selection,
    timeout: Duration,
    out: &mut dyn Write,
    diagnostics: &Diagnostics,
    original: &[String],
) -> anyhow::Result<i32> {
    let Some(names) = list(guest, &selection.list_args())? else {
        // Not a libtest harness (or one that lists differently): run it as
        // it is.
        diagnostics.emit(Diagnostic::test_runner(
            Level::Warning,
            format!(
                "{} did not list its tests as libtest does; running it once, without a deadline",
                guest.program()
            ),
        ));
        return pass_through(guest, original, out, diagnostics);
    };
    let filtered_out = if selection.narrows() {
        list(guest, &args::list_all_args())?.map_or(0, |all| all.len().saturating_sub(names.len()))
    } else {
        0
    };

    let started = Instant::now();
    let mut reporter = Reporter::new(
        out,
        selection.quiet,
        selection.nocapture,
        selection.show_output,
    );
    reporter.start(names.len())?;
    for name in &names {
        reporter.test_started(name)?;
        let outcome = guest.run(&selection.test_args(name), Output::Capture, Some(timeout))?;
        reporter.test_ended(report::interpret(name, &outcome, timeout))?;
    }
    let passed = reporter.finish(filtered_out, started.elapsed())?;
    Ok(if passed { 0 } else { TRAP_EXIT_CODE })
}

/// The tests a listing with `args` names, or `None` when the binary does
/// not answer as libtest does (`NAME: test` lines, exit status 0).
fn list(guest: &Guest, args: &[String]) -> anyhow::Result<Option<Vec<String>>> {
    let outcome = guest.run(args, Output::Capture, None)?;
    if outcome.end != End::Exited(0) {
        return Ok(None);
    }
    Ok(outcome
        .output
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.strip_suffix(": test")
                .or_else(|| line.strip_suffix(": benchmark"))
                .map(str::to_string)
        })
        .collect())
}
