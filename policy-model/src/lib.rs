//! The decision model the enforcer and policy authors share.
//!
//! * [`decision`]: the decision a policy returns, in the OCI runtime spec's
//!   shape, with builders.
//! * [`validate()`]: range checks and confinement of one decision against
//!   the host.
//! * [`normal`]: the one explicit form of a validated decision, every
//!   default materialised; everything downstream reads only that form.
//! * [`tighten`]: the tighten-only rule of a policy chain, comparing two
//!   normal forms field by field.
//! * [`linux`]: the kernel's capability and resource-limit tables.
//!
//! Pure code: no Wasm, no kernel, no I/O. It builds for `wasm32` too, so a
//! policy's own unit tests run exactly the rules the enforcer runs (see
//! `policy_sdk::testing::assert_valid` and `assert_tightens`).

pub mod applicable;
pub mod decision;
pub mod devices;
pub mod host;
pub mod linux;
pub mod normal;
pub mod tighten;
pub mod units;
mod validate;

pub use applicable::{Inapplicable, check_applicable};
pub use decision::default_seccomp;
pub use decision::{
    BlockIo, CONTAINER_CAPABILITIES, Capabilities, Cidr, CidrError, Cpu, Decision, DeviceRule,
    DeviceType, EgressRule, HugepageLimit, IdMapping, Interface, InterfacePriority, Memory, Mount,
    Namespace, NamespaceType, Network, Pids, Process, ProcessUser, Protocol, Resources, Rlimit,
    Root, SandboxNetwork, Seccomp, SeccompAction, SeccompOperator, SyscallArg, SyscallRule,
    ThrottleDevice, WeightDevice,
};
pub use host::{CgroupMode, Host};
pub use linux::{CAPABILITIES, RLIMITS, capability_number, rlimit_number};
pub use normal::{
    Context, Limit, NormalDecision, NormalFilesystem, NormalInterface, NormalNetwork,
    NormalSeccomp, NormalSyscallRule, normalize,
};
pub use tighten::{Loosened, check_tightens};
pub use units::{GIB, KIB, MIB};
pub use validate::{
    ID_RULE, InvalidDecision, MAX_EGRESS_RULES, MTU_RANGE, RESERVED_HOST_PREFIX, SANDBOX_PREFIX,
    Violation, is_interface_name, is_network_name, is_valid_id, parse_cpu_list, validate,
    validate_container,
};
