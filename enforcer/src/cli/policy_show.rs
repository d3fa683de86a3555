//! `enforcer policy show`: writes a built-in policy's module, or lists the
//! built-ins.

use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use enforcer::embedded::{BUILTINS, Builtin, lookup, names};
use enforcer::printable::escape;

use super::EXIT_OK;

/// Write a built-in policy's Wasm module, to chain against, inspect or
/// read: `enforcer policy show builtin:default > default.wasm`. Without a
/// policy (or with --list), list the built-ins with their size and sha256.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    enforcer policy show --list\n  \
    enforcer policy show builtin:default > default.wasm\n  \
    enforcer policy show builtin:default -o default.wasm && enforcer inspect default.wasm")]
pub struct ShowArgs {
    /// The policy: `builtin:default` (see --list).
    #[arg(value_name = "POLICY", conflicts_with = "list")]
    pub policy: Option<String>,
    /// Write the module to FILE (atomically: a temporary file in its
    /// directory, then renamed) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// List the built-in policies: name, size, sha256, what it is.
    #[arg(long)]
    pub list: bool,
    /// With --list (or no policy): print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `enforcer policy show`.
pub fn run(args: ShowArgs) -> anyhow::Result<i32> {
    let Some(policy) = args.policy.as_deref() else {
        if args.output.is_some() {
            bail!("-o/--output needs a policy to write (one of: {})", names());
        }
        list(args.json)?;
        return Ok(EXIT_OK);
    };
    let builtin = match lookup(Path::new(policy)) {
        Some(found) => found?,
        None => bail!(
            "{:?} is not a built-in policy: `policy show` writes one of {} (a module file is already a file)",
            escape(policy),
            names()
        ),
    };
    match &args.output {
        Some(path) => write_atomically(path, builtin.bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout(builtin)?,
    }
    Ok(EXIT_OK)
}

/// One line per built-in (or a JSON list).
fn list(json: bool) -> anyhow::Result<()> {
    if json {
        let entries: Vec<serde_json::Value> = BUILTINS
            .iter()
            .map(|builtin| {
                serde_json::json!({
                    "name": builtin.label(),
                    "size": builtin.bytes.len(),
                    "sha256": enforcer::digest::sha256_hex(builtin.bytes),
                    "about": builtin.about,
                })
            })
            .collect();
        super::print_stdout(&serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for builtin in BUILTINS {
        super::print_stdout(&format!(
            "{}  {} bytes  sha256:{}  {}",
            builtin.label(),
            builtin.bytes.len(),
            enforcer::digest::sha256_hex(builtin.bytes),
            builtin.about
        ));
    }
    Ok(())
}

/// The module on stdout, unless stdout is a terminal (binary would garble
/// it).
fn write_stdout(builtin: &Builtin) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if stdout.is_terminal() {
        bail!(
            "refusing to write the binary module {} to a terminal: redirect stdout (`enforcer policy show {} > {}.wasm`) or give -o FILE",
            builtin.label(),
            builtin.label(),
            builtin.name
        );
    }
    match stdout
        .write_all(builtin.bytes)
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // A closed pipe (`| head -c 8`) ends quietly, as coreutils do.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(error).context("cannot write the module to standard output"),
    }
}

/// Writes `bytes` to `path` through a fresh temporary file beside it
/// (created exclusively, mode 0644, synced) renamed over `path`: a reader
/// sees the old file or the whole new one, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temporary = name.to_os_string();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = dir.join(temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&temporary)?;
    // Only a temporary file this call created is removed on failure.
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}
