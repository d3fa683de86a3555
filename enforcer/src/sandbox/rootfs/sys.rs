//! The mount API's system calls as raw, allocation-free wrappers (the
//! child calls them between `clone` and `execve`), with the kernel's
//! constants and structures (`linux/mount.h`, `linux/openat2.h`).

use nix::libc;

/// `OPEN_TREE_CLONE`: a detached copy of the mount (tree) at the path.
pub const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `OPEN_TREE_CLOEXEC`.
pub const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
/// `MOVE_MOUNT_F_EMPTY_PATH`: the mount to move is the descriptor itself.
pub const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
/// `MOVE_MOUNT_T_EMPTY_PATH`: the target is the descriptor itself.
pub const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
/// `FSOPEN_CLOEXEC`.
pub const FSOPEN_CLOEXEC: libc::c_uint = 1;
/// `FSMOUNT_CLOEXEC`.
pub const FSMOUNT_CLOEXEC: libc::c_uint = 1;
/// `FSCONFIG_SET_FLAG`.
pub const FSCONFIG_SET_FLAG: libc::c_uint = 0;
/// `FSCONFIG_SET_STRING`.
pub const FSCONFIG_SET_STRING: libc::c_uint = 1;
/// `FSCONFIG_CMD_CREATE`.
pub const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

/// `MOUNT_ATTR_RDONLY`.
pub const MOUNT_ATTR_RDONLY: u64 = 0x01;
/// `MOUNT_ATTR_NOSUID`.
pub const MOUNT_ATTR_NOSUID: u64 = 0x02;
/// `MOUNT_ATTR_NODEV`.
pub const MOUNT_ATTR_NODEV: u64 = 0x04;
/// `MOUNT_ATTR_NOEXEC`.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x08;
/// `MOUNT_ATTR__ATIME`: the mask of the access-time attributes.
pub const MOUNT_ATTR_ATIME: u64 = 0x70;
/// `MOUNT_ATTR_RELATIME`.
pub const MOUNT_ATTR_RELATIME: u64 = 0x00;
/// `MOUNT_ATTR_NOATIME`.
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
/// `MOUNT_ATTR_STRICTATIME`.
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
/// `MOUNT_ATTR_NODIRATIME`.
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
/// `MOUNT_ATTR_IDMAP`.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// `MOUNT_ATTR_NOSYMFOLLOW`.
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// `RESOLVE_NO_MAGICLINKS`.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// `RESOLVE_NO_SYMLINKS`.
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
/// `RESOLVE_IN_ROOT`.
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MountAttr {
    /// Attributes to set.
    pub attr_set: u64,
    /// Attributes to clear.
    pub attr_clr: u64,
    /// Propagation (`MS_PRIVATE`, ...); 0 leaves it.
    pub propagation: u64,
    /// The user namespace of an idmapped mount.
    pub userns_fd: u64,
}

/// `struct open_how` of `openat2(2)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The errno of the last failed call.
pub fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn fd_result(value: libc::c_long) -> Result<libc::c_int, i32> {
    if value < 0 {
        Err(errno())
    } else {
        Ok(value as libc::c_int)
    }
}

fn unit_result(value: libc::c_long) -> Result<(), i32> {
    if value < 0 { Err(errno()) } else { Ok(()) }
}

/// `openat2(dirfd, path, O_PATH | O_CLOEXEC | extra, resolve)`.
///
/// # Safety
/// `path` must be NUL-terminated.
pub unsafe fn open_path(
    dirfd: libc::c_int,
    path: *const libc::c_char,
    extra: libc::c_int,
    resolve: u64,
) -> Result<libc::c_int, i32> {
    unsafe { open_resolved(dirfd, path, libc::O_PATH | libc::O_CLOEXEC | extra, resolve) }
}

/// `openat2(dirfd, path, flags, resolve)`: `path` opened with `flags`,
/// resolved below `dirfd` as `resolve` (`RESOLVE_*`) says.
///
/// # Safety
/// `path` must be NUL-terminated.
pub unsafe fn open_resolved(
    dirfd: libc::c_int,
    path: *const libc::c_char,
    flags: libc::c_int,
    resolve: u64,
) -> Result<libc::c_int, i32> {
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve,
    };
    fd_result(unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path,
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    })
}

/// `open_tree(dirfd, path, flags)`.
///
/// # Safety
/// `path` must be NUL-terminated.
pub unsafe fn open_tree(
    dirfd: libc::c_int,
    path: *const libc::c_char,
    flags: libc::c_uint,
) -> Result<libc::c_int, i32> {
    fd_result(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path, flags) })
}

/// `open_tree` of the object `fd` refers to (`AT_EMPTY_PATH`), a
/// detached clone, recursive or not.
pub fn clone_tree(fd: libc::c_int, recursive: bool) -> Result<libc::c_int, i32> {
    let mut flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a static empty path.
    unsafe { open_tree(fd, c"".as_ptr(), flags) }
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`.
pub fn set_attributes(fd: libc::c_int, recursive: bool, attr: &MountAttr) -> Result<(), i32> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a static empty path and a live structure of the size given.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
}

/// Attaches the detached mount `mount` onto the object `target` refers to.
pub fn attach(mount: libc::c_int, target: libc::c_int) -> Result<(), i32> {
    // SAFETY: static empty paths.
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount,
            c"".as_ptr(),
            target,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
}

/// Attaches the detached mount `mount` at `path` (relative to `dirfd`).
///
/// # Safety
/// `path` must be NUL-terminated.
pub unsafe fn attach_at(
    mount: libc::c_int,
    dirfd: libc::c_int,
    path: *const libc::c_char,
) -> Result<(), i32> {
    unit_result(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount,
            c"".as_ptr(),
            dirfd,
            path,
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`.
///
/// # Safety
/// `fstype` must be NUL-terminated.
pub unsafe fn fs_open(fstype: *const libc::c_char) -> Result<libc::c_int, i32> {
    fd_result(unsafe { libc::syscall(libc::SYS_fsopen, fstype, FSOPEN_CLOEXEC) })
}

/// `fsconfig(fd, command, key, value, 0)`.
///
/// # Safety
/// `key` and `value` must be NUL-terminated or null.
pub unsafe fn fs_config(
    fd: libc::c_int,
    command: libc::c_uint,
    key: *const libc::c_char,
    value: *const libc::c_char,
) -> Result<(), i32> {
    unit_result(unsafe { libc::syscall(libc::SYS_fsconfig, fd, command, key, value, 0) })
}

/// `fsmount(fd, FSMOUNT_CLOEXEC, attributes)`.
pub fn fs_mount(fd: libc::c_int, attributes: u64) -> Result<libc::c_int, i32> {
    // SAFETY: plain integers.
    fd_result(unsafe { libc::syscall(libc::SYS_fsmount, fd, FSMOUNT_CLOEXEC, attributes) })
}

/// `pivot_root(new_root, put_old)`.
///
/// # Safety
/// Both must be NUL-terminated.
pub unsafe fn pivot_root(
    new_root: *const libc::c_char,
    put_old: *const libc::c_char,
) -> Result<(), i32> {
    unit_result(unsafe { libc::syscall(libc::SYS_pivot_root, new_root, put_old) })
}

/// `close(fd)` of a descriptor this side opened (errors ignored).
pub fn close(fd: libc::c_int) {
    // SAFETY: closes a descriptor we own.
    unsafe {
        libc::close(fd);
    }
}

/// Makes every mount of this mount namespace private, recursively
/// (`mount(NULL, "/", NULL, MS_REC|MS_PRIVATE)`): nothing mounted from now
/// on propagates to the host. Returns `mount`'s result.
///
/// # Safety
/// A system call alone: safe between clone and exec.
pub unsafe fn make_mounts_private() -> libc::c_int {
    unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    }
}
