//! Policy chains end to end: `enforcer eval` and `enforcer run` with two
//! hand-written modules, `first` then `second`, where `second` may only
//! tighten. A loosening of any field class must exit 2 (`eval`) or 125
//! (`run`), print nothing on stdout, apply nothing, and say
//! `policy <second>: loosens <field path>: <how>`. A tightening chain is
//! applied and read back from the kernel.
//!
//! Every decision is checked to be valid on its own first, so a refusal can
//! only come from the comparison.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::wat::decision_module;
use common::{Run, enforcer};
use enforcer::cgroup::{ControllerState, discover};
use sandbox::Harness;
use serde_json::{Value, json};
use test_cgroup::{cannot_run, require, skipped, usable};

const MIB: u64 = 1024 * 1024;

/// An allowing decision: a few created namespaces (uts, so a hostname is
/// valid) plus `fields`, which replace the base's keys.
fn allow(fields: Value) -> Value {
    merged(
        json!({
            "allow": true,
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
        }),
        fields,
    )
}

/// `base` with the keys of `fields` replacing its own.
fn merged(mut base: Value, fields: Value) -> Value {
    let (Value::Object(object), Value::Object(fields)) = (&mut base, fields) else {
        panic!("decisions are objects");
    };
    object.extend(fields);
    base
}

/// Two policy modules in a directory of their own.
struct Chain {
    dir: tempfile::TempDir,
    first: PathBuf,
    second: PathBuf,
}

impl Chain {
    /// Writes `first` and `second` as modules; each must be valid alone.
    #[track_caller]
    fn new(first: Value, second: Value) -> Chain {
        let chain = Chain::unchecked(first, second);
        for path in [&chain.first, &chain.second] {
            let run = eval(&[path]);
            assert_eq!(
                run.code,
                Some(0),
                "{} must be valid on its own (the test would prove nothing):\n{}",
                path.display(),
                run.stderr
            );
        }
        chain
    }

    /// Like [`Chain::new`], but a decision this host cannot accept alone
    /// (hugepage sizes, realtime scheduling, block devices) skips the test,
    /// counted, instead of failing it. `None` means skipped.
    fn on_this_host(first: Value, second: Value) -> Option<Chain> {
        let chain = Chain::unchecked(first, second);
        for path in [&chain.first, &chain.second] {
            let run = eval(&[path]);
            if run.code != Some(0) {
                skipped(&format!(
                    "{} is not valid on this host alone: {}",
                    path.display(),
                    run.stderr.trim()
                ));
                return None;
            }
        }
        Some(chain)
    }

    fn unchecked(first: Value, second: Value) -> Chain {
        let dir = tempfile::Builder::new()
            .prefix("enforcer-test-chain-")
            .tempdir()
            .expect("tempdir");
        let first = decision_module(dir.path(), "first", &first);
        let second = decision_module(dir.path(), "second", &second);
        Chain { dir, first, second }
    }

    /// `enforcer eval` of the chain.
    fn eval(&self) -> Run {
        eval(&[&self.first, &self.second])
    }

    /// Asserts the chain is refused as a loosening of `field` by `second`,
    /// with each of `how` in the explanation.
    #[track_caller]
    fn expect_loosens(&self, field: &str, how: &[&str]) {
        let run = self.eval();
        expect_loosened(&run, 2, &self.second, &[field], how);
    }

    /// Asserts the chain is accepted and prints a decision.
    #[track_caller]
    fn expect_tightens(&self) -> Value {
        let run = self.eval();
        run.expect_code(0);
        run.json()
    }
}

/// `enforcer eval --no-cache -p P... -- /bin/true`.
fn eval(policies: &[&Path]) -> Run {
    eval_under(None, policies)
}

/// [`eval`], with the operator's config `config` when given.
fn eval_under(config: Option<&Path>, policies: &[&Path]) -> Run {
    let mut args = Vec::new();
    if let Some(config) = config {
        args.extend(["--config".to_string(), config.display().to_string()]);
    }
    // Composition, not this host's controllers, is under test here.
    args.extend([
        "eval".to_string(),
        "--no-cache".to_string(),
        "--skip-host-check".to_string(),
    ]);
    for policy in policies {
        args.push("-p".into());
        args.push(policy.display().to_string());
    }
    args.extend(["--".into(), "/bin/true".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    enforcer(&args)
}

/// Asserts `run` exited `code` with nothing on stdout and stderr saying
/// `policy <second>: loosens <one of fields>: ...` with each of `how`
/// after it.
#[track_caller]
fn expect_loosened(run: &Run, code: i32, second: &Path, fields: &[&str], how: &[&str]) {
    run.expect_code(code);
    assert!(
        run.stdout.is_empty(),
        "a refused chain prints no decision:\n{}",
        run.stdout
    );
    let prefixes: Vec<String> = fields
        .iter()
        .map(|field| format!("policy {}: loosens {field}: ", second.display()))
        .collect();
    let Some(explanation) = prefixes.iter().find_map(|prefix| {
        run.stderr
            .find(prefix.as_str())
            .map(|at| &run.stderr[at + prefix.len()..])
    }) else {
        panic!("stderr lacks any of {prefixes:?}:\n{}", run.stderr);
    };
    let explanation = explanation.lines().next().unwrap_or("");
    for word in how {
        assert!(
            explanation.contains(word),
            "the explanation {explanation:?} lacks {word:?}:\n{}",
            run.stderr
        );
    }
}

/// The capability sets, in `process.capabilities`.
const CAP_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

/// `process.capabilities` with `CAP_SYS_ADMIN` in `sets`, the others empty.
fn sys_admin_in(sets: &[&str]) -> Value {
    let mut capabilities = serde_json::Map::new();
    for set in CAP_SETS {
        let names: Vec<&str> = if sets.contains(&set) {
            vec!["CAP_SYS_ADMIN"]
        } else {
            vec![]
        };
        capabilities.insert(set.into(), json!(names));
    }
    Value::Object(capabilities)
}

/// The platform: namespaces and resources, no `process` section.
fn silent_platform() -> Value {
    allow(json!({
        "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
        "resources": {"memory": {"limit": 256 * MIB}, "pids": {"limit": 64}},
    }))
}

/// The tenant: the platform plus `CAP_SYS_ADMIN` in every set and
/// `noNewPrivileges: false`.
fn sys_admin_tenant() -> Value {
    let mut tenant = silent_platform();
    tenant["process"] = json!({
        "capabilities": sys_admin_in(&CAP_SETS),
        "noNewPrivileges": false,
    });
    tenant
}

// ---- capabilities -------------------------------------------------------

#[test]
fn a_later_policy_cannot_add_a_capability_behind_a_silent_platform() {
    let chain = Chain::new(silent_platform(), sys_admin_tenant());
    let run = chain.eval();
    // Several fields loosen at once; any of them may be named first.
    let fields: Vec<String> = CAP_SETS
        .iter()
        .map(|set| format!("process.capabilities.{set}"))
        .chain(["process.noNewPrivileges".to_string()])
        .collect();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    expect_loosened(&run, 2, &chain.second, &fields, &[]);
    assert!(
        run.stderr.contains("CAP_SYS_ADMIN") || run.stderr.contains("noNewPrivileges"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_later_policy_cannot_add_a_bounding_capability_behind_a_silent_platform() {
    let second = allow(json!({"process": {"capabilities": sys_admin_in(&["bounding"])}}));
    Chain::new(allow(json!({})), second)
        .expect_loosens("process.capabilities.bounding", &["adds CAP_SYS_ADMIN"]);
}

/// For each set, `first` already grants `CAP_SYS_ADMIN` in the sets the
/// kernel needs before it (so both decisions are coherent) and `second`
/// adds it to `set` alone.
#[track_caller]
fn adding_to_one_set_is_refused(before: &[&str], set: &str) {
    let first =
        allow(json!({"process": {"capabilities": sys_admin_in(before), "noNewPrivileges": true}}));
    let mut after = before.to_vec();
    after.push(set);
    let second =
        allow(json!({"process": {"capabilities": sys_admin_in(&after), "noNewPrivileges": true}}));
    Chain::new(first, second).expect_loosens(
        &format!("process.capabilities.{set}"),
        &["adds CAP_SYS_ADMIN"],
    );
}

#[test]
fn a_later_policy_cannot_add_a_bounding_capability() {
    adding_to_one_set_is_refused(&[], "bounding");
}

#[test]
fn a_later_policy_cannot_add_a_permitted_capability() {
    adding_to_one_set_is_refused(&["bounding"], "permitted");
}

#[test]
fn a_later_policy_cannot_add_an_effective_capability() {
    adding_to_one_set_is_refused(&["bounding", "permitted"], "effective");
}

#[test]
fn a_later_policy_cannot_add_an_inheritable_capability() {
    adding_to_one_set_is_refused(&["bounding", "permitted"], "inheritable");
}

#[test]
fn a_later_policy_cannot_add_an_ambient_capability() {
    adding_to_one_set_is_refused(&["bounding", "permitted", "inheritable"], "ambient");
}

/// The scenario through `run`: refused with 125, the workload
/// (which would leave a marker file) never starts, no cgroup and no state
/// are left. The platform alone runs the same workload, so the marker
/// would have appeared.
#[test]
fn run_refuses_sys_admin_behind_a_silent_platform_and_starts_nothing() {
    require!(cannot_run());
    let chain = Chain::new(silent_platform(), sys_admin_tenant());
    let marker = chain.dir.path().join("started");
    // What it runs as is printed, so a failure shows the escalation.
    let script = format!(
        "echo started; grep -E '^(Uid|CapEff|NoNewPrivs):' /proc/self/status; touch {}",
        marker.display()
    );
    let first = chain.first.display().to_string();
    let second = chain.second.display().to_string();

    let harness = Harness::new();
    let run = harness.sh(&["--no-cache", "-p", &first, "-p", &second], &script);
    let fields: Vec<String> = CAP_SETS
        .iter()
        .map(|set| format!("process.capabilities.{set}"))
        .chain(["process.noNewPrivileges".to_string()])
        .collect();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    expect_loosened(&run, 125, &chain.second, &fields, &[]);
    assert!(!marker.exists(), "the workload must not start");
    harness.assert_clean();

    let control = harness.sh(&["--no-cache", "-p", &first], &script);
    control.expect_code(0);
    assert!(
        control.stdout.starts_with("started\n"),
        "{}",
        control.stdout
    );
    assert!(marker.exists(), "the platform alone starts the workload");
}

// ---- noNewPrivileges, user and groups ----------------------------------

#[test]
fn no_new_privileges_is_on_by_default_and_cannot_be_turned_off() {
    let second = allow(json!({"process": {"noNewPrivileges": false}}));
    Chain::new(allow(json!({})), second).expect_loosens("process.noNewPrivileges", &[]);
}

fn user(uid: u32, gid: u32, groups: &[u32]) -> Value {
    allow(json!({
        "process": {"user": {"uid": uid, "gid": gid, "additionalGids": groups}},
    }))
}

#[test]
fn a_later_policy_cannot_add_a_supplementary_group() {
    Chain::new(user(1000, 1000, &[]), user(1000, 1000, &[0]))
        .expect_loosens("process.user.additionalGids", &["adds"]);
}

#[test]
fn a_later_policy_may_drop_a_supplementary_group() {
    Chain::new(user(1000, 1000, &[100, 200]), user(1000, 1000, &[200])).expect_tightens();
}

#[test]
fn a_later_policy_cannot_change_the_uid() {
    Chain::new(user(1000, 1000, &[]), user(1001, 1000, &[]))
        .expect_loosens("process.user.uid", &[]);
}

#[test]
fn a_later_policy_cannot_change_the_gid() {
    Chain::new(user(1000, 1000, &[]), user(1000, 0, &[])).expect_loosens("process.user.gid", &[]);
}

// ---- unified ------------------------------------------------------------

#[test]
fn a_unified_key_cannot_undo_a_typed_limit() {
    let first = allow(json!({"resources": {"pids": {"limit": 64}}}));
    let second =
        allow(json!({"resources": {"pids": {"limit": 64}, "unified": {"pids.max": "max"}}}));
    Chain::new(first, second).expect_loosens("resources.unified[pids.max]", &[]);
}

#[test]
fn a_later_policy_cannot_add_an_unknown_unified_key() {
    let second = allow(json!({"resources": {"unified": {"memory.zswap.writeback": "1"}}}));
    Chain::new(allow(json!({})), second)
        .expect_loosens("resources.unified[memory.zswap.writeback]", &[]);
}

#[test]
fn a_later_policy_may_lower_a_known_unified_key() {
    let high = |value: &str| allow(json!({"resources": {"unified": {"memory.high": value}}}));
    Chain::new(high("200M"), high("100M")).expect_tightens();
}

#[test]
fn a_later_policy_cannot_raise_a_known_unified_key() {
    let high = |value: &str| allow(json!({"resources": {"unified": {"memory.high": value}}}));
    Chain::new(high("100M"), high("200M")).expect_loosens("resources.unified[memory.high]", &[]);
}

// ---- block I/O ------------------------------------------------------------

/// A whole-disk block device of this host (`major:minor`), 8:0 if none is
/// listed.
fn block_device() -> (u64, u64) {
    let partitions = std::fs::read_to_string("/proc/partitions").unwrap_or_default();
    partitions
        .lines()
        .skip(2)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [major, minor, _, name]
                    if !name.starts_with("loop") && !name.starts_with("ram") =>
                {
                    Some((major.parse().ok()?, minor.parse().ok()?))
                }
                _ => None,
            }
        })
        .next()
        .unwrap_or((8, 0))
}

fn throttle(field: &str, rate: Option<u64>) -> Value {
    let (major, minor) = block_device();
    match rate {
        Some(rate) => allow(json!({"resources": {"blockIO": {
            field: [{"major": major, "minor": minor, "rate": rate}],
        }}})),
        None => allow(json!({})),
    }
}

#[track_caller]
fn throttle_cannot_be_raised_or_removed(field: &str) {
    let (major, minor) = block_device();
    let path = format!("resources.blockIO.{field}[{major}:{minor}]");
    let before = || throttle(field, Some(MIB));
    if let Some(chain) = Chain::on_this_host(before(), throttle(field, Some(2 * MIB))) {
        chain.expect_loosens(&path, &["raises"]);
    }
    if let Some(chain) = Chain::on_this_host(before(), throttle(field, None)) {
        chain.expect_loosens(&path, &["removes"]);
    }
    if let Some(chain) = Chain::on_this_host(before(), throttle(field, Some(MIB / 2))) {
        chain.expect_tightens();
    }
}

#[test]
fn a_read_bps_throttle_cannot_be_raised_or_removed() {
    throttle_cannot_be_raised_or_removed("throttleReadBpsDevice");
}

#[test]
fn a_write_bps_throttle_cannot_be_raised_or_removed() {
    throttle_cannot_be_raised_or_removed("throttleWriteBpsDevice");
}

#[test]
fn a_read_iops_throttle_cannot_be_raised_or_removed() {
    throttle_cannot_be_raised_or_removed("throttleReadIOPSDevice");
}

#[test]
fn a_write_iops_throttle_cannot_be_raised_or_removed() {
    throttle_cannot_be_raised_or_removed("throttleWriteIOPSDevice");
}

#[test]
fn a_per_device_weight_cannot_be_raised() {
    let (major, minor) = block_device();
    let weight = |weight: u16| {
        allow(json!({"resources": {"blockIO": {
            "weightDevice": [{"major": major, "minor": minor, "weight": weight}],
        }}}))
    };
    if let Some(chain) = Chain::on_this_host(weight(100), weight(200)) {
        chain.expect_loosens(
            &format!("resources.blockIO.weightDevice[{major}:{minor}]"),
            &["raises"],
        );
    }
}

// ---- cpu ------------------------------------------------------------------

#[test]
fn cpu_burst_cannot_be_raised() {
    let burst = |burst: u64| {
        allow(json!({"resources": {"cpu": {"quota": 50_000, "period": 100_000, "burst": burst}}}))
    };
    Chain::new(burst(10_000), burst(20_000)).expect_loosens("resources.cpu.burst", &["raises"]);
}

#[test]
fn realtime_runtime_cannot_be_raised() {
    let realtime = |runtime: i64| {
        allow(
            json!({"resources": {"cpu": {"realtimeRuntime": runtime, "realtimePeriod": 1_000_000}}}),
        )
    };
    if let Some(chain) = Chain::on_this_host(realtime(10_000), realtime(20_000)) {
        chain.expect_loosens("resources.cpu.realtimeRuntime", &["raises"]);
    }
}

#[test]
fn cpu_quota_is_compared_as_cpus() {
    let quota = |quota: i64, period: u64| {
        allow(json!({"resources": {"cpu": {"quota": quota, "period": period}}}))
    };
    // Half a CPU either way: equal, accepted.
    Chain::new(quota(50_000, 100_000), quota(100_000, 200_000)).expect_tightens();
    Chain::new(quota(50_000, 100_000), quota(80_000, 100_000))
        .expect_loosens("resources.cpu.quota", &["raises"]);
}

#[test]
fn cpus_must_stay_a_subset() {
    let cpus = |list: &str| allow(json!({"resources": {"cpu": {"cpus": list}}}));
    if std::thread::available_parallelism().map_or(1, usize::from) >= 2 {
        Chain::new(cpus("0"), cpus("0-1")).expect_loosens("resources.cpu.cpus", &[]);
    }
    Chain::new(cpus("0"), allow(json!({}))).expect_loosens("resources.cpu.cpus", &["removes"]);
}

#[test]
fn mems_cannot_be_removed() {
    let first = allow(json!({"resources": {"cpu": {"mems": "0"}}}));
    Chain::new(first, allow(json!({}))).expect_loosens("resources.cpu.mems", &["removes"]);
}

// ---- memory and pids ------------------------------------------------------

#[test]
fn the_oom_killer_cannot_be_disabled_later() {
    let oom = |disabled: bool| {
        allow(json!({"resources": {"memory": {"limit": 256 * MIB, "disableOOMKiller": disabled}}}))
    };
    Chain::new(oom(false), oom(true)).expect_loosens("resources.memory.disableOOMKiller", &[]);
    let silent = allow(json!({"resources": {"memory": {"limit": 256 * MIB}}}));
    Chain::new(silent, oom(true)).expect_loosens("resources.memory.disableOOMKiller", &[]);
}

#[test]
fn memory_reservation_cannot_be_raised() {
    let reservation = |bytes: u64| {
        allow(json!({"resources": {"memory": {"limit": 256 * MIB, "reservation": bytes}}}))
    };
    Chain::new(reservation(64 * MIB), reservation(128 * MIB))
        .expect_loosens("resources.memory.reservation", &["raises"]);
}

#[test]
fn memory_limit_cannot_be_raised() {
    let limit = |bytes: u64| allow(json!({"resources": {"memory": {"limit": bytes}}}));
    Chain::new(limit(256 * MIB), limit(512 * MIB))
        .expect_loosens("resources.memory.limit", &["raises"]);
}

#[test]
fn pids_limit_cannot_be_removed() {
    let first = allow(json!({"resources": {"pids": {"limit": 64}}}));
    Chain::new(first, allow(json!({}))).expect_loosens("resources.pids.limit", &["removes"]);
}

// ---- devices, namespaces, cgroupsPath -------------------------------------

fn devices(extra: &[Value]) -> Value {
    let mut rules = vec![
        json!({"allow": false, "access": "rwm"}),
        json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}),
    ];
    rules.extend_from_slice(extra);
    allow(json!({"resources": {"devices": rules}}))
}

#[test]
fn a_later_policy_cannot_allow_a_device_the_first_denies() {
    let mem = json!({"allow": true, "type": "c", "major": 1, "minor": 1, "access": "rw"});
    Chain::new(devices(&[]), devices(&[mem])).expect_loosens("resources.devices", &[]);
}

#[test]
fn a_later_policy_cannot_drop_a_created_namespace() {
    let first = allow(json!({"namespaces": [{"type": "pid"}, {"type": "network"}]}));
    let second = allow(json!({"namespaces": [{"type": "pid"}]}));
    Chain::new(first, second).expect_loosens("namespaces", &[]);
}

#[test]
fn a_later_policy_cannot_add_a_namespace_join() {
    let first = allow(json!({"namespaces": [{"type": "pid"}]}));
    let second = allow(json!({"namespaces": [
        {"type": "pid"},
        {"type": "network", "path": "/proc/1/ns/net"},
    ]}));
    Chain::new(first, second).expect_loosens("namespaces", &[]);
}

#[test]
fn the_cgroups_path_may_only_go_below() {
    let path = |path: &str| allow(json!({"cgroupsPath": path}));
    Chain::new(path("acme"), path("acme/job")).expect_tightens();
    Chain::new(path("acme"), path("other")).expect_loosens("cgroupsPath", &[]);
}

// ---- hugepages and rlimits ------------------------------------------------

#[test]
fn a_hugepage_limit_cannot_be_raised_or_removed() {
    let pages = |limit: u64| {
        allow(json!({"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": limit}]}}))
    };
    if let Some(chain) = Chain::on_this_host(pages(4 * MIB), pages(8 * MIB)) {
        chain.expect_loosens("resources.hugepageLimits[2MB]", &["raises"]);
    }
    if let Some(chain) = Chain::on_this_host(pages(4 * MIB), allow(json!({}))) {
        chain.expect_loosens("resources.hugepageLimits[2MB]", &["removes"]);
    }
}

#[test]
fn an_rlimit_cannot_be_raised_or_removed() {
    let nofile = |limit: u64| {
        allow(
            json!({"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}]}}),
        )
    };
    Chain::new(nofile(1024), nofile(4096))
        .expect_loosens("process.rlimits[RLIMIT_NOFILE]", &["raises"]);
    // A silent later policy leaves the workload the enforcer's own limit
    // (the normal form makes it explicit), which is higher here: that is
    // a raise, not a removal.
    Chain::new(nofile(1024), allow(json!({})))
        .expect_loosens("process.rlimits[RLIMIT_NOFILE]", &["raises 1024/1024 to"]);
}

// ---- hostname and domainname ----------------------------------------------

#[test]
fn a_hostname_cannot_be_changed_later() {
    let named = |name: &str| allow(json!({"hostname": name}));
    Chain::new(named("a"), named("b")).expect_loosens("hostname", &[]);
}

#[test]
fn a_hostname_left_unset_may_be_set_later() {
    Chain::new(allow(json!({})), allow(json!({"hostname": "b"}))).expect_tightens();
}

#[test]
fn a_domainname_cannot_be_changed_later() {
    let named = |name: &str| allow(json!({"domainname": name}));
    Chain::new(named("a"), named("b")).expect_loosens("domainname", &[]);
}

#[test]
fn a_domainname_left_unset_may_be_set_later() {
    Chain::new(allow(json!({})), allow(json!({"domainname": "b"}))).expect_tightens();
}

// ---- a tightening chain, applied ------------------------------------------

/// The default policy's id mapping: uid and gid 0 inside are 1000000000.
fn mapped(fields: Value) -> Value {
    let base = allow(json!({
        "namespaces": [{"type": "user"}, {"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                       {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}],
        "uidMappings": [{"containerID": 0, "hostID": 1_000_000_000u32, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 1_000_000_000u32, "size": 65536}],
        "cgroupsPath": "chain",
    }));
    merged(base, fields)
}

/// The rules a shell needs, with `/dev/zero` (c 1:5) denied and, if
/// `deny_urandom`, `/dev/urandom` (c 1:9) too.
fn sandbox_devices(deny_urandom: bool) -> Vec<Value> {
    let mut rules = vec![json!({"allow": false, "type": "a", "access": "rwm"})];
    for minor in [3, 7, 8, 9] {
        rules
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": minor, "access": "rwm"}));
    }
    rules.push(json!({"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"}));
    rules.push(json!({"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"}));
    rules.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
    if deny_urandom {
        rules.push(json!({"allow": false, "type": "c", "major": 1, "minor": 9, "access": "rwm"}));
    }
    rules
}

/// `<mount>/<root>/chain/<file>` of `controller`, with the v1 or v2 file
/// name as the hierarchy holding it on this host needs.
fn cgroup_file(root: &str, controller: &str, v1: &str, v2: &str) -> Option<String> {
    let (mount, file) = match discover().controller_state(controller) {
        ControllerState::V1(mount) => (mount, v1),
        ControllerState::V2(mount) => (mount, v2),
        _ => return None,
    };
    let path = mount.join(root).join("chain").join(file);
    Some(
        std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .trim()
            .to_string(),
    )
}

#[test]
fn a_tightening_chain_is_applied_as_the_tighter_decision() {
    require!(cannot_run());
    for controller in ["memory", "pids", "cpu", "devices"] {
        require!(usable(controller));
    }
    let caps = json!(["CAP_NET_BIND_SERVICE", "CAP_KILL"]);
    let first = mapped(json!({
        "resources": {
            "memory": {"limit": 256 * MIB},
            "pids": {"limit": 128},
            "cpu": {"quota": 100_000, "period": 100_000},
            "devices": sandbox_devices(false),
        },
        "process": {
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps,
                             "inheritable": [], "ambient": []},
            "noNewPrivileges": true,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        },
    }));
    let second = mapped(json!({
        "resources": {
            "memory": {"limit": 128 * MIB},
            "pids": {"limit": 32},
            "cpu": {"quota": 50_000, "period": 100_000},
            "devices": sandbox_devices(true),
        },
        "process": {
            "capabilities": {"bounding": [], "effective": [], "permitted": [],
                             "inheritable": [], "ambient": []},
            "noNewPrivileges": true,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 512}],
        },
    }));
    let chain = Chain::new(first, second);
    chain.expect_tightens();

    let harness = Harness::new();
    let (first, second) = (chain.first.display(), chain.second.display());
    let (first, second) = (first.to_string(), second.to_string());
    // The workload reports what it sees, waits for the test to read the
    // cgroup files from outside, then tries the devices.
    let script = "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; \
                  echo nofile=$(ulimit -n); echo ready; read go; \
                  head -c 1 /dev/zero > /dev/null 2>&1 && echo zero-open; \
                  head -c 1 /dev/urandom > /dev/null 2>&1 && echo urandom-open; \
                  echo done";
    let args = harness.run_args(
        &["--no-cache", "-p", &first, "-p", &second],
        &["/bin/sh", "-c", script],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_enforcer"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("enforcer starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("reads") == 0 {
            let output = child.wait_with_output().expect("waits");
            panic!(
                "the workload ended before it was ready: {seen:?}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if line.trim() == "ready" {
            break;
        }
        seen.push(line.trim().to_string());
    }
    let root = &harness.root;
    let kernel = [
        (
            cgroup_file(root, "memory", "memory.limit_in_bytes", "memory.max"),
            (128 * MIB).to_string(),
        ),
        (
            cgroup_file(root, "pids", "pids.max", "pids.max"),
            "32".into(),
        ),
        (
            cgroup_file(root, "cpu", "cpu.cfs_quota_us", "cpu.max").map(|quota| {
                // v2 says "50000 100000"; v1 the quota alone.
                quota.split_whitespace().next().unwrap_or("").to_string()
            }),
            "50000".into(),
        ),
    ];
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("releases the workload");
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("reads");
    let output = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for (read, expected) in kernel {
        assert_eq!(read.as_deref(), Some(expected.as_str()), "{stderr}");
    }
    assert_eq!(
        seen,
        [
            "CapEff:\t0000000000000000",
            "CapBnd:\t0000000000000000",
            "NoNewPrivs:\t1",
            "nofile=512",
        ],
        "{stderr}"
    );
    assert_eq!(
        rest, "done\n",
        "both /dev/zero (first's deny) and /dev/urandom (second's) are refused: {stderr}"
    );
}

#[test]
fn a_later_policy_narrows_a_networks_default_egress_and_never_widens_it() {
    let on_web = json!({"allow": true, "namespaces": [{"type": "network"}],
        "network": {"interfaces": [{"network": "web"}]}});
    let narrowed = json!({"allow": true, "namespaces": [{"type": "network"}],
        "network": {"interfaces": [{"network": "web", "egress": [
            {"destination": "203.0.113.2/32", "protocol": "tcp", "port": 8080}]}]}});
    let chain = Chain::new(on_web, narrowed);
    let config = chain.dir.path().join("config.toml");
    let write = |egress: &str| {
        std::fs::write(
            &config,
            format!("[networks.web]\nbridge = \"enftchain0\"\nsubnet = \"192.0.2.0/24\"\negress = {egress}\n"),
        )
        .expect("writes the config");
    };
    // Everything by default: the list narrows it, and the first policy's
    // decision already shows the default it stands for.
    write("\"all\"");
    let run = eval_under(Some(&config), &[&chain.first, &chain.second]);
    run.expect_code(0);
    let egress = &run.json()["network"]["interfaces"][0]["egress"];
    assert_eq!(
        egress,
        &json!([{"destination": "203.0.113.2/32", "protocol": "tcp", "port": 8080}]),
        "{}",
        run.stdout
    );
    let alone = eval_under(Some(&config), &[&chain.first]);
    alone.expect_code(0);
    assert_eq!(
        alone.json()["network"]["interfaces"][0]["egress"],
        json!([{"destination": "0.0.0.0/0"}, {"destination": "::/0"}]),
        "the network's default, written in: {}",
        alone.stdout
    );
    // Nothing by default: the same list adds a destination.
    write("\"none\"");
    let run = eval_under(Some(&config), &[&chain.first, &chain.second]);
    expect_loosened(
        &run,
        2,
        &chain.second,
        &["network.interfaces[0].egress[0]"],
        &["203.0.113.2/32"],
    );
    // Without the config the model cannot know the default: refused too.
    chain.expect_loosens(
        "network.interfaces[0].egress",
        &["the enforcer resolves each network's default"],
    );
}
