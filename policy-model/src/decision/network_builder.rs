//! Builders for `network`: interfaces on the operator's networks, their
//! egress lists, the loopback.

use super::{DEFAULT_INTERFACE, Decision, EgressRule, Interface, NamespaceType, SandboxNetwork};

impl Decision {
    fn network_mut(&mut self) -> &mut SandboxNetwork {
        self.network.get_or_insert_with(SandboxNetwork::default)
    }

    /// Adds an interface on the operator's network `network`, named `eth0`,
    /// `eth1`, ... by the number of interfaces before it, with the
    /// network's default egress, and creates a new network namespace if
    /// the decision has none (a joined one is left: validation refuses it).
    ///
    /// ```
    /// use policy_model::Decision;
    /// let decision = Decision::allow()
    ///     .network_interface("tenants")
    ///     .network_interface("storage");
    /// let network = decision.network.as_ref().unwrap();
    /// assert_eq!(network.interfaces[1].name.as_deref(), Some("eth1"));
    /// assert_eq!(network.interfaces[1].network.as_deref(), Some("storage"));
    /// ```
    pub fn network_interface(mut self, network: &str) -> Decision {
        let name = format!("eth{}", self.network_mut().interfaces.len());
        self.interface(Interface {
            name: Some(name),
            network: Some(network.to_string()),
            ..Interface::default()
        })
    }

    /// Adds `interface` as given (an absent name is `eth0`), and a new
    /// network namespace if the decision has none.
    ///
    /// ```
    /// use policy_model::{Decision, Interface};
    /// let decision = Decision::allow().interface(Interface {
    ///     name: Some("wire".into()),
    ///     mtu: Some(1400),
    ///     ..Interface::default()
    /// });
    /// assert_eq!(decision.network.unwrap().interfaces[0].mtu, Some(1400));
    /// ```
    pub fn interface(mut self, interface: Interface) -> Decision {
        self.network_mut().interfaces.push(interface);
        self.namespace(NamespaceType::Network)
    }

    /// Sets the egress list of the interface named `interface` (an empty
    /// list allows nothing): it replaces the network's default. With no
    /// such interface, it adds one with that name and no network, which
    /// validation refuses (`egress needs a network`): a misspelt name
    /// fails loudly rather than leaving the default in place.
    ///
    /// ```
    /// use policy_model::{Decision, EgressRule};
    /// let decision = Decision::allow()
    ///     .network_interface("tenants")
    ///     .egress("eth0", vec![EgressRule::tcp("192.0.2.10", 443)]);
    /// let rules = decision.network.unwrap().interfaces[0].egress.clone().unwrap();
    /// assert_eq!(rules[0].port, Some(443));
    /// ```
    pub fn egress(mut self, interface: &str, rules: Vec<EgressRule>) -> Decision {
        let interfaces = &mut self.network_mut().interfaces;
        let found = interfaces
            .iter_mut()
            .find(|i| i.name.as_deref().unwrap_or(DEFAULT_INTERFACE) == interface);
        match found {
            Some(found) => found.egress = Some(rules),
            None => interfaces.push(Interface {
                name: Some(interface.to_string()),
                egress: Some(rules),
                ..Interface::default()
            }),
        }
        self
    }

    /// Sets the egress list of every interface on a network (isolated
    /// pairs have no route out and take none).
    ///
    /// ```
    /// use policy_model::{Decision, EgressRule};
    /// let decision = Decision::allow()
    ///     .network_interface("tenants")
    ///     .network_interface("storage")
    ///     .egress_all_interfaces(vec![]);
    /// let network = decision.network.unwrap();
    /// assert!(network.interfaces.iter().all(|i| i.egress == Some(vec![])));
    /// ```
    pub fn egress_all_interfaces(mut self, rules: Vec<EgressRule>) -> Decision {
        for interface in &mut self.network_mut().interfaces {
            if interface.network.is_some() {
                interface.egress = Some(rules.clone());
            }
        }
        self
    }

    /// Drops the interface named `interface` (a later policy may drop
    /// interfaces, never add one).
    ///
    /// ```
    /// use policy_model::Decision;
    /// let platform = Decision::allow().network_interface("tenants");
    /// let tenant = platform.without_interface("eth0");
    /// assert!(tenant.network.unwrap().interfaces.is_empty());
    /// ```
    pub fn without_interface(mut self, interface: &str) -> Decision {
        if let Some(network) = &mut self.network {
            network
                .interfaces
                .retain(|i| i.name.as_deref().unwrap_or(DEFAULT_INTERFACE) != interface);
        }
        self
    }

    /// Brings the loopback up (the default) or leaves it down; down needs
    /// a new network namespace, which it adds if the decision has none.
    ///
    /// ```
    /// use policy_model::Decision;
    /// let decision = Decision::allow().loopback(false);
    /// assert_eq!(decision.network.unwrap().loopback, Some(false));
    /// ```
    pub fn loopback(mut self, up: bool) -> Decision {
        self.network_mut().loopback = Some(up);
        if up {
            self
        } else {
            self.namespace(NamespaceType::Network)
        }
    }
}
