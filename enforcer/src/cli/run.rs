//! `enforcer run`.

use std::path::PathBuf;

use clap::Args;
use enforcer::audit::{AuditLog, Outcome};
use enforcer::pipeline::decide::check_caller_settings;
use enforcer::pipeline::{Pipeline, RunOptions, RunOutcome, Stage};
use enforcer::printable::{escape, escape_message};
use enforcer::sandbox::namespaces::JoinAllowList;
use enforcer::sandbox::signals;
use enforcer::sandbox::state::StateDir;
use policy_sdk::Request;

use super::audit_log;
use super::request_args::RequestArgs;
use super::sandbox::StateDirArg;
use super::{EXIT_DENIED, EngineArgs, chain_for, config};

/// Exit status of `run` when the enforcer itself fails (as docker and
/// podman do: the workload's own codes stay unambiguous).
pub const EXIT_RUN_ERROR: i32 = 125;

/// Evaluate a request and run the command in the sandbox the decision
/// describes: new or joined namespaces, cgroup limits, the workload's user,
/// capabilities and rlimits.
///
/// The whole pipeline: build the request, evaluate the policies, validate,
/// plan, create the cgroups, clone, release, wait, clean up. The exit status
/// is the workload's (128 + N when signal N killed it). SIGINT, SIGTERM,
/// SIGHUP and SIGQUIT are forwarded to it. With a new pid namespace, a
/// minimal init runs as pid 1 and reaps orphans (--as-pid-1 turns it off).
/// With --detach the sandbox keeps running; see `enforcer ps`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    enforcer run -- /bin/sh -c 'echo hello'\n  \
    enforcer run --policy platform.wasm --policy tenant.wasm --tenant acme -- python3 job.py\n  \
    enforcer run -t -- /bin/bash\n  \
    enforcer run --detach --id web -- sleep infinity && enforcer exec web -- ps\n  \
    enforcer run --bundle ./mybundle --id job1\n  \
    enforcer run --allow-join '/run/netns/*' --policy join-netns.wasm -- ip addr\n\n\
    Exit status: the workload's; 1 denied (reason on stderr), 125 the enforcer failed\n\
    (including a command that cannot be executed: the message says why).")]
pub struct RunArgs {
    #[command(flatten)]
    request: RequestArgs,
    #[command(flatten)]
    start: StartArgs,
    /// Start the sandbox and return: print its id, keep it running.
    #[arg(long, short = 'd')]
    detach: bool,
    /// Run the command itself as pid 1 of a new pid namespace, without the
    /// minimal init that forwards signals and reaps orphans.
    #[arg(long)]
    as_pid_1: bool,
    /// Let decisions join existing namespaces whose path matches GLOB
    /// (`*`, `?`; e.g. '/run/netns/*', 'sandbox:acme-*'); repeatable.
    /// Replaces the config's allow_join; without either no decision may
    /// join a namespace.
    #[arg(long, value_name = "GLOB")]
    allow_join: Vec<String>,
    /// Mount cgroup controllers the decision needs but the host has not
    /// mounted (or has left unused on cgroup2) as v1 hierarchies under DIR
    /// [default: the config's mount_controllers, else off; DIR defaults to
    /// /run/enforcer/cgroup].
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = enforcer::cgroup::mount::DEFAULT_MOUNT_BASE
    )]
    mount_controllers: Option<PathBuf>,
    /// Cgroup root: the directory, under each hierarchy, that holds every
    /// sandbox's cgroup [default: the config's cgroup_root, else enforcer].
    #[arg(long, value_name = "NAME", value_parser = enforcer::config::parse_cgroup_root)]
    cgroup_root: Option<String>,
    /// Print the time each phase took (evaluate, cgroups, spawn, ...) on stderr.
    #[arg(long)]
    timings: bool,
    #[command(flatten)]
    state: StateDirArg,
    #[command(flatten)]
    engine: EngineArgs,
}

/// How the sandbox's process starts: its terminal and descriptors (shared
/// by `run` and `exec`).
#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Give the workload a terminal of its own: a pseudo-terminal the
    /// enforcer relays to this one (raw mode, window size, ^C as the
    /// workload's own SIGINT). Without it the workload's standard streams
    /// are passed as plain descriptors and it has no controlling terminal
    /// at all (it runs in a session of its own, as `setsid`).
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Pass descriptors 3 to 3+N-1 on to the workload, as runc does; every
    /// other descriptor above 2 is closed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
}

impl StartArgs {
    /// Checks that the preserved descriptors are open (they were given to
    /// us, so they are the caller's, not ones the enforcer opens later).
    pub fn check(&self) -> anyhow::Result<()> {
        for fd in 3..3u64 + u64::from(self.preserve_fds) {
            let fd = i32::try_from(fd)?;
            // SAFETY: F_GETFD only reads the descriptor's flags.
            if unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } < 0 {
                anyhow::bail!(
                    "--preserve-fds {}: descriptor {fd} is not open",
                    self.preserve_fds
                );
            }
        }
        Ok(())
    }
}

/// Runs `enforcer run`; its own failures exit 125.
pub fn run(args: RunArgs) -> i32 {
    match run_inner(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "enforcer: error: {}",
                escape_message(&super::describe_error(&error))
            );
            EXIT_RUN_ERROR
        }
    }
}

fn run_inner(args: RunArgs) -> anyhow::Result<i32> {
    // Before any thread exists, so that no thread takes these signals.
    let signal_mask = signals::block()?;
    args.start.check()?;
    let diagnostics = super::diagnostics();
    let mut pipeline = Pipeline::start(diagnostics.clone());
    let mut request =
        pipeline.request(&args.request.source(), args.request.settings()?.as_ref())?;
    // A bundle's process.terminal asks for a terminal as -t does.
    request.terminal = args.start.tty || (args.request.bundle.is_some() && request.terminal);
    let state_dir = args.state.state_dir();
    state_dir.check()?;
    // The preflight: an unwritable log or a full disk (fail-closed) stops
    // the run here, before any policy is evaluated or anything applied.
    let log = AuditLog::open_with(&audit_log::settings(state_dir.root()), diagnostics)?;
    pipeline.finish(Stage::Request);
    let result = evaluate_and_run(args, &request, state_dir, signal_mask, &mut pipeline);
    let trail = &pipeline.trail;
    let (outcome, error) = match &result {
        Ok(RunOutcome::Denied { policy, reason }) => (
            Outcome::Denied {
                policy: policy.clone(),
                reason: reason.clone(),
            },
            None,
        ),
        Ok(RunOutcome::Exited(code)) => (Outcome::Exited { code: *code }, None),
        Ok(RunOutcome::Detached(_)) => (Outcome::Detached, None),
        Err(error) => {
            let message = super::describe_error(error);
            (
                Outcome::Failed {
                    step: trail.step,
                    error: message.clone(),
                },
                Some(message),
            )
        }
    };
    let audited = audit_log::append(&log, &request, trail, outcome, error);
    let code = match result? {
        RunOutcome::Denied { policy, reason } => {
            eprintln!(
                "enforcer: denied by policy {}: {}",
                escape(&policy),
                escape(&reason)
            );
            EXIT_DENIED
        }
        RunOutcome::Exited(code) => code,
        RunOutcome::Detached(state) => {
            super::print_stdout(&escape(&state.id));
            0
        }
    };
    audited?;
    Ok(code)
}

/// Builds the engine and the chain, then runs the pipeline (everything the
/// audit line reports on).
fn evaluate_and_run(
    args: RunArgs,
    request: &Request,
    state_dir: StateDir,
    signal_mask: nix::libc::sigset_t,
    pipeline: &mut Pipeline,
) -> anyhow::Result<RunOutcome> {
    pipeline.enter(Stage::Engine);
    let engine = args.engine.engine()?;
    pipeline.finish(Stage::Engine);
    pipeline.enter(Stage::Load);
    let chain = chain_for(&engine, &args.request.policies, request.tenant.as_deref())?;
    check_caller_settings(&chain, request)?;
    pipeline.finish(Stage::Load);
    let configured = config().map(|config| &config.values);
    let allow_join = if args.allow_join.is_empty() {
        configured
            .and_then(|values| values.allow_join.clone())
            .unwrap_or_default()
    } else {
        args.allow_join
    };
    let options = RunOptions {
        cgroup_root: super::eval::cgroup_root(args.cgroup_root),
        state_dir,
        allow_join: JoinAllowList {
            patterns: allow_join,
        },
        mount_controllers: mount_controllers(args.mount_controllers),
        detach: args.detach,
        init: !args.as_pid_1,
        signal_mask,
        tty: request.terminal,
        preserve_fds: args.start.preserve_fds,
        host_ids: configured.and_then(|values| values.host_ids.clone()),
        networks: config().map(|config| config.networks()).unwrap_or_default(),
    };
    let outcome = pipeline.run(request, &chain, &options);
    if args.timings {
        eprintln!("enforcer: timings: {}", pipeline.timings().summary());
    }
    outcome
}

/// Where `--mount-controllers` mounts: the flag, else the config's
/// `mount_controllers`, else nowhere (off).
pub(super) fn mount_controllers(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        config()
            .map(|config| &config.values)
            .and_then(|values| values.mount_controllers.as_ref())
            .and_then(|mount| mount.dir())
    })
}
