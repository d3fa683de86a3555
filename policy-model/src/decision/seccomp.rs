//! The workload's system call filter (OCI `linux.seccomp`).
//!
//! Semantics (the enforcer's, documented in `docs/abi.md`): for each system
//! call the action is the strictest among the rules that match it (its
//! name and every argument condition), and the default action when none
//! matches. Strictness follows the kernel's precedence:
//! `KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW`.

use serde::{Deserialize, Serialize};

/// The `SCMP_ARCH_*` names libseccomp knows (what `architectures` may
/// list).
pub const SECCOMP_ARCHITECTURES: [&str; 24] = [
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// The `SECCOMP_FILTER_FLAG_*` names a profile's `flags` may list.
pub const SECCOMP_FLAGS: [&str; 4] = [
    SECCOMP_FLAG_TSYNC,
    SECCOMP_FLAG_LOG,
    SECCOMP_FLAG_SPEC_ALLOW,
    SECCOMP_FLAG_WAIT_KILLABLE_RECV,
];
/// Synchronise the filter to every thread of the process.
pub const SECCOMP_FLAG_TSYNC: &str = "SECCOMP_FILTER_FLAG_TSYNC";
/// Log every action but `SCMP_ACT_ALLOW`.
pub const SECCOMP_FLAG_LOG: &str = "SECCOMP_FILTER_FLAG_LOG";
/// Turn off the speculative store bypass mitigation: the one flag that
/// grants something.
pub const SECCOMP_FLAG_SPEC_ALLOW: &str = "SECCOMP_FILTER_FLAG_SPEC_ALLOW";
/// A user-notification waiter is killable (no effect without notify).
pub const SECCOMP_FLAG_WAIT_KILLABLE_RECV: &str = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV";
/// Arguments a system call has, so the largest `index` + 1.
pub const SYSCALL_ARGS: usize = 6;

/// An OCI seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seccomp {
    /// The action for a system call no rule matches.
    pub default_action: SeccompAction,
    /// The errno `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` return as the default
    /// (default: `EPERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// `SCMP_ARCH_*` names the filter covers besides the native one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// `SECCOMP_FILTER_FLAG_*` names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// The rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syscalls: Vec<SyscallRule>,
}

/// One OCI seccomp rule: these system calls, when every condition holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyscallRule {
    /// System call names (`"keyctl"`).
    pub names: Vec<String>,
    /// What happens when the rule matches.
    pub action: SeccompAction,
    /// The errno for `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` (default: `EPERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<SyscallArg>,
}

/// A condition on one system call argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyscallArg {
    /// Which argument (0 to 5).
    pub index: u32,
    /// The value compared with (the mask for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// The second value (`SCMP_CMP_MASKED_EQ`: the value the masked
    /// argument must equal).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    /// The comparison.
    pub op: SeccompOperator,
}

impl SyscallArg {
    /// Whether the condition holds for a call with these arguments
    /// (unsigned 64-bit comparisons, as the kernel's seccomp data; an
    /// `index` of 6 or more never holds).
    pub fn holds(&self, args: &[u64; SYSCALL_ARGS]) -> bool {
        let Some(&arg) = usize::try_from(self.index)
            .ok()
            .and_then(|index| args.get(index))
        else {
            return false;
        };
        match self.op {
            SeccompOperator::NotEqual => arg != self.value,
            SeccompOperator::Less => arg < self.value,
            SeccompOperator::LessOrEqual => arg <= self.value,
            SeccompOperator::Equal => arg == self.value,
            SeccompOperator::GreaterOrEqual => arg >= self.value,
            SeccompOperator::Greater => arg > self.value,
            SeccompOperator::MaskedEqual => arg & self.value == self.value_two,
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// OCI seccomp actions, in the order of strictness (later is stricter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SeccompAction {
    /// Run the system call.
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    /// Run it and log it.
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    /// Notify a tracer (`ptrace`), or fail with the errno without one.
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    /// Fail with the rule's errno.
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    /// Send `SIGSYS`.
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    /// Kill the thread (`SCMP_ACT_KILL` is the same).
    #[serde(rename = "SCMP_ACT_KILL_THREAD", alias = "SCMP_ACT_KILL")]
    KillThread,
    /// Kill the whole process.
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
}

impl SeccompAction {
    /// The OCI name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeccompAction::Allow => "SCMP_ACT_ALLOW",
            SeccompAction::Log => "SCMP_ACT_LOG",
            SeccompAction::Trace => "SCMP_ACT_TRACE",
            SeccompAction::Errno => "SCMP_ACT_ERRNO",
            SeccompAction::Trap => "SCMP_ACT_TRAP",
            SeccompAction::KillThread => "SCMP_ACT_KILL_THREAD",
            SeccompAction::KillProcess => "SCMP_ACT_KILL_PROCESS",
        }
    }

    /// Whether it carries an errno (`ERRNO`, `TRACE`).
    pub fn takes_errno(self) -> bool {
        matches!(self, SeccompAction::Errno | SeccompAction::Trace)
    }
}

impl SeccompOperator {
    /// The OCI name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeccompOperator::NotEqual => "SCMP_CMP_NE",
            SeccompOperator::Less => "SCMP_CMP_LT",
            SeccompOperator::LessOrEqual => "SCMP_CMP_LE",
            SeccompOperator::Equal => "SCMP_CMP_EQ",
            SeccompOperator::GreaterOrEqual => "SCMP_CMP_GE",
            SeccompOperator::Greater => "SCMP_CMP_GT",
            SeccompOperator::MaskedEqual => "SCMP_CMP_MASKED_EQ",
        }
    }
}

/// OCI argument comparisons (`SCMP_CMP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SeccompOperator {
    /// `!=`.
    #[serde(rename = "SCMP_CMP_NE")]
    NotEqual,
    /// `<`.
    #[serde(rename = "SCMP_CMP_LT")]
    Less,
    /// `<=`.
    #[serde(rename = "SCMP_CMP_LE")]
    LessOrEqual,
    /// `==`.
    #[serde(rename = "SCMP_CMP_EQ")]
    Equal,
    /// `>=`.
    #[serde(rename = "SCMP_CMP_GE")]
    GreaterOrEqual,
    /// `>`.
    #[serde(rename = "SCMP_CMP_GT")]
    Greater,
    /// `(arg & value) == valueTwo`.
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEqual,
}
