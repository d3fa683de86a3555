use std::os::unix::fs::PermissionsExt;

use policy_model::normal::effective_action;
use policy_model::{
    Capabilities, Context, Decision, Namespace, Process, ProcessUser, Resources, Rlimit,
    SeccompAction, SeccompOperator, SyscallArg, SyscallRule, normalize,
};
use serde_json::json;

use super::*;

fn normal(decision: &Decision) -> NormalDecision {
    normalize(decision, &Context::typical())
}

fn inherited() -> BTreeMap<String, RlimitValue> {
    Context::typical().rlimits
}

fn apply(spec: &Value, decision: &Decision) -> Result<Patched, PatchError> {
    patch_inheriting(spec, &normal(decision), &inherited())
}

/// A permissive decision for a container: root, the spec's namespaces
/// left alone, every capability a container usually has, no filter.
fn permissive() -> Decision {
    let caps: Vec<String> = policy_model::CAPABILITIES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    let mut decision = Decision::allow().run_as(0, 0).no_new_privileges(false);
    decision
        .process
        .get_or_insert_with(Process::default)
        .capabilities = Some(Capabilities {
        bounding: caps.clone(),
        effective: caps.clone(),
        inheritable: caps.clone(),
        permitted: caps.clone(),
        ambient: caps,
    });
    if let Some(user) = decision
        .process
        .as_mut()
        .and_then(|process| process.user.as_mut())
    {
        user.additional_gids = (0..64).collect();
    }
    decision
}

fn container_spec() -> Value {
    json!({
        "ociVersion": "1.1.0",
        "future": {"a": 1},
        "process": {
            "user": {"uid": 0, "gid": 0, "additionalGids": [0, 10], "futureUser": true},
            "args": ["sh"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL"],
                "effective": ["CAP_CHOWN", "CAP_NET_RAW"],
                "permitted": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}],
            "futureProcess": [1, 2]
        },
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "network", "path": "/proc/42/ns/net"},
                {"type": "ipc", "path": "/proc/42/ns/ipc"},
                {"type": "uts", "path": "/proc/42/ns/uts"},
                {"type": "mount"},
                {"type": "time"}
            ],
            "resources": {
                "memory": {"limit": 268435456, "swap": 268435456, "futureMemory": 7},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-3"},
                "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
                "rdma": {"mlx5_0": {"hcaHandles": 3}}
            },
            "sysctl": {"net.ipv4.ping_group_range": "0 0"},
            "maskedPaths": ["/proc/kcore"],
            "futureLinux": "x"
        },
        "hooks": {"prestart": [{"path": "/bin/true"}]}
    })
}

#[test]
fn a_permissive_decision_changes_nothing_and_unknown_fields_survive() {
    let spec = container_spec();
    let patched = apply(&spec, &permissive()).expect("patches");
    assert_eq!(patched.spec, spec, "{:?}", patched.changed);
    assert!(patched.changed.is_empty(), "{:?}", patched.changed);
}

#[test]
fn limits_are_lowered_and_unknown_fields_kept() {
    let spec = container_spec();
    let mut decision = permissive()
        .memory_limit(128 << 20)
        .pids(64)
        .cpu_quota(25_000, 100_000)
        .cpus("2-5")
        .hugepage_limit("2MB", 0)
        .rlimit("RLIMIT_NOFILE", 512, 8192)
        .rlimit("RLIMIT_NPROC", 100, 100)
        .no_new_privileges(true);
    if let Some(caps) = decision
        .process
        .as_mut()
        .and_then(|process| process.capabilities.as_mut())
    {
        for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
            set.retain(|cap| cap != "CAP_NET_RAW");
        }
    }
    let patched = apply(&spec, &decision).expect("patches");
    let out = &patched.spec;
    assert_eq!(
        out["linux"]["resources"]["memory"]["limit"],
        json!(128 << 20)
    );
    // Swap alone stays 0 (the spec's limit = swap).
    assert_eq!(
        out["linux"]["resources"]["memory"]["swap"],
        json!(128 << 20)
    );
    assert_eq!(
        out["linux"]["resources"]["memory"]["futureMemory"],
        json!(7)
    );
    assert_eq!(out["linux"]["resources"]["pids"], json!({"limit": 64}));
    assert_eq!(out["linux"]["resources"]["cpu"]["quota"], json!(25_000));
    assert_eq!(out["linux"]["resources"]["cpu"]["cpus"], json!("2-3"));
    assert_eq!(out["linux"]["resources"]["cpu"]["shares"], json!(512));
    assert_eq!(
        out["linux"]["resources"]["hugepageLimits"],
        json!([{"pageSize": "2MB", "limit": 0}])
    );
    assert_eq!(
        out["process"]["capabilities"]["effective"],
        json!(["CAP_CHOWN"])
    );
    assert_eq!(
        out["process"]["capabilities"]["bounding"],
        json!(["CAP_CHOWN", "CAP_KILL"])
    );
    assert!(out["process"]["capabilities"].get("ambient").is_none());
    assert_eq!(out["process"]["noNewPrivileges"], json!(true));
    assert_eq!(
        out["process"]["rlimits"],
        json!([
            {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 512},
            {"type": "RLIMIT_NPROC", "hard": 100, "soft": 100}
        ])
    );
    for (path, value) in [
        ("/future", json!({"a": 1})),
        ("/process/futureProcess", json!([1, 2])),
        ("/process/user/futureUser", json!(true)),
        ("/linux/futureLinux", json!("x")),
        (
            "/linux/resources/rdma",
            json!({"mlx5_0": {"hcaHandles": 3}}),
        ),
        ("/linux/sysctl", json!({"net.ipv4.ping_group_range": "0 0"})),
        ("/hooks", json!({"prestart": [{"path": "/bin/true"}]})),
        ("/linux/namespaces/5", json!({"type": "time"})),
    ] {
        assert_eq!(out.pointer(path), Some(&value), "{path}");
    }
    assert_eq!(
        patched.changed,
        vec![
            "process.capabilities.bounding",
            "process.capabilities.effective",
            "process.capabilities.permitted",
            "process.noNewPrivileges",
            "process.rlimits[RLIMIT_NOFILE]",
            "process.rlimits[RLIMIT_NPROC]",
            "linux.resources.memory.limit",
            "linux.resources.memory.swap",
            "linux.resources.cpu.quota",
            "linux.resources.cpu.cpus",
            "linux.resources.pids.limit",
            "linux.resources.hugepageLimits",
        ]
    );
    let again = patch_inheriting(out, &normal(&decision), &inherited()).expect("again");
    assert_eq!(again.spec, *out, "idempotent");
    assert!(again.changed.is_empty(), "{:?}", again.changed);
}

#[test]
fn a_lower_limit_under_the_same_swap_lowers_swap_too() {
    let spec = json!({"linux": {"resources": {"memory": {"limit": 1000, "swap": 1500}}}});
    let decision = permissive().memory_limit(100).memory_swap(10_000);
    let out = apply(&spec, &decision).expect("patches").spec;
    // Swap alone: the spec's 500, so 100 + 500.
    assert_eq!(
        out["linux"]["resources"]["memory"],
        json!({"limit": 100, "swap": 600})
    );
}

#[test]
fn namespace_rules() {
    let spec = container_spec();
    let error = apply(&spec, &permissive().namespace(NamespaceType::Network))
        .expect_err("a new network namespace");
    assert_eq!(error.field, "linux.namespaces[network]");
    assert!(error.message.contains("/proc/42/ns/net"), "{error}");
    assert!(error.message.contains("same path"), "{error}");
    apply(
        &spec,
        &permissive().join_namespace(NamespaceType::Network, "/proc/42/ns/net"),
    )
    .expect("the same join");
    let error = apply(
        &spec,
        &permissive().join_namespace(NamespaceType::Network, "/proc/7/ns/net"),
    )
    .expect_err("another join");
    assert!(error.message.contains("/proc/7/ns/net"), "{error}");
    let error = apply(
        &spec,
        &permissive().join_namespace(NamespaceType::Pid, "/proc/7/ns/pid"),
    )
    .expect_err("a join of a new one");
    assert_eq!(error.field, "linux.namespaces[pid]");
    let patched = apply(&spec, &permissive().namespace(NamespaceType::Cgroup)).expect("adds");
    assert_eq!(patched.changed, vec!["linux.namespaces[cgroup]"]);
    assert_eq!(
        patched.spec["linux"]["namespaces"][6],
        json!({"type": "cgroup"})
    );
    let error = apply(&spec, &permissive().namespace(NamespaceType::User)).expect_err("no maps");
    assert_eq!(error.field, "linux.namespaces[user]");
    let mapped = permissive()
        .namespace(NamespaceType::User)
        .map_ids(0, 100_000, 65_536);
    let patched = apply(&spec, &mapped).expect("maps");
    assert_eq!(
        patched.spec["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}])
    );
    let mut with_user = spec.clone();
    with_user["linux"]["namespaces"]
        .as_array_mut()
        .expect("array")
        .push(json!({"type": "user"}));
    with_user["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1, "size": 1}]);
    let error = apply(&with_user, &mapped).expect_err("other maps");
    assert_eq!(error.field, "linux.uidMappings");
    // A namespace the spec has and the decision lacks stays.
    let mut fewer = permissive();
    fewer.namespaces = vec![Namespace {
        kind: NamespaceType::Mount,
        path: None,
    }];
    apply(&spec, &fewer).expect("keeps the spec's");
}

#[test]
fn hostname_rules() {
    let spec = container_spec();
    let error = apply(&spec, &permissive().hostname("x")).expect_err("joins uts");
    assert_eq!(error.field, "hostname");
    let own = json!({"linux": {"namespaces": [{"type": "uts"}]}});
    let patched = apply(&own, &permissive().hostname("x")).expect("sets");
    assert_eq!(patched.spec["hostname"], json!("x"));
    let named = json!({"hostname": "pod", "linux": {"namespaces": [{"type": "uts"}]}});
    let patched = apply(&named, &permissive().hostname("x")).expect("keeps");
    assert_eq!(patched.spec["hostname"], json!("pod"));
}

#[test]
fn user_rules() {
    let spec = container_spec();
    let patched = apply(&spec, &permissive().run_as(1000, 1000)).expect("root lowered");
    assert_eq!(patched.spec["process"]["user"]["uid"], json!(1000));
    assert_eq!(patched.spec["process"]["user"]["gid"], json!(1000));
    let mut nonroot = spec.clone();
    nonroot["process"]["user"]["uid"] = json!(1000);
    let error = apply(&nonroot, &permissive().run_as(0, 0)).expect_err("raising to root");
    assert_eq!(error.field, "process.user.uid");
    let error = apply(&nonroot, &permissive().run_as(2000, 0)).expect_err("another user");
    assert_eq!(error.field, "process.user.uid");
    let mut groups = permissive();
    if let Some(user) = groups
        .process
        .as_mut()
        .and_then(|process| process.user.as_mut())
    {
        user.additional_gids = vec![10];
        user.umask = Some(0o027);
    }
    let out = apply(&spec, &groups).expect("patches").spec;
    assert_eq!(out["process"]["user"]["additionalGids"], json!([10]));
    assert_eq!(out["process"]["user"]["umask"], json!(0o027));
}

#[test]
fn what_runtime_mode_cannot_apply_is_refused() {
    let spec = container_spec();
    let mut ids = permissive();
    ids.private_host_ids = true;
    assert_eq!(apply(&spec, &ids).expect_err("ids").field, "privateHostIds");
    assert_eq!(
        apply(&spec, &permissive().readonly_host_root())
            .expect_err("root")
            .field,
        "root"
    );
    assert_eq!(
        apply(&spec, &permissive().tmpfs("/tmp", None))
            .expect_err("mounts")
            .field,
        "mounts"
    );
    let error = apply(&spec, &permissive().cpus("7")).expect_err("no cpu in common");
    assert_eq!(error.field, "linux.resources.cpu.cpus");
    assert!(apply(&json!([]), &permissive()).is_err());
    let mut wrong = spec.clone();
    wrong["linux"]["resources"]["memory"]["limit"] = json!("1G");
    let error = apply(&wrong, &permissive().memory_limit(1)).expect_err("a string");
    assert_eq!(error.field, "linux.resources.memory.limit");
}

#[test]
fn paths_are_a_union() {
    let spec = container_spec();
    let decision = permissive()
        .mask("/proc/kcore")
        .mask("/proc/keys")
        .readonly_path("/proc/sys");
    let out = apply(&spec, &decision).expect("patches").spec;
    assert_eq!(
        out["linux"]["maskedPaths"],
        json!(["/proc/kcore", "/proc/keys"])
    );
    assert_eq!(out["linux"]["readonlyPaths"], json!(["/proc/sys"]));
}

#[test]
fn unified_keys() {
    let spec = json!({"linux": {"resources": {"unified": {"memory.high": "1G", "memory.max": "max", "cpu.max": "50000 100000"}}}});
    let mut decision = permissive().memory_limit(1 << 20);
    decision
        .resources_mut()
        .unified
        .insert("memory.high".into(), "100M".into());
    let out = apply(&spec, &decision).expect("patches").spec;
    assert_eq!(
        out["linux"]["resources"]["unified"],
        json!({"memory.high": "100M", "memory.max": "1048576", "cpu.max": "50000 100000"})
    );
    let error = apply(&spec, &permissive().cpu_quota(1000, 100_000)).expect_err("cpu.max");
    assert_eq!(error.field, "linux.resources.unified[cpu.max]");
}

// ---------------------------------------------------------------- random

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn cases() -> u64 {
    std::env::var("ENFORCER_PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(2000)
}

fn random_rule(rng: &mut Rng) -> DeviceRule {
    let number = |rng: &mut Rng| match rng.below(4) {
        0 => None,
        1 => Some(-1),
        _ => Some(rng.below(3) as i64),
    };
    let accesses = ["r", "w", "m", "rw", "rm", "wm", "rwm"];
    DeviceRule {
        allow: rng.chance(60),
        kind: match rng.below(4) {
            0 => None,
            1 => Some(DeviceType::All),
            2 => Some(DeviceType::Char),
            _ => Some(DeviceType::Block),
        },
        major: number(rng),
        minor: number(rng),
        access: rng.chance(80).then(|| rng.pick(&accesses).to_string()),
    }
}

fn random_rules(rng: &mut Rng) -> Vec<DeviceRule> {
    (0..rng.below(6)).map(|_| random_rule(rng)).collect()
}

#[test]
fn device_intersection_allows_exactly_what_both_allow() {
    let mut rng = Rng(0x6465_7669_6365_7331);
    for case in 0..cases() {
        let (a, b) = (random_rules(&mut rng), random_rules(&mut rng));
        let result = match device_intersection(&a, &b) {
            DeviceChoice::Spec => a.clone(),
            DeviceChoice::Rules(rules) => rules,
        };
        for kind in [DeviceType::Char, DeviceType::Block] {
            for major in 0..5 {
                for minor in 0..5 {
                    for bit in ["r", "w", "m"] {
                        let both = permits(&a, kind, major, minor, bit)
                            && permits(&b, kind, major, minor, bit);
                        assert_eq!(
                            permits(&result, kind, major, minor, bit),
                            both,
                            "case {case}: {kind:?} {major}:{minor} {bit}\nA {a:?}\nB {b:?}\n= {result:?}"
                        );
                    }
                }
            }
        }
    }
}

fn random_profile(rng: &mut Rng) -> Seccomp {
    let actions = [
        SeccompAction::Allow,
        SeccompAction::Log,
        SeccompAction::Errno,
        SeccompAction::KillProcess,
        SeccompAction::Trap,
    ];
    let names = ["read", "write", "open", "personality"];
    let syscalls = (0..rng.below(6))
        .map(|_| SyscallRule {
            names: vec![rng.pick(&names).to_string()],
            action: *rng.pick(&actions),
            errno_ret: rng.chance(30).then(|| rng.below(3) as u32 + 1),
            args: (0..rng.below(3))
                .map(|_| SyscallArg {
                    index: rng.below(2) as u32,
                    value: rng.below(3),
                    value_two: 0,
                    op: if rng.chance(50) {
                        SeccompOperator::Equal
                    } else {
                        SeccompOperator::NotEqual
                    },
                })
                .collect(),
        })
        .collect();
    Seccomp {
        default_action: *rng.pick(&actions),
        default_errno_ret: None,
        architectures: vec![],
        flags: vec![],
        syscalls,
    }
}

#[test]
fn a_merged_profile_is_at_least_as_strict_as_both() {
    let mut rng = Rng(0x7365_6363_6f6d_7031);
    for case in 0..cases() {
        let a = NormalSeccomp::from_oci(&random_profile(&mut rng));
        let b = NormalSeccomp::from_oci(&random_profile(&mut rng));
        let merged = NormalSeccomp::from_oci(&merge_seccomp(&a, &b).to_oci());
        for name in ["read", "write", "open", "personality", "close"] {
            for x in 0..3 {
                for y in 0..3 {
                    let args = [x, y, 0, 0, 0, 0];
                    let got = effective_action(&merged, name, &args);
                    let want =
                        effective_action(&a, name, &args).max(effective_action(&b, name, &args));
                    assert!(
                        got >= want,
                        "case {case}: {name}({x}, {y}): {got:?} < {want:?}\nA {a:?}\nB {b:?}\n= {merged:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn seccomp_rules() {
    let allow_list = |names: &[&str]| Seccomp {
        default_action: SeccompAction::Errno,
        default_errno_ret: None,
        architectures: vec![],
        flags: vec![],
        syscalls: vec![SyscallRule {
            names: names.iter().map(|name| name.to_string()).collect(),
            action: SeccompAction::Allow,
            errno_ret: None,
            args: vec![],
        }],
    };
    let spec = json!({"linux": {"seccomp": serde_json::to_value(allow_list(&["read", "write", "open"])).expect("json")}});
    // The decision's is looser: the spec's stays.
    let patched = apply(
        &spec,
        &permissive().seccomp(allow_list(&["read", "write", "open", "mount"])),
    )
    .expect("patches");
    assert_eq!(patched.spec, spec);
    // Stricter: the decision's.
    let patched = apply(&spec, &permissive().seccomp(allow_list(&["read"]))).expect("patches");
    assert_eq!(patched.changed, vec!["linux.seccomp"]);
    let names: Vec<&str> = patched.spec["linux"]["seccomp"]["syscalls"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|rule| rule["names"][0].as_str())
        .collect();
    assert_eq!(names, vec!["read"]);
    // Neither: what both allow.
    let patched =
        apply(&spec, &permissive().seccomp(allow_list(&["read", "mount"]))).expect("patches");
    let merged = NormalSeccomp::from_oci(
        &serde_json::from_value(patched.spec["linux"]["seccomp"].clone()).expect("profile"),
    );
    let act = |name| effective_action(&merged, name, &[0; 6]).action;
    assert_eq!(act("read"), SeccompAction::Allow);
    assert_eq!(act("write"), SeccompAction::Errno);
    assert_eq!(act("mount"), SeccompAction::Errno);
    // None in the spec: the decision's.
    let patched = apply(&json!({}), &permissive().seccomp(allow_list(&["read"]))).expect("patches");
    assert_eq!(patched.changed, vec!["linux.seccomp"]);
    // Unreadable with a decision's: refused.
    let odd = json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}}});
    assert_eq!(
        apply(&odd, &permissive().seccomp(allow_list(&["read"])))
            .expect_err("unreadable")
            .field,
        "linux.seccomp"
    );
    apply(&odd, &permissive()).expect("no decision filter: kept");
}

// ----------------------------------------------- tighten, read back

const CAPS: [&str; 5] = [
    "CAP_CHOWN",
    "CAP_KILL",
    "CAP_NET_RAW",
    "CAP_SYS_ADMIN",
    "CAP_SETUID",
];
const RLIMIT_TYPES: [&str; 3] = ["RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE"];

fn random_caps(rng: &mut Rng) -> Capabilities {
    let set = |rng: &mut Rng| {
        CAPS.iter()
            .filter(|_| rng.chance(60))
            .map(|cap| cap.to_string())
            .collect::<Vec<_>>()
    };
    Capabilities {
        bounding: set(rng),
        effective: set(rng),
        inheritable: set(rng),
        permitted: set(rng),
        ambient: set(rng),
    }
}

fn random_resources(rng: &mut Rng) -> Resources {
    let limit = |rng: &mut Rng, scale: u64| -> Option<i64> {
        match rng.below(4) {
            0 => None,
            1 => Some(-1),
            _ => Some((rng.below(8) as i64 + 1) * scale as i64),
        }
    };
    let mut resources = Resources::default();
    if rng.chance(70) {
        let memory_limit = limit(rng, 1 << 20);
        let swap = match memory_limit {
            Some(value) if value > 0 && rng.chance(60) => {
                Some(value + rng.below(3) as i64 * (1 << 20))
            }
            _ => limit(rng, 1 << 20).filter(|_| memory_limit.is_none()),
        };
        resources.memory = Some(policy_model::Memory {
            limit: memory_limit,
            swap,
            reservation: (rng.chance(30)).then(|| rng.below(4) as i64 * (1 << 20) + 1),
            disable_oom_killer: rng.chance(20).then(|| rng.chance(50)),
            ..policy_model::Memory::default()
        });
    }
    if rng.chance(70) {
        let quota = limit(rng, 10_000);
        let cpus = ["0-3", "1", "2-5", "0,2,4"];
        resources.cpu = Some(policy_model::Cpu {
            shares: rng.chance(50).then(|| rng.below(2048) + 2),
            quota,
            period: quota
                .filter(|_| rng.chance(50))
                .map(|_| (rng.below(3) + 1) * 50_000),
            burst: rng.chance(20).then(|| rng.below(3) * 1000),
            cpus: rng.chance(40).then(|| rng.pick(&cpus).to_string()),
            ..policy_model::Cpu::default()
        });
    }
    if rng.chance(60) {
        resources.pids = limit(rng, 16).map(|limit| policy_model::Pids { limit });
    }
    if rng.chance(40) {
        for size in ["2MB", "1GB"] {
            if rng.chance(60) {
                resources.hugepage_limits.push(policy_model::HugepageLimit {
                    page_size: size.to_string(),
                    limit: rng.below(3) << 21,
                });
            }
        }
    }
    if rng.chance(40) {
        resources.block_io = Some(policy_model::BlockIo {
            throttle_read_bps_device: (0..rng.below(3))
                .map(|minor| policy_model::ThrottleDevice {
                    major: 8,
                    minor: minor as i64,
                    rate: rng.below(5) * 1000 + 1,
                })
                .collect(),
            ..policy_model::BlockIo::default()
        });
    }
    if rng.chance(50) {
        resources.devices = random_rules(rng);
    }
    if rng.chance(30) {
        resources
            .unified
            .insert("memory.high".into(), format!("{}M", rng.below(8) + 1));
    }
    resources
}

fn random_process(rng: &mut Rng) -> Process {
    let uid = if rng.chance(60) { 0 } else { 1000 };
    Process {
        user: Some(ProcessUser {
            uid,
            gid: uid,
            umask: None,
            additional_gids: (0..3).filter(|_| rng.chance(50)).collect(),
        }),
        capabilities: Some(random_caps(rng)),
        no_new_privileges: rng.chance(70).then(|| rng.chance(50)),
        rlimits: {
            let mut rlimits = Vec::new();
            for kind in RLIMIT_TYPES {
                if rng.chance(50) {
                    let hard = rng.below(5000) + 1;
                    rlimits.push(Rlimit {
                        kind: kind.to_string(),
                        hard,
                        soft: rng.below(hard + 1),
                    });
                }
            }
            rlimits
        },
        env: vec![],
        cwd: Some("/".into()),
    }
}

/// A spec's parts in decision shape, normalised as the decision is.
fn read_back(spec: &Value) -> NormalDecision {
    let resources: Option<Resources> =
        serde_json::from_value(spec["linux"]["resources"].clone()).expect("resources read back");
    let process = &spec["process"];
    let decision = Decision {
        allow: true,
        namespaces: serde_json::from_value(spec["linux"]["namespaces"].clone()).unwrap_or_default(),
        cgroups_path: Some("sandboxes/test".into()),
        resources,
        process: Some(Process {
            user: serde_json::from_value(process["user"].clone()).expect("user"),
            capabilities: serde_json::from_value(process["capabilities"].clone())
                .expect("capabilities"),
            no_new_privileges: serde_json::from_value(process["noNewPrivileges"].clone())
                .expect("nnp"),
            rlimits: serde_json::from_value(process["rlimits"].clone()).unwrap_or_default(),
            env: vec![],
            cwd: Some("/".into()),
        }),
        seccomp: serde_json::from_value(spec["linux"]["seccomp"].clone()).expect("seccomp"),
        ..Decision::default()
    };
    normal(&decision)
}

fn spec_of(resources: &Resources, process: &Process) -> Value {
    let mut spec = json!({
        "process": serde_json::to_value(process).expect("process"),
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}],
            "resources": serde_json::to_value(resources).expect("resources")
        }
    });
    if spec["process"]["noNewPrivileges"].is_null() {
        // Absent in OCI is off; in a decision it is on.
        spec["process"]["noNewPrivileges"] = json!(false);
    }
    spec
}

#[test]
fn a_patched_spec_tightens_both_and_patching_again_changes_nothing() {
    let mut rng = Rng(0x7061_7463_6865_6431);
    let (mut applied, mut refused) = (0u64, 0u64);
    for case in 0..cases() {
        let spec = spec_of(&random_resources(&mut rng), &random_process(&mut rng));
        let mut process = random_process(&mut rng);
        if rng.chance(50) {
            // Often the same user, so that more cases apply.
            process.user = serde_json::from_value(spec["process"]["user"].clone()).ok();
        }
        let decision = Decision {
            allow: true,
            namespaces: vec![Namespace {
                kind: NamespaceType::Pid,
                path: None,
            }],
            cgroups_path: Some("sandboxes/test".into()),
            resources: Some(random_resources(&mut rng)),
            process: Some(process),
            ..Decision::default()
        };
        let decision = normal(&decision);
        let patched = match patch_inheriting(&spec, &decision, &inherited()) {
            Ok(patched) => patched,
            Err(_) => {
                refused += 1;
                continue;
            }
        };
        applied += 1;
        let show = || {
            format!(
                "case {case}\nspec {spec}\ndecision {}\npatched {}",
                serde_json::to_string(&decision.to_decision()).unwrap_or_default(),
                patched.spec
            )
        };
        let after = read_back(&patched.spec);
        let mut before = read_back(&spec);
        // The one documented exception to "the user stays": root lowered
        // to the decision's user.
        for (spec_id, after_id) in [
            (&mut before.process.user.uid, after.process.user.uid),
            (&mut before.process.user.gid, after.process.user.gid),
        ] {
            if *spec_id == 0 {
                *spec_id = after_id;
            }
        }
        if let Err(error) = check_tightens(&before, &after) {
            panic!("loosens the spec: {error}\n{}", show());
        }
        if let Err(error) = check_tightens(&decision, &after) {
            panic!("loosens the decision: {error}\n{}", show());
        }
        let again = patch_inheriting(&patched.spec, &decision, &inherited())
            .unwrap_or_else(|error| panic!("again: {error}\n{}", show()));
        assert_eq!(again.spec, patched.spec, "idempotent\n{}", show());
    }
    eprintln!("{applied} applied, {refused} refused");
    assert!(
        applied > refused / 4,
        "{applied} applied, {refused} refused"
    );
}

#[test]
fn write_config_replaces_the_file_and_keeps_its_mode() {
    let dir = tempfile::Builder::new()
        .prefix("enforcer-test-patch")
        .tempdir()
        .expect("tempdir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, "{}").expect("writes");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let spec = json!({"ociVersion": "1.1.0", "future": [1]});
    write_config(&path, &spec).expect("written");
    let text = std::fs::read_to_string(&path).expect("reads");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("json"), spec);
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("reads")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(write_config(&dir.path().join("missing/config.json"), &spec).is_err());
}
