//! The careful file operations the log needs: directories and files opened
//! as [`crate::trusted`] opens them, bounded `flock` waits, free space.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;

use super::Problem;

pub(super) use crate::trusted::{Kind, TrustError, is_entry, open_checked};

pub(super) fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> Problem + 'a {
    move |errno| TrustError::io(action, path, errno.into()).into()
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
