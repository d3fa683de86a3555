//! Planted state and hung lifecycle commands, tried the way an attacker
//! would: a state directory owned by someone else or writable by others,
//! symlinked `lock`, `state.json`, `<id>/` and `cgroup.kill`, recorded
//! cgroups outside the enforcer's root (a decoy cgroup with a process of
//! its own), foreign namespaces and pids recorded. `gc`, `delete`, `kill`,
//! `exec` and `stats` must refuse, naming the path, and touch nothing: the
//! decoy process lives, the decoy cgroup and files are unchanged, no file
//! appears. Then `kill` and `delete` of an attached sandbox, which must
//! return at once instead of waiting for its `enforcer run`.
//!
//! Ownership uses a plain numeric uid (61234) with `chown`: no account is
//! created. Decoy cgroups are named `enforcer-test-decoy-*` and removed on
//! drop, with the process the test started in them.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, enforcer};
use enforcer::cgroup::{ControllerState, CreatedCgroup, discover};
use enforcer::sandbox::namespaces;
use enforcer::sandbox::state::{FORMAT_VERSION, ProcessRef, SandboxState, StateDir};
use policy_sdk::Decision;
use sandbox::{Harness, alive, inode};
use test_cgroup::{cannot_run, require, skipped, unique_root, wait_for};

/// The uid of the "local user" who plants state (no account needed).
const ATTACKER: u32 = 61234;

/// A cgroup outside every enforcer root, `enforcer-test-decoy-*` in the v1
/// pids hierarchy, with a `sleep` the test started inside; removed with
/// it on drop.
struct Decoy {
    directory: PathBuf,
    sleep: Child,
}

impl Decoy {
    fn new() -> Option<Decoy> {
        let ControllerState::V1(mount) = discover().controller_state("pids") else {
            skipped("needs the pids controller on a v1 hierarchy for the decoy cgroup");
            return None;
        };
        let directory = mount.join(format!("enforcer-test-decoy-{}", unique_root()));
        std::fs::create_dir(&directory).expect("creates the decoy cgroup");
        let sleep = Command::new("sleep")
            .arg("600")
            .spawn()
            .expect("sleep starts");
        std::fs::write(directory.join("cgroup.procs"), sleep.id().to_string())
            .expect("moves the sleep into the decoy");
        Some(Decoy { directory, sleep })
    }

    fn pid(&self) -> i32 {
        self.sleep.id() as i32
    }

    /// Asserts the decoy is intact: its process alive and still inside.
    #[track_caller]
    fn assert_intact(&self, after: &str) {
        assert!(alive(self.pid()), "{after}: the decoy process was killed");
        let members = std::fs::read_to_string(self.directory.join("cgroup.procs"))
            .unwrap_or_else(|error| panic!("{after}: the decoy cgroup is gone: {error}"));
        assert!(
            members.lines().any(|line| line == self.pid().to_string()),
            "{after}: the decoy process left the decoy cgroup: {members:?}"
        );
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        // Our own child: its pid cannot have been reused before we reap it.
        let _ = self.sleep.kill();
        let _ = self.sleep.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.directory).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.directory.exists() && !std::thread::panicking() {
            panic!("{} was left behind", self.directory.display());
        }
    }
}

/// A state naming `process` and the cgroup directories `leaves`, with a
/// supervisor that is long dead (so `gc` takes it for an orphan).
fn planted(id: &str, process: Option<ProcessRef>, root: &str, leaves: &[PathBuf]) -> SandboxState {
    let recorded = process
        .map(|process| namespaces::record(process.pid))
        .unwrap_or_default();
    SandboxState {
        version: FORMAT_VERSION,
        id: id.into(),
        tenant: None,
        process,
        supervisor: Some(ProcessRef {
            pid: i32::MAX,
            start_time: 1,
        }),
        started_at: 0,
        command: vec!["sleep".into(), "600".into()],
        decision: Decision::allow(),
        cgroup_root: root.into(),
        cgroup: CreatedCgroup {
            created: leaves.to_vec(),
            leaves: leaves.to_vec(),
        },
        namespaces: recorded
            .iter()
            .map(|(name, namespace)| (name.clone(), namespace.inode))
            .collect(),
        namespace_owners: recorded
            .iter()
            .map(|(name, namespace)| (name.clone(), namespace.owner))
            .collect(),
        policies: Vec::new(),
        host_ids: None,
        network: None,
    }
}

/// Writes `<dir>/<id>/state.json` and `lock` the way a local user would:
/// by hand, no lock taken.
fn plant_files(dir: &Path, state: &SandboxState) {
    let directory = dir.join(&state.id);
    std::fs::create_dir_all(&directory).expect("mkdir");
    std::fs::write(
        directory.join("state.json"),
        serde_json::to_vec_pretty(state).expect("serializes"),
    )
    .expect("writes the state");
    std::fs::write(directory.join("lock"), "").expect("writes the lock");
    for (path, mode) in [
        (dir, 0o700),
        (directory.as_path(), 0o700),
        (directory.join("state.json").as_path(), 0o600),
        (directory.join("lock").as_path(), 0o600),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

/// Writes `state` through the enforcer's own library, as `enforcer run`
/// would (a trusted state directory, whatever the state says).
fn save_trusted(dir: &Path, state: &SandboxState) {
    let states = StateDir::new(dir);
    let lock = states.claim(&state.id).expect("claims");
    states.save(state, &lock).expect("saves");
}

/// Every entry under `dir` with its owner, mode, size and modification
/// time: what "touches nothing" compares.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u32, u32, u64, i64, i64)> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        entries.insert(
            path.clone(),
            (
                meta.uid(),
                meta.mode(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec(),
            ),
        );
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("lists").flatten() {
                pending.push(entry.path());
            }
        }
    }
    entries
}

/// `enforcer COMMAND --state-dir DIR ARGS`.
fn lifecycle(dir: &Path, command: &str, args: &[&str]) -> Run {
    let dir = dir.display().to_string();
    let mut all = vec![command, "--state-dir", &dir];
    all.extend_from_slice(args);
    enforcer(&all)
}

/// Runs `gc`, `delete`, `kill`, `exec` and `stats` on sandbox `id` in
/// `dir`: each must fail with every needle on stderr, leave `dir`
/// unchanged, run nothing (no `marker`), and `check` must hold after it.
#[track_caller]
fn assert_all_refuse(dir: &Path, id: &str, needles: &[&str], check: &dyn Fn(&str)) {
    let marker = tempfile::Builder::new()
        .prefix("enforcer-test-marker-")
        .tempdir()
        .expect("tempdir");
    let marker = marker.path().join("ran");
    let marker_text = marker.display().to_string();
    let before = snapshot(dir);
    let commands: [(&str, Vec<&str>); 5] = [
        ("gc", vec![]),
        ("delete", vec![id]),
        ("kill", vec![id, "KILL"]),
        ("exec", vec![id, "--", "/usr/bin/touch", &marker_text]),
        ("stats", vec![id]),
    ];
    for (command, args) in commands {
        let run = lifecycle(dir, command, &args);
        assert_ne!(run.code, Some(0), "{command} must refuse: {run:?}");
        for needle in needles {
            assert!(
                run.stderr.contains(needle),
                "{command}: stderr lacks {needle:?}:\n{}",
                run.stderr
            );
        }
        assert!(!marker.exists(), "{command}: the command ran");
        assert_eq!(
            snapshot(dir),
            before,
            "{command} changed the state directory"
        );
        check(command);
    }
}

#[test]
fn a_state_directory_of_another_user_or_writable_by_others_is_refused() {
    require!(cannot_run());
    let Some(decoy) = Decoy::new() else {
        return;
    };
    let victim = ProcessRef::of(decoy.pid()).expect("running");
    let state = planted(
        "victim",
        Some(victim),
        "enforcer",
        std::slice::from_ref(&decoy.directory),
    );
    let check = |after: &str| decoy.assert_intact(after);
    // Each way a local user could have planted it, and the path refused.
    type Setup = fn(&Path);
    let cases: [(&str, Setup, &str, &str); 5] = [
        (
            "a state directory the attacker made (--state-dir, ENFORCER_STATE_DIR)",
            |dir| {
                for path in [
                    dir.to_path_buf(),
                    dir.join("victim"),
                    dir.join("victim/state.json"),
                    dir.join("victim/lock"),
                ] {
                    std::os::unix::fs::lchown(&path, Some(ATTACKER), Some(ATTACKER))
                        .expect("chown");
                }
            },
            "",
            "it is owned by uid 61234",
        ),
        (
            "a world-writable state directory",
            |dir| {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
                    .expect("chmod")
            },
            "",
            "its mode 0777 lets group or others write to it",
        ),
        (
            "a sandbox directory of the attacker",
            |dir| {
                std::os::unix::fs::lchown(dir.join("victim"), Some(ATTACKER), None).expect("chown")
            },
            "victim",
            "it is owned by uid 61234",
        ),
        (
            "a group-writable sandbox directory",
            |dir| {
                std::fs::set_permissions(dir.join("victim"), std::fs::Permissions::from_mode(0o770))
                    .expect("chmod")
            },
            "victim",
            "its mode 0770",
        ),
        (
            "a state file of the attacker",
            |dir| {
                std::os::unix::fs::lchown(dir.join("victim/state.json"), Some(ATTACKER), None)
                    .expect("chown")
            },
            "victim/state.json",
            "it is owned by uid 61234",
        ),
    ];
    for (what, setup, relative, why) in cases {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-planted-")
            .tempdir()
            .expect("tempdir");
        plant_files(dir.path(), &state);
        setup(dir.path());
        let path = if relative.is_empty() {
            dir.path().display().to_string()
        } else {
            dir.path().join(relative).display().to_string()
        };
        let refusal = format!("refusing untrusted sandbox state {path}: {why}");
        eprintln!("case: {what}");
        assert_all_refuse(dir.path(), "victim", &[&refusal], &check);
        // `run` refuses to claim an id there too, and `ps` to list it.
        if relative.is_empty() {
            let before = snapshot(dir.path());
            let dir_text = dir.path().display().to_string();
            let root = unique_root();
            let run = enforcer(&[
                "run",
                "--state-dir",
                &dir_text,
                "--cgroup-root",
                &root,
                "--id",
                "new",
                "--",
                "true",
            ]);
            run.expect_code(125).expect_stderr(&[&refusal]);
            lifecycle(dir.path(), "ps", &[])
                .expect_code(2)
                .expect_stderr(&[&refusal]);
            assert_eq!(snapshot(dir.path()), before, "{what}: run or ps changed it");
        }
    }
}

#[test]
fn recorded_cgroups_outside_the_root_are_never_touched() {
    require!(cannot_run());
    let Some(decoy) = Decoy::new() else {
        return;
    };
    let root = unique_root();
    let victim = ProcessRef::of(decoy.pid()).expect("running");
    // The decoy's own members file stands in for the real one: a symlinked
    // cgroup.kill must not truncate it, a symlinked cgroup.procs must not
    // list its process for killing.
    let fake = tempfile::Builder::new()
        .prefix("enforcer-test-fake-cgroup-")
        .tempdir()
        .expect("tempdir");
    let precious = fake.path().join("precious");
    std::fs::write(&precious, "precious\n").expect("writes");
    std::os::unix::fs::symlink(&precious, fake.path().join("cgroup.kill")).expect("symlink");
    std::fs::write(
        fake.path().join("cgroup.procs"),
        format!("{}\n", decoy.pid()),
    )
    .expect("writes");
    let pids_mount = decoy
        .directory
        .parent()
        .expect("the pids mount")
        .to_path_buf();
    let cases = [
        (decoy.directory.clone(), "is not below the cgroup root"),
        (
            pids_mount
                .join(&root)
                .join("..")
                .join(decoy.directory.file_name().expect("name")),
            "must be an absolute path without '.', '..' or '//'",
        ),
        (fake.path().to_path_buf(), "is not below the cgroup root"),
    ];
    for (leaf, why) in cases {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-state-")
            .tempdir()
            .expect("tempdir");
        save_trusted(
            dir.path(),
            &planted("victim", Some(victim), &root, std::slice::from_ref(&leaf)),
        );
        let needle = format!("refusing the recorded cgroup {}: it {why}", leaf.display());
        let check = |after: &str| {
            decoy.assert_intact(after);
            assert_eq!(
                std::fs::read_to_string(&precious).expect("reads"),
                "precious\n",
                "{after}: the file behind cgroup.kill changed"
            );
        };
        assert_all_refuse(dir.path(), "victim", &[&needle], &check);
    }
}

#[test]
fn cgroup_files_are_opened_without_following_symlinks() {
    // The library's removal on its own, given a leaf whose cgroup.procs or
    // cgroup.kill is a symlink: neither is followed.
    require!(cannot_run());
    let Some(decoy) = Decoy::new() else {
        return;
    };
    let fake = tempfile::Builder::new()
        .prefix("enforcer-test-fake-cgroup-")
        .tempdir()
        .expect("tempdir");
    // cgroup.procs -> the decoy's member list: followed, its process would
    // be SIGKILLed.
    std::os::unix::fs::symlink(
        decoy.directory.join("cgroup.procs"),
        fake.path().join("cgroup.procs"),
    )
    .expect("symlink");
    let cgroup = CreatedCgroup {
        created: Vec::new(),
        leaves: vec![fake.path().to_path_buf()],
    };
    enforcer::cgroup::remove(&cgroup, Duration::from_millis(200)).expect("nothing to remove");
    decoy.assert_intact("remove with a symlinked cgroup.procs");
    // cgroup.kill -> a file of ours: followed, it would be overwritten.
    std::fs::remove_file(fake.path().join("cgroup.procs")).expect("removes");
    let mut sleeper = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("sleep starts");
    std::fs::write(
        fake.path().join("cgroup.procs"),
        format!("{}\n", sleeper.id()),
    )
    .expect("writes");
    let precious = fake.path().join("precious");
    std::fs::write(&precious, "precious\n").expect("writes");
    std::os::unix::fs::symlink(&precious, fake.path().join("cgroup.kill")).expect("symlink");
    let _ = enforcer::cgroup::remove(&cgroup, Duration::from_millis(200));
    assert_eq!(
        std::fs::read_to_string(&precious).expect("reads"),
        "precious\n"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn symlinked_lock_state_and_sandbox_directory_are_not_followed() {
    require!(cannot_run());
    let elsewhere = tempfile::Builder::new()
        .prefix("enforcer-test-decoy-files-")
        .tempdir()
        .expect("tempdir");
    let missing = elsewhere.path().join("created-through-a-symlink");
    let precious = elsewhere.path().join("precious");
    std::fs::write(&precious, "precious\n").expect("writes");
    let precious_before = snapshot(elsewhere.path());
    let state = planted("victim", None, "enforcer", &[]);
    for (entry, target) in [
        ("victim/lock", missing.clone()),
        ("victim/lock", precious.clone()),
        ("victim/state.json", precious.clone()),
        ("victim", elsewhere.path().to_path_buf()),
    ] {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-state-")
            .tempdir()
            .expect("tempdir");
        save_trusted(dir.path(), &state);
        let path = dir.path().join(entry);
        if entry == "victim" {
            std::fs::remove_dir_all(&path).expect("removes");
        } else {
            std::fs::remove_file(&path).expect("removes");
        }
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        let refusal = format!(
            "refusing untrusted sandbox state {}: it is a symbolic link",
            path.display()
        );
        let check = |after: &str| {
            assert!(!missing.exists(), "{after}: created a file through {entry}");
            assert_eq!(
                snapshot(elsewhere.path()),
                precious_before,
                "{after}: changed the files behind {entry}"
            );
        };
        assert_all_refuse(dir.path(), "victim", &[&refusal], &check);
    }
}

/// Rewrites sandbox `id`'s state in `harness` with `change`.
fn tamper(harness: &Harness, id: &str, change: impl FnOnce(&mut SandboxState)) {
    let states = StateDir::new(harness.state.path());
    let lock = states.lock(id).expect("locks");
    let mut state = states.load_locked(&lock).expect("loads");
    change(&mut state);
    states.save(&state, &lock).expect("saves");
}

/// A process outside every sandbox, in namespaces of its own (network,
/// uts, ipc), as a local user would start to be joined instead.
struct Outsider(Child);

impl Outsider {
    fn new() -> Outsider {
        let mut child = Command::new("unshare")
            .args([
                "--net",
                "--uts",
                "--ipc",
                "--",
                "sh",
                "-c",
                "echo ready; exec sleep 600",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reads");
        assert_eq!(line, "ready\n");
        Outsider(child)
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn foreign_namespaces_and_pids_recorded_are_not_joined_or_killed() {
    require!(cannot_run());
    let harness = Harness::new();
    let id = harness.detach(&["--id", "target"], &["sleep", "600"]);
    let outsider = Outsider::new();
    let theirs = namespaces::record(outsider.pid());
    let marker_dir = tempfile::Builder::new()
        .prefix("enforcer-test-marker-")
        .tempdir()
        .expect("tempdir");
    let marker = marker_dir.path().join("ran");
    let exec = |needles: &[&str]| {
        let marker = marker.display().to_string();
        harness
            .command("exec", &[&id, "--", "/usr/bin/touch", &marker])
            .expect_code(125)
            .expect_stderr(needles);
        assert!(!marker_dir.path().join("ran").exists(), "the command ran");
    };
    let original = StateDir::new(harness.state.path())
        .load(&id)
        .expect("loads");

    // The outsider's network namespace recorded as the sandbox's.
    tamper(&harness, &id, |state| {
        state.namespaces.insert("net".into(), theirs["net"].inode);
        state
            .namespace_owners
            .insert("net".into(), theirs["net"].owner);
    });
    exec(&["/ns/net is namespace", "not the network namespace"]);

    // The right inode with a forged owner.
    tamper(&harness, &id, |state| {
        *state = original.clone();
        state.namespace_owners.insert("net".into(), 1);
    });
    exec(&["is owned by user namespace", "not by 1 as recorded"]);

    // The outsider recorded as the first process, with its own namespaces
    // (every check on inodes passes): it is not in the sandbox's cgroups.
    let outsider_ref = ProcessRef::of(outsider.pid()).expect("running");
    tamper(&harness, &id, |state| {
        *state = original.clone();
        state.process = Some(outsider_ref);
        for (name, namespace) in &theirs {
            state.namespaces.insert(name.clone(), namespace.inode);
            state.namespace_owners.insert(name.clone(), namespace.owner);
        }
    });
    let not_in_cgroups = format!(
        "its recorded first process (pid {}) is not in the sandbox's cgroups",
        outsider.pid()
    );
    exec(&[&not_in_cgroups]);
    harness
        .command("kill", &[&id, "KILL"])
        .expect_code(2)
        .expect_stderr(&[&not_in_cgroups]);
    // A sandbox joining it by id is refused the same way.
    let policy = sandbox::labels();
    let join = harness.run(
        &[
            "-p",
            &policy,
            "-l",
            "join-network=sandbox:target",
            "--allow-join",
            "sandbox:*",
        ],
        &["/usr/bin/touch", &marker.display().to_string()],
    );
    join.expect_code(125).expect_stderr(&[&not_in_cgroups]);
    assert!(!marker.exists(), "the joining workload ran");
    // A recorded pid whose start time differs is another process.
    tamper(&harness, &id, |state| {
        *state = original.clone();
        state.process = Some(ProcessRef {
            pid: outsider.pid(),
            start_time: outsider_ref.start_time + 1,
        });
    });
    harness
        .command("kill", &[&id, "KILL"])
        .expect_code(2)
        .expect_stderr(&["is not running"]);
    // delete removes the sandbox (its cgroups are its own) but never
    // signals the recorded outsider.
    let real = original.process.expect("started").pid;
    tamper(&harness, &id, |state| {
        *state = original.clone();
        state.process = Some(outsider_ref);
    });
    harness.command("delete", &[&id]).expect_code(0);
    assert!(alive(outsider.pid()), "delete killed the recorded outsider");
    wait_for("the real sandbox to die", || !alive(real));
    harness.assert_clean();
    assert_eq!(
        inode(format!("/proc/{}/ns/net", outsider.pid())),
        theirs["net"].inode
    );
}

/// Starts `COMMAND` attached in the background with id `id`, once it runs.
fn attached(harness: &Harness, id: &str, command: &[&str]) -> Child {
    let child = harness.spawn(&["--id", id], command);
    harness.wait_started(id);
    child
}

/// Waits (at most 10 s) for our child `run` to exit; its status code and
/// stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            return (status.code(), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the attached enforcer run did not exit");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_and_delete_of_an_attached_sandbox_return_at_once() {
    require!(cannot_run());
    let harness = Harness::new();
    // gc leaves a running attached sandbox alone (its run lives), lock or not.
    let run = attached(&harness, "att-kill", &["sleep", "60"]);
    let gc = harness.command("gc", &[]);
    gc.expect_code(0);
    assert_eq!(gc.stdout, "", "gc collected a running sandbox");
    let kill = harness.command("kill", &["att-kill", "TERM"]);
    kill.expect_code(0);
    assert!(
        kill.elapsed < Duration::from_secs(1),
        "kill took {:?}",
        kill.elapsed
    );
    let (code, stderr) = finish(run);
    assert_eq!(code, Some(143), "the workload died of SIGTERM: {stderr}");
    harness.assert_clean();

    // A signal the run does not forward goes to the sandbox itself.
    let run = attached(&harness, "att-kill9", &["sleep", "60"]);
    harness
        .command("kill", &["att-kill9", "KILL"])
        .expect_code(0);
    let (code, stderr) = finish(run);
    assert_eq!(code, Some(137), "{stderr}");
    harness.assert_clean();

    let run = attached(&harness, "att-delete", &["sleep", "60"]);
    let delete = harness.command("delete", &["att-delete"]);
    delete.expect_code(0);
    assert!(
        delete.elapsed < Duration::from_secs(1),
        "delete took {:?}",
        delete.elapsed
    );
    // delete returned after the run cleaned up: nothing is left already.
    harness.assert_clean();
    let (code, stderr) = finish(run);
    assert_eq!(code, Some(143), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn delete_kills_an_attached_sandbox_that_ignores_sigterm_after_a_grace() {
    require!(cannot_run());
    let harness = Harness::new();
    let script = "trap '' TERM; echo ready; while :; do sleep 0.05; done";
    let mut run = harness.spawn(&["--id", "stubborn"], &["/bin/sh", "-c", script]);
    let mut line = String::new();
    BufReader::new(run.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reads");
    assert_eq!(line, "ready\n");
    let delete = harness.command("delete", &["stubborn"]);
    delete.expect_code(0);
    assert!(
        delete.elapsed >= Duration::from_millis(900) && delete.elapsed < Duration::from_secs(3),
        "delete took {:?}",
        delete.elapsed
    );
    harness.assert_clean();
    let (code, stderr) = finish(run);
    assert_eq!(code, Some(137), "killed with its cgroup: {stderr}");
    assert!(
        !stderr.contains("error"),
        "the run found nothing to clean up: {stderr}"
    );
}

#[test]
fn a_busy_lock_is_reported_with_what_was_waited_for() {
    require!(cannot_run());
    let harness = Harness::new();
    let id = harness.detach(&["--id", "busy"], &["sleep", "60"]);
    let states = StateDir::new(harness.state.path());
    let held = states.lock(&id).expect("locks");
    for command in ["kill", "delete"] {
        let run = harness.command(command, &[&id]);
        run.expect_code(2).expect_stderr(&[&format!(
            "sandbox busy is busy: another enforcer command holds {}/busy/lock (waited 5s)",
            harness.state_dir()
        )]);
        assert!(
            run.elapsed >= Duration::from_secs(5) && run.elapsed < Duration::from_secs(7),
            "{command} waited {:?}",
            run.elapsed
        );
    }
    // gc does not wait at all: a locked sandbox is left alone.
    let gc = harness.command("gc", &[]);
    gc.expect_code(0);
    assert!(gc.elapsed < Duration::from_secs(2), "{:?}", gc.elapsed);
    drop(held);
    harness.command("delete", &[&id]).expect_code(0);
}

#[test]
fn run_refuses_a_state_directory_of_another_user_and_creates_nothing() {
    // ENFORCER_STATE_DIR pointing at a directory a local user made.
    require!(cannot_run());
    let dir = tempfile::Builder::new()
        .prefix("enforcer-test-planted-")
        .tempdir()
        .expect("tempdir");
    std::os::unix::fs::chown(dir.path(), Some(ATTACKER), Some(ATTACKER)).expect("chown");
    let root = unique_root();
    let output = Command::new(env!("CARGO_BIN_EXE_enforcer"))
        .args(["run", "--cgroup-root", &root, "--id", "web", "--", "true"])
        .env("ENFORCER_STATE_DIR", dir.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "refusing untrusted sandbox state {}: it is owned by uid 61234",
            dir.path().display()
        )),
        "{stderr}"
    );
    let entries: BTreeSet<_> = std::fs::read_dir(dir.path())
        .expect("lists")
        .flatten()
        .map(|entry| entry.file_name())
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
    let layout = discover();
    for hierarchy in layout.v1.iter().chain(layout.v2.iter()) {
        assert!(!hierarchy.mount_point.join(&root).exists());
    }
}
