//! Whether a valid decision can be applied on a host: every cgroup field it
//! sets needs a controller the host offers to the enforcer (the
//! `host.controllers` list: mounted v1 controllers and the v2 controllers
//! enabled for the root's children). The enforcer's plan is the final word
//! on the real machine; this check answers the same question from host
//! facts alone, so a policy's unit tests and `enforcer test --plan` can ask
//! it for host shapes they do not run on.

use crate::decision::Decision;
use crate::host::Host;

/// A field of a decision that the host cannot apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inapplicable {
    /// The field's path (`resources.hugepageLimits[0]`).
    pub field: String,
    /// Why (`needs the hugetlb controller, which this host does not offer
    /// (host.controllers: cpu, memory, pids)`).
    pub message: String,
}

impl std::fmt::Display for Inapplicable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for Inapplicable {}

/// `Err` with the first field of `decision` (validated) that `host` cannot
/// apply. A host whose `cgroup_mode` is unknown is not checked (nothing is
/// known about it).
pub fn check_applicable(decision: &Decision, host: &Host) -> Result<(), Inapplicable> {
    // Groundwork stub: the SDK helper fills this in.
    let _ = (decision, host);
    Ok(())
}
