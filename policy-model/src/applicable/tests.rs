//! Unit tests of [`check_applicable`], and a property test: a decision
//! built only from fields whose controllers a random host offers is
//! applicable there, and taking a field's controller away makes it
//! inapplicable at exactly the first field that needed it. The generator
//! is a small seeded splitmix64, as in `tests/tighten_property.rs`
//! (`ENFORCER_PROPTEST_SEED`, `ENFORCER_PROPTEST_CASES`).

use super::*;
use crate::host::typical_host;
use crate::{Context, MIB, NamespaceType, Resources, validate};

fn host(mode: CgroupMode, controllers: &[&str], v2: &[&str]) -> Host {
    Host {
        cgroup_mode: mode,
        controllers: controllers.iter().map(|name| name.to_string()).collect(),
        v2_controllers: v2.iter().map(|name| name.to_string()).collect(),
        ..typical_host()
    }
}

fn with_unified(decision: Decision, key: &str, value: &str) -> Decision {
    let mut decision = decision;
    decision
        .resources_mut()
        .unified
        .insert(key.into(), value.into());
    decision
}

/// `check_applicable` on `decision`, validated on `host` first.
fn check(decision: Decision, host: &Host) -> Result<(), Inapplicable> {
    let valid = validate(decision, host, &Context::typical().default_cgroup)
        .unwrap_or_else(|error| panic!("{error}"));
    check_applicable(&valid, host)
}

#[test]
fn hugepage_limits_need_hugetlb() {
    let no_hugetlb = host(CgroupMode::V2, &["cpu", "memory", "pids"], &[]);
    let decision = Decision::allow().no_hugepages(&["2MB", "1GB"]);
    let error = check(decision.clone(), &no_hugetlb).expect_err("no hugetlb");
    assert_eq!(error.field, "resources.hugepageLimits[0]");
    assert_eq!(
        error.to_string(),
        "resources.hugepageLimits[0] needs the hugetlb controller, which this host does not offer (host.controllers: cpu, memory, pids); guard it: only set hugepage limits when request.host.controllers contains \"hugetlb\""
    );
    let with_hugetlb = host(CgroupMode::V2, &["cpu", "memory", "pids", "hugetlb"], &[]);
    check(decision, &with_hugetlb).expect("hugetlb offered");
}

#[test]
fn each_field_names_its_controller() {
    let empty = host(CgroupMode::V1, &[], &[]);
    let cases: [(Decision, &str, &str); 8] = [
        (
            Decision::allow().memory_limit(64 * MIB),
            "resources.memory",
            "memory",
        ),
        (
            Decision::allow().cpu_quota(50_000, 100_000),
            "resources.cpu",
            "cpu",
        ),
        (Decision::allow().cpus("0"), "resources.cpu.cpus", "cpuset"),
        (Decision::allow().pids(16), "resources.pids.limit", "pids"),
        (
            {
                let mut decision = Decision::allow();
                decision.resources_mut().block_io = Some(BlockIo {
                    weight: Some(500),
                    ..BlockIo::default()
                });
                decision
            },
            "resources.blockIO",
            "blkio",
        ),
        (
            Decision::allow().net_class_id(7),
            "resources.network.classID",
            "net_cls",
        ),
        (
            Decision::allow().default_devices(),
            "resources.devices",
            "devices",
        ),
        (
            with_unified(Decision::allow(), "memory.high", "1G"),
            "resources.unified[\"memory.high\"]",
            "memory",
        ),
    ];
    for (decision, field, controller) in cases {
        let error = check(decision, &empty).expect_err(field);
        assert_eq!(error.field, field);
        assert!(
            error
                .message
                .starts_with(&format!("needs the {controller} controller")),
            "{error}"
        );
        assert!(error.message.contains("host.controllers: none"), "{error}");
    }
}

#[test]
fn unlimited_limits_and_denials_need_nothing() {
    let empty = host(CgroupMode::V1, &[], &[]);
    let mut unlimited = Decision::allow().namespace(NamespaceType::Pid);
    unlimited.resources = Some(Resources {
        memory: Some(Memory {
            limit: Some(-1),
            ..Memory::default()
        }),
        pids: Some(crate::Pids { limit: -1 }),
        ..Resources::default()
    });
    check(unlimited, &empty).expect("an unlimited limit writes nothing");
    let denial = Decision::deny("no");
    check_applicable(&denial, &empty).expect("a denial applies nothing");
    let unknown = host(CgroupMode::Unknown, &[], &[]);
    check(Decision::allow().no_hugepages(&["2MB"]), &unknown).expect("an unknown host");
}

#[test]
fn raw_unified_files_need_their_controller_on_cgroup2() {
    let decision = with_unified(Decision::allow(), "memory.high", "1G");
    check(decision.clone(), &host(CgroupMode::V2, &["memory"], &[])).expect("pure v2");
    let v1 = check(decision.clone(), &host(CgroupMode::V1, &["memory"], &[])).expect_err("v1");
    assert_eq!(
        v1.to_string(),
        "resources.unified[\"memory.high\"] is not supported on cgroup v1: memory is on a v1 hierarchy here; raw unified files need it on cgroup2; guard it: only set them when request.host.cgroupMode is \"v2\", or \"hybrid\" with request.host.v2Controllers containing \"memory\""
    );
    let hybrid_v1 = host(CgroupMode::Hybrid, &["memory", "pids"], &[]);
    assert!(check(decision.clone(), &hybrid_v1).is_err());
    let hybrid_v2 = host(CgroupMode::Hybrid, &["memory", "pids"], &["memory"]);
    check(decision, &hybrid_v2).expect("memory on the unified hierarchy");
}

#[test]
fn v1_only_fields_are_refused_on_cgroup2() {
    let v2 = host(CgroupMode::V2, &["cpu", "memory", "io", "net_cls"], &[]);
    let mut swappiness = Decision::allow();
    swappiness.resources_mut().memory = Some(Memory {
        swappiness: Some(10),
        ..Memory::default()
    });
    assert_eq!(
        check(swappiness.clone(), &v2).expect_err("v2").to_string(),
        "resources.memory.swappiness is not supported on cgroup v2: cgroup v2 has no per-cgroup swappiness"
    );
    check(swappiness, &host(CgroupMode::V1, &["memory"], &[])).expect("v1 swappiness");
    let class = check(Decision::allow().net_class_id(7), &v2).expect_err("net_cls on v2");
    assert_eq!(
        class.to_string(),
        "resources.network.classID is not supported on cgroup v2: net_cls exists only on cgroup v1"
    );
    let mut leaf = Decision::allow();
    leaf.resources_mut().block_io = Some(BlockIo {
        leaf_weight: Some(100),
        ..BlockIo::default()
    });
    assert_eq!(
        check(leaf, &v2).expect_err("leaf weight").field,
        "resources.blockIO.leafWeight"
    );
}

#[test]
fn devices_fall_back_to_an_ebpf_program_on_cgroup2() {
    let decision = Decision::allow().default_devices();
    check(decision.clone(), &host(CgroupMode::V2, &[], &[])).expect("eBPF on v2");
    check(decision.clone(), &host(CgroupMode::Hybrid, &[], &[])).expect("eBPF on hybrid");
    check(decision.clone(), &host(CgroupMode::V1, &["devices"], &[])).expect("v1 devices");
    let error = check(decision, &host(CgroupMode::V1, &["memory"], &[])).expect_err("none");
    assert!(
        error
            .message
            .contains("no cgroup2 hierarchy for an eBPF device program"),
        "{error}"
    );
}

#[test]
fn block_io_uses_blkio_on_v1_and_io_on_v2() {
    let mut decision = Decision::allow();
    decision.resources_mut().block_io = Some(BlockIo {
        weight: Some(500),
        ..BlockIo::default()
    });
    check(decision.clone(), &host(CgroupMode::V1, &["blkio"], &[])).expect("blkio");
    check(decision.clone(), &host(CgroupMode::V2, &["io"], &[])).expect("io");
    check(
        decision.clone(),
        &host(CgroupMode::Hybrid, &["io"], &["io"]),
    )
    .expect("io");
    let error = check(decision, &host(CgroupMode::V2, &["memory"], &[])).expect_err("no io");
    assert!(
        error.message.starts_with("needs the io controller"),
        "{error}"
    );
}

// ------------------------------------------------------------- property

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

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Which hierarchies a field works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// The controller, on v1 or v2.
    Any(&'static str),
    /// The controller, on a v1 hierarchy.
    V1(&'static str),
    /// The controller, on cgroup2.
    V2(&'static str),
    /// `blkio` on v1 or `io` on v2.
    BlockIo,
    /// `devices` on v1, or any cgroup2 hierarchy.
    Devices,
}

/// One settable field, in the order the check (and the plan) visits them.
struct Field {
    path: &'static str,
    needs: Needs,
    set: fn(Decision) -> Decision,
}

fn fields() -> Vec<Field> {
    vec![
        Field {
            path: "resources.memory",
            needs: Needs::Any("memory"),
            set: |d| d.memory_limit(64 * MIB),
        },
        Field {
            path: "resources.cpu",
            needs: Needs::Any("cpu"),
            set: |d| d.cpu_quota(50_000, 100_000),
        },
        Field {
            path: "resources.cpu.cpus",
            needs: Needs::Any("cpuset"),
            set: |d| d.cpus("0"),
        },
        Field {
            path: "resources.pids.limit",
            needs: Needs::Any("pids"),
            set: |d| d.pids(32),
        },
        Field {
            path: "resources.blockIO",
            needs: Needs::BlockIo,
            set: |mut d| {
                d.resources_mut().block_io = Some(BlockIo {
                    weight: Some(500),
                    ..BlockIo::default()
                });
                d
            },
        },
        Field {
            path: "resources.hugepageLimits[0]",
            needs: Needs::Any("hugetlb"),
            set: |d| d.hugepage_limit("2MB", 0),
        },
        Field {
            path: "resources.network.classID",
            needs: Needs::V1("net_cls"),
            set: |d| d.net_class_id(7),
        },
        Field {
            path: "resources.network.priorities[0]",
            needs: Needs::V1("net_prio"),
            set: |mut d| {
                d.resources_mut()
                    .network
                    .get_or_insert_with(Default::default)
                    .priorities
                    .push(crate::InterfacePriority {
                        name: "eth0".into(),
                        priority: 3,
                    });
                d
            },
        },
        Field {
            path: "resources.devices",
            needs: Needs::Devices,
            set: |d| d.default_devices(),
        },
        Field {
            path: "resources.unified[\"memory.high\"]",
            needs: Needs::V2("memory"),
            set: |d| with_unified(d, "memory.high", "100M"),
        },
        Field {
            path: "resources.unified[\"misc.max\"]",
            needs: Needs::V2("misc"),
            set: |d| with_unified(d, "misc.max", "res_a 1"),
        },
    ]
}

/// Where the controller sits on `host`, as the test's own model.
fn placed(host: &Host, controller: &str) -> Option<Version> {
    if !host.controllers.iter().any(|name| name == controller) {
        return None;
    }
    match host.cgroup_mode {
        CgroupMode::V1 => Some(Version::V1),
        CgroupMode::V2 => Some(Version::V2),
        _ if host.v2_controllers.iter().any(|name| name == controller) => Some(Version::V2),
        _ => Some(Version::V1),
    }
}

fn offers(host: &Host, needs: Needs) -> bool {
    match needs {
        Needs::Any(controller) => placed(host, controller).is_some(),
        Needs::V1(controller) => placed(host, controller) == Some(Version::V1),
        Needs::V2(controller) => placed(host, controller) == Some(Version::V2),
        Needs::BlockIo => {
            placed(host, "blkio") == Some(Version::V1) || placed(host, "io") == Some(Version::V2)
        }
        Needs::Devices => {
            placed(host, "devices") == Some(Version::V1)
                || matches!(host.cgroup_mode, CgroupMode::V2 | CgroupMode::Hybrid)
        }
    }
}

/// The controllers `needs` can use (all of them go when it is taken away).
fn controllers_of(needs: Needs) -> &'static [&'static str] {
    match needs {
        Needs::Any("memory") | Needs::V2("memory") => &["memory"],
        Needs::Any("cpu") => &["cpu"],
        Needs::Any("cpuset") => &["cpuset"],
        Needs::Any("pids") => &["pids"],
        Needs::Any("hugetlb") => &["hugetlb"],
        Needs::V1("net_cls") => &["net_cls"],
        Needs::V1("net_prio") => &["net_prio"],
        Needs::V2("misc") => &["misc"],
        Needs::BlockIo => &["blkio", "io"],
        Needs::Devices => &["devices"],
        other => panic!("no controllers listed for {other:?}"),
    }
}

/// A random host: its mode, then each controller absent or placed on a
/// hierarchy its kind can be on (`blkio`, `net_cls`, `net_prio`,
/// `devices` only on v1, `io` only on v2).
fn random_host(rng: &mut Rng) -> Host {
    const BOTH: [&str; 6] = ["memory", "cpu", "cpuset", "pids", "hugetlb", "misc"];
    const V1_ONLY: [&str; 4] = ["blkio", "net_cls", "net_prio", "devices"];
    let mode = [CgroupMode::V1, CgroupMode::V2, CgroupMode::Hybrid][rng.below(3)];
    let mut host = host(mode, &[], &[]);
    let mut place = |name: &str, v1: bool, v2: bool, rng: &mut Rng| {
        if !rng.chance(70) {
            return;
        }
        let on_v2 = match mode {
            CgroupMode::V1 => false,
            CgroupMode::V2 => true,
            _ => v2 && (!v1 || rng.chance(50)),
        };
        if (on_v2 && !v2) || (!on_v2 && !v1) {
            return;
        }
        host.controllers.push(name.to_string());
        if on_v2 && mode == CgroupMode::Hybrid {
            host.v2_controllers.push(name.to_string());
        }
    };
    for name in BOTH {
        place(name, true, true, rng);
    }
    for name in V1_ONLY {
        place(name, true, false, rng);
    }
    place("io", false, true, rng);
    host
}

fn cases() -> (u64, u64) {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(default)
    };
    (
        number("ENFORCER_PROPTEST_SEED", 0x6170_706c_6963_6162),
        number("ENFORCER_PROPTEST_CASES", 2000),
    )
}

#[test]
fn offered_fields_apply_and_a_removed_controller_is_named() {
    let (seed, count) = cases();
    let mut rng = Rng(seed);
    let catalogue = fields();
    let mut removals = 0u64;
    for case in 0..count {
        let host = random_host(&mut rng);
        let chosen: Vec<&Field> = catalogue
            .iter()
            .filter(|field| offers(&host, field.needs) && rng.chance(60))
            .collect();
        let decision = chosen
            .iter()
            .fold(Decision::allow(), |decision, field| (field.set)(decision));
        let context = format!(
            "seed {seed:#x}, case {case}: host {}, decision {}",
            serde_json::to_string(&host).unwrap_or_default(),
            serde_json::to_string(&decision).unwrap_or_default()
        );
        let valid = validate(decision, &host, &Context::typical().default_cgroup)
            .unwrap_or_else(|error| panic!("{context}: invalid: {error}"));
        if let Err(error) = check_applicable(&valid, &host) {
            panic!("{context}: only offered fields, yet: {error}");
        }
        for field in &chosen {
            let mut without = host.clone();
            let gone = controllers_of(field.needs);
            without
                .controllers
                .retain(|name| !gone.contains(&name.as_str()));
            without
                .v2_controllers
                .retain(|name| !gone.contains(&name.as_str()));
            if offers(&without, field.needs) {
                // Devices without a v1 controller use cgroup2's eBPF.
                continue;
            }
            removals += 1;
            let expected = chosen
                .iter()
                .find(|other| !offers(&without, other.needs))
                .map(|other| other.path);
            match check_applicable(&valid, &without) {
                Err(error) => assert_eq!(
                    Some(error.field.as_str()),
                    expected,
                    "{context}: without {gone:?}: {error}"
                ),
                Ok(()) => panic!("{context}: applicable without {gone:?} for {}", field.path),
            }
        }
    }
    assert!(removals > count, "too few removals: {removals}");
}
