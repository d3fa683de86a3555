//! The child's side of starting a sandbox, from `clone(2)` to `execve(2)`.
//!
//! The child is a copy of a possibly multi-threaded parent, so until it
//! execs it only makes system calls: no allocation, no locks, no Rust
//! standard library I/O, and raw system calls where glibc's wrappers
//! coordinate with threads (the id changes). Everything it needs is prepared by the parent in
//! a [`ChildPlan`] (C strings, pointer arrays, bit masks) before the clone.
//! A failure is reported to the parent as a fixed-size [`ChildError`]
//! record on a close-on-exec pipe; a successful `execve` closes the pipe,
//! which the parent sees as end-of-file.
//!
//! Steps, in the order the kernel needs them:
//! 1. wait on the release pipe until the parent has written the id maps
//!    and moved the child into its cgroups (die with the parent, if asked);
//!    become non-dumpable and start a session of its own (`setsid`), with
//!    the sandbox's pseudo-terminal as controlling terminal and standard
//!    streams under `-t`; a detached sandbox's streams go to `/dev/null`;
//!    in a new user namespace, take mapped ids at once;
//! 2. `setns` into the namespaces to join (user first, mount last), then
//!    `unshare` the rest (the cgroup namespace, now rooted at the sandbox's
//!    cgroup; everything when a user namespace was joined);
//! 3. if a pid namespace was joined or unshared, fork once: the parent
//!    stays behind to supervise, the child is in the new pid namespace;
//! 4. set the hostname and domain name, make every mount private and mount
//!    a fresh `/proc` (new mount and pid namespaces); or, with a root of
//!    its own, build that root and `pivot_root` into it
//!    ([`super::rootfs::build`]);
//! 5. as pid 1 with the minimal init on, fork the workload and supervise
//!    it: forward signals, reap every orphan, exit with its status (a
//!    supervisor wipes the enforcer's argument and environment strings
//!    and calls itself `enforcer-init`);
//! 6. rlimits, capability bounding set, groups and ids, capabilities,
//!    ambient set, umask, `noNewPrivileges`; then `chdir` into the working
//!    directory as the workload's user, every descriptor above 2 but the
//!    preserved ones marked close-on-exec, SIGPIPE at its default
//!    disposition, the signal mask back as it was;
//! 7. load the seccomp filters (`seccomp(SECCOMP_SET_MODE_FILTER)`, one
//!    call per filter of the stack): here, as late as possible, when
//!    `noNewPrivileges` is on; without it the kernel wants `CAP_SYS_ADMIN`,
//!    so they are loaded at the start of step 6 instead, before the ids and
//!    capabilities change (the profile must then allow the calls of step 6
//!    too). Either way the workload's own process alone is filtered, never
//!    a supervisor; the profile must allow `execve`, `write` (an exec
//!    failure's record) and `exit_group`;
//! 8. `execve` each candidate path in turn.

use std::ffi::CString;

use nix::libc;

/// Declares [`Stage`] and [`Stage::ALL`] from one list, so the numbering
/// on the error pipe and the table `decode` reads cannot drift apart.
macro_rules! stages {
    ($($(#[doc = $doc:literal])* $name:ident = $value:literal,)*) => {
        /// What failed in the child (the step's number is the first word of
        /// a [`ChildError`] record). Each variant says what the record's
        /// [`detail`](ChildError::detail) holds; where it says nothing, the
        /// detail is 0.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Stage {
            $($(#[doc = $doc])* $name = $value,)*
        }

        impl Stage {
            /// Every stage, in the order of their numbers.
            pub const ALL: &'static [Stage] = &[$(Stage::$name,)*];
        }
    };
}

stages! {
    /// Setting the parent-death signal.
    ParentDeath = 1,
    /// Waiting for the parent's release.
    Release = 2,
    /// `setns`; detail: the index into the joins
    /// ([`Namespaces::setns`], the decision's joins in order).
    SetNs = 3,
    /// `unshare` of the namespaces to create.
    Unshare = 4,
    /// `fork` into the pid namespace or of the workload under init.
    Fork = 5,
    /// `sethostname`.
    Hostname = 6,
    /// `setdomainname`.
    Domainname = 7,
    /// Making mounts private.
    PrivateMounts = 8,
    /// Mounting `/proc`.
    MountProc = 9,
    /// Redirecting standard input and output; detail: the target
    /// descriptor (0, 1 or 2).
    Stdio = 10,
    /// `setrlimit`; detail: the index into [`Credentials::rlimits`].
    Rlimit = 11,
    /// Dropping a capability from the bounding set; detail: the capability
    /// number.
    Bounding = 12,
    /// `setgroups`.
    Groups = 13,
    /// `setresgid`; detail: the gid.
    Gid = 14,
    /// `setresuid`; detail: the uid.
    Uid = 15,
    /// `capget` or `capset`.
    Capabilities = 16,
    /// Raising an ambient capability; detail: the capability number.
    Ambient = 17,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivileges = 18,
    /// `execve`; detail: the index into [`Exec::candidates`].
    Exec = 19,
    /// Starting a session; detail: 0 for `setsid`, 1 for making the
    /// terminal the controlling one (`TIOCSCTTY`).
    Session = 20,
    /// Keeping only the descriptors the workload may have; detail: the
    /// descriptor (a preserved one, or the first of the range marked
    /// close-on-exec).
    Descriptors = 21,
    /// `chdir` into the working directory.
    Cwd = 22,
    /// `PR_SET_DUMPABLE`.
    Dumpable = 23,
    /// Loading a seccomp filter; detail: its index in
    /// [`Seccomp::programs`].
    Seccomp = 24,
    /// A step of the new root (a mount, a symlink, a mask, a read-only
    /// path); detail: the index into [`RootfsPlan::steps`](super::rootfs::RootfsPlan).
    Mount = 25,
    /// Opening (or creating) a root step's destination inside the new
    /// root; detail: the index into the steps (`ELOOP`: a symlink on the way).
    MountTarget = 26,
    /// Setting up the new root before its steps; detail: the sub-step
    /// (`rootfs::build::new_root`).
    NewRoot = 27,
    /// `pivot_root` into the new root and detaching the old one; detail:
    /// the sub-step (`rootfs::build::pivot`).
    PivotRoot = 28,
}

impl Stage {
    fn from_u32(value: u32) -> Option<Stage> {
        Stage::ALL
            .iter()
            .copied()
            .find(|stage| *stage as u32 == value)
    }
}

/// A failure record from the child: three native-endian words, the stage,
/// its detail and the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildError {
    /// The step.
    pub stage: Stage,
    /// Which item of the step failed; what it means depends on the stage
    /// (each [`Stage`] variant documents it): an index into the plan's
    /// joins, rlimits or exec candidates, a capability number, a uid or
    /// gid, a descriptor.
    pub detail: u32,
    /// The kernel's errno.
    pub errno: i32,
}

/// Size of a record on the error pipe.
pub const RECORD_SIZE: usize = 12;

impl ChildError {
    /// Encodes the record (without allocating: the child calls this).
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut record = [0u8; RECORD_SIZE];
        record[0..4].copy_from_slice(&(self.stage as u32).to_ne_bytes());
        record[4..8].copy_from_slice(&self.detail.to_ne_bytes());
        record[8..12].copy_from_slice(&self.errno.to_ne_bytes());
        record
    }

    /// Decodes a record; `None` for an unknown stage.
    pub fn decode(bytes: &[u8; RECORD_SIZE]) -> Option<ChildError> {
        let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        Some(ChildError {
            stage: Stage::from_u32(u32::from_ne_bytes(word(0)))?,
            detail: u32::from_ne_bytes(word(4)),
            errno: i32::from_ne_bytes(word(8)),
        })
    }
}

/// Everything the child does, prepared by the parent
/// (`spawn::plan_child`). The pointer arrays point into `CString`s
/// the parent keeps alive alongside it.
pub struct ChildPlan {
    /// The pipes to the parent.
    pub pipes: Pipes,
    /// Supervision: the parent's death, the minimal init, the pid fork.
    pub supervision: Supervision,
    /// The standard streams.
    pub stdio: Stdio,
    /// Namespaces to join and create, and what a new one needs.
    pub namespaces: Namespaces,
    /// Names in a new uts namespace.
    pub uts: Uts,
    /// The workload's ids, capabilities and limits.
    pub credentials: Credentials,
    /// What to execute, and how.
    pub exec: Exec,
    /// The sandbox's own root, built in its mount namespace instead of
    /// [`Namespaces::private_mounts`] and [`Namespaces::mount_proc`].
    pub rootfs: Option<super::rootfs::RootfsPlan>,
    /// The system call filters to load.
    pub seccomp: Seccomp,
}

/// The pipes between parent and child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipes {
    /// Read end of the release pipe.
    pub release_fd: libc::c_int,
    /// Write end of the release pipe (the parent's; closed at once, so the
    /// child sees end-of-file if the parent dies before releasing it).
    pub release_write_fd: libc::c_int,
    /// Write end of the error pipe (close-on-exec).
    pub error_fd: libc::c_int,
}

/// How the sandbox is tied to the enforcer and supervised inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervision {
    /// The parent's pid, to notice a parent that died before
    /// `PR_SET_PDEATHSIG` took effect.
    pub parent_pid: libc::pid_t,
    /// SIGKILL the sandbox when the enforcer dies (attached runs).
    pub die_with_parent: bool,
    /// Fork once more to enter the joined or unshared pid namespace.
    pub pid_fork: bool,
    /// Run the minimal init when the child is pid 1 of a new namespace.
    pub init: bool,
    /// Where the enforcer's command line and environment strings lie in
    /// memory (`arg_start..arg_end`, `env_start..env_end` of
    /// `/proc/self/stat`): a supervisor that stays behind wipes them, so the
    /// sandbox never sees the enforcer's arguments or environment. Only
    /// set when a supervisor stays behind (an init or a pid fork).
    pub process_title: Option<ProcessTitle>,
}

/// The sandbox's standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdio {
    /// The pseudo-terminal slave to make the controlling terminal and
    /// standard streams (`-t`).
    pub terminal: Option<libc::c_int>,
    /// Open `/dev/null` to put on fds 0, 1 and 2 (detached runs).
    pub null: Option<libc::c_int>,
}

/// The namespace work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    /// In a new user namespace: the ids to take right after the release,
    /// keeping the namespace's capabilities for the steps before exec (its
    /// root when 0 is mapped, else the workload's ids, which validation
    /// made sure are mapped), so that no process of the sandbox keeps the
    /// enforcer's host ids.
    pub user_ids: Option<(libc::uid_t, libc::gid_t)>,
    /// `(fd, CLONE_NEW* type)` to `setns`, in order.
    pub setns: Vec<(libc::c_int, libc::c_int)>,
    /// Namespaces to `unshare` after joining.
    pub unshare_flags: libc::c_int,
    /// Make every mount private (new mount namespace).
    pub private_mounts: bool,
    /// Mount a fresh `/proc` (new mount and pid namespaces).
    pub mount_proc: bool,
}

/// Names set in a new uts namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uts {
    /// `sethostname`.
    pub hostname: Option<CString>,
    /// `setdomainname`.
    pub domainname: Option<CString>,
}

/// The workload's credentials and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `(resource, soft, hard)`.
    pub rlimits: Vec<(libc::c_int, u64, u64)>,
    /// Capability bounding set to keep.
    pub bounding: u64,
    /// `(uid, gid)` to switch to (always: never ids merely inherited).
    pub ids: (libc::uid_t, libc::gid_t),
    /// Supplementary groups (set with the ids).
    pub groups: Vec<libc::gid_t>,
    /// Effective, permitted, inheritable capability sets.
    pub capabilities: (u64, u64, u64),
    /// Ambient capabilities.
    pub ambient: u64,
    /// `umask`.
    pub umask: Option<libc::mode_t>,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privileges: bool,
}

/// The `execve` and what it inherits.
pub struct Exec {
    /// The working directory, entered as the workload's user.
    pub cwd: CString,
    /// Descriptors 3 to 3 + N - 1 the workload keeps (`--preserve-fds N`);
    /// every other one above 2 is closed at exec.
    pub preserve_fds: u32,
    /// The signal mask to restore before `execve`.
    pub signal_mask: libc::sigset_t,
    /// Paths to try with `execve`, in order.
    pub candidates: Vec<CString>,
    /// `argv`, NULL-terminated.
    pub argv: Vec<*const libc::c_char>,
    /// `envp`, NULL-terminated.
    pub envp: Vec<*const libc::c_char>,
}

/// The seccomp filters (`crate::seccomp::FilterStack`), ready for
/// `seccomp(2)`; the instructions live in `spawn::PlannedChild`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seccomp {
    /// The programs, in load order; empty: no filter.
    pub programs: Vec<SockFprog>,
    /// `SECCOMP_FILTER_FLAG_*` bits.
    pub flags: libc::c_uint,
    /// Load before the privileges are set, while the process still holds
    /// `CAP_SYS_ADMIN` (without `noNewPrivileges` the kernel demands it);
    /// else right before `execve`.
    pub before_privileges: bool,
}

/// `struct sock_fprog`: a classic BPF program's length and instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SockFprog {
    /// Number of instructions.
    pub len: libc::c_ushort,
    /// The instructions.
    pub filter: *const crate::seccomp::sock_filter,
}

/// `SECCOMP_SET_MODE_FILTER` (linux/seccomp.h).
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;

/// The memory of the process's argument and environment strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessTitle {
    /// `arg_start..arg_end`.
    pub args: (usize, usize),
    /// `env_start..env_end`.
    pub env: (usize, usize),
}

impl ProcessTitle {
    /// Fields 48 to 51 of `/proc/self/stat`.
    pub fn of_this_process() -> Option<ProcessTitle> {
        let bytes = crate::linux::proc::read_stat("self").ok()?;
        let stat = crate::linux::proc::Stat::parse(&bytes)?;
        let field = |number| usize::try_from(stat.number(number)?).ok();
        let (arg_start, arg_end) = (field(48)?, field(49)?);
        let (env_start, env_end) = (field(50)?, field(51)?);
        (arg_start < arg_end && arg_end <= env_start && env_start <= env_end).then_some(
            ProcessTitle {
                args: (arg_start, arg_end),
                env: (env_start, env_end),
            },
        )
    }
}

/// The name a supervisor that stays in the sandbox shows (`comm` and
/// `cmdline`).
const SUPERVISOR_NAME: &[u8] = b"enforcer-init\0";

/// Reports `stage` failing with the current errno and exits.
unsafe fn fail(plan: &ChildPlan, stage: Stage, detail: u32) -> ! {
    unsafe { fail_with(plan, stage, detail, *libc::__errno_location()) }
}

unsafe fn fail_with(plan: &ChildPlan, stage: Stage, detail: u32, errno: i32) -> ! {
    let record = ChildError {
        stage,
        detail,
        errno,
    }
    .encode();
    unsafe {
        libc::write(plan.pipes.error_fd, record.as_ptr().cast(), RECORD_SIZE);
        libc::_exit(127)
    }
}

/// Runs the child's steps; never returns.
///
/// # Safety
/// Call only in the child of a `clone` or `fork`, with `plan` prepared by
/// the parent before it.
pub unsafe fn run(plan: &ChildPlan) -> ! {
    unsafe {
        libc::close(plan.pipes.release_write_fd);
        arm_parent_death(plan, true);
        let mut byte = 0u8;
        if libc::read(plan.pipes.release_fd, (&mut byte as *mut u8).cast(), 1) != 1 {
            // The parent gave up before releasing us: nothing to report.
            libc::_exit(1);
        }
        libc::close(plan.pipes.release_fd);
        // Nothing of the sandbox may trace this process or read its
        // memory while it still holds the enforcer's state (its exec
        // makes the workload's image dumpable again).
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            fail(plan, Stage::Dumpable, 0);
        }
        // A session of its own: no sandbox keeps the operator's controlling
        // terminal (TIOCSTI, foreground takeover), only one we give it.
        if libc::setsid() < 0 {
            fail(plan, Stage::Session, 0);
        }
        if let Some(terminal) = plan.stdio.terminal {
            if libc::ioctl(terminal, libc::TIOCSCTTY, 0) != 0 {
                fail(plan, Stage::Session, 1);
            }
            for target in 0..3 {
                if libc::dup2(terminal, target) < 0 {
                    fail(plan, Stage::Stdio, target as u32);
                }
            }
        }
        // Before any fork: a detached sandbox's init must not hold the
        // enforcer's standard output either.
        if let Some(null) = plan.stdio.null {
            for target in 0..3 {
                if libc::dup2(null, target) < 0 {
                    fail(plan, Stage::Stdio, target as u32);
                }
            }
        }

        if let Some((uid, gid)) = plan.namespaces.user_ids {
            // Born in a new user namespace with the host ids it had: take
            // mapped ids (mapped to unprivileged host ids) and drop the
            // host's supplementary groups at once, keeping the namespace's
            // capabilities for the steps before exec.
            switch_ids_keeping_capabilities(plan, uid, gid);
            // A change of credentials clears the parent-death signal.
            arm_parent_death(plan, true);
        }
        for (index, (fd, kind)) in plan.namespaces.setns.iter().enumerate() {
            if libc::setns(*fd, *kind) != 0 {
                fail(plan, Stage::SetNs, index as u32);
            }
        }
        if plan.namespaces.unshare_flags != 0 && libc::unshare(plan.namespaces.unshare_flags) != 0 {
            fail(plan, Stage::Unshare, 0);
        }
        let mut supervised = false;
        if plan.supervision.pid_fork {
            fork_and_supervise(plan);
            supervised = true;
        }

        if let Some(name) = &plan.uts.hostname
            && libc::sethostname(name.as_ptr(), name.as_bytes().len()) != 0
        {
            fail(plan, Stage::Hostname, 0);
        }
        if let Some(name) = &plan.uts.domainname
            && libc::setdomainname(name.as_ptr(), name.as_bytes().len()) != 0
        {
            fail(plan, Stage::Domainname, 0);
        }
        if let Some(rootfs) = &plan.rootfs
            && let Err(error) = super::rootfs::build::build(rootfs)
        {
            fail_with(plan, error.stage, error.detail, error.errno);
        }
        if plan.namespaces.private_mounts && super::rootfs::sys::make_mounts_private() != 0 {
            fail(plan, Stage::PrivateMounts, 0);
        }
        if plan.namespaces.mount_proc
            && libc::mount(
                c"proc".as_ptr(),
                c"/proc".as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ) != 0
        {
            fail(plan, Stage::MountProc, 0);
        }
        if plan.supervision.init && libc::getpid() == 1 {
            fork_and_supervise(plan);
            supervised = true;
        }

        if plan.seccomp.before_privileges {
            load_seccomp(plan);
        }
        apply_privileges(plan);
        arm_parent_death(plan, !supervised);
        // As the workload's user, so directory permissions apply.
        if libc::chdir(plan.exec.cwd.as_ptr()) != 0 {
            fail(plan, Stage::Cwd, 0);
        }
        keep_only_workload_descriptors(plan);
        // The enforcer ignores SIGPIPE while it supervises; an ignored
        // signal stays ignored across execve, so the workload gets the
        // default back (as std's Command gives its children).
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::sigprocmask(
            libc::SIG_SETMASK,
            &plan.exec.signal_mask,
            std::ptr::null_mut(),
        );
        if !plan.seccomp.before_privileges {
            load_seccomp(plan);
        }
        exec(plan)
    }
}

/// Loads the seccomp filters in order (the kernel copies each).
unsafe fn load_seccomp(plan: &ChildPlan) {
    unsafe {
        for (index, program) in plan.seccomp.programs.iter().enumerate() {
            let program: *const SockFprog = program;
            if libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                plan.seccomp.flags,
                program,
            ) != 0
            {
                fail(plan, Stage::Seccomp, index as u32);
            }
        }
    }
}

/// With `die_with_parent`, asks for SIGKILL when the parent dies (again
/// after every change of credentials, which clears the request).
/// `parent_is_enforcer`: the parent is the enforcer (no supervisor forked
/// in between), so a different parent means it died already.
unsafe fn arm_parent_death(plan: &ChildPlan, parent_is_enforcer: bool) {
    unsafe {
        if !plan.supervision.die_with_parent {
            return;
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            fail(plan, Stage::ParentDeath, 0);
        }
        // The parent may have died before the signal was armed. (In a new
        // pid namespace the parent is outside it: getppid() is 0.)
        let parent = libc::getppid();
        if parent_is_enforcer && parent != 0 && parent != plan.supervision.parent_pid {
            libc::_exit(1);
        }
    }
}

/// Forks; the parent supervises the child until it exits and exits with
/// its status, the child returns and carries on.
unsafe fn fork_and_supervise(plan: &ChildPlan) {
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            fail(plan, Stage::Fork, 0);
        }
        if pid > 0 {
            // The supervisor never execs, so close-on-exec never applies
            // to it: close every descriptor the enforcer had (its standard
            // streams, the sandbox's state lock, the error pipe, whose end
            // must come from the workload's exec alone).
            close_all_descriptors();
            hide_enforcer_memory(plan);
            keep_only_kill_capability();
            supervise(pid);
        }
        // The child of a supervisor dies with it (its parent_pid check
        // does not apply: its parent is the supervisor).
        if plan.supervision.die_with_parent {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        }
    }
}

/// For a supervisor that stays behind without exec'ing: no tracing, no
/// reading its memory (it is a copy of the enforcer's), a name of its own,
/// and the enforcer's argument and environment strings wiped, so
/// `/proc/<pid>/cmdline` and `environ` show nothing of the operator.
unsafe fn hide_enforcer_memory(plan: &ChildPlan) {
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_NAME, SUPERVISOR_NAME.as_ptr(), 0, 0, 0);
        let Some(title) = plan.supervision.process_title else {
            return;
        };
        for (start, end) in [title.args, title.env] {
            std::ptr::write_bytes(start as *mut u8, 0, end - start);
        }
        let (start, end) = title.args;
        if end - start >= SUPERVISOR_NAME.len() {
            std::ptr::copy_nonoverlapping(
                SUPERVISOR_NAME.as_ptr(),
                start as *mut u8,
                SUPERVISOR_NAME.len(),
            );
        }
    }
}

/// `CAP_KILL` (linux/capability.h).
const CAP_KILL: u32 = 5;

/// For a supervisor: every capability gone but `CAP_KILL`, which it needs
/// to forward signals to a workload that runs as another user; bounding
/// set included, so it can never get others back.
unsafe fn keep_only_kill_capability() {
    unsafe {
        for capability in 0..64u32 {
            if capability != CAP_KILL
                && libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) != 0
                && *libc::__errno_location() == libc::EINVAL
            {
                break; // past the kernel's last capability
            }
        }
        let header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let kill = CapData {
            effective: 1 << CAP_KILL,
            permitted: 1 << CAP_KILL,
            inheritable: 0,
        };
        let none = CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        };
        libc::syscall(libc::SYS_capset, &header, [kill, none].as_ptr());
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
}

/// Marks every descriptor above 2 close-on-exec except the preserved
/// ones, whose close-on-exec flag is cleared: the workload starts with
/// its standard streams and `--preserve-fds` alone, whatever the
/// enforcer's caller left open. (Marking rather than closing keeps the
/// error pipe working until the exec succeeds.)
unsafe fn keep_only_workload_descriptors(plan: &ChildPlan) {
    unsafe {
        let first_closed = 3 + plan.exec.preserve_fds;
        for fd in 3..first_closed {
            if libc::fcntl(fd as libc::c_int, libc::F_SETFD, 0) != 0 {
                fail(plan, Stage::Descriptors, fd);
            }
        }
        if libc::syscall(
            libc::SYS_close_range,
            first_closed,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            fail(plan, Stage::Descriptors, first_closed);
        }
    }
}

/// Switches to `uid`/`gid` without supplementary groups, keeping the
/// capability sets the process had (which a switch away from uid 0
/// clears): the namespace's capabilities are still needed before exec.
unsafe fn switch_ids_keeping_capabilities(plan: &ChildPlan, uid: u32, gid: u32) {
    unsafe {
        let header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        if libc::syscall(libc::SYS_capget, &header, data.as_mut_ptr()) != 0 {
            fail(plan, Stage::Capabilities, 0);
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
        if set_ids(libc::SYS_setresgid, gid) != 0 {
            fail(plan, Stage::Gid, gid);
        }
        if set_ids(libc::SYS_setresuid, uid) != 0 {
            fail(plan, Stage::Uid, uid);
        }
        libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
        if set_groups(&[]) != 0 {
            fail(plan, Stage::Groups, 0);
        }
        if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
            fail(plan, Stage::Capabilities, 0);
        }
    }
}

/// Closes every file descriptor of this process.
unsafe fn close_all_descriptors() {
    unsafe {
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..65_536 {
                libc::close(fd);
            }
        }
    }
}

/// The minimal init (and the supervisor left behind by a pid fork): block
/// every signal, forward each to `workload`, reap every child (as pid 1
/// that includes orphans), and exit with the workload's status (128 +
/// signal when a signal killed it).
unsafe fn supervise(workload: libc::pid_t) -> ! {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signal = libc::sigwaitinfo(&all, &mut info);
            if signal < 0 {
                continue;
            }
            if signal != libc::SIGCHLD {
                // A signal the kernel raised itself (the terminal's ^C or
                // window change, a hangup) went to the whole foreground
                // process group, the workload included: forward only what
                // somebody sent (si_code <= 0: kill, sigqueue, tkill).
                if info.si_code <= 0 {
                    libc::kill(workload, signal);
                }
                continue;
            }
            loop {
                let mut status = 0;
                let reaped = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if reaped <= 0 {
                    break;
                }
                if reaped == workload {
                    if libc::WIFSIGNALED(status) {
                        libc::_exit(128 + libc::WTERMSIG(status));
                    }
                    libc::_exit(libc::WEXITSTATUS(status));
                }
            }
        }
    }
}

/// `setresuid`/`setresgid(id, id, id)` as the raw system call. glibc's
/// wrappers apply the change to every thread it knows of and wait for
/// them; a cloned child has only one thread but inherited glibc's list of
/// the parent's, and would wait forever.
unsafe fn set_ids(call: libc::c_long, id: u32) -> libc::c_long {
    unsafe { libc::syscall(call, id, id, id) }
}

/// `setgroups` as the raw system call (see [`set_ids`]).
unsafe fn set_groups(groups: &[libc::gid_t]) -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }
}

/// The capability header and data of `capset(2)`, version 3.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

unsafe fn apply_privileges(plan: &ChildPlan) {
    unsafe {
        for (index, (resource, soft, hard)) in plan.credentials.rlimits.iter().enumerate() {
            let limit = libc::rlimit {
                rlim_cur: *soft,
                rlim_max: *hard,
            };
            if libc::setrlimit(*resource as _, &limit) != 0 {
                fail(plan, Stage::Rlimit, index as u32);
            }
        }
        for capability in 0..64u32 {
            let present = libc::prctl(libc::PR_CAPBSET_READ, capability, 0, 0, 0);
            if present < 0 {
                break; // past the kernel's last capability
            }
            if present == 1
                && plan.credentials.bounding & (1 << capability) == 0
                && libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) != 0
            {
                fail(plan, Stage::Bounding, capability);
            }
        }
        {
            let (uid, gid) = plan.credentials.ids;
            libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
            if set_groups(&plan.credentials.groups) != 0 {
                fail(plan, Stage::Groups, 0);
            }
            if set_ids(libc::SYS_setresgid, gid) != 0 {
                fail(plan, Stage::Gid, gid);
            }
            if set_ids(libc::SYS_setresuid, uid) != 0 {
                fail(plan, Stage::Uid, uid);
            }
            libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
        }
        let (effective, permitted, inheritable) = plan.credentials.capabilities;
        let header = CapHeader {
            version: CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [
            CapData {
                effective: effective as u32,
                permitted: permitted as u32,
                inheritable: inheritable as u32,
            },
            CapData {
                effective: (effective >> 32) as u32,
                permitted: (permitted >> 32) as u32,
                inheritable: (inheritable >> 32) as u32,
            },
        ];
        if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
            fail(plan, Stage::Capabilities, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        for capability in 0..64u32 {
            if plan.credentials.ambient & (1 << capability) != 0
                && libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    capability,
                    0,
                    0,
                ) != 0
            {
                fail(plan, Stage::Ambient, capability);
            }
        }
        if let Some(mask) = plan.credentials.umask {
            libc::umask(mask);
        }
        if plan.credentials.no_new_privileges
            && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        {
            fail(plan, Stage::NoNewPrivileges, 0);
        }
    }
}

/// Tries every candidate; reports the most telling failure: the first
/// that is not "no such file" (permission, format), else the first.
unsafe fn exec(plan: &ChildPlan) -> ! {
    unsafe {
        let mut reported: Option<(u32, i32)> = None;
        for (index, candidate) in plan.exec.candidates.iter().enumerate() {
            libc::execve(
                candidate.as_ptr(),
                plan.exec.argv.as_ptr(),
                plan.exec.envp.as_ptr(),
            );
            let errno = *libc::__errno_location();
            let telling = errno != libc::ENOENT && errno != libc::ENOTDIR;
            match reported {
                None => reported = Some((index as u32, errno)),
                Some((_, previous))
                    if telling && (previous == libc::ENOENT || previous == libc::ENOTDIR) =>
                {
                    reported = Some((index as u32, errno));
                }
                _ => {}
            }
        }
        let (index, errno) = reported.unwrap_or((0, libc::ENOENT));
        fail_with(plan, Stage::Exec, index, errno)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_round_trips() {
        let mut previous = 0;
        for (position, stage) in Stage::ALL.iter().enumerate() {
            // Numbered from 1 in the order listed (24 is the seccomp
            // helper's).
            assert!(*stage as u32 > previous, "{stage:?}");
            previous = *stage as u32;
            let record = ChildError {
                stage: *stage,
                detail: 3 + position as u32,
                errno: libc::EACCES,
            };
            assert_eq!(ChildError::decode(&record.encode()), Some(record));
        }
    }

    #[test]
    fn records_are_three_native_words() {
        let record = ChildError {
            stage: Stage::Exec,
            detail: 3,
            errno: libc::EACCES,
        }
        .encode();
        assert_eq!(record[0..4], (Stage::Exec as u32).to_ne_bytes());
        assert_eq!(record[4..8], 3u32.to_ne_bytes());
        assert_eq!(record[8..12], libc::EACCES.to_ne_bytes());
    }

    #[test]
    fn unknown_stages_are_refused() {
        let mut bytes = [0u8; RECORD_SIZE];
        for unknown in [
            0,
            Stage::ALL.last().map_or(0, |stage| *stage as u32) + 1,
            999,
        ] {
            bytes[0..4].copy_from_slice(&unknown.to_ne_bytes());
            assert_eq!(ChildError::decode(&bytes), None, "{unknown}");
        }
    }
}
