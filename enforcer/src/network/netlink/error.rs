//! The client's one error type, and the interface-name check every request
//! naming an interface goes through first.

use nix::errno::Errno;

/// The kernel's limit on an interface name, in bytes (`IFNAMSIZ` less the
/// terminating NUL).
pub const MAX_NAME: usize = 15;

/// A step that failed: what was tried (naming the interfaces) and the
/// errno the kernel (or the client's own check) gave.
///
/// Printed as `cannot create veth pair enf0123456789i0/eth0: EEXIST: File
/// exists`.
#[derive(Debug, thiserror::Error)]
#[error("cannot {what}: {errno}")]
pub struct NetlinkError {
    /// The step, e.g. `create veth pair enf0123456789i0/eth0`.
    pub what: String,
    /// The kernel's errno (a negative `NLMSG_ERROR` code, or a socket
    /// call's), or `EINVAL` for a request refused before it was sent.
    pub errno: Errno,
}

impl NetlinkError {
    /// An error for step `what` with `errno`.
    pub fn new(what: impl Into<String>, errno: Errno) -> NetlinkError {
        NetlinkError {
            what: what.into(),
            errno,
        }
    }

    /// An error for step `what` from a failed system call.
    pub(crate) fn io(what: impl Into<String>, error: &std::io::Error) -> NetlinkError {
        let errno = error.raw_os_error().map_or(Errno::EIO, Errno::from_raw);
        NetlinkError::new(what, errno)
    }

    /// The interface (or address, route) does not exist: `ENODEV` or
    /// `ENOENT`.
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno, Errno::ENODEV | Errno::ENOENT)
    }

    /// It exists already: `EEXIST`.
    pub fn is_exists(&self) -> bool {
        self.errno == Errno::EEXIST
    }
}

/// Refuses an interface name the kernel would refuse (`dev_valid_name`),
/// before any request: empty, longer than [`MAX_NAME`] bytes, `.` or `..`,
/// or holding `/`, `:`, a NUL or whitespace (Unicode whitespace, and the
/// bytes the kernel's `isspace` takes, 0xA0 among them, which a UTF-8
/// character may hold). `role` says which name it is (`interface`,
/// `bridge`, `veth peer`, `new name`).
pub fn check_name(role: &str, name: &str) -> Result<(), NetlinkError> {
    match name_problem(name) {
        None => Ok(()),
        Some(problem) => Err(NetlinkError::new(
            format!(
                "use {role} name {name:?}: it {problem} (1 to {MAX_NAME} bytes, no '/', ':', NUL or whitespace)"
            ),
            Errno::EINVAL,
        )),
    }
}

fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".to_string());
    }
    if name.len() > MAX_NAME {
        return Some(format!(
            "is {} bytes long, more than the kernel's {MAX_NAME}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some("is . or ..".to_string());
    }
    let kernel_space = |c: char| {
        let mut bytes = [0; 4];
        c.encode_utf8(&mut bytes)
            .bytes()
            .any(|byte| matches!(byte, b'\t'..=b'\r' | b' ' | 0xA0))
    };
    name.chars()
        .find(|&c| matches!(c, '/' | ':' | '\0') || c.is_whitespace() || kernel_space(c))
        .map(|bad| format!("holds {bad:?}"))
}
