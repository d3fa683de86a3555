//! What the default policy's sandbox sees of the host's files.
//!
//! * the host's `/`, read-only (every mount below it too), as the root;
//! * private tmpfs on `/tmp`, `/var/tmp` and `/run` (`/dev/shm` comes with
//!   the enforcer's minimal `/dev`), each as large as the memory limit,
//!   which its pages count against anyway;
//! * `/home` and `/root` hidden under empty tmpfs;
//! * the OCI default masked and read-only paths (`/proc/kcore`,
//!   `/proc/keys`, `/proc/sys`, `/sys/firmware`, ...);
//! * the caller's working directory bind-mounted at its own path, where
//!   the workload starts: read-only, unless the caller is not root, runs
//!   as themselves and asks with the label `workdir=rw`. For a root
//!   caller, whose workload runs in a private user namespace, the bind is
//!   idmapped, so root's files appear as the sandbox root's.

use policy_sdk::{Decision, MIB, Request};

/// The label that asks for write access to the working directory.
pub const WORKDIR_LABEL: &str = "workdir";

/// Size of the empty tmpfs over `/home` and `/root`: room for the mount
/// point of a working directory below them, nothing more.
const MASK_TMPFS_BYTES: u64 = MIB;

/// Where a working directory is not bound: the kernel's own filesystems,
/// which the sandbox gets fresh.
const NOT_BOUND_BELOW: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Adds the root, the tmpfs, the masks and the working directory.
/// `tmpfs_bytes`: the size of each private tmpfs; `in_user_namespace`:
/// the workload's user namespace is private (a root caller).
pub fn confine(
    decision: Decision,
    request: &Request,
    tmpfs_bytes: u64,
    in_user_namespace: bool,
) -> Decision {
    let decision = decision
        .readonly_host_root()
        .tmpfs("/tmp", Some(tmpfs_bytes))
        .tmpfs("/var/tmp", Some(tmpfs_bytes))
        .tmpfs("/run", Some(tmpfs_bytes))
        .empty_tmpfs("/home", 0o755, MASK_TMPFS_BYTES)
        .empty_tmpfs("/root", 0o700, MASK_TMPFS_BYTES)
        .oci_default_masks();
    working_directory(decision, request, in_user_namespace)
}

/// Binds the caller's working directory and starts the workload there.
fn working_directory(decision: Decision, request: &Request, in_user_namespace: bool) -> Decision {
    let Some(cwd) = request.cwd.as_deref().filter(|cwd| bindable(cwd)) else {
        return decision.working_directory("/");
    };
    let writable = may_write(request);
    let decision = if in_user_namespace {
        decision.idmapped_bind(cwd, cwd, writable)
    } else {
        decision.bind(cwd, cwd, writable)
    };
    decision.working_directory(cwd)
}

/// Whether the caller may write its working directory: asked for with
/// `workdir=rw`, and only for a non-root caller running as itself (root's
/// files are not the sandbox's to change).
pub fn may_write(request: &Request) -> bool {
    request.label(WORKDIR_LABEL) == Some("rw") && request.user.uid != 0
}

/// An absolute path other than `/`, outside the kernel's filesystems.
fn bindable(cwd: &str) -> bool {
    cwd.starts_with('/')
        && cwd != "/"
        && !NOT_BOUND_BELOW
            .iter()
            .any(|top| cwd == *top || cwd.starts_with(&format!("{top}/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate;
    use policy_sdk::testing::{assert_allowed, request};
    use policy_sdk::{Mount, OCI_MASKED_PATHS, OCI_READONLY_PATHS};

    fn in_dir(uid: u32, cwd: &str, labels: &[(&str, &str)]) -> Decision {
        let builder = labels.iter().fold(
            request().user(uid, uid).cwd(cwd),
            |builder, (key, value)| builder.label(key, value),
        );
        assert_allowed(evaluate(&builder.build()))
    }

    fn mount_at<'a>(decision: &'a Decision, destination: &str) -> &'a Mount {
        decision
            .mounts
            .iter()
            .find(|mount| mount.destination == destination)
            .unwrap_or_else(|| panic!("no mount at {destination}: {:?}", decision.mounts))
    }

    #[test]
    fn the_host_root_is_read_only_with_private_scratch_space() {
        let decision = in_dir(1000, "/srv/job", &[]);
        let root = decision.root.as_ref().expect("a root");
        assert_eq!((root.path.as_str(), root.readonly), ("/", true));
        for scratch in ["/tmp", "/var/tmp", "/run"] {
            let mount = mount_at(&decision, scratch);
            assert_eq!(mount.kind.as_deref(), Some("tmpfs"));
            assert!(mount.options.contains(&"nosuid".to_string()));
        }
        for hidden in ["/home", "/root"] {
            assert_eq!(mount_at(&decision, hidden).kind.as_deref(), Some("tmpfs"));
        }
        for path in OCI_MASKED_PATHS {
            assert!(decision.masked_paths.iter().any(|p| p == path), "{path}");
        }
        for path in OCI_READONLY_PATHS {
            assert!(decision.readonly_paths.iter().any(|p| p == path), "{path}");
        }
    }

    #[test]
    fn the_working_directory_is_bound_read_only_where_the_workload_starts() {
        let decision = in_dir(1000, "/home/ann/job", &[]);
        let bind = mount_at(&decision, "/home/ann/job");
        assert!(bind.is_bind() && bind.is_readonly(), "{bind:?}");
        assert_eq!(bind.source.as_deref(), Some("/home/ann/job"));
        assert!(!bind.options.contains(&"idmap".to_string()));
        // After the tmpfs that hides /home, or it would be hidden too.
        let position = |dest: &str| {
            decision
                .mounts
                .iter()
                .position(|mount| mount.destination == dest)
        };
        assert!(position("/home") < position("/home/ann/job"));
        let cwd = decision.process.and_then(|process| process.cwd);
        assert_eq!(cwd.as_deref(), Some("/home/ann/job"));
    }

    #[test]
    fn only_a_non_root_caller_gets_write_access_and_only_when_asking() {
        let asked = in_dir(1000, "/srv/job", &[(WORKDIR_LABEL, "rw")]);
        assert!(!mount_at(&asked, "/srv/job").is_readonly());
        let silent = in_dir(1000, "/srv/job", &[]);
        assert!(mount_at(&silent, "/srv/job").is_readonly());
        let other = in_dir(1000, "/srv/job", &[(WORKDIR_LABEL, "yes")]);
        assert!(mount_at(&other, "/srv/job").is_readonly());
        let root = in_dir(0, "/srv/job", &[(WORKDIR_LABEL, "rw")]);
        assert!(mount_at(&root, "/srv/job").is_readonly());
    }

    #[test]
    fn a_root_callers_working_directory_is_idmapped() {
        let decision = in_dir(0, "/root/job", &[]);
        let bind = mount_at(&decision, "/root/job");
        assert!(bind.options.contains(&"idmap".to_string()), "{bind:?}");
        assert!(decision.private_host_ids);
    }

    #[test]
    fn kernel_filesystems_and_the_root_are_never_bound() {
        for cwd in ["/", "/proc", "/proc/self", "/sys/fs", "/dev", "relative"] {
            let decision = in_dir(1000, cwd, &[]);
            assert!(
                decision.mounts.iter().all(|mount| !mount.is_bind()),
                "{cwd}: {:?}",
                decision.mounts
            );
            let start = decision.process.and_then(|process| process.cwd);
            assert_eq!(start.as_deref(), Some("/"), "{cwd}");
        }
        // /devices is not /dev.
        let decision = in_dir(1000, "/devices", &[]);
        assert!(mount_at(&decision, "/devices").is_bind());
    }

    #[test]
    fn without_a_known_working_directory_the_workload_starts_at_the_root() {
        let decision = assert_allowed(evaluate(&request().user(1000, 1000).build()));
        assert!(decision.mounts.iter().all(|mount| !mount.is_bind()));
        let start = decision.process.and_then(|process| process.cwd);
        assert_eq!(start.as_deref(), Some("/"));
    }
}
