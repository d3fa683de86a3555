//! Controllers the host has not mounted, mounted by the enforcer as v1
//! hierarchies under a directory of its own: `net_cls`, `net_prio` and
//! `perf_event` (enabled in the kernel, mounted nowhere on the test hosts)
//! and `hugetlb` (offered by the cgroup2 root but not enabled for its
//! children, so the kernel lets a v1 hierarchy take it). Each test mounts
//! under `enforcer-test-mounts-*`, removes its cgroups, unmounts, and checks
//! the host is as it was. The tests run one at a time: a mount changes the
//! layout every other cgroup test would see.

#[path = "common/policies.rs"]
mod policies;
#[path = "common/cgroup.rs"]
mod test_cgroup;
#[path = "common/wat.rs"]
mod wat;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use enforcer::cgroup::{
    ControllerState, MountedController, discover, mount_controller, plan_mounting_on,
    unmount_controller,
};
use nix::libc;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork, pipe};
use policy_sdk::{Decision, InterfacePriority, MIB, Network, Resources};
use test_cgroup::{TestCgroup, cannot_run, require, skipped, unique_root};

/// One test at a time in this binary.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds [`SERIAL`] (also after another test panicked holding it).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Hierarchies a test mounted, unmounted on drop (after the test's
/// cgroups, which are declared later and so dropped first).
struct Mounts {
    base: tempfile::TempDir,
    points: Vec<MountedController>,
}

impl Mounts {
    fn new() -> Mounts {
        let base = tempfile::Builder::new()
            .prefix("enforcer-test-mounts-")
            .tempdir()
            .expect("tempdir");
        Mounts {
            base,
            points: Vec::new(),
        }
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        let mut failures = Vec::new();
        for point in self.points.drain(..).rev() {
            if let Err(error) = unmount_controller(&point) {
                failures.push(error.to_string());
            }
        }
        if std::thread::panicking() {
            return;
        }
        assert!(failures.is_empty(), "{failures:?}");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let base = self.base.path().display().to_string();
        assert!(
            !mountinfo.contains(&base),
            "a mount under {base} was left behind"
        );
    }
}

/// The controller's hierarchy id in `/proc/cgroups` (`0`: cgroup2 or none).
fn hierarchy_id(controller: &str) -> String {
    let text = enforcer::linux::proc::read_proc_cgroups().unwrap_or_default();
    enforcer::linux::proc::parse_proc_cgroups(&text)
        .into_iter()
        .find(|row| row.name == controller)
        .map(|row| row.hierarchy.to_string())
        .unwrap_or_default()
}

fn mountable(controller: &str) -> Option<&'static str> {
    match discover().controller_state(controller) {
        ControllerState::Disabled => Some("the controller is not in this kernel"),
        ControllerState::V2(_) => Some("the controller is in use on cgroup2 here"),
        _ => None,
    }
}

#[test]
fn net_cls_net_prio_and_perf_event_are_mounted_applied_and_unmounted() {
    let _serial = serial();
    require!(
        cannot_run()
            .or(mountable("net_cls"))
            .or(mountable("net_prio"))
            .or(mountable("perf_event"))
    );
    let before = discover();
    let hierarchy_before: std::collections::HashMap<&str, String> =
        ["net_cls", "net_prio", "perf_event"]
            .into_iter()
            .map(|controller| (controller, hierarchy_id(controller)))
            .collect();
    let mut mounts = Mounts::new();
    // perf_event has no limits: mount it so the sandbox is a member.
    if before.controller_state("perf_event") == ControllerState::Unmounted {
        let point = mount_controller(&before, "perf_event", mounts.base.path()).expect("mounts");
        mounts.points.push(point);
    }
    let resources = Resources {
        network: Some(Network {
            class_id: Some(0x0010_0001),
            priorities: vec![InterfacePriority {
                name: "lo".into(),
                priority: 5,
            }],
        }),
        ..Resources::default()
    };
    let root = unique_root();
    let (plan, layout, mounted) = plan_mounting_on(
        discover(),
        &enforcer::decision::NormalResources::from_oci(&resources),
        &root,
        "sandbox",
        mounts.base.path(),
        false,
    )
    .expect("plans");
    mounts.points.extend(mounted);
    for controller in ["net_cls", "net_prio", "perf_event"] {
        assert!(
            matches!(layout.controller_state(controller), ControllerState::V1(_)),
            "{controller} is mounted now"
        );
    }
    let cgroup = TestCgroup::with_plan(root, plan).create();
    let (_, stdout, stderr) = cgroup.run("cat /proc/self/cgroup");
    let suffix = format!("/{}/sandbox", cgroup.root);
    let memberships = enforcer::linux::proc::parse_proc_cgroup(&stdout);
    for controller in ["net_cls", "net_prio", "perf_event"] {
        assert!(
            memberships
                .iter()
                .any(|line| line.controllers == [controller] && line.path.ends_with(&suffix)),
            "{controller} membership in /proc/self/cgroup:\n{stdout}{stderr}"
        );
    }
    let read = |controller: &str, file: &str| {
        std::fs::read_to_string(cgroup.leaf(controller).join(file)).expect("reads")
    };
    assert_eq!(read("net_cls", "net_cls.classid").trim(), "1048577");
    assert!(
        read("net_prio", "net_prio.ifpriomap")
            .lines()
            .any(|line| line == "lo 5"),
        "ifpriomap names lo with priority 5"
    );
    drop(cgroup);
    drop(mounts);
    let after = discover();
    for controller in ["net_cls", "net_prio", "perf_event"] {
        assert_eq!(
            after.controller_state(controller),
            before.controller_state(controller),
            "{controller} is back as it was"
        );
        assert_eq!(
            hierarchy_id(controller),
            hierarchy_before[controller],
            "{controller} is not held by a hidden hierarchy (/proc/cgroups)"
        );
    }
}

/// Sets `/proc/sys/vm/nr_hugepages` and restores the old value on drop.
struct HugepageReserve {
    old: String,
}

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

impl HugepageReserve {
    /// Reserves `extra` more default-size pages; `None` if the kernel could
    /// not find them.
    fn add(extra: u64) -> Option<HugepageReserve> {
        let old = std::fs::read_to_string(NR_HUGEPAGES).expect("readable");
        let current: u64 = old.trim().parse().expect("a number");
        let reserve = HugepageReserve { old };
        std::fs::write(NR_HUGEPAGES, (current + extra).to_string()).expect("writable");
        let free = meminfo("HugePages_Free");
        (free >= extra).then_some(reserve)
    }
}

impl Drop for HugepageReserve {
    fn drop(&mut self) {
        if let Err(error) = std::fs::write(NR_HUGEPAGES, self.old.trim()) {
            eprintln!("cannot restore {NR_HUGEPAGES}: {error}");
        }
    }
}

fn meminfo(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// What both hugetlb tests need: 2 MB default pages, three of them reserved
/// (restored when the reserve drops), and whether hugetlb sits unused on
/// cgroup2 now (it must be back there at the end). `None`, with the reason
/// reported, where the host cannot provide that.
fn hugetlb_setup() -> Option<(HugepageReserve, bool)> {
    if meminfo("Hugepagesize") != 2048 {
        skipped("the test needs 2 MB default huge pages");
        return None;
    }
    let Some(reserve) = HugepageReserve::add(3) else {
        skipped("the kernel could not reserve 3 huge pages");
        return None;
    };
    let was_on_v2 = matches!(
        discover().controller_state("hugetlb"),
        ControllerState::V2NotEnabled(_)
    );
    Some((reserve, was_on_v2))
}

/// Forks a child that waits until `cgroup` holds it, then maps and touches
/// `pages` 2 MB huge pages. Returns how it ended.
fn map_hugepages(cgroup: &TestCgroup, pages: usize) -> WaitStatus {
    const PAGE: usize = 2 * 1024 * 1024;
    let (read_end, write_end) = pipe().expect("pipe");
    // SAFETY: the child only makes async-signal-safe calls (read, mmap,
    // memory writes, _exit) and never returns into the test harness.
    match unsafe { fork() }.expect("forks") {
        ForkResult::Child => unsafe {
            let mut byte = 0u8;
            libc::read(
                std::os::fd::AsRawFd::as_raw_fd(&read_end),
                (&mut byte as *mut u8).cast(),
                1,
            );
            let length = pages * PAGE;
            let address = libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB,
                -1,
                0,
            );
            if address == libc::MAP_FAILED {
                libc::_exit(3);
            }
            for page in 0..pages {
                std::ptr::write_volatile(address.cast::<u8>().add(page * PAGE), 1);
            }
            libc::_exit(0);
        },
        ForkResult::Parent { child } => {
            drop(read_end);
            enforcer::cgroup::join(cgroup.created(), &discover(), child.as_raw()).expect("joins");
            nix::unistd::write(&write_end, b"g").expect("releases");
            waitpid(child, None).expect("waits")
        }
    }
}

#[test]
fn hugetlb_limit_makes_the_mapping_fail() {
    let _serial = serial();
    require!(cannot_run().or(mountable("hugetlb")));
    let Some((_reserve, was_on_v2)) = hugetlb_setup() else {
        return;
    };
    let mut mounts = Mounts::new();
    let resources = Decision::allow()
        .hugepage_limit("2MB", 2 * MIB)
        .resources
        .expect("resources");
    let root = unique_root();
    let (plan, layout, mounted) = plan_mounting_on(
        discover(),
        &enforcer::decision::NormalResources::from_oci(&resources),
        &root,
        "sandbox",
        mounts.base.path(),
        false,
    )
    .expect("plans");
    mounts.points.extend(mounted);
    let hugetlb_leaf = match layout.controller_state("hugetlb") {
        ControllerState::V1(mount) | ControllerState::V2(mount) => {
            mount.join(&root).join("sandbox")
        }
        other => panic!("hugetlb is usable after mounting: {other:?}"),
    };
    let cgroup = TestCgroup::with_plan(root, plan).create();
    let limit_file = ["hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max"]
        .into_iter()
        .map(|file| hugetlb_leaf.join(file))
        .find(|file| file.exists())
        .expect("a limit file");
    assert_eq!(
        std::fs::read_to_string(&limit_file).expect("reads").trim(),
        "2097152"
    );

    let within = map_hugepages(&cgroup, 1);
    assert!(
        matches!(within, WaitStatus::Exited(_, 0)),
        "one page is within the limit: {within:?}"
    );
    let over = map_hugepages(&cgroup, 2);
    let failed = matches!(over, WaitStatus::Exited(_, 3))
        || matches!(
            over,
            WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGBUS, _)
        );
    assert!(
        failed,
        "two pages cross the limit: mmap fails or the fault is SIGBUS, got {over:?}"
    );
    let stats = enforcer::cgroup::stats::read(cgroup.created());
    let hugetlb = stats.hugetlb.get("2MB").expect("2MB stats");
    assert!(
        hugetlb.limit_hits + hugetlb.reservation_limit_hits > 0,
        "the refusal is counted: {hugetlb:?}"
    );
    drop(cgroup);
    drop(mounts);
    assert!(
        !Path::new(&limit_file).exists(),
        "the hugetlb cgroup is gone"
    );
    if was_on_v2 {
        assert_eq!(hierarchy_id("hugetlb"), "0", "hugetlb is back on cgroup2");
        wait_until_back_on_v2("hugetlb");
    }
}

/// After unmounting, a controller taken from cgroup2 returns to the v2
/// root once the kernel has freed the hierarchy.
fn wait_until_back_on_v2(controller: &str) {
    let Some(v2) = discover().v2 else { return };
    let controllers = v2.mount_point.join("cgroup.controllers");
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&controllers).unwrap_or_default();
        if text.split_whitespace().any(|name| name == controller) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{controller} did not return to {}",
            controllers.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Not a test of its own: the workload of
/// `run_mounts_hugetlb_and_the_workload_faults_beyond_the_limit`, run inside
/// a sandbox as `<this binary> --exact hugetlb_workload --ignored`. Maps and
/// touches `ENFORCER_TEST_HUGETLB_PAGES` 2 MB pages.
#[test]
#[ignore = "a workload for another test, run inside a sandbox"]
fn hugetlb_workload() {
    let Ok(pages) = std::env::var("ENFORCER_TEST_HUGETLB_PAGES") else {
        return;
    };
    let pages: usize = pages.parse().expect("a number");
    const PAGE: usize = 2 * 1024 * 1024;
    // SAFETY: an anonymous mapping we only write into and never free.
    unsafe {
        let address = libc::mmap(
            std::ptr::null_mut(),
            pages * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB,
            -1,
            0,
        );
        assert_ne!(
            address,
            libc::MAP_FAILED,
            "mmap of {pages} huge pages: {}",
            std::io::Error::last_os_error()
        );
        for page in 0..pages {
            std::ptr::write_volatile(address.cast::<u8>().add(page * PAGE), 1);
        }
    }
}

#[test]
fn run_mounts_hugetlb_and_the_workload_faults_beyond_the_limit() {
    let _serial = serial();
    require!(cannot_run().or(mountable("hugetlb")));
    let Some((_reserve, was_on_v2)) = hugetlb_setup() else {
        return;
    };
    let mut mounts = Mounts::new();
    let already_mounted = matches!(
        discover().controller_state("hugetlb"),
        ControllerState::V1(_)
    );
    if !already_mounted {
        mounts.points.push(MountedController {
            controller: "hugetlb".into(),
            mount_point: mounts.base.path().join("hugetlb"),
        });
    }
    let root = unique_root();
    let state = tempfile::Builder::new()
        .prefix("enforcer-test-state-")
        .tempdir()
        .expect("tempdir");
    let policy = policies::example("test_labels");
    let this_binary = std::env::current_exe().expect("test binary");
    let run = |pages: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_enforcer"))
            .args(["run", "--cgroup-root", &root, "--state-dir"])
            .arg(state.path())
            .arg(format!(
                "--mount-controllers={}",
                mounts.base.path().display()
            ))
            .args(["-p"])
            .arg(&policy)
            .args(["-l", "hugetlb-2mb=2097152", "--"])
            // The workload gets none of the enforcer's environment: pass
            // the page count through env(1).
            .arg("/usr/bin/env")
            .arg(format!("ENFORCER_TEST_HUGETLB_PAGES={pages}"))
            .arg(&this_binary)
            .args(["--exact", "hugetlb_workload", "--ignored", "--nocapture"])
            .output()
            .expect("enforcer runs")
    };
    let within = run("1");
    let over = run("2");
    let stderr =
        |output: &std::process::Output| String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        within.status.code(),
        Some(0),
        "one page fits: {}",
        stderr(&within)
    );
    let code = over.status.code();
    // The mmap is refused (reservation limit: the test panics, exit 101)
    // or the fault kills it (SIGBUS: 128 + 7).
    assert!(
        code == Some(101) || code == Some(135),
        "two pages cross the 2 MB limit: {code:?} {}",
        stderr(&over)
    );
    // The audit log stays: it is the runs' record, not sandbox state.
    let left = state_left(state.path());
    assert!(left.is_empty(), "no state left: {left:?}");
    drop(mounts);
    if was_on_v2 {
        assert_eq!(hierarchy_id("hugetlb"), "0", "hugetlb is back on cgroup2");
    }
}

/// `enforcer ARGS`, with its exit status and output.
/// What is left in a state directory besides the audit log (the runs'
/// record, not sandbox state).
fn state_left(state: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(state)
        .expect("state dir")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("audit.log"))
        .collect()
}

fn enforcer_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_enforcer"))
        .args(args)
        .output()
        .expect("enforcer runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn gc_after_mount_controllers_succeeds_and_gc_mounts_releases_the_mount() {
    let _serial = serial();
    require!(cannot_run().or(mountable("net_cls")));
    if discover().controller_state("net_cls") != ControllerState::Unmounted {
        skipped("net_cls is mounted here already: run would not mount it");
        return;
    }
    let hierarchy_before = hierarchy_id("net_cls");
    let mut mounts = Mounts::new();
    // The default layout: the mount directory inside the state directory
    // (`/run/enforcer/cgroup` in `/run/enforcer`).
    let state = mounts.base.path().join("state");
    let base = state.join("cgroup");
    std::fs::create_dir(&state).expect("mkdir");
    let (state_arg, base_arg) = (state.display().to_string(), base.display().to_string());
    // Unmounted on drop if the test fails before gc releases it.
    mounts.points.push(MountedController {
        controller: "net_cls".into(),
        mount_point: base.join("net_cls"),
    });
    let policy = wat::decision_module(
        mounts.base.path(),
        "net-cls",
        &serde_json::json!({"allow": true, "resources": {"network": {"classID": 0x0010_0001}}}),
    );
    let root = unique_root();
    let (code, stdout, stderr) = enforcer_cli(&[
        "run",
        "--cgroup-root",
        &root,
        "--state-dir",
        &state_arg,
        &format!("--mount-controllers={base_arg}"),
        "-p",
        &policy.display().to_string(),
        "--id",
        "net",
        "--detach",
        "--",
        "/bin/sleep",
        "60",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "net");
    assert!(
        stderr.contains("mounted the net_cls controller"),
        "{stderr}"
    );
    let sandbox_cgroup = base.join("net_cls").join(&root);
    assert!(
        sandbox_cgroup.exists(),
        "the sandbox is in the mounted hierarchy"
    );

    // gc takes the mount directory for no sandbox; the running one stays.
    let (code, stdout, stderr) = enforcer_cli(&["gc", "--state-dir", &state_arg]);
    assert_eq!((code, stdout.as_str()), (Some(0), ""), "{stderr}");
    // check says how to release it.
    let (_, report, _) = enforcer_cli(&["check", "--json", "--mount-dir", &base_arg]);
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    let rows = report["enforcerMounts"]
        .as_array()
        .or_else(|| report["enforcer_mounts"].as_array())
        .expect("enforcer mounts");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let release = rows[0]["release"].as_str().expect("release");
    assert!(
        release.ends_with(&format!("enforcer gc --mounts --mount-dir {base_arg}")),
        "{release}"
    );

    // In use: kept, with why.
    let gc_mounts = || {
        enforcer_cli(&[
            "gc",
            "--state-dir",
            &state_arg,
            "--mounts",
            "--mount-dir",
            &base_arg,
            "--json",
        ])
    };
    let (code, stdout, stderr) = gc_mounts();
    assert_eq!(code, Some(0), "{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(outcome["released"], serde_json::json!([]));
    let kept = outcome["kept"].as_array().expect("kept");
    assert_eq!(kept.len(), 1, "{outcome}");
    assert_eq!(kept[0]["path"], base.join("net_cls").display().to_string());
    let why = kept[0]["why"].as_str().expect("why");
    assert!(
        why.contains("cgroups still exist in it") && why.contains(&root),
        "{why}"
    );

    let (code, _, stderr) = enforcer_cli(&["delete", "--state-dir", &state_arg, "net"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!sandbox_cgroup.exists());
    let (code, stdout, stderr) = gc_mounts();
    assert_eq!(code, Some(0), "{stderr}");
    let outcome: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        outcome,
        serde_json::json!({
            "removed": [],
            "refused": [],
            "released": [{"controller": "net_cls", "path": base.join("net_cls")}],
            "kept": [],
            "hostIds": [],
            "addresses": [],
        })
    );
    // Released: nothing mounted below, the directories gone, the
    // controller back where it was.
    mounts.points.clear();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(!mountinfo.contains(&base_arg), "{mountinfo}");
    assert!(!base.exists(), "the mount directory is removed");
    assert_eq!(hierarchy_id("net_cls"), hierarchy_before);
    assert_eq!(
        discover().controller_state("net_cls"),
        ControllerState::Unmounted
    );
    let left = state_left(&state);
    assert!(left.is_empty(), "no state left: {left:?}");
}
