//! [`AuditLog`]: the preflight ([`AuditLog::open`]) and atomic appends with
//! rotation ([`AuditLog::append`]). The guarantees are in the module
//! documentation of [`crate::audit`].

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::libc;

use crate::diagnostics::{Diagnostic, Diagnostics};

use super::files::{
    Kind, TrustError, flock_within, free_space, io, is_entry, open_checked, size, unlock,
};
use super::record::{AuditRecord, encode_line};
use super::{AuditError, AuditSettings, OnError, Problem};

/// How long an append waits for the shared lock (held by a rotation for a
/// moment) before it reports the log busy.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How long a rotation waits for the exclusive lock before it writes the
/// line over the cap instead.
pub const ROTATE_WAIT: Duration = Duration::from_secs(1);

/// The most free space [`headroom`] asks for.
const MAX_HEADROOM: u64 = 1 << 20;

/// Free space [`AuditLog::open`] requires on the log's filesystem: 1 MiB
/// or `max_bytes / 64`, whichever is smaller.
pub fn headroom(max_bytes: u64) -> u64 {
    (max_bytes / 64).min(MAX_HEADROOM)
}

/// The audit log, open for appending (or, failing open, not).
///
/// `Send + Sync`: threads of one process may share it; appends from one
/// value are serialised, appends from other values and processes are
/// atomic by `O_APPEND` and coordinated by the lock file.
#[derive(Debug)]
pub struct AuditLog {
    settings: AuditSettings,
    writer: Option<Mutex<Writer>>,
    warned: AtomicBool,
    warning: Mutex<Option<String>>,
    diagnostics: Diagnostics,
}

/// The open files, relative to the checked directory.
#[derive(Debug)]
struct Writer {
    directory: OwnedFd,
    path: PathBuf,
    name: PathBuf,
    rotated_name: PathBuf,
    lock_path: PathBuf,
    file: OwnedFd,
    lock: OwnedFd,
}

/// `path` with `suffix` added to its file name (`audit.log` → `audit.log.1`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

impl AuditLog {
    /// Opens the log: the preflight of a request. Creates the directory
    /// (0700) when missing, checks it, opens (or creates, 0600) the log
    /// and `<path>.lock`, checks `<path>.1` if present, and refuses a
    /// filesystem with less than [`headroom`] free.
    ///
    /// Failing closed, any of that is an error; failing open, it prints
    /// one warning and returns a log whose appends do nothing.
    pub fn open(settings: &AuditSettings) -> Result<AuditLog, AuditError> {
        AuditLog::open_with(settings, Diagnostics::default())
    }

    /// Like [`AuditLog::open`], the warning of a log that fails open going
    /// to `diagnostics` ([`AuditLog::open`] prints it on stderr).
    pub fn open_with(
        settings: &AuditSettings,
        diagnostics: Diagnostics,
    ) -> Result<AuditLog, AuditError> {
        let mut log = AuditLog {
            settings: settings.clone(),
            writer: None,
            warned: AtomicBool::new(false),
            warning: Mutex::new(None),
            diagnostics,
        };
        match Writer::open(settings) {
            Ok(writer) => {
                log.writer = Some(Mutex::new(writer));
                Ok(log)
            }
            Err(problem) => {
                log.fail(problem)?;
                Ok(log)
            }
        }
    }

    /// Appends `record` as one line (see [`crate::audit`] for the
    /// guarantees), rotating first when the line would take the file past
    /// `max_bytes`.
    ///
    /// Failing open, a failure reports one warning (if none was reported
    /// yet) and returns `Ok`.
    pub fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(()); // failed open at open(): warned then
        };
        let result = encode_line(record)
            .map_err(Problem::Encode)
            .and_then(|line| {
                let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
                writer.append(&line, self.settings.max_bytes)
            });
        match result {
            Ok(()) => Ok(()),
            Err(problem) => self.fail(problem),
        }
    }

    /// The settings it was opened with.
    pub fn settings(&self) -> &AuditSettings {
        &self.settings
    }

    /// Whether appends reach the file (false only after a failed open
    /// with [`OnError::FailOpen`]).
    pub fn is_enabled(&self) -> bool {
        self.writer.is_some()
    }

    /// The fail-open warning printed, if any.
    pub fn warning(&self) -> Option<String> {
        self.warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `problem` as the failure policy says: an error, or a warning.
    fn fail(&self, problem: Problem) -> Result<(), AuditError> {
        let on_error = self.settings.on_error;
        if on_error == OnError::FailClosed {
            return Err(AuditError::Unwritable {
                path: self.settings.path.clone(),
                on_error,
                problem,
            });
        }
        if !self.warned.swap(true, Ordering::SeqCst) {
            let text = format!(
                "audit log {} unwritable ({on_error}, going on unaudited): {problem}",
                self.settings.path.display()
            );
            self.diagnostics.emit(Diagnostic::warning(
                crate::printable::escape_message(&text).into_owned(),
            ));
            *self.warning.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
        }
        Ok(())
    }
}

impl Writer {
    fn open(settings: &AuditSettings) -> Result<Writer, Problem> {
        use std::os::unix::fs::DirBuilderExt;
        let path = settings.path.clone();
        let name = match path.file_name() {
            Some(name) if !path.as_os_str().as_encoded_bytes().ends_with(b"/") => {
                PathBuf::from(name)
            }
            _ => return Err(Problem::NotAFileName(path)),
        };
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let created = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent);
        let trusted = true;
        let directory = open_checked(
            AT_FDCWD,
            &parent,
            &parent,
            Kind::Directory,
            OFlag::empty(),
            trusted,
        )?
        .ok_or_else(|| {
            TrustError::io(
                "create the directory",
                &parent,
                created
                    .err()
                    .unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
            )
        })?;
        let lock_path = with_suffix(&path, ".lock");
        let rotated_path = with_suffix(&path, ".1");
        let lock_name = with_suffix(&name, ".lock");
        let rotated_name = with_suffix(&name, ".1");
        let file = open_log(directory.as_fd(), &name, &path)?;
        let lock = open_checked(
            directory.as_fd(),
            &lock_name,
            &lock_path,
            Kind::File,
            OFlag::O_RDWR | OFlag::O_CREAT,
            trusted,
        )?
        .ok_or_else(|| io("create", &lock_path)(Errno::ENOENT))?;
        // Only checked: rotation renames over it.
        open_checked(
            directory.as_fd(),
            &rotated_name,
            &rotated_path,
            Kind::File,
            OFlag::O_RDONLY,
            trusted,
        )?;
        let space = free_space(file.as_fd(), &path)?;
        let needed = headroom(settings.max_bytes);
        if space.bytes < needed || space.no_inodes {
            return Err(Problem::NoSpace {
                path,
                available: if space.no_inodes { 0 } else { space.bytes },
                needed,
            });
        }
        Ok(Writer {
            directory,
            path,
            name,
            rotated_name,
            lock_path,
            file,
            lock,
        })
    }

    /// Appends `line` under the shared lock (or the exclusive one, when it
    /// rotates).
    fn append(&mut self, line: &[u8], max_bytes: u64) -> Result<(), Problem> {
        let started = Instant::now();
        if !flock_within(self.lock.as_fd(), libc::LOCK_SH, LOCK_WAIT, &self.lock_path)? {
            return Err(self.busy(started));
        }
        let result = self.append_locked(line, max_bytes, started);
        unlock(self.lock.as_fd());
        result
    }

    fn append_locked(
        &mut self,
        line: &[u8],
        max_bytes: u64,
        started: Instant,
    ) -> Result<(), Problem> {
        self.follow()?;
        if self.would_overflow(line, max_bytes)? {
            // Not atomic: another writer may rotate in between, which the
            // checks under the exclusive lock see.
            unlock(self.lock.as_fd());
            if flock_within(
                self.lock.as_fd(),
                libc::LOCK_EX,
                ROTATE_WAIT,
                &self.lock_path,
            )? {
                self.follow()?;
                if self.would_overflow(line, max_bytes)? {
                    self.rotate()?;
                }
            } else {
                if !flock_within(self.lock.as_fd(), libc::LOCK_SH, LOCK_WAIT, &self.lock_path)? {
                    return Err(self.busy(started));
                }
                self.follow()?;
            }
        }
        self.check_space(line.len())?;
        self.write_line(line)
    }

    fn busy(&self, started: Instant) -> Problem {
        Problem::Busy {
            path: self.lock_path.clone(),
            waited: Duration::from_millis(started.elapsed().as_millis() as u64),
        }
    }

    /// Whether `line` would take the current file past `max_bytes` (a file
    /// that is empty takes any line).
    fn would_overflow(&self, line: &[u8], max_bytes: u64) -> Result<bool, Problem> {
        let size = size(self.file.as_fd(), &self.path)?;
        Ok(size > 0 && size.saturating_add(line.len() as u64) > max_bytes)
    }

    /// Reopens the file at the path if it is no longer the one open (it
    /// was rotated or removed).
    fn follow(&mut self) -> Result<(), Problem> {
        if !is_entry(self.directory.as_fd(), &self.name, self.file.as_fd()) {
            self.file = open_log(self.directory.as_fd(), &self.name, &self.path)?;
        }
        Ok(())
    }

    /// `<path>` → `<path>.1`, and a new `<path>` (the exclusive lock is
    /// held).
    fn rotate(&mut self) -> Result<(), Problem> {
        nix::fcntl::renameat(
            &self.directory,
            &self.name,
            &self.directory,
            &self.rotated_name,
        )
        .map_err(io("rotate", &self.path))?;
        self.file = open_log(self.directory.as_fd(), &self.name, &self.path)?;
        Ok(())
    }

    /// Refuses to start a line the filesystem has no room for (it would
    /// end up partial).
    fn check_space(&self, length: usize) -> Result<(), Problem> {
        let space = free_space(self.file.as_fd(), &self.path)?;
        let needed = (length as u64).div_ceil(space.block).saturating_add(1) * space.block;
        if space.bytes < needed {
            return Err(Problem::NoSpace {
                path: self.path.clone(),
                available: space.bytes,
                needed,
            });
        }
        Ok(())
    }

    /// One `write(2)` of the whole line; the rest again only after a short
    /// write, which is then reported.
    fn write_line(&self, line: &[u8]) -> Result<(), Problem> {
        let mut written = 0;
        while written < line.len() {
            match nix::unistd::write(&self.file, &line[written..]) {
                Ok(0) => {
                    return Err(Problem::ShortWrite {
                        path: self.path.clone(),
                        written,
                        length: line.len(),
                        err: std::io::ErrorKind::WriteZero.into(),
                    });
                }
                Ok(count) => written += count,
                Err(Errno::EINTR) => {}
                Err(errno) if written == 0 => return Err(io("write to", &self.path)(errno)),
                Err(errno) => {
                    return Err(Problem::ShortWrite {
                        path: self.path.clone(),
                        written,
                        length: line.len(),
                        err: errno.into(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Opens (creating, 0600) the log file `name` in `directory` for appending.
fn open_log(
    directory: std::os::fd::BorrowedFd<'_>,
    name: &Path,
    path: &Path,
) -> Result<OwnedFd, Problem> {
    open_checked(
        directory,
        name,
        path,
        Kind::File,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT,
        true,
    )?
    .ok_or_else(|| io("create", path)(Errno::ENOENT))
}
