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
//!
//! The request is information for the policy, so it is lenient: a field
//! the enforcer's types do not know (a newer runtime spec's) is dropped
//! from what the policy sees, with a warning; a namespace type it does not
//! model (`time`), a mount or a seccomp profile it cannot read are left
//! out, with a warning. Only a field it reads with the wrong JSON type
//! (`process.args` not a list of strings, `process.user.uid` not a
//! number) is an error, and an invalid tenant name.
//!
//! `requestedSpec` has no `root`: the container's root is its image's and
//! a decision cannot change it in runtime mode ([`super::patch`]); the
//! executable is resolved inside it here.
//!
//! The CRI annotations read (containerd 2.x `internal/cri/annotations`,
//! the same keys as 1.6/1.7 `pkg/cri/annotations`; CRI-O
//! `internal/annotations` and the kubelet labels it copies into the spec's
//! annotations, `k8s.io/kubelet/pkg/types/labels.go`):
//!
//! | field | containerd | CRI-O |
//! |---|---|---|
//! | kind | `io.kubernetes.cri.container-type` | `io.kubernetes.cri-o.ContainerType` |
//! | namespace | `io.kubernetes.cri.sandbox-namespace` | `io.kubernetes.pod.namespace` |
//! | pod | `io.kubernetes.cri.sandbox-name` | `io.kubernetes.pod.name` |
//! | podUid | `io.kubernetes.cri.sandbox-uid` | `io.kubernetes.pod.uid` |
//! | sandboxId | `io.kubernetes.cri.sandbox-id` | `io.kubernetes.cri-o.SandboxID` |
//! | name | `io.kubernetes.cri.container-name` (containers only) | `io.kubernetes.container.name` |
//! | image | `io.kubernetes.cri.image-name`, a sandbox's `io.kubernetes.cri.podsandbox.image-name` | `io.kubernetes.cri-o.ImageName` |
//!
//! CRI-O also writes the container's CRI labels as a JSON object in
//! `io.kubernetes.cri-o.Labels` (for a sandbox: the pod's labels; for a
//! workload container: the labels kubelet gives it).

use std::collections::BTreeMap;
use std::path::Path;

use policy_model::{
    Capabilities, Decision, IdMapping, Mount, Namespace, NamespaceType, Process, ProcessUser,
    Resources, Rlimit, Seccomp,
};
use policy_sdk::{Container, ContainerKind, Host, Request, User};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::RuntimeSettings;
use crate::request::executable::{Lookup, resolve};

/// containerd's container-type annotation (`sandbox` or `container`).
pub const CONTAINERD_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
/// CRI-O's container-type annotation (`sandbox` or `container`).
pub const CRIO_CONTAINER_TYPE: &str = "io.kubernetes.cri-o.ContainerType";
/// containerd's pod name annotation.
pub const CONTAINERD_POD: &str = "io.kubernetes.cri.sandbox-name";
/// CRI-O's pod name (kubelet's label, copied into the annotations).
pub const CRIO_POD: &str = "io.kubernetes.pod.name";
/// containerd's pod uid annotation.
pub const CONTAINERD_POD_UID: &str = "io.kubernetes.cri.sandbox-uid";
/// CRI-O's pod uid (kubelet's label).
pub const CRIO_POD_UID: &str = "io.kubernetes.pod.uid";
/// containerd's sandbox id annotation.
pub const CONTAINERD_SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
/// CRI-O's sandbox id annotation.
pub const CRIO_SANDBOX_ID: &str = "io.kubernetes.cri-o.SandboxID";
/// containerd's container name annotation (workload containers only).
pub const CONTAINERD_NAME: &str = "io.kubernetes.cri.container-name";
/// CRI-O's container name (kubelet's label; `POD` for a sandbox).
pub const CRIO_NAME: &str = "io.kubernetes.container.name";
/// containerd's image annotation (workload containers).
pub const CONTAINERD_IMAGE: &str = "io.kubernetes.cri.image-name";
/// containerd's image annotation for a sandbox (the pause image).
pub const CONTAINERD_SANDBOX_IMAGE: &str = "io.kubernetes.cri.podsandbox.image-name";
/// CRI-O's image annotation.
pub const CRIO_IMAGE: &str = "io.kubernetes.cri-o.ImageName";
/// CRI-O's CRI labels, a JSON object in a string.
pub const CRIO_LABELS: &str = "io.kubernetes.cri-o.Labels";

/// The annotations copied into the request's `annotations` (the CRI ones
/// this module reads; CRI-O's others hold large JSON blobs).
pub const CRI_ANNOTATIONS: [&str; 16] = [
    CONTAINERD_CONTAINER_TYPE,
    super::settings::CONTAINERD_NAMESPACE,
    CONTAINERD_POD,
    CONTAINERD_POD_UID,
    CONTAINERD_SANDBOX_ID,
    CONTAINERD_NAME,
    CONTAINERD_IMAGE,
    CONTAINERD_SANDBOX_IMAGE,
    CRIO_CONTAINER_TYPE,
    super::settings::CRIO_NAMESPACE,
    CRIO_POD,
    CRIO_POD_UID,
    CRIO_SANDBOX_ID,
    CRIO_NAME,
    CRIO_IMAGE,
    CRIO_LABELS,
];

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
    build_with_warnings(spec, id, bundle, settings, host).map(|(request, _)| request)
}

/// [`build`], with what was left out of the request, one sentence each
/// (for the runtime's log).
pub fn build_with_warnings(
    spec: &Value,
    id: &str,
    bundle: &Path,
    settings: &RuntimeSettings,
    host: Host,
) -> Result<(Request, Vec<String>), SpecError> {
    let mut reader = Reader {
        config: bundle.join("config.json").display().to_string(),
        warnings: Vec::new(),
    };
    if !spec.is_object() {
        return Err(reader.error("", "a config.json must be a JSON object"));
    }
    let annotations: BTreeMap<String, String> =
        reader.strict(spec, &["annotations"])?.unwrap_or_default();
    let tenant = reader.tenant(&annotations, settings)?;
    let container = container(id, &annotations);
    let labels = reader.labels(&annotations, settings);
    let kept: BTreeMap<String, String> = annotations
        .iter()
        .filter(|(key, _)| CRI_ANNOTATIONS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let command: Vec<String> = reader
        .strict(spec, &["process", "args"])?
        .unwrap_or_default();
    let terminal: bool = reader
        .strict(spec, &["process", "terminal"])?
        .unwrap_or(false);
    let uid: u32 = reader
        .strict(spec, &["process", "user", "uid"])?
        .unwrap_or(0);
    let gid: u32 = reader
        .strict(spec, &["process", "user", "gid"])?
        .unwrap_or(0);
    let requested: Option<Resources> = reader.lenient(spec, &["linux", "resources"])?;
    let decision = reader.decision(spec)?;
    let root: Option<String> = reader.strict(spec, &["root", "path"])?;
    let executable = command.first().and_then(|program| {
        let root = root.as_deref().map(|root| bundle.join(root));
        let root = root.as_deref().and_then(Path::to_str);
        let process = decision.process.as_ref();
        let path = process
            .and_then(|process| {
                process
                    .env
                    .iter()
                    .rev()
                    .find_map(|entry| entry.strip_prefix("PATH="))
            })
            .unwrap_or(crate::decision::normal::DEFAULT_PATH);
        let cwd = process
            .and_then(|process| process.cwd.as_deref())
            .unwrap_or("/");
        resolve(
            program,
            &Lookup {
                root,
                path,
                cwd: Some(cwd),
            },
        )
    });
    let request = Request {
        id: id.to_string(),
        tenant,
        user: User {
            uid,
            gid,
            name: None,
        },
        command,
        executable,
        labels,
        annotations: kept,
        requested,
        requested_spec: Some(Box::new(decision)),
        cwd: None,
        host,
        container: Some(container),
        terminal,
        previous: None,
        settings: None,
    };
    Ok((request, reader.warnings))
}

/// The annotation `key`, when set and not empty.
fn annotation<'a>(annotations: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    annotations
        .get(key)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
}

fn container(id: &str, annotations: &BTreeMap<String, String>) -> Container {
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|key| annotation(annotations, key))
            .map(str::to_string)
    };
    let kind = match first(&[CONTAINERD_CONTAINER_TYPE, CRIO_CONTAINER_TYPE]).as_deref() {
        Some("sandbox") => ContainerKind::Sandbox,
        _ => ContainerKind::Container,
    };
    Container {
        id: id.to_string(),
        kind,
        namespace: first(&[
            super::settings::CONTAINERD_NAMESPACE,
            super::settings::CRIO_NAMESPACE,
        ]),
        pod: first(&[CONTAINERD_POD, CRIO_POD]),
        pod_uid: first(&[CONTAINERD_POD_UID, CRIO_POD_UID]),
        sandbox_id: first(&[CONTAINERD_SANDBOX_ID, CRIO_SANDBOX_ID]),
        name: first(&[CONTAINERD_NAME, CRIO_NAME]),
        image: first(&[CONTAINERD_IMAGE, CONTAINERD_SANDBOX_IMAGE, CRIO_IMAGE]),
    }
}

/// One build's context: where errors point, what it warns about.
struct Reader {
    config: String,
    warnings: Vec<String>,
}

fn dotted(path: &[&str]) -> String {
    path.join(".")
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut value = value;
    for key in path {
        value = value.get(key)?;
    }
    (!value.is_null()).then_some(value)
}

/// The name of the field an "unknown field `x`, expected ..." message
/// names.
fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
}

impl Reader {
    fn error(&self, field: impl Into<String>, message: impl Into<String>) -> SpecError {
        SpecError {
            config: self.config.clone(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn warn(&mut self, message: String) {
        self.warnings.push(format!("{}: {message}", self.config));
    }

    /// The value at `path` as `T`; a wrong type is an error.
    fn strict<T: DeserializeOwned>(
        &self,
        spec: &Value,
        path: &[&str],
    ) -> Result<Option<T>, SpecError> {
        let Some(value) = at(spec, path) else {
            return Ok(None);
        };
        serde_path_to_error::deserialize(value.clone())
            .map(Some)
            .map_err(|err| {
                let inner = err.path().to_string();
                let field = if inner == "." {
                    dotted(path)
                } else {
                    format!("{}.{inner}", dotted(path))
                };
                self.error(field, err.inner().to_string())
            })
    }

    /// The value at `path` as `T`, fields `T` does not know dropped with a
    /// warning; a wrong type of a known field is an error.
    fn lenient<T: DeserializeOwned>(
        &mut self,
        spec: &Value,
        path: &[&str],
    ) -> Result<Option<T>, SpecError> {
        let Some(value) = at(spec, path) else {
            return Ok(None);
        };
        let mut value = value.clone();
        // Each round drops one unknown field; a spec has few.
        for _ in 0..256 {
            let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
                Ok(parsed) => return Ok(Some(parsed)),
                Err(err) => err,
            };
            let message = err.inner().to_string();
            let inner = err.path().to_string();
            let field = if inner == "." {
                dotted(path)
            } else {
                format!("{}.{inner}", dotted(path))
            };
            let Some(name) = unknown_field(&message).map(str::to_string) else {
                return Err(self.error(field, message));
            };
            let mut segments: Vec<serde_path_to_error::Segment> =
                err.path().iter().cloned().collect();
            if matches!(segments.last(), Some(serde_path_to_error::Segment::Map { key }) if *key == name)
            {
                segments.pop();
            }
            let mut target = &mut value;
            for segment in &segments {
                target = match segment {
                    serde_path_to_error::Segment::Seq { index } => match target.get_mut(*index) {
                        Some(next) => next,
                        None => return Err(self.error(field, message)),
                    },
                    serde_path_to_error::Segment::Map { key } => match target.get_mut(key) {
                        Some(next) => next,
                        None => return Err(self.error(field, message)),
                    },
                    _ => return Err(self.error(field, message)),
                };
            }
            match target.as_object_mut().and_then(|map| map.remove(&name)) {
                Some(_) => self.warn(format!(
                    "{}: the field {name:?} is unknown to the enforcer and not shown to the policy",
                    if inner == "." || inner.ends_with(&name) {
                        dotted(path)
                    } else {
                        format!("{}.{inner}", dotted(path))
                    }
                )),
                None => return Err(self.error(field, message)),
            }
        }
        Err(self.error(dotted(path), "too many unknown fields"))
    }

    fn tenant(
        &self,
        annotations: &BTreeMap<String, String>,
        settings: &RuntimeSettings,
    ) -> Result<Option<String>, SpecError> {
        for key in &settings.tenant_annotations {
            if let Some(value) = annotation(annotations, key) {
                if let Err(err) = crate::request::check_tenant(value) {
                    return Err(self.error(
                        format!("annotations[{key}]"),
                        format!("{err:#} (it names the tenant)"),
                    ));
                }
                return Ok(Some(value.to_string()));
            }
        }
        Ok(settings.default_tenant.clone())
    }

    fn labels(
        &mut self,
        annotations: &BTreeMap<String, String>,
        settings: &RuntimeSettings,
    ) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = settings
            .label_annotations
            .iter()
            .filter_map(|key| Some((key.clone(), annotations.get(key)?.clone())))
            .collect();
        if settings.pod_labels.is_empty() {
            return labels;
        }
        let Some(text) = annotation(annotations, CRIO_LABELS) else {
            return labels;
        };
        match serde_json::from_str::<BTreeMap<String, Value>>(text) {
            Ok(pod) => {
                for key in &settings.pod_labels {
                    if let Some(Value::String(value)) = pod.get(key) {
                        labels.insert(key.clone(), value.clone());
                    }
                }
            }
            Err(err) => self.warn(format!(
                "annotations[{CRIO_LABELS}] is not a JSON object of strings ({err}); no pod labels"
            )),
        }
        labels
    }

    /// `process` and `linux` (but `resources`) in decision shape.
    fn decision(&mut self, spec: &Value) -> Result<Decision, SpecError> {
        let mut decision = Decision {
            allow: true,
            hostname: self.strict(spec, &["hostname"])?,
            domainname: self.strict(spec, &["domainname"])?,
            ..Decision::default()
        };
        if let Some(items) = at(spec, &["linux", "namespaces"]) {
            let Some(items) = items.as_array() else {
                return Err(self.error("linux.namespaces", "is not an array"));
            };
            for (index, item) in items.iter().enumerate() {
                let kind = item.get("type").and_then(Value::as_str).ok_or_else(|| {
                    self.error(
                        format!("linux.namespaces[{index}].type"),
                        "must be a string",
                    )
                })?;
                let Some(kind) = NamespaceType::ALL
                    .into_iter()
                    .find(|known| known.as_str() == kind)
                else {
                    self.warn(format!(
                        "linux.namespaces[{index}]: the {kind:?} namespace is not shown to the policy (the enforcer does not model it)"
                    ));
                    continue;
                };
                let path = item
                    .get("path")
                    .and_then(Value::as_str)
                    .filter(|path| !path.is_empty())
                    .map(str::to_string);
                decision.namespaces.push(Namespace { kind, path });
            }
        }
        decision.uid_mappings = self
            .lenient::<Vec<IdMapping>>(spec, &["linux", "uidMappings"])?
            .unwrap_or_default();
        decision.gid_mappings = self
            .lenient::<Vec<IdMapping>>(spec, &["linux", "gidMappings"])?
            .unwrap_or_default();
        decision.masked_paths = self
            .strict(spec, &["linux", "maskedPaths"])?
            .unwrap_or_default();
        decision.readonly_paths = self
            .strict(spec, &["linux", "readonlyPaths"])?
            .unwrap_or_default();
        if let Some(process) = at(spec, &["process"]) {
            decision.process = Some(self.process(process)?);
        }
        if let Some(mounts) = at(spec, &["mounts"]) {
            let Some(mounts) = mounts.as_array() else {
                return Err(self.error("mounts", "is not an array"));
            };
            for (index, mount) in mounts.iter().enumerate() {
                match serde_json::from_value::<Mount>(mount.clone()) {
                    Ok(mount) => decision.mounts.push(mount),
                    Err(err) => self.warn(format!(
                        "mounts[{index}] is not shown to the policy ({err})"
                    )),
                }
            }
        }
        if let Some(seccomp) = at(spec, &["linux", "seccomp"]) {
            match serde_json::from_value::<Seccomp>(seccomp.clone()) {
                Ok(profile) => decision.seccomp = Some(profile),
                Err(err) => self.warn(format!("linux.seccomp is not shown to the policy ({err})")),
            }
        }
        Ok(decision)
    }

    fn process(&mut self, process: &Value) -> Result<Process, SpecError> {
        let wrap = |value: &Value| serde_json::json!({ "process": value });
        let spec = wrap(process);
        let user = match at(&spec, &["process", "user"]) {
            None => None,
            Some(_) => Some(ProcessUser {
                uid: self
                    .strict(&spec, &["process", "user", "uid"])?
                    .unwrap_or(0),
                gid: self
                    .strict(&spec, &["process", "user", "gid"])?
                    .unwrap_or(0),
                umask: self.strict(&spec, &["process", "user", "umask"])?,
                additional_gids: self
                    .strict(&spec, &["process", "user", "additionalGids"])?
                    .unwrap_or_default(),
            }),
        };
        let rlimits = self
            .lenient::<Vec<Rlimit>>(&spec, &["process", "rlimits"])?
            .unwrap_or_default();
        Ok(Process {
            user,
            capabilities: self.lenient::<Capabilities>(&spec, &["process", "capabilities"])?,
            no_new_privileges: self.strict(&spec, &["process", "noNewPrivileges"])?,
            rlimits,
            env: self.strict(&spec, &["process", "env"])?.unwrap_or_default(),
            cwd: self.strict(&spec, &["process", "cwd"])?,
        })
    }
}

#[cfg(test)]
mod tests;
