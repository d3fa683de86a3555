//! Validation of `network`: the loopback, the interfaces and their egress
//! rules. Whether a named network is declared by the operator is the
//! enforcer's check (the model does not know the operator's config).

use std::collections::BTreeSet;

use super::Checker;
use crate::decision::{
    Cidr, DEFAULT_INTERFACE, EgressRule, Interface, MAX_INTERFACE_NAME, MAX_INTERFACES, Protocol,
    SandboxNetwork,
};
use crate::{Decision, NamespaceType};

/// The prefix of the host-side names the enforcer derives (`enf<hex>i<n>`):
/// a policy must not pick one, it may be another sandbox's.
pub const RESERVED_HOST_PREFIX: &str = "enf";

/// The most egress rules one interface may carry.
pub const MAX_EGRESS_RULES: usize = 256;

/// The smallest and largest MTU accepted (IPv4's minimum, the kernel's
/// veth maximum).
pub const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=65_535;

/// The longest operator network name.
const MAX_NETWORK_NAME: usize = 32;

/// What [`is_interface_name`] accepts, for error messages.
const IFNAME_RULE: &str =
    "must be 1 to 15 bytes without '/', ':', NUL or whitespace, and not \".\", \"..\" or \"lo\"";

/// Whether the kernel takes `name` for a new interface: 1 to 15 bytes, no
/// `/`, `:`, NUL or whitespace, not `.`, `..` or `lo` (which exists in
/// every network namespace).
pub fn is_interface_name(name: &str) -> bool {
    (1..=MAX_INTERFACE_NAME).contains(&name.len())
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
        && !matches!(name, "." | ".." | "lo")
}

/// Whether `name` can name an operator network: `[a-z0-9][a-z0-9_-]{0,31}`.
pub fn is_network_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.len() <= MAX_NETWORK_NAME
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Checker {
    /// `network`: a new network namespace for anything it changes, the
    /// interfaces' names, MTUs, networks and egress rules.
    pub(super) fn network(&mut self, decision: &Decision) {
        let Some(network) = &decision.network else {
            return;
        };
        let SandboxNetwork {
            loopback,
            interfaces,
        } = network;
        let changes = *loopback == Some(false) || !interfaces.is_empty();
        if changes {
            let new = decision
                .namespaces
                .iter()
                .any(|ns| ns.kind == NamespaceType::Network && ns.path.is_none());
            self.that(new, "network", || {
                let had = decision
                    .namespaces
                    .iter()
                    .find(|ns| ns.kind == NamespaceType::Network);
                let what = match had.and_then(|ns| ns.path.as_deref()) {
                    Some(path) => format!("the sandbox joins the network namespace {path}, which the enforcer never changes"),
                    None => "the sandbox would share the host's network namespace".into(),
                };
                format!(
                    "a loopback that is down or an interface needs a new network namespace (add {{\"type\": \"network\"}} to namespaces): {what}"
                )
            });
        }
        if interfaces.len() > MAX_INTERFACES {
            self.fail(
                "network.interfaces",
                format!(
                    "{} interfaces is more than the {MAX_INTERFACES} a sandbox may have",
                    interfaces.len()
                ),
            );
        }
        let mut names = BTreeSet::new();
        let mut host_names = BTreeSet::new();
        for (index, interface) in interfaces.iter().enumerate() {
            self.interface(
                &format!("network.interfaces[{index}]"),
                interface,
                &mut names,
                &mut host_names,
            );
        }
    }

    fn interface<'a>(
        &mut self,
        path: &str,
        interface: &'a Interface,
        names: &mut BTreeSet<&'a str>,
        host_names: &mut BTreeSet<&'a str>,
    ) {
        let Interface {
            name,
            host_name,
            mtu,
            network,
            egress,
        } = interface;
        let name = name.as_deref().unwrap_or(DEFAULT_INTERFACE);
        self.that(is_interface_name(name), &format!("{path}.name"), || {
            format!("{name:?} {IFNAME_RULE}")
        });
        if !names.insert(name) {
            self.fail(
                format!("{path}.name"),
                format!(
                    "{name:?} is the name of an earlier interface (an absent name is {DEFAULT_INTERFACE:?}); each interface needs its own"
                ),
            );
        }
        if let Some(host) = host_name {
            let path = format!("{path}.hostName");
            self.that(is_interface_name(host), &path, || {
                format!("{host:?} {IFNAME_RULE}")
            });
            self.that(!host.starts_with(RESERVED_HOST_PREFIX), &path, || {
                format!(
                    "{host:?} starts with {RESERVED_HOST_PREFIX:?}, the prefix of the names the enforcer derives (it may be another sandbox's): choose another name or leave hostName out"
                )
            });
            if !host_names.insert(host) {
                self.fail(
                    path,
                    format!("{host:?} is the hostName of an earlier interface"),
                );
            }
        }
        if let Some(mtu) = mtu {
            self.that(MTU_RANGE.contains(mtu), &format!("{path}.mtu"), || {
                format!(
                    "{mtu} is not in {} to {}",
                    MTU_RANGE.start(),
                    MTU_RANGE.end()
                )
            });
        }
        if let Some(network) = network {
            self.that(
                is_network_name(network),
                &format!("{path}.network"),
                || {
                    format!(
                        "{network:?} must be 1 to {MAX_NETWORK_NAME} characters of a-z, 0-9, '_' and '-', starting with a letter or digit"
                    )
                },
            );
        }
        if let Some(rules) = egress {
            self.that(network.is_some(), &format!("{path}.egress"), || {
                "an interface without a network is an isolated pair with no route out: egress needs a network".into()
            });
            if rules.len() > MAX_EGRESS_RULES {
                self.fail(
                    format!("{path}.egress"),
                    format!(
                        "{} rules is more than the {MAX_EGRESS_RULES} an interface may carry",
                        rules.len()
                    ),
                );
            }
            for (index, rule) in rules.iter().enumerate() {
                self.egress_rule(&format!("{path}.egress[{index}]"), rule);
            }
        }
    }

    fn egress_rule(&mut self, path: &str, rule: &EgressRule) {
        let EgressRule {
            destination,
            protocol,
            port,
            end_port,
        } = rule;
        if let Err(error) = Cidr::parse(destination) {
            self.fail(format!("{path}.destination"), error.to_string());
        }
        if let Some(port) = port {
            match protocol {
                Some(Protocol::Tcp | Protocol::Udp) => {}
                Some(Protocol::Icmp) => self.fail(
                    format!("{path}.port"),
                    format!("{port}: icmp takes no port; leave port and endPort out"),
                ),
                None => self.fail(
                    format!("{path}.port"),
                    format!("{port} needs \"protocol\": \"tcp\" or \"udp\""),
                ),
            }
        }
        if let Some(end) = end_port {
            match port {
                None => self.fail(
                    format!("{path}.endPort"),
                    format!("{end} needs a port, the first of the range"),
                ),
                Some(first) if end < first => self.fail(
                    format!("{path}.endPort"),
                    format!("{end} is below port {first}: the range is port to endPort"),
                ),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::decision::{EgressRule, Interface, Protocol, SandboxNetwork};
    use crate::host::typical_host;
    use crate::{Decision, NamespaceType, validate};

    fn violations(decision: Decision) -> Vec<String> {
        match validate(decision, &typical_host(), "sandboxes/test") {
            Ok(_) => Vec::new(),
            Err(invalid) => invalid.violations.iter().map(ToString::to_string).collect(),
        }
    }

    fn assert_violation(decision: Decision, path: &str, needle: &str) {
        let found = violations(decision);
        assert!(
            found
                .iter()
                .any(|v| v.starts_with(&format!("{path}: ")) && v.contains(needle)),
            "expected {path}: ...{needle}..., got {found:?}"
        );
    }

    fn on(network: &str) -> Interface {
        Interface {
            network: Some(network.into()),
            ..Interface::default()
        }
    }

    fn with(interfaces: Vec<Interface>) -> Decision {
        let mut decision = Decision::allow().namespace(NamespaceType::Network);
        decision.network = Some(SandboxNetwork {
            loopback: None,
            interfaces,
        });
        decision
    }

    #[test]
    fn a_valid_network_passes() {
        let mut interface = on("tenants");
        interface.mtu = Some(1500);
        interface.host_name = Some("veth-acme".into());
        interface.egress = Some(vec![
            EgressRule::tcp("192.0.2.0/24", 443),
            EgressRule {
                end_port: Some(1000),
                ..EgressRule::udp("2001:db8::1", 53)
            },
            EgressRule {
                protocol: Some(Protocol::Icmp),
                ..EgressRule::to("198.51.100.7")
            },
        ]);
        let isolated = Interface {
            name: Some("eth1".into()),
            ..Interface::default()
        };
        assert_eq!(
            violations(with(vec![interface, isolated])),
            Vec::<String>::new()
        );
        // Loopback up with nothing else changes nothing: no namespace needed.
        let mut silent = Decision::allow();
        silent.network = Some(SandboxNetwork {
            loopback: Some(true),
            interfaces: Vec::new(),
        });
        assert_eq!(violations(silent), Vec::<String>::new());
    }

    #[test]
    fn interfaces_need_a_new_network_namespace() {
        let mut host = with(vec![on("tenants")]);
        host.namespaces.clear();
        assert_violation(host, "network", "share the host's network namespace");
        let joined =
            with(vec![on("tenants")]).join_namespace(NamespaceType::Network, "/run/netns/other");
        assert_violation(
            joined,
            "network",
            "joins the network namespace /run/netns/other",
        );
        let mut down = Decision::allow();
        down.network = Some(SandboxNetwork {
            loopback: Some(false),
            interfaces: Vec::new(),
        });
        assert_violation(down, "network", "needs a new network namespace");
    }

    #[test]
    fn names_are_unique_valid_and_not_reserved() {
        assert_violation(
            with(vec![on("a"), on("b")]),
            "network.interfaces[1].name",
            "\"eth0\" is the name of an earlier interface",
        );
        for bad in ["", "lo", ".", "..", "a/b", "a:b", "a b", "sixteen-bytes-xx"] {
            let named = Interface {
                name: Some(bad.into()),
                ..on("a")
            };
            assert_violation(
                with(vec![named]),
                "network.interfaces[0].name",
                "1 to 15 bytes",
            );
        }
        let host = |name: &str| Interface {
            host_name: Some(name.into()),
            ..Interface::default()
        };
        assert_violation(
            with(vec![host("enf0123456789i0")]),
            "network.interfaces[0].hostName",
            "starts with \"enf\"",
        );
        assert_violation(
            with(vec![
                host("veth-a"),
                Interface {
                    name: Some("eth1".into()),
                    ..host("veth-a")
                },
            ]),
            "network.interfaces[1].hostName",
            "hostName of an earlier interface",
        );
        assert_violation(
            with(vec![host("a\tb")]),
            "network.interfaces[0].hostName",
            "without '/'",
        );
        let too_many = (0..9)
            .map(|i| Interface {
                name: Some(format!("eth{i}")),
                ..Interface::default()
            })
            .collect();
        assert_violation(with(too_many), "network.interfaces", "more than the 8");
    }

    #[test]
    fn mtu_and_network_names_are_checked() {
        for (mtu, ok) in [(67, false), (68, true), (65_535, true), (65_536, false)] {
            let interface = Interface {
                mtu: Some(mtu),
                ..Interface::default()
            };
            let found = violations(with(vec![interface]));
            assert_eq!(found.is_empty(), ok, "{mtu}: {found:?}");
        }
        assert_violation(
            with(vec![Interface {
                mtu: Some(9),
                ..Interface::default()
            }]),
            "network.interfaces[0].mtu",
            "9 is not in 68 to 65535",
        );
        for bad in ["", "Tenants", "-a", "a.b", &"a".repeat(33)] {
            assert_violation(
                with(vec![on(bad)]),
                "network.interfaces[0].network",
                "a-z, 0-9",
            );
        }
        assert!(violations(with(vec![on(&"a".repeat(32))])).is_empty());
        assert!(violations(with(vec![on("0_tenant-net")])).is_empty());
    }

    #[test]
    fn egress_rules_are_checked() {
        let rules = |rules: Vec<EgressRule>| {
            with(vec![Interface {
                egress: Some(rules),
                ..on("tenants")
            }])
        };
        assert_violation(
            with(vec![Interface {
                egress: Some(Vec::new()),
                ..Interface::default()
            }]),
            "network.interfaces[0].egress",
            "egress needs a network",
        );
        assert_violation(
            rules(vec![EgressRule::to("192.0.2.1/24")]),
            "network.interfaces[0].egress[0].destination",
            "192.0.2.1/24 has host bits set: the block is 192.0.2.0/24",
        );
        assert_violation(
            rules(vec![EgressRule::to("example.com")]),
            "network.interfaces[0].egress[0].destination",
            "is not an IPv4 or IPv6 address",
        );
        assert_violation(
            rules(vec![
                EgressRule::to("192.0.2.0/24"),
                EgressRule {
                    port: Some(80),
                    ..EgressRule::to("192.0.2.0/24")
                },
            ]),
            "network.interfaces[0].egress[1].port",
            "80 needs \"protocol\": \"tcp\" or \"udp\"",
        );
        assert_violation(
            rules(vec![EgressRule {
                protocol: Some(Protocol::Icmp),
                ..EgressRule::tcp("192.0.2.0/24", 1)
            }]),
            "network.interfaces[0].egress[0].port",
            "icmp takes no port",
        );
        assert_violation(
            rules(vec![EgressRule {
                end_port: Some(79),
                ..EgressRule::tcp("192.0.2.0/24", 80)
            }]),
            "network.interfaces[0].egress[0].endPort",
            "79 is below port 80",
        );
        assert_violation(
            rules(vec![EgressRule {
                end_port: Some(79),
                ..EgressRule::to("192.0.2.0/24")
            }]),
            "network.interfaces[0].egress[0].endPort",
            "needs a port",
        );
        assert_violation(
            rules(vec![EgressRule::to("192.0.2.0/24"); 257]),
            "network.interfaces[0].egress",
            "257 rules is more than the 256",
        );
    }
}
