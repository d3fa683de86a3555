use std::os::unix::fs::PermissionsExt;

use super::*;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/runtime/specs/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn request(name: &str, settings: &RuntimeSettings) -> (Request, Vec<String>) {
    build_with_warnings(
        &fixture(name),
        "c1",
        Path::new("/run/enforcer-test-bundle"),
        settings,
        Host::default(),
    )
    .expect("builds")
}

#[test]
fn a_containerd_sandbox_is_a_sandbox_of_its_namespace() {
    let (request, warnings) = request("containerd-sandbox", &RuntimeSettings::default());
    assert_eq!(request.tenant.as_deref(), Some("team-a"));
    let container = request.container.as_ref().expect("container");
    assert_eq!(container.kind, ContainerKind::Sandbox);
    assert_eq!(container.namespace.as_deref(), Some("team-a"));
    assert_eq!(container.pod.as_deref(), Some("web-0"));
    assert_eq!(
        container.pod_uid.as_deref(),
        Some("3b1f6c2e-8a4d-4f5b-9c7e-1d2a3b4c5d6e")
    );
    assert!(
        container
            .sandbox_id
            .as_deref()
            .is_some_and(|id| id.starts_with("8d3c0b2f"))
    );
    assert_eq!(container.name, None, "containerd names no sandbox");
    assert_eq!(
        container.image.as_deref(),
        Some("registry.k8s.io/pause:3.9")
    );
    assert_eq!(
        request.user,
        User {
            uid: 65535,
            gid: 65535,
            name: None
        }
    );
    assert_eq!(request.command, vec!["/pause"]);
    assert_eq!(request.executable.as_deref(), Some("/pause"));
    // Only the CRI annotations the request reads.
    assert!(request.annotations.contains_key(CONTAINERD_SANDBOX_ID));
    assert!(
        !request
            .annotations
            .contains_key("io.kubernetes.cri.sandbox-log-directory")
    );
    let spec = request.requested_spec.as_deref().expect("spec");
    assert_eq!(spec.hostname.as_deref(), Some("web-0"));
    let network = spec
        .namespaces
        .iter()
        .find(|namespace| namespace.kind == NamespaceType::Network)
        .expect("network");
    assert!(
        network
            .path
            .as_deref()
            .is_some_and(|path| path.starts_with("/var/run/netns/cni-"))
    );
    assert!(spec.seccomp.is_some());
    assert!(spec.root.is_none(), "no root in runtime mode");
    assert_eq!(spec.masked_paths.len(), 11);
    let requested = request.requested.as_ref().expect("resources");
    assert_eq!(requested.cpu.as_ref().and_then(|cpu| cpu.shares), Some(2));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn a_containerd_container_shows_its_joins_resources_and_privileges() {
    let (request, warnings) = request("containerd-container", &RuntimeSettings::default());
    let container = request.container.as_ref().expect("container");
    assert_eq!(container.kind, ContainerKind::Container);
    assert_eq!(container.name.as_deref(), Some("web"));
    assert_eq!(
        container.image.as_deref(),
        Some("docker.io/library/nginx:1.27")
    );
    assert_eq!(request.command, vec!["nginx", "-g", "daemon off;"]);
    assert_eq!(request.user.uid, 0);
    let spec = request.requested_spec.as_deref().expect("spec");
    let joins: Vec<_> = spec
        .namespaces
        .iter()
        .filter_map(|namespace| Some((namespace.kind, namespace.path.as_deref()?)))
        .collect();
    assert_eq!(
        joins,
        vec![
            (NamespaceType::Ipc, "/proc/41234/ns/ipc"),
            (NamespaceType::Uts, "/proc/41234/ns/uts"),
            (NamespaceType::Network, "/proc/41234/ns/net"),
        ]
    );
    let process = spec.process.as_ref().expect("process");
    let caps = process.capabilities.as_ref().expect("caps");
    assert_eq!(caps.bounding.len(), 14);
    assert!(caps.inheritable.is_empty());
    let user = process.user.as_ref().expect("user");
    assert_eq!(user.additional_gids.len(), 11);
    assert_eq!(spec.mounts.len(), 12);
    let requested = request.requested.as_ref().expect("resources");
    assert_eq!(requested.devices.len(), 11);
    assert_eq!(
        requested.memory.as_ref().and_then(|memory| memory.limit),
        Some(268_435_456)
    );
    assert_eq!(requested.hugepage_limits.len(), 2);
    // The rootfs is not there: no executable, and no failure.
    assert_eq!(request.executable, None);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn a_crio_container_gets_its_pod_and_labels() {
    let settings = RuntimeSettings {
        label_annotations: vec![
            "io.kubernetes.container.restartCount".into(),
            "absent.example.com/key".into(),
        ],
        pod_labels: vec!["io.kubernetes.container.name".into(), "app".into()],
        ..RuntimeSettings::default()
    };
    let (request, warnings) = request("crio-container", &settings);
    assert_eq!(request.tenant.as_deref(), Some("team-b"));
    let container = request.container.as_ref().expect("container");
    assert_eq!(container.kind, ContainerKind::Container);
    assert_eq!(container.pod.as_deref(), Some("jobs-7d9f8c6b5-x2k4q"));
    assert_eq!(container.name.as_deref(), Some("worker"));
    assert!(
        container
            .sandbox_id
            .as_deref()
            .is_some_and(|id| id.starts_with("0c9e8d7f"))
    );
    assert_eq!(
        container.image.as_deref(),
        Some("registry.example.com/team-b/worker:2.3.1")
    );
    assert_eq!(
        request.labels,
        BTreeMap::from([
            (
                "io.kubernetes.container.name".to_string(),
                "worker".to_string()
            ),
            (
                "io.kubernetes.container.restartCount".to_string(),
                "0".to_string()
            ),
        ])
    );
    assert!(
        !request
            .annotations
            .contains_key("io.kubernetes.cri-o.Volumes"),
        "CRI-O's blobs are left out"
    );
    assert!(request.annotations.contains_key(CRIO_LABELS));
    assert_eq!((request.user.uid, request.user.gid), (1000, 1000));
    let spec = request.requested_spec.as_deref().expect("spec");
    let process = spec.process.as_ref().expect("process");
    assert_eq!(process.cwd.as_deref(), Some("/app"));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn podman_and_ctr_bundles_have_no_cri_fields() {
    let settings = RuntimeSettings {
        default_tenant: Some("local".into()),
        ..RuntimeSettings::default()
    };
    for name in ["podman", "ctr"] {
        let (request, _) = request(name, &settings);
        assert_eq!(request.tenant.as_deref(), Some("local"), "{name}");
        let container = request.container.as_ref().expect("container");
        assert_eq!(
            *container,
            Container {
                id: "c1".into(),
                kind: ContainerKind::Container,
                ..Container::default()
            },
            "{name}"
        );
        assert!(request.annotations.is_empty(), "{name}");
    }
    let (podman, _) = request("podman", &settings);
    assert!(podman.terminal);
    let process = podman
        .requested_spec
        .as_deref()
        .and_then(|spec| spec.process.as_ref())
        .expect("process");
    assert_eq!(process.rlimits.len(), 2);
    assert_eq!(process.user.as_ref().and_then(|user| user.umask), Some(18));
    let (ctr, _) = request("ctr", &RuntimeSettings::default());
    assert_eq!(ctr.tenant, None);
    assert_eq!(
        ctr.requested_spec
            .as_deref()
            .and_then(|spec| spec.hostname.as_deref()),
        Some("")
    );
}

#[test]
fn the_first_configured_tenant_annotation_wins_and_must_be_valid() {
    let mut spec = fixture("crio-container");
    let settings = RuntimeSettings {
        tenant_annotations: vec!["example.com/tenant".into(), CRIO_NAMESPACE_KEY.into()],
        ..RuntimeSettings::default()
    };
    let build = |spec: &Value| build(spec, "c1", Path::new("/b"), &settings, Host::default());
    assert_eq!(
        build(&spec).expect("builds").tenant.as_deref(),
        Some("team-b")
    );
    spec["annotations"]["example.com/tenant"] = json_str("");
    assert_eq!(
        build(&spec).expect("empty is absent").tenant.as_deref(),
        Some("team-b")
    );
    spec["annotations"]["example.com/tenant"] = json_str("acme");
    assert_eq!(
        build(&spec).expect("builds").tenant.as_deref(),
        Some("acme")
    );
    spec["annotations"]["example.com/tenant"] = json_str("../etc");
    let error = build(&spec).expect_err("invalid");
    assert_eq!(error.field, "annotations[example.com/tenant]");
    assert_eq!(error.config, "/b/config.json");
    assert!(error.message.contains("must be 1 to 63"), "{error}");
}

const CRIO_NAMESPACE_KEY: &str = super::super::settings::CRIO_NAMESPACE;

fn json_str(text: &str) -> Value {
    Value::String(text.to_string())
}

#[test]
fn unknown_fields_are_dropped_with_a_warning_and_wrong_types_are_errors() {
    let mut spec = fixture("containerd-container");
    spec["linux"]["resources"]["memory"]["futureKnob"] = serde_json::json!(1);
    spec["linux"]["resources"]["devices"][1]["futureFlag"] = serde_json::json!(true);
    spec["linux"]["resources"]["rdma"] = serde_json::json!({"mlx5_0": {"hcaHandles": 3}});
    spec["process"]["capabilities"]["future"] = serde_json::json!([]);
    spec["process"]["rlimits"] =
        serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 5, "why": "x"}]);
    spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("array")
        .push(serde_json::json!({"type": "time"}));
    spec["mounts"].as_array_mut().expect("array").push(
        serde_json::json!({"destination": "/x", "type": "bind", "source": "/y", "futureOption": 1}),
    );
    spec["linux"]["seccomp"]["listenerPath"] = json_str("/run/agent.sock");
    let (request, warnings) = build_with_warnings(
        &spec,
        "c1",
        Path::new("/b"),
        &RuntimeSettings::default(),
        Host::default(),
    )
    .expect("lenient");
    let requested = request.requested.as_ref().expect("resources");
    assert_eq!(requested.devices.len(), 11);
    assert_eq!(
        requested.memory.as_ref().and_then(|memory| memory.limit),
        Some(268_435_456)
    );
    let spec_ask = request.requested_spec.as_deref().expect("spec");
    let process = spec_ask.process.as_ref().expect("process");
    assert_eq!(process.rlimits.len(), 1);
    assert!(process.capabilities.is_some());
    assert_eq!(
        spec_ask.mounts.len(),
        12,
        "the unreadable mount is left out"
    );
    assert!(
        spec_ask.seccomp.is_none(),
        "the unreadable profile is left out"
    );
    for needle in [
        "futureKnob",
        "futureFlag",
        "rdma",
        "\"future\"",
        "\"why\"",
        "\"time\"",
        "mounts[12]",
        "linux.seccomp",
    ] {
        assert!(
            warnings.iter().any(|warning| warning.contains(needle)),
            "{needle}: {warnings:#?}"
        );
    }
    let mut wrong = fixture("ctr");
    wrong["process"]["user"]["uid"] = json_str("root");
    let error = build(
        &wrong,
        "c1",
        Path::new("/b"),
        &RuntimeSettings::default(),
        Host::default(),
    )
    .expect_err("a string uid");
    assert_eq!(error.field, "process.user.uid");
    let mut wrong = fixture("ctr");
    wrong["linux"]["resources"]["memory"] = serde_json::json!({"limit": "1G"});
    let error = build(
        &wrong,
        "c1",
        Path::new("/b"),
        &RuntimeSettings::default(),
        Host::default(),
    )
    .expect_err("a string limit");
    assert_eq!(error.field, "linux.resources.memory.limit");
    let error = build(
        &serde_json::json!([]),
        "c1",
        Path::new("/b"),
        &RuntimeSettings::default(),
        Host::default(),
    )
    .expect_err("not an object");
    assert_eq!(error.field, "");
}

#[test]
fn the_executable_is_found_inside_the_bundles_root() {
    let dir = tempfile::Builder::new()
        .prefix("enforcer-test-bundle")
        .tempdir()
        .expect("tempdir");
    let bin = dir.path().join("rootfs/usr/sbin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::write(bin.join("nginx"), "#!/bin/sh\n").expect("writes");
    std::fs::set_permissions(bin.join("nginx"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let request = build(
        &fixture("containerd-container"),
        "c1",
        dir.path(),
        &RuntimeSettings::default(),
        Host::default(),
    )
    .expect("builds");
    assert_eq!(request.executable.as_deref(), Some("/usr/sbin/nginx"));
}
