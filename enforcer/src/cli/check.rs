//! `enforcer check`.

use clap::Args;
use enforcer::check::gather;

use super::{EXIT_DENIED, EXIT_OK};

/// Report what this host offers: kernel, cgroup mode, each controller's
/// version, mount point and state, the namespace types, hugepage pools, and
/// whether this process has the privileges `run` needs.
///
/// Exits 0 when the privileges suffice, 1 when they do not. Run it first on a
/// new host.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Runs `enforcer check`.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let report = gather();
    let code = if report.privileges.sufficient {
        EXIT_OK
    } else {
        EXIT_DENIED
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    println!("kernel:      {}", report.kernel_release);
    println!(
        "cgroup mode: {}",
        serde_json::to_value(report.cgroup_mode)?
            .as_str()
            .unwrap_or("?")
    );
    println!();
    println!(
        "{:<12} {:<8} {:<11} MOUNT POINT",
        "CONTROLLER", "VERSION", "STATE"
    );
    for row in &report.controllers {
        println!(
            "{:<12} {:<8} {:<11} {}",
            row.name,
            row.version.unwrap_or("-"),
            row.state,
            row.mount_point.as_deref().unwrap_or("-")
        );
    }
    println!();
    let namespaces: Vec<String> = report
        .namespaces
        .iter()
        .map(|row| {
            format!(
                "{}{}",
                row.kind,
                if row.available { "" } else { " (missing)" }
            )
        })
        .collect();
    println!("namespaces:  {}", namespaces.join(", "));
    let hugepages: Vec<String> = report
        .hugepages
        .iter()
        .map(|row| format!("{} ({} pages reserved)", row.page_size, row.pool_pages))
        .collect();
    println!(
        "hugepages:   {}",
        if hugepages.is_empty() {
            "none".into()
        } else {
            hugepages.join(", ")
        }
    );
    let privileges = &report.privileges;
    if privileges.sufficient {
        println!("privileges:  ok (euid {})", privileges.euid);
    } else {
        println!(
            "privileges:  insufficient (euid {}): missing {}",
            privileges.euid,
            privileges.missing_capabilities.join(", ")
        );
    }
    Ok(code)
}
