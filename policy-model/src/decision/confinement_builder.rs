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

    /// Runs the workload as the caller `uid:gid` (pass `request.user.uid`
    /// and `request.user.gid`), safely:
    ///
    /// * a non-root caller runs as itself with every capability set empty
    ///   and `noNewPrivileges` ([`Decision::unprivileged`]): it can do no
    ///   more than it could before;
    /// * a root caller (uid 0) runs as root only inside a new user
    ///   namespace whose ids 0 to 65535 map to a host range the enforcer
    ///   leases to this sandbox alone
    ///   ([`Decision::root_in_private_user_namespace`], as the default
    ///   policy does): its capabilities reach what the namespace owns,
    ///   never the host, and it is never host uid 0.
    ///
    /// Why not `.unprivileged(request.user.uid, request.user.gid)`: for a
    /// root caller that is host uid 0 with no capabilities, and uid 0
    /// needs none to write every file root owns (a root-owned 0644 host
    /// file is writable wherever the host's files are visible). Dropping
    /// capabilities does not make root somebody else; only a user
    /// namespace does.
    ///
    /// A non-root caller whose group is 0 keeps group 0, which owns host
    /// files; the default policy denies such requests, and so may yours.
    ///
    /// ```
    /// use policy_model::{Decision, NamespaceType};
    /// let user = Decision::allow().run_as_caller(1000, 1000);
    /// assert!(!user.has_namespace(NamespaceType::User));
    /// let root = Decision::allow().run_as_caller(0, 0);
    /// assert!(root.has_namespace(NamespaceType::User) && root.private_host_ids);
    /// ```
    pub fn run_as_caller(self, uid: u32, gid: u32) -> Decision {
        if uid == 0 {
            self.root_in_private_user_namespace()
        } else {
            self.unprivileged(uid, gid)
        }
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

#[cfg(test)]
mod run_as_caller_tests {
    use crate::host::typical_host;
    use crate::normal::{Context, normalize};
    use crate::{Decision, NamespaceType, validate};

    fn normal(decision: Decision, caller: (u32, u32)) -> crate::NormalDecision {
        let valid = validate(decision, &typical_host(), "job").unwrap_or_else(|e| panic!("{e}"));
        let context = Context {
            caller,
            ..Context::typical()
        };
        normalize(&valid, &context)
    }

    #[test]
    fn a_user_runs_as_itself_without_privileges() {
        let decision = Decision::allow().standard_namespaces();
        let normal = normal(decision.run_as_caller(1000, 100), (1000, 100));
        assert!(!normal.creates(NamespaceType::User));
        assert!(!normal.private_host_ids && normal.uid_mappings.is_empty());
        let process = &normal.process;
        assert_eq!((process.user.uid, process.user.gid), (1000, 100));
        assert!(process.no_new_privileges);
        let caps = &process.capabilities;
        assert!(caps.bounding.is_empty() && caps.effective.is_empty() && caps.permitted.is_empty());
    }

    #[test]
    fn root_is_root_only_inside_a_private_user_namespace() {
        let decision = Decision::allow().standard_namespaces();
        let normal = normal(decision.clone().run_as_caller(0, 0), (0, 0));
        assert!(normal.creates(NamespaceType::User));
        // Ids 0 to 65535 of the namespace map to a range the enforcer
        // leases to this sandbox alone; host uid 0 is mapped by no map.
        assert!(normal.private_host_ids);
        assert!(normal.uid_mappings.is_empty() && normal.gid_mappings.is_empty());
        assert_eq!((normal.process.user.uid, normal.process.user.gid), (0, 0));
        assert!(normal.process.no_new_privileges);
        assert!(
            !normal
                .process
                .capabilities
                .bounding
                .contains("CAP_SYS_ADMIN")
        );
        // The trap it replaces: host uid 0, no namespace, no map.
        let trap = normal_of_trap(decision);
        assert!(!trap.creates(NamespaceType::User) && !trap.private_host_ids);
        assert_eq!(trap.process.user.uid, 0);
    }

    fn normal_of_trap(decision: Decision) -> crate::NormalDecision {
        normal(decision.unprivileged(0, 0), (0, 0))
    }
}
