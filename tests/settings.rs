//! Policy settings end to end: `--settings` on `eval` and `run`, a golden
//! case's `settings` in `enforcer test`, and `policy_validate_settings`
//! through the library (`Policy::validate_settings`) with the fixture
//! `tests/fixtures/settings-policy`, the embedded default (no check) and WAT
//! modules whose check traps, loops or answers out of bounds.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::time::Duration;

use common::{enforcer, example};
use enforcer::policy::{EngineOptions, Policy, PolicyEngine, PolicyErrorKind, SettingsCheck};
use sandbox::Harness;
use serde_json::json;
use test_cgroup::{cannot_run, require};

fn settings_policy() -> String {
    example("test_settings")
}

fn engine() -> PolicyEngine {
    PolicyEngine::new(EngineOptions {
        cache_dir: None,
        deadline: Duration::from_millis(50),
        ..EngineOptions::default()
    })
    .expect("engine")
}

fn load(path: &str) -> Policy {
    engine()
        .load_file(std::path::Path::new(path))
        .unwrap_or_else(|error| panic!("{error}"))
}

/// A minimal ABI v1 module whose `policy_validate_settings` runs `body`;
/// `{"valid":false,"message":"from wat"}` sits at offset 2048.
fn wat_with_check(signature: &str, body: &str) -> String {
    common::wat::module(
        "(i64.const 0)",
        &format!(
            r#"(data (i32.const 2048) "{{\"valid\":false,\"message\":\"from wat\"}}")
  (func (export "policy_validate_settings") {signature} {body})"#
        ),
    )
}

fn load_wat(name: &str, wat: &str) -> Result<Policy, enforcer::policy::PolicyError> {
    engine().load_bytes(name, wat.as_bytes())
}

#[test]
fn eval_with_settings_shows_the_limits_in_the_decision() {
    let policy = settings_policy();
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &policy,
        "--settings",
        r#"{"maxPids": 8, "memory": "256M"}"#,
        "--",
        "sh",
    ]);
    run.expect_code(0);
    let decision = run.json();
    assert_eq!(decision["resources"]["pids"]["limit"], 8);
    assert_eq!(decision["resources"]["memory"]["limit"], 256 << 20);
    // Without settings, the policy's defaults.
    let run = enforcer(&["eval", "--no-cache", "-p", &policy, "--", "sh"]);
    run.expect_code(0);
    assert_eq!(run.json()["resources"]["pids"]["limit"], 64);
    // No memory setting: the normal form says "unlimited" explicitly.
    assert_eq!(run.json()["resources"]["memory"]["limit"], -1);
}

#[test]
fn settings_from_a_file_reach_every_policy_of_a_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("settings.json");
    std::fs::write(&file, r#"{"allowedCommands": ["python3"], "maxPids": 16}"#).expect("writes");
    let at_file = format!("@{}", file.display());
    let policy = settings_policy();
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &policy,
        "-p",
        &policy,
        "--settings",
        &at_file,
        "--",
        "gcc",
    ]);
    run.expect_code(1)
        .expect_stderr(&["denied by policy", "\"gcc\" is not an allowed command"]);
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &policy,
        "-p",
        &policy,
        "--settings",
        &at_file,
        "--",
        "/usr/bin/python3",
    ]);
    run.expect_code(0);
    assert_eq!(run.json()["resources"]["pids"]["limit"], 16);
}

#[test]
fn settings_that_are_not_a_json_object_exit_2_with_a_clear_error() {
    let policy = settings_policy();
    let eval = |settings: &str| {
        enforcer(&[
            "eval",
            "--no-cache",
            "-p",
            &policy,
            "--settings",
            settings,
            "--",
            "sh",
        ])
    };
    eval("{maxPids: 8}").expect_code(2).expect_stderr(&[
        "enforcer: error: --settings: not valid JSON: key must be a string at line 1 column 2",
    ]);
    eval("[8]").expect_code(2).expect_stderr(&[
        "--settings: settings must be a JSON object ({\"key\": value, ...}), not an array",
    ]);
    eval("@/nonexistent/settings.json")
        .expect_code(2)
        .expect_stderr(&["--settings: cannot read settings file /nonexistent/settings.json"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.json");
    std::fs::write(&file, "\"256M\"").expect("writes");
    eval(&format!("@{}", file.display()))
        .expect_code(2)
        .expect_stderr(&[&format!(
            "--settings: settings file {}: settings must be a JSON object",
            file.display()
        )]);
}

#[test]
fn settings_the_policy_refuses_stop_eval_before_any_decision() {
    let policy = settings_policy();
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &policy,
        "--settings",
        r#"{"maxPids": 0}"#,
        "--",
        "sh",
    ]);
    run.expect_code(2).expect_stderr(&[&format!(
        "enforcer: error: policy {policy}: invalid settings: maxPids must be at least 1"
    )]);
    assert!(run.stdout.is_empty(), "no decision: {}", run.stdout);
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "-p",
        &policy,
        "--settings",
        r#"{"maxPid": 8}"#,
        "--",
        "sh",
    ]);
    run.expect_code(2)
        .expect_stderr(&["invalid settings: unknown field `maxPid`, expected one of"]);
}

#[test]
fn a_caller_cannot_smuggle_settings_in_the_request() {
    let run = common::enforcer_with_stdin(
        &[
            "eval",
            "--no-cache",
            "-p",
            &settings_policy(),
            "--request",
            "-",
        ],
        r#"{"command": ["sh"], "settings": {"maxPids": 100000}}"#,
    );
    run.expect_code(2)
        .expect_stderr(&["request field \"settings\" is not the caller's to set"]);
}

#[test]
fn run_applies_the_settings_and_refuses_bad_ones_before_starting_anything() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = settings_policy();
    let refused = harness.sh(
        &["-p", &policy, "--settings", r#"{"maxPids": 0}"#],
        "echo started",
    );
    // `run`'s own errors exit 125, apart from the workload's statuses.
    refused
        .expect_code(125)
        .expect_stderr(&["invalid settings: maxPids must be at least 1"]);
    assert!(!refused.stdout.contains("started"), "{}", refused.stdout);
    let pids = harness.sh(
        &["-p", &policy, "--settings", r#"{"maxPids": 8}"#],
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait; echo done",
    );
    assert!(
        pids.stderr.to_lowercase().contains("fork")
            || pids.stderr.contains("Resource temporarily unavailable"),
        "fork beyond the maxPids setting fails: {}",
        pids.stderr
    );
    let roomy = harness.sh(
        &["-p", &policy, "--settings", r#"{"maxPids": 64}"#],
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1 & done; wait; echo done",
    );
    roomy.expect_code(0);
    assert_eq!(roomy.stdout, "done\n", "{}", roomy.stderr);
}

#[test]
fn the_library_reports_valid_invalid_and_not_exported() {
    let policy = load(&settings_policy());
    assert!(policy.has_settings_check());
    let check = |settings| policy.validate_settings(&settings).expect("checked");
    assert_eq!(check(json!({})), SettingsCheck::Valid);
    assert_eq!(
        check(json!({"maxPids": 2, "allowedCommands": ["sh"], "memory": "1G"})),
        SettingsCheck::Valid
    );
    assert_eq!(
        check(json!({"maxPids": 0})),
        SettingsCheck::Invalid("maxPids must be at least 1".into())
    );
    assert_eq!(
        check(json!({"memory": "lots"})),
        SettingsCheck::Invalid(
            "memory \"lots\" is not a size such as \"256M\", \"1G\" or a byte count".into()
        )
    );
    match check(json!({"maxPid": 2})) {
        SettingsCheck::Invalid(message) => {
            assert!(message.starts_with("unknown field `maxPid`"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match check(json!({"maxPids": "many"})) {
        SettingsCheck::Invalid(message) => {
            assert!(message.contains("expected u32"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let error = policy
        .validate_settings(&json!(["maxPids"]))
        .expect_err("not an object");
    assert_eq!(
        error.to_string(),
        format!(
            "policy {}: settings must be a JSON object, not an array",
            settings_policy()
        )
    );

    let default = engine()
        .load_bytes(
            enforcer::embedded::DEFAULT_POLICY_NAME,
            enforcer::embedded::DEFAULT_POLICY,
        )
        .expect("loads");
    assert!(!default.has_settings_check());
    assert_eq!(
        default
            .validate_settings(&json!({"anything": [1, 2]}))
            .expect("nothing to call"),
        SettingsCheck::NotExported
    );
}

#[test]
fn a_settings_check_in_wat_speaks_the_abi() {
    let message_len = r#"{"valid":false,"message":"from wat"}"#.len();
    let policy = load_wat(
        "answers.wat",
        &wat_with_check(
            "(param i32 i32) (result i64)",
            &format!(
                "(i64.or (i64.shl (i64.const 2048) (i64.const 32)) (i64.const {message_len}))"
            ),
        ),
    )
    .expect("loads");
    assert_eq!(
        policy.validate_settings(&json!({})).expect("checked"),
        SettingsCheck::Invalid("from wat".into())
    );
    // The check returns the settings it was given as its answer: the host
    // passes exactly the JSON object, and reads `{"valid":true}` back.
    let echo = load_wat(
        "echo.wat",
        &wat_with_check(
            "(param $ptr i32) (param $len i32) (result i64)",
            "(i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32)) (i64.extend_i32_u (local.get $len)))",
        ),
    )
    .expect("loads");
    assert_eq!(
        echo.validate_settings(&json!({"valid": true}))
            .expect("checked"),
        SettingsCheck::Valid
    );
    let error = echo
        .validate_settings(&json!({"verdict": "fine"}))
        .expect_err("not a settings answer");
    assert!(
        error
            .to_string()
            .starts_with("policy echo.wat: invalid response: settings: expected"),
        "{error}"
    );
    let error = echo
        .validate_settings(&json!({"error": "cannot check"}))
        .expect_err("an error answer");
    assert_eq!(
        error.to_string(),
        "policy echo.wat: reported an error: cannot check"
    );
}

#[test]
fn a_settings_check_that_traps_loops_or_overflows_is_an_error_naming_the_policy() {
    let trap = load_wat(
        "trap.wat",
        &wat_with_check("(param i32 i32) (result i64)", "(unreachable)"),
    )
    .expect("loads");
    let error = trap.validate_settings(&json!({})).expect_err("traps");
    assert!(matches!(error.kind, PolicyErrorKind::Trap(_)), "{error:?}");
    assert!(
        error.to_string().starts_with("policy trap.wat: trapped: "),
        "{error}"
    );

    let spin = load_wat(
        "spin.wat",
        &wat_with_check(
            "(param i32 i32) (result i64)",
            "(loop $forever (br $forever)) (unreachable)",
        ),
    )
    .expect("loads");
    let started = std::time::Instant::now();
    let error = spin.validate_settings(&json!({})).expect_err("times out");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        error.to_string(),
        "policy spin.wat: timed out: evaluation ran past the 50ms deadline"
    );

    let huge = load_wat(
        "huge.wat",
        &wat_with_check("(param i32 i32) (result i64)", "(i64.const 0x7fffffff)"),
    )
    .expect("loads");
    let error = huge.validate_settings(&json!({})).expect_err("too large");
    assert!(
        matches!(error.kind, PolicyErrorKind::OutputTooLarge { .. }),
        "{error:?}"
    );

    let grow = load_wat(
        "grow.wat",
        &wat_with_check(
            "(param i32 i32) (result i64)",
            "(drop (memory.grow (i32.const 2000))) (i64.const 0)",
        ),
    )
    .expect("loads");
    let error = grow
        .validate_settings(&json!({}))
        .expect_err("past the cap");
    assert!(
        matches!(error.kind, PolicyErrorKind::LimitExceeded(_)),
        "{error:?}"
    );
}

#[test]
fn a_settings_check_of_the_wrong_type_fails_the_load() {
    let error = load_wat(
        "wrong.wat",
        &wat_with_check("(param i32) (result i64)", "(i64.const 0)"),
    )
    .err()
    .expect("refused");
    assert_eq!(
        error.to_string(),
        "policy wrong.wat: `export policy_validate_settings` has type (i32) -> (i64), ABI v1 requires (i32, i32) -> (i64)"
    );
}

#[test]
fn inspect_shows_whether_settings_are_checked() {
    let run = enforcer(&["inspect", "--no-cache", &settings_policy()]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("settings:    checked by policy_validate_settings"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("policy_validate_settings: (i32, i32) -> (i64)")
    );
    let run = enforcer(&["inspect", "--no-cache", "--json", &settings_policy()]);
    assert_eq!(run.json()["validatesSettings"], true);
    let run = enforcer(&["inspect", "--no-cache", "--json", &example("default")]);
    assert_eq!(run.json()["validatesSettings"], false);
}

#[test]
fn golden_cases_give_settings_and_report_invalid_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("settings.toml");
    std::fs::write(
        &cases,
        r#"
[[case]]
name = "settings set the pids limit"
request = { command = ["sh"] }
settings = { maxPids = 8, memory = "256M" }
expect = { allow = true, decision = { resources = { pids = { limit = 8 }, memory = { limit = 268435456 } } } }

[[case]]
name = "the allow-list denies"
request = { command = ["gcc"] }
settings = { allowedCommands = ["python3"] }
expect = { allow = false, reason = "not an allowed command" }

[[case]]
name = "a refused setting is an expected error"
request = { command = ["sh"] }
settings = { maxPids = 0 }
expect = { error = "invalid settings: maxPids must be at least 1" }

[[case]]
name = "a refused setting fails the case"
request = { command = ["sh"] }
settings = { maxPids = 0 }
expect = { allow = true }

[[case]]
name = "an unknown setting fails the case"
request = { command = ["sh"] }
settings = { maxPid = 8 }
expect = { allow = true }
"#,
    )
    .expect("writes");
    let cases = cases.display().to_string();
    let policy = settings_policy();
    let run = enforcer(&["test", "--no-cache", "-p", &policy, &cases]);
    run.expect_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert_eq!(
        lines[0],
        format!("ok    {cases}: settings set the pids limit")
    );
    assert_eq!(lines[1], format!("ok    {cases}: the allow-list denies"));
    assert_eq!(
        lines[2],
        format!("ok    {cases}: a refused setting is an expected error")
    );
    assert_eq!(
        lines[3],
        format!(
            "FAIL  {cases}: a refused setting fails the case: unexpected error: policy {policy}: invalid settings: maxPids must be at least 1"
        )
    );
    assert!(
        lines[4].starts_with(&format!(
            "FAIL  {cases}: an unknown setting fails the case: unexpected error: policy {policy}: invalid settings: unknown field `maxPid`"
        )),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5], "3 passed, 2 failed");

    // The default policy has no check: the settings reach it, unchecked.
    let default_cases = dir.path().join("default.json");
    std::fs::write(
        &default_cases,
        r#"{"cases": [{"name": "unchecked", "request": {"command": ["sh"]}, "settings": {"anything": 1}, "expect": {"allow": true}}]}"#,
    )
    .expect("writes");
    let run = enforcer(&["test", "--no-cache", &default_cases.display().to_string()]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("1 passed, 0 failed\n"),
        "{}",
        run.stdout
    );

    // Settings in the request are the caller's, and refused.
    let smuggled = dir.path().join("smuggled.toml");
    std::fs::write(
        &smuggled,
        "[[case]]\nname = \"smuggled\"\nrequest = { command = [\"sh\"], settings = { maxPids = 0 } }\nexpect = { allow = true }\n",
    )
    .expect("writes");
    let run = enforcer(&[
        "test",
        "--no-cache",
        "-p",
        &policy,
        &smuggled.display().to_string(),
    ]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("bad request: request field \"settings\" is not the caller's to set"),
        "{}",
        run.stdout
    );
}
