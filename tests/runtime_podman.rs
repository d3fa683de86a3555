//! `enforcer runtime` behind Debian's podman 4.3 and conmon 2.1:
//! `podman --runtime enforcer-runtime run --rootfs DIR` runs a busybox
//! container with the policy's limits, and a container the policy denies
//! fails with the policy's reason in podman's error.
//!
//! Everything podman keeps is private to the test's stack directory
//! (`/tmp/enforcer-test-runtime-*`): `--root`, `--runroot`, `--tmpdir`
//! (where the `file` lock type keeps its locks, instead of
//! `/dev/shm/libpod_lock`), the events log, the network config, and a
//! `CONTAINERS_CONF` of our own. What podman still writes outside, and how
//! it is handled:
//! - `/run/containers/networks` (netavark's run directory, fixed for root
//!   in podman 4.3): removed when it was missing before and is empty;
//! - the cgroups: the container's `<cgroup-parent>/libpod-<id>` (removed
//!   by runc) and conmon's `<cgroup-parent>/conmon` in the v1 hierarchies,
//!   which nobody removes: the test removes the parent's whole tree;
//! - conmon daemonises (reparented to pid 1, which reaps it); one still
//!   running after `podman rm` is found by our directory on its command
//!   line and killed by pid.
//!
//! podman and conmon start the runtime with a cleaned environment
//! (`ENFORCER_CONFIG` does not reach it) and podman's exit command
//! (`podman container cleanup`) does not get `--runtime-flag`: so the
//! runtime is a script named `enforcer-runtime` that sets `ENFORCER_CONFIG`
//! and runc's private `--root`, then execs `enforcer runtime "$@"`.

#[path = "common/bundle.rs"]
mod bundle;
mod common;
#[path = "common/runtime.rs"]
mod runtime;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use serde_json::json;

use runtime::{
    CgroupTree, GlobalDirs, REPORT, Stack, assert_reports_limits, kill_and_wait, limiting_decision,
    processes_naming, reported, unique,
};
use test_cgroup::require;

const PODMAN: &str = "/usr/bin/podman";
const CONMON: &str = "/usr/bin/conmon";
const MIB: i64 = 1024 * 1024;

fn cannot_run() -> Option<&'static str> {
    if let Some(why) = runtime::cannot_run_runc() {
        return Some(why);
    }
    if !runtime::installed(PODMAN) {
        return Some("needs podman at /usr/bin/podman (apt-get install podman)");
    }
    if !runtime::installed(CONMON) {
        return Some("needs conmon at /usr/bin/conmon (apt-get install conmon)");
    }
    None
}

/// One podman test at a time per binary (the global directories).
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// podman with every directory inside `stack`, the containers in
/// `parent`.
struct Podman<'a> {
    stack: &'a Stack,
    /// `enforcer-runtime` (the script) or runc.
    runtime: PathBuf,
    globals: GlobalDirs,
    shm_before: Vec<String>,
    _exclusive: MutexGuard<'static, ()>,
}

impl<'a> Podman<'a> {
    /// podman in `stack`, its runtime the enforcer (`wrapper`) or runc.
    fn new(stack: &'a Stack, wrapper: bool) -> Podman<'a> {
        let exclusive = exclusive();
        let globals =
            GlobalDirs::note(&["/run/containers", "/run/containers/networks", "/run/runc"]);
        let d = stack.dir().display().to_string();
        for sub in [
            "podman-root",
            "podman-runroot",
            "podman-tmp",
            "podman-net",
            "podman-bin",
        ] {
            std::fs::create_dir(stack.path(sub)).expect("mkdir in the stack dir");
        }
        std::fs::write(
            stack.path("containers.conf"),
            format!(
                r#"[containers]
netns = "none"
# The test process's hard limits (podman asks more, which runc cannot set).
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
# Where AppArmor is on, podman would load its profile into the kernel (a
# machine-wide change a test must not leave).
apparmor_profile = "unconfined"

[engine]
lock_type = "file"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/podman-events.log"
tmp_dir = "{d}/podman-tmp"

[network]
network_config_dir = "{d}/podman-net"
"#
            ),
        )
        .expect("writes containers.conf");
        let script = stack.path("podman-bin").join(runtime::WRAPPER_NAME);
        let delegate = if wrapper {
            let config = stack
                .config
                .as_ref()
                .map(|path| format!("ENFORCER_CONFIG='{}' ", path.display()))
                .unwrap_or_default();
            format!(
                "{config}exec '{}' runtime --root '{}' \"$@\"",
                env!("CARGO_BIN_EXE_enforcer"),
                stack.root().display()
            )
        } else {
            format!(
                "exec '{}' --root '{}' \"$@\"",
                runtime::RUNC,
                stack.root().display()
            )
        };
        std::fs::write(&script, format!("#!/bin/sh\n{delegate}\n")).expect("writes the script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the script");
        Podman {
            stack,
            runtime: script,
            globals,
            shm_before: shm_entries(),
            _exclusive: exclusive,
        }
    }

    fn command(&self) -> Command {
        let stack = self.stack;
        let mut command = Command::new(PODMAN);
        command
            .env("CONTAINERS_CONF", stack.path("containers.conf"))
            .arg("--root")
            .arg(stack.path("podman-root"))
            .arg("--runroot")
            .arg(stack.path("podman-runroot"))
            .arg("--tmpdir")
            .arg(stack.path("podman-tmp"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--runtime",
            ])
            .arg(&self.runtime);
        command
    }

    /// `podman run --rm --network none --cgroup-parent PARENT --rootfs
    /// ROOTFS ARGS...`.
    fn run(&self, parent: &CgroupTree, args: &[&str]) -> common::Run {
        let id = unique("podman");
        let bundle = self.stack.bundle(&id, &["/bin/true"], |_| {});
        let mut command = self.command();
        command
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--cgroup-parent",
                &parent.path,
            ])
            .arg("--rootfs")
            .arg(bundle.rootfs())
            .args(args);
        let run = self.stack.run(command, "");
        let mut list = self.command();
        list.args(["ps", "--all", "--quiet"]);
        let listed = self.stack.run(list, "");
        assert_eq!(
            listed.stdout.trim(),
            "",
            "containers left in podman: {listed:?}"
        );
        run
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let mut remove = self.command();
        remove.args(["rm", "--all", "--force", "--time", "0"]);
        let removed = self.stack.run(remove, "");
        if removed.code != Some(0) {
            problems.push(format!("podman rm: {removed:?}"));
        }
        let conmons = processes_naming(&self.stack.dir().display().to_string());
        if !conmons.is_empty() {
            let stayed = kill_and_wait(&conmons);
            problems.push(format!(
                "processes outlived podman: {conmons:?} (killed; still there: {stayed:?})"
            ));
        }
        let new_shm: Vec<String> = shm_entries()
            .into_iter()
            .filter(|name| !self.shm_before.contains(name) && name.starts_with("libpod"))
            .collect();
        if !new_shm.is_empty() {
            problems.push(format!("podman left /dev/shm/{new_shm:?}"));
        }
        let stayed = self.globals.remove();
        if !stayed.is_empty() {
            problems.push(format!("not empty, kept: {stayed:?}"));
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let ours: Vec<&str> = mounts
            .lines()
            .filter(|line| line.contains(&self.stack.dir().display().to_string()))
            .collect();
        if !ours.is_empty() {
            problems.push(format!("mounts left: {ours:?}"));
        }
        if !problems.is_empty() {
            if std::thread::panicking() {
                eprintln!("cleanup after a failed test: {problems:?}");
            } else {
                panic!("podman left things behind: {problems:?}");
            }
        }
    }
}

fn shm_entries() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The harness through runc itself: podman's own spec, no policy.
#[test]
fn podman_run_through_runc_baseline() {
    require!(cannot_run());
    // Declared first, dropped last: after podman's containers and conmon.
    let parent = CgroupTree::new("podman");
    let stack = Stack::new();
    let podman = Podman::new(&stack, false);
    let run = podman.run(&parent, &["/bin/sh", "-c", REPORT]);
    run.expect_code(0);
    // podman's default pids limit (containers.conf pids_limit).
    assert_eq!(reported(&run.stdout, "pids"), "2048", "{}", run.stdout);
    let run = podman.run(&parent, &["/bin/sh", "-c", "exit 3"]);
    assert_eq!(run.code, Some(3), "{run:?}");
}

#[test]
fn podman_run_through_the_wrapper_gets_the_policys_limits() {
    require!(cannot_run());
    let parent = CgroupTree::new("podman");
    let mut stack = Stack::new();
    let policy = stack.decision_policy("platform", &limiting_decision(64 * MIB, 32));
    stack.write_config(&[policy], "");
    let podman = Podman::new(&stack, true);
    let run = podman.run(&parent, &["/bin/sh", "-c", REPORT]);
    run.expect_code(0);
    // podman's default set has CAP_KILL and CAP_CHOWN, not CAP_AUDIT_WRITE.
    assert_reports_limits(&run.stdout, 64 * MIB, 32, &["CAP_KILL", "CAP_CHOWN"]);
    let run = podman.run(&parent, &["/bin/sh", "-c", "exit 3"]);
    assert_eq!(run.code, Some(3), "{run:?}");
}

#[test]
fn podman_run_of_a_denied_container_shows_the_policys_reason() {
    require!(cannot_run());
    let parent = CgroupTree::new("podman");
    let mut stack = Stack::new();
    let policy = stack.decision_policy("platform", &json!({"allow": false, "reason": "no tenant"}));
    stack.write_config(&[policy], "");
    let podman = Podman::new(&stack, true);
    let run = podman.run(&parent, &["/bin/sh", "-c", "echo ran"]);
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains("ran"), "{run:?}");
    // What the operator sees.
    eprintln!("podman says: {}", run.stderr.trim());
    run.expect_stderr(&["enforcer: policy ", "no tenant"]);
    // No container cgroup was made (only conmon's, which may still be
    // exiting: the parent's drop waits for it and removes it).
    let containers: Vec<_> = parent
        .left()
        .into_iter()
        .filter(|dir| {
            dir.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("libpod-"))
        })
        .collect();
    assert_eq!(containers, Vec::<PathBuf>::new());
}
