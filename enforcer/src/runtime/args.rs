//! runc's command line, as containerd's go-runc, CRI-O's and podman's
//! conmon issue it: the global flags (`--root`, `--log`, `--log-format`,
//! `--systemd-cgroup`, `--debug`, `--rootless`, in `--flag value`,
//! `--flag=value` and urfave/cli's single-dash forms), the subcommand, and
//! what this mode must know of the subcommands it acts on. Nothing here
//! changes the arguments: the delegate gets [`Invocation::argv`] verbatim.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `text` (runc's default): logrus's `time="..." level=error msg="..."`.
    #[default]
    Text,
    /// `json`: `{"level":"error","msg":"...","time":"..."}`.
    Json,
}

/// runc's global flags (before the subcommand).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalFlags {
    /// `--root DIR`: the delegate's state directory.
    pub root: Option<PathBuf>,
    /// `--log FILE`: where runc logs (and where our error line goes).
    pub log: Option<PathBuf>,
    /// `--log-format text|json`.
    pub log_format: LogFormat,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `--debug`.
    pub debug: bool,
    /// `--rootless true|false|auto`, as given.
    pub rootless: Option<String>,
}

/// `create` or `run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateArgs {
    /// The container id (the last positional argument).
    pub id: String,
    /// `--bundle DIR` / `-b DIR`, else `.` (runc's default: the current
    /// directory), as given (not resolved).
    pub bundle: PathBuf,
    /// `--pid-file FILE`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket PATH`.
    pub console_socket: Option<PathBuf>,
}

/// `exec`'s process, from `--process FILE` or from its flags and trailing
/// command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecProcess {
    /// `--process FILE` / `-p FILE`: an OCI `process` JSON file (go-runc
    /// and conmon always use this form).
    File(PathBuf),
    /// The flag form: `runc exec [flags] ID CMD [ARGS...]`.
    Flags(ExecFlags),
}

/// The flags of `runc exec` that can change the process's privileges;
/// the rest (`--detach`, `--pid-file`, `--console-socket`, `--tty`,
/// `--cwd`, `--env`, `--preserve-fds`, `--cgroup`, ...) cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecFlags {
    /// The command and its arguments (after the id).
    pub command: Vec<String>,
    /// `--user UID[:GID]` / `-u`, as given.
    pub user: Option<String>,
    /// `--additional-gids GID` / `-g`, each.
    pub additional_gids: Vec<String>,
    /// `--cap CAP` / `-c`, each, as given.
    pub caps: Vec<String>,
    /// `--no-new-privs`.
    pub no_new_privs: bool,
    /// `--apparmor PROFILE`.
    pub apparmor: Option<String>,
    /// `--process-label LABEL`.
    pub process_label: Option<String>,
}

/// `exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    /// The container id.
    pub id: String,
    /// The process it starts.
    pub process: ExecProcess,
}

/// Where `update` reads `--resources` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourcesSource {
    /// `--resources FILE` / `-r FILE`.
    File(PathBuf),
    /// `--resources -`: standard input (go-runc's form).
    Stdin,
}

/// `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateArgs {
    /// The container id.
    pub id: String,
    /// `--resources`, if given.
    pub resources: Option<ResourcesSource>,
    /// The individual resource flags (`--memory 1G`, `--pids-limit 10`,
    /// `--cpu-quota`, ...), flag name without dashes and value, in order.
    /// runc 1.1 and 1.2 read them only when `--resources` is absent
    /// (update.go: the flags are the `else` branch of `if in :=
    /// context.String("resources"); in != ""`), except `l3-cache-schema`
    /// and `mem-bw-schema`, which apply either way.
    pub flags: Vec<(String, String)>,
}

/// What this mode does with a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `create`: decide, patch, then hand over.
    Create(CreateArgs),
    /// `run`: as `create`.
    Run(CreateArgs),
    /// `exec`: check the process, then hand over.
    Exec(ExecArgs),
    /// `update`: check the resources, then hand over.
    Update(UpdateArgs),
    /// `features`: the delegate's, restricted.
    Features,
    /// `--version` / `-v` (or the `version` a bare runc lacks): runc's
    /// three lines with ours.
    Version,
    /// `--help`, `-h`, `help`, or no subcommand at all: our help for this
    /// mode, then the delegate's.
    Help,
    /// Anything else (`start`, `state`, `kill`, `delete`, `ps`, `pause`,
    /// `resume`, `events`, `checkpoint`, ...): handed over untouched.
    PassThrough,
}

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Every argument after the program name, verbatim: what the
    /// delegate gets.
    pub argv: Vec<OsString>,
    /// The global flags.
    pub global: GlobalFlags,
    /// The subcommand's name, if any (`create`).
    pub subcommand: Option<String>,
    /// What to do.
    pub action: Action,
}

/// A command line this mode cannot act on safely; the message names the
/// argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgsError(pub String);

/// Parses the arguments after the program name. Subcommands this mode
/// acts on are parsed strictly (an unknown flag of `create` is an error:
/// it could hide the bundle); others are not looked into.
///
/// The parse is runc 1.1's (urfave/cli v1.22.1 over Go's `flag`
/// package): flags as `--name`, `-name`, `--name=value`, `-name=value`
/// or `--name value`; a boolean flag takes a value only after `=`
/// (`--debug=false`); `--` ends the flags; the global flags come before
/// the subcommand; `create`, `run` and `update` have their arguments
/// reordered as urfave/cli does (flags first, so `create ID --bundle B`
/// works), `exec` does not (`SkipArgReorder`: everything after the id is
/// the command); two forms of one flag (`--bundle a -b b`) are an error,
/// as in urfave/cli's `normalizeFlags`.
pub fn parse(argv: &[OsString]) -> Result<Invocation, ArgsError> {
    let parsed = go_parse(GLOBAL_FLAGS, argv).map_err(|e| ArgsError(format!("runc: {e}")))?;
    let global = global_flags(&parsed)?;
    let rest = &parsed.rest;
    let subcommand = rest.first().map(|name| name.to_string_lossy().into_owned());
    let invocation = |action| Invocation {
        argv: argv.to_vec(),
        global: global.clone(),
        subcommand: subcommand.clone(),
        action,
    };
    // urfave/cli's App.Run: --help, then --version, before any command.
    if parsed.flag_bool("help") {
        return Ok(invocation(Action::Help));
    }
    if parsed.flag_bool("version") {
        return Ok(invocation(Action::Version));
    }
    let Some(name) = subcommand.as_deref() else {
        return Ok(invocation(Action::Help));
    };
    let args = &rest[1..];
    let acts = matches!(name, "create" | "run" | "exec" | "update" | "features");
    if acts {
        // runc's app.Before (configLogrus) rejects any other format
        // before a command runs.
        log_format(&parsed)?;
    }
    let action = match name {
        "help" | "h" => Action::Help,
        "create" => match create_args("create", CREATE_FLAGS, args)? {
            Some(create) => Action::Create(create),
            None => Action::PassThrough,
        },
        "run" => match create_args("run", RUN_FLAGS, args)? {
            Some(create) => Action::Run(create),
            None => Action::PassThrough,
        },
        "exec" => match exec_args(args)? {
            Some(exec) => Action::Exec(exec),
            None => Action::PassThrough,
        },
        "update" => match update_args(args)? {
            Some(update) => Action::Update(update),
            None => Action::PassThrough,
        },
        "features" => features_action(args),
        _ => Action::PassThrough,
    };
    Ok(invocation(action))
}

/// A flag's value type, as urfave/cli declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `cli.BoolFlag`: no value, or one after `=`.
    Bool,
    /// `cli.StringFlag`: the last one given wins.
    Str,
    /// `cli.IntFlag`: a Go integer (`strconv.ParseInt(s, 0, 64)`).
    Int,
    /// `cli.StringSliceFlag`: every one given.
    StrSlice,
    /// `cli.Int64SliceFlag`: every one given, each an integer.
    IntSlice,
}

/// One flag: its names (the first is the canonical one) and its type.
struct FlagSpec {
    names: &'static [&'static str],
    kind: Kind,
}

const fn flag(names: &'static [&'static str], kind: Kind) -> FlagSpec {
    FlagSpec { names, kind }
}

/// runc's global flags (main.go), with urfave/cli's `--help/-h` and
/// `--version/-v`.
const GLOBAL_FLAGS: &[FlagSpec] = &[
    flag(&["debug"], Kind::Bool),
    flag(&["log"], Kind::Str),
    flag(&["log-format"], Kind::Str),
    flag(&["root"], Kind::Str),
    flag(&["criu"], Kind::Str),
    flag(&["systemd-cgroup"], Kind::Bool),
    flag(&["rootless"], Kind::Str),
    flag(&["help", "h"], Kind::Bool),
    flag(&["version", "v"], Kind::Bool),
];

/// `runc create` (create.go; `--pidfd-socket` is runc 1.2's).
const CREATE_FLAGS: &[FlagSpec] = &[
    flag(&["bundle", "b"], Kind::Str),
    flag(&["console-socket"], Kind::Str),
    flag(&["pidfd-socket"], Kind::Str),
    flag(&["pid-file"], Kind::Str),
    flag(&["no-pivot"], Kind::Bool),
    flag(&["no-new-keyring"], Kind::Bool),
    flag(&["preserve-fds"], Kind::Int),
    flag(&["help", "h"], Kind::Bool),
];

/// `runc run` (run.go): `create`'s flags and `--detach/-d`, `--keep`,
/// `--no-subreaper`.
const RUN_FLAGS: &[FlagSpec] = &[
    flag(&["bundle", "b"], Kind::Str),
    flag(&["console-socket"], Kind::Str),
    flag(&["pidfd-socket"], Kind::Str),
    flag(&["detach", "d"], Kind::Bool),
    flag(&["keep"], Kind::Bool),
    flag(&["pid-file"], Kind::Str),
    flag(&["no-subreaper"], Kind::Bool),
    flag(&["no-pivot"], Kind::Bool),
    flag(&["no-new-keyring"], Kind::Bool),
    flag(&["preserve-fds"], Kind::Int),
    flag(&["help", "h"], Kind::Bool),
];

/// `runc exec` (exec.go; `--pidfd-socket` is runc 1.2's).
const EXEC_FLAGS: &[FlagSpec] = &[
    flag(&["console-socket"], Kind::Str),
    flag(&["pidfd-socket"], Kind::Str),
    flag(&["cwd"], Kind::Str),
    flag(&["env", "e"], Kind::StrSlice),
    flag(&["tty", "t"], Kind::Bool),
    flag(&["user", "u"], Kind::Str),
    flag(&["additional-gids", "g"], Kind::IntSlice),
    flag(&["process", "p"], Kind::Str),
    flag(&["detach", "d"], Kind::Bool),
    flag(&["pid-file"], Kind::Str),
    flag(&["process-label"], Kind::Str),
    flag(&["apparmor"], Kind::Str),
    flag(&["no-new-privs"], Kind::Bool),
    flag(&["cap", "c"], Kind::StrSlice),
    flag(&["preserve-fds"], Kind::Int),
    flag(&["cgroup"], Kind::StrSlice),
    flag(&["ignore-paused"], Kind::Bool),
    flag(&["help", "h"], Kind::Bool),
];

/// The individual resource flags of `runc update` (update.go; 1.2 adds
/// `--cpu-burst` and `--cpu-idle`).
const RESOURCE_FLAGS: &[&str] = &[
    "blkio-weight",
    "cpu-period",
    "cpu-quota",
    "cpu-share",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpuset-cpus",
    "cpuset-mems",
    "kernel-memory",
    "kernel-memory-tcp",
    "memory",
    "memory-reservation",
    "memory-swap",
    "pids-limit",
    "l3-cache-schema",
    "mem-bw-schema",
    "cpu-burst",
    "cpu-idle",
];

/// `runc update` (update.go).
const UPDATE_FLAGS: &[FlagSpec] = &[
    flag(&["resources", "r"], Kind::Str),
    flag(&["blkio-weight"], Kind::Int),
    flag(&["cpu-period"], Kind::Str),
    flag(&["cpu-quota"], Kind::Str),
    flag(&["cpu-share"], Kind::Str),
    flag(&["cpu-rt-period"], Kind::Str),
    flag(&["cpu-rt-runtime"], Kind::Str),
    flag(&["cpuset-cpus"], Kind::Str),
    flag(&["cpuset-mems"], Kind::Str),
    flag(&["kernel-memory"], Kind::Str),
    flag(&["kernel-memory-tcp"], Kind::Str),
    flag(&["memory"], Kind::Str),
    flag(&["memory-reservation"], Kind::Str),
    flag(&["memory-swap"], Kind::Str),
    flag(&["pids-limit"], Kind::Int),
    flag(&["l3-cache-schema"], Kind::Str),
    flag(&["mem-bw-schema"], Kind::Str),
    flag(&["cpu-burst"], Kind::Str),
    flag(&["cpu-idle"], Kind::Str),
    flag(&["help", "h"], Kind::Bool),
];

/// `runc features`: no flags but help.
const FEATURES_FLAGS: &[FlagSpec] = &[flag(&["help", "h"], Kind::Bool)];

/// One flag as given: its spec's canonical name and its value (`true` /
/// `false` for a boolean).
struct Hit {
    canonical: &'static str,
    value: OsString,
}

/// What Go's `FlagSet.Parse` leaves: the flags set, in order, and the
/// arguments after them.
struct Parsed {
    hits: Vec<Hit>,
    rest: Vec<OsString>,
}

impl Parsed {
    /// The last value of a single-valued flag.
    fn last(&self, canonical: &str) -> Option<&OsString> {
        self.hits
            .iter()
            .rev()
            .find(|hit| hit.canonical == canonical)
            .map(|hit| &hit.value)
    }

    /// Every value of a flag, in order.
    fn all<'a>(&'a self, canonical: &'a str) -> impl Iterator<Item = &'a OsString> + 'a {
        self.hits
            .iter()
            .filter(move |hit| hit.canonical == canonical)
            .map(|hit| &hit.value)
    }

    /// A boolean flag's value (false when not given).
    fn flag_bool(&self, canonical: &str) -> bool {
        self.last(canonical).is_some_and(|value| value == "true")
    }

    /// A string flag's last value, `None` when absent or empty (runc
    /// treats an empty value as not given).
    fn non_empty(&self, canonical: &str) -> Option<&OsString> {
        self.last(canonical).filter(|value| !value.is_empty())
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(value: &[u8]) -> Option<bool> {
    match value {
        b"1" | b"t" | b"T" | b"TRUE" | b"true" | b"True" => Some(true),
        b"0" | b"f" | b"F" | b"FALSE" | b"false" | b"False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal,
/// `0x` hex, `0o`/`0` octal or `0b` binary digits, with `_` only between
/// digits after a base prefix or a leading `0`.
fn go_int(value: &[u8]) -> bool {
    let digits = match value {
        [b'+' | b'-', rest @ ..] => rest,
        _ => value,
    };
    let (radix, body, prefixed) = match digits {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest, true),
        [b'0', b'o' | b'O', rest @ ..] => (8, rest, true),
        [b'0', b'b' | b'B', rest @ ..] => (2, rest, true),
        [b'0', rest @ ..] if !rest.is_empty() => (8, rest, true),
        _ => (10, digits, false),
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    if text.is_empty() {
        return false;
    }
    if text.contains('_') {
        // Underscores: only with a prefix, never first, last or doubled
        // (a leading `_` is allowed right after the prefix in Go).
        if !prefixed || text.ends_with('_') || text.contains("__") {
            return false;
        }
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() {
        return false;
    }
    let negative = digits.len() != value.len() && value.first() == Some(&b'-');
    match u64::from_str_radix(&clean, radix) {
        Ok(magnitude) if negative => magnitude <= 1 << 63,
        Ok(magnitude) => magnitude < 1 << 63,
        Err(_) => false,
    }
}

/// urfave/cli v1.22.1's `reorderArgs` (for commands without
/// `SkipArgReorder`): flags, each with the next argument when that does
/// not start with `-` and the flag has no `=`, then the rest; `--` and
/// everything after it stay last.
fn reorder(args: &[OsString]) -> Vec<OsString> {
    let mut flags = Vec::new();
    let mut nonflags = Vec::new();
    let mut read_value = false;
    for (i, arg) in args.iter().enumerate() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            nonflags.extend(args[i..].iter().cloned());
            break;
        }
        if read_value && !bytes.starts_with(b"-") {
            read_value = false;
            flags.push(arg.clone());
            continue;
        }
        read_value = false;
        if bytes != b"-" && bytes.starts_with(b"-") {
            flags.push(arg.clone());
            read_value = !bytes.contains(&b'=');
        } else {
            nonflags.push(arg.clone());
        }
    }
    flags.extend(nonflags);
    flags
}

/// Go's `FlagSet.Parse` (ContinueOnError) over `specs`, then urfave/cli's
/// `normalizeFlags` (two names of one flag is an error).
fn go_parse(specs: &'static [FlagSpec], args: &[OsString]) -> Result<Parsed, String> {
    let mut hits = Vec::new();
    // Which name of each spec was used, for normalizeFlags.
    let mut used: Vec<(&'static str, &'static str)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        if arg.len() < 2 || arg[0] != b'-' {
            break;
        }
        let mut minuses = 1;
        if arg[1] == b'-' {
            minuses = 2;
            if arg.len() == 2 {
                i += 1;
                break;
            }
        }
        let name = &arg[minuses..];
        if name.is_empty() || name[0] == b'-' || name[0] == b'=' {
            return Err(format!("bad flag syntax: {}", args[i].to_string_lossy()));
        }
        i += 1;
        let (name, value) = match name.iter().position(|b| *b == b'=') {
            Some(at) => (&name[..at], Some(&name[at + 1..])),
            None => (name, None),
        };
        let shown = String::from_utf8_lossy(name).into_owned();
        let found = specs.iter().find_map(|spec| {
            spec.names
                .iter()
                .find(|candidate| candidate.as_bytes() == name)
                .map(|used_name| (spec, *used_name))
        });
        let Some((spec, used_name)) = found else {
            return Err(format!("flag provided but not defined: -{shown}"));
        };
        let canonical = spec.names[0];
        let value: OsString = if spec.kind == Kind::Bool {
            match value {
                Some(value) => match go_bool(value) {
                    Some(true) => "true".into(),
                    Some(false) => "false".into(),
                    None => {
                        return Err(format!(
                            "invalid boolean value {:?} for -{shown}",
                            String::from_utf8_lossy(value)
                        ));
                    }
                },
                None => "true".into(),
            }
        } else {
            let value = match value {
                Some(value) => OsString::from_vec(value.to_vec()),
                None => match args.get(i) {
                    Some(next) => {
                        i += 1;
                        next.clone()
                    }
                    None => return Err(format!("flag needs an argument: -{shown}")),
                },
            };
            if matches!(spec.kind, Kind::Int | Kind::IntSlice) && !go_int(value.as_bytes()) {
                return Err(format!(
                    "invalid value {:?} for flag -{shown}: parse error",
                    value.to_string_lossy()
                ));
            }
            value
        };
        if let Some((_, other)) = used
            .iter()
            .find(|(canon, other)| *canon == canonical && *other != used_name)
        {
            return Err(format!(
                "Cannot use two forms of the same flag: {used_name} {other}"
            ));
        }
        if !used.iter().any(|(_, n)| *n == used_name) {
            used.push((canonical, used_name));
        }
        hits.push(Hit { canonical, value });
    }
    Ok(Parsed {
        hits,
        rest: args[i.min(args.len())..].to_vec(),
    })
}

/// A value that must be text (an id, a user, a capability).
fn text(value: &OsString, what: &str) -> Result<String, ArgsError> {
    value
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| ArgsError(format!("{what} {value:?} is not UTF-8")))
}

/// `--log-format`, as runc's configLogrus reads it (`""` and `text`:
/// text).
fn log_format(parsed: &Parsed) -> Result<LogFormat, ArgsError> {
    match parsed.last("log-format").map(|v| v.as_bytes()) {
        None | Some(b"") | Some(b"text") => Ok(LogFormat::Text),
        Some(b"json") => Ok(LogFormat::Json),
        Some(other) => Err(ArgsError(format!(
            "runc: invalid log-format: {}",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn global_flags(parsed: &Parsed) -> Result<GlobalFlags, ArgsError> {
    Ok(GlobalFlags {
        root: parsed.last("root").map(PathBuf::from),
        log: parsed.non_empty("log").map(PathBuf::from),
        // An unknown format is refused where it matters (the commands
        // this mode acts on); elsewhere the delegate says so itself.
        log_format: log_format(parsed).unwrap_or_default(),
        systemd_cgroup: parsed.flag_bool("systemd-cgroup"),
        debug: parsed.flag_bool("debug"),
        rootless: parsed
            .last("rootless")
            .map(|v| v.to_string_lossy().into_owned()),
    })
}

/// `create`/`run`'s arguments; `None` for `--help` (runc prints its help
/// and does nothing else).
fn create_args(
    command: &str,
    specs: &'static [FlagSpec],
    args: &[OsString],
) -> Result<Option<CreateArgs>, ArgsError> {
    let parsed =
        go_parse(specs, &reorder(args)).map_err(|e| ArgsError(format!("{command}: {e}")))?;
    if parsed.flag_bool("help") {
        return Ok(None);
    }
    let id = single_id(command, &parsed.rest)?;
    Ok(Some(CreateArgs {
        id,
        bundle: parsed
            .non_empty("bundle")
            .map_or_else(|| PathBuf::from("."), PathBuf::from),
        pid_file: parsed.non_empty("pid-file").map(PathBuf::from),
        console_socket: parsed.non_empty("console-socket").map(PathBuf::from),
    }))
}

/// The one positional argument of `create`, `run` and `update` (runc's
/// `checkArgs(context, 1, exactArgs)`), which must not be empty.
fn single_id(command: &str, rest: &[OsString]) -> Result<String, ArgsError> {
    match rest {
        [id] => {
            let id = text(id, "the container id")?;
            if id.is_empty() {
                return Err(ArgsError(format!("{command}: the container id is empty")));
            }
            Ok(id)
        }
        [] => Err(ArgsError(format!("{command}: missing the container id"))),
        more => Err(ArgsError(format!(
            "{command}: requires exactly 1 argument (the container id), got {}: {}",
            more.len(),
            more.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        ))),
    }
}

/// `exec`'s arguments; `None` for `--help`.
fn exec_args(args: &[OsString]) -> Result<Option<ExecArgs>, ArgsError> {
    // exec.go: SkipArgReorder: true.
    let parsed = go_parse(EXEC_FLAGS, args).map_err(|e| ArgsError(format!("exec: {e}")))?;
    if parsed.flag_bool("help") {
        return Ok(None);
    }
    let Some((id, command)) = parsed.rest.split_first() else {
        return Err(ArgsError("exec: missing the container id".into()));
    };
    let id = text(id, "the container id")?;
    if id.is_empty() {
        return Err(ArgsError("exec: the container id is empty".into()));
    }
    // getProcess: a non-empty --process wins over every other flag.
    if let Some(file) = parsed.non_empty("process") {
        return Ok(Some(ExecArgs {
            id,
            process: ExecProcess::File(PathBuf::from(file)),
        }));
    }
    if command.is_empty() {
        return Err(ArgsError(
            "exec: no command after the container id and no --process".into(),
        ));
    }
    if parsed.last("no-new-privs").is_some_and(|v| v == "false") {
        // runc: `if context.IsSet("no-new-privs")` sets the value given,
        // so `--no-new-privs=false` would clear the container's
        // noNewPrivileges.
        return Err(ArgsError(
            "exec: --no-new-privs=false would clear noNewPrivileges".into(),
        ));
    }
    let user = match parsed.non_empty("user") {
        Some(user) => Some(text(user, "--user")?),
        None => None,
    };
    let additional_gids = parsed
        .all("additional-gids")
        .map(|gid| text(gid, "--additional-gids"))
        .collect::<Result<Vec<_>, _>>()?;
    let caps = parsed
        .all("cap")
        .map(|cap| text(cap, "--cap"))
        .collect::<Result<Vec<_>, _>>()?;
    let optional = |name: &str| -> Result<Option<String>, ArgsError> {
        parsed
            .non_empty(name)
            .map(|value| text(value, &format!("--{name}")))
            .transpose()
    };
    Ok(Some(ExecArgs {
        id,
        process: ExecProcess::Flags(ExecFlags {
            command: command
                .iter()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            user,
            additional_gids,
            caps,
            no_new_privs: parsed.flag_bool("no-new-privs"),
            apparmor: optional("apparmor")?,
            process_label: optional("process-label")?,
        }),
    }))
}

/// `update`'s arguments; `None` for `--help`.
fn update_args(args: &[OsString]) -> Result<Option<UpdateArgs>, ArgsError> {
    let parsed =
        go_parse(UPDATE_FLAGS, &reorder(args)).map_err(|e| ArgsError(format!("update: {e}")))?;
    if parsed.flag_bool("help") {
        return Ok(None);
    }
    let id = single_id("update", &parsed.rest)?;
    let resources = parsed.non_empty("resources").map(|source| {
        if source == "-" {
            ResourcesSource::Stdin
        } else {
            ResourcesSource::File(PathBuf::from(source))
        }
    });
    let flags = parsed
        .hits
        .iter()
        .filter(|hit| RESOURCE_FLAGS.contains(&hit.canonical))
        .map(|hit| {
            text(&hit.value, &format!("--{}", hit.canonical))
                .map(|value| (hit.canonical.to_string(), value))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(UpdateArgs {
        id,
        resources,
        flags,
    }))
}

/// `features` with nothing after it is ours to answer; `features --help`
/// or anything runc would reject goes to the delegate.
fn features_action(args: &[OsString]) -> Action {
    match go_parse(FEATURES_FLAGS, &reorder(args)) {
        Ok(parsed) if !parsed.flag_bool("help") && parsed.rest.is_empty() => Action::Features,
        _ => Action::PassThrough,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    fn parse_line(line: &str) -> Result<Invocation, ArgsError> {
        parse(&argv(line))
    }

    fn create(line: &str) -> CreateArgs {
        match parse_line(line).expect("parses").action {
            Action::Create(create) | Action::Run(create) => create,
            other => panic!("not create/run: {other:?}"),
        }
    }

    #[test]
    fn create_in_every_flag_form() {
        for line in [
            "create --bundle /b id1",
            "create --bundle=/b id1",
            "create -bundle /b id1",
            "create -bundle=/b id1",
            "create -b /b id1",
            "create -b=/b id1",
            "create --b /b id1",
            "create id1 --bundle /b",
            "create --bundle /b -- id1",
        ] {
            let args = create(line);
            assert_eq!(args.id, "id1", "{line}");
            assert_eq!(args.bundle, PathBuf::from("/b"), "{line}");
        }
    }

    #[test]
    fn the_bundle_defaults_to_the_current_directory() {
        assert_eq!(create("create id").bundle, PathBuf::from("."));
        assert_eq!(create("create --bundle= id").bundle, PathBuf::from("."));
        let run = create("run -d --keep --pid-file /p --console-socket /s --no-subreaper id");
        assert_eq!(run.pid_file, Some(PathBuf::from("/p")));
        assert_eq!(run.console_socket, Some(PathBuf::from("/s")));
    }

    #[test]
    fn create_is_strict() {
        for (line, names) in [
            ("create --detach --bundle /b id", "-detach"),
            ("create --bundle /b", "missing the container id"),
            ("create --bundle /b id other", "exactly 1 argument"),
            ("create --bundle /a -b /b id", "two forms"),
            ("create --bundle", "needs an argument: -bundle"),
            ("create --preserve-fds x id", "-preserve-fds"),
            ("create --no-pivot=maybe id", "invalid boolean"),
            ("create ---bundle /b id", "bad flag syntax"),
            ("run --bogus id", "-bogus"),
            ("--log-format yaml create id", "invalid log-format"),
        ] {
            let error = parse_line(line).expect_err(line);
            assert!(error.0.contains(names), "{line}: {error}");
        }
        let empty_id = [OsString::from("create"), OsString::new()];
        assert!(parse(&empty_id).expect_err("empty").0.contains("empty"));
    }

    #[test]
    fn urfave_reordering_quirks_match_runc() {
        // A boolean flag takes the next word in reorderArgs, then Go's flag
        // package stops there: `--no-pivot ID --bundle B` leaves three
        // arguments, which runc refuses.
        assert!(parse_line("create --no-pivot id --bundle /b").is_err());
        assert_eq!(create("create --no-pivot id").id, "id");
        // `-` is not a flag value in reorderArgs but Go still takes it as one.
        match parse_line("update --resources - id")
            .expect("parses")
            .action
        {
            Action::Update(update) => assert_eq!(update.resources, Some(ResourcesSource::Stdin)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn global_flags_in_their_forms() {
        let invocation = parse_line(
            "--root /r -log=/l --log-format json --systemd-cgroup --debug=false --rootless=true state x",
        )
        .expect("parses");
        assert_eq!(invocation.action, Action::PassThrough);
        assert_eq!(invocation.subcommand.as_deref(), Some("state"));
        assert_eq!(
            invocation.global,
            GlobalFlags {
                root: Some("/r".into()),
                log: Some("/l".into()),
                log_format: LogFormat::Json,
                systemd_cgroup: true,
                debug: false,
                rootless: Some("true".into()),
            }
        );
        // A boolean's value only follows `=`: `--debug false` makes
        // `false` the subcommand.
        let odd = parse_line("--debug false").expect("parses");
        assert_eq!(odd.subcommand.as_deref(), Some("false"));
        assert!(odd.global.debug);
        assert!(parse_line("--bogus create id").is_err());
    }

    #[test]
    fn help_version_features_and_the_rest() {
        for (line, action) in [
            ("", Action::Help),
            ("--help", Action::Help),
            ("-h create id", Action::Help),
            ("help", Action::Help),
            ("h create", Action::Help),
            ("--help --version", Action::Help),
            ("--version", Action::Version),
            ("-v", Action::Version),
            ("--root /r -v", Action::Version),
            ("features", Action::Features),
            ("--root /r features", Action::Features),
            ("features --help", Action::PassThrough),
            ("features extra", Action::PassThrough),
            ("create --help", Action::PassThrough),
            ("exec -h", Action::PassThrough),
            ("update --help id", Action::PassThrough),
            ("start id", Action::PassThrough),
            ("delete --force id", Action::PassThrough),
            ("kill --all id 9", Action::PassThrough),
            ("checkpoint --weird-flag id", Action::PassThrough),
            ("nonsense", Action::PassThrough),
            ("--log-format yaml state id", Action::PassThrough),
        ] {
            assert_eq!(parse_line(line).expect(line).action, action, "{line:?}");
        }
    }

    #[test]
    fn exec_process_file_and_flags() {
        let exec = |line: &str| match parse_line(line).expect(line).action {
            Action::Exec(exec) => exec,
            other => panic!("{other:?}"),
        };
        let file = exec("exec --pid-file /p --process /proc.json --detach id");
        assert_eq!(file.id, "id");
        assert_eq!(file.process, ExecProcess::File("/proc.json".into()));
        assert_eq!(
            exec("exec -p=/x id").process,
            ExecProcess::File("/x".into())
        );
        let flags = exec(
            "exec -t -u 1000:1000 -g 10 -g=20 -c CAP_SYS_ADMIN -c CAP_NET_RAW \
             --no-new-privs --apparmor unconfined --process-label l -e A=1 -e B=2 --cwd /w \
             --cgroup pids:/x --ignore-paused -- id sh -c -- echo",
        );
        assert_eq!(flags.id, "id");
        assert_eq!(
            flags.process,
            ExecProcess::Flags(ExecFlags {
                command: vec!["sh".into(), "-c".into(), "--".into(), "echo".into()],
                user: Some("1000:1000".into()),
                additional_gids: vec!["10".into(), "20".into()],
                caps: vec!["CAP_SYS_ADMIN".into(), "CAP_NET_RAW".into()],
                no_new_privs: true,
                apparmor: Some("unconfined".into()),
                process_label: Some("l".into()),
            })
        );
        // No reordering: flags after the id belong to the command.
        match exec("exec id ls --user 0").process {
            ExecProcess::Flags(flags) => {
                assert_eq!(flags.command, ["ls", "--user", "0"]);
                assert_eq!(flags.user, None);
            }
            other => panic!("{other:?}"),
        }
        for (line, names) in [
            ("exec", "missing the container id"),
            ("exec id", "no command"),
            ("exec --bogus id ls", "-bogus"),
            ("exec -g x id ls", "-g"),
            ("exec --no-new-privs=false id ls", "noNewPrivileges"),
            ("exec -u 0 --user 1 id ls", "two forms"),
        ] {
            let error = parse_line(line).expect_err(line);
            assert!(error.0.contains(names), "{line}: {error}");
        }
    }

    #[test]
    fn update_collects_resources_and_flags() {
        let update = |line: &str| match parse_line(line).expect(line).action {
            Action::Update(update) => update,
            other => panic!("{other:?}"),
        };
        let file = update("update -r /res.json id");
        assert_eq!(
            file.resources,
            Some(ResourcesSource::File("/res.json".into()))
        );
        let stdin = update("update --resources=- id");
        assert_eq!(stdin.resources, Some(ResourcesSource::Stdin));
        let flags = update(
            "update --memory 1G --memory-swap=2G --pids-limit 10 --cpu-quota 5000 id \
             --cpuset-cpus 0-1 --blkio-weight 0x10 --l3-cache-schema L3:0=ff --cpu-idle 1",
        );
        assert_eq!(flags.id, "id");
        assert_eq!(flags.resources, None);
        assert_eq!(
            flags.flags,
            [
                ("memory", "1G"),
                ("memory-swap", "2G"),
                ("pids-limit", "10"),
                ("cpu-quota", "5000"),
                ("cpuset-cpus", "0-1"),
                ("blkio-weight", "0x10"),
                ("l3-cache-schema", "L3:0=ff"),
                ("cpu-idle", "1"),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        for line in [
            "update id extra",
            "update --pids-limit ten id",
            "update --memory",
            "update --cpu-weight 1 id",
        ] {
            assert!(parse_line(line).is_err(), "{line}");
        }
    }

    #[test]
    fn go_integers() {
        for good in [
            "0",
            "10",
            "-1",
            "+7",
            "0x1f",
            "0o17",
            "017",
            "0b101",
            "0x_1f",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert!(go_int(good.as_bytes()), "{good}");
        }
        for bad in [
            "",
            "x",
            "1.5",
            "1_0",
            "0x",
            "0b2",
            "08",
            "9223372036854775808",
            "0x1__f",
            "-",
        ] {
            assert!(!go_int(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn never_panics_and_keeps_argv() {
        let words = [
            "create",
            "run",
            "exec",
            "update",
            "features",
            "--",
            "-",
            "--bundle",
            "-b",
            "=",
            "--=",
            "-=x",
            "id",
            "--root",
            "--log=",
            "-p",
            "--process",
            "--resources",
            "-r",
            "--help",
            "-v",
            "---x",
            "--debug=true",
            "--user",
            "x=y",
            "",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 7) as usize;
            let line: Vec<OsString> = (0..len)
                .map(|k| OsString::from(words[((seed >> (k * 5)) % words.len() as u64) as usize]))
                .collect();
            if let Ok(invocation) = parse(&line) {
                assert_eq!(invocation.argv, line);
            }
        }
        let non_utf8 = vec![
            OsString::from("create"),
            OsString::from_vec(vec![b'-', b'-', 0xff]),
            OsString::from("id"),
        ];
        assert!(parse(&non_utf8).is_err());
        let id = vec![OsString::from("create"), OsString::from_vec(vec![0xff])];
        assert!(parse(&id).is_err());
        let pass = vec![OsString::from("state"), OsString::from_vec(vec![0xff])];
        assert_eq!(parse(&pass).expect("passes").argv, pass);
    }
}
