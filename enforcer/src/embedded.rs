//! The built-in policies, compiled into the binary so `enforcer` works
//! alone, and named `builtin:NAME` wherever a policy path is taken
//! (`-p builtin:default`, a config's `policy = "builtin:default"`,
//! `enforcer inspect builtin:default`, `enforcer policy show`).

use std::path::Path;

/// Name used for the embedded default policy in messages when it decides
/// because nothing else was named (no `--policy`, no platform chain).
pub const DEFAULT_POLICY_NAME: &str = "embedded default";

/// The `policies/default` module, as committed in
/// `enforcer/policy/default.wasm`: building the enforcer needs no Wasm
/// target. `scripts/build-default-policy` regenerates it from source
/// (reproducibly), and the `embedded` test fails when it differs from what
/// the source builds to.
pub const DEFAULT_POLICY: &[u8] = include_bytes!("../policy/default.wasm");

/// What names a built-in policy where a path is expected: `builtin:NAME`
/// (a file of that name is still reachable as `./builtin:NAME`).
pub const BUILTIN_PREFIX: &str = "builtin:";

/// A policy compiled into the enforcer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// Its name after `builtin:` (`default`).
    pub name: &'static str,
    /// The module's bytes.
    pub bytes: &'static [u8],
    /// What it is, one line.
    pub about: &'static str,
}

impl Builtin {
    /// `builtin:NAME`: its name in the chain and in messages.
    pub fn label(&self) -> String {
        format!("{BUILTIN_PREFIX}{}", self.name)
    }
}

/// Every built-in policy.
pub const BUILTINS: &[Builtin] = &[Builtin {
    name: "default",
    bytes: DEFAULT_POLICY,
    about: "the policies/default module: new namespaces, bounded memory and tasks, no privileges",
}];

/// A `builtin:NAME` that names no built-in policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no built-in policy {given:?} (the built-ins: {})", names())]
pub struct UnknownBuiltin {
    /// What was given (`builtin:defualt`).
    pub given: String,
}

/// The built-ins' labels, comma-separated (`builtin:default`).
pub fn names() -> String {
    BUILTINS
        .iter()
        .map(Builtin::label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `None` when `path` is an ordinary path; else the built-in it names, or
/// why it names none.
pub fn lookup(path: &Path) -> Option<Result<&'static Builtin, UnknownBuiltin>> {
    let name = path.to_str()?.strip_prefix(BUILTIN_PREFIX)?;
    Some(
        BUILTINS
            .iter()
            .find(|builtin| builtin.name == name)
            .ok_or_else(|| UnknownBuiltin {
                given: path.display().to_string(),
            }),
    )
}

/// Whether `path` is written `builtin:NAME` (known or not): such a path
/// is never joined to a directory.
pub fn is_builtin(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|text| text.starts_with(BUILTIN_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_named_and_unknown_ones_list_the_known() {
        let found = lookup(Path::new("builtin:default"))
            .expect("a builtin name")
            .expect("known");
        assert_eq!(found.bytes, DEFAULT_POLICY);
        assert_eq!(found.label(), "builtin:default");
        assert!(lookup(Path::new("./builtin:default")).is_none());
        assert!(lookup(Path::new("default.wasm")).is_none());
        let error = lookup(Path::new("builtin:defualt"))
            .expect("a builtin name")
            .expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "no built-in policy \"builtin:defualt\" (the built-ins: builtin:default)"
        );
        assert!(is_builtin(Path::new("builtin:x")));
        assert!(!is_builtin(Path::new("/etc/builtin:x")));
    }
}
