#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! `enforcer run /bin/true` with the default policy (pid, ipc, uts, mount,
//! network and cgroup namespaces, plus a user namespace for root; memory,
//! pids and device limits in every cgroup hierarchy) against
//! `unshare --fork --pid --ipc --uts --net --mount --mount-proc /bin/true`,
//! each as a whole process started from here. Needs root; sandboxes use the
//! cgroup root `enforcer-test-bench` and a temporary state directory.
//! Also a fixed decision (no namespaces) with and without
//! `default_seccomp()`, for the filter's cost.
//!
//! `cargo bench -p enforcer --bench run` (`-- seccomp`: those two alone)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

#[allow(dead_code)]
#[path = "../../tests/common/wat.rs"]
mod wat;

fn status(command: &mut Command) {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("starts");
    assert!(status.success(), "{command:?}: {status}");
}

fn run(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED the run benchmarks: they need root");
        return;
    }
    let enforcer = Path::new(env!("CARGO_BIN_EXE_enforcer"));
    let state = tempfile::Builder::new()
        .prefix("enforcer-test-bench-state-")
        .tempdir()
        .expect("tempdir");
    let mut group = c.benchmark_group("start /bin/true");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("unshare (pid ipc uts net mount, --mount-proc)", |b| {
        b.iter(|| {
            status(Command::new("unshare").args([
                "--fork",
                "--pid",
                "--ipc",
                "--uts",
                "--net",
                "--mount",
                "--mount-proc",
                "/bin/true",
            ]))
        })
    });
    for (name, user) in [
        (
            "enforcer run, default policy, as root (adds a user namespace)",
            "0",
        ),
        ("enforcer run, default policy, as uid 1000", "1000"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                status(
                    Command::new(enforcer)
                        .args(["run", "--cgroup-root", "enforcer-test-bench", "--state-dir"])
                        .arg(state.path())
                        .args(["--user", user, "--", "/bin/true"]),
                )
            })
        });
    }
    let policies = tempfile::tempdir().expect("tempdir");
    let seccomp = serde_json::to_value(policy_sdk::default_seccomp()).expect("serializes");
    for (name, decision) in [
        (
            "enforcer run, fixed decision, no seccomp",
            serde_json::json!({"allow": true}),
        ),
        (
            "enforcer run, fixed decision, default_seccomp()",
            serde_json::json!({"allow": true, "seccomp": seccomp}),
        ),
    ] {
        let policy = wat::decision_module(
            policies.path(),
            &name.replace([' ', ',', '(', ')'], "-"),
            &decision,
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                status(
                    Command::new(enforcer)
                        .args(["run", "--cgroup-root", "enforcer-test-bench", "--state-dir"])
                        .arg(state.path())
                        .arg("--policy")
                        .arg(&policy)
                        .args(["--", "/bin/true"]),
                )
            })
        });
    }
    group.bench_function("enforcer --version (process start alone)", |b| {
        b.iter(|| status(Command::new(enforcer).arg("--version")))
    });
    group.finish();
}

criterion_group!(benches, run);
criterion_main!(benches);
