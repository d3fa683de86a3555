//! The network plan: what a run makes for a decision's `network`, on the
//! operator's networks. Pure: `run` carries it out ([`super::setup`]),
//! `eval --plan` shows it.

use policy_model::decision::{Cidr, EgressRule};
use serde::Serialize;

use super::networks::{NetworkSpec, Networks};
use crate::decision::NormalDecision;
use policy_model::NamespaceType;

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
                    "nothing (every packet to the host or through it is dropped)".to_string()
                } else {
                    let rules: Vec<String> = allowed.iter().map(describe_rule).collect();
                    format!("only {}", rules.join(", "))
                };
                lines.push(format!("egress from {}: {list}", interface.host_name));
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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use policy_model::decision::{EgressRule, Interface};
    use policy_model::{Context, Decision, normalize};

    use super::*;
    use crate::network::networks::DefaultEgress;

    fn spec(name: &str, egress: DefaultEgress) -> NetworkSpec {
        NetworkSpec {
            name: name.to_string(),
            bridge: format!("br-{name}"),
            subnet: Cidr::parse("192.0.2.0/24").expect("subnet"),
            gateway: Ipv4Addr::new(192, 0, 2, 1),
            subnet6: None,
            gateway6: None,
            egress,
            masquerade: false,
            mtu: Some(1400),
        }
    }

    fn networks() -> Networks {
        [
            ("web".to_string(), spec("web", DefaultEgress::All)),
            ("closed".to_string(), spec("closed", DefaultEgress::None)),
        ]
        .into_iter()
        .collect()
    }

    fn planned(decision: Decision) -> Result<Option<NetworkPlan>, NetworkPlanError> {
        let mut context = Context::typical();
        context.network_egress = networks()
            .into_iter()
            .map(|(name, spec)| (name, spec.egress.allow_list()))
            .collect();
        plan("web-1", &normalize(&decision, &context), &networks())
    }

    #[test]
    fn no_new_network_namespace_no_plan() {
        assert_eq!(planned(Decision::allow()), Ok(None));
        let joined = Decision::allow().join_namespace(NamespaceType::Network, "/proc/1/ns/net");
        assert_eq!(planned(joined), Ok(None));
    }

    #[test]
    fn a_new_namespace_alone_gets_its_loopback_up() {
        let plan = planned(Decision::allow().namespace(NamespaceType::Network))
            .expect("plans")
            .expect("a plan");
        assert!(plan.loopback && plan.interfaces.is_empty() && plan.chain.is_none());
        assert_eq!(plan.describe(), ["bring lo up"]);
    }

    #[test]
    fn interfaces_get_derived_names_the_first_network_routes_and_egress_resolves() {
        let decision = Decision::allow()
            .network_interface("web")
            .network_interface("closed")
            .interface(Interface {
                name: Some("wire".into()),
                host_name: Some("mine".into()),
                ..Interface::default()
            });
        let plan = planned(decision).expect("plans").expect("a plan");
        let [web, closed, wire] = &plan.interfaces[..] else {
            panic!("three interfaces: {plan:?}");
        };
        assert_eq!(web.name, "eth0");
        assert_eq!(
            web.host_name,
            crate::network::host_interface_name("web-1", 0)
        );
        assert_eq!(web.mtu, Some(1400), "the network's MTU");
        assert!(web.default_route && !closed.default_route && !wire.default_route);
        assert_eq!(web.egress, None, "everything: no rules");
        assert_eq!(closed.egress, Some(Vec::new()), "the network's none");
        assert_eq!(
            (wire.host_name.as_str(), wire.network.as_ref()),
            ("mine", None)
        );
        assert_eq!(wire.egress, None);
        assert_eq!(plan.chain, Some(crate::network::chain_name("web-1")));
        let text = plan.describe().join("\n");
        assert!(text.contains("egress from enf"), "{text}");
        assert!(text.contains(": nothing (every packet"), "{text}");
        assert!(text.contains("an isolated pair"), "{text}");
    }

    #[test]
    fn a_narrowed_list_replaces_the_default() {
        let decision = Decision::allow()
            .network_interface("web")
            .egress("eth0", vec![EgressRule::tcp("203.0.113.2/32", 8080)]);
        let plan = planned(decision).expect("plans").expect("a plan");
        assert_eq!(
            plan.interfaces[0].egress,
            Some(vec![EgressRule::tcp("203.0.113.2/32", 8080)])
        );
        assert!(
            plan.describe()
                .iter()
                .any(|line| line.ends_with("only tcp 203.0.113.2/32 port 8080"))
        );
    }

    #[test]
    fn an_undeclared_network_is_refused_naming_the_declared() {
        let error = planned(Decision::allow().network_interface("nope")).expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("\"nope\""), "{text}");
        assert!(text.contains("declared: closed, web"), "{text}");
    }

    #[test]
    fn everything_means_both_families_unrestricted() {
        assert!(allows_everything(&[
            EgressRule::all_ipv4(),
            EgressRule::all_ipv6()
        ]));
        assert!(!allows_everything(&[EgressRule::all_ipv4()]));
        let mut tcp_only = EgressRule::all_ipv6();
        tcp_only.protocol = Some(policy_model::decision::Protocol::Tcp);
        assert!(!allows_everything(&[EgressRule::all_ipv4(), tcp_only]));
    }
}
