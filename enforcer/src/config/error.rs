//! Why a config cannot be used. Every error names the file; a parse error
//! also the line and the field path.

use std::path::PathBuf;

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config path given with `--config` or `$ENFORCER_CONFIG` does not
    /// exist.
    #[error("config {}: no such file (given with --config or $ENFORCER_CONFIG)", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// A file or directory could not be read.
    #[error("config {}: cannot read it: {err}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        err: std::io::Error,
    },
    /// A file is not valid TOML, or a value is wrong.
    #[error("{0}")]
    Parse(ParseError),
    /// A value is wrong where no line is known (a file name, a settings
    /// table that JSON cannot hold).
    #[error("config {}: {field}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The enforcer runs as root and the file could be changed by
    /// someone else.
    #[error(
        "config {shown}: {problem}; running as root, the enforcer only reads config files owned by root and writable by nobody else (as sudo does with sudoers): chown root {shown} and chmod go-w {shown}",
        shown = path.display()
    )]
    Unsafe {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A tenant is defined in two files.
    #[error(
        "config: tenant {tenant} is defined twice, in {} and in {}; define each tenant in one file",
        first.display(),
        second.display()
    )]
    DuplicateTenant {
        /// The tenant.
        tenant: String,
        /// The file read first.
        first: PathBuf,
        /// The file read later.
        second: PathBuf,
    },
}

/// A parse error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file.
    pub path: PathBuf,
    /// The line (from 1), when the parser knows it.
    pub line: Option<usize>,
    /// The field path (`tenants.acme.mode`), empty for a syntax error.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}
