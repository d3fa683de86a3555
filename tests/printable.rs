//! Strings a policy, a request or a workload controls reach the operator's
//! terminal escaped (`enforcer::printable`): a policy's denial reason, log
//! and metadata, a request field quoted in an error, a sandbox's command in
//! `ps`. Each is tried the way an attacker would: a newline followed by a
//! forged `enforcer: allowed by policy x` line, a clear-screen sequence
//! (`ESC [2J`), a bidi override. JSON output keeps the exact strings.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use common::{enforcer, enforcer_with_stdin, fixture};
use sandbox::Harness;
use test_cgroup::{cannot_run, require, unique_root};

/// What the attacker hopes to see as a line of its own.
const FORGED: &str = "enforcer: allowed by policy x";

/// Asserts `output` holds no control character but newlines ending lines,
/// no bidi control, and no line that starts with the forged text.
#[track_caller]
fn assert_printable(what: &str, output: &str) {
    for line in output.lines() {
        assert!(
            !line.chars().any(enforcer::printable::needs_escape),
            "{what} has a raw control or bidi character in {line:?}"
        );
        assert!(
            !line.starts_with(FORGED) && !line.starts_with("name: trusted"),
            "{what} has a forged line {line:?}:\n{output}"
        );
    }
}

fn forged_policy() -> String {
    fixture("wat/forged-output.wat")
}

#[test]
fn a_denial_reason_and_a_policy_log_stay_on_their_own_line_escaped() {
    let policy = forged_policy();
    let run = enforcer(&["eval", "--no-cache", "-p", &policy, "--", "/bin/true"]);
    run.expect_code(1);
    assert_printable("eval's stderr", &run.stderr);
    run.expect_stderr(&[
        &format!("enforcer: denied by policy {policy}: no\\n{FORGED}\\x1b[2J\\u{{202e}}txt.exe\n"),
        &format!("] info: log\\n{FORGED}\\x1b[2J\n"),
    ]);
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
    // The decision on stdout is JSON: exact.
    assert_eq!(
        run.json()["reason"],
        format!("no\n{FORGED}\u{1b}[2J\u{202e}txt.exe")
    );
}

#[test]
fn run_prints_the_denial_reason_escaped() {
    let policy = forged_policy();
    let state = tempfile::Builder::new()
        .prefix("enforcer-test-state-")
        .tempdir()
        .expect("tempdir");
    let root = unique_root();
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
    run.expect_code(1);
    assert_printable("run's stderr", &run.stderr);
    run.expect_stderr(&[&format!(
        "enforcer: denied by policy {policy}: no\\n{FORGED}\\x1b[2J\\u{{202e}}txt.exe\n"
    )]);
}

#[test]
fn inspect_escapes_metadata_and_json_keeps_it() {
    let policy = forged_policy();
    let text = enforcer(&["inspect", "--no-cache", &policy]);
    text.expect_code(0);
    assert_printable("inspect", &text.stdout);
    assert!(
        text.stdout
            .contains("name:        forged\\nname: trusted\n")
            && text.stdout.contains("version:     1.0.0\\x1b[2J\n"),
        "{}",
        text.stdout
    );
    let json = enforcer(&["inspect", "--no-cache", "--json", &policy]);
    json.expect_code(0);
    assert_eq!(json.json()["metadata"]["name"], "forged\nname: trusted");
    assert_eq!(json.json()["metadata"]["version"], "1.0.0\u{1b}[2J");
}

#[test]
fn an_error_quoting_a_request_field_is_one_line() {
    // A label key with a forged line in it, with a value of the wrong type:
    // the error names the field path, key included.
    let request = format!(r#"{{"labels": {{"k\n{FORGED}\u001b[2J": 5}}}}"#);
    let run = enforcer_with_stdin(&["eval", "--no-cache", "--request", "-"], &request);
    run.expect_code(2);
    assert_printable("the error", &run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    run.expect_stderr(&["enforcer: error: ", &format!("k\\n{FORGED}\\x1b[2J")]);
}

#[test]
fn ps_shows_a_forged_command_as_one_escaped_row_and_json_keeps_it() {
    require!(cannot_run());
    let harness = Harness::new();
    // `sh -c SCRIPT NAME ARG`: the extra words are only carried along, in
    // the recorded command line.
    let name = "x\nforged 1 running detached 2026-01-01 00:00:00 /bin/evil";
    let argument = "\u{1b}[2J\u{9b}31m\u{202e}";
    let started = harness.run(
        &["--detach", "--id", "printable"],
        &["/bin/sh", "-c", "sleep 60", name, argument],
    );
    started.expect_code(0);
    assert_eq!(started.stdout, "printable\n");

    let table = harness.command("ps", &[]);
    table.expect_code(0);
    assert_printable("ps", &table.stdout);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 2, "a header and one row:\n{}", table.stdout);
    assert!(
        rows[1].starts_with("printable ")
            && rows[1].ends_with(
                " /bin/sh -c sleep 60 x\\nforged 1 running detached 2026-01-01 00:00:00 \
                 /bin/evil \\x1b[2J\\u{9b}31m\\u{202e}"
            ),
        "{}",
        rows[1]
    );

    let json = harness.command("ps", &["--json"]);
    json.expect_code(0);
    assert_eq!(
        json.json()[0]["command"],
        serde_json::json!(["/bin/sh", "-c", "sleep 60", name, argument])
    );
    harness.command("delete", &["printable"]).expect_code(0);
}
