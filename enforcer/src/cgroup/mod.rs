//! Cgroups: discovery of the host's hierarchies (v1, v2, hybrid), the plan
//! that maps a decision's resources to cgroupfs writes, applying it
//! (create, join, freeze, stats, remove), the v1 device-rule translation
//! and the v2 eBPF device program, and mounting controllers the host left
//! unmounted. Nothing here knows about policies.

pub mod apply;
pub mod cgroupfs;
pub mod devices_bpf;
mod devices_v1;
pub mod discovery;
pub mod freezer;
pub mod membership;
pub mod mount;
pub mod plan;
pub mod stats;

pub use apply::{CgroupError, CreatedCgroup, create, join, members, remove};
pub use discovery::{
    CgroupLayout, ControllerState, Cover, Hierarchy, KernelController, MountEntry, Shadowed,
    Version, discover,
};
pub use freezer::{Freezer, freeze};
pub use membership::{Membership, NotMember, parse_proc_cgroup};
pub use mount::{
    KeptMount, KeptReason, MountedController, ReleaseOutcome, mount_controller, plan_mounting_on,
    release_mounts, unmount_controller,
};
pub use plan::{CgroupPlan, DeviceProgram, PlanError, PlannedWrite, Value, plan};
pub use stats::Stats;
