//! `enforcer runtime`: the enforcer as an OCI runtime in front of runc or
//! crun, for containerd, CRI-O and podman (docs/kubernetes.md).
//!
//! It speaks runc's command line and hands every command to the delegate
//! runtime with its arguments unchanged, except where policy must act:
//! `create` and `run` (the bundle's `config.json` becomes a request, the
//! operator's chain decides, the spec is tightened by the decision and
//! written back), `exec` (the process may not regain what the container's
//! decision took away), `update` (never looser than the decision),
//! `features` (restricted to what this mode guarantees) and `--version`
//! (runc's three lines).
//!
//! Pure parts, each tested on its own: [`args`] (runc's command line),
//! [`container_request`] (a spec's request), [`patch`] (a spec tightened by a
//! decision), [`record`] (what `create` leaves for `exec` and `update`),
//! [`exec_check`], [`update_check`], [`features`], [`version`], [`log`]
//! (runc's log lines). [`delegate`] finds and runs the real runtime.

pub mod args;
pub mod container_request;
pub mod delegate;
pub mod exec_check;
pub mod features;
pub mod log;
pub mod patch;
pub mod record;
pub mod settings;
pub mod tenant;
pub mod update_check;
pub mod version;

pub use settings::RuntimeSettings;
