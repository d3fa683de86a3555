//! The plan: exactly which directories a decision creates and which
//! cgroupfs files it writes, with which values, on this host's layout.
//! Pure: it reads the layout (and checks which interface files exist under
//! the hierarchy roots) but writes nothing. `enforcer eval --plan` prints it;
//! applying it is the next step.
//!
//! Writes are ordered so that no limit is ever looser than asked: a new
//! cgroup starts unlimited, and related files go in the order the kernel
//! needs (`cpu.cfs_period_us` before `cpu.cfs_quota_us`, `memory.limit_in_bytes`
//! before `memory.memsw.limit_in_bytes`, `devices.deny a` before the allows).

use std::path::{Path, PathBuf};

use policy_sdk::{BlockIo, Cpu, DeviceRule, Memory, Resources};

use crate::decision::NormalResources;
use serde::Serialize;

use super::discovery::{CgroupLayout, ControllerState};
use super::{devices_bpf, devices_v1};

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
    /// On cgroup v2, the device rules become an eBPF
    /// `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the leaf.
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
        /// `v1` or `v2`.
        version: &'static str,
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
        let value = if pids.limit == -1 {
            "max".to_string()
        } else {
            pids.limit.to_string()
        };
        planner.write("pids", "pids.limit", "pids.max", value)?;
    }
    if let Some(block_io) = &resources.block_io {
        planner.block_io(block_io)?;
    }
    for (index, limit) in resources.hugepage_limits.iter().enumerate() {
        let field = format!("hugepageLimits[{index}]");
        let (mount, v2) = planner.hierarchy("hugetlb", &field)?;
        let (file, rsvd) = if v2 {
            (
                format!("hugetlb.{}.max", limit.page_size),
                format!("hugetlb.{}.rsvd.max", limit.page_size),
            )
        } else {
            (
                format!("hugetlb.{}.limit_in_bytes", limit.page_size),
                format!("hugetlb.{}.rsvd.limit_in_bytes", limit.page_size),
            )
        };
        let leaf = planner.leaf(&mount, "hugetlb", v2);
        planner.push("hugetlb", leaf.join(file), limit.limit.to_string(), false);
        planner.push("hugetlb", leaf.join(rsvd), limit.limit.to_string(), true);
    }
    if let Some(network) = &resources.network {
        if let Some(class_id) = network.class_id {
            planner.v1_only(
                "net_cls",
                "network.classID",
                "net_cls.classid",
                class_id.to_string(),
            )?;
        }
        for (index, priority) in network.priorities.iter().enumerate() {
            planner.v1_only(
                "net_prio",
                &format!("network.priorities[{index}]"),
                "net_prio.ifpriomap",
                format!("{} {}", priority.name, priority.priority),
            )?;
        }
    }
    if !resources.devices.is_empty() {
        planner.devices(resources)?;
    }
    for (key, value) in &resources.unified {
        let field = format!("unified[{key:?}]");
        let controller = key.split('.').next().unwrap_or(key);
        let (mount, v2) = planner.hierarchy(controller, &field)?;
        if !v2 {
            return Err(PlanError::Unsupported {
                field,
                version: "v1",
                why: format!(
                    "{controller} is on a v1 hierarchy here; raw unified files need it on cgroup2"
                ),
            });
        }
        let leaf = planner.leaf(&mount, controller, true);
        planner.push(controller, leaf.join(key), value.clone(), false);
    }
    planner.every_hierarchy();
    Ok(planner.plan)
}

struct Planner<'a> {
    layout: &'a CgroupLayout,
    relative: PathBuf,
    plan: CgroupPlan,
}

impl Planner<'_> {
    /// The mount point holding `controller`, and whether it is v2.
    fn hierarchy(&self, controller: &str, field: &str) -> Result<(PathBuf, bool), PlanError> {
        let missing = |why: String| PlanError::MissingController {
            field: field.to_string(),
            controller: controller.to_string(),
            why,
        };
        match self.layout.controller_state(controller) {
            ControllerState::V1(mount) => Ok((mount, false)),
            ControllerState::V2(mount) => Ok((mount, true)),
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
    fn leaf(&mut self, mount: &Path, controller: &str, v2: bool) -> PathBuf {
        let levels = self.directories(mount, !v2 && mount_holds(self.layout, mount, "cpuset"));
        if v2 {
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

    /// One write of a file that has the same name on v1 and v2 (`pids.max`).
    fn write(
        &mut self,
        controller: &str,
        field: &str,
        file: &str,
        value: String,
    ) -> Result<(), PlanError> {
        let (mount, v2) = self.hierarchy(controller, field)?;
        let leaf = self.leaf(&mount, controller, v2);
        self.push(controller, leaf.join(file), value, false);
        Ok(())
    }

    /// One write of a file that exists only on v1 (`net_cls.classid`); an
    /// error where the controller is on v2.
    fn v1_only(
        &mut self,
        controller: &str,
        field: &str,
        file: &str,
        value: String,
    ) -> Result<(), PlanError> {
        let (mount, v2) = self.hierarchy(controller, field)?;
        if v2 {
            return Err(PlanError::Unsupported {
                field: field.to_string(),
                version: "v2",
                why: format!("{controller} exists only on cgroup v1"),
            });
        }
        let leaf = self.leaf(&mount, controller, false);
        self.push(controller, leaf.join(file), value, false);
        Ok(())
    }

    fn memory(&mut self, memory: &Memory) -> Result<(), PlanError> {
        let (mount, v2) = self.hierarchy("memory", "memory")?;
        let leaf = self.leaf(&mount, "memory", v2);
        let unsupported = |field: &str, version, why: &str| PlanError::Unsupported {
            field: format!("memory.{field}"),
            version,
            why: why.to_string(),
        };
        if memory.kernel.is_some() || memory.kernel_tcp.is_some() {
            return Err(unsupported(
                "kernel",
                if v2 { "v2" } else { "v1" },
                "kernel memory limits are deprecated by Linux and not applied; remove the field",
            ));
        }
        if v2 {
            let max = |value: i64| {
                if value == -1 {
                    "max".to_string()
                } else {
                    value.to_string()
                }
            };
            if let Some(limit) = memory.limit {
                self.push("memory", leaf.join("memory.max"), max(limit), false);
            }
            if let Some(reservation) = memory.reservation {
                self.push("memory", leaf.join("memory.low"), max(reservation), false);
            }
            if let Some(swap) = memory.swap {
                // OCI swap is memory plus swap; v2 limits swap alone.
                let value = match (swap, memory.limit) {
                    (-1, _) => "max".to_string(),
                    (swap, Some(limit)) if limit >= 0 => (swap - limit).to_string(),
                    _ => {
                        return Err(unsupported(
                            "swap",
                            "v2",
                            "a swap limit needs a memory limit on cgroup v2",
                        ));
                    }
                };
                self.push("memory", leaf.join("memory.swap.max"), value, false);
            }
            if memory.swappiness.is_some() {
                return Err(unsupported(
                    "swappiness",
                    "v2",
                    "cgroup v2 has no per-cgroup swappiness",
                ));
            }
            if memory.disable_oom_killer == Some(true) {
                return Err(unsupported(
                    "disableOOMKiller",
                    "v2",
                    "cgroup v2 cannot disable the OOM killer; use memory.high in `unified` to throttle instead",
                ));
            }
        } else {
            if let Some(limit) = memory.limit {
                self.push(
                    "memory",
                    leaf.join("memory.limit_in_bytes"),
                    limit.to_string(),
                    false,
                );
            }
            if let Some(swap) = memory.swap {
                self.push(
                    "memory",
                    leaf.join("memory.memsw.limit_in_bytes"),
                    swap.to_string(),
                    false,
                );
            }
            if let Some(reservation) = memory.reservation {
                self.push(
                    "memory",
                    leaf.join("memory.soft_limit_in_bytes"),
                    reservation.to_string(),
                    false,
                );
            }
            if let Some(swappiness) = memory.swappiness {
                self.push(
                    "memory",
                    leaf.join("memory.swappiness"),
                    swappiness.to_string(),
                    false,
                );
            }
            if memory.disable_oom_killer == Some(true) {
                self.push("memory", leaf.join("memory.oom_control"), "1".into(), false);
            }
            if let Some(hierarchy) = memory.use_hierarchy {
                self.push(
                    "memory",
                    leaf.join("memory.use_hierarchy"),
                    u8::from(hierarchy).to_string(),
                    false,
                );
            }
        }
        Ok(())
    }

    fn cpu(&mut self, cpu: &Cpu) -> Result<(), PlanError> {
        let wants_cpu = cpu.shares.is_some()
            || cpu.quota.is_some()
            || cpu.period.is_some()
            || cpu.burst.is_some()
            || cpu.realtime_runtime.is_some()
            || cpu.realtime_period.is_some()
            || cpu.idle.is_some();
        if wants_cpu {
            let (mount, v2) = self.hierarchy("cpu", "cpu")?;
            let leaf = self.leaf(&mount, "cpu", v2);
            if v2 {
                if let Some(weight) = cpu.shares.map(shares_to_weight).filter(|&w| w != 0) {
                    self.push("cpu", leaf.join("cpu.weight"), weight.to_string(), false);
                }
                if cpu.quota.is_some() || cpu.period.is_some() {
                    let quota = match cpu.quota {
                        Some(quota) if quota >= 0 => quota.to_string(),
                        _ => "max".to_string(),
                    };
                    let period = cpu.period.unwrap_or(100_000);
                    self.push(
                        "cpu",
                        leaf.join("cpu.max"),
                        format!("{quota} {period}"),
                        false,
                    );
                }
                if let Some(burst) = cpu.burst {
                    self.push("cpu", leaf.join("cpu.max.burst"), burst.to_string(), false);
                }
                if cpu.realtime_runtime.is_some() || cpu.realtime_period.is_some() {
                    return Err(PlanError::Unsupported {
                        field: "cpu.realtimeRuntime".into(),
                        version: "v2",
                        why: "cgroup v2 has no real-time bandwidth control".into(),
                    });
                }
            } else {
                if let Some(shares) = cpu.shares {
                    self.push("cpu", leaf.join("cpu.shares"), shares.to_string(), false);
                }
                if let Some(period) = cpu.period {
                    self.push(
                        "cpu",
                        leaf.join("cpu.cfs_period_us"),
                        period.to_string(),
                        false,
                    );
                }
                if let Some(quota) = cpu.quota {
                    self.push(
                        "cpu",
                        leaf.join("cpu.cfs_quota_us"),
                        quota.to_string(),
                        false,
                    );
                }
                if let Some(burst) = cpu.burst {
                    self.push(
                        "cpu",
                        leaf.join("cpu.cfs_burst_us"),
                        burst.to_string(),
                        false,
                    );
                }
                if let Some(period) = cpu.realtime_period {
                    self.push(
                        "cpu",
                        leaf.join("cpu.rt_period_us"),
                        period.to_string(),
                        false,
                    );
                }
                if let Some(runtime) = cpu.realtime_runtime {
                    self.push(
                        "cpu",
                        leaf.join("cpu.rt_runtime_us"),
                        runtime.to_string(),
                        false,
                    );
                }
            }
            if let Some(idle) = cpu.idle {
                self.push("cpu", leaf.join("cpu.idle"), idle.to_string(), false);
            }
        }
        if cpu.cpus.is_some() || cpu.mems.is_some() {
            let (mount, v2) = self.hierarchy("cpuset", "cpu.cpus")?;
            let leaf = self.leaf(&mount, "cpuset", v2);
            for (file, value) in [("cpuset.cpus", &cpu.cpus), ("cpuset.mems", &cpu.mems)] {
                let value = match value {
                    Some(list) => Value::Literal(list.clone()),
                    None if v2 => continue,
                    None => Value::CopyFromParent,
                };
                self.plan.writes.push(PlannedWrite {
                    controller: "cpuset".into(),
                    file: leaf.join(file),
                    value,
                    optional: false,
                    fallback: None,
                });
            }
        }
        Ok(())
    }

    fn block_io(&mut self, block_io: &BlockIo) -> Result<(), PlanError> {
        // The same controller is `blkio` on v1 (and in /proc/cgroups) and
        // `io` on v2.
        let controller = match self.layout.controller_state("blkio") {
            ControllerState::V1(_) => "blkio",
            _ if matches!(self.layout.controller_state("io"), ControllerState::V2(_)) => "io",
            _ => "blkio",
        };
        let (mount, v2) = self.hierarchy(controller, "blockIO")?;
        let leaf = self.leaf(&mount, controller, v2);
        let device = |major: i64, minor: i64| format!("{major}:{minor}");
        if v2 {
            // io.weight (iocost) or io.bfq.weight (BFQ), whichever the new
            // cgroup has; their scales differ.
            let weight = |this: &mut Self, target: String, weight: u16| {
                this.push_with_fallback(
                    "io",
                    leaf.join("io.weight"),
                    format!("{target} {}", blkio_weight_to_io_weight(weight)),
                    Fallback {
                        file: leaf.join("io.bfq.weight"),
                        value: format!("{target} {weight}"),
                    },
                );
            };
            if let Some(value) = block_io.weight {
                weight(self, "default".into(), value);
            }
            for entry in &block_io.weight_device {
                if let Some(value) = entry.weight {
                    weight(self, device(entry.major, entry.minor), value);
                }
            }
            let throttles = [
                ("rbps", &block_io.throttle_read_bps_device),
                ("wbps", &block_io.throttle_write_bps_device),
                ("riops", &block_io.throttle_read_iops_device),
                ("wiops", &block_io.throttle_write_iops_device),
            ];
            for (key, devices) in throttles {
                for entry in devices {
                    self.push(
                        "io",
                        leaf.join("io.max"),
                        format!("{} {key}={}", device(entry.major, entry.minor), entry.rate),
                        false,
                    );
                }
            }
            if block_io.leaf_weight.is_some() {
                return Err(PlanError::Unsupported {
                    field: "blockIO.leafWeight".into(),
                    version: "v2",
                    why: "leaf weights existed only in the v1 CFQ scheduler".into(),
                });
            }
        } else {
            // Kernels without CFQ (5.0 and later) offer only BFQ's file.
            let weight = |this: &mut Self, file: &str, value: String| {
                this.push_with_fallback(
                    "blkio",
                    leaf.join(format!("blkio.{file}")),
                    value.clone(),
                    Fallback {
                        file: leaf.join(format!("blkio.bfq.{file}")),
                        value,
                    },
                );
            };
            if let Some(value) = block_io.weight {
                weight(self, "weight", value.to_string());
            }
            for entry in &block_io.weight_device {
                if let Some(value) = entry.weight {
                    weight(
                        self,
                        "weight_device",
                        format!("{} {value}", device(entry.major, entry.minor)),
                    );
                }
            }
            if let Some(weight) = block_io.leaf_weight {
                self.push(
                    "blkio",
                    leaf.join("blkio.leaf_weight"),
                    weight.to_string(),
                    false,
                );
            }
            let throttles = [
                (
                    "blkio.throttle.read_bps_device",
                    &block_io.throttle_read_bps_device,
                ),
                (
                    "blkio.throttle.write_bps_device",
                    &block_io.throttle_write_bps_device,
                ),
                (
                    "blkio.throttle.read_iops_device",
                    &block_io.throttle_read_iops_device,
                ),
                (
                    "blkio.throttle.write_iops_device",
                    &block_io.throttle_write_iops_device,
                ),
            ];
            for (file, devices) in throttles {
                for entry in devices {
                    self.push(
                        "blkio",
                        leaf.join(file),
                        format!("{} {}", device(entry.major, entry.minor), entry.rate),
                        false,
                    );
                }
            }
        }
        Ok(())
    }

    fn devices(&mut self, resources: &Resources) -> Result<(), PlanError> {
        match self.layout.controller_state("devices") {
            ControllerState::V1(mount) => {
                let leaf = self.leaf(&mount, "devices", false);
                let writes = devices_v1::translate(&resources.devices).map_err(|why| {
                    PlanError::Unsupported {
                        field: "devices".into(),
                        version: "v1",
                        why: why.to_string(),
                    }
                })?;
                for (file, value) in writes {
                    self.push("devices", leaf.join(file), value, false);
                }
                Ok(())
            }
            _ => {
                // On v2 device control is an eBPF program on the cgroup;
                // the unified hierarchy accepts one even in hybrid mode.
                let Some(v2) = &self.layout.v2 else {
                    return Err(PlanError::MissingController {
                        field: "devices".into(),
                        controller: "devices".into(),
                        why: "is mounted nowhere and there is no cgroup2 hierarchy for an eBPF device program".into(),
                    });
                };
                let mount = v2.mount_point.clone();
                self.directories(&mount, false);
                let instructions = devices_bpf::compile(&resources.devices)
                    .map_err(|why| PlanError::Unsupported {
                        field: "devices".into(),
                        version: "v2",
                        why: why.to_string(),
                    })?
                    .len();
                self.plan.device_program = Some(DeviceProgram {
                    cgroup: mount.join(&self.relative),
                    rules: resources.devices.clone(),
                    instructions,
                });
                Ok(())
            }
        }
    }
}

fn mount_holds(layout: &CgroupLayout, mount: &Path, controller: &str) -> bool {
    layout.v1.iter().any(|hierarchy| {
        hierarchy.mount_point == mount
            && hierarchy.controllers.iter().any(|name| name == controller)
    })
}

/// v1 `cpu.shares` (2–262144, default 1024) to v2 `cpu.weight` (1–10000,
/// default 100), as runc (since 1.3.2) and crun (since 1.23) convert it:
/// with `l = log2(shares)`, `weight = ⌈10^((l² + 125·l) / 612 − 7/34)⌉`,
/// the quadratic in `l` through (2, 1), (1024, 100) and (262144, 10000);
/// at most 2 shares give 1, at least 262144 give 10000, and 0 (unset)
/// gives 0 (nothing to write).
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let weight = 10f64.powf((l * l + 125.0 * l) / 612.0 - 7.0 / 34.0);
            // Only 1024 shares give a whole number (100), which rounding
            // up must not turn into 101 over a last-bit error of `powf`;
            // every other result is at least 2e-6 from a whole number, far
            // beyond any libm's error, so all implementations agree.
            let nearest = weight.round();
            if (weight - nearest).abs() < 1e-9 {
                nearest as u64
            } else {
                weight.ceil() as u64
            }
        }
    }
}

/// v1 `blkio.weight` (10–1000) to v2 `io.weight` (1–10000), as runc does.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of OCI resources, normalised as a decision's would be.
    fn plan(
        resources: &Resources,
        layout: &CgroupLayout,
        root: &str,
        cgroups_path: &str,
    ) -> Result<CgroupPlan, PlanError> {
        super::plan(
            &NormalResources::from_oci(resources),
            layout,
            root,
            cgroups_path,
        )
    }
    use crate::cgroup::discovery::{Hierarchy, KernelController};
    use policy_sdk::{Decision, DeviceRule, MIB};

    const KERNEL: [&str; 12] = [
        "cpuset",
        "cpu",
        "cpuacct",
        "blkio",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "perf_event",
        "net_prio",
        "hugetlb",
        "pids",
    ];

    fn kernel_controllers() -> Vec<KernelController> {
        KERNEL
            .iter()
            .map(|name| KernelController {
                name: name.to_string(),
                hierarchy: 0,
                cgroups: 1,
                enabled: true,
            })
            .collect()
    }

    /// A fake pure-v1 host: one hierarchy per controller (cpu,cpuacct
    /// co-mounted), blkio offering only the BFQ weight file.
    fn fake_v1(root: &Path) -> CgroupLayout {
        let mut v1 = Vec::new();
        for controllers in [
            &["cpu", "cpuacct"][..],
            &["cpuset"],
            &["memory"],
            &["pids"],
            &["devices"],
            &["blkio"],
            &["hugetlb"],
            &["net_cls"],
        ] {
            let mount = root.join(controllers.join(","));
            std::fs::create_dir_all(&mount).expect("mkdir");
            std::fs::write(mount.join("cgroup.procs"), "").expect("write");
            v1.push(Hierarchy {
                mount_point: mount,
                root: PathBuf::from("/"),
                unified: false,
                controllers: controllers.iter().map(|name| name.to_string()).collect(),
                enabled: Vec::new(),
                name: None,
            });
        }
        std::fs::write(root.join("blkio/blkio.bfq.weight"), "100").expect("write");
        CgroupLayout {
            v1,
            v2: None,
            kernel_controllers: kernel_controllers(),
            ..CgroupLayout::default()
        }
    }

    /// A fake pure-v2 host with the usual controllers enabled at the root.
    fn fake_v2(root: &Path, enabled: &str) -> CgroupLayout {
        std::fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids",
        )
        .expect("write");
        std::fs::write(root.join("cgroup.subtree_control"), enabled).expect("write");
        std::fs::write(root.join("io.weight"), "default 100").expect("write");
        CgroupLayout {
            v1: Vec::new(),
            v2: Some(Hierarchy {
                mount_point: root.to_path_buf(),
                root: PathBuf::from("/"),
                unified: true,
                controllers: ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"]
                    .map(String::from)
                    .to_vec(),
                enabled: enabled.split_whitespace().map(String::from).collect(),
                name: None,
            }),
            kernel_controllers: kernel_controllers(),
            ..CgroupLayout::default()
        }
    }

    fn sample() -> Resources {
        let mut decision = Decision::allow()
            .memory_limit(256 * MIB)
            .memory_swap(256 * MIB)
            .pids(64)
            .cpu_shares(512)
            .cpu_quota(50_000, 100_000)
            .cpus("0")
            .default_devices()
            .append_device_rule(DeviceRule::allow_char(195, Some(0), "rw"))
            .hugepage_limit("2MB", 4 * MIB);
        decision.resources_mut().block_io = Some(BlockIo {
            weight: Some(500),
            ..BlockIo::default()
        });
        decision.resources.expect("resources")
    }

    fn literal(plan: &CgroupPlan, file: &Path) -> Option<String> {
        plan.writes
            .iter()
            .find(|write| write.file == file)
            .map(|write| match &write.value {
                Value::Literal(text) => text.clone(),
                Value::CopyFromParent => "(copy from parent)".into(),
            })
    }

    /// Asserts each `(file, value)` is among the plan's writes.
    #[track_caller]
    fn expect_writes(plan: &CgroupPlan, expected: &[(PathBuf, &str)]) {
        for (file, value) in expected {
            assert_eq!(
                literal(plan, file).as_deref(),
                Some(*value),
                "{}",
                file.display()
            );
        }
    }

    #[test]
    fn pure_v1_file_names_and_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = fake_v1(dir.path());
        let plan = plan(&sample(), &layout, "enforcer", "acme/job").expect("plans");
        let leaf = |mount: &str| dir.path().join(mount).join("enforcer/acme/job");
        let copy = "(copy from parent)";
        expect_writes(
            &plan,
            &[
                (leaf("memory").join("memory.limit_in_bytes"), "268435456"),
                (
                    leaf("memory").join("memory.memsw.limit_in_bytes"),
                    "268435456",
                ),
                (leaf("pids").join("pids.max"), "64"),
                (leaf("cpu,cpuacct").join("cpu.shares"), "512"),
                (leaf("cpu,cpuacct").join("cpu.cfs_quota_us"), "50000"),
                (leaf("cpuset").join("cpuset.cpus"), "0"),
                (leaf("cpuset").join("cpuset.mems"), copy),
                // Every new v1 cpuset level is initialised.
                (dir.path().join("cpuset/enforcer/cpuset.cpus"), copy),
                (leaf("blkio").join("blkio.weight"), "500"),
                (
                    leaf("hugetlb").join("hugetlb.2MB.limit_in_bytes"),
                    "4194304",
                ),
            ],
        );
        let weight = plan
            .writes
            .iter()
            .find(|w| w.file == leaf("blkio").join("blkio.weight"))
            .expect("a weight write");
        assert_eq!(
            weight.fallback,
            Some(Fallback {
                file: leaf("blkio").join("blkio.bfq.weight"),
                value: "500".into()
            }),
            "kernels without CFQ take BFQ's file"
        );
        let devices: Vec<&PlannedWrite> = plan
            .writes
            .iter()
            .filter(|w| w.controller == "devices")
            .collect();
        assert_eq!(devices[0].file, leaf("devices").join("devices.deny"));
        assert_eq!(devices[0].value, Value::Literal("a".into()));
        assert_eq!(
            devices.last().map(|w| &w.value),
            Some(&Value::Literal("c 195:0 rw".into()))
        );
        assert!(plan.device_program.is_none());
        let period = plan
            .writes
            .iter()
            .position(|w| w.file.ends_with("cpu.cfs_period_us"));
        let quota = plan
            .writes
            .iter()
            .position(|w| w.file.ends_with("cpu.cfs_quota_us"));
        assert!(period < quota, "the period goes first");
        let first = plan
            .directories
            .iter()
            .position(|d| d == &dir.path().join("memory/enforcer"));
        let last = plan.directories.iter().position(|d| d == &leaf("memory"));
        assert!(first < last, "parents are created first");
    }

    #[test]
    fn the_sandbox_joins_every_controller_hierarchy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = fake_v1(dir.path());
        let resources = Decision::allow().pids(8).resources.expect("resources");
        let plan = plan(&resources, &layout, "enforcer", "job").expect("plans");
        assert_eq!(plan.leaves.len(), layout.v1.len(), "{:?}", plan.leaves);
        let cpuset = dir.path().join("cpuset/enforcer/job");
        assert!(plan.leaves.contains(&cpuset));
        for file in ["cpuset.cpus", "cpuset.mems"] {
            assert_eq!(
                literal(&plan, &cpuset.join(file)).as_deref(),
                Some("(copy from parent)"),
                "an unused v1 cpuset leaf still needs cpus and mems"
            );
        }
    }

    #[test]
    fn pure_v2_file_names_and_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = fake_v2(dir.path(), "cpuset cpu io memory hugetlb pids");
        let plan = plan(&sample(), &layout, "enforcer", "acme/job").expect("plans");
        let leaf = dir.path().join("enforcer/acme/job");
        expect_writes(
            &plan,
            &[
                (leaf.join("memory.max"), "268435456"),
                (leaf.join("memory.swap.max"), "0"), // OCI swap minus memory
                (leaf.join("pids.max"), "64"),
                (leaf.join("cpu.weight"), "59"), // 512 shares
                (leaf.join("cpu.max"), "50000 100000"),
                (leaf.join("cpuset.cpus"), "0"),
                (leaf.join("io.weight"), "default 4950"),
                (leaf.join("hugetlb.2MB.max"), "4194304"),
                (
                    dir.path().join("enforcer/acme/cgroup.subtree_control"),
                    "+memory",
                ),
            ],
        );
        assert!(
            plan.writes
                .iter()
                .any(|w| w.file == leaf.join("hugetlb.2MB.rsvd.max") && w.optional)
        );
        let program = plan
            .device_program
            .as_ref()
            .expect("a device program on v2");
        assert_eq!(program.cgroup, leaf);
        assert_eq!(program.rules, sample().devices);
        assert!(program.instructions > 10);
    }

    #[test]
    fn v2_controllers_must_be_enabled_at_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = fake_v2(dir.path(), "memory");
        let error = plan(&sample(), &layout, "enforcer", "job").expect_err("pids not enabled");
        let message = error.to_string();
        assert!(
            message.contains("never changes the root cgroup") && message.contains("echo +"),
            "{message}"
        );
    }

    #[test]
    fn unsupported_and_missing_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v2 = fake_v2(dir.path(), "cpuset cpu io memory hugetlb pids");
        let resources = Resources {
            memory: Some(Memory {
                swappiness: Some(10),
                ..Memory::default()
            }),
            ..Resources::default()
        };
        let error = plan(&resources, &v2, "enforcer", "job").expect_err("no swappiness on v2");
        assert_eq!(
            error.to_string(),
            "resources.memory.swappiness is not supported on cgroup v2: cgroup v2 has no per-cgroup swappiness"
        );
        let resources = Decision::allow()
            .net_class_id(7)
            .resources
            .expect("resources");
        let mut hybrid = fake_v1(dir.path());
        hybrid.v1.retain(|h| h.controllers != ["net_cls"]);
        let error = plan(&resources, &hybrid, "enforcer", "job").expect_err("net_cls unmounted");
        assert!(
            error
                .to_string()
                .contains("enabled in the kernel but mounted nowhere"),
            "{error}"
        );
    }

    #[test]
    fn shares_convert_to_weight_as_runc_and_crun_do() {
        // The points of runc's own table (TestConvertCPUSharesToCgroupV2Value):
        // unset, below the minimum, the minimum, just above it, the
        // default, just below the maximum, the maximum, above it.
        for (shares, weight) in [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (1024, 100),
            (262_143, 10_000),
            (262_144, 10_000),
            (262_145, 10_000),
        ] {
            assert_eq!(shares_to_weight(shares), weight, "{shares} shares");
        }
        // Points between, from the same formula evaluated with C's libm.
        for (shares, weight) in [
            (4, 2),
            (10, 4),
            (100, 17),
            (512, 59),
            (1000, 99),
            (2048, 174),
            (4096, 303),
            (10_000, 627),
            (100_000, 4340),
        ] {
            assert_eq!(shares_to_weight(shares), weight, "{shares} shares");
        }
        // Monotonic over the whole range, and inside the v2 bounds.
        let mut last = 1;
        for shares in 2..=262_144 {
            let weight = shares_to_weight(shares);
            assert!((last..=10_000).contains(&weight), "{shares}: {weight}");
            last = weight;
        }
    }

    #[test]
    fn blkio_weight_converts_as_runc_does() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }
}
