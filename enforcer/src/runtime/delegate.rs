//! The real runtime every command is handed to (runc by default, crun
//! allowed): found by name in the configured search path (or given as an
//! absolute path), never this executable itself, and run with the
//! caller's arguments unchanged.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::RuntimeSettings;

/// The delegate runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegate {
    /// Its executable, absolute.
    pub path: PathBuf,
}

/// Why the delegate cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum DelegateError {
    /// No executable of that name in the search path.
    #[error(
        "delegate runtime {name:?} not found in {searched} (set [runtime] delegate or search_path)"
    )]
    NotFound {
        /// The name.
        name: String,
        /// The directories searched, `:`-separated.
        searched: String,
    },
    /// The delegate found is this executable (a symlink loop such as
    /// `runc -> enforcer`): running it would recurse.
    #[error(
        "delegate runtime {path} is the enforcer itself: point [runtime] delegate at the real runc or crun"
    )]
    IsSelf {
        /// What was found.
        path: PathBuf,
    },
    /// A relative delegate path.
    #[error("delegate runtime {name:?} must be a name or an absolute path")]
    Relative {
        /// The name.
        name: String,
    },
}

impl Delegate {
    /// Finds `settings.delegate`: an absolute path as it is, a bare name
    /// in `settings.search_path`; refuses this executable itself.
    pub fn find(settings: &RuntimeSettings) -> Result<Delegate, DelegateError> {
        let name = settings.delegate.as_str();
        let path = if name.starts_with('/') {
            PathBuf::from(name)
        } else if name.contains('/') || name.is_empty() {
            return Err(DelegateError::Relative {
                name: name.to_string(),
            });
        } else {
            settings
                .search_path
                .iter()
                .map(|dir| dir.join(name))
                .find(|candidate| is_executable(candidate))
                .ok_or_else(|| DelegateError::NotFound {
                    name: name.to_string(),
                    searched: settings
                        .search_path
                        .iter()
                        .map(|dir| dir.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":"),
                })?
        };
        if is_this_executable(&path) {
            return Err(DelegateError::IsSelf { path });
        }
        Ok(Delegate { path })
    }

    /// The delegate's short name (`runc`), for messages.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
    }

    /// Replaces this process with the delegate run with `argv` (the
    /// arguments after the program name, verbatim). Returns only on
    /// failure.
    pub fn exec(&self, argv: &[OsString]) -> std::io::Error {
        Command::new(&self.path).args(argv).exec()
    }

    /// Runs the delegate with `args` and collects its output (for `state`,
    /// `features`, `--version`).
    pub fn output<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> std::io::Result<Output> {
        Command::new(&self.path)
            .args(args)
            .stdin(Stdio::null())
            .output()
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn is_this_executable(path: &Path) -> bool {
    let Ok(this) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return false;
    };
    std::fs::canonicalize(path).is_ok_and(|found| found == this)
}
