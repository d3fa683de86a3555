//! What the default policy adopts from an OCI bundle (`enforcer run
//! --bundle DIR`): the request's `requestedSpec`, taken within the
//! default decision's own ceilings. Nothing a bundle asks for widens what
//! the default gives; what is not adopted is said in a policy log line.
//!
//! * **root**: the bundle's (its path, read-only as asked), unless it is
//!   the host's `/`, which stays as the default has it. With the bundle's
//!   root, the default's own mounts (which shape a view of the host's
//!   root) give way to the bundle's.
//! * **mounts**, in order, of the kinds that expose nothing beyond the
//!   bundle: fresh `tmpfs`, `proc`, `sysfs`, `devpts`, `mqueue`, `cgroup`
//!   and `cgroup2` instances (`sysfs` and the cgroup ones forced
//!   read-only), and bind mounts whose source is the bundle's root or
//!   below it (made `nosuid` and `nodev`). Dropped: every other kind or
//!   source, an idmapped mount (its own maps could name any host id), a
//!   `shared` propagation (it would reach the host), a destination that is
//!   not a plain absolute path.
//! * **masked and read-only paths**: added to the default's.
//! * **hostname, domainname, env, cwd, umask**: the bundle's.
//! * **user**: the bundle's ids when the default's user namespace maps
//!   them (a bundle's uid 0 is the namespace's root); without a user
//!   namespace, only the caller's own ids (else the caller's are kept).
//! * **capabilities**: each set, the bundle's intersected with the
//!   default's.
//! * **rlimits**: a limit the default sets, the lower of the two (soft and
//!   hard each); one it leaves to the enforcer's own is not adopted (the
//!   policy cannot tell whether it would lower or raise it).
//! * **noNewPrivileges**: on if either says so.
//! * **seccomp**: the default's when it has one (the stricter rule of the
//!   two is kept by keeping it), else the bundle's.
//! * **namespaces**: the default's, plus new ones the bundle adds, never a
//!   join; a new `user` namespace only where the default maps ids.
//! * **resources** (its `linux.resources`, the request's `requested`):
//!   a memory or pids limit lower than the default's; nothing else (the
//!   default's other limits apply).
//! * Not adopted: the bundle's id maps and `cgroupsPath` (the default's
//!   own apply).

use policy_sdk::decision::{Mount, Root};
use policy_sdk::{Capabilities, Decision, NamespaceType, Pids, Process, Request, log};

/// The filesystem types a bundle may mount: fresh kernel instances that
/// show the sandbox's own namespaces, not more of the host.
pub const MOUNT_TYPES: [&str; 7] = [
    "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
];

/// The types mounted read-only whatever the bundle says.
const READONLY_TYPES: [&str; 3] = ["sysfs", "cgroup", "cgroup2"];

/// `decision` (the default's) with what `request.requested_spec` asks for
/// within it; unchanged without a bundle or when it denies.
pub fn apply_bundle(mut decision: Decision, request: &Request) -> Decision {
    let Some(asked) = request.requested_spec.as_deref() else {
        return decision;
    };
    if !decision.allow {
        return decision;
    }
    adopt_filesystem(&mut decision, asked);
    adopt_uts(&mut decision, asked);
    adopt_namespaces(&mut decision, asked);
    adopt_process(&mut decision, asked);
    adopt_limits(&mut decision, request);
    if decision.seccomp.is_none() {
        decision.seccomp = asked.seccomp.clone();
    }
    if !asked.uid_mappings.is_empty() || !asked.gid_mappings.is_empty() {
        log!(
            "bundle: its uidMappings/gidMappings are not used: the default policy maps ids itself"
        );
    }
    if let Some(path) = &asked.cgroups_path {
        log!("bundle: its cgroupsPath {path:?} is not used: the default policy places the sandbox");
    }
    decision
}

/// The bundle's memory and pids limits, where lower than the default's.
fn adopt_limits(decision: &mut Decision, request: &Request) {
    let Some(requested) = &request.requested else {
        return;
    };
    let lower = |asked: Option<i64>, given: Option<i64>| -> Option<i64> {
        let asked = asked.filter(|limit| *limit > 0)?;
        match given {
            Some(given) if given > 0 && given <= asked => None,
            _ => Some(asked),
        }
    };
    let resources = decision.resources_mut();
    let memory = requested.memory.as_ref().and_then(|memory| memory.limit);
    let given = resources.memory.as_ref().and_then(|memory| memory.limit);
    if let Some(limit) = lower(memory, given) {
        resources.memory.get_or_insert_with(Default::default).limit = Some(limit);
    }
    let pids = requested.pids.as_ref().map(|pids| pids.limit);
    let given = resources.pids.as_ref().map(|pids| pids.limit);
    if let Some(limit) = lower(pids, given) {
        resources.pids = Some(Pids { limit });
    }
}

/// Root, mounts, masked and read-only paths.
fn adopt_filesystem(decision: &mut Decision, asked: &Decision) {
    let root = match &asked.root {
        Some(root) if root.path == "/" => {
            log!("bundle: its root is the host's /: kept as the default policy has it");
            None
        }
        Some(root) if !is_plain_absolute(&root.path) => {
            log!(Warn: "bundle: root {:?} is not a plain absolute path: not used", root.path);
            None
        }
        Some(root) => Some(root.clone()),
        None => None,
    };
    if let Some(root) = &root {
        decision.root = Some(root.clone());
        decision.mounts.clear();
    }
    for (index, mount) in asked.mounts.iter().enumerate() {
        match admit(mount, root.as_ref()) {
            Ok(mount) => decision.mounts.push(mount),
            Err(why) => log!(
                Warn: "bundle: mounts[{index}] at {:?} dropped: {why}",
                mount.destination
            ),
        }
    }
    for path in &asked.masked_paths {
        if !decision.masked_paths.contains(path) {
            decision.masked_paths.push(path.clone());
        }
    }
    for path in &asked.readonly_paths {
        if !decision.readonly_paths.contains(path) {
            decision.readonly_paths.push(path.clone());
        }
    }
}

/// The mount as adopted, or why not.
fn admit(mount: &Mount, root: Option<&Root>) -> Result<Mount, String> {
    if !is_plain_absolute(&mount.destination) {
        return Err("the destination is not a plain absolute path".into());
    }
    if !mount.uid_mappings.is_empty()
        || !mount.gid_mappings.is_empty()
        || has_option(mount, &["idmap", "ridmap"])
    {
        return Err("an idmapped mount's maps could name any host id".into());
    }
    if has_option(mount, &["shared", "rshared"]) {
        return Err("shared propagation would reach the host's mounts".into());
    }
    let mut mount = mount.clone();
    if mount.is_bind() {
        let Some(root) = root else {
            return Err("a bind mount needs the bundle's own root to bind from".into());
        };
        let source = mount.source.as_deref().unwrap_or_default();
        if !is_plain_absolute(source) || !is_within(&root.path, source) {
            return Err(format!(
                "its source {source:?} is outside the bundle's root {:?}",
                root.path
            ));
        }
        for option in ["nosuid", "nodev"] {
            add_option(&mut mount, option);
        }
        return Ok(mount);
    }
    let kind = mount.kind.as_deref().unwrap_or_default();
    if !MOUNT_TYPES.contains(&kind) {
        return Err(format!(
            "type {kind:?} is none of {}",
            MOUNT_TYPES.join(", ")
        ));
    }
    if READONLY_TYPES.contains(&kind) {
        mount.options.retain(|option| option != "rw");
        add_option(&mut mount, "ro");
    }
    Ok(mount)
}

fn has_option(mount: &Mount, names: &[&str]) -> bool {
    mount
        .options
        .iter()
        .any(|option| names.contains(&option.as_str()))
}

fn add_option(mount: &mut Mount, option: &str) {
    if !mount.options.iter().any(|given| given == option) {
        mount.options.push(option.to_string());
    }
}

/// Absolute, without `.`, `..` or empty components: its meaning does not
/// depend on how it is resolved.
fn is_plain_absolute(path: &str) -> bool {
    path == "/"
        || path.strip_prefix('/').is_some_and(|rest| {
            rest.split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
        })
}

/// Whether `path` is `root` or below it (both plain and absolute).
fn is_within(root: &str, path: &str) -> bool {
    let root = root.trim_end_matches('/');
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Hostname and domain name, when the bundle names them.
fn adopt_uts(decision: &mut Decision, asked: &Decision) {
    if let Some(hostname) = asked.hostname.as_ref().filter(|name| !name.is_empty()) {
        decision.hostname = Some(hostname.clone());
    }
    if let Some(domainname) = asked.domainname.as_ref().filter(|name| !name.is_empty()) {
        decision.domainname = Some(domainname.clone());
    }
}

/// The default's namespaces plus new ones the bundle adds, never a join.
fn adopt_namespaces(decision: &mut Decision, asked: &Decision) {
    for namespace in &asked.namespaces {
        let kind = namespace.kind;
        if let Some(path) = &namespace.path {
            log!(Warn: "bundle: joining the {kind} namespace at {path:?} dropped: the default policy joins none");
        } else if decision.has_namespace(kind) {
        } else if kind == NamespaceType::User && !maps_ids(decision) {
            log!(Warn: "bundle: a new user namespace dropped: the default policy maps ids only for root callers");
        } else {
            let taken = std::mem::take(decision);
            *decision = taken.namespace(kind);
        }
    }
}

/// Whether the decision creates a user namespace with ids mapped in it.
fn maps_ids(decision: &Decision) -> bool {
    decision.has_namespace(NamespaceType::User)
        && (decision.private_host_ids || !decision.uid_mappings.is_empty())
}

/// The `(first, count)` ranges of ids inside the default's user
/// namespace; `None` without one.
fn mapped_ranges(decision: &Decision, gids: bool) -> Option<Vec<(u32, u32)>> {
    if !decision.has_namespace(NamespaceType::User) {
        return None;
    }
    let mappings = if gids {
        &decision.gid_mappings
    } else {
        &decision.uid_mappings
    };
    Some(if mappings.is_empty() && decision.private_host_ids {
        vec![(0, 65_536)]
    } else {
        mappings
            .iter()
            .map(|mapping| (mapping.container_id, mapping.size))
            .collect()
    })
}

fn is_mapped(ranges: &[(u32, u32)], id: u32) -> bool {
    ranges
        .iter()
        .any(|&(first, count)| id >= first && u64::from(id) < u64::from(first) + u64::from(count))
}

/// The bundle's process within the default's.
fn adopt_process(decision: &mut Decision, asked: &Decision) {
    let Some(wanted) = &asked.process else {
        return;
    };
    let uids = mapped_ranges(decision, false);
    let gids = mapped_ranges(decision, true);
    let process = decision.process.get_or_insert_with(Process::default);
    if !wanted.env.is_empty() {
        process.env = wanted.env.clone();
    }
    if let Some(cwd) = &wanted.cwd {
        process.cwd = Some(cwd.clone());
    }
    if let Some(user) = &wanted.user {
        let current = process.user.get_or_insert_with(Default::default);
        let ids_ok = match (&uids, &gids) {
            (Some(uids), Some(gids)) => is_mapped(uids, user.uid) && is_mapped(gids, user.gid),
            _ => (user.uid, user.gid) == (current.uid, current.gid),
        };
        if ids_ok {
            current.uid = user.uid;
            current.gid = user.gid;
        } else {
            log!(
                Warn: "bundle: runs as {}:{} instead of the bundle's {}:{} (the default policy's ids)",
                current.uid, current.gid, user.uid, user.gid
            );
        }
        if user.umask.is_some() {
            current.umask = user.umask;
        }
        let groups: Vec<u32> = match &gids {
            Some(gids) => user
                .additional_gids
                .iter()
                .copied()
                .filter(|gid| is_mapped(gids, *gid))
                .collect(),
            None => Vec::new(),
        };
        if groups.len() != user.additional_gids.len() {
            log!(Warn: "bundle: additional gids outside the sandbox's mapped ids dropped");
        }
        current.additional_gids = groups;
    }
    let granted = process.capabilities.take().unwrap_or_default();
    let wanted_caps = wanted.capabilities.clone().unwrap_or_default();
    let both = |wanted: &[String], granted: &[String]| -> Vec<String> {
        wanted
            .iter()
            .filter(|name| granted.contains(name))
            .cloned()
            .collect()
    };
    process.capabilities = Some(Capabilities {
        bounding: both(&wanted_caps.bounding, &granted.bounding),
        effective: both(&wanted_caps.effective, &granted.effective),
        inheritable: both(&wanted_caps.inheritable, &granted.inheritable),
        permitted: both(&wanted_caps.permitted, &granted.permitted),
        ambient: both(&wanted_caps.ambient, &granted.ambient),
    });
    for rlimit in &wanted.rlimits {
        match process
            .rlimits
            .iter_mut()
            .find(|given| given.kind == rlimit.kind)
        {
            Some(given) => {
                given.hard = given.hard.min(rlimit.hard);
                given.soft = given.soft.min(rlimit.soft).min(given.hard);
            }
            None => log!(
                "bundle: {} not set: the default policy leaves it at the enforcer's own",
                rlimit.kind
            ),
        }
    }
    if wanted.no_new_privileges == Some(true) {
        process.no_new_privileges = Some(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::testing::{assert_allowed, request};
    use policy_sdk::{MIB, ProcessUser, Rlimit};

    const ROOT: &str = "/bundles/job/rootfs";

    fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
        Mount {
            destination: destination.into(),
            kind: Some(kind.into()),
            source: Some(source.into()),
            options: options.iter().map(|option| option.to_string()).collect(),
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        }
    }

    /// What the enforcer makes of a `runc spec` bundle at `/bundles/job`.
    fn bundle_spec() -> Decision {
        let caps: Vec<String> = [
            "CAP_AUDIT_WRITE",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_ADMIN",
        ]
        .map(String::from)
        .to_vec();
        let mut spec = Decision::allow()
            .root(ROOT, true)
            .mount(mount("/proc", "proc", "proc", &[]))
            .mount(mount("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755"]))
            .mount(mount("/sys", "sysfs", "sysfs", &["nosuid", "rw"]))
            .mount(mount(
                "/data",
                "bind",
                &format!("{ROOT}/data"),
                &["rbind", "rw"],
            ))
            .mount(mount("/etc/host", "bind", "/etc", &["rbind", "ro"]))
            .mount(mount("/dev/sda", "ext4", "/dev/sda", &[]))
            .mask("/proc/kcore")
            .readonly_path("/proc/sys")
            .hostname("runc")
            .namespaces(NamespaceType::STANDARD)
            .join_namespace(NamespaceType::Network, "/proc/1/ns/net")
            .map_ids(0, 0, 1)
            .cgroups_path("/host/level")
            .rlimit("RLIMIT_NOFILE", 1024, 1024);
        let process = spec.process.get_or_insert_with(Process::default);
        process.user = Some(ProcessUser {
            uid: 0,
            gid: 0,
            umask: Some(0o022),
            additional_gids: vec![10, 4_000_000],
        });
        process.env = vec!["PATH=/bin".into()];
        process.cwd = Some("/work".into());
        process.capabilities = Some(Capabilities {
            bounding: caps.clone(),
            effective: caps.clone(),
            permitted: caps,
            ..Capabilities::default()
        });
        spec
    }

    fn with_bundle(uid: u32, spec: Decision) -> Request {
        let mut request = request().user(uid, uid).build();
        request.requested_spec = Some(Box::new(spec));
        request
    }

    fn applied(uid: u32, spec: Decision) -> Decision {
        let request = with_bundle(uid, spec);
        apply_bundle(assert_allowed(crate::evaluate(&request)), &request)
    }

    #[test]
    fn without_a_bundle_nothing_changes() {
        let request = request().user(0, 0).build();
        let default = assert_allowed(crate::evaluate(&request));
        assert_eq!(apply_bundle(default.clone(), &request), default);
        let denied = Decision::deny("no");
        assert_eq!(
            apply_bundle(denied.clone(), &with_bundle(0, bundle_spec())),
            denied
        );
    }

    #[test]
    fn the_bundles_root_and_its_safe_mounts_are_adopted() {
        let decision = applied(0, bundle_spec());
        let root = decision.root.expect("root");
        assert_eq!((root.path.as_str(), root.readonly), (ROOT, true));
        let destinations: Vec<&str> = decision
            .mounts
            .iter()
            .map(|mount| mount.destination.as_str())
            .collect();
        assert_eq!(destinations, ["/proc", "/dev", "/sys", "/data"]);
        let sys = &decision.mounts[2];
        assert!(sys.is_readonly(), "{:?}", sys.options);
        let data = &decision.mounts[3];
        assert!(
            !data.is_readonly(),
            "a bind inside the root keeps rw as asked"
        );
        for option in ["nosuid", "nodev"] {
            assert!(data.options.iter().any(|given| given == option), "{option}");
        }
        assert!(decision.masked_paths.contains(&"/proc/kcore".to_string()));
        assert!(decision.readonly_paths.contains(&"/proc/sys".to_string()));
        assert_eq!(decision.hostname.as_deref(), Some("runc"));
    }

    #[test]
    fn mounts_that_would_expose_the_host_are_dropped() {
        let mut spec = Decision::allow().root(ROOT, false);
        for mount in [
            mount("/a", "bind", "/etc", &["rbind"]),
            mount("/b", "bind", "/bundles/job/rootfs-other", &["bind"]),
            mount("/c", "bind", &format!("{ROOT}/../../../etc"), &["bind"]),
            mount("/d", "none", "/etc", &["rbind"]),
            mount("/e", "overlay", "overlay", &[]),
            mount("/f", "tmpfs", "tmpfs", &["rshared"]),
            mount("/../g", "tmpfs", "tmpfs", &[]),
            mount("/h", "bind", &format!("{ROOT}/x"), &["rbind", "idmap"]),
        ] {
            spec = spec.mount(mount);
        }
        let decision = applied(0, spec);
        assert!(decision.mounts.is_empty(), "{:?}", decision.mounts);
    }

    #[test]
    fn the_hosts_root_stays_read_only_and_binds_need_a_bundle_root() {
        let spec = Decision::allow()
            .root("/", false)
            .mount(mount("/mnt", "tmpfs", "tmpfs", &[]))
            .mount(mount("/x", "bind", "/home", &["rbind"]));
        let request = with_bundle(1000, spec);
        let default = assert_allowed(crate::evaluate(&request));
        let decision = apply_bundle(default.clone(), &request);
        assert_eq!(decision.root, default.root);
        let mut expected = default.mounts.clone();
        expected.push(mount("/mnt", "tmpfs", "tmpfs", &[]));
        assert_eq!(decision.mounts, expected);
    }

    #[test]
    fn root_in_its_user_namespace_takes_the_bundles_mapped_ids() {
        let decision = applied(0, bundle_spec());
        let process = decision.process.clone().expect("process");
        let user = process.user.expect("user");
        assert_eq!((user.uid, user.gid, user.umask), (0, 0, Some(0o022)));
        assert_eq!(user.additional_gids, [10], "4000000 is not mapped");
        assert_eq!(process.env, ["PATH=/bin"]);
        assert_eq!(process.cwd.as_deref(), Some("/work"));
        let caps = process.capabilities.expect("caps");
        assert_eq!(
            caps.bounding,
            ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "CAP_SYS_ADMIN is not the default's to give"
        );
        assert!(caps.ambient.is_empty() && caps.inheritable.is_empty());
        assert_eq!(process.no_new_privileges, Some(true));
        // The default's maps and cgroup, not the bundle's.
        let default = assert_allowed(crate::evaluate(&with_bundle(0, bundle_spec())));
        assert_eq!(decision.uid_mappings, default.uid_mappings);
        assert_eq!(decision.cgroups_path, default.cgroups_path);
    }

    #[test]
    fn a_caller_without_a_user_namespace_keeps_its_own_ids() {
        let decision = applied(1000, bundle_spec());
        let process = decision.process.expect("process");
        let user = process.user.expect("user");
        assert_eq!((user.uid, user.gid), (1000, 1000));
        assert!(user.additional_gids.is_empty());
        let caps = process.capabilities.expect("caps");
        assert!(caps.bounding.is_empty() && caps.effective.is_empty());
        assert!(
            !decision
                .namespaces
                .iter()
                .any(|ns| ns.kind == NamespaceType::User)
        );

        let mut spec = bundle_spec();
        spec.process
            .as_mut()
            .and_then(|p| p.user.as_mut())
            .expect("user")
            .uid = 1000;
        spec.process
            .as_mut()
            .and_then(|p| p.user.as_mut())
            .expect("user")
            .gid = 1000;
        let user = applied(1000, spec)
            .process
            .and_then(|p| p.user)
            .expect("user");
        assert_eq!((user.uid, user.gid), (1000, 1000), "its own ids are fine");

        let mut spec = Decision::allow().namespace(NamespaceType::User);
        spec.process = Some(Process::default());
        let decision = applied(1000, spec);
        assert!(
            !decision.has_namespace(NamespaceType::User),
            "no user namespace without the default's maps"
        );
    }

    #[test]
    fn namespaces_are_added_never_joined() {
        let decision = applied(0, bundle_spec());
        assert!(decision.namespaces.iter().all(|ns| ns.path.is_none()));
        for kind in NamespaceType::STANDARD {
            assert!(decision.has_namespace(kind), "{kind}");
        }
        // A new kind the default lacks is added.
        let mut request = with_bundle(0, Decision::allow().namespace(NamespaceType::Cgroup));
        request.requested_spec.as_mut().expect("spec").process = None;
        let without_cgroup = {
            let mut decision = assert_allowed(crate::evaluate(&request));
            decision
                .namespaces
                .retain(|ns| ns.kind != NamespaceType::Cgroup);
            decision
        };
        assert!(apply_bundle(without_cgroup, &request).has_namespace(NamespaceType::Cgroup));
    }

    #[test]
    fn rlimits_are_only_lowered() {
        let request = with_bundle(
            0,
            Decision::allow()
                .rlimit("RLIMIT_NOFILE", 4096, 1_000_000)
                .rlimit("RLIMIT_NPROC", 10, 10),
        );
        let default = assert_allowed(crate::evaluate(&request)).rlimit("RLIMIT_NOFILE", 1024, 2048);
        let decision = apply_bundle(default, &request);
        let rlimits = decision.process.expect("process").rlimits;
        assert_eq!(
            rlimits,
            [Rlimit {
                kind: "RLIMIT_NOFILE".into(),
                hard: 2048,
                soft: 1024,
            }],
            "the lower of each; RLIMIT_NPROC, unset by the default, is not adopted"
        );
        let request = with_bundle(0, Decision::allow().rlimit("RLIMIT_NOFILE", 64, 128));
        let default = assert_allowed(crate::evaluate(&request)).rlimit("RLIMIT_NOFILE", 1024, 2048);
        let rlimits = apply_bundle(default, &request)
            .process
            .expect("process")
            .rlimits;
        assert_eq!((rlimits[0].soft, rlimits[0].hard), (64, 128));
    }

    #[test]
    fn the_defaults_seccomp_wins_over_the_bundles() {
        use policy_sdk::decision::{Seccomp, SeccompAction};
        let profile = |action| Seccomp {
            default_action: action,
            default_errno_ret: None,
            architectures: Vec::new(),
            flags: Vec::new(),
            syscalls: Vec::new(),
        };
        let request = with_bundle(0, Decision::allow().seccomp(profile(SeccompAction::Allow)));
        let default = assert_allowed(crate::evaluate(&request));
        let decision = apply_bundle(
            default.clone().seccomp(profile(SeccompAction::Errno)),
            &request,
        );
        assert_eq!(
            decision.seccomp.map(|s| s.default_action),
            Some(SeccompAction::Errno)
        );
        let without = Decision {
            seccomp: None,
            ..default
        };
        let decision = apply_bundle(without, &request);
        assert_eq!(
            decision.seccomp.map(|s| s.default_action),
            Some(SeccompAction::Allow),
            "the bundle's, when the default sets none"
        );
    }

    #[test]
    fn memory_and_pids_are_only_lowered() {
        let mut request = with_bundle(0, Decision::allow());
        request.requested = Some(
            Decision::allow()
                .memory_limit(MIB)
                .pids(100_000)
                .resources
                .expect("set"),
        );
        let decision = apply_bundle(assert_allowed(crate::evaluate(&request)), &request);
        assert_eq!(decision.memory_limit_bytes(), Some(MIB as i64), "lowered");
        assert_eq!(
            decision.pids_limit(),
            Some(crate::PIDS_LIMIT as i64),
            "not raised"
        );
        request.requested = Some(Decision::allow().pids(8).resources.expect("set"));
        let decision = apply_bundle(assert_allowed(crate::evaluate(&request)), &request);
        assert_eq!(decision.pids_limit(), Some(8));
        assert_eq!(
            decision.memory_limit_bytes(),
            Some(crate::MEMORY_CAP as i64)
        );
    }

    #[test]
    fn plain_paths() {
        for good in ["/", "/a", "/a/b.c"] {
            assert!(is_plain_absolute(good), "{good}");
        }
        for bad in ["", "a", "/a/", "//a", "/a/../b", "/./a"] {
            assert!(!is_plain_absolute(bad), "{bad}");
        }
        assert!(is_within("/r", "/r") && is_within("/r", "/r/x"));
        assert!(!is_within("/r", "/rx") && !is_within("/r", "/"));
    }
}
