//! Builds the workspace's policies to `wasm32-unknown-unknown` (profile
//! `policy`) so the enforcer can embed the default policy with
//! `include_bytes!` and its tests and benchmarks can load the examples.
//!
//! The nested cargo uses its own target directory under `OUT_DIR`, so it
//! never waits on the lock of the build that runs this script.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("enforcer lives inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target_dir = out_dir.join("wasm");

    for watched in [
        "Cargo.toml",
        "policy-sdk",
        "policies",
        "tests/fixtures",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let mut policies = policy_crates(&workspace.join("policies"));
    policies.extend(policy_crates(&workspace.join("tests").join("fixtures")));
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&workspace)
        .args([
            "build",
            "--profile",
            "policy",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in &policies {
        cargo.args(["-p", package]);
    }
    // Settings meant for the outer (native) build must not leak into this one.
    for variable in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cargo.env_remove(variable);
    }
    let status = cargo
        .status()
        .expect("cannot run cargo to build the policies");
    assert!(
        status.success(),
        "building the policies for wasm32-unknown-unknown failed ({status}); \
         is the target installed? `rustup target add wasm32-unknown-unknown`"
    );

    let built = target_dir.join("wasm32-unknown-unknown").join("policy");
    for (_, artifact) in &policies {
        let from = built.join(artifact);
        std::fs::copy(&from, out_dir.join(artifact))
            .unwrap_or_else(|error| panic!("cannot copy {}: {error}", from.display()));
    }
    println!("cargo:rustc-env=ENFORCER_POLICY_DIR={}", out_dir.display());
}

/// `(package name, wasm file name)` of every crate in `dir`.
fn policy_crates(dir: &Path) -> Vec<(String, String)> {
    let mut crates: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .flatten()
        .filter_map(|entry| package_name(&entry.path().join("Cargo.toml")))
        .map(|package| {
            let artifact = format!("{}.wasm", package.replace('-', "_"));
            (package, artifact)
        })
        .collect();
    crates.sort();
    crates
}

/// The `name` in a crate's `[package]` section.
fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    text.lines()
        .skip_while(|line| line.trim() != "[package]")
        .find_map(|line| {
            line.trim()
                .strip_prefix("name = \"")?
                .strip_suffix('"')
                .map(String::from)
        })
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
}
