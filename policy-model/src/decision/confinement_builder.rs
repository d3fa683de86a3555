//! Builders for the filesystem, seccomp and private-id fields.

use super::{Decision, Mount, NamespaceType, Root, Seccomp};

impl Decision {
    /// Builds a new root from `path` (`/`: the host's root) and
    /// `pivot_root`s into it; `readonly` mounts it read-only, every mount
    /// below it too.
    pub fn root(mut self, path: impl Into<String>, readonly: bool) -> Decision {
        self.root = Some(Root {
            path: path.into(),
            readonly,
        });
        self
    }

    /// The host's root, read-only, as the sandbox's root.
    pub fn readonly_host_root(self) -> Decision {
        self.root("/", true)
    }

    /// Appends a mount (applied in order, inside the new root).
    pub fn mount(mut self, mount: Mount) -> Decision {
        self.mounts.push(mount);
        self
    }

    /// Appends a private tmpfs at `destination` (`nosuid`, `nodev`, mode
    /// 1777), of at most `size_bytes`, or the kernel's default (half of
    /// memory) with `None`.
    pub fn tmpfs(self, destination: impl Into<String>, size_bytes: Option<u64>) -> Decision {
        let mut options = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "mode=1777".to_string(),
        ];
        if let Some(size) = size_bytes {
            options.push(format!("size={size}"));
        }
        self.mount(Mount {
            destination: destination.into(),
            kind: Some("tmpfs".into()),
            source: Some("tmpfs".into()),
            options,
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        })
    }

    /// Appends a recursive bind mount of the host's `source` at
    /// `destination`, read-only unless `writable`, `nosuid` and `nodev`.
    pub fn bind(
        self,
        source: impl Into<String>,
        destination: impl Into<String>,
        writable: bool,
    ) -> Decision {
        let access = if writable { "rw" } else { "ro" };
        self.mount(Mount {
            destination: destination.into(),
            kind: Some("bind".into()),
            source: Some(source.into()),
            options: ["rbind", access, "nosuid", "nodev"]
                .map(String::from)
                .to_vec(),
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        })
    }

    /// [`Decision::bind`] as an idmapped mount (`idmap`): the files of the
    /// sandbox's user namespace's host ids appear as their ids inside (a
    /// root caller's files as the sandbox root's). Needs a new user
    /// namespace.
    pub fn idmapped_bind(
        self,
        source: impl Into<String>,
        destination: impl Into<String>,
        writable: bool,
    ) -> Decision {
        let mut decision = self.bind(source, destination, writable);
        if let Some(mount) = decision.mounts.last_mut() {
            mount.options.push("idmap".into());
        }
        decision
    }

    /// Hides `path` from the workload (a directory reads as empty, a file
    /// as `/dev/null`), as OCI `maskedPaths`.
    pub fn mask(mut self, path: impl Into<String>) -> Decision {
        let path = path.into();
        if !self.masked_paths.contains(&path) {
            self.masked_paths.push(path);
        }
        self
    }

    /// Makes `path` read-only, as OCI `readonlyPaths`.
    pub fn readonly_path(mut self, path: impl Into<String>) -> Decision {
        let path = path.into();
        if !self.readonly_paths.contains(&path) {
            self.readonly_paths.push(path);
        }
        self
    }

    /// Sets the system call filter.
    pub fn seccomp(mut self, profile: Seccomp) -> Decision {
        self.seccomp = Some(profile);
        self
    }

    /// A new user namespace whose ids 0 to 65535 map to a host range the
    /// enforcer leases to this sandbox alone, with the workload as its
    /// root ([`Decision::as_container_root`]): no other sandbox shares a
    /// host id with it.
    pub fn root_in_private_user_namespace(self) -> Decision {
        self.private_user_namespace().as_container_root()
    }

    /// A new user namespace mapped to a host range leased to this sandbox
    /// alone (ids 0 to 65535), leaving the workload's user as it is.
    pub fn private_user_namespace(mut self) -> Decision {
        self = self.namespace(NamespaceType::User);
        self.uid_mappings.clear();
        self.gid_mappings.clear();
        self.private_host_ids = true;
        self
    }
}

/// The paths container runtimes mask by default (containerd's and
/// runc's spec defaults): kernel interfaces that leak host state or give
/// an attacker a handle on the kernel.
pub const OCI_MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// The paths container runtimes make read-only by default.
pub const OCI_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

impl Decision {
    /// Masks [`OCI_MASKED_PATHS`] and makes [`OCI_READONLY_PATHS`]
    /// read-only, as container runtimes do by default.
    pub fn oci_default_masks(self) -> Decision {
        let masked = OCI_MASKED_PATHS.iter().fold(self, |d, path| d.mask(*path));
        OCI_READONLY_PATHS
            .iter()
            .fold(masked, |d, path| d.readonly_path(*path))
    }

    /// The workload's working directory (`process.cwd`).
    pub fn working_directory(mut self, path: impl Into<String>) -> Decision {
        self.process.get_or_insert_with(Default::default).cwd = Some(path.into());
        self
    }

    /// Appends a mount of an empty tmpfs at `destination` with `mode`
    /// (octal, e.g. `0o755`), `nosuid`, `nodev`, of at most `size_bytes`:
    /// hides what the root has there.
    pub fn empty_tmpfs(
        self,
        destination: impl Into<String>,
        mode: u32,
        size_bytes: u64,
    ) -> Decision {
        self.mount(Mount {
            destination: destination.into(),
            kind: Some("tmpfs".into()),
            source: Some("tmpfs".into()),
            options: vec![
                "nosuid".into(),
                "nodev".into(),
                format!("mode={mode:o}"),
                format!("size={size_bytes}"),
            ],
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
        })
    }
}
