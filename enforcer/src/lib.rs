//! The enforcer: evaluates isolation policies written as WebAssembly
//! modules and applies their decisions with namespaces and cgroups.
//!
//! Data flows one way, as the stages of [`pipeline`]: request →
//! [`evaluation`] of the chain ([`policy`], [`decision`]: validate,
//! normalise, tighten) → plan ([`cgroup`]) → apply and supervise
//! ([`sandbox`]). What the library has to tell the operator goes to a
//! [`diagnostics`] sink. See `docs/architecture.md` for the module map and
//! `docs/` for the ABI, the CLI and how to write policies.

pub mod applicability;
pub mod audit;
pub mod bundle;
pub mod cgroup;
pub mod chain;
pub mod check;
pub mod config;
pub mod decision;
pub mod diagnostics;
pub mod digest;
pub mod embedded;
pub mod evaluation;
pub mod golden;
pub mod host;
pub mod host_ids;
pub mod lease_file;
pub mod linux;
pub mod network;
pub mod pipeline;
pub mod policy;
pub mod printable;
pub mod request;
pub mod runtime;
pub mod sandbox;
pub mod seccomp;
pub mod settings;
pub mod trusted;
