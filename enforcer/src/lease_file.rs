//! The one way a lease file is made, for every kind of lease (host ids,
//! addresses): a temporary file in the lease directory, written, then
//! renamed to its name with `RENAME_NOREPLACE`, so a lease is never seen
//! half-written and never replaces another.

use std::fs::File;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::fcntl::{OFlag, RenameFlags};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

use crate::sandbox::state::StateError;

/// The prefix of a lease being written (readers skip such names).
pub const TEMPORARY_PREFIX: &str = ".lease-";

/// Creates `name` in the directory `dir` (at `dir_path`, for the errors)
/// holding `contents`, mode 0600; fails (`EEXIST`) if `name` exists.
/// Nothing is left behind on a failure.
pub fn create_new(
    dir: BorrowedFd<'_>,
    dir_path: &Path,
    name: &str,
    contents: &[u8],
) -> Result<(), StateError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |time| time.subsec_nanos());
    let temporary = format!("{TEMPORARY_PREFIX}{}-{nanos}", std::process::id());
    let failed = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |err: std::io::Error| StateError::Io { action, path, err }
    };
    let temporary_path = dir_path.join(&temporary);
    let fd = nix::fcntl::openat(
        dir,
        temporary.as_str(),
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .map_err(|errno| failed("create", &temporary_path)(errno.into()))?;
    let written = File::from(fd)
        .write_all(contents)
        .map_err(failed("write", &temporary_path))
        .and_then(|()| {
            nix::fcntl::renameat2(
                dir,
                temporary.as_str(),
                dir,
                name,
                RenameFlags::RENAME_NOREPLACE,
            )
            .map_err(|errno| failed("create", &dir_path.join(name))(errno.into()))
        });
    if written.is_err() {
        let _ = nix::unistd::unlinkat(dir, temporary.as_str(), UnlinkatFlags::NoRemoveDir);
    }
    written
}
