//! `enforcer eval`.

use std::path::PathBuf;

use clap::Args;
use enforcer::evaluation::{Outcome, evaluate_chain};
use enforcer::request::{RequestOptions, from_file, from_options};
use policy_sdk::User;

use super::{EXIT_DENIED, EXIT_OK, EngineArgs, load_policies, parse_label, parse_user};

/// Evaluate a request and print the validated decision as JSON on stdout.
///
/// Policies run in order; each later one sees the decision so far and may
/// only tighten it. The request comes from --request (a JSON file, or - for
/// stdin) or from --tenant, --label, --user and the trailing command; the
/// enforcer always fills in `host` with this machine's facts.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    enforcer eval -- /bin/sh -c 'echo hello'\n  \
    enforcer eval --policy platform.wasm --policy tenant.wasm --tenant acme --label tier=pro -- python3\n  \
    echo '{\"tenant\":\"acme\",\"command\":[\"sh\"]}' | enforcer eval --policy tiers.wasm --request -\n\n\
    Exit status: 0 allowed, 1 denied (reason on stderr), 2 error (policy, input or decision).")]
pub struct EvalArgs {
    /// Policy module (.wasm or .wat); repeat to chain [default: the built-in policy].
    #[arg(long = "policy", short = 'p', value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// Request JSON file, or - for stdin.
    #[arg(long, short = 'r', value_name = "FILE", conflicts_with_all = ["tenant", "labels", "user", "id", "command"])]
    request: Option<PathBuf>,
    /// Tenant the workload belongs to.
    #[arg(long, short = 't')]
    tenant: Option<String>,
    /// Request label, KEY=VALUE; repeatable.
    #[arg(long = "label", short = 'l', value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Requesting user, UID or UID:GID [default: the caller].
    #[arg(long, short = 'u', value_name = "UID[:GID]", value_parser = parse_user)]
    user: Option<User>,
    /// Sandbox id [default: generated, sbx-<12 hex digits>].
    #[arg(long)]
    id: Option<String>,
    /// Print the decision on one line.
    #[arg(long)]
    compact: bool,
    #[command(flatten)]
    engine: EngineArgs,
    /// The workload's command line.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs `enforcer eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    let request = match &args.request {
        Some(path) => from_file(path)?,
        None => from_options(RequestOptions {
            id: args.id.clone(),
            tenant: args.tenant.clone(),
            labels: args.labels.clone(),
            user: args.user.clone(),
            command: args.command.clone(),
        }),
    };
    let engine = args.engine.engine()?;
    let policies = load_policies(&engine, &args.policies)?;
    let outcome = evaluate_chain(&policies, &request)?;
    let (decision, code) = match &outcome {
        Outcome::Allowed(decision) => (decision, EXIT_OK),
        Outcome::Denied { policy, decision } => {
            eprintln!(
                "enforcer: denied by policy {policy}: {}",
                decision.reason.as_deref().unwrap_or("no reason given")
            );
            (decision, EXIT_DENIED)
        }
    };
    let json = if args.compact {
        serde_json::to_string(decision)?
    } else {
        serde_json::to_string_pretty(decision)?
    };
    println!("{json}");
    Ok(code)
}
