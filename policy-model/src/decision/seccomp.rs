//! The workload's system call filter (OCI `linux.seccomp`).
//!
//! Semantics (the enforcer's, documented in `docs/abi.md`): for each system
//! call the action is the strictest among the rules that match it (its
//! name and every argument condition), and the default action when none
//! matches. Strictness follows the kernel's precedence:
//! `KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW`.

use serde::{Deserialize, Serialize};

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
