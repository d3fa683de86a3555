//! Policy settings: what the operator configures a policy with, and how a
//! policy checks them before any request (`policy_validate_settings`, see
//! `docs/abi.md`).
//!
//! A policy reads its settings with [`Request::settings`](crate::Request::settings)
//! and may export a check with
//! `export_policy!(evaluate, validate_settings = check)`. The check gets the
//! settings already parsed as its type; settings that do not parse are
//! invalid with serde's message, without calling it.
//!
//! ```
//! use policy_sdk::abi::SettingsValidation;
//! use policy_sdk::settings::validate;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Settings { #[serde(default)] limit: u32 }
//!
//! fn check(settings: &Settings) -> Result<(), String> {
//!     if settings.limit == 0 { Err("limit must be positive".into()) } else { Ok(()) }
//! }
//!
//! assert_eq!(validate(br#"{"limit": 4}"#, check), Ok(SettingsValidation::valid()));
//! assert_eq!(
//!     validate(br#"{"limit": 0}"#, check),
//!     Ok(SettingsValidation::invalid("limit must be positive"))
//! );
//! ```

use std::fmt::Display;

use serde::de::DeserializeOwned;

use crate::abi::SettingsValidation;

/// Checks the settings JSON `input`: it must be a JSON object that parses as
/// `T` (else the settings are invalid, with serde's message), and `check`
/// must accept it (else they are invalid with its message).
///
/// `Err` means the input is not JSON at all, which the enforcer never sends;
/// `policy_validate_settings` answers it with `{"error": ...}`.
pub fn validate<T: DeserializeOwned, E: Display>(
    input: &[u8],
    check: fn(&T) -> Result<(), E>,
) -> Result<SettingsValidation, String> {
    let value: serde_json::Value =
        serde_json::from_slice(input).map_err(|error| format!("invalid settings JSON: {error}"))?;
    if !value.is_object() {
        return Ok(SettingsValidation::invalid(
            "settings must be a JSON object",
        ));
    }
    let settings: T = match serde_json::from_value(value) {
        Ok(settings) => settings,
        Err(error) => return Ok(SettingsValidation::invalid(error.to_string())),
    };
    Ok(match check(&settings) {
        Ok(()) => SettingsValidation::valid(),
        Err(message) => SettingsValidation::invalid(message.to_string()),
    })
}

/// Type-checks the evaluate function given to `export_policy!` natively,
/// where the macro generates no exports, so a wrong signature fails
/// `cargo test` too and not only the Wasm build.
#[doc(hidden)]
pub const fn check_evaluate(
    _evaluate: fn(&crate::Request) -> Result<crate::Decision, crate::EvaluationError>,
) {
}

/// Type-checks the `validate_settings` function given to `export_policy!`
/// natively; see [`check_evaluate`].
#[doc(hidden)]
pub const fn check_validate<T: DeserializeOwned, E: Display>(_validate: fn(&T) -> Result<(), E>) {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(default, rename_all = "camelCase", deny_unknown_fields)]
    struct Settings {
        max_pids: u32,
    }

    impl Default for Settings {
        fn default() -> Settings {
            Settings { max_pids: 64 }
        }
    }

    fn check(settings: &Settings) -> Result<(), String> {
        if settings.max_pids == 0 {
            Err("maxPids must be at least 1".into())
        } else {
            Ok(())
        }
    }

    fn check_evaluation_error(settings: &Settings) -> Result<(), crate::EvaluationError> {
        check(settings).map_err(crate::EvaluationError::new)
    }

    #[test]
    fn valid_settings_pass_and_defaults_apply() {
        assert_eq!(validate(b"{}", check), Ok(SettingsValidation::valid()));
        assert_eq!(
            validate(br#"{"maxPids": 3}"#, check),
            Ok(SettingsValidation::valid())
        );
    }

    #[test]
    fn the_check_refuses_with_its_message() {
        assert_eq!(
            validate(br#"{"maxPids": 0}"#, check),
            Ok(SettingsValidation::invalid("maxPids must be at least 1"))
        );
        assert_eq!(
            validate(br#"{"maxPids": 0}"#, check_evaluation_error),
            Ok(SettingsValidation::invalid("maxPids must be at least 1"))
        );
    }

    #[test]
    fn settings_that_do_not_parse_are_invalid_with_the_serde_message() {
        let result = validate(br#"{"maxPid": 1}"#, check).expect("checked");
        assert!(!result.valid);
        let message = result.message.expect("a message");
        assert!(message.starts_with("unknown field `maxPid`"), "{message}");
        let result = validate(br#"{"maxPids": -1}"#, check).expect("checked");
        assert!(
            result
                .message
                .is_some_and(|message| message.contains("expected u32")),
        );
        // A struct would also parse from an array; settings are an object.
        assert_eq!(
            validate(b"[1]", check),
            Ok(SettingsValidation::invalid(
                "settings must be a JSON object"
            ))
        );
    }

    #[test]
    fn input_that_is_not_json_is_an_error() {
        let error = validate(b"{nope", check).expect_err("not JSON");
        assert!(error.starts_with("invalid settings JSON: "), "{error}");
    }
}
