//! Decisions after they leave Wasm: validation against the host, the one
//! normal form, and tighten-only composition of a chain of policies. The
//! rules live in the `policy-model` crate, which policy authors' tests run
//! too; this module adds what only the enforcer knows (its own rlimits,
//! the operator's `TERM`). Nothing here calls Wasm or the kernel's
//! mutating interfaces.

mod ceilings;

pub use ceilings::{Ceilings, DEFAULT_CPU_PERIOD_US, apply_ceilings};
pub use policy_model::normal::{self, Context, Limit, NormalDecision, NormalResources, normalize};
pub use policy_model::tighten::{Loosened, check_tightens};
pub use policy_model::{
    CAPABILITIES, InvalidDecision, RLIMITS, SANDBOX_PREFIX, Violation, parse_cpu_list, validate,
};

/// The enforcer's own rlimits, by name: what a workload inherits for every
/// limit its decision does not set.
pub fn own_rlimits() -> std::collections::BTreeMap<String, normal::RlimitValue> {
    RLIMITS
        .iter()
        .filter_map(|(name, _)| {
            let resource = crate::sandbox::privileges::rlimit_resource(name)?;
            let mut value = nix::libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct we own.
            let read = unsafe { nix::libc::getrlimit(resource as _, &mut value) };
            (read == 0).then(|| {
                (
                    (*name).to_string(),
                    normal::RlimitValue {
                        soft: value.rlim_cur,
                        hard: value.rlim_max,
                    },
                )
            })
        })
        .collect()
}
