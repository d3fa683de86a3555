//! What the built-in policy holds, end to end through the built binary,
//! tried the way an untrusted workload would: it reads and writes where it
//! can, looks for host processes, devices and kernel files, and calls the
//! system calls container runtimes refuse. No `--policy`: the zero-config
//! `enforcer run` a new user starts with.
//!
//! Every test uses its own cgroup root and state directory, and checks on
//! drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use sandbox::Harness;
use test_cgroup::{cannot_run, require};

/// `enforcer run` (built-in policy) of `script` from the directory `cwd`.
fn run_in(harness: &Harness, cwd: &Path, options: &[&str], script: &str) -> common::Run {
    let args = harness.run_args(options, &["/bin/sh", "-c", script]);
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_enforcer"))
        .args(&args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("enforcer runs");
    common::Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Why a test that needs root cannot run, when it runs as another user.
fn not_root(why: &'static str) -> Option<&'static str> {
    (!nix::unistd::geteuid().is_root()).then_some(why)
}

fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("tempdir")
}

#[test]
fn the_host_is_read_only_and_its_private_places_are_hidden() {
    require!(cannot_run());
    let harness = Harness::new();
    let marker = format!("enforcer-test-probe-{}", std::process::id());
    // Everything a workload would try to leave a file in.
    let script = format!(
        "for dir in / /etc /usr /usr/local /var /opt /srv /mnt /boot /var/lib /tmp /var/tmp /run /dev/shm .; do \
           if touch \"$dir/{marker}\" 2>/dev/null; then echo \"wrote $dir\"; fi; \
         done; \
         echo home=$(ls -A /home | wc -l) root=$(ls -A /root | wc -l); \
         head -c 4 /usr/bin/env >/dev/null && echo usr-readable; \
         touch /usr/{marker} 2>&1 | grep -q 'Read-only file system' && echo usr-erofs"
    );
    let run = run_in(&harness, Path::new("/"), &[], &script);
    run.expect_code(0);
    // Only the private tmpfs take a file; the host's root and the working
    // directory (here /, not bound) do not.
    let wrote: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("wrote"))
        .collect();
    assert_eq!(
        wrote,
        [
            "wrote /tmp",
            "wrote /var/tmp",
            "wrote /run",
            "wrote /dev/shm"
        ],
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("home=0 root=0"), "{}", run.stdout);
    assert!(run.stdout.contains("usr-readable"), "{}", run.stdout);
    assert!(run.stdout.contains("usr-erofs"), "{}", run.stdout);
    // And the host is unchanged where the sandbox wrote.
    for dir in ["/", "/etc", "/usr", "/tmp", "/var/tmp", "/run", "/dev/shm"] {
        let path = Path::new(dir).join(&marker);
        assert!(!path.exists(), "{} appeared on the host", path.display());
    }
}

#[test]
fn the_workload_sees_only_its_processes_its_devices_and_masked_kernel_files() {
    require!(cannot_run());
    let harness = Harness::new();
    let run = run_in(
        &harness,
        Path::new("/"),
        &[],
        "echo procs=$(cat /proc/[0-9]*/comm | sort -u | tr '\\n' ' '); \
         echo dev=$(ls /dev | tr '\\n' ' '); \
         test -s /proc/kcore || echo kcore-empty; echo keys=$(wc -c < /proc/keys); \
         echo > /proc/sys/kernel/hostname 2>/dev/null || echo sys-ro; \
         grep Seccomp: /proc/self/status",
    );
    run.expect_code(0);
    let line = |key: &str| {
        run.stdout
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {}", run.stdout))
            .trim()
            .to_string()
    };
    // The init, the shell and the pipeline's own commands: nothing of the
    // host's (no systemd, no cargo, no enforcer but the sandbox's init).
    let procs = line("procs=");
    for name in procs.split_whitespace() {
        assert!(
            ["enforcer-init", "sh", "cat", "sort", "tr"].contains(&name),
            "{name} is not the sandbox's: {procs}"
        );
    }
    let mut devices: Vec<String> = line("dev=").split_whitespace().map(String::from).collect();
    devices.sort();
    let expected = [
        "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "urandom", "zero",
    ];
    assert_eq!(devices, expected, "no /dev/tty without -t: {}", run.stdout);
    // Masked: empty (or, on kernels without it, absent).
    assert!(run.stdout.contains("kcore-empty"), "{}", run.stdout);
    assert_eq!(line("keys="), "0", "{}", run.stdout);
    assert!(run.stdout.contains("sys-ro"), "{}", run.stdout);
    assert_eq!(line("Seccomp:"), "2", "{}", run.stdout);
}

#[test]
fn the_default_seccomp_profile_refuses_what_container_runtimes_refuse() {
    require!(cannot_run());
    let harness = Harness::new();
    // x86_64 numbers: keyctl 250, add_key 248, kexec_load 246,
    // open_by_handle_at 304, bpf 321.
    let run = run_in(
        &harness,
        Path::new("/"),
        &[],
        "for call in 250 248 246 304 321; do \
           /usr/bin/perl -e '$r = syscall($ARGV[0], 0, 0, 0, 0, 0); print \"$ARGV[0]=\", ($r == -1 ? $!+0 : \"ok\"), \"\\n\"' $call; \
         done; \
         echo a | tr a b; \
         /usr/bin/python3 -c 'print(6*7)'",
    );
    run.expect_code(0);
    for call in ["250", "248", "246", "304", "321"] {
        assert!(
            run.stdout.contains(&format!("{call}=1\n")),
            "syscall {call} must fail with EPERM: {}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("b\n42\n"),
        "{} {}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn root_reads_its_private_working_directory_through_an_idmapped_bind() {
    require!(cannot_run());
    require!(not_root("needs root: the working directory is root's"));
    let harness = Harness::new();
    let dir = scratch("enforcer-test-workdir-");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(dir.path().join("job.txt"), "the job\n").expect("writes");
    std::fs::set_permissions(
        dir.path().join("job.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let run = run_in(
        &harness,
        dir.path(),
        &[],
        "cat job.txt; pwd; touch new 2>&1 | grep -c 'Read-only' ; stat -c %u job.txt",
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        format!("the job\n{}\n1\n0\n", dir.path().display()),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("new").exists());
}

#[test]
fn a_user_granted_write_access_creates_files_it_owns() {
    require!(cannot_run());
    require!(not_root("needs root to run for another user"));
    let harness = Harness::new();
    let dir = scratch("enforcer-test-workdir-");
    let (uid, gid) = (64_123u32, 64_123u32);
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
    let user = format!("{uid}:{gid}");
    let granted = run_in(
        &harness,
        dir.path(),
        &["-u", &user, "-l", "workdir=rw"],
        "echo out > made && echo made",
    );
    granted.expect_code(0);
    let made = std::fs::metadata(dir.path().join("made")).expect("the file is on the host");
    assert_eq!((made.uid(), made.gid()), (uid, gid));
    let refused = run_in(&harness, dir.path(), &["-u", &user], "echo out > other");
    assert_ne!(refused.code, Some(0), "read-only without the label");
    assert!(
        refused.stderr.contains("Read-only file system"),
        "{}",
        refused.stderr
    );
    assert!(!dir.path().join("other").exists());
}

#[test]
fn two_root_sandboxes_get_disjoint_host_ids() {
    require!(cannot_run());
    require!(not_root(
        "needs root: only root's workloads get a private range"
    ));
    let harness = Harness::new();
    let first = harness.detach_sh(&[], "sleep 30");
    let second = harness.detach_sh(&[], "sleep 30");
    harness.wait_started(&first);
    harness.wait_started(&second);
    let range = |id: &str| {
        let map =
            std::fs::read_to_string(format!("/proc/{}/uid_map", harness.pid(id))).expect("uid_map");
        let fields: Vec<u64> = map
            .split_whitespace()
            .map(|field| field.parse().expect("a number"))
            .collect();
        assert_eq!((fields[0], fields[2]), (0, 65_536), "{map}");
        fields[1]..fields[1] + fields[2]
    };
    let (a, b) = (range(&first), range(&second));
    assert!(
        a.end <= b.start || b.end <= a.start,
        "{a:?} and {b:?} overlap"
    );
    for id in [&first, &second] {
        let pid = harness.pid(id);
        harness.command("kill", &[id, "KILL"]).expect_code(0);
        test_cgroup::wait_for("the workload to die", || !test_cgroup::alive(pid));
        harness.command("delete", &[id]).expect_code(0);
    }
}
