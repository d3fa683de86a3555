//! runc's command line, as containerd's go-runc, CRI-O's and podman's
//! conmon issue it: the global flags (`--root`, `--log`, `--log-format`,
//! `--systemd-cgroup`, `--debug`, `--rootless`, in `--flag value`,
//! `--flag=value` and urfave/cli's single-dash forms), the subcommand, and
//! what this mode must know of the subcommands it acts on. Nothing here
//! changes the arguments: the delegate gets [`Invocation::argv`] verbatim.

use std::ffi::OsString;
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
    /// `--cpu-quota`, ...), flag name without dashes and value, in order;
    /// runc applies them over `--resources`.
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
pub fn parse(argv: &[OsString]) -> Result<Invocation, ArgsError> {
    let _ = argv;
    Err(ArgsError("runtime::args::parse: not built yet".to_string()))
}
