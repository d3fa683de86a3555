//! The wire between a policy module and the enforcer: ABI version 1 (see
//! `docs/abi.md`).
//!
//! Policy authors need none of this: [`export_policy!`](crate::export_policy)
//! generates the exports. The host (the enforcer) and the macro use these
//! items: the version number, the `(ptr << 32) | len` packing of results, and
//! the JSON shapes of what the exports return.

use serde::{Deserialize, Serialize};

use crate::decision::Decision;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

/// The ABI version this SDK implements; a module exports it from
/// `policy_abi_version`.
pub const ABI_VERSION: i32 = 1;

/// Packs a guest pointer and length into the `i64` the ABI returns:
/// `(ptr << 32) | len`.
pub fn pack_ptr_len(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// Splits an ABI `i64` into `(ptr, len)`; the inverse of [`pack_ptr_len`].
pub fn unpack_ptr_len(packed: i64) -> (u32, u32) {
    let bits = packed as u64;
    ((bits >> 32) as u32, bits as u32)
}

/// The response JSON of `policy_evaluate` (and the error answer of
/// `policy_validate_settings`): exactly one of `decision` or `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(clippy::large_enum_variant)] // built once per evaluation, never stored
pub enum Response {
    /// The policy decided.
    Decision(Decision),
    /// The policy could not decide (an
    /// [`EvaluationError`](crate::EvaluationError), a request that is not
    /// JSON, a panic).
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

/// What `policy_validate_settings` returns when it could check the settings:
/// `{"valid": true}` or `{"valid": false, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsValidation {
    /// Whether the policy accepts the settings.
    pub valid: bool,
    /// Why not, for invalid settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl SettingsValidation {
    /// The settings are fine.
    pub fn valid() -> SettingsValidation {
        SettingsValidation {
            valid: true,
            message: None,
        }
    }

    /// The settings are refused, because of `message`.
    pub fn invalid(message: impl Into<String>) -> SettingsValidation {
        SettingsValidation {
            valid: false,
            message: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for (ptr, len) in [(0, 0), (1, 2), (u32::MAX, u32::MAX), (0x1000, 77)] {
            assert_eq!(unpack_ptr_len(pack_ptr_len(ptr, len)), (ptr, len));
        }
        assert_eq!(pack_ptr_len(1, 2), (1 << 32) | 2);
    }

    #[test]
    fn responses_have_the_abi_shape() {
        let json = serde_json::to_string(&Response::Error("boom".into())).expect("serializes");
        assert_eq!(json, r#"{"error":"boom"}"#);
        let json =
            serde_json::to_string(&Response::Decision(Decision::deny("no"))).expect("serializes");
        assert_eq!(json, r#"{"decision":{"allow":false,"reason":"no"}}"#);
        assert!(serde_json::from_str::<Response>(r#"{"verdict":{}}"#).is_err());
    }

    #[test]
    fn settings_validations_have_the_abi_shape() {
        let json = |value: &SettingsValidation| serde_json::to_string(value).expect("serializes");
        assert_eq!(json(&SettingsValidation::valid()), r#"{"valid":true}"#);
        assert_eq!(
            json(&SettingsValidation::invalid("no")),
            r#"{"valid":false,"message":"no"}"#
        );
    }
}
