//! The operator's config through the built binary: errors with file, line
//! and field; drop-ins that can only append to the platform chain;
//! `tenants.d`; `config check` and `config show`; the platform-then-tenant
//! chain at evaluation time, with modes, ceilings and modules replaced on
//! disk; and one `enforcer run` whose tightened pids limit is read back
//! from the kernel.
//!
//! Policies here are tiny `.wat` modules that return a constant decision,
//! so each test says exactly what every link decides.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use std::path::{Path, PathBuf};

use common::{Run, enforcer};
use sandbox::Harness;
use test_cgroup::{cannot_run, require, skipped};

/// A module whose `policy_evaluate` returns `response` verbatim.
fn responding(response: &str) -> String {
    common::wat::responding(response.as_bytes())
}

/// A module that allows with `pids` tasks and 512 MiB.
fn allowing(reason: &str, pids: i64) -> String {
    responding(&format!(
        r#"{{"decision":{{"allow":true,"reason":"{reason}","resources":{{"pids":{{"limit":{pids}}},"memory":{{"limit":536870912}}}}}}}}"#
    ))
}

/// A module that denies with `reason`.
fn denying(reason: &str) -> String {
    responding(&format!(
        r#"{{"decision":{{"allow":false,"reason":"{reason}"}}}}"#
    ))
}

/// A config directory in a tempdir.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `text` to `relative` (making directories); returns its path.
    fn write(&self, relative: &str, text: &str) -> String {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("writes");
        path.display().to_string()
    }

    fn config(&self) -> String {
        self.path("config.toml").display().to_string()
    }

    /// `enforcer --config <config.toml> ARGS`.
    fn enforcer(&self, args: &[&str]) -> Run {
        let config = self.config();
        let mut all = vec!["--config", &config];
        all.extend_from_slice(args);
        enforcer(&all)
    }

    /// `eval --report` for `tenant` (none: no tenant).
    fn eval(&self, tenant: Option<&str>) -> Run {
        let mut args = vec!["eval", "--no-cache", "--report", "--compact"];
        if let Some(tenant) = tenant {
            args.extend_from_slice(&["--tenant", tenant]);
        }
        args.extend_from_slice(&["--", "/bin/true"]);
        self.enforcer(&args)
    }
}

/// The `status` of every link of a report, with its role and policy file
/// name.
fn links(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|link| {
            let policy = link["policy"].as_str().expect("policy");
            let name = Path::new(policy)
                .file_name()
                .map_or(policy.to_string(), |name| {
                    name.to_string_lossy().into_owned()
                });
            (
                link["role"].as_str().expect("role").to_string(),
                name,
                link["result"]["status"]
                    .as_str()
                    .expect("status")
                    .to_string(),
            )
        })
        .collect()
}

fn triple(role: &str, policy: &str, status: &str) -> (String, String, String) {
    (role.into(), policy.into(), status.into())
}

fn pids(report: &serde_json::Value) -> i64 {
    report["decision"]["resources"]["pids"]["limit"]
        .as_i64()
        .unwrap_or_else(|| panic!("a pids limit: {report}"))
}

/// Asserts a run failed with exit status `code` and every needle on stderr.
#[track_caller]
fn fails(run: &Run, code: i32, needles: &[&str]) {
    run.expect_code(code).expect_stderr(needles);
}

#[test]
fn errors_name_the_file_the_line_and_the_field() {
    let setup = Setup::new();
    setup.write("config.toml", "cgroup_root = \"enforcer\"\n");
    let drop_in = setup.write(
        "config.d/10-acme.toml",
        "# acme\n\n[tenants.acme]\nmode = \"enforcing\"\n",
    );
    let run = setup.eval(Some("acme"));
    fails(
        &run,
        2,
        &[&format!(
            "config {drop_in} line 4: tenants.acme.mode: unknown variant `enforcing`, expected `enforce` or `audit`"
        )],
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    setup.write(
        "config.d/10-acme.toml",
        "[limits]\ndeadline = \"1s\"\ndeadlne = \"2s\"\n",
    );
    fails(
        &setup.eval(None),
        2,
        &[
            &format!("config {drop_in} line 3: limits"),
            "unknown field `deadlne`",
        ],
    );

    setup.write("config.d/10-acme.toml", "[tenants.\"ACME\"]\n");
    fails(
        &setup.eval(None),
        2,
        &[
            &format!("config {drop_in} line 1: tenants"),
            "tenant \"ACME\" must be",
        ],
    );

    setup.write(
        "config.d/10-acme.toml",
        "[tenants.acme.ceilings]\nmemory = \"lots\"\n",
    );
    fails(
        &setup.eval(None),
        2,
        &[&format!(
            "config {drop_in} line 2: tenants.acme.ceilings.memory: \"lots\" is not a size"
        )],
    );

    // The same tenant in two files: both are named.
    setup.write("config.d/10-acme.toml", "[tenants.acme]\n");
    let tenant_file = setup.write("tenants.d/acme.toml", "mode = \"audit\"\n");
    fails(
        &setup.eval(None),
        2,
        &["tenant acme is defined twice", &drop_in, &tenant_file],
    );
    // `run` fails at start too (with the enforcer's own status).
    fails(
        &setup.enforcer(&["run", "--", "/bin/true"]),
        125,
        &["tenant acme is defined twice"],
    );
}

#[test]
fn an_explicit_config_must_exist() {
    let run = enforcer(&[
        "--config",
        "/nonexistent/enforcer.toml",
        "eval",
        "--",
        "/bin/true",
    ]);
    fails(
        &run,
        2,
        &["config /nonexistent/enforcer.toml: no such file"],
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_enforcer"))
        .args(["eval", "--", "/bin/true"])
        .env("ENFORCER_CONFIG", "/nonexistent/env.toml")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config /nonexistent/env.toml: no such file"),
        "{stderr}"
    );
}

#[test]
fn as_root_a_config_owned_by_another_user_or_writable_by_others_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        skipped("the ownership rule applies only when the enforcer runs as root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    setup.write("config.toml", "");
    let drop_in = setup.write("config.d/50-other.toml", "cgroup_root = \"x\"\n");
    std::os::unix::fs::chown(&drop_in, Some(54321), Some(54321)).expect("chown");
    fails(
        &setup.eval(None),
        2,
        &[
            &format!("config {drop_in}: it is owned by uid 54321, not root"),
            "sudoers",
        ],
    );
    std::os::unix::fs::chown(&drop_in, Some(0), Some(0)).expect("chown");
    std::fs::set_permissions(&drop_in, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    fails(
        &setup.eval(None),
        2,
        &[&format!(
            "config {drop_in}: it is writable by its group or by others (mode 0666)"
        )],
    );
    std::fs::set_permissions(&drop_in, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    setup.eval(None).expect_code(0);
    // The main file too.
    std::fs::set_permissions(setup.config(), std::fs::Permissions::from_mode(0o620))
        .expect("chmod");
    fails(
        &setup.eval(None),
        2,
        &["writable by its group or by others (mode 0620)"],
    );
}

#[test]
fn drop_ins_append_to_the_platform_chain_and_cannot_replace_it() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write("config.d/tighter.wat", &allowing("tighter", 50));
    setup.write("config.toml", "[[platform]]\npolicy = \"platform.wat\"\n");
    // Relative to the drop-in's own directory.
    setup.write(
        "config.d/20-tighter.toml",
        "[[platform]]\npolicy = \"tighter.wat\"\n",
    );
    // An empty list in a later drop-in removes nothing.
    setup.write("config.d/30-empty.toml", "platform = []\n");
    let run = setup.eval(None);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(
        links(&report),
        [
            triple("platform", "platform.wat", "allowed"),
            triple("platform", "tighter.wat", "allowed"),
        ]
    );
    assert_eq!(pids(&report), 50);

    // A drop-in that tries to put a looser policy in place of the
    // platform's gets it appended after it, where it may only tighten.
    setup.write("config.d/loose.wat", &allowing("loose", 100_000));
    setup.write(
        "config.d/40-loose.toml",
        "[[platform]]\npolicy = \"loose.wat\"\n",
    );
    let run = setup.eval(None);
    fails(
        &run,
        2,
        &["loose.wat", "a later policy may only tighten the decision"],
    );
    assert_eq!(
        links(&run.json()),
        [
            triple("platform", "platform.wat", "allowed"),
            triple("platform", "tighter.wat", "allowed"),
            triple("platform", "loose.wat", "loosened"),
        ]
    );
}

#[test]
fn the_platform_then_the_tenant_decide_and_the_tenant_only_tightens() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write("tenants/acme.wat", &allowing("acme", 40));
    setup.write(
        "config.toml",
        "[[platform]]\npolicy = \"platform.wat\"\n\
         [tenants.acme]\npolicy = \"tenants/acme.wat\"\nsettings = { max_pids = 40 }\n\
         [tenants.beta]\n",
    );
    let run = setup.eval(Some("acme"));
    run.expect_code(0);
    let report = run.json();
    assert_eq!(
        links(&report),
        [
            triple("platform", "platform.wat", "allowed"),
            triple("tenant", "acme.wat", "allowed"),
        ]
    );
    assert_eq!(pids(&report), 40, "the tenant's tightening applies");
    assert_eq!(report["decision"]["reason"], "acme");
    let sha = report["links"][1]["sha256"].as_str().expect("sha256");
    assert_eq!(sha.len(), 64, "{report}");
    assert_eq!(report["links"][1]["mode"], "enforce");

    // A tenant without a policy gets the platform's decision.
    let beta = setup.eval(Some("beta"));
    beta.expect_code(0);
    let beta = beta.json();
    assert_eq!(
        links(&beta),
        [triple("platform", "platform.wat", "allowed")]
    );
    assert_eq!(pids(&beta), 100);

    // No tenant: the platform chain alone.
    let none = setup.eval(None).json();
    assert_eq!(
        links(&none),
        [triple("platform", "platform.wat", "allowed")]
    );

    // An unknown tenant is refused, with the known ones listed.
    let unknown = setup.eval(Some("gamma"));
    fails(
        &unknown,
        2,
        &["tenant \"gamma\" is not in the config (known tenants: acme, beta)"],
    );
    assert!(unknown.stdout.is_empty());

    // A tenant named in a request file picks the same entry.
    let request = setup.write(
        "request.json",
        r#"{"tenant":"acme","command":["/bin/true"]}"#,
    );
    let from_file = setup.enforcer(&["eval", "--no-cache", "--request", &request]);
    from_file.expect_code(0);
    assert_eq!(from_file.json()["resources"]["pids"]["limit"], 40);

    // --policy: exactly those policies, the config's chain unused (and no
    // tenant lookup: gamma is not refused).
    let platform = setup.path("platform.wat").display().to_string();
    let explicit = setup.enforcer(&[
        "eval",
        "--no-cache",
        "--report",
        "--policy",
        &platform,
        "--tenant",
        "gamma",
        "--",
        "/bin/true",
    ]);
    explicit.expect_code(0);
    assert_eq!(
        links(&explicit.json()),
        [triple("platform", "platform.wat", "allowed")]
    );
}

#[test]
fn a_tenant_that_loosens_or_denies_is_refused_or_denies() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write("loose.wat", &allowing("loose", 1000));
    setup.write("deny.wat", &denying("acme says no"));
    setup.write(
        "config.toml",
        "[[platform]]\npolicy = \"platform.wat\"\n\
         [tenants.loose]\npolicy = \"loose.wat\"\n\
         [tenants.deny]\npolicy = \"deny.wat\"\n",
    );
    fails(
        &setup.eval(Some("loose")),
        2,
        &[
            "loose.wat",
            "resources.pids",
            "a later policy may only tighten",
        ],
    );
    let deny = setup.eval(Some("deny"));
    fails(&deny, 1, &["denied by policy", "deny.wat", "acme says no"]);
    assert_eq!(
        links(&deny.json()),
        [
            triple("platform", "platform.wat", "allowed"),
            triple("tenant", "deny.wat", "denied"),
        ]
    );
}

#[test]
fn an_audit_mode_tenant_is_reported_but_never_changes_the_result() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write("loose.wat", &allowing("loose", 1000));
    setup.write("tight.wat", &allowing("tight", 10));
    setup.write("deny.wat", &denying("would be denied"));
    setup.write("broken.wat", &responding("{not json"));
    setup.write(
        "config.toml",
        "[[platform]]\npolicy = \"platform.wat\"\n\
         [tenants.loose]\npolicy = \"loose.wat\"\nmode = \"audit\"\n\
         [tenants.tight]\npolicy = \"tight.wat\"\nmode = \"audit\"\n\
         [tenants.deny]\npolicy = \"deny.wat\"\nmode = \"audit\"\n\
         [tenants.broken]\npolicy = \"broken.wat\"\nmode = \"audit\"\n",
    );
    for (tenant, status) in [
        ("loose", "loosened"),
        ("tight", "allowed"),
        ("deny", "denied"),
        ("broken", "failed"),
    ] {
        let run = setup.eval(Some(tenant));
        run.expect_code(0)
            .expect_stderr(&["enforcer: audit: policy", "(audit mode, not applied)"]);
        let report = run.json();
        assert_eq!(report["allow"], true, "{tenant}: {report}");
        assert_eq!(
            pids(&report),
            100,
            "{tenant}: the platform's decision stands"
        );
        assert_eq!(report["decision"]["reason"], "platform", "{tenant}");
        let link = &report["links"][1];
        assert_eq!(link["mode"], "audit", "{tenant}");
        assert_eq!(link["role"], "tenant", "{tenant}");
        assert_eq!(link["result"]["status"], status, "{tenant}: {report}");
    }
    // The would-be decision is recorded.
    let tight = setup.eval(Some("tight")).json();
    assert_eq!(
        tight["links"][1]["decision"]["resources"]["pids"]["limit"],
        10
    );
    let deny = setup.eval(Some("deny")).json();
    assert_eq!(deny["links"][1]["result"]["reason"], "would be denied");
}

#[test]
fn ceilings_clamp_the_platforms_decision_before_the_tenant() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write(
        "config.toml",
        "[[platform]]\npolicy = \"platform.wat\"\n\
         [tenants.small]\n[tenants.small.ceilings]\nmemory = \"64M\"\npids = 10\ncpus = 0.5\n\
         [tenants.roomy]\nceilings = { pids = 5000, memory = \"8G\" }\n",
    );
    let small = setup.eval(Some("small"));
    small.expect_code(0);
    let resources = &small.json()["decision"]["resources"];
    assert_eq!(resources["pids"]["limit"], 10);
    assert_eq!(resources["memory"]["limit"], 64 << 20);
    assert_eq!(resources["cpu"]["quota"], 50_000);
    assert_eq!(resources["cpu"]["period"], 100_000);
    // A ceiling above the platform's limit changes nothing.
    let roomy = setup.eval(Some("roomy"));
    roomy.expect_code(0);
    let resources = &roomy.json()["decision"]["resources"];
    assert_eq!(resources["pids"]["limit"], 100);
    assert_eq!(resources["memory"]["limit"], 536_870_912);

    // With the tenant's own policy after the ceilings, that policy must
    // stay under them.
    setup.write("tenant.wat", &allowing("tenant", 50));
    setup.write(
        "tenants.d/capped.toml",
        "policy = \"../tenant.wat\"\nceilings = { pids = 20 }\n",
    );
    fails(
        &setup.eval(Some("capped")),
        2,
        &[
            "tenant.wat",
            "resources.pids",
            "a later policy may only tighten",
        ],
    );
}

#[test]
fn a_replaced_tenant_module_is_used_by_the_next_request_and_a_corrupt_one_fails() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    let module = setup.write("acme.wat", &allowing("first", 60));
    setup.write(
        "config.toml",
        "[[platform]]\npolicy = \"platform.wat\"\n[tenants.acme]\npolicy = \"acme.wat\"\n\
         [tenants.beta]\n",
    );
    // With the compiled-code cache on: it keys on content, not on path.
    let cache = setup.path("cache").display().to_string();
    let eval = |setup: &Setup| {
        setup.enforcer(&[
            "eval",
            "--cache-dir",
            &cache,
            "--tenant",
            "acme",
            "--",
            "/bin/true",
        ])
    };
    let first = eval(&setup);
    first.expect_code(0);
    assert_eq!(first.json()["resources"]["pids"]["limit"], 60);
    setup.write("acme.wat", &allowing("second", 30));
    let second = eval(&setup);
    second.expect_code(0);
    assert_eq!(second.json()["resources"]["pids"]["limit"], 30);
    assert_eq!(second.json()["reason"], "second");

    std::fs::write(&module, "(module (this is not wasm").expect("writes");
    let corrupt = eval(&setup);
    fails(&corrupt, 2, &["tenant acme: policy", &module]);
    assert!(
        corrupt.stdout.is_empty(),
        "nothing decided: {}",
        corrupt.stdout
    );
    // Only that tenant: another still gets its decision.
    let beta = setup.enforcer(&[
        "eval",
        "--cache-dir",
        &cache,
        "--tenant",
        "beta",
        "--",
        "/bin/true",
    ]);
    beta.expect_code(0);
    // And `config check` finds it.
    let check = setup.enforcer(&["config", "check", "--no-cache"]);
    check.expect_code(2);
    assert!(
        check.stdout.contains("error     tenant acme: policy")
            && check.stdout.ends_with("invalid\n"),
        "{}",
        check.stdout
    );
}

#[test]
fn config_check_reports_files_and_policies_and_fails_on_a_bad_module() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write("acme.wat", &allowing("acme", 50));
    setup.write("config.toml", "[[platform]]\npolicy = \"platform.wat\"\n");
    setup.write(
        "tenants.d/acme.toml",
        "policy = \"../acme.wat\"\nmode = \"audit\"\nsettings = { max_pids = 64 }\n",
    );
    setup.write("tenants.d/beta.toml", "ceilings = { pids = 8 }\n");
    let run = setup.enforcer(&["config", "check", "--no-cache"]);
    run.expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{}", run.stdout);
    assert!(lines[0].starts_with("file      ") && lines[0].ends_with("config.toml"));
    assert!(lines[1].ends_with("tenants.d/acme.toml") && lines[2].ends_with("tenants.d/beta.toml"));
    assert!(
        lines[3].starts_with("platform  ") && lines[3].contains("platform.wat  sha256:"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with("tenant    acme  ")
            && lines[4].contains("acme.wat  sha256:")
            && lines[4].ends_with("audit  settings"),
        "{}",
        lines[4]
    );
    assert!(
        lines[5].starts_with("tenant    beta  (no policy")
            && lines[5].ends_with("enforce  ceilings"),
        "{}",
        lines[5]
    );
    assert_eq!(lines[6], "ok");

    let json = setup.enforcer(&["config", "check", "--no-cache", "--json"]);
    json.expect_code(0);
    let report = json.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["files"].as_array().map(Vec::len), Some(3));
    assert_eq!(report["policies"][1]["tenant"], "acme");
    assert_eq!(report["policies"][1]["mode"], "audit");
    assert_eq!(report["policies"][1]["hasSettings"], true);
    assert_eq!(
        report["policies"][1]["sha256"].as_str().map(str::len),
        Some(64)
    );

    // A platform module that does not load: exit 2, the module named.
    setup.write("platform.wat", "(module");
    let bad = setup.enforcer(&["config", "check", "--no-cache", "--json"]);
    bad.expect_code(2);
    let report = bad.json();
    assert_eq!(report["ok"], false);
    let errors = report["errors"].to_string();
    assert!(errors.contains("platform.wat"), "{errors}");

    // A config error: exit 2, the file and line named.
    setup.write("tenants.d/beta.toml", "ceilings = { pids = -1 }\n");
    let invalid = setup.enforcer(&["config", "check"]);
    invalid.expect_code(2);
    assert!(
        invalid
            .stdout
            .contains("tenants.d/beta.toml line 1: ceilings.pids: -1 must be positive")
            && invalid.stdout.ends_with("invalid\n"),
        "{}",
        invalid.stdout
    );
}

#[test]
fn config_show_prints_the_merged_config_which_reads_back() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write(
        "config.toml",
        "cgroup_root = \"main\"\nallow_join = [\"/run/netns/*\"]\n[limits]\ndeadline = \"250ms\"\n\
         [[platform]]\npolicy = \"platform.wat\"\nsettings = { level = \"strict\" }\n",
    );
    setup.write(
        "config.d/10-root.toml",
        "cgroup_root = \"dropin\"\n[audit]\non_error = \"fail-open\"\n",
    );
    let tenant = setup.write(
        "tenants.d/acme.toml",
        "mode = \"audit\"\nsettings = { max_pids = 64, tags = [\"a\"] }\n[ceilings]\nmemory = \"1G\"\n",
    );
    let run = setup.enforcer(&["config", "show"]);
    run.expect_code(0);
    let platform = setup.path("platform.wat").display().to_string();
    for needle in [
        "cgroup_root = \"dropin\"",
        "deadline = \"250ms\"",
        "on_error = \"fail-open\"",
        &format!("policy = \"{platform}\""),
        &format!("# from {tenant}"),
        "[tenants.acme]",
        "mode = \"audit\"",
        "memory = 1073741824",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle:?} in:\n{}",
            run.stdout
        );
    }
    // What it prints is a config that loads to the same thing.
    let shown = Setup::new();
    shown.write("config.toml", &run.stdout);
    let again = shown.enforcer(&["config", "show", "--json"]);
    again.expect_code(0);
    let original = setup.enforcer(&["config", "show", "--json"]);
    original.expect_code(0);
    assert_eq!(again.json()["config"], original.json()["config"]);
    let json = original.json();
    assert_eq!(
        json["config"]["tenants"]["acme"]["settings"]["max_pids"],
        64
    );
    assert_eq!(json["sources"]["tenants"]["acme"], tenant);
    assert_eq!(json["sources"]["platform"][0], setup.config());
    assert_eq!(json["files"].as_array().map(Vec::len), Some(3));
}

#[test]
fn flags_override_the_config_which_overrides_the_defaults() {
    let setup = Setup::new();
    setup.write(
        "config.toml",
        "cgroup_root = \"from-config\"\n[limits]\noutput_cap_kib = 1\n",
    );
    // The config's output cap is too small for the default policy's
    // decision: the flag wins.
    let run = setup.enforcer(&[
        "eval",
        "--no-cache",
        "--output-cap",
        "64",
        "--plan",
        "--",
        "/bin/true",
    ]);
    run.expect_code(0);
    assert!(run.stdout.contains("/from-config/"), "{}", run.stdout);
    let flag = setup.enforcer(&[
        "eval",
        "--no-cache",
        "--output-cap",
        "64",
        "--plan",
        "--cgroup-root",
        "from-flag",
        "--",
        "/bin/true",
    ]);
    flag.expect_code(0);
    assert!(
        flag.stdout.contains("/from-flag/") && !flag.stdout.contains("from-config"),
        "{}",
        flag.stdout
    );
    // Without the flag, the config's cap applies.
    fails(
        &setup.enforcer(&["eval", "--no-cache", "--", "/bin/true"]),
        2,
        &["embedded default", "exceeds the output cap of 1024 bytes"],
    );
}

#[test]
fn enforcer_test_uses_the_config_chain_per_case() {
    let setup = Setup::new();
    setup.write("platform.wat", &allowing("platform", 100));
    setup.write("acme.wat", &allowing("acme", 40));
    setup.write(
        "config.toml",
        "[[platform]]\npolicy = \"platform.wat\"\n[tenants.acme]\npolicy = \"acme.wat\"\n",
    );
    let cases = setup.write(
        "cases.toml",
        "[[case]]\nname = \"acme\"\nrequest = { tenant = \"acme\", command = [\"true\"] }\n\
         expect = { allow = true, decision = { resources = { pids = { limit = 40 } } } }\n\
         [[case]]\nname = \"no tenant\"\nrequest = { command = [\"true\"] }\n\
         expect = { allow = true, decision = { resources = { pids = { limit = 100 } } } }\n\
         [[case]]\nname = \"unknown\"\nrequest = { tenant = \"zeta\", command = [\"true\"] }\n\
         expect = { error = \"not in the config\" }\n",
    );
    let run = setup.enforcer(&["test", "--no-cache", &cases]);
    run.expect_code(0);
    assert!(
        run.stdout.ends_with("3 passed, 0 failed\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn run_with_a_config_applies_the_tenants_ceiling_in_the_kernel() {
    require!(cannot_run());
    let harness = Harness::new();
    let setup = Setup::new();
    // No platform policy: the embedded default is the platform chain.
    setup.write("config.toml", "[tenants.acme]\nceilings = { pids = 17 }\n");
    let config = setup.config();
    let id = harness.detach(
        &["--config", &config, "--tenant", "acme", "--id", "cfg-run"],
        &["sleep", "60"],
    );
    harness.wait_started(&id);
    let pid = harness.pid(&id);
    let pids_path = test_cgroup::memberships(pid)
        .into_iter()
        .find(|line| line.has_controller("pids"))
        .map(|line| line.path);
    match pids_path {
        Some(path) => {
            assert!(path.ends_with("/tenants/acme/cfg-run"), "{path}");
            let max = std::fs::read_to_string(format!("/sys/fs/cgroup/pids{path}/pids.max"))
                .expect("pids.max");
            assert_eq!(max.trim(), "17", "the ceiling, read back from the kernel");
        }
        None => skipped("no pids v1 hierarchy on this host"),
    }
    harness.command("delete", &[&id]).expect_code(0);
}

/// Runs `enforcer ARGS` under `unshare --net` after `prepare` (a shell
/// command) ran there: whatever it makes exists only in that network
/// namespace, which goes away with the process.
fn in_new_network_namespace(prepare: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            &format!("{prepare} && exec \"$0\" \"$@\""),
        ])
        .arg(env!("CARGO_BIN_EXE_enforcer"))
        .args(args)
        .output()
        .expect("unshare runs")
}

#[test]
fn check_lists_the_networks_and_whether_each_bridge_exists_in_its_namespace() {
    if !nix::unistd::geteuid().is_root() {
        skipped("needs root for a network namespace of its own (unshare --net)");
        return;
    }
    let setup = Setup::new();
    let config = setup.write(
        "config.toml",
        "[networks.made]\nbridge = \"etest-made0\"\nsubnet = \"192.0.2.0/24\"\nsubnet6 = \"2001:db8:1::/64\"\n\n\
         [networks.absent]\nbridge = \"etest-absent0\"\nsubnet = \"198.51.100.0/24\"\ngateway = \"198.51.100.254\"\negress = \"none\"\n",
    );
    let output = in_new_network_namespace(
        "ip link add etest-made0 type bridge",
        &["--config", &config, "check", "--json"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        report["networks"],
        serde_json::json!([
            {"name": "absent", "bridge": "etest-absent0", "bridgeExists": false,
             "subnet": "198.51.100.0/24", "gateway": "198.51.100.254", "egress": "none",
             "masquerade": false},
            {"name": "made", "bridge": "etest-made0", "bridgeExists": true,
             "subnet": "192.0.2.0/24", "gateway": "192.0.2.1", "subnet6": "2001:db8:1::/64",
             "gateway6": "2001:db8:1::1", "egress": "all", "masquerade": false},
        ])
    );
    assert_eq!(
        report["nftables"]["neededBy"],
        serde_json::json!(["absent"])
    );
    let nft = ["/usr/sbin/nft", "/usr/bin/nft", "/sbin/nft", "/bin/nft"]
        .iter()
        .any(|path| Path::new(path).exists());
    assert_eq!(report["nftables"]["path"].is_string(), nft, "{report}");
    // The text form says the same; the bridge made in the test's
    // namespace does not exist in the machine's.
    let text = setup.enforcer(&["check"]);
    for needle in [
        "NETWORK BRIDGE",
        "absent  etest-absent0 198.51.100.0/24 198.51.100.254 none   no (run creates it)",
        "made    etest-made0   192.0.2.0/24    192.0.2.1      all    no (run creates it)",
        "2001:db8:1::/64 gateway 2001:db8:1::1",
        "(needed by absent)",
    ] {
        assert!(
            text.stdout.contains(needle),
            "{needle:?} in:\n{}",
            text.stdout
        );
    }
    // `config show` prints them, and what it prints reads back.
    let show = setup.enforcer(&["config", "show"]);
    show.expect_code(0);
    assert!(
        show.stdout.contains("[networks.made]") && show.stdout.contains("egress = \"none\""),
        "{}",
        show.stdout
    );
    let shown = Setup::new();
    shown.write("config.toml", &show.stdout);
    let again = shown.enforcer(&["config", "show", "--json"]);
    let original = setup.enforcer(&["config", "show", "--json"]);
    assert_eq!(again.json()["config"], original.json()["config"]);
    // A broken config is reported by check, which still shows the host.
    setup.write(
        "config.d/10-clash.toml",
        "[networks.clash]\nbridge = \"etest-made0\"\nsubnet = \"203.0.113.0/24\"\n",
    );
    let broken = setup.enforcer(&["check", "--json"]);
    broken.expect_code(0);
    let report = broken.json();
    assert!(
        report["configError"]
            .as_str()
            .is_some_and(|error| error.contains("etest-made0 is also the bridge of network clash")),
        "{report}"
    );
    assert_eq!(report["networks"], serde_json::json!([]));
    fails(&setup.enforcer(&["config", "check"]), 2, &[]);
}
