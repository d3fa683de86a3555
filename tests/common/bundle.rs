//! An OCI bundle in a temporary directory, for the tests of `enforcer run
//! --bundle`: a busybox-static rootfs (`rootfs/bin/busybox` with `sh`,
//! `ls`, `cat`, `echo` and `id` linked to it; empty `proc`, `sys`, `dev`,
//! `tmp`, `etc`) and a `config.json` as `runc spec` writes it (the usual
//! namespaces and OCI mounts), running `/bin/sh -c 'ls /'`. Included with
//! `#[path]` by the test binaries that use it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Where `apt-get install busybox-static` puts the static busybox.
pub const BUSYBOX: &str = "/bin/busybox";

/// The applets the rootfs links to busybox.
pub const APPLETS: [&str; 5] = ["sh", "ls", "cat", "echo", "id"];

/// The directories of the rootfs, besides `bin`.
pub const ROOT_DIRS: [&str; 5] = ["proc", "sys", "dev", "tmp", "etc"];

/// A bundle directory, removed on drop.
pub struct TestBundle {
    dir: tempfile::TempDir,
}

impl TestBundle {
    /// The bundle with the default config; `None` (and why) when this
    /// host has no static busybox to build its rootfs from.
    pub fn new() -> Result<TestBundle, &'static str> {
        TestBundle::with_config(config())
    }

    /// The bundle with `config` as its `config.json`.
    pub fn with_config(config: Value) -> Result<TestBundle, &'static str> {
        if !is_static_busybox(Path::new(BUSYBOX)) {
            return Err("needs a static busybox at /bin/busybox (apt-get install busybox-static)");
        }
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-bundle-")
            .tempdir()
            .expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir rootfs/bin");
        for sub in ROOT_DIRS {
            std::fs::create_dir(rootfs.join(sub)).expect("mkdir in rootfs");
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copies busybox");
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("links an applet");
        }
        let bundle = TestBundle { dir };
        bundle.write_config(&config);
        Ok(bundle)
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle directory as text, for a command line.
    pub fn arg(&self) -> String {
        self.dir().display().to_string()
    }

    /// `DIR/config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("config.json")
    }

    /// The rootfs, canonical (as the enforcer resolves it).
    pub fn rootfs(&self) -> PathBuf {
        std::fs::canonicalize(self.dir().join("rootfs")).expect("canonical rootfs")
    }

    /// Replaces `config.json`.
    pub fn write_config(&self, config: &Value) {
        std::fs::write(
            self.config_path(),
            serde_json::to_string_pretty(config).expect("serializes"),
        )
        .expect("writes config.json");
    }
}

/// Whether `path` is a statically linked ELF (no `PT_INTERP`): the rootfs
/// has no dynamic loader or libraries.
fn is_static_busybox(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let word = |at: usize, len: usize| -> u64 {
        bytes[at..at + len]
            .iter()
            .rev()
            .fold(0, |acc, byte| (acc << 8) | u64::from(*byte))
    };
    let (phoff, phentsize, phnum) = (word(32, 8) as usize, word(54, 2) as usize, word(56, 2));
    (0..phnum as usize).all(|index| {
        let at = phoff + index * phentsize;
        at + 4 <= bytes.len() && word(at, 4) != 3 // PT_INTERP
    })
}

/// The `config.json` `runc spec` writes (its capabilities, rlimits, mounts,
/// masked and read-only paths), running `/bin/sh -c 'ls /'` without a
/// terminal.
pub fn config() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", "ls /"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"]
        }
    })
}
