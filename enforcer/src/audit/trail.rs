//! What one request learnt on its way, for its audit line: each policy's
//! report, the final normalised decision, and the step it had reached.
//! The pipeline fills it in as it goes (moving, not serialising: nothing
//! is encoded before the workload starts); whoever ends the request
//! writes the line from it, whatever the outcome.

use serde_json::Value;

use super::Step;
use crate::decision::NormalDecision;
use crate::evaluation::LinkReport;

/// A request's progress, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Trail {
    /// One report per policy of the chain.
    pub links: Vec<LinkReport>,
    /// The final decision, normalised, once the chain allowed.
    pub decision: Option<NormalDecision>,
    /// The step the request reached (the failing one, if it failed).
    pub step: Step,
}

impl Default for Trail {
    fn default() -> Trail {
        Trail {
            links: Vec::new(),
            decision: None,
            step: Step::Request,
        }
    }
}

impl Trail {
    /// The chain's reports, as the audit record holds them.
    pub fn chain(&self) -> Vec<Value> {
        self.links
            .iter()
            .map(|link| serde_json::to_value(link).unwrap_or(Value::Null))
            .collect()
    }

    /// The final decision in the OCI rendering of its normal form.
    pub fn decision(&self) -> Option<Value> {
        let decision = self.decision.as_ref()?;
        serde_json::to_value(decision.to_decision()).ok()
    }
}
