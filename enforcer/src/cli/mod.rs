//! Command-line interface: argument parsing and output. Logic worth testing
//! lives in the library; this layer turns results into text, JSON and exit
//! codes.

mod audit;
mod audit_log;
mod check;
mod config_cmd;
mod eval;
mod inspect;
mod policy;
mod policy_new;
mod policy_show;
mod request_args;
mod run;
mod runtime;
mod sandbox;
mod test;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use enforcer::chain::build_chain;
use enforcer::config::{Config, Count, Limits};
use enforcer::evaluation::Chain;
use enforcer::policy::{
    Allocation, CompileBudget, CompileCaps, Compiler, EngineOptions, PolicyEngine,
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
/// and runs the command in that sandbox. Without --policy, the operator's
/// config (/etc/enforcer/config.toml, see docs/operators.md) names the
/// platform and tenant policies; without either, the built-in default
/// policy is used.
#[derive(Debug, Parser)]
#[command(name = "enforcer", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    enforcer run -- /bin/sh -c 'echo hello'\n  \
    enforcer run --detach --id web -- sleep 600; enforcer ps; enforcer delete web\n  \
    enforcer eval -- /bin/sh -c 'echo hello'\n  \
    enforcer eval --policy tiers.wasm --tenant acme --label tier=pro -- python3 job.py\n  \
    enforcer inspect tiers.wasm\n  \
    enforcer test --policy tiers.wasm cases.toml\n  \
    enforcer config check\n\n\
    Exit status: 0 allowed (or tests passed), 1 denied (or a test failed), 2 error.")]
struct Cli {
    /// The operator's config file; its config.d/ and tenants.d/ beside it
    /// are read too [default: /etc/enforcer/config.toml, if it exists].
    #[arg(long, global = true, value_name = "FILE", env = enforcer::config::ENV_VAR)]
    config: Option<PathBuf>,
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
    /// Scaffold a policy crate, or write out a built-in policy.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Check or show the operator's config.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Be an OCI runtime in front of runc or crun, applying the
    /// operator's policy to every container (for containerd, CRI-O and
    /// podman; also the binary's behaviour when invoked as
    /// `enforcer-runtime`). Takes runc's command line: `enforcer runtime
    /// --help` (docs/kubernetes.md).
    #[command(disable_help_flag = true)]
    Runtime(RuntimeArgs),
    /// Run a wasm32-wasip1 test binary in wasmtime (a cargo runner).
    ///
    /// Lists the tests (with the given filters), then runs each alone in a
    /// fresh instance, under a deadline, and reports them as libtest does:
    /// a failed test's output (its panic message and location, its log
    /// lines, a trap in one line) under its name, a passing test's only
    /// with --nocapture or --show-output. Exit status 101 if a test failed.
    /// --list, --help, --bench, --format json|junit and options it does not
    /// know run the binary once, as libtest alone would, without a
    /// deadline. WASI is limited to stdout, stderr and arguments: no
    /// filesystem, no environment, no network. Configure it in
    /// .cargo/config.toml:
    /// [target.wasm32-wasip1] runner = ["enforcer", "test-runner"]
    #[command(after_help = "Examples:\n  \
        cargo test --target wasm32-wasip1\n  \
        cargo test --target wasm32-wasip1 -- --timeout 30s my_test\n  \
        ENFORCER_TEST_TIMEOUT=1s cargo test --target wasm32-wasip1 -- --include-ignored\n  \
        enforcer test-runner --timeout 2s target/wasm32-wasip1/debug/deps/my_policy-1234.wasm --nocapture\n\n\
        Exit status: 0 if every test passed, 101 if one failed; the binary's own with --list, --help etc.")]
    TestRunner(TestRunnerArgs),
    /// Compile one policy module under a time and memory budget (internal:
    /// the enforcer runs itself this way on a cache miss).
    #[command(name = enforcer::policy::compiler::CHILD_COMMAND, hide = true)]
    CompilePolicy(CompilePolicyArgs),
}

impl Command {
    /// Whether the command reads the operator's config at start (`config`
    /// and `check` read it themselves, to report what is wrong; the test
    /// runner and the compiler child never do).
    fn uses_config(&self) -> bool {
        !matches!(
            self,
            Command::Check(_)
                | Command::Config(_)
                | Command::TestRunner(_)
                | Command::Policy(_)
                | Command::Runtime(_)
                | Command::CompilePolicy(_)
        )
    }
}

#[derive(Debug, Args)]
struct RuntimeArgs {
    /// runc's global flags, subcommand and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
struct CompilePolicyArgs {
    /// What the parent passes: engine settings and the budget.
    spec: String,
}

#[derive(Debug, Args)]
struct TestRunnerArgs {
    /// Stop each test after DURATION, e.g. 30s, 500ms [default: 10s, or
    /// $ENFORCER_TEST_TIMEOUT]. Also taken among the test arguments
    /// (`cargo test -- --timeout 30s`), which win.
    #[arg(long, value_name = "DURATION", value_parser = enforcer::config::parse_duration)]
    timeout: Option<Duration>,
    /// The test binary (.wasm).
    wasm: PathBuf,
    /// Arguments for the test harness (e.g. a test name filter).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Settings of the Wasm sandbox policies run in. Each flag overrides the
/// config's `[limits]` key of the same meaning, which overrides the
/// built-in default.
#[derive(Debug, Clone, Default, Args)]
pub struct EngineArgs {
    /// Wall-clock budget of one evaluation, e.g. 100ms, 2s [default: 100ms].
    #[arg(long, value_name = "DURATION", value_parser = enforcer::config::parse_duration)]
    deadline: Option<Duration>,
    /// Linear-memory cap of a policy instance, in MiB [default: 64].
    #[arg(long, value_name = "MIB")]
    memory_cap: Option<usize>,
    /// Largest response a policy may return, in KiB [default: 1024].
    #[arg(long, value_name = "KIB")]
    output_cap: Option<usize>,
    /// Largest policy module accepted, in MiB (checked before compiling)
    /// [default: 4].
    #[arg(long, value_name = "MIB")]
    max_module_size: Option<usize>,
    /// Most functions a policy module may define (checked before
    /// compiling) [default: 10000].
    #[arg(long, value_name = "N")]
    max_functions: Option<u32>,
    /// Largest function body of a policy module, in KiB (checked before
    /// compiling) [default: 256].
    #[arg(long, value_name = "KIB")]
    max_function_size: Option<usize>,
    /// Most locals one function of a policy module may declare (checked
    /// before compiling) [default: 10000].
    #[arg(long, value_name = "N")]
    max_locals: Option<u32>,
    /// CPU seconds compiling one policy module may use [default: 10].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    compile_time: Option<u64>,
    /// Address space the process compiling one policy module may use, in
    /// MiB [default: 1024].
    #[arg(long, value_name = "MIB")]
    compile_memory: Option<usize>,
    /// Directory for compiled policy code [default: the config's
    /// cache_dir, else /var/cache/enforcer for root, else
    /// $XDG_CACHE_HOME/enforcer].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile policies every time; read and write no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Lowest policy log level printed to stderr: error, warn, info, debug
    /// [default: info].
    #[arg(long, value_name = "LEVEL", value_parser = parse_log_level)]
    policy_log: Option<LogLevel>,
}

impl EngineArgs {
    /// Engine options for a one-shot run (on-demand allocation): each
    /// flag, else the config's `[limits]`, else the built-in default.
    pub fn engine(&self) -> anyhow::Result<PolicyEngine> {
        let limits = config().map(|config| &config.values.limits);
        let from = |pick: fn(&Limits) -> Option<u64>| limits.and_then(pick);
        let caps = CompileCaps::default();
        let budget = CompileBudget::default();
        let mib = |value: usize| value.saturating_mul(1 << 20);
        let kib = |value: usize| value.saturating_mul(1 << 10);
        let size = |flag: Option<usize>, pick: fn(&Limits) -> Option<u64>, default: usize| {
            flag.or_else(|| from(pick).map(|value| usize::try_from(value).unwrap_or(usize::MAX)))
                .unwrap_or(default)
        };
        let count = |flag: Option<u32>, pick: fn(&Limits) -> Option<u64>, default: u32| {
            flag.or_else(|| from(pick).map(|value| u32::try_from(value).unwrap_or(u32::MAX)))
                .unwrap_or(default)
        };
        let mut options = EngineOptions {
            deadline: self
                .deadline
                .or_else(|| limits.and_then(|limits| limits.deadline.map(|deadline| deadline.0)))
                .unwrap_or(DEFAULT_DEADLINE),
            memory_cap: mib(size(self.memory_cap, |l| count_of(l.memory_cap_mib), 64)),
            output_cap: kib(size(self.output_cap, |l| count_of(l.output_cap_kib), 1024)),
            allocation: Allocation::OnDemand,
            log_level: self
                .policy_log
                .or_else(|| limits.and_then(|limits| limits.policy_log.map(LogLevel::from)))
                .unwrap_or(LogLevel::Info),
            compile_caps: CompileCaps {
                module_bytes: mib(size(
                    self.max_module_size,
                    |l| count_of(l.max_module_size_mib),
                    caps.module_bytes >> 20,
                )),
                functions: count(
                    self.max_functions,
                    |l| count_of(l.max_functions),
                    caps.functions,
                ),
                function_bytes: kib(size(
                    self.max_function_size,
                    |l| count_of(l.max_function_size_kib),
                    caps.function_bytes >> 10,
                )),
                locals: count(self.max_locals, |l| count_of(l.max_locals), caps.locals),
            },
            compiler: Compiler::this_executable(),
            compile_budget: CompileBudget {
                cpu_seconds: self
                    .compile_time
                    .or_else(|| from(|l| count_of(l.compile_time_s)))
                    .unwrap_or(budget.cpu_seconds),
                memory_bytes: mib(size(
                    self.compile_memory,
                    |l| count_of(l.compile_memory_mib),
                    budget.memory_bytes >> 20,
                )),
            },
            ..EngineOptions::default()
        };
        let configured = config()
            .and_then(|config| config.values.cache_dir.as_ref())
            .map(|dir| dir.path().to_path_buf());
        if self.no_cache {
            options.cache_dir = None;
        } else if let Some(dir) = self.cache_dir.clone().or(configured) {
            options.cache_dir = Some(dir);
        }
        Ok(PolicyEngine::new(options)?.with_diagnostics(diagnostics()))
    }
}

/// The built-in evaluation deadline.
const DEFAULT_DEADLINE: Duration = Duration::from_millis(100);

fn count_of(count: Option<Count>) -> Option<u64> {
    count.map(Count::get)
}

/// Where the library's diagnostics go: printed on stderr, one line each.
pub fn diagnostics() -> enforcer::diagnostics::Diagnostics {
    enforcer::diagnostics::Diagnostics::new(std::sync::Arc::new(enforcer::diagnostics::StderrSink))
}

/// The config loaded at start, if there is one (see [`run`]).
static CONFIG: OnceLock<Option<Config>> = OnceLock::new();

/// The operator's config, when one was found at start.
pub fn config() -> Option<&'static Config> {
    CONFIG.get().and_then(Option::as_ref)
}

/// The chain for a request from `tenant`: the `--policy` modules if any,
/// else the config's chain, else the embedded default.
pub fn chain_for(
    engine: &PolicyEngine,
    policies: &[PathBuf],
    tenant: Option<&str>,
) -> anyhow::Result<Chain> {
    Ok(build_chain(engine, config(), policies, tenant)?)
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

/// The error and its causes, `: `-separated. Each library error either
/// prints its cause or returns it as its source, never both, so the chain
/// is printed as it is.
pub fn describe_error(error: &anyhow::Error) -> String {
    format!("{error:#}")
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

/// The runtime mode's arguments, when this is it: the binary invoked as
/// `enforcer-runtime` (everything after the program name), or
/// `enforcer runtime ...` (everything after `runtime`). runc's command line
/// is not clap's, so it is parsed before clap sees it.
fn runtime_arguments() -> Option<Vec<std::ffi::OsString>> {
    let mut argv = std::env::args_os();
    let program = argv.next()?;
    let name = std::path::Path::new(&program).file_name()?.to_os_string();
    if name == runtime::PROGRAM_NAME {
        return Some(argv.collect());
    }
    let rest: Vec<_> = argv.collect();
    (rest.first().map(|first| first == "runtime") == Some(true)).then(|| rest[1..].to_vec())
}

/// Parses arguments, runs the command, returns the exit status.
pub fn run() -> i32 {
    if let Some(argv) = runtime_arguments() {
        return runtime::main(argv);
    }
    let cli = Cli::parse();
    if cli.command.uses_config() {
        match enforcer::config::load(cli.config.as_deref()) {
            Ok(config) => {
                let _ = CONFIG.set(config);
            }
            Err(error) => {
                eprintln!(
                    "enforcer: error: {}",
                    enforcer::printable::escape_message(&error.to_string())
                );
                return match cli.command {
                    Command::Run(_) | Command::Exec(_) => run::EXIT_RUN_ERROR,
                    _ => EXIT_ERROR,
                };
            }
        }
    }
    let result = match cli.command {
        Command::Check(args) => check::run(args, cli.config.as_deref()),
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
        Command::Policy(command) => policy::run(command),
        Command::Config(command) => config_cmd::run(command, cli.config.as_deref()),
        Command::TestRunner(args) => {
            let settings = enforcer::policy::test_runner::Settings {
                timeout: args.timeout,
                timeout_env: std::env::var(enforcer::policy::test_runner::TIMEOUT_ENV).ok(),
            };
            enforcer::policy::test_runner::run(
                &args.wasm,
                &args.args,
                &settings,
                &mut std::io::stdout(),
                &diagnostics(),
            )
        }
        Command::CompilePolicy(args) => {
            return enforcer::policy::compiler::compiler_main(&args.spec);
        }
        // Handled before clap by `runtime_arguments`; reached only if clap
        // was given the arguments some other way.
        Command::Runtime(args) => return runtime::main(args.args),
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
