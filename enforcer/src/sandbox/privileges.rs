//! The workload's privileges (OCI `process`: user, capabilities,
//! `noNewPrivileges`, rlimits) turned into the numbers the child applies
//! with system calls after the namespace work and before `exec`.
//!
//! Secure defaults where the decision is silent: no capability in any set
//! (bounding included) and `noNewPrivileges` on.

use nix::libc;
use policy_sdk::Process;

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
    /// `(uid, gid, additional gids)` to switch to; `None` keeps the ids.
    pub user: Option<(u32, u32, Vec<u32>)>,
    /// File mode creation mask.
    pub umask: Option<u32>,
    /// Capability sets.
    pub capabilities: CapabilitySets,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privileges: bool,
    /// `(resource, soft, hard)` for `setrlimit`.
    pub rlimits: Vec<(libc::c_int, u64, u64)>,
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
    /// The privileges of a decision's `process` (absent: the defaults).
    /// Names were checked by validation; an unknown one is still an error.
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
        Ok(Privileges {
            user: process
                .user
                .as_ref()
                .map(|user| (user.uid, user.gid, user.additional_gids.clone())),
            umask: process.user.as_ref().and_then(|user| user.umask),
            capabilities,
            no_new_privileges: process.no_new_privileges.unwrap_or(true),
            rlimits,
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
        let privileges = Privileges::from_process(None).expect("defaults");
        assert_eq!(privileges.capabilities, CapabilitySets::default());
        assert!(privileges.no_new_privileges);
        assert_eq!(privileges.user, None);
        let decision = Decision::allow()
            .run_as(1000, 1000)
            .rlimit("RLIMIT_NOFILE", 64, 128);
        let privileges = Privileges::from_process(decision.process.as_ref()).expect("valid");
        assert_eq!(privileges.user, Some((1000, 1000, vec![])));
        assert_eq!(
            privileges.rlimits,
            vec![(libc::RLIMIT_NOFILE as libc::c_int, 64, 128)]
        );
    }
}
