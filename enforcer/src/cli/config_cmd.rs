//! `enforcer config check` and `enforcer config show`.

use std::path::Path;

use clap::{Args, Subcommand};
use enforcer::chain::embedded_default;
use enforcer::config::{Config, ConfigFile, DEFAULT_PATH, PlatformPolicy, settings_json};
use enforcer::evaluation::Mode;
use enforcer::policy::{Policy, PolicyEngine};
use enforcer::printable::{escape, escape_message};
use serde::Serialize;

use super::{CONFIG, EXIT_ERROR, EXIT_OK, EngineArgs};

/// Check or show the operator's config (--config, $ENFORCER_CONFIG or
/// /etc/enforcer/config.toml, with config.d/*.toml and tenants.d/*.toml).
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config without running anything: read and merge every
    /// file, check every value, load (compile) every policy module it
    /// names and check each one's settings.
    ///
    /// Prints one line per file read and per policy (role, tenant, path,
    /// sha256 prefix, mode), then `ok` or `invalid`. Exit status: 0 ok,
    /// 2 invalid.
    Check(CheckArgs),
    /// Print the effective config: every file merged, each policy's
    /// absolute path, and the file each platform policy and tenant came
    /// from (TOML comments; `sources` in --json).
    Show(ShowArgs),
}

/// `enforcer config check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print a JSON report instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// `enforcer config show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print JSON instead of TOML.
    #[arg(long)]
    json: bool,
}

/// Runs `enforcer config ...`; `explicit` is `--config` (or the variable).
pub fn run(command: ConfigCommand, explicit: Option<&Path>) -> anyhow::Result<i32> {
    match command {
        ConfigCommand::Check(args) => check(args, explicit),
        ConfigCommand::Show(args) => show(args, explicit),
    }
}

/// One policy module `config check` loaded.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckedPolicy {
    /// `platform` or `tenant`.
    role: &'static str,
    /// The tenant, for a tenant's entry.
    tenant: Option<String>,
    /// The module file (`embedded default` for the built-in policy);
    /// absent for a tenant without a policy.
    path: Option<String>,
    /// Hex sha256 of the module, when it loaded.
    sha256: Option<String>,
    /// `enforce` or `audit`.
    mode: Mode,
    /// Whether the entry has settings.
    has_settings: bool,
    /// Whether the entry has ceilings (tenants only).
    has_ceilings: bool,
    /// What is wrong, if anything.
    error: Option<String>,
}

/// The whole `config check` report.
#[derive(Debug, Default, Serialize)]
struct CheckReport {
    ok: bool,
    files: Vec<String>,
    policies: Vec<CheckedPolicy>,
    /// The host id pool `[host_ids]` gives, when the config has the table
    /// (a `subids` pool read from `/etc/subuid` and `/etc/subgid`).
    #[serde(rename = "hostIds", skip_serializing_if = "Option::is_none")]
    host_ids: Option<String>,
    errors: Vec<String>,
}

fn check(args: CheckArgs, explicit: Option<&Path>) -> anyhow::Result<i32> {
    let mut report = CheckReport::default();
    match enforcer::config::load(explicit) {
        Err(error) => report.errors.push(error.to_string()),
        Ok(None) => {}
        Ok(Some(config)) => {
            report.files = config
                .files
                .iter()
                .map(|file| file.display().to_string())
                .collect();
            let _ = CONFIG.set(Some(config));
            let engine = args.engine.engine()?;
            if let Some(config) = super::config() {
                check_policies(&engine, config, &mut report);
                check_host_ids(config, &mut report);
            }
        }
    }
    report.ok = report.errors.is_empty();
    if args.json {
        super::print_stdout(&serde_json::to_string_pretty(&report)?);
    } else {
        print_check(&report, explicit.is_none() && super::config().is_none());
    }
    Ok(if report.ok { EXIT_OK } else { EXIT_ERROR })
}

/// Loads every module the config names and checks its settings.
fn check_policies(engine: &PolicyEngine, config: &Config, report: &mut CheckReport) {
    let platform = &config.values.platform;
    if platform.is_empty() {
        let (sha256, error) = match embedded_default(engine) {
            Ok(policy) => (Some(policy.digest().to_string()), None),
            Err(error) => (None, Some(error.to_string())),
        };
        report.policies.push(CheckedPolicy {
            role: "platform",
            tenant: None,
            path: Some(enforcer::embedded::DEFAULT_POLICY_NAME.to_string()),
            sha256,
            mode: Mode::Enforce,
            has_settings: false,
            has_ceilings: false,
            error,
        });
    }
    for PlatformPolicy { policy, settings } in platform {
        let (sha256, error) = load_and_check(engine, policy, settings.as_ref());
        report.policies.push(CheckedPolicy {
            role: "platform",
            tenant: None,
            path: Some(policy.display().to_string()),
            sha256,
            mode: Mode::Enforce,
            has_settings: settings.is_some(),
            has_ceilings: false,
            error,
        });
    }
    for (name, tenant) in &config.values.tenants {
        let (sha256, error) = match &tenant.policy {
            Some(path) => {
                let (sha256, error) = load_and_check(engine, path, tenant.settings.as_ref());
                (sha256, error.map(|error| format!("tenant {name}: {error}")))
            }
            None => (None, None),
        };
        report.policies.push(CheckedPolicy {
            role: "tenant",
            tenant: Some(name.0.clone()),
            path: tenant
                .policy
                .as_ref()
                .map(|path| path.display().to_string()),
            sha256,
            mode: tenant.mode,
            has_settings: tenant.settings.is_some(),
            has_ceilings: tenant.ceilings.is_some(),
            error,
        });
    }
    report.errors.extend(
        report
            .policies
            .iter()
            .filter_map(|policy| policy.error.clone()),
    );
}

/// Resolves the config's `[host_ids]` pool, if it has one, as `run` will.
fn check_host_ids(config: &Config, report: &mut CheckReport) {
    let Some(pool) = &config.values.host_ids else {
        return;
    };
    match enforcer::host_ids::Pool::from_config(Some(pool)) {
        Ok(pool) => {
            report.host_ids = Some(format!("{} ({} ranges)", pool.describe(), pool.len()));
        }
        Err(error) => report.errors.push(error.to_string()),
    }
}

/// Loads the module at `path` and checks `settings` against it: its
/// sha256, or what is wrong.
fn load_and_check(
    engine: &PolicyEngine,
    path: &Path,
    settings: Option<&toml::Table>,
) -> (Option<String>, Option<String>) {
    let policy = match engine.load_file(path) {
        Ok(policy) => policy,
        Err(error) => return (None, Some(error.to_string())),
    };
    let sha256 = Some(policy.digest().to_string());
    let Some(settings) = settings else {
        return (sha256, None);
    };
    let checked = settings_json(settings).and_then(|json| check_settings(&policy, &json));
    match checked {
        Ok(()) => (sha256, None),
        Err(error) => (
            sha256,
            Some(format!("policy {}: settings: {error}", policy.name())),
        ),
    }
}

/// Asks `policy` whether it accepts `settings` (its optional
/// `policy_validate_settings` export).
fn check_settings(policy: &Policy, settings: &serde_json::Value) -> Result<(), String> {
    match enforcer::settings::require_valid(policy, settings) {
        Ok(()) => Ok(()),
        // The report names the policy already.
        Err(enforcer::settings::SettingsError::Invalid { message, .. }) => Err(format!(
            "refused by its policy_validate_settings: {message}"
        )),
        Err(error) => Err(error.to_string()),
    }
}

fn print_check(report: &CheckReport, default_absent: bool) {
    if default_absent && report.errors.is_empty() {
        super::print_stdout(&format!(
            "no config: {DEFAULT_PATH} does not exist (the built-in defaults and the embedded policy apply)"
        ));
    }
    for file in &report.files {
        super::print_stdout(&format!("file      {}", escape(file)));
    }
    for policy in &report.policies {
        let who = match &policy.tenant {
            Some(tenant) => format!("tenant    {}", escape(tenant)),
            None => "platform".to_string(),
        };
        let path = policy.path.as_deref().map_or_else(
            || "(no policy: the platform's decision)".to_string(),
            |path| escape(path).into_owned(),
        );
        let sha256 = policy.sha256.as_deref().map_or(String::new(), |sha| {
            format!("  sha256:{}", &sha[..12.min(sha.len())])
        });
        let mode = match policy.mode {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        };
        let mut extras = String::new();
        if policy.has_settings {
            extras.push_str("  settings");
        }
        if policy.has_ceilings {
            extras.push_str("  ceilings");
        }
        super::print_stdout(&format!("{who}  {path}{sha256}  {mode}{extras}"));
    }
    if let Some(pool) = &report.host_ids {
        super::print_stdout(&format!("host ids  {}", escape(pool)));
    }
    for error in &report.errors {
        super::print_stdout(&format!("error     {}", escape_message(error)));
    }
    super::print_stdout(if report.ok { "ok" } else { "invalid" });
}

fn show(args: ShowArgs, explicit: Option<&Path>) -> anyhow::Result<i32> {
    let Some(config) = enforcer::config::load(explicit)? else {
        if args.json {
            super::print_stdout(r#"{"files": [], "config": null}"#);
        } else {
            super::print_stdout(&format!(
                "# no config: {DEFAULT_PATH} does not exist (the built-in defaults apply)"
            ));
        }
        return Ok(EXIT_OK);
    };
    if args.json {
        super::print_stdout(&serde_json::to_string_pretty(&show_json(&config)?)?);
    } else {
        print!("{}", show_toml(&config)?);
    }
    Ok(EXIT_OK)
}

/// The merged config as JSON, with the file each platform policy and
/// tenant came from.
fn show_json(config: &Config) -> anyhow::Result<serde_json::Value> {
    let mut values = serde_json::to_value(&config.values)?;
    for (name, tenant) in &config.values.tenants {
        if let Some(settings) = &tenant.settings {
            values["tenants"][&name.0]["settings"] =
                settings_json(settings).map_err(anyhow::Error::msg)?;
        }
    }
    for (index, entry) in config.values.platform.iter().enumerate() {
        if let Some(settings) = &entry.settings {
            values["platform"][index]["settings"] =
                settings_json(settings).map_err(anyhow::Error::msg)?;
        }
    }
    Ok(serde_json::json!({
        "files": config.files,
        "config": values,
        "sources": {
            "platform": config.platform_sources,
            "tenants": config.tenant_sources,
        },
    }))
}

/// The merged config as TOML that reads back as the same config, with a
/// comment naming the file of each platform policy and tenant.
fn show_toml(config: &Config) -> anyhow::Result<String> {
    let mut text = String::from("# The effective enforcer config, merged from:\n");
    for file in &config.files {
        text.push_str(&format!("#   {}\n", file.display()));
    }
    text.push_str("# Keys not shown have their built-in defaults (docs/operators.md).\n\n");
    let top = ConfigFile {
        platform: Vec::new(),
        tenants: Default::default(),
        ..config.values.clone()
    };
    text.push_str(&toml::to_string(&top)?);
    for (entry, source) in config.values.platform.iter().zip(&config.platform_sources) {
        let one = ConfigFile {
            platform: vec![entry.clone()],
            ..ConfigFile::default()
        };
        text.push_str(&format!("\n# from {}\n", source.display()));
        text.push_str(&toml::to_string(&one)?);
    }
    for (name, tenant) in &config.values.tenants {
        let mut one = ConfigFile::default();
        one.tenants.insert(name.clone(), tenant.clone());
        let source = config
            .tenant_sources
            .get(&name.0)
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        text.push_str(&format!("\n# from {source}\n"));
        text.push_str(&toml::to_string(&one)?);
    }
    Ok(text)
}
