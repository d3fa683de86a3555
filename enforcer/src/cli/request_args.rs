//! The request and policy options `eval` and `run` share.

use std::path::PathBuf;

use clap::Args;
use enforcer::request::{RequestOptions, from_file, from_options};
use policy_sdk::{Request, User};

use super::{parse_label, parse_user};

/// Which policies decide, and the request they decide on.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Policy module (.wasm or .wat); repeat to chain. Given, exactly these
    /// decide (the config's chain is not used) [default: the config's
    /// platform chain and the tenant's policy, else the built-in policy].
    #[arg(long = "policy", short = 'p', value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Request JSON file, or - for stdin.
    #[arg(long, short = 'r', value_name = "FILE", conflicts_with_all = ["tenant", "labels", "user", "id", "command"])]
    pub request: Option<PathBuf>,
    /// Tenant the workload belongs to; with a config, picks the tenant's
    /// policy, mode, settings and ceilings (an unknown tenant is refused).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Request label, KEY=VALUE; repeatable.
    #[arg(long = "label", short = 'l', value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Requesting user, UID or UID:GID [default: the caller].
    #[arg(long, short = 'u', value_name = "UID[:GID]", value_parser = parse_user)]
    pub user: Option<User>,
    /// Sandbox id [default: generated, sbx-<12 hex digits>].
    #[arg(long)]
    pub id: Option<String>,
    /// The workload's command line.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl RequestArgs {
    /// The request: from the file, or from the options (with the host's
    /// facts filled in either way).
    pub fn request(&self) -> anyhow::Result<Request> {
        match &self.request {
            Some(path) => from_file(path),
            None => from_options(RequestOptions {
                id: self.id.clone(),
                tenant: self.tenant.clone(),
                labels: self.labels.clone(),
                user: self.user.clone(),
                command: self.command.clone(),
            }),
        }
    }
}
