//! [`EvaluationError`]: a policy that cannot decide.

/// A policy that cannot reach a decision: the request is malformed for it,
/// its settings do not parse, an internal invariant broke. This is not a
/// denial (that is [`Decision::deny`](crate::Decision::deny)): the enforcer
/// reports it as an error of the policy (exit 2) and starts nothing.
///
/// The message travels as the `error` of the response JSON and is shown to
/// the caller and the operator; name the culprit (`label gpus="x" is not a
/// number`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationError(String);

impl EvaluationError {
    /// An evaluation error with `message`.
    pub fn new(message: impl Into<String>) -> EvaluationError {
        EvaluationError(message.into())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EvaluationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvaluationError {}

impl From<String> for EvaluationError {
    fn from(message: String) -> EvaluationError {
        EvaluationError(message)
    }
}

impl From<&str> for EvaluationError {
    fn from(message: &str) -> EvaluationError {
        EvaluationError(message.into())
    }
}
