//! runc's log lines (logrus's formats), for the error line a refusal
//! leaves in `--log`: containerd and CRI-O show the last `error` line of
//! that file in kubelet's events (`OCI runtime create failed: ...`).
//!
//! runc (main.go, `configLogrus`) uses logrus's `JSONFormatter` for
//! `--log-format json` and its `TextFormatter` otherwise, both with the
//! default timestamp format, Go's `time.RFC3339` (`2006-01-02T15:04:05Z07:00`:
//! whole seconds; `Z` in UTC), and opens `--log` with
//! `O_CREATE|O_WRONLY|O_APPEND|O_SYNC`, mode 0644.
//!
//! Who reads it back: containerd's runc shim (`pkg/process/utils.go`,
//! `getLastRuntimeError`) decodes the file as a stream of JSON objects
//! and keeps the trimmed `msg` of the last whose `level` is `error`;
//! podman (`libpod/oci_conmon_common.go`) `json.Unmarshal`s the whole
//! `oci-log` file as one object and takes its `msg` (so there only a
//! file holding one line works); conmon, used by CRI-O and podman,
//! relays the runtime's stderr on a failed create instead
//! (`src/conmon.c`, "runtime stderr").

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::args::LogFormat;
use crate::audit::Timestamp;

/// One `error` line (no newline): JSON `{"level":"error","msg":"...",
/// "time":"2026-12-02T00:00:00Z"}` or text `time="..." level=error
/// msg="..."`, `time` in RFC 3339 UTC.
pub fn error_line(format: LogFormat, message: &str, time: SystemTime) -> String {
    let time = rfc3339_seconds(time);
    match format {
        LogFormat::Json => {
            // serde_json strings never fail to serialise.
            let msg = serde_json::to_string(message).unwrap_or_else(|_| "\"\"".into());
            let time = serde_json::to_string(&time).unwrap_or_else(|_| "\"\"".into());
            format!("{{\"level\":\"error\",\"msg\":{msg},\"time\":{time}}}")
        }
        LogFormat::Text => {
            // logrus's TextFormatter drops one trailing newline.
            let message = message.strip_suffix('\n').unwrap_or(message);
            format!(
                "time={} level=error msg={}",
                logrus_value(&time),
                logrus_value(message)
            )
        }
    }
}

/// Appends the error line for `message` to `log` (created if missing, as
/// runc opens it: append, 0644).
pub fn append_error(log: &Path, format: LogFormat, message: &str) -> std::io::Result<()> {
    let mut line = error_line(format, message, SystemTime::now());
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(log)?;
    // One write: appends of whole lines do not interleave.
    file.write_all(line.as_bytes())
}

/// `time` as Go's `time.RFC3339` in UTC: `2026-12-02T00:41:07Z`.
pub fn rfc3339_seconds(time: SystemTime) -> String {
    let millis = match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |m| -m),
    };
    // Whole seconds (RFC3339 has no fraction), rounded down as Go does.
    let seconds = millis.div_euclid(1000).saturating_mul(1000);
    let text = Timestamp::from_unix_millis(seconds).to_string();
    // Timestamp prints `...:07.000Z`.
    match text.strip_suffix(".000Z") {
        Some(whole) => format!("{whole}Z"),
        None => text,
    }
}

/// A value as logrus's TextFormatter writes it: bare when every
/// character is one of `a-zA-Z0-9-._/@^+` (and not empty: logrus writes
/// an empty value bare too, `msg=`), else Go's `%q`.
fn logrus_value(value: &str) -> String {
    let bare = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/' | '@' | '^' | '+'));
    if bare {
        value.to_string()
    } else {
        go_quote(value)
    }
}

/// Go's `strconv.Quote`: `\a \b \f \n \r \t \v \\ \"`, other control
/// characters as `\x..`, characters Go does not count as printable as
/// `\u....` (approximated: control, format and separator characters
/// other than the ASCII space), the rest as they are.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if not_printable(c) => {
                if (c as u32) > 0xffff {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                } else {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters Go's `unicode.IsPrint` rejects, as far as they matter in a
/// message: C1 controls, non-ASCII spaces and separators, and the common
/// format characters.
fn not_printable(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    /// 2026-12-02T00:41:07Z.
    const T: u64 = 1_796_172_067;

    #[test]
    fn json_line() {
        let line = error_line(
            LogFormat::Json,
            "refused: \"x\"\n<a>",
            at(T) + Duration::from_millis(999),
        );
        assert_eq!(
            line,
            r#"{"level":"error","msg":"refused: \"x\"\n<a>","time":"2026-12-02T00:41:07Z"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(value["msg"], "refused: \"x\"\n<a>");
    }

    #[test]
    fn text_line_quotes_as_logrus() {
        assert_eq!(
            error_line(LogFormat::Text, "denied", at(T)),
            r#"time="2026-12-02T00:41:07Z" level=error msg=denied"#
        );
        assert_eq!(
            error_line(LogFormat::Text, "a b \"c\"\\\t\u{1}é\u{a0}\n", at(T)),
            r#"time="2026-12-02T00:41:07Z" level=error msg="a b \"c\"\\\t\x01é\u00a0""#
        );
        assert_eq!(
            error_line(LogFormat::Text, "", at(0)),
            r#"time="1970-01-01T00:00:00Z" level=error msg="#
        );
        assert_eq!(logrus_value("v1.2_3-4/x@y^z+w"), "v1.2_3-4/x@y^z+w");
        assert_eq!(logrus_value("a:b"), "\"a:b\"");
    }

    #[test]
    fn times_before_the_epoch_do_not_panic() {
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(rfc3339_seconds(before), "1969-12-31T23:59:58Z");
    }

    /// containerd's `getLastRuntimeError` (pkg/process/utils.go),
    /// reimplemented: a stream of JSON objects, the trimmed `msg` of the
    /// last with `level` `error`.
    fn containerd_last_error(path: &Path) -> Result<String, String> {
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        let mut message = String::new();
        for value in serde_json::Deserializer::from_slice(&data).into_iter::<serde_json::Value>() {
            let value = value.map_err(|e| e.to_string())?;
            if value["level"] == "error" {
                message = value["msg"].as_str().unwrap_or("").trim().to_string();
            }
        }
        Ok(message)
    }

    /// podman's reading of `oci-log` (libpod/oci_conmon_common.go): the
    /// whole file as one JSON object.
    fn podman_oci_error(path: &Path) -> Option<String> {
        let data = std::fs::read(path).ok()?;
        let value: serde_json::Value = serde_json::from_slice(&data).ok()?;
        value["msg"].as_str().map(str::to_string)
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "enforcer-test-runtime-log-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn containerd_reads_our_message_after_runc_lines() {
        let dir = temp_dir("containerd");
        let log = dir.join("log.json");
        std::fs::write(
            &log,
            concat!(
                r#"{"level":"warning","msg":"runc run failed: x","time":"2026-12-01T10:00:00Z"}"#,
                "\n",
                r#"{"level":"error","msg":"an earlier error","time":"2026-12-01T10:00:01Z"}"#,
                "\n",
                r#"{"level":"info","msg":"later info","time":"2026-12-01T10:00:02Z"}"#,
                "\n"
            ),
        )
        .expect("write");
        let message = "enforcer: policy refused the container: network egress to 0.0.0.0/0";
        append_error(&log, LogFormat::Json, message).expect("append");
        assert_eq!(containerd_last_error(&log).expect("reads"), message);
        // One line per append, each a whole line.
        let lines = std::io::BufReader::new(std::fs::File::open(&log).expect("open"))
            .lines()
            .count();
        assert_eq!(lines, 4);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn append_creates_the_file_0644_and_podman_reads_a_lone_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("podman");
        let log = dir.join("oci-log");
        append_error(&log, LogFormat::Json, "refused").expect("append");
        let mode = std::fs::metadata(&log).expect("meta").permissions().mode() & 0o777;
        // The umask may take bits away, never add them.
        assert_eq!(mode & !0o644, 0, "{mode:o}");
        assert_eq!(podman_oci_error(&log).as_deref(), Some("refused"));
        append_error(&log, LogFormat::Text, "second").expect("append");
        let text = std::fs::read_to_string(&log).expect("read");
        assert!(text.ends_with(" level=error msg=second\n"), "{text}");
        assert!(append_error(&dir.join("missing/dir/log"), LogFormat::Json, "x").is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
