//! `enforcer run`: build the request, evaluate, validate, plan, create the
//! cgroups, clone, release, wait, clean up. Any failure after the cgroups
//! exist undoes everything before it; a denied request starts nothing.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use nix::libc;
use policy_sdk::{Decision, NamespaceType, Request};

use super::namespaces::{JoinAllowList, NamespaceSetup, prepare};
use super::privileges::{Privileges, resolve_user, terminal_type};
use super::signals;
use super::spawn::{SpawnOptions, spawn};
use super::state::{CgroupRecord, Lock, PolicyRecord, ProcessRef, SandboxState, StateDir};
use super::tty::{Relay, open_pty};
use crate::cgroup::{self, CreatedCgroup, MountedController};
use crate::evaluation::{Outcome, evaluate_chain};
use crate::policy::Policy;

/// How long removing a sandbox's cgroups may take.
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// The signal mask before [`signals::block`], for the workload.
    pub signal_mask: libc::sigset_t,
    /// Give the workload a pseudo-terminal of its own, relayed to ours
    /// (`-t`; attached runs only).
    pub tty: bool,
    /// Descriptors 3 to 3 + N - 1 the workload keeps (`--preserve-fds`).
    pub preserve_fds: u32,
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

/// Time spent in each phase, for `--timings`.
#[derive(Debug, Default, Clone)]
pub struct Timings {
    /// `(phase, duration)` in order.
    pub phases: Vec<(&'static str, Duration)>,
    last: Option<Instant>,
}

impl Timings {
    /// Starts timing now.
    pub fn start() -> Timings {
        Timings {
            phases: Vec::new(),
            last: Some(Instant::now()),
        }
    }

    /// Ends the current phase, naming it.
    pub fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.phases.push((phase, now - last));
        }
        self.last = Some(now);
    }

    /// `phase 1.23ms, ...`.
    pub fn summary(&self) -> String {
        self.phases
            .iter()
            .map(|(phase, time)| format!("{phase} {:.2}ms", time.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What to undo if the run fails midway.
struct Undo<'a> {
    states: &'a StateDir,
    id: String,
    lock: Option<Lock>,
    cgroup: Option<CreatedCgroup>,
}

impl Undo<'_> {
    fn undo(&mut self) {
        if let Some(cgroup) = self.cgroup.take()
            && let Err(error) = cgroup::remove(&cgroup, REMOVE_TIMEOUT)
        {
            eprintln!(
                "enforcer: cleanup: {}",
                crate::printable::escape_message(&error.to_string())
            );
        }
        if let Some(lock) = self.lock.take()
            && let Err(error) = self.states.remove(&self.id, &lock)
        {
            eprintln!(
                "enforcer: cleanup: {}",
                crate::printable::escape_message(&format!("{error:#}"))
            );
        }
    }
}

/// Runs `request` through `policies` and, if allowed, the workload.
pub fn run(
    request: &Request,
    policies: &[Policy],
    options: &RunOptions,
    timings: &mut Timings,
) -> anyhow::Result<RunOutcome> {
    let mut decision = match evaluate_chain(policies, request)? {
        Outcome::Allowed(decision) => decision,
        Outcome::Denied { policy, decision } => {
            return Ok(RunOutcome::Denied {
                policy,
                reason: decision
                    .reason
                    .unwrap_or_else(|| "no reason given".to_string()),
            });
        }
    };
    timings.lap("evaluate");
    if options.tty && options.detach {
        anyhow::bail!(
            "--tty needs an attached run: a detached sandbox has nobody to relay its terminal to"
        );
    }
    resolve_user(
        &mut decision,
        (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        ),
    );
    if request.command.is_empty() {
        anyhow::bail!("no command to run: give one after --, or in the request's \"command\"");
    }
    let states = &options.state_dir;
    let resolve = |id: &str| -> Result<i32, String> {
        let state = states.load(id).map_err(|error| format!("{error:#}"))?;
        match state.process {
            Some(process) if process.is_alive() => Ok(process.pid),
            _ => Err(format!("sandbox {id:?} is not running")),
        }
    };
    let prepared = Prepared {
        namespaces: prepare(&decision, &options.allow_join, &resolve)?,
        privileges: Privileges::from_process(decision.process.as_ref())
            .map_err(|error| anyhow::anyhow!("process: {error}"))?,
        resources: decision.resources.clone().unwrap_or_default(),
        cgroups_path: decision
            .cgroups_path
            .clone()
            .unwrap_or_else(|| request.id.clone()),
        decision,
    };
    timings.lap("prepare");

    let mut undo = Undo {
        states,
        id: request.id.clone(),
        lock: Some(states.claim(&request.id)?),
        cgroup: None,
    };
    match start(request, policies, options, &prepared, &mut undo, timings) {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            undo.undo();
            Err(error)
        }
    }
}

/// A decision made ready to apply.
struct Prepared {
    decision: Decision,
    namespaces: NamespaceSetup,
    privileges: Privileges,
    resources: policy_sdk::Resources,
    cgroups_path: String,
}

fn start(
    request: &Request,
    policies: &[Policy],
    options: &RunOptions,
    prepared: &Prepared,
    undo: &mut Undo<'_>,
    timings: &mut Timings,
) -> anyhow::Result<RunOutcome> {
    let Prepared {
        decision,
        namespaces,
        privileges,
        resources,
        cgroups_path,
    } = prepared;
    let plan = match &options.mount_controllers {
        Some(base) => {
            let (plan, _, mounted) =
                cgroup::plan_mounting(resources, &options.cgroup_root, cgroups_path, base)?;
            report_mounts(&mounted);
            plan
        }
        None => cgroup::plan(
            resources,
            &cgroup::discover(),
            &options.cgroup_root,
            cgroups_path,
        )
        .map_err(|error| anyhow::anyhow!("the decision cannot be applied on this host: {error}"))?,
    };
    // Recorded before the cgroups exist, so that `gc` finds them even if
    // this process dies while creating them: the directories that do not
    // exist yet are the ones the creation will make.
    let planned = CgroupRecord {
        created: plan
            .directories
            .iter()
            .filter(|directory| !directory.exists())
            .cloned()
            .collect(),
        leaves: plan.leaves.clone(),
    };
    let mut state = SandboxState {
        version: 1,
        id: request.id.clone(),
        process: None,
        supervisor: if options.detach {
            None
        } else {
            ProcessRef::of(std::process::id() as i32)
        },
        started_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |time| time.as_secs()),
        command: request.command.clone(),
        decision: decision.clone(),
        cgroup: planned,
        namespaces: BTreeMap::new(),
        policies: policies
            .iter()
            .map(|policy| PolicyRecord {
                name: policy.name().to_string(),
                sha256: policy.digest().to_string(),
            })
            .collect(),
    };
    let lock = undo.lock.as_ref().context("the sandbox lock")?;
    undo.states.save(&state, lock)?;
    let created = cgroup::create(&plan)?;
    undo.cgroup = Some(created.clone());
    state.cgroup = CgroupRecord {
        created: created.created.clone(),
        leaves: created.leaves.clone(),
    };
    timings.lap("cgroups");

    let pty = options.tty.then(open_pty).transpose()?;
    let term = terminal_type(std::env::var("TERM").ok().as_deref());
    let spawned = spawn(&SpawnOptions {
        command: &request.command,
        namespaces,
        uid_mappings: &decision.uid_mappings,
        gid_mappings: &decision.gid_mappings,
        hostname: decision.hostname.as_deref(),
        domainname: decision.domainname.as_deref(),
        privileges,
        cgroup: Some(&created),
        init: options.init && namespaces.creates(NamespaceType::Pid),
        die_with_parent: !options.detach,
        null_stdio: options.detach,
        terminal: pty.as_ref().map(|pty| pty.slave.as_fd()),
        term: pty.as_ref().map(|_| term.as_str()),
        preserve_fds: options.preserve_fds,
        signal_mask: options.signal_mask,
    })?;
    // The workload holds the slave now; the relay ends when it closes it.
    let relay = pty.map(|pty| Relay::start(pty.master)).transpose()?;
    timings.lap("spawn");
    state.process = ProcessRef::of(spawned.pid.as_raw());
    state.namespaces = namespace_inodes(spawned.pid.as_raw());
    undo.states.save(&state, lock)?;
    if options.detach {
        // The sandbox outlives us: keep its cgroups and state.
        undo.cgroup = None;
        undo.lock = None;
        return Ok(RunOutcome::Detached(Box::new(state)));
    }
    let code = signals::wait_forwarding_with(spawned.pid, &|| {
        if let Some(relay) = &relay {
            relay.resize();
        }
    })?;
    if let Some(relay) = relay {
        relay.finish();
    }
    timings.lap("workload");
    undo.undo();
    timings.lap("cleanup");
    Ok(RunOutcome::Exited(code))
}

fn report_mounts(mounted: &[MountedController]) {
    for hierarchy in mounted {
        eprintln!(
            "enforcer: mounted the {} controller at {}",
            hierarchy.controller,
            hierarchy.mount_point.display()
        );
    }
}

/// `/proc/<pid>/ns/*` inodes (`pid` read from `pid_for_children`, where
/// the sandbox's processes live).
pub fn namespace_inodes(pid: i32) -> BTreeMap<String, u64> {
    NamespaceType::ALL
        .iter()
        .filter_map(|kind| {
            let file = match kind {
                NamespaceType::Pid => "pid_for_children",
                kind => kind.proc_name(),
            };
            let inode = namespace_inode(Path::new(&format!("/proc/{pid}/ns/{file}")))?;
            Some((kind.proc_name().to_string(), inode))
        })
        .collect()
}

/// The inode of a namespace file (`net:[4026531840]` → 4026531840).
pub fn namespace_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|meta| meta.ino())
}
