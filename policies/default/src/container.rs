//! What the default policy decides for a container a runtime creates
//! (`enforcer runtime create`, the Kubernetes path: the request has a
//! [`Container`]), instead of an `enforcer run` sandbox. The container
//! runtime and kubelet have already shaped the spec; the default keeps
//! that shape and takes away only what a container should not have by
//! default:
//!
//! * **allowed**, whatever the container;
//! * **namespaces**: exactly what the spec asks (`requestedSpec`), new
//!   ones and joins by path as kubelet set them (a pod's containers join
//!   its sandbox's network, ipc and uts namespaces), with the spec's id
//!   mappings where it asks a user namespace; none of its own;
//! * **capabilities**: each set, the spec's intersected with
//!   [`CONTAINER_CAPABILITIES`] (the container runtimes' default set: a
//!   privileged container loses `CAP_SYS_ADMIN` and the others);
//! * **user**, **noNewPrivileges** and **rlimits**: as the spec asks;
//! * **masked and read-only paths**: [`OCI_MASKED_PATHS`] and
//!   [`OCI_READONLY_PATHS`] (added to the spec's, so an unmasked `/proc`
//!   is masked again);
//! * **devices**: the OCI default devices only
//!   ([`policy_sdk::devices::oci_default_devices`]);
//! * nothing else: no resource limits (kubelet's apply), no root, no
//!   mounts, no hostname, no seccomp profile (the spec's stays; one the
//!   pod leaves `Unconfined` stays so), no cgroup path.

use policy_sdk::{
    CONTAINER_CAPABILITIES, Capabilities, Container, ContainerKind, Decision, NamespaceType,
    OCI_MASKED_PATHS, OCI_READONLY_PATHS, Process, Request, log,
};

/// The default decision for `container`.
pub fn decide(request: &Request, container: &Container) -> Decision {
    let spec = request.requested_spec.as_deref();
    let kind = match container.kind {
        ContainerKind::Sandbox => "sandbox",
        ContainerKind::Container => "container",
    };
    let mut decision = Decision::allow().reason(format!("default policy: {kind}"));
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
    let decision = decision.default_devices();
    let mut decision = OCI_READONLY_PATHS.iter().fold(
        OCI_MASKED_PATHS
            .iter()
            .fold(decision, |decision, path| decision.mask(*path)),
        |decision, path| decision.readonly_path(*path),
    );
    let asked = spec.and_then(|spec| spec.process.as_ref());
    let mut dropped: Vec<String> = Vec::new();
    let mut process = Process {
        user: asked.and_then(|process| process.user.clone()),
        capabilities: None,
        // As asked, and an absent one is off, as the runtime reads it: the
        // normal form's default (on) would break an image's setuid
        // programs that Kubernetes allows by default
        // (allowPrivilegeEscalation).
        no_new_privileges: Some(
            asked
                .and_then(|process| process.no_new_privileges)
                .unwrap_or(false),
        ),
        rlimits: asked
            .map(|process| process.rlimits.clone())
            .unwrap_or_default(),
        env: Vec::new(),
        cwd: None,
    };
    if process.user.is_none() {
        process.user = Some(policy_sdk::ProcessUser {
            uid: request.user.uid,
            gid: request.user.gid,
            umask: None,
            additional_gids: Vec::new(),
        });
    }
    let wanted = asked
        .and_then(|process| process.capabilities.clone())
        .unwrap_or_default();
    let mut within = |set: &[String]| -> Vec<String> {
        set.iter()
            .filter(|name| {
                let kept = CONTAINER_CAPABILITIES.contains(&name.as_str());
                if !kept && !dropped.contains(name) {
                    dropped.push(name.to_string());
                }
                kept
            })
            .cloned()
            .collect()
    };
    let capabilities = Capabilities {
        bounding: within(&wanted.bounding),
        effective: within(&wanted.effective),
        inheritable: within(&wanted.inheritable),
        permitted: within(&wanted.permitted),
        ambient: within(&wanted.ambient),
    };
    process.capabilities = Some(capabilities);
    decision.process = Some(process);
    let name = container.name.as_deref().unwrap_or(container.id.as_str());
    let pod = match (&container.namespace, &container.pod) {
        (Some(namespace), Some(pod)) => format!(" of pod {namespace}/{pod}"),
        (None, Some(pod)) => format!(" of pod {pod}"),
        _ => String::new(),
    };
    if dropped.is_empty() {
        log!("default policy: {kind} {name}{pod}: allowed with the OCI default masks and devices");
    } else {
        log!(
            Warn: "default policy: {kind} {name}{pod}: allowed without {}: not in the container runtimes' default capability set",
            dropped.join(", ")
        );
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate;
    use policy_sdk::testing::{
        assert_allowed, assert_device_denied, assert_device_permitted, request,
    };
    use policy_sdk::{DeviceType, ProcessUser, Rlimit};

    const SANDBOX: &str = "/proc/4242/ns";

    fn container(kind: ContainerKind) -> Container {
        Container {
            id: "c0ffee".into(),
            kind,
            namespace: Some("team-a".into()),
            pod: Some("web-0".into()),
            pod_uid: Some("8c2f5d0e-1b7a-4c1e-9a51-3f0d2b7c9e11".into()),
            sandbox_id: Some("5a1d".into()),
            name: Some("nginx".into()),
            image: Some("docker.io/library/nginx:1.27".into()),
        }
    }

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    /// A pod container's spec as containerd writes it: the pod's
    /// network, ipc and uts joined by path, new pid, mount and cgroup
    /// namespaces, root with the default capabilities and one more.
    fn app_spec(extra_cap: &str) -> Decision {
        let mut bounding = caps(&CONTAINER_CAPABILITIES);
        bounding.push(extra_cap.to_string());
        let mut spec = Decision::allow()
            .namespace(NamespaceType::Pid)
            .join_namespace(NamespaceType::Ipc, format!("{SANDBOX}/ipc"))
            .join_namespace(NamespaceType::Uts, format!("{SANDBOX}/uts"))
            .namespace(NamespaceType::Mount)
            .join_namespace(NamespaceType::Network, format!("{SANDBOX}/net"))
            .namespace(NamespaceType::Cgroup);
        spec.process = Some(Process {
            user: Some(ProcessUser {
                uid: 0,
                gid: 0,
                umask: None,
                additional_gids: vec![10],
            }),
            capabilities: Some(Capabilities {
                bounding: bounding.clone(),
                effective: bounding.clone(),
                inheritable: Vec::new(),
                permitted: bounding,
                ambient: Vec::new(),
            }),
            no_new_privileges: None,
            rlimits: vec![Rlimit {
                kind: "RLIMIT_NOFILE".into(),
                hard: 1_048_576,
                soft: 1_048_576,
            }],
            env: vec!["PATH=/usr/bin".into()],
            cwd: Some("/".into()),
        });
        spec
    }

    #[test]
    fn a_pod_container_keeps_its_joins_and_loses_capabilities_beyond_the_default() {
        let request = request()
            .user(0, 0)
            .container(container(ContainerKind::Container))
            .requested_spec(app_spec("CAP_SYS_ADMIN"))
            .build();
        let decision = assert_allowed(evaluate(&request));
        assert_eq!(decision.namespaces, app_spec("CAP_SYS_ADMIN").namespaces);
        let process = decision.process.expect("process");
        let capabilities = process.capabilities.expect("capabilities");
        assert!(!capabilities.bounding.contains(&"CAP_SYS_ADMIN".into()));
        assert_eq!(capabilities.bounding, caps(&CONTAINER_CAPABILITIES));
        assert_eq!(capabilities.effective, caps(&CONTAINER_CAPABILITIES));
        assert!(capabilities.ambient.is_empty());
        let user = process.user.expect("user");
        assert_eq!((user.uid, user.gid, user.additional_gids), (0, 0, vec![10]));
        assert_eq!(
            process.no_new_privileges,
            Some(false),
            "absent in the spec: off, as runc reads it"
        );
        assert_eq!(process.rlimits.len(), 1);
        assert!(process.env.is_empty() && process.cwd.is_none());
    }

    #[test]
    fn nothing_of_its_own_but_masks_and_devices() {
        let request = request()
            .user(0, 0)
            .container(container(ContainerKind::Container))
            .requested_spec(app_spec("CAP_NET_ADMIN"))
            .build();
        let decision = assert_allowed(evaluate(&request));
        assert!(decision.resources.as_ref().is_some_and(|resources| {
            resources.memory.is_none() && resources.pids.is_none() && resources.cpu.is_none()
        }));
        assert!(decision.root.is_none() && decision.mounts.is_empty());
        assert!(decision.hostname.is_none() && decision.cgroups_path.is_none());
        assert!(decision.seccomp.is_none() && decision.network.is_none());
        assert!(!decision.private_host_ids);
        assert!(!decision.has_namespace(NamespaceType::User));
        for path in OCI_MASKED_PATHS {
            assert!(decision.masked_paths.contains(&path.to_string()), "{path}");
        }
        for path in OCI_READONLY_PATHS {
            assert!(
                decision.readonly_paths.contains(&path.to_string()),
                "{path}"
            );
        }
        assert_device_permitted(&decision, DeviceType::Char, 1, 3, "rwm");
        assert_device_permitted(&decision, DeviceType::Char, 5, 0, "rwm");
        assert_device_denied(&decision, DeviceType::Block, 8, 0, "r");
        assert_device_denied(&decision, DeviceType::Char, 1, 1, "r");
    }

    #[test]
    fn a_sandbox_gets_the_new_namespaces_kubelet_asked() {
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
        let request = request()
            .user(65535, 65535)
            .command(&["/pause"])
            .container(container(ContainerKind::Sandbox))
            .requested_spec(spec.clone())
            .build();
        let decision = assert_allowed(evaluate(&request));
        assert_eq!(decision.namespaces, spec.namespaces);
        let process = decision.process.expect("process");
        assert_eq!(process.no_new_privileges, Some(true));
        assert_eq!(process.user.map(|user| user.uid), Some(65535));
        assert_eq!(process.capabilities, Some(Capabilities::default()));
    }

    #[test]
    fn a_host_network_container_keeps_the_host_network() {
        let mut spec = app_spec("CAP_KILL");
        spec.namespaces
            .retain(|namespace| namespace.kind != NamespaceType::Network);
        let request = request()
            .user(0, 0)
            .container(container(ContainerKind::Container))
            .requested_spec(spec)
            .build();
        let decision = assert_allowed(evaluate(&request));
        assert!(!decision.has_namespace(NamespaceType::Network));
    }

    #[test]
    fn a_group_0_container_is_not_refused_and_a_run_request_still_is() {
        let mut spec = app_spec("CAP_KILL");
        if let Some(user) = spec
            .process
            .as_mut()
            .and_then(|process| process.user.as_mut())
        {
            user.uid = 1000;
        }
        let request = request()
            .user(1000, 0)
            .container(container(ContainerKind::Container))
            .requested_spec(spec)
            .build();
        assert_allowed(evaluate(&request));
        let decision =
            evaluate(&policy_sdk::testing::request().user(1000, 0).build()).expect("decides");
        assert!(!decision.allow);
    }

    #[test]
    fn without_a_spec_the_requesting_user_and_no_capabilities() {
        let request = request()
            .user(1000, 1000)
            .container(container(ContainerKind::Container))
            .build();
        let decision = assert_allowed(evaluate(&request));
        assert!(decision.namespaces.is_empty());
        let process = decision.process.expect("process");
        assert_eq!(
            process.user.map(|user| (user.uid, user.gid)),
            Some((1000, 1000))
        );
        assert_eq!(process.capabilities, Some(Capabilities::default()));
    }
}
