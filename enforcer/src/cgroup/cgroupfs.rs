//! Whether a directory or an open file is on a cgroup filesystem (`statfs`
//! magic `CGROUP_SUPER_MAGIC` or `CGROUP2_SUPER_MAGIC`), checked before the
//! enforcer trusts what it reads there or writes anything: a plain
//! directory where a hierarchy should be (a mount covering it, a planted
//! tree) takes any `mkdir` and any "pid" without the kernel seeing either.

use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC};

/// Why a path is not a cgroupfs directory (the text completes "it …").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotCgroupfs {
    /// A symbolic link (never followed).
    #[error("it is a symbolic link")]
    Symlink,
    /// Not a directory.
    #[error("it is not a directory")]
    NotDirectory,
    /// It could not be opened.
    #[error("cannot open it: {0}")]
    Open(Errno),
    /// `fstatfs` failed.
    #[error("cannot statfs it: {0}")]
    Statfs(Errno),
    /// Another filesystem.
    #[error("it is not on a cgroup filesystem (statfs type {0:#x})")]
    Foreign(i64),
}

/// Checks that `fd` is on a cgroup filesystem.
pub fn check_fd(fd: impl AsFd) -> Result<(), NotCgroupfs> {
    let statfs = nix::sys::statfs::fstatfs(fd).map_err(NotCgroupfs::Statfs)?;
    let kind = statfs.filesystem_type();
    if kind != CGROUP_SUPER_MAGIC && kind != CGROUP2_SUPER_MAGIC {
        #[allow(clippy::unnecessary_cast)] // the type's width differs by target
        return Err(NotCgroupfs::Foreign(kind.0 as i64));
    }
    Ok(())
}

/// Checks that `path` is a directory (not a symlink to one) on a cgroup
/// filesystem; `Ok(false)` when it does not exist.
pub fn check_directory(path: &Path) -> Result<bool, NotCgroupfs> {
    let fd = match nix::fcntl::open(
        path,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(false),
        // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR or ELOOP.
        Err(Errno::ELOOP | Errno::ENOTDIR) if is_symlink(path) => {
            return Err(NotCgroupfs::Symlink);
        }
        Err(Errno::ENOTDIR) => return Err(NotCgroupfs::NotDirectory),
        Err(errno) => return Err(NotCgroupfs::Open(errno)),
    };
    check_fd(&fd)?;
    Ok(true)
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cgroupfs_directories_pass() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = check_directory(dir.path()).expect_err("a temporary directory");
        assert!(matches!(error, NotCgroupfs::Foreign(_)), "{error}");
        assert!(error.to_string().contains("not on a cgroup filesystem"));
        assert_eq!(check_directory(&dir.path().join("missing")), Ok(false));
        let file = dir.path().join("file");
        std::fs::write(&file, "").expect("write");
        assert_eq!(check_directory(&file), Err(NotCgroupfs::NotDirectory));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
        assert_eq!(check_directory(&link), Err(NotCgroupfs::Symlink));
        // Every reachable hierarchy of this host is cgroupfs.
        let layout = super::super::discover();
        for hierarchy in layout.v1.iter().chain(layout.v2.iter()) {
            assert_eq!(
                check_directory(&hierarchy.mount_point),
                Ok(true),
                "{hierarchy:?}"
            );
        }
    }
}
