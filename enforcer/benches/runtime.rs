#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! The cost of `enforcer runtime` in front of runc: `create` through
//! `start` of a busybox-static bundle running `sh -c true`, through plain
//! runc and through the wrapper (the binary invoked as `enforcer-runtime`,
//! with the embedded default policy and the compiled-module cache warm),
//! each followed, untimed, by `delete --force`. Also the wrapper's
//! pass-through alone (`state` of a missing container, which runc answers
//! at once) against runc's.
//!
//! Needs root, runc (`apt-get install runc`) and /bin/busybox
//! (busybox-static). Containers get cgroupsPath
//! `/enforcer-test-bench-runtime/<id>` and a temporary runc root.
//!
//! `cargo bench -p enforcer --bench runtime`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../../tests/common/bundle.rs"]
mod bundle;

const RUNC: &str = "/usr/sbin/runc";

/// Runs `command` with no standard streams of ours (a created container
/// keeps the ones it was given until it starts, so a pipe would never
/// close); says the status on failure.
fn run(command: &mut Command) -> bool {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("{command:?}: {status}");
            false
        }
        Err(error) => {
            eprintln!("{command:?}: {error}");
            false
        }
    }
}

/// `create` then `start` of `id` through `runtime`; the time of the two.
fn create_start(
    runtime: &Path,
    env: (&str, &Path),
    root: &Path,
    bundle: &Path,
    id: &str,
) -> Duration {
    let start = Instant::now();
    assert!(
        run(Command::new(runtime)
            .env(env.0, env.1)
            .arg("--root")
            .arg(root)
            .args(["create", "--bundle"])
            .arg(bundle)
            .arg(id)),
        "{} create {id} failed",
        runtime.display()
    );
    assert!(
        run(Command::new(runtime)
            .env(env.0, env.1)
            .arg("--root")
            .arg(root)
            .args(["start", id])),
        "{} start {id} failed",
        runtime.display()
    );
    let elapsed = start.elapsed();
    run(Command::new(RUNC)
        .arg("--root")
        .arg(root)
        .args(["delete", "--force", id]));
    elapsed
}

fn runtime(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() || !Path::new(RUNC).exists() {
        eprintln!("SKIPPED the runtime benchmarks: they need root and {RUNC}");
        return;
    }
    let mut config = bundle::config();
    config["process"]["args"] = serde_json::json!(["/bin/sh", "-c", "true"]);
    config["linux"]["cgroupsPath"] = serde_json::json!("/enforcer-test-bench-runtime/c");
    let bundle = match bundle::TestBundle::with_config(config.clone()) {
        Ok(bundle) => bundle,
        Err(why) => {
            eprintln!("SKIPPED the runtime benchmarks: {why}");
            return;
        }
    };
    let work = tempfile::Builder::new()
        .prefix("enforcer-test-bench-runtime-")
        .tempdir()
        .expect("tempdir");
    let wrapper: PathBuf = work.path().join("enforcer-runtime");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_enforcer"), &wrapper).expect("symlink");
    let root = work.path().join("runc-root");
    // The bench's own state and audit log; the compiled-module cache is
    // the default one, as on a node.
    let enforcer_config = work.path().join("config.toml");
    std::fs::write(
        &enforcer_config,
        format!(
            "state_dir = \"{}\"\n[audit]\npath = \"{}\"\n",
            work.path().join("state").display(),
            work.path().join("audit.log").display()
        ),
    )
    .expect("writes the config");
    let env = ("ENFORCER_CONFIG", enforcer_config.as_path());
    let mut group = c.benchmark_group("runtime create+start sh -c true");
    group
        .measurement_time(Duration::from_secs(15))
        .sample_size(20);
    let mut n = 0u64;
    for (name, runtime) in [
        ("runc", PathBuf::from(RUNC)),
        ("enforcer-runtime → runc", wrapper.clone()),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    n += 1;
                    // The wrapper patches config.json in place: start each
                    // container from the pristine spec.
                    bundle.write_config(&config);
                    total +=
                        create_start(&runtime, env, &root, bundle.dir(), &format!("bench-{n}"));
                }
                total
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("runtime pass-through (state of a missing container)");
    for (name, runtime) in [
        ("runc", PathBuf::from(RUNC)),
        ("enforcer-runtime → runc", wrapper),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                // `state` of a missing container fails at once, quietly.
                Command::new(&runtime)
                    .env(env.0, env.1)
                    .arg("--root")
                    .arg(&root)
                    .args(["state", "missing"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
            })
        });
    }
    group.finish();
    for dir in enforcer_test_cgroups() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// The bench's parent cgroup in each hierarchy (runc leaves the parent).
fn enforcer_test_cgroups() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for entry in entries.flatten() {
            let candidate = entry.path().join("enforcer-test-bench-runtime");
            if candidate.is_dir() {
                dirs.push(candidate);
            }
        }
    }
    let unified = Path::new("/sys/fs/cgroup/enforcer-test-bench-runtime");
    if unified.is_dir() {
        dirs.push(unified.to_path_buf());
    }
    dirs
}

criterion_group!(benches, runtime);
criterion_main!(benches);
