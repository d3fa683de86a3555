//! Idmapped bind mounts (`idmap`, `ridmap`), prepared by the parent
//! before the clone: the kernel wants `CAP_SYS_ADMIN` over the mounted
//! filesystem's user namespace and a detached mount, which the child in a
//! user namespace of its own cannot have. The parent makes a throwaway
//! user namespace with the maps (the mount's own `uidMappings` and
//! `gidMappings`, else the sandbox's), clones the source
//! (`open_tree(OPEN_TREE_CLONE)`), idmaps it (`mount_setattr` with
//! `MOUNT_ATTR_IDMAP`), and hands the detached mount to the child, which
//! attaches it at the destination it resolved inside the new root.
//!
//! The maps are written as a user namespace's; seen through the mount,
//! ids go *down* the map: an on-disk id `containerID + n` appears as host
//! id `hostID + n` (and a file created as `hostID + n` lands on disk
//! owned by `containerID + n`). With the sandbox's own map (`0 → H`), the
//! host's root-owned files appear owned by the sandbox's root (`H`), and
//! a file its root creates lands on disk owned by uid 0.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::libc;
use nix::unistd::Pid;
use policy_model::normal::NormalFilesystem;
use policy_sdk::IdMapping;

use super::plan::parse_options;
use super::sys::{self, MountAttr};

/// Why an idmapped mount cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    /// A system call failed.
    #[error("mount {index} (idmapped bind at {destination}, source {source_path}): {what}: {err}")]
    Call {
        /// The mount's index.
        index: usize,
        /// Its source.
        source_path: String,
        /// Its destination.
        destination: String,
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
}

/// Prepares every idmapped bind mount of `filesystem` (with a root):
/// `(mount index, detached mount)`, close-on-exec.
pub fn prepare(
    filesystem: &NormalFilesystem,
    uid_mappings: &[IdMapping],
    gid_mappings: &[IdMapping],
) -> Result<Vec<(usize, OwnedFd)>, IdmapError> {
    let mut prepared = Vec::new();
    if filesystem.root.is_none() {
        return Ok(prepared);
    }
    for (index, mount) in filesystem.mounts.iter().enumerate() {
        let Ok(options) = parse_options(mount) else {
            continue; // the plan reports it
        };
        let Some(recursive_idmap) = options.idmap else {
            continue;
        };
        let source = mount.source.clone().unwrap_or_default();
        let failed = |what: &str, err: std::io::Error| IdmapError::Call {
            index,
            source_path: source.clone(),
            destination: mount.destination.clone(),
            what: what.into(),
            err,
        };
        let (uids, gids) = if mount.uid_mappings.is_empty() && mount.gid_mappings.is_empty() {
            (uid_mappings, gid_mappings)
        } else {
            (&mount.uid_mappings[..], &mount.gid_mappings[..])
        };
        if uids.is_empty() || gids.is_empty() {
            return Err(failed(
                "needs uidMappings and gidMappings (the mount's, or the sandbox's user namespace's)",
                std::io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        let userns = throwaway_user_namespace(uids, gids)
            .map_err(|err| failed("cannot make a user namespace with its maps", err))?;
        let path =
            CString::new(std::path::Path::new(&source).as_os_str().as_bytes()).map_err(|_| {
                failed(
                    "its source",
                    std::io::Error::from_raw_os_error(libc::EINVAL),
                )
            })?;
        let mut flags = sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC;
        if options.recursive {
            flags |= libc::AT_RECURSIVE as libc::c_uint;
        }
        // SAFETY: a NUL-terminated path; the descriptor is ours.
        let tree =
            unsafe { sys::open_tree(libc::AT_FDCWD, path.as_ptr(), flags) }.map_err(|errno| {
                failed(
                    "cannot clone the source",
                    std::io::Error::from_raw_os_error(errno),
                )
            })?;
        // SAFETY: a fresh descriptor nobody else owns.
        let tree = unsafe { OwnedFd::from_raw_fd(tree) };
        let attr = MountAttr {
            attr_set: sys::MOUNT_ATTR_IDMAP | options.attributes,
            attr_clr: 0,
            propagation: 0,
            userns_fd: std::os::fd::AsRawFd::as_raw_fd(&userns) as u64,
        };
        sys::set_attributes(
            std::os::fd::AsRawFd::as_raw_fd(&tree),
            recursive_idmap,
            &attr,
        )
        .map_err(|errno| {
            let what = match errno {
                libc::EINVAL | libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS => {
                    "idmapped mounts are unsupported there (this filesystem or kernel)"
                }
                _ => "cannot idmap it",
            };
            failed(what, std::io::Error::from_raw_os_error(errno))
        })?;
        prepared.push((index, tree));
    }
    Ok(prepared)
}

/// A user namespace with `uids` and `gids` mapped: made by a child that
/// does nothing but wait to be killed.
fn throwaway_user_namespace(uids: &[IdMapping], gids: &[IdMapping]) -> std::io::Result<OwnedFd> {
    // SAFETY: a fork-like clone; the child only waits for its SIGKILL
    // (system calls alone, as after any fork of a threaded process).
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        loop {
            // SAFETY: waits for a signal.
            unsafe { libc::pause() };
        }
    }
    let pid = Pid::from_raw(pid as libc::pid_t);
    let opened = crate::sandbox::spawn::write_id_maps(pid, uids, gids)
        .map_err(|error| std::io::Error::other(error.to_string()))
        .and_then(|()| std::fs::File::open(format!("/proc/{pid}/ns/user")));
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
    Ok(OwnedFd::from(opened?))
}
