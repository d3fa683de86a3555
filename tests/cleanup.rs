//! Clean-up that never strands anything: when a sandbox's cgroup cannot be
//! removed in one hierarchy (injected here: the test makes a cgroup inside
//! the sandbox's leaf, which the enforcer did not create and so never
//! removes), every other hierarchy's leaf is still removed, the error names
//! the directory left and why, the state record stays, and `gc` finishes
//! the job once the obstacle is gone.
//!
//! Every test uses its own cgroup root (`enforcer-test-<pid>-<n>`) and state
//! directory, and checks on drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::path::{Path, PathBuf};

use sandbox::{Harness, alive};
use test_cgroup::{cannot_run, require, skipped, wait_for};

/// A cgroup the test made inside a sandbox's leaf, removed on drop (also
/// when the test fails, before the harness cleans up).
struct Obstacle(PathBuf);

impl Obstacle {
    fn new(leaf: &Path) -> Obstacle {
        let child = leaf.join("made-by-the-test");
        std::fs::create_dir(&child)
            .unwrap_or_else(|error| panic!("mkdir {}: {error}", child.display()));
        Obstacle(child)
    }

    fn remove(&self) {
        if self.0.exists() {
            std::fs::remove_dir(&self.0)
                .unwrap_or_else(|error| panic!("rmdir {}: {error}", self.0.display()));
        }
    }
}

impl Drop for Obstacle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The leaves recorded in sandbox `id`'s state.
fn leaves(harness: &Harness, id: &str) -> Vec<PathBuf> {
    harness.state(id)["cgroup"]["leaves"]
        .as_array()
        .expect("recorded leaves")
        .iter()
        .map(|leaf| PathBuf::from(leaf.as_str().expect("a path")))
        .collect()
}

/// A leaf of a v1 hierarchy (not the cgroup2 one) among `leaves`.
fn v1_leaf(leaves: &[PathBuf]) -> Option<PathBuf> {
    let layout = enforcer::cgroup::discover();
    leaves
        .iter()
        .find(|leaf| {
            layout
                .v1
                .iter()
                .any(|hierarchy| leaf.starts_with(&hierarchy.mount_point))
        })
        .cloned()
}

/// The ids `ps --json` lists.
fn listed(harness: &Harness) -> Vec<String> {
    let ps = harness.command("ps", &["--json"]);
    ps.expect_code(0);
    ps.json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|listing| listing["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Starts a detached sandbox `id` and picks the v1 leaf to obstruct; `None`
/// (after a counted skip) when the sandbox is not in several hierarchies.
fn start(harness: &Harness, id: &str) -> Option<(Vec<PathBuf>, PathBuf)> {
    harness.detach_sh(&["--id", id], "sleep 60");
    let leaves = leaves(harness, id);
    match v1_leaf(&leaves) {
        Some(leaf) if leaves.len() > 1 => Some((leaves, leaf)),
        _ => {
            let _ = harness.command("delete", &[id]);
            skipped("the sandbox is not in several hierarchies here (no cgroup v1)");
            None
        }
    }
}

#[test]
fn delete_removes_every_other_hierarchy_keeps_the_record_and_gc_finishes() {
    require!(cannot_run());
    let harness = Harness::new();
    let Some((leaves, stuck)) = start(&harness, "stuck") else {
        return;
    };
    let pid = harness.pid("stuck");
    let obstacle = Obstacle::new(&stuck);
    let delete = harness.command("delete", &["stuck"]);
    // An error (exit 2) naming the leaf it left.
    delete.expect_code(2).expect_stderr(&[
        "cgroup not fully removed",
        &format!("{} (busy: it has child cgroups", stuck.display()),
        "made-by-the-test",
        "removed the others",
    ]);
    // It did not wait out the removal timeout on a leaf that cannot empty.
    assert!(
        delete.elapsed < std::time::Duration::from_secs(5),
        "{:?}",
        delete.elapsed
    );
    wait_for("the workload to die", || !alive(pid));
    for leaf in leaves.iter().filter(|leaf| **leaf != stuck) {
        assert!(!leaf.exists(), "{} was left", leaf.display());
    }
    assert!(stuck.exists());
    assert_eq!(listed(&harness), ["stuck"], "the record is kept for gc");
    // While the obstacle is there, gc reports it and keeps the record too.
    let gc = harness.command("gc", &[]);
    gc.expect_code(1)
        .expect_stderr(&[&stuck.display().to_string()]);
    assert_eq!(listed(&harness), ["stuck"]);
    obstacle.remove();
    let gc = harness.command("gc", &[]);
    gc.expect_code(0);
    assert_eq!(gc.stdout, "removed stuck\n");
    assert!(!stuck.exists());
    assert!(listed(&harness).is_empty());
    // The harness checks on drop that no state and no cgroup is left.
}

#[test]
fn gc_goes_on_past_a_sandbox_it_cannot_remove_and_reports_it() {
    require!(cannot_run());
    let harness = Harness::new();
    let Some((_, stuck)) = start(&harness, "stuck") else {
        return;
    };
    harness.detach_sh(&["--id", "fine"], "sleep 60");
    let fine = leaves(&harness, "fine");
    for id in ["stuck", "fine"] {
        let pid = harness.pid(id);
        harness.command("kill", &[id, "KILL"]).expect_code(0);
        wait_for("the workload to die", || !alive(pid));
    }
    let obstacle = Obstacle::new(&stuck);
    let gc = harness.command("gc", &["--json"]);
    gc.expect_code(1);
    let report = gc.json();
    assert_eq!(report["removed"], serde_json::json!(["fine"]));
    let refused = report["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 1, "{report}");
    assert_eq!(refused[0]["id"], "stuck");
    let error = refused[0]["error"].as_str().expect("an error");
    assert!(
        error.contains(&stuck.display().to_string()) && error.contains("child cgroups"),
        "{error}"
    );
    assert_eq!(report["released"], serde_json::json!([]));
    assert!(fine.iter().all(|leaf| !leaf.exists()));
    assert_eq!(listed(&harness), ["stuck"]);
    obstacle.remove();
    let gc = harness.command("gc", &["--json"]);
    gc.expect_code(0);
    assert_eq!(gc.json()["removed"], serde_json::json!(["stuck"]));
}

#[test]
fn gc_skips_the_mount_directory_inside_the_state_directory() {
    require!(cannot_run());
    let harness = Harness::new();
    // What `run --mount-controllers` leaves with the default layout (the
    // mount directory below the state directory), mounts or not.
    let mounts = harness.state.path().join("cgroup/net_cls");
    std::fs::create_dir_all(&mounts).expect("mkdir");
    std::fs::write(mounts.join("cgroup.procs"), "").expect("file");
    let gc = harness.command("gc", &[]);
    gc.expect_code(0);
    assert_eq!(gc.stdout, "");
    assert!(mounts.exists(), "gc left the mount directory alone");
    std::fs::remove_dir_all(harness.state.path().join("cgroup")).expect("cleaned");
}

#[test]
fn an_attached_runs_clean_up_keeps_the_record_when_a_leaf_stays() {
    require!(cannot_run());
    let harness = Harness::new();
    let run = harness.spawn_sh(&["--id", "attached"], "sleep 60");
    harness.wait_started("attached");
    let leaves = leaves(&harness, "attached");
    let Some(stuck) = v1_leaf(&leaves).filter(|_| leaves.len() > 1) else {
        let _ = harness.command("delete", &["attached"]);
        let _ = run.wait_with_output();
        skipped("the sandbox is not in several hierarchies here (no cgroup v1)");
        return;
    };
    let obstacle = Obstacle::new(&stuck);
    // The workload ends (KILL goes to it, not through the run); the run
    // cleans up and cannot remove the obstructed leaf.
    harness
        .command("kill", &["attached", "KILL"])
        .expect_code(0);
    let output = run.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cgroup not fully removed")
            && stderr.contains(&stuck.display().to_string())
            && stderr.contains("the sandbox's state is kept"),
        "{stderr}"
    );
    for leaf in leaves.iter().filter(|leaf| **leaf != stuck) {
        assert!(!leaf.exists(), "{} was left", leaf.display());
    }
    assert_eq!(listed(&harness), ["attached"], "the record is kept for gc");
    obstacle.remove();
    let gc = harness.command("gc", &[]);
    gc.expect_code(0);
    assert_eq!(gc.stdout, "removed attached\n");
    assert!(listed(&harness).is_empty());
}
