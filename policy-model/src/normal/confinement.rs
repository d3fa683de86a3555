//! The normal form of the filesystem and seccomp fields.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::decision::{Decision, Mount, Root, Seccomp, SeccompAction, SyscallArg, SyscallRule};

/// `EPERM`: the errno of `SCMP_ACT_ERRNO`/`SCMP_ACT_TRACE` when a profile
/// gives none (as runc and crun).
pub const DEFAULT_ERRNO: u32 = 1;

/// The sandbox's filesystem, every list in a canonical order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalFilesystem {
    /// The new root; `None`: the host's root as it is (no `pivot_root`).
    pub root: Option<Root>,
    /// Mounts, in the decision's order (order matters: a later mount
    /// covers an earlier one).
    pub mounts: Vec<Mount>,
    /// Masked paths.
    pub masked_paths: BTreeSet<String>,
    /// Read-only paths.
    pub readonly_paths: BTreeSet<String>,
}

impl NormalFilesystem {
    /// The decision's filesystem fields, normalised.
    pub fn from_decision(decision: &Decision) -> NormalFilesystem {
        NormalFilesystem {
            root: decision.root.clone(),
            mounts: decision.mounts.clone(),
            masked_paths: decision.masked_paths.iter().cloned().collect(),
            readonly_paths: decision.readonly_paths.iter().cloned().collect(),
        }
    }
}

/// An action with its errno made explicit (`Some` exactly for `ERRNO`
/// and `TRACE`). Ordered by strictness: the action first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalAction {
    /// The action.
    pub action: SeccompAction,
    /// Its errno.
    pub errno: Option<u32>,
}

impl NormalAction {
    /// `action` with `errno` (or [`DEFAULT_ERRNO`]) where it takes one.
    pub fn new(action: SeccompAction, errno: Option<u32>) -> NormalAction {
        NormalAction {
            action,
            errno: action.takes_errno().then(|| errno.unwrap_or(DEFAULT_ERRNO)),
        }
    }
}

/// One system call under one set of conditions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalSyscallRule {
    /// The system call.
    pub name: String,
    /// Its conditions, sorted and without repeats (all must hold).
    pub args: Vec<SyscallArg>,
    /// The strictest action the profile gives this call under these
    /// conditions.
    pub action: NormalAction,
}

/// A seccomp profile with one rule per system call and conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalSeccomp {
    /// The action when no rule matches.
    pub default_action: NormalAction,
    /// `SCMP_ARCH_*` names.
    pub architectures: BTreeSet<String>,
    /// `SECCOMP_FILTER_FLAG_*` names.
    pub flags: BTreeSet<String>,
    /// Rules, sorted by name then conditions; one per (name, conditions).
    pub rules: Vec<NormalSyscallRule>,
}

impl NormalSeccomp {
    /// One rule per name and conditions, keeping the strictest action.
    pub fn from_oci(profile: &Seccomp) -> NormalSeccomp {
        let mut rules: Vec<NormalSyscallRule> = Vec::new();
        for rule in &profile.syscalls {
            let mut args = rule.args.clone();
            args.sort();
            args.dedup();
            for name in &rule.names {
                rules.push(NormalSyscallRule {
                    name: name.clone(),
                    args: args.clone(),
                    action: NormalAction::new(rule.action, rule.errno_ret),
                });
            }
        }
        // Strictest first within a (name, args) group, then keep it.
        rules.sort_by(|a, b| {
            (&a.name, &a.args)
                .cmp(&(&b.name, &b.args))
                .then(b.action.cmp(&a.action))
        });
        rules.dedup_by(|later, kept| later.name == kept.name && later.args == kept.args);
        NormalSeccomp {
            default_action: NormalAction::new(profile.default_action, profile.default_errno_ret),
            architectures: profile.architectures.iter().cloned().collect(),
            flags: profile.flags.iter().cloned().collect(),
            rules,
        }
    }

    /// The OCI rendering: one rule per normal rule, explicit errnos.
    pub fn to_oci(&self) -> Seccomp {
        Seccomp {
            default_action: self.default_action.action,
            default_errno_ret: self.default_action.errno,
            architectures: self.architectures.iter().cloned().collect(),
            flags: self.flags.iter().cloned().collect(),
            syscalls: self
                .rules
                .iter()
                .map(|rule| SyscallRule {
                    names: vec![rule.name.clone()],
                    action: rule.action.action,
                    errno_ret: rule.action.errno,
                    args: rule.args.clone(),
                })
                .collect(),
        }
    }
}
