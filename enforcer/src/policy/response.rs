//! Parsing a policy's response bytes into a decision, with errors that say
//! which byte or which field is wrong.

use policy_sdk::{Decision, Response};
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
}
