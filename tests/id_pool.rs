//! Host ids no other sandbox shares (`privateHostIds`), end to end through
//! the built binary: each sandbox's user namespace maps to a range of
//! 65,536 host ids leased to it alone from the operator's pool, read back
//! from the kernel (`/proc/<pid>/uid_map`, `gid_map`); a file one sandbox
//! makes is not the other's to write; the leases (`<state>/.host-ids/`)
//! are released when the sandboxes end, by `delete` and by `gc` after a
//! crash; a pool of one range refuses a second sandbox and leaves nothing
//! behind; `ps`, `stats` and `eval --plan` show the range.
//!
//! Every test uses its own cgroup root, state directory (so its own
//! leases) and, where it needs a small pool, its own config; each checks
//! on drop that nothing of its sandboxes is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{enforcer, wat};
use sandbox::Harness;
use test_cgroup::{cannot_run, require, wait_for};

/// The lease directory inside a state directory.
const LEASE_DIR: &str = ".host-ids";

/// A decision with new user, mount and pid namespaces and private host
/// ids; the module and, when given, a config of its own with this pool.
struct Setup {
    dir: tempfile::TempDir,
    policy: PathBuf,
    config: Option<PathBuf>,
}

impl Setup {
    /// The config file's path, for `--config`.
    fn config_arg(&self) -> String {
        self.config
            .as_ref()
            .expect("a config")
            .display()
            .to_string()
    }

    fn new(pool: Option<&str>) -> Setup {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-ids-")
            .tempdir()
            .expect("tempdir");
        let decision = serde_json::json!({
            "allow": true,
            "namespaces": [{"type": "user"}, {"type": "mount"}, {"type": "pid"}],
            "privateHostIds": true,
        });
        let policy = wat::decision_module(dir.path(), "private-ids", &decision);
        let config = pool.map(|pool| {
            let path = dir.path().join("config.toml");
            std::fs::write(&path, format!("[host_ids]\n{pool}\n")).expect("writes the config");
            path
        });
        Setup {
            dir,
            policy,
            config,
        }
    }

    /// `--policy FILE` and, with a config, `--config FILE`.
    fn options(&self) -> Vec<String> {
        let mut options = vec!["--policy".to_string(), self.policy.display().to_string()];
        if let Some(config) = &self.config {
            options.extend(["--config".to_string(), config.display().to_string()]);
        }
        options
    }

    /// Starts `sleep 60` detached as sandbox `id`.
    fn detach(&self, harness: &Harness, id: &str) {
        let mut options = self.options();
        options.extend(["--id".to_string(), id.to_string()]);
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        assert_eq!(harness.detach(&options, &["sleep", "60"]), id);
    }
}

/// The lines of `/proc/<pid>/<file>` as whitespace-split fields.
fn id_map(pid: i32, file: &str) -> Vec<Vec<u64>> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_else(|error| panic!("/proc/{pid}/{file}: {error}"))
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|field| field.parse().expect("a number"))
                .collect()
        })
        .collect()
}

/// The one line of a sandbox's map: `0 <start> 65536`; returns start.
#[track_caller]
fn leased_start(pid: i32) -> u64 {
    let uids = id_map(pid, "uid_map");
    let gids = id_map(pid, "gid_map");
    assert_eq!(uids, gids, "the same range for uids and gids");
    assert_eq!(uids.len(), 1, "{uids:?}");
    assert_eq!((uids[0][0], uids[0][2]), (0, 65536), "{uids:?}");
    uids[0][1]
}

/// The leases in a state directory: (first host id, sandbox).
fn leases(harness: &Harness) -> Vec<(u64, String)> {
    let dir = harness.state.path().join(LEASE_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut leases: Vec<(u64, String)> = entries
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let holder = std::fs::read_to_string(entry.path()).expect("a lease");
            (
                name.parse().expect("named by its first host id"),
                holder.trim_end().to_string(),
            )
        })
        .collect();
    leases.sort();
    leases
}

/// Asserts no lease is left: the lease directory is gone (it is removed
/// with its last lease) or empty.
#[track_caller]
fn assert_no_lease(harness: &Harness) {
    assert_eq!(leases(harness), Vec::<(u64, String)>::new(), "leases left");
    assert!(
        !harness.state.path().join(LEASE_DIR).exists(),
        "the empty lease directory is removed"
    );
}

/// A mode 1777 directory both sandboxes see, like a shared `/tmp`.
struct SharedDir(tempfile::TempDir);

impl SharedDir {
    fn new() -> SharedDir {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-shared-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod 1777");
        SharedDir(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

#[test]
fn two_root_sandboxes_get_disjoint_ranges_and_cannot_write_each_others_files() {
    require!(cannot_run());
    let harness = Harness::new();
    let setup = Setup::new(None); // the default pool
    let shared = SharedDir::new();
    setup.detach(&harness, "first");
    setup.detach(&harness, "second");
    let (first, second) = (harness.pid("first"), harness.pid("second"));
    let (a, b) = (leased_start(first), leased_start(second));
    // The default pool starts at 2^31, and the lowest free range goes first.
    assert_eq!([a, b], [2147483648, 2147483648 + 65536]);
    assert!(a + 65536 <= b || b + 65536 <= a, "disjoint: {a} and {b}");
    let status = std::fs::read_to_string(format!("/proc/{first}/status")).expect("status");
    assert!(
        status.contains(&format!("Uid:\t{a}\t{a}\t{a}\t{a}")),
        "{status}"
    );
    assert_eq!(
        leases(&harness),
        [(a, "first".to_string()), (b, "second".to_string())]
    );
    // ps and stats show the ranges.
    let ps = harness.command("ps", &["--json"]).json();
    let shown: Vec<(String, u64, u64)> = ps
        .as_array()
        .expect("a list")
        .iter()
        .map(|listing| {
            (
                listing["id"].as_str().expect("id").to_string(),
                listing["hostIds"]["start"].as_u64().expect("start"),
                listing["hostIds"]["size"].as_u64().expect("size"),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("first".to_string(), a, 65536),
            ("second".to_string(), b, 65536)
        ]
    );
    let table = harness.command("ps", &[]);
    table.expect_code(0);
    assert!(
        table.stdout.contains(&format!("{a}-{}", a + 65535)),
        "{}",
        table.stdout
    );
    let stats = harness.command("stats", &["second", "--json"]).json();
    assert_eq!(
        stats["hostIds"],
        serde_json::json!({"start": b, "size": 65536})
    );
    // Root of the first sandbox makes a file in the shared directory: it is
    // the host's uid `a`'s.
    let file = shared.path().join("made-by-first");
    let file_name = file.display().to_string();
    harness
        .command(
            "exec",
            &[
                "first",
                "--",
                "/bin/sh",
                "-c",
                &format!("umask 022; echo mine > {file_name}; id -u"),
            ],
        )
        .expect_code(0);
    let metadata = std::fs::metadata(&file).expect("the file exists on the host");
    assert_eq!(
        (u64::from(metadata.uid()), u64::from(metadata.gid())),
        (a, a)
    );
    // Root of the second sandbox is another host user: it can neither
    // write, replace, chmod nor remove it.
    for (attempt, needle) in [
        (format!("echo theirs >> {file_name}"), "Permission denied"),
        (format!("chmod 666 {file_name}"), "Operation not permitted"),
        (format!("rm -f {file_name}"), "Operation not permitted"),
        (
            format!("mv {file_name} {file_name}.moved"),
            "Operation not permitted",
        ),
    ] {
        let run = harness.command("exec", &["second", "--", "/bin/sh", "-c", &attempt]);
        assert_ne!(run.code, Some(0), "{attempt}: {run:?}");
        assert!(run.stderr.contains(needle), "{attempt}: {}", run.stderr);
    }
    assert_eq!(std::fs::read_to_string(&file).expect("reads"), "mine\n");
    // Once both end, both leases are released.
    harness
        .command("delete", &["first", "second"])
        .expect_code(0);
    assert_no_lease(&harness);
}

#[test]
fn an_attached_run_releases_its_lease_when_it_ends() {
    require!(cannot_run());
    let harness = Harness::new();
    let setup = Setup::new(Some("start = 3000000000\nsize = 196608"));
    let options = setup.options();
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let run = harness.sh(&options, "cat /proc/self/uid_map /proc/self/gid_map; id -u");
    run.expect_code(0);
    let fields: Vec<&str> = run.stdout.split_whitespace().collect();
    assert_eq!(
        fields,
        ["0", "3000000000", "65536", "0", "3000000000", "65536", "0"]
    );
    assert_no_lease(&harness);
    // A spawn that fails after the lease (no such program) releases it.
    let failed = harness.run(&options, &["/nonexistent/program"]);
    assert_ne!(failed.code, Some(0), "{failed:?}");
    assert!(
        failed.stderr.contains("/nonexistent/program"),
        "{}",
        failed.stderr
    );
    assert_no_lease(&harness);
}

#[test]
fn a_pool_of_one_range_refuses_a_second_sandbox_and_leaves_nothing() {
    require!(cannot_run());
    let harness = Harness::new();
    let setup = Setup::new(Some("start = 4000000000\nsize = 65536"));
    setup.detach(&harness, "holder");
    assert_eq!(leased_start(harness.pid("holder")), 4000000000);
    let mut options = setup.options();
    options.extend(["--id".to_string(), "refused".to_string()]);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let run = harness.sh(&options, "echo started");
    run.expect_code(125).expect_stderr(&[
        "the host id pool is exhausted: all 1 ranges of 65536 ids (host ids 4000000000 to 4000065535) are leased, 4000000000 to sandbox \"holder\"",
        "`enforcer gc`",
    ]);
    assert!(run.stdout.is_empty(), "nothing started: {}", run.stdout);
    // Nothing of the refused sandbox: no state, no cgroup, no lease.
    // (The harness lists sandboxes, not the lease directory: the holder's
    // lease is still there.)
    assert_eq!(harness.state_entries(), ["holder"]);
    assert!(harness.state.path().join(LEASE_DIR).is_dir());
    for directory in harness.root_directories() {
        let leaf = directory.join("sandboxes/refused");
        assert!(!leaf.exists(), "{} left behind", leaf.display());
    }
    assert_eq!(leases(&harness), [(4000000000, "holder".to_string())]);
    // Its range free again, the next sandbox gets it.
    harness.command("delete", &["holder"]).expect_code(0);
    assert_no_lease(&harness);
    setup.detach(&harness, "next");
    assert_eq!(leased_start(harness.pid("next")), 4000000000);
    harness.command("delete", &["next"]).expect_code(0);
    assert_no_lease(&harness);
}

#[test]
fn gc_releases_the_lease_of_a_sandbox_whose_enforcer_was_killed() {
    require!(cannot_run());
    let harness = Harness::new();
    let setup = Setup::new(Some("start = 3500000000\nsize = 131072"));
    let options = setup.options();
    let mut options: Vec<&str> = options.iter().map(String::as_str).collect();
    options.extend(["--id", "crashed"]);
    let mut child = harness.spawn_sh(&options, "echo ready; sleep 60");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("reads");
    assert_eq!(line, "ready\n");
    wait_for("the state to name the process", || {
        !harness.state("crashed")["process"].is_null()
    });
    let workload = harness.pid("crashed");
    assert_eq!(leased_start(workload), 3500000000);
    child.kill().expect("SIGKILLs our child, the enforcer");
    child.wait().expect("reaps it");
    wait_for("the workload to die with its enforcer", || {
        !sandbox::alive(workload)
    });
    assert_eq!(leases(&harness), [(3500000000, "crashed".to_string())]);
    // A lease whose sandbox is gone altogether (a run that died between
    // leasing and saving its state) goes too; a live sandbox's stays.
    setup.detach(&harness, "alive");
    let alive = leased_start(harness.pid("alive"));
    assert_eq!(alive, 3500000000 + 65536);
    let orphan = harness.state.path().join(LEASE_DIR).join("3600000000");
    std::fs::write(&orphan, "ghost\n").expect("writes a lease");
    std::fs::set_permissions(&orphan, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // One naming a live sandbox whose state records another range is
    // stale too (its id was used again).
    let stale = harness.state.path().join(LEASE_DIR).join("3700000000");
    std::fs::write(&stale, "alive\n").expect("writes a lease");
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let gc = harness.command("gc", &[]);
    gc.expect_code(0);
    assert_eq!(
        gc.stdout,
        "removed crashed\nreleased host ids 3600000000-3600065535 of ghost (no sandbox holds it)\n\
         released host ids 3700000000-3700065535 of alive (no sandbox holds it)\n"
    );
    assert_eq!(leases(&harness), [(alive, "alive".to_string())]);
    harness.command("delete", &["alive"]).expect_code(0);
    assert_no_lease(&harness);
}

#[test]
fn an_untrusted_lease_directory_is_refused_and_nothing_starts() {
    require!(cannot_run());
    let harness = Harness::new();
    let setup = Setup::new(Some("start = 3700000000\nsize = 65536"));
    let leases_dir = harness.state.path().join(LEASE_DIR);
    std::fs::create_dir(&leases_dir).expect("mkdir");
    std::fs::set_permissions(&leases_dir, std::fs::Permissions::from_mode(0o777))
        .expect("chmod 777");
    let mut options = setup.options();
    options.extend(["--id".to_string(), "victim".to_string()]);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let run = harness.sh(&options, "echo started");
    run.expect_code(125).expect_stderr(&[&format!(
        "refusing untrusted sandbox state {}: its mode 0777 lets group or others write to it",
        leases_dir.display()
    )]);
    assert!(run.stdout.is_empty(), "nothing started: {}", run.stdout);
    assert_eq!(harness.state_entries(), Vec::<String>::new());
    assert!(
        leases_dir.is_dir(),
        "the planted directory is left as it was"
    );
    // A symlink in its place is refused too, and nothing is made through it.
    std::fs::remove_dir(&leases_dir).expect("rmdir");
    let decoy = setup.dir.path().join("decoy");
    std::fs::create_dir(&decoy).expect("mkdir");
    std::os::unix::fs::symlink(&decoy, &leases_dir).expect("symlink");
    let run = harness.sh(&options, "echo started");
    run.expect_code(125)
        .expect_stderr(&["it is a symbolic link"]);
    assert!(run.stdout.is_empty());
    assert_eq!(
        std::fs::read_dir(&decoy).expect("lists").count(),
        0,
        "nothing written through the symlink"
    );
    std::fs::remove_file(&leases_dir).expect("removes the symlink");
}

#[test]
fn eval_plan_says_the_ids_are_leased_at_run_time_and_config_errors_name_the_key() {
    let setup = Setup::new(None);
    let policy = setup.policy.display().to_string();
    let plan = enforcer(&["eval", "--policy", &policy, "--plan", "--", "true"]);
    plan.expect_code(0);
    assert!(
        plan.stdout
            .contains("host ids: leased from the pool at run time (65536 uids and gids"),
        "{}",
        plan.stdout
    );
    let json = enforcer(&["eval", "--policy", &policy, "--plan=json", "--", "true"]).json();
    assert_eq!(json["hostIds"]["size"], 65536);
    let sized = Setup::new(Some("start = 3000000000\nsize = 655360"));
    let config = sized.config_arg();
    let check = enforcer(&["--config", &config, "config", "check"]);
    check.expect_code(0);
    assert!(
        check
            .stdout
            .contains("host ids  host ids 3000000000 to 3000655359 (10 ranges)\nok\n"),
        "{}",
        check.stdout
    );
    let subids = Setup::new(Some("subids = \"enforcer-test-no-such-owner\""));
    let config = subids.config_arg();
    let check = enforcer(&["--config", &config, "config", "check"]);
    check.expect_code(2);
    // Whatever this host's /etc/subuid holds (or lacks), it gives this
    // owner nothing, and the error says where it looked.
    assert!(
        check.stdout.contains("error     /etc/subuid"),
        "{}",
        check.stdout
    );
    for (pool, needle) in [
        ("start = 0", "line 2: host_ids.start: 0 is the host's root"),
        (
            "size = 1000",
            "line 2: host_ids.size: 1000 must be a positive multiple of 65536",
        ),
        (
            "start = 4294901760\nsize = 65536",
            "host_ids: start = 4294901760 and size = 65536 end at host id 4294967295",
        ),
        (
            "subids = \"svc\"\nstart = 100000",
            "host_ids: subids = \"svc\" and start/size exclude each other",
        ),
        ("sizes = 65536", "unknown field `sizes`"),
    ] {
        let setup = Setup::new(Some(pool));
        let config = setup.config_arg();
        let check = enforcer(&["--config", &config, "config", "check"]);
        check.expect_code(2);
        assert!(
            check.stderr.contains(needle) || check.stdout.contains(needle),
            "{pool}: {check:?}"
        );
    }
}

#[test]
fn concurrent_runs_never_get_the_same_range() {
    require!(cannot_run());
    let harness = Harness::new();
    // Three ranges, four runs started at once: three get a range each,
    // all different, and the fourth is refused.
    let setup = Setup::new(Some("start = 3800000000\nsize = 196608"));
    let runs: Vec<(String, common::Run)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|index| {
                let (harness, setup) = (&harness, &setup);
                scope.spawn(move || {
                    let id = format!("racer{index}");
                    let mut options = setup.options();
                    options.extend(["--id".to_string(), id.clone(), "--detach".to_string()]);
                    let options: Vec<&str> = options.iter().map(String::as_str).collect();
                    (id, harness.run(&options, &["sleep", "60"]))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a run"))
            .collect()
    });
    let started: Vec<&String> = runs
        .iter()
        .filter(|(_, run)| run.code == Some(0))
        .map(|(id, _)| id)
        .collect();
    let refused: Vec<&common::Run> = runs
        .iter()
        .filter(|(_, run)| run.code != Some(0))
        .map(|(_, run)| run)
        .collect();
    assert_eq!(started.len(), 3, "{runs:?}");
    assert_eq!(refused.len(), 1, "{runs:?}");
    refused[0]
        .expect_code(125)
        .expect_stderr(&["the host id pool is exhausted: all 3 ranges"]);
    let mut starts: Vec<u64> = started
        .iter()
        .map(|id| leased_start(harness.pid(id)))
        .collect();
    starts.sort();
    assert_eq!(starts, [3800000000, 3800065536, 3800131072]);
    let mut ids: Vec<&str> = started.iter().map(|id| id.as_str()).collect();
    ids.sort();
    assert_eq!(
        leases(&harness).len(),
        3,
        "one lease per sandbox: {:?}",
        leases(&harness)
    );
    harness.command("delete", &ids).expect_code(0);
    assert_no_lease(&harness);
}
