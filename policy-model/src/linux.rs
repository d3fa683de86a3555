//! Linux's tables that both sides need: capability names and numbers
//! (`linux/capability.h`) and resource-limit names and numbers
//! (`asm-generic/resource.h`). Validation, the builders, the enforcer's
//! privileges and `check`, and the tests all read them from here.

/// Capability names the kernel knows, with their numbers
/// (`linux/capability.h`), in the kernel's order.
pub const CAPABILITIES: &[(&str, u32)] = &[
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_LINUX_IMMUTABLE", 9),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_BROADCAST", 11),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_IPC_LOCK", 14),
    ("CAP_IPC_OWNER", 15),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_PACCT", 20),
    ("CAP_SYS_ADMIN", 21),
    ("CAP_SYS_BOOT", 22),
    ("CAP_SYS_NICE", 23),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_SYS_TIME", 25),
    ("CAP_SYS_TTY_CONFIG", 26),
    ("CAP_MKNOD", 27),
    ("CAP_LEASE", 28),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_AUDIT_CONTROL", 30),
    ("CAP_SETFCAP", 31),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
    ("CAP_AUDIT_READ", 37),
    ("CAP_PERFMON", 38),
    ("CAP_BPF", 39),
    ("CAP_CHECKPOINT_RESTORE", 40),
];

/// Resource-limit names with their `setrlimit` numbers, in the kernel's
/// order. The numbers are the generic ones (`asm-generic/resource.h`:
/// x86, arm, arm64, riscv, powerpc, s390); alpha, mips and sparc number
/// some differently, and the enforcer's unit tests compare every entry
/// with its libc's.
pub const RLIMITS: &[(&str, u32)] = &[
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

/// The capability number of `name` (`CAP_NET_BIND_SERVICE` → 10).
pub fn capability_number(name: &str) -> Option<u32> {
    number_in(CAPABILITIES, name)
}

/// The capability name of `number` (10 → `CAP_NET_BIND_SERVICE`).
pub fn capability_name(number: u32) -> Option<&'static str> {
    CAPABILITIES
        .iter()
        .find(|(_, known)| *known == number)
        .map(|(name, _)| *name)
}

/// The `setrlimit` resource number of `name` (`RLIMIT_NOFILE` → 7).
pub fn rlimit_number(name: &str) -> Option<u32> {
    number_in(RLIMITS, name)
}

fn number_in(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, number)| *number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_numbered_in_the_kernels_order() {
        for (index, (_, number)) in CAPABILITIES.iter().enumerate() {
            assert_eq!(*number as usize, index);
        }
        assert_eq!(capability_number("CAP_CHOWN"), Some(0));
        assert_eq!(capability_number("CAP_NET_BIND_SERVICE"), Some(10));
        assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(capability_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(capability_name(21), Some("CAP_SYS_ADMIN"));
        assert_eq!(capability_name(41), None);
    }

    #[test]
    fn unknown_and_near_names_have_no_number() {
        for name in [
            "CAP_WIZARD",
            "cap_chown",
            "CHOWN",
            "CAP_CHOWN ",
            "",
            "RLIMIT_NOFILE",
        ] {
            assert_eq!(capability_number(name), None, "{name:?}");
        }
        for name in ["RLIMIT_WIZARD", "rlimit_nofile", "NOFILE", "CAP_KILL", ""] {
            assert_eq!(rlimit_number(name), None, "{name:?}");
        }
    }

    #[test]
    fn rlimits_are_numbered_in_the_kernels_order() {
        for (index, (_, number)) in RLIMITS.iter().enumerate() {
            assert_eq!(*number as usize, index);
        }
        assert_eq!(rlimit_number("RLIMIT_NOFILE"), Some(7));
        assert_eq!(rlimit_number("RLIMIT_AS"), Some(9));
    }

    #[test]
    fn the_container_default_and_the_typical_context_use_known_names() {
        for name in crate::CONTAINER_CAPABILITIES {
            assert!(capability_number(name).is_some(), "{name}");
        }
        let context = crate::Context::typical();
        assert_eq!(context.rlimits.len(), RLIMITS.len());
        for name in context.rlimits.keys() {
            assert!(rlimit_number(name).is_some(), "{name}");
        }
    }
}
