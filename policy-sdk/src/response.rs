//! What `policy_evaluate` returns, and policy metadata.

use serde::{Deserialize, Serialize};

use crate::decision::Decision;

/// The response JSON of `policy_evaluate`: exactly one of `decision` or
/// `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // built once per evaluation, never stored
pub enum Response {
    /// The policy decided.
    Decision(Decision),
    /// The policy could not decide (bad request, internal failure, panic).
    Error(String),
}

/// What `policy_metadata` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Policy name.
    pub name: String,
    /// Policy version.
    #[serde(default)]
    pub version: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
}

/// A policy that cannot reach a decision. This is not a denial: the enforcer
/// treats it as an error (exit 2) and starts nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(String);

impl PolicyError {
    /// A policy error with `message`.
    pub fn new(message: impl Into<String>) -> PolicyError {
        PolicyError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

impl From<String> for PolicyError {
    fn from(message: String) -> PolicyError {
        PolicyError(message)
    }
}

impl From<&str> for PolicyError {
    fn from(message: &str) -> PolicyError {
        PolicyError(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_have_the_abi_shape() {
        let json = serde_json::to_string(&Response::Error("boom".into())).expect("serializes");
        assert_eq!(json, r#"{"error":"boom"}"#);
        let json =
            serde_json::to_string(&Response::Decision(Decision::deny("no"))).expect("serializes");
        assert_eq!(json, r#"{"decision":{"allow":false,"reason":"no"}}"#);
        assert!(serde_json::from_str::<Response>(r#"{"verdict":{}}"#).is_err());
    }
}
