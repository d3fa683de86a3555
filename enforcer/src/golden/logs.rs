//! Capturing policy log lines per case: a diagnostics [`Sink`] that keeps
//! what policies say (their `log!` lines and what the host says about them)
//! until the runner takes it, and passes everything else (cache warnings,
//! say) on to another sink.

use std::sync::{Mutex, PoisonError};

use crate::diagnostics::{Diagnostic, Diagnostics, Sink, Source};

/// Keeps policy diagnostics for the case being run; forwards the others.
#[derive(Debug)]
pub struct LogCapture {
    lines: Mutex<Vec<Diagnostic>>,
    others: Diagnostics,
}

impl LogCapture {
    /// A capture that forwards what is not a policy's to `others`.
    pub fn new(others: Diagnostics) -> LogCapture {
        LogCapture {
            lines: Mutex::new(Vec::new()),
            others,
        }
    }

    /// The policy lines captured since the last call, leaving none.
    pub fn take(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Sink for LogCapture {
    fn emit(&self, diagnostic: Diagnostic) {
        if matches!(diagnostic.source, Source::Policy(_)) {
            self.lines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(diagnostic);
        } else {
            self.others.emit(diagnostic);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{Collect, Level};
    use std::sync::Arc;

    #[test]
    fn policy_lines_are_kept_and_the_rest_forwarded() {
        let others = Arc::new(Collect::default());
        let capture = LogCapture::new(Diagnostics::new(others.clone()));
        capture.emit(Diagnostic::policy(Some("p"), Level::Info, "one"));
        capture.emit(Diagnostic::warning("cache"));
        capture.emit(Diagnostic::policy(None, Level::Debug, "two"));
        let kept = capture.take();
        assert_eq!(
            kept.iter()
                .map(|line| line.message.as_str())
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert!(capture.take().is_empty());
        assert_eq!(others.take(), [Diagnostic::warning("cache")]);
    }
}
