//! Finding, reading and merging the config files: the main file, then
//! `config.d/*.toml` in name order, then `tenants.d/<tenant>.toml`.
//!
//! Merge rules: a later file's scalars and `[limits]`/`[audit]` keys
//! replace earlier ones, and its `[host_ids]` and `[networks.<name>]`
//! tables replace earlier ones of the same name as a whole; its
//! `[[platform]]` entries are appended (a drop-in can never remove,
//! reorder or replace a platform policy); its tenants are added, and a
//! tenant defined in two files is an error naming both. The merged
//! networks are then checked against each other (bridges, subnets).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::error::{ConfigError, ParseError};
use super::schema::{ConfigFile, Tenant, TenantName};
use super::{Config, validate};

/// The config file read when neither `--config` nor `$ENFORCER_CONFIG`
/// names one; its absence means no config.
pub const DEFAULT_PATH: &str = "/etc/enforcer/config.toml";

/// The environment variable that names the config file.
pub const ENV_VAR: &str = "ENFORCER_CONFIG";

/// Largest config file read, in bytes.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// Loads the config: the file `explicit` names (which must exist), or
/// [`DEFAULT_PATH`] if it exists, with their drop-ins. `None`: no config.
pub fn load(explicit: Option<&Path>) -> Result<Option<Config>, ConfigError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let path = PathBuf::from(DEFAULT_PATH);
            match std::fs::metadata(&path) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                _ => path,
            }
        }
    };
    load_from(&path).map(Some)
}

/// Loads the config whose main file is `path`, with its drop-ins.
pub fn load_from(path: &Path) -> Result<Config, ConfigError> {
    let path = std::path::absolute(path).map_err(|err| ConfigError::Read {
        path: path.to_path_buf(),
        err,
    })?;
    let mut merged = Merged::default();
    let main =
        read_file(&path, true)?.ok_or_else(|| ConfigError::Missing { path: path.clone() })?;
    merged.add(&path, parse_config(&path, &main)?)?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    for drop_in in toml_files(&dir.join("config.d"))? {
        if let Some(text) = read_file(&drop_in, false)? {
            merged.add(&drop_in, parse_config(&drop_in, &text)?)?;
        }
    }
    for file in toml_files(&dir.join("tenants.d"))? {
        let Some(text) = read_file(&file, false)? else {
            continue;
        };
        let stem = file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = validate::parse_tenant_name(&stem).map_err(|message| ConfigError::Invalid {
            path: file.clone(),
            field: "the file name".into(),
            message: format!("{message} (tenants.d/<tenant>.toml)"),
        })?;
        let mut tenant: Tenant = parse(&file, &text)?;
        resolve_tenant(&mut tenant, &file);
        check_tenant_settings(&file, &format!("tenants.{name}"), &tenant)?;
        merged.files.push(file.clone());
        merged.tenant(TenantName(name), tenant, &file)?;
    }
    check_networks(&merged.values, &merged.network_sources)?;
    check_runtime(&merged.values, merged.files.first())?;
    Ok(Config {
        values: merged.values,
        files: merged.files,
        platform_sources: merged.platform_sources,
        tenant_sources: merged.tenant_sources,
        network_sources: merged.network_sources,
    })
}

/// The configs read so far, merged.
#[derive(Default)]
struct Merged {
    values: ConfigFile,
    files: Vec<PathBuf>,
    platform_sources: Vec<PathBuf>,
    tenant_sources: BTreeMap<String, PathBuf>,
    network_sources: BTreeMap<String, PathBuf>,
}

impl Merged {
    /// Merges `file`, read from `path`, over what came before.
    fn add(&mut self, path: &Path, file: ConfigFile) -> Result<(), ConfigError> {
        let ConfigFile {
            cgroup_root,
            state_dir,
            cache_dir,
            mount_controllers,
            allow_join,
            host_ids,
            networks,
            limits,
            audit,
            runtime,
            platform,
            tenants,
        } = file;
        let values = &mut self.values;
        replace(&mut values.cgroup_root, cgroup_root);
        replace(&mut values.state_dir, state_dir);
        replace(&mut values.cache_dir, cache_dir);
        replace(&mut values.mount_controllers, mount_controllers);
        replace(&mut values.allow_join, allow_join);
        replace(&mut values.host_ids, host_ids);
        for (name, network) in networks {
            self.network_sources
                .insert(name.0.clone(), path.to_path_buf());
            values.networks.insert(name, network);
        }
        let super::schema::Limits {
            deadline,
            memory_cap_mib,
            output_cap_kib,
            max_module_size_mib,
            max_functions,
            max_function_size_kib,
            max_locals,
            compile_time_s,
            compile_memory_mib,
            policy_log,
        } = limits;
        let into = &mut values.limits;
        replace(&mut into.deadline, deadline);
        replace(&mut into.memory_cap_mib, memory_cap_mib);
        replace(&mut into.output_cap_kib, output_cap_kib);
        replace(&mut into.max_module_size_mib, max_module_size_mib);
        replace(&mut into.max_functions, max_functions);
        replace(&mut into.max_function_size_kib, max_function_size_kib);
        replace(&mut into.max_locals, max_locals);
        replace(&mut into.compile_time_s, compile_time_s);
        replace(&mut into.compile_memory_mib, compile_memory_mib);
        replace(&mut into.policy_log, policy_log);
        let super::schema::Audit {
            path: audit_path,
            max_bytes,
            on_error,
        } = audit;
        replace(&mut values.audit.path, audit_path);
        replace(&mut values.audit.max_bytes, max_bytes);
        replace(&mut values.audit.on_error, on_error);
        let super::schema::Runtime {
            delegate,
            search_path,
            tenant_annotations,
            default_tenant,
            label_annotations,
            pod_labels,
        } = runtime;
        let into = &mut values.runtime;
        replace(&mut into.delegate, delegate);
        replace(&mut into.search_path, search_path);
        replace(&mut into.tenant_annotations, tenant_annotations);
        replace(&mut into.default_tenant, default_tenant);
        replace(&mut into.label_annotations, label_annotations);
        replace(&mut into.pod_labels, pod_labels);
        // Appended, never replaced: a drop-in cannot loosen the platform
        // chain by dropping or reordering a policy of it.
        self.platform_sources
            .extend(std::iter::repeat_n(path.to_path_buf(), platform.len()));
        self.values.platform.extend(platform);
        self.files.push(path.to_path_buf());
        for (name, tenant) in tenants {
            self.tenant(name, tenant, path)?;
        }
        Ok(())
    }

    /// Adds tenant `name`, defined in `path`.
    fn tenant(&mut self, name: TenantName, tenant: Tenant, path: &Path) -> Result<(), ConfigError> {
        if let Some(first) = self.tenant_sources.get(&name.0) {
            return Err(ConfigError::DuplicateTenant {
                tenant: name.0,
                first: first.clone(),
                second: path.to_path_buf(),
            });
        }
        self.tenant_sources
            .insert(name.0.clone(), path.to_path_buf());
        self.values.tenants.insert(name, tenant);
        Ok(())
    }
}

/// Checks the merged `[runtime]` table: the delegate is a bare name or an
/// absolute path, and `default_tenant` is a configured tenant.
fn check_runtime(values: &ConfigFile, file: Option<&PathBuf>) -> Result<(), ConfigError> {
    let invalid = |field: &str, message: String| ConfigError::Invalid {
        path: file.cloned().unwrap_or_default(),
        field: format!("runtime.{field}"),
        message,
    };
    if let Some(delegate) = &values.runtime.delegate
        && (delegate.is_empty() || (delegate.contains('/') && !delegate.starts_with('/')))
    {
        return Err(invalid(
            "delegate",
            format!(
                "{delegate:?} must be a name looked up in search_path (runc) or an absolute path"
            ),
        ));
    }
    if let Some(tenant) = &values.runtime.default_tenant
        && !values.tenants.contains_key(tenant)
    {
        let known: Vec<&str> = values.tenants.keys().map(|name| name.0.as_str()).collect();
        return Err(invalid(
            "default_tenant",
            format!(
                "{:?} is not a configured tenant (known tenants: {})",
                tenant.0,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    Ok(())
}

/// Checks the merged networks against each other: no two share a bridge,
/// no two subnets (IPv4 or IPv6) overlap. The error names the later
/// network (by name order) and its file, and the other network and its
/// file.
fn check_networks(
    values: &ConfigFile,
    sources: &BTreeMap<String, PathBuf>,
) -> Result<(), ConfigError> {
    let networks: Vec<_> = values.networks.iter().collect();
    let source = |name: &str| sources.get(name).cloned().unwrap_or_default();
    for (index, (name, network)) in networks.iter().enumerate() {
        for (other_name, other) in &networks[..index] {
            let conflict = |field: &str, message: String| ConfigError::Invalid {
                path: source(&name.0),
                field: format!("networks.{name}.{field}"),
                message: format!(
                    "{message} (networks.{other_name}, in {}); each network needs its own",
                    source(&other_name.0).display()
                ),
            };
            if network.bridge == other.bridge {
                return Err(conflict(
                    "bridge",
                    format!(
                        "{} is also the bridge of network {other_name}",
                        network.bridge
                    ),
                ));
            }
            let overlap = |a: &policy_model::decision::Cidr, b: &policy_model::decision::Cidr| {
                a.covers(b) || b.covers(a)
            };
            if overlap(&network.subnet, &other.subnet) {
                return Err(conflict(
                    "subnet",
                    format!(
                        "{} overlaps {}, the subnet of network {other_name}",
                        network.subnet, other.subnet
                    ),
                ));
            }
            if let (Some(mine), Some(theirs)) = (&network.subnet6, &other.subnet6)
                && overlap(mine, theirs)
            {
                return Err(conflict(
                    "subnet6",
                    format!("{mine} overlaps {theirs}, the subnet6 of network {other_name}"),
                ));
            }
        }
    }
    Ok(())
}

/// `slot` becomes `later` if the later file sets it.
fn replace<T>(slot: &mut Option<T>, later: Option<T>) {
    if later.is_some() {
        *slot = later;
    }
}

/// Parses one config file and resolves its relative policy paths.
fn parse_config(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    let mut file: ConfigFile = parse(path, text)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    for (index, platform) in file.platform.iter_mut().enumerate() {
        platform.policy = resolve_policy(dir, &platform.policy);
        if let Some(settings) = &platform.settings {
            validate::settings_json(settings).map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                field: format!("platform[{index}].settings"),
                message,
            })?;
        }
    }
    for (name, tenant) in &mut file.tenants {
        resolve_tenant(tenant, path);
        check_tenant_settings(path, &format!("tenants.{name}"), tenant)?;
    }
    Ok(file)
}

fn resolve_tenant(tenant: &mut Tenant, path: &Path) {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if let Some(policy) = &mut tenant.policy {
        *policy = resolve_policy(dir, policy);
    }
}

/// A policy path relative to `dir`, the directory of the file naming it;
/// `builtin:NAME` is kept as written.
fn resolve_policy(dir: &Path, policy: &Path) -> PathBuf {
    if crate::embedded::is_builtin(policy) {
        policy.to_path_buf()
    } else {
        dir.join(policy)
    }
}

fn check_tenant_settings(path: &Path, field: &str, tenant: &Tenant) -> Result<(), ConfigError> {
    match &tenant.settings {
        Some(settings) => validate::settings_json(settings)
            .map(drop)
            .map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                field: format!("{field}.settings"),
                message,
            }),
        None => Ok(()),
    }
}

/// Parses `text` (read from `path`) as a `T`, with the line and field path
/// of any error.
pub(super) fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let error = |field: String, error: toml::de::Error| {
        ConfigError::Parse(ParseError {
            path: path.to_path_buf(),
            line: error.span().map(|span| line_of(text, span.start)),
            field,
            message: error.message().trim().to_string(),
        })
    };
    let deserializer =
        toml::Deserializer::parse(text).map_err(|parse| error(String::new(), parse))?;
    serde_path_to_error::deserialize(deserializer).map_err(|failure| {
        let field = failure.path().to_string();
        let field = if field == "." { String::new() } else { field };
        error(field, failure.into_inner())
    })
}

/// The line (from 1) of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count()
        + 1
}

/// The `*.toml` files of `dir` in name order; none if `dir` is absent.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(ConfigError::Read {
                path: dir.to_path_buf(),
                err,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| ConfigError::Read {
            path: dir.to_path_buf(),
            err,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".toml") && !name.starts_with('.') {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Reads `path`, refusing, when running as root, a file not owned by root
/// or writable by group or others. `None`: it does not exist (and
/// `required` is false) or is not a regular file.
fn read_file(path: &Path, required: bool) -> Result<Option<String>, ConfigError> {
    let read_error = |err| ConfigError::Read {
        path: path.to_path_buf(),
        err,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return if required {
                Err(ConfigError::Missing {
                    path: path.to_path_buf(),
                })
            } else {
                Ok(None)
            };
        }
        Err(err) => return Err(read_error(err)),
    };
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        if required {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                field: "the file".into(),
                message: "is not a regular file".into(),
            });
        }
        return Ok(None);
    }
    if nix::unistd::geteuid().is_root() {
        check_owner(path, metadata.uid(), metadata.mode())?;
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            field: "the file".into(),
            message: format!("is larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    let mut text = String::new();
    file.take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    Ok(Some(text))
}

/// The sudoers rule: owned by root, writable by nobody else.
fn check_owner(path: &Path, uid: u32, mode: u32) -> Result<(), ConfigError> {
    let problem = if uid != 0 {
        format!("it is owned by uid {uid}, not root")
    } else if mode & 0o022 != 0 {
        format!(
            "it is writable by its group or by others (mode {:04o})",
            mode & 0o7777
        )
    } else {
        return Ok(());
    };
    Err(ConfigError::Unsafe {
        path: path.to_path_buf(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn owners_and_modes_follow_the_sudoers_rule() {
        let path = Path::new("/etc/enforcer/config.toml");
        assert!(check_owner(path, 0, 0o644).is_ok());
        assert!(check_owner(path, 0, 0o600).is_ok());
        let other = check_owner(path, 1000, 0o644).expect_err("not root's");
        assert!(
            other.to_string().contains("owned by uid 1000, not root"),
            "{other}"
        );
        for mode in [0o664, 0o646, 0o666] {
            let writable = check_owner(path, 0, mode).expect_err("writable");
            assert!(
                writable
                    .to_string()
                    .contains("writable by its group or by others"),
                "{writable}"
            );
        }
    }
}
