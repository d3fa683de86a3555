//! The cgroup v2 interface files `resources.unified` may name: the files
//! Linux documents for the memory, cpu, io, pids, hugetlb, cpuset, misc and
//! rdma controllers (`Documentation/admin-guide/cgroup-v2.rst`, plus BFQ's
//! `io.bfq.weight`), each with whether a sandbox's cgroup can write it. A
//! key that is none of them gets a "did you mean" from the closest known
//! name.

use crate::units::parse_page_size;

/// What the kernel lets a sandbox's (non-root) cgroup do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// A limit, weight or setting the enforcer can write.
    Writable,
    /// A counter or statistic: reading only.
    ReadOnly,
    /// Exists on the root cgroup only.
    RootOnly,
}

/// Every documented file outside `hugetlb.<size>.*`, with its access.
const FILES: &[(&str, Access)] = {
    use Access::{ReadOnly, RootOnly, Writable};
    &[
        ("cpu.stat", ReadOnly),
        ("cpu.weight", Writable),
        ("cpu.weight.nice", Writable),
        ("cpu.max", Writable),
        ("cpu.max.burst", Writable),
        ("cpu.pressure", Writable),
        ("cpu.uclamp.min", Writable),
        ("cpu.uclamp.max", Writable),
        ("cpu.idle", Writable),
        ("memory.current", ReadOnly),
        ("memory.min", Writable),
        ("memory.low", Writable),
        ("memory.high", Writable),
        ("memory.max", Writable),
        ("memory.reclaim", Writable),
        ("memory.peak", Writable),
        ("memory.oom.group", Writable),
        ("memory.events", ReadOnly),
        ("memory.events.local", ReadOnly),
        ("memory.stat", ReadOnly),
        ("memory.numa_stat", ReadOnly),
        ("memory.swap.current", ReadOnly),
        ("memory.swap.high", Writable),
        ("memory.swap.peak", Writable),
        ("memory.swap.max", Writable),
        ("memory.swap.events", ReadOnly),
        ("memory.zswap.current", ReadOnly),
        ("memory.zswap.max", Writable),
        ("memory.zswap.writeback", Writable),
        ("memory.pressure", Writable),
        ("io.stat", ReadOnly),
        ("io.cost.qos", RootOnly),
        ("io.cost.model", RootOnly),
        ("io.weight", Writable),
        ("io.bfq.weight", Writable),
        ("io.max", Writable),
        ("io.pressure", Writable),
        ("io.latency", Writable),
        ("io.prio.class", Writable),
        ("pids.max", Writable),
        ("pids.current", ReadOnly),
        ("pids.peak", ReadOnly),
        ("pids.events", ReadOnly),
        ("pids.events.local", ReadOnly),
        ("cpuset.cpus", Writable),
        ("cpuset.cpus.effective", ReadOnly),
        ("cpuset.mems", Writable),
        ("cpuset.mems.effective", ReadOnly),
        ("cpuset.cpus.exclusive", Writable),
        ("cpuset.cpus.exclusive.effective", ReadOnly),
        ("cpuset.cpus.isolated", RootOnly),
        ("cpuset.cpus.partition", Writable),
        ("misc.capacity", RootOnly),
        ("misc.current", ReadOnly),
        ("misc.peak", ReadOnly),
        ("misc.max", Writable),
        ("misc.events", ReadOnly),
        ("misc.events.local", ReadOnly),
        ("rdma.max", Writable),
        ("rdma.current", ReadOnly),
    ]
};

/// The files of each hugepage size, `hugetlb.<size>.` followed by these.
const HUGETLB_FILES: &[(&str, Access)] = {
    use Access::{ReadOnly, Writable};
    &[
        ("current", ReadOnly),
        ("max", Writable),
        ("events", ReadOnly),
        ("events.local", ReadOnly),
        ("numa_stat", ReadOnly),
        ("rsvd.current", ReadOnly),
        ("rsvd.max", Writable),
    ]
};

/// The access of the documented file `key`, or `None` when Linux
/// documents no such file. A `hugetlb.<size>.*` key counts when `<size>`
/// is a page size in OCI notation (`2MB`); whether the host has that size
/// is for the caller to check.
pub(super) fn access(key: &str) -> Option<Access> {
    if let Some(rest) = key.strip_prefix("hugetlb.") {
        let (size, file) = rest.split_once('.')?;
        parse_page_size(size)?;
        return HUGETLB_FILES
            .iter()
            .find(|(name, _)| *name == file)
            .map(|(_, access)| *access);
    }
    FILES
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, access)| *access)
}

/// The hugepage size of a `hugetlb.<size>.*` key.
pub(super) fn hugetlb_size(key: &str) -> Option<&str> {
    key.strip_prefix("hugetlb.")?
        .split_once('.')
        .map(|(size, _)| size)
}

/// The writable file closest to `key` (edit distance, a swap of two
/// neighbours counting once), if it is close enough to be a typo; hugetlb
/// files are offered for each of `sizes`.
pub(super) fn suggestion(key: &str, sizes: &[String]) -> Option<String> {
    let mut candidates: Vec<String> = FILES
        .iter()
        .filter(|(_, access)| *access == Access::Writable)
        .map(|(name, _)| (*name).to_string())
        .collect();
    let default_sizes = ["2MB".to_string(), "1GB".to_string()];
    let sizes = if sizes.is_empty() {
        &default_sizes[..]
    } else {
        sizes
    };
    for size in sizes {
        for (file, access) in HUGETLB_FILES {
            if *access == Access::Writable {
                candidates.push(format!("hugetlb.{size}.{file}"));
            }
        }
    }
    let limit = (key.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|candidate| (distance(key, &candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The optimal-string-alignment distance: insertions, deletions,
/// substitutions and swaps of two neighbouring characters, each costing 1.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for (i, row) in table.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in table.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_files_are_known_with_their_access() {
        assert_eq!(access("memory.high"), Some(Access::Writable));
        assert_eq!(access("memory.current"), Some(Access::ReadOnly));
        assert_eq!(access("io.cost.qos"), Some(Access::RootOnly));
        assert_eq!(access("hugetlb.2MB.max"), Some(Access::Writable));
        assert_eq!(access("hugetlb.1GB.rsvd.max"), Some(Access::Writable));
        assert_eq!(access("hugetlb.2MB.current"), Some(Access::ReadOnly));
        for unknown in [
            "memroy.max",
            "memory.frobnicate",
            "hugetlb.2XB.max",
            "hugetlb.max",
            "freezer.state",
            "devices.allow",
        ] {
            assert_eq!(access(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn the_list_has_no_duplicates() {
        let mut names: Vec<&str> = FILES.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn typos_get_the_closest_writable_file() {
        let sizes = ["2MB".to_string(), "1GB".to_string()];
        for (typo, meant) in [
            ("memroy.max", "memory.max"),
            ("memory.hihg", "memory.high"),
            ("memory.swap_max", "memory.swap.max"),
            ("pid.max", "pids.max"),
            ("cpu.wieght", "cpu.weight"),
            ("hugetlb.2MB.mx", "hugetlb.2MB.max"),
            ("hugetlb.2MB.rsvd_max", "hugetlb.2MB.rsvd.max"),
            ("memory.oom_group", "memory.oom.group"),
        ] {
            assert_eq!(suggestion(typo, &sizes).as_deref(), Some(meant), "{typo}");
        }
        assert_eq!(suggestion("frobnicate.everything", &sizes), None);
        assert_eq!(distance("memroy", "memory"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
