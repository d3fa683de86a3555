//! `request.executable`: the request's `command[0]` resolved to the
//! absolute path the sandbox will `execve`, before any policy sees it.
//!
//! - A program with a `/` is made absolute against the working directory
//!   and normalised lexically (`.` dropped, `..` removes the component
//!   before it and never climbs above `/`); symlinks are not resolved and
//!   the file need not exist: `execve` is given exactly this path.
//! - A bare name is looked up in the `PATH` the workload gets when its
//!   decision names none (the minimal environment's), or, for an OCI
//!   bundle, in its `process.env` `PATH`; the first entry holding an
//!   executable regular file (symlinks followed) wins, and the path is
//!   that entry joined with the name, normalised.
//! - With a root of its own (a bundle's `root.path`, given in the
//!   request's `requestedSpec`), paths are inside that root: the lookup
//!   opens each candidate below it with `RESOLVE_IN_ROOT` (a symlink in the
//!   root cannot lead out of it), relative programs are taken against its
//!   `process.cwd`, and the result is the path inside the root, where the
//!   workload's `execve` runs.
//! - Nothing found, an empty program, or a relative program without a
//!   working directory: no executable.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::libc;
use policy_sdk::Request;

use crate::decision::normal::DEFAULT_PATH;

/// Where `command[0]` is looked up and what it is relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup<'a> {
    /// The root the workload's `execve` resolves paths in (`None`: this
    /// machine's `/`).
    pub root: Option<&'a str>,
    /// The search path for a bare name.
    pub path: &'a str,
    /// What a relative program is relative to (absolute; `None`: unknown).
    pub cwd: Option<&'a str>,
}

impl<'a> Lookup<'a> {
    /// How `request`'s program is looked up: inside its `requestedSpec`'s
    /// root with that spec's `process.env` `PATH` and `process.cwd` (an OCI
    /// bundle), else on this machine with the minimal environment's `PATH`
    /// and the request's `cwd`.
    pub fn of(request: &'a Request) -> Lookup<'a> {
        let spec = request.requested_spec.as_deref();
        let process = spec.and_then(|spec| spec.process.as_ref());
        let spec_path = process.and_then(|process| {
            process
                .env
                .iter()
                .rev()
                .find_map(|entry| entry.strip_prefix("PATH="))
        });
        match spec.and_then(|spec| spec.root.as_ref()) {
            Some(root) => Lookup {
                root: Some(root.path.as_str()),
                path: spec_path.unwrap_or(DEFAULT_PATH),
                cwd: Some(
                    process
                        .and_then(|process| process.cwd.as_deref())
                        .unwrap_or("/"),
                ),
            },
            None => Lookup {
                root: None,
                path: DEFAULT_PATH,
                cwd: request.cwd.as_deref(),
            },
        }
    }
}

/// `program` resolved as [`Lookup`] says, or `None` (see the module docs).
pub fn resolve(program: &str, lookup: &Lookup<'_>) -> Option<String> {
    if program.is_empty() || program.contains('\0') {
        return None;
    }
    if program.contains('/') {
        return absolute(program, lookup.cwd);
    }
    let root = match lookup.root {
        Some(root) => Some(open_root(root)?),
        None => None,
    };
    lookup
        .path
        .split(':')
        .filter(|directory| !directory.is_empty())
        .filter_map(|directory| absolute(&format!("{directory}/{program}"), lookup.cwd))
        .find(|candidate| match &root {
            Some(root) => executable_in(root, candidate),
            None => executable_here(candidate),
        })
}

/// `path` made absolute against `cwd` (when relative) and normalised
/// lexically; `None` for a relative path without an absolute `cwd`.
pub fn absolute(path: &str, cwd: Option<&str>) -> Option<String> {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let cwd = cwd.filter(|cwd| cwd.starts_with('/'))?;
        format!("{cwd}/{path}")
    };
    Some(normalise(&joined))
}

/// An absolute path with `.`, empty components and `..` removed, without
/// looking at the filesystem: `..` drops the component before it, and at
/// `/` it stays at `/` (as the kernel does).
pub fn normalise(path: &str) -> String {
    let mut components: Vec<&str> = Vec::new();
    for component in path.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                components.pop();
            }
            name => components.push(name),
        }
    }
    format!("/{}", components.join("/"))
}

/// Whether `path` on this machine is a regular file with an execute bit
/// (symlinks followed, as `execve` follows them).
fn executable_here(path: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| is_executable(metadata.is_file(), metadata.mode()))
}

fn is_executable(regular: bool, mode: u32) -> bool {
    regular && mode & 0o111 != 0
}

/// The root directory, opened `O_PATH`.
fn open_root(root: &str) -> Option<OwnedFd> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(Path::new(root))
        .ok()
        .map(OwnedFd::from)
}

/// Whether `path`, resolved inside `root` (`RESOLVE_IN_ROOT`: `..` and
/// absolute symlinks stay inside), is an executable regular file.
fn executable_in(root: &OwnedFd, path: &str) -> bool {
    let Ok(name) = CString::new(Path::new(path).as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `name` is NUL-terminated; the descriptor returned is owned
    // below and closed on drop.
    let opened = unsafe {
        crate::sandbox::rootfs::sys::open_path(
            root.as_raw_fd(),
            name.as_ptr(),
            0,
            crate::sandbox::rootfs::sys::RESOLVE_IN_ROOT,
        )
    };
    let Ok(fd) = opened else {
        return false;
    };
    // SAFETY: openat2 returned a new descriptor this function now owns.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.metadata()
        .is_ok_and(|metadata| is_executable(metadata.is_file(), metadata.mode()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn here(cwd: Option<&str>) -> Lookup<'_> {
        Lookup {
            root: None,
            path: DEFAULT_PATH,
            cwd,
        }
    }

    #[test]
    fn paths_are_normalised_lexically() {
        assert_eq!(normalise("/usr/bin/../../tmp/x/python3"), "/tmp/x/python3");
        assert_eq!(normalise("/../../etc//./passwd"), "/etc/passwd");
        assert_eq!(normalise("/"), "/");
        let cwd = Some("/home/me/src");
        assert_eq!(
            resolve("./x", &here(cwd)).as_deref(),
            Some("/home/me/src/x")
        );
        assert_eq!(
            resolve("../../../../../bin/sh", &here(cwd)).as_deref(),
            Some("/bin/sh")
        );
        // Not resolved through symlinks, and need not exist.
        assert_eq!(
            resolve("/usr/bin/../../tmp/x/python3", &here(None)).as_deref(),
            Some("/tmp/x/python3")
        );
        assert_eq!(resolve("bin/x", &here(None)), None);
        assert_eq!(resolve("bin/x", &here(Some("relative"))), None);
        assert_eq!(resolve("", &here(cwd)), None);
    }

    #[test]
    fn bare_names_take_the_first_executable_regular_file_on_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_str().expect("utf-8");
        for sub in ["a", "b", "c"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        // a/tool is not executable, b/tool is a directory, c/tool is it.
        std::fs::write(dir.path().join("a/tool"), "").expect("writes");
        std::fs::create_dir(dir.path().join("b/tool")).expect("mkdir");
        std::fs::write(dir.path().join("c/tool"), "#!/bin/sh\n").expect("writes");
        std::fs::set_permissions(
            dir.path().join("c/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        let path = format!("{base}/a::{base}/b:{base}/./c:{base}/c");
        let lookup = Lookup {
            root: None,
            path: &path,
            cwd: None,
        };
        assert_eq!(
            resolve("tool", &lookup),
            Some(format!("{base}/c/tool")),
            "the first executable regular file, normalised"
        );
        assert_eq!(resolve("missing", &lookup), None);
        assert!(
            resolve("sh", &here(None)).is_some_and(|sh| sh.starts_with('/') && sh.ends_with("/sh"))
        );
    }

    #[test]
    fn a_bundles_program_is_found_inside_its_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
        std::fs::create_dir_all(root.join("opt")).expect("mkdir");
        std::fs::write(root.join("usr/bin/tool"), "").expect("writes");
        std::fs::set_permissions(
            root.join("usr/bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        // An absolute symlink resolves inside the root, not on the host:
        // /opt/sh -> /bin/sh exists on the host but not in the root.
        std::fs::create_dir_all(root.join("opt/bin")).expect("mkdir");
        std::os::unix::fs::symlink("/bin/sh", root.join("opt/bin/sh")).expect("symlink");
        std::os::unix::fs::symlink("/usr/bin/tool", root.join("opt/bin/link")).expect("symlink");
        let root_text = root.to_str().expect("utf-8");
        let lookup = Lookup {
            root: Some(root_text),
            path: "/opt/bin:/usr/bin",
            cwd: Some("/work"),
        };
        assert_eq!(resolve("tool", &lookup).as_deref(), Some("/usr/bin/tool"));
        assert_eq!(resolve("link", &lookup).as_deref(), Some("/opt/bin/link"));
        assert_eq!(
            resolve("sh", &lookup),
            None,
            "the host's /bin/sh is not the root's"
        );
        assert_eq!(resolve("./run", &lookup).as_deref(), Some("/work/run"));
        let missing = Lookup {
            root: Some("/nonexistent/enforcer-test-root"),
            ..lookup
        };
        assert_eq!(resolve("tool", &missing), None);
    }
}
