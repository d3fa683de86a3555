//! `enforcer policy new`: scaffolds a policy crate.

use clap::Args;

/// Arguments of `enforcer policy new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The policy's crate name (`ci-runners` makes `ci-runners/`).
    pub name: String,
}

/// Runs `enforcer policy new` (groundwork stub: the scaffold helper fills
/// this in).
pub fn run(args: NewArgs) -> anyhow::Result<i32> {
    anyhow::bail!("enforcer policy new {}: not built yet", args.name)
}
