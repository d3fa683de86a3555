//! What the caller of `enforcer run` sees of its workload, end to end
//! through the built binary: the output, the exit status (codes, deaths by
//! signal, programs that cannot be executed), a SIGTERM to the enforcer
//! passed on to the workload, starts that never hang, and the `--timings`
//! stages.
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
use test_cgroup::{cannot_run, require};

#[test]
fn zero_config_run_prints_hello() {
    require!(cannot_run());
    let harness = Harness::new();
    let run = harness.sh(&[], "echo hello");
    run.expect_code(0);
    assert_eq!(run.stdout, "hello\n");
}

#[test]
fn timings_name_every_stage_in_order() {
    require!(cannot_run());
    let harness = Harness::new();
    let run = harness.run(&["--timings"], &["/bin/true"]);
    run.expect_code(0);
    let line = run
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("enforcer: timings: "))
        .unwrap_or_else(|| panic!("no timings line in {:?}", run.stderr));
    let stages: Vec<&str> = line
        .split(", ")
        .map(|part| {
            let (stage, time) = part.split_once(' ').expect("stage and time");
            assert!(time.ends_with("ms"), "{part}");
            stage
        })
        .collect();
    assert_eq!(
        stages,
        [
            "request", "engine", "load", "evaluate", "prepare", "cgroups", "network", "spawn",
            "workload", "cleanup"
        ]
    );
}

#[test]
fn exit_codes_and_signals() {
    require!(cannot_run());
    let harness = Harness::new();
    harness.sh(&[], "exit 7").expect_code(7);
    harness.sh(&[], "kill -9 $$").expect_code(137);
    harness.sh(&["--as-pid-1"], "exit 3").expect_code(3);
    let missing = harness.sh(&[], "exec /no/such/program");
    assert_ne!(missing.code, Some(0));
    let command = |program: &str| harness.run(&[], &[program]);
    command("no-such-program-anywhere")
        .expect_code(125)
        .expect_stderr(&[
            "cannot run \"no-such-program-anywhere\": not found in the sandbox's PATH",
        ]);
    let directory = tempfile::Builder::new()
        .prefix("enforcer-test-exec-")
        .tempdir_in("/var/tmp")
        .expect("tempdir");
    let script = directory.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\necho ran\n").expect("writes");
    for (path, mode) in [(directory.path(), 0o755), (script.as_path(), 0o644)] {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .expect("chmod");
    }
    let script = script.display().to_string();
    // The label policy keeps the host's files (the default policy's /var/tmp
    // is a tmpfs of its own).
    let policy = sandbox::labels();
    harness
        .run(&["-p", &policy], &[&script])
        .expect_code(125)
        .expect_stderr(&[&format!("cannot execute {script}"), "Permission denied"]);
}

#[test]
fn sigterm_to_the_enforcer_reaches_the_workload() {
    require!(cannot_run());
    let harness = Harness::new();
    for options in [&[][..], &["--as-pid-1"][..]] {
        let mut child = harness.spawn_sh(
            options,
            "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
        );
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("reads");
        assert_eq!(line, "ready\n");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("signals our child");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).expect("reads");
        let status = child.wait().expect("waits");
        assert_eq!(rest, "got-term\n", "{options:?}");
        assert_eq!(status.code(), Some(3), "{options:?}");
    }
}

#[test]
fn a_hundred_starts_in_a_row_never_hang() {
    // The child of a multi-threaded enforcer must not take a lock before
    // exec (glibc's id-change wrappers once did, now and then): a hang
    // fails this test through the hang guard.
    require!(cannot_run());
    let harness = Harness::new();
    for round in 0..100 {
        let user = if round % 2 == 0 { "0" } else { "1000" };
        harness
            .run(&["--user", user], &["/bin/true"])
            .expect_code(0);
    }
}
