//! The system call filter: a decision's [`NormalSeccomp`] compiled, in the
//! parent, into the stack of classic BPF programs the child loads with
//! `seccomp(SECCOMP_SET_MODE_FILTER)` right before its `execve`.
//!
//! The semantics are the decision model's: for a call, the strictest
//! action among the rules that match it (its name and every argument
//! condition) wins, and the default action applies when none matches.
//! The kernel runs every loaded filter and keeps the strictest result
//! (`KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW`;
//! between two results of the same action, the filter loaded last), so
//! the profile becomes a stack of one-action filters (built with
//! `seccompiler`, one match action and one mismatch action each), in the
//! order they are loaded:
//!
//! 1. the architecture guard ([`guard`]): a call of another architecture
//!    (i386's `int 0x80`) or of the x32 ABI (`nr | 0x40000000`) kills the
//!    process;
//! 2. for each non-`ALLOW` action the rules use (with its errno), in
//!    ascending strictness: those rules → that action, anything else →
//!    `ALLOW`;
//! 3. the allow-list: every rule → `ALLOW`, anything else → the default
//!    action (left out when the default is `ALLOW`).
//!
//! Names the architecture lacks (`_llseek`, `chown32`: Docker's profile
//! lists every architecture's) are skipped, as libseccomp does, and
//! listed in the [`Summary`], which also tells apart the names no
//! architecture has.

mod guard;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use policy_sdk::decision::Seccomp;
use policy_sdk::decision::{SeccompAction, SeccompOperator, SyscallArg};
use serde::Serialize;

use crate::decision::normal::{DEFAULT_ERRNO, NormalAction, NormalSeccomp};
use crate::linux::syscalls;

pub use seccompiler::sock_filter;

/// The kernel's limit on one filter's length (`BPF_MAXINSNS`).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// The loader's own call, which every filter but the last loaded must
/// let through.
const SECCOMP_SYSCALL: &str = "seccomp";

/// What one filter of the stack does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Kills calls of other architectures and of the x32 ABI.
    Architecture,
    /// Its rules → this action; anything else → `ALLOW`.
    Action(NormalAction),
    /// Every rule → `ALLOW`; anything else → this, the default action.
    AllowList(NormalAction),
}

/// One compiled filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// What it does.
    pub role: Role,
    /// How many (name, conditions) rules it holds.
    pub rules: usize,
    /// The program.
    pub program: Vec<sock_filter>,
}

/// A profile compiled: the filters in the order the child loads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterStack {
    /// The filters, in load order.
    pub filters: Vec<Filter>,
    /// `SECCOMP_FILTER_FLAG_*` bits to load each with.
    pub flags: u32,
    /// What `eval --plan` shows.
    pub summary: Summary,
}

/// The filter at a glance (`eval --plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The action for a call no rule matches.
    pub default_action: SeccompAction,
    /// Its errno (`ERRNO`, `TRACE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// The architectures the profile names; only x86_64 runs, the
    /// others' calls are killed.
    pub architectures: Vec<String>,
    /// How many filters the child loads.
    pub filters: usize,
    /// How many (name, conditions) rules were compiled.
    pub rules: usize,
    /// BPF instructions in all filters.
    pub instructions: usize,
    /// Names skipped because x86_64 has no such call, sorted.
    pub skipped_names: Vec<String>,
    /// Of those, the names no architecture has (a typo?), sorted.
    pub unknown_names: Vec<String>,
}

/// Why a profile cannot be compiled; each names the rule.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// An argument index past the sixth.
    #[error(
        "seccomp: the rule for {name:?} ({action}) compares argument {index}: a system call has arguments 0 to 5"
    )]
    ArgumentIndex {
        /// The system call.
        name: String,
        /// The rule's action.
        action: &'static str,
        /// The index given.
        index: u32,
    },
    /// A filter flag the enforcer does not know.
    #[error(
        "seccomp.flags: {flag:?} is not a flag the enforcer loads filters with (SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW)"
    )]
    Flag {
        /// The flag.
        flag: String,
    },
    /// A rule refuses `seccomp(2)` in a filter that is not loaded last,
    /// so the filters after it could not be loaded.
    #[error(
        "seccomp: the rule for \"seccomp\" ({action}) would stop the enforcer loading the rest of the filter; refuse seccomp(2) through the default action instead (leave it off the allow-list)"
    )]
    RefusesLoader {
        /// The rule's action.
        action: &'static str,
    },
    /// A filter longer than the kernel takes.
    #[error(
        "seccomp: the filter for {role} has {instructions} BPF instructions, more than the kernel's {MAX_INSTRUCTIONS}"
    )]
    TooLarge {
        /// Which filter.
        role: String,
        /// Its length.
        instructions: usize,
    },
    /// seccompiler refused a filter.
    #[error("seccomp: cannot compile the filter for {role}: {err}")]
    Backend {
        /// Which filter.
        role: String,
        /// seccompiler's error.
        err: seccompiler::BackendError,
    },
}

/// Compiles `profile` into the stack the child loads.
pub fn compile(profile: &NormalSeccomp) -> Result<FilterStack, SeccompError> {
    let flags = filter_flags(&profile.flags)?;
    let mut skipped = std::collections::BTreeSet::new();
    // (number, conditions, action) of every rule that can match.
    let mut rules = Vec::new();
    for rule in &profile.rules {
        let Some(number) = syscalls::number(&rule.name) else {
            skipped.insert(rule.name.clone());
            continue;
        };
        let Some(conditions) = conditions(&rule.name, rule.action.action, &rule.args)? else {
            continue; // a MASKED_EQ no argument can meet
        };
        rules.push((rule.name.as_str(), number, conditions, rule.action));
    }

    let mut filters = vec![Filter {
        role: Role::Architecture,
        rules: 0,
        program: guard::program(),
    }];
    let mut actions: Vec<NormalAction> = rules
        .iter()
        .map(|(_, _, _, action)| *action)
        .filter(|action| action.action != SeccompAction::Allow)
        .collect();
    actions.sort();
    actions.dedup();
    for action in &actions {
        let chosen: Vec<_> = rules.iter().filter(|rule| rule.3 == *action).collect();
        filters.push(build(
            Role::Action(*action),
            &chosen,
            seccompiler::SeccompAction::Allow,
            *action,
        )?);
    }
    let default = profile.default_action;
    if default.action != SeccompAction::Allow {
        let all: Vec<_> = rules.iter().collect();
        filters.push(build(
            Role::AllowList(default),
            &all,
            backend_action(default),
            NormalAction::new(SeccompAction::Allow, None),
        )?);
    }
    check_loader_passes(&filters, &rules)?;
    let summary = Summary {
        default_action: default.action,
        default_errno_ret: default.errno,
        architectures: profile.architectures.iter().cloned().collect(),
        filters: filters.len(),
        rules: rules.len(),
        instructions: filters.iter().map(|filter| filter.program.len()).sum(),
        unknown_names: skipped
            .iter()
            .filter(|name| !syscalls::elsewhere(name))
            .cloned()
            .collect(),
        skipped_names: skipped.into_iter().collect(),
    };
    Ok(FilterStack {
        filters,
        flags,
        summary,
    })
}

/// Compiles an OCI profile (normalising it first): for benches and
/// embedders that hold a [`Seccomp`] rather than a normal decision.
pub fn compile_oci(profile: &Seccomp) -> Result<FilterStack, SeccompError> {
    compile(&NormalSeccomp::from_oci(profile))
}

/// One filter: `rules` → `matched`, anything else → `mismatch`.
fn build(
    role: Role,
    rules: &[&(&str, i64, Vec<seccompiler::SeccompCondition>, NormalAction)],
    mismatch: seccompiler::SeccompAction,
    matched: NormalAction,
) -> Result<Filter, SeccompError> {
    // An unconditional rule for a call makes its conditional ones moot
    // (an empty chain matches every call of that number).
    let mut chains: BTreeMap<i64, Option<Vec<seccompiler::SeccompRule>>> = BTreeMap::new();
    for (name, number, conditions, _) in rules {
        let chain = chains.entry(*number).or_insert_with(|| Some(Vec::new()));
        match (conditions.is_empty(), chain.as_mut()) {
            (true, _) => *chain = None,
            (false, Some(chain)) => chain.push(
                seccompiler::SeccompRule::new(conditions.clone()).map_err(|err| {
                    SeccompError::Backend {
                        role: format!("{role} (rule for {name:?})"),
                        err,
                    }
                })?,
            ),
            (false, None) => {}
        }
    }
    let chains = chains
        .into_iter()
        .map(|(number, chain)| (number, chain.unwrap_or_default()))
        .collect();
    let backend = |err| SeccompError::Backend {
        role: role.to_string(),
        err,
    };
    let filter = seccompiler::SeccompFilter::new(
        chains,
        mismatch,
        backend_action(matched),
        seccompiler::TargetArch::x86_64,
    )
    .map_err(backend)?;
    let program: Vec<sock_filter> = match seccompiler::BpfProgram::try_from(filter) {
        Ok(program) => program,
        Err(seccompiler::BackendError::FilterTooLarge(instructions)) => {
            return Err(SeccompError::TooLarge {
                role: role.to_string(),
                instructions,
            });
        }
        Err(err) => return Err(backend(err)),
    };
    Ok(Filter {
        role,
        rules: rules.len(),
        program,
    })
}

/// The conditions of a rule; `None` when one can never hold (a
/// `MASKED_EQ` whose value has bits outside its mask).
fn conditions(
    name: &str,
    action: SeccompAction,
    args: &[SyscallArg],
) -> Result<Option<Vec<seccompiler::SeccompCondition>>, SeccompError> {
    let mut conditions = Vec::with_capacity(args.len());
    for arg in args {
        let index = u8::try_from(arg.index)
            .ok()
            .filter(|index| *index <= 5)
            .ok_or_else(|| SeccompError::ArgumentIndex {
                name: name.to_string(),
                action: action.as_str(),
                index: arg.index,
            })?;
        let (op, value) = match arg.op {
            SeccompOperator::NotEqual => (seccompiler::SeccompCmpOp::Ne, arg.value),
            SeccompOperator::Less => (seccompiler::SeccompCmpOp::Lt, arg.value),
            SeccompOperator::LessOrEqual => (seccompiler::SeccompCmpOp::Le, arg.value),
            SeccompOperator::Equal => (seccompiler::SeccompCmpOp::Eq, arg.value),
            SeccompOperator::GreaterOrEqual => (seccompiler::SeccompCmpOp::Ge, arg.value),
            SeccompOperator::Greater => (seccompiler::SeccompCmpOp::Gt, arg.value),
            SeccompOperator::MaskedEqual => {
                if arg.value_two & !arg.value != 0 {
                    return Ok(None);
                }
                (
                    seccompiler::SeccompCmpOp::MaskedEq(arg.value),
                    arg.value_two,
                )
            }
        };
        // 64-bit comparisons, as libseccomp makes them.
        let condition = seccompiler::SeccompCondition::new(
            index,
            seccompiler::SeccompCmpArgLen::Qword,
            op,
            value,
        )
        .map_err(|err| SeccompError::Backend {
            role: format!("the rule for {name:?}"),
            err,
        })?;
        conditions.push(condition);
    }
    Ok(Some(conditions))
}

/// A normal action as seccompiler's.
fn backend_action(action: NormalAction) -> seccompiler::SeccompAction {
    let errno = action.errno.unwrap_or(DEFAULT_ERRNO);
    match action.action {
        SeccompAction::Allow => seccompiler::SeccompAction::Allow,
        SeccompAction::Log => seccompiler::SeccompAction::Log,
        SeccompAction::Trace => seccompiler::SeccompAction::Trace(errno),
        SeccompAction::Errno => seccompiler::SeccompAction::Errno(errno),
        SeccompAction::Trap => seccompiler::SeccompAction::Trap,
        SeccompAction::KillThread => seccompiler::SeccompAction::KillThread,
        SeccompAction::KillProcess => seccompiler::SeccompAction::KillProcess,
    }
}

/// A filter's role in words (`the allow-list (default SCMP_ACT_ERRNO 1)`),
/// for errors.
impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let action = |action: NormalAction| match action.errno {
            Some(errno) => format!("{} {errno}", action.action.as_str()),
            None => action.action.as_str().to_string(),
        };
        match self {
            Role::Architecture => write!(f, "the architecture check"),
            Role::Action(matched) => write!(f, "the rules with {}", action(*matched)),
            Role::AllowList(default) => {
                write!(f, "the allow-list (default {})", action(*default))
            }
        }
    }
}

/// The child loads the filters one `seccomp(2)` call after another: every
/// filter but the last must let that call through. Only the allow-list
/// (loaded last when present) may refuse it, through its default.
fn check_loader_passes(
    filters: &[Filter],
    rules: &[(&str, i64, Vec<seccompiler::SeccompCondition>, NormalAction)],
) -> Result<(), SeccompError> {
    let last = filters.last().map(|filter| filter.role);
    for (name, _, _, action) in rules {
        let lets_through = matches!(action.action, SeccompAction::Allow | SeccompAction::Log);
        if *name == SECCOMP_SYSCALL && !lets_through && last != Some(Role::Action(*action)) {
            return Err(SeccompError::RefusesLoader {
                action: action.action.as_str(),
            });
        }
    }
    Ok(())
}

/// The `SECCOMP_FILTER_FLAG_*` bits of `names`.
fn filter_flags<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<u32, SeccompError> {
    let mut flags = 0;
    for name in names {
        flags |= match name.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => 1,
            "SECCOMP_FILTER_FLAG_LOG" => 2,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4,
            _ => return Err(SeccompError::Flag { flag: name.clone() }),
        };
    }
    Ok(flags)
}

/// The summary's one-line text for `eval --plan`.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "default {}", self.default_action.as_str())?;
        if let Some(errno) = self.default_errno_ret {
            write!(f, " (errno {errno})")?;
        }
        write!(
            f,
            ", {} filters, {} rules, {} instructions",
            self.filters, self.rules, self.instructions
        )?;
        if !self.skipped_names.is_empty() {
            write!(
                f,
                ", {} names x86_64 lacks skipped",
                self.skipped_names.len()
            )?;
        }
        Ok(())
    }
}
