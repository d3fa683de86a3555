//! The compiled stack checked two ways: its shape, and its behaviour,
//! run through a classic-BPF interpreter and combined as the kernel
//! combines filters, against a reference reading of the profile.

use super::*;
use policy_sdk::decision::{SyscallRule, default_seccomp};

const X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const I386: u32 = 3 | 0x4000_0000;

/// `struct seccomp_data` as the kernel lays it out (native endian).
fn seccomp_data(nr: i32, arch: u32, args: [u64; 6]) -> [u8; 64] {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (index, arg) in args.iter().enumerate() {
        let at = 16 + index * 8;
        data[at..at + 8].copy_from_slice(&arg.to_ne_bytes());
    }
    data
}

/// Runs one classic BPF program over `data` (the instructions seccompiler
/// and the guard use).
fn run(program: &[sock_filter], data: &[u8; 64]) -> u32 {
    let mut accumulator: u32 = 0;
    let mut pc = 0usize;
    loop {
        let instruction = &program[pc];
        let class = instruction.code & 0x07;
        match class {
            0x00 => {
                assert_eq!(instruction.code, 0x20, "only LD|W|ABS");
                let at = instruction.k as usize;
                accumulator = u32::from_ne_bytes(data[at..at + 4].try_into().expect("4 bytes"));
                pc += 1;
            }
            0x04 => {
                assert_eq!(instruction.code & 0xf0, 0x50, "only ALU AND");
                accumulator &= instruction.k;
                pc += 1;
            }
            0x05 => {
                let taken = match instruction.code & 0xf0 {
                    0x00 => {
                        pc += 1 + instruction.k as usize;
                        continue;
                    }
                    0x10 => accumulator == instruction.k,
                    0x20 => accumulator > instruction.k,
                    0x30 => accumulator >= instruction.k,
                    0x40 => accumulator & instruction.k != 0,
                    other => panic!("jump {other:#x}"),
                };
                let offset = if taken {
                    instruction.jt
                } else {
                    instruction.jf
                };
                pc += 1 + offset as usize;
            }
            0x06 => return instruction.k,
            other => panic!("class {other:#x}"),
        }
    }
}

/// The kernel's combination: the strictest action of all filters; among
/// equal actions, the most recently loaded filter's.
fn kernel(stack: &FilterStack, data: &[u8; 64]) -> u32 {
    let mut result = u32::from(seccompiler::SeccompAction::Allow);
    for filter in stack.filters.iter().rev() {
        let value = run(&filter.program, data);
        let action = |value: u32| (value & 0xffff_0000) as i32;
        if action(value) < action(result) {
            result = value;
        }
    }
    result
}

/// The reference: the strictest matching rule's action, else the default.
fn reference(profile: &NormalSeccomp, name: &str, args: [u64; 6]) -> NormalAction {
    profile
        .rules
        .iter()
        .filter(|rule| rule.name == name)
        .filter(|rule| {
            rule.args.iter().all(|arg| {
                let value = args[arg.index as usize];
                match arg.op {
                    SeccompOperator::NotEqual => value != arg.value,
                    SeccompOperator::Less => value < arg.value,
                    SeccompOperator::LessOrEqual => value <= arg.value,
                    SeccompOperator::Equal => value == arg.value,
                    SeccompOperator::GreaterOrEqual => value >= arg.value,
                    SeccompOperator::Greater => value > arg.value,
                    SeccompOperator::MaskedEqual => value & arg.value == arg.value_two,
                }
            })
        })
        .map(|rule| rule.action)
        .max()
        .unwrap_or(profile.default_action)
}

/// Checks the stack against the reference for every known call with
/// `args`.
fn agrees(profile: &NormalSeccomp, stack: &FilterStack, args: [u64; 6]) {
    for (name, number) in syscalls::SYSCALLS {
        let data = seccomp_data(*number as i32, X86_64, args);
        let expected = u32::from(backend_action(reference(profile, name, args)));
        assert_eq!(
            kernel(stack, &data),
            expected,
            "{name} with {args:?}: the stack and the reference disagree"
        );
    }
}

fn normal(profile: &Seccomp) -> NormalSeccomp {
    NormalSeccomp::from_oci(profile)
}

fn rule(
    names: &[&str],
    action: SeccompAction,
    errno: Option<u32>,
    args: Vec<SyscallArg>,
) -> SyscallRule {
    SyscallRule {
        names: names.iter().map(|name| name.to_string()).collect(),
        action,
        errno_ret: errno,
        args,
    }
}

fn arg(index: u32, op: SeccompOperator, value: u64, value_two: u64) -> SyscallArg {
    SyscallArg {
        index,
        value,
        value_two,
        op,
    }
}

fn profile(default: SeccompAction, syscalls: Vec<SyscallRule>) -> Seccomp {
    Seccomp {
        default_action: default,
        default_errno_ret: None,
        architectures: vec![],
        flags: vec![],
        syscalls,
    }
}

#[test]
fn the_default_profile_compiles_to_guard_enosys_and_allow_list() {
    let profile = normal(&default_seccomp());
    let stack = compile(&profile).expect("compiles");
    let roles: Vec<Role> = stack.filters.iter().map(|filter| filter.role).collect();
    assert_eq!(
        roles,
        [
            Role::Architecture,
            Role::Action(NormalAction::new(SeccompAction::Errno, Some(38))),
            Role::AllowList(NormalAction::new(SeccompAction::Errno, Some(1))),
        ]
    );
    assert_eq!(stack.filters[1].rules, 1, "clone3");
    let summary = &stack.summary;
    assert_eq!(summary.default_action, SeccompAction::Errno);
    assert_eq!(summary.default_errno_ret, Some(1));
    assert_eq!(summary.filters, 3);
    assert!(summary.skipped_names.contains(&"_llseek".to_string()));
    assert!(summary.skipped_names.contains(&"chown32".to_string()));
    assert!(!summary.skipped_names.contains(&"read".to_string()));
    // Every name upstream lists exists somewhere.
    assert_eq!(summary.unknown_names, Vec::<String>::new());
    assert_eq!(
        summary.rules + summary.skipped_names.len(),
        profile.rules.len()
    );
    for filter in &stack.filters {
        assert!(filter.program.len() < MAX_INSTRUCTIONS);
    }
    let json = serde_json::to_value(summary).expect("serializes");
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["defaultErrnoRet"], 1);
    assert_eq!(json["filters"], 3);
    assert!(json["skippedNames"].is_array());
}

#[test]
fn the_default_profile_behaves_as_its_reading() {
    let profile = normal(&default_seccomp());
    let stack = compile(&profile).expect("compiles");
    for args in [
        [0; 6],
        [8, 0, 0, 0, 0, 0],
        [0xffff_ffff, 1, 2, 3, 4, 5],
        [0x2_0008, 0, 0, 0, 0, 0],
        // clone with and without namespace flags; socket families.
        [0x1000_0000 | 17, 0, 0, 0, 0, 0],
        [0x0100_0011, 0, 0, 0, 0, 0],
        [38, 0, 0, 0, 0, 0],
        [39, 0, 0, 0, 0, 0],
        [40, 0, 0, 0, 0, 0],
        [41, 0, 0, 0, 0, 0],
        [u64::MAX, u64::MAX, 0, 0, 0, 0],
        [1 << 32, 0, 0, 0, 0, 0],
    ] {
        agrees(&profile, &stack, args);
    }
    let data = |name: &str, args| {
        seccomp_data(syscalls::number(name).expect("known") as i32, X86_64, args)
    };
    let eperm = u32::from(seccompiler::SeccompAction::Errno(1));
    let allow = u32::from(seccompiler::SeccompAction::Allow);
    for name in [
        "keyctl",
        "add_key",
        "bpf",
        "kexec_load",
        "open_by_handle_at",
        "ptrace",
    ] {
        assert_eq!(kernel(&stack, &data(name, [0; 6])), eperm, "{name}");
    }
    assert_eq!(kernel(&stack, &data("read", [0; 6])), allow);
    let clone_newuser = [0x1000_0000 | 17, 0, 0, 0, 0, 0];
    assert_eq!(kernel(&stack, &data("clone", clone_newuser)), eperm);
    assert_eq!(kernel(&stack, &data("clone", [17, 0, 0, 0, 0, 0])), allow);
    assert_eq!(
        kernel(&stack, &data("clone3", [0; 6])),
        u32::from(seccompiler::SeccompAction::Errno(38))
    );
    // personality's high half counts (64-bit comparisons).
    assert_eq!(
        kernel(&stack, &data("personality", [1 << 32, 0, 0, 0, 0, 0])),
        eperm
    );
}

#[test]
fn foreign_and_x32_calls_are_killed() {
    let kill = u32::from(seccompiler::SeccompAction::KillProcess);
    // A profile that allows everything still kills other ABIs' calls.
    for profile in [
        normal(&default_seccomp()),
        normal(&profile(SeccompAction::Allow, vec![])),
        normal(&profile(
            SeccompAction::Allow,
            vec![rule(&["keyctl"], SeccompAction::KillProcess, None, vec![])],
        )),
    ] {
        let stack = compile(&profile).expect("compiles");
        let keyctl = syscalls::number("keyctl").expect("known") as i32;
        assert_eq!(
            kernel(&stack, &seccomp_data(keyctl | 0x4000_0000, X86_64, [0; 6])),
            kill
        );
        assert_eq!(
            kernel(&stack, &seccomp_data(0x4000_0000, X86_64, [0; 6])),
            kill
        );
        assert_eq!(kernel(&stack, &seccomp_data(3, I386, [0; 6])), kill);
        // -1 (a tracer's skipped call) is no x32 call.
        assert_ne!(kernel(&stack, &seccomp_data(-1, X86_64, [0; 6])), kill);
    }
}

#[test]
fn the_strictest_matching_rule_wins_in_any_mix() {
    let io = |op, value, two| vec![arg(0, op, value, two)];
    let mixed = profile(
        SeccompAction::Errno,
        vec![
            rule(
                &["read", "write", "personality", "getpid"],
                SeccompAction::Allow,
                None,
                vec![],
            ),
            rule(
                &["personality"],
                SeccompAction::Errno,
                Some(22),
                io(SeccompOperator::Greater, 8, 0),
            ),
            rule(
                &["personality"],
                SeccompAction::Errno,
                Some(7),
                io(SeccompOperator::GreaterOrEqual, 100, 0),
            ),
            rule(
                &["personality"],
                SeccompAction::KillProcess,
                None,
                io(SeccompOperator::Equal, 1000, 0),
            ),
            rule(&["getpid"], SeccompAction::Log, None, vec![]),
            rule(
                &["uname"],
                SeccompAction::Trap,
                None,
                io(SeccompOperator::MaskedEqual, 0xf0, 0x10),
            ),
            rule(
                &["uname"],
                SeccompAction::Allow,
                None,
                io(SeccompOperator::LessOrEqual, 5, 0),
            ),
            rule(
                &["kill"],
                SeccompAction::Trace,
                Some(3),
                io(SeccompOperator::NotEqual, 0, 0),
            ),
            rule(
                &["kill"],
                SeccompAction::Allow,
                None,
                io(SeccompOperator::Less, 10, 0),
            ),
            rule(&["close"], SeccompAction::Errno, Some(9), vec![]),
            rule(&["_llseek"], SeccompAction::KillProcess, None, vec![]),
            rule(&["keyclt"], SeccompAction::KillProcess, None, vec![]),
        ],
    );
    let mixed = normal(&mixed);
    let stack = compile(&mixed).expect("compiles");
    assert_eq!(stack.summary.skipped_names, ["_llseek", "keyclt"]);
    assert_eq!(stack.summary.unknown_names, ["keyclt"]);
    for first in [0, 1, 5, 8, 9, 0x10, 0x15, 99, 100, 101, 1000, 1 << 40] {
        agrees(&mixed, &stack, [first, 0, 0, 0, 0, 0]);
    }
    // A denylist: default ALLOW, no allow-list filter.
    let denylist = normal(&profile(
        SeccompAction::Allow,
        vec![
            rule(&["keyctl"], SeccompAction::Errno, Some(1), vec![]),
            rule(&["bpf"], SeccompAction::KillProcess, None, vec![]),
            rule(
                &["personality"],
                SeccompAction::Trap,
                None,
                io(SeccompOperator::NotEqual, 0, 0),
            ),
        ],
    ));
    let stack = compile(&denylist).expect("compiles");
    assert!(
        !stack
            .filters
            .iter()
            .any(|f| matches!(f.role, Role::AllowList(_)))
    );
    for first in [0, 1, 7] {
        agrees(&denylist, &stack, [first, 0, 0, 0, 0, 0]);
    }
}

#[test]
fn filters_are_loaded_in_ascending_strictness_allow_list_last() {
    let stack = compile(&normal(&profile(
        SeccompAction::Trap,
        vec![
            rule(&["bpf"], SeccompAction::KillProcess, None, vec![]),
            rule(&["keyctl"], SeccompAction::Errno, Some(38), vec![]),
            rule(&["add_key"], SeccompAction::Errno, Some(1), vec![]),
            rule(&["read"], SeccompAction::Allow, None, vec![]),
        ],
    )))
    .expect("compiles");
    let roles: Vec<Role> = stack.filters.iter().map(|filter| filter.role).collect();
    assert_eq!(
        roles,
        [
            Role::Architecture,
            Role::Action(NormalAction::new(SeccompAction::Errno, Some(1))),
            Role::Action(NormalAction::new(SeccompAction::Errno, Some(38))),
            Role::Action(NormalAction::new(SeccompAction::KillProcess, None)),
            Role::AllowList(NormalAction::new(SeccompAction::Trap, None)),
        ]
    );
    assert_eq!(stack.summary.rules, 4);
    // Nothing to filter: the guard alone.
    let stack = compile(&normal(&profile(SeccompAction::Allow, vec![]))).expect("compiles");
    assert_eq!(stack.filters.len(), 1);
}

#[test]
fn bad_rules_are_refused_by_name() {
    let bad_index = normal(&profile(
        SeccompAction::Errno,
        vec![rule(
            &["personality"],
            SeccompAction::Allow,
            None,
            vec![arg(6, SeccompOperator::Equal, 0, 0)],
        )],
    ));
    let error = compile(&bad_index).expect_err("index 6");
    assert_eq!(
        error.to_string(),
        "seccomp: the rule for \"personality\" (SCMP_ACT_ALLOW) compares argument 6: a system call has arguments 0 to 5"
    );
    let mut flagged = profile(SeccompAction::Errno, vec![]);
    flagged.flags = vec!["SECCOMP_FILTER_FLAG_NEW_LISTENER".into()];
    let error = compile(&normal(&flagged)).expect_err("unknown flag");
    assert!(
        error
            .to_string()
            .starts_with("seccomp.flags: \"SECCOMP_FILTER_FLAG_NEW_LISTENER\"")
    );
    // Refusing seccomp(2) itself in an early filter would stop the loader.
    let loader = normal(&profile(
        SeccompAction::Errno,
        vec![rule(&["seccomp"], SeccompAction::KillProcess, None, vec![])],
    ));
    assert!(matches!(
        compile(&loader),
        Err(SeccompError::RefusesLoader {
            action: "SCMP_ACT_KILL_PROCESS"
        })
    ));
    // ... but the last filter may.
    let last = normal(&profile(
        SeccompAction::Allow,
        vec![rule(&["seccomp"], SeccompAction::Errno, None, vec![])],
    ));
    assert!(compile(&last).is_ok());
}

#[test]
fn an_impossible_masked_condition_never_matches() {
    let profile = normal(&profile(
        SeccompAction::Errno,
        vec![rule(
            &["read"],
            SeccompAction::Allow,
            None,
            vec![arg(0, SeccompOperator::MaskedEqual, 0x0f, 0x10)],
        )],
    ));
    let stack = compile(&profile).expect("compiles");
    for first in [0x10, 0x1f, 0] {
        agrees(&profile, &stack, [first, 0, 0, 0, 0, 0]);
    }
}

#[test]
fn the_syscall_table_is_sorted_and_knows_x86_64() {
    assert!(
        syscalls::SYSCALLS
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0)
    );
    assert_eq!(syscalls::number("read"), Some(0));
    assert_eq!(syscalls::number("keyctl"), Some(250));
    assert_eq!(syscalls::number("clone3"), Some(435));
    assert_eq!(syscalls::number("fchmodat2"), Some(452));
    assert_eq!(syscalls::number("_llseek"), None);
    assert_eq!(syscalls::number("chown32"), None);
}

/// `cargo test --release -p enforcer --lib compile_time -- --ignored --nocapture`
#[test]
#[ignore = "a timing, printed"]
fn compile_time_of_the_default_profile() {
    let profile = normal(&default_seccomp());
    let rounds = 200;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(compile(&profile).expect("compiles"));
    }
    let each = start.elapsed() / rounds;
    let stack = compile(&profile).expect("compiles");
    println!(
        "default_seccomp(): compiled in {each:?} ({} filters, {} instructions)",
        stack.filters.len(),
        stack.summary.instructions
    );
}
