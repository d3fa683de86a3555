//! Run last, after every other test (`scripts/test` does, with
//! `--ignored`): proves the suite left nothing behind on this host. No
//! cgroup named like a test's in any hierarchy, no test state directory or
//! scratch file (`enforcer-test*` in the temporary directories), no test
//! mount, no
//! controller held by a hidden (unmounted) v1 hierarchy, and
//! `nr_hugepages` as it was before the suite (`scripts/test` records it in
//! `ENFORCER_TEST_NR_HUGEPAGES`).

use enforcer::cgroup::{ControllerState, discover};

#[test]
#[ignore = "runs after the whole suite: scripts/test calls it with --ignored"]
fn the_suite_left_nothing_behind() {
    let layout = discover();
    let mut leftovers = Vec::new();
    let roots = layout
        .v1
        .iter()
        .chain(layout.v2.iter())
        .map(|hierarchy| hierarchy.mount_point.clone());
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("enforcer-test") {
                leftovers.push(entry.path().display().to_string());
            }
        }
    }
    // Test state directories, mount bases and scratch files.
    for directory in [std::env::temp_dir(), std::path::PathBuf::from("/var/tmp")] {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("enforcer-test")
            {
                leftovers.push(entry.path().display().to_string());
            }
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    leftovers.extend(
        mountinfo
            .lines()
            .filter(|line| line.contains("enforcer-test"))
            .map(|line| format!("mount: {line}")),
    );
    // A controller with a hierarchy id but no mount is held by a hidden
    // hierarchy: a test unmounted it while one of its cgroups lived on.
    let proc_cgroups = enforcer::linux::proc::read_proc_cgroups().expect("/proc/cgroups");
    for row in enforcer::linux::proc::parse_proc_cgroups(&proc_cgroups) {
        if row.hierarchy != 0
            && !matches!(layout.controller_state(&row.name), ControllerState::V1(_))
        {
            leftovers.push(format!(
                "hidden hierarchy {} holds {}",
                row.hierarchy, row.name
            ));
        }
    }
    match std::env::var("ENFORCER_TEST_NR_HUGEPAGES") {
        Ok(before) => {
            let now = std::fs::read_to_string("/proc/sys/vm/nr_hugepages").expect("readable");
            if now.trim() != before.trim() {
                leftovers.push(format!("nr_hugepages is {} (was {before})", now.trim()));
            }
        }
        Err(_) => eprintln!(
            "SKIPPED the nr_hugepages check: ENFORCER_TEST_NR_HUGEPAGES is not set (scripts/test sets it)"
        ),
    }
    assert!(
        leftovers.is_empty(),
        "the test suite left these behind:\n{}",
        leftovers.join("\n")
    );
}
