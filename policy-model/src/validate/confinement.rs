//! Validation of the filesystem, seccomp and private-id fields: `root`,
//! `mounts`, `maskedPaths`, `readonlyPaths`, `seccomp`, `privateHostIds`.

use super::{Checker, is_clean_absolute};
use crate::decision::{
    MOUNT_FLAGS, MOUNT_TYPES, Mount, PROPAGATING, SECCOMP_ARCHITECTURES, SECCOMP_FLAGS,
    SYSCALL_ARGS, Seccomp, SeccompAction, SeccompOperator, SyscallRule,
};
use crate::{Decision, NamespaceType};

/// Most mounts a decision may list.
const MAX_MOUNTS: usize = 1024;
/// Most masked (and, apart, read-only) paths a decision may list.
const MAX_PATHS: usize = 1024;
/// Most system call names a seccomp profile may list, over all its rules:
/// compiling the filter stays bounded.
const MAX_SECCOMP_NAMES: usize = 4096;
/// Longest path accepted (`PATH_MAX` less the NUL).
const MAX_PATH: usize = 4095;
/// Largest errno a seccomp action may return (`MAX_ERRNO`).
const MAX_ERRNO: u32 = 4095;
/// Longest system call name accepted.
const MAX_SYSCALL_NAME: usize = 64;

const HIDEPID: [&str; 6] = ["0", "1", "2", "invisible", "noaccess", "ptraceable"];

/// The `key=value` data a filesystem type takes.
fn data_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "tmpfs" => &["size", "mode", "uid", "gid", "nr_inodes"],
        "proc" => &["hidepid", "subset"],
        "devpts" => &["ptmxmode", "mode", "gid"],
        _ => &[],
    }
}

/// `path` is absolute and clean: `/`, or no empty, `.` or `..` component
/// (so no `//` and no trailing `/`), no NUL byte, at most 4095 bytes.
pub(super) fn is_clean_path(path: &str) -> bool {
    path.len() <= MAX_PATH && !path.contains('\0') && (path == "/" || is_clean_absolute(path))
}

/// Like [`is_clean_path`], but not `/` itself.
fn is_clean_below_root(path: &str) -> bool {
    path != "/" && is_clean_path(path)
}

const CLEAN: &str =
    "must be an absolute path without '.' or '..' components, '//', a trailing '/' or NUL bytes";

/// A size as tmpfs reads it: digits with an optional `k`, `m` or `g`
/// suffix (either case), or a percentage of memory (`50%`).
fn parses_as_size(value: &str) -> bool {
    let digits = value
        .strip_suffix(['k', 'K', 'm', 'M', 'g', 'G', '%'])
        .unwrap_or(value);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse::<u64>().is_ok()
}

/// An octal file mode no larger than `07777`.
fn parses_as_mode(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| (b'0'..=b'7').contains(&b))
        && u32::from_str_radix(value, 8).is_ok_and(|mode| mode <= 0o7777)
}

fn is_syscall_name(name: &str) -> bool {
    (1..=MAX_SYSCALL_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Checker {
    /// `root`, `mounts`, `maskedPaths`, `readonlyPaths`; for a
    /// `container` (whose spec has its root), masks and read-only paths
    /// without a `root`.
    pub(super) fn filesystem(&mut self, decision: &Decision, container: bool) {
        let creates = |kind| {
            decision
                .namespaces
                .iter()
                .any(|ns| ns.kind == kind && ns.path.is_none())
        };
        if let Some(root) = &decision.root {
            self.that(creates(NamespaceType::Mount), "root", || {
                "a new root needs a new mount namespace (add {\"type\": \"mount\"} to namespaces)"
                    .into()
            });
            self.that(is_clean_path(&root.path), "root.path", || {
                format!("{:?} {CLEAN} ('/' is the host's root)", root.path)
            });
        }
        let needs_root = |what: &str| {
            format!(
                "{what} applied inside the new root: they need root (for example \"root\": {{\"path\": \"/\", \"readonly\": true}}, the host's root read-only)"
            )
        };
        if decision.root.is_none() {
            for (field, present, what) in [
                ("mounts", !decision.mounts.is_empty(), "mounts are"),
                (
                    "maskedPaths",
                    !container && !decision.masked_paths.is_empty(),
                    "masks are",
                ),
                (
                    "readonlyPaths",
                    !container && !decision.readonly_paths.is_empty(),
                    "read-only paths are",
                ),
            ] {
                if present {
                    self.fail(field, needs_root(what));
                }
            }
        }
        self.that(decision.mounts.len() <= MAX_MOUNTS, "mounts", || {
            format!("{} mounts; at most {MAX_MOUNTS}", decision.mounts.len())
        });
        for (index, mount) in decision.mounts.iter().enumerate() {
            self.mount(
                &format!("mounts[{index}]"),
                mount,
                creates(NamespaceType::User),
            );
        }
        for (field, paths) in [
            ("maskedPaths", &decision.masked_paths),
            ("readonlyPaths", &decision.readonly_paths),
        ] {
            self.that(paths.len() <= MAX_PATHS, field, || {
                format!("{} paths; at most {MAX_PATHS}", paths.len())
            });
            for (index, path) in paths.iter().enumerate() {
                self.that(
                    is_clean_below_root(path),
                    &format!("{field}[{index}]"),
                    || format!("{path:?} {CLEAN}, and not '/'"),
                );
            }
        }
    }

    fn mount(&mut self, path: &str, mount: &Mount, user_namespace: bool) {
        let types = MOUNT_TYPES.join(", ");
        self.that(
            is_clean_below_root(&mount.destination),
            &format!("{path}.destination"),
            || format!("{:?} {CLEAN}, and not '/'", mount.destination),
        );
        let bind = mount.is_bind();
        match mount.kind.as_deref() {
            None if !bind => self.fail(
                format!("{path}.type"),
                format!("missing: only a bind mount (option bind or rbind) may leave it out; one of {types}"),
            ),
            Some(kind) if !MOUNT_TYPES.contains(&kind) => self.fail(
                format!("{path}.type"),
                format!("{kind:?} is not a mount type the enforcer knows; one of {types}"),
            ),
            Some(kind) if bind && kind != "bind" => self.fail(
                format!("{path}.type"),
                format!("{kind:?} with a bind or rbind option: a bind mount has type \"bind\" (or none)"),
            ),
            _ => {}
        }
        if bind {
            let source = mount.source.as_deref().unwrap_or("");
            self.that(is_clean_path(source), &format!("{path}.source"), || {
                format!("a bind mount needs the host path to bind: {source:?} {CLEAN}")
            });
        } else if let Some(source) = &mount.source {
            self.that(
                !source.contains('\0') && source.len() <= MAX_PATH,
                &format!("{path}.source"),
                || format!("{source:?} must have no NUL byte and at most {MAX_PATH} bytes"),
            );
        }
        let kind = if bind {
            "bind"
        } else {
            mount.kind.as_deref().unwrap_or("")
        };
        for (index, option) in mount.options.iter().enumerate() {
            self.mount_option(
                &format!("{path}.options[{index}]"),
                option,
                kind,
                user_namespace,
            );
        }
        let idmapped = mount.is_idmapped();
        for (field, mappings) in [
            ("uidMappings", &mount.uid_mappings),
            ("gidMappings", &mount.gid_mappings),
        ] {
            if !mappings.is_empty() && !idmapped {
                self.fail(
                    format!("{path}.{field}"),
                    "id mappings of a mount need its idmap or ridmap option",
                );
            }
            self.id_mappings(&format!("{path}.{field}"), mappings);
        }
        if mount.uid_mappings.is_empty() != mount.gid_mappings.is_empty() {
            let missing = if mount.uid_mappings.is_empty() {
                "uidMappings"
            } else {
                "gidMappings"
            };
            self.fail(
                format!("{path}.{missing}"),
                "an idmapped mount's uidMappings and gidMappings come together (or neither: the sandbox's own maps)",
            );
        }
    }

    fn mount_option(&mut self, path: &str, option: &str, kind: &str, user_namespace: bool) {
        if let Some((key, value)) = option.split_once('=') {
            let keys = data_keys(kind);
            if !keys.contains(&key) {
                let takes = if keys.is_empty() {
                    "takes no key=value data".to_string()
                } else {
                    format!("takes {}", key_list(keys))
                };
                self.fail(path, format!("{option:?}: a {kind} mount {takes}"));
                return;
            }
            let (valid, rule) = match key {
                "size" | "nr_inodes" => (
                    parses_as_size(value),
                    "a number with an optional k, m or g suffix (or a percentage)",
                ),
                "mode" | "ptmxmode" => (parses_as_mode(value), "an octal mode up to 07777"),
                "uid" | "gid" => (value.parse::<u32>().is_ok(), "a decimal id"),
                "hidepid" => (
                    HIDEPID.contains(&value),
                    "one of 0, 1, 2, invisible, noaccess, ptraceable",
                ),
                _ => (value == "pid", "pid"),
            };
            self.that(valid, path, || format!("{option:?}: {key} must be {rule}"));
            return;
        }
        if PROPAGATING.contains(&option) {
            self.fail(
                path,
                format!("{option:?}: a sandbox's mounts never propagate to the host (every mount is private)"),
            );
            return;
        }
        if !MOUNT_FLAGS.contains(&option) {
            self.fail(
                path,
                format!(
                    "{option:?} is not a mount option the enforcer knows; one of {}, or key=value data (tmpfs: {}; proc: {}; devpts: {})",
                    MOUNT_FLAGS.join(" "),
                    key_list(data_keys("tmpfs")),
                    key_list(data_keys("proc")),
                    key_list(data_keys("devpts")),
                ),
            );
            return;
        }
        match option {
            "newinstance" => self.that(kind == "devpts", path, || {
                format!("\"newinstance\" is a devpts option, not one of a {kind} mount")
            }),
            "idmap" | "ridmap" => {
                self.that(kind == "bind", path, || {
                    format!("{option:?} needs a bind mount (type bind, option bind or rbind)")
                });
                self.that(user_namespace, path, || {
                    format!(
                        "{option:?} needs a new user namespace (its ids are what the mount maps to)"
                    )
                });
            }
            _ => {}
        }
    }

    /// `seccomp`.
    pub(super) fn seccomp(&mut self, profile: &Seccomp) {
        const FIELD: &str = "seccomp";
        self.errno(
            &format!("{FIELD}.defaultErrnoRet"),
            profile.default_errno_ret,
            profile.default_action,
            "defaultAction",
        );
        for (index, name) in profile.architectures.iter().enumerate() {
            self.that(
                SECCOMP_ARCHITECTURES.contains(&name.as_str()),
                &format!("{FIELD}.architectures[{index}]"),
                || {
                    format!(
                        "{name:?} is not an architecture libseccomp knows; one of {}",
                        SECCOMP_ARCHITECTURES.join(", ")
                    )
                },
            );
        }
        for (index, flag) in profile.flags.iter().enumerate() {
            self.that(
                SECCOMP_FLAGS.contains(&flag.as_str()),
                &format!("{FIELD}.flags[{index}]"),
                || {
                    format!(
                        "{flag:?} is not a filter flag; one of {}",
                        SECCOMP_FLAGS.join(", ")
                    )
                },
            );
        }
        let total: usize = profile.syscalls.iter().map(|rule| rule.names.len()).sum();
        self.that(
            total <= MAX_SECCOMP_NAMES,
            &format!("{FIELD}.syscalls"),
            || {
                format!(
                    "{total} system call names over all rules; at most {MAX_SECCOMP_NAMES}, so the filter stays small enough to compile"
                )
            },
        );
        for (index, rule) in profile.syscalls.iter().enumerate() {
            self.syscall_rule(&format!("{FIELD}.syscalls[{index}]"), rule);
        }
    }

    fn errno(&mut self, path: &str, errno: Option<u32>, action: SeccompAction, field: &str) {
        let Some(errno) = errno else {
            return;
        };
        if !action.takes_errno() {
            self.fail(
                path,
                format!(
                    "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno; {field} is {}",
                    action.as_str()
                ),
            );
        }
        self.that((1..=MAX_ERRNO).contains(&errno), path, || {
            format!("{errno} is not an errno from 1 to {MAX_ERRNO}")
        });
    }

    fn syscall_rule(&mut self, path: &str, rule: &SyscallRule) {
        self.that(!rule.names.is_empty(), &format!("{path}.names"), || {
            "must name at least one system call".into()
        });
        for (index, name) in rule.names.iter().enumerate() {
            self.that(is_syscall_name(name), &format!("{path}.names[{index}]"), || {
                format!(
                    "{name:?} is not a system call name: 1 to {MAX_SYSCALL_NAME} characters of a-z, 0-9 and '_'"
                )
            });
        }
        self.errno(
            &format!("{path}.errnoRet"),
            rule.errno_ret,
            rule.action,
            "action",
        );
        self.that(rule.args.len() <= SYSCALL_ARGS, &format!("{path}.args"), || {
            format!(
                "{} conditions; a system call has {SYSCALL_ARGS} arguments and a rule compares each at most once",
                rule.args.len()
            )
        });
        for (index, arg) in rule.args.iter().enumerate() {
            let arg_path = format!("{path}.args[{index}]");
            let in_range = usize::try_from(arg.index).is_ok_and(|i| i < SYSCALL_ARGS);
            self.that(in_range, &format!("{arg_path}.index"), || {
                format!(
                    "{} is not an argument index from 0 to {}",
                    arg.index,
                    SYSCALL_ARGS - 1
                )
            });
            if let Some(first) = rule.args[..index]
                .iter()
                .position(|other| other.index == arg.index)
            {
                self.fail(
                    format!("{arg_path}.index"),
                    format!(
                        "argument {} is already compared by {path}.args[{first}]: one condition per argument in a rule (runtimes disagree on what two mean); write two rules for either condition",
                        arg.index
                    ),
                );
            }
            self.that(
                arg.value_two == 0 || arg.op == SeccompOperator::MaskedEqual,
                &format!("{arg_path}.valueTwo"),
                || {
                    format!(
                        "only SCMP_CMP_MASKED_EQ uses valueTwo; op is {}",
                        arg.op.as_str()
                    )
                },
            );
        }
    }

    /// `privateHostIds`: a new user namespace, and no id maps of its own.
    pub(super) fn private_host_ids(&mut self, decision: &Decision) {
        if !decision.private_host_ids {
            return;
        }
        let creates_user = decision
            .namespaces
            .iter()
            .any(|ns| ns.kind == NamespaceType::User && ns.path.is_none());
        self.that(creates_user, "privateHostIds", || {
            "needs a new user namespace (add {\"type\": \"user\"} to namespaces)".into()
        });
        self.that(
            decision.uid_mappings.is_empty() && decision.gid_mappings.is_empty(),
            "privateHostIds",
            || {
                "the leased host range is the id map (ids 0 to 65535): leave uidMappings and gidMappings out".into()
            },
        );
    }
}

/// `a=, b= or c=` for error messages.
fn key_list(keys: &[&str]) -> String {
    let keys: Vec<String> = keys.iter().map(|key| format!("{key}=")).collect();
    match keys.split_last() {
        None => "none".into(),
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use crate::decision::{IdMapping, SyscallArg};
    use crate::host::typical_host;
    use crate::validate;

    use super::*;

    /// Every violation as `path: message`.
    fn violations(decision: Decision) -> Vec<(String, String)> {
        match validate(decision, &typical_host(), "job") {
            Ok(_) => Vec::new(),
            Err(error) => error
                .violations
                .into_iter()
                .map(|v| (v.path, v.message))
                .collect(),
        }
    }

    /// Asserts a violation at exactly `path` whose message contains `needle`.
    #[track_caller]
    fn assert_violation(decision: Decision, path: &str, needle: &str) {
        let found = violations(decision);
        assert!(
            found.iter().any(|(p, m)| p == path && m.contains(needle)),
            "expected {path}: ...{needle}... in {found:?}"
        );
    }

    #[track_caller]
    fn assert_valid(decision: Decision) {
        let found = violations(decision);
        assert!(found.is_empty(), "{found:?}");
    }

    fn rooted() -> Decision {
        Decision::allow()
            .namespace(NamespaceType::Mount)
            .readonly_host_root()
    }

    fn mount(kind: Option<&str>, source: Option<&str>, options: &[&str]) -> Mount {
        Mount {
            destination: "/mnt".into(),
            kind: kind.map(String::from),
            source: source.map(String::from),
            options: options.iter().map(|o| o.to_string()).collect(),
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        }
    }

    fn profile(syscalls: Vec<SyscallRule>) -> Seccomp {
        Seccomp {
            default_action: SeccompAction::Errno,
            default_errno_ret: None,
            architectures: Vec::new(),
            flags: Vec::new(),
            syscalls,
        }
    }

    fn rule(names: &[&str], args: Vec<SyscallArg>) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action: SeccompAction::Allow,
            errno_ret: None,
            args,
        }
    }

    fn arg(index: u32, op: SeccompOperator, value_two: u64) -> SyscallArg {
        SyscallArg {
            index,
            value: 1,
            value_two,
            op,
        }
    }

    #[test]
    fn a_full_filesystem_decision_is_valid() {
        let mut idmapped = mount(Some("bind"), Some("/home/alice"), &["rbind", "idmap", "ro"]);
        idmapped.destination = "/work".into();
        assert_valid(
            rooted()
                .namespace(NamespaceType::User)
                .map_ids(0, 100_000, 65_536)
                .tmpfs("/tmp", Some(64 << 20))
                .bind("/srv/data", "/data", false)
                .mount(idmapped)
                .mount(Mount {
                    destination: "/proc".into(),
                    ..mount(
                        Some("proc"),
                        Some("proc"),
                        &["nosuid", "hidepid=invisible", "subset=pid"],
                    )
                })
                .mount(Mount {
                    destination: "/dev/pts".into(),
                    ..mount(
                        Some("devpts"),
                        Some("devpts"),
                        &["newinstance", "ptmxmode=0666", "mode=620", "gid=5"],
                    )
                })
                .mount(mount(None, Some("/"), &["bind"]))
                .mask("/proc/kcore")
                .readonly_path("/proc/sys"),
        );
    }

    #[test]
    fn the_root_needs_a_new_mount_namespace_and_a_clean_path() {
        assert_violation(
            Decision::allow().readonly_host_root(),
            "root",
            "needs a new mount namespace",
        );
        for path in ["relative", "/a/../b", "/a//b", "/a/", "/a/./b", ""] {
            assert_violation(
                Decision::allow()
                    .namespace(NamespaceType::Mount)
                    .root(path, false),
                "root.path",
                "must be an absolute path without",
            );
        }
        assert_valid(
            Decision::allow()
                .namespace(NamespaceType::Mount)
                .root("/srv/rootfs", false),
        );
        let mut joined = Decision::allow().readonly_host_root();
        joined = joined.join_namespace(NamespaceType::Mount, "/proc/1/ns/mnt");
        assert_violation(joined, "root", "needs a new mount namespace");
    }

    #[test]
    fn mounts_masks_and_readonly_paths_need_a_root() {
        let base = Decision::allow().namespace(NamespaceType::Mount);
        assert_violation(base.clone().tmpfs("/tmp", None), "mounts", "they need root");
        assert_violation(
            base.clone().mask("/proc/kcore"),
            "maskedPaths",
            "masks are applied inside the new root",
        );
        assert_violation(
            base.readonly_path("/proc/sys"),
            "readonlyPaths",
            "they need root",
        );
    }

    #[test]
    fn a_containers_masks_and_readonly_paths_need_no_root_but_its_mounts_do() {
        let host = typical_host();
        let masked = Decision::allow()
            .mask("/proc/kcore")
            .readonly_path("/proc/sys");
        assert!(crate::validate_container(masked.clone(), &host, "test").is_ok());
        assert!(crate::validate(masked, &host, "test").is_err());
        let mounted = Decision::allow()
            .namespace(NamespaceType::Mount)
            .tmpfs("/tmp", None);
        assert!(crate::validate_container(mounted, &host, "test").is_err());
    }

    #[test]
    fn destinations_and_paths_are_clean_and_not_the_root() {
        let mut at_root = mount(Some("tmpfs"), None, &[]);
        at_root.destination = "/".into();
        assert_violation(
            rooted().mount(at_root),
            "mounts[0].destination",
            "and not '/'",
        );
        assert_violation(
            rooted().tmpfs("/tmp/../etc", None),
            "mounts[0].destination",
            "'..'",
        );
        assert_violation(
            rooted().mask("/proc/kcore").mask("proc/keys"),
            "maskedPaths[1]",
            "absolute",
        );
        assert_violation(rooted().readonly_path("/"), "readonlyPaths[0]", "not '/'");
        assert_violation(rooted().readonly_path("/a\0b"), "readonlyPaths[0]", "NUL");
    }

    #[test]
    fn mount_types_are_known_and_only_a_bind_may_omit_one() {
        assert_violation(
            rooted().mount(mount(Some("ext4"), Some("/dev/sda1"), &[])),
            "mounts[0].type",
            "\"ext4\" is not a mount type the enforcer knows; one of tmpfs, bind, proc",
        );
        assert_violation(
            rooted().mount(mount(None, Some("tmpfs"), &["nosuid"])),
            "mounts[0].type",
            "only a bind mount",
        );
        assert_violation(
            rooted().mount(mount(Some("tmpfs"), Some("/etc"), &["rbind"])),
            "mounts[0].type",
            "a bind mount has type \"bind\"",
        );
    }

    #[test]
    fn a_bind_mount_needs_a_clean_source() {
        assert_violation(
            rooted().mount(mount(Some("bind"), None, &["rbind"])),
            "mounts[0].source",
            "a bind mount needs the host path",
        );
        assert_violation(
            rooted().bind("etc/../..", "/mnt", false),
            "mounts[0].source",
            "absolute",
        );
    }

    #[test]
    fn mount_options_are_known_words_or_data_of_their_type() {
        let options =
            |kind: &str, options: &[&str]| rooted().mount(mount(Some(kind), Some(kind), options));
        assert_violation(
            options("tmpfs", &["nosuid", "sync"]),
            "mounts[0].options[1]",
            "\"sync\" is not a mount option the enforcer knows; one of bind rbind ro",
        );
        assert_violation(
            options("tmpfs", &["hidepid=2"]),
            "mounts[0].options[0]",
            "a tmpfs mount takes size=, mode=, uid=, gid= or nr_inodes=",
        );
        assert_violation(
            options("sysfs", &["size=1m"]),
            "mounts[0].options[0]",
            "a sysfs mount takes no key=value data",
        );
        assert_violation(
            rooted().bind("/srv", "/mnt", false).mount(Mount {
                destination: "/b".into(),
                ..mount(Some("bind"), Some("/srv"), &["rbind", "size=1m"])
            }),
            "mounts[1].options[1]",
            "a bind mount takes no key=value data",
        );
        // What the root builder would refuse is refused here, before
        // anything is created.
        assert_violation(
            options("tmpfs", &["rshared"]),
            "mounts[0].options[0]",
            "\"rshared\": a sandbox's mounts never propagate to the host",
        );
        assert_violation(
            options("tmpfs", &["norelatime"]),
            "mounts[0].options[0]",
            "\"norelatime\" is not a mount option the enforcer knows",
        );
        for (bad, needle) in [
            ("size=12q", "size must be a number"),
            ("size=", "size must be a number"),
            ("mode=8", "octal mode up to 07777"),
            ("mode=17777", "octal mode up to 07777"),
            ("uid=-1", "a decimal id"),
            ("nr_inodes=x", "nr_inodes must be"),
        ] {
            assert_violation(options("tmpfs", &[bad]), "mounts[0].options[0]", needle);
        }
        for good in [
            "size=64m",
            "size=1G",
            "size=50%",
            "size=4096",
            "mode=1777",
            "uid=0",
            "nr_inodes=1k",
        ] {
            assert_valid(options("tmpfs", &[good]));
        }
        assert_violation(
            options("proc", &["hidepid=3"]),
            "mounts[0].options[0]",
            "one of 0, 1, 2, invisible, noaccess, ptraceable",
        );
        assert_violation(
            options("proc", &["subset=sys"]),
            "mounts[0].options[0]",
            "subset must be pid",
        );
        assert_violation(
            options("tmpfs", &["newinstance"]),
            "mounts[0].options[0]",
            "a devpts option",
        );
    }

    #[test]
    fn idmapped_mounts_need_a_bind_a_user_namespace_and_paired_maps() {
        assert_violation(
            rooted().mount(mount(Some("bind"), Some("/srv"), &["rbind", "idmap"])),
            "mounts[0].options[1]",
            "\"idmap\" needs a new user namespace",
        );
        let user = rooted()
            .namespace(NamespaceType::User)
            .map_ids(0, 100_000, 65_536);
        assert_violation(
            user.clone().mount(mount(Some("tmpfs"), None, &["ridmap"])),
            "mounts[0].options[0]",
            "\"ridmap\" needs a bind mount",
        );
        let map = vec![IdMapping {
            container_id: 0,
            host_id: 1000,
            size: 1,
        }];
        let mut unmapped = mount(Some("bind"), Some("/srv"), &["rbind"]);
        unmapped.uid_mappings = map.clone();
        unmapped.gid_mappings = map.clone();
        assert_violation(
            user.clone().mount(unmapped.clone()),
            "mounts[0].uidMappings",
            "need its idmap or ridmap option",
        );
        let mut half = unmapped;
        half.options.push("idmap".into());
        half.gid_mappings.clear();
        assert_violation(
            user.clone().mount(half.clone()),
            "mounts[0].gidMappings",
            "come together",
        );
        half.gid_mappings = map;
        assert_valid(user.clone().mount(half.clone()));
        half.uid_mappings[0].size = 0;
        assert_violation(
            user.mount(half),
            "mounts[0].uidMappings[0].size",
            "at least 1",
        );
    }

    #[test]
    fn seccomp_errnos_belong_to_errno_actions_and_are_in_range() {
        let mut kill = profile(Vec::new());
        kill.default_action = SeccompAction::KillProcess;
        kill.default_errno_ret = Some(1);
        assert_violation(
            Decision::allow().seccomp(kill),
            "seccomp.defaultErrnoRet",
            "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE return an errno; defaultAction is SCMP_ACT_KILL_PROCESS",
        );
        let mut big = profile(Vec::new());
        big.default_errno_ret = Some(4096);
        assert_violation(
            Decision::allow().seccomp(big),
            "seccomp.defaultErrnoRet",
            "from 1 to 4095",
        );
        let mut allow = rule(&["read"], Vec::new());
        allow.errno_ret = Some(1);
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(&["write"], Vec::new()), allow])),
            "seccomp.syscalls[1].errnoRet",
            "action is SCMP_ACT_ALLOW",
        );
        let mut zero = rule(&["read"], Vec::new());
        zero.action = SeccompAction::Trace;
        zero.errno_ret = Some(0);
        assert_violation(
            Decision::allow().seccomp(profile(vec![zero])),
            "seccomp.syscalls[0].errnoRet",
            "0 is not an errno",
        );
    }

    #[test]
    fn seccomp_rules_name_system_calls() {
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(&[], Vec::new())])),
            "seccomp.syscalls[0].names",
            "at least one system call",
        );
        let long = "a".repeat(65);
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(&["read", "Open", &long], Vec::new())])),
            "seccomp.syscalls[0].names[1]",
            "is not a system call name: 1 to 64 characters of a-z, 0-9 and '_'",
        );
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(&["read", &long], Vec::new())])),
            "seccomp.syscalls[0].names[1]",
            "not a system call name",
        );
        let many: Vec<String> = (0..=MAX_SECCOMP_NAMES)
            .map(|i| format!("call{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(&many, Vec::new())])),
            "seccomp.syscalls",
            "4097 system call names over all rules; at most 4096",
        );
    }

    #[test]
    fn seccomp_conditions_are_one_per_argument_in_range() {
        use SeccompOperator::*;
        let seven: Vec<SyscallArg> = (0..7).map(|i| arg(i % 6, Equal, 0)).collect();
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(&["ioctl"], seven)])),
            "seccomp.syscalls[0].args",
            "7 conditions",
        );
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(
                &["ioctl"],
                vec![arg(0, Equal, 0), arg(6, Equal, 0)],
            )])),
            "seccomp.syscalls[0].args[1].index",
            "6 is not an argument index from 0 to 5",
        );
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(
                &["ioctl"],
                vec![arg(1, GreaterOrEqual, 0), arg(1, LessOrEqual, 0)],
            )])),
            "seccomp.syscalls[0].args[1].index",
            "argument 1 is already compared by seccomp.syscalls[0].args[0]",
        );
        assert_violation(
            Decision::allow().seccomp(profile(vec![rule(&["clone"], vec![arg(0, Equal, 5)])])),
            "seccomp.syscalls[0].args[0].valueTwo",
            "only SCMP_CMP_MASKED_EQ uses valueTwo; op is SCMP_CMP_EQ",
        );
        assert_valid(Decision::allow().seccomp(profile(vec![rule(
            &["clone"],
            vec![arg(0, MaskedEqual, 5)],
        )])));
    }

    #[test]
    fn seccomp_architectures_and_flags_are_known() {
        let mut named = profile(Vec::new());
        named.architectures = vec!["SCMP_ARCH_X86_64".into(), "SCMP_ARCH_VAX".into()];
        named.flags = vec![
            "SECCOMP_FILTER_FLAG_LOG".into(),
            "SECCOMP_FILTER_FLAG_FAST".into(),
        ];
        let found = violations(Decision::allow().seccomp(named));
        assert!(
            found.iter().any(|(p, m)| p == "seccomp.architectures[1]"
                && m.contains("\"SCMP_ARCH_VAX\" is not an architecture libseccomp knows; one of SCMP_ARCH_NATIVE, SCMP_ARCH_X86")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(p, m)| p == "seccomp.flags[1]"
                    && m.contains("one of SECCOMP_FILTER_FLAG_TSYNC")),
            "{found:?}"
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn private_host_ids_need_a_user_namespace_without_maps() {
        assert_violation(
            Decision {
                private_host_ids: true,
                ..Decision::allow()
            },
            "privateHostIds",
            "needs a new user namespace",
        );
        let mut mapped = Decision::allow().root_in_private_user_namespace();
        mapped = mapped.map_ids(0, 100_000, 65_536);
        assert_violation(
            mapped,
            "privateHostIds",
            "leave uidMappings and gidMappings out",
        );
        assert_valid(Decision::allow().root_in_private_user_namespace());
        assert_valid(
            Decision::allow()
                .root_in_private_user_namespace()
                .run_as(65_535, 100),
        );
        let outside = Decision::allow()
            .root_in_private_user_namespace()
            .run_as(65_536, 0);
        assert_violation(
            outside,
            "process.user.uid",
            "not in the private range 0 to 65535",
        );
    }
}
