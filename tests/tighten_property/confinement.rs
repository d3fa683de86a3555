//! The filesystem, seccomp and private-id fields in the property test:
//! their generators, a model of what the workload sees at a set of probe
//! paths, the seccomp reference semantics (`effective_action`), and two
//! tests of their own:
//!
//! * every tightening the rules describe is accepted, every loosening is
//!   refused naming its field (`each_confinement_tightening_is_accepted_and_each_loosening_named`);
//! * for random profiles `P1`, `P2` that `check_tightens` accepts, no
//!   system call of a sample gets a less strict action under `P2`
//!   (`an_accepted_seccomp_profile_is_no_less_strict_on_any_call`);
//! * for random filesystems `a`, `b` that `check_tightens` accepts, the
//!   workload sees at no probe path a host path or kernel filesystem that
//!   it does not see under `a`, nor with fewer restrictions
//!   (`an_accepted_filesystem_exposes_nothing_more`).

use policy_model::decision::{
    Mount, Root, SECCOMP_FLAG_LOG, SECCOMP_FLAG_SPEC_ALLOW, SECCOMP_FLAG_TSYNC,
    SECCOMP_FLAG_WAIT_KILLABLE_RECV, Seccomp, SeccompAction, SeccompOperator, SyscallArg,
    SyscallRule,
};
use policy_model::normal::{NormalAction, NormalDecision, NormalFilesystem, effective_action};
use policy_model::{Context, Decision, IdMapping, Namespace, NamespaceType, check_tightens};

use super::{Mode, Rng, creates, normal_of, round_trips};

const ROOTS: [&str; 2] = ["/", "/srv/rootfs"];
const DESTINATIONS: [&str; 7] = [
    "/tmp",
    "/data",
    "/data/sub",
    "/home",
    "/etc",
    "/srv",
    "/var/tmp",
];
const SOURCES: [&str; 4] = ["/srv/data", "/srv/cache", "/etc", "/"];
const MASKS: [&str; 4] = ["/proc/kcore", "/proc/keys", "/home", "/etc/passwd"];
const READONLY: [&str; 3] = ["/proc/sys", "/etc", "/usr"];
const WORDS: [(&str, &str); 4] = [
    ("ro", "rw"),
    ("nosuid", "suid"),
    ("nodev", "dev"),
    ("noexec", "exec"),
];
/// Where the model looks.
const PROBES: [&str; 16] = [
    "/etc",
    "/etc/passwd",
    "/tmp",
    "/tmp/x",
    "/data",
    "/data/sub",
    "/data/sub/f",
    "/home",
    "/home/alice",
    "/proc",
    "/proc/kcore",
    "/proc/sys",
    "/srv",
    "/usr/bin",
    "/var/tmp",
    "/srv/cache",
];

const ACTIONS: [SeccompAction; 7] = [
    SeccompAction::Allow,
    SeccompAction::Log,
    SeccompAction::Trace,
    SeccompAction::Errno,
    SeccompAction::Trap,
    SeccompAction::KillThread,
    SeccompAction::KillProcess,
];
const OPERATORS: [SeccompOperator; 7] = [
    SeccompOperator::NotEqual,
    SeccompOperator::Less,
    SeccompOperator::LessOrEqual,
    SeccompOperator::Equal,
    SeccompOperator::GreaterOrEqual,
    SeccompOperator::Greater,
    SeccompOperator::MaskedEqual,
];
const NAMES: [&str; 6] = ["read", "write", "keyctl", "clone", "socket", "ptrace"];
const ARCHITECTURES: [&str; 3] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"];
const HARMLESS_FLAGS: [&str; 3] = [
    SECCOMP_FLAG_TSYNC,
    SECCOMP_FLAG_LOG,
    SECCOMP_FLAG_WAIT_KILLABLE_RECV,
];

// ------------------------------------------------------------ filesystem

fn no_new_privileges(d: &Decision) -> bool {
    d.process
        .as_ref()
        .and_then(|process| process.no_new_privileges)
        .unwrap_or(true)
}

fn restriction_options(rng: &mut Rng) -> Vec<String> {
    let mut options = Vec::new();
    for (word, opposite) in WORDS {
        match rng.below(6) {
            0 | 1 => options.push(word.to_string()),
            2 => options.push(opposite.to_string()),
            3 => {
                options.push(opposite.to_string());
                options.push(word.to_string());
            }
            _ => {}
        }
    }
    options
}

fn tmpfs(rng: &mut Rng, readonly: bool) -> Mount {
    let mut options = restriction_options(rng);
    if rng.chance(40) {
        options.push("size=64m".into());
    }
    if rng.chance(40) {
        options.insert(0, "mode=1777".into());
    }
    if readonly {
        options.push("ro".into());
    }
    Mount {
        destination: rng.pick(&DESTINATIONS).into(),
        kind: Some("tmpfs".into()),
        source: Some("tmpfs".into()),
        options,
        uid_mappings: Vec::new(),
        gid_mappings: Vec::new(),
    }
}

fn bind(rng: &mut Rng) -> Mount {
    let mut options = vec![rng.pick(&["bind", "rbind"]).to_string()];
    options.extend(restriction_options(rng));
    Mount {
        destination: rng.pick(&DESTINATIONS).into(),
        kind: rng.pick(&[None, Some("bind".to_string())]),
        source: Some(rng.pick(&SOURCES).into()),
        options,
        uid_mappings: Vec::new(),
        gid_mappings: Vec::new(),
    }
}

fn random_mount(rng: &mut Rng) -> Mount {
    match rng.below(5) {
        0 | 1 => tmpfs(rng, false),
        2 | 3 => bind(rng),
        _ => {
            let mut options = restriction_options(rng);
            if rng.chance(50) {
                options.push("hidepid=2".into());
            }
            Mount {
                destination: "/proc".into(),
                kind: Some("proc".into()),
                source: Some("proc".into()),
                options,
                uid_mappings: Vec::new(),
                gid_mappings: Vec::new(),
            }
        }
    }
}

/// Gives `d` a new mount namespace (a root needs one).
fn with_mount_namespace(d: &mut Decision) {
    if !creates(d, NamespaceType::Mount) {
        d.namespaces.retain(|ns| ns.kind != NamespaceType::Mount);
        d.namespaces.push(Namespace {
            kind: NamespaceType::Mount,
            path: None,
        });
    }
}

fn random_root(rng: &mut Rng) -> Root {
    Root {
        path: rng.pick(&ROOTS).into(),
        readonly: rng.chance(50),
    }
}

fn filesystem_fresh(rng: &mut Rng, d: &mut Decision) {
    d.root = (!rng.chance(25)).then(|| random_root(rng));
    d.mounts = (0..rng.below(5)).map(|_| random_mount(rng)).collect();
    d.masked_paths = rng.subset(&MASKS.map(String::from), 40);
    d.readonly_paths = rng.subset(&READONLY.map(String::from), 40);
    if d.root.is_some() {
        with_mount_namespace(d);
    }
}

/// One change the rules call a tightening; `false` if none applies.
fn filesystem_tighten(rng: &mut Rng, d: &mut Decision) -> bool {
    let readonly = !no_new_privileges(d);
    let Some(root) = d.root.as_mut() else {
        d.root = Some(random_root(rng));
        with_mount_namespace(d);
        return true;
    };
    match rng.below(5) {
        0 if !root.readonly => root.readonly = true,
        1 if !d.mounts.is_empty() => {
            let index = rng.below(d.mounts.len());
            let (word, _) = rng.pick(&WORDS);
            d.mounts[index].options.push(word.into());
        }
        2 => {
            let index = rng.below(d.mounts.len() + 1);
            let mount = tmpfs(rng, readonly);
            d.mounts.insert(index, mount);
        }
        3 => d.masked_paths.push(rng.pick(&MASKS).into()),
        _ => d.readonly_paths.push(rng.pick(&READONLY).into()),
    }
    true
}

/// One change the rules call a loosening, with the field the refusal
/// must name; `None` if the one picked does not apply to `d`.
fn filesystem_loosen(rng: &mut Rng, d: &mut Decision) -> Option<&'static str> {
    let root = d.root.as_mut()?;
    let mounts = d.mounts.len();
    match rng.below(10) {
        0 => {
            d.root = None;
            d.mounts.clear();
            d.masked_paths.clear();
            d.readonly_paths.clear();
            Some("root")
        }
        1 => {
            root.path = if root.path == "/" { "/srv/rootfs" } else { "/" }.into();
            Some("root.path")
        }
        2 if root.readonly => {
            root.readonly = false;
            Some("root.readonly")
        }
        3 if mounts > 0 => {
            d.mounts.remove(rng.below(mounts));
            Some("mounts")
        }
        4 if mounts > 1 => {
            let (i, j) = (rng.below(mounts), rng.below(mounts));
            let key = |m: &Mount| (m.destination.clone(), m.kind.clone(), m.source.clone());
            if key(&d.mounts[i]) == key(&d.mounts[j]) {
                return None;
            }
            d.mounts.swap(i, j);
            Some("mounts")
        }
        5 if mounts > 0 => {
            let mount = &mut d.mounts[rng.below(mounts)];
            let word = *mount.restrictions().first()?;
            let opposite = WORDS.iter().find(|(w, _)| *w == word)?.1;
            mount.options.push(opposite.into());
            Some("mounts")
        }
        6 => {
            let at = rng.below(mounts + 1);
            let mount = bind(rng);
            d.mounts.insert(at, mount);
            Some("mounts")
        }
        7 if !d.masked_paths.is_empty() => {
            let path = d.masked_paths[rng.below(d.masked_paths.len())].clone();
            d.masked_paths.retain(|p| *p != path);
            Some("maskedPaths")
        }
        9 if !d.readonly_paths.is_empty() => {
            let path = d.readonly_paths[rng.below(d.readonly_paths.len())].clone();
            d.readonly_paths.retain(|p| *p != path);
            Some("readonlyPaths")
        }
        8 => {
            let index = d.mounts.iter().position(|m| m.is_bind())?;
            let source = d.mounts[index].source.clone();
            let other = SOURCES.iter().find(|s| Some(s.to_string()) != source)?;
            d.mounts[index].source = Some(other.to_string());
            Some("mounts")
        }
        _ => None,
    }
}

/// The filesystem field class of the main generator.
pub fn filesystem_op(rng: &mut Rng, d: &mut Decision, mode: Mode) {
    match mode {
        Mode::Fresh => filesystem_fresh(rng, d),
        Mode::Tighten => {
            filesystem_tighten(rng, d);
        }
        Mode::Loosen => {
            filesystem_loosen(rng, d);
        }
    }
}

// --------------------------------------------------------------- seccomp

fn random_args(rng: &mut Rng) -> Vec<SyscallArg> {
    let mut args = Vec::new();
    for index in 0..2 {
        if rng.chance(25) {
            let op = rng.pick(&OPERATORS);
            let masked = op == SeccompOperator::MaskedEqual;
            args.push(SyscallArg {
                index,
                value: if masked {
                    rng.pick(&[1, 3])
                } else {
                    rng.pick(&[0, 1, 2, 16])
                },
                value_two: if masked { rng.pick(&[0, 1, 2]) } else { 0 },
                op,
            });
        }
    }
    args
}

fn errno_for(rng: &mut Rng, action: SeccompAction) -> Option<u32> {
    if action.takes_errno() {
        rng.pick(&[None, Some(1), Some(38)])
    } else {
        None
    }
}

fn random_rule(rng: &mut Rng) -> SyscallRule {
    let mut names = rng.subset(&NAMES.map(String::from), 30);
    if names.is_empty() {
        names.push(rng.pick(&NAMES).into());
    }
    let action = rng.pick(&ACTIONS);
    SyscallRule {
        names,
        action,
        errno_ret: errno_for(rng, action),
        args: random_args(rng),
    }
}

fn random_profile(rng: &mut Rng) -> Seccomp {
    let default_action = rng.pick(&ACTIONS);
    let mut flags = rng.subset(&HARMLESS_FLAGS.map(String::from), 30);
    if rng.chance(10) {
        flags.push(SECCOMP_FLAG_SPEC_ALLOW.into());
    }
    Seccomp {
        default_action,
        default_errno_ret: errno_for(rng, default_action),
        architectures: rng.subset(&ARCHITECTURES.map(String::from), 50),
        flags,
        syscalls: (0..rng.below(6)).map(|_| random_rule(rng)).collect(),
    }
}

/// An action strictly above (`up`) or below `action`, if there is one.
fn moved(rng: &mut Rng, action: SeccompAction, up: bool) -> Option<SeccompAction> {
    let choices: Vec<SeccompAction> = ACTIONS
        .iter()
        .copied()
        .filter(|other| if up { *other > action } else { *other < action })
        .collect();
    (!choices.is_empty()).then(|| rng.pick(&choices))
}

fn set_action(rng: &mut Rng, rule: &mut SyscallRule, action: SeccompAction) {
    rule.action = action;
    rule.errno_ret = errno_for(rng, action);
}

/// One tightening; `false` if the one picked does not apply.
fn seccomp_tighten(rng: &mut Rng, d: &mut Decision) -> bool {
    let Some(profile) = d.seccomp.as_mut() else {
        d.seccomp = Some(random_profile(rng));
        return true;
    };
    match rng.below(6) {
        0 => {
            let Some(action) = moved(rng, profile.default_action, true) else {
                return false;
            };
            profile.default_action = action;
            profile.default_errno_ret = errno_for(rng, action);
        }
        1 if !profile.syscalls.is_empty() => {
            let index = rng.below(profile.syscalls.len());
            let Some(action) = moved(rng, profile.syscalls[index].action, true) else {
                return false;
            };
            set_action(rng, &mut profile.syscalls[index], action);
        }
        2 => {
            // A new rule at least as strict as the default.
            let mut rule = random_rule(rng);
            match moved(rng, profile.default_action, true) {
                Some(action) if rng.chance(70) => set_action(rng, &mut rule, action),
                _ => {
                    rule.action = profile.default_action;
                    rule.errno_ret = profile.default_errno_ret;
                }
            }
            profile.syscalls.push(rule);
        }
        3 if !profile.architectures.is_empty() => {
            let index = rng.below(profile.architectures.len());
            profile.architectures.remove(index);
        }
        4 => {
            let flag = rng.pick(&HARMLESS_FLAGS).to_string();
            if !profile.flags.contains(&flag) {
                profile.flags.push(flag);
            }
        }
        5 if profile.flags.iter().any(|f| f == SECCOMP_FLAG_SPEC_ALLOW) => {
            profile.flags.retain(|f| f != SECCOMP_FLAG_SPEC_ALLOW);
        }
        _ => return false,
    }
    true
}

/// One loosening of a rendered profile (one rule per name and
/// conditions), with the field the refusal names; `None` if the one
/// picked does not apply.
fn seccomp_loosen(rng: &mut Rng, d: &mut Decision) -> Option<&'static str> {
    let profile = d.seccomp.as_mut()?;
    let rules = profile.syscalls.len();
    match rng.below(8) {
        0 => {
            d.seccomp = None;
            Some("seccomp")
        }
        1 => {
            let action = moved(rng, profile.default_action, false)?;
            profile.default_action = action;
            profile.default_errno_ret = errno_for(rng, action);
            Some("seccomp.defaultAction")
        }
        2 if rules > 0 => {
            profile.syscalls.remove(rng.below(rules));
            Some("seccomp.syscalls(")
        }
        3 if rules > 0 => {
            let index = rng.below(rules);
            let action = moved(rng, profile.syscalls[index].action, false)?;
            set_action(rng, &mut profile.syscalls[index], action);
            Some("seccomp.syscalls(")
        }
        4 => {
            let action = moved(rng, profile.default_action, false)?;
            let mut rule = SyscallRule {
                names: vec![rng.pick(&NAMES).into()],
                action,
                errno_ret: None,
                args: vec![SyscallArg {
                    index: 5,
                    value: 4242,
                    value_two: 0,
                    op: SeccompOperator::Equal,
                }],
            };
            set_action(rng, &mut rule, action);
            profile.syscalls.push(rule);
            Some("seccomp.syscalls(")
        }
        5 => {
            let extra = ARCHITECTURES
                .iter()
                .find(|arch| !profile.architectures.iter().any(|a| a == *arch))?;
            profile.architectures.push(extra.to_string());
            Some("seccomp.architectures")
        }
        6 if !profile.flags.iter().any(|f| f == SECCOMP_FLAG_SPEC_ALLOW) => {
            profile.flags.push(SECCOMP_FLAG_SPEC_ALLOW.into());
            Some("seccomp.flags")
        }
        7 => {
            let index = profile
                .flags
                .iter()
                .position(|f| f != SECCOMP_FLAG_SPEC_ALLOW)?;
            profile.flags.remove(index);
            Some("seccomp.flags")
        }
        _ => None,
    }
}

/// The seccomp field class of the main generator.
pub fn seccomp_op(rng: &mut Rng, d: &mut Decision, mode: Mode) {
    match mode {
        Mode::Fresh => d.seccomp = (!rng.chance(30)).then(|| random_profile(rng)),
        Mode::Tighten => {
            seccomp_tighten(rng, d);
        }
        Mode::Loosen => {
            // Rules may have several names here: loosen one rule only.
            seccomp_loosen(rng, d);
        }
    }
}

// ----------------------------------------------------------- private ids

fn private_tighten(d: &mut Decision) -> bool {
    if d.private_host_ids || d.namespaces.iter().any(|ns| ns.kind == NamespaceType::User) {
        return false;
    }
    d.namespaces.push(Namespace {
        kind: NamespaceType::User,
        path: None,
    });
    d.uid_mappings.clear();
    d.gid_mappings.clear();
    d.private_host_ids = true;
    true
}

fn private_loosen(d: &mut Decision) -> Option<&'static str> {
    if !d.private_host_ids {
        return None;
    }
    d.private_host_ids = false;
    let map = vec![IdMapping {
        container_id: 0,
        host_id: 100_000,
        size: 65_536,
    }];
    d.uid_mappings = map.clone();
    d.gid_mappings = map;
    Some("privateHostIds")
}

/// The private-id field class of the main generator.
pub fn private_op(rng: &mut Rng, d: &mut Decision, mode: Mode) {
    match mode {
        Mode::Fresh => d.private_host_ids = rng.chance(50),
        Mode::Tighten => {
            private_tighten(d);
        }
        Mode::Loosen => {
            private_loosen(d);
        }
    }
}

/// Keeps the confinement fields valid after other fields changed.
pub fn repair(d: &mut Decision) {
    if d.root.is_some() && !creates(d, NamespaceType::Mount) {
        d.root = None;
    }
    if d.root.is_none() {
        d.mounts.clear();
        d.masked_paths.clear();
        d.readonly_paths.clear();
    }
}

// ----------------------------------------------------------------- model

/// What the workload finds at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exposure {
    /// This host path.
    Host(String),
    /// A kernel filesystem of this type (`proc`).
    Kernel(String),
    /// A tmpfs of its own.
    Private,
    /// Nothing (masked).
    Masked,
}

/// The exposure and the restrictions `ro`, `nosuid`, `nodev`, `noexec`.
type View = (Exposure, [bool; 4]);

fn rest_under<'a>(path: &'a str, destination: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(destination)?;
    (rest.is_empty() || rest.starts_with('/') || destination == "/").then_some(rest)
}

fn host_path(base: &str, rest: &str) -> String {
    format!("{}{rest}", base.trim_end_matches('/'))
}

/// The view at `probe`; `None` without a root (the host as it is).
fn view(filesystem: &NormalFilesystem, probe: &str) -> Option<View> {
    let root = filesystem.root.as_ref()?;
    let mut seen: View = (
        Exposure::Host(host_path(&root.path, probe)),
        [root.readonly, false, false, false],
    );
    for mount in &filesystem.mounts {
        let Some(rest) = rest_under(probe, &mount.destination) else {
            continue;
        };
        let exposure = match mount.kind.as_deref() {
            _ if mount.is_bind() => {
                Exposure::Host(host_path(mount.source.as_deref().unwrap_or("/"), rest))
            }
            Some("tmpfs") => Exposure::Private,
            kind => Exposure::Kernel(kind.unwrap_or("?").into()),
        };
        seen = (exposure, WORDS.map(|(word, _)| mount.restricts(word)));
    }
    if filesystem
        .masked_paths
        .iter()
        .any(|mask| rest_under(probe, mask).is_some())
    {
        seen.0 = Exposure::Masked;
    }
    if filesystem
        .readonly_paths
        .iter()
        .any(|path| rest_under(probe, path).is_some())
    {
        seen.1[0] = true;
    }
    Some(seen)
}

fn sample_calls() -> Vec<(&'static str, [u64; 6])> {
    let mut calls = Vec::new();
    for name in NAMES.iter().chain(&["mmap"]) {
        for arg0 in [0, 1, 2, 3, 16, u64::MAX] {
            for arg1 in [0, 1, 2] {
                calls.push((*name, [arg0, arg1, 0, 0, 0, 0]));
            }
        }
    }
    calls
}

fn action_of(normal: &NormalDecision, name: &str, args: &[u64; 6]) -> NormalAction {
    match &normal.seccomp {
        Some(profile) => effective_action(profile, name, args),
        None => NormalAction::new(SeccompAction::Allow, None),
    }
}

/// `b` exposes nothing `a` does not, no less restricted, and no system
/// call of the sample gets a less strict action.
pub fn compare(a: &NormalDecision, b: &NormalDecision) -> Result<(), String> {
    for probe in PROBES {
        let Some((exposure_a, flags_a)) = view(&a.filesystem, probe) else {
            break;
        };
        let Some((exposure_b, flags_b)) = view(&b.filesystem, probe) else {
            return Err(format!("{probe}: b has no root, a has one"));
        };
        if matches!(exposure_b, Exposure::Private | Exposure::Masked) {
            continue;
        }
        if exposure_a != exposure_b {
            return Err(format!(
                "{probe}: b shows {exposure_b:?} where a shows {exposure_a:?}"
            ));
        }
        for (index, (word, _)) in WORDS.iter().enumerate() {
            if flags_a[index] && !flags_b[index] {
                return Err(format!("{probe}: {word} for a, not for b"));
            }
        }
    }
    for (name, args) in sample_calls() {
        let (before, after) = (action_of(a, name, &args), action_of(b, name, &args));
        if after < before {
            return Err(format!(
                "seccomp: {name}{args:?} is {after:?} for b, {before:?} for a"
            ));
        }
    }
    Ok(())
}

// ----------------------------------------------------------------- tests

const SEED: u64 = 0x636f_6e66_696e_6531;

/// A valid decision rich in confinement fields, rendered from its normal
/// form (so each seccomp rule is one name under one set of conditions).
fn confined(rng: &mut Rng) -> Decision {
    let mut d = Decision::allow().namespaces([NamespaceType::Mount, NamespaceType::Pid]);
    match rng.below(3) {
        0 => d = d.root_in_private_user_namespace(),
        1 => d = d.namespace(NamespaceType::User).map_ids(0, 200_000, 65_536),
        _ => {}
    }
    if rng.chance(30) {
        d = d.no_new_privileges(false);
    }
    filesystem_fresh(rng, &mut d);
    repair(&mut d);
    d.seccomp = (!rng.chance(20)).then(|| random_profile(rng));
    d
}

fn rendered(d: &Decision) -> (NormalDecision, Decision) {
    let normal = normal_of(d).unwrap_or_else(|e| panic!("invalid {d:?}: {e}"));
    let rendering = normal.to_decision();
    (normal, rendering)
}

#[test]
fn each_confinement_tightening_is_accepted_and_each_loosening_named() {
    let mut accepted = 0;
    let mut refused = std::collections::BTreeMap::<&str, u64>::new();
    for case in 0..3000u64 {
        let mut rng = Rng(SEED ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (na, a) = rendered(&confined(&mut rng));
        round_trips(&na).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let mut tighter = a.clone();
        let changed = match rng.below(3) {
            0 => filesystem_tighten(&mut rng, &mut tighter),
            1 => seccomp_tighten(&mut rng, &mut tighter),
            _ => private_tighten(&mut tighter),
        };
        if changed {
            let nb =
                normal_of(&tighter).unwrap_or_else(|e| panic!("case {case}: {e}: {tighter:?}"));
            check_tightens(&na, &nb).unwrap_or_else(|e| {
                panic!(
                    "case {case}: a tightening is refused: {e}\na: {}\nb: {}",
                    serde_json::to_string(&a).unwrap_or_default(),
                    serde_json::to_string(&tighter).unwrap_or_default()
                )
            });
            compare(&na, &nb).unwrap_or_else(|e| panic!("case {case}: {e}"));
            accepted += 1;
        }
        let mut looser = a.clone();
        let expected = match rng.below(3) {
            0 => filesystem_loosen(&mut rng, &mut looser),
            1 => seccomp_loosen(&mut rng, &mut looser),
            _ => private_loosen(&mut looser),
        };
        if let Some(field) = expected {
            let nb = normal_of(&looser).unwrap_or_else(|e| panic!("case {case}: {e}: {looser:?}"));
            match check_tightens(&na, &nb) {
                Ok(()) => panic!(
                    "case {case}: a loosening of {field} is accepted\na: {}\nb: {}",
                    serde_json::to_string(&a).unwrap_or_default(),
                    serde_json::to_string(&looser).unwrap_or_default()
                ),
                Err(loosened) => assert!(
                    loosened.field.starts_with(field),
                    "case {case}: expected a refusal of {field}, got {loosened}"
                ),
            }
            *refused.entry(field).or_default() += 1;
        }
    }
    eprintln!(
        "confinement rules: {accepted} tightenings accepted; loosenings refused: {refused:?}"
    );
    assert!(accepted > 1000, "{accepted}");
    for field in [
        "root",
        "root.path",
        "root.readonly",
        "mounts",
        "maskedPaths",
        "readonlyPaths",
        "seccomp",
        "seccomp.defaultAction",
        "seccomp.syscalls(",
        "seccomp.architectures",
        "seccomp.flags",
        "privateHostIds",
    ] {
        assert!(
            refused.get(field).copied().unwrap_or(0) >= 10,
            "{field}: {refused:?}"
        );
    }
}

#[test]
fn an_accepted_seccomp_profile_is_no_less_strict_on_any_call() {
    let context = Context::typical();
    let normal = |profile: &Option<Seccomp>| {
        let mut d = Decision::allow();
        d.seccomp = profile.clone();
        policy_model::normalize(&d, &context)
    };
    let (mut accepted, mut changed, mut refused) = (0, 0, 0);
    for case in 0..20_000u64 {
        let mut rng = Rng(SEED ^ 0x5ecc ^ case.wrapping_mul(0xa076_1d64_78bd_642f));
        let first = (!rng.chance(10)).then(|| random_profile(&mut rng));
        let na = normal(&first);
        let mut later = na.to_decision();
        if rng.chance(10) {
            later.seccomp = Some(random_profile(&mut rng));
        } else {
            for _ in 0..1 + rng.below(3) {
                if rng.chance(75) {
                    seccomp_tighten(&mut rng, &mut later);
                } else {
                    seccomp_loosen(&mut rng, &mut later);
                }
            }
        }
        let nb = normal(&later.seccomp);
        if check_tightens(&na, &nb).is_err() {
            refused += 1;
            continue;
        }
        accepted += 1;
        if na != nb {
            changed += 1;
        }
        compare(&na, &nb).unwrap_or_else(|e| {
            panic!(
                "case {case}: {e}\nP1: {}\nP2: {}",
                serde_json::to_string(&first).unwrap_or_default(),
                serde_json::to_string(&later.seccomp).unwrap_or_default()
            )
        });
    }
    eprintln!("seccomp soundness: {accepted} accepted ({changed} changed), {refused} refused");
    assert!(
        changed > 5000 && refused > 1000,
        "{changed} changed, {refused} refused"
    );
}

#[test]
fn an_accepted_filesystem_exposes_nothing_more() {
    let (mut accepted, mut changed, mut refused) = (0, 0, 0);
    for case in 0..6000u64 {
        let mut rng = Rng(SEED ^ 0xf5 ^ case.wrapping_mul(0xe703_7ed1_a0b4_28db));
        let (na, a) = rendered(&confined(&mut rng));
        let mut b = a.clone();
        if rng.chance(10) {
            filesystem_fresh(&mut rng, &mut b);
        } else {
            for _ in 0..1 + rng.below(3) {
                if rng.chance(75) {
                    filesystem_tighten(&mut rng, &mut b);
                } else {
                    filesystem_loosen(&mut rng, &mut b);
                }
            }
        }
        repair(&mut b);
        let Ok(nb) = normal_of(&b) else {
            continue;
        };
        if check_tightens(&na, &nb).is_err() {
            refused += 1;
            continue;
        }
        accepted += 1;
        if na.filesystem != nb.filesystem {
            changed += 1;
        }
        compare(&na, &nb).unwrap_or_else(|e| {
            panic!(
                "case {case}: {e}\na: {}\nb: {}",
                serde_json::to_string(&a).unwrap_or_default(),
                serde_json::to_string(&b).unwrap_or_default()
            )
        });
    }
    eprintln!("filesystem model: {accepted} accepted ({changed} changed), {refused} refused");
    assert!(
        changed > 2000 && refused > 500,
        "{changed} changed, {refused} refused"
    );
}
