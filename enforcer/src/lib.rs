//! The enforcer: evaluates isolation policies written as WebAssembly
//! modules and (in later milestones) applies their decisions with
//! namespaces and cgroups.
//!
//! Data flows one way: request → [`policy`] → decision → [`decision`]
//! (validate, compose) → apply. See `docs/` for the ABI, the CLI and how to
//! write policies.

pub mod audit;
pub mod cgroup;
pub mod chain;
pub mod check;
pub mod config;
pub mod decision;
pub mod diagnostics;
pub mod embedded;
pub mod evaluation;
pub mod golden;
pub mod host;
pub mod pipeline;
pub mod policy;
pub mod printable;
pub mod request;
pub mod sandbox;
pub mod settings;
pub mod trusted;
