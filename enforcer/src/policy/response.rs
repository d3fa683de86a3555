//! Parsing a policy's response bytes into a decision (or a settings
//! check), with errors that say which byte or which field is wrong.

use policy_sdk::Decision;
use policy_sdk::abi::Response;
use serde::Deserialize;
use serde_json::error::Category;

use super::error::PolicyErrorKind;

/// Parses `{"decision": ...}` into a decision; anything else is an error:
/// invalid UTF-8, invalid JSON, a wrong shape or field (with its path), or
/// the policy's own `{"error": ...}`.
pub fn parse_decision(bytes: &[u8]) -> Result<Decision, PolicyErrorKind> {
    std::str::from_utf8(bytes).map_err(PolicyErrorKind::InvalidUtf8)?;
    // Fast path: plain serde_json. Only a failure pays for a second parse
    // that tracks the field path for the error message.
    match serde_json::from_slice::<Response>(bytes) {
        Ok(Response::Decision(decision)) => Ok(decision),
        Ok(Response::Error(message)) => Err(PolicyErrorKind::Reported(message)),
        Err(_) => Err(explain_parse_failure(bytes)),
    }
}

/// Re-parses a response that failed to parse, tracking the field path, and
/// says what is wrong where.
fn explain_parse_failure(bytes: &[u8]) -> PolicyErrorKind {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<Response, _> = serde_path_to_error::deserialize(&mut deserializer);
    let error = match parsed {
        Ok(_) => match deserializer.end() {
            Ok(()) => return PolicyErrorKind::InvalidJson("unparseable response".into()),
            Err(error) => return PolicyErrorKind::InvalidJson(error.to_string()),
        },
        Err(error) => error,
    };
    let path = error.path().to_string();
    let inner = error.into_inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            PolicyErrorKind::InvalidJson(inner.to_string())
        }
        Category::Data if path == "." => PolicyErrorKind::InvalidResponse(format!(
            "expected {{\"decision\": {{...}}}} or {{\"error\": \"...\"}}: {inner}"
        )),
        Category::Data => PolicyErrorKind::InvalidResponse(format!("{path}: {inner}")),
    }
}

/// What a policy said about the settings it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsCheck {
    /// `{"valid": true}`.
    Valid,
    /// `{"valid": false, "message": "..."}`: the policy's reason.
    Invalid(String),
    /// The module does not export `policy_validate_settings`: nothing to
    /// check (it ignores settings, or takes any).
    NotExported,
}

/// `policy_validate_settings`'s response, every field optional so that the
/// combinations can be told apart in the error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsResponse {
    valid: Option<bool>,
    message: Option<String>,
    error: Option<String>,
}

/// Parses `{"valid": true}`, `{"valid": false, "message": "..."}` or
/// `{"error": "..."}` (the policy could not check: an error, not a verdict).
pub fn parse_settings_check(bytes: &[u8]) -> Result<SettingsCheck, PolicyErrorKind> {
    std::str::from_utf8(bytes).map_err(PolicyErrorKind::InvalidUtf8)?;
    let response: SettingsResponse = serde_json::from_slice(bytes).map_err(|error| {
        match error.classify() {
            Category::Data => PolicyErrorKind::InvalidResponse(format!(
                "settings: expected {{\"valid\": true}}, {{\"valid\": false, \"message\": \"...\"}} or {{\"error\": \"...\"}}: {error}"
            )),
            _ => PolicyErrorKind::InvalidJson(error.to_string()),
        }
    })?;
    match response {
        SettingsResponse {
            valid: Some(true),
            error: None,
            ..
        } => Ok(SettingsCheck::Valid),
        SettingsResponse {
            valid: Some(false),
            message,
            error: None,
        } => Ok(SettingsCheck::Invalid(
            message.unwrap_or_else(|| "(the policy gave no reason)".into()),
        )),
        SettingsResponse {
            valid: None,
            message: None,
            error: Some(message),
        } => Err(PolicyErrorKind::Reported(message)),
        _ => Err(PolicyErrorKind::InvalidResponse(
            "settings: expected exactly one of `valid` (with an optional `message`) or `error`"
                .into(),
        )),
    }
}

/// The kind of a JSON value, for messages: `an array`, `a string`, ...
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: &[u8]) -> String {
        parse_decision(bytes).expect_err("must fail").to_string()
    }

    #[test]
    fn accepts_a_decision() {
        let decision = parse_decision(br#"{"decision":{"allow":true}}"#).expect("parses");
        assert!(decision.allow);
    }

    #[test]
    fn names_each_cause() {
        assert!(message(b"\xff\xfe").contains("not valid UTF-8"));
        assert!(message(b"{not json").contains("not valid JSON"));
        assert!(message(br#"{"decision":{"allow":true}} trailing"#).contains("not valid JSON"));
        assert!(message(br#"{"verdict":1}"#).contains("expected {\"decision\""));
        assert_eq!(
            message(br#"{"error":"no tenant"}"#),
            "reported an error: no tenant"
        );
    }

    #[test]
    fn names_the_field_path() {
        let text = message(br#"{"decision":{"allow":true,"resources":{"memroy":{}}}}"#);
        assert!(text.contains("decision.resources"), "{text}");
        assert!(text.contains("memroy"), "{text}");
        let text = message(
            br#"{"decision":{"allow":true,"namespaces":[{"type":"pid"},{"type":"time"}]}}"#,
        );
        assert!(text.contains("decision.namespaces[1].type"), "{text}");
    }

    #[test]
    fn settings_checks_have_kubewardens_shape() {
        assert_eq!(
            parse_settings_check(br#"{"valid":true}"#).expect("parses"),
            SettingsCheck::Valid
        );
        assert_eq!(
            parse_settings_check(br#"{"valid":false,"message":"maxPids must be at least 1"}"#)
                .expect("parses"),
            SettingsCheck::Invalid("maxPids must be at least 1".into())
        );
        assert_eq!(
            parse_settings_check(br#"{"valid":false}"#).expect("parses"),
            SettingsCheck::Invalid("(the policy gave no reason)".into())
        );
        let text = |bytes: &[u8]| {
            parse_settings_check(bytes)
                .expect_err("must fail")
                .to_string()
        };
        assert_eq!(text(br#"{"error":"boom"}"#), "reported an error: boom");
        assert!(text(br#"{"valid":true,"error":"x"}"#).contains("exactly one of"));
        assert!(text(br#"{}"#).contains("exactly one of"));
        assert!(text(br#"{"valid":"yes"}"#).contains("settings: expected"));
        assert!(text(br#"{"vaild":true}"#).contains("unknown field `vaild`"));
        assert!(text(b"{nope").contains("not valid JSON"));
        assert!(text(b"\xff").contains("not valid UTF-8"));
    }
}
