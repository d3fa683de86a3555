//! The workspace's policy modules for tests and benchmarks: every crate
//! under `policies/` and `tests/fixtures/`, built to `wasm32-unknown-unknown`
//! by `scripts/build-policies` (the same reproducible build that makes the
//! embedded default policy), once per test binary, under the target
//! directory (`target/tmp/policies`). Cargo's lock on that directory
//! serialises test binaries that start at the same time; when nothing
//! changed, the build is a quick no-op. Included by `tests/common/mod.rs`
//! and, with `#[path]`, by the benchmarks.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the enforcer crate lives inside the workspace")
        .to_path_buf()
}

/// The directory holding every built policy (`policy_<name>.wasm`),
/// building them on the first call. Panics, saying how to fix it, when the
/// build fails (for example without the wasm32-unknown-unknown target).
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("policies");
        let script = workspace().join("scripts").join("build-policies");
        let output = Command::new(&script)
            .arg(&target_dir)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
        assert!(
            output.status.success(),
            "{} {} failed ({}); scripts/test installs the wasm targets it needs \
             (`rustup target add wasm32-unknown-unknown`):\n{}",
            script.display(),
            target_dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        target_dir.join("wasm32-unknown-unknown").join("policy")
    })
}

/// Path of the built policy `policy_<name>.wasm`, e.g. `tenant_tiers`.
pub fn example(name: &str) -> PathBuf {
    let path = dir().join(format!("policy_{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
