//! Commands on sandboxes started with `enforcer run --detach` (or still
//! running under an attached `enforcer run`): `ps`, `exec`, `stats`,
//! `kill`, `delete` and `gc`.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use policy_sdk::NamespaceType;

use super::namespaces::{Join, NamespaceSetup, sort_joins};
use super::privileges::{Privileges, terminal_type};
use super::run::{REMOVE_TIMEOUT, namespace_inode};
use super::signals;
use super::spawn::{SpawnOptions, spawn};
use super::state::{SandboxState, StateDir};
use super::tty::{Relay, open_pty};
use crate::cgroup::{self, CreatedCgroup, Stats};

/// A sandbox as `ps` shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    /// The id.
    pub id: String,
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
}

/// Every sandbox in `states` whose state can be read; a directory without
/// one (being started, or abandoned: `gc` decides) is not listed.
pub fn ps(states: &StateDir) -> anyhow::Result<Vec<Listing>> {
    let mut listings = Vec::new();
    for id in states.ids()? {
        let Ok(state) = states.load(&id) else {
            // Being created right now, or abandoned: `gc` decides.
            continue;
        };
        let running = state.process.is_some_and(|process| process.is_alive());
        let status = match (running, state.is_stale()) {
            (true, false) => "running",
            (true, true) => "orphaned",
            _ => "stopped",
        };
        listings.push(Listing {
            id: state.id.clone(),
            pid: state.process.map(|process| process.pid),
            status,
            detached: state.supervisor.is_none(),
            started_at: state.started_at,
            command: state.command.clone(),
        });
    }
    Ok(listings)
}

fn running(states: &StateDir, id: &str) -> anyhow::Result<SandboxState> {
    let state = states.load(id)?;
    match state.process {
        Some(process) if process.is_alive() => Ok(state),
        _ => bail!(
            "sandbox {id:?} is not running (its processes are gone; `enforcer delete {id}` removes it)"
        ),
    }
}

fn created(state: &SandboxState) -> CreatedCgroup {
    CreatedCgroup {
        created: state.cgroup.created.clone(),
        leaves: state.cgroup.leaves.clone(),
    }
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

/// Runs `command` inside sandbox `id`: in all of its namespaces and
/// cgroups, as the workload's user with the workload's capabilities,
/// `noNewPrivileges`, environment and working directory, like `nsenter`
/// plus `cgexec`, but with a clean start: a session of its own (no
/// operator terminal unless `tty`, and then one of its own), only the
/// standard streams and the preserved descriptors, never the operator's
/// environment, non-dumpable until its exec. Returns the command's exit
/// code.
pub fn exec(
    states: &StateDir,
    id: &str,
    command: &[String],
    options: &ExecOptions,
) -> anyhow::Result<i32> {
    let state = running(states, id)?;
    let pid = state.process.map(|process| process.pid).unwrap_or_default();
    let mut setup = NamespaceSetup::default();
    for kind in NamespaceType::ALL {
        let name = kind.proc_name();
        let Some(&recorded) = state.namespaces.get(name) else {
            continue;
        };
        let ours = namespace_inode(Path::new(&format!("/proc/self/ns/{name}")));
        if ours == Some(recorded) {
            continue; // the sandbox shares this namespace with us
        }
        let file = match kind {
            NamespaceType::Pid => "pid_for_children",
            _ => name,
        };
        let path = std::path::PathBuf::from(format!("/proc/{pid}/ns/{file}"));
        let handle = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let inode = handle
            .metadata()
            .map(|meta| std::os::unix::fs::MetadataExt::ino(&meta))?;
        if inode != recorded {
            bail!(
                "sandbox {id:?}: {} is not the namespace it was started in",
                path.display()
            );
        }
        setup.joins.push(Join {
            kind,
            requested: path.display().to_string(),
            path,
            file: handle.into(),
        });
    }
    sort_joins(&mut setup.joins);
    let privileges = Privileges::from_process(state.decision.process.as_ref())
        .map_err(|error| anyhow::anyhow!("sandbox {id:?}: {error}"))?;
    let cgroup = created(&state);
    let pty = options.tty.then(open_pty).transpose()?;
    let term = terminal_type(std::env::var("TERM").ok().as_deref());
    let spawned = spawn(&SpawnOptions {
        command,
        namespaces: &setup,
        uid_mappings: &[],
        gid_mappings: &[],
        hostname: None,
        domainname: None,
        privileges: &privileges,
        cgroup: Some(&cgroup),
        init: false,
        die_with_parent: true,
        null_stdio: false,
        terminal: pty.as_ref().map(|pty| pty.slave.as_fd()),
        term: pty.as_ref().map(|_| term.as_str()),
        preserve_fds: options.preserve_fds,
        signal_mask: options.signal_mask,
    })?;
    let relay = pty.map(|pty| Relay::start(pty.master)).transpose()?;
    let code = signals::wait_forwarding_with(spawned.pid, &|| {
        if let Some(relay) = &relay {
            relay.resize();
        }
    })?;
    if let Some(relay) = relay {
        relay.finish();
    }
    Ok(code)
}

/// Usage of sandbox `id`.
pub fn stats(states: &StateDir, id: &str) -> anyhow::Result<Stats> {
    let state = states.load(id)?;
    Ok(cgroup::stats::read_leaves(&state.cgroup.leaves))
}

/// Sends `signal` to sandbox `id`'s first process (its init, which
/// forwards it, when it has a pid namespace).
pub fn kill(states: &StateDir, id: &str, signal: Signal) -> anyhow::Result<()> {
    let _lock = states.lock(id)?;
    let state = running(states, id)?;
    let pid = state.process.map(|process| process.pid).unwrap_or_default();
    nix::sys::signal::kill(Pid::from_raw(pid), signal)
        .with_context(|| format!("cannot send {signal} to sandbox {id:?} (pid {pid})"))
}

/// Kills everything in sandbox `id`, removes its cgroups and its state.
pub fn delete(states: &StateDir, id: &str) -> anyhow::Result<()> {
    let lock = states.lock(id)?;
    let state = states.load(id)?;
    remove(states, &state, &lock)
}

fn remove(
    states: &StateDir,
    state: &SandboxState,
    lock: &super::state::Lock,
) -> anyhow::Result<()> {
    if let Some(process) = state.process.filter(|process| process.is_alive()) {
        let _ = nix::sys::signal::kill(Pid::from_raw(process.pid), Signal::SIGKILL);
    }
    cgroup::remove(&created(state), REMOVE_TIMEOUT)
        .with_context(|| format!("sandbox {:?}", state.id))?;
    states.remove(&state.id, lock)
}

/// Removes every sandbox whose processes are gone or whose `enforcer run`
/// died (killing what is left of it), and state directories abandoned
/// before their state was written. Returns the ids removed. Sandboxes
/// another command holds locked are left alone.
pub fn gc(states: &StateDir) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for id in states.ids()? {
        let Some(lock) = states.try_lock(&id)? else {
            continue;
        };
        match states.load(&id) {
            Ok(state) if state.is_stale() => {
                remove(states, &state, &lock)?;
                removed.push(id);
            }
            Ok(_) => {}
            Err(_) if !states.root().join(&id).join("state.json").exists() => {
                // Claimed but never written, and nobody holds it.
                states.remove(&id, &lock)?;
                removed.push(id);
            }
            Err(error) => return Err(error),
        }
    }
    Ok(removed)
}
