//! The careful file operations the log needs: directories and files opened
//! without following symlinks and checked to be the enforcer's own,
//! bounded `flock` waits, free space.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::libc;
use nix::sys::stat::{FileStat, Mode, SFlag};

use super::Problem;

/// What [`open_checked`] opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Directory,
    File,
}

pub(super) fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> Problem + 'a {
    move |errno| Problem::Io {
        action,
        path: path.to_path_buf(),
        source: errno.into(),
    }
}

fn untrusted(path: &Path, why: impl Into<String>) -> Problem {
    Problem::Untrusted {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// Whether `stat` is a `kind` the enforcer can trust: owned by its
/// effective uid, not writable by group or others, and (a file) with no
/// other hard link.
pub(super) fn check_trusted(stat: &FileStat, path: &Path, kind: Kind) -> Result<(), Problem> {
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
/// on a FIFO), then checks it with [`check_trusted`] when `trust` is set;
/// `Ok(None)` if it does not exist. `path` is its full path, for messages.
pub(super) fn open_checked(
    at: BorrowedFd<'_>,
    name: &Path,
    path: &Path,
    kind: Kind,
    flags: OFlag,
    trust: bool,
) -> Result<Option<OwnedFd>, Problem> {
    let base = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let flags = match kind {
        Kind::Directory => base | OFlag::O_DIRECTORY | OFlag::O_RDONLY,
        Kind::File => base | flags,
    };
    let mode = Mode::S_IRUSR | Mode::S_IWUSR;
    let fd = match nix::fcntl::openat(at, name, flags, mode) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) if !flags.contains(OFlag::O_CREAT) => return Ok(None),
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

/// Whether `fd` is the entry `name` in `at` now (not renamed away or
/// replaced since it was opened).
pub(super) fn is_entry(at: BorrowedFd<'_>, name: &Path, fd: BorrowedFd<'_>) -> bool {
    let entry = nix::sys::stat::fstatat(at, name, AtFlags::AT_SYMLINK_NOFOLLOW);
    let open = nix::sys::stat::fstat(fd);
    matches!((entry, open), (Ok(a), Ok(b)) if a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}

/// `flock(operation | LOCK_NB)` retried until it succeeds or `timeout`
/// passes: `Ok(false)` when it did not.
pub(super) fn flock_within(
    fd: BorrowedFd<'_>,
    operation: libc::c_int,
    timeout: Duration,
    path: &Path,
) -> Result<bool, Problem> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(100);
    loop {
        // SAFETY: flock on a descriptor we hold.
        if unsafe { libc::flock(fd.as_raw_fd(), operation | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            Errno::EWOULDBLOCK => {}
            errno => return Err(io("lock", path)(errno)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Releases a `flock`.
pub(super) fn unlock(fd: BorrowedFd<'_>) {
    // SAFETY: flock on a descriptor we hold; unlocking cannot fail in a
    // way that matters (the descriptor's close releases it anyway).
    unsafe {
        libc::flock(fd.as_raw_fd(), libc::LOCK_UN);
    }
}

/// Free space on a filesystem, as the enforcer may use it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Space {
    /// Bytes free: `f_bfree` (root may use the reserved blocks) or
    /// `f_bavail`, times the fragment size.
    pub bytes: u64,
    /// The fragment size (at least 1).
    pub block: u64,
    /// Whether no inode is left (a rotation could not create the file).
    pub no_inodes: bool,
}

/// The free space of `fd`'s filesystem.
pub(super) fn free_space(fd: impl AsFd, path: &Path) -> Result<Space, Problem> {
    let stat = nix::sys::statvfs::fstatvfs(fd).map_err(io("statvfs", path))?;
    let blocks = if nix::unistd::geteuid().is_root() {
        stat.blocks_free()
    } else {
        stat.blocks_available()
    };
    #[allow(clippy::useless_conversion)] // the widths differ by target
    let (blocks, block) = (u64::from(blocks), u64::from(stat.fragment_size()).max(1));
    Ok(Space {
        bytes: blocks.saturating_mul(block),
        block,
        no_inodes: stat.files() > 0 && stat.files_available() == 0,
    })
}

/// `st_size` of `fd`.
pub(super) fn size(fd: BorrowedFd<'_>, path: &Path) -> Result<u64, Problem> {
    let stat = nix::sys::stat::fstat(fd).map_err(io("stat", path))?;
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
}
