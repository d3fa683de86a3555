//! Sandboxes: starting a workload in the namespaces, cgroups and privileges
//! a decision names, waiting for it, and the lifecycle of detached ones.
//!
//! - [`namespaces`]: which namespaces to create and join (allow-list,
//!   `sandbox:<id>`), opened before anything starts;
//! - [`privileges`]: OCI `process` to the numbers the child applies;
//! - [`child`]: the child's steps from `clone` to `execve`, allocation-free;
//! - [`rootfs`]: the sandbox's own root filesystem, planned by the parent
//!   and built by the child;
//! - [`spawn`]: the parent's side of the start;
//! - [`signals`]: forwarding signals while waiting, exit statuses;
//! - [`tty`]: the sandbox's own pseudo-terminal (`-t`) and its relay;
//! - [`state`]: the state directory of running sandboxes, trusted only if
//!   it is the enforcer's own;
//! - [`confine`]: the checks on recorded cgroups before they are touched;
//! - [`run`]: the whole pipeline behind `enforcer run`;
//! - [`lifecycle`]: `ps`, `exec`, `stats`, `kill`, `delete`, `gc`.

pub mod child;
pub mod confine;
pub mod lifecycle;
pub mod namespaces;
pub mod privileges;
pub mod rootfs;
pub mod run;
pub mod signals;
pub mod spawn;
pub mod state;
pub mod tty;
