//! `enforcer policy new`, as a policy author outside the repository uses
//! it: scaffold a crate in a temp dir outside the workspace, then run its
//! native unit tests, its Wasm unit tests (through `enforcer test-runner`,
//! found on PATH as the generated `.cargo/config.toml` says), its policy
//! build, its golden cases, `eval` and `run`, printing each step's time;
//! and the refusals, which leave nothing behind.
//!
//! The nested cargo builds offline (the workspace's crates are already
//! downloaded) into `<target>/scaffold`, so reruns are cached and nothing
//! is cached outside the repository's target directory.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{Run, enforcer, policies::workspace};
use sandbox::Harness;
use test_cgroup::{cannot_run, require, skipped};

/// A fresh directory under `/tmp`, outside the workspace, removed on drop.
fn outside_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("enforcer-test-policy-new-")
        .tempdir_in("/tmp")
        .expect("tempdir in /tmp");
    assert!(
        !dir.path().starts_with(workspace()),
        "{} is inside the workspace",
        dir.path().display()
    );
    dir
}

/// The target directory the nested cargo builds in.
fn scaffold_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR lies in the target directory")
        .join("scaffold")
}

/// `cargo ARGS --offline` in `dir` with the environment an author has:
/// none of the outer cargo's settings, the built enforcer first on PATH.
/// Returns the combined output; panics, showing it, on failure.
fn cargo(dir: &Path, args: &[&str]) -> String {
    let enforcer_dir = Path::new(env!("CARGO_BIN_EXE_enforcer"))
        .parent()
        .expect("the binary has a directory");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(enforcer_dir.to_path_buf()).chain(std::env::split_paths(&path)),
    )
    .expect("PATH joins");
    let mut command = Command::new("cargo");
    command.args(args).arg("--offline").current_dir(dir);
    // The outer cargo's variables (CARGO, CARGO_MANIFEST_DIR, CARGO_PKG_*,
    // CARGO_TARGET_TMPDIR, CARGO_BIN_EXE_*, ...) and whatever
    // scripts/build-policies also clears. CARGO_HOME stays: the crates are
    // downloaded there. RUSTUP_TOOLCHAIN goes too, so the crate's own
    // rust-toolchain.toml picks the toolchain, as it would for an author
    // (RUSTUP_AUTO_INSTALL=0, as CI runs, is kept: nothing is installed).
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO") && name != "CARGO_HOME" {
            command.env_remove(&name);
        }
    }
    for name in [
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTUP_TOOLCHAIN",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        command.env_remove(name);
    }
    command
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", scaffold_target());
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run cargo: {error}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "cargo {args:?} in {} failed ({}):\n{text}",
        dir.display(),
        output.status
    );
    text
}

/// Runs `step`, printing how long it took.
fn timed<T>(times: &mut Vec<(String, f64)>, name: &str, step: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = step();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("policy new: {name}: {seconds:.2} s");
    times.push((name.to_string(), seconds));
    result
}

/// Every entry under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("reads dir").flatten() {
            let path = entry.path();
            out.push(
                path.strip_prefix(base)
                    .expect("under base")
                    .display()
                    .to_string(),
            );
            if path.is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_scaffolded_policy_builds_tests_and_runs_outside_the_workspace() {
    let mut times = Vec::new();
    let outside = outside_dir();
    let sdk = workspace().join("policy-sdk");
    let created = timed(&mut times, "policy new", || {
        enforcer(&[
            "policy",
            "new",
            "ci-runners",
            "--dir",
            &outside.path().display().to_string(),
            "--sdk",
            &sdk.display().to_string(),
        ])
    });
    created.expect_code(0);
    let crate_dir = outside.path().join("ci-runners");
    for file in [
        "Cargo.toml",
        ".cargo/config.toml",
        "rust-toolchain.toml",
        "src/lib.rs",
        "cases.toml",
        "README.md",
        ".gitignore",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} missing");
        assert!(created.stdout.contains(file), "output lacks {file}");
    }
    assert!(
        created
            .stdout
            .contains("cargo build --profile policy --target wasm32-unknown-unknown"),
        "{}",
        created.stdout
    );
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    let sdk_abs = std::fs::canonicalize(&sdk).expect("sdk path");
    assert!(
        manifest.contains(&format!(
            "policy-sdk = {{ path = {:?} }}",
            sdk_abs.display()
        )),
        "{manifest}"
    );

    let native = timed(&mut times, "cargo test (native)", || {
        cargo(&crate_dir, &["test"])
    });
    let wasm = timed(&mut times, "cargo test --target wasm32-wasip1", || {
        cargo(&crate_dir, &["test", "--target", "wasm32-wasip1"])
    });
    for output in [&native, &wasm] {
        assert!(
            output.contains("Compiling ci-runners")
                && output.contains("test tests::a_tenant_gets_the_limits ... ok")
                && output.contains("test result: ok.")
                && !output.contains("FAILED"),
            "{output}"
        );
    }
    assert!(
        wasm.contains(".wasm"),
        "the Wasm tests ran a .wasm:\n{wasm}"
    );
    let built = timed(&mut times, "cargo build --profile policy", || {
        cargo(
            &crate_dir,
            &[
                "build",
                "--profile",
                "policy",
                "--target",
                "wasm32-unknown-unknown",
            ],
        )
    });
    assert!(built.contains("Compiling ci-runners"), "{built}");
    let module = scaffold_target()
        .join("wasm32-unknown-unknown/policy/ci_runners.wasm")
        .display()
        .to_string();
    let cases = crate_dir.join("cases.toml").display().to_string();

    let golden: Run = timed(&mut times, "enforcer test", || {
        enforcer(&["test", "-p", &module, &cases])
    });
    golden.expect_code(0);
    assert!(
        golden.stdout.contains("4 passed, 0 failed"),
        "{}",
        golden.stdout
    );
    let eval = timed(&mut times, "enforcer eval", || {
        enforcer(&["eval", "-p", &module, "--tenant", "acme", "--", "/bin/true"])
    });
    eval.expect_code(0);
    assert_eq!(eval.json()["allow"], true, "{}", eval.stdout);
    let no_tenant = enforcer(&["eval", "-p", &module, "--", "/bin/true"]);
    no_tenant
        .expect_code(1)
        .expect_stderr(&["must name a tenant"]);

    if let Some(why) = cannot_run() {
        skipped(why);
    } else {
        let harness = Harness::new();
        let run = timed(&mut times, "enforcer run", || {
            harness.run(&["-p", &module, "--tenant", "acme"], &["/bin/true"])
        });
        run.expect_code(0);
    }
    let summary: Vec<String> = times
        .iter()
        .map(|(name, seconds)| format!("{name} {seconds:.2} s"))
        .collect();
    eprintln!("policy new: times: {}", summary.join(", "));
}

#[test]
fn the_sdk_dependency_forms() {
    let outside = outside_dir();
    let dir = outside.path().display().to_string();
    // --git with --rev, into an existing empty directory.
    std::fs::create_dir(outside.path().join("from-git")).expect("mkdir");
    enforcer(&[
        "policy",
        "new",
        "from-git",
        "--dir",
        &dir,
        "--git",
        "https://example.com/enforcer.git",
        "--rev",
        "0123abc",
    ])
    .expect_code(0);
    let manifest =
        std::fs::read_to_string(outside.path().join("from-git/Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains(
            r#"policy-sdk = { git = "https://example.com/enforcer.git", rev = "0123abc" }"#
        ),
        "{manifest}"
    );
    // Neither: the policy-sdk of the tree the enforcer was built from.
    enforcer(&["policy", "new", "default-sdk", "--dir", &dir]).expect_code(0);
    let manifest =
        std::fs::read_to_string(outside.path().join("default-sdk/Cargo.toml")).expect("Cargo.toml");
    let sdk = std::fs::canonicalize(workspace().join("policy-sdk")).expect("sdk");
    assert!(
        manifest.contains(&format!("path = {:?}", sdk.display())),
        "{manifest}"
    );
    // --rev needs --git; --sdk and --git exclude each other.
    enforcer(&["policy", "new", "x", "--dir", &dir, "--rev", "abc"]).expect_code(2);
    enforcer(&[
        "policy", "new", "x", "--dir", &dir, "--sdk", "/", "--git", "u",
    ])
    .expect_code(2);
    assert!(!outside.path().join("x").exists());
}

#[test]
fn refusals_name_the_culprit_and_leave_nothing_behind() {
    let outside = outside_dir();
    let dir = outside.path().display().to_string();
    // An existing, non-empty directory is left as it was.
    let existing = outside.path().join("taken");
    std::fs::create_dir(&existing).expect("mkdir");
    std::fs::write(existing.join("notes.txt"), "mine").expect("write");
    enforcer(&["policy", "new", "taken", "--dir", &dir])
        .expect_code(2)
        .expect_stderr(&["taken already exists and is not empty"]);
    assert_eq!(tree(&existing), ["notes.txt"]);
    // A file in the way.
    std::fs::write(outside.path().join("file"), "").expect("write");
    enforcer(&["policy", "new", "file", "--dir", &dir])
        .expect_code(2)
        .expect_stderr(&["file already exists and is not a directory"]);
    // Names that are no crate names, one that would escape --dir among them.
    for (name, why) in [
        ("1st-policy", "must start with a letter"),
        ("ci runners", "' ' is not allowed"),
        ("../escape", "'.' is not allowed"),
        ("fn", "reserved"),
        ("", "empty"),
    ] {
        enforcer(&["policy", "new", name, "--dir", &dir])
            .expect_code(2)
            .expect_stderr(&[&format!("invalid policy name {name:?}"), why]);
    }
    // An SDK path that is not the SDK, with a hint for the repository root.
    enforcer(&[
        "policy",
        "new",
        "bad-sdk",
        "--dir",
        &dir,
        "--sdk",
        &workspace().display().to_string(),
    ])
    .expect_code(2)
    .expect_stderr(&["is not the policy-sdk crate's manifest", "did you mean"]);
    enforcer(&[
        "policy",
        "new",
        "bad-sdk",
        "--dir",
        &format!("{dir}/new/parents"),
        "--sdk",
        "/nonexistent/policy-sdk",
    ])
    .expect_code(2)
    .expect_stderr(&["--sdk /nonexistent/policy-sdk", "cannot find"]);
    assert_eq!(tree(outside.path()), ["file", "taken", "taken/notes.txt"]);
    assert!(!outside.path().join("../escape").exists());
}

#[test]
fn a_failure_midway_removes_what_was_made() {
    require!(cannot_run());
    let unshare = Command::new("unshare").arg("--version").output();
    if !unshare.is_ok_and(|output| output.status.success()) {
        skipped("needs unshare(1) for a private mount namespace");
        return;
    }
    // A one-page tmpfs, mounted in a mount namespace of its own (gone when
    // the shell ends): the first file fits, the second's write fails with
    // ENOSPC after its file, a directory and the crate's parents exist.
    let outside = outside_dir();
    let mount = outside.path().display().to_string();
    let script = r#"mount -t tmpfs -o size=4k enforcer-test "$1" || exit 99
        "$2" policy new ci-runners --dir "$1/a/b" --sdk "$3"
        echo "status $?"
        find "$1" -mindepth 1"#;
    let output = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&mount)
        .arg(env!("CARGO_BIN_EXE_enforcer"))
        .arg(workspace().join("policy-sdk"))
        .output()
        .expect("runs unshare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.trim(),
        "status 2",
        "left behind:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("cannot write") && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert_eq!(tree(outside.path()), Vec::<String>::new());
}
