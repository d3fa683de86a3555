//! Run last, after every other test (`scripts/test` does, with
//! `--ignored`): proves the suite left nothing behind on this host. No
//! cgroup named like a test's in any hierarchy, no test state directory or
//! scratch file (`enforcer-test*` in the temporary directories), no test
//! mount, no
//! controller held by a hidden (unmounted) v1 hierarchy,
//! `nr_hugepages` as it was before the suite (`scripts/test` records it in
//! `ENFORCER_TEST_NR_HUGEPAGES`), no test network namespace
//! (`/run/netns/enforcer-test*`), and in the machine's own network
//! namespace no `enf*` link (a host end or a test bridge) and no nftables
//! table `inet enforcer` (read-only checks with `ip` and `nft`).

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
    leftovers.extend(network_leftovers());
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

/// The test network namespaces left, and the enforcer's links and table
/// in the machine's own network namespace (never created there: the
/// networking tests run the enforcer in namespaces of their own).
fn network_leftovers() -> Vec<String> {
    let mut leftovers = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("enforcer-test")
            {
                leftovers.push(format!("network namespace {}", entry.path().display()));
            }
        }
    }
    match std::process::Command::new("ip")
        .args(["-j", "link", "show"])
        .output()
    {
        Ok(output) if output.status.success() => {
            let links: Vec<serde_json::Value> =
                serde_json::from_slice(&output.stdout).unwrap_or_default();
            leftovers.extend(
                links
                    .iter()
                    .filter_map(|link| link["ifname"].as_str())
                    .filter(|name| name.starts_with(enforcer::network::HOST_INTERFACE_PREFIX))
                    .map(|name| format!("link {name} in the machine's network namespace")),
            );
        }
        _ => eprintln!("SKIPPED the link check: `ip -j link` did not run"),
    }
    match std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
    {
        Ok(output) if output.status.success() => {
            let tables = String::from_utf8_lossy(&output.stdout);
            if tables
                .lines()
                .any(|line| line.trim() == "table inet enforcer")
            {
                leftovers
                    .push("nftables table inet enforcer in the machine's network namespace".into());
            }
        }
        _ => eprintln!("SKIPPED the nftables check: `nft list tables` did not run"),
    }
    leftovers
}
