//! Names bound to tenants, tried the way a malicious tenant would: a
//! tenant-less sandbox named after a tenant (once that made it the parent
//! cgroup of the tenant's jobs), a decision whose `cgroupsPath` lands
//! inside, on or above another sandbox's cgroup, a `sandbox:<id>` join of
//! another tenant's sandbox that the operator's `--allow-join` glob
//! matches, and tenant names that are not one plain path component.

mod common;
#[path = "common/sandbox.rs"]
mod sandbox;
#[path = "common/cgroup.rs"]
mod test_cgroup;

use common::enforcer;
use sandbox::{Harness, alive, inode, labels};
use test_cgroup::{cannot_run, require};

/// The cgroup paths of process `pid`, one per hierarchy line.
fn cgroups(pid: i32) -> Vec<String> {
    test_cgroup::memberships(pid)
        .into_iter()
        .map(|line| line.path)
        .collect()
}

#[test]
fn a_tenantless_id_and_a_tenant_of_the_same_name_do_not_nest() {
    require!(cannot_run());
    let harness = Harness::new();
    let tenantless = harness.detach(&["--id", "acme"], &["sleep", "600"]);
    let job = harness.detach(&["--tenant", "acme", "--id", "job"], &["sleep", "600"]);
    let (outer, inner) = (harness.pid(&tenantless), harness.pid(&job));
    let root = &harness.root;
    let tenantless_path = format!("/{root}/sandboxes/acme");
    let job_path = format!("/{root}/tenants/acme/job");
    let outer_cgroups = cgroups(outer);
    let inner_cgroups = cgroups(inner);
    assert!(
        outer_cgroups.contains(&tenantless_path),
        "{outer_cgroups:?}"
    );
    assert!(inner_cgroups.contains(&job_path), "{inner_cgroups:?}");
    for theirs in &inner_cgroups {
        for ours in &outer_cgroups {
            assert!(
                ours == "/" || !theirs.starts_with(&format!("{ours}/")),
                "the tenant's job {theirs} is inside the tenant-less sandbox {ours}"
            );
        }
    }
    assert_eq!(harness.state(&job)["tenant"], "acme");
    assert!(harness.state(&tenantless)["tenant"].is_null());
    // Deleting the tenant-less one leaves the tenant's job running, able
    // to fork.
    harness.command("delete", &[&tenantless]).expect_code(0);
    assert!(
        alive(inner),
        "the tenant's job died with the tenant-less sandbox"
    );
    let fork = harness.command(
        "exec",
        &[&job, "--", "/bin/sh", "-c", "/bin/true & wait; echo forked"],
    );
    fork.expect_code(0);
    assert_eq!(fork.stdout, "forked\n");
    let ps = harness.command("ps", &["--json"]).json();
    assert_eq!(ps[0]["id"], "job");
    assert_eq!(ps[0]["tenant"], "acme");
    assert_eq!(ps[0]["status"], "running");
    harness.command("delete", &[&job]).expect_code(0);
}

#[test]
fn a_cgroups_path_inside_on_or_above_another_sandbox_is_refused() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = labels();
    let owner = harness.detach(
        &[
            "-p",
            &policy,
            "-l",
            "cgroups-path=shared/owner",
            "--id",
            "owner",
        ],
        &["sleep", "600"],
    );
    for (path, relation) in [
        ("shared/owner/inner", "is inside"),
        ("shared/owner", "is"),
        ("shared", "contains"),
    ] {
        let label = format!("cgroups-path={path}");
        let run = harness.run(
            &["-p", &policy, "-l", &label, "--id", "intruder"],
            &["echo", "started"],
        );
        run.expect_code(125).expect_stderr(&[
            &format!("cgroupsPath \"{path}\""),
            &format!(
                "/{}/{path} {relation} the cgroup of sandbox \"owner\"",
                harness.root
            ),
            &format!("/{}/shared/owner", harness.root),
        ]);
        assert!(run.stdout.is_empty(), "nothing started");
        assert_eq!(
            harness.state_entries(),
            ["owner"],
            "no state left for {path}"
        );
    }
    // A sibling is fine.
    let sibling = harness.run(
        &[
            "-p",
            &policy,
            "-l",
            "cgroups-path=shared/sibling",
            "--id",
            "sibling",
        ],
        &["echo", "started"],
    );
    sibling.expect_code(0);
    assert_eq!(sibling.stdout, "started\n");
    assert!(alive(harness.pid(&owner)));
    harness.command("delete", &[&owner]).expect_code(0);
}

#[test]
fn sandbox_joins_resolve_only_within_the_tenant() {
    require!(cannot_run());
    let harness = Harness::new();
    let policy = labels();
    // Tenant "evil" names its sandbox after its victim's naming scheme.
    let trap = harness.detach(&["--tenant", "evil", "--id", "acme-db"], &["sleep", "600"]);
    let trap_net = inode(format!("/proc/{}/ns/net", harness.pid(&trap)));
    let join = |tenant: Option<&str>| {
        let mut options = vec![
            "-p",
            &policy,
            "-l",
            "join-network=sandbox:acme-db",
            "--allow-join",
            "sandbox:acme-*",
        ];
        if let Some(tenant) = tenant {
            options.extend(["--tenant", tenant]);
        }
        harness.run(&options, &["stat", "-L", "-c", "%i", "/proc/self/ns/net"])
    };
    join(Some("acme")).expect_code(125).expect_stderr(&[
        "sandbox:acme-db",
        "sandbox \"acme-db\" belongs to tenant \"evil\", and this request to tenant \"acme\": a sandbox may join only sandboxes of its own tenant",
    ]);
    join(None)
        .expect_code(125)
        .expect_stderr(&["belongs to tenant \"evil\", and this request to no tenant"]);
    assert_eq!(harness.state_entries(), ["acme-db"], "nothing else started");
    // The same tenant joins.
    let same = join(Some("evil"));
    same.expect_code(0);
    assert_eq!(same.stdout.trim(), trap_net.to_string());
    // A tenant-less sandbox is not joinable from a tenant either.
    let open = harness.detach(&["--id", "acme-web"], &["sleep", "600"]);
    let label = "join-network=sandbox:acme-web";
    harness
        .run(
            &[
                "-p",
                &policy,
                "-l",
                label,
                "--allow-join",
                "sandbox:acme-*",
                "--tenant",
                "acme",
            ],
            &["true"],
        )
        .expect_code(125)
        .expect_stderr(&[
            "sandbox \"acme-web\" belongs to no tenant, and this request to tenant \"acme\"",
        ]);
    harness.command("delete", &[&trap, &open]).expect_code(0);
}

#[test]
fn tenant_names_are_one_plain_path_component() {
    require!(cannot_run());
    let harness = Harness::new();
    for bad in [
        "acme/../../escape",
        "..",
        "a/b",
        "Acme",
        "evil\u{1b}[2J",
        "",
    ] {
        let run = harness.run(&["--tenant", bad], &["echo", "started"]);
        run.expect_code(125)
            .expect_stderr(&[&format!("tenant {bad:?} must be")]);
        assert!(run.stdout.is_empty());
        assert!(harness.state_entries().is_empty());
        let eval = enforcer(&["eval", "--tenant", bad, "--", "true"]);
        eval.expect_code(2)
            .expect_stderr(&[&format!("tenant {bad:?} must be")]);
    }
}
