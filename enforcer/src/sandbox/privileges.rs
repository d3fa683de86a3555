//! The workload's privileges (OCI `process`: user, capabilities,
//! `noNewPrivileges`, rlimits) turned into the numbers the child applies
//! with system calls after the namespace work and before `exec`.
//!
//! What a silent decision means (no capability in any set, bounding
//! included, `noNewPrivileges` on, the caller's ids) was decided by the
//! normal form (`policy_model::normal`); this module only turns names into
//! numbers.

use nix::libc;

use crate::decision::normal::NormalProcess;
pub use crate::linux::capability_number;

/// Capability sets as bit masks (bit n = capability number n).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    /// Bounding set: what the process and its children can ever have.
    pub bounding: u64,
    /// Effective set.
    pub effective: u64,
    /// Permitted set.
    pub permitted: u64,
    /// Inheritable set.
    pub inheritable: u64,
    /// Ambient set.
    pub ambient: u64,
}

/// Everything the child sets about itself before `exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    /// `(uid, gid, additional gids)` the workload always switches to (the
    /// normal form made them explicit): never ids the enforcer merely
    /// inherited.
    pub user: (u32, u32, Vec<u32>),
    /// File mode creation mask.
    pub umask: Option<u32>,
    /// Capability sets.
    pub capabilities: CapabilitySets,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privileges: bool,
    /// `(resource, soft, hard)` for `setrlimit`.
    pub rlimits: Vec<(libc::c_int, u64, u64)>,
    /// `process.env` as given; empty means [`default_environment`].
    pub env: Vec<String>,
    /// The working directory to enter (`/` by default).
    pub cwd: String,
}

pub use crate::decision::normal::{DEFAULT_PATH, default_environment};

/// The operator's `TERM` for a workload given a terminal: the value when it
/// is a plain terminal name, else `xterm`.
pub fn terminal_type(operator_term: Option<&str>) -> String {
    match operator_term {
        Some(term)
            if (1..=64).contains(&term.len())
                && term
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b)) =>
        {
            term.to_string()
        }
        _ => "xterm".to_string(),
    }
}

/// The `setrlimit` resource of `name` (`RLIMIT_NOFILE`), from the one
/// table (`policy_model::linux::RLIMITS`).
pub fn rlimit_resource(name: &str) -> Option<libc::c_int> {
    crate::linux::rlimit_number(name).and_then(|number| libc::c_int::try_from(number).ok())
}

/// A name in a normalised `process` that has no number (validation
/// refuses them, so this is a decision that skipped validation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivilegesError {
    /// Not a capability name.
    #[error("{0:?} is not a capability")]
    UnknownCapability(String),
    /// Not a resource limit name.
    #[error("{0:?} is not a resource limit")]
    UnknownRlimit(String),
}

fn mask<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<u64, PrivilegesError> {
    names.into_iter().try_fold(0u64, |mask, name| {
        capability_number(name)
            .map(|number| mask | (1 << number))
            .ok_or_else(|| PrivilegesError::UnknownCapability(name.clone()))
    })
}

impl Privileges {
    /// The numbers the child applies for a normalised `process`. Names
    /// were checked by validation; an unknown one is still an error.
    pub fn from_normal(process: &NormalProcess) -> Result<Privileges, PrivilegesError> {
        let NormalProcess {
            user,
            capabilities,
            no_new_privileges,
            rlimits,
            env,
            cwd,
        } = process;
        let rlimits = rlimits
            .iter()
            .map(|(kind, value)| {
                rlimit_resource(kind)
                    .map(|resource| (resource, value.soft, value.hard))
                    .ok_or_else(|| PrivilegesError::UnknownRlimit(kind.clone()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Privileges {
            user: (
                user.uid,
                user.gid,
                user.additional_gids.iter().copied().collect(),
            ),
            umask: user.umask,
            capabilities: CapabilitySets {
                bounding: mask(&capabilities.bounding)?,
                effective: mask(&capabilities.effective)?,
                permitted: mask(&capabilities.permitted)?,
                inheritable: mask(&capabilities.inheritable)?,
                ambient: mask(&capabilities.ambient)?,
            },
            no_new_privileges: *no_new_privileges,
            rlimits,
            env: env.clone(),
            cwd: cwd.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::RLIMITS;
    use policy_sdk::Decision;

    #[test]
    fn the_rlimit_table_matches_this_libc() {
        let libc_numbers = [
            ("RLIMIT_AS", libc::RLIMIT_AS),
            ("RLIMIT_CORE", libc::RLIMIT_CORE),
            ("RLIMIT_CPU", libc::RLIMIT_CPU),
            ("RLIMIT_DATA", libc::RLIMIT_DATA),
            ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
            ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
            ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
            ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
            ("RLIMIT_NICE", libc::RLIMIT_NICE),
            ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
            ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
            ("RLIMIT_RSS", libc::RLIMIT_RSS),
            ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
            ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
            ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
            ("RLIMIT_STACK", libc::RLIMIT_STACK),
        ];
        assert_eq!(libc_numbers.len(), RLIMITS.len());
        for (name, number) in libc_numbers {
            assert_eq!(rlimit_resource(name), Some(number as libc::c_int), "{name}");
        }
        assert_eq!(rlimit_resource("RLIMIT_WIZARD"), None);
    }

    #[test]
    fn the_capability_table_knows_every_capability_of_this_kernel() {
        let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .expect("readable")
            .trim()
            .parse()
            .expect("a number");
        for number in 0..=last {
            let name = crate::linux::capability_name(number);
            assert!(name.is_some(), "capability {number} of this kernel");
            assert_eq!(name.and_then(capability_number), Some(number));
        }
    }

    #[test]
    fn the_normal_form_becomes_the_numbers_the_child_applies() {
        let context = crate::decision::Context::typical();
        let silent = crate::decision::normalize(&Decision::allow(), &context);
        let privileges = Privileges::from_normal(&silent.process).expect("defaults");
        assert_eq!(privileges.capabilities, CapabilitySets::default());
        assert!(privileges.no_new_privileges);
        assert_eq!(privileges.user, (1000, 1000, vec![]));
        assert_eq!(privileges.cwd, "/");
        assert_eq!(privileges.rlimits.len(), RLIMITS.len());
        let decision = Decision::allow()
            .run_as(7, 8)
            .rlimit("RLIMIT_NOFILE", 64, 128);
        let normal = crate::decision::normalize(&decision, &context);
        let privileges = Privileges::from_normal(&normal.process).expect("valid");
        assert_eq!(privileges.user, (7, 8, vec![]));
        assert!(
            privileges
                .rlimits
                .contains(&(libc::RLIMIT_NOFILE as libc::c_int, 64, 128))
        );
    }

    #[test]
    fn unknown_names_are_typed_errors() {
        let context = crate::decision::Context::typical();
        let mut process = crate::decision::normalize(&Decision::allow(), &context).process;
        process.capabilities.ambient.insert("CAP_WIZARD".into());
        assert_eq!(
            Privileges::from_normal(&process),
            Err(PrivilegesError::UnknownCapability("CAP_WIZARD".into()))
        );
        let mut process = crate::decision::normalize(&Decision::allow(), &context).process;
        process.rlimits.insert(
            "RLIMIT_WIZARD".into(),
            *process.rlimits.values().next().expect("rlimits"),
        );
        let error = Privileges::from_normal(&process).expect_err("unknown rlimit");
        assert_eq!(
            error.to_string(),
            "\"RLIMIT_WIZARD\" is not a resource limit"
        );
    }

    #[test]
    fn the_default_environment_is_minimal() {
        assert_eq!(
            default_environment(0, None),
            [
                format!("PATH={DEFAULT_PATH}"),
                "HOME=/root".into(),
                "LANG=C.UTF-8".into()
            ]
        );
        assert!(
            default_environment(1000, Some("xterm-256color"))
                .contains(&"TERM=xterm-256color".to_string())
        );
        assert_eq!(
            terminal_type(Some("screen.xterm-256color")),
            "screen.xterm-256color"
        );
        assert_eq!(terminal_type(Some("evil\u{1b}]0;x")), "xterm");
        assert_eq!(terminal_type(None), "xterm");
    }
}
