//! What `create` leaves for the container's later `exec` and `update`:
//! its decision's limits and its patched process's privileges, kept in
//! the patched spec as the annotation [`ANNOTATION`], where the delegate's
//! `state` gives it back. A spec's own value of that annotation is always
//! replaced.

use policy_model::normal::NormalDecision;
use policy_model::{Capabilities, Resources, Rlimit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The annotation holding the record.
pub const ANNOTATION: &str = "org.enforcer.runtime.record";

/// The record's format version.
pub const VERSION: u32 = 1;

/// The privileges of the container's process after patching: what an
/// `exec` may not exceed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessCeiling {
    /// `process.user.uid`.
    pub uid: u32,
    /// `process.user.gid`.
    pub gid: u32,
    /// `process.user.additionalGids`.
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    /// `process.capabilities`.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// `process.noNewPrivileges`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `process.rlimits`.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// `process.apparmorProfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// `process.selinuxLabel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
}

/// What `create` decided for a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    /// [`VERSION`].
    pub version: u32,
    /// The tenant the container was decided for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The audit record's decision id.
    pub decision_id: String,
    /// The decision's resources (OCI shape): what `update` may not exceed.
    pub resources: Resources,
    /// The patched process's privileges: what `exec` may not exceed.
    pub process: ProcessCeiling,
}

/// A record that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The state has no record: the container was not created by
    /// `enforcer runtime`.
    #[error(
        "container {id} has no {ANNOTATION} annotation: it was not created through enforcer runtime, so nothing says what it may do"
    )]
    Missing {
        /// The container id.
        id: String,
    },
    /// The record is not one this version reads.
    #[error("container {id}: annotation {ANNOTATION}: {message}")]
    Invalid {
        /// The container id.
        id: String,
        /// Why.
        message: String,
    },
}

impl ContainerRecord {
    /// The record of a container whose patched spec is `patched`, decided
    /// by `decision` (its resources are the limits `update` keeps).
    pub fn new(
        patched: &Value,
        decision: &NormalDecision,
        tenant: Option<String>,
        decision_id: String,
    ) -> ContainerRecord {
        let _ = (patched, decision);
        ContainerRecord {
            version: VERSION,
            tenant,
            decision_id,
            ..ContainerRecord::default()
        }
    }

    /// Puts the record into `spec`'s annotations (replacing any).
    pub fn embed(&self, spec: &mut Value) {
        let _ = spec;
    }

    /// The record of container `id` from the delegate's `state` JSON (its
    /// `annotations`).
    pub fn from_state(id: &str, state: &Value) -> Result<ContainerRecord, RecordError> {
        let _ = state;
        Err(RecordError::Missing { id: id.to_string() })
    }
}
