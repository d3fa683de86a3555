//! `enforcer eval`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use enforcer::applicability::{self, Machine};
use enforcer::cgroup::{CgroupPlan, MountedController, Value, discover};
use enforcer::evaluation::{LinkReport, LinkResult, Mode, Outcome, evaluate_chain};
use enforcer::pipeline::decide::{build_request, check_caller_settings};
use enforcer::pipeline::plan::{Mounting, Planned, plan};
use enforcer::printable::{escape, escape_message};

use super::request_args::RequestArgs;
use super::{EXIT_DENIED, EXIT_ERROR, EXIT_OK, EngineArgs, chain_for, config};

/// Evaluate a request and print the validated decision as JSON on stdout.
///
/// Policies run in order; each later one sees the decision so far and may
/// only tighten it. The request comes from --request (a JSON file, or - for
/// stdin) or from --tenant, --label, --user and the trailing command; the
/// enforcer always fills in `host` with this machine's facts. With a config
/// and no --policy, the config's platform chain decides, then the
/// request's tenant's ceilings and policy. What an audit-mode policy would
/// have done is noted on stderr.
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
    /// Print an allowed decision even when this host could not apply it
    /// (a decision meant for other machines). Without it, such a decision
    /// is an error naming the policy that made it so (exit 2).
    #[arg(long)]
    skip_host_check: bool,
    /// Print a report instead of the bare decision: `allow`, the final
    /// `decision` (or the `error`), and one entry per policy of the chain
    /// (`links`: policy, sha256, mode, role, result, its decision).
    #[arg(long, conflicts_with = "plan")]
    report: bool,
    /// Print the request the policies would see (with `host`, `cwd`, and a
    /// bundle's `requestedSpec` and `requested`) and evaluate nothing.
    #[arg(long, conflicts_with_all = ["plan", "report"])]
    show_request: bool,
    /// Instead of the decision, print the cgroup directories and files
    /// `run` would create and write on this host (nothing is written), and
    /// a summary of the seccomp filter (default action, filters, rules,
    /// names skipped): `--plan` for text, `--plan=json` for JSON.
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
    /// sandbox's cgroup [default: the config's cgroup_root, else enforcer].
    #[arg(long, value_name = "NAME", value_parser = enforcer::config::parse_cgroup_root)]
    cgroup_root: Option<String>,
    /// With --plan: plan as `run --mount-controllers` would, on the
    /// controllers it would mount under DIR (shown as `mount` lines, or
    /// `mounts` in JSON); nothing is mounted [default: the config's
    /// mount_controllers, else off; DIR defaults to /run/enforcer/cgroup].
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = enforcer::cgroup::mount::DEFAULT_MOUNT_BASE
    )]
    mount_controllers: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Runs `enforcer eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<i32> {
    // Discovered once: the request's host facts and the plan see one host.
    let layout = discover();
    let request = build_request(
        &args.request.source(),
        args.request.settings()?.as_ref(),
        &layout,
        &super::diagnostics(),
    )?;
    if args.show_request {
        super::print_stdout(&render(&serde_json::to_value(&request)?, args.compact)?);
        return Ok(EXIT_OK);
    }
    let engine = args.engine.engine()?;
    let chain = chain_for(&engine, &args.request.policies, request.tenant.as_deref())?;
    check_caller_settings(&chain, &request)?;
    let evaluation = match evaluate_chain(&chain, &request) {
        Ok(evaluation) => evaluation,
        Err(failure) => {
            note_audits(&failure.links);
            if args.report {
                let report = serde_json::json!({
                    "allow": false,
                    "error": failure.to_string(),
                    "links": failure.links,
                });
                super::print_stdout(&render(&report, args.compact)?);
                eprintln!(
                    "enforcer: error: {}",
                    escape_message(&super::describe_error(&failure.into()))
                );
                return Ok(EXIT_ERROR);
            }
            return Err(failure.into());
        }
    };
    note_audits(&evaluation.links);
    // A decision `run` could not apply here is no good: the policy that
    // made it so is named. The request's host is always this machine's
    // (a request file's `host` is replaced), so the check is the real plan.
    let machine = Machine {
        layout: layout.clone(),
        cgroup_root: cgroup_root(args.cgroup_root.clone()),
        mount_controllers: super::run::mount_controllers(args.mount_controllers.clone()),
    };
    let checked = match args.skip_host_check {
        true => Ok(()),
        false => applicability::check_on(&evaluation, &request, &machine),
    };
    if let Err(inapplicable) = checked {
        let error = anyhow::Error::new(inapplicable);
        if args.report {
            let report = serde_json::json!({
                "allow": false,
                "error": error.to_string(),
                "links": evaluation.links,
            });
            super::print_stdout(&render(&report, args.compact)?);
            eprintln!(
                "enforcer: error: {}",
                escape_message(&super::describe_error(&error))
            );
            return Ok(EXIT_ERROR);
        }
        return Err(error);
    }
    let outcome = &evaluation.outcome;
    let (decision, code) = match outcome {
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
    if args.report {
        let report = serde_json::json!({
            "allow": matches!(outcome, Outcome::Allowed(_)),
            "decision": decision,
            "links": evaluation.links,
        });
        super::print_stdout(&render(&report, args.compact)?);
        return Ok(code);
    }
    if let (Some(format), Outcome::Allowed(normal)) = (args.plan, outcome) {
        // The planning `run` does, mounting nothing.
        let base = super::run::mount_controllers(args.mount_controllers);
        let mounting = match &base {
            Some(base) => Mounting::DryRun(base),
            None => Mounting::Off,
        };
        let planned = plan(
            normal,
            layout,
            &cgroup_root(args.cgroup_root),
            mounting,
            &super::diagnostics(),
        )?;
        let networks = config().map(|config| config.networks()).unwrap_or_default();
        let network = enforcer::network::plan::plan(&request.id, normal, &networks)?;
        match format {
            PlanFormat::Text => {
                print_plan(&planned);
                for line in network.iter().flat_map(|network| network.describe()) {
                    println!("network  {}", escape(&line));
                }
                if normal.private_host_ids {
                    println!(
                        "host ids: leased from the pool at run time ({} uids and gids, mapped from 0)",
                        enforcer::host_ids::RANGE_SIZE
                    );
                }
            }
            PlanFormat::Json => {
                let mut json = plan_json(&planned)?;
                if let (Some(network), Some(object)) = (&network, json.as_object_mut()) {
                    object.insert("network".to_string(), serde_json::to_value(network)?);
                }
                if normal.private_host_ids
                    && let Some(object) = json.as_object_mut()
                {
                    object.insert(
                        "hostIds".to_string(),
                        serde_json::json!({"leased": "at run time", "size": enforcer::host_ids::RANGE_SIZE}),
                    );
                }
                println!("{}", serde_json::to_string_pretty(&json)?)
            }
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

/// The plan as JSON; with `--mount-controllers`, a `mounts` list of the
/// hierarchies `run` would mount first (`controller`, `mountPoint`); with
/// a seccomp profile, its `seccomp` summary (`defaultAction`,
/// `defaultErrnoRet`, `architectures`, `filters`, `rules`,
/// `instructions`, `skippedNames`, `unknownNames`).
fn plan_json(planned: &Planned) -> anyhow::Result<serde_json::Value> {
    let mut json = serde_json::to_value(&planned.plan)?;
    if let (Some(stack), Some(object)) = (&planned.seccomp, json.as_object_mut()) {
        object.insert("seccomp".to_string(), serde_json::to_value(&stack.summary)?);
    }
    if !planned.mounted.is_empty()
        && let Some(object) = json.as_object_mut()
    {
        let mounts = planned
            .mounted
            .iter()
            .map(
                |MountedController {
                     controller,
                     mount_point,
                 }| {
                    serde_json::json!({"controller": controller, "mountPoint": mount_point})
                },
            )
            .collect();
        object.insert("mounts".to_string(), serde_json::Value::Array(mounts));
    }
    Ok(json)
}

fn print_plan(planned: &Planned) {
    for hierarchy in &planned.mounted {
        println!(
            "mount  {}  cgroup v1 {} (run --mount-controllers mounts it)",
            shown(&hierarchy.mount_point),
            hierarchy.controller
        );
    }
    let plan: &CgroupPlan = &planned.plan;
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
    if let Some(stack) = &planned.seccomp {
        let summary = &stack.summary;
        println!("seccomp  {summary}");
        if !summary.skipped_names.is_empty() {
            println!(
                "  skipped  {}  (not x86_64 system calls)",
                summary
                    .skipped_names
                    .iter()
                    .map(|name| escape(name).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
}

/// A path of the plan (it holds the decision's `cgroupsPath`), escaped.
fn shown(path: &std::path::Path) -> String {
    escape(&path.to_string_lossy()).into_owned()
}

/// The cgroup root: the flag, else the config's, else `enforcer`.
pub(super) fn cgroup_root(flag: Option<String>) -> String {
    flag.or_else(|| {
        config()
            .and_then(|config| config.values.cgroup_root.as_ref())
            .map(|root| root.0.clone())
    })
    .unwrap_or_else(|| "enforcer".to_string())
}

fn render(value: &serde_json::Value, compact: bool) -> anyhow::Result<String> {
    Ok(if compact {
        serde_json::to_string(value)?
    } else {
        serde_json::to_string_pretty(value)?
    })
}

/// One stderr line per audit-mode policy: what it would have done.
pub(super) fn note_audits(links: &[LinkReport]) {
    for link in links.iter().filter(|link| link.mode == Mode::Audit) {
        let what = match &link.result {
            LinkResult::Allowed => "would allow".to_string(),
            LinkResult::Denied { reason } => format!("would deny: {reason}"),
            LinkResult::Invalid { error }
            | LinkResult::Loosened { error }
            | LinkResult::Failed { error } => format!("would fail: {error}"),
            LinkResult::Skipped => continue,
        };
        eprintln!(
            "enforcer: audit: policy {} (audit mode, not applied) {}",
            escape(&link.policy),
            escape_message(&what)
        );
    }
}
