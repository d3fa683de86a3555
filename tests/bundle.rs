//! OCI bundles end to end through the built binary: `enforcer eval
//! --show-request --bundle DIR` shows the request a bundle makes,
//! `enforcer eval --bundle DIR` the default policy's decision on it (the
//! bundle's root and mounts within the default's ceilings), a field the
//! enforcer cannot honour is refused by name before anything starts, and
//! `enforcer run --bundle DIR` runs the bundle's command in the bundle's
//! root (a busybox-static rootfs), not the host's.
//!
//! Every run uses its own cgroup root and state directory, and checks on
//! drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/bundle.rs"]
mod test_bundle;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use common::{enforcer, example};
use sandbox::Harness;
use serde_json::{Value, json};
use test_bundle::TestBundle;
use test_cgroup::{cannot_run, require, skipped};

/// The bundle, or a counted skip when this host cannot build its rootfs.
macro_rules! bundle {
    ($config:expr) => {
        match TestBundle::with_config($config) {
            Ok(bundle) => bundle,
            Err(why) => {
                skipped(why);
                return;
            }
        }
    };
}

/// `enforcer run --bundle DIR OPTIONS` with the harness's cgroup root and
/// state directory (no command: the bundle's is run).
fn run_bundle(harness: &Harness, bundle: &TestBundle, options: &[&str]) -> common::Run {
    let (state, dir) = (harness.state_dir(), bundle.arg());
    let mut args = vec![
        "run",
        "--cgroup-root",
        &harness.root,
        "--state-dir",
        &state,
        "--bundle",
        &dir,
    ];
    args.extend_from_slice(options);
    enforcer(&args)
}

fn cwd() -> String {
    std::env::current_dir()
        .expect("cwd")
        .to_str()
        .expect("utf-8")
        .to_string()
}

#[test]
fn show_request_gives_what_the_bundle_asks_for() {
    let bundle = bundle!(test_bundle::config());
    let dir = bundle.arg();
    let run = enforcer(&[
        "eval",
        "--show-request",
        "--bundle",
        &dir,
        "--id",
        "job1",
        "--label",
        "tier=pro",
    ]);
    run.expect_code(0);
    let request = run.json();
    assert_eq!(request["id"], "job1");
    assert_eq!(request["labels"]["tier"], "pro");
    assert_eq!(request["command"], json!(["/bin/sh", "-c", "ls /"]));
    assert_eq!(request["cwd"], cwd(), "the caller's working directory");
    assert!(
        request.get("terminal").is_none(),
        "process.terminal is false"
    );
    assert_eq!(
        request["requested"]["devices"],
        json!([{"allow": false, "access": "rwm"}]),
        "linux.resources"
    );
    let spec = &request["requestedSpec"];
    assert_eq!(
        spec["root"],
        json!({"path": bundle.rootfs().to_str().expect("utf-8"), "readonly": true})
    );
    assert_eq!(spec["hostname"], "runc");
    assert_eq!(spec["mounts"].as_array().map(Vec::len), Some(6));
    assert_eq!(spec["namespaces"].as_array().map(Vec::len), Some(6));
    assert_eq!(spec["process"]["cwd"], "/");
    assert_eq!(spec["process"]["user"], json!({"uid": 0, "gid": 0}));
    assert!(
        spec["maskedPaths"]
            .as_array()
            .expect("maskedPaths")
            .contains(&json!("/proc/kcore"))
    );
}

#[test]
fn the_bundle_directory_may_be_the_current_one() {
    let bundle = bundle!(test_bundle::config());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_enforcer"))
        .args(["eval", "--show-request", "--bundle", "."])
        .current_dir(bundle.dir())
        .output()
        .expect("enforcer runs");
    assert!(output.status.success(), "{output:?}");
    let request: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        request["cwd"],
        bundle
            .dir()
            .canonicalize()
            .expect("canonical")
            .to_str()
            .expect("utf-8")
    );
    assert_eq!(
        request["requestedSpec"]["root"]["path"],
        bundle.rootfs().to_str().expect("utf-8")
    );
}

#[test]
fn every_request_from_flags_carries_the_callers_cwd() {
    let run = enforcer(&["eval", "--show-request", "--", "/bin/true"]);
    run.expect_code(0);
    assert_eq!(run.json()["cwd"], cwd());
    // A request file's own cwd is kept by eval (a what-if) ...
    let file = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(file.path(), r#"{"command":["/bin/true"],"cwd":"/srv/job"}"#).expect("writes");
    let path = file.path().display().to_string();
    let run = enforcer(&["eval", "--show-request", "--request", &path]);
    run.expect_code(0);
    assert_eq!(run.json()["cwd"], "/srv/job");
}

/// `enforcer eval --compact --bundle DIR --user USER -p <the default
/// policy built from source>`.
fn decide(bundle: &TestBundle, user: &str) -> common::Run {
    let (dir, policy) = (bundle.arg(), example("default"));
    enforcer(&[
        "eval",
        "--compact",
        "--bundle",
        &dir,
        "--user",
        user,
        "-p",
        &policy,
    ])
}

#[test]
fn the_default_policy_adopts_the_bundle_within_its_ceilings() {
    let bundle = bundle!(test_bundle::config());
    let run = decide(&bundle, "1000:1000");
    run.expect_code(0);
    let decision = run.json();
    assert_eq!(
        decision["root"],
        json!({"path": bundle.rootfs().to_str().expect("utf-8"), "readonly": true})
    );
    let mounts = decision["mounts"].as_array().expect("mounts");
    let destinations: Vec<&str> = mounts
        .iter()
        .filter_map(|mount| mount["destination"].as_str())
        .collect();
    assert_eq!(
        destinations,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys"
        ],
        "the bundle's mounts, in order, and none of the default's host-root mounts"
    );
    assert_eq!(decision["hostname"], "runc");
    assert!(
        decision["maskedPaths"]
            .as_array()
            .expect("maskedPaths")
            .contains(&json!("/proc/timer_list"))
    );
    let process = &decision["process"];
    assert_eq!(
        (&process["user"]["uid"], &process["user"]["gid"]),
        (&json!(1000), &json!(1000)),
        "a caller without a user namespace runs as itself, not as the bundle's root"
    );
    assert_eq!(process["cwd"], "/");
    assert_eq!(process["capabilities"]["bounding"], json!([]));
    assert_eq!(process["noNewPrivileges"], true);

    // A bind mount of the host's /etc is dropped, with a policy log line.
    let mut config = test_bundle::config();
    config["mounts"]
        .as_array_mut()
        .expect("mounts")
        .push(json!({"destination": "/host-etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]}));
    bundle.write_config(&config);
    let run = decide(&bundle, "1000:1000");
    run.expect_code(0)
        .expect_stderr(&["mounts[6] at \"/host-etc\" dropped"]);
    let mounts: Value = run.json()["mounts"].clone();
    assert!(!mounts.to_string().contains("/host-etc"), "{mounts}");
}

#[test]
fn as_root_the_bundle_is_root_of_a_user_namespace() {
    let bundle = bundle!(test_bundle::config());
    let run = decide(&bundle, "0:0");
    run.expect_code(0);
    let decision = run.json();
    assert!(
        decision["namespaces"]
            .as_array()
            .expect("namespaces")
            .contains(&json!({"type": "user"})),
        "{decision}"
    );
    let process = &decision["process"];
    assert_eq!(process["user"]["uid"], 0);
    assert_eq!(
        process["capabilities"]["bounding"],
        json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]),
        "the bundle's, within the default's"
    );
}

#[test]
fn a_field_the_enforcer_cannot_honour_is_refused_by_name() {
    let mut config = test_bundle::config();
    config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let bundle = bundle!(config);
    let expected = format!(
        "{}: linux.sysctl: the enforcer cannot honour it (the enforcer sets no sysctls)",
        std::fs::canonicalize(bundle.config_path())
            .expect("canonical")
            .display()
    );
    enforcer(&["eval", "--bundle", &bundle.arg()])
        .expect_code(2)
        .expect_stderr(&[&expected]);
    let harness = Harness::new();
    let run = run_bundle(&harness, &bundle, &[]);
    run.expect_code(125).expect_stderr(&[&expected]);
    assert!(run.stdout.is_empty(), "nothing ran: {}", run.stdout);
}

#[test]
fn a_bundle_takes_no_command_and_no_request_file() {
    let bundle = bundle!(test_bundle::config());
    let dir = bundle.arg();
    let run = enforcer(&["eval", "--bundle", &dir, "--", "/bin/true"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    let run = enforcer(&["run", "--bundle", &dir, "--request", "-"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
}

/// `enforcer run --bundle DIR --user USER`: the listing of `/` and the
/// output of `id -u`.
fn run_in_root(user: &str) -> Option<(Vec<String>, String)> {
    let mut config = test_bundle::config();
    config["process"]["args"] = json!(["/bin/sh", "-c", "ls /; echo; id -u"]);
    let bundle = match TestBundle::with_config(config) {
        Ok(bundle) => bundle,
        Err(why) => {
            skipped(why);
            return None;
        }
    };
    let harness = Harness::new();
    let id = format!("bundle-{}", std::process::id());
    let run = run_bundle(&harness, &bundle, &["--id", &id, "--user", user]);
    run.expect_code(0);
    let (listing, id) = run.stdout.split_once("\n\n").expect("listing, then id");
    Some((
        listing.split_whitespace().map(str::to_string).collect(),
        id.trim().to_string(),
    ))
}

#[track_caller]
fn assert_bundle_root(listing: &[String]) {
    for entry in ["bin", "dev", "etc", "proc", "sys", "tmp"] {
        assert!(
            listing.iter().any(|name| name == entry),
            "{entry} missing from {listing:?}"
        );
    }
    for host in ["usr", "home", "root", "var"] {
        assert!(
            !listing.iter().any(|name| name == host),
            "the host's /{host} is visible: {listing:?}"
        );
    }
}

#[test]
fn a_bundle_runs_in_its_own_root() {
    require!(cannot_run());
    let Some((listing, uid)) = run_in_root("1000:1000") else {
        return;
    };
    assert_bundle_root(&listing);
    assert_eq!(uid, "1000");
}

#[test]
fn as_root_a_bundle_runs_as_root_of_its_user_namespace() {
    require!(cannot_run());
    let Some((listing, uid)) = run_in_root("0:0") else {
        return;
    };
    assert_bundle_root(&listing);
    assert_eq!(uid, "0");
}
