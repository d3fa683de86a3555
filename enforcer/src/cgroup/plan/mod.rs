//! The plan: exactly which directories a decision creates and which
//! cgroupfs files it writes, with which values, on this host's layout.
//! Pure: it reads only the [`CgroupLayout`] discovery found, never the
//! filesystem, and writes nothing. `enforcer eval --plan` prints it;
//! [`apply::create`](super::apply::create) carries it out.
//!
//! Writes are ordered so that no limit is ever looser than asked: a new
//! cgroup starts unlimited, and related files go in the order the kernel
//! needs (`cpu.cfs_period_us` before `cpu.cfs_quota_us`, `memory.limit_in_bytes`
//! before `memory.memsw.limit_in_bytes`, `devices.deny a` before the allows).
//!
//! This module holds the plan's types, the entry point, where each
//! controller lives and the directories of each hierarchy. Each controller
//! has a file of its own with its v1 and v2 files side by side: `memory`,
//! `cpu` (shares and weight, quota and period, cpuset), `pids`, `io`
//! (blkio and io weights and throttles), `hugetlb`, `network` (net_cls,
//! net_prio), `devices` (v1 rules or the v2 eBPF program) and `unified`
//! (raw cgroup2 files).

use std::path::{Path, PathBuf};

use serde::Serialize;

use policy_sdk::DeviceRule;

use crate::decision::NormalResources;

use super::discovery::{CgroupLayout, ControllerState, Version};

mod cpu;
mod devices;
mod hugetlb;
mod io;
mod memory;
mod network;
mod pids;
mod unified;

#[cfg(test)]
mod testing;

pub use cpu::shares_to_weight;
pub use io::blkio_weight_to_io_weight;

/// What a value written to a file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Value {
    /// Write this text.
    Literal(String),
    /// Copy the parent cgroup's value of the same file (v1 cpuset, whose new
    /// cgroups start empty and refuse tasks until given `cpus` and `mems`).
    CopyFromParent,
}

/// One file write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedWrite {
    /// The controller it belongs to.
    pub controller: String,
    /// Absolute path of the interface file.
    pub file: PathBuf,
    /// What to write.
    pub value: Value,
    /// Skip silently when the kernel lacks the file (e.g. `hugetlb.*.rsvd.max`
    /// before Linux 5.7).
    pub optional: bool,
    /// Where the kernel lacks `file` in the new cgroup, write this instead
    /// (v1 `blkio.weight` is `blkio.bfq.weight` on kernels without CFQ; the
    /// weight files do not exist at the root, so this is decided when the
    /// cgroup exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// The other file (and value) of a [`PlannedWrite`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fallback {
    /// Absolute path of the interface file.
    pub file: PathBuf,
    /// What to write.
    pub value: String,
}

/// The whole plan for one decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupPlan {
    /// Directories to create, parents first, in every hierarchy involved.
    pub directories: Vec<PathBuf>,
    /// The sandbox's own cgroup in each hierarchy (the last level), where
    /// its processes go.
    pub leaves: Vec<PathBuf>,
    /// Files to write, in order.
    pub writes: Vec<PlannedWrite>,
    /// Where the devices controller is not on a v1 hierarchy (pure v2, or
    /// hybrid without a v1 devices mount), the device rules become an eBPF
    /// `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup2 leaf.
    pub device_program: Option<DeviceProgram>,
}

/// The v2 device program of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceProgram {
    /// The cgroup v2 directory it is attached to.
    pub cgroup: PathBuf,
    /// The rules it enforces, in decision order.
    pub rules: Vec<DeviceRule>,
    /// Its length in eBPF instructions.
    pub instructions: usize,
}

/// Why a decision cannot be applied on this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A needed controller is not usable here.
    #[error("resources.{field} needs the {controller} controller, which {why}")]
    MissingController {
        /// The decision field.
        field: String,
        /// The controller.
        controller: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// The field has no equivalent on the hierarchy that holds the controller.
    #[error("resources.{field} is not supported on cgroup {version}: {why}")]
    Unsupported {
        /// The decision field.
        field: String,
        /// The version of the hierarchy that holds the controller.
        version: Version,
        /// Why, and what to use instead.
        why: String,
    },
}

/// Plans `resources` for the cgroup `cgroups_path` below the operator's
/// `root` (a relative name such as `enforcer`) on `layout`. Only what a
/// fresh cgroup does not already have is written
/// ([`NormalResources::changes`]): an unlimited limit writes nothing, and
/// needs no controller.
pub fn plan(
    resources: &NormalResources,
    layout: &CgroupLayout,
    root: &str,
    cgroups_path: &str,
) -> Result<CgroupPlan, PlanError> {
    let resources = &resources.changes();
    let mut planner = Planner {
        layout,
        relative: Path::new(root).join(cgroups_path),
        plan: CgroupPlan::default(),
    };
    if let Some(memory) = &resources.memory {
        planner.memory(memory)?;
    }
    if let Some(cpu) = &resources.cpu {
        planner.cpu(cpu)?;
    }
    if let Some(pids) = &resources.pids {
        planner.pids(pids)?;
    }
    if let Some(block_io) = &resources.block_io {
        planner.block_io(block_io)?;
    }
    planner.hugetlb(&resources.hugepage_limits)?;
    if let Some(network) = &resources.network {
        planner.network(network)?;
    }
    if !resources.devices.is_empty() {
        planner.devices(&resources.devices)?;
    }
    planner.unified(&resources.unified)?;
    planner.every_hierarchy();
    Ok(planner.plan)
}

/// The plan being built; each controller's file adds its method.
struct Planner<'a> {
    layout: &'a CgroupLayout,
    relative: PathBuf,
    plan: CgroupPlan,
}

impl Planner<'_> {
    /// The mount point holding `controller`, and its hierarchy's version.
    fn hierarchy(&self, controller: &str, field: &str) -> Result<(PathBuf, Version), PlanError> {
        let missing = |why: String| PlanError::MissingController {
            field: field.to_string(),
            controller: controller.to_string(),
            why,
        };
        match self.layout.controller_state(controller) {
            ControllerState::V1(mount) => Ok((mount, Version::V1)),
            ControllerState::V2(mount) => Ok((mount, Version::V2)),
            ControllerState::V2NotEnabled(mount) => Err(missing(format!(
                "the cgroup2 root offers but has not enabled for its children; the enforcer never changes the root cgroup: enable it once with `echo +{controller} > {}`, or let the enforcer mount it as a v1 hierarchy of its own (--mount-controllers)",
                mount.join("cgroup.subtree_control").display()
            ))),
            ControllerState::Unmounted => Err(missing(format!(
                "is enabled in the kernel but mounted nowhere; mount it (mount -t cgroup -o {controller} none /sys/fs/cgroup/{controller}) or let the enforcer mount it (--mount-controllers)"
            ))),
            ControllerState::Shadowed {
                mount_point,
                covered_by,
            } => Err(missing(format!(
                "is mounted at {} but that mount is covered by another mount at {}, so nothing can reach it; unmount what covers it, or run the enforcer where the hierarchy is visible (see enforcer check)",
                mount_point.display(),
                covered_by.display()
            ))),
            ControllerState::Disabled => Err(missing(
                "is not available in this kernel (see /proc/cgroups)".to_string(),
            )),
        }
    }

    /// The leaf directory in the hierarchy at `mount`, creating the plan
    /// for it (directories, v1 cpuset initialisation, v2 subtree_control)
    /// the first time.
    fn leaf(&mut self, mount: &Path, controller: &str, version: Version) -> PathBuf {
        let init_cpuset = version == Version::V1 && mount_holds(self.layout, mount, "cpuset");
        let levels = self.directories(mount, init_cpuset);
        if version == Version::V2 {
            // Enable the controller in every level we own above the leaf.
            for level in &levels[..levels.len().saturating_sub(1)] {
                let write = PlannedWrite {
                    controller: controller.to_string(),
                    file: level.join("cgroup.subtree_control"),
                    value: Value::Literal(format!("+{controller}")),
                    optional: false,
                    fallback: None,
                };
                if !self.plan.writes.contains(&write) {
                    self.plan.writes.push(write);
                }
            }
        }
        mount.join(&self.relative)
    }

    /// Plans the directories from the root down to the leaf under `mount`
    /// (once per hierarchy) and returns them, parents first. With
    /// `init_cpuset`, every new level above the leaf gets the parent's
    /// `cpuset.cpus` and `cpuset.mems` (a new v1 cpuset starts empty).
    fn directories(&mut self, mount: &Path, init_cpuset: bool) -> Vec<PathBuf> {
        let leaf = mount.join(&self.relative);
        if !self.plan.leaves.contains(&leaf) {
            self.plan.leaves.push(leaf.clone());
        }
        let mut levels: Vec<PathBuf> = self
            .relative
            .ancestors()
            .filter(|ancestor| !ancestor.as_os_str().is_empty())
            .map(|ancestor| mount.join(ancestor))
            .collect();
        levels.reverse();
        for level in &levels {
            if self.plan.directories.contains(level) {
                continue;
            }
            self.plan.directories.push(level.clone());
            if init_cpuset && level != &leaf {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    self.plan.writes.push(PlannedWrite {
                        controller: "cpuset".into(),
                        file: level.join(file),
                        value: Value::CopyFromParent,
                        optional: false,
                        fallback: None,
                    });
                }
            }
        }
        levels
    }

    /// Puts the sandbox in every controller hierarchy, not only those its
    /// limits use: `/proc/<pid>/cgroup` then names the sandbox everywhere,
    /// usage is accounted in every controller, and removal can use the
    /// freezer (v1) or `cgroup.kill` (v2). Named v1 hierarchies
    /// (`name=systemd`) belong to their manager and are left alone. A v1
    /// cpuset leaf with no cpuset limit inherits its parent's `cpus` and
    /// `mems`, without which it would refuse tasks.
    fn every_hierarchy(&mut self) {
        let layout = self.layout;
        for hierarchy in layout.v1.iter().filter(|h| !h.controllers.is_empty()) {
            let cpuset = hierarchy.controllers.iter().any(|name| name == "cpuset");
            self.directories(&hierarchy.mount_point, cpuset);
            if cpuset {
                let leaf = hierarchy.mount_point.join(&self.relative);
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let file = leaf.join(file);
                    if !self.plan.writes.iter().any(|write| write.file == file) {
                        self.plan.writes.push(PlannedWrite {
                            controller: "cpuset".into(),
                            file,
                            value: Value::CopyFromParent,
                            optional: false,
                            fallback: None,
                        });
                    }
                }
            }
        }
        if let Some(v2) = &layout.v2 {
            self.directories(&v2.mount_point, false);
        }
    }

    fn push(&mut self, controller: &str, file: PathBuf, value: String, optional: bool) {
        self.plan.writes.push(PlannedWrite {
            controller: controller.to_string(),
            file,
            value: Value::Literal(value),
            optional,
            fallback: None,
        });
    }

    fn push_with_fallback(
        &mut self,
        controller: &str,
        file: PathBuf,
        value: String,
        fallback: Fallback,
    ) {
        self.plan.writes.push(PlannedWrite {
            controller: controller.to_string(),
            file,
            value: Value::Literal(value),
            optional: false,
            fallback: Some(fallback),
        });
    }
}

fn mount_holds(layout: &CgroupLayout, mount: &Path, controller: &str) -> bool {
    layout.v1.iter().any(|hierarchy| {
        hierarchy.mount_point == mount
            && hierarchy.controllers.iter().any(|name| name == controller)
    })
}

#[cfg(test)]
mod tests {
    use super::testing::{Host, ROOT, copy, literal, plan, sample};
    use super::*;
    use policy_sdk::Decision;

    #[test]
    fn parents_are_created_first() {
        for host in [Host::V1, Host::V2] {
            let plan = plan(&sample(), &host.layout(), "enforcer", "acme/job").expect("plans");
            let mount = host.mount("memory");
            let first = plan
                .directories
                .iter()
                .position(|d| d == &mount.join("enforcer"));
            let last = plan
                .directories
                .iter()
                .position(|d| d == &host.leaf("memory"));
            assert!(
                first.is_some() && first < last,
                "{host:?}: {:?}",
                plan.directories
            );
        }
    }

    #[test]
    fn the_sandbox_joins_every_controller_hierarchy() {
        let layout = Host::V1.layout();
        let resources = Decision::allow().pids(8).resources.expect("resources");
        let plan = plan(&resources, &layout, "enforcer", "job").expect("plans");
        assert_eq!(plan.leaves.len(), layout.v1.len(), "{:?}", plan.leaves);
        let cpuset = Path::new(ROOT).join("cpuset/enforcer/job");
        assert!(plan.leaves.contains(&cpuset));
        for file in ["cpuset.cpus", "cpuset.mems"] {
            assert_eq!(
                literal(&plan, &cpuset.join(file)).as_deref(),
                Some(copy()),
                "an unused v1 cpuset leaf still needs cpus and mems"
            );
        }
    }

    #[test]
    fn v2_controllers_must_be_enabled_at_the_root() {
        let layout = Host::V2.layout_enabling("memory");
        let error = plan(&sample(), &layout, "enforcer", "job").expect_err("pids not enabled");
        let message = error.to_string();
        assert!(
            message.contains("never changes the root cgroup") && message.contains("echo +"),
            "{message}"
        );
    }
}
