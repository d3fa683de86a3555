//! Real cgroups on this host: plans are created, processes join them, the
//! kernel enforces the limits (the workload itself fails), and everything
//! is removed. Every cgroup lives under a root named `enforcer-test-...`,
//! unique per test, and is removed even when an assertion fails.

#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::path::Path;
use std::time::Duration;

use test_cgroup::{TestCgroup, cannot_run, require, skipped, usable, wait_for};

use enforcer::cgroup::{
    ControllerState, CreatedCgroup, Freezer, PlannedWrite, Value, create, discover, plan, remove,
};
use policy_sdk::devices::oci_default_devices;
use policy_sdk::{
    BlockIo, Decision, DeviceRule, MIB, Pids, Resources, ThrottleDevice, WeightDevice,
};

#[test]
fn pids_limit_makes_fork_fail() {
    require!(cannot_run().or(usable("pids")));
    let resources = Decision::allow().pids(4).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    assert_eq!(
        std::fs::read_to_string(cgroup.leaf("pids").join("pids.max"))
            .expect("reads")
            .trim(),
        "4"
    );
    let (_, stdout, stderr) =
        cgroup.run("for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait; echo finished");
    assert!(
        stderr.to_lowercase().contains("fork"),
        "the shell must fail to fork:\nstdout {stdout}\nstderr {stderr}"
    );
    let pids = cgroup.stats().pids.expect("pids stats");
    assert_eq!(pids.limit, Some(4));
    assert!(pids.limit_hits > 0, "refused forks are counted: {pids:?}");
}

/// Two rule lists and what each must do to `/dev/null` (1:3), `/dev/zero`
/// (1:5) and a block device, as seen by a shell inside the cgroup.
fn device_cases() -> Vec<(Vec<DeviceRule>, [bool; 3])> {
    vec![
        (
            vec![
                DeviceRule::deny_all(),
                DeviceRule::allow_char(1, Some(3), "rwm"),
            ],
            [true, false, false],
        ),
        (oci_default_devices(), [true, true, false]),
    ]
}

/// Whether the workload could open `/dev/null`, `/dev/zero` and `block`.
fn device_verdicts(cgroup: &TestCgroup, block: &str) -> [bool; 3] {
    let (_, stdout, stderr) = cgroup.run(&format!(
        "echo x > /dev/null && echo null-ok; head -c 1 /dev/zero > /dev/null && echo zero-ok; head -c 1 {block} > /dev/null && echo block-ok"
    ));
    let verdicts = [
        stdout.contains("null-ok"),
        stdout.contains("zero-ok"),
        stdout.contains("block-ok"),
    ];
    for (opened, name) in verdicts.iter().zip(["/dev/null", "/dev/zero", block]) {
        if !opened {
            assert!(
                stderr
                    .lines()
                    .any(|line| line.contains(name) && line.contains("Operation not permitted")),
                "{name} must fail with EPERM from the device controller: {stderr}"
            );
        }
    }
    verdicts
}

/// A block device node the host has, for device-rule tests.
fn block_device() -> Option<String> {
    ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/loop0"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .map(String::from)
}

#[test]
fn v1_device_rules_deny_and_allow_as_listed() {
    require!(cannot_run());
    if !matches!(
        discover().controller_state("devices"),
        ControllerState::V1(_)
    ) {
        skipped("the devices controller is not on a v1 hierarchy here");
        return;
    }
    let Some(block) = block_device() else {
        skipped("no block device node to test with");
        return;
    };
    for (rules, expected) in device_cases() {
        let resources = Resources {
            devices: rules.clone(),
            ..Resources::default()
        };
        let cgroup = TestCgroup::plan(&resources).create();
        if rules.len() == 2 {
            let list = std::fs::read_to_string(cgroup.leaf("devices").join("devices.list"))
                .expect("reads");
            assert_eq!(list.trim(), "c 1:3 rwm", "the kernel's view of the rules");
        }
        assert_eq!(device_verdicts(&cgroup, &block), expected, "{rules:?}");
    }
}

#[test]
fn v2_device_program_denies_and_allows_as_listed() {
    require!(cannot_run());
    let mut layout = discover();
    let Some(v2) = layout.v2.clone() else {
        skipped("no cgroup2 hierarchy to attach a device program to");
        return;
    };
    let Some(block) = block_device() else {
        skipped("no block device node to test with");
        return;
    };
    // As on a pure v2 host: the plan does not see a v1 devices hierarchy,
    // so the rules become an eBPF program on the unified hierarchy (which
    // the kernel runs even in hybrid mode). Our process stays in the v1
    // devices root, which allows everything: only the program can deny.
    for hierarchy in &mut layout.v1 {
        hierarchy.controllers.retain(|name| name != "devices");
    }
    for (rules, expected) in device_cases() {
        let resources = Resources {
            devices: rules.clone(),
            ..Resources::default()
        };
        let cgroup = TestCgroup::plan_on(&resources, &layout).create();
        let leaf = v2.mount_point.join(&cgroup.root).join("sandbox");
        let program = cgroup.plan.device_program.as_ref().expect("a program");
        assert_eq!(program.cgroup, leaf);
        assert_eq!(
            enforcer::cgroup::devices_bpf::attached(&leaf).expect("queries"),
            1,
            "one device program attached to {}",
            leaf.display()
        );
        assert_eq!(device_verdicts(&cgroup, &block), expected, "{rules:?}");
    }
}

#[test]
fn memory_limit_oom_kills_the_hog() {
    require!(cannot_run().or(usable("memory")));
    let resources = Decision::allow()
        .memory_limit(16 * MIB)
        .resources
        .expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let (_, stdout, stderr) =
        cgroup.run("head -c 200000000 /dev/zero | tail -n 1 > /dev/null; echo status=$?");
    assert!(
        stdout.contains("status=137"),
        "the hog must be SIGKILLed by the OOM killer: {stdout} {stderr}"
    );
    let memory = cgroup.stats().memory.expect("memory stats");
    assert!(
        memory.oom_kills >= 1 && memory.limit_hits > 0,
        "the OOM kill shows in stats: {memory:?}"
    );
    assert_eq!(memory.limit, Some(16 * MIB));
    let leaf = cgroup.leaf("memory");
    if leaf.join("memory.failcnt").exists() {
        let failcnt: u64 = std::fs::read_to_string(leaf.join("memory.failcnt"))
            .expect("reads")
            .trim()
            .parse()
            .expect("number");
        assert!(failcnt > 0, "memory.failcnt records the limit being hit");
    } else {
        let events = std::fs::read_to_string(leaf.join("memory.events")).expect("reads");
        assert!(
            events.contains("oom_kill 1")
                || events
                    .lines()
                    .any(|l| l.starts_with("oom_kill ") && !l.ends_with(" 0")),
            "{events}"
        );
    }
}

#[test]
fn a_failing_write_leaves_nothing_behind() {
    require!(cannot_run().or(usable("pids")).or(usable("memory")));
    let resources = Resources {
        pids: Some(Pids { limit: 8 }),
        ..Decision::allow()
            .memory_limit(64 * MIB)
            .resources
            .expect("resources")
    };
    let mut cgroup = TestCgroup::plan(&resources);
    let pids_max = cgroup.leaf("pids").join("pids.max");
    cgroup.plan.writes.push(PlannedWrite {
        controller: "pids".into(),
        file: pids_max.clone(),
        value: Value::Literal("not-a-number".into()),
        optional: false,
        fallback: None,
    });
    let error = create(&cgroup.plan).expect_err("the kernel refuses the value");
    let message = error.to_string();
    assert!(
        message.contains("not-a-number") && message.contains("pids.max"),
        "{message}"
    );
    for directory in &cgroup.plan.directories {
        assert!(
            !directory.exists(),
            "{} survived a failed create",
            directory.display()
        );
    }
    assert!(!Path::new(&pids_max).exists());
}

#[test]
fn an_existing_cgroup_is_a_conflict() {
    require!(cannot_run().or(usable("pids")));
    let resources = Decision::allow().pids(8).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let error = create(&cgroup.plan).expect_err("second create conflicts");
    assert!(error.to_string().contains("already exists"), "{error}");
    assert!(
        cgroup.leaf("pids").exists(),
        "the conflict must not remove the first sandbox's cgroup"
    );
}

#[test]
fn cpuset_pins_the_child() {
    require!(cannot_run().or(usable("cpuset")));
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let last = (cpus - 1).to_string();
    let resources = Decision::allow().cpus(&last).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let (_, stdout, stderr) = cgroup.run("grep Cpus_allowed_list /proc/self/status");
    assert_eq!(
        stdout.trim(),
        format!("Cpus_allowed_list:\t{last}"),
        "{stderr}"
    );
}

#[test]
fn cpu_quota_throttles_a_busy_loop() {
    require!(cannot_run().or(usable("cpu")));
    let resources = Decision::allow()
        .cpu_quota(10_000, 100_000)
        .resources
        .expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let (_, stdout, stderr) = cgroup.run("timeout 0.5 sh -c 'while :; do :; done'; echo done");
    assert!(stdout.contains("done"), "{stderr}");
    let cpu = cgroup.stats().cpu.expect("cpu stats");
    assert!(
        cpu.throttled_periods > 0 && cpu.throttled_ns > 0,
        "10% of a CPU throttles a busy loop: {cpu:?}"
    );
    assert!(cpu.usage_ns > 0);
}

/// Bytes in `file`, or 0.
fn size(file: &Path) -> u64 {
    std::fs::metadata(file).map_or(0, |meta| meta.len())
}

#[test]
fn a_frozen_child_makes_no_progress_and_a_thawed_one_does() {
    require!(cannot_run().or(usable("freezer")));
    let resources = Decision::allow().pids(16).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let v2 = discover()
        .v2
        .map(|v2| v2.mount_point.join(&cgroup.root).join("sandbox"))
        .filter(|leaf| leaf.join("cgroup.freeze").exists());
    let freezers = [
        Some(Freezer::V1(cgroup.leaf("freezer"))),
        v2.map(Freezer::V2),
    ];
    let scratch = tempfile::tempdir().expect("tempdir");
    let progress = scratch.path().join("progress");
    let mut child = cgroup.spawn(&format!(
        "while :; do echo x >> {}; done",
        progress.display()
    ));
    for freezer in freezers.into_iter().flatten() {
        wait_for("the loop to run", || size(&progress) > 0);
        freezer.freeze(Duration::from_secs(5)).expect("freezes");
        assert!(freezer.is_frozen(), "{freezer:?}");
        assert_eq!(cgroup.stats().frozen, Some(true));
        let before = size(&progress);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            size(&progress),
            before,
            "{freezer:?}: no progress while frozen"
        );
        freezer.thaw().expect("thaws");
        wait_for("progress after thawing", || size(&progress) > before);
        assert!(!freezer.is_frozen());
    }
    drop(cgroup);
    let status = child.wait().expect("waits");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "removal SIGKILLs the loop"
    );
}

#[test]
fn remove_kills_every_member_and_is_idempotent() {
    require!(cannot_run().or(usable("pids")));
    let resources = Decision::allow().pids(16).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources).create();
    let mut child = cgroup.spawn("sleep 1000 & sleep 1000 & wait");
    let leaf = cgroup.leaf("pids");
    wait_for("three members", || {
        enforcer::cgroup::members(&leaf).len() == 3
    });
    let members = enforcer::cgroup::members(&leaf);
    remove(cgroup.created(), Duration::from_secs(10)).expect("removes");
    for directory in &cgroup.plan.directories {
        assert!(!directory.exists(), "{}", directory.display());
    }
    for pid in members {
        assert!(!test_cgroup::alive(pid), "member {pid} survived");
    }
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&child.wait().expect("waits")),
        Some(9)
    );
    remove(cgroup.created(), Duration::from_secs(1)).expect("a second removal is a no-op");
}

#[test]
fn remove_cleans_up_a_half_created_cgroup() {
    require!(cannot_run().or(usable("pids")));
    let resources = Decision::allow().pids(16).resources.expect("resources");
    let cgroup = TestCgroup::plan(&resources);
    // Only the first hierarchy's directories exist, as after a crash.
    let half: Vec<_> = cgroup.plan.directories[..2].to_vec();
    for directory in &half {
        std::fs::create_dir(directory).expect("mkdir");
    }
    let partial = CreatedCgroup {
        created: cgroup.plan.directories.clone(),
        leaves: cgroup.plan.leaves.clone(),
    };
    remove(&partial, Duration::from_secs(5)).expect("removes what exists");
    for directory in &half {
        assert!(!directory.exists(), "{}", directory.display());
    }
}

#[test]
fn blkio_files_read_back_as_written() {
    require!(cannot_run().or(usable("blkio")));
    let Some(device) = block_device() else {
        skipped("no block device node to test with");
        return;
    };
    let name = Path::new(&device)
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let numbers = std::fs::read_to_string(format!("/sys/class/block/{name}/dev")).expect("dev");
    let (major, minor) = numbers.trim().split_once(':').expect("major:minor");
    let (major, minor): (i64, i64) = (major.parse().expect("major"), minor.parse().expect("minor"));
    let throttle = |rate| vec![ThrottleDevice { major, minor, rate }];
    let weight_device = vec![WeightDevice {
        major,
        minor,
        weight: Some(300),
        leaf_weight: None,
    }];
    let resources = Resources {
        block_io: Some(BlockIo {
            weight: Some(500),
            throttle_read_bps_device: throttle(1_048_576),
            throttle_write_bps_device: throttle(2_097_152),
            throttle_read_iops_device: throttle(100),
            throttle_write_iops_device: throttle(200),
            ..BlockIo::default()
        }),
        ..Resources::default()
    };
    let cgroup = TestCgroup::plan(&resources).create();
    let leaf = cgroup.leaf("blkio");
    let read = |file: &str| std::fs::read_to_string(leaf.join(file)).unwrap_or_default();
    for (file, rate) in [
        ("blkio.throttle.read_bps_device", 1_048_576),
        ("blkio.throttle.write_bps_device", 2_097_152),
        ("blkio.throttle.read_iops_device", 100),
        ("blkio.throttle.write_iops_device", 200),
    ] {
        assert_eq!(
            read(file).trim(),
            format!("{major}:{minor} {rate}"),
            "{file}"
        );
    }
    let weight = if leaf.join("blkio.weight").exists() {
        read("blkio.weight")
    } else {
        read("blkio.bfq.weight")
    };
    assert!(weight.contains("500"), "weight: {weight}");
    drop(cgroup);

    // A per-device weight needs a proportional scheduler (CFQ or BFQ) on
    // that device; the kernel refuses it otherwise, and the error says so.
    let mut with_device_weight = resources.clone();
    if let Some(block_io) = &mut with_device_weight.block_io {
        block_io.weight_device = weight_device;
    }
    let scheduler = std::fs::read_to_string(format!("/sys/class/block/{name}/queue/scheduler"))
        .unwrap_or_default();
    let proportional = scheduler.contains("[bfq]") || scheduler.contains("[cfq]");
    let mut cgroup = TestCgroup::plan(&with_device_weight);
    match create(&cgroup.plan) {
        Ok(created) => {
            cgroup.created = Some(created);
            assert!(proportional, "{name} uses {scheduler}");
            let leaf = cgroup.leaf("blkio");
            let file = ["blkio.weight_device", "blkio.bfq.weight_device"]
                .into_iter()
                .find(|file| leaf.join(file).exists())
                .expect("a weight_device file");
            let text = std::fs::read_to_string(leaf.join(file)).expect("reads");
            assert!(
                text.contains(&format!("{major}:{minor} 300")),
                "{file}: {text}"
            );
        }
        Err(error) => {
            assert!(!proportional, "{name} uses {scheduler}: {error}");
            let message = error.to_string();
            assert!(
                message.contains("weight_device")
                    && message.contains(&format!("{major}:{minor} 300"))
                    && message.contains("Operation not supported"),
                "{message}"
            );
            for directory in &cgroup.plan.directories {
                assert!(!directory.exists(), "{}", directory.display());
            }
        }
    }
}

#[test]
fn sandboxes_sharing_a_parent_are_removed_independently() {
    require!(cannot_run().or(usable("pids")));
    let resources = enforcer::decision::NormalResources::from_oci(
        &Decision::allow().pids(16).resources.expect("resources"),
    );
    let layout = discover();
    let root = test_cgroup::unique_root();
    let first = plan(&resources, &layout, &root, "first").expect("plans");
    let second = plan(&resources, &layout, &root, "second").expect("plans");
    let first = create(&first).expect("creates");
    let second = match create(&second) {
        Ok(second) => second,
        Err(error) => {
            remove(&first, Duration::from_secs(5)).expect("removes");
            panic!("the second sandbox: {error}");
        }
    };
    // The first created the shared parents; removing it must leave the
    // second whole.
    let removed_first = remove(&first, Duration::from_secs(5));
    let second_intact = second.leaves.iter().all(|leaf| leaf.exists());
    let removed_second = remove(&second, Duration::from_secs(5));
    // The parents are the first sandbox's; nothing removes them now.
    for parent in &first.created {
        if !first.leaves.contains(parent) {
            let _ = std::fs::remove_dir(parent);
        }
    }
    removed_first.expect("the first is removed while the second lives");
    removed_second.expect("the second is removed");
    assert!(
        second_intact,
        "removing the first took the second's cgroups"
    );
    for directory in first.created.iter().chain(&second.created) {
        assert!(!directory.exists(), "{}", directory.display());
    }
}
