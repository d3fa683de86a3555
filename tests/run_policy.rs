//! `enforcer run` when the policy says no, end to end through the built
//! binary: a denial starts nothing, and the embedded default policy's
//! denials read as they should.
//!
//! Every test uses its own cgroup root (`enforcer-test-<pid>-<n>`) and state
//! directory, and checks on drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use common::{enforcer, example};
use sandbox::Harness;
use test_cgroup::{cannot_run, require};

#[test]
fn a_denied_request_starts_nothing() {
    require!(cannot_run());
    let harness = Harness::new();
    let tiers = example("tenant_tiers");
    let run = harness.sh(
        &["-p", &tiers, "--tenant", "acme", "-l", "tier=gold"],
        "echo started",
    );
    run.expect_code(1).expect_stderr(&["unknown tier"]);
    assert!(run.stdout.is_empty());
}

#[test]
fn the_default_policy_denies_group_0_to_a_non_root_user() {
    require!(cannot_run());
    let harness = Harness::new();
    for request in [&["--user", "1000:0"][..], &["--user", "0:0"][..]] {
        let run = harness.sh(request, "id -g; id -G");
        if request[1] == "0:0" {
            // Root runs as root of its own user namespace.
            run.expect_code(0);
            continue;
        }
        run.expect_code(1).expect_stderr(&[
            "denied by policy embedded default: a non-root user may not run with group 0",
        ]);
        assert!(run.stdout.is_empty(), "nothing started: {}", run.stdout);
    }
    let eval = enforcer(&["eval", "--user", "1000:0", "--", "true"]);
    eval.expect_code(1)
        .expect_stderr(&["a non-root user may not run with group 0"]);
}
