//! Per-store state: resource caps and the log budget.

use std::sync::Arc;

use policy_sdk::LogLevel;
use wasmtime::ResourceLimiter;

use crate::diagnostics::{Diagnostic, Diagnostics, Level};

/// Caps on what one evaluation may use, shared by every store of an engine.
#[derive(Debug, Clone)]
pub struct StoreCaps {
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// Table elements.
    pub table_elements: usize,
    /// Log messages per evaluation.
    pub log_messages: u32,
    /// Bytes kept of one log message.
    pub log_message_bytes: usize,
    /// Lowest level printed.
    pub log_level: LogLevel,
}

/// The host state of one store (one evaluation).
pub struct StoreState {
    /// The policy's display name, for log lines.
    pub policy: Arc<str>,
    caps: Arc<StoreCaps>,
    /// Set when the module hit a cap, with a message saying which.
    pub limit_hit: Option<String>,
    logs_left: u32,
    diagnostics: Diagnostics,
}

impl StoreState {
    /// Fresh state for one evaluation of `policy`, its log lines going to
    /// `diagnostics`.
    pub fn new(policy: Arc<str>, caps: Arc<StoreCaps>, diagnostics: Diagnostics) -> StoreState {
        let logs_left = caps.log_messages;
        StoreState {
            policy,
            caps,
            limit_hit: None,
            logs_left,
            diagnostics,
        }
    }

    /// Hands a policy log message to the diagnostics sink (the CLI prints
    /// it on stderr), within the budget: at most
    /// `log_messages` lines, each cut to `log_message_bytes`, control and
    /// bidi characters escaped ([`crate::printable::escape`]) so a policy
    /// cannot forge terminal output.
    pub fn log(&mut self, level: LogLevel, raw: &[u8]) {
        if level > self.caps.log_level {
            return;
        }
        if self.logs_left == 0 {
            return;
        }
        self.logs_left -= 1;
        let cut = &raw[..raw.len().min(self.caps.log_message_bytes)];
        let text = String::from_utf8_lossy(cut);
        let text = crate::printable::escape(&text);
        let ellipsis = if cut.len() < raw.len() { "…" } else { "" };
        self.diagnostics.emit(Diagnostic::policy(
            Some(&self.policy),
            Level::from_log(level),
            format!("{text}{ellipsis}"),
        ));
        if self.logs_left == 0 {
            self.diagnostics.emit(Diagnostic::policy(
                Some(&self.policy),
                Level::Warning,
                format!(
                    "log limit of {} messages reached; further messages dropped",
                    self.caps.log_messages
                ),
            ));
        }
    }
}

impl ResourceLimiter for StoreState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.caps.memory_bytes {
            let message = format!(
                "memory limit exceeded: linear memory would grow from {current} to {desired} bytes, past the cap of {} bytes",
                self.caps.memory_bytes
            );
            self.limit_hit = Some(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.caps.table_elements {
            let message = format!(
                "table limit exceeded: a table would grow from {current} to {desired} elements, past the cap of {}",
                self.caps.table_elements
            );
            self.limit_hit = Some(message.clone());
            return Err(wasmtime::Error::msg(message));
        }
        Ok(true)
    }
}
