//! `enforcer policy show`: writes a built-in policy's module.

use clap::Args;

/// Arguments of `enforcer policy show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The policy: `builtin:default`.
    pub policy: String,
}

/// Runs `enforcer policy show` (groundwork stub: the enforcer-side helper
/// fills this in).
pub fn run(args: ShowArgs) -> anyhow::Result<i32> {
    anyhow::bail!("enforcer policy show {}: not built yet", args.policy)
}
