//! One line of the audit log: [`AuditRecord`], its parts, and its encoding
//! as one capped JSON line ([`encode_line`]).

use std::fmt;
use std::io::Read;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::time::Timestamp;

/// Longest line [`encode_line`] produces, newline included: a bigger record
/// has its decision and chain replaced by a marker, then its long strings
/// cut, rather than being dropped.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Longest string kept whole when a record is still too long once its
/// decision and chain are replaced (command words, error, tenant, ids).
const MAX_FIELD_BYTES: usize = 16 << 10;

/// 128 random bits naming one decision, as 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DecisionId(String);

impl DecisionId {
    /// A fresh id from the kernel's random source (`getrandom(2)`, or
    /// `/dev/urandom` where that system call is missing).
    pub fn random() -> std::io::Result<DecisionId> {
        let mut bytes = [0u8; 16];
        fill_random(&mut bytes)?;
        Ok(DecisionId(crate::digest::hex(&bytes)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DecisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fill_random(buffer: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        let rest = &mut buffer[filled..];
        // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`.
        let got = unsafe { nix::libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if got >= 0 {
            filled += got as usize;
            continue;
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(nix::libc::EINTR) => continue,
            Some(nix::libc::ENOSYS) => {
                return std::fs::File::open("/dev/urandom")?.read_exact(rest);
            }
            _ => return Err(error),
        }
    }
    Ok(())
}

/// Who asked: the request's user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditUser {
    /// Host uid.
    pub uid: u32,
    /// Host primary gid.
    pub gid: u32,
    /// User name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl From<&policy_sdk::User> for AuditUser {
    fn from(user: &policy_sdk::User) -> AuditUser {
        AuditUser {
            uid: user.uid,
            gid: user.gid,
            name: user.name.clone(),
        }
    }
}

/// The stage of a request that failed ([`Outcome::Failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Reading the operator's configuration or the request.
    Request,
    /// Evaluating a policy.
    Evaluate,
    /// Validating a decision.
    Validate,
    /// Composing the chain (a later policy loosened an earlier decision).
    Compose,
    /// Planning the cgroup writes and the child's setup.
    Plan,
    /// Creating and writing cgroups.
    Cgroups,
    /// Creating namespaces, the root filesystem, starting the workload.
    Spawn,
    /// Supervising the running workload.
    Wait,
    /// Removing the sandbox afterwards.
    Cleanup,
    /// A step this version does not know (read from a newer log).
    #[serde(other)]
    Other,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Request => "request",
            Step::Evaluate => "evaluate",
            Step::Validate => "validate",
            Step::Compose => "compose",
            Step::Plan => "plan",
            Step::Cgroups => "cgroups",
            Step::Spawn => "spawn",
            Step::Wait => "wait",
            Step::Cleanup => "cleanup",
            Step::Other => "other",
        })
    }
}

/// How the request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Outcome {
    /// The workload exited with `code`.
    Exited {
        /// Its exit status.
        code: i32,
    },
    /// A signal killed the workload.
    Signaled {
        /// The signal number.
        signal: i32,
    },
    /// The sandbox was started detached (`run --detach`).
    Detached,
    /// A policy denied the request.
    Denied {
        /// The policy that denied (the first deny of the chain).
        policy: String,
        /// Its reason.
        reason: String,
    },
    /// A step failed; nothing it would have applied stays applied.
    Failed {
        /// Which step.
        step: Step,
        /// The error, its causes `: `-separated.
        error: String,
    },
    /// `enforcer eval`: decided, nothing run.
    Evaluated,
    /// `enforcer runtime create`: decided, the spec patched and handed to
    /// the delegate runtime.
    Created,
}

impl fmt::Display for Outcome {
    /// A short human form: `exited 0`, `signaled 9`, `denied by p`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited { code } => write!(f, "exited {code}"),
            Outcome::Signaled { signal } => write!(f, "signaled {signal}"),
            Outcome::Detached => f.write_str("detached"),
            Outcome::Created => f.write_str("created"),
            Outcome::Denied { policy, .. } => write!(f, "denied by {policy}"),
            Outcome::Failed { step, .. } => write!(f, "failed at {step}"),
            Outcome::Evaluated => f.write_str("evaluated"),
        }
    }
}

/// One request, as logged: one JSON object on one line, camelCase.
///
/// ```json
/// {"time":"2026-12-01T09:41:07.123Z","decisionId":"8f0c…32 hex…",
///  "requestId":"web-1","tenant":"acme","user":{"uid":1000,"gid":1000,"name":"ci"},
///  "command":["/bin/sh","-c","make"],
///  "chain":[{"policy":"platform.wasm","sha256":"…","mode":"enforce","result":"allow"}],
///  "decision":{…normalised…},"error":null,"outcome":{"kind":"exited","code":0}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// When the record was made ([`AuditRecord::new`]: when the request
    /// arrived).
    pub time: Timestamp,
    /// The decision's random id.
    pub decision_id: DecisionId,
    /// The request's id (the sandbox id for `run`).
    pub request_id: String,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// Who asked.
    pub user: AuditUser,
    /// The workload's command line.
    pub command: Vec<String>,
    /// Each policy of the chain, in order, as the chain evaluator reports
    /// it (policy, sha256, mode, result); opaque here.
    pub chain: Vec<Value>,
    /// The final normalised decision; `null` when there is none (an error
    /// before it, a deny).
    pub decision: Option<Value>,
    /// The error that ended the request, if any.
    pub error: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The container, for a decision `enforcer runtime` made: its id,
    /// kind, pod, namespace, name and image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<policy_sdk::Container>,
}

impl AuditRecord {
    /// A record stamped now, with `decision_id`, for request `request_id`
    /// by `user` to run `command`; no tenant, an empty chain, no decision,
    /// no error, outcome [`Outcome::Evaluated`] until
    /// [`AuditRecord::with_outcome`] says otherwise.
    pub fn new(
        decision_id: DecisionId,
        request_id: impl Into<String>,
        user: AuditUser,
        command: Vec<String>,
    ) -> AuditRecord {
        AuditRecord {
            time: Timestamp::now(),
            decision_id,
            request_id: request_id.into(),
            tenant: None,
            user,
            command,
            chain: Vec::new(),
            decision: None,
            error: None,
            outcome: Outcome::Evaluated,
            container: None,
        }
    }

    /// With the container a runtime decision was for.
    pub fn with_container(mut self, container: Option<policy_sdk::Container>) -> AuditRecord {
        self.container = container;
        self
    }

    /// With `tenant`.
    pub fn with_tenant(mut self, tenant: Option<String>) -> AuditRecord {
        self.tenant = tenant;
        self
    }

    /// With the chain evaluator's per-policy report.
    pub fn with_chain(mut self, chain: Vec<Value>) -> AuditRecord {
        self.chain = chain;
        self
    }

    /// With the final normalised decision (anything that serialises).
    pub fn with_decision(mut self, decision: &impl Serialize) -> AuditRecord {
        self.decision = Some(
            serde_json::to_value(decision)
                .unwrap_or_else(|error| serde_json::json!({ "unserialisable": error.to_string() })),
        );
        self
    }

    /// With the error that ended the request.
    pub fn with_error(mut self, error: impl fmt::Display) -> AuditRecord {
        self.error = Some(error.to_string());
        self
    }

    /// With how it ended.
    pub fn with_outcome(mut self, outcome: Outcome) -> AuditRecord {
        self.outcome = outcome;
        self
    }

    /// With outcome [`Outcome::Failed`] at `step`, and `error` as the
    /// record's error too.
    pub fn failed(self, step: Step, error: impl fmt::Display) -> AuditRecord {
        let error = error.to_string();
        self.with_error(&error)
            .with_outcome(Outcome::Failed { step, error })
    }
}

/// The marker that replaces a decision (or a chain entry) too large for
/// one line: `{"truncated":true,"bytes":N}`, N its serialised size.
fn truncated_marker(bytes: usize) -> Value {
    serde_json::json!({ "truncated": true, "bytes": bytes })
}

/// `text` cut to at most [`MAX_FIELD_BYTES`] (at a character boundary),
/// saying how much was cut.
fn cap_string(text: &mut String) {
    if text.len() <= MAX_FIELD_BYTES {
        return;
    }
    let mut end = MAX_FIELD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("…[truncated {cut} bytes]"));
}

/// `record` as one JSON line ending in `\n`, at most [`MAX_LINE_BYTES`]:
/// a larger record gets its `decision` and then its `chain` replaced by
/// `{"truncated":true,"bytes":N}` markers (the chain keeps one entry, the
/// marker), then its long strings cut; a record still too large after
/// that (some hundred thousand command words) is an error.
pub fn encode_line(record: &AuditRecord) -> Result<Vec<u8>, String> {
    let encode = |record: &AuditRecord| -> Result<Vec<u8>, String> {
        let mut line = serde_json::to_vec(record).map_err(|error| error.to_string())?;
        // Compact serde_json output escapes every control character inside
        // strings and puts no whitespace between tokens: one line.
        assert!(
            !line.contains(&b'\n'),
            "compact JSON never holds a raw newline"
        );
        line.push(b'\n');
        Ok(line)
    };
    let line = encode(record)?;
    if line.len() <= MAX_LINE_BYTES {
        return Ok(line);
    }
    let mut smaller = record.clone();
    if let Some(decision) = &smaller.decision {
        let bytes = serde_json::to_vec(decision).map_or(0, |text| text.len());
        smaller.decision = Some(truncated_marker(bytes));
        let line = encode(&smaller)?;
        if line.len() <= MAX_LINE_BYTES {
            return Ok(line);
        }
    }
    let bytes = serde_json::to_vec(&smaller.chain).map_or(0, |text| text.len());
    smaller.chain = vec![truncated_marker(bytes)];
    let line = encode(&smaller)?;
    if line.len() <= MAX_LINE_BYTES {
        return Ok(line);
    }
    smaller.command.iter_mut().for_each(cap_string);
    for text in [
        Some(&mut smaller.request_id),
        smaller.tenant.as_mut(),
        smaller.user.name.as_mut(),
        smaller.error.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        cap_string(text);
    }
    match &mut smaller.outcome {
        Outcome::Denied { policy, reason } => {
            cap_string(policy);
            cap_string(reason);
        }
        Outcome::Failed { error, .. } => cap_string(error),
        _ => {}
    }
    let line = encode(&smaller)?;
    if line.len() <= MAX_LINE_BYTES {
        return Ok(line);
    }
    // Still too long: only a command of very many words does this. Keep
    // the words that fit in half the cap, then say how many were cut.
    let mut kept = 0;
    let mut bytes = 0;
    for word in &smaller.command {
        bytes += word.len() + 8; // quotes, comma, some escapes
        if bytes > MAX_LINE_BYTES / 2 {
            break;
        }
        kept += 1;
    }
    let cut = smaller.command.len() - kept;
    smaller.command.truncate(kept);
    smaller
        .command
        .push(format!("…[truncated {cut} more words]"));
    let line = encode(&smaller)?;
    if line.len() <= MAX_LINE_BYTES {
        return Ok(line);
    }
    Err(format!(
        "the record is {} bytes even with its decision and chain replaced and its strings cut; the cap is {MAX_LINE_BYTES}",
        line.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord::new(
            DecisionId::random().expect("random"),
            "web-1",
            AuditUser {
                uid: 1000,
                gid: 100,
                name: Some("ci".into()),
            },
            vec!["/bin/echo".into(), "a\nb".into()],
        )
        .with_tenant(Some("acme".into()))
    }

    #[test]
    fn decision_ids_are_128_random_bits_in_hex() {
        let a = DecisionId::random().expect("random");
        let b = DecisionId::random().expect("random");
        assert_eq!(a.as_str().len(), 32);
        assert!(
            a.as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }

    #[test]
    fn the_json_shape_is_the_documented_one() {
        let mut record = record()
            .with_chain(vec![
                serde_json::json!({"policy": "p.wasm", "mode": "enforce"}),
            ])
            .with_decision(&serde_json::json!({"allow": true}))
            .with_outcome(Outcome::Signaled { signal: 9 });
        record.time = Timestamp::parse_rfc3339("2026-12-01T09:41:07.123Z").expect("time");
        let value = serde_json::to_value(&record).expect("serialises");
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "time",
            "decisionId",
            "requestId",
            "tenant",
            "user",
            "command",
            "chain",
            "decision",
            "error",
            "outcome",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(value["time"], "2026-12-01T09:41:07.123Z");
        assert_eq!(value["error"], Value::Null);
        assert_eq!(
            value["user"],
            serde_json::json!({"uid": 1000, "gid": 100, "name": "ci"})
        );
        assert_eq!(
            value["outcome"],
            serde_json::json!({"kind": "signaled", "signal": 9})
        );
        let back: AuditRecord = serde_json::from_value(value).expect("parses back");
        assert_eq!(back, record);
    }

    #[test]
    fn outcomes_are_tagged_by_kind() {
        for (outcome, json) in [
            (Outcome::Exited { code: 3 }, r#"{"kind":"exited","code":3}"#),
            (Outcome::Detached, r#"{"kind":"detached"}"#),
            (Outcome::Evaluated, r#"{"kind":"evaluated"}"#),
            (
                Outcome::Denied {
                    policy: "t.wasm".into(),
                    reason: "no".into(),
                },
                r#"{"kind":"denied","policy":"t.wasm","reason":"no"}"#,
            ),
            (
                Outcome::Failed {
                    step: Step::Cgroups,
                    error: "EBUSY".into(),
                },
                r#"{"kind":"failed","step":"cgroups","error":"EBUSY"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&outcome).expect("serialises"), json);
        }
        let future: Outcome =
            serde_json::from_str(r#"{"kind":"failed","step":"teleport","error":"x"}"#)
                .expect("an unknown step still parses");
        assert_eq!(
            future,
            Outcome::Failed {
                step: Step::Other,
                error: "x".into()
            }
        );
    }

    #[test]
    fn a_line_is_one_line_whatever_the_strings_hold() {
        let record = record().failed(Step::Spawn, "bad\nthing\r\u{2028}");
        let line = encode_line(&record).expect("encodes");
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let back: AuditRecord = serde_json::from_slice(&line).expect("parses");
        assert_eq!(back.command[1], "a\nb");
        assert_eq!(back.error.as_deref(), Some("bad\nthing\r\u{2028}"));
    }

    #[test]
    fn an_oversize_decision_is_replaced_by_a_marker_not_dropped() {
        let huge = "x".repeat(MAX_LINE_BYTES);
        let record = record()
            .with_decision(&serde_json::json!({ "reason": huge }))
            .with_chain(vec![serde_json::json!({"policy": "p"})]);
        let line = encode_line(&record).expect("encodes");
        assert!(line.len() <= MAX_LINE_BYTES);
        let back: AuditRecord = serde_json::from_slice(&line).expect("parses");
        assert_eq!(
            back.decision,
            Some(serde_json::json!({"truncated": true, "bytes": MAX_LINE_BYTES + 13}))
        );
        assert_eq!(back.chain, record.chain, "the chain fitted, so it stays");
        assert_eq!(back.command, record.command);
    }

    #[test]
    fn an_oversize_chain_and_command_are_capped_too() {
        let huge = "y".repeat(MAX_LINE_BYTES);
        let record = record()
            .with_chain(vec![serde_json::json!(huge)])
            .with_error(&huge);
        let mut record = record;
        record.command = vec!["z".repeat(MAX_LINE_BYTES)];
        let line = encode_line(&record).expect("encodes");
        assert!(line.len() <= MAX_LINE_BYTES);
        let back: AuditRecord = serde_json::from_slice(&line).expect("parses");
        assert_eq!(back.chain, vec![truncated_marker(MAX_LINE_BYTES + 4)]);
        assert!(back.command[0].ends_with(&format!(
            "…[truncated {} bytes]",
            MAX_LINE_BYTES - MAX_FIELD_BYTES
        )));
        assert!(back.error.expect("error").len() < MAX_FIELD_BYTES + 64);

        let mut many = self::tests::record();
        many.command = vec!["w".repeat(100); 20_000];
        let line = encode_line(&many).expect("encodes");
        assert!(line.len() <= MAX_LINE_BYTES);
        let back: AuditRecord = serde_json::from_slice(&line).expect("parses");
        let last = back.command.last().expect("a last word");
        assert!(
            last.starts_with("…[truncated ") && last.ends_with(" more words]"),
            "{last}"
        );
        assert_eq!(back.command[0], many.command[0]);
    }
}
