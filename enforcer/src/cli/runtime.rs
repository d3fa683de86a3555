//! `enforcer runtime` (and the binary invoked as `enforcer-runtime`): the
//! OCI runtime wrapper, runc's command line in front of the delegate
//! (`enforcer::runtime`, docs/kubernetes.md).
//!
//! Every command is handed to the delegate with its arguments unchanged
//! (`execve`, so the delegate's exit status, output and signals are the
//! caller's), after this mode has acted on the few that need it: `create`
//! and `run` are decided and their spec patched, `exec` and `update` are
//! checked against the container's record, `features` and `--version` are
//! answered here. A refusal exits 1 with `enforcer: ...` on stderr and, as
//! runc's last error line, in `--log`, which containerd and CRI-O show in
//! kubelet's events.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use enforcer::audit::{
    AuditLog, AuditRecord, AuditUser, DecisionId, Outcome as AuditOutcome, Step, Trail,
};
use enforcer::pipeline::decide::{Verdict, decide};
use enforcer::runtime::RuntimeSettings;
use enforcer::runtime::args::{
    self, Action, CreateArgs, ExecArgs, ExecProcess, GlobalFlags, Invocation, ResourcesSource,
    UpdateArgs,
};
use enforcer::runtime::delegate::Delegate;
use enforcer::runtime::record::ContainerRecord;
use enforcer::runtime::{
    container_request, exec_check, features, log, patch, tenant, update_check, version,
};
use enforcer::sandbox::state::DEFAULT_STATE_DIR;
use policy_sdk::Request;
use serde_json::Value;

use super::{EngineArgs, audit_log, chain_for};

/// The program name under which the binary is the runtime wrapper.
pub const PROGRAM_NAME: &str = "enforcer-runtime";

/// Exit status of a refusal or an error (runc's for any failure).
const EXIT_FAILURE: i32 = 1;

/// Runs the runtime mode with the arguments after the program name (or
/// after `runtime`); returns the exit status when it does not hand over.
pub fn main(argv: Vec<OsString>) -> i32 {
    let invocation = match args::parse(&argv) {
        Ok(invocation) => invocation,
        Err(error) => {
            // The global flags may not have parsed: no log file to trust.
            eprintln!("enforcer: {error}");
            return EXIT_FAILURE;
        }
    };
    match act(&invocation) {
        Ok(Handover::Delegate(delegate)) => {
            let error = delegate.exec(&invocation.argv);
            refuse(
                &invocation.global,
                &format!("cannot run {}: {error}", delegate.path.display()),
            )
        }
        Ok(Handover::Done(code)) => code,
        Err(error) => refuse(&invocation.global, &super::describe_error(&error)),
    }
}

/// What happens after this mode has acted.
enum Handover {
    /// `execve` the delegate with the original arguments.
    Delegate(Delegate),
    /// Exit with this status (answered here).
    Done(i32),
}

/// Says `message` (prefixed `enforcer: `) on stderr and as an error line
/// in `--log`, and returns the failure status.
fn refuse(global: &GlobalFlags, message: &str) -> i32 {
    let message = format!("enforcer: {message}");
    eprintln!("{}", enforcer::printable::escape_message(&message));
    if let Some(path) = &global.log
        && let Err(error) = log::append_error(path, global.log_format, &message)
    {
        eprintln!(
            "enforcer: cannot write to --log {}: {error}",
            path.display()
        );
    }
    EXIT_FAILURE
}

/// Loads the operator's config into the CLI's (`$ENFORCER_CONFIG`, else
/// the default path if it exists) and returns the runtime settings.
fn load_config() -> anyhow::Result<RuntimeSettings> {
    let path = std::env::var_os(enforcer::config::ENV_VAR).map(PathBuf::from);
    let config = enforcer::config::load(path.as_deref())?;
    let settings = config
        .as_ref()
        .map_or_else(RuntimeSettings::default, |config| {
            RuntimeSettings::from_config(&config.values.runtime)
        });
    let _ = super::CONFIG.set(config);
    Ok(settings)
}

fn act(invocation: &Invocation) -> anyhow::Result<Handover> {
    if invocation.action == Action::Help {
        print_help();
    }
    let settings = load_config()?;
    let delegate = Delegate::find(&settings)?;
    match &invocation.action {
        Action::Create(create) | Action::Run(create) => {
            create_container(create, &settings, &delegate)?;
        }
        Action::Exec(exec) => check_exec(&invocation.global, exec, &delegate)?,
        Action::Update(update) => check_update(&invocation.global, update, &delegate)?,
        Action::Features => {
            let features = delegate_features(&delegate)?;
            let restricted = features::restrict(&features);
            super::print_stdout(&serde_json::to_string_pretty(&restricted)?);
            return Ok(Handover::Done(0));
        }
        Action::Version => {
            let output = delegate
                .output(&["--version"])
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).into_owned());
            print!("{}", version::render(output.as_deref()));
            return Ok(Handover::Done(0));
        }
        Action::Help | Action::PassThrough => {}
    }
    Ok(Handover::Delegate(delegate))
}

fn print_help() {
    println!(
        "enforcer runtime: an OCI runtime in front of runc or crun, applying the operator's policy to every container.\n\
         \n\
         Usage: enforcer-runtime [runc global flags] COMMAND [ARGS...]\n\
         \x20      enforcer runtime [runc global flags] COMMAND [ARGS...]\n\
         \n\
         Takes runc's command line and hands every command to the delegate runtime ([runtime] delegate,\n\
         default runc) unchanged, except:\n\
         \x20 create, run   the bundle's config.json is decided by the operator's chain (tenant from the\n\
         \x20               CRI namespace annotation) and tightened by the decision, or refused\n\
         \x20 exec          the process may not regain what the container's decision took away\n\
         \x20 update        the resources may not be looser than the container's decision\n\
         \x20 features      the delegate's, restricted to what this mode guarantees\n\
         \x20 --version     runc's three lines, with the enforcer's version\n\
         \n\
         A refusal exits 1 and writes `enforcer: ...` to stderr and to --log (as runc's last error line).\n\
         Config: $ENFORCER_CONFIG or /etc/enforcer/config.toml ([runtime], [audit], platform, tenants).\n\
         See docs/kubernetes.md. The delegate's own help follows.\n"
    );
}

/// `create` / `run`: the request from the bundle, the chain's verdict,
/// the patched spec written back (or a refusal), one audit line.
fn create_container(
    create: &CreateArgs,
    settings: &RuntimeSettings,
    delegate: &Delegate,
) -> anyhow::Result<()> {
    let bundle = std::fs::canonicalize(&create.bundle)
        .with_context(|| format!("bundle {}", create.bundle.display()))?;
    let config_path = enforcer::bundle::config_path(&bundle);
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let spec: Value = serde_json::from_str(&text)
        .map_err(|error| anyhow!("{}: not valid JSON: {error}", config_path.display()))?;
    let layout = enforcer::cgroup::discover();
    let host = enforcer::host::detect_with(&layout);
    let mut request = container_request::build(&spec, &create.id, &bundle, settings, host)?;
    let choice = tenant::choose(request.tenant.as_deref(), super::config(), settings)?;
    request.tenant = choice.request;
    let chain_tenant = choice.chain;

    let log = AuditLog::open_with(&audit_log::settings(&state_dir()), super::diagnostics())?;
    let mut trail = Trail::default();
    let decision_id = DecisionId::random()?;
    let record = |trail: &Trail| {
        AuditRecord::new(
            decision_id.clone(),
            create.id.clone(),
            AuditUser::from(&request.user),
            request.command.clone(),
        )
        .with_tenant(request.tenant.clone())
        .with_chain(trail.chain())
        .with_container(request.container.clone())
    };
    let outcome = decide_and_patch(
        &request,
        chain_tenant.as_deref(),
        &spec,
        &config_path,
        delegate,
        decision_id.as_str(),
        &mut trail,
    );
    let (entry, result) = match outcome {
        Ok(Decided::Allowed) => {
            let mut entry = record(&trail).with_outcome(AuditOutcome::Created);
            entry.decision = trail.decision();
            (entry, Ok(()))
        }
        Ok(Decided::Denied { policy, reason }) => {
            let message = format!("policy {policy}: {reason}");
            let entry = record(&trail).with_outcome(AuditOutcome::Denied { policy, reason });
            (entry, Err(anyhow!(message)))
        }
        Err(Failure { step, error }) => {
            let mut entry = record(&trail).failed(step, super::describe_error(&error));
            entry.decision = trail.decision();
            (entry, Err(error))
        }
    };
    if let Err(error) = log.append(&entry) {
        // Fail closed: an unaudited container is not started. The patched
        // spec stays in the bundle; nothing was created.
        if result.is_ok() {
            return Err(error).context("the audit line cannot be written");
        }
        eprintln!("enforcer: the audit line cannot be written: {error}");
    }
    result
}

/// How a create was decided.
enum Decided {
    Allowed,
    Denied { policy: String, reason: String },
}

/// Why a create failed, and at which audit step.
struct Failure {
    step: Step,
    error: anyhow::Error,
}

impl Failure {
    fn at(step: Step) -> impl FnOnce(anyhow::Error) -> Failure {
        move |error| Failure { step, error }
    }
}

fn decide_and_patch(
    request: &Request,
    chain_tenant: Option<&str>,
    spec: &Value,
    config_path: &Path,
    delegate: &Delegate,
    decision_id: &str,
    trail: &mut Trail,
) -> Result<Decided, Failure> {
    let engine = EngineArgs::default()
        .engine()
        .map_err(Failure::at(Step::Request))?;
    let chain = chain_for(&engine, &[], chain_tenant).map_err(Failure::at(Step::Request))?;
    let decision = match decide(&chain, request, trail).map_err(|error| Failure {
        step: trail.step,
        error,
    })? {
        Verdict::Allowed(decision) => decision,
        Verdict::Denied { policy, reason } => return Ok(Decided::Denied { policy, reason }),
    };
    let blame = |error: anyhow::Error| Failure {
        step: Step::Plan,
        error: error.context(format!(
            "the decision of {} cannot be applied to container {}",
            chain_names(&chain),
            request.id
        )),
    };
    let features = delegate_features(delegate).map_err(Failure::at(Step::Plan))?;
    features::check_decision(&features, &delegate.name(), &decision)
        .map_err(|error| blame(error.into()))?;
    let patched = patch::patch(spec, &decision).map_err(|error| blame(error.into()))?;
    let mut new_spec = patched.spec;
    ContainerRecord::new(
        &new_spec,
        &decision,
        request.tenant.clone(),
        decision_id.to_string(),
    )
    .embed(&mut new_spec);
    patch::write_config(config_path, &new_spec)
        .with_context(|| format!("cannot write {}", config_path.display()))
        .map_err(Failure::at(Step::Plan))?;
    Ok(Decided::Allowed)
}

/// The names of the chain's policies, for a refusal's message.
fn chain_names(chain: &enforcer::evaluation::Chain) -> String {
    let names: Vec<String> = chain
        .links()
        .map(|link| link.policy.name().to_string())
        .collect();
    if names.is_empty() {
        "the chain".to_string()
    } else {
        format!("policy {}", names.join(", "))
    }
}

/// The state directory: the config's, else `/run/enforcer` (where the
/// audit log and the features cache live).
fn state_dir() -> PathBuf {
    super::config()
        .and_then(|config| config.values.state_dir.as_ref())
        .map_or_else(
            || PathBuf::from(DEFAULT_STATE_DIR),
            |dir| dir.path().to_path_buf(),
        )
}

/// The delegate's `features` JSON, cached in the state directory per
/// delegate executable (path, size and modification time), so a create
/// does not run the delegate twice.
fn delegate_features(delegate: &Delegate) -> anyhow::Result<Value> {
    let cache = features_cache_path(delegate);
    if let Some(cached) = cache
        .as_ref()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    {
        return Ok(cached);
    }
    let output = delegate
        .output(&["features"])
        .with_context(|| format!("cannot run {} features", delegate.path.display()))?;
    // A delegate without `features` (crun before 1.9, runc before 1.1)
    // reports nothing: nothing can then be refused on its word.
    let features: Value = if output.status.success() {
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("{} features: not JSON", delegate.path.display()))?
    } else {
        Value::Object(serde_json::Map::new())
    };
    if let Some(path) = cache {
        // A cache that cannot be written only costs the next create a run.
        let _ = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| patch::write_config(&path, &features));
    }
    Ok(features)
}

fn features_cache_path(delegate: &Delegate) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(&delegate.path).ok()?;
    let key = format!(
        "{}\0{}\0{}.{}",
        delegate.path.display(),
        metadata.size(),
        metadata.mtime(),
        metadata.mtime_nsec()
    );
    let digest = enforcer::digest::sha256_hex(key.as_bytes());
    Some(
        state_dir()
            .join("runtime")
            .join(format!("features-{}.json", &digest[..16])),
    )
}

/// The container's record, from the delegate's `state`.
fn container_record(
    global: &GlobalFlags,
    id: &str,
    delegate: &Delegate,
) -> anyhow::Result<ContainerRecord> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(root) = &global.root {
        args.push("--root".into());
        args.push(root.into());
    }
    args.push("state".into());
    args.push(id.into());
    let output = delegate
        .output(&args)
        .with_context(|| format!("cannot run {} state {id}", delegate.path.display()))?;
    if !output.status.success() {
        bail!(
            "{} state {id} failed: {}",
            delegate.name(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let state: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("{} state {id}: not JSON", delegate.name()))?;
    Ok(ContainerRecord::from_state(id, &state)?)
}

/// `exec`: the process may not regain what the container's decision
/// took away; a `--process` file that only needs patching is rewritten in
/// place.
fn check_exec(global: &GlobalFlags, exec: &ExecArgs, delegate: &Delegate) -> anyhow::Result<()> {
    let record = container_record(global, &exec.id, delegate)?;
    let refused =
        |error: exec_check::ExecRefusal| anyhow!("exec in container {} refused: {error}", exec.id);
    match &exec.process {
        ExecProcess::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --process {}", path.display()))?;
            let process: Value = serde_json::from_str(&text).map_err(|error| {
                anyhow!("--process {}: not valid JSON: {error}", path.display())
            })?;
            if let Some(patched) = exec_check::check_process(&process, &record).map_err(refused)? {
                patch::write_config(path, &patched)
                    .with_context(|| format!("cannot write --process {}", path.display()))?;
            }
        }
        ExecProcess::Flags(flags) => exec_check::check_flags(flags, &record).map_err(refused)?,
    }
    Ok(())
}

/// `update`: the resources may not be looser than the container's
/// decision. `--resources -` is read here and given to the delegate on a
/// fresh standard input holding the same bytes.
fn check_update(
    global: &GlobalFlags,
    update: &UpdateArgs,
    delegate: &Delegate,
) -> anyhow::Result<()> {
    let record = container_record(global, &update.id, delegate)?;
    let text = match &update.resources {
        None => None,
        Some(ResourcesSource::File(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --resources {}", path.display()))?,
        ),
        Some(ResourcesSource::Stdin) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read --resources from standard input")?;
            Some(text)
        }
    };
    let refused = |error: update_check::UpdateRefusal| {
        anyhow!("update of container {} refused: {error}", update.id)
    };
    let mut resources =
        update_check::resources_of(text.as_deref(), &update.flags).map_err(refused)?;
    if delegate.name() == "runc" {
        resources = update_check::without_what_runc_ignores(resources);
    }
    update_check::check(&resources, &record).map_err(refused)?;
    if let (Some(ResourcesSource::Stdin), Some(text)) = (&update.resources, &text) {
        refeed_stdin(text.as_bytes()).context("cannot give --resources - to the delegate")?;
    }
    Ok(())
}

/// Makes standard input a fresh memory file holding `bytes`, read from
/// the start, for the delegate that reads `--resources -` after us.
fn refeed_stdin(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek, Write};
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: memfd_create with a valid C string; the descriptor it
    // returns is owned by the File below.
    let fd = unsafe { nix::libc::memfd_create(c"enforcer-resources".as_ptr(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and nothing else owns it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(bytes)?;
    file.rewind()?;
    // SAFETY: dup2 onto descriptor 0; `file` stays valid and is closed on drop.
    if unsafe { nix::libc::dup2(file.as_raw_fd(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
