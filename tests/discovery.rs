//! Truthful discovery, end to end: cgroup mounts that other mounts cover
//! (in a private mount namespace the test makes, never the host's), joins
//! the kernel must confirm, what `enforcer check` reports, and commands
//! whose output is closed.
//!
//! Every mount a test makes lives only in a mount namespace that
//! `unshare --mount --propagation private` creates for one command
//! (`unshare(CLONE_NEWNS)` and `mount --make-rprivate /`), and goes with it.
//! Everything left behind is checked from the host's namespace.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Run;
use enforcer::cgroup::{ControllerState, discover};
use policy_sdk::Decision;
use sandbox::Harness;
use test_cgroup::{TestCgroup, cannot_run, require, skipped, usable, wait_for};

/// The source name of every tmpfs the tests mount (in private namespaces).
const SHADOW: &str = "enforcer-test-shadow";

/// What a command did, with the signal that ended it.
struct Outcome {
    run: Run,
    signal: Option<i32>,
}

/// Runs `command` to the end with piped output (stdout closed for reading
/// before it starts when `closed_stdout`), failing the test if it hangs.
fn run_to_end(command: &mut Command, closed_stdout: bool) -> Outcome {
    let started = Instant::now();
    command.stdin(Stdio::null()).stderr(Stdio::piped());
    if closed_stdout {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        command.stdout(writer);
    } else {
        command.stdout(Stdio::piped());
    }
    let mut child = command.spawn().expect("starts");
    // The command's own copy of the pipe is all that is left open.
    command.stdout(Stdio::null());
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(|pipe| Box::new(pipe) as _));
    let stderr = read(child.stderr.take().map(|pipe| Box::new(pipe) as _));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            // Our own, not yet reaped child: its pid cannot have been reused.
            child.kill().expect("kills the hung command");
            panic!("{command:?} hung");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Outcome {
        run: Run {
            code: status.code(),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            elapsed: started.elapsed(),
        },
        signal: status.signal(),
    }
}

/// `'text'` for sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs `enforcer ARGS` in a private mount namespace after the shell
/// commands `setup` (run there, before the enforcer starts).
fn in_namespace(setup: &str, args: &[&str]) -> Run {
    let script = format!("set -e; {setup}; exec \"$@\"");
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_enforcer"))
        .args(args);
    run_to_end(&mut command, false).run
}

/// Why the namespace tests cannot run here, or `None`.
fn cannot_unshare() -> Option<&'static str> {
    cannot_run().or_else(|| {
        let works = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .status()
            .is_ok_and(|status| status.success());
        (!works).then_some("needs unshare(1) and the right to make a mount namespace")
    })
}

/// `mount -t tmpfs` over `path` (in the namespace the script runs in).
fn cover(path: &Path) -> String {
    format!(
        "mount -t tmpfs {SHADOW} {}",
        quote(&path.display().to_string())
    )
}

/// Asserts that no mount the tests made is visible in the host's namespace.
#[track_caller]
fn assert_host_mounts_untouched() {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        !mountinfo.contains(SHADOW),
        "a test mount leaked into the host's namespace:\n{mountinfo}"
    );
}

#[test]
fn a_covered_cgroup2_is_left_out_and_run_uses_what_is_there() {
    require!(cannot_unshare());
    let layout = discover();
    let Some(v2) = layout.v2.clone() else {
        skipped("no cgroup2 mount to cover");
        return;
    };
    let harness = Harness::new();
    let check = in_namespace(&cover(&v2.mount_point), &["check", "--json"]);
    check.expect_code(0);
    let report = check.json();
    let mount = v2.mount_point.display().to_string();
    let shadowed = report["shadowedMounts"].as_array().expect("shadowedMounts");
    assert!(
        shadowed
            .iter()
            .any(|row| row["mountPoint"] == mount.as_str()
                && row["version"] == "v2"
                && row["coveredBy"] == mount.as_str()
                && row["coveredByFstype"] == "tmpfs"),
        "{report:#}"
    );
    assert!(
        report["hierarchies"]
            .as_array()
            .expect("hierarchies")
            .iter()
            .all(|row| row["version"] != "v2"),
        "the covered cgroup2 is no hierarchy: {report:#}"
    );
    let has_v1 = layout.v1.iter().any(|h| !h.controllers.is_empty());
    assert_eq!(report["cgroupMode"], if has_v1 { "v1" } else { "unknown" });

    // Run there, detached, so the host can look at the workload.
    let args = harness.run_args(&["--detach", "--id", "shadow"], &["sleep", "60"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = in_namespace(&cover(&v2.mount_point), &args);
    assert_host_mounts_untouched();
    if run.code == Some(0) {
        // It ran on the v1 hierarchies that are really there.
        let pid = harness.pid("shadow");
        let memberships = test_cgroup::memberships(pid);
        let text = format!("{memberships:?}");
        let inside = format!("/{}/", harness.root);
        for hierarchy in layout.v1.iter().filter(|h| !h.controllers.is_empty()) {
            let line = memberships
                .iter()
                .find(|line| enforcer::cgroup::membership::is_line_of(line, hierarchy))
                .expect("a line per hierarchy");
            assert!(line.path.starts_with(&inside), "{hierarchy:?}: {text}");
        }
        let unified = memberships.iter().find(|line| line.is_unified());
        assert!(
            unified.is_none_or(|line| !line.path.contains(&harness.root)),
            "nothing of the sandbox is on the covered cgroup2: {text}"
        );
        assert!(!v2.mount_point.join(&harness.root).exists());
        let state = harness.state("shadow");
        let leaves = state["cgroup"]["leaves"].as_array().expect("leaves");
        assert!(
            leaves
                .iter()
                .all(|leaf| !leaf.as_str().unwrap_or("").starts_with(&mount)),
            "{state:#}"
        );
        harness.command("delete", &["shadow"]).expect_code(0);
    } else {
        // Or it refused at once, naming the covered mount.
        run.expect_code(125).expect_stderr(&[&mount, "covered"]);
        assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    }
    harness.assert_clean();
}

#[test]
fn a_covered_v1_hierarchy_fails_at_once_naming_the_mount() {
    require!(cannot_unshare());
    let layout = discover();
    let mount = match layout.controller_state("pids") {
        ControllerState::V1(mount) | ControllerState::V2(mount) => mount,
        other => {
            skipped(&format!(
                "the pids controller is not usable here: {other:?}"
            ));
            return;
        }
    };
    let harness = Harness::new();
    let shown = mount.display().to_string();
    // The default policy limits pids, whose only hierarchy is covered.
    let run = harness.run_args(&[], &["/bin/true"]);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let run = in_namespace(&cover(&mount), &run);
    run.expect_code(125).expect_stderr(&[
        "resources.pids.limit needs the pids controller",
        &format!("mounted at {shown} but that mount is covered by another mount at {shown}"),
    ]);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
    let plan = in_namespace(&cover(&mount), &["eval", "--plan", "--", "/bin/true"]);
    plan.expect_code(2)
        .expect_stderr(&["covered by another mount"]);
    let check = in_namespace(&cover(&mount), &["check", "--json"]);
    let report = check.json();
    let pids = report["controllers"]
        .as_array()
        .expect("controllers")
        .iter()
        .find(|row| row["name"] == "pids")
        .expect("pids")
        .clone();
    assert_eq!(pids["state"], "shadowed", "{report:#}");
    assert_eq!(pids["mountPoint"], shown.as_str());
    assert_host_mounts_untouched();
    harness.assert_clean();
}

#[test]
fn a_hierarchy_reached_at_another_mount_point_is_used() {
    // Cover the pids hierarchy and mount the same hierarchy again under a
    // directory of the test's own: the enforcer uses it there, `check`
    // lists it as a mount below --mount-dir, and clean-up is complete.
    require!(cannot_unshare());
    let ControllerState::V1(mount) = discover().controller_state("pids") else {
        skipped("needs the pids controller on a v1 hierarchy");
        return;
    };
    let options = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .find(|line| line.contains(&format!(" {} ", mount.display())))
        .and_then(|line| line.split(" - ").nth(1))
        .and_then(|right| right.split_whitespace().nth(2))
        .map(|options| options.trim_start_matches("rw,").to_string())
        .expect("the pids mount's options");
    let harness = Harness::new();
    let base = tempfile::Builder::new()
        .prefix("enforcer-test-mounts-")
        .tempdir()
        .expect("tempdir");
    let again = base.path().join("pids");
    std::fs::create_dir(&again).expect("mkdir");
    let setup = format!(
        "{}; mount -t cgroup -o {} {SHADOW}-pids {}",
        cover(&mount),
        quote(&options),
        quote(&again.display().to_string())
    );
    let base_text = base.path().display().to_string();
    let check = in_namespace(&setup, &["check", "--json", "--mount-dir", &base_text]);
    check.expect_code(0);
    let report = check.json();
    let mounts = report["enforcerMounts"].as_array().expect("enforcerMounts");
    assert_eq!(mounts.len(), 1, "{report:#}");
    assert_eq!(
        mounts[0]["mountPoint"],
        again.display().to_string().as_str()
    );
    assert_eq!(mounts[0]["controllers"], serde_json::json!(["pids"]));
    let release = mounts[0]["release"].as_str().expect("release");
    assert!(
        release.ends_with(&format!(
            "enforcer gc --mounts --mount-dir {}",
            base.path().display()
        )),
        "{release}"
    );
    assert!(
        report["shadowedMounts"]
            .as_array()
            .expect("shadowedMounts")
            .is_empty(),
        "a hierarchy reachable elsewhere is not missing: {report:#}"
    );
    // Attached: the workload waits until the host has seen it in the pids
    // hierarchy (the same hierarchy, so its cgroup shows at the host's
    // mount point too).
    let ready = base.path().join("ready");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.01; done",
        quote(&ready.display().to_string())
    );
    // The workload waits on a host file: the label policy keeps the
    // host's files (the default policy gives /tmp a tmpfs of its own).
    let policy = sandbox::labels();
    let args = harness.run_args(&["-p", &policy, "--id", "again"], &["sh", "-c", &script]);
    let mut command = Command::new("unshare");
    command
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &format!("set -e; {setup}; exec \"$@\""),
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_enforcer"))
        .args(&args);
    let waiter = std::thread::spawn(move || run_to_end(&mut command, false).run);
    let leaf = mount.join(&harness.root).join("sandboxes/again");
    wait_for("the sandbox's pids cgroup", || {
        !enforcer::cgroup::members(&leaf).is_empty()
    });
    let state = harness.state("again");
    assert!(
        state["cgroup"]["leaves"]
            .as_array()
            .expect("leaves")
            .iter()
            .any(|leaf| leaf.as_str().unwrap_or("").starts_with(&base_text)),
        "{state:#}"
    );
    std::fs::write(&ready, "").expect("release the workload");
    let run = waiter.join().expect("the run");
    run.expect_code(0);
    assert_host_mounts_untouched();
    harness.assert_clean();
}

#[test]
fn a_mount_below_a_hierarchy_is_refused_before_any_mkdir_there() {
    // A tmpfs over the cgroup root inside the pids hierarchy: discovery
    // rightly sees the hierarchy, but the directory is no cgroup.
    require!(cannot_unshare());
    let ControllerState::V1(mount) = discover().controller_state("pids") else {
        skipped("needs the pids controller on a v1 hierarchy");
        return;
    };
    let harness = Harness::new();
    let root = mount.join(&harness.root);
    std::fs::create_dir(&root).expect("the test's own cgroup root");
    let args = harness.run_args(&[], &["/bin/true"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = in_namespace(&cover(&root), &args);
    let shown = root.display().to_string();
    run.expect_code(125).expect_stderr(&[
        &format!("refusing to create cgroup {shown}/sandboxes in {shown}"),
        "not on a cgroup filesystem",
    ]);
    assert_host_mounts_untouched();
    std::fs::remove_dir(&root).expect("removes the test's cgroup root");
    harness.assert_clean();
}

#[test]
fn join_confirms_membership_with_the_kernel() {
    require!(cannot_run().or(usable("pids")));
    let ControllerState::V1(mount) = discover().controller_state("pids") else {
        skipped("needs the pids controller on a v1 hierarchy");
        return;
    };
    let resources = Decision::allow().pids(16).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let mut child = Command::new("sleep").arg("60").spawn().expect("sleep");
    let pid = child.id() as i32;
    enforcer::cgroup::join(cgroup.created(), &discover(), pid).expect("joins");
    // Moved out of the leaf behind the enforcer's back, into the test's
    // own root: the kernel now disagrees, and says where it is.
    std::fs::write(
        mount.join(&cgroup.root).join("cgroup.procs"),
        pid.to_string(),
    )
    .expect("moves");
    let text = enforcer::linux::proc::read_proc_cgroup(pid).expect("cgroup");
    let error = enforcer::cgroup::apply::confirm_joined(&discover(), &text, cgroup.created(), pid)
        .expect_err("not in the leaf");
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "process {pid} did not join cgroup {}",
            mount.join(&cgroup.root).join("sandbox").display()
        )) && message.contains(&format!(
            "the kernel has it in /{} of the hierarchy at {} (cgroup v1 pids)",
            cgroup.root,
            mount.display()
        )),
        "{message}"
    );
    child.kill().expect("kills the sleep");
    child.wait().expect("reaps");
    wait_for("the root to be empty", || {
        enforcer::cgroup::members(&mount.join(&cgroup.root)).is_empty()
    });
}

#[test]
fn join_refuses_a_leaf_that_is_not_cgroupfs() {
    require!(cannot_run());
    // What a covered hierarchy looks like: a plain directory with a plain
    // `cgroup.procs`, which would take any pid.
    let fake = tempfile::Builder::new()
        .prefix("enforcer-test-fake-leaf-")
        .tempdir()
        .expect("tempdir");
    std::fs::write(fake.path().join("cgroup.procs"), "").expect("writes");
    let cgroup = enforcer::cgroup::CreatedCgroup {
        created: Vec::new(),
        leaves: vec![fake.path().to_path_buf()],
    };
    let error = enforcer::cgroup::join(&cgroup, &discover(), std::process::id() as i32)
        .expect_err("a plain file is no cgroup");
    assert!(
        error.to_string().contains(&format!(
            "to {}/cgroup.procs: it is not on a cgroup filesystem",
            fake.path().display()
        )),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(fake.path().join("cgroup.procs")).expect("reads"),
        "",
        "nothing was written"
    );
    // And a leaf the layout does not know is no cgroup either.
    let text = enforcer::linux::proc::read_proc_cgroup("self").expect("cgroup");
    let error = enforcer::cgroup::apply::confirm_joined(
        &discover(),
        &text,
        &cgroup,
        std::process::id() as i32,
    )
    .expect_err("below no hierarchy");
    assert!(
        error
            .to_string()
            .contains("below no cgroup hierarchy reachable on this host"),
        "{error}"
    );
}

#[test]
fn check_reports_the_cgroup2_mount_namespace_limits_and_user_namespaces() {
    let run = common::enforcer(&["check", "--json"]);
    let report = run.json();
    let layout = discover();
    let hierarchies = report["hierarchies"].as_array().expect("hierarchies");
    assert_eq!(
        hierarchies.len(),
        layout.v1.len() + usize::from(layout.v2.is_some())
    );
    if let Some(v2) = &layout.v2 {
        // Listed whether or not it holds a controller.
        assert_eq!(hierarchies[0]["version"], "v2");
        assert_eq!(
            hierarchies[0]["mountPoint"],
            v2.mount_point.display().to_string().as_str()
        );
        assert_eq!(
            hierarchies[0]["enabled"],
            serde_json::json!(v2.enabled),
            "{report:#}"
        );
    }
    for row in report["namespaces"].as_array().expect("namespaces") {
        let name = match row["type"].as_str().expect("type") {
            "network" => "net",
            "mount" => "mnt",
            other => other,
        };
        let max: Option<u64> =
            std::fs::read_to_string(format!("/proc/sys/user/max_{name}_namespaces"))
                .ok()
                .and_then(|text| text.trim().parse().ok());
        assert_eq!(row["max"], serde_json::json!(max), "{row}");
    }
    let knob = |path: &str| -> Option<i64> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
    };
    let user = &report["userNamespaces"];
    let clone = knob("/proc/sys/kernel/unprivileged_userns_clone");
    let apparmor = knob("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let max_user = knob("/proc/sys/user/max_user_namespaces");
    assert_eq!(user["unprivilegedUsernsClone"], serde_json::json!(clone));
    assert_eq!(
        user["apparmorRestrictUnprivilegedUserns"],
        serde_json::json!(apparmor)
    );
    let allowed = clone != Some(0) && apparmor.is_none_or(|v| v == 0) && max_user != Some(0);
    assert_eq!(user["unprivilegedAllowed"], allowed, "{user}");
    let human = common::enforcer(&["check"]);
    for needle in ["HIERARCHY", "unprivileged user namespaces: ", "(max "] {
        assert!(human.stdout.contains(needle), "{needle}:\n{}", human.stdout);
    }
    assert!(
        human
            .stdout
            .contains("enforcer mounts: none under /run/enforcer/cgroup")
            || human.stdout.contains("enforcer mount: "),
        "{}",
        human.stdout
    );
    if let Some(v2) = &layout.v2 {
        assert!(
            human.stdout.lines().any(|line| line
                .starts_with(&v2.mount_point.display().to_string())
                && line.contains(" v2 ")),
            "{}",
            human.stdout
        );
    }
}

#[test]
fn a_closed_output_ends_commands_quietly() {
    for args in [
        &["check"][..],
        &["check", "--json"],
        &["eval", "--", "/bin/true"],
        &["eval", "--plan", "--", "/bin/true"],
        &["--help"],
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_enforcer"));
        command.args(args);
        let outcome = run_to_end(&mut command, true);
        assert!(
            outcome.run.stderr.is_empty(),
            "{args:?}: nothing on stderr, got:\n{}",
            outcome.run.stderr
        );
        // Killed by SIGPIPE as coreutils are (clap's help ignores the
        // error and exits 0).
        assert!(
            outcome.signal == Some(nix::libc::SIGPIPE) || args == ["--help"],
            "{args:?}: {:?} {:?}",
            outcome.signal,
            outcome.run.code
        );
    }
    // Through a shell, as a user types it.
    let script = format!(
        "{0} check | head -1; {0} eval -- /bin/true | head -1",
        quote(env!("CARGO_BIN_EXE_enforcer"))
    );
    let run = run_to_end(Command::new("sh").args(["-c", &script]), false).run;
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn run_outlives_a_closed_output_and_the_workload_gets_sigpipe() {
    require!(cannot_run());
    let harness = Harness::new();
    // The workload's SIGPIPE is not ignored, whatever the enforcer does.
    let run = harness.run(&[], &["sh", "-c", "grep SigIgn /proc/self/status"]);
    run.expect_code(0);
    let ignored = run
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .expect("SigIgn");
    assert_eq!(
        ignored & (1 << (nix::libc::SIGPIPE - 1)),
        0,
        "{}",
        run.stdout
    );
    // `yes` writing into a closed pipe dies of SIGPIPE (no "Broken pipe"
    // message), and the enforcer reports it and cleans up.
    let args = harness.run_args(&[], &["yes"]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_enforcer"));
    command.args(&args);
    let outcome = run_to_end(&mut command, true);
    assert_eq!(outcome.run.code, Some(128 + nix::libc::SIGPIPE));
    assert!(outcome.run.stderr.is_empty(), "{}", outcome.run.stderr);
    harness.assert_clean();
    // Detached with a closed output: the sandbox starts, the enforcer ends
    // quietly when it cannot print the id.
    let args = harness.run_args(&["--detach", "--id", "closed"], &["sleep", "60"]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_enforcer"));
    command.args(&args);
    let outcome = run_to_end(&mut command, true);
    assert_eq!(outcome.signal, Some(nix::libc::SIGPIPE));
    assert!(outcome.run.stderr.is_empty(), "{}", outcome.run.stderr);
    assert!(sandbox::alive(harness.pid("closed")));
    harness.command("delete", &["closed"]).expect_code(0);
    harness.assert_clean();
}
