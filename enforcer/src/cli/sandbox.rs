//! `enforcer ps`, `exec`, `stats`, `kill`, `delete` and `gc`: the
//! lifecycle of sandboxes started with `enforcer run`.

use std::path::PathBuf;

use clap::Args;
use enforcer::cgroup::{ReleaseOutcome, Stats};
use enforcer::sandbox::lifecycle::{self, Sandbox};
use enforcer::sandbox::signals;
use enforcer::sandbox::state::{DEFAULT_STATE_DIR, StateDir};
use nix::sys::signal::Signal;

use super::run::{EXIT_RUN_ERROR, StartArgs};

/// Where sandbox state lives.
#[derive(Debug, Clone, Args)]
pub struct StateDirArg {
    /// Directory of sandbox state files [default: the config's state_dir,
    /// else /run/enforcer].
    #[arg(long, value_name = "DIR", env = "ENFORCER_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

impl StateDirArg {
    /// The state directory: the flag (or `$ENFORCER_STATE_DIR`), else the
    /// config's, else the built-in default.
    pub fn state_dir(&self) -> StateDir {
        let configured = super::config()
            .and_then(|config| config.values.state_dir.as_ref())
            .map(|dir| dir.path().to_path_buf());
        let dir = self
            .state_dir
            .clone()
            .or(configured)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        StateDir::new(&dir)
    }
}

/// List sandboxes: id, first pid, status, start time, leased host ids,
/// command.
///
/// Status is `running`, `stopped` (its processes are gone; `enforcer gc`
/// or `delete` removes it) or `orphaned` (the `enforcer run` waiting for it
/// died; `enforcer gc` removes it).
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateDirArg,
}

/// Run a command inside a running sandbox: all its namespaces and cgroups,
/// its workload's user, capabilities, environment and working directory
/// (like nsenter plus cgexec). The process starts clean: a session of its
/// own, only the standard streams (plus --preserve-fds), none of this
/// shell's environment; with -t a terminal of its own.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  enforcer exec web -- ps aux\n  enforcer exec -t web -- /bin/sh\n\n\
    Exit status: the command's; 125 if the enforcer failed."
)]
pub struct ExecArgs {
    /// The sandbox id.
    id: String,
    #[command(flatten)]
    start: StartArgs,
    /// The command line.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
    #[command(flatten)]
    state: StateDirArg,
}

/// Show a sandbox's cgroup usage (memory, pids, cpu, hugetlb, io) and its
/// leased host ids.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The sandbox id.
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateDirArg,
}

/// Send a signal to a sandbox: through its `enforcer run` when attached
/// (INT, TERM, HUP, QUIT, which the run forwards), else to its first
/// process (its init forwards it to the workload). Returns at once.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// The sandbox id.
    id: String,
    /// Signal name or number.
    #[arg(default_value = "TERM", value_parser = signals::parse_signal)]
    signal: Signal,
    #[command(flatten)]
    state: StateDirArg,
}

/// Kill everything in a sandbox, remove its cgroups and its state.
///
/// An attached sandbox is stopped through its `enforcer run` (SIGTERM,
/// forwarded to the workload); if the run has not cleaned up within a
/// second, delete kills the sandbox's cgroups and removes it itself.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The sandbox ids.
    #[arg(required = true)]
    ids: Vec<String>,
    #[command(flatten)]
    state: StateDirArg,
}

/// Remove sandboxes whose processes are gone or whose `enforcer run` died
/// (for example after it was SIGKILLed): their leftover processes, cgroups,
/// host id leases and state, then the host id leases of sandboxes that are
/// gone. A sandbox that cannot be removed is reported and kept (the
/// next gc retries); the others are still removed.
///
/// With --mounts, also release the controllers `run --mount-controllers`
/// mounted: each v1 hierarchy under the mount directory in which no cgroup
/// exists any more is unmounted and its mount point removed.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0; 1 if a sandbox could not be removed or a mount could not be released."
)]
pub struct GcArgs {
    /// Also unmount the controllers the enforcer mounted that nothing uses.
    #[arg(long)]
    mounts: bool,
    /// Where `run --mount-controllers=DIR` mounted them (with --mounts).
    #[arg(long, value_name = "DIR", requires = "mounts",
          default_value = enforcer::cgroup::mount::DEFAULT_MOUNT_BASE)]
    mount_dir: PathBuf,
    /// Print JSON: {"removed":[ID...],"refused":[{"id","error"}...],
    /// "released":[{"controller","path"}...],"hostIds":[{"start","size","sandbox"}...],
    /// "kept":[{"path","controllers","why"}...]}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateDirArg,
}

/// `enforcer ps`.
pub fn ps(args: PsArgs) -> anyhow::Result<i32> {
    let outcome = lifecycle::ps(&args.state.state_dir())?;
    for refused in &outcome.refused {
        eprintln!("enforcer: warning: {refused}");
    }
    let listings = outcome.listings;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listings)?);
        return Ok(0);
    }
    println!(
        "{:<20} {:>8} {:<9} {:<8} {:<20} {:<21} COMMAND",
        "ID", "PID", "STATUS", "MODE", "STARTED", "HOST IDS"
    );
    for listing in listings {
        println!(
            "{:<20} {:>8} {:<9} {:<8} {:<20} {:<21} {}",
            enforcer::printable::escape(&listing.id),
            listing.pid.map_or("-".to_string(), |pid| pid.to_string()),
            listing.status,
            if listing.detached {
                "detached"
            } else {
                "attached"
            },
            format_time(listing.started_at),
            listing
                .host_ids
                .map_or("-".to_string(), |range| range.to_string()),
            enforcer::printable::escape_command(&listing.command)
        );
        for interface in &listing.interfaces {
            println!(
                "{:<20} {}",
                "",
                enforcer::printable::escape(&enforcer::network::listing::describe(interface))
            );
        }
    }
    Ok(0)
}

/// `YYYY-MM-DD HH:MM:SS` UTC of a Unix time (the audit log's RFC 3339
/// time, without its `T`, milliseconds and `Z`).
fn format_time(seconds: u64) -> String {
    let millis = i64::try_from(seconds).unwrap_or(i64::MAX / 1000) * 1000;
    let rfc3339 = enforcer::audit::Timestamp::from_unix_millis(millis).to_string();
    format!("{} {}", &rfc3339[..10], &rfc3339[11..19])
}

/// `enforcer exec`.
pub fn exec(args: ExecArgs) -> i32 {
    let result = signals::block()
        .map_err(anyhow::Error::from)
        .and_then(|mask| {
            args.start.check()?;
            let options = lifecycle::ExecOptions {
                tty: args.start.tty,
                preserve_fds: args.start.preserve_fds,
                signal_mask: mask,
            };
            let states = args.state.state_dir();
            Sandbox::load(&states, &args.id)?.exec(&args.command, &options)
        });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "enforcer: error: {}",
                enforcer::printable::escape_message(&super::describe_error(&error))
            );
            EXIT_RUN_ERROR
        }
    }
}

/// `enforcer stats`.
pub fn stats(args: StatsArgs) -> anyhow::Result<i32> {
    let states = args.state.state_dir();
    let sandbox = Sandbox::load(&states, &args.id)?;
    let stats = sandbox.stats()?;
    let host_ids = sandbox.host_ids();
    let interfaces = sandbox.interfaces();
    if args.json {
        let mut json = serde_json::to_value(&stats)?;
        if let (Some(range), Some(object)) = (host_ids, json.as_object_mut()) {
            object.insert("hostIds".into(), serde_json::to_value(range)?);
        }
        if let (false, Some(object)) = (interfaces.is_empty(), json.as_object_mut()) {
            object.insert("interfaces".into(), serde_json::to_value(&interfaces)?);
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print_stats(&stats);
        if let Some(range) = host_ids {
            println!(
                "host ids: {range} ({} uids and gids, 0 to {} inside)",
                range.size,
                range.size - 1
            );
        }
        for interface in &interfaces {
            println!(
                "network:  {}",
                enforcer::printable::escape(&enforcer::network::listing::describe(interface))
            );
        }
    }
    Ok(0)
}

fn print_stats(stats: &Stats) {
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64);
    if let Some(memory) = &stats.memory {
        println!(
            "memory:   {} used, peak {}, limit {}, limit hit {} times, {} OOM kills",
            mib(memory.usage),
            memory.peak.map_or("-".into(), mib),
            memory.limit.map_or("none".into(), mib),
            memory.limit_hits,
            memory.oom_kills
        );
    }
    if let Some(pids) = &stats.pids {
        println!(
            "pids:     {} tasks, limit {}, {} forks refused",
            pids.current,
            pids.limit.map_or("none".into(), |limit| limit.to_string()),
            pids.limit_hits
        );
    }
    if let Some(cpu) = &stats.cpu {
        println!(
            "cpu:      {:.3} s used, throttled in {} of {} periods ({:.3} s)",
            cpu.usage_ns as f64 / 1e9,
            cpu.throttled_periods,
            cpu.periods,
            cpu.throttled_ns as f64 / 1e9
        );
    }
    for (size, hugetlb) in &stats.hugetlb {
        println!(
            "hugetlb:  {size} {} used, {} faults and {} reservations refused",
            mib(hugetlb.usage),
            hugetlb.limit_hits,
            hugetlb.reservation_limit_hits
        );
    }
    for (device, io) in &stats.io {
        println!(
            "io:       {device} read {} in {} ops, wrote {} in {} ops",
            mib(io.read_bytes),
            io.read_ops,
            mib(io.write_bytes),
            io.write_ops
        );
    }
    if let Some(frozen) = stats.frozen {
        println!("frozen:   {}", if frozen { "yes" } else { "no" });
    }
}

/// `enforcer kill`.
pub fn kill(args: KillArgs) -> anyhow::Result<i32> {
    let states = args.state.state_dir();
    // Read under the lock (no state half-replaced), signalled without it.
    Sandbox::lock(&states, &args.id)?
        .unlocked()
        .kill(args.signal)?;
    Ok(0)
}

/// `enforcer delete`.
pub fn delete(args: DeleteArgs) -> anyhow::Result<i32> {
    let states = args.state.state_dir();
    for id in &args.ids {
        Sandbox::lock(&states, id)?.delete()?;
    }
    Ok(0)
}

/// `enforcer gc`: what it removed (and released, kept) on stdout, what it
/// refused on stderr (exit 1 if anything was refused or failed to be
/// released).
pub fn gc(args: GcArgs) -> anyhow::Result<i32> {
    let states = args.state.state_dir();
    let outcome = lifecycle::gc(&states)?;
    let mounts = if args.mounts {
        lifecycle::release_mounts(&states, &args.mount_dir)?
    } else {
        ReleaseOutcome::default()
    };
    let failed = !outcome.refused.is_empty()
        || outcome.host_ids_error.is_some()
        || outcome.addresses_error.is_some()
        || mounts.kept.iter().any(|kept| kept.why.is_failure());
    let mut refused: Vec<(String, String)> = outcome
        .refused
        .iter()
        .map(|refused| (refused.id.clone(), super::describe_error(&refused.error)))
        .collect();
    if let Some(error) = &outcome.host_ids_error {
        refused.push((
            enforcer::host_ids::LEASE_DIR.to_string(),
            format!("host id leases: {}", super::describe_error(error)),
        ));
    }
    if let Some(error) = &outcome.addresses_error {
        refused.push((
            enforcer::network::lease::LEASE_DIR.to_string(),
            format!("address leases: {}", super::describe_error(error)),
        ));
    }
    if args.json {
        let json = serde_json::json!({
            "removed": outcome.removed,
            "refused": refused
                .iter()
                .map(|(id, error)| serde_json::json!({"id": id, "error": error}))
                .collect::<Vec<_>>(),
            "released": mounts
                .released
                .iter()
                .map(|released| serde_json::json!({
                    "controller": released.controller,
                    "path": released.mount_point,
                }))
                .collect::<Vec<_>>(),
            "hostIds": outcome
                .released_host_ids
                .iter()
                .map(|lease| serde_json::json!({
                    "start": lease.range.start,
                    "size": lease.range.size,
                    "sandbox": lease.sandbox,
                }))
                .collect::<Vec<_>>(),
            "addresses": outcome
                .released_addresses
                .iter()
                .map(|lease| serde_json::json!({
                    "network": lease.network,
                    "address": lease.address,
                    "sandbox": lease.sandbox,
                }))
                .collect::<Vec<_>>(),
            "kept": mounts
                .kept
                .iter()
                .map(|kept| serde_json::json!({
                    "path": kept.mount_point,
                    "controllers": kept.controllers,
                    "why": kept.why.to_string(),
                }))
                .collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(i32::from(failed));
    }
    let escape = enforcer::printable::escape;
    for id in &outcome.removed {
        println!("removed {}", escape(id));
    }
    for lease in &outcome.released_host_ids {
        println!(
            "released host ids {} of {} (no sandbox holds it)",
            lease.range,
            escape(&lease.sandbox)
        );
    }
    for lease in &outcome.released_addresses {
        println!(
            "released address {} of network {} (no sandbox holds it)",
            lease.address,
            escape(&lease.network)
        );
    }
    for released in &mounts.released {
        println!(
            "released the {} controller: unmounted {}",
            escape(&released.controller),
            escape(&released.mount_point.display().to_string())
        );
    }
    for kept in &mounts.kept {
        println!(
            "kept the {} controller at {}: {}",
            escape(&kept.controllers.join(",")),
            escape(&kept.mount_point.display().to_string()),
            enforcer::printable::escape_message(&kept.why.to_string())
        );
    }
    for (_, error) in &refused {
        eprintln!(
            "enforcer: error: {}",
            enforcer::printable::escape_message(error)
        );
    }
    Ok(i32::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_796_000_000), "2026-11-30 00:53:20");
    }
}
