//! The parts of an OCI runtime `config.json` the enforcer reads, as the
//! runtime spec names them (`schema/config-schema.json`,
//! `schema/config-linux.json`).
//!
//! Where the decision already has the OCI shape (`root`, `mounts[]`,
//! `process.capabilities`, `process.rlimits[]`, id mappings,
//! `linux.resources`) its own types are used, so the two cannot drift.
//! Every section the enforcer reads rejects unknown fields; the fields it
//! knows but cannot honour are kept as raw JSON, to be refused by name
//! when they ask for anything ([`super::translate`]).

use std::collections::BTreeMap;

use policy_model::{Capabilities, IdMapping, Mount, Resources, Rlimit, Root};
use serde::Deserialize;
use serde_json::Value;

/// The top level of `config.json` (unknown keys are removed, with a
/// warning, before it is parsed).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Spec {
    pub oci_version: Option<String>,
    pub root: Option<Root>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    pub process: Option<ProcessSpec>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub linux: Option<LinuxSpec>,
    pub hooks: Option<Value>,
    pub solaris: Option<Value>,
    pub windows: Option<Value>,
    pub vm: Option<Value>,
    pub zos: Option<Value>,
    pub freebsd: Option<Value>,
}

/// The top-level keys of the runtime spec: any other is a newer spec's,
/// warned about and ignored, as runc does.
pub(super) const TOP_LEVEL_FIELDS: [&str; 14] = [
    "ociVersion",
    "root",
    "mounts",
    "process",
    "hostname",
    "domainname",
    "annotations",
    "linux",
    "hooks",
    "solaris",
    "windows",
    "vm",
    "zos",
    "freebsd",
];

/// `process`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ProcessSpec {
    #[serde(default)]
    pub terminal: bool,
    pub console_size: Option<Value>,
    pub user: Option<UserSpec>,
    #[serde(default)]
    pub args: Vec<String>,
    pub command_line: Option<Value>,
    #[serde(default)]
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub capabilities: Option<Capabilities>,
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: Option<bool>,
    pub apparmor_profile: Option<Value>,
    pub oom_score_adj: Option<Value>,
    pub selinux_label: Option<Value>,
    pub io_priority: Option<Value>,
    pub scheduler: Option<Value>,
    #[serde(rename = "execCPUAffinity")]
    pub exec_cpu_affinity: Option<Value>,
}

/// `process.user`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct UserSpec {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    pub umask: Option<u32>,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    pub username: Option<Value>,
}

/// `linux`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LinuxSpec {
    pub devices: Option<Value>,
    pub net_devices: Option<Value>,
    #[serde(default, rename = "uidMappings")]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default, rename = "gidMappings")]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(default)]
    pub namespaces: Vec<NamespaceSpec>,
    pub resources: Option<Resources>,
    pub cgroups_path: Option<String>,
    pub rootfs_propagation: Option<String>,
    /// Kept raw: its listener fields are refused before the rest is read
    /// as the decision's `Seccomp`.
    pub seccomp: Option<Value>,
    pub sysctl: Option<Value>,
    #[serde(default)]
    pub masked_paths: Vec<String>,
    #[serde(default)]
    pub readonly_paths: Vec<String>,
    pub mount_label: Option<Value>,
    pub intel_rdt: Option<Value>,
    pub memory_policy: Option<Value>,
    pub personality: Option<Value>,
    pub time_offsets: Option<Value>,
}

/// `linux.namespaces[]`, with the type as text so that a type the
/// enforcer does not create (`time`) is refused by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamespaceSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: Option<String>,
}

/// Whether a raw field asks for nothing: `null`, `""`, `[]`, `{}`, or an
/// object whose every value asks for nothing (`"hooks": {"prestart": []}`).
pub(super) fn asks_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.values().all(asks_nothing),
        Value::Bool(_) | Value::Number(_) => false,
    }
}
