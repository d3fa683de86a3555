//! The audit log (`enforcer::audit`, `enforcer audit`): concurrent writers
//! in threads and in 50 processes across 5 tenants lose, split and
//! interleave no line through rotation; an unwritable log, a full disk and
//! planted symlinks or foreign files fail closed (or, configured so, warn
//! once and go on); `enforcer audit` filters and round-trips the stored
//! lines.
//!
//! Writer processes are this test binary re-entered (`--exact NAME` with
//! [`ROLE`] set), so each is a separate process with its own descriptors
//! and locks, as separate `enforcer run`s are. Mounts (a full or read-only
//! tmpfs) are made only inside a private mount namespace (`unshare -m`)
//! that dies with its process: nothing is mounted on the host.

mod common;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::enforcer;
use enforcer::audit::{
    AuditError, AuditLog, AuditRecord, AuditSettings, AuditUser, DecisionId, Filter, OnError,
    Outcome, Step, Timestamp, read_records,
};
use serde_json::json;
use test_cgroup::{require, skipped};

/// Set in a re-entered test binary: what it is to do there.
const ROLE: &str = "ENFORCER_AUDIT_TEST_ROLE";

const WRITERS: usize = 50;
const TENANTS: usize = 5;
const RECORDS_PER_WRITER: usize = 40;

/// A record of fixed length for `writer`'s `seq`-th append: every field
/// has a fixed width, so every line is as long as every other.
fn fixed_record(writer: usize, seq: usize) -> AuditRecord {
    AuditRecord::new(
        DecisionId::random().expect("random"),
        format!("w{writer:02}-{seq:04}"),
        AuditUser {
            uid: 1000 + writer as u32 % 10,
            gid: 1000,
            name: Some("writer".into()),
        },
        vec!["/bin/true".into(), format!("w{writer:02}")],
    )
    .with_tenant(Some(format!("tenant-{}", writer % TENANTS)))
    .with_chain(vec![json!({
        "policy": "platform.wasm", "sha256": "ab".repeat(32), "mode": "enforce", "result": "allow"
    })])
    .with_decision(&json!({"allow": true, "padding": "x".repeat(200)}))
    .with_outcome(Outcome::Exited { code: 0 })
}

fn line_length() -> u64 {
    enforcer::audit::encode_line(&fixed_record(0, 0))
        .expect("encodes")
        .len() as u64
}

fn settings(path: &Path, max_bytes: u64, on_error: OnError) -> AuditSettings {
    AuditSettings {
        path: path.to_path_buf(),
        max_bytes,
        on_error,
    }
}

/// Every line of `path.1` then `path`, parsed, with the bytes of each file.
fn read_raw(path: &Path) -> (Vec<AuditRecord>, Vec<u64>) {
    let mut records = Vec::new();
    let mut sizes = Vec::new();
    for file in [sibling(path, ".1"), path.to_path_buf()] {
        let Ok(text) = std::fs::read(&file) else {
            continue;
        };
        sizes.push(text.len() as u64);
        assert!(
            text.is_empty() || text.ends_with(b"\n"),
            "{file:?} ends in a partial line"
        );
        for line in text.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            let record: AuditRecord = serde_json::from_slice(line).unwrap_or_else(|error| {
                panic!(
                    "{file:?}: not a record ({error}): {}",
                    String::from_utf8_lossy(line)
                )
            });
            records.push(record);
        }
    }
    (records, sizes)
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// (writer, seq) of a record of [`fixed_record`].
fn origin(record: &AuditRecord) -> (usize, usize) {
    let (writer, seq) = record.request_id[1..].split_once('-').expect("w00-0000");
    (writer.parse().expect("writer"), seq.parse().expect("seq"))
}

/// Asserts every record of every writer is there exactly once, each file
/// within `max_bytes`, and that exactly one rotation happened.
#[track_caller]
fn assert_exact(path: &Path, max_bytes: u64, writers: usize, per_writer: usize) {
    let (records, sizes) = read_raw(path);
    assert_eq!(sizes.len(), 2, "exactly one rotation made {path:?}.1");
    // Lines written at the same moment as the one crossing the cap may
    // land in the same file: at most one per concurrent writer.
    let slack = writers as u64 * line_length();
    for size in &sizes {
        assert!(
            *size <= max_bytes + slack,
            "a file of {size} bytes passed the cap {max_bytes} by more than {slack}"
        );
    }
    assert_eq!(records.len(), writers * per_writer, "the count is exact");
    let mut seen = std::collections::BTreeSet::new();
    for record in &records {
        let (writer, seq) = origin(record);
        assert_eq!(record.tenant, Some(format!("tenant-{}", writer % TENANTS)));
        assert!(seen.insert((writer, seq)), "w{writer} #{seq} appears twice");
    }
    let outcome = read_records(path, &Filter::default()).expect("reads");
    assert_eq!(outcome.invalid, None);
    assert_eq!(outcome.records.len(), writers * per_writer);
}

/// `max_bytes` so that `total` lines of `line` bytes rotate exactly once:
/// the first file takes about 60%, the second the rest.
fn cap_for_one_rotation(lines: u64, line: u64) -> u64 {
    let max_bytes = lines * line * 6 / 10;
    // The first file takes at least max_bytes - line, so the rest fits in
    // the second: one rotation, whatever the interleaving.
    assert!(
        lines * line - (max_bytes - line) < max_bytes,
        "one rotation only"
    );
    max_bytes
}

#[test]
fn threads_sharing_one_log_through_one_rotation_lose_and_split_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let (writers, per_writer) = (16, 50);
    let max_bytes = cap_for_one_rotation((writers * per_writer) as u64, line_length());
    let shared = AuditLog::open(&settings(&path, max_bytes, OnError::FailClosed)).expect("opens");
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let shared = &shared;
            let path = &path;
            scope.spawn(move || {
                // Half share one AuditLog, half open their own (own locks).
                let own;
                let log = if writer % 2 == 0 {
                    shared
                } else {
                    own = AuditLog::open(&settings(path, max_bytes, OnError::FailClosed))
                        .expect("opens");
                    &own
                };
                for seq in 0..per_writer {
                    log.append(&fixed_record(writer, seq)).expect("appends");
                }
            });
        }
    });
    assert_exact(&path, max_bytes, writers, per_writer);
}

#[test]
fn threads_rotating_many_times_keep_each_writer_s_newest_lines_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let line = line_length();
    let (writers, per_writer) = (8, 150);
    let max_bytes = line * 40;
    std::thread::scope(|scope| {
        for writer in 0..writers {
            let path = &path;
            scope.spawn(move || {
                for seq in 0..per_writer {
                    let log = AuditLog::open(&settings(path, max_bytes, OnError::FailClosed))
                        .expect("opens");
                    log.append(&fixed_record(writer, seq)).expect("appends");
                }
            });
        }
    });
    let (records, sizes) = read_raw(&path);
    let slack = writers as u64 * line;
    assert!(
        sizes
            .iter()
            .all(|size| *size <= max_bytes + slack && size % line == 0),
        "{sizes:?}"
    );
    assert!(
        records.len() < writers * per_writer / 4,
        "{} lines kept: rotation ran many times",
        records.len()
    );
    // What survives is the newest part of the log: for each writer, a run
    // of its records without a gap, ending at its last one.
    for writer in 0..writers {
        let seqs: Vec<usize> = records
            .iter()
            .map(origin)
            .filter(|(w, _)| *w == writer)
            .map(|(_, seq)| seq)
            .collect();
        if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
            assert_eq!(
                *last,
                per_writer - 1,
                "writer {writer}'s newest line is kept"
            );
            assert_eq!(
                seqs,
                (*first..per_writer).collect::<Vec<_>>(),
                "writer {writer} lost a line in between"
            );
        }
    }
}

/// The re-entered writer process: waits for stdin to close (so that all
/// start together), then opens the log and appends once per record, as
/// that many `enforcer run`s would.
fn writer_process(spec: &str) {
    let mut parts = spec.splitn(3, ':');
    let writer: usize = parts.next().and_then(|p| p.parse().ok()).expect("writer");
    let max_bytes: u64 = parts.next().and_then(|p| p.parse().ok()).expect("max");
    let path = PathBuf::from(parts.next().expect("path"));
    let mut go = Vec::new();
    std::io::stdin().read_to_end(&mut go).expect("stdin");
    for seq in 0..RECORDS_PER_WRITER {
        let log = AuditLog::open(&settings(&path, max_bytes, OnError::FailClosed)).expect("opens");
        log.append(&fixed_record(writer, seq)).expect("appends");
    }
}

/// This test binary, re-entered to run only `test` with [`ROLE`] = `role`.
fn reenter(test: &str, role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role);
    command
}

#[test]
fn fifty_writer_processes_across_five_tenants_lose_and_split_nothing() {
    if let Ok(role) = std::env::var(ROLE) {
        if let Some(spec) = role.strip_prefix("writer:") {
            writer_process(spec);
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let max_bytes = cap_for_one_rotation((WRITERS * RECORDS_PER_WRITER) as u64, line_length());
    let mut children: Vec<_> = (0..WRITERS)
        .map(|writer| {
            reenter(
                "fifty_writer_processes_across_five_tenants_lose_and_split_nothing",
                &format!("writer:{writer}:{max_bytes}:{}", path.display()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("a writer starts")
        })
        .collect();
    for child in &mut children {
        drop(child.stdin.take()); // go
    }
    for (writer, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().expect("waits");
        assert!(
            output.status.success(),
            "writer {writer}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_exact(&path, max_bytes, WRITERS, RECORDS_PER_WRITER);
    // The command line reads back the same lines, and filters by tenant.
    let log = path.display().to_string();
    let run = enforcer(&["audit", "--log", &log, "--json"]);
    run.expect_code(0);
    assert_eq!(run.stdout.lines().count(), WRITERS * RECORDS_PER_WRITER);
    let run = enforcer(&["audit", "--log", &log, "--json", "--tenant", "tenant-3"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout.lines().count(),
        WRITERS / TENANTS * RECORDS_PER_WRITER
    );
    for line in run.stdout.lines() {
        let record: AuditRecord = serde_json::from_str(line).expect("a record");
        assert_eq!(record.tenant.as_deref(), Some("tenant-3"));
    }
}

fn sample(tenant: Option<&str>, time: &str, outcome: Outcome) -> AuditRecord {
    let mut record = AuditRecord::new(
        DecisionId::random().expect("random"),
        "job-1",
        AuditUser {
            uid: 1000,
            gid: 1000,
            name: Some("ci".into()),
        },
        vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo hi\nenforcer: forged".into(),
        ],
    )
    .with_tenant(tenant.map(String::from))
    .with_outcome(outcome);
    record.time = Timestamp::parse_rfc3339(time).expect("time");
    record
}

#[test]
fn a_parent_that_is_a_file_fails_closed_naming_the_behaviour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").expect("writes");
    let path = file.join("audit.log");
    let error =
        AuditLog::open(&settings(&path, 1 << 20, OnError::FailClosed)).expect_err("refused");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "audit log {} unwritable (fail-closed): ",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("not a directory"), "{text}");
    assert!(matches!(
        error,
        AuditError::Unwritable {
            on_error: OnError::FailClosed,
            ..
        }
    ));
}

#[test]
fn failing_open_warns_once_and_goes_on() {
    if let Ok(role) = std::env::var(ROLE) {
        if let Some(path) = role.strip_prefix("fail-open:") {
            let log = AuditLog::open(&settings(Path::new(path), 1 << 20, OnError::FailOpen))
                .expect("fail-open goes on");
            assert!(!log.is_enabled());
            for _ in 0..3 {
                log.append(&sample(None, "2026-12-01T09:00:00Z", Outcome::Evaluated))
                    .expect("fail-open goes on");
            }
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "").expect("writes");
    let path = file.join("audit.log");
    let output = reenter(
        "failing_open_warns_once_and_goes_on",
        &format!("fail-open:{}", path.display()),
    )
    .output()
    .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("enforcer: warning: audit log"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{stderr}");
    assert!(
        warnings[0].contains("unwritable (fail-open, going on unaudited)"),
        "{}",
        warnings[0]
    );
}

#[test]
fn a_log_replaced_after_open_fails_the_append_closed_or_warns_open() {
    for on_error in [OnError::FailClosed, OnError::FailOpen] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&settings(&path, 1 << 20, on_error)).expect("opens");
        std::fs::remove_file(&path).expect("removes");
        std::fs::create_dir(&path).expect("plants a directory");
        let record = sample(None, "2026-12-01T09:00:00Z", Outcome::Evaluated);
        match on_error {
            OnError::FailClosed => {
                let error = log.append(&record).expect_err("refused").to_string();
                assert!(
                    error.contains("(fail-closed)") && error.contains("not a regular file"),
                    "{error}"
                );
            }
            OnError::FailOpen => {
                log.append(&record).expect("goes on");
                let warning = log.warning().expect("warned");
                assert!(
                    warning.contains("(fail-open, going on unaudited)"),
                    "{warning}"
                );
            }
        }
    }
}

#[test]
fn planted_symlinks_and_foreign_files_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("precious");
    std::fs::write(&target, "keep\n").expect("writes");
    let open = |path: &Path| AuditLog::open(&settings(path, 1 << 20, OnError::FailClosed));

    // The log itself a symlink (also a dangling one), and its directory.
    let link = dir.path().join("audit.log");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let error = open(&link).expect_err("refused").to_string();
    assert!(error.contains("symbolic link"), "{error}");
    let dangling = dir.path().join("dangling.log");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
    assert!(
        open(&dangling)
            .expect_err("refused")
            .to_string()
            .contains("symbolic link")
    );
    assert!(
        !dir.path().join("nowhere").exists(),
        "nothing created through the link"
    );
    let real = dir.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    let linked_dir = dir.path().join("linked");
    std::os::unix::fs::symlink(&real, &linked_dir).expect("symlink");
    let error = open(&linked_dir.join("audit.log"))
        .expect_err("refused")
        .to_string();
    assert!(error.contains("symbolic link"), "{error}");

    // The lock file or the rotated file a symlink.
    for suffix in [".lock", ".1"] {
        let sub = tempfile::tempdir().expect("tempdir");
        let path = sub.path().join("audit.log");
        std::os::unix::fs::symlink(&target, sibling(&path, suffix)).expect("symlink");
        let error = open(&path).expect_err("refused").to_string();
        assert!(error.contains("symbolic link"), "{suffix}: {error}");
    }

    // A hard link to a file elsewhere, a group-writable log, a world-
    // writable directory, a log owned by someone else.
    let sub = tempfile::tempdir().expect("tempdir");
    let path = sub.path().join("audit.log");
    std::fs::hard_link(&target, &path).expect("hard link");
    assert!(
        open(&path)
            .expect_err("refused")
            .to_string()
            .contains("2 hard links")
    );
    std::fs::remove_file(&path).expect("rm");
    std::fs::write(&path, "").expect("writes");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).expect("chmod");
    assert!(
        open(&path)
            .expect_err("refused")
            .to_string()
            .contains("lets group or others write")
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::set_permissions(sub.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert!(
        open(&path)
            .expect_err("refused")
            .to_string()
            .contains("mode 0777")
    );
    std::fs::set_permissions(sub.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(&path, Some(4_000_123), None).expect("chown");
        let error = open(&path).expect_err("refused").to_string();
        assert!(error.contains("owned by uid 4000123"), "{error}");
    } else {
        skipped("needs root to give the log a foreign owner");
    }
    assert_eq!(std::fs::read_to_string(&target).expect("reads"), "keep\n");
}

#[test]
fn a_new_log_and_its_directory_are_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/deeper/audit.log");
    let log = AuditLog::open(&settings(&path, 1 << 20, OnError::FailClosed)).expect("opens");
    log.append(&sample(
        Some("acme"),
        "2026-12-01T09:00:00Z",
        Outcome::Detached,
    ))
    .expect("appends");
    let mode = |path: &Path| std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777;
    assert_eq!(mode(path.parent().expect("parent")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&sibling(&path, ".lock")), 0o600);
}

/// Why a private mount namespace with a tmpfs cannot be made here, or
/// `None`.
fn cannot_mount() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to mount a tmpfs in a private mount namespace");
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return Some("needs unshare(1) from util-linux");
    }
    None
}

/// Runs the test `test` re-entered with `role` inside a private mount
/// namespace where `dir` is a fresh tmpfs mounted with `options`, and
/// checks that nothing stayed mounted on the host.
fn in_private_tmpfs(test: &str, role: &str, dir: &Path, options: &str) -> std::process::Output {
    let binary = std::env::current_exe().expect("test binary");
    let script = r#"mount -t tmpfs -o "$2" enforcer-test-audit "$1" && shift 2 && exec "$@""#;
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(dir)
        .arg(options)
        .arg(binary)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .output()
        .expect("unshare runs");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mounts.contains(&dir.display().to_string()),
        "the tmpfs stayed mounted on the host"
    );
    output
}

#[test]
fn a_full_disk_fails_before_anything_and_never_leaves_a_partial_line() {
    if let Ok(role) = std::env::var(ROLE) {
        if let Some(dir) = role.strip_prefix("full:") {
            full_disk_checks(Path::new(dir));
        }
        return;
    }
    require!(cannot_mount());
    let dir = tempfile::tempdir().expect("tempdir");
    let output = in_private_tmpfs(
        "a_full_disk_fails_before_anything_and_never_leaves_a_partial_line",
        &format!("full:{}", dir.path().display()),
        dir.path(),
        "size=256k,mode=0700",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("full disk checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// In the namespace: `dir` is a 256 KiB tmpfs.
fn full_disk_checks(dir: &Path) {
    let path = dir.join("audit.log");
    // 64 MiB logs want 1 MiB free: the preflight refuses, creating nothing.
    let error = AuditLog::open(&settings(&path, 64 << 20, OnError::FailClosed))
        .expect_err("no room")
        .to_string();
    assert!(
        error.contains("(fail-closed)") && error.contains("bytes free"),
        "{error}"
    );
    let log = AuditLog::open(&settings(&path, 64 << 20, OnError::FailOpen)).expect("goes on");
    assert!(!log.is_enabled() && log.warning().is_some_and(|w| w.contains("fail-open")));

    // A small log fits; then the disk fills up.
    let log = AuditLog::open(&settings(&path, 64 << 10, OnError::FailClosed)).expect("opens");
    let record = sample(
        Some("acme"),
        "2026-12-01T09:00:00Z",
        Outcome::Exited { code: 0 },
    );
    log.append(&record).expect("appends");
    let before = std::fs::read(&path).expect("reads");
    let mut filler = std::fs::File::create(dir.join("filler")).expect("filler");
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut filler, &chunk).is_ok() {}
    let error = log.append(&record).expect_err("disk full").to_string();
    assert!(
        error.contains("(fail-closed)") && error.contains("bytes free"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&path).expect("reads"),
        before,
        "no partial line"
    );
    let error = AuditLog::open(&settings(&path, 64 << 10, OnError::FailClosed))
        .expect_err("preflight refuses a full disk")
        .to_string();
    assert!(error.contains("bytes free"), "{error}");
    let outcome = read_records(&path, &Filter::default()).expect("reads");
    assert_eq!((outcome.records.len(), outcome.invalid), (1, None));
    println!("full disk checks passed");
}

#[test]
fn a_read_only_filesystem_fails_closed() {
    if let Ok(role) = std::env::var(ROLE) {
        if let Some(dir) = role.strip_prefix("ro:") {
            let path = Path::new(dir).join("audit.log");
            let error = AuditLog::open(&settings(&path, 1 << 20, OnError::FailClosed))
                .expect_err("read-only")
                .to_string();
            assert!(
                error.contains("(fail-closed)") && error.contains("Read-only file system"),
                "{error}"
            );
            println!("read-only checks passed");
        }
        return;
    }
    require!(cannot_mount());
    let dir = tempfile::tempdir().expect("tempdir");
    let output = in_private_tmpfs(
        "a_read_only_filesystem_fails_closed",
        &format!("ro:{}", dir.path().display()),
        dir.path(),
        "ro,size=64k,mode=0700",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("read-only checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn enforcer_audit_filters_prints_escaped_and_round_trips_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let log = AuditLog::open(&settings(&path, 1 << 20, OnError::FailClosed)).expect("opens");
    let now = Timestamp::now().to_string();
    let records = [
        sample(
            Some("acme"),
            "2020-01-01T00:00:00Z",
            Outcome::Exited { code: 0 },
        ),
        sample(
            Some("globex"),
            &now,
            Outcome::Denied {
                policy: "tenant.wasm".into(),
                reason: "no".into(),
            },
        ),
        sample(Some("acme"), &now, Outcome::Signaled { signal: 9 }),
        sample(None, &now, Outcome::Evaluated).failed(Step::Cgroups, "EBUSY"),
    ];
    for record in &records {
        log.append(record).expect("appends");
    }
    let log_arg = path.display().to_string();

    let run = enforcer(&["audit", "--log", &log_arg, "--json"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        std::fs::read_to_string(&path).expect("reads"),
        "exactly as stored"
    );

    let run = enforcer(&["audit", "--log", &log_arg, "--json", "--tenant", "acme"]);
    run.expect_code(0);
    let got: Vec<AuditRecord> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a record"))
        .collect();
    assert_eq!(got, vec![records[0].clone(), records[2].clone()]);

    for since in ["1h", "2021-01-01T00:00:00Z"] {
        let run = enforcer(&["audit", "--log", &log_arg, "--json", "--since", since]);
        run.expect_code(0);
        assert_eq!(run.stdout.lines().count(), 3, "--since {since}");
    }
    let run = enforcer(&[
        "audit", "--log", &log_arg, "--tenant", "acme", "--since", "1d",
    ]);
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("TIME"));
    assert!(
        lines[1].contains("acme")
            && lines[1].contains("signaled 9")
            && lines[1].contains("ci(1000)")
    );
    assert!(lines[1].contains(&records[2].decision_id.as_str()[..8]));
    assert!(
        lines[1].ends_with("/bin/sh -c echo\\ hi\\nenforcer:\\ forged")
            || lines[1].ends_with("/bin/sh -c echo hi\\nenforcer: forged"),
        "{}",
        lines[1]
    );
    let all = enforcer(&["audit", "--log", &log_arg]);
    all.expect_code(0);
    assert!(
        all.stdout.contains("denied by tenant.wasm") && all.stdout.contains("failed at cgroups")
    );
    assert!(
        !all.stdout
            .lines()
            .any(|line| line.starts_with("enforcer: forged"))
    );

    // The default log is the one in the state directory.
    let run = enforcer(&[
        "audit",
        "--state-dir",
        &dir.path().display().to_string(),
        "--json",
    ]);
    run.expect_code(0);
    assert_eq!(run.stdout.lines().count(), 4);

    // Bad input: exit 2, naming the culprit.
    enforcer(&["audit", "--log", &log_arg, "--since", "yesterday"])
        .expect_code(2)
        .expect_stderr(&["yesterday", "RFC 3339"]);
    let missing = dir.path().join("missing.log").display().to_string();
    enforcer(&["audit", "--log", &missing])
        .expect_code(2)
        .expect_stderr(&["cannot read audit log", "missing.log"]);
}

#[test]
fn a_corrupt_line_is_reported_never_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.log");
    let log = AuditLog::open(&settings(&path, 1 << 20, OnError::FailClosed)).expect("opens");
    let record = sample(
        Some("acme"),
        "2026-12-01T09:00:00Z",
        Outcome::Exited { code: 0 },
    );
    log.append(&record).expect("appends");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("opens");
    std::io::Write::write_all(&mut file, b"{\"time\": garbage\n{}\n").expect("writes");
    log.append(&record).expect("appends");
    std::io::Write::write_all(&mut file, b"{\"partial").expect("writes");

    let outcome = read_records(&path, &Filter::default()).expect("reads");
    assert_eq!(outcome.records.len(), 2);
    let invalid = outcome.invalid.expect("reported");
    assert_eq!((invalid.count, invalid.line_number), (3, 2));
    let run = enforcer(&["audit", "--log", &path.display().to_string(), "--json"]);
    run.expect_code(2).expect_stderr(&[
        "3 lines of the audit log are not audit records; the first is",
        "audit.log:2: it is not JSON",
    ]);
    assert_eq!(
        run.stdout.lines().count(),
        2,
        "the valid records are still printed"
    );
}
