//! Which tenant decides a container: the one its CRI namespace annotation
//! names when the operator's config knows it, else `[runtime]
//! default_tenant`; with no tenant configured at all, none joins the chain
//! (the platform chain decides alone, and the policy still sees the
//! namespace as the request's `tenant`).

use crate::config::Config;

use super::RuntimeSettings;

/// The tenant of a container, for the request and for the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantChoice {
    /// The request's `tenant` (what the policies see).
    pub request: Option<String>,
    /// The tenant whose ceilings and policy join the chain.
    pub chain: Option<String>,
}

/// Why no tenant can decide a container.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// The namespace is not a configured tenant and there is no default.
    #[error(
        "tenant {tenant:?} (the container's namespace) is not in the config (known tenants: {known}); \
         add tenants.d/{tenant}.toml or set [runtime] default_tenant"
    )]
    Unknown {
        /// The namespace.
        tenant: String,
        /// The configured tenants, `, `-separated.
        known: String,
    },
    /// No annotation names a tenant and there is no default.
    #[error(
        "the container names no tenant (none of the annotations {annotations} is set) and [runtime] default_tenant is not set"
    )]
    Missing {
        /// `[runtime] tenant_annotations`, `, `-separated.
        annotations: String,
    },
}

/// The tenant of a container whose annotations named `asked` (already
/// `default_tenant` when they named none, as
/// [`super::container_request::build`] gives it), under `config`.
pub fn choose(
    asked: Option<&str>,
    config: Option<&Config>,
    settings: &RuntimeSettings,
) -> Result<TenantChoice, TenantError> {
    let unchanged = TenantChoice {
        request: asked.map(str::to_string),
        chain: None,
    };
    let Some(config) = config else {
        return Ok(unchanged);
    };
    let known = config.tenant_names();
    if known.is_empty() {
        return Ok(unchanged);
    }
    if let Some(tenant) = asked
        && config.tenant(tenant).is_some()
    {
        return Ok(TenantChoice {
            request: Some(tenant.to_string()),
            chain: Some(tenant.to_string()),
        });
    }
    if let Some(default) = &settings.default_tenant {
        return Ok(TenantChoice {
            request: Some(default.clone()),
            chain: Some(default.clone()),
        });
    }
    Err(match asked {
        Some(tenant) => TenantError::Unknown {
            tenant: tenant.to_string(),
            known: known.join(", "),
        },
        None => TenantError::Missing {
            annotations: settings.tenant_annotations.join(", "),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-runtime-tenant-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        crate::config::load_from(&path).expect("loads")
    }

    #[test]
    fn without_a_config_or_tenants_the_namespace_is_only_seen() {
        let settings = RuntimeSettings::default();
        let choice = choose(Some("team-a"), None, &settings).expect("chosen");
        assert_eq!(choice.request.as_deref(), Some("team-a"));
        assert_eq!(choice.chain, None);
        let no_tenants = config("[limits]\ndeadline = \"1s\"\n");
        let choice = choose(Some("team-a"), Some(&no_tenants), &settings).expect("chosen");
        assert_eq!(choice.chain, None);
    }

    #[test]
    fn a_known_namespace_is_its_tenant_and_an_unknown_one_the_default_or_refused() {
        let config =
            config("[tenants.team-a]\nmode = \"enforce\"\n[tenants.shared]\nmode = \"enforce\"\n");
        let mut settings = RuntimeSettings::default();
        let known = choose(Some("team-a"), Some(&config), &settings).expect("chosen");
        assert_eq!(known.chain.as_deref(), Some("team-a"));
        let unknown = choose(Some("kube-system"), Some(&config), &settings).expect_err("refused");
        assert!(
            unknown.to_string().contains("\"kube-system\"")
                && unknown.to_string().contains("shared, team-a"),
            "{unknown}"
        );
        let missing = choose(None, Some(&config), &settings).expect_err("refused");
        assert!(
            missing
                .to_string()
                .contains(crate::runtime::settings::CRIO_NAMESPACE)
        );
        settings.default_tenant = Some("shared".into());
        let defaulted = choose(Some("kube-system"), Some(&config), &settings).expect("chosen");
        assert_eq!(defaulted.request.as_deref(), Some("shared"));
        assert_eq!(defaulted.chain.as_deref(), Some("shared"));
    }
}
