//! Linux's tables and `/proc` files, each in one place: the parsers are
//! pure functions over the file's text, with thin readers beside them, and
//! the tests use them too.
//!
//! * [`proc`]: `/proc/<pid>/stat`, `/proc/<pid>/cgroup`, `/proc/cgroups`
//!   and the `CapEff` line of `/proc/<pid>/status`.
//! * [`namespaces`]: the `/proc/<pid>/ns/<name>` file of a namespace type.
//! * [`syscalls`]: x86_64 system call names and numbers (generated).
//! * Capability and resource-limit names and numbers, which policies need
//!   too, live in `policy_model::linux` and are re-exported here.

pub mod namespaces;
pub mod proc;
pub mod syscalls;

pub use policy_model::linux::{
    CAPABILITIES, RLIMITS, capability_name, capability_number, rlimit_number,
};
