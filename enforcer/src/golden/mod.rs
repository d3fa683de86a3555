//! Golden cases for `enforcer test`: requests and what the policy chain
//! must answer, in TOML or JSON.
//!
//! ```toml
//! [[case]]
//! name = "free tier gets 256 MiB"
//! request = { tenant = "acme", labels = { tier = "free" }, command = ["python3"] }
//! expect = { allow = true, decision = { resources = { memory = { limit = 268435456 } } } }
//!
//! [[case]]
//! name = "no tenant"
//! request = { command = ["sh"] }
//! expect = { allow = false, reason = "must name a tenant" }
//!
//! [[case]]
//! name = "free tier refuses compilers, and says so"
//! request = { tenant = "acme", command = ["gcc"] }
//! expect.allow = false
//! expect.absent = ["hostname", "resources.hugepageLimits"]
//! expect.matches = { "reason" = "^the free tier may not run" }
//! expect.logs = ["free tier refused", { level = "info", contains = "gcc" }]
//! ```
//!
//! A case may give `settings = { ... }` (a table, a JSON object): every
//! policy gets them in `request.settings`, and each policy that exports a
//! settings check must accept them first; a refusal fails the case with the
//! policy's message, unless `expect.error` matches it. A request without
//! `host` gets this machine's facts.
//!
//! What `expect` may say, checked in this order (the first unmet one fails
//! the case):
//!
//! - `error`: evaluation must fail with an error containing this text;
//!   then only `logs` is checked besides.
//! - `allow`, `reason`: the verdict, and a substring of the reason.
//! - `decision`: a subset of the final decision: every key given must be
//!   present with an equal value (arrays compare element by element,
//!   whole).
//! - `absent`: field paths ([`path`]'s syntax: `resources.memory.limit`,
//!   `namespaces[0]`, `resources.unified["memory.max"]`) that must not be
//!   in the final decision.
//! - `matches`: field path → regular expression (the `regex` crate's
//!   syntax, unanchored) that the value must match: a string as it is,
//!   anything else as compact JSON.
//! - `logs`: texts, or `{ level, contains }` tables, each a substring of
//!   the message of a line some policy of the chain logged during the case
//!   (at that level, if one is given).
//!
//! Paths and patterns are checked when the file is read
//! ([`read_case_file`]); a bad one refuses the file. With
//! [`RunOptions::plan`], an allow must also be applicable
//! ([`crate::applicability::check`]) on the case's `host`, or on this
//! machine without one.
//!
//! The modules: [`case_file`] (the format), [`path`] (field paths),
//! [`expect`] (checking a decision and its logs), [`logs`] (capturing log
//! lines per case), [`runner`] (one case), [`report`] (text, JSON, JUnit,
//! TAP), [`watch`] (what `--watch` polls).

pub mod case_file;
pub mod expect;
pub mod logs;
pub mod path;
pub mod report;
pub mod runner;
pub mod watch;

pub use case_file::{
    Case, CaseFile, CaseFileError, Expectation, LogExpectation, parse_case_file, read_case_file,
};
pub use expect::{Mismatch, MissingLog, subset_mismatch};
pub use logs::LogCapture;
pub use report::{CaseReport, Report, Status};
pub use runner::{CaseFailure, CaseRun, RunOptions, run_case, selected};
