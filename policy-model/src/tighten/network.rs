//! Tighten-only rules for `network`.
//!
//! * `loopback`: up may go down; down never goes up.
//! * `interfaces`: matched by in-sandbox name. A later policy may drop an
//!   interface, never add one; a kept interface keeps its `network`,
//!   `hostName` and `mtu` exactly.
//! * `egress`, per kept interface:
//!   * absent before (the network's default) and absent after: kept;
//!   * absent before, a list after: refused here. The model does not know
//!     the network's default; the enforcer replaces every absent list by
//!     its network's default before each check, so there this case never
//!     arises and the list is compared with the default like any other;
//!   * a list before, absent after: refused (the default may be wider);
//!   * a list before and after: accepted when each later rule is covered
//!     by *one* earlier rule: its destination block inside the earlier
//!     block ([`Cidr::covers`]), the same protocol (or the earlier rule
//!     names none), its ports within the earlier range (or the earlier
//!     rule names no port).
//!
//! The egress rule is sound, not complete: a later rule covered only by
//! the union of earlier rules (`192.0.2.0/24` after `192.0.2.0/25` and
//! `192.0.2.128/25`, or ports 80-90 after 80-85 and 86-90) is refused,
//! though it allows nothing new. Write the later list in the earlier
//! list's pieces instead. Soundness: every (address, protocol, port) a
//! later rule allows lies in the one earlier rule that covers it.
//! `tests/tighten_property/network.rs` checks that on random lists and
//! probes.

use std::collections::BTreeMap;

use super::{Checked, loosened};
use crate::decision::{Cidr, EgressRule};
use crate::normal::{NormalInterface, NormalNetwork};

/// `network.loopback` and `network.interfaces`.
pub(super) fn network_tightened(earlier: &NormalNetwork, later: &NormalNetwork) -> Checked {
    let NormalNetwork {
        loopback,
        interfaces,
    } = earlier;
    if later.loopback && !loopback {
        return loosened(
            "network.loopback",
            "brings up the loopback the earlier policies left down",
        );
    }
    let before: BTreeMap<&str, &NormalInterface> = interfaces
        .iter()
        .map(|interface| (interface.name.as_str(), interface))
        .collect();
    for (index, after) in later.interfaces.iter().enumerate() {
        let field = format!("network.interfaces[{index}]");
        match before.get(after.name.as_str()) {
            None => {
                return loosened(
                    field,
                    format!(
                        "adds the interface {:?}; a later policy may drop interfaces, never add one",
                        after.name
                    ),
                );
            }
            Some(earlier) => interface_tightened(&field, earlier, after)?,
        }
    }
    Ok(())
}

fn interface_tightened(field: &str, earlier: &NormalInterface, later: &NormalInterface) -> Checked {
    let NormalInterface {
        name,
        host_name,
        mtu,
        network,
        egress,
    } = earlier;
    if later.network != *network {
        return loosened(
            format!("{field}.network"),
            format!(
                "moves {name:?} from {} to {}; a kept interface keeps its network",
                describe_network(network.as_deref()),
                describe_network(later.network.as_deref())
            ),
        );
    }
    kept(
        &format!("{field}.hostName"),
        name,
        "host-side name",
        host_name,
        &later.host_name,
    )?;
    kept(&format!("{field}.mtu"), name, "MTU", mtu, &later.mtu)?;
    egress_tightened(&format!("{field}.egress"), egress, &later.egress)
}

fn describe_network(network: Option<&str>) -> String {
    match network {
        Some(network) => format!("network {network:?}"),
        None => "an isolated pair".into(),
    }
}

fn kept<T: PartialEq + std::fmt::Debug>(
    field: &str,
    name: &str,
    what: &str,
    earlier: &Option<T>,
    later: &Option<T>,
) -> Checked {
    if earlier == later {
        return Ok(());
    }
    let show = |value: &Option<T>| match value {
        Some(value) => format!("{value:?}"),
        None => "the default".into(),
    };
    loosened(
        field,
        format!(
            "changes the {what} of {name:?} from {} to {}; a kept interface keeps it",
            show(earlier),
            show(later)
        ),
    )
}

fn egress_tightened(
    field: &str,
    earlier: &Option<Vec<EgressRule>>,
    later: &Option<Vec<EgressRule>>,
) -> Checked {
    match (earlier, later) {
        (None, None) => Ok(()),
        (None, Some(_)) => loosened(
            field,
            "sets a list where the earlier policies left the network's default, which the model does not know; the enforcer resolves each network's default before comparing",
        ),
        (Some(_), None) => loosened(
            field,
            "drops the earlier list for the network's default, which may allow more",
        ),
        (Some(before), Some(after)) => {
            for (index, rule) in after.iter().enumerate() {
                if !before.iter().any(|earlier| rule_covers(earlier, rule)) {
                    return loosened(
                        format!("{field}[{index}]"),
                        format!(
                            "allows {} that no single earlier rule allows (a rule covered only by several earlier ones is refused: split it like them)",
                            describe_rule(rule)
                        ),
                    );
                }
            }
            Ok(())
        }
    }
}

/// Whether everything `later` allows, `earlier` allows.
pub(crate) fn rule_covers(earlier: &EgressRule, later: &EgressRule) -> bool {
    let EgressRule {
        destination,
        protocol,
        port: _,
        end_port: _,
    } = earlier;
    let blocks = (
        Cidr::parse_lenient(destination),
        Cidr::parse_lenient(&later.destination),
    );
    let (Ok(outer), Ok(inner)) = blocks else {
        return false;
    };
    let protocol_ok = protocol.is_none() || *protocol == later.protocol;
    let ports_ok = match (earlier.port_range(), later.port_range()) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((first, last)), Some((from, to))) => first <= from && to <= last,
    };
    outer.covers(&inner) && protocol_ok && ports_ok
}

fn describe_rule(rule: &EgressRule) -> String {
    let mut text = match rule.protocol {
        Some(protocol) => format!("{protocol} to {}", rule.destination),
        None => format!("every protocol to {}", rule.destination),
    };
    match rule.port_range() {
        Some((first, last)) if first == last => text.push_str(&format!(" port {first}")),
        Some((first, last)) => text.push_str(&format!(" ports {first}-{last}")),
        None if matches!(rule.protocol, Some(p) if p != crate::decision::Protocol::Icmp) => {
            text.push_str(" on every port");
        }
        None => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use crate::decision::{Decision, EgressRule, NamespaceType, Protocol};
    use crate::normal::{Context, normalize};
    use crate::tighten::check_tightens;

    fn base() -> Decision {
        Decision::allow()
            .network_interface("tenants")
            .network_interface("storage")
            .egress(
                "eth0",
                vec![
                    EgressRule::to("192.0.2.0/24"),
                    EgressRule {
                        end_port: Some(8080),
                        ..EgressRule::tcp("198.51.100.0/24", 8000)
                    },
                    EgressRule {
                        protocol: Some(Protocol::Udp),
                        ..EgressRule::to("2001:db8::/32")
                    },
                ],
            )
    }

    fn check(earlier: &Decision, later: &Decision) -> Result<(), String> {
        let context = Context::typical();
        check_tightens(&normalize(earlier, &context), &normalize(later, &context))
            .map_err(|error| error.to_string())
    }

    fn refused(later: Decision) -> String {
        check(&base(), &later).expect_err("must loosen")
    }

    fn eth0_egress(rules: Vec<EgressRule>) -> Decision {
        base().egress("eth0", rules)
    }

    #[test]
    fn loopback_goes_down_never_up() {
        check(&base(), &base().loopback(false)).expect("down");
        assert_eq!(
            check(&base().loopback(false), &base()).expect_err("up again"),
            "loosens network.loopback: brings up the loopback the earlier policies left down"
        );
        check(&base().loopback(false), &base().loopback(false)).expect("equal");
    }

    #[test]
    fn interfaces_may_be_dropped_never_added() {
        check(&base(), &base().without_interface("eth1")).expect("drop eth1");
        check(&base(), &base().without_interface("eth0")).expect("drop eth0");
        check(
            &base(),
            &base().without_interface("eth0").without_interface("eth1"),
        )
        .expect("drop both");
        assert_eq!(
            refused(base().network_interface("tenants")),
            "loosens network.interfaces[2]: adds the interface \"eth2\"; a later policy may drop interfaces, never add one"
        );
        let none = Decision::allow().namespace(NamespaceType::Network);
        assert!(
            check(&none, &none.clone().network_interface("tenants"))
                .expect_err("adds")
                .starts_with("loosens network.interfaces[0]: adds the interface \"eth0\"")
        );
    }

    #[test]
    fn a_kept_interface_keeps_its_network_host_name_and_mtu() {
        let mut moved = base();
        moved.network.as_mut().expect("network").interfaces[1].network = Some("tenants".into());
        assert_eq!(
            refused(moved),
            "loosens network.interfaces[1].network: moves \"eth1\" from network \"storage\" to network \"tenants\"; a kept interface keeps its network"
        );
        let mut isolated = base();
        isolated.network.as_mut().expect("network").interfaces[1].network = None;
        assert!(refused(isolated).contains("to an isolated pair"));
        let mut named = base();
        named.network.as_mut().expect("network").interfaces[0].host_name = Some("veth-a".into());
        assert_eq!(
            refused(named),
            "loosens network.interfaces[0].hostName: changes the host-side name of \"eth0\" from the default to \"veth-a\"; a kept interface keeps it"
        );
        let mut mtu = base();
        mtu.network.as_mut().expect("network").interfaces[1].mtu = Some(1400);
        assert_eq!(
            refused(mtu),
            "loosens network.interfaces[1].mtu: changes the MTU of \"eth1\" from the default to 1400; a kept interface keeps it"
        );
    }

    #[test]
    fn egress_narrows_rule_by_rule() {
        let narrower = eth0_egress(vec![
            EgressRule::tcp("192.0.2.128/25", 443),
            EgressRule {
                protocol: Some(Protocol::Icmp),
                ..EgressRule::to("192.0.2.7")
            },
            EgressRule {
                end_port: Some(8010),
                ..EgressRule::tcp("198.51.100.64/26", 8005)
            },
            EgressRule::udp("2001:db8:1::/48", 53),
        ]);
        check(&base(), &narrower).expect("each rule inside one earlier rule");
        check(&base(), &eth0_egress(Vec::new())).expect("nothing at all");
        check(&base(), &base()).expect("equal");
        // The storage interface's absent list stays absent.
        check(&base(), &base().egress("eth0", vec![])).expect("eth1 None -> None");
    }

    #[test]
    fn egress_loosenings_are_refused() {
        for (rule, message) in [
            (
                EgressRule::to("192.0.0.0/16"),
                "loosens network.interfaces[0].egress[0]: allows every protocol to 192.0.0.0/16 that no single earlier rule allows",
            ),
            (
                EgressRule::to("198.51.100.0/24"),
                "allows every protocol to 198.51.100.0/24 that no single earlier rule allows",
            ),
            (
                EgressRule {
                    end_port: Some(8081),
                    ..EgressRule::tcp("198.51.100.0/24", 8000)
                },
                "allows tcp to 198.51.100.0/24 ports 8000-8081",
            ),
            (
                EgressRule {
                    protocol: Some(Protocol::Tcp),
                    ..EgressRule::to("198.51.100.0/24")
                },
                "allows tcp to 198.51.100.0/24 on every port",
            ),
            (
                EgressRule::udp("198.51.100.1", 8000),
                "allows udp to 198.51.100.1/32 port 8000",
            ),
            (
                EgressRule::tcp("2001:db8::/32", 80),
                "allows tcp to 2001:db8::/32 port 80",
            ),
            (
                EgressRule::to("::ffff:192.0.2.1"),
                "allows every protocol to ::ffff:192.0.2.1/128",
            ),
        ] {
            let error = refused(eth0_egress(vec![rule]));
            assert!(error.contains(message), "{error}");
        }
    }

    #[test]
    fn egress_absent_and_present_lists() {
        let error = refused(base().egress("eth1", vec![EgressRule::to("192.0.2.1")]));
        assert_eq!(
            error,
            "loosens network.interfaces[1].egress: sets a list where the earlier policies left the network's default, which the model does not know; the enforcer resolves each network's default before comparing"
        );
        let mut dropped = base();
        dropped.network.as_mut().expect("network").interfaces[0].egress = None;
        assert_eq!(
            refused(dropped),
            "loosens network.interfaces[0].egress: drops the earlier list for the network's default, which may allow more"
        );
    }

    #[test]
    fn a_union_of_earlier_rules_does_not_cover() {
        let halves = base().egress(
            "eth0",
            vec![
                EgressRule::to("203.0.113.0/25"),
                EgressRule::to("203.0.113.128/25"),
            ],
        );
        let error = check(
            &halves,
            &halves
                .clone()
                .egress("eth0", vec![EgressRule::to("203.0.113.0/24")]),
        )
        .expect_err("sound, not complete");
        assert!(error.contains("several earlier ones"), "{error}");
        check(&halves, &halves.clone()).expect("the pieces themselves");
    }

    #[test]
    fn interfaces_match_by_name_not_position() {
        let mut swapped = base();
        swapped
            .network
            .as_mut()
            .expect("network")
            .interfaces
            .reverse();
        check(&base(), &swapped).expect("same interfaces, other order");
        let renamed = {
            let mut d = base();
            d.network.as_mut().expect("network").interfaces[1].name = Some("eth9".into());
            d
        };
        assert!(refused(renamed).contains("adds the interface \"eth9\""));
    }
}
