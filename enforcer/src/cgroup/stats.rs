//! Usage of a sandbox's cgroup, read from whichever hierarchy holds each
//! controller (v1 or v2 file names) into one typed [`Stats`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::apply::{CreatedCgroup, flat_keys};
use super::discovery::Version;

/// Usage and limit events of one sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Memory controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Pids controller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<PidsStats>,
    /// CPU time and bandwidth throttling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// Hugetlb, per page size (`2MB`, `1GB`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// Block I/O, per device (`major:minor`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub io: BTreeMap<String, IoStats>,
    /// Whether the cgroup is frozen (by any freezer it has), where a
    /// freezer is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frozen: Option<bool>,
}

/// Memory usage in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage: u64,
    /// Peak usage (v1 `max_usage_in_bytes`, v2 `memory.peak`), if known.
    pub peak: Option<u64>,
    /// The limit; `None` for unlimited.
    pub limit: Option<u64>,
    /// Times the limit was hit (v1 `failcnt`, v2 `memory.events` `max`).
    pub limit_hits: u64,
    /// Processes the OOM killer killed in this cgroup (`oom_kill`).
    pub oom_kills: u64,
}

/// Process counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PidsStats {
    /// Tasks now (`pids.current`).
    pub current: u64,
    /// The limit; `None` for `max`.
    pub limit: Option<u64>,
    /// Forks refused by the limit (`pids.events` `max`).
    pub limit_hits: u64,
}

/// CPU time in nanoseconds and bandwidth throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    /// Total CPU time (v1 `cpuacct.usage`, v2 `cpu.stat` `usage_usec`).
    pub usage_ns: u64,
    /// Enforcement periods that have elapsed.
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Total time throttled.
    pub throttled_ns: u64,
}

/// Hugetlb usage of one page size, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HugetlbStats {
    /// Current usage (v1 `usage_in_bytes`, v2 `current`).
    pub usage: u64,
    /// Peak usage (v1 only).
    pub peak: Option<u64>,
    /// Allocations refused by the limit (v1 `failcnt`, v2 `events` `max`).
    pub limit_hits: u64,
    /// Reservations refused by the reservation limit, at `mmap` time
    /// (v1 `rsvd.failcnt`, Linux 5.7).
    pub reservation_limit_hits: u64,
}

/// Bytes and operations on one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IoStats {
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub read_ops: u64,
    /// Write operations.
    pub write_ops: u64,
}

/// Reads the usage of `cgroup` from every leaf it has.
pub fn read(cgroup: &CreatedCgroup) -> Stats {
    let reader = Reader::new(&cgroup.leaves);
    Stats {
        memory: reader.memory(),
        pids: reader.pids(),
        cpu: reader.cpu(),
        hugetlb: reader.hugetlb(),
        io: reader.io(),
        frozen: super::freezer::any_frozen(&cgroup.leaves),
    }
}

/// Finds interface files among the leaves, v1 leaves first (on a hybrid
/// host the unified leaf repeats a few core files without the controller).
struct Reader {
    leaves: Vec<PathBuf>,
}

impl Reader {
    fn new(leaves: &[PathBuf]) -> Reader {
        let mut leaves = leaves.to_vec();
        leaves.sort_by_key(|leaf| leaf.join("cgroup.controllers").exists());
        Reader { leaves }
    }

    fn file(&self, name: &str) -> Option<PathBuf> {
        self.leaves
            .iter()
            .map(|leaf| leaf.join(name))
            .find(|file| file.exists())
    }

    fn text(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.file(name)?).ok()
    }

    fn number(&self, name: &str) -> Option<u64> {
        parse_limit(&self.text(name)?)
    }

    /// A `key value` line of a flat-keyed file.
    fn key(&self, name: &str, key: &str) -> Option<u64> {
        flat_keys(&self.text(name)?).get(key).copied()
    }

    fn memory(&self) -> Option<MemoryStats> {
        if let Some(usage) = self.number("memory.usage_in_bytes") {
            return Some(MemoryStats {
                usage,
                peak: self.number("memory.max_usage_in_bytes"),
                limit: self
                    .number("memory.limit_in_bytes")
                    .filter(|limit| *limit < i64::MAX as u64 / 2),
                limit_hits: self.number("memory.failcnt").unwrap_or(0),
                oom_kills: self.key("memory.oom_control", "oom_kill").unwrap_or(0),
            });
        }
        // v2: only a leaf where the memory controller is enabled has these.
        let usage = self.number("memory.current")?;
        Some(MemoryStats {
            usage,
            peak: self.number("memory.peak"),
            limit: self.number("memory.max"),
            limit_hits: self.key("memory.events", "max").unwrap_or(0),
            oom_kills: self.key("memory.events", "oom_kill").unwrap_or(0),
        })
    }

    fn pids(&self) -> Option<PidsStats> {
        Some(PidsStats {
            current: self.number("pids.current")?,
            limit: self.number("pids.max"),
            limit_hits: self.key("pids.events", "max").unwrap_or(0),
        })
    }

    fn cpu(&self) -> Option<CpuStats> {
        // Merge every leaf's cpu.stat: v1's has the throttling, a hybrid
        // host's unified leaf the usage.
        let mut stat = BTreeMap::new();
        for leaf in self.leaves.iter().rev() {
            if let Ok(text) = std::fs::read_to_string(leaf.join("cpu.stat")) {
                stat.extend(flat_keys(&text));
            }
        }
        let usage_ns = self
            .number("cpuacct.usage")
            .or_else(|| stat.get("usage_usec").map(|usec| usec * 1000))?;
        let throttled_ns = stat
            .get("throttled_time")
            .copied()
            .or_else(|| stat.get("throttled_usec").map(|usec| usec * 1000))
            .unwrap_or(0);
        Some(CpuStats {
            usage_ns,
            periods: stat.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: stat.get("nr_throttled").copied().unwrap_or(0),
            throttled_ns,
        })
    }

    fn hugetlb(&self) -> BTreeMap<String, HugetlbStats> {
        let mut sizes = BTreeMap::new();
        for leaf in &self.leaves {
            let Ok(entries) = std::fs::read_dir(leaf) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix("hugetlb.") else {
                    continue;
                };
                let (size, version) = match (
                    rest.strip_suffix(".usage_in_bytes"),
                    rest.strip_suffix(".current"),
                ) {
                    (Some(size), _) if !size.contains('.') => (size, Version::V1),
                    (_, Some(size)) if !size.contains('.') => (size, Version::V2),
                    _ => continue,
                };
                let number = |file: String| {
                    std::fs::read_to_string(leaf.join(file))
                        .ok()
                        .and_then(|text| parse_limit(&text))
                };
                let stats = match version {
                    Version::V1 => HugetlbStats {
                        usage: number(format!("hugetlb.{size}.usage_in_bytes")).unwrap_or(0),
                        peak: number(format!("hugetlb.{size}.max_usage_in_bytes")),
                        limit_hits: number(format!("hugetlb.{size}.failcnt")).unwrap_or(0),
                        reservation_limit_hits: number(format!("hugetlb.{size}.rsvd.failcnt"))
                            .unwrap_or(0),
                    },
                    Version::V2 => HugetlbStats {
                        usage: number(format!("hugetlb.{size}.current")).unwrap_or(0),
                        peak: None,
                        limit_hits: std::fs::read_to_string(
                            leaf.join(format!("hugetlb.{size}.events")),
                        )
                        .ok()
                        .and_then(|text| flat_keys(&text).get("max").copied())
                        .unwrap_or(0),
                        reservation_limit_hits: 0,
                    },
                };
                sizes.entry(size.to_string()).or_insert(stats);
            }
        }
        sizes
    }

    fn io(&self) -> BTreeMap<String, IoStats> {
        let mut devices: BTreeMap<String, IoStats> = BTreeMap::new();
        if let Some(text) = self.text("io.stat") {
            for line in text.lines() {
                let mut fields = line.split_whitespace();
                let Some(device) = fields.next() else {
                    continue;
                };
                let keys = flat_keys(&fields.collect::<Vec<_>>().join("\n").replace('=', " "));
                devices.insert(
                    device.to_string(),
                    IoStats {
                        read_bytes: keys.get("rbytes").copied().unwrap_or(0),
                        write_bytes: keys.get("wbytes").copied().unwrap_or(0),
                        read_ops: keys.get("rios").copied().unwrap_or(0),
                        write_ops: keys.get("wios").copied().unwrap_or(0),
                    },
                );
            }
            return devices;
        }
        for (file, is_bytes) in [
            ("blkio.throttle.io_service_bytes", true),
            ("blkio.throttle.io_serviced", false),
        ] {
            for line in self.text(file).unwrap_or_default().lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let [device, operation, value] = fields.as_slice() else {
                    continue;
                };
                let Ok(value) = value.parse::<u64>() else {
                    continue;
                };
                let entry = devices.entry(device.to_string()).or_default();
                match (*operation, is_bytes) {
                    ("Read", true) => entry.read_bytes = value,
                    ("Write", true) => entry.write_bytes = value,
                    ("Read", false) => entry.read_ops = value,
                    ("Write", false) => entry.write_ops = value,
                    _ => {}
                }
            }
        }
        devices
    }
}

/// A number, or `None` for `max`.
fn parse_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Reads the stats of the cgroups at `leaves` alone (what `ps` and `stats`
/// know of a sandbox from its state file, the leaves of its
/// [`CreatedCgroup`]).
pub fn read_leaves(leaves: &[PathBuf]) -> Stats {
    read(&CreatedCgroup {
        created: Vec::new(),
        leaves: leaves.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write");
    }

    #[test]
    fn v1_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let leaf = dir.path();
        write(leaf, "memory.usage_in_bytes", "4096\n");
        write(leaf, "memory.max_usage_in_bytes", "8192\n");
        write(leaf, "memory.limit_in_bytes", "9223372036854771712\n");
        write(leaf, "memory.failcnt", "3\n");
        write(
            leaf,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
        write(leaf, "pids.current", "2\n");
        write(leaf, "pids.max", "max\n");
        write(leaf, "pids.events", "max 5\n");
        write(leaf, "cpuacct.usage", "123456\n");
        write(
            leaf,
            "cpu.stat",
            "nr_periods 10\nnr_throttled 4\nthrottled_time 999\n",
        );
        write(leaf, "hugetlb.2MB.usage_in_bytes", "2097152\n");
        write(leaf, "hugetlb.2MB.max_usage_in_bytes", "2097152\n");
        write(leaf, "hugetlb.2MB.failcnt", "1\n");
        write(leaf, "hugetlb.2MB.rsvd.usage_in_bytes", "0\n");
        write(
            leaf,
            "blkio.throttle.io_service_bytes",
            "253:0 Read 512\n253:0 Write 1024\nTotal 1536\n",
        );
        write(
            leaf,
            "blkio.throttle.io_serviced",
            "253:0 Read 1\n253:0 Write 2\n",
        );
        write(leaf, "freezer.state", "THAWED\n");
        let stats = read_leaves(&[leaf.to_path_buf()]);
        assert_eq!(
            stats.memory,
            Some(MemoryStats {
                usage: 4096,
                peak: Some(8192),
                limit: None,
                limit_hits: 3,
                oom_kills: 1
            })
        );
        assert_eq!(
            stats.pids,
            Some(PidsStats {
                current: 2,
                limit: None,
                limit_hits: 5
            })
        );
        let cpu = stats.cpu.expect("cpu");
        assert_eq!(
            (cpu.usage_ns, cpu.throttled_periods, cpu.throttled_ns),
            (123456, 4, 999)
        );
        assert_eq!(stats.hugetlb.len(), 1, "rsvd files are not a page size");
        assert_eq!(stats.hugetlb["2MB"].limit_hits, 1);
        assert_eq!(
            stats.io["253:0"],
            IoStats {
                read_bytes: 512,
                write_bytes: 1024,
                read_ops: 1,
                write_ops: 2
            }
        );
        assert_eq!(stats.frozen, Some(false));
    }

    #[test]
    fn v2_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let leaf = dir.path();
        write(leaf, "cgroup.controllers", "memory pids\n");
        write(leaf, "cgroup.freeze", "1\n");
        write(leaf, "cgroup.events", "populated 1\nfrozen 1\n");
        write(leaf, "memory.current", "4096\n");
        write(leaf, "memory.max", "max\n");
        write(
            leaf,
            "memory.events",
            "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n",
        );
        write(
            leaf,
            "cpu.stat",
            "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 2\nnr_throttled 1\nthrottled_usec 7\n",
        );
        write(leaf, "hugetlb.2MB.current", "0\n");
        write(leaf, "hugetlb.2MB.events", "max 2\n");
        write(
            leaf,
            "io.stat",
            "253:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        let stats = read_leaves(&[leaf.to_path_buf()]);
        let memory = stats.memory.expect("memory");
        assert_eq!(
            (memory.limit, memory.limit_hits, memory.oom_kills),
            (None, 7, 1)
        );
        let cpu = stats.cpu.expect("cpu");
        assert_eq!((cpu.usage_ns, cpu.throttled_ns), (5000, 7000));
        assert_eq!(stats.hugetlb["2MB"].limit_hits, 2);
        assert_eq!(stats.io["253:0"].write_bytes, 20);
        assert_eq!(stats.frozen, Some(true));
        assert!(stats.pids.is_none());
    }
}
