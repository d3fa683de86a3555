//! The tighten-only promise, checked on its applied effect: for thousands
//! of random pairs of valid decisions `(a, b)`, whenever
//! `check_tightens(a, b)` accepts, what the enforcer would apply for `b` is
//! no looser than for `a`:
//!
//! * every cgroup file the plan writes (or leaves at a fresh cgroup's
//!   default) on a fake pure-v1, pure-v2 and hybrid layout, compared file by
//!   file with a comparator per file (`classify`);
//! * the device permission of every device of a small universe, for each
//!   of `r`, `w`, `m`, simulated from the planned v1 writes or the v2 eBPF
//!   program's rules;
//! * the spawn-time privileges (`Privileges::from_normal`).
//! * the network: no interface added or changed, the loopback not brought
//!   up, no probe let out by an egress list that the earlier list keeps
//!   in (`tighten_property/network.rs`).
//!
//! It also checks the normal form round-trips and is tighten-equal to
//! itself. Pure: no kernel, no cgroupfs (the plan only reads the layout).
//!
//! The generator is a small seeded one of our own (splitmix64): `b` is
//! mostly a mutation of `a`, so a good share of pairs is accepted.
//! `ENFORCER_PROPTEST_SEED` picks the seed (default fixed),
//! `ENFORCER_PROPTEST_CASES` the number of pairs (default 5000). A failure
//! prints the seed, the case and the pair as JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use enforcer::cgroup::plan::{CgroupPlan, Value, plan};
use enforcer::cgroup::{CgroupLayout, Hierarchy, KernelController, Version};
use enforcer::sandbox::privileges::Privileges;
use policy_model::host::typical_host;
use policy_model::normal::NormalDecision;
use policy_model::{
    BlockIo, Capabilities, Context, Cpu, Decision, DeviceRule, DeviceType, HugepageLimit,
    IdMapping, InterfacePriority, Limit, Memory, Namespace, NamespaceType, Network, Pids, Process,
    ProcessUser, Resources, Rlimit, ThrottleDevice, WeightDevice, check_tightens, normalize,
    parse_cpu_list, validate,
};

#[path = "tighten_property/confinement.rs"]
mod confinement;
#[path = "tighten_property/network.rs"]
mod network;

const DEFAULT_SEED: u64 = 0x7167_6874_656e_2d31;
const DEFAULT_CASES: u64 = 5000;
/// The operator's cgroup root the plans are made under.
const ROOT: &str = "enforcer";
const DEFAULT_CGROUP: &str = "sandboxes/test";

// ---------------------------------------------------------------- random

/// splitmix64: tiny, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn subset<T: Clone>(&mut self, items: &[T], percent: u64) -> Vec<T> {
        items
            .iter()
            .filter(|_| self.chance(percent))
            .cloned()
            .collect()
    }
}

// ------------------------------------------------------------- generator

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A random value (possibly none).
    Fresh,
    /// A value that should be tighter.
    Tighten,
    /// A value that should be looser.
    Loosen,
}

const MIB: i64 = 1 << 20;
const GIB: i64 = 1 << 30;
const MEMORY: [i64; 6] = [8 * MIB, 64 * MIB, 128 * MIB, 256 * MIB, GIB, 4 * GIB];
const CAPS: [&str; 5] = [
    "CAP_CHOWN",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_ADMIN",
];
const RLIMIT_NAMES: [&str; 4] = ["RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_AS"];

/// The samples are names of the one table the validation reads.
#[test]
fn the_samples_are_linux_names() {
    for name in CAPS {
        assert!(policy_model::capability_number(name).is_some(), "{name}");
    }
    for name in RLIMIT_NAMES {
        assert!(policy_model::rlimit_number(name).is_some(), "{name}");
    }
}
const RLIMIT_VALUES: [u64; 6] = [0, 64, 1024, 4096, 524_288, u64::MAX];
const BLOCK_DEVICES: [(i64, i64); 2] = [(8, 0), (8, 16)];
const RATES: [u64; 5] = [0, 1000, 1_000_000, 10_000_000, 1 << 40];
const FIELD_CLASSES: usize = 30;

/// An OCI limit as a comparable number: `None` and negatives unlimited.
fn level(value: Option<i64>) -> i128 {
    match value {
        Some(v) if v >= 0 => i128::from(v),
        _ => i128::MAX,
    }
}

/// A signed limit (`-1` unlimited) moved in `mode`'s direction.
fn limit_op(rng: &mut Rng, value: &mut Option<i64>, pool: &[i64], mode: Mode) {
    let current = level(*value);
    match mode {
        Mode::Fresh => {
            *value = match rng.below(6) {
                0 => None,
                1 => Some(-1),
                _ => Some(rng.pick(pool)),
            }
        }
        Mode::Tighten => {
            let lower: Vec<i64> = pool
                .iter()
                .copied()
                .filter(|v| i128::from(*v) < current)
                .collect();
            if !lower.is_empty() {
                *value = Some(rng.pick(&lower));
            }
        }
        Mode::Loosen => {
            let mut higher: Vec<Option<i64>> = pool
                .iter()
                .copied()
                .filter(|v| i128::from(*v) > current)
                .map(Some)
                .collect();
            if current != i128::MAX {
                higher.extend([None, Some(-1)]);
            }
            if !higher.is_empty() {
                *value = rng.pick(&higher);
            }
        }
    }
}

/// An unsigned value whose absence means `default`.
fn unsigned_op(rng: &mut Rng, value: &mut Option<u64>, pool: &[u64], default: u64, mode: Mode) {
    let current = value.unwrap_or(default);
    match mode {
        Mode::Fresh => {
            *value = if rng.chance(25) {
                None
            } else {
                Some(rng.pick(pool))
            }
        }
        Mode::Tighten | Mode::Loosen => {
            let moved: Vec<u64> = pool
                .iter()
                .copied()
                .filter(|v| {
                    if mode == Mode::Tighten {
                        *v < current
                    } else {
                        *v > current
                    }
                })
                .collect();
            if !moved.is_empty() {
                *value = Some(rng.pick(&moved));
            } else if mode == Mode::Loosen || rng.chance(30) {
                *value = None;
            }
        }
    }
}

fn weight_op(rng: &mut Rng, value: &mut Option<u16>, mode: Mode) {
    const WEIGHTS: [u16; 5] = [10, 100, 300, 500, 1000];
    match (mode, *value) {
        (Mode::Fresh, _) | (Mode::Tighten, None) => {
            *value = if rng.chance(40) {
                None
            } else {
                Some(rng.pick(&WEIGHTS))
            }
        }
        (Mode::Tighten, Some(current)) => {
            let lower: Vec<u16> = WEIGHTS.iter().copied().filter(|w| *w < current).collect();
            if !lower.is_empty() {
                *value = Some(rng.pick(&lower));
            }
        }
        (Mode::Loosen, Some(current)) => {
            let mut higher: Vec<Option<u16>> = WEIGHTS
                .iter()
                .copied()
                .filter(|w| *w > current)
                .map(Some)
                .collect();
            higher.push(None);
            *value = rng.pick(&higher);
        }
        (Mode::Loosen, None) => *value = Some(rng.pick(&WEIGHTS)),
    }
}

/// A set: a random subset, one element fewer, or one more.
fn set_op<T: Clone + PartialEq>(rng: &mut Rng, set: &mut Vec<T>, universe: &[T], mode: Mode) {
    match mode {
        Mode::Fresh => *set = rng.subset(universe, 40),
        Mode::Tighten => {
            if !set.is_empty() {
                let index = rng.below(set.len());
                set.remove(index);
            }
        }
        Mode::Loosen => {
            let missing: Vec<T> = universe
                .iter()
                .filter(|item| !set.contains(item))
                .cloned()
                .collect();
            if !missing.is_empty() {
                set.push(rng.pick(&missing));
            }
        }
    }
}

fn device_rule(rng: &mut Rng) -> DeviceRule {
    let (kind, major, minor) = rng.pick(&[
        (Some(DeviceType::Char), Some(1), Some(3)),
        (Some(DeviceType::Char), Some(1), Some(5)),
        (Some(DeviceType::Char), Some(1), Some(8)),
        (Some(DeviceType::Char), Some(136), None),
        (Some(DeviceType::Char), Some(1), None),
        (Some(DeviceType::Block), Some(8), Some(0)),
        (Some(DeviceType::All), None, None),
        (None, None, None),
    ]);
    let access = match rng.below(8) {
        0 => None,
        _ => Some(
            rng.pick(&["r", "w", "m", "rw", "rm", "wm", "rwm"])
                .to_string(),
        ),
    };
    DeviceRule {
        allow: rng.chance(55),
        kind,
        major,
        minor,
        access,
    }
}

fn devices_fresh(rng: &mut Rng) -> Vec<DeviceRule> {
    let mut rules = Vec::new();
    if rng.chance(70) {
        rules.push(DeviceRule::deny_all());
    }
    for _ in 0..rng.below(5) {
        rules.push(device_rule(rng));
    }
    rules
}

fn unified_entry(rng: &mut Rng) -> (String, String) {
    let key = rng.pick(&[
        "memory.high",
        "memory.high",
        "memory.min",
        "memory.swap.high",
        "memory.oom.group",
        "hugetlb.2MB.rsvd.max",
        "pids.max",
        "cpu.max",
        "memory.max",
        "io.latency",
        "memory.zswap.writeback",
    ]);
    let value = match key {
        "memory.oom.group" => rng.pick(&["0", "1"]).to_string(),
        "cpu.max" => rng.pick(&["max 100000", "50000 100000"]).to_string(),
        "pids.max" => rng.pick(&["max", "16", "100"]).to_string(),
        "hugetlb.2MB.rsvd.max" => rng.pick(&["max", "0", "2097152", "1G"]).to_string(),
        "io.latency" | "memory.zswap.writeback" => "1".to_string(),
        _ => rng
            .pick(&["max", "0", "64M", "100000000", "256M", "1G", "4194304"])
            .to_string(),
    };
    (key.to_string(), value)
}

fn resources(decision: &mut Decision) -> &mut Resources {
    decision.resources.get_or_insert_with(Resources::default)
}

fn memory(decision: &mut Decision) -> &mut Memory {
    resources(decision)
        .memory
        .get_or_insert_with(Memory::default)
}

fn cpu(decision: &mut Decision) -> &mut Cpu {
    resources(decision).cpu.get_or_insert_with(Cpu::default)
}

fn block_io(decision: &mut Decision) -> &mut BlockIo {
    resources(decision)
        .block_io
        .get_or_insert_with(BlockIo::default)
}

fn process(decision: &mut Decision) -> &mut Process {
    decision.process.get_or_insert_with(Process::default)
}

fn capabilities(decision: &mut Decision) -> &mut Capabilities {
    process(decision)
        .capabilities
        .get_or_insert_with(Capabilities::default)
}

fn creates(decision: &Decision, kind: NamespaceType) -> bool {
    decision
        .namespaces
        .iter()
        .any(|ns| ns.kind == kind && ns.path.is_none())
}

/// Applies one change to one field class.
fn field_op(rng: &mut Rng, d: &mut Decision, class: usize, mode: Mode) {
    match class {
        0 => {
            let namespace = |rng: &mut Rng, kind: NamespaceType| Namespace {
                kind,
                path: (kind != NamespaceType::User && rng.chance(15))
                    .then(|| format!("/proc/1/ns/{}", kind.proc_name())),
            };
            match mode {
                Mode::Fresh => {
                    d.namespaces.clear();
                    for kind in NamespaceType::ALL {
                        if rng.chance(50) {
                            let ns = namespace(rng, kind);
                            d.namespaces.push(ns);
                        }
                    }
                }
                Mode::Tighten => {
                    let kind = rng.pick(&NamespaceType::ALL);
                    if !d.namespaces.iter().any(|ns| ns.kind == kind) {
                        d.namespaces.push(Namespace { kind, path: None });
                    }
                }
                Mode::Loosen => {
                    if !d.namespaces.is_empty() && rng.chance(60) {
                        let index = rng.below(d.namespaces.len());
                        d.namespaces.remove(index);
                    } else {
                        let kind = rng.pick(&NamespaceType::ALL[1..]);
                        d.namespaces.retain(|ns| ns.kind != kind);
                        d.namespaces.push(Namespace {
                            kind,
                            path: Some(format!("/proc/1/ns/{}", kind.proc_name())),
                        });
                    }
                }
            }
        }
        1 => {
            let names = [None, Some("box".to_string()), Some("alpha".to_string())];
            if mode == Mode::Tighten && d.hostname.is_some() {
                return;
            }
            d.hostname = rng.pick(&names);
            if rng.chance(40) {
                d.domainname = rng.pick(&names);
            }
        }
        2 => {
            d.cgroups_path = match (mode, d.cgroups_path.as_deref()) {
                (Mode::Tighten, Some(path)) => Some(format!("{path}/{}", rng.pick(&["b", "c"]))),
                (Mode::Loosen, _) => rng.pick(&[None, Some("other".to_string())]),
                _ => rng.pick(&[
                    None,
                    Some("a".to_string()),
                    Some("a/b".to_string()),
                    Some("other".to_string()),
                ]),
            }
        }
        3 => limit_op(rng, &mut memory(d).limit, &MEMORY, mode),
        4 => limit_op(rng, &mut memory(d).reservation, &MEMORY, mode),
        5 => limit_op(rng, &mut memory(d).swap, &MEMORY, mode),
        6 => {
            let memory = memory(d);
            match rng.below(5) {
                0 => unsigned_op(
                    rng,
                    &mut memory.swappiness,
                    &[0, 10, 60, 100],
                    60,
                    Mode::Fresh,
                ),
                1 => {
                    memory.disable_oom_killer = match mode {
                        Mode::Tighten => Some(false),
                        Mode::Loosen => Some(true),
                        Mode::Fresh => rng.pick(&[None, Some(false), Some(true)]),
                    }
                }
                2 => memory.use_hierarchy = rng.pick(&[None, Some(false), Some(true)]),
                3 => memory.check_before_update = rng.pick(&[None, Some(true)]),
                _ => {
                    if rng.chance(20) {
                        limit_op(rng, &mut memory.kernel, &MEMORY, mode);
                    } else {
                        memory.kernel = None;
                    }
                }
            }
        }
        7 => unsigned_op(
            rng,
            &mut cpu(d).shares,
            &[2, 100, 512, 1024, 2048, 262_144],
            1024,
            mode,
        ),
        8 => {
            let cpu = cpu(d);
            if rng.chance(70) {
                limit_op(
                    rng,
                    &mut cpu.quota,
                    &[1000, 25_000, 50_000, 100_000, 400_000],
                    mode,
                );
            } else {
                // A longer period is less bandwidth for the same quota.
                let flipped = match mode {
                    Mode::Tighten => Mode::Loosen,
                    Mode::Loosen => Mode::Tighten,
                    Mode::Fresh => Mode::Fresh,
                };
                unsigned_op(
                    rng,
                    &mut cpu.period,
                    &[1000, 50_000, 100_000, 1_000_000],
                    100_000,
                    flipped,
                );
            }
        }
        9 => unsigned_op(rng, &mut cpu(d).burst, &[0, 1000, 20_000, 50_000], 0, mode),
        10 => {
            let cpu = cpu(d);
            if rng.chance(70) {
                limit_op(
                    rng,
                    &mut cpu.realtime_runtime,
                    &[0, 10_000, 50_000, 950_000],
                    mode,
                );
            } else {
                cpu.realtime_period = rng.pick(&[None, Some(100_000), Some(1_000_000)]);
            }
        }
        11 => {
            let lists = |rng: &mut Rng, field: &mut Option<String>, universe: &[u32]| {
                let mut ids: Vec<u32> = field
                    .as_deref()
                    .and_then(parse_cpu_list)
                    .unwrap_or_else(|| universe.to_vec());
                set_op(rng, &mut ids, universe, mode);
                *field = if mode != Mode::Tighten && rng.chance(30) {
                    None
                } else if ids.is_empty() {
                    Some(universe[0].to_string())
                } else {
                    ids.sort_unstable();
                    Some(ids.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
                };
            };
            let cpu = cpu(d);
            if rng.chance(70) {
                lists(rng, &mut cpu.cpus, &[0, 1, 2, 3]);
            } else {
                lists(rng, &mut cpu.mems, &[0, 1]);
            }
        }
        12 => cpu(d).idle = rng.pick(&[None, Some(0), Some(1)]),
        13 => {
            let pids = &mut resources(d).pids;
            let mut value = pids.map(|p| p.limit);
            limit_op(rng, &mut value, &[1, 16, 64, 1024], mode);
            *pids = value.map(|limit| Pids { limit });
        }
        14 => {
            let io = block_io(d);
            if rng.chance(70) {
                weight_op(rng, &mut io.weight, mode);
            } else {
                weight_op(rng, &mut io.leaf_weight, mode);
            }
        }
        15 => {
            let io = block_io(d);
            let (major, minor) = rng.pick(&BLOCK_DEVICES);
            let index = io
                .weight_device
                .iter()
                .position(|w| (w.major, w.minor) == (major, minor));
            match (mode, index) {
                (Mode::Loosen, Some(index)) if rng.chance(40) => {
                    io.weight_device.remove(index);
                }
                (_, Some(index)) => {
                    let entry = &mut io.weight_device[index];
                    if rng.chance(70) {
                        weight_op(rng, &mut entry.weight, mode);
                    } else {
                        weight_op(rng, &mut entry.leaf_weight, mode);
                    }
                }
                (_, None) => {
                    let mut entry = WeightDevice {
                        major,
                        minor,
                        weight: None,
                        leaf_weight: None,
                    };
                    weight_op(rng, &mut entry.weight, Mode::Fresh);
                    if rng.chance(30) {
                        weight_op(rng, &mut entry.leaf_weight, Mode::Fresh);
                    }
                    io.weight_device.push(entry);
                }
            }
        }
        16 => {
            let io = block_io(d);
            let list = match rng.below(4) {
                0 => &mut io.throttle_read_bps_device,
                1 => &mut io.throttle_write_bps_device,
                2 => &mut io.throttle_read_iops_device,
                _ => &mut io.throttle_write_iops_device,
            };
            let (major, minor) = rng.pick(&BLOCK_DEVICES);
            let index = list
                .iter()
                .position(|t| (t.major, t.minor) == (major, minor));
            match (mode, index) {
                (Mode::Loosen, Some(index)) if rng.chance(50) => {
                    list.remove(index);
                }
                (_, Some(index)) => {
                    let current = list[index].rate;
                    let moved: Vec<u64> = RATES
                        .iter()
                        .copied()
                        .filter(|r| match mode {
                            Mode::Tighten => *r < current,
                            Mode::Loosen => *r > current,
                            Mode::Fresh => true,
                        })
                        .collect();
                    if !moved.is_empty() {
                        list[index].rate = rng.pick(&moved);
                    }
                }
                (Mode::Loosen, None) => {}
                (_, None) => list.push(ThrottleDevice {
                    major,
                    minor,
                    rate: rng.pick(&RATES),
                }),
            }
        }
        17 => {
            let (size, page) = rng.pick(&[("2MB", 2 * MIB as u64), ("1GB", GIB as u64)]);
            let limits = &mut resources(d).hugepage_limits;
            let index = limits.iter().position(|l| l.page_size == size);
            let pages: [u64; 4] = [0, 1, 2, 512];
            match (mode, index) {
                (Mode::Loosen, Some(index)) if rng.chance(50) => {
                    limits.remove(index);
                }
                (_, Some(index)) => {
                    let current = limits[index].limit;
                    let moved: Vec<u64> = pages
                        .iter()
                        .map(|p| p * page)
                        .filter(|v| match mode {
                            Mode::Tighten => *v < current,
                            Mode::Loosen => *v > current,
                            Mode::Fresh => true,
                        })
                        .collect();
                    if !moved.is_empty() {
                        limits[index].limit = rng.pick(&moved);
                    }
                }
                (Mode::Loosen, None) => {}
                (_, None) => limits.push(HugepageLimit {
                    page_size: size.to_string(),
                    limit: rng.pick(&pages) * page,
                }),
            }
        }
        18 => {
            let network = resources(d).network.get_or_insert_with(Network::default);
            if rng.chance(50) {
                network.class_id = rng.pick(&[None, Some(7), Some(0x10_0001)]);
            } else {
                let name = rng.pick(&["eth0", "lo"]);
                network.priorities.retain(|p| p.name != name);
                if rng.chance(70) {
                    network.priorities.push(InterfacePriority {
                        name: name.to_string(),
                        priority: rng.pick(&[0, 1, 5]),
                    });
                }
            }
        }
        19 => {
            let unified = &mut resources(d).unified;
            match mode {
                Mode::Fresh => {
                    unified.clear();
                    for _ in 0..rng.below(3) {
                        let (key, value) = unified_entry(rng);
                        unified.insert(key, value);
                    }
                }
                Mode::Tighten => {
                    let (key, value) = unified_entry(rng);
                    let bytes = key.starts_with("memory.high") || key.ends_with("rsvd.max");
                    let new_tag = key == "memory.oom.group" && !unified.contains_key(&key);
                    if bytes || new_tag {
                        unified.insert(key, value);
                    }
                }
                Mode::Loosen => {
                    if !unified.is_empty() && rng.chance(40) {
                        let key = rng.pick(&unified.keys().cloned().collect::<Vec<_>>());
                        unified.remove(&key);
                    } else {
                        let (key, value) = unified_entry(rng);
                        unified.insert(key, value);
                    }
                }
            }
        }
        20 => {
            let devices = &mut resources(d).devices;
            match mode {
                Mode::Fresh => *devices = devices_fresh(rng),
                Mode::Tighten => {
                    let mut rule = device_rule(rng);
                    if rng.chance(70) {
                        rule.allow = false;
                        devices.push(rule);
                    } else if let Some(index) = devices.iter().rposition(|r| r.allow) {
                        devices.remove(index);
                    } else {
                        devices.push(DeviceRule::deny_all());
                    }
                }
                Mode::Loosen => {
                    if rng.chance(20) {
                        devices.clear();
                    } else {
                        let mut rule = device_rule(rng);
                        rule.allow = true;
                        devices.push(rule);
                    }
                }
            }
        }
        21 => {
            let user = process(d).user.get_or_insert_with(|| ProcessUser {
                uid: 1000,
                gid: 1000,
                ..ProcessUser::default()
            });
            match (mode, rng.below(3)) {
                (Mode::Fresh, _) | (Mode::Loosen, 0) => {
                    user.uid = rng.pick(&[0, 1000, 1001]);
                    user.gid = rng.pick(&[0, 1000, 1001]);
                }
                (_, 1) => set_op(rng, &mut user.additional_gids, &[10, 20, 30], mode),
                (Mode::Tighten, 0) => {}
                _ => {
                    let masks = [None, Some(0), Some(0o002), Some(0o022), Some(0o077)];
                    user.umask = match mode {
                        Mode::Tighten => Some(user.umask.unwrap_or(0) | rng.pick(&[0o002, 0o077])),
                        _ => rng.pick(&masks),
                    };
                }
            }
            if mode == Mode::Fresh {
                user.additional_gids = rng.subset(&[10, 20, 30], 30);
                user.umask = rng.pick(&[None, Some(0o022)]);
            }
        }
        22 => {
            let names: Vec<String> = CAPS.iter().map(|c| c.to_string()).collect();
            let caps = capabilities(d);
            if mode == Mode::Fresh {
                let all = rng.subset(&names, 40);
                caps.bounding = all.clone();
                caps.permitted = rng.subset(&all, 80);
                caps.effective = rng.subset(&caps.permitted.clone(), 80);
                caps.inheritable = rng.subset(&all, 30);
                caps.ambient = rng.subset(&caps.inheritable.clone(), 50);
            } else {
                let set = match rng.below(5) {
                    0 => &mut caps.bounding,
                    1 => &mut caps.effective,
                    2 => &mut caps.permitted,
                    3 => &mut caps.inheritable,
                    _ => &mut caps.ambient,
                };
                set_op(rng, set, &names, mode);
            }
        }
        23 => {
            process(d).no_new_privileges = match mode {
                Mode::Tighten => Some(true),
                Mode::Loosen => Some(false),
                Mode::Fresh => rng.pick(&[None, Some(true), Some(false)]),
            }
        }
        24 => {
            let rlimits = &mut process(d).rlimits;
            let kind = rng.pick(&RLIMIT_NAMES).to_string();
            let index = rlimits.iter().position(|r| r.kind == kind);
            match (mode, index) {
                (Mode::Loosen, Some(index)) if rng.chance(40) => {
                    rlimits.remove(index);
                }
                (_, Some(index)) => {
                    let rlimit = &mut rlimits[index];
                    let (soft, hard) = (rlimit.soft, rlimit.hard);
                    let moved = |current: u64, rng: &mut Rng| {
                        let values: Vec<u64> = RLIMIT_VALUES
                            .iter()
                            .copied()
                            .filter(|v| match mode {
                                Mode::Tighten => *v <= current,
                                Mode::Loosen => *v >= current,
                                Mode::Fresh => true,
                            })
                            .collect();
                        rng.pick(&values)
                    };
                    rlimit.hard = moved(hard, rng);
                    rlimit.soft = moved(soft, rng).min(rlimit.hard);
                }
                (_, None) => {
                    let hard = rng.pick(&RLIMIT_VALUES);
                    let soft = rng.pick(&RLIMIT_VALUES).min(hard);
                    rlimits.push(Rlimit { kind, hard, soft });
                }
            }
        }
        26 => confinement::filesystem_op(rng, d, mode),
        27 => confinement::seccomp_op(rng, d, mode),
        28 => confinement::private_op(rng, d, mode),
        29 => network::network_op(rng, d, mode),
        _ => {
            let process = process(d);
            process.cwd = rng.pick(&[None, Some("/".to_string()), Some("/tmp".to_string())]);
            process.env = rng.subset(&["A=1".to_string(), "PATH=/bin".to_string()], 40);
        }
    }
}

/// A random decision: each field class set with some probability.
fn generate(rng: &mut Rng) -> Decision {
    let mut decision = Decision::allow();
    for class in 0..FIELD_CLASSES {
        if rng.chance(45) {
            field_op(rng, &mut decision, class, Mode::Fresh);
        }
    }
    if rng.chance(10) {
        decision.process = None;
    }
    if rng.chance(5) {
        decision.resources = None;
    }
    fit_layout(&mut decision, rng.below(4));
    repair(rng, &mut decision);
    decision
}

/// Drops what one layout cannot apply (profile 1: v1, 2: v2, 3: hybrid;
/// 0: nothing), so most decisions plan somewhere; mutations may bring
/// such fields back.
fn fit_layout(d: &mut Decision, profile: usize) {
    let Some(resources) = d.resources.as_mut() else {
        return;
    };
    if profile == 0 {
        return;
    }
    if let Some(memory) = resources.memory.as_mut() {
        memory.kernel = None;
        memory.kernel_tcp = None;
    }
    match profile {
        1 => resources.unified.clear(),
        2 => {
            resources.network = None;
            resources.unified.retain(|key, _| !key.starts_with("io."));
            if let Some(memory) = resources.memory.as_mut() {
                memory.swappiness = None;
                memory.use_hierarchy = None;
                memory.disable_oom_killer = None;
                if level(memory.limit) == i128::MAX {
                    memory.swap = None;
                }
            }
            if let Some(cpu) = resources.cpu.as_mut() {
                cpu.realtime_runtime = None;
                cpu.realtime_period = None;
            }
            if let Some(io) = resources.block_io.as_mut() {
                io.leaf_weight = None;
            }
        }
        _ => {
            resources.network = None;
            resources
                .unified
                .retain(|key, _| key.starts_with("hugetlb."));
        }
    }
}

/// `a` changed in one to three field classes, mostly towards tighter.
fn mutate(rng: &mut Rng, a: &Decision) -> Decision {
    let mut b = a.clone();
    if rng.chance(5) {
        return b;
    }
    for _ in 0..1 + rng.below(3) {
        let mode = match rng.below(10) {
            0..=5 => Mode::Tighten,
            6..=7 => Mode::Loosen,
            _ => Mode::Fresh,
        };
        let class = rng.below(FIELD_CLASSES);
        field_op(rng, &mut b, class, mode);
    }
    repair(rng, &mut b);
    b
}

/// Keeps the cross-field rules of validation, so few pairs are discarded.
fn repair(rng: &mut Rng, d: &mut Decision) {
    let mut seen = BTreeSet::new();
    d.namespaces.retain(|ns| seen.insert(ns.kind));
    if !creates(d, NamespaceType::Uts) {
        d.hostname = None;
        d.domainname = None;
    }
    if !creates(d, NamespaceType::User) {
        d.private_host_ids = false;
    }
    if d.private_host_ids {
        d.uid_mappings.clear();
        d.gid_mappings.clear();
    } else if creates(d, NamespaceType::User) {
        if d.uid_mappings.is_empty() || d.gid_mappings.is_empty() || rng.chance(3) {
            let host_id = rng.pick(&[100_000, 200_000]);
            let map = vec![IdMapping {
                container_id: 0,
                host_id,
                size: 65_536,
            }];
            d.uid_mappings = map.clone();
            d.gid_mappings = map;
        }
    } else {
        d.uid_mappings.clear();
        d.gid_mappings.clear();
    }
    confinement::repair(d);
    network::repair(d);
    if let Some(memory) = d.resources.as_mut().and_then(|r| r.memory.as_mut()) {
        if let (Some(limit), Some(reservation)) = (memory.limit, memory.reservation)
            && limit != -1
            && reservation != -1
            && reservation > limit
        {
            memory.reservation = Some(limit);
        }
        if let (Some(limit), Some(swap)) = (memory.limit, memory.swap)
            && swap != -1
            && (limit == -1 || swap < limit)
        {
            memory.swap = Some(if limit == -1 { -1 } else { limit });
        }
    }
    if let Some(cpu) = d.resources.as_mut().and_then(|r| r.cpu.as_mut()) {
        if let (Some(burst), Some(quota)) = (cpu.burst, cpu.quota)
            && (quota == -1 || burst > quota as u64)
        {
            cpu.burst = None;
        }
        if let (Some(runtime), Some(period)) = (cpu.realtime_runtime, cpu.realtime_period)
            && runtime != -1
            && runtime as u64 > period
        {
            cpu.realtime_runtime = Some(period as i64);
        }
    }
}

// ---------------------------------------------------------------- layouts

fn hierarchy(mount: PathBuf, controllers: &[&str], version: Version) -> Hierarchy {
    Hierarchy {
        mount_point: mount,
        root: PathBuf::from("/"),
        version,
        controllers: controllers.iter().map(|c| c.to_string()).collect(),
        enabled: if version == Version::V2 {
            controllers.iter().map(|c| c.to_string()).collect()
        } else {
            Vec::new()
        },
        name: None,
    }
}

fn kernel_controllers() -> Vec<KernelController> {
    [
        "cpuset",
        "cpu",
        "cpuacct",
        "blkio",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "perf_event",
        "net_prio",
        "hugetlb",
        "pids",
    ]
    .iter()
    .map(|name| KernelController {
        name: name.to_string(),
        hierarchy: 0,
        cgroups: 1,
        enabled: true,
    })
    .collect()
}

fn v1_hierarchies(base: &Path, groups: &[&[&str]]) -> Vec<Hierarchy> {
    groups
        .iter()
        .map(|controllers| hierarchy(base.join(controllers.join(",")), controllers, Version::V1))
        .collect()
}

/// The layouts every pair is planned on: name and layout. The plan reads
/// nothing from the filesystem, so the mount points need not exist.
fn layouts() -> Vec<(&'static str, CgroupLayout)> {
    let v1 = CgroupLayout {
        v1: v1_hierarchies(
            Path::new("/fake/v1"),
            &[
                &["cpu", "cpuacct"],
                &["cpuset"],
                &["memory"],
                &["pids"],
                &["devices"],
                &["blkio"],
                &["hugetlb"],
                &["net_cls"],
                &["net_prio"],
                &["freezer"],
            ],
        ),
        v2: None,
        kernel_controllers: kernel_controllers(),
        ..CgroupLayout::default()
    };
    let v2 = CgroupLayout {
        v1: Vec::new(),
        v2: Some(hierarchy(
            PathBuf::from("/fake/v2"),
            &["cpuset", "cpu", "io", "memory", "hugetlb", "pids"],
            Version::V2,
        )),
        kernel_controllers: kernel_controllers(),
        ..CgroupLayout::default()
    };
    let hybrid = CgroupLayout {
        v1: v1_hierarchies(
            Path::new("/fake/hybrid"),
            &[
                &["cpu", "cpuacct"],
                &["cpuset"],
                &["memory"],
                &["devices"],
                &["freezer"],
                &["blkio"],
                &["pids"],
            ],
        ),
        v2: Some(hierarchy(
            PathBuf::from("/fake/hybrid/unified"),
            &["hugetlb"],
            Version::V2,
        )),
        kernel_controllers: kernel_controllers(),
        ..CgroupLayout::default()
    };
    vec![("v1", v1), ("v2", v2), ("hybrid", hybrid)]
}

// ----------------------------------------------------------------- effect

/// A device of the small universe the permissions are compared on.
const UNIVERSE: [(DeviceType, i64, i64); 9] = [
    (DeviceType::Char, 1, 3),
    (DeviceType::Char, 1, 5),
    (DeviceType::Char, 1, 8),
    (DeviceType::Char, 1, 9),
    (DeviceType::Char, 136, 0),
    (DeviceType::Char, 136, 7),
    (DeviceType::Char, 10, 200),
    (DeviceType::Block, 8, 0),
    (DeviceType::Block, 8, 16),
];

/// Permission per (device index, access bit).
type Permissions = BTreeMap<(usize, char), bool>;

/// What one plan applies: the final text of each leaf file by hierarchy
/// (all writes in order), and the device permissions.
struct Effect {
    files: BTreeMap<PathBuf, BTreeMap<String, Vec<String>>>,
    devices: Permissions,
}

/// Independent OCI semantics: for each bit the last matching rule naming
/// it decides; no rule: allowed (a fresh cgroup).
fn oci_permissions(rules: &[DeviceRule]) -> Permissions {
    let matches = |rule: &DeviceRule, (kind, major, minor): (DeviceType, i64, i64)| {
        let kind_ok = match rule.kind.unwrap_or(DeviceType::All) {
            DeviceType::All => true,
            k => k == kind,
        };
        let number =
            |n: Option<i64>, actual: i64| matches!(n, None | Some(-1)) || n == Some(actual);
        kind_ok && number(rule.major, major) && number(rule.minor, minor)
    };
    let mut out = Permissions::new();
    for (index, device) in UNIVERSE.iter().enumerate() {
        for bit in ['r', 'w', 'm'] {
            let decided = rules.iter().rev().find(|rule| {
                matches(rule, *device) && rule.access.as_deref().unwrap_or("rwm").contains(bit)
            });
            out.insert((index, bit), decided.is_none_or(|rule| rule.allow));
        }
    }
    out
}

/// A model of the v1 devices controller (security/device_cgroup.c): a
/// default and exceptions; an entry of the default's kind removes bits
/// from the exception with exactly the same target, one of the other
/// kind adds (merging bits into an exception with the same target).
fn v1_permissions(writes: &[(bool, String)]) -> Result<Permissions, String> {
    #[derive(Clone, PartialEq)]
    struct Target {
        kind: char,
        major: Option<i64>,
        minor: Option<i64>,
    }
    let mut default_allow = true;
    let mut exceptions: Vec<(Target, BTreeSet<char>)> = Vec::new();
    for (allow, entry) in writes {
        if entry == "a" {
            default_allow = *allow;
            exceptions.clear();
            continue;
        }
        let parts: Vec<&str> = entry.split(' ').collect();
        let [kind, numbers, access] = parts[..] else {
            return Err(format!("unparseable devices entry {entry:?}"));
        };
        let (major, minor) = numbers
            .split_once(':')
            .ok_or_else(|| format!("unparseable devices entry {entry:?}"))?;
        let number = |n: &str| -> Result<Option<i64>, String> {
            if n == "*" {
                Ok(None)
            } else {
                n.parse()
                    .map(Some)
                    .map_err(|_| format!("unparseable devices entry {entry:?}"))
            }
        };
        let target = Target {
            kind: kind.chars().next().unwrap_or('?'),
            major: number(major)?,
            minor: number(minor)?,
        };
        if !matches!(target.kind, 'a' | 'b' | 'c') {
            return Err(format!("unparseable devices entry {entry:?}"));
        }
        let bits: BTreeSet<char> = access.chars().collect();
        let position = exceptions.iter().position(|(t, _)| *t == target);
        if *allow == default_allow {
            if let Some(index) = position {
                exceptions[index].1.retain(|bit| !bits.contains(bit));
                if exceptions[index].1.is_empty() {
                    exceptions.remove(index);
                }
            }
        } else {
            match position {
                Some(index) => exceptions[index].1.extend(bits),
                None => exceptions.push((target, bits)),
            }
        }
    }
    let mut out = Permissions::new();
    for (index, (kind, major, minor)) in UNIVERSE.iter().enumerate() {
        for bit in ['r', 'w', 'm'] {
            let excepted = exceptions.iter().any(|(t, bits)| {
                (t.kind == 'a' || t.kind == kind.letter())
                    && t.major.is_none_or(|m| m == *major)
                    && t.minor.is_none_or(|m| m == *minor)
                    && bits.contains(&bit)
            });
            out.insert((index, bit), default_allow != excepted);
        }
    }
    Ok(out)
}

/// The effect of `plan` for a decision at `cgroups_path`; `fallback`
/// picks the kernel that lacks each primary file with a fallback.
fn effect(
    plan: &CgroupPlan,
    layout: &CgroupLayout,
    cgroups_path: &str,
    rules: &[DeviceRule],
    fallback: bool,
) -> Result<Effect, String> {
    let relative = Path::new(ROOT).join(cgroups_path);
    let depth = relative.components().count();
    let mut files: BTreeMap<PathBuf, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut device_writes = Vec::new();
    for write in &plan.writes {
        let (file, value) = match (&write.fallback, fallback) {
            (Some(other), true) => (&other.file, Value::Literal(other.value.clone())),
            _ => (&write.file, write.value.clone()),
        };
        let parent = file.parent().ok_or("a file without a directory")?;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("a file without a name")?
            .to_string();
        let text = match value {
            Value::Literal(text) => text,
            Value::CopyFromParent => "<parent>".to_string(),
        };
        if !plan.leaves.iter().any(|leaf| leaf == parent) {
            // Levels above the leaf: only what grants nothing.
            let harmless = name == "cgroup.subtree_control"
                || ((name == "cpuset.cpus" || name == "cpuset.mems") && text == "<parent>");
            if !harmless {
                return Err(format!(
                    "writes {} = {text:?} above the leaf",
                    file.display()
                ));
            }
            continue;
        }
        let mount = parent
            .ancestors()
            .nth(depth)
            .ok_or("a leaf above its mount")?
            .to_path_buf();
        if name == "devices.allow" || name == "devices.deny" {
            device_writes.push((name == "devices.allow", text));
            continue;
        }
        files
            .entry(mount)
            .or_default()
            .entry(name)
            .or_default()
            .push(text);
    }
    let devices_on_v1 = layout
        .v1
        .iter()
        .any(|h| h.controllers.iter().any(|c| c == "devices"));
    let devices = match (&plan.device_program, devices_on_v1) {
        (Some(program), false) => {
            if program.rules != rules {
                return Err("the device program's rules are not the decision's".into());
            }
            oci_permissions(&program.rules)
        }
        (Some(_), true) => return Err("a device program on a v1 devices host".into()),
        (None, true) => v1_permissions(&device_writes)?,
        (None, false) => {
            if !device_writes.is_empty() {
                return Err("v1 device writes without a v1 devices hierarchy".into());
            }
            oci_permissions(&[])
        }
    };
    // The plan must apply exactly the decision's device rules.
    if devices != oci_permissions(rules) {
        return Err(format!(
            "device permissions applied differ from the rules' OCI meaning: {}",
            describe_permissions(&devices, &oci_permissions(rules))
        ));
    }
    Ok(Effect { files, devices })
}

fn describe_permissions(got: &Permissions, want: &Permissions) -> String {
    got.iter()
        .filter(|(key, allowed)| want.get(key) != Some(allowed))
        .map(|((device, bit), allowed)| {
            let (kind, major, minor) = UNIVERSE[*device];
            format!(
                "{} {major}:{minor} {bit}: {}",
                kind.letter(),
                if *allowed { "allowed" } else { "denied" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Files (and device mechanisms) a default run must have compared: a
/// guard against a generator that silently stops covering a field.
const EXERCISED: [&str; 44] = [
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "memory.swappiness",
    "memory.oom_control",
    "memory.use_hierarchy",
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "memory.high",
    "memory.min",
    "memory.oom.group",
    "cpu.shares",
    "cpu.cfs_quota_us",
    "cpu.cfs_period_us",
    "cpu.cfs_burst_us",
    "cpu.rt_runtime_us",
    "cpu.rt_period_us",
    "cpu.idle",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "blkio.weight",
    "blkio.leaf_weight",
    "blkio.weight_device",
    "blkio.bfq.weight",
    "blkio.throttle.read_bps_device",
    "blkio.throttle.write_bps_device",
    "blkio.throttle.read_iops_device",
    "blkio.throttle.write_iops_device",
    "io.weight",
    "io.bfq.weight",
    "io.max",
    "hugetlb.2MB.limit_in_bytes",
    "hugetlb.1GB.max",
    "hugetlb.2MB.rsvd.max",
    "net_cls.classid",
    "net_prio.ifpriomap",
    "devices.allow/deny",
    "devices eBPF program",
    "hugetlb.1GB.rsvd.limit_in_bytes",
];

// ------------------------------------------------------------- comparators

/// How a file's effective value compares.
#[derive(Debug, Clone, Copy)]
enum Class {
    /// One number (or `max`/`-1`), lower is tighter; the fresh value.
    Limit(Limit),
    /// A cpuset list; a subset is tighter; fresh: every CPU/node.
    Set,
    /// `cpu.max`: "quota period", as a ratio.
    CpuMax,
    /// `io.max`: per device and key.
    IoMax,
    /// `blkio.throttle.*`: "maj:min rate" per device, unthrottled fresh.
    Throttle,
    /// `io.weight` / `io.bfq.weight`: "default N" and "maj:min N".
    IoWeight,
    /// Grants nothing.
    Nothing,
    /// Compared together with another file (v1 cfs, rt, blkio weights).
    Grouped,
}

fn classify(name: &str) -> Option<Class> {
    use Class::*;
    let class = match name {
        "memory.limit_in_bytes"
        | "memory.memsw.limit_in_bytes"
        | "memory.max"
        | "memory.swap.max"
        | "memory.high"
        | "memory.swap.high"
        | "memory.zswap.max"
        | "pids.max" => Limit(policy_model::Limit::Unlimited),
        // Protection: more is looser; a fresh cgroup has none.
        "memory.soft_limit_in_bytes" | "memory.low" | "memory.min" => {
            Limit(policy_model::Limit::At(0))
        }
        "memory.oom_control" => Limit(policy_model::Limit::At(0)),
        "cpu.shares" => Limit(policy_model::Limit::At(1024)),
        "cpu.weight" => Limit(policy_model::Limit::At(100)),
        "cpu.cfs_burst_us" | "cpu.max.burst" => Limit(policy_model::Limit::At(0)),
        "cpuset.cpus" | "cpuset.mems" => Set,
        "cpu.max" => CpuMax,
        "io.max" => IoMax,
        "io.weight" | "io.bfq.weight" => IoWeight,
        "blkio.throttle.read_bps_device"
        | "blkio.throttle.write_bps_device"
        | "blkio.throttle.read_iops_device"
        | "blkio.throttle.write_iops_device" => Throttle,
        "cpu.cfs_quota_us"
        | "cpu.cfs_period_us"
        | "cpu.rt_runtime_us"
        | "cpu.rt_period_us"
        | "blkio.weight"
        | "blkio.weight_device"
        | "blkio.bfq.weight"
        | "blkio.bfq.weight_device"
        | "blkio.leaf_weight" => Grouped,
        "memory.swappiness"
        | "memory.use_hierarchy"
        | "memory.oom.group"
        | "net_cls.classid"
        | "net_prio.ifpriomap"
        | "cpu.idle" => Nothing,
        _ if name.starts_with("hugetlb.")
            && (name.ends_with(".limit_in_bytes") || name.ends_with(".max")) =>
        {
            Limit(policy_model::Limit::Unlimited)
        }
        _ => return None,
    };
    Some(class)
}

/// A written number as the kernel reads it: `max`, `-1`, or digits with an
/// optional K/M/G/T suffix.
fn parse_limit(text: &str) -> Result<Limit, String> {
    let text = text.trim();
    if text == "max" || text == "-1" {
        return Ok(Limit::Unlimited);
    }
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &text[digits.len()..] {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        other => return Err(format!("{text:?}: unknown suffix {other:?}")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    Ok(Limit::At(number << shift))
}

/// `runtime/period` as a comparable value: `None` is unlimited.
fn ratio(runtime: Limit, period: u64) -> Option<(u128, u128)> {
    runtime
        .value()
        .map(|r| (u128::from(r), u128::from(period.max(1))))
}

fn ratio_no_looser(a: Option<(u128, u128)>, b: Option<(u128, u128)>) -> bool {
    match (a, b) {
        (_, None) => a.is_none(),
        (None, Some(_)) => true,
        (Some((qa, pa)), Some((qb, pb))) => qb * pa <= qa * pb,
    }
}

type Files = BTreeMap<String, Vec<String>>;

fn last<'a>(files: &'a Files, name: &str) -> Option<&'a str> {
    files
        .get(name)
        .and_then(|values| values.last())
        .map(String::as_str)
}

fn limit_of(files: &Files, name: &str, fresh: Limit) -> Result<Limit, String> {
    last(files, name).map_or(Ok(fresh), parse_limit)
}

fn number_of(files: &Files, name: &str, fresh: u64) -> Result<u64, String> {
    match last(files, name) {
        None => Ok(fresh),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{name} = {text:?} is not a number")),
    }
}

/// Per-device weights: `key` ("default" or "maj:min") → weight, from
/// lines of "key weight"; `default_file` gives the "default" key alone.
fn weights(files: &Files, lines_file: &str, default_file: Option<&str>) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    if let Some(file) = default_file
        && let Some(value) = last(files, file)
    {
        map.insert(
            "default".to_string(),
            value.trim().parse().unwrap_or(u64::MAX),
        );
    }
    for line in files.get(lines_file).into_iter().flatten() {
        if let Some((key, value)) = line.split_once(' ') {
            map.insert(key.to_string(), value.trim().parse().unwrap_or(u64::MAX));
        }
    }
    map
}

/// Weights, where an unset weight is the kernel's default (unknown: CFQ
/// and BFQ differ), so only a set weight at or below a set weight is
/// surely no looser; a device without its own weight has the default one.
fn weights_no_looser(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> Result<(), String> {
    let effective = |map: &BTreeMap<String, u64>, key: &str| {
        map.get(key).or_else(|| map.get("default")).copied()
    };
    let mut keys: BTreeSet<String> = a.keys().chain(b.keys()).cloned().collect();
    keys.insert("default".into());
    for key in keys {
        match (effective(a, &key), effective(b, &key)) {
            (None, None) => {}
            (Some(before), Some(after)) if after <= before => {}
            (before, after) => {
                return Err(format!("weight of {key}: {before:?} -> {after:?}"));
            }
        }
    }
    Ok(())
}

/// "maj:min rate" lines (v1 throttles) or "maj:min k=v ..." (v2 io.max):
/// (device, key) → limit, later lines winning.
fn throttles(lines: &[String], v2: bool) -> Result<BTreeMap<(String, String), Limit>, String> {
    let mut map = BTreeMap::new();
    for line in lines {
        let mut parts = line.split_whitespace();
        let device = parts.next().ok_or("an empty throttle line")?.to_string();
        for part in parts {
            let (key, value) = if v2 {
                part.split_once('=')
                    .ok_or_else(|| format!("io.max {line:?}: no key=value"))?
            } else {
                ("rate", part)
            };
            map.insert((device.clone(), key.to_string()), parse_limit(value)?);
        }
    }
    Ok(map)
}

fn cpu_set(files: &Files, name: &str) -> Result<Option<BTreeSet<u32>>, String> {
    match last(files, name) {
        None | Some("<parent>") => Ok(None),
        Some(list) => parse_cpu_list(list)
            .map(|ids| Some(ids.into_iter().collect()))
            .ok_or_else(|| format!("{name} = {list:?} is not a cpu list")),
    }
}

/// Compares the files of one hierarchy: `b` must be no looser than `a`.
fn compare_files(a: &Files, b: &Files, unified: (&Resources, &Resources)) -> Result<(), String> {
    // v1 CFS bandwidth: quota/period as a ratio.
    let cfs = |files: &Files| -> Result<Option<(u128, u128)>, String> {
        Ok(ratio(
            limit_of(files, "cpu.cfs_quota_us", Limit::Unlimited)?,
            number_of(files, "cpu.cfs_period_us", 100_000)?,
        ))
    };
    if !ratio_no_looser(cfs(a)?, cfs(b)?) {
        return Err(format!(
            "cpu.cfs_quota_us/period: {:?} -> {:?}",
            cfs(a)?,
            cfs(b)?
        ));
    }
    // v1 realtime: a child cgroup starts with no realtime runtime.
    let rt = |files: &Files| -> Result<Option<(u128, u128)>, String> {
        Ok(ratio(
            limit_of(files, "cpu.rt_runtime_us", Limit::At(0))?,
            number_of(files, "cpu.rt_period_us", 1_000_000)?,
        ))
    };
    if !ratio_no_looser(rt(a)?, rt(b)?) {
        return Err(format!(
            "cpu.rt_runtime_us/period: {:?} -> {:?}",
            rt(a)?,
            rt(b)?
        ));
    }
    // v1 weights (the CFQ files, or BFQ's in the fallback world).
    for (default_file, lines_file) in [
        ("blkio.weight", "blkio.weight_device"),
        ("blkio.bfq.weight", "blkio.bfq.weight_device"),
    ] {
        weights_no_looser(
            &weights(a, lines_file, Some(default_file)),
            &weights(b, lines_file, Some(default_file)),
        )
        .map_err(|e| format!("{default_file}: {e}"))?;
    }
    weights_no_looser(
        &weights(a, "", Some("blkio.leaf_weight")),
        &weights(b, "", Some("blkio.leaf_weight")),
    )
    .map_err(|e| format!("blkio.leaf_weight: {e}"))?;
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        let Some(class) = classify(name) else {
            // A raw file no comparator knows: only the same writes from
            // the same unified key are no looser.
            let from_unified =
                unified.0.unified.contains_key(name) && unified.1.unified.contains_key(name);
            if from_unified && a.get(name) == b.get(name) {
                continue;
            }
            return Err(format!(
                "{name}: unclassified file ({:?} -> {:?}); give it a comparator in classify()",
                a.get(name),
                b.get(name)
            ));
        };
        match class {
            Class::Nothing | Class::Grouped => {}
            Class::Limit(fresh) => {
                let (before, after) = (limit_of(a, name, fresh)?, limit_of(b, name, fresh)?);
                if after > before {
                    return Err(format!("{name}: {before} -> {after}"));
                }
            }
            Class::Set => {
                let (before, after) = (cpu_set(a, name)?, cpu_set(b, name)?);
                let ok = match (&before, &after) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(before), Some(after)) => after.is_subset(before),
                };
                if !ok {
                    return Err(format!("{name}: {before:?} -> {after:?}"));
                }
            }
            Class::CpuMax => {
                let parse = |files: &Files| -> Result<Option<(u128, u128)>, String> {
                    let Some(text) = last(files, name) else {
                        return Ok(None);
                    };
                    let (quota, period) = text
                        .split_once(' ')
                        .ok_or_else(|| format!("cpu.max {text:?}"))?;
                    let period: u64 = period.parse().map_err(|_| format!("cpu.max {text:?}"))?;
                    Ok(ratio(parse_limit(quota)?, period))
                };
                if !ratio_no_looser(parse(a)?, parse(b)?) {
                    return Err(format!(
                        "cpu.max: {:?} -> {:?}",
                        last(a, name),
                        last(b, name)
                    ));
                }
            }
            Class::IoMax | Class::Throttle => {
                let v2 = matches!(class, Class::IoMax);
                let empty = Vec::new();
                let before = throttles(a.get(name).unwrap_or(&empty), v2)?;
                let after = throttles(b.get(name).unwrap_or(&empty), v2)?;
                for (key, limit) in &before {
                    let later = after.get(key).copied().unwrap_or(Limit::Unlimited);
                    if later > *limit {
                        return Err(format!("{name} {key:?}: {limit} -> {later}"));
                    }
                }
            }
            Class::IoWeight => {
                weights_no_looser(&weights(a, name, None), &weights(b, name, None))
                    .map_err(|e| format!("{name}: {e}"))?;
            }
        }
    }
    Ok(())
}

fn compare_effects(
    a: &Effect,
    b: &Effect,
    unified: (&Resources, &Resources),
) -> Result<(), String> {
    let empty = Files::new();
    let mounts: BTreeSet<&PathBuf> = a.files.keys().chain(b.files.keys()).collect();
    for mount in mounts {
        compare_files(
            a.files.get(mount).unwrap_or(&empty),
            b.files.get(mount).unwrap_or(&empty),
            unified,
        )
        .map_err(|e| format!("{}: {e}", mount.display()))?;
    }
    for (key, allowed) in &b.devices {
        if *allowed && a.devices.get(key) != Some(&true) {
            let (kind, major, minor) = UNIVERSE[key.0];
            return Err(format!(
                "devices: {} {major}:{minor} {} allowed for b, denied for a",
                kind.letter(),
                key.1
            ));
        }
    }
    Ok(())
}

fn compare_privileges(a: &NormalDecision, b: &NormalDecision) -> Result<(), String> {
    let pa = Privileges::from_normal(&a.process).map_err(|error| error.to_string())?;
    let pb = Privileges::from_normal(&b.process).map_err(|error| error.to_string())?;
    if (pa.user.0, pa.user.1) != (pb.user.0, pb.user.1) {
        return Err(format!("ids {:?} -> {:?}", pa.user, pb.user));
    }
    if !pb.user.2.iter().all(|g| pa.user.2.contains(g)) {
        return Err(format!("groups {:?} -> {:?}", pa.user.2, pb.user.2));
    }
    if let Some(before) = pa.umask
        && pb.umask.unwrap_or(0) & before != before
    {
        return Err(format!("umask {before:o} -> {:?}", pb.umask));
    }
    let (ca, cb) = (pa.capabilities, pb.capabilities);
    for (set, before, after) in [
        ("bounding", ca.bounding, cb.bounding),
        ("effective", ca.effective, cb.effective),
        ("permitted", ca.permitted, cb.permitted),
        ("inheritable", ca.inheritable, cb.inheritable),
        ("ambient", ca.ambient, cb.ambient),
    ] {
        if after & !before != 0 {
            return Err(format!("capabilities.{set}: {before:#x} -> {after:#x}"));
        }
    }
    if pa.no_new_privileges && !pb.no_new_privileges {
        return Err("noNewPrivileges turned off".into());
    }
    for (resource, soft, hard) in &pb.rlimits {
        let before = pa.rlimits.iter().find(|(r, _, _)| r == resource);
        let Some(&(_, soft_a, hard_a)) = before else {
            return Err(format!("rlimit {resource}: set by b only"));
        };
        if soft > &soft_a || hard > &hard_a {
            return Err(format!(
                "rlimit {resource}: {soft_a}/{hard_a} -> {soft}/{hard}"
            ));
        }
    }
    for (resource, _, _) in &pa.rlimits {
        if !pb.rlimits.iter().any(|(r, _, _)| r == resource) {
            return Err(format!("rlimit {resource} dropped"));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ driver

#[derive(Default, Debug)]
struct Counts {
    pairs: u64,
    discarded_a: u64,
    discarded_b: u64,
    accepted: u64,
    accepted_changed: u64,
    refused: BTreeMap<String, u64>,
    layout_compared: BTreeMap<&'static str, u64>,
    files_seen: BTreeSet<String>,
    layout_b_unplanned: u64,
    layout_skipped: u64,
    layout_neither: u64,
    /// Accepted pairs where `a` has a root, a seccomp filter, private ids.
    confined: [u64; 3],
}

fn normal_of(decision: &Decision) -> Result<NormalDecision, String> {
    let host = typical_host();
    let valid = validate(decision.clone(), &host, DEFAULT_CGROUP).map_err(|e| e.to_string())?;
    Ok(normalize(&valid, &Context::typical()))
}

fn round_trips(n: &NormalDecision) -> Result<(), String> {
    let again = normalize(&n.to_decision(), &Context::typical());
    if &again != n {
        return Err(format!(
            "normalize(to_decision(n)) != n: {}",
            serde_json::to_string(&again).unwrap_or_default()
        ));
    }
    check_tightens(n, n).map_err(|e| format!("check_tightens(n, n) refuses: {e}"))
}

/// One pair: `Ok` when the property holds.
fn check_pair(
    na: &NormalDecision,
    nb: &NormalDecision,
    layouts: &[(&'static str, CgroupLayout)],
    counts: &mut Counts,
) -> Result<(), String> {
    round_trips(na).map_err(|e| format!("a: {e}"))?;
    round_trips(nb).map_err(|e| format!("b: {e}"))?;
    if let Err(loosened) = check_tightens(na, nb) {
        *counts.refused.entry(loosened.field.clone()).or_default() += 1;
        return Ok(());
    }
    counts.accepted += 1;
    if na != nb {
        counts.accepted_changed += 1;
    }
    compare_privileges(na, nb).map_err(|e| format!("privileges: {e}"))?;
    confinement::compare(na, nb).map_err(|e| format!("confinement: {e}"))?;
    network::compare(na, nb).map_err(|e| format!("network: {e}"))?;
    for (count, present) in counts.confined.iter_mut().zip([
        na.filesystem.root.is_some(),
        na.seccomp.is_some(),
        na.private_host_ids,
    ]) {
        *count += u64::from(present);
    }
    for (name, layout) in layouts {
        let pa = plan(&na.resources, layout, ROOT, &na.cgroups_path);
        let pb = plan(&nb.resources, layout, ROOT, &nb.cgroups_path);
        let (pa, pb) = match (pa, pb) {
            (Ok(pa), Ok(pb)) => (pa, pb),
            (Ok(_), Err(_)) => {
                counts.layout_b_unplanned += 1;
                continue;
            }
            (Err(_), Ok(_)) => {
                counts.layout_skipped += 1;
                continue;
            }
            (Err(_), Err(_)) => {
                counts.layout_neither += 1;
                continue;
            }
        };
        *counts.layout_compared.entry(name).or_default() += 1;
        for fallback in [false, true] {
            let world = if fallback { " (fallback files)" } else { "" };
            let ea = effect(
                &pa,
                layout,
                &na.cgroups_path,
                &na.resources.devices,
                fallback,
            )
            .map_err(|e| format!("{name}{world}: plan of a: {e}"))?;
            let eb = effect(
                &pb,
                layout,
                &nb.cgroups_path,
                &nb.resources.devices,
                fallback,
            )
            .map_err(|e| format!("{name}{world}: plan of b: {e}"))?;
            for effect in [&ea, &eb] {
                counts.files_seen.extend(
                    effect
                        .files
                        .values()
                        .flat_map(|files| files.keys().cloned()),
                );
                if effect.devices.values().any(|allowed| !allowed) {
                    let on_v1 = layout
                        .v1
                        .iter()
                        .any(|h| h.controllers.iter().any(|c| c == "devices"));
                    counts.files_seen.insert(
                        if on_v1 {
                            "devices.allow/deny"
                        } else {
                            "devices eBPF program"
                        }
                        .to_string(),
                    );
                }
            }
            compare_effects(&ea, &eb, (&na.resources.to_oci(), &nb.resources.to_oci()))
                .map_err(|e| format!("{name}{world}: b looser than a: {e}"))?;
        }
    }
    Ok(())
}

#[test]
fn an_accepted_tightening_applies_nothing_looser() {
    let seed = std::env::var("ENFORCER_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_SEED);
    let cases = std::env::var("ENFORCER_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_CASES);
    let layouts = layouts();
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    for case in 0..cases {
        let mut rng = Rng(seed ^ case.wrapping_mul(0xa076_1d64_78bd_642f));
        let a = generate(&mut rng);
        let b = if rng.chance(8) {
            generate(&mut rng)
        } else {
            mutate(&mut rng, &a)
        };
        counts.pairs += 1;
        let Ok(na) = normal_of(&a) else {
            counts.discarded_a += 1;
            continue;
        };
        let nb = match normal_of(&b) {
            Ok(nb) => nb,
            Err(_) => {
                counts.discarded_b += 1;
                continue;
            }
        };
        if let Err(problem) = check_pair(&na, &nb, &layouts, &mut counts) {
            let pair = serde_json::json!({ "a": a, "b": b });
            failures.push(format!(
                "seed {seed} case {case}: {problem}\npair: {}",
                serde_json::to_string(&pair).unwrap_or_default()
            ));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    let valid = counts.pairs - counts.discarded_a - counts.discarded_b;
    let mut refused: Vec<(&String, &u64)> = counts.refused.iter().collect();
    refused.sort_by(|x, y| y.1.cmp(x.1));
    eprintln!(
        "tighten_property: seed {seed}: {} pairs generated, {} discarded as invalid (a {}, b {}), \
         {} valid; {} accepted ({:.1}% of valid; {} with b != a), {} refused; \
         layout comparisons {} ({:?}), b unplanned (applies nothing) {}, skipped (a unplanned) {}, \
         neither planned {}; a with root/seccomp/private ids among the accepted {:?}; {:.2?}",
        counts.pairs,
        counts.discarded_a + counts.discarded_b,
        counts.discarded_a,
        counts.discarded_b,
        valid,
        counts.accepted,
        100.0 * counts.accepted as f64 / valid.max(1) as f64,
        counts.accepted_changed,
        valid - counts.accepted,
        counts.layout_compared.values().sum::<u64>(),
        counts.layout_compared,
        counts.layout_b_unplanned,
        counts.layout_skipped,
        counts.layout_neither,
        counts.confined,
        started.elapsed(),
    );
    eprintln!(
        "tighten_property: most refused fields: {}",
        refused
            .iter()
            .take(12)
            .map(|(field, n)| format!("{field} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "tighten_property: {} distinct files compared: {}",
        counts.files_seen.len(),
        counts
            .files_seen
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(
        failures.is_empty(),
        "{} failing pair(s) (rerun with ENFORCER_PROPTEST_SEED={seed}):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        counts.accepted * 5 >= valid,
        "too few accepted pairs to mean anything"
    );
    if cases >= DEFAULT_CASES {
        let unexercised: Vec<&str> = EXERCISED
            .iter()
            .copied()
            .filter(|file| !counts.files_seen.contains(*file))
            .collect();
        assert!(
            unexercised.is_empty(),
            "the generator no longer reaches {unexercised:?}"
        );
    }
}
