//! `enforcer test` against the golden case files in `tests/cases/`.

mod common;

use common::{enforcer, example, fixture};

#[test]
fn tenant_tiers_golden_cases_pass() {
    let run = enforcer(&[
        "test",
        "--no-cache",
        "--policy",
        &example("tenant_tiers"),
        &fixture("cases/tenant-tiers.toml"),
        &fixture("cases/tenant-tiers.json"),
    ]);
    run.expect_code(0);
    assert!(run.stdout.contains("ok    "), "{}", run.stdout);
    let summary = run.stdout.lines().last().expect("summary");
    assert!(summary.ends_with(" passed, 0 failed"), "{summary}");
}

#[test]
fn default_policy_golden_cases_pass() {
    let run = enforcer(&["test", "--no-cache", &fixture("cases/default.toml")]);
    run.expect_code(0);
}

#[test]
fn settings_policy_golden_cases_pass() {
    let run = enforcer(&[
        "test",
        "--no-cache",
        "--policy",
        &example("test_settings"),
        &fixture("cases/settings-policy.toml"),
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("5 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
}

/// Runs `enforcer test` with `args`, expecting every one of `count` cases
/// to pass.
fn expect_all_pass(args: &[&str], count: usize) {
    let run = enforcer(args);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with(&format!("{count} passed, 0 failed\n")),
        "{}",
        run.stdout
    );
}

/// The Kubernetes path's policies on requests `enforcer runtime create`
/// makes (`container` and a `requestedSpec` as containerd writes them: a
/// pod container joining its sandbox's namespaces, the pause sandbox, a
/// privileged, a hostNetwork and a hostPath container). The case files are
/// JSON: the requests are whole specs.
#[test]
fn pss_baseline_golden_cases_pass() {
    expect_all_pass(
        &[
            "test",
            "--no-cache",
            "--policy",
            &example("pss_baseline"),
            &fixture("cases/pss-baseline.json"),
        ],
        11,
    );
}

#[test]
fn namespace_tiers_golden_cases_pass() {
    expect_all_pass(
        &[
            "test",
            "--no-cache",
            "--policy",
            &example("namespace_tiers"),
            &fixture("cases/namespace-tiers.json"),
        ],
        7,
    );
}

#[test]
fn default_policy_container_golden_cases_pass() {
    expect_all_pass(
        &[
            "test",
            "--no-cache",
            &fixture("cases/default-containers.json"),
        ],
        5,
    );
}

/// The chain docs/kubernetes.md configures: pss-baseline as the platform
/// policy (kube-system exempt), namespace-tiers as the tenant policy of
/// each namespace, with the namespace's tier in the tenant's settings.
/// The chain is built for each case, so the compiled modules are cached
/// first, one per `config check` (a debug build compiles slowly, and each
/// command has its hang guard).
#[test]
fn kubernetes_chain_from_the_config_passes_its_golden_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let platform = format!(
        "cache_dir = {cache:?}\n\n[[platform]]\npolicy = {pss:?}\n\
         settings = {{ exemptNamespaces = [\"kube-system\"] }}\n",
        pss = example("pss_baseline"),
    );
    let tiers = example("namespace_tiers");
    let tenants = format!(
        "\n[tenants.team-a]\npolicy = {tiers:?}\n\n\
         [tenants.team-b]\npolicy = {tiers:?}\nsettings = {{ tier = \"pro\" }}\n\n\
         [tenants.kube-system]\n"
    );
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("writes a config");
        path.display().to_string()
    };
    let platform_only = write("platform.toml", &platform);
    let config = write("config.toml", &format!("{platform}{tenants}"));
    for warm in [&platform_only, &config] {
        enforcer(&["--config", warm, "config", "check"]).expect_code(0);
    }
    expect_all_pass(
        &[
            "--config",
            &config,
            "test",
            &fixture("cases/kubernetes-chain.json"),
        ],
        7,
    );
}

#[test]
fn failing_cases_are_reported_and_fail_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wrong.toml");
    std::fs::write(
        &path,
        r#"
[[case]]
name = "wrong memory"
request = { tenant = "acme", command = ["sh"] }
expect = { allow = true, decision = { resources = { memory = { limit = 1 } } } }

[[case]]
name = "wrong verdict"
request = { command = ["sh"] }
expect = { allow = true }

[[case]]
name = "right"
request = { command = ["sh"] }
expect = { allow = false, reason = "tenant" }
"#,
    )
    .expect("writes cases");
    let run = enforcer(&[
        "test",
        "--no-cache",
        "-p",
        &example("tenant_tiers"),
        &path.display().to_string(),
    ]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("FAIL")
            && run
                .stdout
                .contains("resources.memory.limit: expected 1, got 268435456"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("wrong verdict: expected allow, got a denial (requests must name a tenant)"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().last(), Some("1 passed, 2 failed"));
}

#[test]
fn malformed_case_files_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("typo.toml");
    std::fs::write(
        &path,
        "[[case]]\nname = \"x\"\nrequest = {}\nexpect = { alow = true }\n",
    )
    .expect("writes");
    let run = enforcer(&["test", "--no-cache", &path.display().to_string()]);
    run.expect_code(2).expect_stderr(&["typo.toml", "alow"]);
}

/// Writes `text` as `NAME` in a new temp dir; the dir and the file's path.
fn case_file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writes cases");
    let path = path.display().to_string();
    (dir, path)
}

/// Cases for tenant-tiers: two that pass and three that fail, one per new
/// expectation.
const MIXED_CASES: &str = r#"
[[case]]
name = "refusal logged"
request = { tenant = "acme", command = ["gcc"] }
expect = { allow = false, logs = ["free tier refused"], absent = ["resources"] }

[[case]]
name = "memory present"
request = { tenant = "acme", command = ["sh"] }
expect = { allow = true, absent = ["hostname", "resources.memory"] }

[[case]]
name = "no warning"
request = { tenant = "acme", command = ["gcc"] }
expect = { logs = [{ level = "warn", contains = "free tier refused" }] }

[[case]]
name = "not a CI job"
request = { tenant = "acme", command = ["sh"] }
expect = { matches = { "reason" = "^CI job" } }

[[case]]
name = "memory matches"
request = { tenant = "acme", command = ["sh"] }
expect = { matches = { "resources.memory.limit" = "^26", "reason" = "tier free$" } }
"#;

fn run_mixed(extra: &[&str]) -> (tempfile::TempDir, String, common::Run) {
    let (dir, path) = case_file("mixed.toml", MIXED_CASES);
    let policy = example("tenant_tiers");
    let mut args = vec!["test", "--no-cache", "-p", &policy];
    args.extend_from_slice(extra);
    args.push(&path);
    let run = enforcer(&args);
    (dir, path, run)
}

#[test]
fn absent_matches_and_log_assertions_pass_and_fail_with_their_messages() {
    let (_dir, path, run) = run_mixed(&[]);
    run.expect_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert_eq!(lines[0], format!("ok    {path}: refusal logged"));
    assert!(
        lines[1].starts_with(&format!(
            "FAIL  {path}: memory present: resources.memory: expected absent, got {{"
        )) && lines[1].contains("\"limit\":268435456"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(&format!(
            "FAIL  {path}: no warning: no policy log line at level warn contains \"free tier refused\"; lines seen: [policy "
        )) && lines[2].contains("policy_tenant_tiers.wasm] info: tenant acme: free tier refused"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        format!(
            "FAIL  {path}: not a CI job: reason: expected a match for /^CI job/, got \"tenant acme, tier free\""
        )
    );
    assert_eq!(lines[4], format!("ok    {path}: memory matches"));
    assert_eq!(lines[5], "2 passed, 3 failed");
    // Captured, not printed: the policy's log line is on neither stream.
    assert!(!run.stderr.contains("free tier refused"), "{}", run.stderr);
}

#[test]
fn expectation_case_files_pass() {
    let run = enforcer(&[
        "test",
        "--no-cache",
        "-p",
        &example("tenant_tiers"),
        &fixture("cases/tenant-tiers-expectations.toml"),
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("3 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
    let run = enforcer(&[
        "test",
        "--no-cache",
        "-p",
        &example("hugepages"),
        &fixture("cases/hugepages.toml"),
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("2 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_bad_regex_or_path_refuses_the_file_naming_case_and_key() {
    let (_dir, path) = case_file(
        "bad.toml",
        "[[case]]\nname = \"fine\"\nrequest = {}\nexpect = { allow = false }\n\
         [[case]]\nname = \"broken\"\nrequest = {}\nexpect = { matches = { \"resources.memory.limit\" = \"^(26\" } }\n",
    );
    let run = enforcer(&["test", "--no-cache", "-p", &example("tenant_tiers"), &path]);
    run.expect_code(2).expect_stderr(&[
        &format!(
            "case file {path}: case \"broken\": expect.matches[\"resources.memory.limit\"]: invalid regex \"^(26\": "
        ),
    ]);
    assert!(run.stdout.is_empty(), "no case runs: {}", run.stdout);
    let (_dir, path) = case_file(
        "badpath.toml",
        "[[case]]\nname = \"p\"\nrequest = {}\nexpect = { absent = [\"resources..memory\"] }\n",
    );
    let run = enforcer(&["test", "--no-cache", &path]);
    run.expect_code(2).expect_stderr(&[&format!(
        "case file {path}: case \"p\": expect.absent[0]: \"resources..memory\" is not a field path (empty key)"
    )]);
}

#[test]
fn filters_select_by_name_or_file_and_name_and_are_counted() {
    let (_dir, path, run) = run_mixed(&["--filter", "memory"]);
    run.expect_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "FAIL  {path}: memory present: resources.memory: expected absent"
        )),
        "{}",
        run.stdout
    );
    assert_eq!(lines[1], format!("ok    {path}: memory matches"));
    assert_eq!(lines[2], "1 passed, 1 failed, 3 filtered out");
    let by_file = "mixed.toml: refusal";
    let (_dir, _path, run) = run_mixed(&["--filter", by_file, "--filter", "memory matches"]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("2 passed, 0 failed, 3 filtered out\n"),
        "{}",
        run.stdout
    );
    let (_dir, _path, run) = run_mixed(&["--filter", "nothing like it"]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("0 passed, 0 failed, 5 filtered out\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn junit_output_reads_back_as_xml_with_counts_names_and_failures() {
    let (_dir, path, run) = run_mixed(&[
        "--format", "junit", "--filter", "memory", "--filter", "refusal", "--filter", "warning",
    ]);
    run.expect_code(1);
    let document = roxmltree::Document::parse(&run.stdout)
        .unwrap_or_else(|error| panic!("not XML ({error}):\n{}", run.stdout));
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("5"));
    assert_eq!(root.attribute("failures"), Some("2"));
    assert_eq!(root.attribute("skipped"), Some("1"));
    let suites: Vec<_> = root
        .children()
        .filter(|node| node.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1);
    assert_eq!(suites[0].attribute("name"), Some(path.as_str()));
    assert_eq!(suites[0].attribute("failures"), Some("2"));
    assert_eq!(suites[0].attribute("skipped"), Some("1"));
    let cases: Vec<_> = suites[0]
        .children()
        .filter(|node| node.has_tag_name("testcase"))
        .collect();
    let names: Vec<_> = cases
        .iter()
        .filter_map(|case| case.attribute("name"))
        .collect();
    assert_eq!(
        names,
        [
            "refusal logged",
            "memory present",
            "no warning",
            "not a CI job",
            "memory matches"
        ]
    );
    for case in &cases {
        assert_eq!(case.attribute("classname"), Some(path.as_str()));
        let time: f64 = case
            .attribute("time")
            .expect("time")
            .parse()
            .expect("seconds");
        assert!((0.0..10.0).contains(&time), "{time}");
    }
    let child =
        |index: usize, tag: &str| cases[index].children().find(|node| node.has_tag_name(tag));
    let failure = child(1, "failure").expect("a failure");
    let message = failure.attribute("message").expect("message");
    assert!(
        message.starts_with("resources.memory: expected absent, got {")
            && message.contains(r#""limit":268435456"#),
        "{message}"
    );
    assert_eq!(failure.text(), Some(message));
    assert!(child(0, "failure").is_none());
    assert!(
        child(2, "failure")
            .and_then(|node| node.attribute("message"))
            .is_some_and(|message| message.starts_with("no policy log line at level warn")),
        "{}",
        run.stdout
    );
    let out = child(0, "system-out")
        .and_then(|node| node.text())
        .expect("logs");
    assert!(
        out.contains("policy_tenant_tiers.wasm] info: tenant acme: free tier refused"),
        "{out}"
    );
    assert!(child(4, "skipped").is_none() && child(4, "failure").is_none());
    let skipped: Vec<_> = cases
        .iter()
        .filter(|case| case.children().any(|node| node.has_tag_name("skipped")))
        .filter_map(|case| case.attribute("name"))
        .collect();
    assert_eq!(skipped, ["not a CI job"]);
}

#[test]
fn tap_output_is_tap_14_with_a_yaml_block_per_case() {
    let (_dir, path, run) = run_mixed(&[
        "--format", "tap", "--filter", "memory", "--filter", "refusal",
    ]);
    run.expect_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[..2], ["TAP version 14", "1..5"], "{}", run.stdout);
    // The test points, in order, with their YAML blocks read back.
    let mut points = Vec::new();
    let mut index = 2;
    while index < lines.len() {
        let line = lines[index];
        index += 1;
        if line.starts_with('#') {
            continue;
        }
        let (ok, rest) = match line.strip_prefix("not ok ") {
            Some(rest) => (false, rest),
            None => (true, line.strip_prefix("ok ").expect("a test point")),
        };
        let (number, description) = rest.split_once(" - ").expect("N - DESCRIPTION");
        let mut block = serde_json::Map::new();
        if lines.get(index) == Some(&"  ---") {
            index += 1;
            let mut key = String::new();
            while lines[index] != "  ..." {
                let entry = lines[index];
                index += 1;
                if let Some(item) = entry.strip_prefix("    - ") {
                    let item: serde_json::Value =
                        serde_json::from_str(item).expect("a quoted item");
                    block[&key].as_array_mut().expect("a list").push(item);
                    continue;
                }
                let (name, value) = entry.trim_start().split_once(':').expect("KEY: VALUE");
                key = name.to_string();
                let value = value.trim();
                let value = if value.is_empty() {
                    serde_json::json!([])
                } else {
                    serde_json::from_str(value).expect("a YAML scalar in JSON syntax")
                };
                block.insert(key.clone(), value);
            }
            index += 1;
        }
        points.push((
            ok,
            number.parse::<usize>().expect("number"),
            description.to_string(),
            block,
        ));
    }
    assert_eq!(points.len(), 5, "{}", run.stdout);
    for (position, point) in points.iter().enumerate() {
        assert_eq!(point.1, position + 1);
    }
    assert_eq!(
        points.iter().map(|point| point.0).collect::<Vec<_>>(),
        [true, false, true, true, true]
    );
    assert_eq!(points[0].2, format!("{path}: refusal logged"));
    let logs = points[0].3["logs"].as_array().expect("logs");
    assert!(
        logs[0]
            .as_str()
            .is_some_and(|line| line.contains("free tier refused")),
        "{logs:?}"
    );
    assert!(
        points[0].3["durationMs"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0)
    );
    assert!(
        points[1].3["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("resources.memory: expected absent")),
        "{}",
        run.stdout
    );
    assert_eq!(
        points[2].2,
        format!("{path}: no warning # SKIP filtered out by --filter")
    );
    assert!(points[2].3.is_empty());
    assert_eq!(lines.last(), Some(&"# 2 passed, 1 failed, 2 filtered out"));
}

#[test]
fn json_output_has_every_case_with_status_time_and_logs() {
    let (_dir, path, run) = run_mixed(&[
        "--format", "json", "--filter", "memory", "--filter", "refusal",
    ]);
    run.expect_code(1);
    let report = run.json();
    assert_eq!(report["passed"], 2);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["filtered"], 2);
    let cases = report["cases"].as_array().expect("cases");
    assert_eq!(
        cases
            .iter()
            .map(|case| case["status"].as_str().unwrap_or("?"))
            .collect::<Vec<_>>(),
        ["passed", "failed", "filtered", "filtered", "passed"]
    );
    assert!(cases.iter().all(|case| case["file"] == path.as_str()));
    assert_eq!(cases[0]["name"], "refusal logged");
    assert_eq!(cases[0]["message"], serde_json::Value::Null);
    assert!(cases[0]["durationMs"].as_f64().is_some_and(|ms| ms > 0.0));
    let log = &cases[0]["logs"][0];
    assert!(
        log["policy"]
            .as_str()
            .is_some_and(|policy| policy.ends_with("policy_tenant_tiers.wasm"))
    );
    assert_eq!(log["level"], "info");
    // (The sdk's tenant-tiers may name the resolved path: only the start.)
    assert!(
        log["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("tenant acme: free tier refused ")),
        "{log}"
    );
    assert!(
        cases[1]["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("resources.memory: expected absent")),
        "{report}"
    );
    assert_eq!(cases[2]["durationMs"], serde_json::Value::Null);
}

#[test]
fn verbose_text_shows_each_case_time_and_its_log_lines() {
    let (_dir, path, run) = run_mixed(&["-v", "--filter", "refusal", "--filter", "memory matches"]);
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    let timed = regex::Regex::new(r"^ok    (.*) \((\d+\.\d) ms\)$").expect("regex");
    let first = timed
        .captures(lines[0])
        .unwrap_or_else(|| panic!("{}", lines[0]));
    assert_eq!(&first[1], format!("{path}: refusal logged"));
    assert!(first[2].parse::<f64>().is_ok_and(|ms| ms < 10_000.0));
    assert!(
        lines[1].starts_with("      [policy ")
            && lines[1].contains("policy_tenant_tiers.wasm] info: tenant acme: free tier refused "),
        "{}",
        lines[1]
    );
    let second = timed
        .captures(lines[2])
        .unwrap_or_else(|| panic!("{}", lines[2]));
    assert_eq!(&second[1], format!("{path}: memory matches"));
    assert_eq!(lines[3], "2 passed, 0 failed, 3 filtered out");
}

#[test]
fn watch_runs_again_when_a_case_file_changes() {
    use std::io::BufRead;
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let (_dir, path) = case_file(
        "watched.toml",
        "[[case]]\nname = \"first\"\nrequest = { command = [\"sh\"] }\nexpect = { allow = false }\n",
    );
    let mut child = common::enforcer_command(&[])
        .args([
            "test",
            "--no-cache",
            "--watch",
            "-p",
            &example("tenant_tiers"),
            &path,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("enforcer starts");
    let stdout = child.stdout.take().expect("stdout");
    let (send, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let wait_for = |wanted: &str, seen: &mut Vec<String>| loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line == wanted;
                seen.push(line);
                if done {
                    return true;
                }
            }
            Err(_) => return false,
        }
    };
    let first = wait_for("1 passed, 0 failed", &mut seen);
    if first {
        // A second case, and a changed size: the next poll sees it.
        std::fs::write(
            &path,
            "[[case]]\nname = \"first\"\nrequest = { command = [\"sh\"] }\nexpect = { allow = false }\n\
             [[case]]\nname = \"second\"\nrequest = { command = [\"sh\"] }\nexpect = { allow = true }\n",
        )
        .expect("rewrites the cases");
    }
    let second = first && wait_for("1 passed, 1 failed", &mut seen);
    let still_running = child.try_wait().expect("waits").is_none();
    // Our own child, not yet reaped: its pid is still its own.
    child.kill().expect("kills the watching enforcer");
    child.wait().expect("reaps it");
    reader.join().expect("reader");
    assert!(first && second, "{seen:#?}");
    assert!(still_running, "--watch exits only on a signal");
    let separator = format!("--- {path} changed: running again ---");
    let at = seen
        .iter()
        .position(|line| *line == separator)
        .unwrap_or_else(|| panic!("{seen:#?}"));
    assert_eq!(
        seen[..at],
        [
            format!("ok    {path}: first"),
            "1 passed, 0 failed".to_string()
        ]
    );
    assert_eq!(seen[at + 1], format!("ok    {path}: first"));
    assert!(
        seen[at + 2].starts_with(&format!(
            "FAIL  {path}: second: expected allow, got a denial"
        )),
        "{seen:#?}"
    );
}

/// Expected to fail until the enf helper's `applicability::check` and the
/// sdk helper's `policy_model::check_applicable` are merged (both are stubs
/// that return Ok on this branch).
#[test]
fn plan_fails_a_case_whose_allow_cannot_be_applied_on_its_host_naming_the_policy() {
    let host = r#"{ cgroupMode = "v2", controllers = ["cpu", "memory", "pids"], hugepageSizes = ["2MB"], cpus = 4, memoryBytes = 8589934592 }"#;
    let (_dir, path) = case_file(
        "plan.toml",
        &format!(
            "[[case]]\nname = \"hugepages without hugetlb\"\nrequest = {{ labels = {{ \"hugepages.2MB\" = \"4\" }}, command = [\"db\"], host = {host} }}\nexpect = {{ allow = true }}\n\
             [[case]]\nname = \"expected to be inapplicable\"\nrequest = {{ labels = {{ \"hugepages.2MB\" = \"4\" }}, command = [\"db\"], host = {host} }}\nexpect = {{ error = \"cannot be applied\" }}\n"
        ),
    );
    let policy = example("hugepages");
    // Without --plan, the allow is all that is checked.
    let run = enforcer(&[
        "test",
        "--no-cache",
        "-p",
        &policy,
        "--filter",
        "without",
        &path,
    ]);
    run.expect_code(0);
    let run = enforcer(&["test", "--no-cache", "--plan", "-p", &policy, &path]);
    run.expect_code(1);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "FAIL  {path}: hugepages without hugetlb: policy {policy}: its decision cannot be applied on the request's host: resources.hugepageLimits"
        )),
        "{}",
        run.stdout
    );
    assert!(lines[0].contains("hugetlb"), "{}", lines[0]);
    assert_eq!(
        lines[1],
        format!("ok    {path}: expected to be inapplicable")
    );
    assert_eq!(lines[2], "1 passed, 1 failed");
}

#[test]
fn the_help_example_cases_pass() {
    let help = enforcer(&["test", "--help"]);
    help.expect_code(0);
    let cases: Vec<&str> = help
        .stdout
        .lines()
        .skip_while(|line| *line != "Example cases.toml:")
        .skip(1)
        .take_while(|line| *line != "Examples:")
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .collect();
    assert!(cases.len() > 5, "{}", help.stdout);
    let (_dir, path) = case_file("help.toml", &cases.join("\n"));
    let run = enforcer(&["test", "--no-cache", "-p", &example("tenant_tiers"), &path]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("2 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
}
