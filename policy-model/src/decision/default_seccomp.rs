//! The container runtimes' default system call filter, as a decision's
//! `seccomp` profile.
//!
//! Facts taken from moby's `profiles/seccomp/default.json` (module
//! `github.com/moby/profiles/seccomp` v0.2.3, the one Docker 29 vendors)
//! and containerd's `contrib/seccomp/seccomp_default.go` (v2.4.0-beta),
//! for a workload without the capabilities the default policy never
//! grants (`CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, `CAP_SYS_MODULE`, ...):
//!
//! * default `SCMP_ACT_ERRNO` with `EPERM`; architectures x86_64, x86
//!   and x32;
//! * the allow-list of names (32-bit and other architectures' names
//!   included: the enforcer skips a name its architecture lacks, as
//!   libseccomp does), plus x86's `arch_prctl` and `modify_ldt`;
//! * `socket` for every address family but `AF_ALG` (38) and `AF_VSOCK`
//!   (40), as three single-condition rules;
//! * `personality` only with the five harmless personas;
//! * `clone` only without namespace flags (`CLONE_NEW*` masked to 0), and
//!   `clone3` failing with `ENOSYS` (its flags are behind a pointer,
//!   which seccomp cannot read), so the C library falls back to `clone`.
//!
//! Stricter than both upstream profiles in one point: `ptrace`,
//! `process_vm_readv` and `process_vm_writev`, which they allow on kernels
//! from 4.8 on, are refused (the enforcer's default policy grants no
//! `CAP_SYS_PTRACE`, and a tenant's workload has no business tracing).
//! Refused as in upstream: `keyctl`, `add_key`, `request_key`, `bpf`,
//! `kexec_load`, `open_by_handle_at`, `mount`, `umount2`, `unshare`,
//! `setns`, `pivot_root`, `init_module`, `perf_event_open`, `userfaultfd`,
//! `io_uring_*`, `reboot`, `swapon`, `clock_settime`, and everything else
//! off the list.

use super::{Seccomp, SeccompAction, SeccompOperator, SyscallArg, SyscallRule};

/// `EPERM`: what a refused system call returns.
const EPERM: u32 = 1;
/// `ENOSYS`: what `clone3` returns, so that callers fall back to `clone`.
const ENOSYS: u32 = 38;
/// `AF_ALG`, the kernel crypto socket family (refused).
const AF_ALG: u64 = 38;
/// `AF_VSOCK`, the hypervisor socket family (refused).
const AF_VSOCK: u64 = 40;
/// `CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
/// CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET`.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// The `personality(2)` values allowed: `PER_LINUX`, `UNAME26`,
/// `ADDR_NO_RANDOMIZE`, both, and `0xffffffff` (a query).
const PERSONAS: [u64; 5] = [0x0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// System calls allowed without conditions.
const ALLOWED: &[&str] = &[
    "_llseek",
    "_newselect",
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "riscv_hwprobe",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // x86's own (upstream's per-architecture rules).
    "arch_prctl",
    "modify_ldt",
];

/// The container runtimes' default profile (see the module
/// documentation): every name on the allow-list, `socket`, `personality`
/// and `clone` under conditions, `clone3` failing with `ENOSYS`, and
/// `EPERM` for everything else.
pub fn default_seccomp() -> Seccomp {
    let allow = |names: &[&str], args: Vec<SyscallArg>| SyscallRule {
        names: names.iter().map(|name| name.to_string()).collect(),
        action: SeccompAction::Allow,
        errno_ret: None,
        args,
    };
    let condition = |op, value, value_two| SyscallArg {
        index: 0,
        value,
        value_two,
        op,
    };
    let mut syscalls = vec![allow(ALLOWED, vec![])];
    for (op, family) in [
        (SeccompOperator::Less, AF_ALG),
        (SeccompOperator::Equal, AF_ALG + 1),
        (SeccompOperator::Greater, AF_VSOCK),
    ] {
        syscalls.push(allow(&["socket"], vec![condition(op, family, 0)]));
    }
    for persona in PERSONAS {
        syscalls.push(allow(
            &["personality"],
            vec![condition(SeccompOperator::Equal, persona, 0)],
        ));
    }
    syscalls.push(allow(
        &["clone"],
        vec![condition(
            SeccompOperator::MaskedEqual,
            CLONE_NAMESPACE_FLAGS,
            0,
        )],
    ));
    syscalls.push(SyscallRule {
        names: vec!["clone3".to_string()],
        action: SeccompAction::Errno,
        errno_ret: Some(ENOSYS),
        args: vec![],
    });
    Seccomp {
        default_action: SeccompAction::Errno,
        default_errno_ret: Some(EPERM),
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
            .map(String::from)
            .to_vec(),
        flags: vec![],
        syscalls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_for<'a>(profile: &'a Seccomp, name: &str) -> Vec<&'a SyscallRule> {
        profile
            .syscalls
            .iter()
            .filter(|rule| rule.names.iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn the_dangerous_calls_are_left_to_the_default() {
        let profile = default_seccomp();
        assert_eq!(profile.default_action, SeccompAction::Errno);
        assert_eq!(profile.default_errno_ret, Some(EPERM));
        for name in [
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "kexec_load",
            "kexec_file_load",
            "open_by_handle_at",
            "mount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "init_module",
            "finit_module",
            "perf_event_open",
            "userfaultfd",
            "io_uring_setup",
            "reboot",
            "swapon",
            "clock_settime",
            "chroot",
            "fsopen",
            "move_mount",
            "open_tree",
            "quotactl",
            "acct",
            "lookup_dcookie",
        ] {
            assert!(rules_for(&profile, name).is_empty(), "{name} has a rule");
        }
    }

    #[test]
    fn ordinary_work_is_allowed() {
        let profile = default_seccomp();
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "exit_group",
            "mmap",
            "brk",
            "arch_prctl",
            "rt_sigaction",
            "pipe2",
            "dup2",
            "wait4",
            "fork",
            "vfork",
            "getdents64",
            "seccomp",
        ] {
            let rules = rules_for(&profile, name);
            assert_eq!(rules.len(), 1, "{name}");
            assert_eq!(rules[0].action, SeccompAction::Allow, "{name}");
            assert!(rules[0].args.is_empty(), "{name}");
        }
    }

    #[test]
    fn conditioned_rules_match_upstream() {
        let profile = default_seccomp();
        let clone = rules_for(&profile, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args[0].op, SeccompOperator::MaskedEqual);
        assert_eq!(clone[0].args[0].value, 2_114_060_288);
        assert_eq!(clone[0].args[0].value_two, 0);
        let clone3 = rules_for(&profile, "clone3");
        assert_eq!(clone3[0].action, SeccompAction::Errno);
        assert_eq!(clone3[0].errno_ret, Some(ENOSYS));
        assert_eq!(rules_for(&profile, "personality").len(), 5);
        assert_eq!(rules_for(&profile, "socket").len(), 3);
        // Names appear once on the allow-list.
        let mut names: Vec<&&str> = ALLOWED.iter().collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALLOWED.len());
    }
}
