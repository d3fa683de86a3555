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
    /// root: no other sandbox shares a host id with it.
    pub fn root_in_private_user_namespace(mut self) -> Decision {
        self = self.namespace(NamespaceType::User);
        self.uid_mappings.clear();
        self.gid_mappings.clear();
        self.private_host_ids = true;
        self
    }
}
