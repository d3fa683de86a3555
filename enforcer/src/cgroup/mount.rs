//! Mounting v1 controllers the host has not mounted (`--mount-controllers`).
//!
//! A controller enabled in the kernel but mounted nowhere (on some hosts
//! `net_cls`, `net_prio`, `perf_event`) is mounted as its own v1 hierarchy
//! under the enforcer's directory. So is a controller the cgroup2 root
//! offers but has not enabled for any child: the kernel moves it to the new
//! v1 hierarchy (it leaves `cgroup.controllers` of the v2 root until the
//! hierarchy is unmounted and empty). A controller in use anywhere is never
//! moved.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use policy_sdk::Resources;

use super::discovery::{CgroupLayout, ControllerState, discover};
use super::plan::{CgroupPlan, PlanError, plan};

/// The default directory for the hierarchies the enforcer mounts.
pub const DEFAULT_MOUNT_BASE: &str = "/run/enforcer/cgroup";

/// A mount failure.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The controller cannot be mounted here.
    #[error("cannot mount the {controller} controller: {why}")]
    NotMountable {
        /// The controller.
        controller: String,
        /// Why.
        why: String,
    },
    /// A system call failed.
    #[error("cannot {action} {path}: {source}")]
    System {
        /// What was tried (`mount cgroup -o net_cls on`, `unmount`).
        action: String,
        /// The mount point.
        path: PathBuf,
        /// The kernel's error.
        source: std::io::Error,
    },
}

/// Mounts `controller` as a v1 hierarchy at `<base>/<controller>` and
/// returns the mount point. Refuses controllers that are mounted already,
/// in use on cgroup2, or disabled.
pub fn mount_controller(
    layout: &CgroupLayout,
    controller: &str,
    base: &Path,
) -> Result<PathBuf, MountError> {
    let refuse = |why: &str| MountError::NotMountable {
        controller: controller.to_string(),
        why: why.to_string(),
    };
    match layout.controller_state(controller) {
        ControllerState::Unmounted | ControllerState::V2NotEnabled(_) => {}
        ControllerState::V1(mount) => {
            return Err(refuse(&format!(
                "it is mounted at {} already",
                mount.display()
            )));
        }
        ControllerState::V2(_) => {
            return Err(refuse("it is in use on the cgroup2 hierarchy"));
        }
        ControllerState::Disabled => return Err(refuse("it is not available in this kernel")),
    }
    let target = base.join(controller);
    let system = |action: String, source: nix::Error| MountError::System {
        action,
        path: target.clone(),
        source: source.into(),
    };
    std::fs::create_dir_all(&target).map_err(|source| MountError::System {
        action: "create".into(),
        path: target.clone(),
        source,
    })?;
    nix::mount::mount(
        Some("cgroup"),
        &target,
        Some("cgroup"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(controller),
    )
    .map_err(|error| {
        let _ = std::fs::remove_dir(&target);
        system(format!("mount cgroup -o {controller} on"), error)
    })?;
    Ok(target)
}

/// Unmounts a hierarchy [`mount_controller`] mounted and removes its mount
/// point. Its cgroups must be removed first: the kernel keeps a hierarchy
/// with cgroups alive, out of sight, after the unmount.
pub fn unmount_controller(mount_point: &Path) -> Result<(), MountError> {
    nix::mount::umount2(mount_point, MntFlags::empty()).map_err(|source| MountError::System {
        action: "unmount".into(),
        path: mount_point.to_path_buf(),
        source: source.into(),
    })?;
    let _ = std::fs::remove_dir(mount_point);
    Ok(())
}

/// Plans `resources`, mounting each missing controller the plan names
/// under `base` first. Returns the plan, the layout it was made on, and
/// the mount points created (for the caller to record or undo).
pub fn plan_mounting(
    resources: &Resources,
    root: &str,
    cgroups_path: &str,
    base: &Path,
) -> Result<(CgroupPlan, CgroupLayout, Vec<PathBuf>), anyhow::Error> {
    let mut mounted = Vec::new();
    loop {
        let layout = discover();
        match plan(resources, &layout, root, cgroups_path) {
            Ok(plan) => return Ok((plan, layout, mounted)),
            Err(PlanError::MissingController { ref controller, .. })
                if matches!(
                    layout.controller_state(controller),
                    ControllerState::Unmounted | ControllerState::V2NotEnabled(_)
                ) && !mounted.iter().any(|m: &PathBuf| m.ends_with(controller)) =>
            {
                mounted.push(mount_controller(&layout, controller, base)?);
            }
            Err(error) => return Err(error.into()),
        }
    }
}
