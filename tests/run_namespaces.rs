//! `enforcer run` and the namespaces of a sandbox, end to end through the
//! built binary: what the kernel shows from outside (`/proc/<pid>/ns`, uid
//! maps, `/proc/<pid>/cgroup`) and what the workload sees inside (its pid
//! namespace, hostname and domain name), `exec` into a running sandbox, and
//! joining existing namespaces (the operator's allow-list, another sandbox).
//!
//! Every test uses its own cgroup root (`enforcer-test-<pid>-<n>`) and state
//! directory, and checks on drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use enforcer::cgroup::discover;
use enforcer::linux::namespaces::proc_file;
use policy_sdk::NamespaceType;
use sandbox::{Harness, inode, labels};
use test_cgroup::{cannot_run, require};

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
        ("pid", proc_file(NamespaceType::Pid)),
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
    // uid 0 inside is the first id of a range leased from the default
    // pool (above 2^31): an unprivileged host id.
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).expect("uid_map");
    let fields: Vec<u64> = map
        .split_whitespace()
        .map(|field| field.parse().expect("a number"))
        .collect();
    assert_eq!((fields[0], fields[2]), (0, 65536), "{map}");
    assert!(fields[1] >= 1 << 31, "{map}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(
        status.contains(&format!("Uid:\t{}\t", fields[1])),
        "{status}"
    );
    // Its cgroup in every hierarchy: a tenant-less sandbox is under
    // sandboxes/.
    let membership = test_cgroup::memberships(pid);
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
            .iter()
            .filter(|line| line.path.ends_with(&suffix))
            .count(),
        hierarchies,
        "{membership:?}"
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
            proc_file(NamespaceType::Pid)
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
    assert!(!sandbox::alive(pid), "delete kills the sandbox");
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
        inode(format!("/proc/{pid}/ns/{}", proc_file(NamespaceType::Pid))).to_string(),
        "the pid namespace is its own"
    );
    harness.command("delete", &[&first]).expect_code(0);
}
