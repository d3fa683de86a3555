//! `enforcer runtime` behind Debian's containerd 1.6 and its
//! `io.containerd.runc.v2` shim: `ctr run --runc-binary enforcer-runtime
//! --rootfs DIR` runs a busybox container with the policy's limits, and a
//! container the policy denies fails with the policy's reason in ctr's
//! error (containerd's `OCI runtime create failed: ...`).
//!
//! Each test starts its own containerd (tests/common/containerd.rs: private
//! config, root, state, socket; stopped by pid), in the namespace
//! `enforcer-test`, and gives each container the cgroup
//! `/enforcer-test-ctr-<pid>-<n>/<id>`, removed with its parent on drop.

#[path = "common/bundle.rs"]
mod bundle;
mod common;
#[path = "common/containerd.rs"]
mod containerd;
#[path = "common/runtime.rs"]
mod runtime;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::ffi::OsString;
use std::path::Path;

use serde_json::json;

use containerd::Containerd;
use runtime::{
    CgroupTree, DECISION_CAPS, REPORT, Stack, assert_reports_limits, cap_bit, cap_mask,
    limiting_decision, reported, unique,
};
use test_cgroup::require;

const MIB: i64 = 1024 * 1024;

/// A stack whose platform chain answers `decision`, and a containerd whose
/// environment names its config.
fn stack_and_containerd(decision: &serde_json::Value) -> (Stack, Containerd) {
    let mut stack = Stack::new();
    let policy = stack.decision_policy("platform", decision);
    let config = stack.write_config(&[policy], "");
    let containerd = Containerd::start(&[("ENFORCER_CONFIG", OsString::from(config))]);
    (stack, containerd)
}

fn ctr_run(
    stack: &Stack,
    containerd: &Containerd,
    runtime: &Path,
    parent: &CgroupTree,
    args: &[&str],
) -> common::Run {
    let id = unique("ctr");
    // The rootfs of a bundle (ctr writes its own spec).
    let bundle = stack.bundle(&id, &["/bin/true"], |_| {});
    let cgroup = format!("{}/{id}", parent.path);
    let command = containerd.run_command(runtime, &cgroup, &bundle.rootfs(), &id, args);
    let run = stack.run(command, "");
    // Nothing of the container stays in containerd.
    let mut list = containerd.ctr();
    list.args(["containers", "list", "--quiet"]);
    let listed = stack.run(list, "");
    assert!(
        !listed.stdout.contains(&id),
        "{id} is still listed: {listed:?}"
    );
    run
}

/// The harness through runc itself: containerd's own spec, no policy.
#[test]
fn ctr_run_through_runc_baseline() {
    require!(containerd::cannot_run());
    // Declared first, dropped last: after containerd and its shims.
    let parent = CgroupTree::new("ctr");
    let stack = Stack::new();
    let containerd = Containerd::start(&[]);
    let run = ctr_run(
        &stack,
        &containerd,
        Path::new(runtime::RUNC),
        &parent,
        &["/bin/sh", "-c", REPORT],
    );
    run.expect_code(0);
    assert_eq!(reported(&run.stdout, "pids"), "max", "{run:?}");
    let bounding = cap_mask(&run.stdout, "CapBnd");
    assert_ne!(bounding & (1 << cap_bit("CAP_NET_RAW")), 0, "{bounding:x}");
}

#[test]
fn ctr_run_through_the_wrapper_gets_the_policys_limits() {
    require!(containerd::cannot_run());
    let parent = CgroupTree::new("ctr");
    let (stack, containerd) = stack_and_containerd(&limiting_decision(64 * MIB, 32));
    let run = ctr_run(
        &stack,
        &containerd,
        &stack.wrapper(),
        &parent,
        &["/bin/sh", "-c", REPORT],
    );
    assert_eq!(
        run.code,
        Some(0),
        "{run:?}\ncontainerd:\n{}",
        containerd.log()
    );
    assert_reports_limits(&run.stdout, 64 * MIB, 32, &DECISION_CAPS);
    // The exit status comes through the shim.
    let run = ctr_run(
        &stack,
        &containerd,
        &stack.wrapper(),
        &parent,
        &["/bin/sh", "-c", "exit 3"],
    );
    assert_eq!(run.code, Some(3), "{run:?}");
}

#[test]
fn ctr_run_of_a_denied_container_shows_the_policys_reason() {
    require!(containerd::cannot_run());
    let parent = CgroupTree::new("ctr");
    let (stack, containerd) = stack_and_containerd(&json!({"allow": false, "reason": "no tenant"}));
    let run = ctr_run(
        &stack,
        &containerd,
        &stack.wrapper(),
        &parent,
        &["/bin/sh", "-c", "echo ran"],
    );
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains("ran"), "{run:?}");
    // What the operator sees.
    eprintln!("ctr says: {}", run.stderr.trim());
    run.expect_stderr(&[
        "OCI runtime create failed",
        "enforcer: policy ",
        "no tenant",
    ]);
    assert_eq!(parent.processes(), Vec::<i32>::new());
}
