//! `enforcer run`: build the request, evaluate, validate, plan, create the
//! cgroups, clone, release, wait, clean up. Any failure after the cgroups
//! exist undoes everything before it; a denied request starts nothing.
//!
//! The sandbox's lock is held while it is being started and while it is
//! cleaned up, never while the workload runs: `kill` and `delete` of an
//! attached sandbox reach it through this process (its supervisor), which
//! forwards their signal and cleans up when the workload ends.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use nix::libc;
use policy_sdk::{NamespaceType, Request};

use crate::audit::{Step, Trail};
use crate::decision::NormalDecision;

use super::namespaces::{self, JoinAllowList, NamespaceSetup, SandboxTarget, prepare};
use super::privileges::Privileges;
use super::spawn::{SpawnOptions, spawn};
use super::state::{
    CgroupRecord, FORMAT_VERSION, Lock, PolicyRecord, ProcessRef, SandboxState, StateDir,
};
use super::tty::{Relay, open_pty, wait_relaying};
use crate::cgroup::{self, CreatedCgroup, MountedController};
use crate::evaluation::{Chain, Outcome, evaluate_chain};

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
    /// The signal mask before [`super::signals::block`], for the workload.
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
    lock: Option<Lock>,
    cgroup: Option<CreatedCgroup>,
}

impl Undo<'_> {
    /// Removes the cgroup, then the state; a cgroup not fully removed
    /// keeps the state (it records the cgroup), so that `enforcer gc`
    /// retries.
    fn undo(&mut self) {
        let mut kept = false;
        if let Some(cgroup) = self.cgroup.take()
            && let Err(error) = cgroup::remove(&cgroup, REMOVE_TIMEOUT)
        {
            kept = self.lock.is_some();
            eprintln!(
                "enforcer: cleanup: {}{}",
                crate::printable::escape_message(&error.to_string()),
                if kept {
                    "; the sandbox's state is kept: `enforcer gc` retries once this run has ended"
                } else {
                    ""
                }
            );
        }
        if let Some(lock) = self.lock.take()
            && !kept
            && let Err(error) = self.states.remove(&lock)
        {
            eprintln!(
                "enforcer: cleanup: {}",
                crate::printable::escape_message(&error.to_string())
            );
        }
    }
}

/// Cleans up after an attached sandbox's workload ended: under the lock
/// again, and only if the state is still this run's (a `delete` that had
/// to kill the sandbox itself may have removed it, and its id may even
/// have been claimed anew since).
fn clean_up_attached(
    states: &StateDir,
    id: &str,
    supervisor: Option<ProcessRef>,
    cgroup: &CreatedCgroup,
) {
    // A `delete` removing the sandbox holds the lock while it removes the
    // cgroups: wait for that too.
    let lock = match states.lock_within(id, super::state::LOCK_TIMEOUT + REMOVE_TIMEOUT) {
        Ok(lock) => lock,
        Err(error) if error.is_not_found() => return,
        Err(error) => {
            eprintln!(
                "enforcer: cleanup: {}; `enforcer gc` removes the sandbox once this run has ended",
                crate::printable::escape_message(&error.to_string())
            );
            return;
        }
    };
    match states.load_locked(&lock) {
        Ok(state) if state.supervisor == supervisor => {}
        _ => return,
    }
    let mut undo = Undo {
        states,
        lock: Some(lock),
        cgroup: Some(cgroup.clone()),
    };
    undo.undo();
}

/// Runs `request` through `chain` and, if allowed, the workload. `trail`
/// records, as the run goes, what its audit line needs: each policy's
/// report, the decision, and the step reached (the failing one on error).
pub fn run(
    request: &Request,
    chain: &Chain,
    options: &RunOptions,
    timings: &mut Timings,
    trail: &mut Trail,
) -> anyhow::Result<RunOutcome> {
    trail.step = Step::Evaluate;
    let evaluation = match evaluate_chain(chain, request) {
        Ok(evaluation) => evaluation,
        Err(mut failure) => {
            trail.links = std::mem::take(&mut failure.links);
            trail.step = failure.error.step();
            return Err(failure.into());
        }
    };
    trail.links = evaluation.links;
    let decision = match evaluation.outcome {
        Outcome::Allowed(decision) => {
            trail.decision = Some(decision.clone());
            decision
        }
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
    if request.command.is_empty() {
        anyhow::bail!("no command to run: give one after --, or in the request's \"command\"");
    }
    trail.step = Step::Plan;
    let states = &options.state_dir;
    let resolve = |id: &str| resolve_sandbox(states, id, request.tenant.as_deref());
    let prepared = Prepared {
        namespaces: prepare(&decision.namespaces, &options.allow_join, &resolve)?,
        privileges: Privileges::from_normal(&decision.process)
            .map_err(|error| anyhow::anyhow!("process: {error}"))?,
        decision,
    };
    timings.lap("prepare");

    let mut undo = Undo {
        states,
        lock: Some(states.claim(&request.id)?),
        cgroup: None,
    };
    match start(
        request, chain, options, &prepared, &mut undo, timings, trail,
    ) {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            undo.undo();
            Err(error)
        }
    }
}

/// `sandbox:<id>` of a request from `tenant`: a running sandbox of the
/// same tenant (or, for a tenant-less request, a tenant-less sandbox),
/// with the namespaces its state recorded.
fn resolve_sandbox(
    states: &StateDir,
    id: &str,
    tenant: Option<&str>,
) -> Result<SandboxTarget, String> {
    let state = states.load(id).map_err(|error| error.to_string())?;
    if state.tenant.as_deref() != tenant {
        let owner = |tenant: Option<&str>| match tenant {
            Some(tenant) => format!("tenant {tenant:?}"),
            None => "no tenant".to_string(),
        };
        return Err(format!(
            "sandbox {id:?} belongs to {}, and this request to {}: a sandbox may join only sandboxes of its own tenant",
            owner(state.tenant.as_deref()),
            owner(tenant)
        ));
    }
    let pid = match state.process {
        Some(process) if process.is_alive() => process.pid,
        _ => return Err(format!("sandbox {id:?} is not running")),
    };
    // Its first process must be in its cgroups: a recorded pid of any
    // other process (and so its namespaces) is never joined.
    let layout = cgroup::discover();
    super::confine::check(&state.cgroup, &state.cgroup_root, &layout)
        .map_err(|error| format!("sandbox {id:?}: {error}"))?;
    if !super::confine::holds_process(&state.cgroup, &layout, pid) {
        return Err(format!(
            "sandbox {id:?}: its recorded first process (pid {pid}) is not in the sandbox's cgroups"
        ));
    }
    let mut namespaces = BTreeMap::new();
    for name in state.namespaces.keys() {
        let recorded = state.namespace(name).ok_or_else(|| {
            format!("the state of sandbox {id:?} records no owner of its {name} namespace (it was started by an older enforcer)")
        })?;
        namespaces.insert(name.clone(), recorded);
    }
    Ok(SandboxTarget { pid, namespaces })
}

/// Looks at the cgroups of every other sandbox in `states` (call with the
/// state directory locked):
///
/// - refuses `plan`'s leaves inside, equal to or above another sandbox's
///   leaf: a sandbox's cgroup must never be another one's parent (it could
///   not fork, and deleting one would kill the other);
/// - returns the directories of `plan` above its leaves that another
///   sandbox created and still records: this sandbox records them too, so
///   whichever of them is removed last removes them (a directory the
///   operator made is in no record and is never removed).
fn survey_others(
    states: &StateDir,
    own: &str,
    cgroups_path: &str,
    plan: &cgroup::CgroupPlan,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut shared = Vec::new();
    for id in states.ids()? {
        if id == own {
            continue;
        }
        // Unreadable or untrusted state is never acted on either.
        let Ok(other) = states.load(&id) else {
            continue;
        };
        for theirs in &other.cgroup.leaves {
            for ours in &plan.leaves {
                let relation = if ours == theirs {
                    "is"
                } else if ours.starts_with(theirs) {
                    "is inside"
                } else if theirs.starts_with(ours) {
                    "contains"
                } else {
                    continue;
                };
                anyhow::bail!(
                    "cgroupsPath {cgroups_path:?}: the cgroup {} {relation} the cgroup of sandbox {id:?} ({}); a sandbox's cgroup may not be inside, the same as or above another's",
                    ours.display(),
                    theirs.display()
                );
            }
        }
        shared.extend(
            plan.directories
                .iter()
                .filter(|directory| {
                    !plan.leaves.contains(directory)
                        && other.cgroup.created.contains(directory)
                        && !shared.contains(*directory)
                })
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    Ok(shared)
}

/// A decision made ready to apply.
struct Prepared {
    decision: NormalDecision,
    namespaces: NamespaceSetup,
    privileges: Privileges,
}

fn start(
    request: &Request,
    chain: &Chain,
    options: &RunOptions,
    prepared: &Prepared,
    undo: &mut Undo<'_>,
    timings: &mut Timings,
    trail: &mut Trail,
) -> anyhow::Result<RunOutcome> {
    let Prepared {
        decision,
        namespaces,
        privileges,
    } = prepared;
    let resources = &decision.resources;
    let cgroups_path = &decision.cgroups_path;
    let (plan, layout) = match &options.mount_controllers {
        Some(base) => {
            let (plan, layout, mounted) =
                cgroup::plan_mounting(resources, &options.cgroup_root, cgroups_path, base)?;
            report_mounts(&mounted);
            (plan, layout)
        }
        None => {
            let layout = cgroup::discover();
            let plan = cgroup::plan(resources, &layout, &options.cgroup_root, cgroups_path)
                .map_err(|error| {
                    anyhow::anyhow!("the decision cannot be applied on this host: {error}")
                })?;
            (plan, layout)
        }
    };
    let mut state = SandboxState {
        version: FORMAT_VERSION,
        id: request.id.clone(),
        tenant: request.tenant.clone(),
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
        decision: decision.to_decision(),
        cgroup_root: options.cgroup_root.clone(),
        cgroup: CgroupRecord::default(),
        namespaces: BTreeMap::new(),
        namespace_owners: BTreeMap::new(),
        policies: chain
            .enforcing()
            .map(|policy| PolicyRecord {
                name: policy.name().to_string(),
                sha256: policy.digest().to_string(),
            })
            .collect(),
    };
    let lock = undo.lock.as_ref().context("the sandbox lock")?;
    let created = {
        // No other run may record a nesting cgroup between the survey and
        // the save. (A shared level that another sandbox's removal takes
        // away meanwhile is made again by the creation below.)
        let _directory = undo.states.lock_directory()?;
        let shared = survey_others(undo.states, &request.id, cgroups_path, &plan)?;
        // Recorded before the cgroups exist, so that `gc` finds them even
        // if this process dies while creating them: the directories that
        // do not exist yet are the ones the creation will make.
        let mut created: Vec<PathBuf> = plan
            .directories
            .iter()
            .filter(|directory| !directory.exists())
            .cloned()
            .collect();
        created.extend(
            shared
                .iter()
                .filter(|d| !created.contains(d))
                .cloned()
                .collect::<Vec<_>>(),
        );
        state.cgroup = CgroupRecord {
            created,
            leaves: plan.leaves.clone(),
        };
        undo.states.save(&state, lock)?;
        // Created under the same lock, so that the next run's survey sees
        // what this one really made: a shared level another sandbox's
        // clean-up removed after the survey is made again here, and then
        // recorded as this sandbox's too.
        trail.step = Step::Cgroups;
        let mut created = cgroup::create(&plan)?;
        for directory in shared {
            if !created.created.contains(&directory) {
                created.created.push(directory);
            }
        }
        undo.cgroup = Some(created.clone());
        let recorded = &state.cgroup.created;
        let remade = created.created.iter().any(|dir| !recorded.contains(dir));
        state.cgroup = CgroupRecord {
            created: created.created.clone(),
            leaves: created.leaves.clone(),
        };
        if remade {
            undo.states.save(&state, lock)?;
        }
        created
    };
    timings.lap("cgroups");

    trail.step = Step::Spawn;
    let pty = options.tty.then(open_pty).transpose()?;
    let spawned = spawn(&SpawnOptions {
        command: &request.command,
        namespaces,
        uid_mappings: &decision.uid_mappings,
        gid_mappings: &decision.gid_mappings,
        hostname: decision.hostname.as_deref(),
        domainname: decision.domainname.as_deref(),
        privileges,
        cgroup: Some((&created, &layout)),
        init: options.init && namespaces.creates(NamespaceType::Pid),
        die_with_parent: !options.detach,
        null_stdio: options.detach,
        terminal: pty.as_ref().map(|pty| pty.slave.as_fd()),
        preserve_fds: options.preserve_fds,
        signal_mask: options.signal_mask,
    })?;
    // The workload holds the slave now; the relay ends when it closes it.
    let relay = pty.map(|pty| Relay::start(pty.master)).transpose()?;
    timings.lap("spawn");
    state.process = ProcessRef::of(spawned.pid.as_raw());
    for (name, recorded) in namespaces::record(spawned.pid.as_raw()) {
        state.namespaces.insert(name.clone(), recorded.inode);
        state.namespace_owners.insert(name, recorded.owner);
    }
    undo.states.save(&state, lock)?;
    // Started: the sandbox's lock is released, its cgroups and state now
    // belong to its lifecycle (the cleanup below, `delete`, `gc`).
    undo.cgroup = None;
    undo.lock = None;
    if options.detach {
        return Ok(RunOutcome::Detached(Box::new(state)));
    }
    trail.step = Step::Wait;
    let waited = wait_relaying(spawned.pid, relay);
    timings.lap("workload");
    trail.step = Step::Cleanup;
    clean_up_attached(undo.states, &state.id, state.supervisor, &created);
    timings.lap("cleanup");
    Ok(RunOutcome::Exited(waited?))
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

/// The inode of a namespace file (`net:[4026531840]` → 4026531840).
pub fn namespace_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|meta| meta.ino())
}
