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
use std::time::{Duration, Instant};

use crate::decision::NormalResources;
use nix::mount::{MntFlags, MsFlags};

use super::discovery::{CgroupLayout, ControllerState, discover, parse_proc_cgroups};
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
    #[error("cannot {action} {path}: {err}")]
    System {
        /// What was tried (`mount cgroup -o net_cls on`, `unmount`).
        action: String,
        /// The mount point.
        path: PathBuf,
        /// The kernel's error.
        err: std::io::Error,
    },
}

/// Mounts `controller` as a v1 hierarchy at `<base>/<controller>` and
/// returns the mount point. Refuses controllers that are mounted already,
/// in use on cgroup2, or disabled.
pub fn mount_controller(
    layout: &CgroupLayout,
    controller: &str,
    base: &Path,
) -> Result<MountedController, MountError> {
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
        ControllerState::Shadowed {
            mount_point,
            covered_by,
        } => {
            return Err(refuse(&format!(
                "its hierarchy at {} is covered by another mount at {}; the enforcer does not mount a controller it cannot see",
                mount_point.display(),
                covered_by.display()
            )));
        }
        ControllerState::Disabled => return Err(refuse("it is not available in this kernel")),
    }
    let target = base.join(controller);
    let system = |action: String, source: nix::Error| MountError::System {
        action,
        path: target.clone(),
        err: source.into(),
    };
    std::fs::create_dir_all(&target).map_err(|source| MountError::System {
        action: "create".into(),
        path: target.clone(),
        err: source,
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
    Ok(MountedController {
        controller: controller.to_string(),
        mount_point: target,
    })
}

/// A v1 hierarchy the enforcer mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountedController {
    /// The controller.
    pub controller: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
}

/// How long unmounting waits for removed cgroups to be freed.
const UNMOUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// Unmounts a hierarchy [`mount_controller`] mounted, removes its mount
/// point, and waits until the kernel has handed the controller back to the
/// cgroup2 root (hierarchy 0 in `/proc/cgroups`). Its cgroups must be
/// removed first.
///
/// The kernel destroys an unmounted v1 hierarchy only if it has no child
/// cgroup at that moment; a removed cgroup lingers until its last reference
/// goes, and a hierarchy unmounted before then stays alive out of sight,
/// holding the controller. So this waits until the hierarchy counts only
/// its root, and if the controller is still held after the unmount, mounts
/// the hidden hierarchy again and retries.
pub fn unmount_controller(mounted: &MountedController) -> Result<(), MountError> {
    let MountedController {
        controller,
        mount_point,
    } = mounted;
    let deadline = Instant::now() + UNMOUNT_TIMEOUT;
    let system = |action: &str, source: nix::Error| MountError::System {
        action: action.to_string(),
        path: mount_point.clone(),
        err: source.into(),
    };
    loop {
        while kernel_row(controller).is_some_and(|(_, cgroups)| cgroups > 1)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        nix::mount::umount2(mount_point.as_path(), MntFlags::empty())
            .map_err(|error| system("unmount", error))?;
        let released = Instant::now() + Duration::from_millis(500);
        while kernel_row(controller).is_some_and(|(hierarchy, _)| hierarchy != 0)
            && Instant::now() < released
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        if kernel_row(controller).is_none_or(|(hierarchy, _)| hierarchy == 0) {
            let _ = std::fs::remove_dir(mount_point);
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = std::fs::remove_dir(mount_point);
            return Err(MountError::NotMountable {
                controller: controller.clone(),
                why: format!(
                    "after unmounting {} the kernel still holds it in a hidden hierarchy (a removed cgroup is still referenced); mount and unmount it again later to release it",
                    mount_point.display()
                ),
            });
        }
        nix::mount::mount(
            Some("cgroup"),
            mount_point.as_path(),
            Some("cgroup"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(controller.as_str()),
        )
        .map_err(|error| system("mount again to release", error))?;
    }
}

/// `(hierarchy id, number of cgroups)` of `controller` in `/proc/cgroups`.
fn kernel_row(controller: &str) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string("/proc/cgroups").ok()?;
    parse_proc_cgroups(&text)
        .into_iter()
        .find(|row| row.name == controller)
        .map(|row| (row.hierarchy, row.cgroups))
}

/// Plans `resources`, mounting each missing controller the plan names
/// under `base` first. Returns the plan, the layout it was made on, and
/// the hierarchies mounted (for the caller to record or undo). On an error
/// the hierarchies this call mounted are unmounted again.
pub fn plan_mounting(
    resources: &NormalResources,
    root: &str,
    cgroups_path: &str,
    base: &Path,
) -> Result<(CgroupPlan, CgroupLayout, Vec<MountedController>), anyhow::Error> {
    let mut mounted: Vec<MountedController> = Vec::new();
    let undo = |mounted: &[MountedController]| {
        for hierarchy in mounted.iter().rev() {
            let _ = unmount_controller(hierarchy);
        }
    };
    loop {
        let layout = discover();
        match plan(resources, &layout, root, cgroups_path) {
            Ok(plan) => return Ok((plan, layout, mounted)),
            Err(PlanError::MissingController { ref controller, .. })
                if matches!(
                    layout.controller_state(controller),
                    ControllerState::Unmounted | ControllerState::V2NotEnabled(_)
                ) && !mounted.iter().any(|m| &m.controller == controller) =>
            {
                match mount_controller(&layout, controller, base) {
                    Ok(hierarchy) => mounted.push(hierarchy),
                    Err(error) => {
                        undo(&mounted);
                        return Err(error.into());
                    }
                }
            }
            Err(error) => {
                undo(&mounted);
                return Err(error.into());
            }
        }
    }
}
