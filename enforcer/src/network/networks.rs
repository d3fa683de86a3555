//! The operator's networks (`[networks.<name>]` in the config), defaults
//! applied, and the address arithmetic of leasing from them: which
//! addresses of a network's subnet a sandbox may get, and the IPv6
//! address that goes with each.
//!
//! A sandbox's IPv4 address is a host address of the subnet other than
//! the gateway; its IPv6 address (on a network with `subnet6`) is the
//! `subnet6` base plus the same offset, so it is as unique as the IPv4
//! one. An offset whose IPv6 address would be `gateway6` is never leased.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use policy_model::decision::{Cidr, EgressRule};

/// One operator network, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkSpec {
    /// Its name (`[networks.<name>]`).
    pub name: String,
    /// The host bridge its sandboxes' host ends are attached to.
    pub bridge: String,
    /// Its IPv4 block (prefix 8 to 30, host bits clear).
    #[serde(serialize_with = "display")]
    pub subnet: Cidr,
    /// The bridge's address and the sandboxes' default route: a host
    /// address of `subnet` [default: its first].
    pub gateway: Ipv4Addr,
    /// Its IPv6 block, if it has one (prefix 64 to 120).
    #[serde(serialize_with = "display_option")]
    pub subnet6: Option<Cidr>,
    /// The bridge's IPv6 address [default: the first after the
    /// `subnet6` base]; set exactly when `subnet6` is.
    pub gateway6: Option<Ipv6Addr>,
    /// Where a sandbox's interface may connect to when its decision gives
    /// no egress list.
    pub egress: DefaultEgress,
    /// Whether traffic leaving through the host is masqueraded.
    pub masquerade: bool,
    /// The MTU of the bridge and of the interfaces on it, if set.
    pub mtu: Option<u32>,
}

fn display<S: serde::Serializer>(value: &Cidr, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn display_option<S: serde::Serializer>(
    value: &Option<Cidr>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

/// A network's default egress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultEgress {
    /// Everywhere (`"all"`).
    All,
    /// Nowhere (`"none"`).
    None,
    /// The destinations of this list.
    List(Vec<EgressRule>),
}

impl DefaultEgress {
    /// The allow list it stands for: `All` is `[0.0.0.0/0, ::/0]`, `None`
    /// is `[]`, `List` is the list.
    pub fn allow_list(&self) -> Vec<EgressRule> {
        match self {
            DefaultEgress::All => vec![EgressRule::all_ipv4(), EgressRule::all_ipv6()],
            DefaultEgress::None => Vec::new(),
            DefaultEgress::List(rules) => rules.clone(),
        }
    }
}

/// All networks by name.
pub type Networks = BTreeMap<String, NetworkSpec>;

/// One address a sandbox may lease: its IPv4 address and, on a network
/// with `subnet6`, its IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// The offset of the address in `subnet` (1 and up).
    pub offset: u32,
    /// The IPv4 address.
    pub address: Ipv4Addr,
    /// The IPv6 address.
    pub address6: Option<Ipv6Addr>,
}

impl NetworkSpec {
    /// Whether running a sandbox on it needs nftables: its default egress
    /// is not `all`, or it masquerades.
    pub fn needs_nftables(&self) -> bool {
        self.egress != DefaultEgress::All || self.masquerade
    }

    /// How many addresses `subnet` holds, network and broadcast addresses
    /// included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.subnet.prefix.min(32)))
    }

    fn base(&self) -> u32 {
        match self.subnet.address {
            IpAddr::V4(base) => u32::from(base),
            IpAddr::V6(_) => 0,
        }
    }

    /// The offset of `address` in `subnet`, if it lies there.
    pub fn offset_of(&self, address: Ipv4Addr) -> Option<u32> {
        self.subnet
            .contains(IpAddr::V4(address))
            .then(|| u32::from(address) - self.base())
    }

    /// The slot at `offset` if a sandbox may lease it: a host address of
    /// `subnet` (neither the network nor the broadcast address), not the
    /// gateway, and whose IPv6 address is not `gateway6`.
    pub fn slot(&self, offset: u32) -> Option<Slot> {
        if offset == 0 || u64::from(offset) >= self.size() - 1 {
            return None;
        }
        let address = Ipv4Addr::from(self.base() + offset);
        if address == self.gateway {
            return None;
        }
        let address6 = match self.subnet6 {
            Some(Cidr {
                address: IpAddr::V6(base),
                ..
            }) => Some(Ipv6Addr::from(u128::from(base) + u128::from(offset))),
            _ => None,
        };
        if address6.is_some() && address6 == self.gateway6 {
            return None;
        }
        Some(Slot {
            offset,
            address,
            address6,
        })
    }

    /// How many addresses sandboxes may lease: the host addresses but the
    /// gateway and the one whose IPv6 address is `gateway6`.
    pub fn capacity(&self) -> u64 {
        let gateway6_takes_one = self.gateway6_offset().is_some_and(|offset| {
            offset != 0
                && u64::from(offset) < self.size() - 1
                && Some(offset) != self.offset_of(self.gateway)
        });
        self.size() - 3 - u64::from(gateway6_takes_one)
    }

    fn gateway6_offset(&self) -> Option<u32> {
        let (
            Some(Cidr {
                address: IpAddr::V6(base),
                ..
            }),
            Some(gateway6),
        ) = (self.subnet6, self.gateway6)
        else {
            return None;
        };
        u32::try_from(u128::from(gateway6).checked_sub(u128::from(base))?).ok()
    }

    /// The lowest slot whose IPv4 address is not in `taken`; `None`: every
    /// one is.
    pub fn lowest_free(&self, taken: &BTreeSet<Ipv4Addr>) -> Option<Slot> {
        let last = u32::try_from(self.size() - 2).ok()?;
        (1..=last)
            .filter_map(|offset| self.slot(offset))
            .find(|slot| !taken.contains(&slot.address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn network(subnet: &str, gateway: &str, v6: Option<(&str, &str)>) -> NetworkSpec {
        NetworkSpec {
            name: "default".into(),
            bridge: "enforcer0".into(),
            subnet: Cidr::parse(subnet).expect("subnet"),
            gateway: gateway.parse().expect("gateway"),
            subnet6: v6.map(|(block, _)| Cidr::parse(block).expect("subnet6")),
            gateway6: v6.map(|(_, gateway)| gateway.parse().expect("gateway6")),
            egress: DefaultEgress::All,
            masquerade: false,
            mtu: None,
        }
    }

    #[test]
    fn the_lowest_host_address_besides_the_gateway_is_leased_first() {
        let spec = network("192.0.2.0/24", "192.0.2.1", None);
        let mut taken = BTreeSet::new();
        let first = spec.lowest_free(&taken).expect("free");
        assert_eq!(first.address, Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(first.address6, None);
        taken.insert(first.address);
        assert_eq!(
            spec.lowest_free(&taken).map(|slot| slot.address),
            Some(Ipv4Addr::new(192, 0, 2, 3))
        );
        assert_eq!(spec.capacity(), 253);
        // A gateway in the middle is skipped; the network and broadcast
        // addresses never come.
        let spec = network("192.0.2.0/30", "192.0.2.2", None);
        assert_eq!(spec.slot(0), None);
        assert_eq!(spec.slot(2), None);
        assert_eq!(spec.slot(3), None);
        assert_eq!(
            spec.lowest_free(&BTreeSet::new()).map(|slot| slot.address),
            Some(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(spec.capacity(), 1);
        let taken = BTreeSet::from([Ipv4Addr::new(192, 0, 2, 1)]);
        assert_eq!(spec.lowest_free(&taken), None);
    }

    #[test]
    fn the_ipv6_address_has_the_same_offset_and_is_never_gateway6() {
        let spec = network(
            "192.0.2.0/24",
            "192.0.2.1",
            Some(("2001:db8:1::/64", "2001:db8:1::3")),
        );
        let slot = spec.slot(2).expect("leasable");
        assert_eq!(slot.address6, Some("2001:db8:1::2".parse().expect("v6")));
        assert_eq!(spec.slot(3), None, "its IPv6 address is gateway6");
        assert_eq!(spec.capacity(), 252);
        assert_eq!(spec.offset_of(Ipv4Addr::new(192, 0, 2, 9)), Some(9));
        assert_eq!(spec.offset_of(Ipv4Addr::new(198, 51, 100, 9)), None);
    }

    #[test]
    fn default_egress_stands_for_an_allow_list() {
        assert_eq!(
            DefaultEgress::All.allow_list(),
            [EgressRule::all_ipv4(), EgressRule::all_ipv6()]
        );
        assert!(DefaultEgress::None.allow_list().is_empty());
        let rules = vec![EgressRule::tcp("203.0.113.0/24", 443)];
        assert_eq!(DefaultEgress::List(rules.clone()).allow_list(), rules);
        let mut spec = network("192.0.2.0/24", "192.0.2.1", None);
        assert!(!spec.needs_nftables());
        spec.masquerade = true;
        assert!(spec.needs_nftables());
        spec.masquerade = false;
        spec.egress = DefaultEgress::None;
        assert!(spec.needs_nftables());
    }

    use crate::network::test_support::Rng;

    /// A random valid network: any IPv4 block of prefix 23 to 30 (small
    /// enough to exhaust), any host address as its gateway, and half the
    /// time an IPv6 block large enough with any gateway6 after its base.
    fn random_network(rng: &mut Rng) -> NetworkSpec {
        let prefix = 23 + rng.below(8) as u8;
        let subnet =
            Cidr::parse_lenient(&format!("{}/{prefix}", Ipv4Addr::from(rng.next() as u32)))
                .expect("block");
        let (first, last) = crate::config::host_range(&subnet).expect("hosts");
        let gateway = Ipv4Addr::from(
            u32::from(first) + rng.below(u64::from(u32::from(last) - u32::from(first)) + 1) as u32,
        );
        let (subnet6, gateway6) = if rng.below(2) == 0 {
            let prefix6 = 64 + rng.below(u64::from(96 + u32::from(prefix) - 64) + 1) as u8;
            let base = (u128::from(rng.next()) << 64) | u128::from(rng.next());
            let block = Cidr::parse_lenient(&format!("{}/{prefix6}", Ipv6Addr::from(base)))
                .expect("block6");
            let IpAddr::V6(base) = block.address else {
                unreachable!("an IPv6 block")
            };
            // Mostly a gateway6 among the leasable offsets, to exercise
            // the skip.
            let span = 1u128 << (128 - u32::from(prefix6));
            let offset = 1 + u128::from(rng.next()) % (span - 1).min(1 << (32 - prefix));
            (Some(block), Some(Ipv6Addr::from(u128::from(base) + offset)))
        } else {
            (None, None)
        };
        NetworkSpec {
            subnet6,
            gateway6,
            ..network(&subnet.to_string(), &gateway.to_string(), None)
        }
    }

    /// Leasing until exhaustion, with random releases on the way: every
    /// leased address is a host address of the subnet, never the gateway
    /// (nor its IPv6 one gateway6), and no two are the same.
    #[test]
    fn property_leased_addresses_are_distinct_host_addresses_never_a_gateway() {
        let seed = std::env::var("ENFORCER_PROPTEST_SEED")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(0x6c65_6173_6573_2d31);
        let mut rng = Rng(seed);
        for case in 0..300 {
            let spec = random_network(&mut rng);
            crate::config::check_network(
                &spec.subnet,
                Some(spec.gateway),
                spec.subnet6.as_ref(),
                spec.gateway6,
            )
            .unwrap_or_else(|error| panic!("seed {seed} case {case}: {spec:?}: {error}"));
            let (first, last) = crate::config::host_range(&spec.subnet).expect("hosts");
            let mut held: BTreeMap<Ipv4Addr, Option<Ipv6Addr>> = BTreeMap::new();
            let mut leased = 0u64;
            loop {
                if !held.is_empty() && rng.below(5) == 0 {
                    let index = rng.below(held.len() as u64) as usize;
                    let address = *held.keys().nth(index).expect("held");
                    held.remove(&address);
                    continue;
                }
                let taken: BTreeSet<Ipv4Addr> = held.keys().copied().collect();
                let Some(slot) = spec.lowest_free(&taken) else {
                    break;
                };
                let context = format!("seed {seed} case {case}: {spec:?}: {slot:?}");
                assert!((first..=last).contains(&slot.address), "{context}");
                assert!(spec.subnet.contains(IpAddr::V4(slot.address)), "{context}");
                assert_ne!(slot.address, spec.gateway, "{context}");
                assert!(!held.contains_key(&slot.address), "{context}");
                if let Some(block) = spec.subnet6 {
                    let address6 = slot.address6.expect("an IPv6 address");
                    assert!(block.contains(IpAddr::V6(address6)), "{context}");
                    assert_ne!(Some(address6), spec.gateway6, "{context}");
                    assert_ne!(IpAddr::V6(address6), block.address, "{context}");
                    assert!(
                        !held.values().any(|other| *other == Some(address6)),
                        "{context}"
                    );
                } else {
                    assert_eq!(slot.address6, None, "{context}");
                }
                held.insert(slot.address, slot.address6);
                leased += 1;
                assert!(leased < 4 * spec.size(), "{context}: never exhausted");
            }
            assert_eq!(
                held.len() as u64,
                spec.capacity(),
                "seed {seed} case {case}: {spec:?}: exhausted at capacity"
            );
        }
    }
}
