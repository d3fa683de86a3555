//! `enforcer runtime` in front of Debian's runc, end to end: the lifecycle
//! commands behave as runc's own (state JSON, pid file, exit status,
//! `--version`), a policy's limits are what the kernel shows for the
//! container, a denied container is never created and its denial is the
//! `--log` file's last line, and `exec --process` / `update --resources`
//! cannot loosen the container's decision.
//!
//! Each test has its own stack directory (`/tmp/enforcer-test-runtime-*`:
//! runc's `--root`, the `enforcer-runtime` symlink, the config), and each
//! container the cgroup `/enforcer-test-runtime-<pid>-<n>`, deleted with
//! `runc delete --force` on drop and checked gone from every hierarchy.

#[path = "common/bundle.rs"]
mod bundle;
mod common;
#[path = "common/runtime.rs"]
mod runtime;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::collections::BTreeSet;

use serde_json::{Value, json};

use runtime::{
    DECISION_CAPS, Runtime, SPEC_CAPS, Stack, cannot_run_runc, cap_bit, cap_mask, cgroups_left,
    limiting_decision, memory_limit, pids_max, unique,
};
use test_cgroup::require;

const MIB: i64 = 1024 * 1024;

/// A stack whose config's platform chain is one policy answering
/// `decision`.
fn stack_with(decision: &Value) -> Stack {
    stack_delegating(runtime::RUNC, decision)
}

/// Likewise, with `delegate` (runc or crun) behind the wrapper.
fn stack_delegating(delegate: &'static str, decision: &Value) -> Stack {
    let mut stack = Stack::new();
    stack.delegate = delegate;
    let policy = stack.decision_policy("platform", decision);
    stack.write_config(&[policy], "");
    stack
}

/// The audit log's lines for container `id`.
fn audit_lines_of(stack: &Stack, id: &str) -> Vec<Value> {
    std::fs::read_to_string(stack.audit_log())
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("an audit line is JSON"))
        .filter(|line| line["container"]["id"] == id || line["requestId"] == id)
        .collect()
}

/// What one lifecycle through a runtime showed.
#[derive(Debug)]
struct Lifecycle {
    /// The keys of `state` after `create`.
    created_keys: BTreeSet<String>,
    /// The keys of `state` while running.
    running_keys: BTreeSet<String>,
}

fn keys(state: &Value) -> BTreeSet<String> {
    state
        .as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

/// create (with --pid-file and --bundle), state, start, state, kill 9,
/// state, delete through `runtime`; the cgroup goes with the delete.
fn lifecycle(stack: &Stack, runtime: Runtime) -> Lifecycle {
    let id = unique("runtime");
    // An annotation of its own: runc's state lists `annotations` only
    // when the spec has some, and the wrapper adds its record's.
    let bundle = stack.bundle(&id, &["/bin/sh", "-c", "sleep 30"], |config| {
        config["annotations"] = json!({"org.example.enforcer-test/origin": id});
    });
    let container = stack.container(&id);
    let pid_file = stack.path(&format!("{id}.pid"));
    let create = stack.runtime(
        runtime,
        &[
            "create",
            "--bundle",
            &bundle.arg(),
            "--pid-file",
            &pid_file.display().to_string(),
            &id,
        ],
        "",
    );
    create.expect_code(0);
    let created = container.state(runtime).expect("state after create");
    assert_eq!(created["status"], "created", "{created}");
    assert_eq!(created["id"], id.as_str(), "{created}");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .expect("the pid file")
        .trim()
        .parse()
        .expect("a pid in the pid file");
    assert_eq!(created["pid"], pid, "state pid and pid file: {created}");
    assert_eq!(
        created["annotations"]["org.example.enforcer-test/origin"],
        id.as_str(),
        "{created}"
    );
    let bundle_dir = std::fs::canonicalize(bundle.dir()).expect("canonical bundle");
    assert_eq!(
        created["bundle"],
        bundle_dir.display().to_string(),
        "{created}"
    );
    assert!(
        test_cgroup::alive(pid as i32),
        "the container's init {pid} runs"
    );

    stack.runtime(runtime, &["start", &id], "").expect_code(0);
    let running = container.state(runtime).expect("state after start");
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["pid"], pid, "{running}");

    stack
        .runtime(runtime, &["kill", &id, "9"], "")
        .expect_code(0);
    container.wait_status(runtime, "stopped");

    stack.runtime(runtime, &["delete", &id], "").expect_code(0);
    let gone = stack.runtime(runtime, &["state", &id], "");
    assert_ne!(gone.code, Some(0), "state after delete: {gone:?}");
    if stack.delegate == runtime::RUNC {
        assert!(
            gone.stderr.contains("does not exist"),
            "state after delete: {}",
            gone.stderr
        );
    }
    assert_eq!(
        cgroups_left(&container.cgroups_path),
        Vec::<std::path::PathBuf>::new()
    );
    Lifecycle {
        created_keys: keys(&created),
        running_keys: keys(&running),
    }
}

/// The harness itself, through runc alone: the baseline the wrapper is
/// held to.
#[test]
fn runc_lifecycle_baseline() {
    require!(cannot_run_runc());
    let stack = Stack::new();
    let seen = lifecycle(&stack, Runtime::Runc);
    for key in [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
    ] {
        assert!(seen.created_keys.contains(key), "{key}: {seen:?}");
    }
}

#[test]
fn lifecycle_through_the_wrapper_is_runcs() {
    require!(cannot_run_runc());
    let stack = stack_with(&limiting_decision(512 * MIB, 2000));
    let runc = lifecycle(&stack, Runtime::Runc);
    let wrapper = lifecycle(&stack, Runtime::Wrapper);
    assert_eq!(wrapper.created_keys, runc.created_keys);
    assert_eq!(wrapper.running_keys, runc.running_keys);
}

/// `run` (attached) returns the container's exit status, through runc and
/// through the wrapper alike.
#[test]
fn run_returns_the_exit_status() {
    require!(cannot_run_runc());
    let stack = stack_with(&limiting_decision(512 * MIB, 2000));
    for runtime in [Runtime::Runc, Runtime::Wrapper] {
        let id = unique("runtime");
        let bundle = stack.bundle(&id, &["/bin/sh", "-c", "echo out; exit 3"], |_| {});
        let _container = stack.container(&id);
        let run = stack.runtime(runtime, &["run", "--bundle", &bundle.arg(), &id], "");
        assert_eq!(run.code, Some(3), "{runtime:?}: {run:?}");
        assert_eq!(run.stdout, "out\n", "{runtime:?}: {run:?}");
    }
}

#[test]
fn version_is_runcs_three_line_format() {
    require!(cannot_run_runc());
    let stack = Stack::new();
    let run = stack.runtime(Runtime::Wrapper, &["--version"], "");
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.len() >= 3, "{}", run.stdout);
    assert!(lines[0].starts_with("runc version "), "{}", run.stdout);
    assert!(lines[1].starts_with("commit: "), "{}", run.stdout);
    assert!(lines[2].starts_with("spec: "), "{}", run.stdout);
    // The delegate's own version is named (containerd parses the first line).
    let runc = stack.runtime(Runtime::Runc, &["--version"], "");
    let runc_version = runc
        .stdout
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("runc version "))
        .expect("runc --version");
    assert!(
        run.stdout.contains(runc_version),
        "the wrapper's version names runc's {runc_version}:\n{}",
        run.stdout
    );
}

/// A started container of the limiting policy (64 MiB, 32 pids, no
/// CAP_NET_RAW or CAP_SYS_ADMIN) running `sleep 30`, and its init's pid.
fn limited_container<'a>(
    stack: &'a Stack,
    id: &str,
) -> (bundle::TestBundle, runtime::Container<'a>, i32) {
    let bundle = stack.bundle(id, &["/bin/sh", "-c", "sleep 30"], |_| {});
    let container = stack.container(id);
    let pid_file = stack.path(&format!("{id}.pid"));
    stack
        .runtime(
            Runtime::Wrapper,
            &[
                "create",
                "--bundle",
                &bundle.arg(),
                "--pid-file",
                &pid_file.display().to_string(),
                id,
            ],
            "",
        )
        .expect_code(0);
    stack
        .runtime(Runtime::Wrapper, &["start", id], "")
        .expect_code(0);
    let pid = runtime::read_trimmed(&pid_file)
        .parse()
        .expect("a pid in the pid file");
    (bundle, container, pid)
}

#[test]
fn a_policys_limits_reach_the_kernel() {
    require!(cannot_run_runc());
    let stack = stack_with(&limiting_decision(64 * MIB, 32));
    let id = unique("runtime");
    let (bundle, container, pid) = limited_container(&stack, &id);
    assert_eq!(container.status(Runtime::Wrapper), "running");

    // The cgroup is the bundle's cgroupsPath, in every hierarchy.
    let memory_dir = container.cgroup_dir(pid, "memory");
    assert!(
        memory_dir.ends_with(id.as_str()),
        "{pid} is in {}",
        memory_dir.display()
    );
    assert_eq!(memory_limit(pid), (64 * MIB).to_string());
    assert_eq!(pids_max(pid), "32");

    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    for field in ["CapBnd", "CapEff", "CapPrm"] {
        let mask = cap_mask(&status, field);
        for dropped in ["CAP_NET_RAW", "CAP_SYS_ADMIN"] {
            assert_eq!(
                mask & (1 << cap_bit(dropped)),
                0,
                "{field} {mask:x} has {dropped}"
            );
        }
        for kept in DECISION_CAPS {
            assert_ne!(
                mask & (1 << cap_bit(kept)),
                0,
                "{field} {mask:x} lacks {kept}"
            );
        }
    }

    // The patched config.json says the same.
    let patched: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.config_path()).expect("config.json"))
            .expect("config.json is JSON");
    assert_eq!(
        patched["linux"]["resources"]["memory"]["limit"],
        64 * MIB,
        "{patched:#}"
    );
    assert_eq!(
        patched["linux"]["resources"]["pids"]["limit"], 32,
        "{patched:#}"
    );
    let bounding: BTreeSet<&str> = patched["process"]["capabilities"]["bounding"]
        .as_array()
        .expect("bounding caps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(bounding, DECISION_CAPS.into_iter().collect(), "{patched:#}");
    assert_eq!(
        patched["linux"]["cgroupsPath"],
        container.cgroups_path.as_str()
    );
    assert!(SPEC_CAPS.contains(&"CAP_NET_RAW"));

    // One audit line for the create, naming the container.
    let audit = audit_lines_of(&stack, &id);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["outcome"]["kind"], "created", "{audit:?}");
    assert_eq!(audit[0]["container"]["id"], id.as_str(), "{audit:?}");
}

#[test]
fn a_denied_container_is_never_created() {
    require!(cannot_run_runc());
    let stack = stack_with(&json!({"allow": false, "reason": "no tenant"}));
    let id = unique("runtime");
    let bundle = stack.bundle(&id, &["/bin/sh", "-c", "sleep 30"], |_| {});
    let container = stack.container(&id);
    let log = stack.path("runc.log");
    // containerd's go-runc gives the log and its format before the
    // subcommand, and a pre-existing line must stay.
    std::fs::write(
        &log,
        "{\"level\":\"info\",\"msg\":\"an earlier line\",\"time\":\"2026-01-01T00:00:00Z\"}\n",
    )
    .expect("writes the log");
    let mut command = stack.command(Runtime::Wrapper);
    command
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "create", "--bundle"])
        .arg(bundle.dir())
        .arg(&id);
    let create = stack.run(command, "");
    assert_ne!(create.code, Some(0), "{create:?}");
    create.expect_stderr(&["no tenant"]);
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(text.starts_with("{\"level\":\"info\""), "{text}");
    let last: Value = serde_json::from_str(text.lines().last().expect("a line"))
        .unwrap_or_else(|error| panic!("the last line is not JSON ({error}):\n{text}"));
    assert_eq!(last["level"], "error", "{last}");
    let msg = last["msg"].as_str().expect("msg");
    assert!(
        msg.starts_with("enforcer: policy ") && msg.contains("no tenant"),
        "{msg}"
    );
    assert!(last["time"].is_string(), "{last}");

    let state = container.state(Runtime::Runc);
    assert!(state.is_err(), "the container exists: {state:?}");
    let audit = audit_lines_of(&stack, &id);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["outcome"]["kind"], "denied", "{audit:?}");
    assert_eq!(
        cgroups_left(&container.cgroups_path),
        Vec::<std::path::PathBuf>::new()
    );
}

/// A denial with the text log format is logrus's `level=error msg="..."`.
#[test]
fn a_denial_in_the_text_log_format() {
    require!(cannot_run_runc());
    let stack = stack_with(&json!({"allow": false, "reason": "no tenant"}));
    let id = unique("runtime");
    let bundle = stack.bundle(&id, &["/bin/sh", "-c", "true"], |_| {});
    let _container = stack.container(&id);
    let log = stack.path("runc.log");
    let mut command = stack.command(Runtime::Wrapper);
    command
        .arg("--log")
        .arg(&log)
        .args(["create", "--bundle"])
        .arg(bundle.dir())
        .arg(&id);
    let create = stack.run(command, "");
    assert_ne!(create.code, Some(0), "{create:?}");
    let text = std::fs::read_to_string(&log).expect("the log");
    let last = text.lines().last().expect("a line");
    assert!(
        last.contains("level=error")
            && last.contains("msg=\"enforcer: policy ")
            && last.contains("no tenant"),
        "{text}"
    );
}

/// The container's own process spec (from its config.json) with `args`
/// and the capability sets `caps`.
fn process_json(args: &[&str], caps: &[&str]) -> String {
    let mut process = bundle::config()["process"].clone();
    process["args"] = json!(args);
    process["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    process.to_string()
}

#[test]
fn exec_cannot_regain_a_dropped_capability() {
    require!(cannot_run_runc());
    let stack = stack_with(&limiting_decision(64 * MIB, 32));
    let id = unique("runtime");
    let (_bundle, container, _pid) = limited_container(&stack, &id);

    let mut asking: Vec<&str> = DECISION_CAPS.to_vec();
    asking.push("CAP_SYS_ADMIN");
    let greedy = stack.path("greedy.json");
    std::fs::write(
        &greedy,
        process_json(&["/bin/sh", "-c", "echo regained"], &asking),
    )
    .expect("writes the process");
    // A process file asking CAP_SYS_ADMIN (as containerd's unpatched
    // copy of the spec would) runs narrowed to the container's sets: the
    // kernel shows it without the capability.
    std::fs::write(
        &greedy,
        process_json(&["/bin/sh", "-c", "grep CapBnd /proc/self/status"], &asking),
    )
    .expect("writes the process");
    let narrowed = stack.runtime(
        Runtime::Wrapper,
        &["exec", "--process", &greedy.display().to_string(), &id],
        "",
    );
    narrowed.expect_code(0);
    let bounding = cap_mask(&narrowed.stdout, "CapBnd");
    assert_eq!(
        bounding & (1 << cap_bit("CAP_SYS_ADMIN")),
        0,
        "{bounding:x}"
    );
    assert_ne!(bounding & (1 << cap_bit("CAP_KILL")), 0, "{bounding:x}");

    // The flag form cannot be narrowed: refused before runc runs it.
    let refused = stack.runtime(
        Runtime::Wrapper,
        &[
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            &id,
            "/bin/sh",
            "-c",
            "echo regained",
        ],
        "",
    );
    assert_ne!(refused.code, Some(0), "{refused:?}");
    refused.expect_stderr(&["CAP_SYS_ADMIN"]);
    assert!(!refused.stdout.contains("regained"), "{refused:?}");

    let plain = stack.path("plain.json");
    std::fs::write(
        &plain,
        process_json(
            &["/bin/sh", "-c", "grep CapEff /proc/self/status"],
            &DECISION_CAPS,
        ),
    )
    .expect("writes the process");
    let allowed = stack.runtime(
        Runtime::Wrapper,
        &["exec", "--process", &plain.display().to_string(), &id],
        "",
    );
    allowed.expect_code(0);
    let eff = cap_mask(&allowed.stdout, "CapEff");
    assert_eq!(eff & (1 << cap_bit("CAP_SYS_ADMIN")), 0, "{eff:x}");
    assert_ne!(eff & (1 << cap_bit("CAP_KILL")), 0, "{eff:x}");
    assert_eq!(container.status(Runtime::Runc), "running");
}

#[test]
fn update_cannot_raise_memory_above_the_decision() {
    require!(cannot_run_runc());
    let stack = stack_with(&limiting_decision(64 * MIB, 32));
    let id = unique("runtime");
    let (_bundle, _container, pid) = limited_container(&stack, &id);

    let raise = json!({"memory": {"limit": 128 * MIB}}).to_string();
    let refused = stack.runtime(
        Runtime::Wrapper,
        &["update", "--resources", "-", &id],
        &raise,
    );
    assert_ne!(refused.code, Some(0), "{refused:?}");
    refused.expect_stderr(&["memory"]);
    assert_eq!(memory_limit(pid), (64 * MIB).to_string());

    let pids = json!({"pids": {"limit": 100}}).to_string();
    let refused = stack.runtime(
        Runtime::Wrapper,
        &["update", "--resources", "-", &id],
        &pids,
    );
    assert_ne!(refused.code, Some(0), "{refused:?}");
    assert_eq!(pids_max(pid), "32");

    let lower = json!({"memory": {"limit": 32 * MIB}}).to_string();
    stack
        .runtime(
            Runtime::Wrapper,
            &["update", "--resources", "-", &id],
            &lower,
        )
        .expect_code(0);
    assert_eq!(memory_limit(pid), (32 * MIB).to_string());
}

fn cannot_run_crun() -> Option<&'static str> {
    cannot_run_runc().or_else(|| {
        (!runtime::installed(runtime::CRUN))
            .then_some("needs crun at /usr/bin/crun (apt-get install crun)")
    })
}

/// `[runtime] delegate = "/usr/bin/crun"`: the same lifecycle as crun's
/// own, and the policy's limits in the kernel.
#[test]
fn crun_behind_the_wrapper() {
    require!(cannot_run_crun());
    let stack = stack_delegating(runtime::CRUN, &limiting_decision(64 * MIB, 32));
    // crun 1.8 refuses a hybrid cgroup layout whose cgroup2 mount offers
    // controllers (as this host's does); ask crun alone first.
    let probe = unique("runtime");
    let bundle = stack.bundle(&probe, &["/bin/true"], |_| {});
    let _probe = stack.container(&probe);
    let create = stack.runtime(
        Runtime::Runc,
        &["create", "--bundle", &bundle.arg(), &probe],
        "",
    );
    if create.code != Some(0) {
        if create.stderr.contains("hybrid mode not supported") {
            test_cgroup::skipped(&format!(
                "crun itself cannot create a container on this host: {}",
                create.stderr.trim()
            ));
            return;
        }
        panic!("crun create failed: {create:?}");
    }
    let crun = lifecycle(&stack, Runtime::Runc);
    let wrapper = lifecycle(&stack, Runtime::Wrapper);
    assert_eq!(wrapper.created_keys, crun.created_keys);
    assert_eq!(wrapper.running_keys, crun.running_keys);

    let id = unique("runtime");
    let (_bundle, container, pid) = limited_container(&stack, &id);
    assert_eq!(container.status(Runtime::Runc), "running");
    assert_eq!(memory_limit(pid), (64 * MIB).to_string());
    assert_eq!(pids_max(pid), "32");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let bounding = cap_mask(&status, "CapBnd");
    assert_eq!(bounding & (1 << cap_bit("CAP_NET_RAW")), 0, "{bounding:x}");
    assert_ne!(bounding & (1 << cap_bit("CAP_KILL")), 0, "{bounding:x}");
}
