//! `--version`: runc's three lines, which containerd's go-runc parses
//! (`runc version X`, `commit: Y`, `spec: Z`), with the enforcer's version
//! and the delegate's.

/// The lines to print, from the delegate's own `--version` output
/// (`None` when it could not be run): the first line names both
/// versions, `spec:` is the delegate's.
pub fn render(delegate_output: Option<&str>) -> String {
    let _ = delegate_output;
    String::new()
}
