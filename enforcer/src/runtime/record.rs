//! What `create` leaves for the container's later `exec` and `update`:
//! its decision's limits and its patched process's privileges, kept in
//! the patched spec as the annotation [`ANNOTATION`], where the delegate's
//! `state` gives it back. A spec's own value of that annotation is always
//! replaced.

use policy_model::normal::NormalDecision;
use policy_model::{Capabilities, Resources, Rlimit};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The annotation holding the record.
pub const ANNOTATION: &str = "org.enforcer.runtime.record";

/// The record's format version.
pub const VERSION: u32 = 1;

/// The privileges of the container's process after patching: what an
/// `exec` may not exceed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessCeiling {
    /// `process.user.uid`.
    pub uid: u32,
    /// `process.user.gid`.
    pub gid: u32,
    /// `process.user.additionalGids`.
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    /// `process.capabilities`.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// `process.noNewPrivileges`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `process.rlimits`.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// `process.apparmorProfile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// `process.selinuxLabel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
}

/// What `create` decided for a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    /// [`VERSION`].
    pub version: u32,
    /// The tenant the container was decided for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The audit record's decision id.
    pub decision_id: String,
    /// The decision's resources (OCI shape): what `update` may not exceed.
    pub resources: Resources,
    /// The patched process's privileges: what `exec` may not exceed.
    pub process: ProcessCeiling,
}

/// A record that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The state has no record: the container was not created by
    /// `enforcer runtime`.
    #[error(
        "container {id} has no {ANNOTATION} annotation: it was not created through enforcer runtime, so nothing says what it may do"
    )]
    Missing {
        /// The container id.
        id: String,
    },
    /// The record is not one this version reads.
    #[error("container {id}: annotation {ANNOTATION}: {message}")]
    Invalid {
        /// The container id.
        id: String,
        /// Why.
        message: String,
    },
}

impl ContainerRecord {
    /// The record of a container whose patched spec is `patched`, decided
    /// by `decision` (its resources are the limits `update` keeps).
    pub fn new(
        patched: &Value,
        decision: &NormalDecision,
        tenant: Option<String>,
        decision_id: String,
    ) -> ContainerRecord {
        ContainerRecord {
            version: VERSION,
            tenant,
            decision_id,
            resources: decision.resources.to_oci(),
            process: ProcessCeiling::of_spec(patched),
        }
    }

    /// Puts the record into `spec`'s annotations (replacing any).
    ///
    /// Every key Go's `encoding/json` would read as [`ANNOTATION`] goes
    /// first (it matches keys case-insensitively), so a forged value cannot
    /// survive under another spelling. A spec that is not an object is left
    /// alone (no runtime runs it); `annotations` that is not an object is
    /// replaced by one. A key runc would cut to [`ANNOTATION`] (its labels
    /// are `key=value`, cut at the first `=`) goes too.
    pub fn embed(&self, spec: &mut Value) {
        let Some(object) = spec.as_object_mut() else {
            return;
        };
        // Annotation keys are map keys: Go compares them exactly, and so do
        // we. Only the `annotations` member name itself is folded.
        let variants: Vec<String> = object
            .keys()
            .filter(|key| go_key_matches(key, "annotations") && *key != "annotations")
            .cloned()
            .collect();
        let mut annotations = Map::new();
        for key in variants {
            if let Some(Value::Object(map)) = object.remove(&key) {
                annotations.extend(map);
            }
        }
        if let Some(Value::Object(map)) = object.remove("annotations") {
            annotations.extend(map);
        }
        // A record that cannot be written (it always can) must not leave a
        // forged one behind: the empty string reads back as Invalid.
        // runc keeps annotations as `key=value` labels and cuts them at the
        // first `=` (`utils.Annotations`), so a key `ANNOTATION=...` would
        // read back as ours too.
        let cut = format!("{ANNOTATION}=");
        annotations.retain(|key, _| !key.starts_with(&cut));
        let text = serde_json::to_string(self).unwrap_or_default();
        annotations.insert(ANNOTATION.to_string(), Value::String(text));
        object.insert("annotations".to_string(), Value::Object(annotations));
    }

    /// The record of container `id` from the delegate's `state` JSON (its
    /// `annotations`).
    ///
    /// runc's `state` (`state.go`, the `containerState` struct of
    /// `list.go`) prints the spec's annotations as `annotations` (omitted
    /// when there are none); crun's (`libcrun_container_state`) prints them
    /// from the config it keeps in its state directory.
    pub fn from_state(id: &str, state: &Value) -> Result<ContainerRecord, RecordError> {
        let invalid = |message: String| RecordError::Invalid {
            id: id.to_string(),
            message,
        };
        if let Some(state_id) = state.get("id").and_then(Value::as_str)
            && state_id != id
        {
            return Err(invalid(format!(
                "the state given is container {state_id:?}'s"
            )));
        }
        let Some(value) = state
            .get("annotations")
            .and_then(Value::as_object)
            .and_then(|annotations| annotations.get(ANNOTATION))
        else {
            return Err(RecordError::Missing { id: id.to_string() });
        };
        let Some(text) = value.as_str() else {
            return Err(invalid("not a string".to_string()));
        };
        let json: Value =
            serde_json::from_str(text).map_err(|error| invalid(format!("not JSON: {error}")))?;
        match json.get("version").and_then(Value::as_u64) {
            Some(version) if version == u64::from(VERSION) => {}
            Some(version) => {
                return Err(invalid(format!(
                    "record version {version}; this enforcer reads version {VERSION}"
                )));
            }
            None => return Err(invalid("no record version".to_string())),
        }
        serde_json::from_value(json).map_err(|error| invalid(error.to_string()))
    }
}

impl ProcessCeiling {
    /// The privileges of `spec`'s `process`, read as runc reads them (Go's
    /// case-insensitive member names; an absent member is Go's zero value).
    /// Where a spec spells a member several ways (which runc resolves by
    /// document order), the exact spelling is taken.
    pub fn of_spec(spec: &Value) -> ProcessCeiling {
        let process = member(spec, "process");
        let user = member(process, "user");
        let id = |name: &str| {
            member(user, name)
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .unwrap_or(0)
        };
        let additional_gids = match member(user, "additionalGids") {
            Value::Array(ids) => ids
                .iter()
                .filter_map(|id| id.as_u64().and_then(|id| u32::try_from(id).ok()))
                .collect(),
            _ => Vec::new(),
        };
        let capabilities = member(process, "capabilities");
        let set = |name: &str| match member(capabilities, name) {
            Value::Array(names) => names
                .iter()
                .filter_map(|name| name.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let rlimits = match member(process, "rlimits") {
            Value::Array(entries) => entries
                .iter()
                .filter_map(|entry| {
                    Some(Rlimit {
                        kind: member(entry, "type").as_str()?.to_string(),
                        hard: member(entry, "hard").as_u64()?,
                        soft: member(entry, "soft").as_u64()?,
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let label = |name: &str| {
            member(process, name)
                .as_str()
                .filter(|label| !label.is_empty())
                .map(str::to_string)
        };
        ProcessCeiling {
            uid: id("uid"),
            gid: id("gid"),
            additional_gids,
            capabilities: Capabilities {
                bounding: set("bounding"),
                effective: set("effective"),
                inheritable: set("inheritable"),
                permitted: set("permitted"),
                ambient: set("ambient"),
            },
            no_new_privileges: member(process, "noNewPrivileges")
                .as_bool()
                .unwrap_or(false),
            rlimits,
            apparmor_profile: label("apparmorProfile"),
            selinux_label: label("selinuxLabel"),
        }
    }
}

static NULL: Value = Value::Null;

/// `value`'s member `name` as Go reads it (exact spelling first, else any
/// spelling Go folds to it), or `null`.
fn member<'a>(value: &'a Value, name: &str) -> &'a Value {
    let Some(object) = value.as_object() else {
        return &NULL;
    };
    if let Some(exact) = object.get(name) {
        return exact;
    }
    object
        .iter()
        .find(|(key, _)| go_key_matches(key, name))
        .map_or(&NULL, |(_, value)| value)
}

/// Whether Go's `encoding/json` decodes the object key `key` into the
/// struct field named `name` (an ASCII JSON name): it matches names
/// case-insensitively, and folds a few non-ASCII letters onto ASCII ones
/// (`ſ` → `S`, the Kelvin sign → `K`; `ı` and `İ` → `I` since Go 1.21's
/// `foldName`). A spec or process can therefore spell `capabilities` as
/// `Capabilities` or `capabilitieſ` and runc still reads it.
pub fn go_key_matches(key: &str, name: &str) -> bool {
    let mut key = key.chars();
    for expected in name.chars() {
        let Some(got) = key.next() else {
            return false;
        };
        let folded = match got {
            '\u{17F}' => 'S',
            '\u{212A}' => 'K',
            '\u{131}' | '\u{130}' => 'I',
            other => other.to_ascii_uppercase(),
        };
        if folded != expected.to_ascii_uppercase() {
            return false;
        }
    }
    key.next().is_none()
}

/// The keys of `object` Go decodes into the field `name` (see
/// [`go_key_matches`]).
pub fn go_keys<'a>(object: &'a Map<String, Value>, name: &str) -> Vec<&'a str> {
    object
        .keys()
        .filter(|key| go_key_matches(key, name))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_model::{Context, Decision, MIB, normalize};
    use serde_json::json;

    fn decision() -> NormalDecision {
        normalize(
            &Decision::allow().memory_limit(256 * MIB).pids(100),
            &Context::typical(),
        )
    }

    fn patched() -> Value {
        json!({
            "ociVersion": "1.2.0",
            "process": {
                "args": ["sh"],
                "user": {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]},
                "capabilities": {
                    "bounding": ["CAP_CHOWN", "CAP_KILL"],
                    "effective": ["CAP_CHOWN"],
                    "permitted": ["CAP_CHOWN"]
                },
                "noNewPrivileges": true,
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}],
                "apparmorProfile": "cri-containerd.apparmor.d",
                "selinuxLabel": ""
            },
            "annotations": {"io.kubernetes.cri.container-type": "container"}
        })
    }

    fn record() -> ContainerRecord {
        ContainerRecord::new(&patched(), &decision(), Some("team-a".into()), "d-1".into())
    }

    fn runc_state(annotations: Value) -> Value {
        // The shape of runc's `state` (list.go's containerState).
        json!({
            "ociVersion": "1.2.0",
            "id": "c1",
            "pid": 4242,
            "status": "created",
            "bundle": "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1",
            "rootfs": "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1/rootfs",
            "created": "2026-12-02T00:50:47.123456789Z",
            "annotations": annotations,
            "owner": ""
        })
    }

    #[test]
    fn new_reads_the_patched_process_and_the_decisions_resources() {
        let record = record();
        assert_eq!(record.version, VERSION);
        assert_eq!(record.resources, decision().resources.to_oci());
        let process = &record.process;
        assert_eq!((process.uid, process.gid), (1000, 1000));
        assert_eq!(process.additional_gids, vec![10, 20]);
        assert_eq!(process.capabilities.bounding, vec!["CAP_CHOWN", "CAP_KILL"]);
        assert!(process.capabilities.ambient.is_empty());
        assert!(process.no_new_privileges);
        assert_eq!(process.rlimits.len(), 1);
        assert_eq!(
            process.apparmor_profile.as_deref(),
            Some("cri-containerd.apparmor.d")
        );
        assert_eq!(process.selinux_label, None, "an empty label is none");
    }

    #[test]
    fn new_reads_member_names_as_go_does() {
        let spec = json!({"Process": {"USER": {"uid": 7, "gid": 8},
            "capabilitieſ": {"Bounding": ["CAP_KILL"]}, "NoNewPrivileges": true}});
        let ceiling = ProcessCeiling::of_spec(&spec);
        assert_eq!((ceiling.uid, ceiling.gid), (7, 8));
        assert_eq!(ceiling.capabilities.bounding, vec!["CAP_KILL"]);
        assert!(ceiling.no_new_privileges);
        let empty = ProcessCeiling::of_spec(&json!({}));
        assert_eq!(empty, ProcessCeiling::default());
    }

    #[test]
    fn round_trip_through_a_runc_state() {
        let record = record();
        let mut spec = patched();
        record.embed(&mut spec);
        let annotations = spec["annotations"].clone();
        assert_eq!(
            annotations["io.kubernetes.cri.container-type"], "container",
            "other annotations stay"
        );
        assert!(annotations[ANNOTATION].is_string());
        let text = annotations[ANNOTATION].as_str().unwrap_or_default();
        assert!(!text.contains('\n'), "compact");
        let back = ContainerRecord::from_state("c1", &runc_state(annotations))
            .expect("as the test builds it");
        assert_eq!(back, record);
    }

    #[test]
    fn round_trip_through_a_crun_state() {
        // crun's state: no owner/rootfs order guarantees, annotations last.
        let record = record();
        let mut spec = json!({"process": {}});
        record.embed(&mut spec);
        let state = json!({"ociVersion": "1.0.0", "id": "c1", "pid": 1, "status": "running",
            "bundle": "/b", "rootfs": "/b/rootfs", "created": "2026-12-02T00:00:00Z",
            "annotations": spec["annotations"]});
        assert_eq!(
            ContainerRecord::from_state("c1", &state).expect("as the test builds it"),
            record
        );
    }

    #[test]
    fn embed_creates_annotations() {
        let mut spec = json!({"ociVersion": "1.2.0"});
        record().embed(&mut spec);
        assert!(spec["annotations"][ANNOTATION].is_string());
        let mut not_object = json!({"annotations": "nope"});
        record().embed(&mut not_object);
        assert!(not_object["annotations"][ANNOTATION].is_string());
        let mut array = json!([1]);
        record().embed(&mut array);
        assert_eq!(array, json!([1]));
    }

    #[test]
    fn a_forged_annotation_is_replaced() {
        let mut forged = record();
        forged.resources = Resources::default();
        forged
            .process
            .capabilities
            .bounding
            .push("CAP_SYS_ADMIN".into());
        let forged_text = serde_json::to_string(&forged).expect("as the test builds it");
        let (head, tail) = forged_text.split_at(10);
        let mut spec = json!({"annotations": {
            ANNOTATION: forged_text.clone(),
            format!("{ANNOTATION}={head}"): tail,
        }, "Annotations": {"x": "y", ANNOTATION: forged_text.clone()}});
        let record = record();
        record.embed(&mut spec);
        let annotations = spec["annotations"]
            .as_object()
            .expect("as the test builds it");
        assert_eq!(
            spec.as_object().expect("as the test builds it").len(),
            1,
            "variants merged away"
        );
        assert_eq!(annotations["x"], "y");
        assert_eq!(annotations.len(), 2, "{annotations:?}");
        let back = ContainerRecord::from_state("c1", &runc_state(spec["annotations"].clone()))
            .expect("as the test builds it");
        assert_eq!(back, record);
    }

    #[test]
    fn missing_invalid_and_other_versions_are_errors() {
        let missing = |state: Value| {
            assert_eq!(
                ContainerRecord::from_state("c1", &state),
                Err(RecordError::Missing { id: "c1".into() })
            );
        };
        // runc omits an empty annotations map.
        let mut state = runc_state(json!({}));
        state
            .as_object_mut()
            .expect("as the test builds it")
            .remove("annotations");
        missing(state);
        missing(runc_state(json!({"other": "x"})));
        missing(json!(null));
        let invalid = |value: Value, needle: &str| match ContainerRecord::from_state(
            "c1",
            &runc_state(json!({ANNOTATION: value})),
        ) {
            Err(RecordError::Invalid { id, message }) => {
                assert_eq!(id, "c1");
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("{other:?}"),
        };
        invalid(json!(3), "not a string");
        invalid(json!(""), "not JSON");
        invalid(json!("{nope"), "not JSON");
        invalid(json!("{}"), "no record version");
        invalid(json!(r#"{"version": 2}"#), "record version 2");
        invalid(json!(r#"{"version": 1}"#), "missing field");
        let mut text = serde_json::to_value(record()).expect("as the test builds it");
        text["resources"]["memory"]["bogus"] = json!(1);
        invalid(json!(text.to_string()), "unknown field");
        let mut spec = json!({});
        record().embed(&mut spec);
        let mut state = runc_state(spec["annotations"].clone());
        state["id"] = json!("c2");
        assert!(matches!(
            ContainerRecord::from_state("c1", &state),
            Err(RecordError::Invalid { .. })
        ));
    }

    #[test]
    fn go_folds_keys() {
        for key in [
            "capabilities",
            "Capabilities",
            "CAPABILITIES",
            "capabilitieſ",
        ] {
            assert!(go_key_matches(key, "capabilities"), "{key}");
        }
        assert!(go_key_matches("\u{212A}ind", "kind"));
        assert!(go_key_matches("prıvileges", "privileges"));
        for key in ["capabilitie", "capabilitiess", "capabilitiés", ""] {
            assert!(!go_key_matches(key, "capabilities"), "{key}");
        }
        let object = json!({"uid": 1, "UID": 2, "gid": 3});
        assert_eq!(
            go_keys(object.as_object().expect("as the test builds it"), "uid").len(),
            2
        );
    }
}
