//! Policy settings: the JSON object an operator (the config, `--settings`,
//! a golden case's `settings`) gives a policy, checked with the policy's own
//! `policy_validate_settings` before any request is evaluated with them.

use serde_json::Value;

use crate::policy::{Policy, PolicyError, SettingsCheck};

/// Settings a policy refused, or could not check.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The policy's `policy_validate_settings` answered `valid: false`.
    #[error("policy {policy}: invalid settings: {message}")]
    Invalid {
        /// The policy's name.
        policy: String,
        /// The policy's reason.
        message: String,
    },
    /// Calling the check failed (trap, timeout, bad response, settings that
    /// are not an object); the error names the policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// `Ok` when `policy` accepts `settings`, or does not export a check.
pub fn require_valid(policy: &Policy, settings: &Value) -> Result<(), SettingsError> {
    match policy.validate_settings(settings)? {
        SettingsCheck::Valid | SettingsCheck::NotExported => Ok(()),
        SettingsCheck::Invalid(message) => Err(SettingsError::Invalid {
            policy: policy.name().to_string(),
            message,
        }),
    }
}

/// [`require_valid`] for each policy in turn; the first refusal wins.
pub fn require_valid_for_all(policies: &[Policy], settings: &Value) -> Result<(), SettingsError> {
    policies
        .iter()
        .try_for_each(|policy| require_valid(policy, settings))
}
