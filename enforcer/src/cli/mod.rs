//! Command-line interface: argument parsing and output. Logic worth testing
//! lives in the library; this layer turns results into text, JSON and exit
//! codes.

mod audit;
mod check;
mod eval;
mod inspect;
mod request_args;
mod run;
mod sandbox;
mod test;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use enforcer::policy::{
    Allocation, CompileBudget, CompileCaps, Compiler, EngineOptions, Policy, PolicyEngine,
};
use policy_sdk::{LogLevel, User};

/// Exit status: allowed, or all tests passed.
pub const EXIT_OK: i32 = 0;
/// Exit status: denied, or a test failed.
pub const EXIT_DENIED: i32 = 1;
/// Exit status: any error (bad policy, bad input, bad decision).
pub const EXIT_ERROR: i32 = 2;

/// Evaluate WebAssembly isolation policies and enforce their decisions.
///
/// A policy is a Wasm module that receives a request (tenant, user, command,
/// labels, host facts) and returns a decision: allow or deny, the Linux
/// namespaces to create or join, cgroup limits and the workload's
/// privileges, in the OCI runtime spec's shape. `enforcer run` applies it
/// and runs the command in that sandbox. Without --policy, the built-in
/// default policy is used.
#[derive(Debug, Parser)]
#[command(name = "enforcer", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    enforcer run -- /bin/sh -c 'echo hello'\n  \
    enforcer run --detach --id web -- sleep 600; enforcer ps; enforcer delete web\n  \
    enforcer eval -- /bin/sh -c 'echo hello'\n  \
    enforcer eval --policy tiers.wasm --tenant acme --label tier=pro -- python3 job.py\n  \
    enforcer inspect tiers.wasm\n  \
    enforcer test --policy tiers.wasm cases.toml\n\n\
    Exit status: 0 allowed (or tests passed), 1 denied (or a test failed), 2 error.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate a request and run the command in the sandbox it describes.
    Run(run::RunArgs),
    /// List sandboxes.
    Ps(sandbox::PsArgs),
    /// Run a command inside a running sandbox.
    Exec(sandbox::ExecArgs),
    /// Show a sandbox's cgroup usage.
    Stats(sandbox::StatsArgs),
    /// Send a signal to a sandbox.
    Kill(sandbox::KillArgs),
    /// Kill a sandbox and remove its cgroups and state.
    Delete(sandbox::DeleteArgs),
    /// Remove sandboxes whose processes or whose `enforcer run` are gone.
    Gc(sandbox::GcArgs),
    Audit(audit::AuditArgs),
    /// Report what this host offers (cgroups, namespaces, hugepages,
    /// privileges).
    Check(check::CheckArgs),
    /// Evaluate a request and print the validated decision as JSON.
    Eval(eval::EvalArgs),
    /// Show a policy module's ABI version, imports, exports, metadata,
    /// size, digest and cache state.
    Inspect(inspect::InspectArgs),
    /// Run golden cases (TOML or JSON) against policy modules.
    Test(test::TestArgs),
    /// Run a wasm32-wasip1 test binary in wasmtime (a cargo runner).
    ///
    /// WASI is limited to stdout, stderr and arguments: no filesystem, no
    /// environment, no network. Configure it in .cargo/config.toml:
    /// [target.wasm32-wasip1] runner = ["enforcer", "test-runner"]
    TestRunner(TestRunnerArgs),
    /// Compile one policy module under a time and memory budget (internal:
    /// the enforcer runs itself this way on a cache miss).
    #[command(name = enforcer::policy::compiler::CHILD_COMMAND, hide = true)]
    CompilePolicy(CompilePolicyArgs),
}

#[derive(Debug, Args)]
struct CompilePolicyArgs {
    /// What the parent passes: engine settings and the budget.
    spec: String,
}

#[derive(Debug, Args)]
struct TestRunnerArgs {
    /// The test binary (.wasm).
    wasm: PathBuf,
    /// Arguments for the test harness (e.g. a test name filter).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Settings of the Wasm sandbox policies run in.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Wall-clock budget of one evaluation, e.g. 100ms, 2s.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    deadline: Duration,
    /// Linear-memory cap of a policy instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    memory_cap: usize,
    /// Largest response a policy may return, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    output_cap: usize,
    /// Largest policy module accepted, in MiB (checked before compiling).
    #[arg(long, value_name = "MIB", default_value_t = CompileCaps::default().module_bytes >> 20)]
    max_module_size: usize,
    /// Most functions a policy module may define (checked before compiling).
    #[arg(long, value_name = "N", default_value_t = CompileCaps::default().functions)]
    max_functions: u32,
    /// Largest function body of a policy module, in KiB (checked before
    /// compiling).
    #[arg(long, value_name = "KIB", default_value_t = CompileCaps::default().function_bytes >> 10)]
    max_function_size: usize,
    /// Most locals one function of a policy module may declare (checked
    /// before compiling).
    #[arg(long, value_name = "N", default_value_t = CompileCaps::default().locals)]
    max_locals: u32,
    /// CPU seconds compiling one policy module may use.
    #[arg(long, value_name = "SECONDS", default_value_t = CompileBudget::default().cpu_seconds,
          value_parser = clap::value_parser!(u64).range(1..))]
    compile_time: u64,
    /// Address space the process compiling one policy module may use, in
    /// MiB.
    #[arg(long, value_name = "MIB", default_value_t = CompileBudget::default().memory_bytes >> 20)]
    compile_memory: usize,
    /// Directory for compiled policy code [default: /var/cache/enforcer for
    /// root, else $XDG_CACHE_HOME/enforcer].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile policies every time; read and write no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Lowest policy log level printed to stderr: error, warn, info, debug.
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = parse_log_level)]
    policy_log: LogLevel,
}

impl EngineArgs {
    /// Engine options for a one-shot run (on-demand allocation).
    pub fn engine(&self) -> anyhow::Result<PolicyEngine> {
        let mut options = EngineOptions {
            deadline: self.deadline,
            memory_cap: self.memory_cap.saturating_mul(1 << 20),
            output_cap: self.output_cap.saturating_mul(1 << 10),
            allocation: Allocation::OnDemand,
            log_level: self.policy_log,
            compile_caps: CompileCaps {
                module_bytes: self.max_module_size.saturating_mul(1 << 20),
                functions: self.max_functions,
                function_bytes: self.max_function_size.saturating_mul(1 << 10),
                locals: self.max_locals,
            },
            compiler: Compiler::this_executable(),
            compile_budget: CompileBudget {
                cpu_seconds: self.compile_time,
                memory_bytes: self.compile_memory.saturating_mul(1 << 20),
            },
            ..EngineOptions::default()
        };
        if self.no_cache {
            options.cache_dir = None;
        } else if let Some(dir) = &self.cache_dir {
            options.cache_dir = Some(dir.clone());
        }
        PolicyEngine::new(options)
    }
}

/// Loads `paths`, or the embedded default policy when there are none.
pub fn load_policies(engine: &PolicyEngine, paths: &[PathBuf]) -> anyhow::Result<Vec<Policy>> {
    if paths.is_empty() {
        return Ok(vec![engine.load_bytes(
            enforcer::embedded::DEFAULT_POLICY_NAME,
            enforcer::embedded::DEFAULT_POLICY,
        )?]);
    }
    paths
        .iter()
        .map(|path| engine.load_file(path).map_err(anyhow::Error::from))
        .collect()
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 100ms or 2s"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "us" => Duration::from_micros(value),
        _ => return Err(format!("{text:?}: the unit must be us, ms or s")),
    };
    if duration.is_zero() {
        return Err("the deadline must be positive".into());
    }
    Ok(duration)
}

fn parse_log_level(text: &str) -> Result<LogLevel, String> {
    match text {
        "error" => Ok(LogLevel::Error),
        "warn" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        _ => Err(format!("{text:?} is not one of error, warn, info, debug")),
    }
}

/// Parses `--user UID[:GID]`.
pub fn parse_user(text: &str) -> Result<User, String> {
    enforcer::request::parse_user(text)
}

/// Parses `--label KEY=VALUE`.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    enforcer::request::parse_label(text)
}

/// The error and its causes, `: `-separated, leaving out a cause whose
/// text the message before it already ends with (errors that print their
/// source themselves).
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.ends_with(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// Ignores SIGPIPE again, for the commands that supervise a workload: a
/// closed output must not kill the enforcer before it has cleaned up (a
/// write then fails with EPIPE, and [`print_stdout`] ends quietly). The
/// workload gets the default disposition back before it starts.
fn ignore_sigpipe() {
    // SAFETY: setting a signal's disposition; no handler is installed.
    unsafe {
        nix::libc::signal(nix::libc::SIGPIPE, nix::libc::SIG_IGN);
    }
}

/// Prints `line` to stdout; if stdout is closed (EPIPE), ends the process
/// quietly, killed by SIGPIPE as if it had not been ignored (exit status
/// 141 in a shell), the way coreutils end.
pub fn print_stdout(line: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            // SAFETY: restoring the default disposition and raising the
            // signal ends the process; nothing runs after it.
            unsafe {
                nix::libc::signal(nix::libc::SIGPIPE, nix::libc::SIG_DFL);
                nix::libc::raise(nix::libc::SIGPIPE);
            }
            std::process::exit(128 + nix::libc::SIGPIPE);
        }
        Err(error) => eprintln!("enforcer: error: cannot write to standard output: {error}"),
    }
}

/// Parses arguments, runs the command, returns the exit status.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Run(args) => {
            ignore_sigpipe();
            return run::run(args);
        }
        Command::Ps(args) => sandbox::ps(args),
        Command::Exec(args) => {
            ignore_sigpipe();
            return sandbox::exec(args);
        }
        Command::Stats(args) => sandbox::stats(args),
        Command::Kill(args) => sandbox::kill(args),
        Command::Delete(args) => sandbox::delete(args),
        Command::Gc(args) => sandbox::gc(args),
        Command::Audit(args) => audit::run(args),
        Command::Test(args) => test::run(args),
        Command::TestRunner(args) => enforcer::policy::test_runner::run(&args.wasm, &args.args),
        Command::CompilePolicy(args) => {
            return enforcer::policy::compiler::compiler_main(&args.spec);
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let message = describe_error(&error);
            eprintln!(
                "enforcer: error: {}",
                enforcer::printable::escape_message(&message)
            );
            EXIT_ERROR
        }
    }
}
