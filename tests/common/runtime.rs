//! The real OCI runtime stack for the `enforcer runtime` tests: a private
//! directory `/tmp/enforcer-test-runtime-*` holding the `enforcer-runtime`
//! symlink to the built binary, runc's `--root`, the operator's config and
//! its state, cache and audit log; busybox bundles whose `cgroupsPath` is
//! `/enforcer-test-runtime-<pid>-<n>`; a guard that deletes each container
//! (`runc delete --force`) and checks its cgroup is gone from every
//! hierarchy; commands run with a hang guard and their output in files (a
//! detached container inherits the runtime's stdout and stderr, so pipes
//! would never reach end of file). Included with `#[path]` by the runtime
//! tests, next to `common/cgroup.rs` (as `test_cgroup`) and
//! `common/bundle.rs` (as `bundle`).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bundle::TestBundle;
use crate::common::Run;

/// Debian's runc (package `runc`).
pub const RUNC: &str = "/usr/sbin/runc";

/// Debian's crun (package `crun`), the other delegate the wrapper allows.
pub const CRUN: &str = "/usr/bin/crun";

/// The program name under which the enforcer is the runtime wrapper.
pub const WRAPPER_NAME: &str = "enforcer-runtime";

/// Longest one command may run before the test calls it hung.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// The capabilities the test bundles ask for: runc spec's three plus
/// `CAP_CHOWN`, `CAP_NET_RAW` and `CAP_SYS_ADMIN`, which the test policies
/// take away in part.
pub const SPEC_CAPS: [&str; 6] = [
    "CAP_AUDIT_WRITE",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_CHOWN",
    "CAP_NET_RAW",
    "CAP_SYS_ADMIN",
];

/// The capabilities the test policies grant: [`SPEC_CAPS`] without
/// `CAP_NET_RAW` and `CAP_SYS_ADMIN`.
pub const DECISION_CAPS: [&str; 4] = [
    "CAP_AUDIT_WRITE",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_CHOWN",
];

/// Capability numbers (linux/capability.h) of the names used here.
pub fn cap_bit(name: &str) -> u32 {
    match name {
        "CAP_CHOWN" => 0,
        "CAP_KILL" => 5,
        "CAP_NET_BIND_SERVICE" => 10,
        "CAP_NET_RAW" => 13,
        "CAP_SYS_ADMIN" => 21,
        "CAP_AUDIT_WRITE" => 29,
        other => panic!("no bit known for {other}"),
    }
}

/// Why the runc tests cannot run here, or `None`.
pub fn cannot_run_runc() -> Option<&'static str> {
    if let Some(why) = crate::test_cgroup::cannot_run() {
        return Some(why);
    }
    if !Path::new(RUNC).is_file() {
        return Some("needs runc at /usr/sbin/runc (apt-get install runc)");
    }
    if !Path::new(crate::bundle::BUSYBOX).is_file() {
        return Some("needs a static busybox at /bin/busybox (apt-get install busybox-static)");
    }
    None
}

/// Whether `program` is an executable file.
pub fn installed(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(program)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A unique name `enforcer-test-<what>-<pid>-<n>`.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "enforcer-test-{what}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Which runtime a command goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The delegate itself: runc, or the stack's [`Stack::delegate`].
    Runc,
    /// The `enforcer-runtime` symlink, with the stack's config (if any) in
    /// `ENFORCER_CONFIG`.
    Wrapper,
}

/// The private directory of one test: the wrapper symlink, runc's root,
/// the config and the enforcer's state. Removed on drop, after checking
/// that the config's cgroup root was left in no hierarchy.
pub struct Stack {
    dir: tempfile::TempDir,
    /// The config's `cgroup_root` (never used by runc, which gets the
    /// bundle's `cgroupsPath`; checked on drop in case the wrapper does).
    pub cgroup_root: String,
    /// `ENFORCER_CONFIG` for the wrapper, once written.
    pub config: Option<PathBuf>,
    /// The delegate the config names and [`Runtime::Runc`] runs:
    /// [`RUNC`] unless changed before the config is written.
    pub delegate: &'static str,
    files: AtomicU32,
}

impl Stack {
    /// A fresh stack directory under /tmp.
    pub fn new() -> Stack {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-runtime-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        for sub in ["bin", "root", "state", "cache", "policies"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir in the stack dir");
        }
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_enforcer"),
            dir.path().join("bin").join(WRAPPER_NAME),
        )
        .expect("links enforcer-runtime");
        Stack {
            dir,
            cgroup_root: unique("runtime-root"),
            config: None,
            delegate: RUNC,
            files: AtomicU32::new(0),
        }
    }

    /// The stack directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `DIR/name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// The `enforcer-runtime` symlink.
    pub fn wrapper(&self) -> PathBuf {
        self.dir().join("bin").join(WRAPPER_NAME)
    }

    /// runc's `--root`.
    pub fn root(&self) -> PathBuf {
        self.dir().join("root")
    }

    /// Writes a policy module answering every request with `decision`
    /// (`policies/<name>.wat`) and returns its path.
    pub fn decision_policy(&self, name: &str, decision: &Value) -> PathBuf {
        crate::common::wat::decision_module(&self.path("policies"), name, decision)
    }

    /// Writes the operator's config naming `platform` (policy modules, in
    /// order) as the platform chain, with runc as the delegate and the
    /// enforcer's state, cache and audit log inside the stack, and uses it
    /// for every wrapper command from now on. `extra` is appended verbatim
    /// (further tables).
    pub fn write_config(&mut self, platform: &[PathBuf], extra: &str) -> PathBuf {
        let dir = self.dir().display().to_string();
        let mut text = format!(
            "cgroup_root = {root:?}\nstate_dir = \"{dir}/state\"\ncache_dir = \"{dir}/cache\"\n\n\
             [audit]\npath = \"{dir}/audit.log\"\n\n[runtime]\ndelegate = {delegate:?}\n",
            root = self.cgroup_root,
            delegate = self.delegate,
        );
        for policy in platform {
            let _ = write!(
                text,
                "\n[[platform]]\npolicy = {:?}\n",
                policy.display().to_string()
            );
        }
        text.push_str(extra);
        let path = self.path("config.toml");
        std::fs::write(&path, text).expect("writes config.toml");
        self.config = Some(path.clone());
        path
    }

    /// The audit log the config names.
    pub fn audit_log(&self) -> PathBuf {
        self.path("audit.log")
    }

    /// `RUNTIME --root ROOT` as a command, without arguments yet.
    pub fn command(&self, runtime: Runtime) -> Command {
        let mut command = match runtime {
            Runtime::Runc => Command::new(self.delegate),
            Runtime::Wrapper => {
                let mut command = Command::new(self.wrapper());
                if let Some(config) = &self.config {
                    command.env("ENFORCER_CONFIG", config);
                }
                command
            }
        };
        command.arg("--root").arg(self.root());
        command
    }

    /// Runs `RUNTIME --root ROOT ARGS` with `stdin` (see [`run`]).
    pub fn runtime(&self, runtime: Runtime, args: &[&str], stdin: &str) -> Run {
        let mut command = self.command(runtime);
        command.args(args);
        self.run(command, stdin)
    }

    /// Runs `command` with `stdin`, its output in files of the stack (see
    /// [`run_with_files`]).
    pub fn run(&self, command: Command, stdin: &str) -> Run {
        let n = self.files.fetch_add(1, Ordering::SeqCst);
        run_with_files(command, stdin, &self.path(&format!("out-{n}")))
    }

    /// A busybox bundle for a container `id` (see [`bundle_config`]).
    pub fn bundle(&self, id: &str, args: &[&str], tweak: impl FnOnce(&mut Value)) -> TestBundle {
        let mut config = bundle_config(id, args);
        tweak(&mut config);
        let bundle = TestBundle::with_config(config).expect("cannot_run_runc checked busybox");
        for applet in ["sleep", "grep", "true", "false"] {
            std::os::unix::fs::symlink("busybox", bundle.dir().join("rootfs/bin").join(applet))
                .expect("links an applet");
        }
        bundle
    }

    /// A container guard for `id` (its cgroup: [`cgroups_path`]).
    pub fn container<'a>(&'a self, id: &str) -> Container<'a> {
        Container {
            stack: self,
            id: id.to_string(),
            cgroups_path: cgroups_path(id),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let left = cgroup_dirs(&self.cgroup_root)
            .into_iter()
            .filter(|dir| dir.exists())
            .collect::<Vec<_>>();
        for dir in &left {
            // Ours by its name; only empty directories go.
            let _ = remove_cgroup_tree(dir);
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("the config's cgroup root was left behind: {left:?}");
        }
    }
}

/// The `cgroupsPath` of container `id`: `/<id>` (every id is an
/// `enforcer-test-...` name).
pub fn cgroups_path(id: &str) -> String {
    assert!(id.starts_with("enforcer-test-"), "{id} is not a test name");
    format!("/{id}")
}

/// The bundle `config.json` for container `id`: runc spec's (as
/// `common/bundle.rs` writes it) running `args`, asking [`SPEC_CAPS`],
/// 256 MiB and 1000 pids, in the cgroup [`cgroups_path`].
pub fn bundle_config(id: &str, args: &[&str]) -> Value {
    let mut config = crate::bundle::config();
    config["process"]["args"] = json!(args);
    let caps = json!(SPEC_CAPS);
    config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps
    });
    config["linux"]["cgroupsPath"] = json!(cgroups_path(id));
    config["linux"]["resources"]["memory"] = json!({"limit": 256 * 1024 * 1024});
    config["linux"]["resources"]["pids"] = json!({"limit": 1000});
    config
}

/// A decision allowing what the test bundles run: the standard namespaces
/// (the bundle's), root in the container with [`DECISION_CAPS`],
/// `noNewPrivileges`, and the given memory and pids limits.
pub fn limiting_decision(memory: i64, pids: i64) -> Value {
    let caps = json!(DECISION_CAPS);
    json!({
        "allow": true,
        "reason": "runtime test policy",
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                       {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
        "resources": {"memory": {"limit": memory}, "pids": {"limit": pids}},
        "process": {
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        }
    })
}

/// Every hierarchy's directory for cgroup `path` (relative to the
/// hierarchy's root, a leading `/` allowed).
pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let layout = enforcer::cgroup::discover();
    layout
        .v1
        .iter()
        .chain(layout.v2.iter())
        .map(|hierarchy| hierarchy.mount_point.join(path.trim_start_matches('/')))
        .collect()
}

/// Removes a cgroup directory and its sub-cgroups, deepest first (rmdir
/// only: a cgroup with processes stays and the error says so).
pub fn remove_cgroup_tree(dir: &Path) -> std::io::Result<()> {
    assert!(
        dir.file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("enforcer-test"))
            || dir.ancestors().any(|a| a
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("enforcer-test"))),
        "{} is not a test cgroup",
        dir.display()
    );
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                remove_cgroup_tree(&entry.path())?;
            }
        }
    }
    std::fs::remove_dir(dir)
}

/// Waits up to 5 s for every hierarchy's directory of `path` to go; the
/// ones still there.
pub fn cgroups_left(path: &str) -> Vec<PathBuf> {
    let started = Instant::now();
    loop {
        let left: Vec<PathBuf> = cgroup_dirs(path)
            .into_iter()
            .filter(|dir| dir.exists())
            .collect();
        if left.is_empty() || started.elapsed() > Duration::from_secs(5) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A container of a test: deleted on drop with `runc delete --force`
/// (the delegate itself, whichever runtime created it), after which its
/// cgroup must be gone from every hierarchy.
pub struct Container<'a> {
    stack: &'a Stack,
    /// The container id.
    pub id: String,
    /// Its `cgroupsPath`.
    pub cgroups_path: String,
}

impl Container<'_> {
    /// `RUNTIME state ID` parsed, or the failed run.
    pub fn state(&self, runtime: Runtime) -> Result<Value, Run> {
        let run = self.stack.runtime(runtime, &["state", &self.id], "");
        if run.code != Some(0) {
            return Err(run);
        }
        Ok(run.json())
    }

    /// The `status` of `RUNTIME state ID`.
    #[track_caller]
    pub fn status(&self, runtime: Runtime) -> String {
        match self.state(runtime) {
            Ok(state) => state["status"].as_str().unwrap_or_default().to_string(),
            Err(run) => panic!("state {} failed: {run:?}", self.id),
        }
    }

    /// Polls the state until its status is `status`.
    #[track_caller]
    pub fn wait_status(&self, runtime: Runtime, status: &str) {
        let started = Instant::now();
        loop {
            let now = self.status(runtime);
            if now == status {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{} stayed {now}, not {status}",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The container's cgroup directory for `controller` (v1 hierarchy or
    /// cgroup2), from `/proc/<pid>/cgroup` of its init process.
    pub fn cgroup_dir(&self, pid: i32, controller: &str) -> PathBuf {
        cgroup_dir_of(pid, controller)
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let deleted = self
            .stack
            .runtime(Runtime::Runc, &["delete", "--force", &self.id], "");
        let left = cgroups_left(&self.cgroups_path);
        for dir in &left {
            let _ = remove_cgroup_tree(dir);
        }
        if std::thread::panicking() {
            if !left.is_empty() {
                eprintln!("cleanup after a failed test: runc left {left:?} ({deleted:?})");
            }
            return;
        }
        assert!(
            left.is_empty(),
            "runc delete --force {} left its cgroup behind: {left:?} ({deleted:?})",
            self.id
        );
    }
}

/// Where process `pid`'s cgroup for `controller` is: the v1 hierarchy
/// that has it, else the cgroup2 mount (`/proc/<pid>/cgroup`'s `0::` line).
pub fn cgroup_dir_of(pid: i32, controller: &str) -> PathBuf {
    use enforcer::cgroup::ControllerState;
    let layout = enforcer::cgroup::discover();
    let lines = crate::test_cgroup::memberships(pid);
    match layout.controller_state(controller) {
        ControllerState::V1(mount) => {
            let line = lines
                .iter()
                .find(|line| line.controllers.iter().any(|name| name == controller))
                .unwrap_or_else(|| panic!("{pid} has no {controller} line: {lines:?}"));
            mount.join(line.path.trim_start_matches('/'))
        }
        ControllerState::V2(mount) => {
            let line = lines
                .iter()
                .find(|line| line.is_unified())
                .unwrap_or_else(|| panic!("{pid} has no cgroup2 line: {lines:?}"));
            mount.join(line.path.trim_start_matches('/'))
        }
        other => panic!("{controller} is not usable here: {other:?}"),
    }
}

/// The memory limit (bytes) the kernel applies to process `pid`'s cgroup:
/// `memory.limit_in_bytes` (v1) or `memory.max` (v2).
pub fn memory_limit(pid: i32) -> String {
    let dir = cgroup_dir_of(pid, "memory");
    let v1 = dir.join("memory.limit_in_bytes");
    let file = if v1.exists() {
        v1
    } else {
        dir.join("memory.max")
    };
    read_trimmed(&file)
}

/// `pids.max` of process `pid`'s cgroup.
pub fn pids_max(pid: i32) -> String {
    read_trimmed(&cgroup_dir_of(pid, "pids").join("pids.max"))
}

/// A file's text, trimmed; panics naming it.
pub fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .trim()
        .to_string()
}

/// A `CapXxx:` mask of `/proc/<pid>/status`.
pub fn cap_mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in\n{status}"));
    u64::from_str_radix(line.trim(), 16).unwrap_or_else(|error| panic!("{field} {line}: {error}"))
}

/// Runs `command` with `stdin`; stdout and stderr go to `BASE.stdout` and
/// `BASE.stderr` (files, not pipes: a container the command starts keeps
/// them open), read back once it exits. Fails the test if it hangs for
/// [`HANG_GUARD`] (killing it, our own unreaped child).
pub fn run_with_files(mut command: Command, stdin: &str, base: &Path) -> Run {
    let stdout_path = base.with_extension("stdout");
    let stderr_path = base.with_extension("stderr");
    let stdout = std::fs::File::create(&stdout_path).expect("creates the stdout file");
    let stderr = std::fs::File::create(&stderr_path).expect("creates the stderr file");
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|error| panic!("{command:?} does not start: {error}"));
    if let Some(mut input) = child.stdin.take() {
        // A command that reads no stdin may have exited already.
        let _ = input.write_all(stdin.as_bytes());
    }
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if started.elapsed() > HANG_GUARD {
            child.kill().expect("kills the hung command");
            let _ = child.wait();
            panic!(
                "{command:?} hung for {HANG_GUARD:?}; stderr so far:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let read = |path: &Path| {
        String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
    };
    Run {
        code: status.code(),
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
        elapsed: started.elapsed(),
    }
}

/// A cgroup parent a container manager creates for a test (containerd's
/// `--cgroup /enforcer-test-ctr-<pid>-<n>/<id>`, podman's
/// `--cgroup-parent`): the runtime removes the container's own cgroup,
/// the parent (and podman's `conmon` child) stays, so this removes the
/// whole tree on drop, after checking nothing still runs in it.
pub struct CgroupTree {
    /// The parent's path, `/enforcer-test-...`.
    pub path: String,
}

impl CgroupTree {
    /// A unique parent `/enforcer-test-<what>-<pid>-<n>`.
    pub fn new(what: &str) -> CgroupTree {
        CgroupTree {
            path: format!("/{}", unique(what)),
        }
    }

    /// The pids of every cgroup of the tree, in every hierarchy.
    pub fn processes(&self) -> Vec<i32> {
        fn walk(dir: &Path, pids: &mut Vec<i32>) {
            if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                pids.extend(
                    text.lines()
                        .filter_map(|line| line.trim().parse::<i32>().ok()),
                );
            }
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                        walk(&entry.path(), pids);
                    }
                }
            }
        }
        let mut pids = Vec::new();
        for dir in cgroup_dirs(&self.path) {
            walk(&dir, &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The directories of the tree still present (every hierarchy,
    /// sub-cgroups included).
    pub fn left(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            if dir.is_dir() {
                found.push(dir.to_path_buf());
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                            walk(&entry.path(), found);
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        for dir in cgroup_dirs(&self.path) {
            walk(&dir, &mut found);
        }
        found
    }
}

impl Drop for CgroupTree {
    fn drop(&mut self) {
        let started = Instant::now();
        while !self.processes().is_empty() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let running = self.processes();
        for dir in cgroup_dirs(&self.path) {
            if dir.exists() {
                let _ = remove_cgroup_tree(&dir);
            }
        }
        let left = self.left();
        if std::thread::panicking() {
            if !running.is_empty() || !left.is_empty() {
                eprintln!(
                    "cleanup after a failed test: {} still holds {running:?}, left {left:?}",
                    self.path
                );
            }
            return;
        }
        assert!(
            running.is_empty(),
            "processes still run in {}: {running:?}",
            self.path
        );
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}

/// The pids whose command line contains `needle` as one argument (or in
/// one), e.g. a private socket or directory only our processes name.
pub fn processes_naming(needle: &str) -> Vec<i32> {
    let own = std::process::id() as i32;
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|byte| *byte == 0)
            .any(|argument| String::from_utf8_lossy(argument).contains(needle))
            && crate::test_cgroup::alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// SIGKILLs each of `pids` still alive (each found by [`processes_naming`]
/// with a name only this test uses) and waits up to 5 s for them to go;
/// the ones that did not.
pub fn kill_and_wait(pids: &[i32]) -> Vec<i32> {
    for &pid in pids {
        if crate::test_cgroup::alive(pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let started = Instant::now();
    loop {
        let left: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|&pid| crate::test_cgroup::alive(pid))
            .collect();
        if left.is_empty() || started.elapsed() > Duration::from_secs(5) {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A global directory a manager creates when it is missing (containerd's
/// `/run/containerd/s`, podman's `/run/containers/networks`): removed on
/// drop, if it was missing before and is empty (rmdir, deepest first).
pub struct GlobalDirs {
    missing: Vec<PathBuf>,
}

impl GlobalDirs {
    /// Notes which of `dirs` (parents before children) are missing now.
    pub fn note(dirs: &[&str]) -> GlobalDirs {
        GlobalDirs {
            missing: dirs
                .iter()
                .map(PathBuf::from)
                .filter(|dir| !dir.exists())
                .collect(),
        }
    }

    /// Removes those that now exist and are empty; the ones that stay
    /// (not empty).
    pub fn remove(&self) -> Vec<PathBuf> {
        let mut stayed = Vec::new();
        for dir in self.missing.iter().rev() {
            if dir.exists() && std::fs::remove_dir(dir).is_err() {
                stayed.push(dir.clone());
            }
        }
        stayed
    }
}

/// What a container prints for [`assert_reports_limits`]: its memory
/// limit, its pids limit (from the cgroup files at /sys/fs/cgroup, v1 or
/// v2) and its capabilities.
pub const REPORT: &str = "echo memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); \
     echo pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); \
     grep -E '^Cap(Bnd|Eff)' /proc/self/status";

/// The value of `key=` in a [`REPORT`].
pub fn reported<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in\n{stdout}"))
}

/// That a [`REPORT`] shows `memory` bytes, `pids`, neither CAP_NET_RAW
/// nor CAP_SYS_ADMIN in the bounding and effective sets, and each of
/// `kept` in both (each one of [`DECISION_CAPS`]).
pub fn assert_reports_limits(stdout: &str, memory: i64, pids: u32, kept: &[&str]) {
    assert_eq!(reported(stdout, "memory"), memory.to_string(), "{stdout}");
    assert_eq!(reported(stdout, "pids"), pids.to_string(), "{stdout}");
    for field in ["CapBnd", "CapEff"] {
        let mask = cap_mask(stdout, field);
        for dropped in ["CAP_NET_RAW", "CAP_SYS_ADMIN"] {
            assert_eq!(mask & (1 << cap_bit(dropped)), 0, "{field} {mask:x}");
        }
        for kept in kept {
            assert!(DECISION_CAPS.contains(kept), "{kept} is not the decision's");
            assert_ne!(
                mask & (1 << cap_bit(kept)),
                0,
                "{field} {mask:x} lacks {kept}"
            );
        }
    }
}
