//! A running workload against its confinement, end to end through the
//! built binary: crossing its cgroup limits fails as the kernel makes it
//! fail, and the ways out an attacker would try (raising its own limits,
//! mounting, joining the host's namespaces, signalling the host, a setuid
//! binary) are refused by the kernel.
//!
//! Every test uses its own cgroup root (`enforcer-test-<pid>-<n>`) and state
//! directory, and checks on drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::process::Command;

use sandbox::{Harness, inode, labels};
use test_cgroup::{cannot_run, require, skipped};

#[test]
fn a_workload_crossing_its_limits_fails_as_the_kernel_makes_it() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = labels();
    let pids = harness.sh(
        &["-p", &policy, "-l", "pids=8"],
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait; echo done",
    );
    assert!(
        pids.stderr.to_lowercase().contains("fork")
            || pids.stderr.contains("Resource temporarily unavailable"),
        "fork beyond pids.max fails: {}",
        pids.stderr
    );
    let memory = harness.sh(
        &["-p", &policy, "-l", "memory=33554432"],
        "head -c 200000000 /dev/zero | tail -n 1 > /dev/null; echo status=$?",
    );
    memory.expect_code(0);
    assert!(
        memory.stdout.contains("status=137"),
        "the hog is OOM-killed: {}",
        memory.stdout
    );
    let device = harness.sh(
        &["-p", &policy, "-l", "deny-char=1:5"],
        "head -c 1 /dev/zero > /dev/null && echo zero-ok; head -c 1 /dev/urandom > /dev/null && echo urandom-ok",
    );
    assert_eq!(device.stdout, "urandom-ok\n", "{}", device.stderr);
    assert!(
        device
            .stderr
            .lines()
            .any(|line| line.contains("/dev/zero") && line.contains("Operation not permitted")),
        "{}",
        device.stderr
    );
}

#[test]
fn check_before_update_is_accepted_and_the_limit_applies() {
    // `checkBeforeUpdate` asks that a limit never be set below what the
    // cgroup already uses. The enforcer only ever writes limits into a
    // cgroup it has just created, before the workload joins it, so the
    // check holds by construction: the decision runs, with its limit.
    require!(cannot_run());
    let harness = Harness::new();
    let memory = harness.sh(
        &[
            "-p",
            &labels(),
            "-l",
            "memory=33554432",
            "-l",
            "check-before-update=true",
        ],
        "head -c 200000000 /dev/zero | tail -n 1 > /dev/null; echo status=$?",
    );
    memory.expect_code(0);
    assert!(
        memory.stdout.contains("status=137"),
        "the limit applies: the hog is OOM-killed: {}",
        memory.stdout
    );
}

#[test]
fn escape_attempts_are_refused_by_the_kernel() {
    require!(cannot_run());
    let harness = Harness::new();
    let host_net = inode("/proc/self/ns/net");
    // Its own cgroup is what it sees at /sys/fs/cgroup (read-only), the
    // host's paths to it are not there at all.
    let script = format!(
        "cg=/sys/fs/cgroup/pids; \
         echo 100000 > $cg/pids.max 2>/dev/null && echo raised-pids; \
         echo -1 > /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null && echo raised-memory; \
         echo 100000 > /sys/fs/cgroup/pids/{root}/sandboxes/escape/pids.max 2>/dev/null && echo raised-host-path; \
         mount -t tmpfs none /mnt 2>/dev/null && echo mounted; \
         nsenter --net=/proc/1/ns/net stat -L -c %i /proc/self/ns/net 2>/dev/null | grep -qx {host_net} && echo joined-host; \
         kill -9 {host_pid} 2>/dev/null && echo killed; \
         cat $cg/pids.max",
        root = harness.root,
        host_pid = std::process::id(),
    );
    let run = harness.sh(&["--id", "escape"], &script);
    run.expect_code(0);
    assert_eq!(
        run.stdout, "256\n",
        "every attempt must fail: {} {}",
        run.stdout, run.stderr
    );
}

#[test]
fn no_new_privileges_defeats_a_setuid_binary() {
    require!(cannot_run());
    let harness = Harness::new();
    let directory = tempfile::Builder::new()
        .prefix("enforcer-test-suid-")
        .tempdir_in("/var/tmp")
        .expect("tempdir");
    std::fs::set_permissions(
        directory.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let id = directory.path().join("id");
    std::fs::copy("/usr/bin/id", &id).expect("copies id");
    std::fs::set_permissions(&id, std::os::unix::fs::PermissionsExt::from_mode(0o4755))
        .expect("setuid");
    let id = id.display().to_string();
    // Outside, as user 1000, the setuid bit works on this filesystem.
    let control = Command::new("setpriv")
        .args([
            "--reuid",
            "1000",
            "--regid",
            "1000",
            "--clear-groups",
            &id,
            "-u",
        ])
        .output()
        .expect("setpriv runs");
    let control = String::from_utf8_lossy(&control.stdout).trim().to_string();
    if control != "0" {
        skipped(&format!(
            "setuid binaries do not work under /var/tmp here ({control:?})"
        ));
        return;
    }
    // The label policy keeps the host's files, so the binary is there
    // without a nosuid bind (which would defeat it before NNP does).
    let policy = labels();
    let run = harness.sh(
        &["-p", &policy, "--user", "1000:1000"],
        &format!("{id} -u; id -u"),
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout, "1000\n1000\n",
        "the setuid bit must not give root: {}",
        run.stderr
    );
}
