//! `enforcer run` and the sandbox lifecycle end to end, through the built
//! binary, checking the kernel's view from outside (`/proc/<pid>/ns`,
//! `/proc/<pid>/cgroup`, uid maps) and inside (what the workload sees, and
//! how it fails when it crosses a limit or tries to escape).
//!
//! Every test uses its own cgroup root (`enforcer-test-<pid>-<n>`) and state
//! directory, and checks on drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;

use common::{enforcer, example};
use enforcer::cgroup::discover;
use sandbox::{Harness, inode, labels};
use test_cgroup::{cannot_run, require, skipped, wait_for};

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
            "request", "engine", "load", "evaluate", "prepare", "cgroups", "spawn", "workload",
            "cleanup"
        ]
    );
}

#[test]
fn namespaces_from_outside_and_inside_and_exec_joins_them() {
    require!(cannot_run());
    let harness = Harness::new();
    let id = harness.detach_sh(&["--id", "ns-test"], "sleep 60");
    assert_eq!(id, "ns-test");
    let pid = harness.pid(&id);
    // Created: every type differs from ours (pid: where its processes live).
    for (ours, theirs) in [
        ("user", "user"),
        ("pid", "pid_for_children"),
        ("net", "net"),
        ("mnt", "mnt"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("cgroup", "cgroup"),
    ] {
        assert_ne!(
            inode(format!("/proc/self/ns/{ours}")),
            inode(format!("/proc/{pid}/ns/{theirs}")),
            "{ours} namespace"
        );
    }
    // uid 0 inside is the decision's unprivileged host id.
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("uid_map");
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "1000000000", "65536"]
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.contains("Uid:\t1000000000\t"), "{status}");
    // Its cgroup in every hierarchy: a tenant-less sandbox is under
    // sandboxes/.
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
    let suffix = format!("/{}/sandboxes/{id}", harness.root);
    let layout = discover();
    let hierarchies = layout
        .v1
        .iter()
        .filter(|h| !h.controllers.is_empty())
        .count()
        + usize::from(layout.v2.is_some());
    assert_eq!(
        membership
            .lines()
            .filter(|line| line.ends_with(&suffix))
            .count(),
        hierarchies,
        "{membership}"
    );
    // exec lands in the same namespaces.
    let inside = harness.command(
        "exec",
        &[
            &id,
            "--",
            "/bin/sh",
            "-c",
            "for n in user pid net mnt ipc uts cgroup; do stat -L -c %i /proc/self/ns/$n; done; hostname",
        ],
    );
    inside.expect_code(0);
    let lines: Vec<&str> = inside.stdout.lines().collect();
    for (index, name) in ["user", "pid", "net", "mnt", "ipc", "uts", "cgroup"]
        .iter()
        .enumerate()
    {
        let theirs = if *name == "pid" {
            "pid_for_children"
        } else {
            name
        };
        assert_eq!(
            lines[index],
            inode(format!("/proc/{pid}/ns/{theirs}")).to_string(),
            "exec joins the {name} namespace"
        );
    }
    assert_eq!(lines[7], id, "the hostname inside is the decision's");
    let stats = harness.command("stats", &[&id, "--json"]);
    stats.expect_code(0);
    assert!(stats.json()["pids"]["current"].as_u64().expect("pids") >= 2);
    harness.command("delete", &[&id]).expect_code(0);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| stat.contains(") Z "))
                .unwrap_or(true),
        "delete kills the sandbox"
    );
}

#[test]
fn pid_1_is_the_init_and_only_own_processes_are_visible() {
    require!(cannot_run());
    let harness = Harness::new();
    let script = "echo self=$$; ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '";
    let run = harness.sh(&[], script);
    run.expect_code(0);
    assert!(run.stdout.starts_with("self=2\n"), "{}", run.stdout);
    let pids: Vec<u32> = run
        .stdout
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect();
    assert!(
        pids.contains(&1) && pids.iter().all(|pid| *pid < 10),
        "{pids:?}"
    );
    let run = harness.sh(&["--as-pid-1"], "echo self=$$");
    run.expect_code(0);
    assert_eq!(run.stdout, "self=1\n");
}

#[test]
fn the_hostname_is_the_decisions_and_the_hosts_is_unchanged() {
    require!(cannot_run());
    let harness = Harness::new();
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let run = harness.sh(
        &["--id", "host-test"],
        "hostname; hostname changed-inside 2>/dev/null && echo renamed; hostname",
    );
    run.expect_code(0);
    // Root in its user namespace has no CAP_SYS_ADMIN: it cannot rename.
    assert_eq!(run.stdout, "host-test\nhost-test\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname"),
        before
    );
}

#[test]
fn the_domain_name_is_the_decisions() {
    require!(cannot_run());
    let harness = Harness::new();
    let before = std::fs::read_to_string("/proc/sys/kernel/domainname").expect("domainname");
    let run = harness.sh(
        &["-p", &labels(), "-l", "domainname=example.test"],
        "cat /proc/sys/kernel/domainname",
    );
    run.expect_code(0);
    assert_eq!(run.stdout, "example.test\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").expect("domainname"),
        before
    );
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
    command(&script)
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
fn escape_attempts_are_refused_by_the_kernel() {
    require!(cannot_run());
    let harness = Harness::new();
    let host_net = inode("/proc/self/ns/net");
    let script = format!(
        "cg=/sys/fs/cgroup/pids/{root}/sandboxes/escape; \
         echo 100000 > $cg/pids.max 2>/dev/null && echo raised-pids; \
         echo -1 > /sys/fs/cgroup/memory/{root}/sandboxes/escape/memory.limit_in_bytes 2>/dev/null && echo raised-memory; \
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
    let run = harness.sh(&["--user", "1000:1000"], &format!("{id} -u; id -u"));
    run.expect_code(0);
    assert_eq!(
        run.stdout, "1000\n1000\n",
        "the setuid bit must not give root: {}",
        run.stderr
    );
}

#[test]
fn joining_a_host_namespace_needs_the_allow_list() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = labels();
    let refused = harness.sh(
        &["-p", &policy, "-l", "join-network=/proc/1/ns/net"],
        "echo started",
    );
    refused
        .expect_code(125)
        .expect_stderr(&["/proc/1/ns/net", "--allow-join"]);
    assert!(refused.stdout.is_empty(), "nothing started");
    // With the operator's allow-list entry, the workload joins that net ns.
    let own_net = inode("/proc/self/ns/net");
    let allowed = harness.sh(
        &[
            "-p",
            &policy,
            "-l",
            "join-network=/proc/self/ns/net",
            "--allow-join",
            "/proc/self/ns/*",
        ],
        "stat -L -c %i /proc/self/ns/net",
    );
    allowed.expect_code(0);
    // /proc/self in the enforcer is the enforcer: its net ns is ours.
    assert_eq!(allowed.stdout.trim(), own_net.to_string());
}

#[test]
fn a_sandbox_can_join_another_sandboxs_network_by_id() {
    require!(cannot_run());
    let harness = Harness::new();
    let first = harness.detach_sh(&["--id", "net-owner"], "sleep 60");
    let pid = harness.pid(&first);
    let policy = labels();
    let run = harness.sh(
        &[
            "-p",
            &policy,
            "-l",
            "join-network=sandbox:net-owner",
            "-l",
            "join-ipc=sandbox:net-owner",
            "-l",
            "join-uts=sandbox:net-owner",
            "--allow-join",
            "sandbox:net-*",
        ],
        "for n in net ipc uts pid; do stat -L -c %i /proc/self/ns/$n; done",
    );
    run.expect_code(0);
    let inodes: Vec<&str> = run.stdout.lines().collect();
    for (index, name) in ["net", "ipc", "uts"].iter().enumerate() {
        assert_eq!(
            inodes[index],
            inode(format!("/proc/{pid}/ns/{name}")).to_string(),
            "joined {name} is the target's"
        );
    }
    assert_ne!(
        inodes[3],
        inode(format!("/proc/{pid}/ns/pid_for_children")).to_string(),
        "the pid namespace is its own"
    );
    harness.command("delete", &[&first]).expect_code(0);
}

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
        std::fs::read_to_string(format!("/proc/{workload}/stat"))
            .map(|stat| stat.contains(") Z "))
            .unwrap_or(true)
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
