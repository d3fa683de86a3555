//! `enforcer test` against the golden case files in `tests/cases/`.

mod common;

use common::{enforcer, example, fixture};

#[test]
fn tenant_tiers_golden_cases_pass() {
    let run = enforcer(&[
        "test",
        "--no-cache",
        "--policy",
        &example("tenant_tiers"),
        &fixture("cases/tenant-tiers.toml"),
        &fixture("cases/tenant-tiers.json"),
    ]);
    run.expect_code(0);
    assert!(run.stdout.contains("ok    "), "{}", run.stdout);
    let summary = run.stdout.lines().last().expect("summary");
    assert!(summary.ends_with(" passed, 0 failed"), "{summary}");
}

#[test]
fn default_policy_golden_cases_pass() {
    let run = enforcer(&["test", "--no-cache", &fixture("cases/default.toml")]);
    run.expect_code(0);
}

#[test]
fn settings_policy_golden_cases_pass() {
    let run = enforcer(&[
        "test",
        "--no-cache",
        "--policy",
        &example("test_settings"),
        &fixture("cases/settings-policy.toml"),
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("5 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn failing_cases_are_reported_and_fail_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wrong.toml");
    std::fs::write(
        &path,
        r#"
[[case]]
name = "wrong memory"
request = { tenant = "acme", command = ["sh"] }
expect = { allow = true, decision = { resources = { memory = { limit = 1 } } } }

[[case]]
name = "wrong verdict"
request = { command = ["sh"] }
expect = { allow = true }

[[case]]
name = "right"
request = { command = ["sh"] }
expect = { allow = false, reason = "tenant" }
"#,
    )
    .expect("writes cases");
    let run = enforcer(&[
        "test",
        "--no-cache",
        "-p",
        &example("tenant_tiers"),
        &path.display().to_string(),
    ]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("FAIL")
            && run
                .stdout
                .contains("resources.memory.limit: expected 1, got 268435456"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("wrong verdict: expected allow, got a denial (requests must name a tenant)"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().last(), Some("1 passed, 2 failed"));
}

#[test]
fn malformed_case_files_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("typo.toml");
    std::fs::write(
        &path,
        "[[case]]\nname = \"x\"\nrequest = {}\nexpect = { alow = true }\n",
    )
    .expect("writes");
    let run = enforcer(&["test", "--no-cache", &path.display().to_string()]);
    run.expect_code(2).expect_stderr(&["typo.toml", "alow"]);
}
