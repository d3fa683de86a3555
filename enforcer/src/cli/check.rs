//! `enforcer check`.

use std::path::{Path, PathBuf};

use clap::Args;
use enforcer::check::{HostReport, gather};
use enforcer::network::networks::Networks;
use enforcer::printable::{escape, escape_message};

use super::{EXIT_DENIED, EXIT_OK};

/// Report what this host offers: kernel, cgroup mode, every reachable
/// cgroup hierarchy (the cgroup2 mount even without controllers), cgroup
/// mounts that other mounts cover, hierarchies the enforcer mounted and how
/// to release them, each controller's version, mount point and state, the
/// namespace types and their limits, whether unprivileged user namespaces
/// are allowed, hugepage pools, whether this process has the privileges
/// `run` needs, the operator's networks (from the config) with whether
/// each bridge exists in this network namespace, and where `nft` is when
/// a network's egress or masquerading needs it.
///
/// Exits 0 when the privileges suffice, 1 when they do not. Run it first on a
/// new host.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Where `run --mount-controllers=DIR` mounts controllers: the v1
    /// hierarchies below it are reported as the enforcer's.
    #[arg(long, value_name = "DIR", default_value = enforcer::cgroup::mount::DEFAULT_MOUNT_BASE)]
    mount_dir: PathBuf,
}

/// Runs `enforcer check`; `explicit` is `--config` (or the variable). A
/// config that cannot be read is reported, not fatal: the host's facts
/// are still shown.
pub fn run(args: CheckArgs, explicit: Option<&Path>) -> anyhow::Result<i32> {
    let (networks, config_error) = match enforcer::config::load(explicit) {
        Ok(config) => (
            config.map(|config| config.networks()).unwrap_or_default(),
            None,
        ),
        Err(error) => (Networks::new(), Some(error.to_string())),
    };
    let mut report = gather(&args.mount_dir, &networks);
    report.config_error = config_error;
    let code = if report.privileges.sufficient {
        EXIT_OK
    } else {
        EXIT_DENIED
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    print_human(&report, &args.mount_dir)?;
    Ok(code)
}

fn print_human(report: &HostReport, mount_dir: &std::path::Path) -> anyhow::Result<()> {
    println!("kernel:      {}", report.kernel_release);
    println!(
        "cgroup mode: {}",
        serde_json::to_value(report.cgroup_mode)?
            .as_str()
            .unwrap_or("?")
    );
    println!();
    let width = report
        .hierarchies
        .iter()
        .map(|row| row.mount_point.len())
        .max()
        .unwrap_or(0)
        .max("HIERARCHY".len());
    println!("{:<width$} VERSION  CONTROLLERS", "HIERARCHY");
    for row in &report.hierarchies {
        let mut controllers = if row.controllers.is_empty() {
            "none".to_string()
        } else {
            row.controllers.join(" ")
        };
        if let Some(enabled) = &row.enabled {
            let enabled = if enabled.is_empty() {
                "none".to_string()
            } else {
                enabled.join(" ")
            };
            controllers.push_str(&format!(" (enabled for children: {enabled})"));
        }
        if let Some(name) = &row.name {
            controllers = if row.controllers.is_empty() {
                format!("name={name}")
            } else {
                format!("{controllers} name={name}")
            };
        }
        let root = if row.root == "/" {
            String::new()
        } else {
            format!(" [root {}]", row.root)
        };
        println!(
            "{:<width$} {:<8} {controllers}{}",
            escape(&row.mount_point),
            row.version,
            escape(&root)
        );
    }
    if report.hierarchies.is_empty() {
        println!("(no cgroup hierarchy is reachable)");
    }
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
            escape(row.mount_point.as_deref().unwrap_or("-"))
        );
    }
    println!();
    for row in &report.shadowed_mounts {
        let what = if row.version == "v2" {
            "cgroup2".to_string()
        } else {
            let mut parts = row.controllers.clone();
            parts.extend(row.name.iter().map(|name| format!("name={name}")));
            format!("cgroup v1 {}", parts.join(","))
        };
        println!(
            "shadowed:    {} ({what}) is covered by {} at {}: not used",
            escape(&row.mount_point),
            escape(&row.covered_by_fstype),
            escape(&row.covered_by)
        );
    }
    if report.enforcer_mounts.is_empty() {
        println!(
            "enforcer mounts: none under {}",
            escape(&mount_dir.display().to_string())
        );
    }
    for row in &report.enforcer_mounts {
        println!(
            "enforcer mount: {} at {}; release: {}",
            row.controllers.join(","),
            escape(&row.mount_point),
            escape(&row.release)
        );
    }
    let namespaces: Vec<String> = report
        .namespaces
        .iter()
        .map(|row| {
            let mut text = row.kind.to_string();
            if !row.available {
                text.push_str(" (missing)");
            } else if row.max == Some(0) {
                text.push_str(" (max 0: none can be created)");
            } else if let Some(max) = row.max {
                text.push_str(&format!(" (max {max})"));
            }
            text
        })
        .collect();
    println!("namespaces:  {}", namespaces.join(", "));
    let user = &report.user_namespaces;
    let knob = |name: &str, value: Option<i64>| match value {
        Some(value) => format!("{name} = {value}"),
        None => format!("{name} absent"),
    };
    println!(
        "unprivileged user namespaces: {} ({}, {})",
        if user.unprivileged_allowed {
            "allowed".to_string()
        } else {
            format!("restricted by {}", user.restricted_by.join(", "))
        },
        knob(
            "kernel.unprivileged_userns_clone",
            user.unprivileged_userns_clone
        ),
        knob(
            "kernel.apparmor_restrict_unprivileged_userns",
            user.apparmor_restrict_unprivileged_userns
        )
    );
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
    print_networks(report);
    Ok(())
}

fn print_networks(report: &HostReport) {
    if let Some(error) = &report.config_error {
        println!("config:      error: {}", escape_message(error));
    }
    if report.networks.is_empty() {
        println!("networks:    none configured");
        return;
    }
    println!();
    let width = |column: fn(&enforcer::check::NetworkRow) -> usize, title: &str| {
        report
            .networks
            .iter()
            .map(column)
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let name = width(|row| row.name.len(), "NETWORK");
    let bridge = width(|row| row.bridge.len(), "BRIDGE");
    let subnet = width(|row| row.subnet.len(), "SUBNET");
    let gateway = width(|row| row.gateway.len(), "GATEWAY");
    fn egress_text(row: &enforcer::check::NetworkRow) -> String {
        if row.masquerade {
            format!("{} +masq", row.egress)
        } else {
            row.egress.clone()
        }
    }
    let egress = width(|row| egress_text(row).len(), "EGRESS");
    println!(
        "{:<name$} {:<bridge$} {:<subnet$} {:<gateway$} {:<egress$} BRIDGE EXISTS",
        "NETWORK", "BRIDGE", "SUBNET", "GATEWAY", "EGRESS"
    );
    for row in &report.networks {
        let exists = if row.bridge_exists {
            "yes"
        } else {
            "no (run creates it)"
        };
        println!(
            "{:<name$} {:<bridge$} {:<subnet$} {:<gateway$} {:<egress$} {exists}",
            row.name,
            escape(&row.bridge),
            row.subnet,
            row.gateway,
            egress_text(row)
        );
        if let (Some(subnet6), Some(gateway6)) = (&row.subnet6, &row.gateway6) {
            println!("{:<name$} {:<bridge$} {subnet6} gateway {gateway6}", "", "");
        }
    }
    if let Some(nft) = &report.nftables {
        match &nft.path {
            Some(path) => println!(
                "nft:         {} (needed by {})",
                escape(path),
                nft.needed_by.join(", ")
            ),
            None => println!(
                "nft:         missing: needed by {} (egress rules or masquerade); install nftables",
                nft.needed_by.join(", ")
            ),
        }
    }
}
