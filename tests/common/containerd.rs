//! A private containerd for the `enforcer runtime` tests: its config
//! (`version = 2`), root, state, socket, opt directory, runc root and IO
//! FIFOs all under one `/tmp/enforcer-test-containerd-*` directory, the CRI
//! plugin and the snapshotters that use global paths disabled, no debug or
//! metrics listener; started as our child with the given environment (the
//! `io.containerd.runc.v2` shim passes containerd's environment on to the
//! runtime binary, so `ENFORCER_CONFIG` reaches `enforcer-runtime`), and
//! stopped by pid on drop (SIGTERM, then SIGKILL), with the shims it
//! started (found by our socket on their command line) gone too.
//!
//! What containerd 1.6 writes outside its config's directories, and how
//! it is handled: the shims' sockets go to `/run/containerd/s/<sha256 of
//! address/namespace/id>` whatever the config says (the shim removes its
//! socket when it exits; `/run/containerd` and `/run/containerd/s` are
//! removed when they were missing before and are empty). The shim
//! daemonises: it is reparented to pid 1, which reaps it. Containers get
//! the cgroup `ctr run --cgroup` names; without it, ctr's default is
//! `/<namespace>/<id>`, which is why the tests always give it. Included with
//! `#[path]` by the test binaries that use it, next to `common/runtime.rs`.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::runtime::{GlobalDirs, kill_and_wait, processes_naming};

/// Debian's containerd, its client and the runc v2 shim.
pub const CONTAINERD: &str = "/usr/bin/containerd";
/// `ctr`.
pub const CTR: &str = "/usr/bin/ctr";
/// The shim containerd starts for `io.containerd.runc.v2`.
pub const SHIM: &str = "/usr/bin/containerd-shim-runc-v2";

/// The containerd namespace of the tests.
pub const NAMESPACE: &str = "enforcer-test";

/// Where containerd 1.6 puts its shims' sockets, whatever its config says.
pub const SHIM_SOCKET_DIR: &str = "/run/containerd/s";

/// Why the containerd tests cannot run here, or `None`.
pub fn cannot_run() -> Option<&'static str> {
    if let Some(why) = crate::runtime::cannot_run_runc() {
        return Some(why);
    }
    for (program, why) in [
        (
            CONTAINERD,
            "needs containerd at /usr/bin/containerd (apt-get install containerd)",
        ),
        (
            CTR,
            "needs ctr at /usr/bin/ctr (apt-get install containerd)",
        ),
        (
            SHIM,
            "needs the runc v2 shim at /usr/bin/containerd-shim-runc-v2 (apt-get install containerd)",
        ),
    ] {
        if !crate::runtime::installed(program) {
            return Some(why);
        }
    }
    None
}

/// One containerd at a time per test binary: the global shim socket
/// directory is removed when the last one stops.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running private containerd.
pub struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    globals: GlobalDirs,
    /// Containers run through this containerd (for their shim sockets).
    ids: Mutex<Vec<String>>,
    _exclusive: MutexGuard<'static, ()>,
}

impl Containerd {
    /// Starts containerd with `env` added to ours; waits up to 10 s for its
    /// socket.
    pub fn start(env: &[(&str, OsString)]) -> Containerd {
        let exclusive = exclusive();
        let globals = GlobalDirs::note(&["/run/containerd", SHIM_SOCKET_DIR]);
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-containerd-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        for sub in ["opt", "runc", "fifo"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir in the containerd dir");
        }
        let d = dir.path().display().to_string();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[cgroup]
  path = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
        );
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).expect("writes containerd's config");
        let log = std::fs::File::create(dir.path().join("containerd.log")).expect("log file");
        let mut command = Command::new(CONTAINERD);
        command
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("containerd starts");
        let mut containerd = Containerd {
            dir,
            child: Some(child),
            globals,
            ids: Mutex::new(Vec::new()),
            _exclusive: exclusive,
        };
        let started = Instant::now();
        while !containerd.socket().exists() {
            if let Some(child) = containerd.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                containerd.child = None;
                panic!("containerd exited ({status}):\n{}", containerd.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "containerd did not listen within 10 s:\n{}",
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        containerd
    }

    /// The private directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir().join("containerd.sock")
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("containerd.log")).unwrap_or_default()
    }

    /// `ctr --address SOCKET -n enforcer-test` as a command.
    pub fn ctr(&self) -> Command {
        let mut command = Command::new(CTR);
        command
            .arg("--address")
            .arg(self.socket())
            .args(["-n", NAMESPACE]);
        command
    }

    /// `ctr ... run --rm --runc-binary RUNTIME --runc-root PRIVATE
    /// --fifo-dir PRIVATE --cgroup CGROUP --rootfs ROOTFS ID ARGS...`.
    pub fn run_command(
        &self,
        runtime: &Path,
        cgroup: &str,
        rootfs: &Path,
        id: &str,
        args: &[&str],
    ) -> Command {
        self.ids.lock().expect("ids").push(id.to_string());
        let mut command = self.ctr();
        command
            .args(["run", "--rm", "--runc-binary"])
            .arg(runtime)
            .arg("--runc-root")
            .arg(self.dir().join("runc"))
            .arg("--fifo-dir")
            .arg(self.dir().join("fifo"))
            .args(["--cgroup", cgroup])
            // ctr's spec has no /sys/fs/cgroup: runc mounts the
            // container's own cgroups there, read-only (as runc spec's
            // and podman's specs have it).
            .args([
                "--mount",
                "type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:noexec:nodev",
            ])
            .arg("--rootfs")
            .arg(rootfs)
            .arg(id)
            .args(args);
        command
    }

    /// The socket containerd 1.6 gives the shim of container `id`:
    /// `/run/containerd/s/<hex sha256 of "ADDRESS/NAMESPACE/ID">`.
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        let key = format!("{}/{NAMESPACE}/{id}", self.socket().display());
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Path::new(SHIM_SOCKET_DIR).join(hex)
    }

    /// The shims of this containerd still running (their command line
    /// names our socket).
    pub fn shims(&self) -> Vec<i32> {
        processes_naming(&self.socket().display().to_string())
            .into_iter()
            .filter(|&pid| {
                std::fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|exe| exe == Path::new(SHIM))
            })
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        if let Some(mut child) = self.child.take() {
            // Our own child, not yet reaped: its pid is still ours.
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let started = Instant::now();
            let stopped = loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break true,
                    Ok(None) if started.elapsed() > Duration::from_secs(10) => break false,
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            };
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
                problems.push("containerd ignored SIGTERM for 10 s".to_string());
            }
        }
        let shims = self.shims();
        if !shims.is_empty() {
            let stayed = kill_and_wait(&shims);
            problems.push(format!(
                "shims outlived containerd: {shims:?} (killed; still there: {stayed:?})"
            ));
        }
        for id in self.ids.lock().map(|ids| ids.clone()).unwrap_or_default() {
            let socket = self.shim_socket(&id);
            if socket.exists() {
                let _ = std::fs::remove_file(&socket);
                problems.push(format!("the shim of {id} left {}", socket.display()));
            }
        }
        let stayed = self.globals.remove();
        if !stayed.is_empty() {
            problems.push(format!("not empty, kept: {stayed:?}"));
        }
        if !problems.is_empty() {
            if std::thread::panicking() {
                eprintln!("cleanup after a failed test: {problems:?}");
            } else {
                panic!("containerd left things behind: {problems:?}");
            }
        }
    }
}
