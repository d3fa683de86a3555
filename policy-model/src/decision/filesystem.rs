//! The sandbox's filesystem: its root, its mounts, and the paths masked or
//! made read-only (OCI `root`, `mounts[]`, `linux.maskedPaths`,
//! `linux.readonlyPaths`).

use serde::{Deserialize, Serialize};

use super::IdMapping;

/// The filesystem types a mount may have (`type`); a bind mount may
/// leave it out.
pub const MOUNT_TYPES: [&str; 8] = [
    "tmpfs", "bind", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
];

/// The option words a mount may list (besides `key=value` filesystem
/// data, and `newinstance` for `devpts`): exactly the words the enforcer's
/// root builder applies. Not `shared`/`rshared` (a sandbox's mounts never
/// propagate to the host, see [`PROPAGATING`]).
pub const MOUNT_FLAGS: [&str; 23] = [
    "bind",
    "rbind",
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "private",
    "rprivate",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "relatime",
    "strictatime",
    "noatime",
    "nodiratime",
    "idmap",
    "ridmap",
    "newinstance",
];

/// The propagation words refused: every mount of a sandbox is private.
pub const PROPAGATING: [&str; 2] = ["shared", "rshared"];

/// The restricting option words, each with the word that undoes it: a
/// later word of a pair overrides an earlier one.
pub const RESTRICTIONS: [(&str, &str); 4] = [
    ("ro", "rw"),
    ("nosuid", "suid"),
    ("nodev", "dev"),
    ("noexec", "exec"),
];

/// The sandbox's root filesystem (OCI `root`).
///
/// Absent from a decision: the workload keeps the host's root as it is (no
/// `pivot_root`). Present: the enforcer builds a new root in the new mount
/// namespace from `path` (`/` is the host's root, bind-mounted), applies
/// the decision's mounts, masks and read-only paths, then `pivot_root`s
/// into it and detaches the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Root {
    /// The directory that becomes `/` (absolute; a bundle's is resolved
    /// against the bundle directory before the policy sees it).
    pub path: String,
    /// Mount it read-only (recursively, every mount below it too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly: bool,
}

/// One mount, in order, inside the new root (OCI `mounts[]`).
///
/// `options` are the OCI/`mount(8)` words: `bind`, `rbind`, `ro`, `rw`,
/// `nosuid`, `nodev`, `noexec`, `private`, `rprivate`, `slave`, ...,
/// `idmap`, `ridmap`, and filesystem data such as `size=64m`, `mode=1777`
/// or `hidepid=2`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mount {
    /// Where, inside the new root (absolute), resolved without leaving it.
    pub destination: String,
    /// The filesystem type (`tmpfs`, `proc`, `bind`, ...); a bind mount
    /// may leave it out.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A host path for a bind mount, a device or a name otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Mount options and filesystem data, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// An idmapped bind mount's uid map; with `idmap` and no maps, the
    /// sandbox's user namespace maps are used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// An idmapped bind mount's gid map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
}

impl Mount {
    /// A bind mount is one whose options say `bind` or `rbind`, or whose
    /// type is `bind`: it exposes a host path.
    pub fn is_bind(&self) -> bool {
        self.kind.as_deref() == Some("bind")
            || self
                .options
                .iter()
                .any(|option| option == "bind" || option == "rbind")
    }

    /// Whether its options make it read-only (`ro` after any `rw`).
    pub fn is_readonly(&self) -> bool {
        self.restricts("ro")
    }

    /// Whether the restricting option `word` (`ro`, `nosuid`, `nodev`,
    /// `noexec`; see [`RESTRICTIONS`]) is in effect: it is listed, and
    /// not undone by its opposite after it.
    pub fn restricts(&self, word: &str) -> bool {
        let opposite = RESTRICTIONS
            .iter()
            .find(|(restriction, _)| *restriction == word)
            .map(|(_, opposite)| *opposite);
        self.options
            .iter()
            .rev()
            .find(|option| *option == word || Some(option.as_str()) == opposite)
            .is_some_and(|option| option == word)
    }

    /// The restricting options in effect, in [`RESTRICTIONS`] order.
    pub fn restrictions(&self) -> Vec<&'static str> {
        RESTRICTIONS
            .iter()
            .map(|(word, _)| *word)
            .filter(|word| self.restricts(word))
            .collect()
    }

    /// Whether it is an idmapped mount (`idmap` or `ridmap`).
    pub fn is_idmapped(&self) -> bool {
        self.options
            .iter()
            .any(|option| option == "idmap" || option == "ridmap")
    }
}
