//! The first filter of every stack: only native x86_64 calls pass.
//!
//! seccompiler's filters kill a call of another architecture already, but
//! not an x32 call (x86_64's audit architecture, the number with bit 30
//! set), which would match none of their rules and so get each filter's
//! mismatch action: `ALLOW` in an action filter, the default in the
//! allow-list. This program kills both, whatever the profile's default.
//! (`-1`, the number a tracer uses to skip a call, is not an x32 call.)

use seccompiler::sock_filter;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `__X32_SYSCALL_BIT`.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `offsetof(struct seccomp_data, nr)` and `arch`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

// Classic BPF opcodes (linux/bpf_common.h).
/// `BPF_LD | BPF_W | BPF_ABS` (0x00 | 0x00 | 0x20).
const LD_W_ABS: u16 = 0x20;
const JMP_JEQ_K: u16 = 0x05 | 0x10;
const JMP_JGE_K: u16 = 0x05 | 0x30;
const RET_K: u16 = 0x06;

/// `SECCOMP_RET_KILL_PROCESS` and `SECCOMP_RET_ALLOW`.
const KILL_PROCESS: u32 = 0x8000_0000;
const ALLOW: u32 = 0x7fff_0000;

fn statement(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The guard program.
pub(super) fn program() -> Vec<sock_filter> {
    vec![
        statement(LD_W_ABS, ARCH_OFFSET),
        jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        statement(RET_K, KILL_PROCESS),
        statement(LD_W_ABS, NR_OFFSET),
        jump(JMP_JGE_K, X32_SYSCALL_BIT, 0, 2),
        jump(JMP_JEQ_K, u32::MAX, 1, 0),
        statement(RET_K, KILL_PROCESS),
        statement(RET_K, ALLOW),
    ]
}
