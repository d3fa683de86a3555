//! `enforcer audit`: read the audit log back.

use std::path::{Path, PathBuf};

use clap::Args;
use enforcer::audit::{self, AuditRecord, Filter, Outcome, Timestamp};
use enforcer::printable::{escape, escape_command};

use super::sandbox::StateDirArg;

/// Read the audit log: one line per request (allowed, denied or failed)
/// with its time, tenant, user, outcome, decision id and command.
///
/// Reads `<log>.1` then `<log>`, oldest first. A line that is not an audit
/// record is reported (how many, and where the first is) and makes the
/// exit status 2; it is never skipped silently.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    enforcer audit\n  \
    enforcer audit --tenant acme --since 2h\n  \
    enforcer audit --since 2026-12-01T09:00:00Z --json | jq 'select(.outcome.kind == \"denied\")'\n  \
    enforcer audit --log /var/log/enforcer/audit.log\n\n\
    Exit status: 0, or 2 on an error or a line that is not an audit record.")]
pub struct AuditArgs {
    /// The audit log [default: audit.log in the state directory].
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    /// Only this tenant's requests.
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// Only requests since TIME: RFC 3339 (2026-12-01T09:00:00Z) or an
    /// age (90s, 10m, 2h, 1d, 1w).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    since: Option<Timestamp>,
    /// Print the records exactly as stored, one JSON object per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateDirArg,
}

fn parse_since(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_since(text, Timestamp::now())
}

/// The log to read: `--log`, else the default beside the sandbox state.
fn log_path(log: Option<&Path>, state_dir: &Path) -> PathBuf {
    log.map_or_else(|| super::audit_log::path(state_dir), Path::to_path_buf)
}

/// `enforcer audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<i32> {
    let path = log_path(args.log.as_deref(), args.state.state_dir().root());
    let filter = Filter {
        tenant: args.tenant,
        since: args.since,
    };
    let outcome = audit::read_records(&path, &filter)?;
    if !args.json && !outcome.records.is_empty() {
        super::print_stdout(&format!(
            "{:<24} {:<16} {:<16} {:<20} {:<8} COMMAND",
            "TIME", "TENANT", "USER", "OUTCOME", "DECISION"
        ));
    }
    for stored in &outcome.records {
        if args.json {
            super::print_stdout(&stored.line);
        } else {
            super::print_stdout(&human_line(&stored.record));
        }
    }
    match outcome.invalid {
        Some(invalid) => {
            eprintln!(
                "enforcer: error: {}",
                enforcer::printable::escape_message(&invalid.to_string())
            );
            Ok(super::EXIT_ERROR)
        }
        None => Ok(super::EXIT_OK),
    }
}

/// One record as a line of the table, every string it holds escaped.
fn human_line(record: &AuditRecord) -> String {
    let user = match &record.user.name {
        Some(name) => format!("{}({})", escape(name), record.user.uid),
        None => format!("{}:{}", record.user.uid, record.user.gid),
    };
    let outcome = match &record.outcome {
        Outcome::Denied { policy, .. } => format!("denied by {}", escape(policy)),
        other => other.to_string(),
    };
    let id = record.decision_id.as_str();
    format!(
        "{:<24} {:<16} {:<16} {:<20} {:<8} {}{}",
        record.time,
        record.tenant.as_deref().map_or("-".into(), escape),
        user,
        outcome,
        id.get(..8).unwrap_or(id),
        record
            .container
            .as_ref()
            .map_or_else(String::new, container_prefix),
        escape_command(&record.command)
    )
}

/// `[namespace/pod/name id12345678] ` for a decision `enforcer runtime`
/// made (`-` for what the CRI annotations did not say).
fn container_prefix(container: &policy_sdk::Container) -> String {
    let part = |value: &Option<String>| {
        value
            .as_deref()
            .map_or_else(|| "-".to_string(), |text| escape(text).into_owned())
    };
    let id = escape(&container.id);
    format!(
        "[{}/{}/{} {}] ",
        part(&container.namespace),
        part(&container.pod),
        part(&container.name),
        id.get(..12).unwrap_or(&id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use enforcer::audit::{AuditUser, DecisionId};

    #[test]
    fn the_log_defaults_to_the_state_directory() {
        assert_eq!(
            log_path(None, Path::new("/run/enforcer")),
            PathBuf::from("/run/enforcer/audit.log")
        );
        assert_eq!(
            log_path(Some(Path::new("/x/a.log")), Path::new("/run/enforcer")),
            PathBuf::from("/x/a.log")
        );
    }

    #[test]
    fn a_human_line_escapes_what_the_request_controls() {
        let record = AuditRecord::new(
            DecisionId::random().expect("random"),
            "r",
            AuditUser {
                uid: 5,
                gid: 6,
                name: Some("a\nb".into()),
            },
            vec!["echo".into(), "x\u{1b}[2J".into()],
        )
        .with_tenant(Some("t\n".into()))
        .with_outcome(Outcome::Denied {
            policy: "p\n".into(),
            reason: "r".into(),
        });
        let line = human_line(&record);
        assert!(
            !line.chars().any(enforcer::printable::needs_escape),
            "{line}"
        );
        assert!(
            line.contains("t\\n") && line.contains("a\\nb(5)") && line.contains("denied by p\\n")
        );
        assert!(line.ends_with("echo x\\x1b[2J"), "{line}");
    }

    #[test]
    fn a_runtime_decision_names_its_pod_and_container() {
        let record = AuditRecord::new(
            DecisionId::random().expect("random"),
            "0123456789abcdef0123",
            AuditUser {
                uid: 0,
                gid: 0,
                name: None,
            },
            vec!["nginx".into()],
        )
        .with_container(Some(policy_sdk::Container {
            id: "0123456789abcdef0123".into(),
            namespace: Some("team-a".into()),
            pod: Some("web\n".into()),
            name: None,
            ..policy_sdk::Container::default()
        }));
        let line = human_line(&record);
        assert!(
            line.ends_with("[team-a/web\\n/- 0123456789ab] nginx"),
            "{line}"
        );
    }
}
