//! `exec`: the process a container's `exec` starts (`kubectl exec`) may
//! not regain what the container's decision took away.
//!
//! A `--process` file (what containerd, CRI-O and podman always give) is
//! patched where it can be: each capability set narrowed to the
//! container's, a root user (uid 0) in a container its decision runs as
//! another user made that user (its gid, its groups), `noNewPrivileges`
//! turned on, rlimits lowered to the container's. Both CRI runtimes build
//! the exec process from their own, unpatched copy of the container's
//! spec, so refusing these would refuse every `kubectl exec` into a
//! container whose decision dropped a capability. Another non-root user
//! (unless the container's is root), groups beyond the container's and LSM
//! labels other than the container's are refused. The flag form cannot be
//! patched in place: a flag that would regain a privilege is refused.
//!
//! The process JSON is read as runc reads it (`exec.go` `getProcess`
//! decodes a `specs.Process` with Go's `encoding/json`): member names match
//! case-insensitively (see [`super::record::go_key_matches`]), unknown
//! members are ignored, an absent member is Go's zero value. Then
//! libcontainer (`newInitConfig`) falls back to the container's own config
//! for absent `capabilities`, empty `apparmorProfile`/`selinuxLabel` and
//! an empty `rlimits` list; `noNewPrivileges` is always the process's
//! (`utils_linux.go` `newProcess`), so an absent one is *off*. A member
//! spelled two ways (Go takes the last in the file, which a parsed map no
//! longer knows) is refused.
//!
//! The flag form (`runc exec [flags] ID CMD`) starts from the bundle's
//! `config.json` process, which `create` patched, and the flags only add
//! to it: `--cap` adds to the bounding, effective and permitted sets (and
//! to ambient when the config has an inheritable set), `--user` and
//! `--additional-gids` replace or add ids, `--apparmor` and
//! `--process-label` replace the labels, and `--no-new-privs` sets the
//! bit (runc honours `--no-new-privs=false` too: [`ExecFlags`] records
//! only the flag's presence, so the parser must refuse that form).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::args::ExecFlags;
use super::record::{ContainerRecord, ProcessCeiling, go_key_matches};

/// Why an exec is refused: the process's JSON path (or flag) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ExecRefusal {
    /// `process.capabilities.bounding` or `--cap`.
    pub field: String,
    /// Why.
    pub message: String,
}

/// Checks `process` (the `--process` file's JSON) against `record`:
/// `Ok(None)` if it may run as it is, `Ok(Some(patched))` if it may run
/// once patched, `Err` if it is refused.
pub fn check_process(
    process: &Value,
    record: &ContainerRecord,
) -> Result<Option<Value>, ExecRefusal> {
    let ceiling = &record.process;
    let Some(object) = process.as_object() else {
        return refuse("process", "is not a JSON object");
    };
    let mut patched = object.clone();
    narrow_capabilities(object, &mut patched, ceiling)?;
    narrow_root_user(object, &mut patched, ceiling)?;
    check_user(&patched, ceiling)?;
    for (name, ours) in [
        ("apparmorProfile", &ceiling.apparmor_profile),
        ("selinuxLabel", &ceiling.selinux_label),
    ] {
        let value = member(object, name, "process")?.map(|(_, value)| value);
        let asked = match value {
            None | Some(Value::Null) => None,
            Some(Value::String(label)) => Some(label.as_str()),
            Some(_) => return refuse(&format!("process.{name}"), "is not a string"),
        };
        check_label(&format!("process.{name}"), asked, ours.as_deref())?;
    }
    if ceiling.no_new_privileges {
        let on = matches!(
            member(object, "noNewPrivileges", "process")?,
            Some((_, Value::Bool(true)))
        );
        if !on {
            set_member(&mut patched, "noNewPrivileges", Value::Bool(true));
        }
    }
    patch_rlimits(&mut patched, ceiling)?;
    if patched == *object {
        Ok(None)
    } else {
        Ok(Some(Value::Object(patched)))
    }
}

/// Checks the flag form of `exec` against `record` (flags cannot be
/// patched in place: anything that regains a privilege is refused).
pub fn check_flags(flags: &ExecFlags, record: &ContainerRecord) -> Result<(), ExecRefusal> {
    let ceiling = &record.process;
    let caps = &ceiling.capabilities;
    for cap in &flags.caps {
        let mut missing = Vec::new();
        for (set, names) in [
            ("bounding", &caps.bounding),
            ("effective", &caps.effective),
            ("permitted", &caps.permitted),
        ] {
            if !names.contains(cap) {
                missing.push(set);
            }
        }
        // runc adds --cap to ambient when the config has an inheritable
        // set; the kernel raises an ambient capability only if it is
        // inheritable too. So it regains one only if it is inheritable.
        if caps.inheritable.contains(cap) && !caps.ambient.contains(cap) {
            missing.push("ambient");
        }
        if !missing.is_empty() {
            return refuse(
                "--cap",
                &format!(
                    "{cap}: the container's decision dropped it from its {} set{}",
                    missing.join(", "),
                    if missing.len() > 1 { "s" } else { "" }
                ),
            );
        }
    }
    let number = |field: &str, text: &str| -> Result<u32, ExecRefusal> {
        text.parse::<u32>().map_err(|_| ExecRefusal {
            field: field.to_string(),
            message: format!(
                "{text:?} is not a numeric id; only numeric ids can be checked against the container's"
            ),
        })
    };
    if let Some(user) = flags.user.as_deref().filter(|user| !user.is_empty()) {
        let (uid, gid) = match user.split_once(':') {
            Some((uid, gid)) => (number("--user", uid)?, Some(number("--user", gid)?)),
            None => (number("--user", user)?, None),
        };
        check_ids(["--user"; 3], uid, gid.unwrap_or(ceiling.gid), &[], ceiling)?;
    }
    let mut gids = Vec::new();
    for gid in &flags.additional_gids {
        gids.push(number("--additional-gids", gid)?);
    }
    check_ids(
        ["--additional-gids"; 3],
        ceiling.uid,
        ceiling.gid,
        &gids,
        ceiling,
    )?;
    fn label(flag: &Option<String>) -> Option<&str> {
        flag.as_deref().filter(|label| !label.is_empty())
    }
    check_label(
        "--apparmor",
        label(&flags.apparmor),
        ceiling.apparmor_profile.as_deref(),
    )?;
    check_label(
        "--process-label",
        label(&flags.process_label),
        ceiling.selinux_label.as_deref(),
    )?;
    Ok(())
}

fn refuse<T>(field: &str, message: &str) -> Result<T, ExecRefusal> {
    Err(ExecRefusal {
        field: field.to_string(),
        message: message.to_string(),
    })
}

/// The member of `object` Go reads as `name`: `None` if absent, refused if
/// spelled several ways.
fn member<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<(&'a str, &'a Value)>, ExecRefusal> {
    let mut found = object
        .iter()
        .filter(|(key, _)| go_key_matches(key, name))
        .map(|(key, value)| (key.as_str(), value));
    let first = found.next();
    if let Some((other, _)) = found.next() {
        let (key, _) = first.unwrap_or((other, &Value::Null));
        return refuse(
            &format!("{path}.{name}"),
            &format!(
                "spelled both {key:?} and {other:?}: runc reads either as {name:?}, so it cannot be checked"
            ),
        );
    }
    Ok(first)
}

/// Sets `name` to `value`, dropping every other spelling of it.
fn set_member(object: &mut Map<String, Value>, name: &str, value: Value) {
    object.retain(|key, _| !go_key_matches(key, name));
    object.insert(name.to_string(), value);
}

/// An unsigned integer member (Go's zero when absent or `null`).
fn unsigned(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
    max: u64,
) -> Result<u64, ExecRefusal> {
    match member(object, name, path)? {
        None | Some((_, Value::Null)) => Ok(0),
        Some((_, value)) => value.as_u64().filter(|n| *n <= max).map_or_else(
            || {
                refuse(
                    &format!("{path}.{name}"),
                    "is not an unsigned integer in range",
                )
            },
            Ok,
        ),
    }
}

const SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

fn ceiling_set<'a>(ceiling: &'a ProcessCeiling, set: &str) -> &'a [String] {
    let caps = &ceiling.capabilities;
    match set {
        "bounding" => &caps.bounding,
        "effective" => &caps.effective,
        "inheritable" => &caps.inheritable,
        "permitted" => &caps.permitted,
        _ => &caps.ambient,
    }
}

/// Narrows each capability set of the process to the container's (an
/// absent set or `capabilities` stays absent: runc then uses the
/// container's own).
fn narrow_capabilities(
    object: &Map<String, Value>,
    patched: &mut Map<String, Value>,
    ceiling: &ProcessCeiling,
) -> Result<(), ExecRefusal> {
    let sets = match member(object, "capabilities", "process")? {
        None | Some((_, Value::Null)) => return Ok(()),
        Some((_, Value::Object(sets))) => sets,
        Some(_) => return refuse("process.capabilities", "is not an object"),
    };
    let mut narrowed = sets.clone();
    for set in SETS {
        let field = format!("process.capabilities.{set}");
        let names = match member(sets, set, "process.capabilities")? {
            None | Some((_, Value::Null)) => continue,
            Some((_, Value::Array(names))) => names,
            Some(_) => return refuse(&field, "is not a list of capability names"),
        };
        let allowed = ceiling_set(ceiling, set);
        let mut kept = Vec::new();
        for name in names {
            let Some(name) = name.as_str() else {
                return refuse(&field, "is not a list of capability names");
            };
            if allowed.iter().any(|ours| ours == name) {
                kept.push(Value::String(name.to_string()));
            }
        }
        if kept.len() != names.len() {
            set_member(&mut narrowed, set, Value::Array(kept));
        }
    }
    if narrowed != *sets {
        set_member(patched, "capabilities", Value::Object(narrowed));
    }
    Ok(())
}

/// A root user (uid 0, Go's zero for an absent one) in a container whose
/// decision runs it as another user becomes that user: its uid, its gid,
/// and the asked supplementary groups the container has.
fn narrow_root_user(
    object: &Map<String, Value>,
    patched: &mut Map<String, Value>,
    ceiling: &ProcessCeiling,
) -> Result<(), ExecRefusal> {
    if ceiling.uid == 0 {
        return Ok(());
    }
    let empty = Map::new();
    let user = match member(object, "user", "process")? {
        None | Some((_, Value::Null)) => &empty,
        Some((_, Value::Object(user))) => user,
        Some(_) => return refuse("process.user", "is not an object"),
    };
    if unsigned(user, "uid", "process.user", u64::from(u32::MAX))? != 0 {
        return Ok(());
    }
    let mut narrowed = user.clone();
    set_member(&mut narrowed, "uid", Value::from(ceiling.uid));
    set_member(&mut narrowed, "gid", Value::from(ceiling.gid));
    let gids: Vec<Value> = match member(user, "additionalGids", "process.user")? {
        Some((_, Value::Array(ids))) => ids
            .iter()
            .filter(|id| {
                id.as_u64()
                    .and_then(|id| u32::try_from(id).ok())
                    .is_some_and(|id| id == ceiling.gid || ceiling.additional_gids.contains(&id))
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    if gids.is_empty() {
        narrowed.retain(|key, _| !go_key_matches(key, "additionalGids"));
    } else {
        set_member(&mut narrowed, "additionalGids", Value::Array(gids));
    }
    set_member(patched, "user", Value::Object(narrowed));
    Ok(())
}

fn check_user(object: &Map<String, Value>, ceiling: &ProcessCeiling) -> Result<(), ExecRefusal> {
    let empty = Map::new();
    let user = match member(object, "user", "process")? {
        None | Some((_, Value::Null)) => &empty,
        Some((_, Value::Object(user))) => user,
        Some(_) => return refuse("process.user", "is not an object"),
    };
    let max = u64::from(u32::MAX);
    let id = |name| {
        unsigned(user, name, "process.user", max).map(|id| u32::try_from(id).unwrap_or(u32::MAX))
    };
    let uid = id("uid")?;
    let gid = id("gid")?;
    let gids = match member(user, "additionalGids", "process.user")? {
        None | Some((_, Value::Null)) => Vec::new(),
        Some((_, Value::Array(ids))) => {
            let mut gids = Vec::new();
            for id in ids {
                match id.as_u64().and_then(|id| u32::try_from(id).ok()) {
                    Some(id) => gids.push(id),
                    None => {
                        return refuse("process.user.additionalGids", "is not a list of group ids");
                    }
                }
            }
            gids
        }
        Some(_) => return refuse("process.user.additionalGids", "is not a list of group ids"),
    };
    check_ids(
        [
            "process.user.uid",
            "process.user.gid",
            "process.user.additionalGids",
        ],
        uid,
        gid,
        &gids,
        ceiling,
    )
}

/// The container's own ids, or any if it runs as root. `fields`: where
/// the uid, the gid and the supplementary groups were given.
fn check_ids(
    [uid_field, gid_field, gids_field]: [&str; 3],
    uid: u32,
    gid: u32,
    gids: &[u32],
    ceiling: &ProcessCeiling,
) -> Result<(), ExecRefusal> {
    if ceiling.uid == 0 {
        return Ok(());
    }
    if uid != ceiling.uid {
        return refuse(
            uid_field,
            &format!(
                "uid {uid}: the container's decision runs it as uid {}, and only a container running as root may exec as another user",
                ceiling.uid
            ),
        );
    }
    if gid != ceiling.gid {
        return refuse(
            gid_field,
            &format!(
                "gid {gid}: the container's decision runs it as gid {}",
                ceiling.gid
            ),
        );
    }
    let extra: Vec<String> = gids
        .iter()
        .filter(|id| **id != ceiling.gid && !ceiling.additional_gids.contains(id))
        .map(u32::to_string)
        .collect();
    if !extra.is_empty() {
        return refuse(
            gids_field,
            &format!(
                "groups {}: the container's decision does not give them (it has {:?})",
                extra.join(", "),
                ceiling.additional_gids
            ),
        );
    }
    Ok(())
}

/// An LSM label: an empty or absent one is the container's own (runc
/// keeps the config's); another than the container's is refused.
fn check_label(field: &str, asked: Option<&str>, ours: Option<&str>) -> Result<(), ExecRefusal> {
    match (asked.filter(|label| !label.is_empty()), ours) {
        (Some(asked), Some(ours)) if asked != ours => refuse(
            field,
            &format!("{asked:?}: the container's decision confines it to {ours:?}"),
        ),
        _ => Ok(()),
    }
}

/// Lowers every rlimit above the container's to it and adds the
/// container's that the process lacks: runc gives a process whose list is
/// not empty only that list (`newInitConfig`), and crun's exec sets only
/// the process's list, even an empty one (`libcrun_set_rlimits
/// (process->rlimits, ...)`); the rest would be the runtime's own.
fn patch_rlimits(
    object: &mut Map<String, Value>,
    ceiling: &ProcessCeiling,
) -> Result<(), ExecRefusal> {
    if ceiling.rlimits.is_empty() {
        return Ok(());
    }
    let mut entries = match member(object, "rlimits", "process")? {
        None | Some((_, Value::Null)) => Vec::new(),
        Some((_, Value::Array(entries))) => entries.clone(),
        Some(_) => return refuse("process.rlimits", "is not a list"),
    };
    // runc sets each entry in turn: the last of a type is the one that holds.
    let ours: std::collections::BTreeMap<&str, &policy_model::Rlimit> = ceiling
        .rlimits
        .iter()
        .map(|rlimit| (rlimit.kind.as_str(), rlimit))
        .collect();
    let mut present = BTreeSet::new();
    for (index, entry) in entries.iter_mut().enumerate() {
        let path = format!("process.rlimits[{index}]");
        let Some(entry) = entry.as_object_mut() else {
            return refuse(&path, "is not an object");
        };
        let kind = match member(entry, "type", &path)? {
            Some((_, Value::String(kind))) => kind.clone(),
            _ => return refuse(&format!("{path}.type"), "is not an rlimit name"),
        };
        let soft = unsigned(entry, "soft", &path, u64::MAX)?;
        let hard = unsigned(entry, "hard", &path, u64::MAX)?;
        present.insert(kind.clone());
        if let Some(ours) = ours.get(kind.as_str()) {
            if soft > ours.soft {
                set_member(entry, "soft", Value::from(ours.soft));
            }
            if hard > ours.hard {
                set_member(entry, "hard", Value::from(ours.hard));
            }
        }
    }
    for ours in ours.values() {
        if present.insert(ours.kind.clone()) {
            entries.push(serde_json::json!({
                "type": ours.kind,
                "hard": ours.hard,
                "soft": ours.soft,
            }));
        }
    }
    let unchanged = matches!(
        member(object, "rlimits", "process")?,
        Some((_, Value::Array(before))) if *before == entries
    );
    if !unchanged {
        set_member(object, "rlimits", Value::Array(entries));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::record::{ProcessCeiling, VERSION};
    use policy_model::{Capabilities, Rlimit};
    use serde_json::json;

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    /// A container running as 1000:1000 with CAP_CHOWN and CAP_KILL.
    fn record() -> ContainerRecord {
        ContainerRecord {
            version: VERSION,
            decision_id: "d".into(),
            process: ProcessCeiling {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![10],
                capabilities: Capabilities {
                    bounding: strings(&["CAP_CHOWN", "CAP_KILL"]),
                    effective: strings(&["CAP_CHOWN"]),
                    inheritable: Vec::new(),
                    permitted: strings(&["CAP_CHOWN"]),
                    ambient: Vec::new(),
                },
                no_new_privileges: true,
                rlimits: vec![Rlimit {
                    kind: "RLIMIT_NOFILE".into(),
                    hard: 4096,
                    soft: 1024,
                }],
                apparmor_profile: Some("cri-containerd.apparmor.d".into()),
                selinux_label: None,
            },
            ..ContainerRecord::default()
        }
    }

    /// What go-runc writes for `kubectl exec`: the container's process
    /// with other args.
    fn process() -> Value {
        json!({
            "terminal": true,
            "consoleSize": {"height": 24, "width": 80},
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
            "args": ["sh"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_CHOWN", "CAP_KILL"],
                "effective": ["CAP_CHOWN"],
                "permitted": ["CAP_CHOWN"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}],
            "noNewPrivileges": true,
            "apparmorProfile": "cri-containerd.apparmor.d",
            "oomScoreAdj": 1000
        })
    }

    fn with(mut value: Value, path: &[&str], set: Value) -> Value {
        let mut at = &mut value;
        for key in &path[..path.len() - 1] {
            at = &mut at[*key];
        }
        match set {
            Value::Null => {
                if let Some(object) = at.as_object_mut() {
                    object.remove(path[path.len() - 1]);
                }
            }
            set => at[path[path.len() - 1]] = set,
        }
        value
    }

    fn refused(process: &Value) -> ExecRefusal {
        match check_process(process, &record()) {
            Err(refusal) => refusal,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_containers_own_process_runs_as_it_is() {
        assert_eq!(check_process(&process(), &record()), Ok(None));
        let mut minimal = json!({"args": ["sh"], "user": {"uid": 1000, "gid": 1000},
            "noNewPrivileges": true, "apparmorProfile": ""});
        // Absent caps and labels are the container's (runc and crun fall
        // back to its config); absent rlimits are the container's for runc
        // only (crun's exec sets just the process's): they are added.
        let patched = check_process(&minimal, &record())
            .expect("as the test builds it")
            .expect("as the test builds it");
        minimal["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}]);
        assert_eq!(patched, minimal);
        assert_eq!(check_process(&minimal, &record()), Ok(None));
    }

    #[test]
    fn attacker_list() {
        // CAP_SYS_ADMIN in ambient only, in bounding, in a set spelled as
        // Go still reads it: narrowed away (what containerd's unpatched
        // copy of the spec asks for must not refuse kubectl exec).
        for (set, asked, kept) in [
            ("ambient", json!(["CAP_SYS_ADMIN"]), json!([])),
            (
                "bounding",
                json!(["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]),
                json!(["CAP_CHOWN"]),
            ),
            ("Inheritable", json!(["CAP_SYS_ADMIN"]), json!([])),
        ] {
            let patched = check_process(&with(process(), &["capabilities", set], asked), &record())
                .expect("patched, not refused")
                .expect("changed");
            let canonical = if set == "Inheritable" {
                "inheritable"
            } else {
                set
            };
            assert_eq!(patched["capabilities"][canonical], kept, "{set}");
            assert!(patched["capabilities"].get("Inheritable").is_none());
        }
        let mut sneaky = process();
        sneaky
            .as_object_mut()
            .expect("as the test builds it")
            .insert("capabilitieſ".into(), json!({"ambient": ["CAP_SYS_ADMIN"]}));
        assert!(refused(&sneaky).message.contains("spelled both"));
        // "noNewPrivileges": false, and absent.
        for nnp in [json!(false), Value::Null] {
            let patched = check_process(&with(process(), &["noNewPrivileges"], nnp), &record())
                .expect("as the test builds it")
                .expect("as the test builds it");
            assert_eq!(patched["noNewPrivileges"], json!(true));
        }
        let mut variant = process();
        variant
            .as_object_mut()
            .expect("as the test builds it")
            .remove("noNewPrivileges");
        variant["NoNewPrivileges"] = json!(false);
        let patched = check_process(&variant, &record())
            .expect("as the test builds it")
            .expect("as the test builds it");
        assert_eq!(patched["noNewPrivileges"], json!(true));
        assert!(patched.get("NoNewPrivileges").is_none());
        // uid 0 in a container of uid 1000 (also no user: Go's zero)
        // becomes the container's user; another uid, gid 0 with uid 1000
        // and a group it lacks are refused.
        for asked in [
            with(process(), &["user", "uid"], json!(0)),
            with(process(), &["user"], Value::Null),
        ] {
            let patched = check_process(&asked, &record())
                .expect("patched, not refused")
                .expect("changed");
            assert_eq!(patched["user"]["uid"], 1000);
            assert_eq!(patched["user"]["gid"], 1000);
        }
        let refusal = refused(&with(process(), &["user", "uid"], json!(1001)));
        assert_eq!(refusal.field, "process.user.uid");
        assert!(refusal.message.contains("uid 1000"), "{refusal}");
        assert_eq!(
            refused(&with(process(), &["user", "gid"], json!(0))).field,
            "process.user.gid"
        );
        assert_eq!(
            refused(&with(
                process(),
                &["user", "additionalGids"],
                json!([10, 0])
            ))
            .field,
            "process.user.additionalGids"
        );
        assert_eq!(
            refused(&with(process(), &["user", "uid"], json!(-1))).field,
            "process.user.uid"
        );
        assert_eq!(
            refused(&with(process(), &["user", "uid"], json!("1000"))).field,
            "process.user.uid"
        );
        // A huge RLIMIT_NOFILE is lowered; another type kept; the
        // container's added where missing.
        let patched = check_process(
            &with(
                process(),
                &["rlimits"],
                json!([{"type": "RLIMIT_NOFILE", "hard": u64::MAX, "soft": 1_048_576},
                       {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]),
            ),
            &record(),
        )
        .expect("as the test builds it")
        .expect("as the test builds it");
        assert_eq!(
            patched["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
                   {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}])
        );
        let patched = check_process(
            &with(
                process(),
                &["rlimits"],
                json!([{"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]),
            ),
            &record(),
        )
        .expect("as the test builds it")
        .expect("as the test builds it");
        assert_eq!(patched["rlimits"][1]["type"], "RLIMIT_NOFILE");
        // A lower one stays.
        let lower = with(
            process(),
            &["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 100, "soft": 10}]),
        );
        assert_eq!(check_process(&lower, &record()), Ok(None));
        // Another AppArmor profile; "unconfined" too.
        for profile in ["unconfined", "other"] {
            let refusal = refused(&with(process(), &["apparmorProfile"], json!(profile)));
            assert_eq!(refusal.field, "process.apparmorProfile");
        }
        // The container has no SELinux label: any is more confined.
        let labelled = with(process(), &["selinuxLabel"], json!("system_u:system_r:x"));
        assert_eq!(check_process(&labelled, &record()), Ok(None));
        // Not an object.
        assert_eq!(refused(&json!([1])).field, "process");
        assert_eq!(
            refused(&with(process(), &["capabilities"], json!(["CAP_KILL"]))).field,
            "process.capabilities"
        );
        assert_eq!(
            refused(&with(process(), &["rlimits"], json!([{"type": 1}]))).field,
            "process.rlimits[0].type"
        );
    }

    #[test]
    fn unknown_fields_survive_a_patch() {
        let mut asked = with(process(), &["noNewPrivileges"], json!(false));
        asked["x-future"] = json!({"keep": [1, 2]});
        asked["rlimits"][0]["x-entry"] = json!("kept");
        asked["rlimits"][0]["soft"] = json!(5000);
        asked["rlimits"][0]["hard"] = json!(5000);
        let patched = check_process(&asked, &record())
            .expect("as the test builds it")
            .expect("as the test builds it");
        assert_eq!(patched["x-future"], json!({"keep": [1, 2]}));
        assert_eq!(patched["rlimits"][0]["x-entry"], "kept");
        assert_eq!(patched["oomScoreAdj"], 1000);
        assert_eq!(patched["consoleSize"]["width"], 80);
        let mut expected = asked.clone();
        expected["noNewPrivileges"] = json!(true);
        expected["rlimits"][0]["soft"] = json!(1024);
        expected["rlimits"][0]["hard"] = json!(4096);
        assert_eq!(patched, expected, "nothing else changes");
    }

    #[test]
    fn root_containers_may_exec_as_anyone() {
        let mut root = record();
        root.process.uid = 0;
        root.process.gid = 0;
        let anyone = with(
            process(),
            &["user"],
            json!({"uid": 33, "gid": 44, "additionalGids": [1, 2]}),
        );
        assert_eq!(check_process(&anyone, &root), Ok(None));
        let flags = ExecFlags {
            user: Some("33:44".into()),
            additional_gids: vec!["5".into()],
            ..ExecFlags::default()
        };
        assert_eq!(check_flags(&flags, &root), Ok(()));
    }

    #[test]
    fn flags() {
        let record = record();
        let ok = |flags: ExecFlags| assert_eq!(check_flags(&flags, &record), Ok(()), "{flags:?}");
        let refused = |flags: ExecFlags, field: &str| match check_flags(&flags, &record) {
            Err(refusal) => assert_eq!(refusal.field, field, "{refusal}"),
            Ok(()) => panic!("not refused: {flags:?}"),
        };
        ok(ExecFlags {
            command: strings(&["sh"]),
            ..ExecFlags::default()
        });
        ok(ExecFlags {
            caps: strings(&["CAP_CHOWN"]),
            no_new_privs: true,
            user: Some("1000".into()),
            additional_gids: strings(&["10", "1000"]),
            apparmor: Some("cri-containerd.apparmor.d".into()),
            process_label: Some("anything: the container has none".into()),
            ..ExecFlags::default()
        });
        ok(ExecFlags {
            user: Some("1000:1000".into()),
            apparmor: Some(String::new()),
            ..ExecFlags::default()
        });
        // CAP_KILL is only in bounding: runc would add it to effective and
        // permitted too.
        refused(
            ExecFlags {
                caps: strings(&["CAP_KILL"]),
                ..ExecFlags::default()
            },
            "--cap",
        );
        refused(
            ExecFlags {
                caps: strings(&["CAP_SYS_ADMIN"]),
                ..ExecFlags::default()
            },
            "--cap",
        );
        for user in ["0", "0:0", "1000:0", "root", "1000:wheel", ":", "-1"] {
            refused(
                ExecFlags {
                    user: Some(user.into()),
                    ..ExecFlags::default()
                },
                "--user",
            );
        }
        for gid in ["0", "x", "-5"] {
            refused(
                ExecFlags {
                    additional_gids: strings(&[gid]),
                    ..ExecFlags::default()
                },
                "--additional-gids",
            );
        }
        refused(
            ExecFlags {
                apparmor: Some("unconfined".into()),
                ..ExecFlags::default()
            },
            "--apparmor",
        );
        let mut labelled = record.clone();
        labelled.process.selinux_label = Some("system_u:system_r:container_t:s0:c1,c2".into());
        assert!(
            check_flags(
                &ExecFlags {
                    process_label: Some("system_u:system_r:spc_t:s0".into()),
                    ..ExecFlags::default()
                },
                &labelled
            )
            .is_err()
        );
        // Ambient: an inheritable capability --cap would make ambient.
        let mut inheritable = record.clone();
        let caps = &mut inheritable.process.capabilities;
        caps.effective.push("CAP_KILL".into());
        caps.permitted.push("CAP_KILL".into());
        caps.inheritable.push("CAP_KILL".into());
        let kill = ExecFlags {
            caps: strings(&["CAP_KILL"]),
            ..ExecFlags::default()
        };
        let refusal = check_flags(&kill, &inheritable).expect_err("refused");
        assert!(refusal.message.contains("ambient"), "{refusal}");
        inheritable
            .process
            .capabilities
            .ambient
            .push("CAP_KILL".into());
        assert_eq!(check_flags(&kill, &inheritable), Ok(()));
    }

    /// xorshift64*: deterministic, no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn coin(&mut self) -> bool {
            self.below(2) == 0
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len() as u64) as usize]
        }
        fn subset(&mut self, items: &[&str]) -> Vec<String> {
            items
                .iter()
                .filter(|_| self.below(3) == 0)
                .map(|item| item.to_string())
                .collect()
        }
    }

    const CAPS: [&str; 6] = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_SYS_ADMIN",
        "CAP_NET_RAW",
        "CAP_SETUID",
        "CAP_SYS_PTRACE",
    ];
    const RLIMITS: [&str; 3] = ["RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE"];
    const VALUES: [u64; 5] = [0, 10, 1024, 1 << 20, u64::MAX];

    fn random_record(rng: &mut Rng) -> ContainerRecord {
        let mut rlimits = Vec::new();
        for kind in RLIMITS {
            if rng.coin() {
                let a = *rng.pick(&VALUES);
                let b = *rng.pick(&VALUES);
                rlimits.push(Rlimit {
                    kind: kind.to_string(),
                    soft: a.min(b),
                    hard: a.max(b),
                });
            }
        }
        let label = |rng: &mut Rng| rng.coin().then(|| rng.pick(&["a", "b"]).to_string());
        ContainerRecord {
            version: VERSION,
            process: ProcessCeiling {
                uid: *rng.pick(&[0, 1000, 1001]),
                gid: *rng.pick(&[0, 1000]),
                additional_gids: [10, 20].into_iter().filter(|_| rng.coin()).collect(),
                capabilities: Capabilities {
                    bounding: rng.subset(&CAPS),
                    effective: rng.subset(&CAPS),
                    inheritable: rng.subset(&CAPS),
                    permitted: rng.subset(&CAPS),
                    ambient: rng.subset(&CAPS),
                },
                no_new_privileges: rng.coin(),
                rlimits,
                apparmor_profile: label(rng),
                selinux_label: label(rng),
            },
            ..ContainerRecord::default()
        }
    }

    /// A key as the attacker spells it.
    fn spell(rng: &mut Rng, name: &str) -> String {
        match rng.below(6) {
            0 => name.to_uppercase(),
            1 => name.replace('s', "ſ"),
            2 => name.replace('i', "ı"),
            _ => name.to_string(),
        }
    }

    fn random_process(rng: &mut Rng) -> Value {
        let mut process = Map::new();
        process.insert("args".into(), json!(["sh"]));
        process.insert("x-extra".into(), json!(rng.next()));
        if rng.below(4) != 0 {
            let mut sets = Map::new();
            for set in SETS {
                if rng.coin() {
                    sets.insert(spell(rng, set), json!(rng.subset(&CAPS)));
                }
            }
            process.insert(spell(rng, "capabilities"), Value::Object(sets));
        }
        if rng.below(5) != 0 {
            let mut user = Map::new();
            user.insert(spell(rng, "uid"), json!(*rng.pick(&[0, 1000, 1001, 7])));
            user.insert(spell(rng, "gid"), json!(*rng.pick(&[0, 1000, 7])));
            if rng.coin() {
                user.insert(
                    spell(rng, "additionalGids"),
                    json!(
                        [10, 20, 30, 1000]
                            .into_iter()
                            .filter(|_| rng.coin())
                            .collect::<Vec<_>>()
                    ),
                );
            }
            process.insert(spell(rng, "user"), Value::Object(user));
        }
        match rng.below(4) {
            0 => {}
            1 => {
                process.insert(spell(rng, "noNewPrivileges"), json!(false));
            }
            2 => {
                process.insert(spell(rng, "noNewPrivileges"), json!(true));
            }
            _ => {
                process.insert(spell(rng, "noNewPrivileges"), Value::Null);
            }
        }
        if rng.coin() {
            let entries: Vec<Value> = (0..rng.below(4))
                .map(|_| {
                    let mut entry = Map::new();
                    entry.insert(spell(rng, "type"), json!(rng.pick(&RLIMITS)));
                    entry.insert(spell(rng, "soft"), json!(rng.pick(&VALUES)));
                    entry.insert(spell(rng, "hard"), json!(rng.pick(&VALUES)));
                    Value::Object(entry)
                })
                .collect();
            process.insert(spell(rng, "rlimits"), Value::Array(entries));
        }
        for name in ["apparmorProfile", "selinuxLabel"] {
            if rng.coin() {
                process.insert(spell(rng, name), json!(rng.pick(&["", "a", "b"])));
            }
        }
        Value::Object(process)
    }

    #[test]
    fn property_whatever_runs_stays_within_the_record() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut accepted, mut patched, mut refused) = (0, 0, 0);
        for _ in 0..20_000 {
            let record = random_record(&mut rng);
            let process = random_process(&mut rng);
            let effective = match check_process(&process, &record) {
                Err(_) => {
                    refused += 1;
                    continue;
                }
                Ok(None) => {
                    accepted += 1;
                    process.clone()
                }
                Ok(Some(after)) => {
                    patched += 1;
                    assert_ne!(after, process);
                    assert_eq!(after["x-extra"], process["x-extra"]);
                    after
                }
            };
            // Read the result as runc does (the record's own reader is
            // Go's), with libcontainer's fallbacks to the container.
            let seen = ProcessCeiling::of_spec(&json!({ "process": effective }));
            let ceiling = &record.process;
            let object = effective.as_object().expect("as the test builds it");
            let has = |name: &str| {
                object
                    .iter()
                    .any(|(key, value)| go_key_matches(key, name) && !value.is_null())
            };
            let context = || format!("{record:?}\n{process}\n{effective}");
            if has("capabilities") {
                for set in SETS {
                    for cap in ceiling_set(&seen, set) {
                        assert!(
                            ceiling_set(ceiling, set).contains(cap),
                            "{set} {cap}\n{}",
                            context()
                        );
                    }
                }
            }
            if ceiling.no_new_privileges {
                assert!(seen.no_new_privileges, "{}", context());
            }
            if !seen.rlimits.is_empty() {
                for ours in &ceiling.rlimits {
                    let theirs: Vec<&Rlimit> = seen
                        .rlimits
                        .iter()
                        .filter(|r| r.kind == ours.kind)
                        .collect();
                    assert!(!theirs.is_empty(), "{} missing\n{}", ours.kind, context());
                    for rlimit in theirs {
                        assert!(
                            rlimit.soft <= ours.soft && rlimit.hard <= ours.hard,
                            "{}",
                            context()
                        );
                    }
                }
            }
            if ceiling.uid != 0 {
                assert_eq!(seen.uid, ceiling.uid, "{}", context());
                assert_eq!(seen.gid, ceiling.gid, "{}", context());
                for gid in &seen.additional_gids {
                    assert!(
                        *gid == ceiling.gid || ceiling.additional_gids.contains(gid),
                        "{}",
                        context()
                    );
                }
            }
            for (theirs, ours) in [
                (&seen.apparmor_profile, &ceiling.apparmor_profile),
                (&seen.selinux_label, &ceiling.selinux_label),
            ] {
                if let (Some(theirs), Some(ours)) = (theirs, ours) {
                    assert_eq!(theirs, ours, "{}", context());
                }
            }
        }
        assert!(
            accepted > 100 && patched > 100 && refused > 100,
            "{accepted} {patched} {refused}"
        );
    }
}
