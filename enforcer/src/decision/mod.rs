//! Decisions after they leave Wasm: validation and normalisation against
//! the host, and composition of a chain of policies. Nothing here calls Wasm
//! or the kernel.

mod ceilings;
mod compose;
mod validate;

pub use ceilings::{Ceilings, DEFAULT_CPU_PERIOD_US, apply_ceilings};
pub use compose::{ComposeError, check_tightens};
pub use validate::{CAPABILITIES, InvalidDecision, RLIMITS, SANDBOX_PREFIX, Violation, validate};
