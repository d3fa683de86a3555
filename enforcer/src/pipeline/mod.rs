//! The forward pipeline of `enforcer run`, read top to bottom as its
//! stages ([`Stage`]): the request, the policy engine, the chain's
//! modules, the evaluation (validate, normalise, tighten), the prepared
//! decision and its plan, the cgroups, the spawn, the workload, the clean
//! up. [`decide`] and [`plan`] hold the stages `eval` shares; the
//! [`crate::sandbox`] primitives apply and supervise.
//!
//! The cgroup layout is discovered once, when the pipeline starts
//! ([`Pipeline::start`]), and passed down: the request's host facts, the
//! joins' checks, the plan and the spawn all see the same host (only a
//! controller the run mounts makes planning look again).
//!
//! The CLI builds the engine and the chain (they depend on its flags and
//! the operator's config) and prints; a failure after the cgroups exist
//! undoes everything before it, and a denied request starts nothing.

pub mod decide;
pub mod plan;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::libc;
use policy_sdk::Request;
use serde_json::Value;

use crate::applicability::{Machine, blame_on};
use crate::audit::{Step, Trail};
use crate::cgroup::{self, CgroupLayout, CreatedCgroup};
use crate::config::HostIdPool;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::evaluation::Chain;
use crate::sandbox::namespaces::JoinAllowList;
use crate::sandbox::run::{
    Launch, Prepared, StartOptions, Started, clean_up_attached, new_state, prepare,
};
use crate::sandbox::state::{SandboxState, StateDir};

use decide::{RequestSource, Verdict};
use plan::Mounting;

/// The exit status of a workload SIGSYS killed (128 + 31).
const SIGSYS_STATUS: i32 = 128 + libc::SIGSYS;

/// A stage of `enforcer run`, in order: the name `--timings` shows and
/// the audit step a failure in it is recorded at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Building the request, checking the state directory, opening the
    /// audit log (the preflight).
    Request,
    /// Creating the policy engine.
    Engine,
    /// Reading and compiling the chain's modules, checking `--settings`.
    Load,
    /// Evaluating the chain: each policy, validated, normalised, composed.
    Evaluate,
    /// The namespaces checked and opened, the privileges resolved, the
    /// cgroup plan made (mounting controllers if allowed).
    Prepare,
    /// Claiming the id, leasing host ids (`privateHostIds`), saving the
    /// state, creating and writing the cgroups.
    Cgroups,
    /// Leasing addresses and making missing bridges (`network`), and,
    /// while the child waits, its interfaces, addresses, routes and
    /// egress rules.
    Network,
    /// Starting the workload.
    Spawn,
    /// The workload running, until it ends.
    Workload,
    /// Removing the sandbox's cgroups and state.
    Cleanup,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 10] = [
        Stage::Request,
        Stage::Engine,
        Stage::Load,
        Stage::Evaluate,
        Stage::Prepare,
        Stage::Cgroups,
        Stage::Network,
        Stage::Spawn,
        Stage::Workload,
        Stage::Cleanup,
    ];

    /// Its name in `--timings` (`request`, `engine`, ..., `cleanup`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Request => "request",
            Stage::Engine => "engine",
            Stage::Load => "load",
            Stage::Evaluate => "evaluate",
            Stage::Prepare => "prepare",
            Stage::Cgroups => "cgroups",
            Stage::Network => "network",
            Stage::Spawn => "spawn",
            Stage::Workload => "workload",
            Stage::Cleanup => "cleanup",
        }
    }

    /// The audit step a failure in it is recorded at (the chain's own
    /// failures name theirs: validate, compose).
    pub fn step(self) -> Step {
        match self {
            Stage::Request => Step::Request,
            Stage::Engine | Stage::Load | Stage::Evaluate => Step::Evaluate,
            Stage::Prepare => Step::Plan,
            Stage::Cgroups => Step::Cgroups,
            Stage::Network | Stage::Spawn => Step::Spawn,
            Stage::Workload => Step::Wait,
            Stage::Cleanup => Step::Cleanup,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Time spent in each stage, for `--timings`.
#[derive(Debug, Default, Clone)]
pub struct Timings {
    /// `(stage, duration)` in order.
    pub stages: Vec<(Stage, Duration)>,
    last: Option<Instant>,
}

impl Timings {
    /// Starts timing now.
    pub fn start() -> Timings {
        Timings {
            stages: Vec::new(),
            last: Some(Instant::now()),
        }
    }

    /// Ends `stage` (it began when the one before ended).
    pub fn lap(&mut self, stage: Stage) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.stages.push((stage, now - last));
        }
        self.last = Some(now);
    }

    /// Moves `time` of `from`'s lap to `to`'s (the network made inside
    /// the spawn is shown as the network's).
    pub fn shift(&mut self, from: Stage, to: Stage, time: Duration) {
        let Some(index) = self.stages.iter().position(|(stage, _)| *stage == from) else {
            return;
        };
        let moved = time.min(self.stages[index].1);
        self.stages[index].1 -= moved;
        if let Some((_, lap)) = self.stages.iter_mut().find(|(stage, _)| *stage == to) {
            *lap += moved;
        }
    }

    /// `stage 1.23ms, ...`.
    pub fn summary(&self) -> String {
        self.stages
            .iter()
            .map(|(stage, time)| format!("{stage} {:.2}ms", time.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Directory under each cgroup hierarchy that holds the sandboxes.
    pub cgroup_root: String,
    /// Where sandbox state lives.
    pub state_dir: StateDir,
    /// Namespace paths decisions may join.
    pub allow_join: JoinAllowList,
    /// Mount controllers the decision needs but the host has not mounted,
    /// under this directory.
    pub mount_controllers: Option<PathBuf>,
    /// Keep the sandbox running and return at once.
    pub detach: bool,
    /// Run a minimal init as pid 1 of a new pid namespace.
    pub init: bool,
    /// The signal mask before [`crate::sandbox::signals::block`], for the
    /// workload.
    pub signal_mask: libc::sigset_t,
    /// Give the workload a pseudo-terminal of its own, relayed to ours
    /// (`-t`; attached runs only).
    pub tty: bool,
    /// Descriptors 3 to 3 + N - 1 the workload keeps (`--preserve-fds`).
    pub preserve_fds: u32,
    /// The operator's host id pool (`[host_ids]`; `None`: the default
    /// pool), leased from when the decision asks for private host ids.
    pub host_ids: Option<HostIdPool>,
    /// The operator's networks (`[networks.<name>]`), by name.
    pub networks: crate::network::networks::Networks,
}

/// What a run leases for its sandbox besides cgroups.
#[derive(Debug, Clone, Copy)]
struct Reservations<'a> {
    /// The host id pool, for a decision with private host ids.
    host_ids: Option<&'a HostIdPool>,
    /// The network plan, for a new network namespace.
    network: Option<&'a crate::network::plan::NetworkPlan>,
}

/// How a run ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// A policy denied; nothing was started.
    Denied {
        /// The policy.
        policy: String,
        /// Its reason.
        reason: String,
    },
    /// The workload ran and exited with this code (128 + signal if killed).
    Exited(i32),
    /// The sandbox runs on, detached.
    Detached(Box<SandboxState>),
}

/// One run going through its stages: the host's layout (discovered once),
/// where diagnostics go, the time each stage took, and the audit trail
/// (each policy's report, the decision, the step reached).
#[derive(Debug)]
pub struct Pipeline {
    layout: CgroupLayout,
    diagnostics: Diagnostics,
    timings: Timings,
    /// What the run's audit line reports.
    pub trail: Trail,
}

impl Pipeline {
    /// Starts a run: discovers the cgroup layout and starts timing the
    /// [`Stage::Request`] stage.
    pub fn start(diagnostics: Diagnostics) -> Pipeline {
        Pipeline::on(cgroup::discover(), diagnostics)
    }

    /// Starts a run on `layout` (already discovered).
    pub fn on(layout: CgroupLayout, diagnostics: Diagnostics) -> Pipeline {
        Pipeline {
            layout,
            diagnostics,
            timings: Timings::start(),
            trail: Trail::default(),
        }
    }

    /// The host's cgroup layout, as discovered at the start.
    pub fn layout(&self) -> &CgroupLayout {
        &self.layout
    }

    /// Where diagnostics go.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// The time each finished stage took.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// `stage` begins: a failure from now on is recorded at its step.
    pub fn enter(&mut self, stage: Stage) {
        self.trail.step = stage.step();
    }

    /// `stage` ends: its time is recorded.
    pub fn finish(&mut self, stage: Stage) {
        self.timings.lap(stage);
    }

    /// The request from `source` with the caller's `settings` and the host
    /// facts of this run's layout ([`decide::build_request`]). Its `cwd` is
    /// always the caller's working directory, a request file's replaced:
    /// like `host`, it is the enforcer's to say.
    pub fn request(
        &self,
        source: &RequestSource,
        settings: Option<&Value>,
    ) -> anyhow::Result<Request> {
        let mut request = decide::build_request(source, settings, &self.layout, &self.diagnostics)?;
        if let RequestSource::File(path) = source {
            if request.container.is_some() {
                anyhow::bail!(
                    "request file {}: request field \"container\" is the container runtime's to set \
                     (enforcer runtime create); `run` takes none",
                    path.display()
                );
            }
            crate::request::fill_cwd(&mut request, &self.diagnostics);
        }
        Ok(request)
    }

    /// Runs `request` through `chain` and, if allowed, the workload: the
    /// stages from [`Stage::Evaluate`] to [`Stage::Cleanup`].
    pub fn run(
        &mut self,
        request: &Request,
        chain: &Chain,
        options: &RunOptions,
    ) -> anyhow::Result<RunOutcome> {
        self.enter(Stage::Evaluate);
        let decision = match decide::decide(chain, request, &mut self.trail)? {
            Verdict::Allowed(decision) => *decision,
            Verdict::Denied { policy, reason } => {
                return Ok(RunOutcome::Denied { policy, reason });
            }
        };
        self.finish(Stage::Evaluate);
        if options.tty && options.detach {
            anyhow::bail!(
                "--tty needs an attached run: a detached sandbox has nobody to relay its terminal to"
            );
        }
        if request.command.is_empty() {
            anyhow::bail!("no command to run: give one after --, or in the request's \"command\"");
        }

        self.enter(Stage::Prepare);
        let states = &options.state_dir;
        let prepared = prepare(decision, request, &options.allow_join, states, &self.layout)?;
        let mounting = match &options.mount_controllers {
            Some(base) => Mounting::Mount(base),
            None => Mounting::Off,
        };
        let planned = plan::plan(
            &prepared.decision,
            self.layout.clone(),
            &options.cgroup_root,
            mounting,
            &self.diagnostics,
        )
        .map_err(|error| self.name_the_policy(error, request, &prepared.decision, options))?;
        let network =
            crate::network::plan::plan(&request.id, &prepared.decision, &options.networks)?;
        self.finish(Stage::Prepare);

        let mut launch = Launch::claim(states, &request.id, self.diagnostics.clone())?;
        let mut state = new_state(
            request,
            chain,
            &prepared.decision,
            &options.cgroup_root,
            options.detach,
        );
        let start = StartOptions {
            detach: options.detach,
            init: options.init,
            signal_mask: options.signal_mask,
            tty: options.tty,
            preserve_fds: options.preserve_fds,
        };
        let (cgroup, started) = match self.create_and_spawn(
            &mut launch,
            &mut state,
            &planned,
            &prepared,
            &start,
            Reservations {
                host_ids: options.host_ids.as_ref(),
                network: network.as_ref(),
            },
        ) {
            Ok(started) => started,
            Err(error) => {
                launch.undo();
                return Err(error);
            }
        };
        if options.detach {
            return Ok(RunOutcome::Detached(Box::new(state)));
        }
        self.enter(Stage::Workload);
        let waited = started.wait();
        self.finish(Stage::Workload);
        if planned.seccomp.is_some() && matches!(waited, Ok(code) if code == SIGSYS_STATUS) {
            self.diagnostics.emit(Diagnostic::info(format!(
                "the workload was killed by SIGSYS (exit status {SIGSYS_STATUS}): a system call its seccomp profile answers with SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD or SCMP_ACT_TRAP"
            )));
        }
        self.enter(Stage::Cleanup);
        clean_up_attached(states, &state, &cgroup, &self.diagnostics);
        self.finish(Stage::Cleanup);
        Ok(RunOutcome::Exited(waited?))
    }

    /// A failed plan of `decision`: when its cgroups cannot be planned on
    /// this host, the error names the first policy whose decision made it
    /// so ([`crate::applicability::blame_on`]); any other failure (a
    /// seccomp profile) is `error` as it was. Only on this error path are
    /// the links planned again.
    fn name_the_policy(
        &self,
        error: anyhow::Error,
        request: &Request,
        decision: &crate::decision::NormalDecision,
        options: &RunOptions,
    ) -> anyhow::Error {
        let machine = Machine {
            layout: self.layout.clone(),
            cgroup_root: options.cgroup_root.clone(),
            mount_controllers: options.mount_controllers.clone(),
        };
        match machine.plan(decision) {
            Ok(()) => error,
            Err(message) => {
                anyhow::Error::new(blame_on(&self.trail.links, request, &machine, message))
            }
        }
    }

    /// The cgroups and spawn stages (with the host id lease the decision
    /// may ask for first); the caller undoes `launch` if they fail.
    fn create_and_spawn(
        &mut self,
        launch: &mut Launch<'_>,
        state: &mut SandboxState,
        planned: &plan::Planned,
        prepared: &Prepared,
        start: &StartOptions,
        Reservations { host_ids, network }: Reservations<'_>,
    ) -> anyhow::Result<(CreatedCgroup, Started)> {
        self.enter(Stage::Cgroups);
        if prepared.decision.private_host_ids {
            let pool = crate::host_ids::Pool::from_config(host_ids)?;
            launch.lease_host_ids(state, &pool)?;
        }
        let cgroup =
            launch.create_cgroups(state, &planned.plan, &prepared.decision.cgroups_path)?;
        self.finish(Stage::Cgroups);
        self.enter(Stage::Network);
        // A loopback alone needs no record, lease or bridge: only the
        // spawn's netlink call.
        if let Some(plan) = network.filter(|plan| !plan.interfaces.is_empty()) {
            launch.reserve_network(state, plan)?;
        }
        self.finish(Stage::Network);
        self.enter(Stage::Spawn);
        let started = launch.spawn(
            state,
            prepared,
            (&cgroup, &planned.layout),
            planned.seccomp.as_ref(),
            network,
            start,
        )?;
        self.finish(Stage::Spawn);
        self.timings
            .shift(Stage::Spawn, Stage::Network, started.network_time());
        Ok((cgroup, started))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_name_the_stages_in_order() {
        let names: Vec<&str> = Stage::ALL.iter().map(|stage| stage.name()).collect();
        assert_eq!(
            names,
            [
                "request", "engine", "load", "evaluate", "prepare", "cgroups", "network", "spawn",
                "workload", "cleanup"
            ]
        );
        let mut timings = Timings::start();
        timings.lap(Stage::Request);
        timings.lap(Stage::Engine);
        let summary = timings.summary();
        assert!(
            summary.starts_with("request ")
                && summary.contains(", engine ")
                && summary.ends_with("ms"),
            "{summary}"
        );
    }
}
