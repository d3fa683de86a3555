//! Tighten-only rules of the filesystem, seccomp and private-id fields.
//!
//! # Why the seccomp rule is sound
//!
//! A profile's action for a call `c` is `E(P, c)`: the largest action
//! (by [`NormalAction`]'s order) of the rules of `P` that match `c`, or
//! `P`'s default `d` when none does ([`crate::normal::effective_action`]).
//! Whether a rule matches depends only on its key (name, conditions) and
//! on `c`. The rule accepts `P2` after `P1` when
//!
//! 1. `d2 >= d1`;
//! 2. every rule `r1` of `P1` has a rule of `P2` with the same key and an
//!    action `>= a(r1)`;
//! 3. every rule of `P2` whose key is not in `P1` has an action `>= d1`.
//!
//! Then `E(P2, c) >= E(P1, c)` for every call `c`:
//!
//! * some rule of `P1` matches: take the one with the largest action
//!   `E(P1, c)`; its counterpart in `P2` (2.) has the same key, so it
//!   matches too, and `E(P2, c)` is at least its action, at least
//!   `E(P1, c)`;
//! * no rule of `P1` matches, so `E(P1, c) = d1`: if no rule of `P2`
//!   matches, `E(P2, c) = d2 >= d1` (1.); if some do, none has a key of
//!   `P1` (that rule of `P1` would match as well), so each has an action
//!   `>= d1` (3.), and so has their largest.
//!
//! The architectures a filter covers besides the native one may only
//! shrink (a call of an architecture the filter leaves out is killed), and
//! no flag may be dropped or `SECCOMP_FILTER_FLAG_SPEC_ALLOW` added (the
//! only flag that grants something: it turns off a mitigation).
//! `tests/tighten_property.rs` checks the inequality on random profiles.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checked, loosened};
use crate::decision::{Mount, RESTRICTIONS, Root, SECCOMP_FLAG_SPEC_ALLOW, SyscallArg};
use crate::normal::{NormalAction, NormalFilesystem, NormalSeccomp, NormalSyscallRule};

/// `root`, `mounts`, `maskedPaths`, `readonlyPaths`. `no_new_privileges`
/// is the later decision's: a writable tmpfs it adds is harmless only when
/// no setuid program can read what the workload writes there.
pub(super) fn filesystem_tightened(
    earlier: &NormalFilesystem,
    later: &NormalFilesystem,
    no_new_privileges: bool,
) -> Checked {
    let NormalFilesystem {
        root,
        mounts,
        masked_paths,
        readonly_paths,
    } = earlier;
    root_kept(root.as_ref(), later.root.as_ref())?;
    mounts_tightened(mounts, &later.mounts, no_new_privileges)?;
    superset(
        "maskedPaths",
        "the mask of",
        masked_paths,
        &later.masked_paths,
    )?;
    superset(
        "readonlyPaths",
        "the read-only path",
        readonly_paths,
        &later.readonly_paths,
    )
}

fn root_kept(earlier: Option<&Root>, later: Option<&Root>) -> Checked {
    let Some(Root { path, readonly }) = earlier else {
        return Ok(());
    };
    let Some(after) = later else {
        return loosened(
            "root",
            format!("unsets the root {path}: the workload would see the host's root as it is"),
        );
    };
    if after.path != *path {
        return loosened(
            "root.path",
            format!(
                "changes {path:?} to {:?}; the root the earlier policies chose stays",
                after.path
            ),
        );
    }
    if *readonly && !after.readonly {
        return loosened("root.readonly", "turns it off");
    }
    Ok(())
}

fn superset(
    field: &str,
    what: &str,
    earlier: &BTreeSet<String>,
    later: &BTreeSet<String>,
) -> Checked {
    match earlier.difference(later).next() {
        Some(path) => loosened(field, format!("drops {what} {path}")),
        None => Ok(()),
    }
}

/// The same mount: destination, type and source.
fn same_mount(a: &Mount, b: &Mount) -> bool {
    a.destination == b.destination && a.kind == b.kind && a.source == b.source
}

/// The options that are not restrictions (`ro`/`rw`, `nosuid`/`suid`,
/// ...), in order: these must stay exactly.
fn other_options(mount: &Mount) -> Vec<&str> {
    mount
        .options
        .iter()
        .map(String::as_str)
        .filter(|option| {
            !RESTRICTIONS
                .iter()
                .any(|(word, opposite)| option == word || option == opposite)
        })
        .collect()
}

fn describe(mount: &Mount) -> String {
    format!(
        "the {} mount at {}",
        mount.kind.as_deref().unwrap_or("bind"),
        mount.destination
    )
}

/// How `later` loosens the same mount `earlier`, if it does.
fn mount_loosening(earlier: &Mount, later: &Mount) -> Option<String> {
    let Mount {
        destination: _,
        kind: _,
        source: _,
        options: _,
        uid_mappings,
        gid_mappings,
    } = earlier;
    for word in earlier.restrictions() {
        if !later.restricts(word) {
            return Some(if word == "ro" {
                format!("turns {} read-write", describe(earlier))
            } else {
                format!("drops {word} from {}", describe(earlier))
            });
        }
    }
    let (before, after) = (other_options(earlier), other_options(later));
    if before != after {
        return Some(format!(
            "changes the options {before:?} of {} to {after:?}; a later policy may only add ro, nosuid, nodev and noexec",
            describe(earlier)
        ));
    }
    if *uid_mappings != later.uid_mappings || *gid_mappings != later.gid_mappings {
        return Some(format!("changes the id mappings of {}", describe(earlier)));
    }
    None
}

/// Why `mount` may not be added by a later policy, if it may not.
fn addition_problem(mount: &Mount, no_new_privileges: bool) -> Option<String> {
    if mount.kind.as_deref() != Some("tmpfs") || mount.is_bind() {
        return Some(format!(
            "adds {}: a later policy may add only tmpfs mounts, which expose nothing of the host",
            describe(mount)
        ));
    }
    if !mount.is_readonly() && !no_new_privileges {
        return Some(format!(
            "adds a writable tmpfs at {} without noNewPrivileges: setuid programs would read files the workload wrote there (add ro, or keep noNewPrivileges on)",
            mount.destination
        ));
    }
    None
}

/// Whether every earlier mount can be paired, in order, with a later one
/// that is the same mount and no looser, each later mount left over being
/// one a later policy may add. Dynamic programming over (earlier suffix,
/// later suffix): a greedy pairing may take the wrong one of two equal
/// tmpfs mounts and leave a writable one over.
fn pairable(earlier: &[Mount], later: &[Mount], no_new_privileges: bool) -> bool {
    let addable: Vec<bool> = later
        .iter()
        .map(|mount| addition_problem(mount, no_new_privileges).is_none())
        .collect();
    // below[j]: earlier[i + 1..] pairs into later[j..]; row[j]: earlier[i..].
    let mut below: Vec<bool> = vec![false; later.len() + 1];
    below[later.len()] = true;
    for j in (0..later.len()).rev() {
        below[j] = addable[j] && below[j + 1];
    }
    for expected in earlier.iter().rev() {
        let mut row = vec![false; later.len() + 1];
        for j in (0..later.len()).rev() {
            let pairs = same_mount(expected, &later[j])
                && mount_loosening(expected, &later[j]).is_none()
                && below[j + 1];
            row[j] = pairs || (addable[j] && row[j + 1]);
        }
        below = row;
    }
    below[0]
}

/// Every earlier mount stays, in order, the same mount with its
/// restrictions; a later policy may add restrictions, and tmpfs mounts
/// anywhere in the order.
fn mounts_tightened(earlier: &[Mount], later: &[Mount], no_new_privileges: bool) -> Checked {
    if pairable(earlier, later, no_new_privileges) {
        return Ok(());
    }
    // Refused: find the first problem, pairing greedily, to name it.
    let mut next = 0;
    // A later mount the same as earlier[next] but looser, taken as an
    // addition: if earlier[next] then goes missing, this is why.
    let mut looser: Option<(usize, String)> = None;
    let explain = |looser: &Option<(usize, String)>, next: usize| {
        looser
            .as_ref()
            .filter(|(at, _)| *at == next)
            .map(|(_, message)| loosened(format!("mounts[{next}]"), message.clone()))
    };
    for (index, mount) in later.iter().enumerate() {
        let problem = addition_problem(mount, no_new_privileges);
        if let Some(expected) = earlier.get(next)
            && same_mount(expected, mount)
        {
            match mount_loosening(expected, mount) {
                None => {
                    next += 1;
                    continue;
                }
                // The same mount again, looser, yet addable: an addition.
                Some(message) if problem.is_none() => {
                    looser.get_or_insert((next, message));
                    continue;
                }
                Some(message) => return loosened(format!("mounts[{next}]"), message),
            }
        }
        let Some(problem) = problem else {
            continue;
        };
        if let Some(position) = earlier[next..]
            .iter()
            .position(|other| same_mount(other, mount))
        {
            if let Some(explained) = explain(&looser, next) {
                return explained;
            }
            let expected = &earlier[next];
            if !later[index + 1..]
                .iter()
                .any(|other| same_mount(other, expected))
            {
                return loosened(
                    format!("mounts[{next}]"),
                    format!("drops the earlier mount at {}", expected.destination),
                );
            }
            let moved = next + position;
            return loosened(
                format!("mounts[{moved}]"),
                format!(
                    "moves {} before {}; mounts keep the earlier order",
                    describe(&earlier[moved]),
                    describe(&earlier[next])
                ),
            );
        }
        return loosened(format!("mounts[{index}]"), problem);
    }
    if let Some(explained) = explain(&looser, next) {
        return explained;
    }
    match earlier.get(next) {
        Some(mount) => loosened(
            format!("mounts[{next}]"),
            format!("drops the earlier mount at {}", mount.destination),
        ),
        None => loosened(
            "mounts",
            "leaves a writable tmpfs over that only a pairing of the earlier mounts with other later ones would avoid",
        ),
    }
}

fn show(action: NormalAction) -> String {
    match action.errno {
        Some(errno) => format!("{}({errno})", action.action.as_str()),
        None => action.action.as_str().to_string(),
    }
}

fn conditions(args: &[SyscallArg]) -> String {
    if args.is_empty() {
        return String::new();
    }
    let each: Vec<String> = args
        .iter()
        .map(|arg| {
            let value_two = if arg.value_two == 0 {
                String::new()
            } else {
                format!(" {}", arg.value_two)
            };
            format!(
                "args[{}] {} {}{value_two}",
                arg.index,
                arg.op.as_str(),
                arg.value
            )
        })
        .collect();
    format!(" when {}", each.join(" and "))
}

/// The seccomp rule of the module doc.
pub(super) fn seccomp_tightened(
    earlier: Option<&NormalSeccomp>,
    later: Option<&NormalSeccomp>,
) -> Checked {
    let Some(NormalSeccomp {
        default_action,
        architectures,
        flags,
        rules,
    }) = earlier
    else {
        return Ok(());
    };
    let Some(after) = later else {
        return loosened("seccomp", "drops the system call filter");
    };
    if after.default_action < *default_action {
        return loosened(
            "seccomp.defaultAction",
            format!(
                "{} is less strict than the earlier {}",
                show(after.default_action),
                show(*default_action)
            ),
        );
    }
    if let Some(extra) = after.architectures.difference(architectures).next() {
        return loosened(
            "seccomp.architectures",
            format!(
                "adds {extra}: the earlier filter kills the calls of an architecture it does not list"
            ),
        );
    }
    if after.flags.contains(SECCOMP_FLAG_SPEC_ALLOW) && !flags.contains(SECCOMP_FLAG_SPEC_ALLOW) {
        return loosened(
            "seccomp.flags",
            format!(
                "adds {SECCOMP_FLAG_SPEC_ALLOW}: it turns off the speculative store bypass mitigation"
            ),
        );
    }
    if let Some(dropped) = flags
        .iter()
        .find(|flag| *flag != SECCOMP_FLAG_SPEC_ALLOW && !after.flags.contains(*flag))
    {
        return loosened("seccomp.flags", format!("drops {dropped}"));
    }
    let later_rules: BTreeMap<(&str, &[SyscallArg]), NormalAction> = after
        .rules
        .iter()
        .map(|rule| ((rule.name.as_str(), rule.args.as_slice()), rule.action))
        .collect();
    for NormalSyscallRule { name, args, action } in rules {
        let field = format!("seccomp.syscalls({name})");
        match later_rules.get(&(name.as_str(), args.as_slice())) {
            None => {
                return loosened(
                    field,
                    format!(
                        "drops the earlier rule {} {name}{}; a later policy may add stricter rules, not remove one",
                        show(*action),
                        conditions(args)
                    ),
                );
            }
            Some(later_action) if later_action < action => {
                return loosened(
                    field,
                    format!(
                        "{} {name}{} is less strict than the earlier {}",
                        show(*later_action),
                        conditions(args),
                        show(*action)
                    ),
                );
            }
            Some(_) => {}
        }
    }
    let earlier_keys: BTreeSet<(&str, &[SyscallArg])> = rules
        .iter()
        .map(|rule| (rule.name.as_str(), rule.args.as_slice()))
        .collect();
    for rule in &after.rules {
        if !earlier_keys.contains(&(rule.name.as_str(), rule.args.as_slice()))
            && rule.action < *default_action
        {
            return loosened(
                format!("seccomp.syscalls({})", rule.name),
                format!(
                    "adds {} {}{}, less strict than the earlier default {} that applies to it",
                    show(rule.action),
                    rule.name,
                    conditions(&rule.args),
                    show(*default_action)
                ),
            );
        }
    }
    Ok(())
}

/// `privateHostIds` may turn on (where no earlier policy fixed id maps),
/// never off.
pub(super) fn private_host_ids_kept(earlier: bool, earlier_maps: bool, later: bool) -> Checked {
    if earlier && !later {
        return loosened(
            "privateHostIds",
            "turns it off: the sandbox would share host ids with others",
        );
    }
    if later && !earlier && earlier_maps {
        return loosened(
            "privateHostIds",
            "turns it on where the earlier policies fixed uidMappings and gidMappings",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::decision::{
        Decision, NamespaceType, Seccomp, SeccompAction, SeccompOperator, SyscallRule,
    };
    use crate::normal::{Context, NormalDecision, normalize};
    use crate::tighten::check_tightens;

    use super::*;

    fn normal(decision: &Decision) -> NormalDecision {
        normalize(decision, &Context::typical())
    }

    fn base() -> Decision {
        Decision::allow()
            .namespaces([NamespaceType::Mount, NamespaceType::Pid])
            .readonly_host_root()
            .tmpfs("/tmp", Some(64 << 20))
            .bind("/srv/data", "/data", false)
            .bind("/srv/cache", "/cache", true)
            .mask("/proc/kcore")
            .readonly_path("/proc/sys")
    }

    fn check(earlier: &Decision, later: &Decision) -> Result<(), String> {
        check_tightens(&normal(earlier), &normal(later)).map_err(|error| error.to_string())
    }

    #[track_caller]
    fn assert_loosens(earlier: &Decision, later: &Decision, expected: &str) {
        let error = check(earlier, later).expect_err("must loosen");
        assert!(
            error.starts_with(expected),
            "{error:?} does not start with {expected:?}"
        );
    }

    fn without_mounts(mut decision: Decision) -> Decision {
        decision.mounts.clear();
        decision
    }

    fn options(decision: &mut Decision, index: usize) -> &mut Vec<String> {
        &mut decision.mounts[index].options
    }

    #[test]
    fn filesystem_tightenings_are_accepted() {
        check(&base(), &base()).expect("equal");
        let mut later = base()
            .mask("/home")
            .readonly_path("/usr")
            .tmpfs("/run", None);
        options(&mut later, 2).push("noexec".into());
        options(&mut later, 2).push("ro".into());
        later.mounts.insert(0, later.mounts[3].clone());
        check(&base(), &later).expect("tighter");
        let rootless = Decision::allow().namespace(NamespaceType::Mount);
        check(&rootless, &without_mounts(base())).expect("a root where there was none");
        let mut writable = base();
        writable.root.as_mut().expect("root").readonly = false;
        check(&writable, &base()).expect("readonly turns on");
    }

    #[test]
    fn the_root_stays() {
        let mut other = base();
        other.root.as_mut().expect("root").path = "/srv/rootfs".into();
        assert_loosens(
            &base(),
            &other,
            "loosens root.path: changes \"/\" to \"/srv/rootfs\"",
        );
        let mut writable = base();
        writable.root.as_mut().expect("root").readonly = false;
        assert_loosens(&base(), &writable, "loosens root.readonly: turns it off");
        let mut none = without_mounts(base());
        none.masked_paths.clear();
        none.readonly_paths.clear();
        none.root = None;
        assert_loosens(&base(), &none, "loosens root: unsets the root /");
    }

    #[test]
    fn mounts_stay_in_order_with_their_restrictions() {
        let mut dropped = base();
        dropped.mounts.remove(1);
        assert_loosens(
            &base(),
            &dropped,
            "loosens mounts[1]: drops the earlier mount at /data",
        );
        let mut swapped = base();
        swapped.mounts.swap(1, 2);
        assert_loosens(
            &base(),
            &swapped,
            "loosens mounts[2]: moves the bind mount at /cache before the bind mount at /data",
        );
        let mut rw = base();
        options(&mut rw, 1).push("rw".into());
        assert_loosens(
            &base(),
            &rw,
            "loosens mounts[1]: turns the bind mount at /data read-write",
        );
        let mut suid = base();
        options(&mut suid, 2).retain(|o| o != "nosuid");
        assert_loosens(
            &base(),
            &suid,
            "loosens mounts[2]: drops nosuid from the bind mount at /cache",
        );
        let mut bigger = base();
        options(&mut bigger, 0).retain(|o| !o.starts_with("size="));
        assert_loosens(
            &base(),
            &bigger,
            "loosens mounts[0]: changes the options [\"mode=1777\", \"size=67108864\"] of the tmpfs mount at /tmp to [\"mode=1777\"]",
        );
        let mut source = base();
        source.mounts[1].source = Some("/etc".into());
        assert_loosens(
            &base(),
            &source,
            "loosens mounts[1]: adds the bind mount at /data",
        );
    }

    #[test]
    fn an_equal_tmpfs_in_front_pairs_either_way() {
        // Found by the property test: pairing the first of two tmpfs
        // mounts at /tmp with the earlier one left the earlier, writable
        // one over as an addition, refused without noNewPrivileges.
        let earlier = base().no_new_privileges(false);
        let mut later = earlier.clone();
        let mut hidden = later.mounts[0].clone();
        hidden.options.push("ro".into());
        later.mounts.insert(0, hidden);
        check(&earlier, &later).expect("a read-only tmpfs under the same one");
    }

    #[test]
    fn only_a_tmpfs_may_be_added() {
        assert_loosens(
            &base(),
            &base().bind("/etc", "/host-etc", false),
            "loosens mounts[3]: adds the bind mount at /host-etc: a later policy may add only tmpfs mounts",
        );
        let proc = base().mount(Mount {
            destination: "/proc2".into(),
            kind: Some("proc".into()),
            source: Some("proc".into()),
            options: Vec::new(),
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        });
        assert_loosens(
            &base(),
            &proc,
            "loosens mounts[3]: adds the proc mount at /proc2",
        );
        // A writable tmpfs needs noNewPrivileges: /etc/shadow written
        // there would be read by su.
        let earlier = base().no_new_privileges(false);
        assert_loosens(
            &earlier,
            &earlier.clone().tmpfs("/etc", None),
            "loosens mounts[3]: adds a writable tmpfs at /etc without noNewPrivileges",
        );
        let mut readonly = earlier.clone().tmpfs("/etc", None);
        options(&mut readonly, 3).push("ro".into());
        check(&earlier, &readonly).expect("an empty read-only tmpfs hides only");
    }

    #[test]
    fn masks_and_readonly_paths_only_grow() {
        let mut unmasked = base();
        unmasked.masked_paths.clear();
        assert_loosens(
            &base(),
            &unmasked,
            "loosens maskedPaths: drops the mask of /proc/kcore",
        );
        let mut writable = base();
        writable.readonly_paths.clear();
        assert_loosens(
            &base(),
            &writable,
            "loosens readonlyPaths: drops the read-only path /proc/sys",
        );
    }

    fn profile(default: SeccompAction, rules: Vec<SyscallRule>) -> Seccomp {
        Seccomp {
            default_action: default,
            default_errno_ret: None,
            architectures: vec!["SCMP_ARCH_X86_64".into(), "SCMP_ARCH_X86".into()],
            flags: vec!["SECCOMP_FILTER_FLAG_LOG".into()],
            syscalls: rules,
        }
    }

    fn rule(name: &str, action: SeccompAction) -> SyscallRule {
        SyscallRule {
            names: vec![name.into()],
            action,
            errno_ret: None,
            args: Vec::new(),
        }
    }

    fn filtered(profile: Seccomp) -> Decision {
        Decision::allow().seccomp(profile)
    }

    #[test]
    fn seccomp_tightenings_are_accepted() {
        use SeccompAction::*;
        let earlier = filtered(profile(
            Errno,
            vec![rule("read", Allow), rule("ptrace", Log)],
        ));
        check(&Decision::allow(), &earlier).expect("a filter where there was none");
        let mut later = profile(
            KillProcess,
            vec![
                rule("read", Allow),
                rule("ptrace", Errno),
                rule("keyctl", Errno),
            ],
        );
        later.architectures.pop();
        later.flags.push("SECCOMP_FILTER_FLAG_TSYNC".into());
        check(&earlier, &filtered(later)).expect("tighter");
    }

    #[test]
    fn seccomp_loosenings_name_the_field() {
        use SeccompAction::*;
        let earlier_profile = profile(
            Errno,
            vec![rule("read", Allow), rule("keyctl", KillProcess)],
        );
        let earlier = filtered(earlier_profile.clone());
        assert_loosens(
            &earlier,
            &Decision::allow(),
            "loosens seccomp: drops the system call filter",
        );
        let mut lower = earlier_profile.clone();
        lower.default_action = Log;
        assert_loosens(
            &earlier,
            &filtered(lower),
            "loosens seccomp.defaultAction: SCMP_ACT_LOG is less strict than the earlier SCMP_ACT_ERRNO(1)",
        );
        let mut dropped = earlier_profile.clone();
        dropped.syscalls.pop();
        assert_loosens(
            &earlier,
            &filtered(dropped),
            "loosens seccomp.syscalls(keyctl): drops the earlier rule SCMP_ACT_KILL_PROCESS keyctl",
        );
        let mut weaker = earlier_profile.clone();
        weaker.syscalls[1].action = Errno;
        weaker.syscalls[1].errno_ret = Some(38);
        assert_loosens(
            &earlier,
            &filtered(weaker),
            "loosens seccomp.syscalls(keyctl): SCMP_ACT_ERRNO(38) keyctl is less strict than the earlier SCMP_ACT_KILL_PROCESS",
        );
        let mut added = earlier_profile.clone();
        added.syscalls.push(SyscallRule {
            args: vec![SyscallArg {
                index: 0,
                value: 16,
                value_two: 0,
                op: SeccompOperator::Equal,
            }],
            ..rule("socket", Allow)
        });
        assert_loosens(
            &earlier,
            &filtered(added),
            "loosens seccomp.syscalls(socket): adds SCMP_ACT_ALLOW socket when args[0] SCMP_CMP_EQ 16, less strict than the earlier default SCMP_ACT_ERRNO(1)",
        );
        let mut arch = earlier_profile.clone();
        arch.architectures.push("SCMP_ARCH_X32".into());
        assert_loosens(
            &earlier,
            &filtered(arch),
            "loosens seccomp.architectures: adds SCMP_ARCH_X32",
        );
        let mut spec = earlier_profile.clone();
        spec.flags.push(SECCOMP_FLAG_SPEC_ALLOW.into());
        assert_loosens(
            &earlier,
            &filtered(spec),
            "loosens seccomp.flags: adds SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        );
        let mut unlogged = earlier_profile;
        unlogged.flags.clear();
        assert_loosens(
            &earlier,
            &filtered(unlogged),
            "loosens seccomp.flags: drops SECCOMP_FILTER_FLAG_LOG",
        );
    }

    #[test]
    fn private_host_ids_turn_on_only() {
        let private = Decision::allow().root_in_private_user_namespace();
        check(&Decision::allow().as_container_root(), &private).expect("turns on");
        let mut off = private.clone();
        off.private_host_ids = false;
        off = off.map_ids(0, 100_000, 65_536);
        let error = check(&private, &off).expect_err("turns off");
        assert!(
            error.starts_with("loosens privateHostIds: turns it off"),
            "{error}"
        );
        assert_eq!(
            private_host_ids_kept(false, true, true).map_err(|e| e.to_string()),
            Err("loosens privateHostIds: turns it on where the earlier policies fixed uidMappings and gidMappings".into())
        );
    }
}
