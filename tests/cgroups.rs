//! Real cgroups on this host: plans are created, processes join them, the
//! kernel enforces the limits (the workload itself fails), and everything
//! is removed. Every cgroup lives under a root named `enforcer-test-...`,
//! unique per test, and is removed even when an assertion fails.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use enforcer::cgroup::{
    CgroupPlan, ControllerState, CreatedCgroup, PlannedWrite, Value, create, discover, join, plan,
    remove,
};
use policy_sdk::{Decision, DeviceRule, MIB, Pids, Resources};

/// Why a test cannot run here, or `None`.
fn cannot_run() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to create cgroups");
    }
    None
}

macro_rules! require {
    ($condition:expr) => {
        if let Some(why) = $condition {
            eprintln!("SKIPPED {}: {why}", module_path!());
            return;
        }
    };
}

/// A unique cgroup root for one test, removed on drop.
struct TestCgroup {
    root: String,
    plan: CgroupPlan,
    created: Option<CreatedCgroup>,
}

impl TestCgroup {
    fn plan(resources: &Resources) -> TestCgroup {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let root = format!(
            "enforcer-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let plan = plan(resources, &discover(), &root, "sandbox").expect("plannable here");
        TestCgroup {
            root,
            plan,
            created: None,
        }
    }

    fn create(mut self) -> TestCgroup {
        self.created = Some(create(&self.plan).expect("creates"));
        self
    }

    fn created(&self) -> &CreatedCgroup {
        self.created.as_ref().expect("created")
    }

    /// Runs `sh -c SCRIPT` inside the cgroup: the shell waits on stdin until
    /// it has joined, so everything it starts is limited.
    fn run(&self, script: &str) -> (Option<i32>, String, String) {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let pid = child.id() as i32;
        join(self.created(), pid).expect("joins");
        let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("readable");
        for leaf in &self.created().leaves {
            let suffix = format!("/{}/sandbox", self.root);
            assert!(leaf.ends_with(suffix.trim_start_matches('/')));
            assert!(
                membership.lines().any(|line| line.ends_with(&suffix)),
                "{pid} not in {suffix}:\n{membership}"
            );
        }
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"go\n")
            .expect("releases");
        let output = child.wait_with_output().expect("waits");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn leaf(&self, controller: &str) -> std::path::PathBuf {
        match discover().controller_state(controller) {
            ControllerState::V1(mount) | ControllerState::V2(mount) => {
                mount.join(&self.root).join("sandbox")
            }
            other => panic!("{controller}: {other:?}"),
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Some(created) = &self.created {
            remove(created, Duration::from_secs(10)).expect("removes");
            for directory in &self.plan.directories {
                assert!(
                    !directory.exists(),
                    "{} was left behind",
                    directory.display()
                );
            }
        }
    }
}

fn usable(controller: &str) -> Option<&'static str> {
    match discover().controller_state(controller) {
        ControllerState::V1(_) | ControllerState::V2(_) => None,
        _ => Some("the controller is not usable on this host (see enforcer check)"),
    }
}

#[test]
fn pids_limit_makes_fork_fail() {
    require!(cannot_run().or(usable("pids")));
    let resources = Decision::allow().pids(4).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    assert_eq!(
        std::fs::read_to_string(cgroup.leaf("pids").join("pids.max"))
            .expect("reads")
            .trim(),
        "4"
    );
    let (_, stdout, stderr) =
        cgroup.run("for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo finished");
    assert!(
        stderr.to_lowercase().contains("fork"),
        "the shell must fail to fork:\nstdout {stdout}\nstderr {stderr}"
    );
}

#[test]
fn v1_device_rules_deny_zero_and_allow_null() {
    require!(cannot_run());
    if !matches!(
        discover().controller_state("devices"),
        ControllerState::V1(_)
    ) {
        eprintln!(
            "SKIPPED: the devices controller is not on a v1 hierarchy here (the v2 eBPF program is not built yet)"
        );
        return;
    }
    let resources = Decision::allow()
        .deny_all_devices()
        .allow_device(DeviceRule::allow_char(1, Some(3), "rwm"))
        .resources
        .expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let list = std::fs::read_to_string(cgroup.leaf("devices").join("devices.list")).expect("reads");
    assert_eq!(list.trim(), "c 1:3 rwm", "the kernel's view of the rules");
    let (_, stdout, stderr) = cgroup.run(
        "echo x > /dev/null && echo null-ok; head -c 1 /dev/zero > /dev/null 2>&1 || echo zero-denied",
    );
    assert!(stdout.contains("null-ok"), "{stdout} {stderr}");
    assert!(
        stdout.contains("zero-denied"),
        "opening /dev/zero must fail: {stdout} {stderr}"
    );
}

#[test]
fn memory_limit_oom_kills_the_hog() {
    require!(cannot_run().or(usable("memory")));
    let resources = Decision::allow()
        .memory_limit(16 * MIB)
        .resources
        .expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let (_, stdout, stderr) =
        cgroup.run("head -c 200000000 /dev/zero | tail -n 1 > /dev/null; echo status=$?");
    assert!(
        stdout.contains("status=137"),
        "the hog must be SIGKILLed by the OOM killer: {stdout} {stderr}"
    );
    let leaf = cgroup.leaf("memory");
    if leaf.join("memory.failcnt").exists() {
        let failcnt: u64 = std::fs::read_to_string(leaf.join("memory.failcnt"))
            .expect("reads")
            .trim()
            .parse()
            .expect("number");
        assert!(failcnt > 0, "memory.failcnt records the limit being hit");
    } else {
        let events = std::fs::read_to_string(leaf.join("memory.events")).expect("reads");
        assert!(
            events.contains("oom_kill 1")
                || events
                    .lines()
                    .any(|l| l.starts_with("oom_kill ") && !l.ends_with(" 0")),
            "{events}"
        );
    }
}

#[test]
fn a_failing_write_leaves_nothing_behind() {
    require!(cannot_run().or(usable("pids")).or(usable("memory")));
    let resources = Resources {
        pids: Some(Pids { limit: 8 }),
        ..Decision::allow()
            .memory_limit(64 * MIB)
            .resources
            .expect("resources")
    };
    let mut cgroup = TestCgroup::plan(&resources);
    let pids_max = cgroup.leaf("pids").join("pids.max");
    cgroup.plan.writes.push(PlannedWrite {
        controller: "pids".into(),
        file: pids_max.clone(),
        value: Value::Literal("not-a-number".into()),
        optional: false,
    });
    let error = create(&cgroup.plan).expect_err("the kernel refuses the value");
    let message = error.to_string();
    assert!(
        message.contains("not-a-number") && message.contains("pids.max"),
        "{message}"
    );
    for directory in &cgroup.plan.directories {
        assert!(
            !directory.exists(),
            "{} survived a failed create",
            directory.display()
        );
    }
    assert!(!Path::new(&pids_max).exists());
}

#[test]
fn an_existing_cgroup_is_a_conflict() {
    require!(cannot_run().or(usable("pids")));
    let resources = Decision::allow().pids(8).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let error = create(&cgroup.plan).expect_err("second create conflicts");
    assert!(error.to_string().contains("already exists"), "{error}");
    assert!(
        cgroup.leaf("pids").exists(),
        "the conflict must not remove the first sandbox's cgroup"
    );
}
