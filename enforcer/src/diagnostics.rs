//! Diagnostics: what the library has to tell the operator besides its
//! results (policy logs, compiled-code cache warnings, an unwritable audit
//! log going on unaudited, clean-up errors, controllers it mounted).
//!
//! The library never prints them itself: it hands each one, as a
//! [`Diagnostic`], to the [`Sink`] its caller gave it (through a
//! [`Diagnostics`] handle: [`crate::policy::PolicyEngine::with_diagnostics`],
//! [`crate::audit::AuditLog::open_with`], [`crate::pipeline::Pipeline`]).
//! The CLI gives [`StderrSink`], which prints each on one line of stderr
//! exactly as the enforcer always has; an embedder (the service to come)
//! routes them where it likes; tests use [`Collect`]. A handle made with
//! [`Diagnostics::default`] prints to stderr, so a caller that gives none
//! sees what the CLI shows.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use policy_sdk::LogLevel;

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed (a clean-up that left something behind).
    Error,
    /// Something is wrong but the run goes on (a cache entry refused).
    Warning,
    /// For the operator's information (a controller mounted).
    Info,
    /// Detail (a policy's debug log).
    Debug,
}

impl Level {
    /// The policy log level of the same rank.
    pub fn from_log(level: LogLevel) -> Level {
        match level {
            LogLevel::Error => Level::Error,
            LogLevel::Warn => Level::Warning,
            LogLevel::Info => Level::Info,
            LogLevel::Debug => Level::Debug,
        }
    }

    /// `error`, `warn`, `info`, `debug`: as policy log lines name levels.
    pub fn as_log_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// Who a diagnostic comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The enforcer itself.
    Enforcer,
    /// The clean-up of a sandbox (after its run, or undoing a failed one).
    Cleanup,
    /// A policy's own `enforcer.log` output, or what the host says about
    /// it (its log budget ran out); `None` for the test runner's guest,
    /// which has no name.
    Policy(Option<String>),
    /// `enforcer test-runner`.
    TestRunner,
}

/// One thing to tell the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How much it matters.
    pub level: Level,
    /// Who says it.
    pub source: Source,
    /// What it says: already escaped for a terminal
    /// ([`crate::printable`]) where a policy, request or workload controls
    /// any of it.
    pub message: String,
}

impl Diagnostic {
    /// An enforcer warning.
    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Warning,
            source: Source::Enforcer,
            message: message.into(),
        }
    }

    /// An enforcer note.
    pub fn info(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Info,
            source: Source::Enforcer,
            message: message.into(),
        }
    }

    /// A clean-up error (something may be left behind).
    pub fn cleanup(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level: Level::Error,
            source: Source::Cleanup,
            message: message.into(),
        }
    }

    /// A line of policy `policy`'s log (or about it).
    pub fn policy(policy: Option<&str>, level: Level, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level,
            source: Source::Policy(policy.map(str::to_string)),
            message: message.into(),
        }
    }

    /// A message of the test runner.
    pub fn test_runner(level: Level, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            level,
            source: Source::TestRunner,
            message: message.into(),
        }
    }
}

/// The line [`StderrSink`] prints: `enforcer: warning: ...`,
/// `enforcer: cleanup: ...`, `enforcer: ...` (info), `[policy NAME] info:
/// ...`, `enforcer test-runner: ...`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = &self.message;
        match &self.source {
            Source::Enforcer => match self.level {
                Level::Error => write!(f, "enforcer: error: {message}"),
                Level::Warning => write!(f, "enforcer: warning: {message}"),
                Level::Info => write!(f, "enforcer: {message}"),
                Level::Debug => write!(f, "enforcer: debug: {message}"),
            },
            Source::Cleanup => write!(f, "enforcer: cleanup: {message}"),
            Source::Policy(Some(name)) => write!(
                f,
                "[policy {}] {}: {message}",
                crate::printable::escape(name),
                self.level.as_log_str()
            ),
            Source::Policy(None) => write!(f, "[policy] {}: {message}", self.level.as_log_str()),
            Source::TestRunner => write!(f, "enforcer test-runner: {message}"),
        }
    }
}

/// Where diagnostics go.
pub trait Sink: Send + Sync {
    /// Takes one diagnostic (must not block for long: policy logs are
    /// emitted during an evaluation, under its deadline).
    fn emit(&self, diagnostic: Diagnostic);
}

/// Prints each diagnostic on one line of stderr (what the CLI installs).
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrSink;

impl Sink for StderrSink {
    fn emit(&self, diagnostic: Diagnostic) {
        eprintln!("{diagnostic}");
    }
}

/// Keeps every diagnostic, for tests and for callers that report them
/// later.
#[derive(Debug, Default)]
pub struct Collect {
    seen: Mutex<Vec<Diagnostic>>,
}

impl Collect {
    /// The diagnostics received so far, leaving none.
    pub fn take(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Sink for Collect {
    fn emit(&self, diagnostic: Diagnostic) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(diagnostic);
    }
}

/// A shared handle on a [`Sink`], cheap to clone; the default prints to
/// stderr.
#[derive(Clone)]
pub struct Diagnostics {
    sink: Arc<dyn Sink>,
}

impl Diagnostics {
    /// A handle on `sink`.
    pub fn new(sink: Arc<dyn Sink>) -> Diagnostics {
        Diagnostics { sink }
    }

    /// Hands `diagnostic` to the sink.
    pub fn emit(&self, diagnostic: Diagnostic) {
        self.sink.emit(diagnostic);
    }
}

impl Default for Diagnostics {
    fn default() -> Diagnostics {
        Diagnostics::new(Arc::new(StderrSink))
    }
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Diagnostics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_the_ones_the_enforcer_always_printed() {
        let line = |diagnostic: Diagnostic| diagnostic.to_string();
        assert_eq!(
            line(Diagnostic::warning(
                "cannot write compiled code to /x: full"
            )),
            "enforcer: warning: cannot write compiled code to /x: full"
        );
        assert_eq!(
            line(Diagnostic::cleanup("cgroup /a still has processes")),
            "enforcer: cleanup: cgroup /a still has processes"
        );
        assert_eq!(
            line(Diagnostic::info("mounted the net_cls controller at /m")),
            "enforcer: mounted the net_cls controller at /m"
        );
        assert_eq!(
            line(Diagnostic::policy(Some("p.wasm"), Level::Warning, "hi")),
            "[policy p.wasm] warn: hi"
        );
        assert_eq!(
            line(Diagnostic::policy(Some("a\x1b[2Jb"), Level::Info, "x")),
            "[policy a\\x1b[2Jb] info: x"
        );
        assert_eq!(
            line(Diagnostic::policy(None, Level::Debug, "x")),
            "[policy] debug: x"
        );
        assert_eq!(
            line(Diagnostic::test_runner(Level::Error, "t.wasm trapped")),
            "enforcer test-runner: t.wasm trapped"
        );
    }

    #[test]
    fn a_collecting_sink_keeps_what_it_is_given() {
        let collect = Arc::new(Collect::default());
        let diagnostics = Diagnostics::new(collect.clone());
        diagnostics.clone().emit(Diagnostic::warning("one"));
        diagnostics.emit(Diagnostic::cleanup("two"));
        let seen = collect.take();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].message, "one");
        assert_eq!(seen[1].source, Source::Cleanup);
        assert!(collect.take().is_empty());
    }
}
