//! Device rules on cgroup v2: an eBPF `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program compiled from the OCI rule list, loaded with `bpf(2)` and
//! attached to the sandbox's cgroup.
//!
//! The program decides exactly what [`policy_sdk::devices::permits`]
//! decides: for each requested access bit the last rule that matches the
//! device and names the bit wins, and a bit no rule names is allowed (a
//! fresh cgroup allows everything). It walks the rules from last to first,
//! keeping the still-undecided bits in a register: a deny rule that names
//! one of them denies the access, an allow rule clears the bits it names,
//! and the access is allowed once no bit is left.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::libc;
use policy_sdk::{DeviceRule, DeviceType};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Operation code.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Signed offset (jumps, memory).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

// Opcodes used (see linux/bpf.h, linux/bpf_common.h).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND64_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH64_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// `struct bpf_cgroup_dev_ctx` encodings.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

// Registers of the compiled program.
const R_CTX: u8 = 1;
const R_PENDING: u8 = 2; // access bits not decided yet
const R_TYPE: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;
const R_SCRATCH: u8 = 6;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// The access bits of `access` (`rwm` letters) in the kernel's encoding.
fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, letter| {
        bits | match letter {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    })
}

/// Why device rules cannot be compiled into a device program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A device number does not fit an instruction's 32-bit immediate.
    #[error("device rule {target}: {what} {number} is out of range")]
    OutOfRange {
        /// The rule's target (`c 1099511627776:*`).
        target: String,
        /// `major` or `minor`.
        what: &'static str,
        /// The number.
        number: i64,
    },
    /// A rule's block is too long for a jump over it (never: a block is a
    /// dozen instructions).
    #[error("device rule block too long")]
    BlockTooLong,
}

/// A device number as an instruction immediate.
fn immediate(number: i64, what: &'static str, rule: &DeviceRule) -> Result<i32, CompileError> {
    i32::try_from(number).map_err(|_| CompileError::OutOfRange {
        target: rule.target(),
        what,
        number,
    })
}

/// Compiles `rules` into the device program.
pub fn compile(rules: &[DeviceRule]) -> Result<Vec<Insn>, CompileError> {
    let mut program = vec![
        insn(LDX_W, R_PENDING, R_CTX, 0, 0),
        insn(MOV64_X, R_TYPE, R_PENDING, 0, 0),
        insn(AND64_K, R_TYPE, 0, 0, 0xffff),
        insn(RSH64_K, R_PENDING, 0, 0, 16),
        insn(LDX_W, R_MAJOR, R_CTX, 4, 0),
        insn(LDX_W, R_MINOR, R_CTX, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let mut block = Vec::new();
        // Jumps with off == SKIP go to the end of this rule's block.
        const SKIP: i16 = i16::MAX;
        match rule.kind.unwrap_or(DeviceType::All) {
            DeviceType::All => {}
            DeviceType::Char => block.push(insn(JNE_K, R_TYPE, 0, SKIP, DEV_CHAR)),
            DeviceType::Block => block.push(insn(JNE_K, R_TYPE, 0, SKIP, DEV_BLOCK)),
        }
        for (number, register, what) in [
            (rule.major, R_MAJOR, "major"),
            (rule.minor, R_MINOR, "minor"),
        ] {
            if let Some(number) = number.filter(|number| *number != -1) {
                block.push(insn(
                    JNE_K,
                    register,
                    0,
                    SKIP,
                    immediate(number, what, rule)?,
                ));
            }
        }
        let bits = access_bits(rule.access_or_default());
        block.push(insn(MOV64_X, R_SCRATCH, R_PENDING, 0, 0));
        block.push(insn(AND64_K, R_SCRATCH, 0, 0, bits));
        block.push(insn(JEQ_K, R_SCRATCH, 0, SKIP, 0));
        if rule.allow {
            block.push(insn(AND64_K, R_PENDING, 0, 0, !bits));
            block.push(insn(JNE_K, R_PENDING, 0, SKIP, 0));
            block.push(insn(MOV64_K, 0, 0, 0, 1));
        } else {
            block.push(insn(MOV64_K, 0, 0, 0, 0));
        }
        block.push(insn(EXIT, 0, 0, 0, 0));
        let length = block.len();
        for (index, instruction) in block.iter_mut().enumerate() {
            if instruction.off == SKIP {
                instruction.off =
                    i16::try_from(length - index - 1).map_err(|_| CompileError::BlockTooLong)?;
            }
        }
        program.extend(block);
    }
    // No rule decided the remaining bits: a fresh cgroup allows them.
    program.push(insn(MOV64_K, 0, 0, 0, 1));
    program.push(insn(EXIT, 0, 0, 0, 0));
    Ok(program)
}

/// The program as the kernel's `struct bpf_insn` array.
fn encode(program: &[Insn]) -> Vec<u64> {
    program
        .iter()
        .map(|instruction| {
            let registers = (instruction.src << 4) | (instruction.dst & 0x0f);
            let mut bytes = [0u8; 8];
            bytes[0] = instruction.code;
            bytes[1] = registers;
            bytes[2..4].copy_from_slice(&instruction.off.to_ne_bytes());
            bytes[4..8].copy_from_slice(&instruction.imm.to_ne_bytes());
            u64::from_ne_bytes(bytes)
        })
        .collect()
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr`, as raw 32-bit words; the kernel reads only the
/// fields of the command and requires the rest to be zero.
#[repr(C, align(8))]
struct BpfAttr([u32; 32]);

impl BpfAttr {
    fn new() -> BpfAttr {
        BpfAttr([0; 32])
    }

    fn set_u32(&mut self, offset: usize, value: u32) {
        self.0[offset / 4] = value;
    }

    fn set_u64(&mut self, offset: usize, value: u64) {
        self.0[offset / 4] = value as u32;
        self.0[offset / 4 + 1] = (value >> 32) as u32;
    }
}

fn bpf(command: libc::c_long, attr: &mut BpfAttr) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-initialised `bpf_attr` of the size passed,
    // whose pointer fields refer to buffers that outlive the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut BpfAttr,
            std::mem::size_of::<BpfAttr>(),
        )
    };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Loads `program` into the kernel; on a verifier rejection the error
/// carries the verifier's log.
fn load(program: &[Insn]) -> std::io::Result<OwnedFd> {
    let code = encode(program);
    let license = c"Apache-2.0";
    let name = b"enforcer_dev\0\0\0\0";
    let mut log = vec![0u8; 64 * 1024];
    let attempt = |log: Option<&mut Vec<u8>>| {
        let mut attr = BpfAttr::new();
        attr.set_u32(0, BPF_PROG_TYPE_CGROUP_DEVICE);
        attr.set_u32(4, code.len() as u32);
        attr.set_u64(8, code.as_ptr() as u64);
        attr.set_u64(16, license.as_ptr() as u64);
        if let Some(log) = log {
            attr.set_u32(24, 1);
            attr.set_u32(28, log.len() as u32);
            attr.set_u64(32, log.as_mut_ptr() as u64);
        }
        for (index, chunk) in name.chunks(4).enumerate() {
            attr.set_u32(
                48 + index * 4,
                u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
            );
        }
        attr.set_u32(68, BPF_CGROUP_DEVICE);
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    let fd = match attempt(None) {
        Ok(fd) => fd,
        Err(error)
            if error.raw_os_error() == Some(libc::EACCES)
                || error.raw_os_error() == Some(libc::EINVAL) =>
        {
            // Load again with the verifier log so the error explains itself.
            attempt(Some(&mut log)).map_err(|retry| {
                let text = String::from_utf8_lossy(&log);
                let text = text.trim_end_matches('\0').trim();
                std::io::Error::new(retry.kind(), format!("{retry}; verifier log: {text}"))
            })?
        }
        Err(error) => return Err(error),
    };
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("bpf returned a bad fd"))?;
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Compiles `rules`, loads the program and attaches it to the cgroup v2
/// directory `cgroup` (with `BPF_F_ALLOW_MULTI`, so programs of ancestors
/// keep applying and a nested manager can add its own). The program stays
/// attached until the cgroup is removed.
pub fn attach(cgroup: &Path, rules: &[DeviceRule]) -> std::io::Result<()> {
    let program = compile(rules).map_err(std::io::Error::other)?;
    let program = load(&program)?;
    let directory = std::fs::File::open(cgroup)?;
    let mut attr = BpfAttr::new();
    attr.set_u32(0, directory.as_raw_fd() as u32);
    attr.set_u32(4, program.as_raw_fd() as u32);
    attr.set_u32(8, BPF_CGROUP_DEVICE);
    attr.set_u32(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut attr)?;
    Ok(())
}

/// How many device programs are attached directly to `cgroup`.
pub fn attached(cgroup: &Path) -> std::io::Result<u32> {
    let directory = std::fs::File::open(cgroup)?;
    let mut attr = BpfAttr::new();
    attr.set_u32(0, directory.as_raw_fd() as u32);
    attr.set_u32(4, BPF_CGROUP_DEVICE);
    bpf(BPF_PROG_QUERY, &mut attr)?;
    Ok(attr.0[6])
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::devices::{oci_default_devices, permits};

    /// Runs `program` the way the kernel would for one access: an
    /// interpreter for the instructions `compile` emits.
    fn run(program: &[Insn], kind: DeviceType, major: u32, minor: u32, access: &str) -> u64 {
        let kind = match kind {
            DeviceType::Block => DEV_BLOCK,
            _ => DEV_CHAR,
        } as u32;
        let context = [(access_bits(access) as u32) << 16 | kind, major, minor];
        let mut registers = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = program[pc];
            let (dst, src) = (usize::from(i.dst), usize::from(i.src));
            let imm = i64::from(i.imm) as u64;
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(src, usize::from(R_CTX));
                    registers[dst] = u64::from(context[(i.off / 4) as usize]);
                }
                MOV64_X => registers[dst] = registers[src],
                MOV64_K => registers[dst] = imm,
                AND64_K => registers[dst] &= imm,
                RSH64_K => registers[dst] >>= imm,
                JEQ_K if registers[dst] == imm => pc += i.off as usize,
                JNE_K if registers[dst] != imm => pc += i.off as usize,
                JEQ_K | JNE_K => {}
                EXIT => return registers[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rule_sets() -> Vec<Vec<DeviceRule>> {
        vec![
            vec![],
            oci_default_devices(),
            vec![
                DeviceRule::deny_all(),
                DeviceRule::allow_char(1, Some(3), "rwm"),
            ],
            vec![
                DeviceRule::allow_char(1, Some(3), "rw"),
                DeviceRule::deny_char(1, Some(3), "w"),
            ],
            vec![
                DeviceRule::deny_all(),
                DeviceRule::allow_char(1, None, "r"),
                DeviceRule::deny_char(1, Some(5), "rw"),
                DeviceRule::allow_block(8, None, "m"),
            ],
            vec![DeviceRule {
                access: Some("m".into()),
                ..DeviceRule::deny_all()
            }],
        ]
    }

    #[test]
    fn program_agrees_with_permits_for_every_device_and_access() {
        let accesses = ["r", "w", "m", "rw", "rm", "wm", "rwm"];
        for rules in rule_sets() {
            let program = compile(&rules).expect("compiles");
            for kind in [DeviceType::Char, DeviceType::Block] {
                for major in [0u32, 1, 5, 8, 136, 4095] {
                    for minor in [0u32, 1, 3, 5, 9] {
                        for access in accesses {
                            let expected =
                                permits(&rules, kind, major.into(), minor.into(), access);
                            let verdict = run(&program, kind, major, minor, access);
                            assert_eq!(
                                verdict == 1,
                                expected,
                                "{kind:?} {major}:{minor} {access} under {rules:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn encoding_matches_the_kernel_layout() {
        let encoded = encode(&[insn(LDX_W, R_MAJOR, R_CTX, 4, 0)]);
        let bytes = encoded[0].to_ne_bytes();
        assert_eq!(bytes[0], 0x61);
        assert_eq!(bytes[1], 0x14, "src in the high nibble, dst in the low");
        assert_eq!(i16::from_ne_bytes([bytes[2], bytes[3]]), 4);
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let rule = DeviceRule::allow_char(1 << 40, None, "r");
        let error = compile(&[rule]).expect_err("too big");
        assert!(
            matches!(
                error,
                CompileError::OutOfRange {
                    what: "major",
                    number,
                    ..
                } if number == 1 << 40
            ),
            "{error}"
        );
        assert!(error.to_string().contains("out of range"), "{error}");
    }
}
