//! Networks that can talk: a new network namespace's loopback brought up,
//! and each interface of the decision made as a veth pair whose host end
//! is attached to an operator's network (a bridge with a subnet), with an
//! address leased from the subnet and egress rules on the host side.
//!
//! - [`netlink`]: the rtnetlink client every step goes through (no `ip`).
//! - [`egress`]: the nftables table `enforcer`, one chain per sandbox.
//! - [`lease`]: the address leases under the state directory.
//! - [`networks`]: the operator's networks (`[networks.<name>]`).
//! - [`plan`]: what a run makes for a decision (pure; `eval --plan`).
//! - [`setup`]: making it (the bridge, the veth pairs, addresses, routes,
//!   egress), and removing it again.
//! - [`record`]: what a sandbox's state records of it, for clean-up.

pub mod egress;
pub mod lease;
pub mod listing;
pub mod netlink;
pub mod networks;
pub mod plan;
pub mod record;
pub mod setup;
#[cfg(test)]
mod test_support;

use sha2::{Digest, Sha256};

/// The prefix of every host-side interface name the enforcer derives.
pub const HOST_INTERFACE_PREFIX: &str = "enf";

/// The host end's name of interface `index` of sandbox `id` when the
/// decision gives none: `enf` + 10 hex digits of the id's SHA-256 +
/// `i<index>`, within the kernel's 15 bytes (`enf0123456789i0`).
pub fn host_interface_name(id: &str, index: usize) -> String {
    format!("{HOST_INTERFACE_PREFIX}{}i{index}", &id_digest(id)[..10])
}

/// The name of sandbox `id`'s egress chain: `sandbox-` + 16 hex digits of
/// the id's SHA-256 (an id may hold characters a chain name may not).
pub fn chain_name(id: &str) -> String {
    format!("sandbox-{}", &id_digest(id)[..16])
}

fn id_digest(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_fit_the_kernel() {
        let name = host_interface_name("web-1", 3);
        assert!(
            name.len() <= policy_model::decision::MAX_INTERFACE_NAME,
            "{name}"
        );
        assert!(name.starts_with(HOST_INTERFACE_PREFIX), "{name}");
        assert_ne!(name, host_interface_name("web-2", 3));
        assert_ne!(name, host_interface_name("web-1", 4));
        assert_eq!(chain_name("web-1").len(), "sandbox-".len() + 16);
    }
}
