//! Fake hosts and a sample decision for the plan's unit tests. The plan is
//! pure, so a layout is all a fake host needs: nothing is read from or
//! written to the paths below [`ROOT`].

use std::path::{Path, PathBuf};

use policy_sdk::{BlockIo, Decision, DeviceRule, MIB, Resources};

use crate::cgroup::discovery::{
    CgroupLayout, ControllerState, Hierarchy, KernelController, Version,
};
use crate::decision::NormalResources;

use super::{CgroupPlan, PlanError, Value};

/// Where the fake hierarchies are mounted.
pub(super) const ROOT: &str = "/fake/cgroup";

/// The plan of OCI resources, normalised as a decision's would be.
pub(super) fn plan(
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

/// A fake host.
#[derive(Debug, Clone, Copy)]
pub(super) enum Host {
    /// Pure v1: one hierarchy per controller (cpu,cpuacct co-mounted).
    V1,
    /// Pure v2 with the usual controllers enabled at the root.
    V2,
}

impl Host {
    pub(super) fn layout(self) -> CgroupLayout {
        match self {
            Host::V1 => fake_v1(),
            Host::V2 => self.layout_enabling("cpuset cpu io memory hugetlb pids"),
        }
    }

    /// The v2 layout with only `enabled` in the root's subtree_control.
    pub(super) fn layout_enabling(self, enabled: &str) -> CgroupLayout {
        CgroupLayout {
            v1: Vec::new(),
            v2: Some(Hierarchy {
                mount_point: PathBuf::from(ROOT),
                root: PathBuf::from("/"),
                version: Version::V2,
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

    /// The mount point of the hierarchy holding `controller`.
    pub(super) fn mount(self, controller: &str) -> PathBuf {
        match self.layout().controller_state(controller) {
            ControllerState::V1(mount) | ControllerState::V2(mount) => mount,
            other => panic!("{controller} is {other:?} on {self:?}"),
        }
    }

    /// The sandbox `enforcer/acme/job` in the hierarchy of `controller`.
    pub(super) fn leaf(self, controller: &str) -> PathBuf {
        self.mount(controller).join("enforcer/acme/job")
    }

    /// The plan of `resources` for `enforcer/acme/job`.
    pub(super) fn plan(self, resources: &Resources) -> CgroupPlan {
        plan(resources, &self.layout(), "enforcer", "acme/job").expect("plans")
    }

    /// Asserts each `(file, value)` of the leaf of `controller` is among
    /// the plan's writes.
    #[track_caller]
    pub(super) fn expect_writes(
        self,
        plan: &CgroupPlan,
        controller: &str,
        expected: &[(&str, &str)],
    ) {
        let leaf = self.leaf(controller);
        let files: Vec<(PathBuf, &str)> = expected
            .iter()
            .map(|(file, value)| (leaf.join(file), *value))
            .collect();
        expect_writes(plan, &files);
    }
}

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

fn fake_v1() -> CgroupLayout {
    let v1 = [
        &["cpu", "cpuacct"][..],
        &["cpuset"],
        &["memory"],
        &["pids"],
        &["devices"],
        &["blkio"],
        &["hugetlb"],
        &["net_cls"],
    ]
    .iter()
    .map(|controllers| Hierarchy {
        mount_point: Path::new(ROOT).join(controllers.join(",")),
        root: PathBuf::from("/"),
        version: Version::V1,
        controllers: controllers.iter().map(|name| name.to_string()).collect(),
        enabled: Vec::new(),
        name: None,
    })
    .collect();
    CgroupLayout {
        v1,
        v2: None,
        kernel_controllers: kernel_controllers(),
        ..CgroupLayout::default()
    }
}

/// A decision that uses most controllers.
pub(super) fn sample() -> Resources {
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

/// How [`literal`] shows a [`Value::CopyFromParent`].
pub(super) fn copy() -> &'static str {
    "(copy from parent)"
}

/// The value the plan writes to `file`, if any.
/// Where the write to a file named `name` comes in `plan`.
pub(super) fn position(plan: &CgroupPlan, name: &str) -> usize {
    plan.writes
        .iter()
        .position(|write| write.file.ends_with(name))
        .unwrap_or_else(|| panic!("no write to {name}"))
}

pub(super) fn literal(plan: &CgroupPlan, file: &Path) -> Option<String> {
    plan.writes
        .iter()
        .find(|write| write.file == file)
        .map(|write| match &write.value {
            Value::Literal(text) => text.clone(),
            Value::CopyFromParent => copy().into(),
        })
}

/// Asserts each `(file, value)` is among the plan's writes.
#[track_caller]
pub(super) fn expect_writes(plan: &CgroupPlan, expected: &[(PathBuf, &str)]) {
    for (file, value) in expected {
        assert_eq!(
            literal(plan, file).as_deref(),
            Some(*value),
            "{}",
            file.display()
        );
    }
}
