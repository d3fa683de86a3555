//! OCI bundles (`enforcer run --bundle DIR`): `DIR/config.json` read as
//! the request a bundle makes.
//!
//! The runtime spec's `process.args` and `process.terminal` become the
//! request's `command` and `terminal`; `linux.resources` its `requested`;
//! `annotations` its `annotations`; everything else the enforcer can
//! honour (`process`, `root`, `mounts`, `hostname`, `domainname`, the rest
//! of `linux`) its `requestedSpec`, a decision-shaped ask that the policy
//! chain adopts or not. The bundle decides nothing by itself.
//!
//! Paths are made absolute here, so the policy judges the paths that would
//! be used: `root.path` resolved against the bundle directory and made
//! canonical, bind-mount sources likewise (the spec makes relative ones
//! relative to the bundle), relative mount destinations (deprecated by the
//! spec) relative to `/`.
//!
//! A field the enforcer cannot honour is refused by name (`hooks`,
//! `linux.sysctl`, `process.apparmorProfile`, ...): running the workload
//! without what its bundle asks for could be looser than the bundle's
//! author intended. An unknown top-level field (a newer spec's) is a
//! warning, as with runc; an unknown field inside a section the enforcer
//! reads is an error, since it cannot tell whether ignoring it matters.

mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use policy_model::{
    Decision, Mount, Namespace, NamespaceType, Process, ProcessUser, Resources, Root, Seccomp,
};
use serde_json::Value;

use spec::{LinuxSpec, ProcessSpec, Spec, asks_nothing};

/// What an OCI bundle asks for, as the request's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// The bundle directory, absolute and canonical.
    pub dir: PathBuf,
    /// `process.args`: the request's `command`.
    pub command: Vec<String>,
    /// `process.terminal`: the request's `terminal`.
    pub terminal: bool,
    /// `annotations`: the request's `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `linux.resources`: the request's `requested`.
    pub requested: Option<Resources>,
    /// The rest, in decision shape: the request's `requestedSpec`.
    pub spec: Decision,
    /// What was ignored, one sentence each (unknown top-level fields,
    /// `process.consoleSize`), for the caller's diagnostics.
    pub warnings: Vec<String>,
}

/// Why a bundle cannot be read; every case names `DIR/config.json`, and
/// a field error its JSON path (`linux.sysctl`, `mounts[2].source`).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle directory cannot be resolved.
    #[error("bundle {dir}: {err}")]
    Dir {
        /// The directory as given.
        dir: PathBuf,
        /// Why.
        err: std::io::Error,
    },
    /// `config.json` cannot be read.
    #[error("cannot read {config}: {err}")]
    Read {
        /// `DIR/config.json`.
        config: PathBuf,
        /// Why.
        err: std::io::Error,
    },
    /// `config.json` is not JSON, or not an object.
    #[error("{config}: {message}")]
    Syntax {
        /// `DIR/config.json`.
        config: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A field is wrong or cannot be honoured.
    #[error("{config}: {field}: {message}")]
    Field {
        /// `DIR/config.json`.
        config: PathBuf,
        /// Its JSON path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The config file of the bundle at `dir`.
pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.json")
}

/// Reads the bundle at `dir` (`.` for the current directory, as runc).
pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
    let canonical = std::fs::canonicalize(dir).map_err(|err| BundleError::Dir {
        dir: dir.to_path_buf(),
        err,
    })?;
    let config = config_path(&canonical);
    let text = std::fs::read_to_string(&config).map_err(|err| BundleError::Read {
        config: config.clone(),
        err,
    })?;
    translate(&canonical, &text)
}

/// Translates the `config.json` text of the bundle at `dir` (absolute and
/// canonical): parses it, refuses what cannot be honoured, and resolves
/// the root and bind-mount sources against `dir` on this filesystem.
pub fn translate(dir: &Path, text: &str) -> Result<Bundle, BundleError> {
    let config = config_path(dir);
    let syntax = |message: String| BundleError::Syntax {
        config: config.clone(),
        message,
    };
    let value: Value =
        serde_json::from_str(text).map_err(|error| syntax(format!("not valid JSON: {error}")))?;
    let Value::Object(mut object) = value else {
        return Err(syntax("a bundle's config must be a JSON object".into()));
    };
    let mut warnings = Vec::new();
    let unknown: Vec<String> = object
        .keys()
        .filter(|key| !spec::TOP_LEVEL_FIELDS.contains(&key.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        object.remove(&key);
        warnings.push(format!(
            "{}: ignoring unknown top-level field {key:?} (a newer runtime spec's?)",
            config.display()
        ));
    }
    let spec: Spec = serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        BundleError::Field {
            config: config.clone(),
            field: error.path().to_string(),
            message: error.inner().to_string(),
        }
    })?;
    Translation {
        dir,
        config: &config,
        warnings,
    }
    .bundle(spec)
}

/// One translation's context: where errors point, what it warns about.
struct Translation<'a> {
    dir: &'a Path,
    config: &'a Path,
    warnings: Vec<String>,
}

impl Translation<'_> {
    fn error(&self, field: impl Into<String>, message: impl Into<String>) -> BundleError {
        BundleError::Field {
            config: self.config.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Refuses `field` if it asks for anything.
    fn refuse(&self, field: &str, value: Option<&Value>, why: &str) -> Result<(), BundleError> {
        match value {
            Some(value) if !asks_nothing(value) => Err(self.error(
                field,
                format!("the enforcer cannot honour it ({why}); remove it from the bundle"),
            )),
            _ => Ok(()),
        }
    }

    fn bundle(mut self, spec: Spec) -> Result<Bundle, BundleError> {
        if let Some(version) = &spec.oci_version
            && !version.starts_with("1.")
        {
            return Err(self.error(
                "ociVersion",
                format!("{version:?} is not a 1.x runtime spec, the version this enforcer reads"),
            ));
        }
        self.refuse(
            "hooks",
            spec.hooks.as_ref(),
            "hooks run programs on the host, outside any sandbox",
        )?;
        for (field, value) in [
            ("solaris", &spec.solaris),
            ("windows", &spec.windows),
            ("zos", &spec.zos),
            ("freebsd", &spec.freebsd),
        ] {
            self.refuse(field, value.as_ref(), "it configures another platform")?;
        }
        self.refuse(
            "vm",
            spec.vm.as_ref(),
            "it asks for a virtual-machine runtime",
        )?;
        let Some(process) = spec.process else {
            return Err(self.error("process", "a bundle must say what to run"));
        };
        let (command, terminal, process) = self.process(process)?;
        let root = self.root(spec.root)?;
        let mounts = spec
            .mounts
            .into_iter()
            .enumerate()
            .map(|(index, mount)| self.mount(index, mount))
            .collect::<Result<Vec<_>, _>>()?;
        let mut decision = Decision {
            allow: true,
            hostname: spec.hostname,
            domainname: spec.domainname,
            process: Some(process),
            root: Some(root),
            mounts,
            ..Decision::default()
        };
        let requested = match spec.linux {
            Some(linux) => self.linux(linux, &mut decision)?,
            None => None,
        };
        Ok(Bundle {
            dir: self.dir.to_path_buf(),
            command,
            terminal,
            annotations: spec.annotations,
            requested,
            spec: decision,
            warnings: self.warnings,
        })
    }

    /// `process`: the command, the terminal, and the decision's `process`.
    fn process(
        &mut self,
        process: ProcessSpec,
    ) -> Result<(Vec<String>, bool, Process), BundleError> {
        let ProcessSpec {
            terminal,
            console_size,
            user,
            args,
            command_line,
            env,
            cwd,
            capabilities,
            rlimits,
            no_new_privileges,
            apparmor_profile,
            oom_score_adj,
            selinux_label,
            io_priority,
            scheduler,
            exec_cpu_affinity,
        } = process;
        self.refuse(
            "process.commandLine",
            command_line.as_ref(),
            "it is Windows-only; give process.args",
        )?;
        self.refuse(
            "process.apparmorProfile",
            apparmor_profile.as_ref(),
            "the enforcer applies no AppArmor profile",
        )?;
        self.refuse(
            "process.selinuxLabel",
            selinux_label.as_ref(),
            "the enforcer applies no SELinux label",
        )?;
        self.refuse(
            "process.oomScoreAdj",
            oom_score_adj.as_ref(),
            "the enforcer does not set the OOM score",
        )?;
        self.refuse(
            "process.ioPriority",
            io_priority.as_ref(),
            "the enforcer does not set I/O priorities",
        )?;
        self.refuse(
            "process.scheduler",
            scheduler.as_ref(),
            "the enforcer does not set scheduling policies",
        )?;
        self.refuse(
            "process.execCPUAffinity",
            exec_cpu_affinity.as_ref(),
            "the enforcer does not pin CPUs at exec; use linux.resources.cpu.cpus",
        )?;
        if console_size
            .as_ref()
            .is_some_and(|size| !asks_nothing(size))
        {
            self.warnings.push(format!(
                "{}: process.consoleSize ignored: with a terminal (-t) the workload's takes the size of the enforcer's",
                self.config.display()
            ));
        }
        if args.is_empty() {
            return Err(self.error("process.args", "a bundle must name the command to run"));
        }
        let Some(cwd) = cwd else {
            return Err(self.error(
                "process.cwd",
                "missing (the runtime spec requires it: the working directory, an absolute path)",
            ));
        };
        if !cwd.starts_with('/') {
            return Err(self.error("process.cwd", format!("{cwd:?} must be an absolute path")));
        }
        let user = match user {
            Some(user) => {
                self.refuse(
                    "process.user.username",
                    user.username.as_ref(),
                    "it is Windows-only; give uid and gid",
                )?;
                ProcessUser {
                    uid: user.uid,
                    gid: user.gid,
                    umask: user.umask,
                    additional_gids: user.additional_gids,
                }
            }
            None => ProcessUser::default(),
        };
        let process = Process {
            user: Some(user),
            // OCI: an absent set is empty.
            capabilities: Some(capabilities.unwrap_or_default()),
            no_new_privileges,
            rlimits,
            env,
            cwd: Some(cwd),
        };
        Ok((args, terminal, process))
    }

    /// `root`: required, resolved against the bundle and made canonical.
    fn root(&self, root: Option<Root>) -> Result<Root, BundleError> {
        let Some(root) = root else {
            return Err(self.error("root", "a bundle must name its root filesystem (root.path)"));
        };
        let path = self.resolve("root.path", &root.path)?;
        if !path.is_dir() {
            return Err(self.error(
                "root.path",
                format!("{} is not a directory", path.display()),
            ));
        }
        Ok(Root {
            path: self.text("root.path", &path)?,
            readonly: root.readonly,
        })
    }

    /// `mounts[index]`: a relative destination is made relative to `/`
    /// (the spec's rule for old configs), a bind source resolved against
    /// the bundle and made canonical.
    fn mount(&mut self, index: usize, mut mount: Mount) -> Result<Mount, BundleError> {
        if !mount.destination.starts_with('/') {
            self.warnings.push(format!(
                "{}: mounts[{index}].destination {:?} is relative (deprecated): taken as /{}",
                self.config.display(),
                mount.destination,
                mount.destination
            ));
            mount.destination = format!("/{}", mount.destination);
        }
        if mount.is_bind() {
            let field = format!("mounts[{index}].source");
            let Some(source) = &mount.source else {
                return Err(self.error(field, "a bind mount needs a source"));
            };
            let resolved = self.resolve(&field, source)?;
            mount.source = Some(self.text(&field, &resolved)?);
        }
        Ok(mount)
    }

    /// `linux`: into the decision, except `resources` (returned: the
    /// request's `requested`).
    fn linux(
        &mut self,
        linux: LinuxSpec,
        decision: &mut Decision,
    ) -> Result<Option<Resources>, BundleError> {
        let LinuxSpec {
            devices,
            net_devices,
            uid_mappings,
            gid_mappings,
            namespaces,
            resources,
            cgroups_path,
            rootfs_propagation,
            seccomp,
            sysctl,
            masked_paths,
            readonly_paths,
            mount_label,
            intel_rdt,
            memory_policy,
            personality,
            time_offsets,
        } = linux;
        self.refuse(
            "linux.devices",
            devices.as_ref(),
            "the sandbox's /dev holds the device nodes the policy's device rules allow; ask for devices in linux.resources.devices",
        )?;
        self.refuse(
            "linux.netDevices",
            net_devices.as_ref(),
            "the enforcer moves no host network device into a sandbox",
        )?;
        self.refuse(
            "linux.sysctl",
            sysctl.as_ref(),
            "the enforcer sets no sysctls",
        )?;
        self.refuse(
            "linux.mountLabel",
            mount_label.as_ref(),
            "the enforcer applies no SELinux labels",
        )?;
        self.refuse(
            "linux.intelRdt",
            intel_rdt.as_ref(),
            "the enforcer does not manage Intel RDT (resctrl)",
        )?;
        self.refuse(
            "linux.memoryPolicy",
            memory_policy.as_ref(),
            "the enforcer sets no NUMA memory policy; use linux.resources.cpu.mems",
        )?;
        self.refuse(
            "linux.personality",
            personality.as_ref(),
            "the enforcer sets no execution domain",
        )?;
        self.refuse(
            "linux.timeOffsets",
            time_offsets.as_ref(),
            "the enforcer creates no time namespaces",
        )?;
        match rootfs_propagation.as_deref() {
            None | Some("" | "private" | "rprivate") => {}
            Some(other) => {
                return Err(self.error(
                    "linux.rootfsPropagation",
                    format!(
                        "{other:?}: the enforcer cannot honour it (the sandbox's mounts are always private: nothing propagates to or from the host); remove it or say \"rprivate\""
                    ),
                ));
            }
        }
        decision.namespaces = namespaces
            .into_iter()
            .enumerate()
            .map(|(index, namespace)| self.namespace(index, namespace))
            .collect::<Result<_, _>>()?;
        decision.uid_mappings = uid_mappings;
        decision.gid_mappings = gid_mappings;
        decision.cgroups_path = cgroups_path.filter(|path| !path.is_empty());
        decision.masked_paths = masked_paths;
        decision.readonly_paths = readonly_paths;
        decision.seccomp = match seccomp {
            Some(seccomp) if !seccomp.is_null() => Some(self.seccomp(seccomp)?),
            _ => None,
        };
        Ok(resources)
    }

    fn namespace(
        &self,
        index: usize,
        namespace: spec::NamespaceSpec,
    ) -> Result<Namespace, BundleError> {
        let field = format!("linux.namespaces[{index}].type");
        let kind = NamespaceType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == namespace.kind)
            .ok_or_else(|| {
                self.error(
                    &field,
                    format!(
                        "{:?}: the enforcer cannot honour it (it creates and joins only {})",
                        namespace.kind,
                        NamespaceType::ALL.map(NamespaceType::as_str).join(", ")
                    ),
                )
            })?;
        Ok(Namespace {
            kind,
            path: namespace.path.filter(|path| !path.is_empty()),
        })
    }

    /// `linux.seccomp`: its listener fields refused (there is no seccomp
    /// agent), the rest read as the decision's profile.
    fn seccomp(&self, mut value: Value) -> Result<Seccomp, BundleError> {
        if let Value::Object(fields) = &mut value {
            for field in ["listenerPath", "listenerMetadata"] {
                self.refuse(
                    &format!("linux.seccomp.{field}"),
                    fields.get(field),
                    "the enforcer hands seccomp notifications to no agent",
                )?;
                fields.remove(field);
            }
        }
        serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            let field = if path == "." {
                "linux.seccomp".to_string()
            } else {
                format!("linux.seccomp.{path}")
            };
            self.error(field, error.inner().to_string())
        })
    }

    /// `path` (relative: to the bundle), absolute and canonical.
    fn resolve(&self, field: &str, path: &str) -> Result<PathBuf, BundleError> {
        if path.is_empty() {
            return Err(self.error(field, "an empty path"));
        }
        let joined = self.dir.join(path);
        std::fs::canonicalize(&joined)
            .map_err(|error| self.error(field, format!("{}: {error}", joined.display())))
    }

    /// A resolved path as the decision's text (UTF-8 only).
    fn text(&self, field: &str, path: &Path) -> Result<String, BundleError> {
        path.to_str()
            .map(str::to_string)
            .ok_or_else(|| self.error(field, format!("{} is not UTF-8", path.display())))
    }
}

#[cfg(test)]
mod tests;
