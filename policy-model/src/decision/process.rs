//! The workload's privileges, in the shape of OCI's `process` object.

use serde::{Deserialize, Serialize};

/// Who the workload runs as and what it may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Process {
    /// User and groups of the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ProcessUser>,
    /// Capability sets; absent sets are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Set `PR_SET_NO_NEW_PRIVS` before exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_new_privileges: Option<bool>,
    /// Resource limits (`setrlimit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    /// The workload's whole environment, `KEY=VALUE` entries (OCI
    /// `process.env`). Empty: a minimal default (`PATH`, `HOME`, `LANG`, and
    /// `TERM` with a terminal), never the enforcer's own environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The working directory, an absolute path entered after the
    /// namespaces and privileges are set up, so directory permissions apply
    /// (OCI `process.cwd`). Absent: `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// OCI `process.user`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcessUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// File mode creation mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    /// Supplementary group ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

/// OCI `process.capabilities`: capability names such as `CAP_NET_BIND_SERVICE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// The bounding set.
    #[serde(default)]
    pub bounding: Vec<String>,
    /// The effective set.
    #[serde(default)]
    pub effective: Vec<String>,
    /// The inheritable set.
    #[serde(default)]
    pub inheritable: Vec<String>,
    /// The permitted set.
    #[serde(default)]
    pub permitted: Vec<String>,
    /// The ambient set.
    #[serde(default)]
    pub ambient: Vec<String>,
}

/// OCI `process.rlimits[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rlimit {
    /// `RLIMIT_NOFILE`, `RLIMIT_NPROC`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Hard limit.
    pub hard: u64,
    /// Soft limit.
    pub soft: u64,
}
