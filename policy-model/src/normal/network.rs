//! The normal form of `network`: defaults filled in, egress lists in a
//! canonical order.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::decision::{DEFAULT_INTERFACE, EgressRule, Interface, SandboxNetwork};

/// The sandbox's network, every default explicit. Applied only to a new
/// network namespace (a joined one is never changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalNetwork {
    /// Whether `lo` is brought up (default `true`).
    pub loopback: bool,
    /// The interfaces, in the decision's order.
    pub interfaces: Vec<NormalInterface>,
}

impl Default for NormalNetwork {
    fn default() -> NormalNetwork {
        NormalNetwork {
            loopback: true,
            interfaces: Vec::new(),
        }
    }
}

/// One interface, its in-sandbox name explicit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NormalInterface {
    /// Its name in the sandbox.
    pub name: String,
    /// The host end's name; `None`: derived from the sandbox id.
    pub host_name: Option<String>,
    /// Its MTU; `None`: the network's, else the kernel's.
    pub mtu: Option<u32>,
    /// The operator's network; `None`: an isolated pair.
    pub network: Option<String>,
    /// The allowed destinations, sorted and without duplicates; `None`:
    /// the network's default.
    pub egress: Option<Vec<EgressRule>>,
}

impl NormalNetwork {
    /// The normal form of `network` (absent: loopback up, no interfaces);
    /// an interface on a network of `defaults` that gives no egress gets
    /// the network's default list.
    pub fn from_decision(
        network: Option<&SandboxNetwork>,
        defaults: &BTreeMap<String, Vec<EgressRule>>,
    ) -> NormalNetwork {
        let Some(network) = network else {
            return NormalNetwork::default();
        };
        let SandboxNetwork {
            loopback,
            interfaces,
        } = network;
        NormalNetwork {
            loopback: loopback.unwrap_or(true),
            interfaces: interfaces
                .iter()
                .map(|interface| NormalInterface::from_decision(interface, defaults))
                .collect(),
        }
    }

    /// The decision's rendering: `None` when every default holds.
    pub fn to_decision(&self) -> Option<SandboxNetwork> {
        if *self == NormalNetwork::default() {
            return None;
        }
        let NormalNetwork {
            loopback,
            interfaces,
        } = self;
        Some(SandboxNetwork {
            loopback: Some(*loopback),
            interfaces: interfaces
                .iter()
                .map(NormalInterface::to_decision)
                .collect(),
        })
    }
}

impl NormalInterface {
    fn from_decision(
        interface: &Interface,
        defaults: &BTreeMap<String, Vec<EgressRule>>,
    ) -> NormalInterface {
        let Interface {
            name,
            host_name,
            mtu,
            network,
            egress,
        } = interface;
        NormalInterface {
            name: name
                .clone()
                .unwrap_or_else(|| DEFAULT_INTERFACE.to_string()),
            host_name: host_name.clone(),
            mtu: *mtu,
            network: network.clone(),
            egress: egress
                .as_deref()
                .or_else(|| {
                    network
                        .as_ref()
                        .and_then(|name| defaults.get(name))
                        .map(Vec::as_slice)
                })
                .map(canonical),
        }
    }

    fn to_decision(&self) -> Interface {
        let NormalInterface {
            name,
            host_name,
            mtu,
            network,
            egress,
        } = self;
        Interface {
            name: Some(name.clone()),
            host_name: host_name.clone(),
            mtu: *mtu,
            network: network.clone(),
            egress: egress.clone(),
        }
    }
}

/// `rules` sorted, duplicates dropped, a bare address written as its
/// one-address block and an `endPort` equal to `port` dropped.
fn canonical(rules: &[EgressRule]) -> Vec<EgressRule> {
    let mut rules: Vec<EgressRule> = rules
        .iter()
        .map(|rule| {
            let mut rule = rule.clone();
            if let Ok(block) = crate::decision::Cidr::parse_lenient(&rule.destination) {
                rule.destination = block.to_string();
            }
            if rule.end_port.is_some() && rule.end_port == rule.port {
                rule.end_port = None;
            }
            rule
        })
        .collect();
    rules.sort();
    rules.dedup();
    rules
}
