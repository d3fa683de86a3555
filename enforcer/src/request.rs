//! Building the request a policy sees: from a JSON file or from command-line
//! options, always with `host` filled in from this machine.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use policy_sdk::{Host, Request, User};

use crate::bundle::Bundle;
use crate::diagnostics::{Diagnostic, Diagnostics};

pub mod executable;

/// Top-level request fields a request file may hold; anything else is a
/// typo. `host`, `cwd` (for `run`) and `executable` are accepted (a printed
/// request reads back) but always replaced: they are the enforcer's to say.
/// `container` is accepted for `eval` and golden cases (a Kubernetes
/// policy's tests); `run` refuses it ([`crate::pipeline::Pipeline::request`]).
const REQUEST_FIELDS: [&str; 14] = [
    "id",
    "tenant",
    "user",
    "command",
    "executable",
    "labels",
    "annotations",
    "requested",
    "requestedSpec",
    "cwd",
    "host",
    "previous",
    "terminal",
    "container",
];

/// Reads a request from `path` (`-` for stdin), rejecting unknown top-level
/// fields, then fills in the id (if empty) and the host facts `host`.
pub fn from_file(path: &Path, host: Host) -> anyhow::Result<Request> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the request from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read request file {}", path.display()))?;
    }
    let request = parse(&text).with_context(|| format!("request file {}", path.display()))?;
    check_id(&request.id).with_context(|| format!("request file {}", path.display()))?;
    if let Some(tenant) = &request.tenant {
        check_tenant(tenant).with_context(|| format!("request file {}", path.display()))?;
    }
    Ok(complete(request, host))
}

/// Whether `id` can name a sandbox: 1 to 64 of `A-Z a-z 0-9 _ . -`, not
/// starting with `.` or `-` (it becomes a directory name and a cgroup).
pub use policy_model::is_valid_id;

/// An error naming the id if it cannot name a sandbox; empty is fine (one
/// is generated).
pub fn check_id(id: &str) -> anyhow::Result<()> {
    if id.is_empty() || is_valid_id(id) {
        Ok(())
    } else {
        bail!("sandbox id {id:?} must be {}", policy_model::ID_RULE)
    }
}

/// Whether `tenant` can name a tenant: one path component of 1 to 63
/// characters, `a-z 0-9 . _ -`, starting with a letter or digit (it
/// becomes the cgroup directory `tenants/<tenant>`, and is matched
/// against `sandbox:<id>` joins).
pub fn is_valid_tenant(tenant: &str) -> bool {
    (1..=63).contains(&tenant.len())
        && tenant
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// An error naming the tenant if it cannot name one.
pub fn check_tenant(tenant: &str) -> anyhow::Result<()> {
    if is_valid_tenant(tenant) {
        Ok(())
    } else {
        bail!(
            "tenant {tenant:?} must be 1 to 63 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit (one path component: no '/', no '..', no control characters)"
        )
    }
}

/// The cgroup of a sandbox whose decision names none (and where the
/// default policy puts it): `sandboxes/<id>` without a tenant,
/// `tenants/<tenant>/<id>` with one. The two subtrees never meet, so a
/// tenant-less id can never become a tenant's parent cgroup.
pub fn default_cgroups_path(request: &Request) -> String {
    match &request.tenant {
        Some(tenant) => format!("tenants/{tenant}/{}", request.id),
        None => format!("sandboxes/{}", request.id),
    }
}

/// Parses request JSON strictly: unknown top-level fields are errors and
/// type errors name the field path.
pub fn parse(text: &str) -> anyhow::Result<Request> {
    let value: serde_json::Value = serde_json::from_str(text).context("not valid JSON")?;
    let Some(object) = value.as_object() else {
        bail!("a request must be a JSON object");
    };
    if object.contains_key("settings") {
        bail!(
            "request field \"settings\" is not the caller's to set: a policy's settings come from the operator, \
             with --settings (eval, run) or a golden case's `settings` (test)"
        );
    }
    if let Some(unknown) = object
        .keys()
        .find(|key| !REQUEST_FIELDS.contains(&key.as_str()))
    {
        bail!(
            "unknown request field {unknown:?} (expected one of: {})",
            REQUEST_FIELDS.join(", ")
        );
    }
    serde_path_to_error::deserialize(value)
        .map_err(|error| anyhow::anyhow!("{}: {}", error.path(), error.inner()))
}

/// Request fields given on the command line.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// `--id`.
    pub id: Option<String>,
    /// `--tenant`.
    pub tenant: Option<String>,
    /// `--label k=v`.
    pub labels: Vec<(String, String)>,
    /// `--user UID[:GID]`.
    pub user: Option<User>,
    /// The trailing command.
    pub command: Vec<String>,
}

/// A request from command-line options: the current user unless `--user`;
/// `host` is this machine's facts.
pub fn from_options(options: RequestOptions, host: Host) -> anyhow::Result<Request> {
    if let Some(id) = &options.id {
        check_id(id)?;
    }
    if let Some(tenant) = &options.tenant {
        check_tenant(tenant)?;
    }
    let user = options.user.unwrap_or_else(current_user);
    Ok(complete(
        Request {
            id: options.id.unwrap_or_default(),
            tenant: options.tenant,
            user,
            command: options.command,
            labels: options.labels.into_iter().collect::<BTreeMap<_, _>>(),
            ..Request::default()
        },
        host,
    ))
}

/// A request from an OCI bundle ([`crate::bundle`]) and the command-line
/// options given with it (`--id`, `--tenant`, `--label`, `--user`; the
/// command is the bundle's `process.args`, so `options.command` must be
/// empty): its `command`, `terminal`, `annotations`, `requested` and
/// `requestedSpec` come from the bundle.
pub fn from_bundle(bundle: Bundle, options: RequestOptions, host: Host) -> anyhow::Result<Request> {
    if !options.command.is_empty() {
        bail!(
            "a bundle's command is its process.args ({}): give no command with --bundle",
            crate::bundle::config_path(&bundle.dir).display()
        );
    }
    let mut request = from_options(
        RequestOptions {
            command: bundle.command,
            ..options
        },
        host,
    )?;
    request.terminal = bundle.terminal;
    request.annotations = bundle.annotations;
    request.requested = bundle.requested;
    request.requested_spec = Some(Box::new(bundle.spec));
    // The bundle's program is found inside its root, with its PATH.
    resolve_executable(&mut request);
    Ok(request)
}

/// The caller's working directory, as the request's `cwd` gives it:
/// absolute, and UTF-8 (JSON text); why not when it cannot be read.
pub fn caller_cwd() -> Result<String, String> {
    let dir = std::env::current_dir().map_err(|error| error.to_string())?;
    match dir.to_str() {
        Some(text) if dir.is_absolute() => Ok(text.to_string()),
        Some(text) => Err(format!("{text:?} is not absolute")),
        None => Err(format!("{} is not UTF-8", dir.display())),
    }
}

/// Sets `request.cwd` to the caller's working directory; when that cannot
/// be read (it was removed, it is not UTF-8), leaves it unset and says so
/// in a warning.
/// The `executable` is resolved again against it.
pub fn fill_cwd(request: &mut Request, diagnostics: &Diagnostics) {
    match caller_cwd() {
        Ok(cwd) => request.cwd = Some(cwd),
        Err(why) => {
            request.cwd = None;
            diagnostics.emit(Diagnostic::warning(format!(
                "the request has no cwd: cannot read the working directory: {}",
                crate::printable::escape(&why)
            )));
        }
    }
    resolve_executable(request);
}

/// Fills in what the enforcer owns: a generated id if none, the host
/// facts (`crate::host::detect_with` the run's cgroup layout), and the
/// `executable` resolved from `command[0]` ([`resolve_executable`]; any
/// the caller gave is replaced).
pub fn complete(mut request: Request, host: Host) -> Request {
    if request.id.is_empty() {
        request.id = generate_id();
    }
    request.host = host;
    resolve_executable(&mut request);
    request
}

/// Sets `request.executable` to `command[0]` resolved to the absolute path
/// the sandbox will execute ([`executable`]: against `cwd`, or inside a
/// bundle's root with its `PATH`), or clears it when it cannot be. Called
/// again whenever the fields it depends on change (`cwd` filled in).
pub fn resolve_executable(request: &mut Request) {
    request.executable = request
        .command
        .first()
        .and_then(|program| executable::resolve(program, &executable::Lookup::of(request)));
}

/// Parses `--user UID[:GID]`.
pub fn parse_user(text: &str) -> Result<User, String> {
    let (uid, gid) = match text.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid)),
        None => (text, None),
    };
    let uid: u32 = uid
        .parse()
        .map_err(|_| format!("{text:?} is not UID or UID:GID"))?;
    let gid = match gid {
        Some(gid) => gid
            .parse()
            .map_err(|_| format!("{text:?} is not UID or UID:GID"))?,
        None => uid,
    };
    let name = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|user| user.name);
    Ok(User { uid, gid, name })
}

/// Parses `--label KEY=VALUE`.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn current_user() -> User {
    let uid = nix::unistd::getuid();
    User {
        uid: uid.as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        name: nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map(|user| user.name),
    }
}

/// `sbx-` and 12 random hex digits.
fn generate_id() -> String {
    let mut bytes = [0u8; 6];
    let random =
        std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut bytes));
    if random.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or(0);
        let mixed = nanos ^ (u128::from(std::process::id()) << 64);
        bytes.copy_from_slice(&mixed.to_le_bytes()[..6]);
    }
    format!("sbx-{}", crate::digest::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_names_the_culprit() {
        let error = parse(r#"{"tenat":"acme"}"#).expect_err("typo");
        assert!(
            error
                .to_string()
                .contains("unknown request field \"tenat\""),
            "{error}"
        );
        let error = parse(r#"{"user":{"uid":"root"}}"#).expect_err("type");
        assert!(error.to_string().starts_with("user.uid:"), "{error}");
        let error = parse(r#"{"requested":{"memory":{"limt":1}}}"#).expect_err("nested typo");
        assert!(error.to_string().contains("limt"), "{error}");
    }

    #[test]
    fn a_caller_cannot_set_the_operators_settings() {
        let error = parse(r#"{"command":["sh"],"settings":{"maxPids":100000}}"#)
            .expect_err("settings are the operator's");
        assert!(
            error
                .to_string()
                .contains("\"settings\" is not the caller's to set"),
            "{error}"
        );
    }

    #[test]
    fn ids_must_be_directory_names() {
        for good in ["sbx-0123456789ab", "job.1", "A_b-c"] {
            assert!(is_valid_id(good), "{good}");
        }
        for bad in ["", ".hidden", "-x", "a/b", "a b", "..", &"x".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        let error = from_options(
            RequestOptions {
                id: Some("../etc".into()),
                ..RequestOptions::default()
            },
            Host::default(),
        )
        .expect_err("refused");
        assert!(error.to_string().contains("\"../etc\""), "{error}");
    }

    #[test]
    fn tenants_are_one_plain_path_component() {
        for good in ["acme", "a", "team-1.prod_x", "0day", &"x".repeat(63)] {
            assert!(is_valid_tenant(good), "{good}");
        }
        for bad in [
            "",
            "acme/evil",
            "..",
            ".",
            ".hidden",
            "-x",
            "_x",
            "Acme",
            "a b",
            "a\u{1b}[2J",
            "a\nb",
            &"x".repeat(64),
        ] {
            assert!(!is_valid_tenant(bad), "{bad:?}");
        }
        let error = from_options(
            RequestOptions {
                tenant: Some("acme/../../x".into()),
                ..RequestOptions::default()
            },
            Host::default(),
        )
        .expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("tenant \"acme/../../x\" must be"),
            "{error}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("request.json");
        std::fs::write(&file, r#"{"tenant":"evil\u001b[2J"}"#).expect("writes");
        let error = from_file(&file, Host::default()).expect_err("refused");
        assert!(
            format!("{error:#}").contains("tenant \"evil\\u{1b}[2J\" must be"),
            "{error:#}"
        );
    }

    #[test]
    fn the_default_cgroup_separates_tenants_from_tenantless_sandboxes() {
        let mut request = Request {
            id: "acme".into(),
            ..Request::default()
        };
        assert_eq!(default_cgroups_path(&request), "sandboxes/acme");
        request.tenant = Some("acme".into());
        assert_eq!(default_cgroups_path(&request), "tenants/acme/acme");
    }

    #[test]
    fn options_fill_in_id_user_and_host() {
        let request = from_options(
            RequestOptions {
                tenant: Some("acme".into()),
                labels: vec![("tier".into(), "pro".into())],
                command: vec!["/bin/true".into()],
                ..RequestOptions::default()
            },
            crate::host::detect(),
        )
        .expect("valid options");
        assert!(
            request.id.starts_with("sbx-") && request.id.len() == 16,
            "{}",
            request.id
        );
        assert_eq!(request.label("tier"), Some("pro"));
        assert!(request.host.memory_bytes > 0);
    }

    #[test]
    fn a_bundle_gives_the_command_and_the_requested_spec() {
        let bundle = Bundle {
            dir: "/srv/job".into(),
            command: vec!["/bin/sh".into()],
            terminal: true,
            annotations: BTreeMap::from([("a".to_string(), "b".to_string())]),
            requested: None,
            spec: policy_sdk::Decision::allow().hostname("runc"),
            warnings: Vec::new(),
        };
        let request = from_bundle(
            bundle.clone(),
            RequestOptions {
                id: Some("job".into()),
                ..RequestOptions::default()
            },
            Host::default(),
        )
        .expect("a request");
        assert_eq!(request.id, "job");
        assert_eq!(request.command, ["/bin/sh"]);
        assert!(request.terminal);
        assert_eq!(request.annotations.get("a").map(String::as_str), Some("b"));
        assert_eq!(
            request.requested_spec.and_then(|spec| spec.hostname),
            Some("runc".into())
        );
        let error = from_bundle(
            bundle,
            RequestOptions {
                command: vec!["/bin/true".into()],
                ..RequestOptions::default()
            },
            Host::default(),
        )
        .expect_err("two commands");
        assert!(
            error
                .to_string()
                .contains("its process.args (/srv/job/config.json)"),
            "{error}"
        );
    }

    #[test]
    fn the_callers_cwd_is_absolute() {
        let cwd = caller_cwd().expect("readable here");
        assert!(cwd.starts_with('/'), "{cwd}");
        let mut request = Request::default();
        fill_cwd(&mut request, &Diagnostics::default());
        assert_eq!(request.cwd, Some(cwd));
    }

    #[test]
    fn users_and_labels_parse() {
        assert_eq!(parse_user("1000").map(|u| (u.uid, u.gid)), Ok((1000, 1000)));
        assert_eq!(parse_user("1000:5").map(|u| (u.uid, u.gid)), Ok((1000, 5)));
        assert!(parse_user("bob").is_err());
        assert_eq!(parse_label("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_label("=x").is_err());
    }
}
