//! The pool of host id ranges: where it comes from (`[host_ids]`) and
//! which range a new lease gets (the lowest free one).

use std::collections::BTreeSet;
use std::path::Path;

use super::subids::{self, SUBGID_FILE, SUBUID_FILE};
use super::{HostIdError, RANGE_SIZE};
use crate::config::HostIdPool;

/// The ranges of [`RANGE_SIZE`] ids a lease may get, by their first id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    starts: Vec<u32>,
    description: String,
}

impl Pool {
    /// The pool `config` describes (`None`: the default pool). A
    /// `subids` pool reads `/etc/subuid` and `/etc/subgid` now.
    pub fn from_config(config: Option<&HostIdPool>) -> Result<Pool, HostIdError> {
        match config.cloned().unwrap_or_default() {
            HostIdPool::Range { start, size } => Ok(Pool::range(start, size)),
            HostIdPool::Subids { owner } => {
                Pool::from_subids(&owner, Path::new(SUBUID_FILE), Path::new(SUBGID_FILE))
            }
        }
    }

    /// The whole ranges in `size` ids from `start` (the config has checked
    /// that they end below 4294967295).
    pub fn range(start: u32, size: u32) -> Pool {
        let ranges = size / RANGE_SIZE;
        Pool {
            starts: (0..ranges)
                .map(|index| start + index * RANGE_SIZE)
                .collect(),
            description: format!(
                "host ids {start} to {}",
                u64::from(start) + u64::from(size) - 1
            ),
        }
    }

    /// The ranges `uid_file` and `gid_file` give `owner` (a name, or a
    /// uid); both must give the same ones.
    pub fn from_subids(owner: &str, uid_file: &Path, gid_file: &Path) -> Result<Pool, HostIdError> {
        let uid = owner.parse::<u32>().ok().or_else(|| {
            nix::unistd::User::from_name(owner)
                .ok()
                .flatten()
                .map(|user| user.uid.as_raw())
        });
        let uids = subids::parse(&subids::read(uid_file)?, owner, uid, uid_file)?;
        let gids = subids::parse(&subids::read(gid_file)?, owner, uid, gid_file)?;
        Pool::from_entries(owner, (uid_file, &uids), (gid_file, &gids))
    }

    /// The pool of `owner`'s entries of the two files (pure).
    pub fn from_entries(
        owner: &str,
        (uid_file, uids): (&Path, &[subids::SubidEntry]),
        (gid_file, gids): (&Path, &[subids::SubidEntry]),
    ) -> Result<Pool, HostIdError> {
        let uid_starts = subids::range_starts(uids, uid_file)?;
        let gid_starts = subids::range_starts(gids, gid_file)?;
        if uid_starts != gid_starts {
            return Err(HostIdError::Mismatch {
                owner: owner.to_string(),
                uid_file: uid_file.to_path_buf(),
                uids: subids::describe(uids),
                gid_file: gid_file.to_path_buf(),
                gids: subids::describe(gids),
            });
        }
        if uid_starts.is_empty() {
            return Err(HostIdError::Subids {
                path: uid_file.to_path_buf(),
                line: None,
                why: format!(
                    "host_ids.subids = {owner:?}: it gives {owner} no range of {RANGE_SIZE} ids (its entries: {}); add one, e.g. `{owner}:2147483648:2147418112` to both {} and {}",
                    subids::describe(uids),
                    uid_file.display(),
                    gid_file.display()
                ),
            });
        }
        Ok(Pool {
            description: format!(
                "{owner}'s subordinate ids in {} and {}",
                uid_file.display(),
                gid_file.display()
            ),
            starts: uid_starts,
        })
    }

    /// How many ranges it has.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The first id of each range, in order.
    pub fn starts(&self) -> &[u32] {
        &self.starts
    }

    /// What it is, for messages (`host ids 2147483648 to 4294901759`).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The lowest range that overlaps none of the leases starting at
    /// `leased` (each of [`RANGE_SIZE`] ids; a lease made under another
    /// pool need not line up with this one's ranges).
    pub fn lowest_free(&self, leased: &BTreeSet<u32>) -> Option<u32> {
        self.starts.iter().copied().find(|&start| {
            let low = start.saturating_sub(RANGE_SIZE - 1);
            let high = u64::from(start) + u64::from(RANGE_SIZE);
            leased
                .range(low..)
                .next()
                .is_none_or(|&other| u64::from(other) >= high)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_HOST_ID_START, MAX_HOST_ID};

    #[test]
    fn the_default_pool_lies_above_2_31_and_never_holds_4294967295() {
        let pool = Pool::from_config(None).expect("the default pool");
        assert_eq!(pool.len(), 32767);
        assert_eq!(pool.starts()[0], DEFAULT_HOST_ID_START);
        let last = *pool.starts().last().expect("ranges");
        assert_eq!(u64::from(last) + u64::from(RANGE_SIZE) - 1, 4294901759);
        assert!(last + (RANGE_SIZE - 1) <= MAX_HOST_ID);
        assert_eq!(pool.describe(), "host ids 2147483648 to 4294901759");
    }

    #[test]
    fn allocation_takes_the_lowest_free_range() {
        let pool = Pool::range(1 << 20, 4 * RANGE_SIZE);
        let base = 1u32 << 20;
        let at = |index: u32| base + index * RANGE_SIZE;
        let mut leased = BTreeSet::new();
        assert_eq!(pool.lowest_free(&leased), Some(at(0)));
        leased.insert(at(0));
        leased.insert(at(2));
        assert_eq!(pool.lowest_free(&leased), Some(at(1)), "the gap first");
        leased.insert(at(1));
        assert_eq!(pool.lowest_free(&leased), Some(at(3)));
        leased.remove(&at(0));
        assert_eq!(
            pool.lowest_free(&leased),
            Some(at(0)),
            "a released range again"
        );
    }

    #[test]
    fn exhaustion_and_leases_that_do_not_line_up() {
        let pool = Pool::range(1 << 20, 2 * RANGE_SIZE);
        let base = 1u32 << 20;
        let full: BTreeSet<u32> = [base, base + RANGE_SIZE].into();
        assert_eq!(pool.lowest_free(&full), None);
        // A lease from an earlier pool, half over each range: both taken.
        let skewed: BTreeSet<u32> = [base + RANGE_SIZE / 2].into();
        assert_eq!(pool.lowest_free(&skewed), None);
        // One just below the first range leaves it free only if it ends
        // before it.
        let below: BTreeSet<u32> = [base - RANGE_SIZE].into();
        assert_eq!(pool.lowest_free(&below), Some(base));
        let touching: BTreeSet<u32> = [base - RANGE_SIZE + 1].into();
        assert_eq!(pool.lowest_free(&touching), Some(base + RANGE_SIZE));
    }

    #[test]
    fn subid_files_must_give_the_same_ranges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uid_file = dir.path().join("subuid");
        let gid_file = dir.path().join("subgid");
        std::fs::write(&uid_file, "other:1:65536\nsvc:200000:131072\n").expect("writes");
        std::fs::write(&gid_file, "svc:200000:131072\n").expect("writes");
        let pool = Pool::from_subids("svc", &uid_file, &gid_file).expect("the same ranges");
        assert_eq!(pool.starts(), [200000, 265536]);
        assert!(pool.describe().starts_with("svc's subordinate ids in "));
        std::fs::write(&gid_file, "svc:300000:131072\n").expect("writes");
        let error = Pool::from_subids("svc", &uid_file, &gid_file)
            .expect_err("different ranges")
            .to_string();
        assert!(
            error.contains("gives the ranges 200000:131072 and")
                && error.contains("gives 300000:131072")
                && error.contains("must give svc the same ranges"),
            "{error}"
        );
        let error = Pool::from_subids("nobody-here", &uid_file, &gid_file)
            .expect_err("no entries")
            .to_string();
        assert!(
            error.contains("no range of 65536 ids (its entries: none)"),
            "{error}"
        );
        let missing = dir.path().join("absent");
        let error = Pool::from_subids("svc", &missing, &gid_file)
            .expect_err("missing file")
            .to_string();
        assert!(error.contains("absent: cannot read it"), "{error}");
    }
}
