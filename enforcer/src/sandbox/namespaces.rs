//! Which namespaces a sandbox creates and joins, checked against the
//! operator's allow-list and opened before anything starts.
//!
//! Creating happens with the `clone(2)` flags, except the cgroup namespace,
//! which the child unshares after the parent has moved it into its cgroups
//! (so its cgroup root is the sandbox's cgroup, as runc does). Joining
//! happens in the child with `setns(2)` on files the parent opened: the user
//! namespace first (the kernel requires it to come before the namespaces it
//! owns), the mount namespace last. When a user namespace is joined, the
//! namespaces to create are unshared after it, so the new ones belong to it.
//!
//! When a new user namespace is created, the child cannot join namespaces
//! the host's user namespace owns any more (it has no privilege there). So
//! the parent joins those first, in its own thread, clones the child into
//! them, and goes back: the child is born in the joined namespaces and in
//! the new ones. A mount namespace cannot be joined that way (the kernel
//! refuses `setns` of a mount namespace in a multi-threaded process), so
//! joining one while creating a user namespace is refused.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use nix::libc;
use policy_sdk::{Namespace, NamespaceType};

use crate::decision::SANDBOX_PREFIX;

/// The `CLONE_NEW*` flag of a namespace type.
pub fn clone_flag(kind: NamespaceType) -> libc::c_int {
    match kind {
        NamespaceType::Pid => libc::CLONE_NEWPID,
        NamespaceType::Network => libc::CLONE_NEWNET,
        NamespaceType::Mount => libc::CLONE_NEWNS,
        NamespaceType::Ipc => libc::CLONE_NEWIPC,
        NamespaceType::Uts => libc::CLONE_NEWUTS,
        NamespaceType::User => libc::CLONE_NEWUSER,
        NamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
    }
}

/// Namespace paths the operator lets decisions join: shell-style globs
/// (`*`, `?`) matched against the path as written in the decision
/// (`/run/netns/*`, `sandbox:acme-*`). Empty: no joining at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinAllowList {
    /// The patterns.
    pub patterns: Vec<String>,
}

impl JoinAllowList {
    /// Whether `path` matches a pattern.
    pub fn allows(&self, path: &str) -> bool {
        self.patterns
            .iter()
            .any(|pattern| glob_matches(pattern.as_bytes(), path.as_bytes()))
    }
}

/// `*` matches any run of characters (also `/`), `?` one character.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_matches(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_matches(rest, &text[1..]),
        Some((first, rest)) => text.first() == Some(first) && glob_matches(rest, &text[1..]),
    }
}

/// A namespace to join, opened.
#[derive(Debug)]
pub struct Join {
    /// Its type.
    pub kind: NamespaceType,
    /// The path as the decision wrote it.
    pub requested: String,
    /// The file opened (`sandbox:<id>` resolved to `/proc/<pid>/ns/<type>`).
    pub path: PathBuf,
    /// The open namespace file (close-on-exec).
    pub file: OwnedFd,
}

/// The namespace work of one sandbox.
#[derive(Debug, Default)]
pub struct NamespaceSetup {
    /// Namespaces created by `clone`.
    pub clone_flags: libc::c_int,
    /// Namespaces the child unshares after joining (cgroup, and everything
    /// it creates when it joins a user namespace).
    pub unshare_flags: libc::c_int,
    /// Namespaces the child joins, user first and mount last.
    pub joins: Vec<Join>,
    /// Namespaces the parent joins around the clone (when the clone makes
    /// a new user namespace).
    pub parent_joins: Vec<Join>,
    /// The types created (in any way).
    pub created: Vec<NamespaceType>,
}

impl NamespaceSetup {
    /// Whether the sandbox gets a new namespace of `kind`.
    pub fn creates(&self, kind: NamespaceType) -> bool {
        self.created.contains(&kind)
    }

    /// Whether the sandbox joins a namespace of `kind`.
    pub fn joins(&self, kind: NamespaceType) -> bool {
        self.joins
            .iter()
            .chain(&self.parent_joins)
            .any(|join| join.kind == kind)
    }

    /// Whether the child must fork once more to enter its pid namespace: one
    /// it joins or unshares itself (both apply to its children only).
    pub fn needs_pid_fork(&self) -> bool {
        self.joins
            .iter()
            .any(|join| join.kind == NamespaceType::Pid)
            || self.unshare_flags & libc::CLONE_NEWPID != 0
    }

    /// `(fd, CLONE_NEW* type)` pairs for `setns`, in order.
    pub fn setns_list(&self) -> Vec<(libc::c_int, libc::c_int)> {
        self.joins
            .iter()
            .map(|join| (join.file.as_raw_fd(), clone_flag(join.kind)))
            .collect()
    }
}

/// Why the namespaces of a decision cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// The path is not on the operator's allow-list.
    #[error(
        "namespaces[{index}].path {path:?}: joining existing namespaces is refused unless the operator allows the path (--allow-join GLOB)"
    )]
    NotAllowed {
        /// Index in the decision.
        index: usize,
        /// The path.
        path: String,
    },
    /// A combination the kernel does not allow.
    #[error("namespaces[{index}]: {why}")]
    Unsupported {
        /// Index in the decision.
        index: usize,
        /// Why.
        why: String,
    },
    /// The path cannot be opened.
    #[error("namespaces[{index}].path {path}: {err}")]
    Open {
        /// Index in the decision.
        index: usize,
        /// The path.
        path: String,
        /// The error.
        err: std::io::Error,
    },
    /// The file is a namespace of another type, or no namespace.
    #[error("namespaces[{index}].path {path} is not a {expected} namespace{actual}")]
    WrongType {
        /// Index in the decision.
        index: usize,
        /// The path.
        path: String,
        /// The type asked for.
        expected: NamespaceType,
        /// What it is, if it is a namespace.
        actual: String,
    },
    /// `sandbox:<id>` names no running sandbox.
    #[error("namespaces[{index}].path {path:?}: {why}")]
    Sandbox {
        /// Index in the decision.
        index: usize,
        /// The path.
        path: String,
        /// Why it cannot be resolved.
        why: String,
    },
}

/// A namespace a sandbox's state recorded: its inode, and the inode of
/// the user namespace that owns it (`NS_GET_USERNS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedNamespace {
    /// The namespace's inode.
    pub inode: u64,
    /// Its owning user namespace's inode.
    pub owner: u64,
}

/// What `sandbox:<id>` resolves to: the sandbox's first process and the
/// namespaces its state recorded, by `/proc/<pid>/ns` name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxTarget {
    /// Its first process.
    pub pid: i32,
    /// Its namespaces.
    pub namespaces: BTreeMap<String, RecordedNamespace>,
}

pub use crate::linux::namespaces::proc_file;

/// `(inode, owner inode)` of an open namespace file. The owner of the
/// initial user namespace (which has none, or none visible from here:
/// `EPERM`) is 0.
pub fn identify(file: &std::fs::File) -> std::io::Result<RecordedNamespace> {
    use std::os::unix::fs::MetadataExt;
    let inode = file.metadata()?.ino();
    // SAFETY: an ioctl on a descriptor we own, without arguments; it
    // returns a new descriptor.
    let owner = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_USERNS as _) };
    if owner < 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EPERM) {
            return Ok(RecordedNamespace { inode, owner: 0 });
        }
        return Err(error);
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let owner = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(owner) });
    Ok(RecordedNamespace {
        inode,
        owner: owner.metadata()?.ino(),
    })
}

/// The namespaces of process `pid` (`pid` from `pid_for_children`), by
/// `/proc/<pid>/ns` name: what a sandbox's state records.
pub fn record(pid: i32) -> BTreeMap<String, RecordedNamespace> {
    NamespaceType::ALL
        .iter()
        .filter_map(|kind| {
            let path = crate::linux::namespaces::proc_path(pid, *kind);
            let file = std::fs::File::open(path).ok()?;
            Some((kind.proc_name().to_string(), identify(&file).ok()?))
        })
        .collect()
}

/// Opens the `kind` namespace of sandbox process `pid` and checks it is
/// the one its state recorded, by inode and by owning user namespace: a
/// pid reused by another process, or a state naming foreign namespaces,
/// is refused. Returns the path and the open file.
pub fn open_recorded(
    pid: i32,
    kind: NamespaceType,
    recorded: RecordedNamespace,
) -> Result<(PathBuf, std::fs::File), String> {
    let path = crate::linux::namespaces::proc_path(pid, kind);
    let file = std::fs::File::open(&path)
        .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
    let actual =
        identify(&file).map_err(|error| format!("cannot identify {}: {error}", path.display()))?;
    if actual.inode != recorded.inode {
        return Err(format!(
            "{} is namespace {}, not the {kind} namespace {} the sandbox was started with",
            path.display(),
            actual.inode,
            recorded.inode
        ));
    }
    if actual.owner != recorded.owner {
        return Err(format!(
            "{} is owned by user namespace {}, not by {} as recorded",
            path.display(),
            actual.owner,
            recorded.owner
        ));
    }
    Ok((path, file))
}

/// Puts `joins` in the order the kernel needs: the user namespace first
/// (it owns the others), the mount namespace last (after it, paths resolve
/// in the joined mount table).
pub fn sort_joins(joins: &mut [Join]) {
    joins.sort_by_key(|join| match join.kind {
        NamespaceType::User => 0,
        NamespaceType::Mount => 2,
        _ => 1,
    });
}

/// `NS_GET_NSTYPE` (linux/nsfs.h): the `CLONE_NEW*` type of a namespace fd.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
/// `NS_GET_USERNS` (linux/nsfs.h): a descriptor of the owning user namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// Plans the namespaces of `decision`: checks joins against `allow`,
/// resolves `sandbox:<id>` with `resolve` (id → the sandbox's first
/// process and recorded namespaces; it refuses sandboxes of another
/// tenant), opens every file to join and checks its type, and for a
/// sandbox its recorded inode and owner.
pub fn prepare(
    namespaces: &[Namespace],
    allow: &JoinAllowList,
    resolve: &dyn Fn(&str) -> Result<SandboxTarget, String>,
) -> Result<NamespaceSetup, NamespaceError> {
    let mut setup = NamespaceSetup::default();
    let mut creates = 0;
    for (index, namespace) in namespaces.iter().enumerate() {
        let Some(requested) = &namespace.path else {
            creates |= clone_flag(namespace.kind);
            setup.created.push(namespace.kind);
            continue;
        };
        if !allow.allows(requested) {
            return Err(NamespaceError::NotAllowed {
                index,
                path: requested.clone(),
            });
        }
        let (path, file) = match requested.strip_prefix(SANDBOX_PREFIX) {
            Some(id) => {
                let sandbox = |why: String| NamespaceError::Sandbox {
                    index,
                    path: requested.clone(),
                    why,
                };
                let target = resolve(id).map_err(sandbox)?;
                let recorded = target
                    .namespaces
                    .get(namespace.kind.proc_name())
                    .copied()
                    .ok_or_else(|| {
                        sandbox(format!(
                            "the state of sandbox {id:?} records no {} namespace",
                            namespace.kind
                        ))
                    })?;
                open_recorded(target.pid, namespace.kind, recorded).map_err(sandbox)?
            }
            None => {
                let path = PathBuf::from(requested);
                let file = std::fs::File::open(&path).map_err(|source| NamespaceError::Open {
                    index,
                    path: path.display().to_string(),
                    err: source,
                })?;
                (path, file)
            }
        };
        // SAFETY: an ioctl on a descriptor we own, without arguments.
        let actual = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
        if actual != clone_flag(namespace.kind) {
            let actual = NamespaceType::ALL
                .into_iter()
                .find(|kind| clone_flag(*kind) == actual)
                .map(|kind| format!(" (it is a {kind} namespace)"))
                .unwrap_or_default();
            return Err(NamespaceError::WrongType {
                index,
                path: path.display().to_string(),
                expected: namespace.kind,
                actual,
            });
        }
        setup.joins.push(Join {
            kind: namespace.kind,
            requested: requested.clone(),
            path,
            file: file.into(),
        });
    }
    sort_joins(&mut setup.joins);
    // The cgroup namespace is unshared once the child is in its cgroups.
    let cgroup = creates & libc::CLONE_NEWCGROUP;
    let others = creates & !libc::CLONE_NEWCGROUP;
    if setup.joins(NamespaceType::User) {
        setup.unshare_flags = others | cgroup;
    } else {
        setup.clone_flags = others;
        setup.unshare_flags = cgroup;
        if others & libc::CLONE_NEWUSER != 0 {
            if let Some(index) = namespaces.iter().position(|namespace| {
                namespace.kind == NamespaceType::Mount && namespace.path.is_some()
            }) {
                return Err(NamespaceError::Unsupported {
                    index,
                    why: "joining a mount namespace together with creating a user namespace is not supported".into(),
                });
            }
            setup.parent_joins = std::mem::take(&mut setup.joins);
        }
    }
    Ok(setup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::Decision;

    fn no_sandboxes(id: &str) -> Result<SandboxTarget, String> {
        Err(format!("no sandbox {id}"))
    }

    #[test]
    fn globs() {
        assert!(glob_matches(b"/run/netns/*", b"/run/netns/blue"));
        assert!(glob_matches(b"sandbox:acme-*", b"sandbox:acme-1"));
        assert!(glob_matches(b"/proc/?/ns/net", b"/proc/1/ns/net"));
        assert!(!glob_matches(b"/run/netns/*", b"/proc/1/ns/net"));
        assert!(!glob_matches(b"/proc/?/ns/net", b"/proc/12/ns/net"));
    }

    #[test]
    fn creating_uses_clone_except_cgroup() {
        let decision = Decision::allow().standard_namespaces();
        let setup = prepare(
            &decision.namespaces,
            &JoinAllowList::default(),
            &no_sandboxes,
        )
        .expect("ok");
        assert_eq!(setup.unshare_flags, libc::CLONE_NEWCGROUP);
        assert_eq!(setup.clone_flags & libc::CLONE_NEWCGROUP, 0);
        assert_ne!(setup.clone_flags & libc::CLONE_NEWPID, 0);
        assert!(!setup.needs_pid_fork());
    }

    #[test]
    fn joining_needs_the_allow_list_and_the_right_type() {
        let decision =
            Decision::allow().join_namespace(NamespaceType::Network, "/proc/self/ns/net");
        let error = prepare(
            &decision.namespaces,
            &JoinAllowList::default(),
            &no_sandboxes,
        )
        .expect_err("not allowed");
        assert!(error.to_string().contains("--allow-join"), "{error}");
        let allow = JoinAllowList {
            patterns: vec!["/proc/self/ns/*".into()],
        };
        let setup = prepare(&decision.namespaces, &allow, &no_sandboxes).expect("allowed");
        assert_eq!(setup.joins.len(), 1);
        let wrong = Decision::allow().join_namespace(NamespaceType::Ipc, "/proc/self/ns/net");
        let error = prepare(&wrong.namespaces, &allow, &no_sandboxes).expect_err("a net namespace");
        assert!(
            error
                .to_string()
                .contains("is not a ipc namespace (it is a network namespace)"),
            "{error}"
        );
        let missing = Decision::allow().join_namespace(NamespaceType::Network, "sandbox:ghost");
        let allow = JoinAllowList {
            patterns: vec!["sandbox:*".into()],
        };
        let error =
            prepare(&missing.namespaces, &allow, &no_sandboxes).expect_err("no such sandbox");
        assert!(error.to_string().contains("no sandbox ghost"), "{error}");
    }

    #[test]
    fn recorded_namespaces_are_checked_by_inode_and_owner() {
        let pid = std::process::id() as i32;
        let ours = record(pid);
        let net = ours["net"];
        assert_eq!(
            ours["user"].inode, net.owner,
            "our namespaces belong to our user namespace"
        );
        let (path, _) = open_recorded(pid, NamespaceType::Network, net).expect("ours");
        assert_eq!(path, PathBuf::from(format!("/proc/{pid}/ns/net")));
        let error = open_recorded(
            pid,
            NamespaceType::Network,
            RecordedNamespace {
                inode: net.inode + 1,
                ..net
            },
        )
        .expect_err("another inode");
        assert!(error.contains("not the network namespace"), "{error}");
        let error = open_recorded(
            pid,
            NamespaceType::Network,
            RecordedNamespace { owner: 1, ..net },
        )
        .expect_err("another owner");
        assert!(error.contains("not by 1 as recorded"), "{error}");
        // sandbox:<id> goes through the same check.
        let target = SandboxTarget {
            pid,
            namespaces: BTreeMap::from([(
                "net".to_string(),
                RecordedNamespace { owner: 1, ..net },
            )]),
        };
        let decision = Decision::allow().join_namespace(NamespaceType::Network, "sandbox:web");
        let allow = JoinAllowList {
            patterns: vec!["sandbox:*".into()],
        };
        let error =
            prepare(&decision.namespaces, &allow, &|_| Ok(target.clone())).expect_err("forged");
        assert!(
            error.to_string().contains("not by 1 as recorded"),
            "{error}"
        );
        let error = prepare(
            &Decision::allow()
                .join_namespace(NamespaceType::Ipc, "sandbox:web")
                .namespaces,
            &allow,
            &|_| Ok(target.clone()),
        )
        .expect_err("not recorded");
        assert!(
            error.to_string().contains("records no ipc namespace"),
            "{error}"
        );
    }

    #[test]
    fn with_a_new_user_namespace_the_parent_joins() {
        let decision = Decision::allow()
            .namespace(NamespaceType::User)
            .namespace(NamespaceType::Pid)
            .join_namespace(NamespaceType::Network, "/proc/self/ns/net");
        let allow = JoinAllowList {
            patterns: vec!["/proc/self/ns/*".into()],
        };
        let setup = prepare(&decision.namespaces, &allow, &no_sandboxes).expect("ok");
        assert!(setup.joins.is_empty());
        assert_eq!(setup.parent_joins.len(), 1);
        assert!(
            !setup.needs_pid_fork(),
            "the pid namespace comes with the clone"
        );
        let mount = Decision::allow()
            .namespace(NamespaceType::User)
            .join_namespace(NamespaceType::Mount, "/proc/self/ns/mnt");
        let error = prepare(&mount.namespaces, &allow, &no_sandboxes).expect_err("refused");
        assert!(error.to_string().contains("not supported"), "{error}");
    }

    #[test]
    fn joining_a_user_namespace_unshares_the_rest_after_it() {
        let decision = Decision::allow()
            .join_namespace(NamespaceType::User, "/proc/self/ns/user")
            .namespace(NamespaceType::Pid)
            .namespace(NamespaceType::Uts);
        let allow = JoinAllowList {
            patterns: vec!["/proc/self/ns/*".into()],
        };
        let setup = prepare(&decision.namespaces, &allow, &no_sandboxes).expect("ok");
        assert_eq!(setup.clone_flags, 0);
        assert_eq!(setup.unshare_flags, libc::CLONE_NEWPID | libc::CLONE_NEWUTS);
        assert!(setup.needs_pid_fork());
    }
}
