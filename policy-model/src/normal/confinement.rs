//! The normal form of the filesystem and seccomp fields.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::decision::{
    Decision, Mount, Root, SYSCALL_ARGS, Seccomp, SeccompAction, SyscallArg, SyscallRule,
};

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
    /// covers an earlier one); a bind mount's `type` is always `bind`.
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
            mounts: decision.mounts.iter().map(normal_mount).collect(),
            masked_paths: decision.masked_paths.iter().cloned().collect(),
            readonly_paths: decision.readonly_paths.iter().cloned().collect(),
        }
    }
}

/// A bind mount's `type` is `bind`, whether the decision gave it or left
/// it out; everything else as the decision has it (option order matters:
/// a later `rw` undoes an earlier `ro`).
fn normal_mount(mount: &Mount) -> Mount {
    let mut mount = mount.clone();
    if mount.is_bind() {
        mount.kind = Some("bind".into());
    }
    mount
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

/// What `profile` does with the system call `name` called with `args`:
/// the strictest action (by [`NormalAction`]'s order: the action first,
/// then the larger errno) among the rules for `name` whose every condition
/// holds, or the default action when none matches. A matching rule wins
/// over the default even when the default is stricter (that is how an
/// allow-list allows). The reference semantics of the enforcer's filter.
pub fn effective_action(
    profile: &NormalSeccomp,
    name: &str,
    args: &[u64; SYSCALL_ARGS],
) -> NormalAction {
    profile
        .rules
        .iter()
        .filter(|rule| rule.name == name && rule.args.iter().all(|arg| arg.holds(args)))
        .map(|rule| rule.action)
        .max()
        .unwrap_or(profile.default_action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::SeccompOperator;

    fn rule(names: &[&str], action: SeccompAction, args: Vec<SyscallArg>) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|name| name.to_string()).collect(),
            action,
            errno_ret: None,
            args,
        }
    }

    #[test]
    fn the_strictest_matching_rule_wins_else_the_default() {
        let eq = |index, value| SyscallArg {
            index,
            value,
            value_two: 0,
            op: SeccompOperator::Equal,
        };
        let profile = NormalSeccomp::from_oci(&Seccomp {
            default_action: SeccompAction::Errno,
            default_errno_ret: Some(38),
            architectures: Vec::new(),
            flags: Vec::new(),
            syscalls: vec![
                rule(&["read", "write"], SeccompAction::Allow, Vec::new()),
                rule(&["write"], SeccompAction::KillProcess, vec![eq(0, 2)]),
                rule(&["write"], SeccompAction::Log, vec![eq(0, 2)]),
                rule(
                    &["personality"],
                    SeccompAction::Allow,
                    vec![SyscallArg {
                        index: 0,
                        value: 0xff,
                        value_two: 8,
                        op: SeccompOperator::MaskedEqual,
                    }],
                ),
            ],
        });
        let errno = |errno| NormalAction::new(SeccompAction::Errno, Some(errno));
        let act = |name, arg0| effective_action(&profile, name, &[arg0, 0, 0, 0, 0, 0]);
        assert_eq!(act("read", 2).action, SeccompAction::Allow);
        assert_eq!(act("write", 1).action, SeccompAction::Allow);
        assert_eq!(act("write", 2).action, SeccompAction::KillProcess);
        assert_eq!(act("personality", 0x108).action, SeccompAction::Allow);
        assert_eq!(act("personality", 0x109), errno(38));
        assert_eq!(act("keyctl", 0), errno(38));
        // Same (name, args): one normal rule, the strictest.
        assert_eq!(profile.rules.len(), 4);
    }

    #[test]
    fn bind_mounts_get_their_type() {
        let decision = Decision::allow().readonly_host_root().mount(Mount {
            destination: "/data".into(),
            kind: None,
            source: Some("/srv/data".into()),
            options: vec!["rbind".into(), "ro".into()],
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        });
        let normal = NormalFilesystem::from_decision(&decision);
        assert_eq!(normal.mounts[0].kind.as_deref(), Some("bind"));
    }
}
