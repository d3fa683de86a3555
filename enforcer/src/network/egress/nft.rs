//! Running `nft`: finding it, listing the enforcer's tables, applying one
//! batch per change, and the operations of the module built on those.
//!
//! `nft` runs in the network namespace of the thread that starts it.

use std::ffi::{CString, OsStr};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use policy_model::decision::Cidr;
use serde_json::Value;

use super::listing::Listing;
use super::rules::{self, Marked};
use super::{EgressError, InterfaceEgress, TABLE};

/// Where `nft` is looked for when it is not on `PATH`.
pub const FALLBACKS: [&str; 2] = ["/usr/sbin/nft", "/sbin/nft"];

/// How many times a batch built from a listing is tried again when the
/// kernel refused it (the listing went stale meanwhile: module docs).
const ATTEMPTS: usize = 5;

/// A located `nft` binary; every operation of the module goes through one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nft {
    program: PathBuf,
}

impl Nft {
    /// `nft` from `PATH`, else from [`FALLBACKS`].
    pub fn find() -> Result<Nft, EgressError> {
        Nft::find_in(std::env::var_os("PATH").as_deref(), &FALLBACKS)
    }

    /// `nft` from the directories of `path` (a `PATH` value), else the
    /// first executable of `fallbacks`.
    pub fn find_in(path: Option<&OsStr>, fallbacks: &[&str]) -> Result<Nft, EgressError> {
        let on_path = path
            .into_iter()
            .flat_map(std::env::split_paths)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join("nft"));
        on_path
            .chain(fallbacks.iter().map(PathBuf::from))
            .find(|candidate| executable(candidate))
            .map(Nft::at)
            .ok_or(EgressError::NotInstalled)
    }

    /// The `nft` at `program`.
    pub fn at(program: impl Into<PathBuf>) -> Nft {
        Nft {
            program: program.into(),
        }
    }

    /// The program run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs `nft` with `args` and `input` on its stdin; its stdout, or
    /// `Ok(Err(stderr))` when it failed.
    fn run(
        &self,
        what: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<Result<String, EgressError>, EgressError> {
        let spawn_error = |err| EgressError::Spawn {
            program: self.program.clone(),
            what: what.to_string(),
            err,
        };
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let written = match (input, child.stdin.take()) {
            (Some(input), Some(mut stdin)) => stdin.write_all(input),
            _ => Ok(()),
        };
        let output = child.wait_with_output().map_err(spawn_error)?;
        if !output.status.success() {
            return Ok(Err(EgressError::Nft {
                what: what.to_string(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            }));
        }
        written.map_err(spawn_error)?;
        String::from_utf8(output.stdout)
            .map(Ok)
            .map_err(|_| EgressError::Output {
                what: what.to_string(),
                message: "not UTF-8".to_string(),
            })
    }

    /// Applies `batch` as one transaction.
    pub(super) fn apply(&self, what: &str, batch: &rules::Batch) -> Result<(), EgressError> {
        let document = batch.document().to_string();
        self.run(what, &["-j", "-f", "-"], Some(document.as_bytes()))??;
        Ok(())
    }

    /// `nft [-j] list table <family> enforcer`; `None` when it is absent.
    fn list_table(&self, family: &str, json: bool) -> Result<Option<String>, EgressError> {
        let what = format!("listing table {family} {TABLE}");
        let mut args = vec!["list", "table", family, TABLE];
        if json {
            args.insert(0, "-j");
        }
        match self.run(&what, &args, None)? {
            Ok(text) => Ok(Some(text)),
            Err(EgressError::Nft { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// What is in both tables now.
    pub(super) fn listing(&self) -> Result<Listing, EgressError> {
        let parse = |family: &str| -> Result<Option<Value>, EgressError> {
            let Some(text) = self.list_table(family, true)? else {
                return Ok(None);
            };
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|err| EgressError::Output {
                    what: format!("listing table {family} {TABLE}"),
                    message: err.to_string(),
                })
        };
        let inet = parse("inet")?;
        let bridge = parse("bridge")?;
        Listing::parse(inet.as_ref(), bridge.as_ref()).map_err(|message| EgressError::Output {
            what: format!("listing the {TABLE} tables"),
            message,
        })
    }

    /// Builds a batch from a fresh listing and applies it, listing again
    /// and retrying when the kernel refused a batch that deletes by handle.
    /// `build` returns `None` when there is nothing to do.
    fn transact<T>(
        &self,
        what: &str,
        mut build: impl FnMut(&Listing) -> Result<Option<(rules::Batch, T)>, EgressError>,
        nothing: T,
    ) -> Result<T, EgressError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let listing = self.listing()?;
            let Some((batch, done)) = build(&listing)? else {
                return Ok(nothing);
            };
            match self.apply(what, &batch) {
                Err(EgressError::Nft { .. }) if attempt < ATTEMPTS => continue,
                Err(err) => return Err(err),
                Ok(()) => return Ok(done),
            }
        }
    }

    /// See [`super::install`].
    pub fn install(&self, chain: &str, interfaces: &[InterfaceEgress]) -> Result<(), EgressError> {
        rules::check_chain(chain)?;
        let mut marked = Vec::with_capacity(interfaces.len());
        for interface in interfaces {
            rules::check_interface("host interface", &interface.host_interface)?;
            marked.push(Marked {
                name: &interface.host_interface,
                mark: interface_index(&interface.host_interface)?,
                allow: &interface.allow,
            });
        }
        // Checks every rule before anything is listed or applied.
        rules::install_batch(chain, &marked, &[])?;
        let what = format!("installing egress chain {chain}");
        self.transact(
            &what,
            |listing| {
                Ok(Some((
                    rules::install_batch(chain, &marked, &listing.jumps(chain))?,
                    (),
                )))
            },
            (),
        )
    }

    /// See [`super::remove`].
    pub fn remove(&self, chain: &str) -> Result<bool, EgressError> {
        rules::check_chain(chain)?;
        let what = format!("removing egress chain {chain}");
        self.transact(
            &what,
            |listing| {
                let jumps = listing.jumps(chain);
                let exists = listing.has_chain(chain);
                if !exists && jumps.is_empty() {
                    return Ok(None);
                }
                let tables = tables_to_delete(listing, Some(chain), None);
                Ok(Some((
                    rules::remove_batch(chain, exists, &jumps, tables),
                    true,
                )))
            },
            false,
        )
    }

    /// See [`super::sandbox_chains`].
    pub fn sandbox_chains(&self) -> Result<Vec<String>, EgressError> {
        Ok(self.listing()?.sandbox_chains().to_vec())
    }

    /// See [`super::set_masquerade`].
    pub fn set_masquerade(
        &self,
        network: &str,
        subnet: Cidr,
        bridge: &str,
    ) -> Result<(), EgressError> {
        rules::masquerade_batch(network, subnet, bridge, &[])?;
        let what = format!("setting the masquerade of network {network}");
        self.transact(
            &what,
            |listing| {
                let old = listing.masquerades(network);
                Ok(Some((
                    rules::masquerade_batch(network, subnet, bridge, &old)?,
                    (),
                )))
            },
            (),
        )
    }

    /// See [`super::remove_masquerade`].
    pub fn remove_masquerade(&self, network: &str) -> Result<bool, EgressError> {
        rules::check_network(network)?;
        let what = format!("removing the masquerade of network {network}");
        self.transact(
            &what,
            |listing| {
                let old = listing.masquerades(network);
                if old.is_empty() {
                    return Ok(None);
                }
                let tables = tables_to_delete(listing, None, Some(network));
                Ok(Some((rules::unmasquerade_batch(&old, tables), true)))
            },
            false,
        )
    }

    /// See [`super::dropped`].
    pub fn dropped(&self, chain: &str) -> Result<Option<(u64, u64)>, EgressError> {
        rules::check_chain(chain)?;
        let listing = self.listing()?;
        if !listing.has_chain(chain) {
            return Ok(None);
        }
        listing
            .dropped(chain)
            .map(Some)
            .ok_or_else(|| EgressError::Output {
                what: format!("reading the drop counter of {chain}"),
                message: "the chain has no counted drop".to_string(),
            })
    }

    /// See [`super::ruleset_text`].
    pub fn ruleset_text(&self) -> Result<Option<String>, EgressError> {
        let inet = self.list_table("inet", false)?;
        let bridge = self.list_table("bridge", false)?;
        Ok(match (inet, bridge) {
            (None, None) => None,
            (inet, bridge) => Some(format!(
                "{}{}",
                inet.unwrap_or_default(),
                bridge.unwrap_or_default()
            )),
        })
    }
}

/// `Some((generation handle, bridge table exists))` when nothing of ours
/// is left once `chain` and `network`'s rules go.
pub(super) fn tables_to_delete(
    listing: &Listing,
    chain: Option<&str>,
    network: Option<&str>,
) -> Option<(u32, bool)> {
    if listing.anything_left(chain, network) {
        return None;
    }
    listing.generation.map(|handle| (handle, listing.bridge))
}

fn executable(path: &Path) -> bool {
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The interface index of `name` in the calling thread's network
/// namespace.
fn interface_index(name: &str) -> Result<u32, EgressError> {
    let not_found = |err| EgressError::Interface {
        name: name.to_string(),
        err,
    };
    let c_name = CString::new(name)
        .map_err(|_| not_found(std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the call.
    let index = unsafe { nix::libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        return Err(not_found(std::io::Error::last_os_error()));
    }
    Ok(index)
}
