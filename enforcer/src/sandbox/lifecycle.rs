//! Commands on sandboxes started with `enforcer run --detach` (or still
//! running under an attached `enforcer run`): `ps`, `exec`, `stats`,
//! `kill`, `delete` and `gc`.
//!
//! Each command on one sandbox goes through a [`Sandbox`] handle, which
//! holds its loaded state (and its lock where the command needs it):
//! `Sandbox::load(&states, id)?.kill(signal)`.
//!
//! Nothing they read is trusted blindly: the state is the enforcer's own
//! ([`super::state`]), every recorded cgroup is checked to lie below the
//! recorded cgroup root on cgroupfs ([`super::confine`]) before anything is
//! read, written or killed there, processes are signalled only if their
//! start time is the recorded one, and namespaces are joined only if they
//! are the recorded ones (inode and owning user namespace). No command
//! waits without a bound: the lock for [`LOCK_TIMEOUT`](super::state::LOCK_TIMEOUT),
//! an attached sandbox's supervisor for [`DELETE_GRACE`].

use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use policy_sdk::NamespaceType;

use super::confine;
use super::namespaces::{Join, NamespaceSetup, open_recorded, sort_joins};
use super::privileges::{Privileges, terminal_type};
use super::run::{REMOVE_TIMEOUT, namespace_inode};
use super::signals;
use super::spawn::{SpawnOptions, spawn};
use super::state::{Lock, ProcessRef, SandboxState, StateDir, StateError};
use super::tty::{Relay, open_pty, open_pty_in_root_of, wait_relaying};
use crate::cgroup::{self, CgroupLayout, CreatedCgroup, Stats};
use crate::host_ids::{self, HostIdRange, Lease};

/// How long `delete` of an attached sandbox lets its `enforcer run` stop it
/// (SIGTERM to the workload, then the run's own cleanup) before it kills the
/// sandbox's cgroups itself.
pub const DELETE_GRACE: Duration = Duration::from_secs(1);

/// A sandbox as `ps` shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    /// The id.
    pub id: String,
    /// Its tenant, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Its first process, if it started.
    pub pid: Option<i32>,
    /// `running`, `stopped` (its processes are gone) or `orphaned` (its
    /// `enforcer run` died).
    pub status: &'static str,
    /// Whether it was started with `--detach`.
    pub detached: bool,
    /// Unix time it started.
    pub started_at: u64,
    /// Its command line.
    pub command: Vec<String>,
    /// The host ids leased to it, if its decision asked for private ones:
    /// `{"start": N, "size": 65536}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ids: Option<HostIdRange>,
    /// Its interfaces, addresses and traffic counters, if it has a network
    /// of its own with interfaces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<crate::network::listing::InterfaceListing>,
}

/// What `ps` found: the sandboxes, and the entries it refused to read
/// (untrusted or corrupt state), each an error naming the path.
#[derive(Debug, Default)]
pub struct PsOutcome {
    /// The sandboxes whose state can be read.
    pub listings: Vec<Listing>,
    /// Entries refused.
    pub refused: Vec<StateError>,
}

/// Every sandbox in `states` whose state can be read; a directory without
/// one (being started, or abandoned: `gc` decides) is not listed.
pub fn ps(states: &StateDir) -> anyhow::Result<PsOutcome> {
    let mut outcome = PsOutcome::default();
    for id in states.ids()? {
        match Sandbox::load(states, &id) {
            Ok(sandbox) => outcome.listings.push(sandbox.listing()),
            // Being created right now, abandoned, or not a sandbox.
            Err(error) if error.is_not_found() => continue,
            Err(error) => outcome.refused.push(error),
        }
    }
    Ok(outcome)
}

/// One sandbox, loaded from its state: the handle every command on a
/// single sandbox acts through. It holds the state as loaded and, when
/// made by [`Sandbox::lock`], the sandbox's lock until
/// [`Sandbox::unlocked`] or its end.
#[derive(Debug)]
pub struct Sandbox<'a> {
    states: &'a StateDir,
    state: SandboxState,
    lock: Option<Lock>,
}

impl<'a> Sandbox<'a> {
    /// Loads sandbox `id` without its lock (for reading, `exec`, `stats`).
    pub fn load(states: &'a StateDir, id: &str) -> Result<Sandbox<'a>, StateError> {
        Ok(Sandbox {
            states,
            state: states.load(id)?,
            lock: None,
        })
    }

    /// Locks sandbox `id` (waiting at most
    /// [`LOCK_TIMEOUT`](super::state::LOCK_TIMEOUT)) and loads it; the
    /// handle holds the lock.
    pub fn lock(states: &'a StateDir, id: &str) -> Result<Sandbox<'a>, StateError> {
        let lock = states.lock(id)?;
        Sandbox::locked(states, lock)
    }

    /// Loads the sandbox whose lock is `lock`; the handle holds it.
    fn locked(states: &'a StateDir, lock: Lock) -> Result<Sandbox<'a>, StateError> {
        Ok(Sandbox {
            states,
            state: states.load_locked(&lock)?,
            lock: Some(lock),
        })
    }

    /// The same handle without the lock (the state stays as loaded).
    pub fn unlocked(mut self) -> Sandbox<'a> {
        self.lock = None;
        self
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.state.id
    }

    /// Its state as loaded.
    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// The sandbox as `ps` shows it.
    pub fn listing(&self) -> Listing {
        let state = &self.state;
        let running = state.process.is_some_and(|process| process.is_alive());
        let status = match (running, state.is_stale()) {
            (true, false) => "running",
            (true, true) => "orphaned",
            _ => "stopped",
        };
        Listing {
            id: state.id.clone(),
            tenant: state.tenant.clone(),
            pid: state.process.map(|process| process.pid),
            status,
            detached: state.supervisor.is_none(),
            started_at: state.started_at,
            command: state.command.clone(),
            host_ids: state.host_ids,
            interfaces: self.interfaces(),
        }
    }

    /// Its interfaces with their counters now.
    pub fn interfaces(&self) -> Vec<crate::network::listing::InterfaceListing> {
        self.state
            .network
            .as_ref()
            .map(crate::network::listing::interfaces)
            .unwrap_or_default()
    }

    /// The host ids leased to it, if any.
    pub fn host_ids(&self) -> Option<HostIdRange> {
        self.state.host_ids
    }

    /// Usage of the sandbox.
    pub fn stats(&self) -> anyhow::Result<Stats> {
        let (cgroup, _) = confined(&self.state)?;
        Ok(cgroup::stats::read_leaves(&cgroup.leaves))
    }

    /// Sends `signal` to the sandbox. An attached sandbox gets the signals
    /// its `enforcer run` forwards (INT, TERM, HUP, QUIT) through it; any
    /// other signal, and every signal to a detached sandbox, goes to its
    /// first process (its init, which forwards it, when it has a pid
    /// namespace).
    pub fn kill(&self, signal: Signal) -> anyhow::Result<()> {
        let state = &self.state;
        let id = &state.id;
        let (_, layout) = confined(state)?;
        let process = running(state, &layout)?;
        let supervisor = state.supervisor.filter(|supervisor| {
            signals::FORWARDED.contains(&signal) && is_parent(*supervisor, process)
        });
        let (target, what) = match supervisor {
            Some(supervisor) => (
                supervisor,
                format!("its enforcer run, pid {}", supervisor.pid),
            ),
            None => (process, format!("pid {}", process.pid)),
        };
        target
            .signal(signal)
            .with_context(|| format!("cannot send {signal} to sandbox {id:?} ({what})"))
    }

    /// Kills everything in the sandbox, removes its cgroups and its state
    /// (the handle must hold the lock: [`Sandbox::lock`]).
    ///
    /// A detached sandbox is killed at once (SIGKILL, then its cgroups). An
    /// attached one is asked to stop through its `enforcer run`: SIGTERM,
    /// which the run forwards to the workload and then cleans up; if it has
    /// not finished within [`DELETE_GRACE`], `delete` kills the sandbox's
    /// cgroups and removes everything itself. Either way it returns within
    /// about a second (more only if the lock or the removal of the cgroups
    /// takes longer, each bounded). A cgroup not fully removed keeps the
    /// state, for `enforcer gc` to retry.
    pub fn delete(self) -> anyhow::Result<()> {
        let states = self.states;
        let id = self.state.id.clone();
        let supervisor = self
            .state
            .supervisor
            .filter(|supervisor| supervisor.is_alive());
        let Some(supervisor) = supervisor else {
            return self.remove();
        };
        // Checked before anything is sent: a state naming foreign cgroups is
        // refused whoever would act on it.
        let (_, layout) = confined(&self.state)?;
        // The run needs the lock to clean up.
        let sandbox = self.unlocked();
        let state = &sandbox.state;
        // Its workload gone, the run is cleaning up already: just wait.
        if let Some(process) = first_process(state, &layout)
            && is_parent(supervisor, process)
        {
            match supervisor.signal(Signal::SIGTERM) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(nix::libc::ESRCH) => {}
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!(
                            "cannot send SIGTERM to sandbox {id:?}'s enforcer run (pid {})",
                            supervisor.pid
                        )
                    });
                }
            }
        }
        // Either the run has finished (and removed the sandbox, unless it died
        // first), or it has not: what is left is killed and removed here. The
        // run, once its workload is gone, finds its state removed and leaves
        // it alone.
        supervisor.wait_gone(DELETE_GRACE);
        let current = match Sandbox::lock(states, &id) {
            Ok(current) => current,
            Err(error) if error.is_not_found() => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        if current.state.supervisor == state.supervisor {
            current.remove()
        } else {
            Ok(()) // the id was claimed anew
        }
    }

    /// Kills what is left of the sandbox and removes its cgroups, then
    /// releases its host id lease, then removes its state; a cgroup not
    /// fully removed keeps the state and the lease (so `gc` retries). The
    /// handle must hold the lock.
    fn remove(self) -> anyhow::Result<()> {
        let lock = self
            .lock
            .as_ref()
            .with_context(|| format!("sandbox {:?}: removed without its lock", self.state.id))?;
        let state = &self.state;
        let (cgroup, layout) = confined(state)?;
        if let Some(process) = first_process(state, &layout) {
            let _ = process.signal(Signal::SIGKILL);
        }
        cgroup::remove(&cgroup, REMOVE_TIMEOUT)
            .with_context(|| format!("sandbox {:?}", state.id))?;
        if let Some(record) = &state.network
            && let Some(error) = crate::network::setup::teardown(self.states, record)
                .into_iter()
                .next()
        {
            return Err(anyhow::Error::new(error).context(format!("sandbox {:?}", state.id)));
        }
        if let Some(range) = state.host_ids {
            host_ids::release(self.states, range, &state.id)
                .with_context(|| format!("sandbox {:?}", state.id))?;
        }
        Ok(self.states.remove(lock)?)
    }
}

/// The sandbox's first process, if it runs (its start time is the
/// recorded one) and is in the sandbox's cgroups: a recorded pid that is
/// any other process is never signalled or joined.
fn first_process(state: &SandboxState, layout: &CgroupLayout) -> Option<ProcessRef> {
    state.process.filter(|process| {
        process.is_alive() && confine::holds_process(&state.cgroup, layout, process.pid)
    })
}

/// [`first_process`], or an error saying the sandbox is not running.
fn running(state: &SandboxState, layout: &CgroupLayout) -> anyhow::Result<ProcessRef> {
    if let Some(process) = first_process(state, layout) {
        return Ok(process);
    }
    match state.process {
        Some(process) if process.is_alive() => bail!(
            "sandbox {:?}: its recorded first process (pid {}) is not in the sandbox's cgroups; refusing to act on it",
            state.id,
            process.pid
        ),
        _ => bail!(
            "sandbox {id:?} is not running (its processes are gone; `enforcer delete {id}` removes it)",
            id = state.id
        ),
    }
}

/// The sandbox's cgroups, once checked to be below its cgroup root on
/// cgroupfs, and the layout they were checked against.
fn confined(state: &SandboxState) -> anyhow::Result<(CreatedCgroup, CgroupLayout)> {
    let layout = cgroup::discover();
    confine::check(&state.cgroup, &state.cgroup_root, &layout)
        .with_context(|| format!("sandbox {:?}", state.id))?;
    Ok((state.cgroup.clone(), layout))
}

/// Whether `supervisor` is the parent of `process` (an attached sandbox's
/// first process is the child of its `enforcer run`).
fn is_parent(supervisor: ProcessRef, process: ProcessRef) -> bool {
    let Ok(stat) = crate::linux::proc::read_stat(process.pid) else {
        return false;
    };
    let parent = crate::linux::proc::Stat::parse(&stat).and_then(|stat| stat.ppid());
    parent == Some(supervisor.pid) && supervisor.is_alive() && process.is_alive()
}

/// How `exec` starts its process.
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions {
    /// Give the process a pseudo-terminal of its own, relayed to ours.
    pub tty: bool,
    /// Descriptors 3 to 3 + N - 1 the process keeps.
    pub preserve_fds: u32,
    /// The signal mask before [`signals::block`], for the process.
    pub signal_mask: nix::libc::sigset_t,
}

impl Sandbox<'_> {
    /// Runs `command` inside the sandbox: in all of its namespaces and
    /// cgroups, as the workload's user with the workload's capabilities,
    /// `noNewPrivileges`, environment and working directory, like `nsenter`
    /// plus `cgexec`, but with a clean start: a session of its own (no
    /// operator terminal unless `tty`, and then one of its own), only the
    /// standard streams and the preserved descriptors, never the operator's
    /// environment, non-dumpable until its exec. Returns the command's exit
    /// code.
    pub fn exec(&self, command: &[String], options: &ExecOptions) -> anyhow::Result<i32> {
        let state = &self.state;
        let id = self.id();
        let (cgroup, layout) = confined(state)?;
        let pid = running(state, &layout)?.pid;
        let mut setup = NamespaceSetup::default();
        for kind in NamespaceType::ALL {
            let name = kind.proc_name();
            let Some(&inode) = state.namespaces.get(name) else {
                continue;
            };
            let ours = namespace_inode(Path::new(&format!("/proc/self/ns/{name}")));
            if ours == Some(inode) {
                continue; // the sandbox shares this namespace with us
            }
            let recorded = state.namespace(name).with_context(|| {
            format!("sandbox {id:?}: its state records no owner of its {name} namespace (it was started by an older enforcer)")
        })?;
            let (path, file) = open_recorded(pid, kind, recorded)
                .map_err(|why| anyhow::anyhow!("sandbox {id:?}: {why}"))?;
            setup.joins.push(Join {
                kind,
                requested: path.display().to_string(),
                path,
                file: file.into(),
            });
        }
        sort_joins(&mut setup.joins);
        let term = terminal_type(std::env::var("TERM").ok().as_deref());
        // The recorded decision is the run's normal form, explicit already; a
        // record from an older enforcer gets the defaults it would have had.
        let context = crate::decision::Context {
            caller: (
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            ),
            default_cgroup: String::new(),
            term: options.tty.then(|| term.clone()),
            rlimits: crate::decision::own_rlimits(),
            network_egress: Default::default(),
        };
        let normal = crate::decision::normalize(&state.decision, &context);
        // The run's filters, compiled again from the recorded profile.
        let seccomp = normal
            .seccomp
            .as_ref()
            .map(crate::seccomp::compile)
            .transpose()
            .map_err(|error| anyhow::anyhow!("sandbox {id:?}: {error}"))?;
        let mut process = normal.process;
        if options.tty && !process.env.iter().any(|entry| entry.starts_with("TERM=")) {
            process.env.push(format!("TERM={term}"));
        }
        let privileges = Privileges::from_normal(&process)
            .map_err(|error| anyhow::anyhow!("sandbox {id:?}: {error}"))?;
        // A sandbox with a root of its own has its own /dev/pts: the
        // terminal is made there, where the workload can name it.
        let pty = match (options.tty, state.decision.root.is_some()) {
            (false, _) => None,
            (true, true) => Some(open_pty_in_root_of(pid)?),
            (true, false) => Some(open_pty()?),
        };
        let spawned = spawn(&SpawnOptions {
            command,
            executable: None,
            namespaces: &setup,
            uid_mappings: &[],
            gid_mappings: &[],
            hostname: None,
            domainname: None,
            privileges: &privileges,
            cgroup: Some((&cgroup, &layout)),
            init: false,
            die_with_parent: true,
            null_stdio: false,
            terminal: pty.as_ref().map(|pty| pty.slave.as_fd()),
            preserve_fds: options.preserve_fds,
            signal_mask: options.signal_mask,
            // Joining the sandbox's mount namespace enters its root.
            filesystem: &policy_model::normal::NormalFilesystem::default(),
            devices: &[],
            seccomp: seccomp.as_ref(),
            network: None,
        })?;
        let relay = pty.map(|pty| Relay::start(pty.master)).transpose()?;
        Ok(wait_relaying(spawned.pid, relay)?)
    }
}

/// What `gc` did.
#[derive(Debug, Default)]
pub struct GcOutcome {
    /// The ids removed.
    pub removed: Vec<String>,
    /// The sandboxes it refused to touch (untrusted state, a recorded
    /// cgroup outside the root) or failed to remove, each with why.
    pub refused: Vec<Refused>,
    /// The host id leases it released whose sandbox was gone already
    /// (a sandbox it removes releases its own lease).
    pub released_host_ids: Vec<Lease>,
    /// Why the leases could not be swept, if they could not.
    pub host_ids_error: Option<anyhow::Error>,
    /// The address leases it released whose sandbox was gone already.
    pub released_addresses: Vec<crate::network::lease::AddressLease>,
    /// Why the address leases could not be swept, if they could not.
    pub addresses_error: Option<anyhow::Error>,
}

/// A sandbox `gc` refused or failed to remove.
#[derive(Debug)]
pub struct Refused {
    /// Its id.
    pub id: String,
    /// Why.
    pub error: anyhow::Error,
}

/// Removes every sandbox whose processes are gone or whose `enforcer run`
/// died (killing what is left of it), and state directories abandoned
/// before their state was written, then releases the host id leases
/// whose sandbox is gone ([`host_ids::sweep`]). Sandboxes another command
/// holds locked are left alone; one that cannot be removed is reported
/// (its state and lease kept, for the next `gc`), and the others are
/// still collected.
pub fn gc(states: &StateDir) -> anyhow::Result<GcOutcome> {
    let mut outcome = GcOutcome::default();
    for id in states.ids()? {
        match collect(states, &id) {
            Ok(true) => outcome.removed.push(id),
            Ok(false) => {}
            Err(error) => outcome.refused.push(Refused { id, error }),
        }
    }
    match host_ids::sweep(states) {
        Ok(released) => outcome.released_host_ids = released,
        Err(error) => outcome.host_ids_error = Some(error.into()),
    }
    match crate::network::lease::sweep(states) {
        Ok(released) => outcome.released_addresses = released,
        Err(error) => outcome.addresses_error = Some(error.into()),
    }
    Ok(outcome)
}

/// One sandbox of `gc`: whether it was removed.
fn collect(states: &StateDir, id: &str) -> anyhow::Result<bool> {
    if !states.is_sandbox(id)? {
        return Ok(false); // not claimed by `enforcer run` (no lock file)
    }
    let lock = match states.try_lock(id) {
        Ok(Some(lock)) => lock,
        Ok(None) => return Ok(false),
        Err(error) if error.is_not_found() => return Ok(false),
        Err(error) => return Err(error.into()),
    };
    if !states.has_state(&lock) {
        // Claimed but never written, and nobody holds it.
        states.remove(&lock)?;
        return Ok(true);
    }
    let sandbox = Sandbox::locked(states, lock)?;
    if !sandbox.state.is_stale() {
        return Ok(false);
    }
    sandbox.remove()?;
    Ok(true)
}

/// `gc --mounts`: releases the controllers the enforcer mounted under
/// `base` that no cgroup uses any more ([`cgroup::release_mounts`]), with
/// the state directory locked so that no run of it creates a cgroup there
/// meanwhile.
pub fn release_mounts(states: &StateDir, base: &Path) -> anyhow::Result<cgroup::ReleaseOutcome> {
    let _directory = match states.lock_directory() {
        Ok(lock) => Some(lock),
        // No state directory: no run of it is under way.
        Err(StateError::Io { err, .. }) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error.into()),
    };
    Ok(cgroup::release_mounts(base))
}
