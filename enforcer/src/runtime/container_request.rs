//! The request a container's bundle makes (`enforcer runtime create`):
//! the tenant from the CRI annotations (the configured keys, else the
//! default tenant), labels from the allow-listed annotations and pod
//! labels, the user from `process.user`, the command from `process.args`,
//! the container (kind, id, pod, namespace, name, image) from the CRI
//! annotations, `linux.resources` as `requested` and the rest of `linux`
//! and `process` (namespaces with their paths, capabilities,
//! `noNewPrivileges`, rlimits, mounts, masked and read-only paths,
//! seccomp, devices) in decision shape as `requestedSpec`.
//!
//! Unlike `run --bundle` ([`crate::bundle`]), nothing the delegate honours
//! is refused here: the delegate runs the spec, so a field this mode does
//! not model (`hooks`, `linux.sysctl`, `process.apparmorProfile`) is kept
//! in the spec and shown to the policy only where it has a request field.

use std::path::Path;

use policy_sdk::{Host, Request};
use serde_json::Value;

use super::RuntimeSettings;

/// containerd's container-type annotation (`sandbox` or `container`).
pub const CONTAINERD_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
/// CRI-O's container-type annotation (`sandbox` or `container`).
pub const CRIO_CONTAINER_TYPE: &str = "io.kubernetes.cri-o.ContainerType";

/// A spec that cannot be read as a request; names `config.json` and the
/// JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{config}: {field}: {message}")]
pub struct SpecError {
    /// The bundle's `config.json`.
    pub config: String,
    /// The JSON path (`process.user.uid`), or `` for the whole file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The request for container `id` whose bundle at `bundle` (absolute)
/// has the spec `spec` (its `config.json`, parsed): `host` is this
/// machine's facts, `executable` resolved inside the spec's root. The
/// tenant is the first of `settings.tenant_annotations` present, else
/// `settings.default_tenant` (the caller checks it against the config).
pub fn build(
    spec: &Value,
    id: &str,
    bundle: &Path,
    settings: &RuntimeSettings,
    host: Host,
) -> Result<Request, SpecError> {
    let _ = (spec, id, bundle, settings, host);
    Err(SpecError {
        config: String::new(),
        field: String::new(),
        message: "runtime::container_request::build: not built yet".to_string(),
    })
}
