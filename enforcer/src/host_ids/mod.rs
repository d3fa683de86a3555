//! Host ids no other sandbox shares. A decision with `privateHostIds`
//! gets a new user namespace whose ids 0 to 65535 map to a range of
//! 65,536 host uids and gids leased to that sandbox alone, from the
//! operator's pool (`[host_ids]` in the config: a range, by default the
//! ids from 2^31 up, or an owner's ranges in `/etc/subuid` and
//! `/etc/subgid`).
//!
//! - [`pool`]: the pool's ranges (pure, apart from reading the subid
//!   files) and the choice of the lowest free one.
//! - [`subids`]: parsing `/etc/subuid` and `/etc/subgid`.
//! - [`lease`]: the leases on disk, `<state dir>/.host-ids/<first host id>`,
//!   each naming its sandbox, made and removed under the state
//!   directory's lock.

pub mod lease;
pub mod pool;
pub mod subids;

use std::path::PathBuf;

use policy_sdk::IdMapping;
use serde::{Deserialize, Serialize};

use crate::sandbox::state::StateError;

pub use lease::{LEASE_DIR, Lease, lease, leases, release, sweep};
pub use pool::Pool;

/// How many ids one sandbox leases (uids and gids alike).
pub const RANGE_SIZE: u32 = crate::config::HOST_ID_RANGE;

/// A range of host ids leased to one sandbox: its uids and gids 0 to
/// `size - 1` are the host's `start` to `start + size - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostIdRange {
    /// The first host id.
    pub start: u32,
    /// How many ids.
    pub size: u32,
}

impl HostIdRange {
    /// The range of [`RANGE_SIZE`] ids from `start`.
    pub fn at(start: u32) -> HostIdRange {
        HostIdRange {
            start,
            size: RANGE_SIZE,
        }
    }

    /// The last host id of the range.
    pub fn last(&self) -> u32 {
        self.start + (self.size - 1)
    }

    /// The id map of the sandbox's user namespace (the same for uids and
    /// gids): `0 <start> <size>`.
    pub fn mappings(&self) -> Vec<IdMapping> {
        vec![IdMapping {
            container_id: 0,
            host_id: self.start,
            size: self.size,
        }]
    }
}

impl std::fmt::Display for HostIdRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.last())
    }
}

/// Why a range cannot be leased or released.
#[derive(Debug, thiserror::Error)]
pub enum HostIdError {
    /// Every range of the pool is leased.
    #[error(
        "the host id pool is exhausted: all {ranges} ranges of {RANGE_SIZE} ids ({pool}) are leased, {}; wait for a sandbox to end, run `enforcer gc` if one crashed, or give [host_ids] in the config a larger pool",
        holders_list(holders)
    )]
    Exhausted {
        /// How many ranges the pool has.
        ranges: usize,
        /// The pool, as [`Pool::describe`] says it.
        pool: String,
        /// Each lease: its first host id and its sandbox.
        holders: Vec<(u32, String)>,
    },
    /// Writing an id map of the pool's ids needs root.
    #[error(
        "private host ids need the enforcer to run as root (it runs as uid {euid}): only root may map a user namespace to host ids other than its own"
    )]
    NotRoot {
        /// The enforcer's effective uid.
        euid: u32,
    },
    /// The state directory, the lease directory or a lease is not the
    /// enforcer's own, or a system call on them failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A lease file that is not what the enforcer writes.
    #[error("corrupt host id lease {path}: {why}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// `/etc/subuid` or `/etc/subgid` cannot be used.
    #[error("{}{}: {why}", path.display(), line.map(|line| format!(" line {line}")).unwrap_or_default())]
    Subids {
        /// The file.
        path: PathBuf,
        /// The line (from 1), when one is at fault.
        line: Option<usize>,
        /// What is wrong.
        why: String,
    },
    /// `/etc/subuid` and `/etc/subgid` give the owner different ranges.
    #[error(
        "host_ids.subids = {owner:?}: {} gives the ranges {uids} and {} gives {gids}; a sandbox's uids and gids come from one leased range, so both files must give {owner} the same ranges",
        uid_file.display(),
        gid_file.display()
    )]
    Mismatch {
        /// The owner.
        owner: String,
        /// The subuid file.
        uid_file: PathBuf,
        /// Its ranges, as `start:count, ...`.
        uids: String,
        /// The subgid file.
        gid_file: PathBuf,
        /// Its ranges.
        gids: String,
    },
}

/// `2147483648 to sandbox "a", ...` (the first ten, then how many more).
fn holders_list(holders: &[(u32, String)]) -> String {
    const SHOWN: usize = 10;
    let mut text = holders
        .iter()
        .take(SHOWN)
        .map(|(start, id)| format!("{start} to sandbox {id:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if holders.len() > SHOWN {
        text.push_str(&format!(" and {} more", holders.len() - SHOWN));
    }
    text
}
