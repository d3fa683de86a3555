use super::*;

use policy_model::{Capabilities, NamespaceType, SeccompAction};
use serde_json::json;

/// A bundle directory with `rootfs/` and `data/` (inside the root) and
/// `outside/` (beside it), canonical.
fn bundle_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let canonical = std::fs::canonicalize(dir.path()).expect("canonical");
    for sub in ["rootfs/bin", "rootfs/data", "outside"] {
        std::fs::create_dir_all(canonical.join(sub)).expect("mkdir");
    }
    (dir, canonical)
}

/// What `runc spec` writes, trimmed: the config every test starts from.
fn config() -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", "ls /"],
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/data", "type": "bind", "source": "rootfs/data",
             "options": ["rbind", "ro"]}
        ],
        "annotations": {"org.example/owner": "ci"},
        "linux": {
            "resources": {
                "devices": [{"allow": false, "access": "rwm"}],
                "memory": {"limit": 67108864},
                "pids": {"limit": 32}
            },
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys"],
            "readonlyPaths": ["/proc/sys"],
            "seccomp": {"defaultAction": "SCMP_ACT_ALLOW",
                        "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
        }
    })
}

fn translated(dir: &Path, config: &Value) -> Result<Bundle, BundleError> {
    translate(dir, &config.to_string())
}

/// The field and message of a refusal.
fn refused(dir: &Path, config: &Value) -> (String, String) {
    match translated(dir, config).expect_err("refused") {
        BundleError::Field {
            config: file,
            field,
            message,
        } => {
            assert_eq!(file, dir.join("config.json"));
            (field, message)
        }
        other => panic!("not a field error: {other}"),
    }
}

#[test]
fn a_runc_config_becomes_the_request_parts() {
    let (_keep, dir) = bundle_dir();
    let bundle = translated(&dir, &config()).expect("translates");
    assert_eq!(bundle.dir, dir);
    assert_eq!(bundle.command, ["/bin/sh", "-c", "ls /"]);
    assert!(bundle.terminal);
    assert_eq!(
        bundle
            .annotations
            .get("org.example/owner")
            .map(String::as_str),
        Some("ci")
    );
    let requested = bundle.requested.expect("linux.resources");
    assert_eq!(requested.pids.map(|pids| pids.limit), Some(32));
    assert_eq!(
        requested.memory.and_then(|memory| memory.limit),
        Some(67_108_864)
    );
    let spec = bundle.spec;
    let root = spec.root.expect("root");
    assert_eq!(root.path, dir.join("rootfs").to_str().expect("utf-8"));
    assert!(root.readonly);
    assert_eq!(spec.hostname.as_deref(), Some("runc"));
    assert_eq!(spec.mounts.len(), 3);
    assert_eq!(
        spec.mounts[2].source.as_deref(),
        dir.join("rootfs/data").to_str(),
        "a bind source is resolved against the bundle"
    );
    assert_eq!(spec.mounts[0].source.as_deref(), Some("proc"), "kept as is");
    let kinds: Vec<NamespaceType> = spec.namespaces.iter().map(|ns| ns.kind).collect();
    assert_eq!(kinds.len(), 6);
    assert!(kinds.contains(&NamespaceType::Cgroup));
    assert_eq!(spec.masked_paths, ["/proc/kcore", "/proc/keys"]);
    assert_eq!(spec.readonly_paths, ["/proc/sys"]);
    let seccomp = spec.seccomp.expect("seccomp");
    assert_eq!(seccomp.default_action, SeccompAction::Allow);
    assert_eq!(seccomp.syscalls[0].errno_ret, Some(1));
    let process = spec.process.expect("process");
    assert_eq!(process.cwd.as_deref(), Some("/"));
    assert_eq!(process.env, ["PATH=/bin", "TERM=xterm"]);
    assert_eq!(process.no_new_privileges, Some(true));
    assert_eq!(process.rlimits[0].kind, "RLIMIT_NOFILE");
    assert_eq!(
        process.capabilities.expect("caps").bounding,
        ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    );
    assert_eq!(process.user.map(|user| (user.uid, user.gid)), Some((0, 0)));
    assert!(bundle.warnings.is_empty(), "{:?}", bundle.warnings);
}

#[test]
fn an_absolute_root_and_absent_capabilities() {
    let (_keep, dir) = bundle_dir();
    let mut config = config();
    config["root"]["path"] = json!(dir.join("rootfs/.").to_str().expect("utf-8"));
    config["process"]
        .as_object_mut()
        .expect("object")
        .remove("capabilities");
    let spec = translated(&dir, &config).expect("translates").spec;
    assert_eq!(
        spec.root.expect("root").path,
        dir.join("rootfs").to_str().expect("utf-8"),
        "made canonical"
    );
    assert_eq!(
        spec.process.and_then(|process| process.capabilities),
        Some(Capabilities::default()),
        "OCI: absent sets are empty"
    );
}

#[test]
fn a_symlinked_root_or_bind_source_is_resolved_to_its_target() {
    let (_keep, dir) = bundle_dir();
    std::os::unix::fs::symlink(dir.join("outside"), dir.join("rootfs/escape")).expect("symlink");
    let mut config = config();
    config["mounts"][2]["source"] = json!("rootfs/escape");
    let spec = translated(&dir, &config).expect("translates").spec;
    assert_eq!(
        spec.mounts[2].source.as_deref(),
        dir.join("outside").to_str(),
        "the policy judges the real source, not the link"
    );
}

#[test]
fn unknown_top_level_fields_are_warnings() {
    let (_keep, dir) = bundle_dir();
    let mut config = config();
    config["futureField"] = json!({"x": 1});
    let bundle = translated(&dir, &config).expect("translates");
    assert_eq!(bundle.warnings.len(), 1);
    assert!(
        bundle.warnings[0].contains("ignoring unknown top-level field \"futureField\""),
        "{:?}",
        bundle.warnings
    );
}

#[test]
fn fields_the_enforcer_cannot_honour_are_refused_by_name() {
    let (_keep, dir) = bundle_dir();
    let cases: [(&str, &[&str], Value); 16] = [
        (
            "hooks",
            &["hooks"],
            json!({"prestart": [{"path": "/bin/true"}]}),
        ),
        (
            "linux.sysctl",
            &["linux", "sysctl"],
            json!({"net.ipv4.ip_forward": "1"}),
        ),
        (
            "linux.intelRdt",
            &["linux", "intelRdt"],
            json!({"closID": "x"}),
        ),
        (
            "process.apparmorProfile",
            &["process", "apparmorProfile"],
            json!("docker-default"),
        ),
        (
            "process.selinuxLabel",
            &["process", "selinuxLabel"],
            json!("system_u:r:c"),
        ),
        (
            "process.oomScoreAdj",
            &["process", "oomScoreAdj"],
            json!(-1000),
        ),
        (
            "process.scheduler",
            &["process", "scheduler"],
            json!({"policy": "SCHED_FIFO"}),
        ),
        (
            "process.ioPriority",
            &["process", "ioPriority"],
            json!({"class": "IOPRIO_CLASS_RT"}),
        ),
        (
            "process.commandLine",
            &["process", "commandLine"],
            json!("cmd.exe"),
        ),
        (
            "linux.devices",
            &["linux", "devices"],
            json!([{"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}]),
        ),
        (
            "linux.mountLabel",
            &["linux", "mountLabel"],
            json!("system_u:object_r:x"),
        ),
        (
            "linux.personality",
            &["linux", "personality"],
            json!({"domain": "LINUX32"}),
        ),
        (
            "linux.timeOffsets",
            &["linux", "timeOffsets"],
            json!({"monotonic": {"secs": 1}}),
        ),
        (
            "linux.seccomp.listenerPath",
            &["linux", "seccomp", "listenerPath"],
            json!("/run/agent.sock"),
        ),
        ("vm", &["vm"], json!({"hypervisor": {"path": "/bin/qemu"}})),
        ("windows", &["windows"], json!({"layerFolders": ["C:\\x"]})),
    ];
    for (field, path, value) in cases {
        let mut config = config();
        let mut target = &mut config;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        let (named, message) = refused(&dir, &config);
        assert_eq!(named, field);
        assert!(
            message.contains("the enforcer cannot honour it"),
            "{field}: {message}"
        );
    }
}

#[test]
fn empty_refusable_fields_ask_for_nothing() {
    let (_keep, dir) = bundle_dir();
    let mut config = config();
    config["hooks"] = json!({"prestart": [], "poststop": []});
    config["linux"]["sysctl"] = json!({});
    config["process"]["apparmorProfile"] = json!("");
    config["linux"]["devices"] = json!([]);
    config["linux"]["rootfsPropagation"] = json!("rprivate");
    translated(&dir, &config).expect("nothing asked, nothing refused");
}

#[test]
fn errors_name_the_json_path() {
    let (_keep, dir) = bundle_dir();
    let mut config = config();
    config["linux"]["resources"]["memory"]["limt"] = json!(1);
    let (field, message) = refused(&dir, &config);
    assert_eq!(field, "linux.resources.memory.limt");
    assert!(message.contains("limt"), "{message}");

    let mut config = self::config();
    config["process"]["user"]["uid"] = json!("root");
    assert_eq!(refused(&dir, &config).0, "process.user.uid");

    let mut config = self::config();
    config["linux"]["newKnob"] = json!(true);
    let (field, message) = refused(&dir, &config);
    assert_eq!(field, "linux.newKnob");
    assert!(message.contains("unknown field"), "{message}");

    let mut config = self::config();
    config["linux"]["seccomp"]["syscalls"][0]["action"] = json!("SCMP_ACT_NOTIFY");
    let (field, message) = refused(&dir, &config);
    assert_eq!(field, "linux.seccomp.syscalls[0].action");
    assert!(message.contains("SCMP_ACT_NOTIFY"), "{message}");

    let mut config = self::config();
    config["linux"]["namespaces"][2] = json!({"type": "time"});
    let (field, message) = refused(&dir, &config);
    assert_eq!(field, "linux.namespaces[2].type");
    assert!(message.contains("\"time\""), "{message}");

    let mut config = self::config();
    config["linux"]["rootfsPropagation"] = json!("shared");
    assert_eq!(refused(&dir, &config).0, "linux.rootfsPropagation");
}

#[test]
fn what_must_be_there() {
    let (_keep, dir) = bundle_dir();
    let mut config = config();
    config["root"]["path"] = json!("missing");
    let (field, message) = refused(&dir, &config);
    assert_eq!(field, "root.path");
    assert!(message.contains("missing"), "{message}");

    let mut config = self::config();
    config.as_object_mut().expect("object").remove("root");
    assert_eq!(refused(&dir, &config).0, "root");

    let mut config = self::config();
    config.as_object_mut().expect("object").remove("process");
    assert_eq!(refused(&dir, &config).0, "process");

    let mut config = self::config();
    config["process"]["args"] = json!([]);
    assert_eq!(refused(&dir, &config).0, "process.args");

    let mut config = self::config();
    config["process"]["cwd"] = json!("work");
    assert_eq!(refused(&dir, &config).0, "process.cwd");

    let mut config = self::config();
    config["mounts"][2]["source"] = json!("rootfs/nope");
    assert_eq!(refused(&dir, &config).0, "mounts[2].source");

    let mut config = self::config();
    config["ociVersion"] = json!("2.0.0");
    assert_eq!(refused(&dir, &config).0, "ociVersion");
}

#[test]
fn a_relative_destination_is_taken_from_the_root_with_a_warning() {
    let (_keep, dir) = bundle_dir();
    let mut config = config();
    config["mounts"][0]["destination"] = json!("proc");
    let bundle = translated(&dir, &config).expect("translates");
    assert_eq!(bundle.spec.mounts[0].destination, "/proc");
    assert!(
        bundle.warnings[0].contains("deprecated"),
        "{:?}",
        bundle.warnings
    );
}

#[test]
fn syntax_and_missing_files_name_the_config() {
    let (_keep, dir) = bundle_dir();
    let error = translate(&dir, "{").expect_err("not JSON");
    assert!(
        error.to_string().starts_with(&format!(
            "{}: not valid JSON",
            dir.join("config.json").display()
        )),
        "{error}"
    );
    let error = translate(&dir, "[]").expect_err("not an object");
    assert!(error.to_string().contains("JSON object"), "{error}");
    let error = load(&dir).expect_err("no config.json");
    assert!(
        error.to_string().starts_with(&format!(
            "cannot read {}",
            dir.join("config.json").display()
        )),
        "{error}"
    );
    let error = load(&dir.join("nope")).expect_err("no directory");
    assert!(error.to_string().starts_with("bundle "), "{error}");
}
