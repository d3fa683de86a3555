//! A sandbox's own root filesystem, end to end through the built binary
//! with fixed decisions (hand-written policies): the host's root read-only
//! with private tmpfs, masked kernel files, a fresh `/proc` and `/sys`,
//! the sandbox's own cgroup, a minimal `/dev`, destinations that lead
//! through symlinks refused, failing mounts named, idmapped binds, and
//! nothing of it left mounted on the host.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::Run;
use sandbox::Harness;
use serde_json::{Value, json};
use test_cgroup::{cannot_run, require};

const MIB64: u64 = 64 * 1024 * 1024;

fn namespaces(user: bool) -> Value {
    let mut list: Vec<Value> = ["pid", "network", "mount", "ipc", "uts", "cgroup"]
        .iter()
        .map(|kind| json!({"type": kind}))
        .collect();
    if user {
        list.push(json!({"type": "user"}));
    }
    Value::Array(list)
}

fn tmpfs(destination: &str) -> Value {
    json!({"destination": destination, "type": "tmpfs", "source": "tmpfs",
           "options": ["nosuid", "nodev", "mode=1777", "size=16m"]})
}

/// The host's `/` read-only, a private tmpfs on `/tmp`, `extra` merged in.
fn readonly_root(extra: Value) -> Value {
    let mut decision = json!({
        "allow": true,
        "namespaces": namespaces(false),
        "root": {"path": "/", "readonly": true},
        "mounts": [tmpfs("/tmp")],
    });
    merge(&mut decision, extra);
    decision
}

/// The same in a user namespace whose root is host id 1000000000.
fn readonly_root_in_user_namespace(extra: Value) -> Value {
    let map = json!([{"containerID": 0, "hostID": 1_000_000_000u64, "size": 65536}]);
    let mut decision = readonly_root(json!({
        "namespaces": namespaces(true),
        "uidMappings": map,
        "gidMappings": map,
    }));
    merge(&mut decision, extra);
    decision
}

fn merge(decision: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (decision.as_object_mut(), extra) {
        target.extend(extra);
    }
}

/// Runs `/bin/sh -c script` under a policy that returns `decision`.
fn run(harness: &Harness, decision: &Value, script: &str) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = common::wat::decision_module(dir.path(), "rootfs", decision);
    harness.sh(&["--policy", policy.to_str().expect("utf-8")], script)
}

/// The host's mount points now.
fn host_mount_points() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// Asserts that no mount point appeared on the host under one of `places`
/// (other engineers' work may mount elsewhere meanwhile).
#[track_caller]
fn assert_nothing_mounted(before: &BTreeSet<String>, places: &[&str]) {
    let after = host_mount_points();
    let new: Vec<&String> = after
        .difference(before)
        .filter(|point| {
            places.iter().any(|place| point.starts_with(place))
                || point.contains("oldroot")
                || point.contains("newroot")
        })
        .collect();
    assert!(new.is_empty(), "left mounted on the host: {new:?}");
}

#[test]
fn a_readonly_host_root_keeps_the_host_unchanged() {
    require!(cannot_run());
    let harness = Harness::new();
    let before = host_mount_points();
    let name = format!("enforcer-test-rootfs-{}", std::process::id());
    let script = format!(
        "touch /usr/{name} 2>&1; echo written > /tmp/{name} && cat /tmp/{name}; \
         ls /proc | grep -E '^[0-9]+$' | wc -l; cd /usr && echo cwd-ok"
    );
    let output = run(&harness, &readonly_root(json!({})), &script);
    output.expect_code(0);
    assert!(
        output.stdout.contains("Read-only file system"),
        "{}",
        output.stdout
    );
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines[1..], ["written", lines[2], "cwd-ok"], "{lines:?}");
    // Only the sandbox's own processes: the shell, ls, grep, wc.
    let processes: u32 = lines[2].trim().parse().expect("a count");
    assert!((1..=5).contains(&processes), "{lines:?}");
    assert!(!Path::new("/usr").join(&name).exists());
    assert!(
        !Path::new("/tmp").join(&name).exists(),
        "the host's /tmp is unchanged"
    );
    assert_nothing_mounted(&before, &["/tmp", "/usr", "/proc", "/sys", "/dev"]);
}

#[test]
fn masked_paths_read_empty_and_readonly_paths_refuse_writes() {
    require!(cannot_run());
    let harness = Harness::new();
    let decision = readonly_root(json!({
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/home", "/nonexistent"],
        "readonlyPaths": ["/proc/sys"],
    }));
    let output = run(
        &harness,
        &decision,
        "if test -e /proc/kcore; then wc -c < /proc/kcore; else echo 0; fi; \
         wc -c < /proc/keys; ls -A /home | wc -l; \
         grep ' /proc/sys ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; \
         touch /home/x 2>&1 | grep -c 'Read-only'",
    );
    output.expect_code(0);
    assert_eq!(output.stdout, "0\n0\n0\nro\n1\n", "{}", output.stderr);
    assert!(
        std::fs::read_dir("/home").is_ok(),
        "the host's /home is untouched"
    );
}

#[test]
fn dev_holds_only_the_nodes_the_device_rules_allow() {
    require!(cannot_run());
    let harness = Harness::new();
    let mut oci_default = vec![json!({"allow": false, "access": "rwm"})];
    for minor in [3, 5, 7, 8, 9] {
        oci_default
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": minor, "access": "rwm"}));
    }
    for minor in [0, 1, 2] {
        oci_default
            .push(json!({"allow": true, "type": "c", "major": 5, "minor": minor, "access": "rwm"}));
    }
    oci_default.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
    let decision = readonly_root(json!({"resources": {"devices": oci_default}}));
    let output = run(
        &harness,
        &decision,
        "ls /dev | tr '\\n' ' '; echo; readlink /dev/fd /dev/stdin /dev/ptmx | tr '\\n' ' '; \
         echo; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok",
    );
    output.expect_code(0);
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
            "stdout", "tty", "urandom", "zero"
        ],
        "{}",
        output.stderr
    );
    assert_eq!(lines[1].trim(), "/proc/self/fd /proc/self/fd/0 pts/ptmx");
    assert_eq!(lines[2..], ["4", "null-ok"]);
    // Only /dev/null allowed: the others are not there at all.
    let decision = readonly_root(json!({"resources": {"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    ]}}));
    let output = run(&harness, &decision, "ls /dev | tr '\\n' ' '");
    output.expect_code(0);
    let listed: Vec<&str> = output.stdout.split_whitespace().collect();
    assert!(listed.contains(&"null"), "{listed:?}");
    for absent in ["zero", "full", "random", "urandom", "tty"] {
        assert!(!listed.contains(&absent), "{listed:?}");
    }
}

#[test]
fn sys_shows_the_sandboxs_own_network_and_cgroup() {
    require!(cannot_run());
    let harness = Harness::new();
    let decision = readonly_root(json!({"resources": {"memory": {"limit": MIB64}}}));
    let layout = enforcer::cgroup::discover();
    let memory_v1 = layout
        .v1
        .iter()
        .any(|h| h.controllers.iter().any(|c| c == "memory"));
    let script = if memory_v1 {
        "ls /sys/class/net; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
         touch /sys/fs/cgroup/x 2>&1 | grep -c 'Read-only'; touch /sys/x 2>&1 | grep -c 'Read-only'"
    } else {
        "ls /sys/class/net; cat /sys/fs/cgroup/memory.max; \
         touch /sys/fs/cgroup/x 2>&1 | grep -c 'Read-only'; touch /sys/x 2>&1 | grep -c 'Read-only'"
    };
    let output = run(&harness, &decision, script);
    output.expect_code(0);
    assert_eq!(
        output.stdout,
        format!("lo\n{MIB64}\n1\n1\n"),
        "{}",
        output.stderr
    );
}

/// A root directory of binds: `usr` from the host, `bin`, `lib`, `lib64`
/// as the host's symlinks, and `evil` → `/etc`.
fn symlinked_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("enforcer-test-root-")
        .tempdir()
        .expect("tempdir");
    std::fs::create_dir(root.path().join("usr")).expect("mkdir");
    for link in ["bin", "lib", "lib64", "sbin"] {
        if let Ok(target) = std::fs::read_link(Path::new("/").join(link)) {
            std::os::unix::fs::symlink(target, root.path().join(link)).expect("symlink");
        }
    }
    std::os::unix::fs::symlink("/etc", root.path().join("evil")).expect("symlink");
    root
}

fn directory_root(root: &Path, mounts: Value) -> Value {
    json!({
        "allow": true,
        "namespaces": namespaces(false),
        "root": {"path": root.display().to_string(), "readonly": false},
        "mounts": mounts,
    })
}

fn usr() -> Value {
    json!({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
}

#[test]
fn a_destination_through_a_symlink_to_the_hosts_etc_is_refused() {
    require!(cannot_run());
    if std::fs::symlink_metadata("/bin").is_ok_and(|meta| !meta.file_type().is_symlink()) {
        test_cgroup::skipped("the host's /bin is no symlink into /usr");
        return;
    }
    let harness = Harness::new();
    let root = symlinked_root();
    let etc_before: BTreeSet<_> = std::fs::read_dir("/etc")
        .expect("etc")
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    let before = host_mount_points();
    // A working root of binds first: the workload sees it, not the host's.
    let output = run(
        &harness,
        &directory_root(root.path(), json!([usr()])),
        "ls /",
    );
    output.expect_code(0);
    assert!(output.stdout.contains("evil\n"), "{}", output.stdout);
    assert!(!output.stdout.contains("home\n"), "{}", output.stdout);
    for destination in ["/evil", "/evil/x", "/evil/shadow"] {
        let decision = directory_root(root.path(), json!([usr(), tmpfs(destination)]));
        let output = run(&harness, &decision, "echo escaped");
        output.expect_code(125);
        assert_eq!(output.stdout, "");
        output.expect_stderr(&[
            &format!("mount 1 (tmpfs at {destination}, source tmpfs): the destination {destination} leads through a symlink (/evil -> /etc)"),
            "(os error 40)",
        ]);
    }
    let etc_after: BTreeSet<_> = std::fs::read_dir("/etc")
        .expect("etc")
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert_eq!(etc_before, etc_after, "the host's /etc is unchanged");
    assert_nothing_mounted(
        &before,
        &["/etc", "/tmp", &root.path().display().to_string()],
    );
}

#[test]
fn a_failing_mount_names_itself_and_leaves_nothing_mounted() {
    require!(cannot_run());
    let harness = Harness::new();
    let before = host_mount_points();
    let missing = format!("/nonexistent-enforcer-test-{}", std::process::id());
    let cases = [
        (
            readonly_root(json!({"mounts": [tmpfs("/tmp"),
                {"destination": "/tmp/data", "type": "bind", "source": missing, "options": ["rbind"]}]})),
            format!(
                "mount 1 (bind at /tmp/data, source {missing}): No such file or directory (os error 2)"
            ),
        ),
        (
            readonly_root(json!({"mounts": [tmpfs("/tmp"), tmpfs(&missing)]})),
            format!(
                "mount 1 (tmpfs at {missing}, source tmpfs): the destination {missing} does not exist, and the sandbox's root is read-only, so it cannot be created: Read-only file system (os error 30)"
            ),
        ),
        (
            readonly_root(
                json!({"mounts": [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["uid=4294967295"]}]}),
            ),
            // Valid as a decision (a u32), refused by the kernel (no such uid).
            "mount 0 (tmpfs at /tmp, source tmpfs): tmpfs: Invalid uid '4294967295': Invalid argument (os error 22)".to_string(),
        ),
    ];
    for (decision, message) in cases {
        let output = run(&harness, &decision, "echo started");
        output.expect_code(125);
        assert_eq!(output.stdout, "");
        output.expect_stderr(&[&message]);
        assert_nothing_mounted(&before, &["/tmp", "/nonexistent", "/proc", "/sys", "/dev"]);
    }
    assert!(!Path::new(&missing).exists(), "nothing created on the host");
}

#[test]
fn a_readonly_root_in_a_user_namespace_as_a_non_root_user() {
    require!(cannot_run());
    let harness = Harness::new();
    let decision = readonly_root_in_user_namespace(json!({
        "process": {"user": {"uid": 1000, "gid": 1000}},
        "maskedPaths": ["/proc/keys"],
    }));
    let output = run(
        &harness,
        &decision,
        "id -u; touch /usr/x 2>&1 | grep -c 'Read-only'; echo x > /tmp/x && cat /tmp/x; \
         wc -c < /proc/keys; ls /sys/class/net; ls /dev | grep -c null",
    );
    output.expect_code(0);
    assert_eq!(output.stdout, "1000\n1\nx\n0\nlo\n1\n", "{}", output.stderr);
}

/// A root-owned `0700` directory holding `job.txt`.
fn private_directory() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("enforcer-test-idmap-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(dir.path().join("job.txt"), "the job\n").expect("writes");
    dir
}

fn idmapped(source: &Path, options: &[&str]) -> Value {
    readonly_root_in_user_namespace(json!({"mounts": [tmpfs("/tmp"),
        {"destination": "/tmp/job", "type": "bind", "source": source.display().to_string(),
         "options": options}]}))
}

#[test]
fn an_idmapped_bind_shows_the_callers_files_as_the_sandboxs_own() {
    require!(cannot_run());
    let harness = Harness::new();
    let dir = private_directory();
    // Without idmap, root inside (host id 1000000000) cannot enter it.
    let plain = run(
        &harness,
        &idmapped(dir.path(), &["bind", "ro"]),
        "cat /tmp/job/job.txt",
    );
    assert_eq!(plain.code, Some(1), "{} {}", plain.stdout, plain.stderr);
    assert!(
        plain.stderr.contains("Permission denied"),
        "{}",
        plain.stderr
    );
    let read = run(
        &harness,
        &idmapped(dir.path(), &["bind", "idmap", "ro"]),
        "cat /tmp/job/job.txt; stat -c %u /tmp/job/job.txt; touch /tmp/job/new 2>&1 | grep -c 'Read-only'",
    );
    if read.stderr.contains("idmapped mounts are unsupported") {
        test_cgroup::skipped("idmapped mounts are unsupported on the temp directory's filesystem");
        return;
    }
    read.expect_code(0);
    assert_eq!(read.stdout, "the job\n0\n1\n", "{}", read.stderr);
    let write = run(
        &harness,
        &idmapped(dir.path(), &["bind", "idmap"]),
        "echo made > /tmp/job/made.txt && cat /tmp/job/made.txt; ls /proc/self/fd | tr '\\n' ' '",
    );
    write.expect_code(0);
    // The prepared mount's descriptor is not the workload's (ls has its
    // directory open as 3).
    assert_eq!(write.stdout, "made\n0 1 2 3 ", "{}", write.stderr);
    let made = std::fs::metadata(dir.path().join("made.txt")).expect("the file is on the host");
    assert_eq!(
        (made.uid(), made.gid()),
        (0, 0),
        "owned by root on the host, not by the sandbox's host id"
    );
}
