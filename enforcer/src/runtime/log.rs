//! runc's log lines (logrus's formats), for the error line a refusal
//! leaves in `--log`: containerd and CRI-O show the last `error` line of
//! that file in kubelet's events (`OCI runtime create failed: ...`).

use std::path::Path;
use std::time::SystemTime;

use super::args::LogFormat;

/// One `error` line (no newline): JSON `{"level":"error","msg":"...",
/// "time":"2026-12-02T00:00:00Z"}` or text `time="..." level=error
/// msg="..."`, `time` in RFC 3339 UTC.
pub fn error_line(format: LogFormat, message: &str, time: SystemTime) -> String {
    let _ = (format, message, time);
    String::new()
}

/// Appends the error line for `message` to `log` (created if missing, as
/// runc opens it: append, 0644).
pub fn append_error(log: &Path, format: LogFormat, message: &str) -> std::io::Result<()> {
    let _ = (log, format, message);
    Ok(())
}
