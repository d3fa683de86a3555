//! The enforcer side of policy authoring, through the built binary:
//! `request.executable` (resolved before evaluation, never the caller's),
//! the applicability check of `eval` that names the policy whose decision
//! this host cannot apply (and `run`'s plan failure naming it too),
//! `builtin:NAME` wherever a policy path is taken, and
//! `enforcer policy show`.

#[path = "common/bundle.rs"]
mod bundle;
mod common;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::path::Path;

use common::wat::decision_module;
use common::{enforcer, enforcer_with_stdin, example};
use serde_json::json;
use test_cgroup::{cannot_run, require, skipped, usable};

/// The request `eval --show-request` prints for `args`.
fn shown_request(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["eval", "--show-request", "--compact"];
    all.extend_from_slice(args);
    let run = enforcer(&all);
    run.expect_code(0);
    run.json()
}

#[test]
fn a_bare_name_is_resolved_in_the_workloads_path() {
    let request = shown_request(&["--", "sh", "-c", "true"]);
    let executable = request["executable"].as_str().expect("resolved");
    // The first directory of the minimal PATH holding an executable `sh`.
    let expected = enforcer::decision::normal::DEFAULT_PATH
        .split(':')
        .map(|dir| format!("{dir}/sh"))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|metadata| {
                use std::os::unix::fs::PermissionsExt;
                metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
            })
        })
        .expect("this host has a sh");
    assert_eq!(executable, expected);
    assert_eq!(request["command"][0], "sh", "argv[0] stays as given");
    let missing = shown_request(&["--", "enforcer-test-no-such-program"]);
    assert!(missing.get("executable").is_none(), "{missing}");
}

#[test]
fn a_path_is_made_absolute_against_the_cwd_and_normalised_lexically() {
    let cwd = std::env::current_dir().expect("cwd");
    let request = shown_request(&["--", "./x"]);
    assert_eq!(
        request["executable"],
        format!("{}/x", cwd.display()),
        "relative to the request's cwd ({})",
        request["cwd"]
    );
    // `..` cannot climb out of an allow-listed directory unnoticed.
    let request = shown_request(&["--", "/usr/bin/../../tmp/x/python3"]);
    assert_eq!(request["executable"], "/tmp/x/python3");
    // Symlinks are not resolved: the path is the one given.
    let request = shown_request(&["--", "/usr/bin/python3"]);
    assert_eq!(request["executable"], "/usr/bin/python3");
}

#[test]
fn a_request_files_executable_is_replaced() {
    let run = enforcer_with_stdin(
        &["eval", "--show-request", "--compact", "--request", "-"],
        r#"{"command":["/usr/bin/../bin/true"],"executable":"/usr/bin/python3","cwd":"/srv"}"#,
    );
    run.expect_code(0);
    assert_eq!(run.json()["executable"], "/usr/bin/true");
    let run = enforcer_with_stdin(
        &["eval", "--show-request", "--compact", "--request", "-"],
        r#"{"command":["./job"],"cwd":"/srv/ci/../work"}"#,
    );
    run.expect_code(0);
    assert_eq!(run.json()["executable"], "/srv/work/job");
    let run = enforcer_with_stdin(
        &["eval", "--show-request", "--compact", "--request", "-"],
        r#"{"command":["enforcer-test-no-such-program"],"executable":"/bin/sh"}"#,
    );
    run.expect_code(0);
    assert!(run.json().get("executable").is_none(), "never the caller's");
}

#[test]
fn the_free_tier_refuses_a_python3_outside_the_system_directories() {
    // Passes once tenant-tiers allow-lists absolute paths (issue 14's SDK
    // change, `request.executable()`); with the basename check it allows.
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &example("tenant_tiers"),
        "--tenant",
        "acme",
        "--",
        "/tmp/x/python3",
    ]);
    run.expect_code(1)
        .expect_stderr(&["denied by policy", "free tier"]);
}

#[test]
fn eval_names_the_policy_whose_decision_this_host_cannot_apply() {
    let policy = example("hugepages");
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &policy,
        "--label",
        "hugepages.2MB=1",
        "--",
        "/bin/true",
    ]);
    if usable("hugetlb").is_none() {
        run.expect_code(0);
        skipped("hugetlb is usable here: the inapplicable case needs a host without it");
        return;
    }
    run.expect_code(2).expect_stderr(&[
        &format!(
            "enforcer: error: policy {policy}: its decision cannot be applied on this host: resources.hugepageLimits[0] needs the hugetlb controller"
        ),
    ]);
    assert!(
        run.stdout.is_empty(),
        "no decision is printed: {}",
        run.stdout
    );
    // A decision meant for other machines can still be printed.
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--skip-host-check",
        "-p",
        &policy,
        "--",
        "/bin/true",
    ]);
    run.expect_code(0);
    assert!(run.json()["resources"]["hugepageLimits"].is_array());
    // --report says it too, with every link.
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--report",
        "-p",
        &policy,
        "--",
        "/bin/true",
    ]);
    run.expect_code(2);
    let report = run.json();
    assert_eq!(report["allow"], false);
    assert!(
        report["error"]
            .as_str()
            .is_some_and(|error| error.contains("its decision cannot be applied on this host")),
        "{report}"
    );
}

#[test]
fn the_first_link_whose_decision_cannot_be_applied_is_blamed() {
    if usable("hugetlb").is_none() {
        skipped("hugetlb is usable here: the inapplicable case needs a host without it");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = decision_module(dir.path(), "plain", &json!({"allow": true}));
    let hugepages = json!({
        "allow": true,
        "resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}
    });
    let first = decision_module(dir.path(), "first", &hugepages);
    let second = decision_module(dir.path(), "second", &hugepages);
    let text = |path: &Path| path.display().to_string();
    // plain allows, first adds the limit, second keeps it: first is blamed.
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &text(&plain),
        "-p",
        &text(&first),
        "-p",
        &text(&second),
        "--",
        "/bin/true",
    ]);
    run.expect_code(2).expect_stderr(&[&format!(
        "policy {}: its decision cannot be applied on this host: resources.hugepageLimits[0] needs the hugetlb controller",
        first.display()
    )]);
    // An applicable chain is untouched by the check.
    let run = enforcer(&["eval", "--no-cache", "-p", &text(&plain), "--", "/bin/true"]);
    run.expect_code(0);
}

#[test]
fn run_names_the_policy_when_its_plan_fails() {
    require!(cannot_run());
    if usable("hugetlb").is_none() {
        skipped("hugetlb is usable here: the plan would not fail");
        return;
    }
    let state = tempfile::tempdir().expect("state dir");
    let root = test_cgroup::unique_root();
    let policy = example("hugepages");
    let run = enforcer(&[
        "run",
        "--no-cache",
        "--cgroup-root",
        &root,
        "--state-dir",
        &state.path().display().to_string(),
        "-p",
        &policy,
        "--",
        "/bin/true",
    ]);
    run.expect_code(125).expect_stderr(&[&format!(
        "enforcer: error: policy {policy}: its decision cannot be applied on this host: resources.hugepageLimits[0] needs the hugetlb controller"
    )]);
    // Planning fails before any cgroup exists.
    let layout = enforcer::cgroup::discover();
    for hierarchy in layout.v1.iter().chain(&layout.v2) {
        let directory = hierarchy.mount_point.join(&root);
        assert!(!directory.exists(), "{} was created", directory.display());
    }
}

#[test]
fn builtin_default_is_a_policy_path_everywhere() {
    let implicit = enforcer(&["eval", "--no-cache", "--id", "job", "--", "/bin/true"]);
    implicit.expect_code(0);
    let named = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        "builtin:default",
        "--id",
        "job",
        "--",
        "/bin/true",
    ]);
    named.expect_code(0);
    assert_eq!(named.json(), implicit.json());
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--report",
        "-p",
        "builtin:default",
        "--",
        "/bin/true",
    ]);
    assert_eq!(run.json()["links"][0]["policy"], "builtin:default");
    let run = enforcer(&["inspect", "--no-cache", "--json", "builtin:default"]);
    run.expect_code(0);
    let inspected = run.json();
    assert_eq!(inspected["size"], enforcer::embedded::DEFAULT_POLICY.len());
    assert_eq!(
        inspected["sha256"],
        enforcer::digest::sha256_hex(enforcer::embedded::DEFAULT_POLICY)
    );
    for args in [
        &[
            "eval",
            "--no-cache",
            "-p",
            "builtin:defualt",
            "--",
            "/bin/true",
        ][..],
        &["inspect", "--no-cache", "builtin:defualt"][..],
    ] {
        enforcer(args).expect_code(2).expect_stderr(&[
            "no built-in policy \"builtin:defualt\" (the built-ins: builtin:default)",
        ]);
    }
}

#[test]
fn an_operators_config_may_name_a_builtin_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[platform]]\npolicy = \"builtin:default\"\n\n[tenants.acme]\npolicy = \"builtin:default\"\n",
    )
    .expect("writes");
    let config = config.display().to_string();
    let run = enforcer(&["--config", &config, "config", "check", "--json"]);
    run.expect_code(0);
    let report = run.json();
    let paths: Vec<&str> = report["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|policy| policy["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["builtin:default", "builtin:default"], "{report}");
    let run = enforcer(&[
        "--config",
        &config,
        "eval",
        "--no-cache",
        "--report",
        "--tenant",
        "acme",
        "--",
        "/bin/true",
    ]);
    run.expect_code(0);
    let report = run.json();
    let links: Vec<&str> = report["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|link| link["policy"].as_str().expect("policy"))
        .collect();
    assert_eq!(links, ["builtin:default", "builtin:default"]);
    std::fs::write(
        dir.path().join("config.toml"),
        "[[platform]]\npolicy = \"builtin:nope\"\n",
    )
    .expect("writes");
    let run = enforcer(&["--config", &config, "eval", "--no-cache", "--", "/bin/true"]);
    run.expect_code(2)
        .expect_stderr(&["no built-in policy \"builtin:nope\""]);
}

#[test]
fn policy_show_writes_the_embedded_module() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("default.wasm");
    let file_text = file.display().to_string();
    enforcer(&["policy", "show", "builtin:default", "-o", &file_text]).expect_code(0);
    let committed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/default.wasm"))
            .expect("the committed module");
    assert_eq!(std::fs::read(&file).expect("written"), committed);
    // Nothing else is left beside it (the temporary file was renamed).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("lists")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["default.wasm"]);
    // Stdout (a pipe here) gets the same bytes.
    let output = common::enforcer_command(&[])
        .args(["policy", "show", "builtin:default"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    assert_eq!(output.stdout, committed);
    // The file is a policy like any other.
    let run = enforcer(&["inspect", "--no-cache", "--json", &file_text]);
    run.expect_code(0);
    assert_eq!(
        run.json()["sha256"],
        enforcer::digest::sha256_hex(&committed)
    );
    let implicit = enforcer(&["eval", "--no-cache", "--id", "job", "--", "/bin/true"]);
    let from_file = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &file_text,
        "--id",
        "job",
        "--",
        "/bin/true",
    ]);
    from_file.expect_code(0);
    assert_eq!(from_file.json(), implicit.json());
    // The list, and the refusals.
    let run = enforcer(&["policy", "show", "--list"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with(&format!(
            "builtin:default  {} bytes  sha256:{}",
            committed.len(),
            enforcer::digest::sha256_hex(&committed)
        )),
        "{}",
        run.stdout
    );
    let run = enforcer(&["policy", "show", "--json"]);
    assert_eq!(run.json()[0]["name"], "builtin:default");
    enforcer(&["policy", "show", "builtin:x"])
        .expect_code(2)
        .expect_stderr(&["no built-in policy \"builtin:x\" (the built-ins: builtin:default)"]);
}

#[test]
fn policy_show_refuses_to_write_binary_to_a_terminal() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        skipped("needs script(1) to give the enforcer a terminal");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_enforcer");
    let output = std::process::Command::new(script)
        .args([
            "-qec",
            &format!("{binary} policy show builtin:default"),
            "/dev/null",
        ])
        .output()
        .expect("runs script");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("refusing to write the binary module builtin:default to a terminal")
            && text.contains("-o FILE"),
        "{text}"
    );
    assert!(!text.contains("\0asm"), "no module bytes on the terminal");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_bundles_program_is_resolved_inside_its_root_with_its_path() {
    let mut config = bundle::config();
    config["process"]["args"] = json!(["ls", "/"]);
    // The host has /usr/bin/ls; the bundle's root has only /bin/ls.
    config["process"]["env"] = json!(["PATH=/usr/bin:/bin"]);
    let bundle = match bundle::TestBundle::with_config(config) {
        Ok(bundle) => bundle,
        Err(why) => {
            skipped(why);
            return;
        }
    };
    // An absolute symlink in the root must not lead the lookup to the host.
    std::os::unix::fs::symlink("/usr/bin/id", bundle.rootfs().join("bin/hostid")).expect("symlink");
    let show = |bundle: &bundle::TestBundle| {
        let run = enforcer(&[
            "eval",
            "--show-request",
            "--compact",
            "--bundle",
            &bundle.arg(),
        ]);
        run.expect_code(0);
        run.json()
    };
    let request = show(&bundle);
    assert_eq!(
        request["executable"], "/bin/ls",
        "inside the root: {request}"
    );
    assert_eq!(request["command"][0], "ls");
    let mut config = bundle::config();
    config["process"]["args"] = json!(["hostid"]);
    config["process"]["env"] = json!(["PATH=/bin"]);
    bundle.write_config(&config);
    let request = show(&bundle);
    assert!(
        request.get("executable").is_none(),
        "the host's /usr/bin/id is not in the root: {request}"
    );
}
