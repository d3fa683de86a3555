//! The parent's side of starting a sandbox: prepare the child's plan,
//! `clone(2)` with the namespace flags, write the id maps, move the child
//! into its cgroups, release it, and learn whether its `execve` succeeded.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::libc;
use nix::unistd::Pid;
use policy_model::DeviceRule;
use policy_model::normal::NormalFilesystem;
use policy_sdk::{IdMapping, NamespaceType};

use super::child::{self, ChildError, ChildPlan, RECORD_SIZE, Stage};
use super::namespaces::NamespaceSetup;
use super::privileges::{DEFAULT_PATH, Privileges};
use super::rootfs::{self, HostFacts, Label, RootfsError};
use crate::cgroup::{CgroupLayout, CreatedCgroup, join};

/// What to start, and how.
pub struct SpawnOptions<'a> {
    /// The workload's command line (`argv[0]` is looked up in `PATH` when
    /// it has no `/` and no `executable` is given).
    pub command: &'a [String],
    /// The absolute path to execute, the one the policies were shown as
    /// `request.executable`; `argv` stays `command` (its `argv[0]` as
    /// given). `None`: `command[0]` is looked up in the workload's `PATH`
    /// (`enforcer exec`, a program that could not be resolved).
    pub executable: Option<&'a str>,
    /// Namespaces to create and join.
    pub namespaces: &'a NamespaceSetup,
    /// uid map of a new user namespace.
    pub uid_mappings: &'a [IdMapping],
    /// gid map of a new user namespace.
    pub gid_mappings: &'a [IdMapping],
    /// Hostname in a new uts namespace.
    pub hostname: Option<&'a str>,
    /// Domain name in a new uts namespace.
    pub domainname: Option<&'a str>,
    /// The workload's privileges.
    pub privileges: &'a Privileges,
    /// The cgroups to move the child into before it runs, and the layout
    /// they were planned on (the join is confirmed against it).
    pub cgroup: Option<(&'a CreatedCgroup, &'a CgroupLayout)>,
    /// Run the minimal init as pid 1 of a new pid namespace.
    pub init: bool,
    /// SIGKILL the sandbox if the enforcer dies.
    pub die_with_parent: bool,
    /// Standard input, output and error to `/dev/null` (detached runs).
    pub null_stdio: bool,
    /// The pseudo-terminal slave that becomes the workload's controlling
    /// terminal and standard streams (`-t`); the caller relays the master.
    pub terminal: Option<std::os::fd::BorrowedFd<'a>>,
    /// Descriptors 3 to 3 + N - 1 the workload keeps (`--preserve-fds`).
    pub preserve_fds: u32,
    /// The signal mask the workload gets.
    pub signal_mask: libc::sigset_t,
    /// The filesystem view: with a `root`, the sandbox gets a root of its
    /// own ([`super::rootfs`]).
    pub filesystem: &'a NormalFilesystem,
    /// The device rules (which nodes the minimal `/dev` holds).
    pub devices: &'a [DeviceRule],
    /// The system call filters the workload runs under (the decision's
    /// `seccomp`, compiled).
    pub seccomp: Option<&'a crate::seccomp::FilterStack>,
    /// The new network namespace's interfaces, made while the child waits
    /// (with the addresses the record leased).
    pub network: Option<(
        &'a crate::network::plan::NetworkPlan,
        &'a crate::network::record::NetworkRecord,
    )>,
}

/// Why the sandbox did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The command line is empty.
    #[error("no command to run")]
    NoCommand,
    /// A string holds a NUL byte.
    #[error("{what} contains a NUL byte")]
    Nul {
        /// Which string.
        what: String,
    },
    /// A system call in the parent failed.
    #[error("{what}: {err}")]
    Parent {
        /// What was being done.
        what: String,
        /// The error.
        err: std::io::Error,
    },
    /// Moving the child into its cgroups failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    /// Making the sandbox's network failed.
    #[error(transparent)]
    Network(#[from] crate::network::setup::NetworkError),
    /// The sandbox's root cannot be planned or prepared.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// The child reported a failure.
    #[error("{message}: {err}")]
    Child {
        /// What failed, with the path or value.
        message: String,
        /// The kernel's error.
        err: std::io::Error,
        /// The raw record.
        record: ChildError,
    },
}

/// A started sandbox.
#[derive(Debug, Clone)]
pub struct Spawned {
    /// The cloned child: the workload, or its init or supervisor.
    pub pid: Pid,
    /// How long making its network took (zero without one).
    pub network_time: std::time::Duration,
    /// The interface indexes of its interfaces' host ends.
    pub host_indexes: Vec<u32>,
}

fn cstring(what: impl Into<String>, bytes: Vec<u8>) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError::Nul { what: what.into() })
}

/// The paths `execve` tries for `program`: itself if it has a `/`, else
/// each `PATH` entry joined with it.
pub fn exec_candidates(program: &str, path: Option<&OsStr>) -> Vec<PathBuf> {
    if program.contains('/') {
        return vec![PathBuf::from(program)];
    }
    let default = OsStr::new("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    std::env::split_paths(path.unwrap_or(default))
        .filter(|directory| !directory.as_os_str().is_empty())
        .map(|directory| directory.join(program))
        .collect()
}

/// The child's plan with the strings its pointer arrays point into; kept
/// alive until the child has exec'd.
pub(crate) struct PlannedChild {
    /// The plan.
    pub plan: ChildPlan,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    _seccomp: Vec<Vec<crate::seccomp::sock_filter>>,
    /// The paths `execve` tries, for the error messages.
    pub candidates: Vec<PathBuf>,
    /// What each step of the root is, for the error messages.
    pub rootfs_labels: Vec<Label>,
}

/// What the parent opened or read for the child before planning it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildIo {
    /// The release and error pipes.
    pub pipes: child::Pipes,
    /// `/dev/null`, opened for a detached run.
    pub null: Option<libc::c_int>,
    /// The enforcer's pid.
    pub parent_pid: libc::pid_t,
    /// Where this process's argument and environment strings lie (read
    /// only when [`supervisor_stays`]).
    pub process_title: Option<child::ProcessTitle>,
}

/// A plan, and the descriptors it names that this side keeps open.
struct Prepared {
    planned: PlannedChild,
    _null: Option<std::fs::File>,
    _idmapped: Vec<OwnedFd>,
}

fn prepare(options: &SpawnOptions<'_>, pipes: child::Pipes) -> Result<Prepared, SpawnError> {
    let null = if options.null_stdio {
        Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(|source| SpawnError::Parent {
                    what: "cannot open /dev/null".into(),
                    err: source,
                })?,
        )
    } else {
        None
    };
    let io = ChildIo {
        pipes,
        null: null.as_ref().map(AsRawFd::as_raw_fd),
        parent_pid: std::process::id() as libc::pid_t,
        process_title: supervisor_stays(options)
            .then(child::ProcessTitle::of_this_process)
            .flatten(),
    };
    let mut facts = rootfs::read_facts(options.filesystem, options.cgroup)?;
    let idmapped = rootfs::idmap::prepare(
        options.filesystem,
        options.uid_mappings,
        options.gid_mappings,
    )
    .map_err(RootfsError::from)?;
    for (index, fd) in &idmapped {
        facts.idmapped.insert(*index, fd.as_raw_fd());
    }
    Ok(Prepared {
        planned: plan_child(options, io, &facts)?,
        _null: null,
        _idmapped: idmapped.into_iter().map(|(_, fd)| fd).collect(),
    })
}

/// Whether a supervisor stays behind in the sandbox (an init or the
/// parent of a pid fork), which wipes the enforcer's strings.
fn supervisor_stays(options: &SpawnOptions<'_>) -> bool {
    options.init || options.namespaces.needs_pid_fork()
}

/// The child's plan for `options`: a pure function of the options (the
/// normal decision's namespaces, names, privileges and filesystem, the
/// run's settings), of what the parent opened (`io`) and of what it read
/// from the host for the root (`facts`). Nothing here touches the system,
/// so the plan is built and checked before the clone.
pub(crate) fn plan_child(
    options: &SpawnOptions<'_>,
    io: ChildIo,
    facts: &HostFacts,
) -> Result<PlannedChild, SpawnError> {
    let program = options.command.first().ok_or(SpawnError::NoCommand)?;
    let argv: Vec<CString> = options
        .command
        .iter()
        .enumerate()
        .map(|(index, arg)| cstring(format!("argument {index}"), arg.clone().into_bytes()))
        .collect::<Result<_, _>>()?;
    // The decision's environment, or a minimal one: never the enforcer's.
    let environment = workload_environment(options);
    let envp: Vec<CString> = environment
        .iter()
        .map(|entry| cstring("an environment variable", entry.clone().into_bytes()))
        .collect::<Result<_, _>>()?;
    // What the policies evaluated is what runs: a PATH or a file that
    // appeared since the lookup cannot change the program chosen by name.
    let candidates = match options.executable {
        Some(executable) => vec![PathBuf::from(executable)],
        None => exec_candidates(program, Some(OsStr::new(&search_path(&environment)))),
    };
    let candidate_strings = candidates
        .iter()
        .map(|candidate| {
            cstring(
                "the program path",
                candidate.as_os_str().as_bytes().to_vec(),
            )
        })
        .collect::<Result<_, _>>()?;
    let privileges = options.privileges;
    let namespaces = options.namespaces;
    let new_mount = namespaces.creates(NamespaceType::Mount);
    let new_pid = namespaces.creates(NamespaceType::Pid) || namespaces.joins(NamespaceType::Pid);
    let rootfs = rootfs::plan_rootfs(
        options.filesystem,
        options.devices,
        rootfs::Namespaces {
            pid: new_mount && namespaces.creates(NamespaceType::Pid) && new_pid,
            network: namespaces.creates(NamespaceType::Network),
            ipc: namespaces.creates(NamespaceType::Ipc),
            cgroup: namespaces.creates(NamespaceType::Cgroup),
        },
        facts,
    )?;
    if rootfs.is_some() && !new_mount {
        return Err(RootfsError::NoMountNamespace.into());
    }
    let (rootfs, rootfs_labels) = match rootfs {
        Some(planned) => (Some(planned.plan), planned.labels),
        None => (None, Vec::new()),
    };
    let filters: Vec<Vec<crate::seccomp::sock_filter>> = options
        .seccomp
        .map(|stack| stack.filters.iter().map(|f| f.program.clone()).collect())
        .unwrap_or_default();
    // `seccomp::compile` keeps every filter under the kernel's 4096
    // instructions, so the length fits `sock_fprog`'s u16.
    let programs = filters
        .iter()
        .map(|program| child::SockFprog {
            len: program.len() as libc::c_ushort,
            filter: program.as_ptr(),
        })
        .collect();
    let pointers = |strings: &[CString]| {
        strings
            .iter()
            .map(|string| string.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect::<Vec<_>>()
    };
    let plan = ChildPlan {
        pipes: io.pipes,
        supervision: child::Supervision {
            parent_pid: io.parent_pid,
            die_with_parent: options.die_with_parent,
            pid_fork: namespaces.needs_pid_fork(),
            init: options.init,
            process_title: io.process_title.filter(|_| supervisor_stays(options)),
        },
        stdio: child::Stdio {
            terminal: options.terminal.map(|fd| fd.as_raw_fd()),
            null: io.null,
        },
        namespaces: child::Namespaces {
            user_ids: namespace_ids(options),
            setns: namespaces.setns_list(),
            unshare_flags: namespaces.unshare_flags,
            private_mounts: new_mount && rootfs.is_none(),
            mount_proc: new_mount
                && rootfs.is_none()
                && namespaces.creates(NamespaceType::Pid)
                && new_pid,
        },
        uts: child::Uts {
            hostname: options
                .hostname
                .map(|name| cstring("the hostname", name.as_bytes().to_vec()))
                .transpose()?,
            domainname: options
                .domainname
                .map(|name| cstring("the domain name", name.as_bytes().to_vec()))
                .transpose()?,
        },
        credentials: child::Credentials {
            rlimits: privileges.rlimits.clone(),
            bounding: privileges.capabilities.bounding,
            ids: (privileges.user.0, privileges.user.1),
            groups: privileges.user.2.clone(),
            capabilities: (
                privileges.capabilities.effective,
                privileges.capabilities.permitted,
                privileges.capabilities.inheritable,
            ),
            ambient: privileges.capabilities.ambient,
            umask: privileges.umask,
            no_new_privileges: privileges.no_new_privileges,
        },
        exec: child::Exec {
            cwd: cstring("the working directory", privileges.cwd.clone().into_bytes())?,
            preserve_fds: options.preserve_fds,
            signal_mask: options.signal_mask,
            candidates: candidate_strings,
            argv: pointers(&argv),
            envp: pointers(&envp),
        },
        rootfs,
        seccomp: child::Seccomp {
            programs,
            flags: options.seccomp.map_or(0, |stack| stack.flags),
            before_privileges: !privileges.no_new_privileges,
        },
    };
    Ok(PlannedChild {
        plan,
        _argv: argv,
        _envp: envp,
        _seccomp: filters,
        candidates,
        rootfs_labels,
    })
}

/// Whether id 0 inside is mapped.
fn maps_root(mappings: &[IdMapping]) -> bool {
    mappings.iter().any(|mapping| mapping.container_id == 0)
}

/// The ids the child takes as soon as it is released into a new user
/// namespace: its root when mapped, else the workload's own (validation
/// requires them mapped). `None` without a new user namespace.
fn namespace_ids(options: &SpawnOptions<'_>) -> Option<(libc::uid_t, libc::gid_t)> {
    if options.namespaces.clone_flags & libc::CLONE_NEWUSER == 0 {
        return None;
    }
    if maps_root(options.uid_mappings) && maps_root(options.gid_mappings) {
        Some((0, 0))
    } else {
        let (uid, gid, _) = &options.privileges.user;
        Some((*uid, *gid))
    }
}

/// The workload's environment: the normal form's `process.env`, where
/// the default environment was already made explicit.
fn workload_environment(options: &SpawnOptions<'_>) -> Vec<String> {
    options.privileges.env.clone()
}

/// `PATH` of `environment`, or the default search path.
fn search_path(environment: &[String]) -> String {
    environment
        .iter()
        .find_map(|entry| entry.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string()
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SpawnError::Parent {
            what: "cannot create a pipe".into(),
            err: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: both are fresh descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts the sandbox. On an error nothing of it is left running (the
/// cgroups are the caller's to remove).
pub fn spawn(options: &SpawnOptions<'_>) -> Result<Spawned, SpawnError> {
    let (release_read, release_write) = pipe()?;
    let (error_read, error_write) = pipe()?;
    let prepared = prepare(
        options,
        child::Pipes {
            release_fd: release_read.as_raw_fd(),
            release_write_fd: release_write.as_raw_fd(),
            error_fd: error_write.as_raw_fd(),
        },
    )?;
    let flags = options.namespaces.clone_flags | libc::SIGCHLD;
    let returns = join_in_this_thread(&options.namespaces.parent_joins)?;
    // SAFETY: a fork-like clone (no new stack: the child runs on a copy of
    // ours); the child only runs `child::run`, which makes nothing but
    // system calls on data prepared above, and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    let clone_error = std::io::Error::last_os_error();
    if pid != 0 {
        return_to(&returns)?;
    }
    if pid < 0 {
        return Err(SpawnError::Parent {
            what: "cannot clone the sandbox's first process".into(),
            err: clone_error,
        });
    }
    if pid == 0 {
        // SAFETY: we are the child of the clone above.
        unsafe { child::run(&prepared.planned.plan) }
    }
    let pid = Pid::from_raw(pid as libc::pid_t);
    drop(release_read);
    drop(error_write);
    let abort = |error: SpawnError| {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        error
    };
    if options.namespaces.clone_flags & libc::CLONE_NEWUSER != 0 {
        write_id_maps(pid, options.uid_mappings, options.gid_mappings).map_err(abort)?;
    }
    if let Some((cgroup, layout)) = options.cgroup {
        join(cgroup, layout, pid.as_raw()).map_err(|error| abort(error.into()))?;
    }
    let network_started = std::time::Instant::now();
    let host_indexes = match options.network {
        Some((plan, record)) => crate::network::setup::attach(plan, record, pid.as_raw())
            .map_err(|error| abort(error.into()))?,
        None => Vec::new(),
    };
    let network_time = if options.network.is_some() {
        network_started.elapsed()
    } else {
        std::time::Duration::ZERO
    };
    nix::unistd::write(&release_write, &[1]).map_err(|error| {
        abort(SpawnError::Parent {
            what: "cannot release the sandbox's first process".into(),
            err: error.into(),
        })
    })?;
    drop(release_write);
    let mut record = [0u8; RECORD_SIZE];
    let mut filled = 0;
    while filled < RECORD_SIZE {
        match nix::unistd::read(&error_read, &mut record[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(error) => {
                return Err(abort(SpawnError::Parent {
                    what: "cannot read the sandbox's start status".into(),
                    err: error.into(),
                }));
            }
        }
    }
    if filled == 0 {
        return Ok(Spawned {
            pid,
            network_time,
            host_indexes,
        });
    }
    let _ = nix::sys::wait::waitpid(pid, None);
    let Some(record) = ChildError::decode(&record).filter(|_| filled == RECORD_SIZE) else {
        return Err(SpawnError::Parent {
            what: "the sandbox's first process sent a garbled start status".into(),
            err: std::io::Error::other("protocol error"),
        });
    };
    Err(SpawnError::Child {
        message: describe(&record, options, &prepared.planned),
        err: std::io::Error::from_raw_os_error(record.errno),
        record,
    })
}

/// Joins `joins` in the calling thread (a namespace change of one thread,
/// which its clone inherits); returns this thread's namespaces to go back to.
fn join_in_this_thread(
    joins: &[super::namespaces::Join],
) -> Result<Vec<(OwnedFd, libc::c_int)>, SpawnError> {
    let mut returns = Vec::new();
    for join in joins {
        let kind = super::namespaces::clone_flag(join.kind);
        let own = crate::linux::namespaces::proc_path("thread-self", join.kind);
        let file = std::fs::File::open(&own).map_err(|source| SpawnError::Parent {
            what: format!("cannot open {}", own.display()),
            err: source,
        })?;
        returns.push((OwnedFd::from(file), kind));
        // SAFETY: setns on descriptors we own.
        if unsafe { libc::setns(join.file.as_raw_fd(), kind) } != 0 {
            let source = std::io::Error::last_os_error();
            return_to(&returns)?;
            return Err(SpawnError::Parent {
                what: format!(
                    "cannot join the {} namespace {} (setns)",
                    join.kind,
                    join.path.display()
                ),
                err: source,
            });
        }
    }
    Ok(returns)
}

/// Puts the calling thread back into the namespaces `returns` names.
fn return_to(returns: &[(OwnedFd, libc::c_int)]) -> Result<(), SpawnError> {
    for (file, kind) in returns.iter().rev() {
        // SAFETY: setns on a descriptor we own.
        if unsafe { libc::setns(file.as_raw_fd(), *kind) } != 0 {
            return Err(SpawnError::Parent {
                what: "cannot return to the enforcer's own namespaces".into(),
                err: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}

/// What a child failure means, with the path or value involved.
fn describe(record: &ChildError, options: &SpawnOptions<'_>, planned: &PlannedChild) -> String {
    let detail = record.detail as usize;
    let candidates = &planned.candidates;
    match record.stage {
        Stage::Mount | Stage::MountTarget | Stage::NewRoot | Stage::PivotRoot => {
            let root = options.filesystem.root.as_ref();
            let mut message = rootfs::describe(
                record,
                &planned.rootfs_labels,
                root.map_or("/", |root| root.path.as_str()),
            );
            let step = planned
                .plan
                .rootfs
                .as_ref()
                .and_then(|plan| plan.steps.get(detail));
            if record.stage == Stage::Mount
                && record.errno == libc::EINVAL
                && let Some(kernel) = step.and_then(rootfs::kernel_message)
            {
                message = format!("{message}: {kernel}");
            }
            message
        }
        Stage::Exec => {
            let program = options.command.first().map(String::as_str).unwrap_or("");
            // What the sandbox could not see (a PATH directory it may not
            // search) is judged from here: no candidate at all is "not found".
            let none_exists = !candidates.iter().any(|candidate| candidate.exists());
            match candidates.get(detail) {
                Some(_)
                    if none_exists && options.executable.is_none() && !program.contains('/') =>
                {
                    format!(
                        "cannot run {program:?}: not found in the sandbox's PATH ({})",
                        search_path(&workload_environment(options))
                    )
                }
                Some(path) => format!("cannot execute {}", path.display()),
                None => format!("cannot execute {program:?}"),
            }
        }
        Stage::SetNs => match options.namespaces.joins.get(detail) {
            Some(join) => format!(
                "cannot join the {} namespace {} (setns)",
                join.kind,
                join.path.display()
            ),
            None => "cannot join a namespace (setns)".into(),
        },
        Stage::Unshare => "cannot create the namespaces (unshare)".into(),
        Stage::Fork => "cannot fork inside the sandbox".into(),
        Stage::Hostname => format!(
            "cannot set the hostname {:?}",
            options.hostname.unwrap_or_default()
        ),
        Stage::Domainname => format!(
            "cannot set the domain name {:?}",
            options.domainname.unwrap_or_default()
        ),
        Stage::PrivateMounts => "cannot make the mounts private (mount / MS_REC|MS_PRIVATE)".into(),
        Stage::MountProc => "cannot mount a fresh /proc".into(),
        Stage::Stdio => {
            "cannot redirect the standard streams (to /dev/null or the sandbox's terminal)".into()
        }
        Stage::Rlimit => match options.privileges.rlimits.get(detail) {
            Some((resource, soft, hard)) => {
                format!("cannot set rlimit {resource} to soft {soft}, hard {hard}")
            }
            None => "cannot set an rlimit".into(),
        },
        Stage::Bounding => format!("cannot drop capability {detail} from the bounding set"),
        Stage::Groups => "cannot set the supplementary groups".into(),
        Stage::Gid => format!("cannot switch to gid {detail}"),
        Stage::Uid => format!("cannot switch to uid {detail}"),
        Stage::Capabilities => "cannot set the capability sets (capset)".into(),
        Stage::Ambient => format!("cannot raise ambient capability {detail}"),
        Stage::NoNewPrivileges => "cannot set noNewPrivileges".into(),
        Stage::ParentDeath => "cannot set the parent-death signal".into(),
        Stage::Session if detail == 1 => {
            "cannot make the sandbox's terminal its controlling terminal (TIOCSCTTY)".into()
        }
        Stage::Session => "cannot start a session of the sandbox's own (setsid)".into(),
        Stage::Descriptors => format!("cannot keep descriptor {detail} for the workload"),
        Stage::Cwd => format!(
            "cannot enter the working directory {:?} as uid {}",
            options.privileges.cwd, options.privileges.user.0
        ),
        Stage::Dumpable => "cannot make the sandbox's first process non-dumpable".into(),
        Stage::Seccomp => {
            let filter = options
                .seccomp
                .and_then(|stack| stack.filters.get(detail))
                .map_or_else(|| format!("filter {detail}"), |f| f.role.to_string());
            let hint = if record.errno == libc::EACCES {
                " (noNewPrivileges is off and the workload lacks CAP_SYS_ADMIN)"
            } else {
                ""
            };
            format!("cannot load the seccomp filter ({filter}){hint}")
        }
        Stage::Release => "the enforcer did not release the sandbox".into(),
    }
}

/// Writes `/proc/<pid>/uid_map` and `gid_map` (and `setgroups` `deny` when
/// this process may not set groups, as the kernel then requires).
pub(crate) fn write_id_maps(
    pid: Pid,
    uids: &[IdMapping],
    gids: &[IdMapping],
) -> Result<(), SpawnError> {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let write = |file: &Path, text: &str| {
        std::fs::write(file, text).map_err(|source| SpawnError::Parent {
            what: format!("cannot write {text:?} to {}", file.display()),
            err: source,
        })
    };
    let lines = |mappings: &[IdMapping]| {
        mappings
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
            .collect::<String>()
    };
    let setgid = crate::linux::capability_number("CAP_SETGID");
    if !setgid.is_some_and(crate::linux::proc::has_capability) {
        write(&proc.join("setgroups"), "deny")?;
    }
    write(&proc.join("uid_map"), &lines(uids))?;
    write(&proc.join("gid_map"), &lines(gids))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{Context, NormalDecision, normalize};
    use crate::sandbox::namespaces::{JoinAllowList, prepare as prepare_namespaces};
    use policy_sdk::Decision;

    /// What a run derives from a normal decision before spawning.
    struct Fixture {
        decision: NormalDecision,
        namespaces: NamespaceSetup,
        privileges: Privileges,
        command: Vec<String>,
    }

    fn fixture(decision: &Decision) -> Fixture {
        let decision = normalize(decision, &Context::typical());
        let namespaces =
            prepare_namespaces(&decision.namespaces, &JoinAllowList::default(), &|_| {
                Err("no sandboxes here".into())
            })
            .expect("nothing to join");
        let privileges = Privileges::from_normal(&decision.process).expect("valid names");
        Fixture {
            decision,
            namespaces,
            privileges,
            command: vec!["sh".into(), "-c".into(), "true".into()],
        }
    }

    /// The options `sandbox::run` passes for an attached run without `-t`.
    fn options(fixture: &Fixture) -> SpawnOptions<'_> {
        SpawnOptions {
            command: &fixture.command,
            executable: None,
            namespaces: &fixture.namespaces,
            uid_mappings: &fixture.decision.uid_mappings,
            gid_mappings: &fixture.decision.gid_mappings,
            hostname: fixture.decision.hostname.as_deref(),
            domainname: fixture.decision.domainname.as_deref(),
            privileges: &fixture.privileges,
            cgroup: None,
            init: false,
            die_with_parent: true,
            null_stdio: false,
            terminal: None,
            preserve_fds: 0,
            signal_mask: *nix::sys::signal::SigSet::empty().as_ref(),
            filesystem: &fixture.decision.filesystem,
            devices: &fixture.decision.resources.devices,
            seccomp: None,
            network: None,
        }
    }

    const IO: ChildIo = ChildIo {
        pipes: child::Pipes {
            release_fd: 10,
            release_write_fd: 11,
            error_fd: 12,
        },
        null: None,
        parent_pid: 4242,
        process_title: Some(child::ProcessTitle {
            args: (100, 200),
            env: (200, 300),
        }),
    };

    fn strings(pointers: &[*const libc::c_char]) -> Vec<String> {
        assert_eq!(pointers.last(), Some(&std::ptr::null()), "NULL-terminated");
        pointers[..pointers.len() - 1]
            .iter()
            // SAFETY: the pointers point into the planned child's strings,
            // alive for the test.
            .map(|&pointer| unsafe { std::ffi::CStr::from_ptr(pointer) })
            .map(|string| string.to_str().expect("UTF-8").to_string())
            .collect()
    }

    #[test]
    fn a_silent_decision_plans_the_workload_alone() {
        let fixture = fixture(&Decision::allow());
        let planned = plan_child(&options(&fixture), IO, &HostFacts::default()).expect("plans");
        let plan = &planned.plan;
        assert_eq!(plan.pipes, IO.pipes);
        assert_eq!(
            plan.supervision,
            child::Supervision {
                parent_pid: 4242,
                die_with_parent: true,
                pid_fork: false,
                init: false,
                // Nothing stays behind to wipe the enforcer's strings.
                process_title: None,
            }
        );
        assert_eq!(
            plan.stdio,
            child::Stdio {
                terminal: None,
                null: None
            }
        );
        assert_eq!(
            plan.namespaces,
            child::Namespaces {
                user_ids: None,
                setns: vec![],
                unshare_flags: 0,
                private_mounts: false,
                mount_proc: false,
            }
        );
        assert_eq!(
            plan.uts,
            child::Uts {
                hostname: None,
                domainname: None
            }
        );
        assert_eq!(
            plan.credentials,
            child::Credentials {
                rlimits: fixture.privileges.rlimits.clone(),
                bounding: 0,
                ids: (1000, 1000),
                groups: vec![],
                capabilities: (0, 0, 0),
                ambient: 0,
                umask: None,
                no_new_privileges: true,
            }
        );
        assert_eq!(plan.exec.cwd.as_bytes(), b"/");
        assert_eq!(plan.exec.preserve_fds, 0);
        assert_eq!(strings(&plan.exec.argv), ["sh", "-c", "true"]);
        assert_eq!(strings(&plan.exec.envp), fixture.privileges.env);
        // `sh` is looked up in the workload's PATH, never the enforcer's.
        let expected: Vec<PathBuf> = std::env::split_paths(DEFAULT_PATH)
            .map(|directory| directory.join("sh"))
            .collect();
        assert_eq!(planned.candidates, expected);
        let candidates: Vec<&[u8]> = plan.exec.candidates.iter().map(|c| c.as_bytes()).collect();
        let expected: Vec<&[u8]> = expected.iter().map(|p| p.as_os_str().as_bytes()).collect();
        assert_eq!(candidates, expected);
    }

    #[test]
    fn the_seccomp_stack_is_planned_in_load_order() {
        let fixture = fixture(&Decision::allow());
        let plan = plan_child(&options(&fixture), IO, &HostFacts::default())
            .expect("plans")
            .plan;
        assert!(plan.seccomp.programs.is_empty(), "no profile, no filter");
        let stack = crate::seccomp::compile_oci(&policy_sdk::default_seccomp()).expect("compiles");
        let mut options = options(&fixture);
        options.seccomp = Some(&stack);
        let planned = plan_child(&options, IO, &HostFacts::default()).expect("plans");
        let programs = &planned.plan.seccomp.programs;
        assert_eq!(programs.len(), stack.filters.len());
        for (program, filter) in programs.iter().zip(&stack.filters) {
            assert_eq!(usize::from(program.len), filter.program.len());
            // SAFETY: the program points into the planned child's copy,
            // alive for the test.
            let copied =
                unsafe { std::slice::from_raw_parts(program.filter, filter.program.len()) };
            assert_eq!(copied, filter.program.as_slice());
        }
        // noNewPrivileges (the default): loaded last, right before exec.
        assert!(!planned.plan.seccomp.before_privileges);
        let mut privileged = fixture.privileges.clone();
        privileged.no_new_privileges = false;
        options.privileges = &privileged;
        let plan = plan_child(&options, IO, &HostFacts::default())
            .expect("plans")
            .plan;
        assert!(plan.seccomp.before_privileges);
    }

    #[test]
    fn a_user_namespace_takes_its_root_at_once_when_mapped() {
        let fixture = fixture(&Decision::allow().root_in_user_namespace(100_000, 65_536));
        let plan = plan_child(&options(&fixture), IO, &HostFacts::default())
            .expect("plans")
            .plan;
        assert_eq!(plan.namespaces.user_ids, Some((0, 0)));
        assert_eq!(plan.credentials.ids, (0, 0));
        assert_ne!(plan.credentials.bounding, 0);
        assert_eq!(
            plan.credentials.capabilities.0, plan.credentials.bounding,
            "effective"
        );
    }

    #[test]
    fn a_user_namespace_without_root_takes_the_workloads_ids() {
        let decision = Decision::allow()
            .namespace(NamespaceType::User)
            .map_ids(1000, 200_000, 1)
            .run_as(1000, 1000);
        let fixture = fixture(&decision);
        let plan = plan_child(&options(&fixture), IO, &HostFacts::default())
            .expect("plans")
            .plan;
        assert_eq!(plan.namespaces.user_ids, Some((1000, 1000)));
        assert_eq!(plan.credentials.ids, (1000, 1000));
    }

    #[test]
    fn new_mount_and_pid_namespaces_get_private_mounts_and_proc() {
        let fixture = fixture(&Decision::allow().standard_namespaces().hostname("box"));
        let mut options = options(&fixture);
        options.init = true;
        let plan = plan_child(&options, IO, &HostFacts::default())
            .expect("plans")
            .plan;
        assert!(plan.namespaces.private_mounts);
        assert!(plan.namespaces.mount_proc);
        assert_eq!(plan.namespaces.user_ids, None);
        // Created by clone: no pid fork; the init stays behind and wipes.
        assert!(!plan.supervision.pid_fork);
        assert!(plan.supervision.init);
        assert_eq!(plan.supervision.process_title, IO.process_title);
        assert_eq!(plan.uts.hostname.as_deref(), Some(c"box"));
        assert_eq!(plan.uts.domainname, None);
    }

    #[test]
    fn the_domain_name_is_planned_as_given() {
        let mut fixture = fixture(&Decision::allow().namespace(NamespaceType::Uts));
        fixture.decision.domainname = Some("example.org".into());
        let plan = plan_child(&options(&fixture), IO, &HostFacts::default())
            .expect("plans")
            .plan;
        assert_eq!(plan.uts.domainname.as_deref(), Some(c"example.org"));
        assert!(!plan.namespaces.private_mounts);
    }

    #[test]
    fn a_terminal_preserved_descriptors_and_dev_null_are_planned() {
        let fixture = fixture(&Decision::allow());
        let terminal = std::fs::File::open("/dev/null").expect("open /dev/null");
        let mut options = options(&fixture);
        options.terminal = Some(std::os::fd::AsFd::as_fd(&terminal));
        options.preserve_fds = 3;
        let io = ChildIo {
            null: Some(9),
            ..IO
        };
        let plan = plan_child(&options, io, &HostFacts::default())
            .expect("plans")
            .plan;
        assert_eq!(plan.stdio.terminal, Some(terminal.as_raw_fd()));
        assert_eq!(plan.stdio.null, Some(9));
        assert_eq!(plan.exec.preserve_fds, 3);
    }

    #[test]
    fn a_program_path_is_its_only_candidate() {
        let mut fixture = fixture(&Decision::allow());
        fixture.command = vec!["/bin/true".into()];
        let planned = plan_child(&options(&fixture), IO, &HostFacts::default()).expect("plans");
        assert_eq!(planned.candidates, [PathBuf::from("/bin/true")]);
        assert_eq!(strings(&planned.plan.exec.argv), ["/bin/true"]);
    }

    #[test]
    fn the_resolved_executable_is_the_only_candidate_and_argv_stays() {
        let fixture = fixture(&Decision::allow());
        let mut options = options(&fixture);
        options.executable = Some("/usr/bin/sh");
        let planned = plan_child(&options, IO, &HostFacts::default()).expect("plans");
        // No PATH search at exec: what was evaluated is what runs.
        assert_eq!(planned.candidates, [PathBuf::from("/usr/bin/sh")]);
        let candidates: Vec<&[u8]> = planned
            .plan
            .exec
            .candidates
            .iter()
            .map(|c| c.as_bytes())
            .collect();
        assert_eq!(candidates, [b"/usr/bin/sh".as_slice()]);
        assert_eq!(strings(&planned.plan.exec.argv), ["sh", "-c", "true"]);
    }

    #[test]
    fn bad_strings_are_refused_before_the_clone() {
        let mut fixture = fixture(&Decision::allow());
        fixture.command = vec![];
        assert!(matches!(
            plan_child(&options(&fixture), IO, &HostFacts::default()),
            Err(SpawnError::NoCommand)
        ));
        fixture.command = vec!["sh".into(), "a\0b".into()];
        let Err(error) = plan_child(&options(&fixture), IO, &HostFacts::default()) else {
            panic!("a NUL byte was planned");
        };
        assert_eq!(error.to_string(), "argument 1 contains a NUL byte");
    }

    #[test]
    fn a_root_of_its_own_replaces_private_mounts_and_proc() {
        let decision = Decision::allow()
            .standard_namespaces()
            .readonly_host_root()
            .tmpfs("/tmp", None);
        let fixture = fixture(&decision);
        let facts = HostFacts {
            staging: "/tmp".into(),
            ..HostFacts::default()
        };
        let planned = plan_child(&options(&fixture), IO, &facts).expect("plans");
        let rootfs = planned.plan.rootfs.as_ref().expect("a root");
        assert!(rootfs.readonly);
        assert_eq!(rootfs.staging.as_bytes(), b"/tmp");
        assert_eq!(rootfs.steps.len(), planned.rootfs_labels.len());
        assert!(
            planned
                .rootfs_labels
                .iter()
                .any(|label| label.to_string() == "mount 0 (tmpfs at /tmp, source tmpfs)")
        );
        // The root's builder makes the mounts private and mounts /proc.
        assert!(!planned.plan.namespaces.private_mounts);
        assert!(!planned.plan.namespaces.mount_proc);
    }

    #[test]
    fn a_root_without_a_mount_namespace_is_refused() {
        let fixture = fixture(&Decision::allow().readonly_host_root());
        let Err(error) = plan_child(&options(&fixture), IO, &HostFacts::default()) else {
            panic!("a root was planned without a mount namespace");
        };
        assert!(
            error.to_string().contains("needs a new mount namespace"),
            "{error}"
        );
    }

    #[test]
    fn candidates_follow_path() {
        assert_eq!(
            exec_candidates("/bin/sh", Some(OsStr::new("/x"))),
            vec![PathBuf::from("/bin/sh")]
        );
        assert_eq!(
            exec_candidates("sh", Some(OsStr::new("/a::/b"))),
            vec![PathBuf::from("/a/sh"), PathBuf::from("/b/sh")]
        );
        assert!(exec_candidates("sh", None).contains(&PathBuf::from("/bin/sh")));
    }
}
