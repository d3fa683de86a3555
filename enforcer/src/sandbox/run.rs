//! Starting and supervising one sandbox, the primitives the run pipeline
//! ([`crate::pipeline`]) calls in order: [`prepare`] a decision (the
//! namespaces to create and join, the privileges), [`Launch::claim`] the
//! id, [`Launch::create_cgroups`], [`Launch::spawn`], [`Started::wait`],
//! [`clean_up_attached`]. A [`Launch`] remembers what to undo if a later
//! step fails ([`Launch::undo`]).
//!
//! The sandbox's lock is held while it is being started and while it is
//! cleaned up, never while the workload runs: `kill` and `delete` of an
//! attached sandbox reach it through this process (its supervisor), which
//! forwards their signal and cleans up when the workload ends.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use nix::libc;
use nix::unistd::Pid;
use policy_sdk::{NamespaceType, Request};

use crate::cgroup::{self, CgroupLayout, CgroupPlan, CreatedCgroup};
use crate::decision::NormalDecision;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::evaluation::Chain;
use crate::host_ids::{self, HostIdRange};
use crate::network::{self, plan::NetworkPlan, record::NetworkRecord};
use crate::printable::escape_message;

use super::namespaces::{self, JoinAllowList, NamespaceSetup, SandboxTarget};
use super::privileges::Privileges;
use super::spawn::{SpawnOptions, spawn};
use super::state::{FORMAT_VERSION, Lock, PolicyRecord, ProcessRef, SandboxState, StateDir};
use super::tty::{Relay, open_pty, wait_relaying};

/// How long removing a sandbox's cgroups may take.
pub const REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the workload's process starts.
#[derive(Debug, Clone)]
pub struct StartOptions {
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

/// A decision made ready to apply: its namespaces checked against the
/// allow-list and opened, its privileges resolved.
pub struct Prepared {
    /// The decision.
    pub decision: NormalDecision,
    /// The namespaces to create and the ones to join (open).
    pub namespaces: NamespaceSetup,
    /// The workload's user, groups, capabilities and rlimits.
    pub privileges: Privileges,
    /// The program to execute: the request's `executable`, the path the
    /// policies saw (`None`: `command[0]` is looked up in the workload's
    /// `PATH` at exec).
    pub executable: Option<String>,
}

/// Makes `decision` (for `request`) ready to apply: the namespaces it
/// joins are checked against `allow_join` (a `sandbox:<id>` against the
/// sandbox's recorded cgroups on `layout`) and opened.
pub fn prepare(
    decision: NormalDecision,
    request: &Request,
    allow_join: &JoinAllowList,
    states: &StateDir,
    layout: &CgroupLayout,
) -> anyhow::Result<Prepared> {
    let resolve = |id: &str| resolve_sandbox(states, layout, id, request.tenant.as_deref());
    Ok(Prepared {
        namespaces: namespaces::prepare(&decision.namespaces, allow_join, &resolve)?,
        privileges: Privileges::from_normal(&decision.process)
            .map_err(|error| anyhow::anyhow!("process: {error}"))?,
        executable: request.executable.clone(),
        decision,
    })
}

/// The state record of a sandbox about to start (no cgroups, no process
/// yet): its id, tenant, command, decision, the enforcing policies, and
/// this process as its supervisor unless it runs `detach`ed.
pub fn new_state(
    request: &Request,
    chain: &Chain,
    decision: &NormalDecision,
    cgroup_root: &str,
    detach: bool,
) -> SandboxState {
    SandboxState {
        version: FORMAT_VERSION,
        id: request.id.clone(),
        tenant: request.tenant.clone(),
        process: None,
        supervisor: if detach {
            None
        } else {
            ProcessRef::of(std::process::id() as i32)
        },
        started_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |time| time.as_secs()),
        command: request.command.clone(),
        decision: decision.to_decision(),
        cgroup_root: cgroup_root.to_string(),
        cgroup: CreatedCgroup::default(),
        namespaces: BTreeMap::new(),
        namespace_owners: BTreeMap::new(),
        host_ids: None,
        network: None,
        policies: chain
            .enforcing()
            .map(|policy| PolicyRecord {
                name: policy.name().to_string(),
                sha256: policy.digest().to_string(),
            })
            .collect(),
    }
}

/// A sandbox being started: its claimed id and, once made, its cgroups;
/// what [`Launch::undo`] removes if a step fails before the workload runs.
pub struct Launch<'a> {
    states: &'a StateDir,
    lock: Option<Lock>,
    cgroup: Option<CreatedCgroup>,
    host_ids: Option<HostIdRange>,
    network: Option<NetworkRecord>,
    diagnostics: Diagnostics,
}

impl<'a> Launch<'a> {
    /// Claims `id` in `states` (refused if a sandbox has it); clean-up
    /// errors of [`Launch::undo`] go to `diagnostics`.
    pub fn claim(
        states: &'a StateDir,
        id: &str,
        diagnostics: Diagnostics,
    ) -> anyhow::Result<Launch<'a>> {
        Ok(Launch {
            states,
            lock: Some(states.claim(id)?),
            cgroup: None,
            host_ids: None,
            network: None,
            diagnostics,
        })
    }

    /// Records `plan`'s network in `state` and saves it (so that `gc`
    /// finds it), then leases its addresses and makes its missing bridges
    /// ([`network::setup::reserve`]); the spawn makes the interfaces.
    /// Until the sandbox starts, a failure removes it again
    /// ([`Launch::undo`]).
    pub fn reserve_network(
        &mut self,
        state: &mut SandboxState,
        plan: &NetworkPlan,
    ) -> anyhow::Result<()> {
        let lock = self.lock.as_ref().context("the sandbox lock")?;
        let mut record = network::setup::record_of(plan);
        state.network = Some(record.clone());
        self.states.save(state, lock)?;
        self.network = Some(record.clone());
        let reserved = network::setup::reserve(self.states, plan, &state.id, &mut record);
        self.network = Some(record.clone());
        state.network = Some(record);
        reserved?;
        self.states.save(state, lock)?;
        Ok(())
    }

    /// Leases a range of host ids from `pool` to this sandbox and records
    /// it in `state` (saved with the cgroups next): the spawn maps the
    /// sandbox's user namespace to it. Until the sandbox starts, a failure
    /// releases it again ([`Launch::undo`]).
    pub fn lease_host_ids(
        &mut self,
        state: &mut SandboxState,
        pool: &host_ids::Pool,
    ) -> anyhow::Result<HostIdRange> {
        self.lock.as_ref().context("the sandbox lock")?;
        let range = host_ids::lease(self.states, pool, &state.id)?;
        self.host_ids = Some(range);
        state.host_ids = Some(range);
        Ok(range)
    }

    /// Saves `state` (so `gc` finds a half-made sandbox), then creates the
    /// cgroups of `plan` and records them in `state`, refusing a plan whose
    /// leaves nest with another sandbox's.
    pub fn create_cgroups(
        &mut self,
        state: &mut SandboxState,
        plan: &CgroupPlan,
        cgroups_path: &str,
    ) -> anyhow::Result<CreatedCgroup> {
        let lock = self.lock.as_ref().context("the sandbox lock")?;
        // No other run may record a nesting cgroup between the survey and
        // the save. (A shared level that another sandbox's removal takes
        // away meanwhile is made again by the creation below.)
        let _directory = self.states.lock_directory()?;
        let shared = survey_others(self.states, &state.id, cgroups_path, plan)?;
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
        state.cgroup = CreatedCgroup {
            created,
            leaves: plan.leaves.clone(),
        };
        self.states.save(state, lock)?;
        // Created under the same lock, so that the next run's survey sees
        // what this one really made: a shared level another sandbox's
        // clean-up removed after the survey is made again here, and then
        // recorded as this sandbox's too.
        let mut created = cgroup::create(plan)?;
        for directory in shared {
            if !created.created.contains(&directory) {
                created.created.push(directory);
            }
        }
        self.cgroup = Some(created.clone());
        let recorded = &state.cgroup.created;
        let remade = created.created.iter().any(|dir| !recorded.contains(dir));
        state.cgroup = created.clone();
        if remade {
            self.states.save(state, lock)?;
        }
        Ok(created)
    }

    /// Starts the workload in `cgroup` (on `layout`) with `prepared`'s
    /// namespaces and privileges, under the `seccomp` filters, and records its process and namespaces in
    /// `state`. Started, the sandbox is no longer this launch's to undo:
    /// its lock is released, and its cgroups and state belong to its
    /// lifecycle ([`clean_up_attached`], `delete`, `gc`).
    pub fn spawn(
        &mut self,
        state: &mut SandboxState,
        prepared: &Prepared,
        (cgroup, layout): (&CreatedCgroup, &CgroupLayout),
        seccomp: Option<&crate::seccomp::FilterStack>,
        network_plan: Option<&NetworkPlan>,
        options: &StartOptions,
    ) -> anyhow::Result<Started> {
        let Prepared {
            decision,
            namespaces,
            privileges,
            executable,
        } = prepared;
        let lock = self.lock.as_ref().context("the sandbox lock")?;
        let pty = options.tty.then(open_pty).transpose()?;
        // A plan with only the loopback has no record (nothing to remove).
        let no_record = NetworkRecord::default();
        // Leased host ids replace the decision's (empty) maps.
        let leased = state.host_ids.map(|range| range.mappings());
        let spawned = spawn(&SpawnOptions {
            command: &state.command,
            executable: executable.as_deref(),
            namespaces,
            uid_mappings: leased.as_deref().unwrap_or(&decision.uid_mappings),
            gid_mappings: leased.as_deref().unwrap_or(&decision.gid_mappings),
            hostname: decision.hostname.as_deref(),
            domainname: decision.domainname.as_deref(),
            privileges,
            cgroup: Some((cgroup, layout)),
            init: options.init && namespaces.creates(NamespaceType::Pid),
            die_with_parent: !options.detach,
            null_stdio: options.detach,
            terminal: pty.as_ref().map(|pty| pty.slave.as_fd()),
            preserve_fds: options.preserve_fds,
            signal_mask: options.signal_mask,
            filesystem: &decision.filesystem,
            devices: &decision.resources.devices,
            seccomp,
            network: network_plan.map(|plan| (plan, state.network.as_ref().unwrap_or(&no_record))),
        })?;
        // The workload holds the slave now; the relay ends when it closes it.
        let relay = pty.map(|pty| Relay::start(pty.master)).transpose()?;
        state.process = ProcessRef::of(spawned.pid.as_raw());
        if let Some(record) = &mut state.network {
            for (interface, index) in record.interfaces.iter_mut().zip(&spawned.host_indexes) {
                interface.host_index = Some(*index);
            }
        }
        for (name, recorded) in namespaces::record(spawned.pid.as_raw()) {
            state.namespaces.insert(name.clone(), recorded.inode);
            state.namespace_owners.insert(name, recorded.owner);
        }
        self.states.save(state, lock)?;
        self.cgroup = None;
        self.host_ids = None;
        self.network = None;
        self.lock = None;
        Ok(Started {
            pid: spawned.pid,
            relay,
            network_time: spawned.network_time,
        })
    }

    /// Removes what this launch made: its cgroups, then its host id
    /// lease, then its state and id. A failure is reported to the
    /// diagnostics and the rest still undone.
    ///
    /// A cgroup not fully removed keeps the state (it records the
    /// cgroup) and the lease (processes may be left in the cgroup), so
    /// that `enforcer gc` retries.
    pub fn undo(&mut self) {
        let mut kept = false;
        if let Some(cgroup) = self.cgroup.take()
            && let Err(error) = cgroup::remove(&cgroup, REMOVE_TIMEOUT)
        {
            kept = self.lock.is_some();
            let mut message = error.to_string();
            if kept {
                message.push_str(
                    "; the sandbox's state is kept: `enforcer gc` retries once this run has ended",
                );
            }
            self.report(&message);
        }
        if let Some(record) = self.network.take() {
            let errors = network::setup::teardown(self.states, &record);
            if !errors.is_empty() {
                kept = kept || self.lock.is_some();
                for error in errors {
                    self.report(&format!(
                        "{error}; the sandbox's state is kept: `enforcer gc` retries"
                    ));
                }
            }
        }
        if let Some(range) = self.host_ids.take()
            && !kept
            && let Some(lock) = &self.lock
            && let Err(error) = host_ids::release(self.states, range, lock.id())
        {
            self.report(&format!(
                "{error}; `enforcer gc` releases the lease once the sandbox is gone"
            ));
        }
        if let Some(lock) = self.lock.take()
            && !kept
            && let Err(error) = self.states.remove(&lock)
        {
            self.report(&error.to_string());
        }
    }

    fn report(&self, error: &str) {
        self.diagnostics
            .emit(Diagnostic::cleanup(escape_message(error).into_owned()));
    }
}

/// A started workload.
pub struct Started {
    pid: Pid,
    relay: Option<Relay>,
    network_time: std::time::Duration,
}

impl Started {
    /// Its process id.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// How long making its network took.
    pub fn network_time(&self) -> std::time::Duration {
        self.network_time
    }

    /// Waits for it to end, relaying its terminal if it has one: its exit
    /// code (128 + N when signal N killed it).
    pub fn wait(self) -> std::io::Result<i32> {
        wait_relaying(self.pid, self.relay)
    }
}

/// Cleans up after an attached sandbox's workload ended: under the lock
/// again, and only if the state is still this run's (a `delete` that had
/// to kill the sandbox itself may have removed it, and its id may even
/// have been claimed anew since). Errors go to `diagnostics`.
pub fn clean_up_attached(
    states: &StateDir,
    state: &SandboxState,
    cgroup: &CreatedCgroup,
    diagnostics: &Diagnostics,
) {
    // A `delete` removing the sandbox holds the lock while it removes the
    // cgroups: wait for that too.
    let lock = match states.lock_within(&state.id, super::state::LOCK_TIMEOUT + REMOVE_TIMEOUT) {
        Ok(lock) => lock,
        Err(error) if error.is_not_found() => return,
        Err(error) => {
            diagnostics.emit(Diagnostic::cleanup(format!(
                "{}; `enforcer gc` removes the sandbox once this run has ended",
                escape_message(&error.to_string())
            )));
            return;
        }
    };
    match states.load_locked(&lock) {
        Ok(recorded) if recorded.supervisor == state.supervisor => {}
        _ => return,
    }
    let mut undo = Launch {
        states,
        lock: Some(lock),
        cgroup: Some(cgroup.clone()),
        host_ids: state.host_ids,
        network: state.network.clone(),
        diagnostics: diagnostics.clone(),
    };
    undo.undo();
}

/// `sandbox:<id>` of a request from `tenant`: a running sandbox of the
/// same tenant (or, for a tenant-less request, a tenant-less sandbox),
/// with the namespaces its state recorded.
fn resolve_sandbox(
    states: &StateDir,
    layout: &CgroupLayout,
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
    super::confine::check(&state.cgroup, &state.cgroup_root, layout)
        .map_err(|error| format!("sandbox {id:?}: {error}"))?;
    if !super::confine::holds_process(&state.cgroup, layout, pid) {
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

/// The inode of a namespace file (`net:[4026531840]` → 4026531840).
pub fn namespace_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|meta| meta.ino())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::diagnostics::{Collect, Level, Source};

    #[test]
    fn a_clean_up_failure_goes_to_the_sink_and_keeps_the_state_for_gc() {
        let dir = tempfile::tempdir().expect("tempdir");
        let states = StateDir::new(dir.path().join("state"));
        // A directory that cannot be removed: not empty (and no cgroup).
        let stuck = dir.path().join("stuck");
        std::fs::create_dir(&stuck).expect("creates");
        std::fs::write(stuck.join("file"), b"x").expect("writes");
        let collect = Arc::new(Collect::default());
        let mut launch =
            Launch::claim(&states, "job", Diagnostics::new(collect.clone())).expect("claims");
        launch.cgroup = Some(CreatedCgroup {
            created: vec![stuck.clone()],
            leaves: Vec::new(),
        });
        launch.undo();
        let seen = collect.take();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].level, Level::Error);
        assert_eq!(seen[0].source, Source::Cleanup);
        assert!(
            seen[0].message.contains(&stuck.display().to_string()),
            "{}",
            seen[0].message
        );
        assert!(
            seen[0].to_string().starts_with("enforcer: cleanup: "),
            "{}",
            seen[0]
        );
        assert!(
            seen[0].message.contains("the sandbox's state is kept"),
            "{}",
            seen[0].message
        );
        assert!(stuck.exists());
        assert_eq!(
            states.ids().expect("lists"),
            ["job"],
            "the claim stays, so that gc can retry the removal"
        );
    }
}
