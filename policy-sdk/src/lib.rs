//! The crate both sides of the enforcer share.
//!
//! * [`Request`] is what a policy receives: who asks, for what command, with
//!   which labels, and facts about the host.
//! * [`Decision`] is what a policy returns. Its field names and JSON shapes
//!   follow the OCI runtime spec's `linux` section, so `resources` reads as an
//!   OCI `LinuxResources` object.
//! * [`export_policy!`] turns an ordinary function
//!   `fn(&Request) -> Result<Decision, EvaluationError>` into a Wasm module
//!   that speaks ABI version 1 ([`abi`], `docs/abi.md`); with
//!   `validate_settings = check` it also exports a check of the operator's
//!   [`settings`].
//! * [`testing`] helps policy authors write unit tests that run natively and
//!   inside Wasm.
//!
//! ```
//! use policy_sdk::{Decision, NamespaceType, MIB};
//! let decision = Decision::allow()
//!     .namespace(NamespaceType::Pid)
//!     .memory_limit(256 * MIB)
//!     .pids(64)
//!     .default_devices();
//! assert_eq!(decision.memory_limit_bytes(), Some(256 * MIB as i64));
//! ```

pub use policy_model::{decision, devices, units};
pub mod abi;
pub mod request;
pub mod settings;
pub mod testing;

mod error;
mod export;
mod logging;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod arena;

pub use decision::default_seccomp;
pub use decision::{
    BlockIo, CONTAINER_CAPABILITIES, Capabilities, Cidr, CidrError, Cpu, DEFAULT_INTERFACE,
    Decision, DeviceRule, DeviceType, EgressRule, HugepageLimit, IdMapping, Interface,
    InterfacePriority, MAX_INTERFACE_NAME, MAX_INTERFACES, Memory, Mount, Namespace, NamespaceType,
    Network, OCI_MASKED_PATHS, OCI_READONLY_PATHS, Pids, Process, ProcessUser, Protocol, Resources,
    Rlimit, Root, SandboxNetwork, Seccomp, SeccompAction, SeccompOperator, SyscallArg, SyscallRule,
    ThrottleDevice, WeightDevice,
};
pub use error::EvaluationError;
pub use logging::{LogLevel, log_message};
/// The limits and name rules the enforcer applies to `network`.
pub use policy_model::{MAX_EGRESS_RULES, MTU_RANGE, RESERVED_HOST_PREFIX, is_interface_name};
pub use request::{CgroupMode, Container, ContainerKind, Host, Request, User};
pub use units::{GIB, KIB, MIB};
