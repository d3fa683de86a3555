//! A test's own cgroup root and state directory for `enforcer run` and the
//! lifecycle commands, and a check on drop that nothing of either is left.
//! Included with `#[path]` (after `common` and `test_cgroup`) by the test
//! binaries that start sandboxes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use enforcer::cgroup::discover;

use super::common::{Run, enforcer_command, enforcer_in};
use super::test_cgroup::{unique_root, wait_for};

/// One test's cgroup root and state directory.
pub struct Harness {
    /// The cgroup root (`enforcer-test-<pid>-<n>`).
    pub root: String,
    /// The state directory.
    pub state: tempfile::TempDir,
    /// The program (and its arguments) every enforcer command runs under,
    /// e.g. `nsenter --net=/run/netns/NAME`; empty: none.
    pub wrapper: Vec<String>,
    /// Global flags before every command (`--config FILE`).
    pub globals: Vec<String>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            root: unique_root(),
            state: tempfile::Builder::new()
                .prefix("enforcer-test-state-")
                .tempdir()
                .expect("tempdir"),
            wrapper: Vec::new(),
            globals: Vec::new(),
        }
    }

    /// Runs every command of this harness (also the clean-up on drop)
    /// inside the network namespace mounted at `path`, with `nsenter
    /// --net` only: `ip netns exec` would remount `/sys` and hide the
    /// cgroup hierarchies.
    pub fn in_network_namespace(mut self, path: &Path) -> Harness {
        self.wrapper = vec!["nsenter".into(), format!("--net={}", path.display())];
        self
    }

    /// Passes `--config FILE` to every command of this harness.
    pub fn with_config(mut self, file: &Path) -> Harness {
        self.globals = vec!["--config".into(), file.display().to_string()];
        self
    }

    pub fn state_dir(&self) -> String {
        self.state.path().display().to_string()
    }

    /// `enforcer COMMAND --state-dir ... ARGS` for lifecycle commands.
    pub fn command(&self, command: &str, args: &[&str]) -> Run {
        let state = self.state_dir();
        let mut all: Vec<&str> = self.globals.iter().map(String::as_str).collect();
        all.extend([command, "--state-dir", &state]);
        all.extend_from_slice(args);
        enforcer_in(&self.wrapper, &all, "")
    }

    /// `enforcer run` with this root and state directory, OPTIONS, `--`,
    /// COMMAND.
    pub fn run_args(&self, options: &[&str], command: &[&str]) -> Vec<String> {
        let mut args = self.globals.clone();
        args.extend(
            [
                "run",
                "--cgroup-root",
                &self.root,
                "--state-dir",
                &self.state_dir(),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend(options.iter().map(|s| s.to_string()));
        args.push("--".into());
        args.extend(command.iter().map(|s| s.to_string()));
        args
    }

    /// `enforcer run OPTIONS -- COMMAND` to the end.
    pub fn run(&self, options: &[&str], command: &[&str]) -> Run {
        let args = self.run_args(options, command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        enforcer_in(&self.wrapper, &args, "")
    }

    /// `enforcer run OPTIONS -- COMMAND` in the background (attached).
    /// With a wrapper the child's pid is still the enforcer's (`nsenter`
    /// execs it).
    pub fn spawn(&self, options: &[&str], command: &[&str]) -> Child {
        enforcer_command(&self.wrapper)
            .args(self.run_args(options, command))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("enforcer starts")
    }

    /// Starts COMMAND detached; returns the id.
    pub fn detach(&self, options: &[&str], command: &[&str]) -> String {
        let mut options = options.to_vec();
        options.push("--detach");
        let run = self.run(&options, command);
        run.expect_code(0);
        run.stdout.trim().to_string()
    }

    /// `enforcer run OPTIONS -- /bin/sh -c SCRIPT`.
    pub fn sh(&self, options: &[&str], script: &str) -> Run {
        self.run(options, &["/bin/sh", "-c", script])
    }

    /// `enforcer run OPTIONS -- /bin/sh -c SCRIPT` in the background.
    pub fn spawn_sh(&self, options: &[&str], script: &str) -> Child {
        self.spawn(options, &["/bin/sh", "-c", script])
    }

    /// Starts `/bin/sh -c SCRIPT` detached; returns the id.
    pub fn detach_sh(&self, options: &[&str], script: &str) -> String {
        self.detach(options, &["/bin/sh", "-c", script])
    }

    /// The path of sandbox `id`'s state file.
    pub fn state_file(&self, id: &str) -> PathBuf {
        self.state.path().join(id).join("state.json")
    }

    /// The state of sandbox `id`.
    pub fn state(&self, id: &str) -> serde_json::Value {
        let path = self.state_file(id);
        serde_json::from_slice(&std::fs::read(&path).expect("state file")).expect("state JSON")
    }

    /// Waits until sandbox `id` has started (its state names the process).
    pub fn wait_started(&self, id: &str) {
        wait_for("the sandbox to start", || {
            std::fs::read(self.state_file(id))
                .ok()
                .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
                .is_some_and(|state| !state["process"].is_null())
        });
    }

    /// The first pid of sandbox `id`.
    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["process"]["pid"]
            .as_i64()
            .expect("a started sandbox") as i32
    }

    /// `<mount>/<root>` in every hierarchy.
    pub fn root_directories(&self) -> Vec<PathBuf> {
        let layout = discover();
        layout
            .v1
            .iter()
            .chain(layout.v2.iter())
            .map(|hierarchy| hierarchy.mount_point.join(&self.root))
            .collect()
    }

    /// The sandbox state entries (everything but the audit log).
    pub fn state_entries(&self) -> Vec<String> {
        std::fs::read_dir(self.state.path())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    // The audit log is the runs' record, not state; the
                    // host id leases are the running sandboxes' (and go
                    // with the last of them, which `assert_clean` checks),
                    // and so are the address leases.
                    .filter(|name| {
                        !name.starts_with("audit.log") && name != ".host-ids" && name != ".networks"
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts that no state and no cgroup of this harness is left.
    #[track_caller]
    pub fn assert_clean(&self) {
        let left = self.state_entries();
        assert!(left.is_empty(), "state left behind: {left:?}");
        let leases = self.state.path().join(".host-ids");
        assert!(
            !leases.exists(),
            "host id leases left behind in {}",
            leases.display()
        );
        let addresses = self.address_leases();
        assert!(
            addresses.is_empty(),
            "address leases left behind: {addresses:?}"
        );
        for directory in self.root_directories() {
            assert!(!directory.exists(), "{} left behind", directory.display());
        }
    }

    /// The address leases held under the state directory
    /// (`.networks/<network>/<address>`), as `<network>/<address>`.
    pub fn address_leases(&self) -> Vec<String> {
        let mut leases = Vec::new();
        let Ok(networks) = std::fs::read_dir(self.state.path().join(".networks")) else {
            return leases;
        };
        for network in networks.flatten() {
            let Ok(entries) = std::fs::read_dir(network.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // A lease is named by its address; a lock file is not.
                if name.parse::<std::net::IpAddr>().is_ok() {
                    leases.push(format!("{}/{name}", network.file_name().to_string_lossy()));
                }
            }
        }
        leases.sort();
        leases
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Remove whatever a failed test left running.
        for id in self.state_entries() {
            let _ = self.command("delete", &[&id]);
        }
        if std::thread::panicking() {
            return;
        }
        self.assert_clean();
    }
}

/// The inode of `path` (a namespace file, say).
pub fn inode(path: impl AsRef<Path>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let path = path.as_ref();
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .ino()
}

#[allow(unused_imports)]
pub use super::test_cgroup::alive;

/// The fixture policy that takes limits, joins and the cgroups path from
/// labels.
pub fn labels() -> String {
    super::common::example("test_labels")
}
