//! `enforcer runtime` in front of a fake delegate: a shell script that
//! records the argv, the open descriptors and the standard input it was
//! given, answers `state` with the bundle's `config.json` (whose
//! `annotations` hold the record, as runc's state does), `features` with a
//! fixed document and `--version` with runc's three lines. What the
//! wrapper hands over, refuses and writes is checked without runc; the
//! real stack is `runtime_runc.rs`, `runtime_containerd.rs` and
//! `runtime_podman.rs`.

#[allow(unused_macros, unused_imports)]
#[path = "common/cgroup.rs"]
mod test_cgroup;
#[allow(dead_code)]
#[path = "common/wat.rs"]
mod wat;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

/// A fake delegate, its config, a bundle and a policy, in one temporary
/// directory.
struct Fixture {
    dir: tempfile::TempDir,
}

const FEATURES: &str = r#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.0.2-dev","linux":{"namespaces":["cgroup","ipc","mount","network","pid","user","uts","time"],"seccomp":{"enabled":true,"actions":["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS","SCMP_ACT_KILL_THREAD","SCMP_ACT_LOG","SCMP_ACT_TRACE","SCMP_ACT_TRAP"]}},"annotations":{"io.github.seccomp.libseccomp.version":"2.5.4"}}"#;

const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

impl Fixture {
    /// The fixture whose platform policy answers every request with
    /// `decision`.
    fn new(decision: &Value) -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-runtime-driver-")
            .tempdir()
            .expect("tempdir");
        let root = dir.path();
        let fake = root.join("fake-runc");
        std::fs::write(
            &fake,
            format!(
                r#"#!/bin/sh
out="{out}"
for arg in "$@"; do
  case "$arg" in
    state) cat "{bundle}/config.json"; exit 0;;
    features) printf '%s' '{features}'; exit 0;;
    --version) printf 'runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n'; exit 0;;
  esac
done
{{
  for arg in "$@"; do printf 'arg %s\n' "$arg"; done
  for fd in /proc/$$/fd/*; do printf 'fd %s %s\n' "${{fd##*/}}" "$(readlink "$fd")"; done
  printf 'stdin '; cat
}} > "$out"
exit 0
"#,
                out = root.join("handed-over").display(),
                bundle = root.join("bundle").display(),
                features = FEATURES,
            ),
        )
        .expect("writes the fake");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let policy = wat::decision_module(root, "platform", decision);
        std::fs::write(
            root.join("config.toml"),
            format!(
                "state_dir = \"{state}\"\ncache_dir = \"{cache}\"\n\
                 [runtime]\ndelegate = \"{fake}\"\n\
                 [audit]\npath = \"{audit}\"\n\
                 [[platform]]\npolicy = \"{policy}\"\n",
                state = root.join("state").display(),
                cache = root.join("cache").display(),
                fake = fake.display(),
                audit = root.join("audit.log").display(),
                policy = policy.display(),
            ),
        )
        .expect("writes the config");
        std::fs::create_dir_all(root.join("bundle/rootfs/bin")).expect("mkdir rootfs");
        std::fs::write(root.join("bundle/rootfs/bin/sh"), "").expect("a program");
        let fixture = Fixture { dir };
        fixture.write_spec(&spec());
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_enforcer"), fixture.wrapper())
            .expect("symlink");
        fixture
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn wrapper(&self) -> PathBuf {
        self.path("enforcer-runtime")
    }

    fn bundle(&self) -> PathBuf {
        self.path("bundle")
    }

    fn write_spec(&self, spec: &Value) {
        std::fs::write(
            self.bundle().join("config.json"),
            serde_json::to_string_pretty(spec).expect("json"),
        )
        .expect("writes config.json");
    }

    fn spec(&self) -> Value {
        let text = std::fs::read_to_string(self.bundle().join("config.json")).expect("reads");
        serde_json::from_str(&text).expect("json")
    }

    /// Runs the wrapper (through its `enforcer-runtime` symlink) with
    /// `args` and `stdin`.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_program(&self.wrapper(), &[], args, stdin)
    }

    fn run_program(&self, program: &Path, before: &[&str], args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(program)
            .args(before)
            .args(args)
            .env("ENFORCER_CONFIG", self.path("config.toml"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts");
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).expect("stdin");
        }
        child.wait_with_output().expect("waits")
    }

    /// What the fake delegate was given, if it ran for a command it
    /// records (not `state`, `features` or `--version`).
    fn handed_over(&self) -> Option<HandedOver> {
        let text = std::fs::read_to_string(self.path("handed-over")).ok()?;
        let _ = std::fs::remove_file(self.path("handed-over"));
        let mut handed = HandedOver::default();
        let mut lines = text.lines();
        for line in lines.by_ref() {
            if let Some(arg) = line.strip_prefix("arg ") {
                handed.args.push(arg.to_string());
            } else if let Some(fd) = line.strip_prefix("fd ") {
                handed.fds.push(fd.to_string());
            } else if let Some(stdin) = line.strip_prefix("stdin ") {
                handed.stdin = stdin.to_string();
                break;
            }
        }
        for line in lines {
            handed.stdin.push('\n');
            handed.stdin.push_str(line);
        }
        Some(handed)
    }

    fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("an audit line is JSON"))
            .collect()
    }
}

#[derive(Debug, Default)]
struct HandedOver {
    args: Vec<String>,
    fds: Vec<String>,
    stdin: String,
}

/// A spec as containerd's CRI writes it for a container of pod `web` in
/// namespace `team-a` (trimmed to what matters here), with a field newer
/// than the enforcer's types at the top level and inside `process`.
fn spec() -> Value {
    json!({
        "ociVersion": "1.1.0",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", "sleep 1"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}],
            "futureProcessField": {"x": 1}
        },
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.sandbox-name": "web",
            "io.kubernetes.cri.sandbox-namespace": "team-a",
            "io.kubernetes.cri.sandbox-id": "5a1e",
            "io.kubernetes.cri.image-name": "docker.io/library/busybox:1.36",
            "org.enforcer.runtime.record": "{\"forged\":true}"
        },
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
            "resources": {"memory": {"limit": 1073741824}},
            "cgroupsPath": "/enforcer-test-runtime-driver/c1"
        },
        "futureTopLevelField": [1, 2]
    })
}

/// A decision that allows with a 64 MiB memory limit, 32 pids and two of
/// the spec's three capabilities.
fn limiting() -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL"];
    json!({
        "allow": true,
        "reason": "limited",
        "namespaces": [{"type": "pid"}, {"type": "mount"}],
        "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 32}},
        "process": {
            "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        }
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn every_other_command_is_handed_over_verbatim_with_nothing_of_ours_open() {
    let fixture = Fixture::new(&limiting());
    let root = fixture.path("runc-root").display().to_string();
    let log = fixture.path("log.json").display().to_string();
    for args in [
        vec![
            "--root",
            root.as_str(),
            "--log",
            log.as_str(),
            "--log-format",
            "json",
            "start",
            "c1",
        ],
        vec!["--root", root.as_str(), "kill", "c1", "9"],
        vec!["--root", root.as_str(), "kill", "--all", "c1", "KILL"],
        vec!["--root", root.as_str(), "delete", "--force", "c1"],
        vec!["--root", root.as_str(), "ps", "--format", "json", "c1"],
        vec!["--systemd-cgroup", "--root", root.as_str(), "pause", "c1"],
        vec!["-root", root.as_str(), "resume", "c1"],
        vec!["--root", root.as_str(), "events", "--stats", "c1"],
    ] {
        let output = fixture.run(&args, "some input");
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        let handed = fixture.handed_over().expect("handed over");
        assert_eq!(handed.args, args, "the delegate gets the argv unchanged");
        assert_eq!(
            handed.stdin, "some input",
            "{args:?}: stdin is the caller's"
        );
        for fd in &handed.fds {
            let target = fd.split_once(' ').map_or("", |(_, target)| target);
            assert!(
                !target.contains(fixture.dir.path().to_str().expect("utf-8"))
                    || target.ends_with("fake-runc")
                    || target.ends_with("handed-over"),
                "{args:?}: the delegate inherits {fd}"
            );
        }
    }
    assert!(
        fixture.audit_lines().is_empty(),
        "pass-through decides nothing"
    );
}

#[test]
fn create_tightens_the_spec_records_the_decision_and_hands_over() {
    let fixture = Fixture::new(&limiting());
    let bundle = fixture.bundle().display().to_string();
    let (root, log, pid) = (
        fixture.path("runc-root").display().to_string(),
        fixture.path("log.json").display().to_string(),
        fixture.path("init.pid").display().to_string(),
    );
    let args = [
        "--root",
        root.as_str(),
        "--log",
        log.as_str(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.as_str(),
        "--pid-file",
        pid.as_str(),
        "c1",
    ];
    let output = fixture.run(&args, "");
    assert!(output.status.success(), "{}", stderr(&output));
    let handed = fixture.handed_over().expect("handed over");
    assert_eq!(handed.args, args);
    assert!(
        !fixture.path("log.json").exists(),
        "an allowed create writes no log line of ours"
    );

    let patched = fixture.spec();
    assert_eq!(patched["linux"]["resources"]["memory"]["limit"], 67108864);
    assert_eq!(patched["linux"]["resources"]["pids"]["limit"], 32);
    assert_eq!(
        patched["process"]["capabilities"]["bounding"],
        json!(["CAP_AUDIT_WRITE", "CAP_KILL"])
    );
    assert_eq!(patched["process"]["noNewPrivileges"], true);
    assert_eq!(
        patched["futureTopLevelField"],
        json!([1, 2]),
        "unknown fields survive"
    );
    assert_eq!(patched["process"]["futureProcessField"], json!({"x": 1}));
    assert_eq!(
        patched["linux"]["cgroupsPath"],
        "/enforcer-test-runtime-driver/c1"
    );
    assert_eq!(
        patched["linux"]["namespaces"].as_array().map(Vec::len),
        Some(5),
        "the spec's namespaces are kept"
    );
    let record: Value = serde_json::from_str(
        patched["annotations"]["org.enforcer.runtime.record"]
            .as_str()
            .expect("a record"),
    )
    .expect("the record is JSON");
    assert!(
        record.get("forged").is_none(),
        "a spec's own record is replaced"
    );
    assert_eq!(record["resources"]["memory"]["limit"], 67108864);

    let audit = fixture.audit_lines();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["outcome"]["kind"], "created");
    assert_eq!(audit[0]["tenant"], "team-a");
    assert_eq!(audit[0]["requestId"], "c1");
    assert_eq!(audit[0]["container"]["namespace"], "team-a");
    assert_eq!(audit[0]["container"]["pod"], "web");
    assert_eq!(audit[0]["container"]["name"], "app");
    assert_eq!(
        audit[0]["container"]["image"],
        "docker.io/library/busybox:1.36"
    );
    assert_eq!(
        record["decisionId"], audit[0]["decisionId"],
        "the record names its audit line"
    );
}

#[test]
fn a_denied_create_leaves_runc_s_error_line_and_hands_nothing_over() {
    let fixture = Fixture::new(&json!({"allow": false, "reason": "team-a may not run busybox"}));
    let bundle = fixture.bundle().display().to_string();
    let log = fixture.path("log.json");
    std::fs::write(
        &log,
        "{\"level\":\"info\",\"msg\":\"an earlier line\",\"time\":\"2026-12-02T00:00:00Z\"}\n",
    )
    .expect("an earlier log line");
    let before = fixture.spec();
    let log_arg = log.display().to_string();
    let output = fixture.run(
        &[
            "--log",
            log_arg.as_str(),
            "--log-format",
            "json",
            "create",
            "--bundle",
            bundle.as_str(),
            "c1",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(fixture.handed_over().is_none(), "runc never ran");
    assert_eq!(fixture.spec(), before, "config.json is unchanged");
    let text = std::fs::read_to_string(&log).expect("the log");
    let last: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("json");
    assert_eq!(last["level"], "error");
    let message = last["msg"].as_str().expect("msg");
    assert!(
        message.starts_with("enforcer: policy ")
            && message.ends_with(": team-a may not run busybox"),
        "{message}"
    );
    assert!(stderr(&output).contains("team-a may not run busybox"));
    let audit = fixture.audit_lines();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["outcome"]["kind"], "denied");
    assert_eq!(audit[0]["container"]["id"], "c1");
}

#[test]
fn a_create_the_decision_cannot_be_applied_to_is_refused_by_path() {
    // The spec joins the pod's network namespace; the decision asks for a
    // network namespace of its own.
    let fixture = Fixture::new(&json!({
        "allow": true,
        "namespaces": [{"type": "network"}]
    }));
    let mut spec = spec();
    spec["linux"]["namespaces"] =
        json!([{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}]);
    fixture.write_spec(&spec);
    let bundle = fixture.bundle().display().to_string();
    let log = fixture.path("log.txt").display().to_string();
    let output = fixture.run(
        &["--log", log.as_str(), "create", "-b", bundle.as_str(), "c1"],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(fixture.handed_over().is_none());
    let text = std::fs::read_to_string(&log).expect("the log");
    let last = text.lines().last().expect("a line");
    assert!(
        last.starts_with("time=\"") && last.contains("level=error") && last.contains("network"),
        "a text log line naming the namespace: {last}"
    );
    assert_eq!(fixture.audit_lines()[0]["outcome"]["kind"], "failed");
}

/// Creates `c1` through the wrapper (so the bundle's spec holds the
/// record `state` gives back) and forgets what was handed over.
fn created(fixture: &Fixture) {
    let bundle = fixture.bundle().display().to_string();
    let output = fixture.run(&["create", "--bundle", bundle.as_str(), "c1"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    fixture.handed_over();
}

#[test]
fn exec_may_not_regain_a_capability_the_decision_dropped() {
    let fixture = Fixture::new(&limiting());
    created(&fixture);
    let process = fixture.path("process.json");
    let process_arg = process.display().to_string();
    let exec = ["exec", "--process", process_arg.as_str(), "--detach", "c1"];
    // A process file asking what the decision dropped (as containerd's
    // unpatched copy of the spec does) is narrowed to the container's
    // sets before runc reads it.
    for (set, caps, kept) in [
        (
            "bounding",
            json!(["CAP_KILL", "CAP_SYS_ADMIN"]),
            json!(["CAP_KILL"]),
        ),
        ("ambient", json!(["CAP_SYS_ADMIN"]), json!([])),
        ("effective", json!(["CAP_NET_BIND_SERVICE"]), json!([])),
    ] {
        std::fs::write(
            &process,
            json!({"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                   "capabilities": {set: caps}, "futureField": 7})
            .to_string(),
        )
        .expect("process.json");
        let output = fixture.run(&exec, "");
        assert!(output.status.success(), "{set}: {}", stderr(&output));
        assert_eq!(fixture.handed_over().expect("handed over").args, exec);
        let patched: Value =
            serde_json::from_str(&std::fs::read_to_string(&process).expect("reads")).expect("json");
        assert_eq!(patched["capabilities"][set], kept, "{set}");
        assert_eq!(
            patched["noNewPrivileges"], true,
            "patched on, as the container's"
        );
        assert_eq!(patched["futureField"], 7);
    }
    // The flag form cannot be narrowed in place: refused before runc.
    let flags = fixture.run(&["exec", "--cap", "CAP_SYS_ADMIN", "c1", "/bin/sh"], "");
    assert_eq!(flags.status.code(), Some(1), "{}", stderr(&flags));
    assert!(stderr(&flags).contains("CAP_SYS_ADMIN"));
    assert!(fixture.handed_over().is_none());
}

#[test]
fn update_may_not_raise_a_limit_above_the_decision() {
    let fixture = Fixture::new(&limiting());
    created(&fixture);
    let raise = json!({"memory": {"limit": 1073741824}}).to_string();
    let output = fixture.run(&["update", "--resources", "-", "c1"], &raise);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("memory"), "{}", stderr(&output));
    assert!(fixture.handed_over().is_none());
    let flag = fixture.run(&["update", "--pids-limit", "1000", "c1"], "");
    assert_eq!(flag.status.code(), Some(1), "{}", stderr(&flag));

    let lower = json!({"memory": {"limit": 33554432}}).to_string();
    let output = fixture.run(&["update", "--resources", "-", "c1"], &lower);
    assert!(output.status.success(), "{}", stderr(&output));
    let handed = fixture.handed_over().expect("handed over");
    assert_eq!(handed.args, ["update", "--resources", "-", "c1"]);
    assert_eq!(handed.stdin, lower, "the delegate reads the same resources");
}

#[test]
fn version_and_features_are_answered_for_the_delegate() {
    let fixture = Fixture::new(&limiting());
    let output = fixture.run(&["--version"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("runc version 1.1.5+ds1"), "{text}");
    assert!(lines[0].contains("enforcer"), "{text}");
    assert!(lines[1].starts_with("commit: "), "{text}");
    assert_eq!(lines[2], "spec: 1.0.2-dev");

    let output = fixture.run(&["features"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    let features: Value = serde_json::from_slice(&output.stdout).expect("json");
    let namespaces = features["linux"]["namespaces"]
        .as_array()
        .expect("namespaces");
    assert!(!namespaces.contains(&json!("time")), "{features}");
    assert!(namespaces.contains(&json!("network")));

    let long_form = fixture.run_program(
        Path::new(env!("CARGO_BIN_EXE_enforcer")),
        &["runtime"],
        &["--version"],
        "",
    );
    assert_eq!(long_form.stdout, output_of(&fixture, &["--version"]));
}

fn output_of(fixture: &Fixture, args: &[&str]) -> Vec<u8> {
    fixture.run(args, "").stdout
}

#[test]
fn a_delegate_that_is_missing_or_the_enforcer_itself_is_named() {
    let fixture = Fixture::new(&limiting());
    let config = fixture.path("config.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let fake = fixture.path("fake-runc").display().to_string();
    std::fs::write(&config, text.replace(&fake, "/nonexistent/runc")).expect("config");
    let log = fixture.path("log.json").display().to_string();
    let output = fixture.run(
        &["--log", log.as_str(), "--log-format", "json", "start", "c1"],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("/nonexistent/runc"),
        "{}",
        stderr(&output)
    );
    let logged = std::fs::read_to_string(&log).expect("the log");
    assert!(logged.contains("/nonexistent/runc"), "{logged}");

    let wrapper = fixture.wrapper().display().to_string();
    std::fs::write(&config, text.replace(&fake, &wrapper)).expect("config");
    let output = fixture.run(&["start", "c1"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is the enforcer itself"),
        "{}",
        stderr(&output)
    );
}
