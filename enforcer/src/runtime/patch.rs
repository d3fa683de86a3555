//! A container's spec tightened by its decision (`enforcer runtime
//! create`), edited as raw JSON so that fields newer than the enforcer's
//! types survive.
//!
//! The rules are the chain's: every limit the tighter of the two,
//! capability sets intersected, `noNewPrivileges` on if either says so,
//! device rules a subset of both, masked and read-only paths added, the
//! decision's seccomp profile where the spec has none or a looser one.
//! The spec's namespace joins (kubelet's pod network, ipc and uts
//! namespaces, by path) are kept; a decision that needs what the spec
//! cannot give (a new network namespace for a container in its pod's) is a
//! [`PatchError`], never a silent change. The decision's `cgroupsPath` is
//! not used: the container stays where kubelet put it.
//!
//! Field by field (an absent limit, or `-1`, is unlimited):
//!
//! - `linux.resources`: memory `limit`, `swap`, `reservation`, `kernel`,
//!   `kernelTCP`, `pids.limit`, cpu `burst`, hugepage limits per size and
//!   block I/O throttles per device the lower of the two (an entry only one
//!   side has is kept); `swap` also so low that swap alone (`swap` minus
//!   `limit`, cgroup v2's `memory.swap.max`) is no more than either's; cpu
//!   `shares` the lower; CFS `quota`/`period` the pair with the lower ratio;
//!   realtime runtime the lower with the longer period; `cpus`/`mems` the
//!   intersection (empty: an error); block I/O weights the lower (the
//!   decision's where the spec has none); `disableOOMKiller` on only if
//!   both; `swappiness`, `useHierarchy`, `idle`, net_cls/net_prio tags the
//!   decision's where the spec has none (`useHierarchy` and `idle` set
//!   differently by both: an error; the net tags: the decision's);
//!   `unified` keys the decision adds are added, a key both set must be
//!   equal or, for a byte limit (`memory.max`, `memory.high`, `pids.max`,
//!   ...), the lower; a spec's raw key that a typed field owns is tightened
//!   by the decision's typed value (`memory.max`, `pids.max`) or, for the
//!   others, an error when the decision limits that field.
//! - `linux.resources.devices`: the spec's list when everything it allows
//!   the decision allows too, else the decision's when the converse holds,
//!   else a built list that allows exactly what both allow (see
//!   [`device_intersection`]).
//! - `process.capabilities`: each set the spec has intersected with the
//!   decision's (a set it lacks stays absent, which OCI reads as empty);
//!   `noNewPrivileges` on if either; `rlimits` the lower soft and hard per
//!   type; a type the spec lacks (the container inherits the enforcer's
//!   own limit, through the delegate) gets an entry only where the
//!   decision's is lower than that inherited one, with the lower of the two
//!   (the normal form carries the enforcer's own limits for every type the
//!   policy leaves alone: those add nothing); `user.uid`/`gid` kept when equal, set to
//!   the decision's where the spec's is 0 (root) and the decision's is not,
//!   else an error; `additionalGids` intersected; `umask` the union of the
//!   bits. `env`, `cwd`, `args`, `terminal`, AppArmor and SELinux untouched.
//! - `linux.namespaces`, per type T the decision names: the decision's new
//!   T and the spec's new T: kept; the spec joins T by path: an error (the
//!   decision needs a T of the container's own, kubelet put it in its
//!   pod's; a policy for pods keeps the join by giving the same path); the
//!   spec has no T: `{"type": T}` added (a user namespace only with the
//!   decision's `uidMappings` and `gidMappings`, which are then set, else an
//!   error). The decision joins T at P: the spec joins P: kept; otherwise
//!   an error. A T the spec has and the decision does not name stays (a
//!   namespace of its own is tighter), as do types the enforcer does not
//!   model (`time`). With a user namespace in both, the decision's id maps
//!   must equal the spec's (or be absent).
//! - `hostname`/`domainname`: the spec's kept; the decision's set where the
//!   spec has none and its own uts namespace; a decision's name for a
//!   container that joins its pod's uts namespace is an error.
//! - `linux.maskedPaths`, `linux.readonlyPaths`: the union, the spec's first.
//! - `linux.seccomp`: the decision's where the spec has none; the spec's
//!   where the decision has none; where both, the spec's if it is at least
//!   as strict as the decision's by the chain's rule, else the decision's if
//!   it is at least as strict as the spec's, else a merged profile that is
//!   at least as strict as both for every call ([`merge_seccomp`]).
//! - refused (the runtime mode cannot apply them): interfaces or a
//!   loopback taken down (`network`), `privateHostIds`, a `root` or
//!   `mounts`.
//! - ignored: the decision's `cgroupsPath`, `env`, `cwd`, `reason`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use policy_model::decision::{DeviceRule, DeviceType, IdMapping, NamespaceType};
use policy_model::devices::permits;
use policy_model::normal::{
    Limit, NormalAction, NormalDecision, NormalSeccomp, NormalSyscallRule, RlimitValue, cpu_list,
};
use policy_model::tighten::{share, swap_alone, unified_bytes};
use policy_model::{Seccomp, check_tightens, parse_cpu_list};
use serde_json::{Map, Value, json};

/// Why a spec cannot be tightened by a decision: the JSON path of the
/// spec and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PatchError {
    /// The spec's JSON path (`linux.namespaces[network]`).
    pub field: String,
    /// Why.
    pub message: String,
}

/// The spec tightened by a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// The new `config.json`.
    pub spec: Value,
    /// The JSON paths it changed, in order (`linux.resources.memory.limit`),
    /// for `--debug` and the tests.
    pub changed: Vec<String>,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> PatchError {
    PatchError {
        field: field.into(),
        message: message.into(),
    }
}

type Patching = Result<(), PatchError>;

/// `spec` (a `config.json`) tightened by `decision`; an rlimit the spec
/// does not set is compared with the enforcer's own (what the container
/// inherits through the delegate).
pub fn patch(spec: &Value, decision: &NormalDecision) -> Result<Patched, PatchError> {
    patch_inheriting(spec, decision, &crate::decision::own_rlimits())
}

/// [`patch`], with `inherited` the rlimits a container inherits for the
/// types its spec does not set.
pub fn patch_inheriting(
    spec: &Value,
    decision: &NormalDecision,
    inherited: &BTreeMap<String, RlimitValue>,
) -> Result<Patched, PatchError> {
    if !spec.is_object() {
        return Err(error("", "a config.json must be a JSON object"));
    }
    let mut patcher = Patcher {
        spec: spec.clone(),
        changed: Vec::new(),
        inherited,
    };
    refuse_inapplicable(decision)?;
    patcher.namespaces(decision)?;
    patcher.names(decision)?;
    patcher.process(decision)?;
    patcher.resources(decision)?;
    patcher.paths(decision)?;
    patcher.seccomp(decision)?;
    Ok(Patched {
        spec: patcher.spec,
        changed: patcher.changed,
    })
}

/// What the runtime mode cannot apply to a container: the enforcer's own
/// networking and id leases, and a filesystem of the enforcer's making.
fn refuse_inapplicable(decision: &NormalDecision) -> Patching {
    if !decision.network.interfaces.is_empty() {
        return Err(error(
            "network.interfaces",
            "the decision gives the container interfaces of the enforcer's networks; in runtime mode the pod's network is the CNI plugin's, so none can be added",
        ));
    }
    if !decision.network.loopback {
        return Err(error(
            "network.loopback",
            "the decision takes the loopback down; in runtime mode the pod's network is the CNI plugin's",
        ));
    }
    if decision.private_host_ids {
        return Err(error(
            "privateHostIds",
            "the decision asks for leased host ids; runtime mode leases none (give uidMappings and gidMappings)",
        ));
    }
    if let Some(root) = &decision.filesystem.root {
        return Err(error(
            "root",
            format!(
                "the decision gives a root ({}); in runtime mode the container's root is its image's",
                root.path
            ),
        ));
    }
    if let Some(mount) = decision.filesystem.mounts.first() {
        return Err(error(
            "mounts",
            format!(
                "the decision adds mounts ({} and maybe more); runtime mode applies none",
                mount.destination
            ),
        ));
    }
    Ok(())
}

/// The spec being edited and the paths changed so far.
struct Patcher<'a> {
    spec: Value,
    changed: Vec<String>,
    inherited: &'a BTreeMap<String, RlimitValue>,
}

fn dotted(path: &[&str]) -> String {
    path.join(".")
}

/// The value at `path`, `None` when absent or `null`.
fn get<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut value = value;
    for key in path {
        value = value.get(key)?;
    }
    (!value.is_null()).then_some(value)
}

/// The object at `path`, created (over `null`) where absent.
fn object_at<'a>(
    value: &'a mut Value,
    path: &[&str],
) -> Result<&'a mut Map<String, Value>, PatchError> {
    let mut value = value;
    for (depth, key) in path.iter().enumerate() {
        if value.is_null() {
            *value = Value::Object(Map::new());
        }
        let Value::Object(map) = value else {
            return Err(error(dotted(&path[..depth]), "is not a JSON object"));
        };
        value = map.entry(key.to_string()).or_insert(Value::Null);
    }
    if value.is_null() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(error(dotted(path), "is not a JSON object")),
    }
}

/// An OCI limit at `path`: a number (`-1` or any negative: unlimited),
/// `None` when absent.
fn read_limit(spec: &Value, path: &[&str]) -> Result<Option<Limit>, PatchError> {
    match get(spec, path) {
        None => Ok(None),
        Some(value) => {
            if let Some(signed) = value.as_i64() {
                Ok(Some(Limit::from_oci(signed)))
            } else if let Some(unsigned) = value.as_u64() {
                Ok(Some(Limit::At(unsigned)))
            } else {
                Err(error(dotted(path), format!("{value} is not an integer")))
            }
        }
    }
}

fn read_u64(spec: &Value, path: &[&str]) -> Result<Option<u64>, PatchError> {
    match get(spec, path) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| error(dotted(path), format!("{value} is not an unsigned integer"))),
    }
}

fn read_str<'a>(spec: &'a Value, path: &[&str]) -> Result<Option<&'a str>, PatchError> {
    match get(spec, path) {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .map(Some)
            .ok_or_else(|| error(dotted(path), format!("{value} is not a string"))),
    }
}

fn read_typed<T: serde::de::DeserializeOwned>(
    spec: &Value,
    path: &[&str],
) -> Result<Option<T>, PatchError> {
    match get(spec, path) {
        None => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|err| error(dotted(path), format!("cannot be read: {err}"))),
    }
}

impl Patcher<'_> {
    /// Sets `path` to `value`, recording it when it changes.
    fn set(&mut self, path: &[&str], value: Value) -> Patching {
        let Some((last, parent)) = path.split_last() else {
            return Ok(());
        };
        let map = object_at(&mut self.spec, parent)?;
        if map.get(*last) != Some(&value) {
            map.insert(last.to_string(), value);
            self.changed.push(dotted(path));
        }
        Ok(())
    }

    /// Removes `path`, recording it when it was there.
    fn remove(&mut self, path: &[&str]) -> Patching {
        let Some((last, parent)) = path.split_last() else {
            return Ok(());
        };
        if get(&self.spec, parent).is_none() {
            return Ok(());
        }
        let map = object_at(&mut self.spec, parent)?;
        if map.remove(*last).is_some() {
            self.changed.push(dotted(path));
        }
        Ok(())
    }

    fn note(&mut self, field: String) {
        if !self.changed.contains(&field) {
            self.changed.push(field);
        }
    }

    /// The lower of the spec's limit at `path` (`absent` when it has none)
    /// and the decision's, written where it differs; returns it.
    fn lower(
        &mut self,
        path: &[&str],
        absent: Limit,
        decision: Limit,
    ) -> Result<Limit, PatchError> {
        let spec = read_limit(&self.spec, path)?;
        let current = spec.unwrap_or(absent);
        let tighter = current.min(decision);
        if tighter != current {
            if tighter == absent && absent != Limit::Unlimited {
                // OCI cannot say "none" for these (`reservation` 0 is refused).
                self.remove(path)?;
            } else {
                self.set(path, json!(tighter.to_oci()))?;
            }
        }
        Ok(tighter)
    }

    // ---- namespaces, hostname ------------------------------------------

    fn namespaces(&mut self, decision: &NormalDecision) -> Patching {
        let entries: Vec<(String, Option<String>)> = match get(&self.spec, &["linux", "namespaces"])
        {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let kind = item.get("type").and_then(Value::as_str).ok_or_else(|| {
                        error(
                            format!("linux.namespaces[{index}].type"),
                            "must be a string",
                        )
                    })?;
                    let path = item
                        .get("path")
                        .and_then(Value::as_str)
                        .filter(|path| !path.is_empty())
                        .map(str::to_string);
                    Ok((kind.to_string(), path))
                })
                .collect::<Result<_, PatchError>>()?,
            Some(_) => return Err(error("linux.namespaces", "is not an array")),
        };
        let mut added = Vec::new();
        for namespace in &decision.namespaces {
            let kind = namespace.kind.as_str();
            let field = format!("linux.namespaces[{kind}]");
            let spec = entries.iter().find(|(spec_kind, _)| spec_kind == kind);
            match (&namespace.path, spec) {
                (None, None) => {
                    if namespace.kind == NamespaceType::User
                        && (decision.uid_mappings.is_empty() || decision.gid_mappings.is_empty())
                    {
                        return Err(error(
                            field,
                            "the decision needs a new user namespace but gives no uidMappings and gidMappings for it, and the spec has none",
                        ));
                    }
                    added.push(json!({ "type": kind }));
                }
                (None, Some((_, None))) => {}
                (None, Some((_, Some(path)))) => {
                    return Err(error(
                        field,
                        format!(
                            "the decision needs a {kind} namespace of the container's own, but the spec joins {path} (kubelet puts a container in its pod's); a policy for pods keeps the pod's join by giving the same path"
                        ),
                    ));
                }
                (Some(wanted), Some((_, Some(path)))) if wanted == path => {}
                (Some(wanted), spec) => {
                    let has = match spec {
                        Some((_, Some(path))) => format!("joins {path}"),
                        Some((_, None)) => format!("creates a new {kind} namespace"),
                        None => format!("has no {kind} namespace (the runtime's own)"),
                    };
                    return Err(error(
                        field,
                        format!(
                            "the decision joins the {kind} namespace {wanted}, but the spec {has}; runtime mode does not move a container into another namespace"
                        ),
                    ));
                }
            }
        }
        let user_new = decision.creates(NamespaceType::User);
        if user_new && !decision.uid_mappings.is_empty() {
            self.mappings("uidMappings", &decision.uid_mappings)?;
        }
        if user_new && !decision.gid_mappings.is_empty() {
            self.mappings("gidMappings", &decision.gid_mappings)?;
        }
        if !added.is_empty() {
            let linux = object_at(&mut self.spec, &["linux"])?;
            let list = linux
                .entry("namespaces".to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = list {
                for item in added {
                    let kind = item["type"].as_str().unwrap_or_default().to_string();
                    items.push(item);
                    self.changed.push(format!("linux.namespaces[{kind}]"));
                }
            }
        }
        Ok(())
    }

    /// The decision's id maps where the spec has none; equal ones where it
    /// has them.
    fn mappings(&mut self, key: &str, decision: &[IdMapping]) -> Patching {
        let path = ["linux", key];
        let spec: Option<Vec<IdMapping>> = read_typed(&self.spec, &path)?;
        match spec {
            Some(spec) if !spec.is_empty() => {
                if spec != decision {
                    return Err(error(
                        dotted(&path),
                        "the decision's id mappings differ from the spec's user namespace mappings",
                    ));
                }
                Ok(())
            }
            _ => {
                let value = serde_json::to_value(decision)
                    .map_err(|err| error(dotted(&path), err.to_string()))?;
                self.set(&path, value)
            }
        }
    }

    fn names(&mut self, decision: &NormalDecision) -> Patching {
        let joins_uts = get(&self.spec, &["linux", "namespaces"])
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items.iter().any(|item| {
                    item.get("type").and_then(Value::as_str) == Some("uts")
                        && item
                            .get("path")
                            .and_then(Value::as_str)
                            .is_some_and(|path| !path.is_empty())
                })
            });
        for (key, wanted) in [
            ("hostname", &decision.hostname),
            ("domainname", &decision.domainname),
        ] {
            let Some(wanted) = wanted else { continue };
            let spec = read_str(&self.spec, &[key])?.filter(|name| !name.is_empty());
            if spec == Some(wanted.as_str()) {
                continue;
            }
            if joins_uts {
                return Err(error(
                    key,
                    format!(
                        "the decision sets the {key} {wanted:?}, but the container joins its pod's uts namespace (the pod's {key} is kubelet's)"
                    ),
                ));
            }
            if spec.is_none() {
                self.set(&[key], json!(wanted))?;
            }
        }
        Ok(())
    }

    // ---- process ---------------------------------------------------------

    fn process(&mut self, decision: &NormalDecision) -> Patching {
        let wanted = &decision.process;
        // Capabilities: each set the spec has, intersected.
        let caps = &wanted.capabilities;
        for (set, allowed) in [
            ("bounding", &caps.bounding),
            ("effective", &caps.effective),
            ("inheritable", &caps.inheritable),
            ("permitted", &caps.permitted),
            ("ambient", &caps.ambient),
        ] {
            let path = ["process", "capabilities", set];
            let Some(value) = get(&self.spec, &path) else {
                continue;
            };
            let Some(items) = value.as_array() else {
                return Err(error(dotted(&path), "is not an array"));
            };
            let kept: Vec<Value> = items
                .iter()
                .filter(|name| name.as_str().is_some_and(|name| allowed.contains(name)))
                .cloned()
                .collect();
            if kept.len() != items.len() {
                self.set(&path, Value::Array(kept))?;
            }
        }
        if wanted.no_new_privileges {
            match get(&self.spec, &["process", "noNewPrivileges"]) {
                Some(Value::Bool(true)) => {}
                _ => self.set(&["process", "noNewPrivileges"], json!(true))?,
            }
        }
        self.rlimits(&wanted.rlimits)?;
        self.user(decision)
    }

    fn rlimits(&mut self, wanted: &BTreeMap<String, RlimitValue>) -> Patching {
        let path = ["process", "rlimits"];
        let mut items = match get(&self.spec, &path) {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(error("process.rlimits", "is not an array")),
        };
        let mut seen = BTreeSet::new();
        let mut changed = Vec::new();
        for (index, item) in items.iter_mut().enumerate() {
            let field = format!("process.rlimits[{index}]");
            let kind = item
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| error(format!("{field}.type"), "must be a string"))?
                .to_string();
            seen.insert(kind.clone());
            let Some(limit) = wanted.get(&kind) else {
                continue;
            };
            let number = |key: &str| {
                item.get(key)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| error(format!("{field}.{key}"), "must be an unsigned integer"))
            };
            let (soft, hard) = (number("soft")?, number("hard")?);
            let (new_soft, new_hard) = (soft.min(limit.soft), hard.min(limit.hard));
            if (new_soft, new_hard) != (soft, hard) {
                if let Value::Object(map) = item {
                    map.insert("soft".into(), json!(new_soft));
                    map.insert("hard".into(), json!(new_hard));
                }
                changed.push(format!("process.rlimits[{kind}]"));
            }
        }
        for (kind, limit) in wanted {
            if seen.contains(kind) {
                continue;
            }
            // What the container gets without an entry: the inherited
            // limit. Add one only where the decision's is lower.
            let limit = match self.inherited.get(kind) {
                Some(inherited) => {
                    let lower = RlimitValue {
                        soft: limit.soft.min(inherited.soft),
                        hard: limit.hard.min(inherited.hard),
                    };
                    if lower == *inherited {
                        continue;
                    }
                    lower
                }
                None if limit.soft == u64::MAX && limit.hard == u64::MAX => continue,
                None => *limit,
            };
            items.push(json!({ "type": kind, "hard": limit.hard, "soft": limit.soft }));
            changed.push(format!("process.rlimits[{kind}]"));
        }
        if !changed.is_empty() {
            object_at(&mut self.spec, &["process"])?.insert("rlimits".into(), Value::Array(items));
            for field in changed {
                self.note(field);
            }
        }
        Ok(())
    }

    fn user(&mut self, decision: &NormalDecision) -> Patching {
        let wanted = &decision.process.user;
        for (key, id) in [("uid", wanted.uid), ("gid", wanted.gid)] {
            let path = ["process", "user", key];
            let spec = read_u64(&self.spec, &path)?.unwrap_or(0);
            if spec == u64::from(id) {
                continue;
            }
            if spec != 0 || id == 0 {
                return Err(error(
                    dotted(&path),
                    format!(
                        "the decision runs the container as {key} {id}, the spec as {spec}; runtime mode only lowers root to another id"
                    ),
                ));
            }
            self.set(&path, json!(id))?;
        }
        let groups = ["process", "user", "additionalGids"];
        if let Some(value) = get(&self.spec, &groups) {
            let Some(items) = value.as_array() else {
                return Err(error(dotted(&groups), "is not an array"));
            };
            let kept: Vec<Value> = items
                .iter()
                .filter(|gid| {
                    gid.as_u64()
                        .and_then(|gid| u32::try_from(gid).ok())
                        .is_some_and(|gid| wanted.additional_gids.contains(&gid))
                })
                .cloned()
                .collect();
            if kept.len() != items.len() {
                self.set(&groups, Value::Array(kept))?;
            }
        }
        if let Some(mask) = wanted.umask {
            let path = ["process", "user", "umask"];
            let spec = read_u64(&self.spec, &path)?;
            let union = spec.unwrap_or(0) | u64::from(mask);
            if spec != Some(union) {
                self.set(&path, json!(union))?;
            }
        }
        Ok(())
    }

    // ---- resources -------------------------------------------------------

    fn resources(&mut self, decision: &NormalDecision) -> Patching {
        let wanted = &decision.resources;
        self.memory(decision)?;
        self.cpu(decision)?;
        self.lower(
            &["linux", "resources", "pids", "limit"],
            Limit::Unlimited,
            wanted.pids,
        )?;
        self.block_io(decision)?;
        self.per_key(
            &["linux", "resources", "hugepageLimits"],
            "pageSize",
            "limit",
            &wanted
                .hugepage_limits
                .iter()
                .map(|(size, limit)| (json!(size), *limit))
                .collect::<Vec<_>>(),
        )?;
        if let Some(class) = wanted.network_class_id {
            self.set(&["linux", "resources", "network", "classID"], json!(class))?;
        }
        if !wanted.network_priorities.is_empty() {
            self.priorities(&wanted.network_priorities)?;
        }
        self.unified(decision)?;
        self.devices(&wanted.devices)
    }

    fn memory(&mut self, decision: &NormalDecision) -> Patching {
        let wanted = &decision.resources.memory;
        let base = ["linux", "resources", "memory"];
        let at = |key: &'static str| [base[0], base[1], base[2], key];
        let spec_limit = read_limit(&self.spec, &at("limit"))?.unwrap_or(Limit::Unlimited);
        let spec_swap = read_limit(&self.spec, &at("swap"))?.unwrap_or(Limit::Unlimited);
        let limit = self.lower(&at("limit"), Limit::Unlimited, wanted.limit)?;
        // Swap alone (cgroup v2's memory.swap.max) no more than either's.
        let alone = swap_alone(spec_limit, spec_swap).min(swap_alone(wanted.limit, wanted.swap));
        let by_alone = match (limit, alone) {
            (Limit::At(limit), Limit::At(alone)) => Limit::At(limit.saturating_add(alone)),
            (Limit::Unlimited, alone) => alone,
            (_, Limit::Unlimited) => Limit::Unlimited,
        };
        self.lower(&at("swap"), Limit::Unlimited, wanted.swap.min(by_alone))?;
        self.lower(&at("reservation"), Limit::At(0), wanted.reservation)?;
        self.lower(&at("kernel"), Limit::Unlimited, wanted.kernel)?;
        self.lower(&at("kernelTCP"), Limit::Unlimited, wanted.kernel_tcp)?;
        if !wanted.disable_oom_killer
            && get(&self.spec, &at("disableOOMKiller")) == Some(&Value::Bool(true))
        {
            self.set(&at("disableOOMKiller"), json!(false))?;
        }
        if let Some(swappiness) = wanted.swappiness
            && get(&self.spec, &at("swappiness")).is_none()
        {
            self.set(&at("swappiness"), json!(swappiness))?;
        }
        if let Some(hierarchy) = wanted.use_hierarchy {
            match get(&self.spec, &at("useHierarchy")) {
                None => self.set(&at("useHierarchy"), json!(hierarchy))?,
                Some(Value::Bool(spec)) if *spec == hierarchy => {}
                Some(spec) => {
                    return Err(error(
                        dotted(&at("useHierarchy")),
                        format!("the spec sets {spec}, the decision {hierarchy}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn cpu(&mut self, decision: &NormalDecision) -> Patching {
        let wanted = &decision.resources.cpu;
        let at = |key: &'static str| ["linux", "resources", "cpu", key];
        let shares = read_u64(&self.spec, &at("shares"))?;
        let current = shares.unwrap_or(policy_model::normal::DEFAULT_CPU_SHARES);
        if wanted.shares < current {
            self.set(&at("shares"), json!(wanted.shares))?;
        }
        // CFS bandwidth: the pair with the lower ratio.
        let quota = read_limit(&self.spec, &at("quota"))?.unwrap_or(Limit::Unlimited);
        let period = read_u64(&self.spec, &at("period"))?
            .unwrap_or(policy_model::normal::DEFAULT_CPU_PERIOD);
        let tighter = match (share(quota, period), share(wanted.quota, wanted.period)) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(spec), Some(decision)) => decision < spec,
        };
        if tighter {
            self.set(&at("quota"), json!(wanted.quota.to_oci()))?;
            self.set(&at("period"), json!(wanted.period))?;
        }
        self.lower(&at("burst"), Limit::At(0), Limit::At(wanted.burst))?;
        // Realtime: the lower runtime over the longer period.
        const KERNEL_RT_PERIOD: u64 = 1_000_000;
        let runtime = self.lower(
            &at("realtimeRuntime"),
            Limit::At(0),
            wanted.realtime_runtime,
        )?;
        if runtime != Limit::At(0) {
            let spec_period = read_u64(&self.spec, &at("realtimePeriod"))?;
            let longer = spec_period
                .unwrap_or(KERNEL_RT_PERIOD)
                .max(wanted.realtime_period.unwrap_or(KERNEL_RT_PERIOD));
            if (spec_period.is_some() || wanted.realtime_period.is_some())
                && spec_period != Some(longer)
            {
                self.set(&at("realtimePeriod"), json!(longer))?;
            }
        }
        for (key, wanted) in [("cpus", &wanted.cpus), ("mems", &wanted.mems)] {
            let Some(wanted) = wanted else { continue };
            let path = at(key);
            let spec = match read_str(&self.spec, &path)?.filter(|list| !list.is_empty()) {
                None => None,
                Some(list) => Some(
                    parse_cpu_list(list)
                        .ok_or_else(|| error(dotted(&path), format!("{list:?} is not a list")))?
                        .into_iter()
                        .collect::<BTreeSet<u32>>(),
                ),
            };
            let both: BTreeSet<u32> = match &spec {
                None => wanted.clone(),
                Some(spec) => spec.intersection(wanted).copied().collect(),
            };
            if both.is_empty() {
                return Err(error(
                    dotted(&path),
                    format!(
                        "the spec's {:?} and the decision's {:?} have nothing in common",
                        spec.as_ref().map(cpu_list).unwrap_or_default(),
                        cpu_list(wanted)
                    ),
                ));
            }
            if spec.as_ref() != Some(&both) {
                self.set(&path, json!(cpu_list(&both)))?;
            }
        }
        if let Some(idle) = wanted.idle {
            match get(&self.spec, &at("idle")) {
                None => self.set(&at("idle"), json!(idle))?,
                Some(spec) if spec.as_i64() == Some(idle) => {}
                Some(spec) => {
                    return Err(error(
                        dotted(&at("idle")),
                        format!("the spec sets {spec}, the decision {idle}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn block_io(&mut self, decision: &NormalDecision) -> Patching {
        let wanted = &decision.resources.block_io;
        let at = |key: &'static str| ["linux", "resources", "blockIO", key];
        for (key, weight) in [
            ("weight", wanted.weight),
            ("leafWeight", wanted.leaf_weight),
        ] {
            let Some(weight) = weight else { continue };
            let spec = read_u64(&self.spec, &at(key))?;
            if spec.is_none_or(|spec| u64::from(weight) < spec) {
                self.set(&at(key), json!(weight))?;
            }
        }
        if !wanted.weight_device.is_empty() {
            self.weight_devices(decision)?;
        }
        for (key, devices) in [
            ("throttleReadBpsDevice", &wanted.throttle_read_bps_device),
            ("throttleWriteBpsDevice", &wanted.throttle_write_bps_device),
            ("throttleReadIOPSDevice", &wanted.throttle_read_iops_device),
            (
                "throttleWriteIOPSDevice",
                &wanted.throttle_write_iops_device,
            ),
        ] {
            let entries: Vec<(Value, u64)> = devices
                .iter()
                .map(|(device, rate)| (json!([device.major, device.minor]), *rate))
                .collect();
            self.per_key(&at(key), "", "rate", &entries)?;
        }
        Ok(())
    }

    /// An array of objects keyed by `key` (empty: by `major` and `minor`),
    /// each `field` the lower of the spec's and `wanted`'s; entries only
    /// `wanted` has are appended.
    fn per_key(
        &mut self,
        path: &[&str],
        key: &str,
        field: &str,
        wanted: &[(Value, u64)],
    ) -> Patching {
        if wanted.is_empty() {
            return Ok(());
        }
        let mut items = match get(&self.spec, path) {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(error(dotted(path), "is not an array")),
        };
        let key_of = |item: &Value| -> Option<Value> {
            if key.is_empty() {
                Some(json!([
                    item.get("major")?.as_i64()?,
                    item.get("minor")?.as_i64()?
                ]))
            } else {
                item.get(key).cloned()
            }
        };
        let mut changed = false;
        for (wanted_key, wanted_value) in wanted {
            match items
                .iter_mut()
                .find(|item| key_of(item).as_ref() == Some(wanted_key))
            {
                Some(item) => {
                    let spec = item.get(field).and_then(Value::as_u64);
                    if spec.is_none_or(|spec| *wanted_value < spec)
                        && let Value::Object(map) = item
                    {
                        map.insert(field.to_string(), json!(wanted_value));
                        changed = true;
                    }
                }
                None => {
                    let mut entry = Map::new();
                    if key.is_empty() {
                        entry.insert("major".into(), wanted_key[0].clone());
                        entry.insert("minor".into(), wanted_key[1].clone());
                    } else {
                        entry.insert(key.to_string(), wanted_key.clone());
                    }
                    entry.insert(field.to_string(), json!(wanted_value));
                    items.push(Value::Object(entry));
                    changed = true;
                }
            }
        }
        if changed {
            let Some((last, parent)) = path.split_last() else {
                return Ok(());
            };
            object_at(&mut self.spec, parent)?.insert(last.to_string(), Value::Array(items));
            self.note(dotted(path));
        }
        Ok(())
    }

    fn weight_devices(&mut self, decision: &NormalDecision) -> Patching {
        let path = ["linux", "resources", "blockIO", "weightDevice"];
        let mut items = match get(&self.spec, &path) {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(error(dotted(&path), "is not an array")),
        };
        let mut changed = false;
        for (device, weights) in &decision.resources.block_io.weight_device {
            let found = items.iter_mut().find(|item| {
                item.get("major").and_then(Value::as_i64) == Some(device.major)
                    && item.get("minor").and_then(Value::as_i64) == Some(device.minor)
            });
            match found {
                Some(Value::Object(map)) => {
                    for (key, weight) in [
                        ("weight", weights.weight),
                        ("leafWeight", weights.leaf_weight),
                    ] {
                        let Some(weight) = weight else { continue };
                        let spec = map.get(key).and_then(Value::as_u64);
                        if spec.is_none_or(|spec| u64::from(weight) < spec) {
                            map.insert(key.into(), json!(weight));
                            changed = true;
                        }
                    }
                }
                Some(_) => return Err(error(dotted(&path), "holds a non-object")),
                None => {
                    let mut entry = Map::new();
                    entry.insert("major".into(), json!(device.major));
                    entry.insert("minor".into(), json!(device.minor));
                    if let Some(weight) = weights.weight {
                        entry.insert("weight".into(), json!(weight));
                    }
                    if let Some(weight) = weights.leaf_weight {
                        entry.insert("leafWeight".into(), json!(weight));
                    }
                    items.push(Value::Object(entry));
                    changed = true;
                }
            }
        }
        if changed {
            object_at(&mut self.spec, &path[..3])?
                .insert("weightDevice".into(), Value::Array(items));
            self.note(dotted(&path));
        }
        Ok(())
    }

    fn priorities(&mut self, wanted: &BTreeMap<String, u32>) -> Patching {
        let path = ["linux", "resources", "network", "priorities"];
        let mut items = match get(&self.spec, &path) {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(error(dotted(&path), "is not an array")),
        };
        let mut changed = false;
        for (name, priority) in wanted {
            match items
                .iter_mut()
                .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
            {
                Some(Value::Object(map)) => {
                    if map.get("priority").and_then(Value::as_u64) != Some(u64::from(*priority)) {
                        map.insert("priority".into(), json!(priority));
                        changed = true;
                    }
                }
                _ => {
                    items.push(json!({ "name": name, "priority": priority }));
                    changed = true;
                }
            }
        }
        if changed {
            object_at(&mut self.spec, &path[..3])?.insert("priorities".into(), Value::Array(items));
            self.note(dotted(&path));
        }
        Ok(())
    }

    fn unified(&mut self, decision: &NormalDecision) -> Patching {
        let wanted = &decision.resources;
        let path = ["linux", "resources", "unified"];
        let spec: BTreeMap<String, Value> = match get(&self.spec, &path) {
            None => BTreeMap::new(),
            Some(Value::Object(map)) => map.clone().into_iter().collect(),
            Some(_) => return Err(error(dotted(&path), "is not an object")),
        };
        let mut result = spec.clone();
        for (key, value) in &wanted.unified {
            let field = format!("linux.resources.unified[{key}]");
            match spec.get(key) {
                None => {
                    result.insert(key.clone(), json!(value));
                }
                Some(Value::String(current)) if current == value => {}
                Some(Value::String(current)) if is_byte_limit(key) => {
                    let (Some(a), Some(b)) = (unified_bytes(current), unified_bytes(value)) else {
                        return Err(error(
                            field,
                            format!(
                                "cannot compare the spec's {current:?} with the decision's {value:?}"
                            ),
                        ));
                    };
                    if b < a {
                        result.insert(key.clone(), json!(value));
                    }
                }
                Some(current) => {
                    return Err(error(
                        field,
                        format!(
                            "the spec sets {current}, the decision {value:?}; they cannot be compared"
                        ),
                    ));
                }
            }
        }
        // The spec's raw files that a typed field owns override the
        // tightened typed value (runc writes them last).
        for (key, value) in &spec {
            let field = format!("linux.resources.unified[{key}]");
            let typed = match key.as_str() {
                "memory.max" => Some(wanted.memory.limit),
                "pids.max" => Some(wanted.pids),
                _ => None,
            };
            if let Some(limit) = typed {
                let current = value.as_str().and_then(unified_bytes).ok_or_else(|| {
                    error(
                        &field,
                        format!("{value} is not a number of bytes or \"max\""),
                    )
                })?;
                if limit < current {
                    result.insert(
                        key.clone(),
                        json!(limit.value().map_or("max".to_string(), |v| v.to_string())),
                    );
                }
                continue;
            }
            if let Some(owner) = typed_owner(key)
                && owner.limited(decision)
            {
                return Err(error(
                    field,
                    format!(
                        "the spec sets this raw file, which overrides the decision's {}; runtime mode cannot tighten both",
                        owner.name()
                    ),
                ));
            }
        }
        if result != spec {
            let map: Map<String, Value> = result.into_iter().collect();
            self.set(&path, Value::Object(map))?;
        }
        Ok(())
    }

    fn devices(&mut self, wanted: &[DeviceRule]) -> Patching {
        let path = ["linux", "resources", "devices"];
        let spec: Vec<DeviceRule> = read_typed(&self.spec, &path)?.unwrap_or_default();
        match device_intersection(&spec, wanted) {
            DeviceChoice::Spec => Ok(()),
            DeviceChoice::Rules(rules) => {
                let value = serde_json::to_value(rules)
                    .map_err(|err| error(dotted(&path), err.to_string()))?;
                self.set(&path, value)
            }
        }
    }

    // ---- paths, seccomp --------------------------------------------------

    fn paths(&mut self, decision: &NormalDecision) -> Patching {
        for (key, wanted) in [
            ("maskedPaths", &decision.filesystem.masked_paths),
            ("readonlyPaths", &decision.filesystem.readonly_paths),
        ] {
            let path = ["linux", key];
            let mut items = match get(&self.spec, &path) {
                None => Vec::new(),
                Some(Value::Array(items)) => items.clone(),
                Some(_) => return Err(error(dotted(&path), "is not an array")),
            };
            let before = items.len();
            for wanted in wanted {
                if !items.iter().any(|item| item.as_str() == Some(wanted)) {
                    items.push(json!(wanted));
                }
            }
            if items.len() != before {
                self.set(&path, Value::Array(items))?;
            }
        }
        Ok(())
    }

    fn seccomp(&mut self, decision: &NormalDecision) -> Patching {
        let Some(wanted) = &decision.seccomp else {
            return Ok(());
        };
        let path = ["linux", "seccomp"];
        let Some(raw) = get(&self.spec, &path) else {
            return self.set_seccomp(wanted.to_oci());
        };
        let spec: Seccomp = serde_json::from_value(raw.clone()).map_err(|err| {
            error(
                "linux.seccomp",
                format!("the decision has a seccomp profile, and the spec's cannot be compared with it ({err})"),
            )
        })?;
        let spec = NormalSeccomp::from_oci(&spec);
        let with = |profile: &NormalSeccomp| NormalDecision {
            seccomp: Some(profile.clone()),
            ..decision.clone()
        };
        let merged = merge_seccomp(&spec, wanted);
        if merged == spec || check_tightens(&with(wanted), &with(&spec)).is_ok() {
            return Ok(());
        }
        if merged == *wanted || check_tightens(&with(&spec), &with(wanted)).is_ok() {
            return self.set_seccomp(wanted.to_oci());
        }
        self.set_seccomp(merged.to_oci())
    }

    fn set_seccomp(&mut self, profile: Seccomp) -> Patching {
        let value =
            serde_json::to_value(profile).map_err(|err| error("linux.seccomp", err.to_string()))?;
        self.set(&["linux", "seccomp"], value)
    }
}

/// Raw cgroup v2 files holding a byte (or count) limit, lower is tighter.
fn is_byte_limit(key: &str) -> bool {
    matches!(
        key,
        "memory.max"
            | "memory.high"
            | "memory.swap.max"
            | "memory.swap.high"
            | "memory.zswap.max"
            | "pids.max"
    ) || (key.starts_with("hugetlb.") && key.ends_with(".max"))
}

/// A typed field that owns a raw cgroup v2 file.
#[derive(Debug, Clone, Copy)]
enum TypedOwner {
    Swap,
    Reservation,
    Cpu,
    Shares,
    Cpuset,
    Io,
    Hugepages,
}

fn typed_owner(key: &str) -> Option<TypedOwner> {
    Some(match key {
        "memory.swap.max" => TypedOwner::Swap,
        "memory.low" => TypedOwner::Reservation,
        "cpu.max" | "cpu.max.burst" => TypedOwner::Cpu,
        "cpu.weight" | "cpu.weight.nice" => TypedOwner::Shares,
        "cpuset.cpus" | "cpuset.mems" => TypedOwner::Cpuset,
        "io.max" | "io.weight" | "io.bfq.weight" => TypedOwner::Io,
        _ if key.starts_with("hugetlb.") && key.ends_with(".max") => TypedOwner::Hugepages,
        _ => return None,
    })
}

impl TypedOwner {
    fn name(self) -> &'static str {
        match self {
            TypedOwner::Swap => "memory.swap",
            TypedOwner::Reservation => "memory.reservation",
            TypedOwner::Cpu => "cpu quota and burst",
            TypedOwner::Shares => "cpu.shares",
            TypedOwner::Cpuset => "cpu.cpus and cpu.mems",
            TypedOwner::Io => "blockIO",
            TypedOwner::Hugepages => "hugepageLimits",
        }
    }

    /// Whether the decision sets the field to anything but a fresh
    /// cgroup's value.
    fn limited(self, decision: &NormalDecision) -> bool {
        let resources = &decision.resources;
        match self {
            TypedOwner::Swap => resources.memory.swap != Limit::Unlimited,
            TypedOwner::Reservation => resources.memory.reservation != Limit::At(0),
            TypedOwner::Cpu => resources.cpu.quota != Limit::Unlimited || resources.cpu.burst != 0,
            TypedOwner::Shares => resources.cpu.shares != policy_model::normal::DEFAULT_CPU_SHARES,
            TypedOwner::Cpuset => resources.cpu.cpus.is_some() || resources.cpu.mems.is_some(),
            TypedOwner::Io => {
                let io = &resources.block_io;
                io.weight.is_some()
                    || !io.weight_device.is_empty()
                    || !io.throttle_read_bps_device.is_empty()
                    || !io.throttle_write_bps_device.is_empty()
                    || !io.throttle_read_iops_device.is_empty()
                    || !io.throttle_write_iops_device.is_empty()
            }
            TypedOwner::Hugepages => !resources.hugepage_limits.is_empty(),
        }
    }
}

/// Which device rules the patched spec gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The spec's own (it allows nothing the decision denies).
    Spec,
    /// These rules.
    Rules(Vec<DeviceRule>),
}

/// Device rules that allow an access exactly when both `spec` and
/// `decision` allow it (OCI semantics: a fresh cgroup allows everything,
/// the last matching rule per access bit decides).
///
/// Whether a rule matches a device depends only on whether each of its
/// numbers equals a number some rule names, so devices fall into classes:
/// per type (`c`, `b`), a major named anywhere or one named nowhere, and
/// likewise the minor. When the spec's list allows nothing the decision's
/// denies, the spec's is kept; when the converse holds, the decision's is
/// taken; otherwise the list is built: deny everything, then for each type
/// the classes from the most general (`*:*`) to the most specific
/// (`major:minor`), a rule wherever the list so far gives a class's
/// representative other bits than both lists do. A more specific rule
/// never matches a more general class's representative, so each class
/// ends as both lists have it.
pub fn device_intersection(spec: &[DeviceRule], decision: &[DeviceRule]) -> DeviceChoice {
    let named = |pick: fn(&DeviceRule) -> Option<i64>| -> (Vec<i64>, i64) {
        let numbers: BTreeSet<i64> = spec
            .iter()
            .chain(decision)
            .filter_map(pick)
            .filter(|n| *n >= 0)
            .collect();
        let unnamed = (0..).find(|n| !numbers.contains(n)).unwrap_or(0);
        (numbers.into_iter().collect(), unnamed)
    };
    let (majors, other_major) = named(|rule| rule.major);
    let (minors, other_minor) = named(|rule| rule.minor);
    let mut patterns: Vec<(Option<i64>, Option<i64>)> = vec![(None, None)];
    patterns.extend(minors.iter().map(|minor| (None, Some(*minor))));
    patterns.extend(majors.iter().map(|major| (Some(*major), None)));
    for major in &majors {
        patterns.extend(minors.iter().map(|minor| (Some(*major), Some(*minor))));
    }
    let kinds = [DeviceType::Char, DeviceType::Block];
    let probes = || {
        kinds.into_iter().flat_map(|kind| {
            patterns.iter().map(move |(major, minor)| {
                (
                    kind,
                    major.unwrap_or(other_major),
                    minor.unwrap_or(other_minor),
                )
            })
        })
    };
    let bits = ["r", "w", "m"];
    let within = |inner: &[DeviceRule], outer: &[DeviceRule]| {
        probes().all(|(kind, major, minor)| {
            bits.iter().all(|bit| {
                !permits(inner, kind, major, minor, bit) || permits(outer, kind, major, minor, bit)
            })
        })
    };
    if within(spec, decision) {
        return DeviceChoice::Spec;
    }
    if within(decision, spec) {
        return DeviceChoice::Rules(decision.to_vec());
    }
    let mut rules = vec![DeviceRule::deny_all()];
    for kind in kinds {
        for (major, minor) in &patterns {
            let (probe_major, probe_minor) =
                (major.unwrap_or(other_major), minor.unwrap_or(other_minor));
            let mut allow = String::new();
            let mut deny = String::new();
            for bit in bits {
                let want = permits(spec, kind, probe_major, probe_minor, bit)
                    && permits(decision, kind, probe_major, probe_minor, bit);
                let have = permits(&rules, kind, probe_major, probe_minor, bit);
                if want && !have {
                    allow.push_str(bit);
                } else if have && !want {
                    deny.push_str(bit);
                }
            }
            for (allowed, access) in [(true, allow), (false, deny)] {
                if !access.is_empty() {
                    rules.push(DeviceRule {
                        allow: allowed,
                        kind: Some(kind),
                        major: *major,
                        minor: *minor,
                        access: Some(access),
                    });
                }
            }
        }
    }
    DeviceChoice::Rules(rules)
}

/// A profile at least as strict as both `a` and `b` for every call
/// ([`policy_model::normal::effective_action`]), for two profiles neither
/// of which contains the other.
///
/// Its default is the stricter default; its rules are every (name,
/// conditions) either profile has: a rule both have gets the stricter
/// action; a rule only one profile has gets at least the other's default
/// when the other has no unconditional rule for that name (a call matching
/// it matches no rule of the other, which then applies its default; with
/// an unconditional rule the other's own rules, also kept, bound it).
/// A rule that does what the merged default does is left out where every
/// rule for its name is at least as strict as that default (the same
/// action either way). Architectures are those both list; flags those
/// either lists, the speculation flag only if both do. When one profile
/// contains the other, the merge is that profile.
pub fn merge_seccomp(a: &NormalSeccomp, b: &NormalSeccomp) -> NormalSeccomp {
    let unconditional = |profile: &NormalSeccomp, name: &str| {
        profile
            .rules
            .iter()
            .any(|rule| rule.name == name && rule.args.is_empty())
    };
    let mut rules: BTreeMap<(String, Vec<policy_model::SyscallArg>), NormalAction> =
        BTreeMap::new();
    for (this, other) in [(a, b), (b, a)] {
        for rule in &this.rules {
            let mut action = rule.action;
            let shared = other
                .rules
                .iter()
                .any(|theirs| theirs.name == rule.name && theirs.args == rule.args);
            if !shared && !unconditional(other, &rule.name) {
                action = action.max(other.default_action);
            }
            let entry = rules
                .entry((rule.name.clone(), rule.args.clone()))
                .or_insert(action);
            *entry = (*entry).max(action);
        }
    }
    let spec_allow = policy_model::decision::SECCOMP_FLAG_SPEC_ALLOW;
    let default_action = a.default_action.max(b.default_action);
    // A rule that does what the default does, for a name whose every
    // rule is at least as strict as the default, changes nothing.
    let redundant: BTreeSet<String> = rules
        .iter()
        .filter(|((name, _), action)| {
            **action == default_action
                && rules
                    .iter()
                    .filter(|((other, _), _)| other == name)
                    .all(|(_, other)| *other >= default_action)
        })
        .map(|((name, _), _)| name.clone())
        .collect();
    rules.retain(|(name, _), action| !(redundant.contains(name) && *action == default_action));
    NormalSeccomp {
        default_action,
        architectures: a
            .architectures
            .intersection(&b.architectures)
            .cloned()
            .collect(),
        flags: a
            .flags
            .union(&b.flags)
            .filter(|flag| {
                flag.as_str() != spec_allow
                    || (a.flags.contains(spec_allow) && b.flags.contains(spec_allow))
            })
            .cloned()
            .collect(),
        rules: rules
            .into_iter()
            .map(|((name, args), action)| NormalSyscallRule { name, args, action })
            .collect(),
    }
}

/// Writes `spec` to `path` atomically: a temporary file beside it, synced,
/// renamed over it, with `path`'s mode kept.
pub fn write_config(path: &Path, spec: &Value) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".to_string());
    let mode = match std::fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode() & 0o7777,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0o644,
        Err(err) => return Err(err),
    };
    let bytes = serde_json::to_vec(spec).map_err(std::io::Error::other)?;
    let temporary = dir.join(format!(".{name}.enforcer-{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        // The umask may have cleared bits of the mode.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests;
