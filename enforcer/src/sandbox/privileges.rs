//! The workload's privileges (OCI `process`: user, capabilities,
//! `noNewPrivileges`, rlimits) turned into the numbers the child applies
//! with system calls after the namespace work and before `exec`.
//!
//! Secure defaults where the decision is silent: no capability in any set
//! (bounding included) and `noNewPrivileges` on.

use nix::libc;
use policy_sdk::{Decision, NamespaceType, Process, ProcessUser};

use crate::decision::CAPABILITIES;

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
    /// `(uid, gid, additional gids)` the workload always switches to (see
    /// [`resolve_user`]): never ids the enforcer merely inherited.
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

/// The search path of [`default_environment`], as runc and docker give it.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Makes the workload's user explicit in `decision` when `process.user` is
/// silent: root of its user namespace when it has one (created or joined;
/// validation made sure a created one maps 0), else the caller's own ids,
/// without supplementary groups. Everything downstream (the child, the
/// state that `exec` reads later) then sees one explicit user.
pub fn resolve_user(decision: &mut Decision, caller: (u32, u32)) {
    if !decision.allow {
        return;
    }
    let has_user_namespace = decision
        .namespaces
        .iter()
        .any(|namespace| namespace.kind == NamespaceType::User);
    let process = decision.process.get_or_insert_with(Process::default);
    if process.user.is_none() {
        let (uid, gid) = if has_user_namespace { (0, 0) } else { caller };
        process.user = Some(ProcessUser {
            uid,
            gid,
            ..ProcessUser::default()
        });
    }
}

/// The environment of a workload whose decision gives none: `PATH`,
/// `HOME` (`/root` for uid 0, else `/`), `LANG`, and `TERM` when it has a
/// terminal. Nothing of the enforcer's own environment.
pub fn default_environment(uid: u32, term: Option<&str>) -> Vec<String> {
    let home = if uid == 0 { "/root" } else { "/" };
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOME={home}"),
        "LANG=C.UTF-8".to_string(),
    ];
    if let Some(term) = term {
        env.push(format!("TERM={term}"));
    }
    env
}

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

/// The capability number of `name` (`CAP_NET_BIND_SERVICE` → 10).
pub fn capability_number(name: &str) -> Option<u32> {
    CAPABILITIES
        .iter()
        .position(|known| *known == name)
        .and_then(|index| u32::try_from(index).ok())
}

/// The `setrlimit` resource of `name` (`RLIMIT_NOFILE`).
pub fn rlimit_resource(name: &str) -> Option<libc::c_int> {
    let resource = match name {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        _ => return None,
    };
    Some(resource as libc::c_int)
}

fn mask(names: &[String]) -> Result<u64, String> {
    names.iter().try_fold(0u64, |mask, name| {
        capability_number(name)
            .map(|number| mask | (1 << number))
            .ok_or_else(|| format!("{name:?} is not a capability"))
    })
}

impl Privileges {
    /// The privileges of a decision's `process`, whose user
    /// [`resolve_user`] made explicit (absent sets: the defaults). Names
    /// were checked by validation; an unknown one is still an error.
    pub fn from_process(process: Option<&Process>) -> Result<Privileges, String> {
        let default = Process::default();
        let process = process.unwrap_or(&default);
        let capabilities = match &process.capabilities {
            Some(sets) => CapabilitySets {
                bounding: mask(&sets.bounding)?,
                effective: mask(&sets.effective)?,
                permitted: mask(&sets.permitted)?,
                inheritable: mask(&sets.inheritable)?,
                ambient: mask(&sets.ambient)?,
            },
            None => CapabilitySets::default(),
        };
        let rlimits = process
            .rlimits
            .iter()
            .map(|rlimit| {
                rlimit_resource(&rlimit.kind)
                    .map(|resource| (resource, rlimit.soft, rlimit.hard))
                    .ok_or_else(|| format!("{:?} is not a resource limit", rlimit.kind))
            })
            .collect::<Result<_, _>>()?;
        let user = process.user.as_ref().ok_or_else(|| {
            "the workload's user is not resolved (process.user is missing)".to_string()
        })?;
        Ok(Privileges {
            user: (user.uid, user.gid, user.additional_gids.clone()),
            umask: user.umask,
            capabilities,
            no_new_privileges: process.no_new_privileges.unwrap_or(true),
            rlimits,
            env: process.env.clone(),
            cwd: process.cwd.clone().unwrap_or_else(|| "/".to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::RLIMITS;
    use policy_sdk::Decision;

    #[test]
    fn capability_numbers_follow_the_kernel() {
        assert_eq!(capability_number("CAP_CHOWN"), Some(0));
        assert_eq!(capability_number("CAP_NET_BIND_SERVICE"), Some(10));
        assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(capability_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(capability_number("CAP_WIZARD"), None);
    }

    #[test]
    fn every_validated_rlimit_has_a_resource() {
        for name in RLIMITS {
            assert!(rlimit_resource(name).is_some(), "{name}");
        }
    }

    #[test]
    fn silence_means_no_capabilities_and_no_new_privileges() {
        let error = Privileges::from_process(None).expect_err("no user");
        assert!(error.contains("process.user"), "{error}");
        let mut decision = Decision::allow();
        resolve_user(&mut decision, (1234, 99));
        let privileges = Privileges::from_process(decision.process.as_ref()).expect("defaults");
        assert_eq!(privileges.capabilities, CapabilitySets::default());
        assert!(privileges.no_new_privileges);
        assert_eq!(privileges.user, (1234, 99, vec![]));
        assert_eq!(privileges.cwd, "/");
        assert!(privileges.env.is_empty());
        let decision = Decision::allow()
            .run_as(1000, 1000)
            .rlimit("RLIMIT_NOFILE", 64, 128);
        let privileges = Privileges::from_process(decision.process.as_ref()).expect("valid");
        assert_eq!(privileges.user, (1000, 1000, vec![]));
        assert_eq!(
            privileges.rlimits,
            vec![(libc::RLIMIT_NOFILE as libc::c_int, 64, 128)]
        );
    }

    #[test]
    fn a_user_namespace_means_its_root_else_the_caller() {
        let mut decision = Decision::allow()
            .namespace(NamespaceType::User)
            .map_ids(0, 100000, 65536);
        resolve_user(&mut decision, (0, 0));
        let user = decision
            .process
            .and_then(|process| process.user)
            .expect("user");
        assert_eq!((user.uid, user.gid), (0, 0));
        let mut decision = Decision::allow().run_as(7, 8);
        resolve_user(&mut decision, (0, 0));
        let user = decision
            .process
            .and_then(|process| process.user)
            .expect("user");
        assert_eq!((user.uid, user.gid), (7, 8), "an explicit user stays");
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
