//! The operator's view of `enforcer run` with a config: every run leaves
//! one whole audit line, also when fifty run at once across five tenants;
//! a tenant module replaced on disk is used by the next run, a corrupt
//! replacement fails that tenant's run and applies nothing; an audit log
//! that cannot be written stops a fail-closed run before anything starts.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::Run;
use common::wat::responding;
use sandbox::Harness;
use test_cgroup::{cannot_run, require};

/// A module that allows with `pids` tasks and no namespaces, so that a
/// tenant module of the same shape only tightens it.
fn allowing(pids: i64) -> String {
    responding(
        format!(r#"{{"decision":{{"allow":true,"resources":{{"pids":{{"limit":{pids}}}}}}}}}"#)
            .as_bytes(),
    )
}

/// A config directory, the sandbox harness, and the audit log in the
/// harness's state directory.
struct Operator {
    dir: tempfile::TempDir,
    harness: Harness,
}

impl Operator {
    /// A platform policy allowing 100 tasks, and `tenants` (name → TOML
    /// body of its table).
    fn new(tenants: &[(&str, &str)]) -> Operator {
        let operator = Operator {
            dir: tempfile::tempdir().expect("tempdir"),
            harness: Harness::new(),
        };
        operator.write("platform.wat", &allowing(100));
        let mut config = "[[platform]]\npolicy = \"platform.wat\"\n".to_string();
        for (name, table) in tenants {
            config.push_str(&format!("\n[tenants.{name}]\n{table}\n"));
        }
        operator.write("config.toml", &config);
        operator
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("writes");
    }

    fn config(&self) -> String {
        self.path("config.toml").display().to_string()
    }

    /// `enforcer run --config ... --tenant TENANT OPTIONS -- sh -c SCRIPT`.
    fn run(&self, tenant: &str, options: &[&str], script: &str) -> Run {
        let config = self.config();
        let mut all = vec!["--config", config.as_str(), "--tenant", tenant];
        all.extend_from_slice(options);
        self.harness.sh(&all, script)
    }

    fn audit_log(&self) -> PathBuf {
        self.harness.state.path().join("audit.log")
    }

    /// Every line of the audit log and its rotation, parsed; panics on a
    /// line that is not one whole JSON object.
    fn audit_lines(&self) -> Vec<serde_json::Value> {
        lines(&[self.audit_log().with_extension("log.1"), self.audit_log()])
    }
}

fn lines(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for file in files.iter().filter(|file| file.exists()) {
        let text = std::fs::read_to_string(file).expect("readable");
        assert!(
            text.ends_with('\n'),
            "{} ends in a partial line",
            file.display()
        );
        for (number, line) in text.lines().enumerate() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|error| {
                panic!(
                    "{}:{}: not one JSON object ({error}): {line}",
                    file.display(),
                    number + 1
                )
            });
            assert!(value.is_object(), "{line}");
            all.push(value);
        }
    }
    all
}

fn is_cgroup_root_empty(harness: &Harness) -> bool {
    harness.root_directories().iter().all(|dir| {
        !dir.exists()
            || std::fs::read_dir(dir).map_or(true, |mut entries| {
                entries.all(|entry| entry.map_or(true, |entry| !entry.path().is_dir()))
            })
    })
}

#[test]
fn fifty_concurrent_runs_across_five_tenants_leave_fifty_whole_audit_lines() {
    require!(cannot_run());
    let tenants = ["t0", "t1", "t2", "t3", "t4"];
    let tables: Vec<(&str, &str)> = tenants.iter().map(|name| (*name, "")).collect();
    let operator = Operator::new(&tables);
    let config = operator.config();
    let children: Vec<(String, std::process::Child)> = (0..50)
        .map(|index| {
            let tenant = tenants[index % tenants.len()];
            let id = format!("job-{index}");
            let args = operator.harness.run_args(
                &["--config", &config, "--tenant", tenant, "--id", &id],
                &["/bin/true"],
            );
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_enforcer"))
                .args(&args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starts");
            (id, child)
        })
        .collect();
    for (id, child) in children {
        let output = child.wait_with_output().expect("waits");
        assert!(
            output.status.success(),
            "{id}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let lines = operator.audit_lines();
    assert_eq!(lines.len(), 50, "one line per run, none lost");
    let mut per_tenant: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    let mut decisions = std::collections::BTreeSet::new();
    for line in &lines {
        *per_tenant
            .entry(line["tenant"].as_str().expect("tenant").to_string())
            .or_default() += 1;
        assert!(ids.insert(line["requestId"].as_str().expect("id").to_string()));
        assert!(
            decisions.insert(
                line["decisionId"]
                    .as_str()
                    .expect("decision id")
                    .to_string()
            )
        );
        assert_eq!(line["outcome"]["kind"], "exited", "{line}");
        assert_eq!(line["outcome"]["code"], 0, "{line}");
        let chain = line["chain"].as_array().expect("chain");
        assert_eq!(chain.len(), 1, "the platform policy only: {line}");
        assert_eq!(chain[0]["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(line["decision"]["resources"]["pids"]["limit"], 100);
    }
    assert_eq!(
        per_tenant.values().copied().collect::<Vec<_>>(),
        vec![10; 5],
        "{per_tenant:?}"
    );
    // `enforcer audit` reads the same lines back, and filters by tenant.
    let state = operator.harness.state_dir();
    let read = common::enforcer(&["audit", "--state-dir", &state, "--tenant", "t3", "--json"]);
    read.expect_code(0);
    assert_eq!(read.stdout.lines().count(), 10, "{}", read.stdout);
}

#[test]
fn a_replaced_tenant_module_is_used_by_the_next_run_and_a_corrupt_one_fails_applying_nothing() {
    require!(cannot_run());
    let operator = Operator::new(&[("acme", "policy = \"acme.wat\"")]);
    let forks = "for i in 1 2 3 4 5 6; do sleep 0.2 & done; wait && echo forked";
    operator.write("acme.wat", &allowing(64));
    let first = operator.run("acme", &[], forks);
    first.expect_code(0);
    assert!(first.stdout.contains("forked"), "{}", first.stderr);
    // Replaced while nothing runs: the next request reads the new module.
    operator.write("acme.wat", &allowing(3));
    let second = operator.run("acme", &[], forks);
    assert!(
        !second.stdout.contains("forked"),
        "three tasks cannot fork six sleeps: {}",
        second.stdout
    );
    let lines = operator.audit_lines();
    assert_eq!(lines.len(), 2);
    let limit = |line: &serde_json::Value| line["decision"]["resources"]["pids"]["limit"].clone();
    assert_eq!(limit(&lines[0]), 64);
    assert_eq!(limit(&lines[1]), 3, "the second run used the new module");
    assert_ne!(
        lines[0]["chain"][1]["sha256"],
        lines[1]["chain"][1]["sha256"]
    );
    // A corrupt replacement: the tenant's run fails, naming the tenant and
    // the file, and nothing is started or left behind.
    operator.write("acme.wat", "(module (func $broken");
    let marker = operator.dir.path().join("started");
    let third = operator.run("acme", &[], &format!("touch {}", marker.display()));
    third.expect_code(125).expect_stderr(&["acme", "acme.wat"]);
    assert!(!marker.exists(), "the workload must not start");
    assert!(is_cgroup_root_empty(&operator.harness), "no cgroup is left");
    let lines = operator.audit_lines();
    assert_eq!(lines.len(), 3, "the failed request has its line too");
    assert_eq!(lines[2]["outcome"]["kind"], "failed");
    assert_eq!(lines[2]["outcome"]["step"], "evaluate");
    assert!(lines[2]["decision"].is_null());
}

#[test]
fn every_outcome_leaves_its_line_with_the_step_reached() {
    require!(cannot_run());
    let operator = Operator::new(&[
        ("deny", "policy = \"deny.wat\""),
        ("loose", "policy = \"loose.wat\""),
        ("audited", "policy = \"loose.wat\"\nmode = \"audit\""),
    ]);
    operator.write(
        "deny.wat",
        &responding(br#"{"decision":{"allow":false,"reason":"not today"}}"#),
    );
    operator.write("loose.wat", &allowing(1000));
    operator.run("deny", &[], "true").expect_code(1);
    operator
        .run("loose", &[], "true")
        .expect_code(125)
        .expect_stderr(&["loosens resources.pids.limit"]);
    // In audit mode the same loosening is recorded, and the platform's
    // decision applies.
    operator.run("audited", &[], "exit 7").expect_code(7);
    let lines = operator.audit_lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["outcome"]["kind"], "denied");
    assert_eq!(lines[0]["outcome"]["reason"], "not today");
    assert_eq!(lines[1]["outcome"]["kind"], "failed");
    assert_eq!(lines[1]["outcome"]["step"], "compose");
    assert_eq!(lines[1]["chain"][1]["result"]["status"], "loosened");
    assert_eq!(lines[2]["outcome"]["kind"], "exited");
    assert_eq!(lines[2]["outcome"]["code"], 7);
    assert_eq!(lines[2]["chain"][1]["mode"], "audit");
    assert_eq!(lines[2]["chain"][1]["result"]["status"], "loosened");
    assert_eq!(lines[2]["decision"]["resources"]["pids"]["limit"], 100);
}

#[test]
fn an_unwritable_audit_log_stops_a_fail_closed_run_before_anything_starts() {
    require!(cannot_run());
    let operator = Operator::new(&[]);
    // The log's directory is a regular file: no line can ever be written.
    operator.write("not-a-directory", "");
    let log = operator.path("not-a-directory").join("audit.log");
    let base = std::fs::read_to_string(operator.path("config.toml")).expect("config");
    let marker = operator.dir.path().join("started");
    let touch = format!("touch {}", marker.display());
    for (on_error, code) in [("fail-closed", 125), ("fail-open", 0)] {
        operator.write(
            "config.toml",
            &format!(
                "{base}\n[audit]\npath = \"{}\"\non_error = \"{on_error}\"\n",
                log.display()
            ),
        );
        let config = operator.config();
        let run = operator.harness.sh(&["--config", &config], &touch);
        run.expect_code(code)
            .expect_stderr(&[on_error, "not-a-directory"]);
        assert_eq!(marker.exists(), code == 0, "{on_error}: {}", run.stderr);
        assert!(is_cgroup_root_empty(&operator.harness));
    }
    assert!(!Path::new(&log).exists());
}
