//! A platform policy for the Kubernetes path (`enforcer runtime`): the Pod
//! Security Standards' **baseline** profile, checked on what the container
//! runtime hands to runc, one container at a time (`request.container()`).
//! Requests that are not a container runtime's (`enforcer run`, `eval`)
//! are denied: this policy decides containers only.
//!
//! The rules, each named in the denial (`pss-baseline: RULE: why`):
//!
//! | rule | denied when the spec has |
//! |---|---|
//! | `privileged` | a capability in any set outside [`BASELINE_CAPABILITIES`] (and the setting `allowedCapabilities`), or a device rule that allows every device (what `securityContext.privileged: true` gives) |
//! | `hostNamespaces` | no `network`, `pid` or `ipc` namespace entry (the host's: `hostNetwork`, `hostPID`, `hostIPC`), or a join of the host's own (`/proc/1/ns/...`) |
//! | `hostPathVolumes` | a bind mount whose source is outside the runtime's and kubelet's own directories for this pod (`allowedBindSources`) |
//! | `procMount` | a container (not a sandbox) with no masked paths: an unmasked `/proc` (`procMount: Unmasked`), allowed in a pod with a user namespace of its own, as Kubernetes 1.35 does |
//!
//! Joins by path of the pod's namespaces (a container in its sandbox's
//! network, ipc, uts, or pid with `shareProcessNamespace`) are the pod's,
//! not the host's, and fine. A pod's sandbox (pause) container gets new
//! namespaces from kubelet, so a missing entry is the host's there too.
//!
//! Capabilities in [`RUNTIME_DEFAULT_EXTRA`] (`CAP_NET_RAW`) are in
//! containerd's default set but not in the baseline's list of what a pod
//! may **add**; the runtime cannot tell a default from an `add`, so they are
//! dropped from the container (setting `droppedCapabilities`), not denied:
//! a pod that asks for nothing runs, as the baseline profile allows.
//!
//! What a runtime cannot see, and so is not checked here (the admission
//! controller's part): `hostPort` (CNI's port mapping), `sysctls`
//! (`linux.sysctl` is not in the request), AppArmor and SELinux options,
//! Windows `hostProcess`, host probes; and a seccomp profile explicitly
//! `Unconfined`, which the spec shows exactly as an unset profile (no
//! `linux.seccomp`), which the baseline allows.
//!
//! The allow keeps the spec's namespaces (joins included), its user,
//! `noNewPrivileges`, rlimits and capabilities (less the dropped ones), and
//! sets nothing else: the tenant's policy and ceilings come after it.
//!
//! Settings:
//!
//! | setting | default | meaning |
//! |---|---|---|
//! | `exemptNamespaces` | `[]` | Kubernetes namespaces whose containers are not checked (`["kube-system"]`) |
//! | `allowedCapabilities` | `[]` | capabilities allowed beyond [`BASELINE_CAPABILITIES`] (`CAP_NET_ADMIN` for a CNI's pods; better exempt their namespace) |
//! | `droppedCapabilities` | `["CAP_NET_RAW"]` | capabilities taken from every container instead of denied |
//! | `allowedBindSources` | [`DEFAULT_BIND_SOURCES`] | prefixes of the bind sources that are not host paths; `{podUid}`, `{sandboxId}` and `{id}` stand for the container's |

use policy_sdk::{
    Capabilities, Container, ContainerKind, Decision, DeviceRule, DeviceType, EvaluationError,
    NamespaceType, Process, ProcessUser, Request, export_policy, log,
};
use serde::Deserialize;

/// The capabilities the baseline profile lets a container have (its list
/// of what `capabilities.add` may name), with the `CAP_` prefix a spec
/// uses.
pub const BASELINE_CAPABILITIES: [&str; 13] = [
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Capabilities in containerd's default set that the baseline does not
/// list: dropped by default rather than denied.
pub const RUNTIME_DEFAULT_EXTRA: [&str; 1] = ["CAP_NET_RAW"];

/// The bind sources that are the runtime's and kubelet's own, not host
/// paths (kubelet's default `--root-dir`, containerd's and CRI-O's default
/// state directories):
///
/// * `/var/lib/kubelet/pods/{podUid}/`: the pod's volumes (`emptyDir`,
///   `configMap`, `secret`, `projected`, `downwardAPI`, persistent volumes
///   and CSI volumes are mounted there first), its `etc-hosts` and each
///   container's termination log;
/// * containerd's sandbox directories (`hostname`, `resolv.conf`, `shm`),
///   under `/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/` and
///   `/run/containerd/io.containerd.grpc.v1.cri/sandboxes/`, its
///   container directory (the volumes an image declares, `VOLUME`) and the
///   pod's `image` volumes (`/run/.../image-volumes/<sandbox id>/`);
/// * CRI-O's (`hostname`, `resolv.conf`, `shm`, `.containerenv`) under
///   `/run/containers/storage/overlay-containers/` and
///   `/var/lib/containers/storage/overlay-containers/`, the sandbox's and
///   the container's own.
pub const DEFAULT_BIND_SOURCES: [&str; 9] = [
    "/var/lib/kubelet/pods/{podUid}/",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{sandboxId}/",
    "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/{sandboxId}/",
    "/var/lib/containerd/io.containerd.grpc.v1.cri/containers/{id}/",
    "/run/containerd/io.containerd.grpc.v1.cri/image-volumes/{sandboxId}/",
    "/run/containers/storage/overlay-containers/{sandboxId}/userdata/",
    "/run/containers/storage/overlay-containers/{id}/userdata/",
    "/var/lib/containers/storage/overlay-containers/{sandboxId}/userdata/",
    "/var/lib/containers/storage/overlay-containers/{id}/userdata/",
];

/// What the operator configures (`[[platform]] settings`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// Kubernetes namespaces not checked.
    pub exempt_namespaces: Vec<String>,
    /// Capabilities allowed beyond the baseline's.
    pub allowed_capabilities: Vec<String>,
    /// Capabilities taken away instead of denied.
    pub dropped_capabilities: Vec<String>,
    /// Prefixes of bind sources that are not host paths.
    pub allowed_bind_sources: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            exempt_namespaces: Vec::new(),
            allowed_capabilities: Vec::new(),
            dropped_capabilities: RUNTIME_DEFAULT_EXTRA.map(String::from).to_vec(),
            allowed_bind_sources: DEFAULT_BIND_SOURCES.map(String::from).to_vec(),
        }
    }
}

/// The settings check (`enforcer config check`, `enforcer test`).
pub fn check_settings(settings: &Settings) -> Result<(), String> {
    for name in settings
        .allowed_capabilities
        .iter()
        .chain(&settings.dropped_capabilities)
    {
        let valid = name.strip_prefix("CAP_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|byte| byte.is_ascii_uppercase() || byte == b'_')
        });
        if !valid {
            return Err(format!(
                "{name:?} is not a capability name such as \"CAP_NET_ADMIN\""
            ));
        }
    }
    for prefix in &settings.allowed_bind_sources {
        if !prefix.starts_with('/') || prefix.split('/').any(|part| part == "..") {
            return Err(format!(
                "allowedBindSources: {prefix:?} is not an absolute path without \"..\""
            ));
        }
    }
    Ok(())
}

/// Evaluates a request.
pub fn evaluate(request: &Request) -> Result<Decision, EvaluationError> {
    let settings: Settings = request.settings()?;
    check_settings(&settings)
        .map_err(|message| EvaluationError::new(format!("settings: {message}")))?;
    let Some(container) = request.container() else {
        return Ok(Decision::deny(
            "pss-baseline: decides containers a runtime creates (enforcer runtime) only",
        ));
    };
    let name = describe(container);
    let spec = request.requested_spec.as_deref();
    if let Some(namespace) = &container.namespace
        && settings.exempt_namespaces.contains(namespace)
    {
        log!("pss-baseline: {name}: namespace {namespace} is exempt");
        return Ok(as_requested(request, spec, &[]));
    }
    if let Err(reason) = check(request, container, spec, &settings) {
        log!(Warn: "pss-baseline: {name}: denied: {reason}");
        return Ok(Decision::deny(format!("pss-baseline: {reason}")));
    }
    let dropped = &settings.dropped_capabilities;
    let decision = as_requested(request, spec, dropped);
    let lost: Vec<&str> = spec
        .and_then(|spec| spec.process.as_ref()?.capabilities.as_ref())
        .map(|caps| {
            dropped
                .iter()
                .filter(|name| all_sets(caps).any(|given| given == *name))
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default();
    if lost.is_empty() {
        log!("pss-baseline: {name}: allowed");
    } else {
        log!("pss-baseline: {name}: allowed without {}", lost.join(", "));
    }
    Ok(decision.reason("pss-baseline"))
}

/// The first rule the container breaks, as `RULE: why`.
fn check(
    request: &Request,
    container: &Container,
    spec: Option<&Decision>,
    settings: &Settings,
) -> Result<(), String> {
    // Privileged: capabilities beyond the baseline's, every device.
    if let Some(caps) = spec.and_then(|spec| spec.process.as_ref()?.capabilities.as_ref()) {
        let allowed = |name: &str| {
            BASELINE_CAPABILITIES.contains(&name)
                || settings.allowed_capabilities.iter().any(|cap| cap == name)
                || settings.dropped_capabilities.iter().any(|cap| cap == name)
        };
        let beyond: Vec<&str> = {
            let mut names: Vec<&str> = Vec::new();
            for name in all_sets(caps) {
                if !allowed(name) && !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        };
        if let Some(first) = beyond.first() {
            let named = if beyond.contains(&"CAP_SYS_ADMIN") {
                "CAP_SYS_ADMIN"
            } else {
                first
            };
            let more = match beyond.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            return Err(format!(
                "privileged: capability {named} is not in the baseline set{more}"
            ));
        }
    }
    let devices = request
        .requested
        .as_ref()
        .map(|resources| resources.devices.as_slice())
        .unwrap_or_default();
    if allows_every_device(devices) {
        return Err(
            "privileged: every device is allowed (securityContext.privileged: true)".into(),
        );
    }
    // Host namespaces.
    let namespaces = spec
        .map(|spec| spec.namespaces.as_slice())
        .unwrap_or_default();
    for (kind, field) in [
        (NamespaceType::Network, "hostNetwork"),
        (NamespaceType::Pid, "hostPID"),
        (NamespaceType::Ipc, "hostIPC"),
    ] {
        match namespaces.iter().find(|namespace| namespace.kind == kind) {
            None => {
                return Err(format!(
                    "hostNamespaces: the host's {kind} namespace ({field}: true)"
                ));
            }
            Some(namespace) => {
                if let Some(path) = &namespace.path
                    && is_host_namespace_path(path)
                {
                    return Err(format!(
                        "hostNamespaces: joins the host's {kind} namespace at {path:?}"
                    ));
                }
            }
        }
    }
    // Host paths.
    if let Some(spec) = spec {
        for mount in spec.mounts.iter().filter(|mount| mount.is_bind()) {
            let source = mount.source.as_deref().unwrap_or_default();
            if !settings
                .allowed_bind_sources
                .iter()
                .any(|prefix| is_under(source, prefix, container))
            {
                return Err(format!(
                    "hostPathVolumes: {:?} is bound from the host's {source:?}",
                    mount.destination
                ));
            }
        }
    }
    // An unmasked /proc.
    let own_user_namespace = namespaces
        .iter()
        .any(|namespace| namespace.kind == NamespaceType::User);
    if container.kind == ContainerKind::Container
        && !own_user_namespace
        && spec.is_some_and(|spec| spec.masked_paths.is_empty())
    {
        return Err("procMount: /proc is unmasked (procMount: Unmasked)".into());
    }
    Ok(())
}

/// Every capability name of every set, in order, with repeats.
fn all_sets(caps: &Capabilities) -> impl Iterator<Item = &str> {
    caps.bounding
        .iter()
        .chain(&caps.effective)
        .chain(&caps.inheritable)
        .chain(&caps.permitted)
        .chain(&caps.ambient)
        .map(String::as_str)
}

/// Whether the rules, in order (later wins), leave every device allowed:
/// an allow of every device that no later rule narrows.
fn allows_every_device(rules: &[DeviceRule]) -> bool {
    let any = |number: Option<i64>| matches!(number, None | Some(-1));
    let everything = |rule: &DeviceRule| {
        matches!(rule.kind, None | Some(DeviceType::All)) && any(rule.major) && any(rule.minor)
    };
    rules
        .iter()
        .rposition(|rule| rule.allow && everything(rule))
        .is_some_and(|index| rules[index + 1..].iter().all(|rule| rule.allow))
}

/// A namespace path that names the host's own (pid 1's).
fn is_host_namespace_path(path: &str) -> bool {
    path.starts_with("/proc/1/ns/")
}

/// Whether `source` is a plain absolute path below `prefix`, with the
/// container's values put in for `{podUid}`, `{sandboxId}` and `{id}` (a
/// prefix naming one the container does not have matches nothing).
fn is_under(source: &str, prefix: &str, container: &Container) -> bool {
    let plain = source.starts_with('/')
        && source[1..]
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !plain {
        return false;
    }
    let mut prefix = prefix.to_string();
    for (placeholder, value) in [
        ("{podUid}", container.pod_uid.as_deref()),
        ("{sandboxId}", container.sandbox_id.as_deref()),
        ("{id}", Some(container.id.as_str())),
    ] {
        if prefix.contains(placeholder) {
            match value.filter(|value| is_plain_component(value)) {
                Some(value) => prefix = prefix.replace(placeholder, value),
                None => return false,
            }
        }
    }
    let directory = prefix.trim_end_matches('/');
    source
        .strip_prefix(directory)
        .is_some_and(|rest| rest.starts_with('/'))
}

fn is_plain_component(value: &str) -> bool {
    !value.is_empty() && value != "." && value != ".." && !value.contains('/')
}

/// The container's spec as its decision: its namespaces, user,
/// `noNewPrivileges`, rlimits and capabilities (less `dropped`).
fn as_requested(request: &Request, spec: Option<&Decision>, dropped: &[String]) -> Decision {
    let mut decision = Decision::allow();
    let asked = spec.and_then(|spec| spec.process.as_ref());
    if let Some(spec) = spec {
        decision.namespaces = spec.namespaces.clone();
        if spec
            .namespaces
            .iter()
            .any(|namespace| namespace.kind == NamespaceType::User && namespace.path.is_none())
        {
            decision.uid_mappings = spec.uid_mappings.clone();
            decision.gid_mappings = spec.gid_mappings.clone();
        }
    }
    let keep = |set: &[String]| -> Vec<String> {
        set.iter()
            .filter(|name| !dropped.contains(name))
            .cloned()
            .collect()
    };
    let wanted = asked
        .and_then(|process| process.capabilities.clone())
        .unwrap_or_default();
    decision.process = Some(Process {
        user: asked
            .and_then(|process| process.user.clone())
            .or(Some(ProcessUser {
                uid: request.user.uid,
                gid: request.user.gid,
                umask: None,
                additional_gids: Vec::new(),
            })),
        capabilities: Some(Capabilities {
            bounding: keep(&wanted.bounding),
            effective: keep(&wanted.effective),
            inheritable: keep(&wanted.inheritable),
            permitted: keep(&wanted.permitted),
            ambient: keep(&wanted.ambient),
        }),
        no_new_privileges: asked.and_then(|process| process.no_new_privileges),
        rlimits: asked
            .map(|process| process.rlimits.clone())
            .unwrap_or_default(),
        env: Vec::new(),
        cwd: None,
    });
    decision
}

/// `container nginx of pod team-a/web-0`, for log lines.
fn describe(container: &Container) -> String {
    let kind = match container.kind {
        ContainerKind::Sandbox => "sandbox",
        ContainerKind::Container => "container",
    };
    let name = container.name.as_deref().unwrap_or(container.id.as_str());
    match (&container.namespace, &container.pod) {
        (Some(namespace), Some(pod)) => format!("{kind} {name} of pod {namespace}/{pod}"),
        _ => format!("{kind} {name}"),
    }
}

export_policy!(evaluate, validate_settings = check_settings);

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::decision::Mount;
    use policy_sdk::testing::{
        RequestBuilder, assert_allowed, assert_denied, assert_settings_invalid,
        assert_settings_valid, request,
    };
    use policy_sdk::{CONTAINER_CAPABILITIES, OCI_MASKED_PATHS, Resources};
    use serde_json::json;

    const POD_UID: &str = "8c2f5d0e-1b7a-4c1e-9a51-3f0d2b7c9e11";
    const SANDBOX_ID: &str = "5a1d0c";
    const SANDBOX_NS: &str = "/proc/4242/ns";

    fn container(kind: ContainerKind, namespace: &str) -> Container {
        Container {
            id: if kind == ContainerKind::Sandbox {
                SANDBOX_ID.into()
            } else {
                "c0ffee".into()
            },
            kind,
            namespace: Some(namespace.into()),
            pod: Some("web-0".into()),
            pod_uid: Some(POD_UID.into()),
            sandbox_id: Some(SANDBOX_ID.into()),
            name: Some("nginx".into()),
            image: Some("docker.io/library/nginx:1.27".into()),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    fn bind(destination: &str, source: &str) -> Mount {
        Mount {
            destination: destination.into(),
            kind: Some("bind".into()),
            source: Some(source.into()),
            options: names(&["rbind", "rprivate", "rw"]),
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        }
    }

    /// A workload container's spec as containerd writes it: the pod's
    /// network, ipc and uts joined, its own pid, mount and cgroup
    /// namespaces, containerd's default capabilities, the pod's volumes.
    fn app_spec() -> Decision {
        let caps = names(&CONTAINER_CAPABILITIES);
        let mut spec = Decision::allow()
            .namespace(NamespaceType::Pid)
            .join_namespace(NamespaceType::Ipc, format!("{SANDBOX_NS}/ipc"))
            .join_namespace(NamespaceType::Uts, format!("{SANDBOX_NS}/uts"))
            .namespace(NamespaceType::Mount)
            .join_namespace(NamespaceType::Network, format!("{SANDBOX_NS}/net"))
            .namespace(NamespaceType::Cgroup);
        let sandbox_dir =
            format!("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/{SANDBOX_ID}");
        let pod_dir = format!("/var/lib/kubelet/pods/{POD_UID}");
        spec.mounts = vec![
            bind("/etc/hosts", &format!("{pod_dir}/etc-hosts")),
            bind(
                "/dev/termination-log",
                &format!("{pod_dir}/containers/nginx/1a2b3c"),
            ),
            bind("/etc/hostname", &format!("{sandbox_dir}/hostname")),
            bind("/etc/resolv.conf", &format!("{sandbox_dir}/resolv.conf")),
            bind(
                "/dev/shm",
                &format!("/run/containerd/io.containerd.grpc.v1.cri/sandboxes/{SANDBOX_ID}/shm"),
            ),
            bind(
                "/var/run/secrets/kubernetes.io/serviceaccount",
                &format!("{pod_dir}/volumes/kubernetes.io~projected/kube-api-access-x7k2p"),
            ),
        ];
        spec.masked_paths = names(&OCI_MASKED_PATHS);
        spec.process = Some(Process {
            user: Some(ProcessUser {
                uid: 0,
                gid: 0,
                umask: None,
                additional_gids: Vec::new(),
            }),
            capabilities: Some(Capabilities {
                bounding: caps.clone(),
                effective: caps.clone(),
                inheritable: Vec::new(),
                permitted: caps,
                ambient: Vec::new(),
            }),
            no_new_privileges: None,
            rlimits: Vec::new(),
            env: Vec::new(),
            cwd: None,
        });
        spec
    }

    fn app(spec: Decision) -> RequestBuilder {
        request()
            .user(0, 0)
            .tenant("team-a")
            .command(&["/docker-entrypoint.sh", "nginx"])
            .container(container(ContainerKind::Container, "team-a"))
            .requested_spec(spec)
    }

    fn with_caps(mut spec: Decision, extra: &[&str]) -> Decision {
        if let Some(caps) = spec
            .process
            .as_mut()
            .and_then(|process| process.capabilities.as_mut())
        {
            for name in extra {
                caps.bounding.push(name.to_string());
                caps.effective.push(name.to_string());
                caps.permitted.push(name.to_string());
            }
        }
        spec
    }

    #[test]
    fn a_normal_pod_container_runs_with_its_joins_and_without_net_raw() {
        let decision = assert_allowed(evaluate(&app(app_spec()).build()));
        assert_eq!(decision.namespaces, app_spec().namespaces);
        let caps = decision
            .process
            .and_then(|process| process.capabilities)
            .expect("capabilities");
        assert!(!caps.bounding.contains(&"CAP_NET_RAW".to_string()));
        assert!(caps.effective.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(caps.bounding.len(), CONTAINER_CAPABILITIES.len() - 1);
        assert!(decision.mounts.is_empty() && decision.resources.is_none());
    }

    #[test]
    fn a_capability_beyond_the_baseline_is_privileged() {
        assert_denied(
            evaluate(&app(with_caps(app_spec(), &["CAP_NET_ADMIN"])).build()),
            "pss-baseline: privileged: capability CAP_NET_ADMIN is not in the baseline set",
        );
        assert_denied(
            evaluate(
                &app(with_caps(
                    app_spec(),
                    &["CAP_DAC_READ_SEARCH", "CAP_SYS_ADMIN"],
                ))
                .build(),
            ),
            "pss-baseline: privileged: capability CAP_SYS_ADMIN is not in the baseline set (and 1 more)",
        );
        // Allowed by the operator.
        let settings = json!({ "allowedCapabilities": ["CAP_NET_ADMIN"] });
        assert_allowed(evaluate(
            &app(with_caps(app_spec(), &["CAP_NET_ADMIN"]))
                .settings(settings)
                .build(),
        ));
    }

    #[test]
    fn every_device_is_privileged() {
        let mut request = app(app_spec()).build();
        request.requested = Some(Resources {
            devices: vec![DeviceRule::deny_all(), DeviceRule::allow_all()],
            ..Resources::default()
        });
        assert_denied(evaluate(&request), "pss-baseline: privileged: every device");
        // A device plugin's device is not every device.
        let mut gpu = request.clone();
        gpu.requested = Some(Resources {
            devices: vec![
                DeviceRule::deny_all(),
                DeviceRule::allow_char(195, Some(0), "rw"),
            ],
            ..Resources::default()
        });
        assert_allowed(evaluate(&gpu));
    }

    #[test]
    fn host_namespaces_are_denied_and_the_pods_joins_are_not() {
        for (kind, field) in [
            (NamespaceType::Network, "hostNetwork"),
            (NamespaceType::Pid, "hostPID"),
            (NamespaceType::Ipc, "hostIPC"),
        ] {
            let mut spec = app_spec();
            spec.namespaces.retain(|namespace| namespace.kind != kind);
            assert_denied(
                evaluate(&app(spec).build()),
                &format!(
                    "pss-baseline: hostNamespaces: the host's {kind} namespace ({field}: true)"
                ),
            );
        }
        let spec = app_spec().join_namespace(NamespaceType::Network, "/proc/1/ns/net");
        assert_denied(
            evaluate(&app(spec).build()),
            "joins the host's network namespace",
        );
        // shareProcessNamespace: the sandbox's pid namespace, by path.
        let shared = app_spec().join_namespace(NamespaceType::Pid, format!("{SANDBOX_NS}/pid"));
        assert_allowed(evaluate(&app(shared).build()));
    }

    #[test]
    fn the_sandbox_gets_new_namespaces_and_a_host_network_sandbox_is_denied() {
        let mut spec = Decision::allow().namespaces([
            NamespaceType::Pid,
            NamespaceType::Ipc,
            NamespaceType::Uts,
            NamespaceType::Mount,
            NamespaceType::Network,
        ]);
        spec.process = Some(Process {
            user: Some(ProcessUser {
                uid: 65535,
                gid: 65535,
                umask: None,
                additional_gids: Vec::new(),
            }),
            no_new_privileges: Some(true),
            ..Process::default()
        });
        let sandbox = |spec: Decision| {
            request()
                .user(65535, 65535)
                .command(&["/pause"])
                .container(container(ContainerKind::Sandbox, "team-a"))
                .requested_spec(spec)
                .build()
        };
        // No masked paths: fine for a sandbox.
        let decision = assert_allowed(evaluate(&sandbox(spec.clone())));
        assert_eq!(decision.namespaces, spec.namespaces);
        let mut host = spec;
        host.namespaces
            .retain(|namespace| namespace.kind != NamespaceType::Network);
        assert_denied(evaluate(&sandbox(host)), "hostNetwork: true");
    }

    #[test]
    fn host_paths_are_denied_and_the_pods_own_volumes_are_not() {
        let mut spec = app_spec();
        spec.mounts.push(bind("/host", "/var/log"));
        assert_denied(
            evaluate(&app(spec).build()),
            "pss-baseline: hostPathVolumes: \"/host\" is bound from the host's \"/var/log\"",
        );
        // Another pod's volumes are a host path to this one.
        let mut other = app_spec();
        other.mounts.push(bind(
            "/steal",
            "/var/lib/kubelet/pods/0000-other/volumes/kubernetes.io~secret/token",
        ));
        assert_denied(evaluate(&app(other).build()), "hostPathVolumes");
        // Climbing out of the pod's directory is not in it.
        let mut climb = app_spec();
        climb.mounts.push(bind(
            "/etc2",
            &format!("/var/lib/kubelet/pods/{POD_UID}/../../../../etc"),
        ));
        assert_denied(evaluate(&app(climb).build()), "hostPathVolumes");
        // A volume the image declares, in containerd's container directory.
        let mut declared = app_spec();
        declared.mounts.push(bind(
            "/var/cache/nginx",
            "/var/lib/containerd/io.containerd.grpc.v1.cri/containers/c0ffee/volumes/5f2c",
        ));
        assert_allowed(evaluate(&app(declared).build()));
        // The operator's own prefix.
        let mut data = app_spec();
        data.mounts.push(bind("/data", "/srv/shared/data"));
        let mut sources = names(&DEFAULT_BIND_SOURCES);
        sources.push("/srv/shared".into());
        assert_allowed(evaluate(
            &app(data)
                .settings(json!({ "allowedBindSources": sources }))
                .build(),
        ));
    }

    #[test]
    fn an_unmasked_proc_is_denied_unless_the_pod_has_its_own_user_namespace() {
        let mut spec = app_spec();
        spec.masked_paths.clear();
        assert_denied(
            evaluate(&app(spec.clone()).build()),
            "pss-baseline: procMount: /proc is unmasked",
        );
        let mut userns = spec.namespace(NamespaceType::User);
        userns.uid_mappings = vec![policy_sdk::IdMapping {
            container_id: 0,
            host_id: 100_000,
            size: 65_536,
        }];
        userns.gid_mappings = userns.uid_mappings.clone();
        let decision = assert_allowed(evaluate(&app(userns).build()));
        assert!(decision.has_namespace(NamespaceType::User));
        assert_eq!(decision.uid_mappings.len(), 1);
    }

    #[test]
    fn exempt_namespaces_are_not_checked() {
        let privileged = with_caps(app_spec(), &["CAP_SYS_ADMIN"]);
        let mut request = request()
            .user(0, 0)
            .container(container(ContainerKind::Container, "kube-system"))
            .requested_spec(privileged.clone());
        assert_denied(evaluate(&request.clone().build()), "privileged");
        request = request.settings(json!({ "exemptNamespaces": ["kube-system"] }));
        let decision = assert_allowed(evaluate(&request.build()));
        let caps = decision
            .process
            .and_then(|process| process.capabilities)
            .expect("capabilities");
        assert!(caps.bounding.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(caps.bounding.contains(&"CAP_NET_RAW".to_string()));
    }

    #[test]
    fn only_containers_are_decided() {
        assert_denied(evaluate(&request().build()), "containers a runtime creates");
    }

    #[test]
    fn settings_are_checked() {
        assert_settings_valid(check_settings, json!({}));
        assert_settings_valid(
            check_settings,
            json!({ "exemptNamespaces": ["kube-system"] }),
        );
        assert_settings_invalid(
            check_settings,
            json!({ "allowedCapabilities": ["NET_ADMIN"] }),
            "not a capability name",
        );
        assert_settings_invalid(
            check_settings,
            json!({ "droppedCapabilities": ["CAP_"] }),
            "not a capability name",
        );
        assert_settings_invalid(
            check_settings,
            json!({ "allowedBindSources": ["srv"] }),
            "absolute path",
        );
        assert_settings_invalid(check_settings, json!({ "exempt": [] }), "unknown field");
    }
}
