//! Hostile and broken policy modules, each run through the built binary:
//! every one must end in exit status 2 with an error naming the policy and
//! the cause, and never crash or hang the host.

mod common;

use common::wat::{module, responding};
use common::{Run, enforcer};

/// Writes `wat` to a temporary file and evaluates it with `extra` flags.
fn eval_wat(wat: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("policy.wat");
    std::fs::write(&path, wat).expect("writes module");
    let path = path.display().to_string();
    let mut args = vec!["eval", "--no-cache", "--policy", &path];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--tenant", "acme", "--", "/bin/true"]);
    let run = enforcer(&args);
    assert!(
        run.stderr.contains(&format!("policy {path}")),
        "the error must name the policy file:\n{}",
        run.stderr
    );
    run
}

fn expect_error(run: &Run, needles: &[&str]) {
    run.expect_code(2).expect_stderr(needles);
    assert!(
        run.stdout.is_empty(),
        "nothing may be printed as a decision: {}",
        run.stdout
    );
}

#[test]
fn infinite_loop_times_out_near_the_deadline() {
    let run = eval_wat(
        &module("(loop (br 0)) (unreachable)", ""),
        &["--deadline", "200ms"],
    );
    expect_error(&run, &["timed out", "200ms deadline"]);
    eprintln!(
        "infinite loop stopped after {:?} (deadline 200ms)",
        run.elapsed
    );
}

#[test]
fn unbounded_recursion_traps() {
    let wat = module(
        "(call $recurse (i32.const 0)) (i64.const 0)",
        "(func $recurse (param i32) (call $recurse (i32.add (local.get 0) (i32.const 1))))",
    );
    expect_error(&eval_wat(&wat, &[]), &["trapped", "call stack exhausted"]);
}

#[test]
fn unreachable_traps() {
    expect_error(
        &eval_wat(&module("(unreachable)", ""), &[]),
        &["trapped", "unreachable"],
    );
}

#[test]
fn memory_bomb_hits_the_cap() {
    let wat = module(
        "(loop (br_if 0 (i32.ne (memory.grow (i32.const 256)) (i32.const -1)))) (i64.const 0)",
        "",
    );
    expect_error(
        &eval_wat(&wat, &["--memory-cap", "16"]),
        &["memory limit exceeded", "16777216"],
    );
}

#[test]
fn out_of_range_response_pointer() {
    let wat = module(
        "(i64.or (i64.shl (i64.const 0xFFFF0000) (i64.const 32)) (i64.const 100))",
        "",
    );
    expect_error(
        &eval_wat(&wat, &[]),
        &["outside its 65536 bytes of linear memory"],
    );
}

#[test]
fn invalid_json() {
    expect_error(
        &eval_wat(&responding(b"{not json"), &[]),
        &["not valid JSON"],
    );
}

#[test]
fn invalid_utf8() {
    expect_error(
        &eval_wat(&responding(b"{\"error\":\"\xff\xfe\"}"), &[]),
        &["not valid UTF-8"],
    );
}

#[test]
fn oversize_output() {
    let wat = module(
        "(drop (memory.grow (i32.const 40))) (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 2097152))",
        "",
    );
    expect_error(
        &eval_wat(&wat, &[]),
        &["2097152 bytes exceeds the output cap of 1048576 bytes"],
    );
}

#[test]
fn error_response_is_reported() {
    let run = eval_wat(
        &responding(br#"{"error":"tenant database unavailable"}"#),
        &[],
    );
    expect_error(&run, &["reported an error: tenant database unavailable"]);
}

#[test]
fn wrong_abi_version() {
    let wat = module("(i64.const 0)", "").replace(
        r#"(func (export "policy_abi_version") (result i32) (i32.const 1))"#,
        r#"(func (export "policy_abi_version") (result i32) (i32.const 2))"#,
    );
    expect_error(
        &eval_wat(&wat, &[]),
        &["speaks ABI version 2; this enforcer speaks version 1"],
    );
}

#[test]
fn missing_export() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "policy_abi_version") (result i32) (i32.const 1))
      (func (export "policy_alloc") (param i32) (result i32) (i32.const 0)))"#;
    expect_error(&eval_wat(wat, &[]), &["missing export `policy_evaluate`"]);
}

#[test]
fn wrong_export_type() {
    let wat = module("(i64.const 0)", "").replace(
        r#"(func (export "policy_alloc") (param i32) (result i32) (i32.const 1024))"#,
        r#"(func (export "policy_alloc") (param i64) (result i32) (i32.const 1024))"#,
    );
    expect_error(
        &eval_wat(&wat, &[]),
        &["`export policy_alloc` has type (i64) -> (i32), ABI v1 requires (i32) -> (i32)"],
    );
}

#[test]
fn wasi_import_is_refused() {
    let wat = module(
        "(i64.const 0)",
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
    );
    expect_error(
        &eval_wat(&wat, &[]),
        &[
            "imports `wasi_snapshot_preview1.fd_write`",
            "may import only `enforcer.log`",
        ],
    );
}

#[test]
fn unknown_host_import_is_refused() {
    let wat = module(
        "(i64.const 0)",
        r#"(import "enforcer" "exec" (func (param i32 i32)))"#,
    );
    expect_error(&eval_wat(&wat, &[]), &["imports `enforcer.exec`"]);
    let wat = module("(i64.const 0)", r#"(import "env" "memory" (memory 1))"#);
    expect_error(&eval_wat(&wat, &[]), &["imports `env.memory`"]);
}

#[test]
fn log_import_with_the_wrong_type_is_refused() {
    let wat = module(
        "(i64.const 0)",
        r#"(import "enforcer" "log" (func (param i32)))"#,
    );
    expect_error(
        &eval_wat(&wat, &[]),
        &["import enforcer.log", "(i32, i32, i32) -> ()"],
    );
}

#[test]
fn start_function_trap_is_an_error() {
    let wat = module("(i64.const 0)", "(func $boom (unreachable)) (start $boom)");
    expect_error(&eval_wat(&wat, &[]), &["cannot instantiate", "unreachable"]);
}

#[test]
fn not_a_module() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junk.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0garbage").expect("writes");
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--policy",
        &path.display().to_string(),
    ]);
    expect_error(&run, &["not a valid WebAssembly module"]);
    let run = enforcer(&["eval", "--policy", "/nonexistent/policy.wasm"]);
    expect_error(&run, &["/nonexistent/policy.wasm", "cannot read module"]);
}

/// A response carrying `decision` (a JSON object) verbatim.
fn deciding(decision: &str) -> String {
    responding(format!(r#"{{"decision":{decision}}}"#).as_bytes())
}

#[test]
fn invalid_decisions_name_the_field() {
    let cases: [(&str, &[&str]); 9] = [
        (
            r#"{"allow":true,"cgroupsPath":"../../etc"}"#,
            &["cgroupsPath", "must not contain \"..\""],
        ),
        (
            r#"{"allow":true,"cgroupsPath":"/sys/fs/cgroup/escape"}"#,
            &["cgroupsPath", "not absolute"],
        ),
        (
            r#"{"allow":true,"resources":{"memory":{"limit":-5}}}"#,
            &["resources.memory.limit: -5"],
        ),
        (
            r#"{"allow":true,"resources":{"pids":{"limit":-7}}}"#,
            &["resources.pids.limit: -7"],
        ),
        (
            r#"{"allow":true,"namespaces":[{"type":"pid"},{"type":"time"}]}"#,
            &["decision.namespaces[1].type", "unknown variant `time`"],
        ),
        (
            r#"{"allow":true,"resources":{"devices":[{"allow":true,"type":"x"}]}}"#,
            &["decision.resources.devices[0].type", "unknown variant `x`"],
        ),
        (
            r#"{"allow":true,"resources":{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwz"}]}}"#,
            &["resources.devices[1].access: \"rwz\" is not a non-empty subset of \"rwm\""],
        ),
        (
            r#"{"allow":true,"resources":{"hugepageLimits":[{"pageSize":"16GB","limit":0}]}}"#,
            &[
                "resources.hugepageLimits[0].pageSize",
                "\"16GB\" hugepages do not exist on this host",
            ],
        ),
        (
            r#"{"allow":true,"resources":{"memroy":{"limit":1}}}"#,
            &["decision.resources", "unknown field `memroy`"],
        ),
    ];
    for (decision, needles) in cases {
        let run = eval_wat(&deciding(decision), &[]);
        assert_eq!(run.code, Some(2), "{decision}: {}", run.stderr);
        for needle in needles {
            assert!(
                run.stderr.contains(needle),
                "{decision}: stderr lacks {needle:?}:\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn a_rust_panic_becomes_an_error_response() {
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--policy",
        &common::example("test_panic"),
        "--label",
        "panic=on purpose",
        "--",
        "/bin/true",
    ]);
    expect_error(
        &run,
        &[
            "reported an error: policy panicked at",
            "asked to panic: on purpose",
        ],
    );
}

#[test]
fn log_floods_are_capped() {
    let run = enforcer(&[
        "eval",
        "--no-cache",
        "--policy",
        &common::example("test_panic"),
        "--label",
        "flood=1",
        "--",
        "/bin/true",
    ]);
    run.expect_code(0);
    let lines = run
        .stderr
        .lines()
        .filter(|line| line.contains("flood message"))
        .count();
    assert_eq!(
        lines, 32,
        "log messages beyond the cap must be dropped:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("log limit of 32 messages reached"));
    let longest = run.stderr.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 1200,
        "each message is cut to 1 KiB, got a {longest}-byte line"
    );
}
