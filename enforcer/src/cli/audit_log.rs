//! The audit line `enforcer run` leaves: where the log is (the config's
//! `[audit]`, else `audit.log` in the state directory) and the record made
//! from the request, its trail and its outcome.

use std::path::{Path, PathBuf};

use enforcer::audit::{
    self, AuditLog, AuditRecord, AuditSettings, AuditUser, DecisionId, OnError, Outcome, Trail,
};
use enforcer::config::OnError as ConfiguredOnError;
use policy_sdk::Request;

/// The log's settings: the config's `[audit]` table, else the defaults
/// beside the sandbox state in `state_dir`.
pub fn settings(state_dir: &Path) -> AuditSettings {
    let configured = super::config().map(|config| &config.values.audit);
    let path = configured
        .and_then(|audit| audit.path.as_ref())
        .map_or_else(
            || audit::default_path(state_dir),
            |path| path.path().to_path_buf(),
        );
    let mut settings = AuditSettings::new(path);
    if let Some(max_bytes) = configured.and_then(|audit| audit.max_bytes) {
        settings.max_bytes = max_bytes.get();
    }
    if let Some(on_error) = configured.and_then(|audit| audit.on_error) {
        settings.on_error = match on_error {
            ConfiguredOnError::FailClosed => OnError::FailClosed,
            ConfiguredOnError::FailOpen => OnError::FailOpen,
        };
    }
    settings
}

/// The log `enforcer audit` reads by default.
pub fn path(state_dir: &Path) -> PathBuf {
    settings(state_dir).path
}

/// Appends the line of one request.
pub fn append(
    log: &AuditLog,
    request: &Request,
    trail: &Trail,
    outcome: Outcome,
    error: Option<String>,
) -> anyhow::Result<()> {
    let mut record = AuditRecord::new(
        DecisionId::random()?,
        request.id.clone(),
        AuditUser::from(&request.user),
        request.command.clone(),
    )
    .with_tenant(request.tenant.clone())
    .with_chain(trail.chain())
    .with_outcome(outcome);
    record.decision = trail.decision();
    if let Some(error) = error {
        record = record.with_error(error);
    }
    log.append(&record)?;
    Ok(())
}
