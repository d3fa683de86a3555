//! Which policies decide a request: the modules given on the command line
//! (exactly those); else, with a config, the platform chain (the embedded
//! default when the config names none), then the request's tenant's
//! ceilings and policy; else the embedded default alone.
//!
//! Modules are read from disk each time a chain is built (the compiled
//! code cache keys on their content, never on their path), so a module
//! replaced on disk is used by the next request; one that fails to load
//! fails the requests that need it, and nothing falls back to an older one.

use std::path::PathBuf;

use crate::config::{Config, settings_json};
use crate::evaluation::{Chain, Link, Mode, Role};
use crate::policy::{Policy, PolicyEngine, PolicyError};

/// Why the chain for a request could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ChainBuildError {
    /// A platform (or `--policy`) module failed to load.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The tenant's module failed to load.
    #[error("tenant {tenant}: {error}")]
    TenantPolicy {
        /// The tenant.
        tenant: String,
        /// Why (names the module file).
        error: PolicyError,
    },
    /// The request names a tenant the config does not define.
    #[error("tenant {tenant:?} is not in the config (known tenants: {known})")]
    UnknownTenant {
        /// The tenant.
        tenant: String,
        /// The tenants the config defines, comma-separated, or `none`.
        known: String,
    },
    /// A settings table cannot be given to a policy as JSON.
    #[error("{owner}: settings: {message}")]
    Settings {
        /// `platform[N]` or `tenant NAME`.
        owner: String,
        /// Why.
        message: String,
    },
}

/// The chain for a request from `tenant`: `policies` if any are given,
/// else the config's chain, else the embedded default; with the config's
/// networks' default egress, which each decision is normalised with.
pub fn build_chain(
    engine: &PolicyEngine,
    config: Option<&Config>,
    policies: &[PathBuf],
    tenant: Option<&str>,
) -> Result<Chain, ChainBuildError> {
    let mut chain = links(engine, config, policies, tenant)?;
    if let Some(config) = config {
        chain.network_egress = config
            .networks()
            .into_iter()
            .map(|(name, spec)| (name, spec.egress.allow_list()))
            .collect();
    }
    Ok(chain)
}

fn links(
    engine: &PolicyEngine,
    config: Option<&Config>,
    policies: &[PathBuf],
    tenant: Option<&str>,
) -> Result<Chain, ChainBuildError> {
    if !policies.is_empty() {
        let policies = policies
            .iter()
            .map(|path| engine.load_file(path))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Chain::of_policies(policies));
    }
    let Some(config) = config else {
        return Ok(Chain::of_policies(vec![embedded_default(engine)?]));
    };
    let mut chain = Chain {
        platform: platform_links(engine, config)?,
        ..Chain::default()
    };
    let Some(name) = tenant else {
        return Ok(chain);
    };
    let Some(entry) = config.tenant(name) else {
        let known = config.tenant_names();
        return Err(ChainBuildError::UnknownTenant {
            tenant: name.to_string(),
            known: if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
        });
    };
    chain.ceilings = entry.ceilings.map(|ceilings| ceilings.ceilings());
    if let Some(path) = &entry.policy {
        let policy = engine
            .load_file(path)
            .map_err(|error| ChainBuildError::TenantPolicy {
                tenant: name.to_string(),
                error,
            })?;
        let settings = settings(entry.settings.as_ref(), || format!("tenant {name}"))?;
        chain.tenant.push(Link {
            policy,
            mode: entry.mode,
            settings,
            role: Role::Tenant,
        });
    }
    Ok(chain)
}

/// The config's platform chain, or the embedded default when it names no
/// policy.
pub fn platform_links(
    engine: &PolicyEngine,
    config: &Config,
) -> Result<Vec<Link>, ChainBuildError> {
    if config.values.platform.is_empty() {
        return Ok(vec![Link::enforce(
            embedded_default(engine)?,
            Role::Platform,
        )]);
    }
    config
        .values
        .platform
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let policy = engine.load_file(&entry.policy)?;
            let settings = settings(entry.settings.as_ref(), || format!("platform[{index}]"))?;
            Ok(Link {
                policy,
                mode: Mode::Enforce,
                settings,
                role: Role::Platform,
            })
        })
        .collect()
}

/// The embedded default policy.
pub fn embedded_default(engine: &PolicyEngine) -> Result<Policy, PolicyError> {
    engine.load_bytes(
        crate::embedded::DEFAULT_POLICY_NAME,
        crate::embedded::DEFAULT_POLICY,
    )
}

fn settings(
    table: Option<&toml::Table>,
    owner: impl FnOnce() -> String,
) -> Result<Option<serde_json::Value>, ChainBuildError> {
    table
        .map(|table| {
            settings_json(table).map_err(|message| ChainBuildError::Settings {
                owner: owner(),
                message,
            })
        })
        .transpose()
}
