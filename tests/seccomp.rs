//! The decision's `seccomp` profile, end to end through the built binary:
//! the workload runs under the filter (`Seccomp: 2`), the default profile
//! refuses what the container runtimes' refuses while ordinary work runs,
//! each action does what the kernel makes it do, argument conditions hold,
//! the architecture guard kills x32 calls, `exec` into a running sandbox
//! gets the same filter, and `eval --plan` summarises it. Calls are made
//! the way an attacker would, with `perl`'s raw `syscall(NUMBER, ...)`.
//!
//! Every test uses its own cgroup root and state directory, and checks on
//! drop that nothing of either is left.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use common::{enforcer, wat};
use policy_sdk::decision::default_seccomp;
use sandbox::Harness;
use test_cgroup::{cannot_run, require};

const PERL: &str = "/usr/bin/perl";

// x86_64 system call numbers (asm/unistd_64.h).
const KEXEC_LOAD: u64 = 246;
const ADD_KEY: u64 = 248;
const KEYCTL: u64 = 250;
const OPEN_BY_HANDLE_AT: u64 = 304;
const BPF: u64 = 321;
const CLONE3: u64 = 435;
const PERSONALITY: u64 = 135;
const GETPID: u64 = 39;
const X32_BIT: u64 = 0x4000_0000;

/// Exit status of a process SIGSYS killed.
const SIGSYS_STATUS: i32 = 128 + 31;

/// A policy answering every request with `decision`.
struct Policy {
    _dir: tempfile::TempDir,
    path: String,
}

fn policy(decision: serde_json::Value) -> Policy {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = wat::decision_module(dir.path(), "seccomp", &decision);
    Policy {
        path: path.display().to_string(),
        _dir: dir,
    }
}

/// A policy allowing with `profile` as the decision's `seccomp`.
fn with_profile(profile: serde_json::Value) -> Policy {
    policy(serde_json::json!({"allow": true, "seccomp": profile}))
}

fn default_profile() -> serde_json::Value {
    serde_json::to_value(default_seccomp()).expect("serializes")
}

/// A profile: default ALLOW, one rule for `name`.
fn one_rule(name: &str, rule: serde_json::Value) -> serde_json::Value {
    let mut rule = rule;
    rule["names"] = serde_json::json!([name]);
    serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
}

/// A perl line that makes the raw system call `number` with `args` and
/// prints `NAME=ok` or `NAME=<errno>`.
fn call(name: &str, number: u64, args: &[u64]) -> String {
    let args: String = args.iter().map(|arg| format!(", {arg}")).collect();
    format!(
        "$r = syscall({number}{args}); print \"{name}=\", ($r == -1 ? $! + 0 : \"ok\"), \"\\n\";"
    )
}

fn seccomp_lines(status: &str) -> Vec<&str> {
    status
        .lines()
        .filter(|line| line.starts_with("Seccomp") || line.starts_with("NoNewPrivs"))
        .collect()
}

#[test]
fn a_decision_without_seccomp_runs_unfiltered() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = policy(serde_json::json!({"allow": true}));
    let run = harness.run(&["-p", &policy.path], &["/bin/cat", "/proc/self/status"]);
    run.expect_code(0);
    let lines = seccomp_lines(&run.stdout);
    assert!(lines.contains(&"Seccomp:\t0"), "{lines:?}");
    assert!(lines.contains(&"Seccomp_filters:\t0"), "{lines:?}");
}

#[test]
fn the_default_profile_refuses_what_the_runtimes_refuse_and_runs_ordinary_work() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = with_profile(default_profile());
    let status = harness.run(&["-p", &policy.path], &["/bin/cat", "/proc/self/status"]);
    status.expect_code(0);
    let lines = seccomp_lines(&status.stdout);
    assert!(lines.contains(&"Seccomp:\t2"), "{lines:?}");
    // The architecture guard, clone3's ENOSYS, the allow-list.
    assert!(lines.contains(&"Seccomp_filters:\t3"), "{lines:?}");
    assert!(lines.contains(&"NoNewPrivs:\t1"), "{lines:?}");

    let script = [
        call("keyctl", KEYCTL, &[0, 0, 0, 0, 0]),
        call("add_key", ADD_KEY, &[0, 0, 0, 0, 0]),
        call("bpf", BPF, &[0, 0, 0]),
        call("kexec_load", KEXEC_LOAD, &[0, 0, 0, 0]),
        call("open_by_handle_at", OPEN_BY_HANDLE_AT, &[0, 0, 0]),
        call("clone3", CLONE3, &[0, 0]),
        call("getpid", GETPID, &[]),
        // personality: the query and PER_LINUX pass, another persona not.
        call("persona_query", PERSONALITY, &[0xffff_ffff]),
        call("persona_linux", PERSONALITY, &[0]),
        call("persona_other", PERSONALITY, &[0x0040_0000]),
    ]
    .concat();
    let run = harness.run(&["-p", &policy.path], &[PERL, "-e", &script]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "keyctl=1\nadd_key=1\nbpf=1\nkexec_load=1\nopen_by_handle_at=1\nclone3=38\n\
         getpid=ok\npersona_query=ok\npersona_linux=ok\npersona_other=1\n",
        "EPERM for the refused calls, ENOSYS for clone3: {}",
        run.stderr
    );

    let pipeline = harness.sh(
        &["-p", &policy.path],
        "echo a | tr a b; ls / > /dev/null && echo listed",
    );
    pipeline.expect_code(0);
    assert_eq!(pipeline.stdout, "b\nlisted\n", "{}", pipeline.stderr);
}

#[test]
fn kill_process_kills_the_workload_and_run_reports_sigsys() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = with_profile(one_rule(
        "keyctl",
        serde_json::json!({"action": "SCMP_ACT_KILL_PROCESS"}),
    ));
    let script = format!(
        "$| = 1; print \"before\\n\"; {} print \"survived\\n\";",
        call("keyctl", KEYCTL, &[0])
    );
    let run = harness.run(&["-p", &policy.path], &[PERL, "-e", &script]);
    run.expect_code(SIGSYS_STATUS)
        .expect_stderr(&["the workload was killed by SIGSYS (exit status 159)"]);
    assert_eq!(run.stdout, "before\n");
}

#[test]
fn trap_sends_sigsys_and_errno_returns_the_profiles_errno() {
    require!(cannot_run());
    let harness = Harness::new();
    let trap = with_profile(one_rule(
        "keyctl",
        serde_json::json!({"action": "SCMP_ACT_TRAP"}),
    ));
    let script = format!("{} print \"survived\\n\";", call("keyctl", KEYCTL, &[0]));
    let run = harness.run(&["-p", &trap.path], &[PERL, "-e", &script]);
    run.expect_code(SIGSYS_STATUS);
    assert_eq!(run.stdout, "");
    // A handler sees the SIGSYS (the call does not run).
    let handled = format!(
        "$SIG{{SYS}} = sub {{ print \"SIGSYS\\n\" }}; {}",
        call("keyctl", KEYCTL, &[0])
    );
    let run = harness.run(&["-p", &trap.path], &[PERL, "-e", &handled]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("SIGSYS\n"), "{}", run.stdout);

    let errno = with_profile(one_rule(
        "keyctl",
        serde_json::json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 38}),
    ));
    let run = harness.run(
        &["-p", &errno.path],
        &[PERL, "-e", &call("keyctl", KEYCTL, &[0])],
    );
    run.expect_code(0);
    assert_eq!(run.stdout, "keyctl=38\n");
}

#[test]
fn argument_conditions_decide_per_call() {
    require!(cannot_run());
    let harness = Harness::new();
    // EACCES for one persona only; LOG lets the others through.
    let policy = with_profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 0, "value": 0x0040_0000u64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_LOG",
             "args": [{"index": 0, "value": 0x0800_0000u64, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0}]},
        ],
    }));
    let script = [
        call("refused", PERSONALITY, &[0x0040_0000]),
        call("query", PERSONALITY, &[0xffff_ffff]),
        call("linux", PERSONALITY, &[0]),
    ]
    .concat();
    let run = harness.run(&["-p", &policy.path], &[PERL, "-e", &script]);
    run.expect_code(0);
    assert_eq!(
        run.stdout, "refused=13\nquery=ok\nlinux=ok\n",
        "{}",
        run.stderr
    );
}

#[test]
fn x32_calls_are_killed_even_under_an_allow_all_default() {
    require!(cannot_run());
    let harness = Harness::new();
    // Without the guard, keyctl's x32 number would slip past the rule.
    let policy = with_profile(one_rule(
        "keyctl",
        serde_json::json!({"action": "SCMP_ACT_ERRNO"}),
    ));
    let script = format!(
        "$| = 1; {} {} print \"survived\\n\";",
        call("keyctl", KEYCTL, &[0]),
        call("x32_keyctl", KEYCTL | X32_BIT, &[0])
    );
    let run = harness.run(&["-p", &policy.path], &[PERL, "-e", &script]);
    run.expect_code(SIGSYS_STATUS);
    assert_eq!(run.stdout, "keyctl=1\n");
}

#[test]
fn without_no_new_privileges_the_filter_is_loaded_while_privileged() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = policy(serde_json::json!({
        "allow": true,
        "process": {"noNewPrivileges": false},
        "seccomp": default_profile(),
    }));
    let status = harness.run(&["-p", &policy.path], &["/bin/cat", "/proc/self/status"]);
    status.expect_code(0);
    let lines = seccomp_lines(&status.stdout);
    assert!(lines.contains(&"Seccomp:\t2"), "{lines:?}");
    assert!(lines.contains(&"NoNewPrivs:\t0"), "{lines:?}");
    let run = harness.run(
        &["-p", &policy.path],
        &[PERL, "-e", &call("keyctl", KEYCTL, &[0])],
    );
    assert_eq!(run.stdout, "keyctl=1\n", "{}", run.stderr);
}

#[test]
fn a_profile_refusing_execve_fails_the_start_with_a_clear_error() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = with_profile(one_rule(
        "execve",
        serde_json::json!({"action": "SCMP_ACT_ERRNO"}),
    ));
    let run = harness.run(&["-p", &policy.path], &["/bin/true"]);
    assert_ne!(run.code, Some(0));
    run.expect_stderr(&["cannot execute /bin/true", "Operation not permitted"]);
}

#[test]
fn exec_into_a_running_sandbox_gets_the_same_filter() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = with_profile(default_profile());
    let id = harness.detach(
        &["-p", &policy.path, "--id", "filtered"],
        &["/bin/sleep", "60"],
    );
    harness.wait_started(&id);
    let status = harness.command("exec", &[&id, "--", "/bin/cat", "/proc/self/status"]);
    status.expect_code(0);
    let lines = seccomp_lines(&status.stdout);
    assert!(lines.contains(&"Seccomp:\t2"), "{lines:?}");
    assert!(lines.contains(&"Seccomp_filters:\t3"), "{lines:?}");
    let run = harness.command(
        "exec",
        &[&id, "--", PERL, "-e", &call("keyctl", KEYCTL, &[0])],
    );
    assert_eq!(run.stdout, "keyctl=1\n", "{}", run.stderr);
    harness.command("delete", &[&id]).expect_code(0);
}

#[test]
fn eval_plan_summarises_the_filter() {
    let policy = with_profile(default_profile());
    let root = format!("enforcer-test-seccomp-plan-{}", std::process::id());
    let eval = |format: &str| {
        enforcer(&[
            "eval",
            "--no-cache",
            "--policy",
            &policy.path,
            "--cgroup-root",
            &root,
            format,
            "--",
            "/bin/true",
        ])
    };
    let text = eval("--plan");
    text.expect_code(0);
    let line = text
        .stdout
        .lines()
        .find(|line| line.starts_with("seccomp  "))
        .unwrap_or_else(|| panic!("no seccomp line:\n{}", text.stdout));
    // As docs/sandbox.md shows it.
    assert_eq!(
        line,
        "seccomp  default SCMP_ACT_ERRNO (errno 1), 3 filters, 312 rules, 1611 instructions, 61 names x86_64 lacks skipped"
    );
    assert!(
        text.stdout
            .contains("  skipped  _llseek _newselect chown32 "),
        "{}",
        text.stdout
    );

    let json = eval("--plan=json");
    json.expect_code(0);
    let summary = &json.json()["seccomp"];
    assert_eq!(summary["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(summary["defaultErrnoRet"], 1);
    assert_eq!(summary["filters"], 3);
    assert!(
        summary["rules"].as_u64().is_some_and(|rules| rules > 300),
        "{summary}"
    );
    let skipped = summary["skippedNames"].as_array().expect("a list");
    assert!(skipped.contains(&serde_json::json!("chown32")), "{summary}");
    assert!(!skipped.contains(&serde_json::json!("read")), "{summary}");

    // A name no architecture has is a warning; Docker's 32-bit names are not.
    assert!(!text.stderr.contains("seccomp"), "{}", text.stderr);
    let typo = with_profile(one_rule(
        "keyclt",
        serde_json::json!({"action": "SCMP_ACT_ERRNO"}),
    ));
    let warned = enforcer(&[
        "eval",
        "--no-cache",
        "--policy",
        &typo.path,
        "--cgroup-root",
        &root,
        "--plan",
        "--",
        "/bin/true",
    ]);
    warned.expect_code(0).expect_stderr(&[
        "enforcer: warning: seccomp: no architecture has a system call named \"keyclt\": its rule is skipped",
    ]);

    // A decision without seccomp has no summary.
    let plain = policy_without_seccomp();
    let json = enforcer(&[
        "eval",
        "--no-cache",
        "--policy",
        &plain.path,
        "--cgroup-root",
        &root,
        "--plan=json",
        "--",
        "/bin/true",
    ]);
    json.expect_code(0);
    assert!(json.json().get("seccomp").is_none());
}

fn policy_without_seccomp() -> Policy {
    policy(serde_json::json!({"allow": true}))
}

#[test]
fn a_profile_the_enforcer_cannot_load_is_refused_before_anything_starts() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = with_profile(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["seccomp"], "action": "SCMP_ACT_KILL_PROCESS"}],
    }));
    let run = harness.run(&["-p", &policy.path], &["/bin/true"]);
    run.expect_code(125).expect_stderr(&[
        "seccomp: the rule for \"seccomp\" (SCMP_ACT_KILL_PROCESS) would stop the enforcer loading the rest of the filter",
    ]);
}
