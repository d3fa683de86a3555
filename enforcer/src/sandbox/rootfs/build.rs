//! The child's side: builds the new root from a [`RootfsPlan`] with system
//! calls only (no allocation: it runs between `clone` and `execve`).
//!
//! 1. every mount private; a private tmpfs on the staging directory becomes
//!    the root for a moment (`pivot_root`), with the host's tree at
//!    `/oldroot` and the new root attached at `/newroot`: a recursive clone
//!    of `root.path`, read-only recursively when asked;
//! 2. each step's destination is opened inside `/newroot` with `openat2`
//!    (`RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`):
//!    a symlink anywhere in it fails the step (`ELOOP`); a missing one is
//!    created component by component when the step may create it; every
//!    mount is attached through that descriptor (`move_mount`), and host
//!    paths (bind sources) are opened inside `/oldroot` alone;
//! 3. `pivot_root` into the new root and detach the old one (the staging
//!    tmpfs with the host's tree under it).

use nix::libc;

use super::plan::{RootfsPlan, Step, Target};
use super::sys::{self, MountAttr};
use crate::sandbox::child::{ChildError, Stage};

/// What [`NewRoot`](Stage::NewRoot)'s detail says failed.
pub mod new_root {
    /// Mounting the staging tmpfs.
    pub const STAGING: u32 = 0;
    /// Making `oldroot` and `newroot` in it.
    pub const DIRECTORIES: u32 = 1;
    /// `pivot_root` into the staging tmpfs.
    pub const PIVOT: u32 = 2;
    /// Opening `root.path` and cloning it.
    pub const CLONE: u32 = 3;
    /// Making it read-only.
    pub const READONLY: u32 = 4;
    /// Attaching it at `/newroot`.
    pub const ATTACH: u32 = 5;
}

/// What [`PivotRoot`](Stage::PivotRoot)'s detail says failed.
pub mod pivot {
    /// Entering the new root.
    pub const ENTER: u32 = 0;
    /// `pivot_root(".", ".")`.
    pub const PIVOT: u32 = 1;
    /// Detaching the old root.
    pub const DETACH: u32 = 2;
}

fn error(stage: Stage, detail: u32, errno: i32) -> ChildError {
    ChildError {
        stage,
        detail,
        errno,
    }
}

const RESOLVE_INSIDE: u64 =
    sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_MAGICLINKS;

/// Builds the root and enters it.
///
/// # Safety
/// Call only in the child, in its own mount namespace.
pub unsafe fn build(plan: &RootfsPlan) -> Result<(), ChildError> {
    unsafe {
        if sys::make_mounts_private() != 0 {
            return Err(error(Stage::PrivateMounts, 0, sys::errno()));
        }
        let stage = |detail| error(Stage::NewRoot, detail, sys::errno());
        if libc::mount(
            c"tmpfs".as_ptr(),
            plan.staging.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=0700".as_ptr().cast(),
        ) != 0
        {
            return Err(stage(new_root::STAGING));
        }
        if libc::chdir(plan.staging.as_ptr()) != 0
            || libc::mkdir(c"oldroot".as_ptr(), 0o700) != 0
            || libc::mkdir(c"newroot".as_ptr(), 0o755) != 0
        {
            return Err(stage(new_root::DIRECTORIES));
        }
        if sys::pivot_root(c".".as_ptr(), c"oldroot".as_ptr()).is_err()
            || libc::chdir(c"/".as_ptr()) != 0
        {
            return Err(stage(new_root::PIVOT));
        }
        let host = sys::open_path(libc::AT_FDCWD, c"/oldroot".as_ptr(), libc::O_DIRECTORY, 0)
            .map_err(|errno| error(Stage::NewRoot, new_root::CLONE, errno))?;
        let source = sys::open_path(host, plan.root.as_ptr(), 0, sys::RESOLVE_IN_ROOT)
            .map_err(|errno| error(Stage::NewRoot, new_root::CLONE, errno))?;
        let tree = sys::clone_tree(source, true)
            .map_err(|errno| error(Stage::NewRoot, new_root::CLONE, errno))?;
        sys::close(source);
        if plan.readonly {
            let attr = MountAttr {
                attr_set: sys::MOUNT_ATTR_RDONLY,
                ..MountAttr::default()
            };
            sys::set_attributes(tree, true, &attr)
                .map_err(|errno| error(Stage::NewRoot, new_root::READONLY, errno))?;
        }
        sys::attach_at(tree, libc::AT_FDCWD, c"/newroot".as_ptr())
            .map_err(|errno| error(Stage::NewRoot, new_root::ATTACH, errno))?;
        sys::close(tree);
        let root = sys::open_path(libc::AT_FDCWD, c"/newroot".as_ptr(), libc::O_DIRECTORY, 0)
            .map_err(|errno| error(Stage::NewRoot, new_root::ATTACH, errno))?;

        for (index, step) in plan.steps.iter().enumerate() {
            run_step(root, host, step)
                .map_err(|(stage, errno)| error(stage, index as u32, errno))?;
        }

        let stage = |detail| error(Stage::PivotRoot, detail, sys::errno());
        if libc::fchdir(root) != 0 {
            return Err(stage(pivot::ENTER));
        }
        if sys::pivot_root(c".".as_ptr(), c".".as_ptr()).is_err() {
            return Err(stage(pivot::PIVOT));
        }
        if libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
            return Err(stage(pivot::DETACH));
        }
        sys::close(root);
        sys::close(host);
        Ok(())
    }
}

/// A step's failure: [`Stage::MountTarget`] while resolving its
/// destination, [`Stage::Mount`] after.
type StepError = (Stage, i32);

fn mounting(errno: i32) -> StepError {
    (Stage::Mount, errno)
}

/// Runs one step inside `root`, with host paths inside `host`.
unsafe fn run_step(root: libc::c_int, host: libc::c_int, step: &Step) -> Result<(), StepError> {
    unsafe {
        match step {
            Step::Filesystem {
                target,
                fstype,
                source,
                options,
                attributes,
            } => {
                let destination = resolve(root, target)?;
                let mount =
                    new_filesystem(fstype, source, options, *attributes).map_err(mounting)?;
                let attached = sys::attach(mount, destination).map_err(mounting);
                sys::close(mount);
                sys::close(destination);
                attached
            }
            Step::Bind {
                target,
                source,
                recursive,
                attributes,
            } => {
                let destination = resolve(root, target)?;
                let result = bind(host, source, *recursive, *attributes, destination);
                sys::close(destination);
                result.map_err(mounting)
            }
            Step::Attach { target, fd } => {
                let destination = resolve(root, target)?;
                let attached = sys::attach(*fd, destination).map_err(mounting);
                sys::close(*fd);
                sys::close(destination);
                attached
            }
            Step::Symlink { parent, name, link } => {
                let directory = resolve(root, parent)?;
                let made = libc::symlinkat(link.as_ptr(), directory, name.as_ptr());
                let errno = sys::errno();
                sys::close(directory);
                if made != 0 {
                    Err(mounting(errno))
                } else {
                    Ok(())
                }
            }
            Step::Mask { target } => {
                let Some(destination) = resolve_existing(root, target)? else {
                    return Ok(());
                };
                let mut status: libc::stat = std::mem::zeroed();
                let result = if libc::fstat(destination, &mut status) != 0 {
                    Err(sys::errno())
                } else if status.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    let attributes = sys::MOUNT_ATTR_RDONLY
                        | sys::MOUNT_ATTR_NOSUID
                        | sys::MOUNT_ATTR_NODEV
                        | sys::MOUNT_ATTR_NOEXEC;
                    new_filesystem(c"tmpfs", c"tmpfs", &[], attributes).and_then(|mount| {
                        let attached = sys::attach(mount, destination);
                        sys::close(mount);
                        attached
                    })
                } else {
                    bind(host, c"dev/null", false, 0, destination)
                };
                sys::close(destination);
                result.map_err(mounting)
            }
            Step::Readonly { target } => {
                let Some(destination) = resolve_existing(root, target)? else {
                    return Ok(());
                };
                let result = sys::clone_tree(destination, true).and_then(|tree| {
                    let attr = MountAttr {
                        attr_set: sys::MOUNT_ATTR_RDONLY,
                        ..MountAttr::default()
                    };
                    let done = sys::set_attributes(tree, true, &attr)
                        .and_then(|()| sys::attach(tree, destination));
                    sys::close(tree);
                    done
                });
                sys::close(destination);
                result.map_err(mounting)
            }
            Step::Seal { target } => {
                let destination = resolve(root, target)?;
                let attr = MountAttr {
                    attr_set: sys::MOUNT_ATTR_RDONLY,
                    ..MountAttr::default()
                };
                let sealed = sys::set_attributes(destination, false, &attr).map_err(mounting);
                sys::close(destination);
                sealed
            }
        }
    }
}

/// A new, detached filesystem mount.
unsafe fn new_filesystem(
    fstype: &std::ffi::CStr,
    source: &std::ffi::CStr,
    options: &[super::plan::FsOption],
    attributes: u64,
) -> Result<libc::c_int, i32> {
    unsafe {
        let context = sys::fs_open(fstype.as_ptr())?;
        let configured = (|| {
            sys::fs_config(
                context,
                sys::FSCONFIG_SET_STRING,
                c"source".as_ptr(),
                source.as_ptr(),
            )?;
            for option in options {
                match &option.value {
                    Some(value) => sys::fs_config(
                        context,
                        sys::FSCONFIG_SET_STRING,
                        option.key.as_ptr(),
                        value.as_ptr(),
                    )?,
                    None => sys::fs_config(
                        context,
                        sys::FSCONFIG_SET_FLAG,
                        option.key.as_ptr(),
                        std::ptr::null(),
                    )?,
                }
            }
            sys::fs_config(
                context,
                sys::FSCONFIG_CMD_CREATE,
                std::ptr::null(),
                std::ptr::null(),
            )?;
            sys::fs_mount(context, attributes)
        })();
        sys::close(context);
        configured
    }
}

/// Binds the host's `source` (relative to `host`) onto `destination`.
unsafe fn bind(
    host: libc::c_int,
    source: &std::ffi::CStr,
    recursive: bool,
    attributes: u64,
    destination: libc::c_int,
) -> Result<(), i32> {
    unsafe {
        let opened = sys::open_path(host, source.as_ptr(), 0, sys::RESOLVE_IN_ROOT)?;
        let tree = sys::clone_tree(opened, recursive);
        sys::close(opened);
        let tree = tree?;
        let mut result = Ok(());
        if attributes != 0 {
            let attr = MountAttr {
                attr_set: attributes,
                ..MountAttr::default()
            };
            result = sys::set_attributes(tree, recursive, &attr);
        }
        let result = result.and_then(|()| sys::attach(tree, destination));
        sys::close(tree);
        result
    }
}

/// Opens `target` inside `root`; `None` when it does not exist.
unsafe fn resolve_existing(
    root: libc::c_int,
    target: &Target,
) -> Result<Option<libc::c_int>, StepError> {
    unsafe {
        match sys::open_path(root, target.path.as_ptr(), 0, RESOLVE_INSIDE) {
            Ok(fd) => Ok(Some(fd)),
            Err(libc::ENOENT) => Ok(None),
            Err(errno) => Err((Stage::MountTarget, errno)),
        }
    }
}

/// Opens `target` inside `root`, creating what is missing when it may.
unsafe fn resolve(root: libc::c_int, target: &Target) -> Result<libc::c_int, StepError> {
    unsafe {
        let failed = |errno| (Stage::MountTarget, errno);
        match sys::open_path(root, target.path.as_ptr(), 0, RESOLVE_INSIDE) {
            Ok(fd) => return Ok(fd),
            Err(libc::ENOENT) if target.create => {}
            Err(errno) => return Err(failed(errno)),
        }
        let mut current =
            sys::open_path(root, c".".as_ptr(), libc::O_DIRECTORY, 0).map_err(failed)?;
        let last = target.components.len().saturating_sub(1);
        for (position, name) in target.components.iter().enumerate() {
            let mut next = sys::open_path(current, name.as_ptr(), 0, RESOLVE_INSIDE);
            if next == Err(libc::ENOENT) {
                let made = if position == last && target.file {
                    let file = libc::openat(
                        current,
                        name.as_ptr(),
                        libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_WRONLY
                            | libc::O_CLOEXEC
                            | libc::O_NOFOLLOW,
                        0o644,
                    );
                    if file >= 0 {
                        sys::close(file);
                    }
                    file >= 0
                } else {
                    libc::mkdirat(current, name.as_ptr(), 0o755) == 0
                };
                if !made {
                    let errno = sys::errno();
                    sys::close(current);
                    return Err(failed(errno));
                }
                next = sys::open_path(current, name.as_ptr(), 0, RESOLVE_INSIDE);
            }
            sys::close(current);
            current = next.map_err(failed)?;
        }
        Ok(current)
    }
}
