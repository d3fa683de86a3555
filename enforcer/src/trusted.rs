//! Opening the enforcer's own files without being tricked: relative to a
//! checked directory's descriptor, never through a symbolic link (nor
//! blocking on a FIFO), and only when the file or directory is owned by
//! the enforcer's effective uid and not writable by group or others. The
//! sandbox state (`sandbox::state`) and the audit log (`audit`) both open
//! their files this way.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

/// What [`open_checked`] opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory (opened read-only).
    Directory,
    /// A regular file.
    File,
}

/// A file or directory refused, or a system call that failed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// Not the enforcer's own, a symbolic link, or not what was expected.
    #[error("refusing {path}: {why}")]
    Untrusted {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A system call failed.
    #[error("cannot {action} {path}: {err}")]
    Io {
        /// What was tried.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The kernel's error.
        err: std::io::Error,
    },
}

impl TrustError {
    /// `action` on `path` failed with `err`.
    pub fn io(action: &'static str, path: &Path, err: std::io::Error) -> TrustError {
        TrustError::Io {
            action,
            path: path.to_path_buf(),
            err,
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> TrustError + 'a {
    move |errno| TrustError::Io {
        action,
        path: path.to_path_buf(),
        err: errno.into(),
    }
}

fn untrusted(path: &Path, why: impl Into<String>) -> TrustError {
    TrustError::Untrusted {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// Whether `stat` (of `path`) is a `kind` the enforcer can trust: owned by
/// its effective uid, not writable by group or others, and (a file) with
/// no other hard link.
pub fn check_trusted(stat: &FileStat, path: &Path, kind: Kind) -> Result<(), TrustError> {
    let format = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    match kind {
        Kind::Directory if format != SFlag::S_IFDIR => {
            return Err(untrusted(path, "it is not a directory"));
        }
        Kind::File if format != SFlag::S_IFREG => {
            return Err(untrusted(path, "it is not a regular file"));
        }
        _ => {}
    }
    let euid = nix::unistd::geteuid().as_raw();
    if stat.st_uid != euid {
        return Err(untrusted(
            path,
            format!(
                "it is owned by uid {}, not by the enforcer's uid {euid}",
                stat.st_uid
            ),
        ));
    }
    if stat.st_mode & 0o022 != 0 {
        return Err(untrusted(
            path,
            format!(
                "its mode {:04o} lets group or others write to it",
                stat.st_mode & 0o7777
            ),
        ));
    }
    if kind == Kind::File && stat.st_nlink > 1 {
        return Err(untrusted(
            path,
            format!("it has {} hard links", stat.st_nlink),
        ));
    }
    Ok(())
}

/// Opens `name` in `at` without following a symlink (and without blocking
/// on a FIFO), then checks it with [`check_trusted`] when `trust` is set
/// (else only that a file is a regular file); `Ok(None)` if it does not
/// exist. With `O_CREAT` in `flags` a file is created with mode 0600.
/// `path` is its full path, for messages.
pub fn open_checked(
    at: BorrowedFd<'_>,
    name: &Path,
    path: &Path,
    kind: Kind,
    flags: OFlag,
    trust: bool,
) -> Result<Option<OwnedFd>, TrustError> {
    let base = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let flags = match kind {
        Kind::Directory => base | OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        Kind::File => base | flags,
    };
    let mode = Mode::S_IRUSR | Mode::S_IWUSR;
    let fd = match nix::fcntl::openat(at, name, flags, mode) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) if !flags.contains(OFlag::O_CREAT) => return Ok(None),
        // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR.
        Err(Errno::ELOOP | Errno::ENOTDIR | Errno::ENXIO)
            if nix::sys::stat::fstatat(at, name, AtFlags::AT_SYMLINK_NOFOLLOW)
                .is_ok_and(|stat| stat.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFLNK.bits()) =>
        {
            return Err(untrusted(path, "it is a symbolic link"));
        }
        Err(Errno::ENOTDIR) if kind == Kind::Directory => {
            return Err(untrusted(path, "it is not a directory"));
        }
        Err(Errno::ENXIO | Errno::EISDIR) if kind == Kind::File => {
            return Err(untrusted(path, "it is not a regular file"));
        }
        Err(errno) => return Err(io("open", path)(errno)),
    };
    let stat = nix::sys::stat::fstat(&fd).map_err(io("stat", path))?;
    if trust {
        check_trusted(&stat, path, kind)?;
    } else if kind == Kind::File && stat.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFREG.bits() {
        return Err(untrusted(path, "it is not a regular file"));
    }
    Ok(Some(fd))
}

/// Whether `fd` is the entry `name` in `at` now (not renamed away, removed
/// or replaced since it was opened).
pub fn is_entry(at: BorrowedFd<'_>, name: &Path, fd: BorrowedFd<'_>) -> bool {
    let entry = nix::sys::stat::fstatat(at, name, AtFlags::AT_SYMLINK_NOFOLLOW);
    let open = nix::sys::stat::fstat(fd);
    matches!((entry, open), (Ok(a), Ok(b)) if a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}
