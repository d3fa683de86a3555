//! The new root's plan: a pure function of the normal decision's
//! filesystem, its device rules, the namespaces the sandbox gets and a few
//! facts the parent read from the host ([`HostFacts`]). The result is the
//! step list the child executes ([`RootfsPlan`], C strings and flags
//! only) and, for the parent's messages, what each step is ([`Label`]).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::{Component, Path, PathBuf};

use nix::libc;
use policy_model::devices::permits;
use policy_model::normal::NormalFilesystem;
use policy_model::{DeviceRule, DeviceType, Mount};

use super::sys;
use super::{Label, RootfsError};

/// The filesystems a decision mount may create.
pub const FILESYSTEMS: &[&str] = &["tmpfs", "proc", "sysfs", "devpts", "mqueue"];

/// The device nodes the minimal `/dev` may hold: `(name, major, minor)`.
pub const DEVICE_NODES: &[(&str, i64, i64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// What the child does to build the root, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsPlan {
    /// An existing host directory the private staging tmpfs is mounted on
    /// (in the sandbox's mount namespace only).
    pub staging: CString,
    /// `root.path` relative to the host's root (`.` for `/`).
    pub root: CString,
    /// Make the new root read-only, recursively.
    pub readonly: bool,
    /// The steps inside the new root.
    pub steps: Vec<Step>,
}

/// A path inside the new root, resolved without following symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Relative to the new root (`a/b`).
    pub path: CString,
    /// Its components, for creating what is missing.
    pub components: Vec<CString>,
    /// Create a missing destination (directories, or an empty file as the
    /// last component with `file`).
    pub create: bool,
    /// The last component is a file (a file bind source).
    pub file: bool,
}

/// One option of a new filesystem: `key=value` or a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsOption {
    /// The key.
    pub key: CString,
    /// The value, if any.
    pub value: Option<CString>,
}

/// A step of the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A new filesystem at the target.
    Filesystem {
        /// Where.
        target: Target,
        /// Its type.
        fstype: CString,
        /// Its `source` (a name).
        source: CString,
        /// Its options.
        options: Vec<FsOption>,
        /// `MOUNT_ATTR_*` of the mount.
        attributes: u64,
    },
    /// A bind mount of a host path (relative to the host's root).
    Bind {
        /// Where.
        target: Target,
        /// The host path, relative to the host's root.
        source: CString,
        /// With every mount below it (`rbind`).
        recursive: bool,
        /// `MOUNT_ATTR_*` set on it (recursively with `recursive`).
        attributes: u64,
    },
    /// A mount the parent prepared (an idmapped bind), attached at the
    /// target.
    Attach {
        /// Where.
        target: Target,
        /// The detached mount (close-on-exec).
        fd: libc::c_int,
    },
    /// A symlink `name` → `link` in the directory `parent`.
    Symlink {
        /// The directory.
        parent: Target,
        /// The link's name.
        name: CString,
        /// What it points to.
        link: CString,
    },
    /// Masks the target: a directory gets an empty read-only tmpfs, a file
    /// the host's `/dev/null`; a missing one is skipped.
    Mask {
        /// The path.
        target: Target,
    },
    /// Binds the target onto itself, read-only recursively; a missing one
    /// is skipped.
    Readonly {
        /// The path.
        target: Target,
    },
    /// Makes the mount at the target read-only (after filling it).
    Seal {
        /// The mount's root.
        target: Target,
    },
}

/// What the parent read from the host for the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Where the staging tmpfs goes: an existing directory (not a symlink).
    pub staging: PathBuf,
    /// The device nodes of [`DEVICE_NODES`] present under the host's `/dev`.
    pub device_nodes: Vec<String>,
    /// Bind sources that are not directories (their destination is
    /// created as a file).
    pub file_sources: Vec<String>,
    /// The sandbox's own cgroup per directory under `/sys/fs/cgroup`
    /// (`memory` → the leaf), or `""` → the leaf when cgroup2 is mounted at
    /// `/sys/fs/cgroup` itself.
    pub cgroups: BTreeMap<String, PathBuf>,
    /// Symlinks directly under the host's `/sys/fs/cgroup` (`cpu` →
    /// `cpu,cpuacct`) whose target is one of `cgroups`.
    pub cgroup_links: BTreeMap<String, String>,
    /// Prepared idmapped mounts: decision mount index → detached mount.
    pub idmapped: BTreeMap<usize, libc::c_int>,
}

/// The namespaces the root is built for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// A new pid namespace (a fresh `/proc`).
    pub pid: bool,
    /// A new network namespace (a fresh `/sys`).
    pub network: bool,
    /// A new ipc namespace (`/dev/mqueue`).
    pub ipc: bool,
    /// A new cgroup namespace (the sandbox's cgroup at `/sys/fs/cgroup`).
    pub cgroup: bool,
}

/// A planned root: the child's steps and the parent's labels, one per step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRootfs {
    /// The child's plan.
    pub plan: RootfsPlan,
    /// What each step is, for messages.
    pub labels: Vec<Label>,
}

const NOSUID_NODEV_NOEXEC: u64 =
    sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV | sys::MOUNT_ATTR_NOEXEC;

/// Plans the new root of `filesystem` (whose `root` is set).
pub fn plan_rootfs(
    filesystem: &NormalFilesystem,
    devices: &[DeviceRule],
    namespaces: Namespaces,
    facts: &HostFacts,
) -> Result<Option<PlannedRootfs>, RootfsError> {
    let Some(root) = &filesystem.root else {
        return Ok(None);
    };
    let root_path = absolute("root.path", &root.path)?;
    // Creating a missing destination writes into the root: never into
    // the host's own root (a read-only root refuses it in the kernel).
    let create = root_path != Path::new("/") || root.readonly;
    let mut builder = Builder::default();
    let covered = |destination: &str| {
        filesystem.mounts.iter().any(|mount| {
            let theirs = mount.destination.trim_end_matches('/');
            destination == mount.destination
                || theirs.is_empty()
                || destination.starts_with(&format!("{theirs}/"))
        })
    };

    // The standard set first, so that decision mounts below it (a tmpfs
    // at /dev/shm) go on top; a destination a decision mount covers (at
    // it or above it) is left to the decision.
    if !covered("/proc") {
        if namespaces.pid {
            builder.filesystem("/proc", "proc", &[], NOSUID_NODEV_NOEXEC, true)?;
        } else {
            let attributes = if root.readonly {
                sys::MOUNT_ATTR_RDONLY
            } else {
                0
            };
            builder.bind("/proc", "/proc", true, attributes, true, false)?;
        }
    }
    if !covered("/sys") {
        let attributes = sys::MOUNT_ATTR_RDONLY | NOSUID_NODEV_NOEXEC;
        if namespaces.network {
            builder.filesystem("/sys", "sysfs", &[], attributes, true)?;
        } else {
            builder.bind("/sys", "/sys", true, attributes, true, false)?;
        }
    }
    if namespaces.cgroup && !covered("/sys/fs/cgroup") && !facts.cgroups.is_empty() {
        let attributes = sys::MOUNT_ATTR_RDONLY | NOSUID_NODEV_NOEXEC;
        if let Some(leaf) = facts.cgroups.get("") {
            builder.bind(
                &leaf.display().to_string(),
                "/sys/fs/cgroup",
                false,
                attributes,
                true,
                false,
            )?;
        } else {
            builder.filesystem(
                "/sys/fs/cgroup",
                "tmpfs",
                &["mode=755", "size=64k"],
                NOSUID_NODEV_NOEXEC,
                true,
            )?;
            for (name, leaf) in &facts.cgroups {
                let destination = format!("/sys/fs/cgroup/{name}");
                builder.bind(
                    &leaf.display().to_string(),
                    &destination,
                    false,
                    attributes,
                    true,
                    false,
                )?;
            }
            for (name, link) in &facts.cgroup_links {
                builder.symlink("/sys/fs/cgroup", name, link)?;
            }
            builder.seal("/sys/fs/cgroup")?;
        }
    }
    if !covered("/dev") {
        builder.filesystem(
            "/dev",
            "tmpfs",
            &["mode=755", "size=65536k"],
            NOSUID_NODEV_NOEXEC,
            true,
        )?;
        for (name, major, minor) in DEVICE_NODES {
            let allowed = ["r", "w"]
                .iter()
                .any(|access| permits(devices, DeviceType::Char, *major, *minor, access));
            if allowed && facts.device_nodes.iter().any(|node| node == name) {
                let path = format!("/dev/{name}");
                builder.bind(
                    &path,
                    &path,
                    false,
                    sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
                    true,
                    true,
                )?;
            }
        }
        if !covered("/dev/pts") {
            builder.filesystem(
                "/dev/pts",
                "devpts",
                &["newinstance", "ptmxmode=0666", "mode=0620"],
                sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NOEXEC,
                true,
            )?;
            builder.symlink("/dev", "ptmx", "pts/ptmx")?;
        }
        if !covered("/dev/shm") {
            builder.filesystem(
                "/dev/shm",
                "tmpfs",
                &["mode=1777"],
                NOSUID_NODEV_NOEXEC,
                true,
            )?;
        }
        if namespaces.ipc && !covered("/dev/mqueue") {
            builder.filesystem("/dev/mqueue", "mqueue", &[], NOSUID_NODEV_NOEXEC, true)?;
        }
        for (name, link) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            builder.symlink("/dev", name, link)?;
        }
    }

    for (index, mount) in filesystem.mounts.iter().enumerate() {
        builder.decision_mount(index, mount, create, facts)?;
    }
    for path in &filesystem.masked_paths {
        let target = target("maskedPaths", path, false, false)?;
        builder.push(Step::Mask { target }, Label::Masked(path.clone()));
    }
    for path in &filesystem.readonly_paths {
        let target = target("readonlyPaths", path, false, false)?;
        builder.push(Step::Readonly { target }, Label::Readonly(path.clone()));
    }

    let relative = root_path
        .strip_prefix("/")
        .ok()
        .filter(|rest| !rest.as_os_str().is_empty())
        .map_or_else(|| ".".to_string(), |rest| rest.display().to_string());
    Ok(Some(PlannedRootfs {
        plan: RootfsPlan {
            staging: c_string("the staging directory", facts.staging.display().to_string())?,
            root: c_string("root.path", relative)?,
            readonly: root.readonly,
            steps: builder.steps,
        },
        labels: builder.labels,
    }))
}

#[derive(Default)]
struct Builder {
    steps: Vec<Step>,
    labels: Vec<Label>,
}

impl Builder {
    fn push(&mut self, step: Step, label: Label) {
        self.steps.push(step);
        self.labels.push(label);
    }

    fn filesystem(
        &mut self,
        destination: &str,
        fstype: &str,
        options: &[&str],
        attributes: u64,
        create: bool,
    ) -> Result<(), RootfsError> {
        let step = Step::Filesystem {
            target: target("the standard set", destination, create, false)?,
            fstype: c_string("a filesystem type", fstype)?,
            source: c_string("a source", fstype)?,
            options: options
                .iter()
                .map(|option| fs_option(option))
                .collect::<Result<_, _>>()?,
            attributes,
        };
        self.push(
            step,
            Label::Standard {
                destination: destination.into(),
                what: fstype.into(),
            },
        );
        Ok(())
    }

    fn bind(
        &mut self,
        source: &str,
        destination: &str,
        recursive: bool,
        attributes: u64,
        create: bool,
        file: bool,
    ) -> Result<(), RootfsError> {
        let step = Step::Bind {
            target: target("the standard set", destination, create, file)?,
            source: c_string("a bind source", relative(source))?,
            recursive,
            attributes,
        };
        self.push(
            step,
            Label::Standard {
                destination: destination.into(),
                what: format!("bind of the host's {source}"),
            },
        );
        Ok(())
    }

    fn symlink(&mut self, directory: &str, name: &str, link: &str) -> Result<(), RootfsError> {
        let step = Step::Symlink {
            parent: target("the standard set", directory, true, false)?,
            name: c_string("a symlink name", name)?,
            link: c_string("a symlink target", link)?,
        };
        self.push(
            step,
            Label::Standard {
                destination: format!("{directory}/{name}"),
                what: format!("symlink to {link}"),
            },
        );
        Ok(())
    }

    fn seal(&mut self, destination: &str) -> Result<(), RootfsError> {
        let step = Step::Seal {
            target: target("the standard set", destination, false, false)?,
        };
        self.push(
            step,
            Label::Standard {
                destination: destination.into(),
                what: "made read-only".into(),
            },
        );
        Ok(())
    }

    fn decision_mount(
        &mut self,
        index: usize,
        mount: &Mount,
        create: bool,
        facts: &HostFacts,
    ) -> Result<(), RootfsError> {
        let field = format!("mounts[{index}]");
        let invalid = |why: String| RootfsError::Mount {
            index,
            destination: mount.destination.clone(),
            why,
        };
        let parsed = parse_options(mount).map_err(invalid)?;
        let label = Label::Mount {
            index,
            kind: mount
                .kind
                .clone()
                .unwrap_or_else(|| if parsed.bind { "bind" } else { "none" }.into()),
            destination: mount.destination.clone(),
            source: mount.source.clone().unwrap_or_default(),
        };
        if parsed.bind {
            let source = mount
                .source
                .as_deref()
                .ok_or_else(|| invalid("a bind mount needs a source".into()))?;
            let source_path = absolute(&format!("{field}.source"), source)?;
            if !parsed.data.is_empty() {
                return Err(invalid(format!(
                    "a bind mount takes no filesystem options ({})",
                    parsed.data.join(",")
                )));
            }
            let file = facts.file_sources.iter().any(|file| file == source);
            let target = target(
                &format!("{field}.destination"),
                &mount.destination,
                create,
                file,
            )?;
            if let Some(fd) = facts.idmapped.get(&index) {
                self.push(Step::Attach { target, fd: *fd }, label);
                return Ok(());
            }
            if parsed.idmap.is_some() {
                return Err(invalid("the idmapped mount was not prepared".into()));
            }
            let step = Step::Bind {
                target,
                source: c_string(
                    &format!("{field}.source"),
                    relative(&source_path.display().to_string()),
                )?,
                recursive: parsed.recursive,
                attributes: parsed.attributes,
            };
            self.push(step, label);
            return Ok(());
        }
        let fstype = mount
            .kind
            .as_deref()
            .ok_or_else(|| invalid("a mount that is not a bind mount needs a type".into()))?;
        if !FILESYSTEMS.contains(&fstype) {
            return Err(invalid(format!(
                "type {fstype:?} is not supported (the enforcer mounts {} and bind mounts)",
                FILESYSTEMS.join(", ")
            )));
        }
        if parsed.idmap.is_some() {
            return Err(invalid("idmap applies to bind mounts only".into()));
        }
        let step = Step::Filesystem {
            target: target(
                &format!("{field}.destination"),
                &mount.destination,
                create,
                false,
            )?,
            fstype: c_string(&format!("{field}.type"), fstype)?,
            source: c_string(
                &format!("{field}.source"),
                mount.source.clone().unwrap_or_else(|| fstype.to_string()),
            )?,
            options: parsed
                .data
                .iter()
                .map(|option| fs_option(option))
                .collect::<Result<_, _>>()?,
            attributes: parsed.attributes,
        };
        self.push(step, label);
        Ok(())
    }
}

/// A decision mount's options, sorted out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedOptions {
    /// `bind`, `rbind` or type `bind`.
    pub bind: bool,
    /// `rbind`, `ridmap`.
    pub recursive: bool,
    /// `MOUNT_ATTR_*` to set.
    pub attributes: u64,
    /// `idmap` (false) or `ridmap` (true).
    pub idmap: Option<bool>,
    /// Filesystem data (`size=64m`, `mode=1777`, `newinstance`).
    pub data: Vec<String>,
}

/// Sorts a mount's options into flags, attributes and filesystem data.
pub fn parse_options(mount: &Mount) -> Result<ParsedOptions, String> {
    let mut parsed = ParsedOptions {
        bind: mount.is_bind(),
        ..ParsedOptions::default()
    };
    for option in &mount.options {
        let (set, clear) = match option.as_str() {
            "bind" => (0, 0),
            "rbind" => {
                parsed.recursive = true;
                (0, 0)
            }
            "idmap" => {
                parsed.idmap = Some(false);
                (0, 0)
            }
            "ridmap" => {
                parsed.idmap = Some(true);
                parsed.recursive = true;
                (0, 0)
            }
            "ro" => (sys::MOUNT_ATTR_RDONLY, 0),
            "rw" => (0, sys::MOUNT_ATTR_RDONLY),
            "nosuid" => (sys::MOUNT_ATTR_NOSUID, 0),
            "suid" => (0, sys::MOUNT_ATTR_NOSUID),
            "nodev" => (sys::MOUNT_ATTR_NODEV, 0),
            "dev" => (0, sys::MOUNT_ATTR_NODEV),
            "noexec" => (sys::MOUNT_ATTR_NOEXEC, 0),
            "exec" => (0, sys::MOUNT_ATTR_NOEXEC),
            "nosymfollow" => (sys::MOUNT_ATTR_NOSYMFOLLOW, 0),
            "nodiratime" => (sys::MOUNT_ATTR_NODIRATIME, 0),
            "noatime" | "strictatime" | "relatime" => {
                let atime = match option.as_str() {
                    "noatime" => sys::MOUNT_ATTR_NOATIME,
                    "strictatime" => sys::MOUNT_ATTR_STRICTATIME,
                    _ => sys::MOUNT_ATTR_RELATIME,
                };
                (atime, sys::MOUNT_ATTR_ATIME)
            }
            // Every mount inside the sandbox is private already.
            "private" | "rprivate" | "slave" | "rslave" | "unbindable" | "runbindable" => (0, 0),
            "shared" | "rshared" => {
                return Err(format!(
                    "option {option:?}: a sandbox's mounts never propagate to the host"
                ));
            }
            "remount" | "move" => {
                return Err(format!("option {option:?} is not a mount option here"));
            }
            data => {
                parsed.data.push(data.to_string());
                (0, 0)
            }
        };
        parsed.attributes = (parsed.attributes & !clear) | set;
    }
    if parsed.idmap.is_some() && !parsed.bind {
        return Err("idmap applies to bind mounts only".into());
    }
    Ok(parsed)
}

fn fs_option(option: &str) -> Result<FsOption, RootfsError> {
    let (key, value) = match option.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (option, None),
    };
    Ok(FsOption {
        key: c_string("a mount option", key)?,
        value: value
            .map(|value| c_string("a mount option", value))
            .transpose()?,
    })
}

/// An absolute, normal path (no `.`, `..` or empty components).
fn absolute(field: &str, path: &str) -> Result<PathBuf, RootfsError> {
    let candidate = Path::new(path);
    let normal = candidate.is_absolute()
        && !path
            .split('/')
            .skip(1)
            .any(|part| part == "." || part == "..")
        && candidate
            .components()
            .all(|component| matches!(component, Component::RootDir | Component::Normal(_)));
    if !normal {
        return Err(RootfsError::Path {
            field: field.into(),
            path: path.into(),
        });
    }
    Ok(candidate.to_path_buf())
}

fn relative(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    if rest.is_empty() {
        ".".into()
    } else {
        rest.into()
    }
}

fn target(field: &str, destination: &str, create: bool, file: bool) -> Result<Target, RootfsError> {
    let path = absolute(field, destination)?;
    let components: Vec<CString> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .map(|name| c_string(field, name))
        .collect::<Result<_, _>>()?;
    if components.is_empty() {
        return Err(RootfsError::Path {
            field: field.into(),
            path: destination.into(),
        });
    }
    Ok(Target {
        path: c_string(field, relative(destination))?,
        components,
        create,
        file,
    })
}

fn c_string(what: &str, text: impl Into<String>) -> Result<CString, RootfsError> {
    CString::new(text.into()).map_err(|_| RootfsError::Nul { what: what.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_model::Root;

    fn filesystem(mounts: Vec<Mount>) -> NormalFilesystem {
        NormalFilesystem {
            root: Some(Root {
                path: "/".into(),
                readonly: true,
            }),
            mounts,
            masked_paths: ["/proc/kcore".to_string()].into(),
            readonly_paths: ["/proc/sys".to_string()].into(),
        }
    }

    fn tmpfs(destination: &str) -> Mount {
        Mount {
            destination: destination.into(),
            kind: Some("tmpfs".into()),
            source: Some("tmpfs".into()),
            options: vec!["nosuid".into(), "size=64m".into(), "mode=1777".into()],
            uid_mappings: vec![],
            gid_mappings: vec![],
        }
    }

    fn facts() -> HostFacts {
        HostFacts {
            staging: "/tmp".into(),
            device_nodes: DEVICE_NODES.iter().map(|node| node.0.to_string()).collect(),
            cgroups: [
                (
                    "memory".to_string(),
                    PathBuf::from("/sys/fs/cgroup/memory/r/s/job"),
                ),
                (
                    "unified".to_string(),
                    PathBuf::from("/sys/fs/cgroup/unified/r/s/job"),
                ),
            ]
            .into(),
            ..HostFacts::default()
        }
    }

    fn all() -> Namespaces {
        Namespaces {
            pid: true,
            network: true,
            ipc: true,
            cgroup: true,
        }
    }

    fn destinations(planned: &PlannedRootfs) -> Vec<String> {
        planned
            .labels
            .iter()
            .map(|label| label.destination().to_string())
            .collect()
    }

    #[test]
    fn no_root_plans_nothing() {
        let mut fs = filesystem(vec![]);
        fs.root = None;
        assert_eq!(plan_rootfs(&fs, &[], all(), &facts()).expect("plans"), None);
    }

    #[test]
    fn the_standard_set_comes_first_then_mounts_masks_and_readonly_paths() {
        let planned = plan_rootfs(&filesystem(vec![tmpfs("/tmp")]), &[], all(), &facts())
            .expect("plans")
            .expect("a root");
        assert_eq!(planned.plan.root.as_bytes(), b".");
        assert!(planned.plan.readonly);
        assert_eq!(
            destinations(&planned),
            [
                "/proc",
                "/sys",
                "/sys/fs/cgroup",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/unified",
                "/sys/fs/cgroup",
                "/dev",
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/pts",
                "/dev/ptmx",
                "/dev/shm",
                "/dev/mqueue",
                "/dev/fd",
                "/dev/stdin",
                "/dev/stdout",
                "/dev/stderr",
                "/tmp",
                "/proc/kcore",
                "/proc/sys",
            ]
        );
        let Step::Filesystem {
            target,
            fstype,
            options,
            attributes,
            ..
        } = &planned.plan.steps[21]
        else {
            panic!("{:?}", planned.plan.steps[21]);
        };
        assert_eq!(target.path.as_bytes(), b"tmp");
        assert_eq!(fstype.as_bytes(), b"tmpfs");
        assert_eq!(options.len(), 2);
        assert_eq!(options[0].key.as_bytes(), b"size");
        assert_eq!(options[0].value.as_deref(), Some(c"64m"));
        assert_eq!(*attributes, sys::MOUNT_ATTR_NOSUID);
        // A read-only host root: creating a destination is attempted (the
        // kernel refuses it on the read-only root).
        assert!(target.create);
        assert_eq!(
            planned.labels[21].to_string(),
            "mount 0 (tmpfs at /tmp, source tmpfs)"
        );
    }

    #[test]
    fn without_new_namespaces_the_hosts_proc_and_sys_are_bound() {
        let planned = plan_rootfs(&filesystem(vec![]), &[], Namespaces::default(), &facts())
            .expect("plans")
            .expect("a root");
        let Step::Bind {
            source,
            recursive,
            attributes,
            ..
        } = &planned.plan.steps[0]
        else {
            panic!("{:?}", planned.plan.steps[0]);
        };
        assert_eq!(source.as_bytes(), b"proc");
        assert!(*recursive);
        assert_eq!(*attributes, sys::MOUNT_ATTR_RDONLY);
        let Step::Bind {
            source, attributes, ..
        } = &planned.plan.steps[1]
        else {
            panic!("{:?}", planned.plan.steps[1]);
        };
        assert_eq!(source.as_bytes(), b"sys");
        assert_ne!(*attributes & sys::MOUNT_ATTR_RDONLY, 0);
        let names = destinations(&planned);
        assert!(
            !names.iter().any(|name| name.starts_with("/sys/fs/cgroup")),
            "{names:?}"
        );
        assert!(!names.contains(&"/dev/mqueue".to_string()), "{names:?}");
    }

    #[test]
    fn decision_mounts_cover_the_standard_set_at_and_below_them() {
        let mut dev = tmpfs("/dev");
        dev.options = vec!["mode=755".into()];
        let planned = plan_rootfs(&filesystem(vec![dev, tmpfs("/proc")]), &[], all(), &facts())
            .expect("plans")
            .expect("a root");
        let names = destinations(&planned);
        assert_eq!(
            names.iter().filter(|name| *name == "/proc").count(),
            1,
            "{names:?}"
        );
        assert!(
            !names.iter().any(|name| name.starts_with("/dev/")),
            "{names:?}"
        );
    }

    #[test]
    fn dev_holds_only_the_nodes_the_device_rules_allow() {
        let rules = vec![
            DeviceRule::deny_all(),
            DeviceRule::allow_char(1, Some(3), "rwm"),
            DeviceRule::allow_char(1, Some(9), "r"),
        ];
        let planned = plan_rootfs(&filesystem(vec![]), &rules, all(), &facts())
            .expect("plans")
            .expect("a root");
        let names = destinations(&planned);
        let nodes: Vec<&String> = names
            .iter()
            .filter(|name| {
                DEVICE_NODES
                    .iter()
                    .any(|node| **name == format!("/dev/{}", node.0))
            })
            .collect();
        assert_eq!(nodes, ["/dev/null", "/dev/urandom"]);
    }

    #[test]
    fn binds_sort_their_options_and_file_sources_become_files() {
        let bind = Mount {
            destination: "/etc/hosts".into(),
            kind: Some("bind".into()),
            source: Some("/srv/hosts".into()),
            options: vec![
                "rbind".into(),
                "ro".into(),
                "nodev".into(),
                "rw".into(),
                "ro".into(),
            ],
            uid_mappings: vec![],
            gid_mappings: vec![],
        };
        let mut facts = facts();
        facts.file_sources = vec!["/srv/hosts".into()];
        let mut fs = filesystem(vec![bind]);
        fs.root = Some(Root {
            path: "/srv/root".into(),
            readonly: false,
        });
        let planned = plan_rootfs(&fs, &[], all(), &facts)
            .expect("plans")
            .expect("a root");
        assert_eq!(planned.plan.root.as_bytes(), b"srv/root");
        let step = planned
            .plan
            .steps
            .iter()
            .find(|step| matches!(step, Step::Bind { target, .. } if target.path.as_bytes() == b"etc/hosts"))
            .expect("the bind");
        let Step::Bind {
            target,
            source,
            recursive,
            attributes,
        } = step
        else {
            unreachable!()
        };
        assert_eq!(source.as_bytes(), b"srv/hosts");
        assert!(*recursive && target.file && target.create);
        assert_eq!(*attributes, sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NODEV);
        assert_eq!(target.components, [c"etc".to_owned(), c"hosts".to_owned()]);
    }

    #[test]
    fn a_writable_host_root_never_creates_destinations() {
        let mut fs = filesystem(vec![tmpfs("/scratch")]);
        fs.root = Some(Root {
            path: "/".into(),
            readonly: false,
        });
        let planned = plan_rootfs(&fs, &[], all(), &facts())
            .expect("plans")
            .expect("a root");
        let Some(Step::Filesystem { target, .. }) = planned.plan.steps.iter().find(
            |step| matches!(step, Step::Filesystem { target, .. } if target.path.as_bytes() == b"scratch"),
        ) else {
            panic!("no /scratch");
        };
        assert!(!target.create);
    }

    #[test]
    fn idmap_and_ridmap_are_bind_options() {
        let bind = |options: &[&str]| Mount {
            destination: "/job".into(),
            kind: Some("bind".into()),
            source: Some("/srv/job".into()),
            options: options.iter().map(|option| option.to_string()).collect(),
            uid_mappings: vec![],
            gid_mappings: vec![],
        };
        let parsed = parse_options(&bind(&["bind", "idmap", "ro"])).expect("parses");
        assert_eq!((parsed.idmap, parsed.recursive), (Some(false), false));
        assert_eq!(parsed.attributes, sys::MOUNT_ATTR_RDONLY);
        let parsed = parse_options(&bind(&["ridmap", "noatime"])).expect("parses");
        assert_eq!((parsed.idmap, parsed.recursive), (Some(true), true));
        assert_eq!(parsed.attributes, sys::MOUNT_ATTR_NOATIME);
        let not_bind = Mount {
            kind: Some("tmpfs".into()),
            ..bind(&["idmap"])
        };
        assert!(parse_options(&not_bind).is_err());
        // Planned without the parent's prepared mount: refused, never
        // bound without its idmapping.
        let error = plan_rootfs(
            &filesystem(vec![bind(&["bind", "idmap"])]),
            &[],
            all(),
            &facts(),
        )
        .expect_err("refused");
        assert!(error.to_string().contains("was not prepared"), "{error}");
        let mut prepared = facts();
        prepared.idmapped.insert(0, 42);
        let planned = plan_rootfs(
            &filesystem(vec![bind(&["bind", "idmap"])]),
            &[],
            all(),
            &prepared,
        )
        .expect("plans")
        .expect("a root");
        assert!(
            planned
                .plan
                .steps
                .iter()
                .any(|step| matches!(step, Step::Attach { fd: 42, .. }))
        );
    }

    #[test]
    fn bad_mounts_are_refused_with_their_index() {
        let cases = [
            (tmpfs("relative"), "mounts[0].destination"),
            (tmpfs("/a/../etc"), "mounts[0]"),
            (tmpfs("/"), "mounts[0]"),
            (
                Mount {
                    kind: Some("ext4".into()),
                    ..tmpfs("/data")
                },
                "type \"ext4\" is not supported",
            ),
            (
                Mount {
                    kind: Some("bind".into()),
                    source: None,
                    ..tmpfs("/data")
                },
                "needs a source",
            ),
            (
                Mount {
                    options: vec!["rshared".into()],
                    ..tmpfs("/data")
                },
                "never propagate",
            ),
        ];
        for (mount, needle) in cases {
            let error = plan_rootfs(&filesystem(vec![mount.clone()]), &[], all(), &facts())
                .expect_err("refused")
                .to_string();
            assert!(error.contains(needle), "{mount:?}: {error}");
        }
    }
}
