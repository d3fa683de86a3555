//! `enforcer eval`.

use clap::{Args, ValueEnum};
use enforcer::cgroup::{CgroupPlan, Value, discover, plan};
use enforcer::evaluation::{Outcome, evaluate_chain};
use enforcer::printable::escape;

use super::request_args::RequestArgs;
use super::{EXIT_DENIED, EXIT_OK, EngineArgs, load_policies};

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
    #[command(flatten)]
    request: RequestArgs,
    /// Print the decision on one line.
    #[arg(long)]
    compact: bool,
    /// Instead of the decision, print the cgroup directories and files
    /// `run` would create and write on this host (nothing is written):
    /// `--plan` for text, `--plan=json` for JSON.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "text",
        value_name = "FORMAT"
    )]
    plan: Option<PlanFormat>,
    /// Cgroup root: the directory, under each hierarchy, that holds every
    /// sandbox's cgroup.
    #[arg(long, value_name = "NAME", default_value = "enforcer", value_parser = parse_cgroup_root)]
    cgroup_root: String,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs `enforcer eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    let request = args.request.request()?;
    let engine = args.engine.engine()?;
    let policies = load_policies(&engine, &args.request.policies)?;
    args.request.check_settings(&policies, &request)?;
    let outcome = evaluate_chain(&policies, &request)?;
    let (decision, code) = match &outcome {
        Outcome::Allowed(decision) => (decision.to_decision(), EXIT_OK),
        Outcome::Denied { policy, decision } => {
            eprintln!(
                "enforcer: denied by policy {}: {}",
                escape(policy),
                escape(decision.reason.as_deref().unwrap_or("no reason given"))
            );
            (decision.clone(), EXIT_DENIED)
        }
    };
    if let (Some(format), Outcome::Allowed(normal)) = (args.plan, &outcome) {
        let plan = plan(
            &normal.resources,
            &discover(),
            &args.cgroup_root,
            &normal.cgroups_path,
        )
        .map_err(|error| anyhow::anyhow!("the decision cannot be applied on this host: {error}"))?;
        match format {
            PlanFormat::Text => print_plan(&plan),
            PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        }
        return Ok(code);
    }
    let json = if args.compact {
        serde_json::to_string(&decision)?
    } else {
        serde_json::to_string_pretty(&decision)?
    };
    println!("{json}");
    Ok(code)
}

/// How `--plan` prints.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    /// One line per directory or file.
    Text,
    /// The plan as JSON.
    Json,
}

fn print_plan(plan: &CgroupPlan) {
    for directory in &plan.directories {
        println!("mkdir  {}", shown(directory));
    }
    for write in &plan.writes {
        let optional = if write.optional {
            "  (if the kernel has it)"
        } else {
            ""
        };
        match &write.value {
            Value::Literal(text) => {
                println!("write  {}  {}{optional}", shown(&write.file), escape(text));
                if let Some(fallback) = &write.fallback {
                    println!(
                        "  or   {}  {}  (where the kernel lacks the first)",
                        shown(&fallback.file),
                        escape(&fallback.value)
                    );
                }
            }
            Value::CopyFromParent => {
                println!("copy   {}  (the parent's value)", shown(&write.file))
            }
        }
    }
    if let Some(program) = &plan.device_program {
        println!(
            "attach {}  BPF_PROG_TYPE_CGROUP_DEVICE program, {} instructions, from {} device rules",
            shown(&program.cgroup),
            program.instructions,
            program.rules.len()
        );
    }
}

/// A path of the plan (it holds the decision's `cgroupsPath`), escaped.
fn shown(path: &std::path::Path) -> String {
    escape(&path.to_string_lossy()).into_owned()
}

pub(super) fn parse_cgroup_root(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text != "."
        && text != ".."
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} must be one directory name of A-Z, a-z, 0-9, '-', '_' and '.'"
        ))
    }
}
