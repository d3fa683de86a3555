//! Hand-written policy modules for the end-to-end tests: the ABI exports
//! around a custom `policy_evaluate` body, a module that returns a
//! constant response, and one that returns a constant decision.

use std::path::{Path, PathBuf};

/// The ABI exports around a custom `policy_evaluate` body and extra items.
pub fn module(evaluate_body: &str, extra: &str) -> String {
    format!(
        r#"(module
  {extra}
  (memory (export "memory") 1)
  (func (export "policy_abi_version") (result i32) (i32.const 1))
  (func (export "policy_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "policy_evaluate") (param $ptr i32) (param $len i32) (result i64)
    {evaluate_body}))"#
    )
}

/// A module whose `policy_evaluate` returns `response` verbatim.
pub fn responding(response: &[u8]) -> String {
    let escaped: String = response
        .iter()
        .map(|byte| format!("\\{byte:02x}"))
        .collect();
    module(
        &format!(
            "(i64.or (i64.shl (i64.const 32768) (i64.const 32)) (i64.const {}))",
            response.len()
        ),
        &format!(r#"(data (i32.const 32768) "{escaped}")"#),
    )
}

/// Writes `dir/name.wat`, a module that answers every request with
/// `{"decision": decision}`, and returns its path.
pub fn decision_module(dir: &Path, name: &str, decision: &serde_json::Value) -> PathBuf {
    let response = serde_json::json!({ "decision": decision }).to_string();
    let path = dir.join(format!("{name}.wat"));
    std::fs::write(&path, responding(response.as_bytes()))
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    path
}
