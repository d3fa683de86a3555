//! The audit log: one JSON line per request, allowed, denied or failed
//! ([`AuditRecord`]), appended to a file every `enforcer` process shares
//! ([`AuditLog`]), and read back with filters ([`read_records`]).
//!
//! # Guarantees
//!
//! On a local filesystem (ext4, xfs, btrfs, tmpfs):
//!
//! - **One line per record, never split or interleaved.** A record is
//!   encoded as one line of compact JSON (control characters in strings are
//!   escaped, so no raw newline), at most [`MAX_LINE_BYTES`], and written
//!   with one `write(2)` of the whole line to a descriptor opened with
//!   `O_APPEND`: the kernel appends it at the end of the file in one piece,
//!   whatever other processes append at the same time. A write that comes
//!   back short (only a full disk or a quota does that to a regular file) is
//!   reported as an error; the rest is retried once, so the log then holds
//!   the line whole or ends in a partial line that [`read_records`] reports.
//! - **No line lost to rotation.** Every append holds a shared `flock` on
//!   `<path>.lock` while it checks that its descriptor is still the file at
//!   `<path>` (reopening it if another writer rotated) and writes; rotation
//!   takes the lock exclusively, re-checks the size of the file at the
//!   path, renames `<path>` to `<path>.1` (replacing the older one) and
//!   creates a new `<path>`. So a line is always written into the current
//!   file, and a file only becomes `.1` when no line is being written to
//!   it. Rotation keeps one old file: lines rotated out of `.1` are gone
//!   by design (size-capped retention), never lost in between.
//! - **Bounded size.** A line that would take the current file past
//!   `max_bytes` rotates it first, so `<path>` and `<path>.1` each hold
//!   about `max_bytes`: writers check the size and write under a *shared*
//!   lock, so lines appended at the same moment as the one that crosses the
//!   cap land in the same file, which then passes the cap by those lines
//!   (at most one line per concurrent writer). A single line longer than
//!   `max_bytes` is still written, alone in its file. If the exclusive lock cannot be had
//!   within [`ROTATE_WAIT`] (a writer stopped while holding the shared
//!   one), the line goes to the current file over the cap rather than
//!   failing the request.
//! - **Fail before applying.** [`AuditLog::open`] is a preflight: it
//!   creates and checks the directory and the file and refuses a file
//!   system with less than [`headroom`] bytes free, so a full disk or an
//!   unwritable log fails the request before anything is applied. Each
//!   append checks the free space again for its own line.
//! - **Trusted files only.** The directory, the log, the lock file and
//!   `.1` must be owned by the enforcer's effective uid and not writable by
//!   group or others, and not symbolic links; all of them are opened with
//!   `O_NOFOLLOW` relative to the checked directory's descriptor (as the
//!   state directory is, see [`crate::sandbox::state`]). A missing
//!   directory is created with mode 0700 (owned by root when the enforcer
//!   runs as root); the log and lock files with mode 0600. Only the last
//!   component of the directory's path is checked for symlinks; its
//!   ancestors are trusted as the operator's.
//!
//! # Limits
//!
//! - NFS and other network filesystems do not make `O_APPEND` writes from
//!   several clients atomic, and their `flock` is emulated or absent: keep
//!   the log on a local filesystem.
//! - A process killed in the middle of `write(2)` on a full disk can leave
//!   a partial last line; the reader reports it, never skips it silently.
//! - No `fsync`: a line reaches the page cache before the request goes on,
//!   the disk on the kernel's schedule. A power loss can lose the last
//!   seconds of lines; it cannot reorder or tear the ones that survive.
//!
//! # Failure policy
//!
//! With [`OnError::FailClosed`] (the default) a log that cannot be opened
//! or appended to is an error: the caller fails the request. With
//! [`OnError::FailOpen`] the same failures give one warning per
//! [`AuditLog`] to its diagnostics sink (the CLI prints it on stderr;
//! [`AuditLog::open_with`]), naming the behaviour (`audit log /x unwritable
//! (fail-open, going on unaudited): ...`), and the caller goes on.

mod files;
mod reader;
mod record;
mod time;
mod trail;
mod writer;

use std::fmt;
use std::path::PathBuf;

pub use reader::{Filter, InvalidLines, ReadOutcome, StoredRecord, read_records};
pub use record::{AuditRecord, AuditUser, DecisionId, MAX_LINE_BYTES, Outcome, Step, encode_line};
pub use time::Timestamp;
pub use trail::Trail;
pub use writer::{AuditLog, ROTATE_WAIT, headroom};

/// The log's file name in the state directory, its default place.
pub const DEFAULT_FILE_NAME: &str = "audit.log";

/// The default size at which the log rotates: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// The default log path: `audit.log` in `state_dir`.
pub fn default_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join(DEFAULT_FILE_NAME)
}

/// What a request does when its audit line cannot be written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Fail the request (the default).
    #[default]
    FailClosed,
    /// Warn once on stderr and go on unaudited.
    FailOpen,
}

impl fmt::Display for OnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnError::FailClosed => "fail-closed",
            OnError::FailOpen => "fail-open",
        })
    }
}

/// Where the log is and how it behaves (the config's `[audit]` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    /// The log file; `<path>.1` and `<path>.lock` sit beside it.
    pub path: PathBuf,
    /// Size at which it rotates.
    pub max_bytes: u64,
    /// Fail closed or open.
    pub on_error: OnError,
}

impl AuditSettings {
    /// The log at `path`, rotating at [`DEFAULT_MAX_BYTES`], failing closed.
    pub fn new(path: impl Into<PathBuf>) -> AuditSettings {
        AuditSettings {
            path: path.into(),
            max_bytes: DEFAULT_MAX_BYTES,
            on_error: OnError::FailClosed,
        }
    }
}

/// Why the log cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Opening or appending failed.
    #[error("audit log {path} unwritable ({on_error}): {problem}")]
    Unwritable {
        /// The log.
        path: PathBuf,
        /// The failure policy in force (fail-closed, for an error).
        on_error: OnError,
        /// What went wrong.
        problem: Problem,
    },
    /// Reading failed.
    #[error("cannot read audit log {path}: {problem}")]
    Unreadable {
        /// The log.
        path: PathBuf,
        /// What went wrong.
        problem: Problem,
    },
}

/// What went wrong with a file of the log.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// A file or directory refused (not the enforcer's own, a symlink,
    /// not a regular file or directory), or a system call on it failed.
    #[error(transparent)]
    File(#[from] crate::trusted::TrustError),
    /// The filesystem is (nearly) full.
    #[error(
        "only {available} bytes free on the filesystem of {path}, {needed} needed (a full disk fails the request before anything is applied)"
    )]
    NoSpace {
        /// The file.
        path: PathBuf,
        /// Bytes free to the enforcer (`statvfs`: `f_bfree` as root, else
        /// `f_bavail`).
        available: u64,
        /// Bytes required.
        needed: u64,
    },
    /// `write(2)` wrote part of the line, then failed.
    #[error("short write to {path}: {written} of {length} bytes, then: {err}")]
    ShortWrite {
        /// The file.
        path: PathBuf,
        /// Bytes written.
        written: usize,
        /// The line's length.
        length: usize,
        /// Why the rest failed.
        err: std::io::Error,
    },
    /// Another process held the lock for the whole wait.
    #[error("{path} is busy: another process holds its lock (waited {waited:?})")]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// The record cannot be encoded.
    #[error("cannot encode the record: {0}")]
    Encode(String),
    /// The path names no file (`/`, `..`).
    #[error("{0} does not name a file")]
    NotAFileName(PathBuf),
}
