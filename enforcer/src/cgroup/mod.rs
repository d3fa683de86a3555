//! Cgroups: discovery of the host's hierarchies (v1, v2, hybrid) and the
//! parsing of `/proc/<pid>/cgroup`. Nothing here knows about policies.
//!
//! Applying limits, joining, stats and removal build on this (issue 3).

pub mod discovery;
pub mod membership;

pub use discovery::{CgroupLayout, ControllerState, Hierarchy, discover};
pub use membership::{Membership, parse_proc_cgroup};
