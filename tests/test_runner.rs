//! `enforcer test-runner`, the cargo runner for a policy's unit tests
//! inside Wasm, tried with the traps a policy author falls into: a test
//! that loops forever ends at the deadline with a message naming it, a
//! panic shows its message and location without `--nocapture`, a failing
//! test's log lines are shown under its name and a passing test's are
//! not, and libtest's own flags (`--list`, filters) pass through.
//!
//! The fixture is `tests/fixtures/runner-traps`, whose traps are
//! `#[ignore]`d (so the workspace's Wasm tests pass); its wasm32-wasip1
//! test binary is built once per test binary under the target directory.

mod common;
// Only `skipped` of the shared cgroup helpers is used here.
#[allow(unused_macros, unused_imports)]
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::policies::workspace;
use common::{Run, enforcer, enforcer_command};
use test_cgroup::skipped;

/// Environment a nested cargo must not inherit from the one running us.
const CARGO_ENV: [&str; 10] = [
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_INCREMENTAL",
    "CARGO_MAKEFLAGS",
];

/// The fixture's wasm32-wasip1 test binary, or why it cannot be built
/// here (the target is not installed).
fn traps_binary() -> Result<&'static Path, &'static str> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(build_traps_binary)
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(String::as_str)
}

fn build_traps_binary() -> Result<PathBuf, String> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|error| format!("cannot run rustc: {error}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    if !Path::new(&sysroot)
        .join("lib/rustlib/wasm32-wasip1")
        .is_dir()
    {
        return Err(
            "the wasm32-wasip1 target is not installed (scripts/test adds it: rustup target add wasm32-wasip1)"
                .into(),
        );
    }
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runner-traps");
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(workspace())
        .args([
            "test",
            "--no-run",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip1",
            "-p",
            "policy-test-runner-traps",
            "--message-format=json",
            "--target-dir",
        ])
        .arg(&target_dir);
    for name in CARGO_ENV {
        cargo.env_remove(name);
    }
    let output = cargo
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    assert!(
        output.status.success(),
        "building the runner-traps fixture failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let binary = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["profile"]["test"] == true)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the fixture's test binary");
    Ok(binary)
}

/// Runs `enforcer test-runner [runner_args] BIN [test_args]`, or says why
/// it cannot (and the test counts as skipped).
fn runner(runner_args: &[&str], test_args: &[&str]) -> Option<Run> {
    let binary = match traps_binary() {
        Ok(binary) => binary,
        Err(why) => {
            skipped(why);
            return None;
        }
    };
    let binary = binary.to_str().expect("a UTF-8 path");
    let mut args = vec!["test-runner"];
    args.extend_from_slice(runner_args);
    args.push(binary);
    args.extend_from_slice(test_args);
    Some(enforcer(&args))
}

/// The libtest summary line of `stdout`.
fn summary(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|line| line.starts_with("test result:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"))
}

#[test]
fn passing_tests_pass_hide_their_output_and_the_traps_stay_ignored() {
    let Some(run) = runner(&[], &[]) else { return };
    run.expect_code(0);
    assert!(
        run.stdout.contains("test tests::passes ... ok"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("test tests::trap_panics ... ignored"),
        "{}",
        run.stdout
    );
    let line = summary(&run.stdout);
    // scripts/test sums fields 4 (passed) and 6 (failed) of this line.
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (fields[2], fields[3], fields[5]),
        ("ok.", "2", "0"),
        "{line}"
    );
    assert!(line.contains("3 ignored"), "{line}");
    for hidden in ["a passing test's log line", "a passing test's stdout line"] {
        assert!(
            !run.stdout.contains(hidden) && !run.stderr.contains(hidden),
            "{hidden:?} shown for a passing test:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn a_test_that_loops_forever_ends_at_the_deadline_naming_it() {
    let started = Instant::now();
    let Some(run) = runner(&["--timeout", "2s"], &["--ignored", "trap_loops_forever"]) else {
        return;
    };
    let elapsed = started.elapsed();
    run.expect_code(101);
    assert!(
        run.stdout
            .contains("test tests::trap_loops_forever ... FAILED"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("tests::trap_loops_forever: timed out after 2s"),
        "{}",
        run.stdout
    );
    // Generous: compiling is cached; the point is that it ends at all.
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    let line = summary(&run.stdout);
    assert!(
        line.starts_with("test result: FAILED. 0 passed; 1 failed"),
        "{line}"
    );
}

#[test]
fn the_deadline_comes_from_the_environment_too() {
    let binary = match traps_binary() {
        Ok(binary) => binary,
        Err(why) => return skipped(why),
    };
    let output = enforcer_command(&[])
        .env("ENFORCER_TEST_TIMEOUT", "300ms")
        .arg("test-runner")
        .arg(binary)
        .args(["--ignored", "trap_loops_forever"])
        .output()
        .expect("runs the enforcer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(101), "{stdout}");
    assert!(stdout.contains("timed out after 300ms"), "{stdout}");
}

#[test]
fn a_panic_shows_its_message_and_location_without_nocapture() {
    let Some(run) = runner(&[], &["--ignored", "trap_panics"]) else {
        return;
    };
    run.expect_code(101);
    let out = &run.stdout;
    assert!(out.contains("---- tests::trap_panics stdout ----"), "{out}");
    assert!(
        out.contains("the known panic message for tenant acme"),
        "{out}"
    );
    assert!(out.contains("src/lib.rs:"), "no location in:\n{out}");
    // One line for the trap, no mangled backtrace frames.
    assert!(!out.contains("wasm backtrace"), "{out}");
    assert!(!out.contains("__rustc"), "{out}");
    assert!(
        out.lines().count() < 40,
        "a one-test report should be short:\n{out}"
    );
}

#[test]
fn every_test_is_reported_after_one_panics_and_a_failures_logs_are_shown() {
    let Some(run) = runner(&["--timeout", "2s"], &["--include-ignored"]) else {
        return;
    };
    run.expect_code(101);
    let out = &run.stdout;
    for (name, status) in [
        ("tests::passes", "ok"),
        ("tests::passes_and_logs", "ok"),
        ("tests::trap_panics", "FAILED"),
        ("tests::trap_logs_then_fails", "FAILED"),
        ("tests::trap_loops_forever", "FAILED"),
    ] {
        assert!(
            out.contains(&format!("test {name} ... {status}")),
            "{name}:\n{out}"
        );
    }
    let section = out
        .split("---- tests::trap_logs_then_fails stdout ----")
        .nth(1)
        .unwrap_or_else(|| panic!("no section for the failing test:\n{out}"));
    let section = section.split("\n---- ").next().unwrap_or(section);
    assert!(section.contains("the failing test's log line"), "{section}");
    assert!(
        section.contains("the failing test's stdout line"),
        "{section}"
    );
    assert!(section.contains("arithmetic still works"), "{section}");
    assert!(!out.contains("a passing test's log line"), "{out}");
    let line = summary(out);
    assert!(
        line.starts_with("test result: FAILED. 2 passed; 3 failed"),
        "{line}"
    );
}

#[test]
fn filters_and_list_pass_through_to_libtest() {
    let Some(run) = runner(&[], &["passes_and"]) else {
        return;
    };
    run.expect_code(0);
    assert!(
        run.stdout.contains("test tests::passes_and_logs ... ok"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("test tests::passes ... "),
        "{}",
        run.stdout
    );
    assert!(summary(&run.stdout).contains("1 passed"), "{}", run.stdout);

    let Some(list) = runner(&[], &["--list"]) else {
        return;
    };
    list.expect_code(0);
    for name in ["tests::passes: test", "tests::trap_panics: test"] {
        assert!(list.stdout.contains(name), "{name}:\n{}", list.stdout);
    }
}
