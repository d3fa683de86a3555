//! The request and policy options `eval` and `run` share.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use enforcer::pipeline::decide::RequestSource;
use enforcer::policy::json_kind;
use enforcer::request::RequestOptions;
use policy_sdk::User;
use serde_json::Value;

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
    /// OCI bundle directory (`.` for the current one): the request is what
    /// DIR/config.json asks for (its process.args are the command; its
    /// process, root, mounts, hostname and linux sections the request's
    /// requestedSpec and requested). --id, --tenant, --label and --user
    /// still apply.
    #[arg(long, short = 'b', value_name = "DIR", conflicts_with_all = ["request", "command"])]
    pub bundle: Option<PathBuf>,
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
    /// Settings for the policies, as the operator's config would give
    /// them: a JSON object, inline or read from @FILE. Every --policy gets
    /// them, and each that exports a settings check must accept them.
    #[arg(long, value_name = "JSON|@FILE")]
    pub settings: Option<String>,
    /// Sandbox id [default: generated, sbx-<12 hex digits>].
    #[arg(long)]
    pub id: Option<String>,
    /// The workload's command line.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

impl RequestArgs {
    /// Where the request comes from: the file, the bundle, or the options
    /// (the pipeline fills in the host's facts either way).
    pub fn source(&self) -> RequestSource {
        let options = RequestOptions {
            id: self.id.clone(),
            tenant: self.tenant.clone(),
            labels: self.labels.clone(),
            user: self.user.clone(),
            command: self.command.clone(),
        };
        match (&self.request, &self.bundle) {
            (Some(path), _) => RequestSource::File(path.clone()),
            (None, Some(dir)) => RequestSource::Bundle(dir.clone(), options),
            (None, None) => RequestSource::Options(options),
        }
    }

    /// `--settings`, parsed: `None` without it.
    pub fn settings(&self) -> anyhow::Result<Option<Value>> {
        self.settings.as_deref().map(parse_settings).transpose()
    }
}

/// `--settings JSON` or `--settings @FILE`: a JSON object.
fn parse_settings(text: &str) -> anyhow::Result<Value> {
    let (origin, json) = match text.strip_prefix('@') {
        Some(path) => {
            let json = std::fs::read_to_string(Path::new(path))
                .with_context(|| format!("--settings: cannot read settings file {path}"))?;
            (format!("--settings: settings file {path}"), json)
        }
        None => ("--settings".to_string(), text.to_string()),
    };
    let value: Value =
        serde_json::from_str(&json).with_context(|| format!("{origin}: not valid JSON"))?;
    if !value.is_object() {
        bail!(
            "{origin}: settings must be a JSON object ({{\"key\": value, ...}}), not {}",
            json_kind(&value)
        );
    }
    Ok(value)
}
