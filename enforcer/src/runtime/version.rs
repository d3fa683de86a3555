//! `--version`: runc's three lines, which containerd's go-runc parses
//! (`runc version X`, `commit: Y`, `spec: Z`), with the enforcer's version
//! and the delegate's.
//!
//! go-runc's `parseVersion` (runc.go, v1.0.0 to v1.2.0) splits the
//! trimmed output on `\n`, gives up unless the first line starts with
//! exactly `runc version ` (and then takes the rest of that line as the
//! version), and takes `commit: ` and `spec: ` lines by prefix. So the
//! first line always says `runc version`, with the delegate's version
//! number first (a caller that compares versions still sees the
//! delegate's), then the enforcer's in parentheses. containerd 1.6/1.7
//! itself does not gate anything on it (`Runc.Version` is not called
//! outside go-runc); `docker info` and `podman info` show it.

/// The enforcer's version (`CARGO_PKG_VERSION`).
pub const ENFORCER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The runtime-spec version named when the delegate's is unknown: the
/// version of the specs runc 1.1 and crun 1.8 print.
pub const FALLBACK_SPEC: &str = "1.0.2-dev";

/// What the delegate's `--version` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelegateVersion {
    /// The runtime's name on its first line (`runc`, `crun`).
    pub name: Option<String>,
    /// Its version (`1.1.5+ds1`).
    pub version: Option<String>,
    /// `commit: ...`.
    pub commit: Option<String>,
    /// `spec: ...`.
    pub spec: Option<String>,
}

impl DelegateVersion {
    /// Reads `NAME version X` on the first line that has ` version `,
    /// `commit: ` and `spec: ` lines (runc's and crun's forms).
    pub fn parse(output: &str) -> DelegateVersion {
        let mut parsed = DelegateVersion::default();
        for line in output.lines().map(str::trim) {
            if let Some(commit) = line.strip_prefix("commit:") {
                parsed
                    .commit
                    .get_or_insert_with(|| commit.trim().to_string());
            } else if let Some(spec) = line.strip_prefix("spec:") {
                parsed.spec.get_or_insert_with(|| spec.trim().to_string());
            } else if parsed.version.is_none()
                && let Some((name, version)) = line.split_once(" version ")
                && !version.trim().is_empty()
            {
                parsed.name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
                parsed.version = Some(version.trim().to_string());
            }
        }
        parsed
    }
}

/// The lines to print, from the delegate's own `--version` output
/// (`None` when it could not be run): the first line names both
/// versions, `spec:` is the delegate's.
///
/// ```text
/// runc version 1.1.5+ds1 (enforcer 0.1.0)
/// commit: enforcer-0.1.0+1.1.5+ds1-1+deb12u1
/// spec: 1.0.2-dev
/// ```
///
/// A delegate that is not runc is named in the parentheses
/// (`runc version 1.8.1 (enforcer 0.1.0; crun)`); without a delegate the
/// version is `unknown` and the spec [`FALLBACK_SPEC`]. Ends with a
/// newline.
pub fn render(delegate_output: Option<&str>) -> String {
    let delegate = delegate_output
        .map(DelegateVersion::parse)
        .unwrap_or_default();
    let version = delegate
        .version
        .as_deref()
        .map(one_line)
        .unwrap_or_else(|| "unknown".to_string());
    let named = match delegate.name.as_deref() {
        Some(name) if name != "runc" => format!("; {}", one_line(name)),
        _ => String::new(),
    };
    let commit = match delegate.commit.as_deref() {
        Some(commit) if !commit.is_empty() => {
            format!("enforcer-{ENFORCER_VERSION}+{}", one_line(commit))
        }
        _ => format!("enforcer-{ENFORCER_VERSION}"),
    };
    let spec = delegate
        .spec
        .as_deref()
        .filter(|spec| !spec.is_empty())
        .map(one_line)
        .unwrap_or_else(|| FALLBACK_SPEC.to_string());
    format!(
        "runc version {version} (enforcer {ENFORCER_VERSION}{named})\ncommit: {commit}\nspec: {spec}\n"
    )
}

/// No line breaks in a field.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNC: &str = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n\
                        go: go1.19.8\nlibseccomp: 2.5.4\n";
    const CRUN: &str = "crun version 1.8.1\ncommit: f8a096be060b22ccd3d5f3ebe44108517fbf6c30\n\
                        rundir: /run/crun\nspec: 1.0.0\n+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL\n";

    /// go-runc's `parseVersion` (runc.go), reimplemented.
    #[derive(Debug, Default, PartialEq)]
    struct GoRuncVersion {
        runc: String,
        commit: String,
        spec: String,
    }

    fn go_runc_parse(data: &str) -> GoRuncVersion {
        let mut v = GoRuncVersion::default();
        let parts: Vec<&str> = data.trim().split('\n').collect();
        if let Some(first) = parts.first() {
            let Some(version) = first.strip_prefix("runc version ") else {
                return v;
            };
            v.runc = version.to_string();
            for part in &parts[1..] {
                if let Some(commit) = part.strip_prefix("commit: ") {
                    v.commit = commit.to_string();
                } else if let Some(spec) = part.strip_prefix("spec: ") {
                    v.spec = spec.to_string();
                }
            }
        }
        v
    }

    #[test]
    fn runc_delegate() {
        let out = render(Some(RUNC));
        assert_eq!(
            out,
            format!(
                "runc version 1.1.5+ds1 (enforcer {ENFORCER_VERSION})\n\
                 commit: enforcer-{ENFORCER_VERSION}+1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n"
            )
        );
        let parsed = go_runc_parse(&out);
        assert_eq!(
            parsed.runc.split_whitespace().next(),
            Some("1.1.5+ds1"),
            "the delegate's version comes first"
        );
        assert!(parsed.runc.contains(ENFORCER_VERSION));
        assert!(parsed.commit.starts_with("enforcer-"));
        assert_eq!(parsed.spec, "1.0.2-dev");
    }

    #[test]
    fn crun_delegate_still_reads_as_runc() {
        let out = render(Some(CRUN));
        let parsed = go_runc_parse(&out);
        assert_eq!(
            parsed.runc,
            format!("1.8.1 (enforcer {ENFORCER_VERSION}; crun)")
        );
        assert_eq!(
            parsed.commit,
            format!("enforcer-{ENFORCER_VERSION}+f8a096be060b22ccd3d5f3ebe44108517fbf6c30")
        );
        assert_eq!(parsed.spec, "1.0.0");
        // A bare crun's output is not go-runc's: it gets nothing from it.
        assert_eq!(go_runc_parse(CRUN), GoRuncVersion::default());
    }

    #[test]
    fn fallbacks() {
        for output in [
            None,
            Some(""),
            Some("garbage\n\n"),
            Some("runc version \ncommit:\nspec:"),
        ] {
            let out = render(output);
            assert_eq!(out.lines().count(), 3, "{out}");
            let parsed = go_runc_parse(&out);
            assert_eq!(
                parsed.runc,
                format!("unknown (enforcer {ENFORCER_VERSION})"),
                "{output:?}"
            );
            assert_eq!(parsed.commit, format!("enforcer-{ENFORCER_VERSION}"));
            assert_eq!(parsed.spec, FALLBACK_SPEC);
        }
        // Odd bytes stay on their line.
        let out = render(Some("runc version 1\r\ncommit: a\rb\nspec: 1.0\r\n"));
        assert_eq!(out.lines().count(), 3, "{out:?}");
        assert!(out.starts_with("runc version 1 (enforcer"));
    }

    #[test]
    fn parses_the_delegate() {
        let runc = DelegateVersion::parse(RUNC);
        assert_eq!(runc.name.as_deref(), Some("runc"));
        assert_eq!(runc.version.as_deref(), Some("1.1.5+ds1"));
        assert_eq!(runc.commit.as_deref(), Some("1.1.5+ds1-1+deb12u1"));
        assert_eq!(runc.spec.as_deref(), Some("1.0.2-dev"));
    }
}
