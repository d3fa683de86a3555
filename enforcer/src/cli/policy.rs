//! `enforcer policy`: working with policies as files (`new` scaffolds a
//! policy crate, `show` writes a built-in policy's module).

use clap::Subcommand;

use super::{policy_new, policy_show};

/// Work with policies: scaffold one, or write out a built-in one.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create a ready policy crate (Cargo.toml, src/lib.rs with tests,
    /// cases.toml, README) outside any workspace.
    New(policy_new::NewArgs),
    /// Write a built-in policy's Wasm module to stdout
    /// (`enforcer policy show builtin:default > default.wasm`).
    Show(policy_show::ShowArgs),
}

/// Runs `enforcer policy ...`.
pub fn run(command: PolicyCommand) -> anyhow::Result<i32> {
    match command {
        PolicyCommand::New(args) => policy_new::run(args),
        PolicyCommand::Show(args) => policy_show::run(args),
    }
}
