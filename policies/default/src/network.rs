//! The default policy's network: a new network namespace whose loopback
//! the enforcer brings up, and, for a request with the label
//! `network=NAME[,NAME...]`, one interface per named operator network
//! (`eth0`, `eth1`, ...), each with its network's default egress. Whether
//! a network of that name exists is the operator's config's to say: the
//! enforcer refuses a name it does not declare.

use policy_sdk::{Decision, Request};

/// The label naming the operator networks the sandbox joins.
pub const NETWORK_LABEL: &str = "network";

/// `decision` with an interface on each network the request's label names.
pub fn join_networks(decision: Decision, request: &Request) -> Decision {
    let Some(names) = request.label(NETWORK_LABEL) else {
        return decision;
    };
    names
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .fold(decision, |decision, name| decision.network_interface(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_sdk::testing::{assert_allowed, request};

    #[test]
    fn the_label_names_the_networks_in_order() {
        let asked = request().label(NETWORK_LABEL, "web, db").build();
        let decision = assert_allowed(crate::evaluate(&asked));
        let network = decision.network.expect("a network");
        let names: Vec<(Option<&str>, Option<&str>)> = network
            .interfaces
            .iter()
            .map(|interface| (interface.name.as_deref(), interface.network.as_deref()))
            .collect();
        assert_eq!(
            names,
            [(Some("eth0"), Some("web")), (Some("eth1"), Some("db"))]
        );
        assert!(network.interfaces.iter().all(|i| i.egress.is_none()));
    }

    #[test]
    fn without_the_label_only_the_loopback() {
        let decision = assert_allowed(crate::evaluate(&request().build()));
        assert!(
            decision
                .network
                .is_none_or(|network| network.interfaces.is_empty())
        );
    }
}
