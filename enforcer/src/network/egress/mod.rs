//! The egress rules of each sandbox, in an nftables table the enforcer
//! owns on the host side, out of the workload's reach (its root may hold
//! `CAP_NET_ADMIN` over its own network namespace, never over the host's).
//!
//! Applied by running nftables' `nft` binary with typed JSON built with the
//! `nftables` crate (`nft -j -f -`). Every change is **one** nft batch, so
//! it is one kernel transaction: a failure leaves nothing half-made.
//!
//! # The ruleset
//!
//! - Table `inet enforcer`, base chains made when missing:
//!   `prerouting` (filter, priority raw, policy accept), `forward` and
//!   `input` (filter, priority filter, policy accept), `postrouting` (nat,
//!   priority srcnat, policy accept), and a named counter `generation`
//!   (see *Concurrency*).
//! - Table `bridge enforcer` with one base chain `prerouting` (filter,
//!   priority -300, policy accept).
//! - **Marking.** Packets a sandbox sends through a host end that is a
//!   bridge port reach the `inet` hooks with `iifname` set to the *bridge*,
//!   not the port: an `iifname "<host end>"` match would never fire for
//!   them. So each host end's packets are marked where the port is still
//!   known: `iifname "<host end>" meta mark set <ifindex>` in `bridge
//!   enforcer prerouting` (bridged ends) and in `inet enforcer prerouting`
//!   (unbridged ends). The mark is the host end's interface index, unique
//!   in the network namespace, so the interface must exist at
//!   [`install`]. Every rule below keys on that mark.
//! - **One regular chain per sandbox**, named by the caller
//!   ([`crate::network::chain_name`]). For each host end, `forward` and
//!   `input` hold `meta mark <ifindex> jump <chain>` (comment: the chain's
//!   name, so [`remove`] finds the handles; the mark rules carry the same
//!   comment). The chain holds `ct state established,related accept`, then
//!   per host end ICMPv6 neighbour and router solicitations and neighbour
//!   advertisements (IPv6 to the gateway needs them; ARP is not seen by
//!   `inet` hooks), then per host end and allowed rule `meta mark <ifindex>
//!   <destination match> accept` (`ip`/`ip6 daddr`; `tcp`/`udp dport` a port
//!   or a range; ICMP or ICMPv6 by the destination's family), and last a
//!   `counter drop` (comment `dropped`, read by [`dropped`]). An empty
//!   allow list drops everything the sandbox sends beyond its bridge; the
//!   `input` hook covers the host's own addresses too, so `egress = none`
//!   also shields the host's services. Traffic between ports of one bridge
//!   is bridged, not routed, and not filtered here.
//! - **Masquerade** per network, in `postrouting`: `ip saddr <subnet>
//!   oifname != "<bridge>" masquerade` (`ip6 saddr` for an IPv6 subnet),
//!   comment: the network's name.
//!
//! # Concurrency
//!
//! [`remove`] deletes both tables when nothing of ours is left in them; it
//! decides that from a listing, and another enforcer may add a sandbox
//! between the listing and the batch. Every batch that adds something
//! replaces the counter `generation` (new handle), and a batch that deletes
//! the tables first deletes `generation` *by the handle it listed*: if
//! anything was added meanwhile, that handle is gone, the whole batch fails
//! and nothing is applied; the operation lists again and retries.
//! Deletions by handle (old jumps) retry the same way.
//!
//! # Caveat
//!
//! The mark stays on the packet after it passes. Another ruleset that
//! rewrites the mark of sandbox packets between the two hooks (a
//! `prerouting` rule at a later priority) makes those packets skip the
//! sandbox's chain: do not run such rules on the enforcer's bridges.

mod listing;
mod nft;
mod rules;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use policy_model::decision::{Cidr, EgressRule};

pub use nft::Nft;

/// The name of the enforcer's tables (`inet enforcer`, `bridge enforcer`).
pub const TABLE: &str = "enforcer";

/// One host-side interface and what may leave through it (already
/// resolved: the network's default applied; empty = nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceEgress {
    /// The host end's name (a bridge port or not).
    pub host_interface: String,
    /// The destinations allowed; empty: none.
    pub allow: Vec<EgressRule>,
}

/// Why the egress rules could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// `nft` is neither on `PATH` nor at its usual places.
    #[error(
        "nftables' `nft` is not installed (Debian: apt-get install nftables); networks with egress rules need it"
    )]
    NotInstalled,
    /// `nft` could not be started or talked to.
    #[error("cannot run {program} while {what}: {err}")]
    Spawn {
        /// The program run.
        program: PathBuf,
        /// What it was asked to do.
        what: String,
        /// The cause.
        err: std::io::Error,
    },
    /// `nft` refused (its stderr says why); nothing of the batch applied.
    #[error("nft failed while {what} ({status}): {stderr}")]
    Nft {
        /// What it was asked to do.
        what: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its error output, trimmed.
        stderr: String,
    },
    /// `nft`'s output is not the JSON expected.
    #[error("unexpected output of nft while {what}: {message}")]
    Output {
        /// What it was asked to do.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// An egress rule cannot be turned into nftables rules.
    #[error("egress rule {index} of {interface} ({rule}): {message}")]
    Invalid {
        /// The host end it belongs to.
        interface: String,
        /// Its index in the interface's allow list.
        index: usize,
        /// The rule, as JSON.
        rule: String,
        /// What is wrong with it.
        message: String,
    },
    /// A name (chain, interface, network, bridge) nft or the kernel would
    /// not take, or one that could clash with the enforcer's own chains.
    #[error("{what} {name:?}: {message}")]
    Name {
        /// What the name is of.
        what: &'static str,
        /// The name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The host end does not exist (its index is the packets' mark).
    #[error("host interface {name:?} not found: {err}")]
    Interface {
        /// The interface's name.
        name: String,
        /// The kernel's answer.
        err: std::io::Error,
    },
}

/// Installs (or replaces: flush + refill) the sandbox's chain and its
/// jumps, in one transaction; makes the tables and base chains when
/// missing. Every host interface must exist.
pub fn install(chain: &str, interfaces: &[InterfaceEgress]) -> Result<(), EgressError> {
    Nft::find()?.install(chain, interfaces)
}

/// Removes the chain and every jump and mark rule for it, in one
/// transaction; `Ok(false)` when absent. Deletes the tables when nothing
/// of ours is left in them (no sandbox chain, no masquerade rule).
pub fn remove(chain: &str) -> Result<bool, EgressError> {
    Nft::find()?.remove(chain)
}

/// The sandbox chains present (for `enforcer gc`).
pub fn sandbox_chains() -> Result<Vec<String>, EgressError> {
    Nft::find()?.sandbox_chains()
}

/// Idempotent: the network's masquerade rule (replaced when present).
pub fn set_masquerade(network: &str, subnet: Cidr, bridge: &str) -> Result<(), EgressError> {
    Nft::find()?.set_masquerade(network, subnet, bridge)
}

/// Removes the network's masquerade rule; `Ok(false)` when absent. Deletes
/// the tables when nothing of ours is left in them.
pub fn remove_masquerade(network: &str) -> Result<bool, EgressError> {
    Nft::find()?.remove_masquerade(network)
}

/// Packets and bytes the chain's final drop counted; `None` when the chain
/// is absent.
pub fn dropped(chain: &str) -> Result<Option<(u64, u64)>, EgressError> {
    Nft::find()?.dropped(chain)
}

/// The enforcer's tables as nft prints them (`nft list table ...`), for
/// displays; `None` when neither exists.
pub fn ruleset_text() -> Result<Option<String>, EgressError> {
    Nft::find()?.ruleset_text()
}
