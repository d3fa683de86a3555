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

use super::discovery::{CgroupLayout, ControllerState, Version, discover, parse_proc_cgroups};
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

/// Whether [`mount_controller`] may mount `controller` on `layout`: an
/// error saying why not.
fn check_mountable(layout: &CgroupLayout, controller: &str) -> Result<(), MountError> {
    let refuse = |why: &str| MountError::NotMountable {
        controller: controller.to_string(),
        why: why.to_string(),
    };
    match layout.controller_state(controller) {
        ControllerState::Unmounted | ControllerState::V2NotEnabled(_) => Ok(()),
        ControllerState::V1(mount) => Err(refuse(&format!(
            "it is mounted at {} already",
            mount.display()
        ))),
        ControllerState::V2(_) => Err(refuse("it is in use on the cgroup2 hierarchy")),
        ControllerState::Shadowed {
            mount_point,
            covered_by,
        } => Err(refuse(&format!(
            "its hierarchy at {} is covered by another mount at {}; the enforcer does not mount a controller it cannot see",
            mount_point.display(),
            covered_by.display()
        ))),
        ControllerState::Disabled => Err(refuse("it is not available in this kernel")),
    }
}

/// The layout [`mount_controller`] would leave: `controller` on a v1
/// hierarchy of its own at `<base>/<controller>` (and no longer offered by
/// the cgroup2 root). Mounts nothing: for a dry-run plan.
fn would_mount(
    layout: &CgroupLayout,
    controller: &str,
    base: &Path,
) -> Result<(CgroupLayout, MountedController), MountError> {
    check_mountable(layout, controller)?;
    let mut after = layout.clone();
    if let Some(v2) = &mut after.v2 {
        v2.controllers.retain(|name| name != controller);
    }
    let mounted = MountedController {
        controller: controller.to_string(),
        mount_point: base.join(controller),
    };
    after.v1.push(super::discovery::Hierarchy {
        mount_point: mounted.mount_point.clone(),
        root: PathBuf::from("/"),
        version: Version::V1,
        controllers: vec![controller.to_string()],
        enabled: Vec::new(),
        name: None,
    });
    Ok((after, mounted))
}

/// Mounts `controller` as a v1 hierarchy at `<base>/<controller>` and
/// returns the mount point. Refuses controllers that are mounted already,
/// in use on cgroup2, or disabled.
pub fn mount_controller(
    layout: &CgroupLayout,
    controller: &str,
    base: &Path,
) -> Result<MountedController, MountError> {
    check_mountable(layout, controller)?;
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
    let text = crate::linux::proc::read_proc_cgroups().ok()?;
    parse_proc_cgroups(&text)
        .into_iter()
        .find(|row| row.name == controller)
        .map(|row| (row.hierarchy, row.cgroups))
}

/// Plans `resources` on `layout` (discovered by the caller), mounting each
/// missing controller the plan names under `base` first. Returns the plan,
/// the layout it was made on, and the hierarchies mounted (for the caller
/// to record or undo); on an error the hierarchies this call mounted are
/// unmounted again. The host is discovered again only after a mount,
/// which changes it. With `dry_run`,
/// nothing is mounted: the plan is made on the layout the mounts would
/// leave, and the hierarchies returned are the ones `run` would mount.
pub fn plan_mounting_on(
    layout: CgroupLayout,
    resources: &NormalResources,
    root: &str,
    cgroups_path: &str,
    base: &Path,
    dry_run: bool,
) -> Result<(CgroupPlan, CgroupLayout, Vec<MountedController>), anyhow::Error> {
    let mut mounted: Vec<MountedController> = Vec::new();
    let undo = |mounted: &[MountedController]| {
        if dry_run {
            return;
        }
        for hierarchy in mounted.iter().rev() {
            let _ = unmount_controller(hierarchy);
        }
    };
    let mut layout = layout;
    loop {
        match plan(resources, &layout, root, cgroups_path) {
            Ok(plan) => return Ok((plan, layout, mounted)),
            Err(PlanError::MissingController { ref controller, .. })
                if matches!(
                    layout.controller_state(controller),
                    ControllerState::Unmounted | ControllerState::V2NotEnabled(_)
                ) && !mounted.iter().any(|m| &m.controller == controller) =>
            {
                let next = if dry_run {
                    would_mount(&layout, controller, base)
                } else {
                    mount_controller(&layout, controller, base)
                        .map(|hierarchy| (discover(), hierarchy))
                };
                match next {
                    Ok((after, hierarchy)) => {
                        mounted.push(hierarchy);
                        layout = after;
                    }
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

/// What [`release_mounts`] did with the hierarchies under its directory.
#[derive(Debug, Default)]
pub struct ReleaseOutcome {
    /// The hierarchies unmounted, their mount points removed.
    pub released: Vec<MountedController>,
    /// The hierarchies left mounted, each with why.
    pub kept: Vec<KeptMount>,
}

/// A hierarchy [`release_mounts`] left mounted.
#[derive(Debug)]
pub struct KeptMount {
    /// Its mount point.
    pub mount_point: PathBuf,
    /// Its controllers.
    pub controllers: Vec<String>,
    /// Why it stays.
    pub why: KeptReason,
}

/// Why [`release_mounts`] left a hierarchy mounted.
#[derive(Debug, thiserror::Error)]
pub enum KeptReason {
    /// Cgroups (a sandbox's, or anyone's) still exist in it.
    #[error(
        "cgroups still exist in it: {} (remove the sandboxes using it: enforcer ps, enforcer delete ID, enforcer gc)",
        .0.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    InUse(Vec<PathBuf>),
    /// Another mount covers it: what is inside cannot be seen from here.
    #[error("it is covered by another mount at {0}")]
    Covered(PathBuf),
    /// It holds several controllers: the enforcer mounts each on its own.
    #[error("it holds several controllers ({0}); the enforcer mounts one per hierarchy")]
    NotOurs(String),
    /// Its mount point is not readable.
    #[error("cannot read {path}: {err}")]
    Unreadable {
        /// The mount point.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// Unmounting failed.
    #[error(transparent)]
    Unmount(MountError),
}

impl KeptReason {
    /// Whether releasing failed (rather than the hierarchy being in use or
    /// not the enforcer's to release).
    pub fn is_failure(&self) -> bool {
        matches!(self, KeptReason::Unreadable { .. } | KeptReason::Unmount(_))
    }
}

/// The v1 hierarchies mounted under `base` (where `run --mount-controllers`
/// mounts them): each with the mount covering it, if one does.
pub fn mounted_under<'a>(
    layout: &'a CgroupLayout,
    base: &Path,
) -> Vec<(&'a super::discovery::Hierarchy, Option<&'a Path>)> {
    let visible = layout.v1.iter().map(|hierarchy| (hierarchy, None));
    let covered = layout.shadowed.iter().map(|covered| {
        (
            &covered.hierarchy,
            Some(covered.covered_by.mount_point.as_path()),
        )
    });
    visible
        .chain(covered)
        .filter(|(hierarchy, _)| {
            hierarchy.mount_point.starts_with(base)
                && hierarchy.mount_point != base
                && !hierarchy.controllers.is_empty()
        })
        .collect()
}

/// Releases the controllers the enforcer mounted under `base`: each v1
/// hierarchy there in which no cgroup exists any more (no directory below
/// its root) is unmounted with [`unmount_controller`] and its mount point
/// removed; the others are kept, each with why. `base` itself is removed
/// if that leaves it empty. Call it with the state directory locked, so
/// that no run creates a cgroup there meanwhile.
pub fn release_mounts(base: &Path) -> ReleaseOutcome {
    let layout = discover();
    let mut outcome = ReleaseOutcome::default();
    for (hierarchy, covered_by) in mounted_under(&layout, base) {
        let kept = |why| KeptMount {
            mount_point: hierarchy.mount_point.clone(),
            controllers: hierarchy.controllers.clone(),
            why,
        };
        if let Some(cover) = covered_by {
            outcome
                .kept
                .push(kept(KeptReason::Covered(cover.to_path_buf())));
            continue;
        }
        let [controller] = hierarchy.controllers.as_slice() else {
            outcome
                .kept
                .push(kept(KeptReason::NotOurs(hierarchy.controllers.join(","))));
            continue;
        };
        match cgroups_in(&hierarchy.mount_point) {
            Ok(cgroups) if !cgroups.is_empty() => {
                outcome.kept.push(kept(KeptReason::InUse(cgroups)));
                continue;
            }
            Ok(_) => {}
            Err(source) => {
                outcome.kept.push(kept(KeptReason::Unreadable {
                    path: hierarchy.mount_point.clone(),
                    err: source,
                }));
                continue;
            }
        }
        let mounted = MountedController {
            controller: controller.clone(),
            mount_point: hierarchy.mount_point.clone(),
        };
        match unmount_controller(&mounted) {
            Ok(()) => outcome.released.push(mounted),
            Err(error) => outcome.kept.push(kept(KeptReason::Unmount(error))),
        }
    }
    // Only if empty: the directory of the enforcer's mounts, nothing else.
    let _ = std::fs::remove_dir(base);
    outcome
}

/// The cgroups directly below a hierarchy's root (its subdirectories; its
/// files are interface files), sorted.
fn cgroups_in(mount_point: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut cgroups = Vec::new();
    for entry in std::fs::read_dir(mount_point)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            cgroups.push(entry.path());
        }
    }
    cgroups.sort();
    Ok(cgroups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::discovery::parse_layout;

    const MOUNTINFO: &str = "1 0 8:1 / / rw - ext4 /dev/root rw\n\
        30 1 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
        31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
        34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
        40 1 0:40 / /run/enforcer/cgroup/net_cls rw - cgroup cgroup rw,net_cls\n\
        41 1 0:41 / /run/enforcer/cgroup/net_prio rw - cgroup cgroup rw,net_prio\n\
        42 1 0:42 / /run/enforcer/cgroup-other/perf_event rw - cgroup cgroup rw,perf_event\n";

    const PROC_CGROUPS: &str = "memory\t4\t1\t1\nnet_cls\t9\t3\t1\nnet_prio\t10\t1\t1\n\
        perf_event\t11\t1\t1\n";

    fn names(found: &[(&super::super::discovery::Hierarchy, Option<&Path>)]) -> Vec<String> {
        found
            .iter()
            .map(|(hierarchy, cover)| {
                format!(
                    "{} {:?}",
                    hierarchy.mount_point.display(),
                    cover.map(Path::to_path_buf)
                )
            })
            .collect()
    }

    #[test]
    fn only_hierarchies_below_the_base_are_the_enforcers() {
        let layout = parse_layout(MOUNTINFO, PROC_CGROUPS);
        let found = mounted_under(&layout, Path::new("/run/enforcer/cgroup"));
        assert_eq!(
            names(&found),
            [
                "/run/enforcer/cgroup/net_cls None",
                "/run/enforcer/cgroup/net_prio None"
            ]
        );
        // A sibling whose name starts the same is not below the base.
        assert!(mounted_under(&layout, Path::new("/run/enforcer/cgroup/net")).is_empty());
        assert!(mounted_under(&layout, Path::new("/nowhere")).is_empty());
    }

    #[test]
    fn a_covered_hierarchy_is_named_with_its_cover() {
        let layout = parse_layout(
            &format!("{MOUNTINFO}90 40 0:90 / /run/enforcer/cgroup/net_cls rw - tmpfs none rw\n"),
            PROC_CGROUPS,
        );
        let found = mounted_under(&layout, Path::new("/run/enforcer/cgroup"));
        assert_eq!(
            names(&found),
            [
                "/run/enforcer/cgroup/net_prio None",
                "/run/enforcer/cgroup/net_cls Some(\"/run/enforcer/cgroup/net_cls\")"
            ]
        );
    }

    #[test]
    fn kept_reasons_name_what_holds_the_mount() {
        let why = KeptReason::InUse(vec![PathBuf::from("/run/enforcer/cgroup/net_cls/tenant")]);
        assert_eq!(
            why.to_string(),
            "cgroups still exist in it: /run/enforcer/cgroup/net_cls/tenant (remove the sandboxes using it: enforcer ps, enforcer delete ID, enforcer gc)"
        );
    }
}
