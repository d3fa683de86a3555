//! The sandbox lifecycle end to end through the built binary: `run
//! --detach`, `ps`, `kill`, `delete` (also twice at once) and `gc` after an
//! enforcer that was SIGKILLed.
//!
//! Every test uses its own cgroup root (`enforcer-test-<pid>-<n>`) and state
//! directory, and checks on drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::io::{BufRead, BufReader};

use sandbox::Harness;
use test_cgroup::{cannot_run, require, wait_for};

#[test]
fn lifecycle_detach_ps_kill_delete_and_conflicts() {
    require!(cannot_run());
    let harness = Harness::new();
    let id = harness.detach_sh(&["--id", "life"], "sleep 60");
    let conflict = harness.sh(&["--id", "life"], "true");
    conflict.expect_code(125).expect_stderr(&["exists already"]);
    let ps = harness.command("ps", &["--json"]);
    ps.expect_code(0);
    let listing = ps.json();
    assert_eq!(listing[0]["id"], "life");
    assert_eq!(listing[0]["status"], "running");
    let table = harness.command("ps", &[]);
    assert!(
        table.stdout.contains("life") && table.stdout.contains("running"),
        "{}",
        table.stdout
    );
    harness.command("kill", &[&id, "TERM"]).expect_code(0);
    wait_for("the sandbox to stop", || {
        harness.command("ps", &["--json"]).json()[0]["status"] == "stopped"
    });
    harness.command("gc", &[]).expect_code(0);
    assert_eq!(
        harness.command("ps", &["--json"]).json(),
        serde_json::json!([])
    );
    harness
        .command("delete", &["life"])
        .expect_code(2)
        .expect_stderr(&["no sandbox \"life\""]);
}

#[test]
fn concurrent_deletes_do_not_trip_over_each_other() {
    require!(cannot_run());
    let harness = Harness::new();
    let id = harness.detach_sh(&["--id", "twice"], "sleep 60");
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| harness.command("delete", &[&id]));
        let second = scope.spawn(|| harness.command("delete", &[&id]));
        (first.join().expect("first"), second.join().expect("second"))
    });
    let mut codes = [first.code, second.code];
    codes.sort();
    assert_eq!(codes, [Some(0), Some(2)], "{first:?}\n{second:?}");
    let loser = if first.code == Some(2) {
        &first
    } else {
        &second
    };
    assert!(loser.stderr.contains("no sandbox"), "{}", loser.stderr);
}

#[test]
fn gc_cleans_up_after_a_sigkilled_enforcer() {
    require!(cannot_run());
    let harness = Harness::new();
    let mut child = harness.spawn_sh(&["--id", "orphan"], "echo ready; sleep 60");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("reads");
    assert_eq!(line, "ready\n");
    // The state names the process once the start has completed.
    wait_for("the state to name the process", || {
        !harness.state("orphan")["process"].is_null()
    });
    let workload = harness.pid("orphan");
    child.kill().expect("SIGKILLs our child, the enforcer");
    child.wait().expect("reaps it");
    wait_for("the workload to die with its enforcer", || {
        !sandbox::alive(workload)
    });
    let ps = harness.command("ps", &["--json"]).json();
    assert_eq!(ps[0]["id"], "orphan");
    assert_ne!(ps[0]["status"], "running");
    let gc = harness.command("gc", &[]);
    gc.expect_code(0);
    assert_eq!(gc.stdout, "removed orphan\n");
    for directory in harness.root_directories() {
        assert!(!directory.exists(), "{} survived gc", directory.display());
    }
}
