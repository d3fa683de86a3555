//! `enforcer eval`, `inspect` and `test-runner` end to end, through the
//! built binary.

mod common;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use common::{enforcer, enforcer_with_stdin, example, fixture};

#[test]
fn default_policy_needs_no_files() {
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--user",
        "1000",
        "--",
        "/bin/sh",
        "-c",
        "echo hello",
    ]);
    run.expect_code(0);
    let decision = run.json();
    assert_eq!(decision["allow"], true);
    let namespaces: Vec<&str> = decision["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|ns| ns["type"].as_str().expect("type"))
        .collect();
    // The normal form lists namespaces in the order they are created.
    assert_eq!(
        namespaces,
        ["pid", "network", "mount", "ipc", "uts", "cgroup"]
    );
    assert_eq!(decision["resources"]["pids"]["limit"], 256);
    // Silence is made explicit: no capabilities, no new privileges.
    assert_eq!(decision["process"]["noNewPrivileges"], true);
    assert_eq!(
        decision["process"]["capabilities"]["bounding"],
        serde_json::json!([])
    );
    let limit = decision["resources"]["memory"]["limit"]
        .as_i64()
        .expect("memory limit");
    let host_memory = enforcer::host::detect().memory_bytes as i64;
    assert_eq!(limit, (512 << 20).min(host_memory / 4));
    assert_eq!(decision["process"]["noNewPrivileges"], true);
    assert!(
        decision["cgroupsPath"]
            .as_str()
            .expect("path")
            .starts_with("sandboxes/sbx-")
    );
}

#[test]
fn denial_exits_1_with_the_reason_on_stderr() {
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--policy",
        &example("tenant_tiers"),
        "--",
        "python3",
    ]);
    run.expect_code(1)
        .expect_stderr(&["denied by policy", "requests must name a tenant"]);
    assert_eq!(run.json()["allow"], false);
}

#[test]
fn labels_and_tenant_reach_the_policy() {
    let tiers = example("tenant_tiers");
    let run = enforcer(&[
        "eval",
        "--no-cache",
        // tenant-tiers limits hugepages whether or not hugetlb is usable.
        "--skip-host-check",
        "-p",
        &tiers,
        "--tenant",
        "acme",
        "--label",
        "tier=pro",
        "--id",
        "job-7",
        "--",
        "gcc",
        "main.c",
    ]);
    run.expect_code(0);
    let decision = run.json();
    assert_eq!(decision["resources"]["memory"]["limit"], 2i64 << 30);
    assert_eq!(decision["cgroupsPath"], "tenants/acme/job-7");
}

#[test]
fn request_from_stdin_gets_host_facts() {
    let request = r#"{"tenant":"acme","labels":{"hugepages.2MB":"4"},"command":["/bin/true"]}"#;
    let run = enforcer_with_stdin(
        &[
            "eval",
            "--no-cache",
            // What is tested is that the host facts reach the policy; that
            // a host without hugetlb cannot apply the limits is
            // tests/authoring.rs's.
            "--skip-host-check",
            "-p",
            &example("hugepages"),
            "--request",
            "-",
        ],
        request,
    );
    run.expect_code(0);
    let host = enforcer::host::detect();
    let pool = host.hugepage_pools.get("2MB").copied().unwrap_or(0);
    let limits = &run.json()["resources"]["hugepageLimits"];
    let two_mb = limits
        .as_array()
        .expect("limits")
        .iter()
        .find(|limit| limit["pageSize"] == "2MB")
        .expect("2MB limit");
    assert_eq!(
        two_mb["limit"],
        4.min(pool) * (2 << 20),
        "capped by this host's pool of {pool}"
    );
}

#[test]
fn bad_request_files_name_the_field() {
    let run = enforcer_with_stdin(
        &["eval", "--no-cache", "--request", "-"],
        r#"{"tenat":"acme"}"#,
    );
    run.expect_code(2)
        .expect_stderr(&["unknown request field \"tenat\""]);
    let run = enforcer_with_stdin(&["eval", "--no-cache", "--request", "-"], "not json");
    run.expect_code(2).expect_stderr(&["not valid JSON"]);
}

#[test]
fn chained_policies_may_only_tighten() {
    let default_then_tiers = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &example("default"),
        "-p",
        &example("tenant_tiers"),
        "--tenant",
        "acme",
        "--label",
        "tier=enterprise",
        "--",
        "sh",
    ]);
    default_then_tiers.expect_code(2).expect_stderr(&[
        "policy_tenant_tiers.wasm",
        "loosens",
        "a later policy may only tighten",
    ]);
    let tiers_then_default_free = enforcer(&[
        "eval",
        "--no-cache",
        "--skip-host-check",
        "-p",
        &example("tenant_tiers"),
        "-p",
        &example("tenant_tiers"),
        "--tenant",
        "acme",
        "--id",
        "j",
        "--",
        "sh",
    ]);
    tiers_then_default_free.expect_code(0);
    let denied_early = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &example("tenant_tiers"),
        "-p",
        &example("default"),
        "--",
        "sh",
    ]);
    denied_early
        .expect_code(1)
        .expect_stderr(&["policy_tenant_tiers.wasm", "must name a tenant"]);
}

#[test]
fn hand_written_wat_policy_follows_the_abi() {
    let wat = fixture("wat/tenant-filter.wat");
    let allowed = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &wat,
        "--tenant",
        "acme",
        "--",
        "/bin/true",
    ]);
    allowed
        .expect_code(0)
        .expect_stderr(&["info: hand-written policy evaluating a request"]);
    let decision = allowed.json();
    assert_eq!(decision["resources"]["pids"]["limit"], 42);
    assert_eq!(decision["namespaces"][1]["type"], "network");
    let denied = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &wat,
        "--tenant",
        "blocked",
        "--",
        "/bin/true",
    ]);
    denied
        .expect_code(1)
        .expect_stderr(&["tenant blocked is refused by the WAT policy"]);
}

#[test]
fn inspect_shows_the_contract() {
    let run = enforcer(&["inspect", "--no-cache", "--json", &example("tenant_tiers")]);
    run.expect_code(0);
    let info = run.json();
    assert_eq!(info["metadata"]["name"], "policy-tenant-tiers");
    assert_eq!(info["abiVersion"], 1);
    assert_eq!(info["sha256"].as_str().expect("digest").len(), 64);
    let size = info["size"].as_u64().expect("size");
    // About 320 KiB since the decision gained the filesystem and seccomp
    // fields (their serde code is in every module that reads decisions).
    assert!(
        size < 400 * 1024,
        "a typical policy must stay well under 400 KiB, is {size}"
    );
    let exports = info["exports"].to_string();
    for export in [
        "policy_evaluate: (i32, i32) -> (i64)",
        "policy_alloc",
        "policy_metadata",
        "memory",
    ] {
        assert!(exports.contains(export), "{export} missing from {exports}");
    }
    assert_eq!(
        info["imports"].to_string(),
        r#"["enforcer.log: (i32, i32, i32) -> ()"]"#
    );
}

#[test]
fn compiled_code_is_cached_and_corrupt_entries_are_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().display().to_string();
    let load = || {
        let run = enforcer(&["inspect", "--json", "--cache-dir", &cache, &example("gpu")]);
        run.expect_code(0);
        run.json()["cache"]["load"]
            .as_str()
            .expect("cache state")
            .to_string()
    };
    assert_eq!(load(), "miss (compiled)");
    assert_eq!(load(), "hit");
    let entry = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .flatten()
        .find(|entry| entry.path().extension().is_some_and(|ext| ext == "cwasm"))
        .expect("a cache entry");
    let mut bytes = std::fs::read(entry.path()).expect("reads entry");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(entry.path(), bytes).expect("truncates entry");
    assert!(
        load().starts_with("refused (stale or corrupt entry"),
        "a truncated entry is recompiled"
    );
    assert_eq!(load(), "hit", "and rewritten");
}

#[test]
fn help_teaches() {
    let run = enforcer(&["eval", "--help"]);
    run.expect_code(0);
    for needle in [
        "--policy",
        "--request",
        "--label",
        "--deadline",
        "Exit status",
        "Examples",
    ] {
        assert!(run.stdout.contains(needle), "eval --help lacks {needle}");
    }
}

#[test]
fn test_runner_runs_wasi_binaries_without_a_filesystem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("probe.wat");
    // A WASI command that prints its argument count and tries to open a
    // file: with no preopened directories the open must fail (errno 8 EBADF).
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (data (i32.const 100) "/etc/passwd")
      (data (i32.const 200) "argc=?\n")
      (func (export "_start")
        (drop (call $args (i32.const 0) (i32.const 4)))
        (i32.store8 (i32.const 205) (i32.add (i32.const 48) (i32.load (i32.const 0))))
        (i32.store (i32.const 300) (i32.const 200))
        (i32.store (i32.const 304) (i32.const 7))
        (drop (call $write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 400)))
        (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 11)
                                (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 500)))))"#;
    std::fs::write(&path, wat).expect("writes");
    let run = enforcer(&["test-runner", &path.display().to_string(), "one", "--two"]);
    assert_eq!(run.stdout, "argc=3\n");
    assert_eq!(
        run.code,
        Some(8),
        "path_open without preopens fails with EBADF:\n{}",
        run.stderr
    );
}

#[test]
fn check_reports_this_hosts_cgroups_and_namespaces() {
    let run = enforcer(&["check", "--json"]);
    run.expect_code(0);
    let report = run.json();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let has_v1 = mountinfo
        .lines()
        .any(|line| line.contains(" - cgroup cgroup ") && !line.contains("name="));
    let has_v2 = mountinfo.contains(" - cgroup2 ");
    let expected = match (has_v1, has_v2) {
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, true) => "v2",
        (false, false) => "unknown",
    };
    assert_eq!(report["cgroupMode"], expected);
    let proc_cgroups = enforcer::linux::proc::read_proc_cgroups().expect("/proc/cgroups");
    for kernel in enforcer::linux::proc::parse_proc_cgroups(&proc_cgroups) {
        let row = report["controllers"]
            .as_array()
            .expect("controllers")
            .iter()
            .find(|row| row["name"] == kernel.name.as_str())
            .unwrap_or_else(|| panic!("{} missing", kernel.name));
        if !kernel.enabled {
            assert_eq!(row["state"], "disabled", "{kernel:?}");
        } else if let Some(mount) = row["mountPoint"].as_str() {
            let file = if row["version"] == "v1" {
                "cgroup.procs"
            } else {
                "cgroup.controllers"
            };
            assert!(std::path::Path::new(mount).join(file).exists(), "{row}");
        }
    }
    assert_eq!(
        report["namespaces"].as_array().expect("namespaces").len(),
        7
    );
    assert_eq!(
        report["privileges"]["sufficient"],
        nix::unistd::geteuid().is_root()
    );
}

#[test]
fn plan_shows_the_writes_for_this_host_and_writes_nothing() {
    let root = format!("enforcer-test-plan-{}", std::process::id());
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--plan=json",
        "--cgroup-root",
        &root,
        "--id",
        "job",
        "--",
        "/bin/true",
    ]);
    run.expect_code(0);
    let plan = run.json();
    let layout = enforcer::cgroup::discover();
    let memory = match layout.controller_state("memory") {
        enforcer::cgroup::ControllerState::V1(mount) => mount
            .join(&root)
            .join("sandboxes/job")
            .join("memory.limit_in_bytes"),
        enforcer::cgroup::ControllerState::V2(mount) => {
            mount.join(&root).join("sandboxes/job").join("memory.max")
        }
        other => panic!("no usable memory controller here: {other:?}"),
    };
    let writes = plan["writes"].as_array().expect("writes");
    let limit = writes
        .iter()
        .find(|write| write["file"] == memory.display().to_string())
        .unwrap_or_else(|| panic!("no write of {} in {writes:?}", memory.display()));
    let expected = (512i64 << 20).min(enforcer::host::detect().memory_bytes as i64 / 4);
    assert_eq!(limit["value"]["literal"], expected.to_string());
    for directory in plan["directories"].as_array().expect("directories") {
        let directory = std::path::Path::new(directory.as_str().expect("path"));
        assert!(
            directory
                .components()
                .any(|part| part.as_os_str() == root.as_str()),
            "{directory:?} is outside the root"
        );
        assert!(!directory.exists(), "--plan must not create {directory:?}");
    }
    let text = enforcer(&[
        "eval",
        "--no-cache",
        "--plan",
        "--cgroup-root",
        &root,
        "--",
        "/bin/true",
    ]);
    text.expect_code(0);
    assert!(
        text.stdout.lines().any(|line| line.starts_with("mkdir  ")),
        "{}",
        text.stdout
    );
    let bad_root = enforcer(&[
        "eval",
        "--no-cache",
        "--plan",
        "--cgroup-root",
        "../escape",
        "--",
        "/bin/true",
    ]);
    bad_root.expect_code(2);
}

/// `eval --plan --mount-controllers` plans as `run --mount-controllers`
/// would, on the controllers it would mount, and mounts nothing.
#[test]
fn plan_with_mount_controllers_shows_the_mounts_and_mounts_nothing() {
    use enforcer::cgroup::ControllerState;
    let layout = enforcer::cgroup::discover();
    test_cgroup::require!(
        (layout.controller_state("net_cls") != ControllerState::Unmounted)
            .then_some("net_cls is not an unmounted controller on this host")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = common::wat::decision_module(
        dir.path(),
        "net-cls",
        &serde_json::json!({"allow": true, "resources": {"network": {"classID": 1048577}}}),
    );
    let base = dir.path().join("mounts");
    let root = format!("enforcer-test-plan-mount-{}", std::process::id());
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--no-cache",
            "--policy",
            policy.to_str().expect("utf-8"),
            "--cgroup-root",
            &root,
            "--id",
            "job",
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "/bin/true"]);
        enforcer(&args)
    };
    let without = eval(&["--plan"]);
    without.expect_code(2);
    assert!(
        without.stderr.contains("cannot be applied on this host"),
        "{}",
        without.stderr
    );
    let mount_flag = format!("--mount-controllers={}", base.display());
    let text = eval(&["--plan", &mount_flag]);
    text.expect_code(0);
    let mount_point = base.join("net_cls");
    assert!(
        text.stdout.lines().any(|line| line
            == format!(
                "mount  {}  cgroup v1 net_cls (run --mount-controllers mounts it)",
                mount_point.display()
            )),
        "{}",
        text.stdout
    );
    let class_file = mount_point
        .join(&root)
        .join("sandboxes/job/net_cls.classid");
    assert!(
        text.stdout
            .contains(&format!("write  {}  1048577", class_file.display())),
        "{}",
        text.stdout
    );
    let json = eval(&["--plan=json", &mount_flag]);
    json.expect_code(0);
    let plan = json.json();
    assert_eq!(
        plan["mounts"],
        serde_json::json!([{"controller": "net_cls", "mountPoint": mount_point}])
    );
    assert!(!base.exists(), "a dry run must not create {base:?}");
    assert_eq!(
        enforcer::cgroup::discover().controller_state("net_cls"),
        ControllerState::Unmounted,
        "a dry run must not mount the controller"
    );
}
