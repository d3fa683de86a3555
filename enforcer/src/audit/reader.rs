//! Reading the log back: `<path>.1` then `<path>`, every line accounted
//! for. A line that is not an audit record (not JSON, not the record's
//! shape, a partial last line) is never skipped silently: the count and
//! the first one are in [`ReadOutcome::invalid`].

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{AT_FDCWD, OFlag};
use nix::libc;

use super::files::{Kind, TrustError, flock_within, open_checked, unlock};
use super::record::AuditRecord;
use super::time::Timestamp;
use super::{AuditError, Problem};

/// Which records [`read_records`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only those made at or after this time.
    pub since: Option<Timestamp>,
}

impl Filter {
    /// Whether `record` passes.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|tenant| record.tenant.as_ref() == Some(tenant))
            && self.since.is_none_or(|since| record.time >= since)
    }
}

/// A record as read, with the line it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The record.
    pub record: AuditRecord,
    /// The line exactly as stored, without its newline.
    pub line: String,
    /// The file it is in (`<path>.1` or `<path>`).
    pub file: PathBuf,
    /// Its line number there, from 1.
    pub line_number: usize,
}

/// Lines that are not audit records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLines {
    /// How many.
    pub count: usize,
    /// The file of the first.
    pub file: PathBuf,
    /// The first one's line number, from 1.
    pub line_number: usize,
    /// What is wrong with the first.
    pub why: String,
}

impl fmt::Display for InvalidLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lines, are) = if self.count == 1 {
            ("line", "is not an audit record")
        } else {
            ("lines", "are not audit records")
        };
        write!(
            f,
            "{} {lines} of the audit log {are}; the first is {}:{}: {}",
            self.count,
            self.file.display(),
            self.line_number,
            self.why
        )
    }
}

/// What [`read_records`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOutcome {
    /// The records that pass the filter, oldest first.
    pub records: Vec<StoredRecord>,
    /// Lines that are not records (whatever the filter), if any.
    pub invalid: Option<InvalidLines>,
}

/// How long the reader waits for a rotation to finish.
const READ_LOCK_WAIT: Duration = Duration::from_secs(5);

/// Reads `<path>.1`, then `<path>`, and returns the records `filter`
/// passes, oldest first. It holds a shared lock on `<path>.lock` (when that
/// exists) while it reads, so no rotation happens in between. Files are
/// opened without following symlinks; a missing `.1` is normal, a missing
/// log an error.
pub fn read_records(path: &Path, filter: &Filter) -> Result<ReadOutcome, AuditError> {
    let unreadable = |problem: Problem| AuditError::Unreadable {
        path: path.to_path_buf(),
        problem,
    };
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| unreadable(Problem::NotAFileName(path.to_path_buf())))?;
    let directory = open_checked(
        AT_FDCWD,
        &parent,
        &parent,
        Kind::Directory,
        OFlag::empty(),
        false,
    )
    .map_err(|error| unreadable(error.into()))?
    .ok_or_else(|| unreadable(not_found(&parent)))?;
    let sibling = |suffix: &str| {
        let mut name = name.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    let open = |name: &Path| {
        open_checked(
            directory.as_fd(),
            name,
            &parent.join(name),
            Kind::File,
            OFlag::O_RDONLY,
            false,
        )
        .map_err(|error| unreadable(error.into()))
    };
    let lock = open(&sibling(".lock"))?;
    if let Some(lock) = &lock {
        let started = Instant::now();
        let lock_path = parent.join(sibling(".lock"));
        if !flock_within(lock.as_fd(), libc::LOCK_SH, READ_LOCK_WAIT, &lock_path)
            .map_err(unreadable)?
        {
            return Err(unreadable(Problem::Busy {
                path: lock_path,
                waited: started.elapsed(),
            }));
        }
    }
    let rotated = open(&sibling(".1"))?;
    let current = open(&name)?;
    let mut outcome = ReadOutcome::default();
    let result = (|| {
        if rotated.is_none() && current.is_none() {
            return Err(unreadable(not_found(path)));
        }
        for (file, name) in [(rotated, sibling(".1")), (current, name.clone())] {
            if let Some(file) = file {
                read_file(File::from(file), &parent.join(name), filter, &mut outcome)
                    .map_err(unreadable)?;
            }
        }
        Ok(())
    })();
    if let Some(lock) = &lock {
        unlock(lock.as_fd());
    }
    result.map(|()| outcome)
}

fn not_found(path: &Path) -> Problem {
    TrustError::io("open", path, std::io::ErrorKind::NotFound.into()).into()
}

/// Adds the records of one file to `outcome`.
fn read_file(
    file: File,
    path: &Path,
    filter: &Filter,
    outcome: &mut ReadOutcome,
) -> Result<(), Problem> {
    let mut reader = BufReader::new(file);
    let mut bytes = Vec::new();
    let mut line_number = 0;
    loop {
        bytes.clear();
        let read = reader
            .read_until(b'\n', &mut bytes)
            .map_err(|err| Problem::from(TrustError::io("read", path, err)))?;
        if read == 0 {
            return Ok(());
        }
        line_number += 1;
        let complete = bytes.last() == Some(&b'\n');
        if complete {
            bytes.pop();
        }
        match parse_line(&bytes, complete) {
            Ok((record, line)) => {
                if filter.matches(&record) {
                    outcome.records.push(StoredRecord {
                        record,
                        line,
                        file: path.to_path_buf(),
                        line_number,
                    });
                }
            }
            Err(why) => match &mut outcome.invalid {
                Some(invalid) => invalid.count += 1,
                None => {
                    outcome.invalid = Some(InvalidLines {
                        count: 1,
                        file: path.to_path_buf(),
                        line_number,
                        why,
                    });
                }
            },
        }
    }
}

fn parse_line(bytes: &[u8], complete: bool) -> Result<(AuditRecord, String), String> {
    if !complete {
        return Err("the last line has no newline (a write cut short)".into());
    }
    let line = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_string())?;
    let record = serde_json::from_str(line).map_err(|error| {
        if serde_json::from_str::<serde_json::Value>(line).is_ok() {
            format!("it is JSON but not an audit record: {error}")
        } else {
            format!("it is not JSON: {error}")
        }
    })?;
    Ok((record, line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditUser, DecisionId};

    fn record(tenant: Option<&str>, time: &str) -> AuditRecord {
        let mut record = AuditRecord::new(
            DecisionId::random().expect("random"),
            "id",
            AuditUser {
                uid: 0,
                gid: 0,
                name: None,
            },
            vec!["true".into()],
        )
        .with_tenant(tenant.map(String::from));
        record.time = Timestamp::parse_rfc3339(time).expect("time");
        record
    }

    #[test]
    fn the_filter_checks_tenant_and_time() {
        let early = record(Some("acme"), "2026-12-01T09:00:00Z");
        let late = record(Some("acme"), "2026-12-01T10:00:00.001Z");
        let other = record(Some("globex"), "2026-12-01T10:00:00Z");
        let none = record(None, "2026-12-01T10:00:00Z");
        let acme = Filter {
            tenant: Some("acme".into()),
            since: None,
        };
        assert!(acme.matches(&early) && acme.matches(&late));
        assert!(!acme.matches(&other) && !acme.matches(&none));
        let since = Filter {
            tenant: None,
            since: Some(Timestamp::parse_rfc3339("2026-12-01T10:00:00Z").expect("time")),
        };
        assert!(!since.matches(&early));
        assert!(since.matches(&late) && since.matches(&other) && since.matches(&none));
        let both = Filter {
            tenant: Some("acme".into()),
            ..since
        };
        assert!(both.matches(&late) && !both.matches(&early) && !both.matches(&other));
        assert!(Filter::default().matches(&none));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(
            parse_line(b"{", true)
                .expect_err("bad")
                .starts_with("it is not JSON")
        );
        assert!(
            parse_line(b"{}", true)
                .expect_err("bad")
                .contains("not an audit record")
        );
        assert!(
            parse_line(b"\xff", true)
                .expect_err("bad")
                .contains("UTF-8")
        );
        assert!(parse_line(b"", true).is_err());
        let line = serde_json::to_string(&record(None, "2026-12-01T09:00:00Z")).expect("json");
        assert!(
            parse_line(line.as_bytes(), false)
                .expect_err("partial")
                .contains("no newline")
        );
        assert_eq!(parse_line(line.as_bytes(), true).expect("parses").1, line);
    }
}
