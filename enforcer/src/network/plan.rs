//! The network plan: what a run makes for a decision's `network`, on the
//! operator's networks. Pure: `run` carries it out ([`super::setup`]),
//! `eval --plan` shows it.

use policy_model::decision::{Cidr, EgressRule};
use serde::Serialize;

use super::networks::{NetworkSpec, Networks};
use crate::decision::NormalDecision;
use crate::decision::NamespaceType;

/// What a run does to a new network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPlan {
    /// Bring `lo` up.
    pub loopback: bool,
    /// The interfaces, in the decision's order.
    pub interfaces: Vec<PlannedInterface>,
    /// The egress chain, when some interface's egress is narrower than
    /// everything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
}

/// One interface to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedInterface {
    /// Its name in the sandbox.
    pub name: String,
    /// The host end's name.
    pub host_name: String,
    /// The sandbox end's name on the host, until it is moved and renamed.
    pub peer_name: String,
    /// Its MTU (the interface's, else the network's); `None`: the
    /// kernel's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The network it joins; `None`: an isolated pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// What may leave through it: `None` everything (no rules), else the
    /// allowed destinations (empty: nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EgressRule>>,
    /// Whether the sandbox's default routes go through it (the first
    /// interface on a network).
    pub default_route: bool,
}

/// Why a decision's network cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkPlanError {
    /// An interface names a network the operator does not declare.
    #[error(
        "network.interfaces[{index}] ({interface}) is on network {network:?}, which the operator's config does not declare (declared: {known}); add [networks.{network}] to the config or choose another network"
    )]
    UnknownNetwork {
        /// The interface's position.
        index: usize,
        /// Its name in the sandbox.
        interface: String,
        /// The network it names.
        network: String,
        /// The networks declared.
        known: String,
    },
}

/// The plan for `decision`'s network in sandbox `id`: `None` when it gets
/// no new network namespace (the host's, or a joined one, is never
/// changed).
pub fn plan(
    id: &str,
    decision: &NormalDecision,
    networks: &Networks,
) -> Result<Option<NetworkPlan>, NetworkPlanError> {
    if !decision.creates(NamespaceType::Network) {
        return Ok(None);
    }
    let network = &decision.network;
    let mut interfaces = Vec::with_capacity(network.interfaces.len());
    let mut routed = false;
    for (index, interface) in network.interfaces.iter().enumerate() {
        let spec = match &interface.network {
            None => None,
            Some(name) => Some(networks.get(name).cloned().ok_or_else(|| {
                NetworkPlanError::UnknownNetwork {
                    index,
                    interface: interface.name.clone(),
                    network: name.clone(),
                    known: if networks.is_empty() {
                        "none".to_string()
                    } else {
                        networks.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                }
            })?),
        };
        let egress = spec.as_ref().and_then(|spec| {
            let allowed = interface
                .egress
                .clone()
                .unwrap_or_else(|| spec.egress.allow_list());
            (!allows_everything(&allowed)).then_some(allowed)
        });
        let default_route = spec.is_some() && !routed;
        routed |= default_route;
        interfaces.push(PlannedInterface {
            name: interface.name.clone(),
            host_name: interface
                .host_name
                .clone()
                .unwrap_or_else(|| super::host_interface_name(id, index)),
            peer_name: super::peer_interface_name(id, index),
            mtu: interface
                .mtu
                .or_else(|| spec.as_ref().and_then(|spec| spec.mtu)),
            network: spec,
            egress,
            default_route,
        });
    }
    let chain = interfaces
        .iter()
        .any(|interface| interface.egress.is_some())
        .then(|| super::chain_name(id));
    Ok(Some(NetworkPlan {
        loopback: network.loopback,
        interfaces,
        chain,
    }))
}

/// Whether `rules` let everything out: an unrestricted rule for every
/// IPv4 and for every IPv6 destination.
pub fn allows_everything(rules: &[EgressRule]) -> bool {
    let unrestricted = |all: &str| {
        rules.iter().any(|rule| {
            rule.protocol.is_none()
                && rule.port.is_none()
                && Cidr::parse_lenient(&rule.destination)
                    .is_ok_and(|block| block.prefix == 0 && block.to_string() == all)
        })
    };
    unrestricted("0.0.0.0/0") && unrestricted("::/0")
}

impl NetworkPlan {
    /// The lines `eval --plan` shows for it.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.loopback {
            lines.push("bring lo up".to_string());
        }
        for interface in &self.interfaces {
            let mtu = interface
                .mtu
                .map(|mtu| format!(" mtu {mtu}"))
                .unwrap_or_default();
            lines.push(format!(
                "create veth {} (host) / {} (sandbox){mtu}",
                interface.host_name, interface.name
            ));
            match &interface.network {
                None => lines.push(format!(
                    "leave {} unaddressed: an isolated pair, wired by the caller",
                    interface.name
                )),
                Some(spec) => {
                    let v6 = spec
                        .subnet6
                        .map(|subnet| format!(" and an address of {subnet}"))
                        .unwrap_or_default();
                    lines.push(format!(
                        "attach {} to bridge {} (network {}); lease {} an address of {}{v6}",
                        interface.host_name, spec.bridge, spec.name, interface.name, spec.subnet
                    ));
                    if interface.default_route {
                        lines.push(format!("default route via {}", spec.gateway));
                    }
                }
            }
            if let Some(allowed) = &interface.egress {
                let list = if allowed.is_empty() {
                    "nothing".to_string()
                } else {
                    allowed.iter().map(describe_rule).collect::<Vec<_>>().join(", ")
                };
                lines.push(format!("egress from {}: only {list}", interface.host_name));
            }
        }
        if let Some(chain) = &self.chain {
            lines.push(format!("nftables chain inet enforcer {chain}"));
        }
        lines
    }
}

/// One rule as text: `tcp 203.0.113.2/32 port 8080`.
pub fn describe_rule(rule: &EgressRule) -> String {
    let protocol = rule
        .protocol
        .map(|protocol| format!("{protocol} "))
        .unwrap_or_default();
    let ports = match rule.port_range() {
        None => String::new(),
        Some((first, last)) if first == last => format!(" port {first}"),
        Some((first, last)) => format!(" ports {first}-{last}"),
    };
    format!("{protocol}{}{ports}", rule.destination)
}
