//! Real cgroups for tests: a unique root named `enforcer-test-<pid>-<n>`
//! per test, a shell that joins before it runs, and removal on drop (also
//! when the test fails); skips that are logged and counted. Included with `#[path]` by the test binaries that
//! create cgroups; each uses a part of it.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use enforcer::cgroup::{
    CgroupLayout, CgroupPlan, ControllerState, CreatedCgroup, create, discover, join, plan, remove,
};
use policy_sdk::Resources;

/// Whether process `pid` runs (is neither gone nor a zombie), from the
/// library's `/proc/<pid>/stat` parser.
pub fn alive(pid: i32) -> bool {
    use enforcer::linux::proc::{Stat, read_stat};
    read_stat(pid).is_ok_and(|bytes| Stat::parse(&bytes).is_some_and(|stat| !stat.is_dead()))
}

/// The lines of `/proc/<pid>/cgroup` (`pid` may be `self`), from the
/// library's parser.
pub fn memberships(pid: impl std::fmt::Display) -> Vec<enforcer::linux::proc::Membership> {
    let text = enforcer::linux::proc::read_proc_cgroup(&pid)
        .unwrap_or_else(|error| panic!("/proc/{pid}/cgroup: {error}"));
    enforcer::linux::proc::parse_proc_cgroup(&text)
}

/// Why a test cannot run here, or `None`.
pub fn cannot_run() -> Option<&'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to create cgroups");
    }
    None
}

macro_rules! require {
    ($condition:expr) => {
        if let Some(why) = $condition {
            $crate::test_cgroup::skipped(why);
            return;
        }
    };
}
pub(crate) use require;

/// Reports that the current test cannot run here and why. The message
/// goes to the test's output and, when `scripts/test` sets
/// `ENFORCER_TEST_SKIP_LOG`, to that file, which it counts and prints, so a
/// skip is never silent.
pub fn skipped(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    let line = format!("SKIPPED {test}: {why}");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("ENFORCER_TEST_SKIP_LOG") {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// A cgroup root name no other test uses.
pub fn unique_root() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "enforcer-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A unique cgroup root for one test, removed on drop.
pub struct TestCgroup {
    /// The unique root directory name.
    pub root: String,
    /// The plan.
    pub plan: CgroupPlan,
    /// Set once created; removed on drop.
    pub created: Option<CreatedCgroup>,
}

impl TestCgroup {
    pub fn plan(resources: &Resources) -> TestCgroup {
        TestCgroup::plan_on(resources, &discover())
    }

    /// Plans on `layout`, which a test may alter to pick a back-end.
    pub fn plan_on(resources: &Resources, layout: &CgroupLayout) -> TestCgroup {
        let root = unique_root();
        let normal = enforcer::decision::NormalResources::from_oci(resources);
        let plan = plan(&normal, layout, &root, "sandbox").expect("plannable here");
        TestCgroup::with_plan(root, plan)
    }

    /// Wraps a plan made for `root` with the cgroups path `sandbox`.
    pub fn with_plan(root: String, plan: CgroupPlan) -> TestCgroup {
        TestCgroup {
            root,
            plan,
            created: None,
        }
    }

    pub fn create(mut self) -> TestCgroup {
        self.created = Some(create(&self.plan).expect("creates"));
        self
    }

    pub fn created(&self) -> &CreatedCgroup {
        self.created.as_ref().expect("created")
    }

    /// Starts `sh -c SCRIPT` inside the cgroup: the shell waits on stdin
    /// until it has joined (checked in `/proc/<pid>/cgroup` for every
    /// hierarchy), so everything it starts is limited.
    pub fn spawn(&self, script: &str) -> Child {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let pid = child.id() as i32;
        join(self.created(), &discover(), pid).expect("joins");
        let membership = memberships(pid);
        let suffix = format!("/{}/sandbox", self.root);
        let joined = membership
            .iter()
            .filter(|line| line.path.ends_with(&suffix))
            .count();
        assert_eq!(
            joined,
            self.created().leaves.len(),
            "{pid} must be in {suffix} in every hierarchy of the plan:\n{membership:?}"
        );
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"go\n")
            .expect("releases");
        child
    }

    /// Runs `sh -c SCRIPT` inside the cgroup to the end.
    pub fn run(&self, script: &str) -> (Option<i32>, String, String) {
        let output = self.spawn(script).wait_with_output().expect("waits");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    pub fn stats(&self) -> enforcer::cgroup::Stats {
        enforcer::cgroup::stats::read(self.created())
    }

    pub fn leaf(&self, controller: &str) -> std::path::PathBuf {
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
            let removed = remove(created, Duration::from_secs(10));
            if std::thread::panicking() {
                // Clean up as far as possible without a second panic.
                if let Err(error) = removed {
                    eprintln!("cleanup after a failed test: {error}");
                }
                return;
            }
            removed.expect("removes");
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

pub fn usable(controller: &str) -> Option<&'static str> {
    match discover().controller_state(controller) {
        ControllerState::V1(_) | ControllerState::V2(_) => None,
        _ => Some("the controller is not usable on this host (see enforcer check)"),
    }
}

/// Polls `condition` until it holds; fails the test after 20 s.
pub fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
