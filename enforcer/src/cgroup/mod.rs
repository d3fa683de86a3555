//! Cgroups: discovery of the host's hierarchies (v1, v2, hybrid) and the
//! parsing of `/proc/<pid>/cgroup`. Nothing here knows about policies.
//!
//! Applying limits, joining, stats and removal build on this (issue 3).

pub mod apply;
mod devices_v1;
pub mod discovery;
pub mod membership;
pub mod plan;

pub use apply::{CgroupError, CreatedCgroup, create, join, members, remove};
pub use discovery::{CgroupLayout, ControllerState, Hierarchy, discover};
pub use membership::{Membership, parse_proc_cgroup};
pub use plan::{CgroupPlan, PlanError, PlannedWrite, Value, plan};
