//! The crate both sides of the enforcer share.
//!
//! * [`Request`] is what a policy receives: who asks, for what command, with
//!   which labels, and facts about the host.
//! * [`Decision`] is what a policy returns. Its field names and JSON shapes
//!   follow the OCI runtime spec's `linux` section, so `resources` reads as an
//!   OCI `LinuxResources` object.
//! * [`export_policy!`] turns an ordinary function
//!   `fn(&Request) -> Result<Decision, PolicyError>` into a Wasm module that
//!   speaks ABI version 1 (see `docs/abi.md`); with
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
pub mod request;
pub mod settings;
pub mod testing;

mod export;
mod logging;
mod response;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod arena;
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod guest;

pub use decision::{
    BlockIo, CONTAINER_CAPABILITIES, Capabilities, Cpu, Decision, DeviceRule, DeviceType,
    HugepageLimit, IdMapping, InterfacePriority, Memory, Namespace, NamespaceType, Network, Pids,
    Process, ProcessUser, Resources, Rlimit, ThrottleDevice, WeightDevice,
};
pub use logging::{LogLevel, log_message};
pub use request::{CgroupMode, Host, Request, User};
pub use response::{Metadata, PolicyError, Response};
pub use units::{GIB, KIB, MIB};

/// The ABI version this SDK implements; a module exports it from
/// `policy_abi_version`.
pub const ABI_VERSION: i32 = 1;

/// Packs a guest pointer and length into the `i64` the ABI returns:
/// `(ptr << 32) | len`.
pub fn pack_ptr_len(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// Splits an ABI `i64` into `(ptr, len)`; the inverse of [`pack_ptr_len`].
pub fn unpack_ptr_len(packed: i64) -> (u32, u32) {
    let bits = packed as u64;
    ((bits >> 32) as u32, bits as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for (ptr, len) in [(0, 0), (1, 2), (u32::MAX, u32::MAX), (0x1000, 77)] {
            assert_eq!(unpack_ptr_len(pack_ptr_len(ptr, len)), (ptr, len));
        }
        assert_eq!(pack_ptr_len(1, 2), (1 << 32) | 2);
    }
}
