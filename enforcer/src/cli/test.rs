//! `enforcer test`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use enforcer::diagnostics::Diagnostics;
use enforcer::evaluation::Chain;
use enforcer::golden::watch::{POLL_INTERVAL, Snapshot};
use enforcer::golden::{
    CaseFile, CaseReport, LogCapture, Report, RunOptions, Status, read_case_file, run_case,
    selected,
};
use enforcer::policy::PolicyEngine;
use enforcer::printable::escape;
use policy_sdk::LogLevel;

use super::{EXIT_DENIED, EXIT_OK, EngineArgs, chain_for, print_stdout};

/// Run golden cases against policy modules: each case is a request and the
/// expected decision fields, denial reason, error or log lines.
///
/// Prints one line per case and a closing `N passed, N failed`; exits 1 if
/// any case failed, 2 if a case file cannot be read or is refused (a bad
/// field path or regex names the file, case and key). See
/// docs/policy-authoring.md for the case file format. With a config and no
/// --policy, each case is decided by the config's chain for its request's
/// tenant. Policy log lines are captured per case (down to debug unless
/// --policy-log says otherwise): printed with -v, in every --format other
/// than text, and checked by `expect.logs`.
#[derive(Debug, Args)]
#[command(after_help = "Example cases.toml:\n  \
    [[case]]\n  \
    name = \"free tier is small\"\n  \
    request = { tenant = \"acme\", labels = { tier = \"free\" }, command = [\"python3\"] }\n  \
    expect.allow = true\n  \
    expect.decision = { resources = { pids = { limit = 64 } } }\n  \
    expect.matches = { \"resources.memory.limit\" = \"^26\" }\n\n  \
    [[case]]\n  \
    name = \"free tier refuses compilers, and logs it\"\n  \
    request = { tenant = \"acme\", command = [\"gcc\", \"x.c\"] }\n  \
    expect.allow = false\n  \
    expect.absent = [\"hostname\", \"resources.hugepageLimits\", \"seccomp\"]\n  \
    expect.matches = { \"reason\" = \"^the free tier may not run\" }\n  \
    expect.logs = [\"free tier refused\", { level = \"info\", contains = \"gcc\" }]\n\n\
    Examples:\n  \
    enforcer test -p tiers.wasm cases.toml\n  \
    enforcer test -p tiers.wasm --filter 'free tier' -v cases.toml\n  \
    enforcer test -p tiers.wasm --format junit cases.toml > junit.xml\n  \
    enforcer test -p tiers.wasm --plan --watch cases.toml\n\n\
    Policy log lines are captured per case (down to debug unless --policy-log\n\
    sets a level): shown with -v and in json, junit and tap, checked by\n\
    expect.logs, never printed to stderr.\n\n\
    Exit status: 0 every case passed, 1 a case failed, 2 a case file or\n\
    option cannot be used (with --watch: only on a signal).")]
pub struct TestArgs {
    /// Policy module; repeat to chain [default: the config's chain, else
    /// the built-in policy].
    #[arg(long = "policy", short = 'p', value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// Case files (.toml or .json).
    #[arg(required = true, value_name = "CASE_FILE")]
    cases: Vec<PathBuf>,
    /// Run only the cases whose name, or `FILE: NAME`, contains PATTERN (a
    /// plain substring); repeat to run the cases that match any.
    #[arg(long, value_name = "PATTERN")]
    filter: Vec<String>,
    /// How to report: text (a line per case), json, junit (JUnit XML) or
    /// tap (TAP version 14).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// With text: each case's time and its policy log lines.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Check that each allow can be applied: on the case's `host` when it
    /// gives one, else on this machine; a decision that cannot be fails the
    /// case naming the policy (unless `expect.error` matches it).
    #[arg(long)]
    plan: bool,
    /// After the run, wait for a policy module or case file to change,
    /// then run again (re-reading them all); until killed.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
    Tap,
}

/// Runs `enforcer test`.
pub fn run(args: TestArgs) -> anyhow::Result<i32> {
    let mut engine_args = args.engine.clone();
    engine_args.policy_log.get_or_insert(LogLevel::Debug);
    let capture = Arc::new(LogCapture::new(super::diagnostics()));
    let engine = engine_args
        .engine()?
        .with_diagnostics(Diagnostics::new(capture.clone()));
    if !args.watch {
        let files = read_files(&args.cases)?;
        let (report, _) = run_files(&args, &engine, &capture, &files);
        print_report(&args, &report);
        return Ok(if report.failed() == 0 {
            EXIT_OK
        } else {
            EXIT_DENIED
        });
    }
    loop {
        // Taken before the files are read: a change made during the run
        // starts the next one.
        let mut snapshot = Snapshot::of(args.cases.iter().chain(&args.policies).cloned());
        match read_files(&args.cases) {
            Ok(files) => {
                let (report, chains) = run_files(&args, &engine, &capture, &files);
                print_report(&args, &report);
                // The config's chains name their modules' files.
                snapshot = snapshot.with(
                    chains
                        .values()
                        .flat_map(Chain::links)
                        .map(|link| PathBuf::from(link.policy.name()))
                        .filter(|path| path.is_file()),
                );
            }
            Err(error) => eprintln!(
                "enforcer: error: {}",
                enforcer::printable::escape_message(&super::describe_error(&error))
            ),
        }
        let changed = snapshot.wait_for_change(POLL_INTERVAL);
        print_stdout(&format!(
            "--- {} changed: running again ---",
            escape(&changed.display().to_string())
        ));
    }
}

fn read_files(paths: &[PathBuf]) -> anyhow::Result<Vec<(&Path, CaseFile)>> {
    paths
        .iter()
        .map(|path| Ok((path.as_path(), read_case_file(path)?)))
        .collect()
}

/// Runs every case of `files` (those `--filter` selects); the report and
/// the chains used, by tenant.
fn run_files(
    args: &TestArgs,
    engine: &PolicyEngine,
    capture: &LogCapture,
    files: &[(&Path, CaseFile)],
) -> (Report, HashMap<Option<String>, Chain>) {
    // One chain per tenant, loaded when a case first needs it.
    let mut chains: HashMap<Option<String>, Chain> = HashMap::new();
    let mut failures: HashMap<Option<String>, String> = HashMap::new();
    let mut chain_of = |tenant: Option<&str>| -> Result<Chain, String> {
        let key = tenant.map(str::to_string);
        if let Some(chain) = chains.get(&key) {
            return Ok(chain.clone());
        }
        if let Some(error) = failures.get(&key) {
            return Err(error.clone());
        }
        match chain_for(engine, &args.policies, tenant) {
            Ok(chain) => {
                chains.insert(key, chain.clone());
                Ok(chain)
            }
            Err(error) => {
                let message = super::describe_error(&error);
                failures.insert(key, message.clone());
                Err(message)
            }
        }
    };
    let options = RunOptions { plan: args.plan };
    let mut report = Report {
        cases: Vec::new(),
        filtered: !args.filter.is_empty(),
    };
    for (path, file) in files {
        let file_name = path.display().to_string();
        for case in &file.case {
            if !selected(&args.filter, &file_name, &case.name) {
                report.cases.push(CaseReport {
                    file: file_name.clone(),
                    name: case.name.clone(),
                    status: Status::Filtered,
                    message: None,
                    duration: None,
                    logs: Vec::new(),
                });
                continue;
            }
            let run = run_case(
                |request| chain_of(request.tenant.as_deref()),
                case,
                options,
                capture,
            );
            report.cases.push(CaseReport {
                file: file_name.clone(),
                name: case.name.clone(),
                status: if run.result.is_ok() {
                    Status::Passed
                } else {
                    Status::Failed
                },
                message: run.result.err().map(|failure| failure.to_string()),
                duration: Some(run.duration),
                logs: run.logs,
            });
        }
    }
    (report, chains)
}

fn print_report(args: &TestArgs, report: &Report) {
    let text = match args.format {
        Format::Text => report.text(args.verbose),
        Format::Json => report.json().to_string(),
        Format::Junit => report.junit(),
        Format::Tap => report.tap(),
    };
    print_stdout(&text);
}
