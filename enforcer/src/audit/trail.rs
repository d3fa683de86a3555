//! What one request learnt on its way, for its audit line: each policy's
//! report, the final normalised decision, and the step it had reached.
//! The pipeline fills it in as it goes; whoever ends the request writes
//! the line from it, whatever the outcome.

use serde_json::Value;

use super::Step;
use crate::decision::NormalDecision;
use crate::evaluation::LinkReport;

/// A request's progress, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Trail {
    /// One report per policy of the chain.
    pub chain: Vec<Value>,
    /// The final decision, normalised, once the chain allowed.
    pub decision: Option<Value>,
    /// The step the request reached (the failing one, if it failed).
    pub step: Step,
}

impl Default for Trail {
    fn default() -> Trail {
        Trail {
            chain: Vec::new(),
            decision: None,
            step: Step::Request,
        }
    }
}

impl Trail {
    /// Records the chain's reports.
    pub fn record_links(&mut self, links: &[LinkReport]) {
        self.chain = links
            .iter()
            .map(|link| serde_json::to_value(link).unwrap_or(Value::Null))
            .collect();
    }

    /// Records the final decision, in the OCI rendering of its normal form.
    pub fn record_decision(&mut self, decision: &NormalDecision) {
        self.decision = serde_json::to_value(decision.to_decision()).ok();
    }
}
