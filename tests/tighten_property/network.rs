//! The `network` field in the property test: its generator (a field class
//! of the main test), a reference model of what an egress list allows,
//! and three tests of its own:
//!
//! * every tightening the rules describe (drop an interface, loopback
//!   down, split a block, restrict protocol or ports, drop a rule) is
//!   accepted, every loosening (add an interface, widen a block, drop a
//!   protocol or port restriction, widen ports, loopback up, change the
//!   network, host name or MTU, swap a list for the default) is refused
//!   naming its field
//!   (`each_network_tightening_is_accepted_and_each_loosening_named`);
//! * for random egress lists `e`, `l` that `check_tightens` accepts, every
//!   probe (address, protocol, port) that `l` allows, `e` allows
//!   (`an_accepted_egress_list_allows_no_probe_more`);
//! * random networks round-trip through the normal form
//!   (`random_networks_round_trip`).
//!
//! The model is the test's own: address blocks are masked here with plain
//! integer arithmetic, not with `Cidr::contains`/`covers`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use policy_model::normal::{NormalDecision, NormalNetwork};
use policy_model::{
    Decision, EgressRule, Interface, Namespace, NamespaceType, Protocol, SandboxNetwork,
    check_tightens,
};

use super::{Mode, Rng, creates, normal_of, round_trips};

const SEED: u64 = 0x6e65_7477_6f72_6b31;
const NETWORKS: [&str; 3] = ["tenants", "storage", "edge"];
const NAMES: [&str; 4] = ["eth0", "eth1", "eth2", "wan"];
const MTUS: [Option<u32>; 4] = [None, Some(1280), Some(1500), Some(9000)];
const V4_BASES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(192, 0, 2, 0),
    Ipv4Addr::new(198, 51, 100, 0),
    Ipv4Addr::new(203, 0, 113, 0),
];
const V4_PREFIXES: [u8; 10] = [0, 8, 16, 22, 24, 25, 26, 28, 30, 32];
const V6_PREFIXES: [u8; 7] = [0, 16, 32, 48, 64, 120, 128];
const PORTS: [u16; 6] = [1, 22, 53, 80, 443, 8000];
const SPANS: [u16; 4] = [0, 1, 10, 1000];
const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp];

// ----------------------------------------------------------------- model

/// A block as the model sees it: the address as an integer, its width
/// (32 or 128) and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    bits: u128,
    width: u32,
    prefix: u32,
}

fn host_mask(width: u32, prefix: u32) -> u128 {
    let host = width - prefix;
    if host == 0 {
        0
    } else if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    }
}

fn address_bits(address: IpAddr) -> (u128, u32) {
    match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn block(text: &str) -> Block {
    let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
    let address: IpAddr = address.parse().expect("the generator writes addresses");
    let (bits, width) = address_bits(address);
    let prefix = if prefix.is_empty() {
        width
    } else {
        prefix.parse().expect("the generator writes prefixes")
    };
    Block {
        bits: bits & !host_mask(width, prefix),
        width,
        prefix,
    }
}

fn render(block: Block) -> String {
    let address = if block.width == 32 {
        IpAddr::V4(Ipv4Addr::from(block.bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(block.bits))
    };
    format!("{address}/{}", block.prefix)
}

fn inside(block: Block, address: IpAddr) -> bool {
    let (bits, width) = address_bits(address);
    width == block.width && bits & !host_mask(width, block.prefix) == block.bits
}

/// One packet the workload might send: to `address`, over `protocol`, to
/// `port` (none for ICMP).
#[derive(Debug, Clone, Copy)]
struct Probe {
    address: IpAddr,
    protocol: Protocol,
    port: Option<u16>,
}

/// Whether `rules` let `probe` out: some rule's block holds the address,
/// its protocol (if any) is the probe's, its port range (if any) holds the
/// probe's port.
fn allowed(rules: &[EgressRule], probe: &Probe) -> bool {
    rules.iter().any(|rule| {
        let ports = match (rule.port, probe.port) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(first), Some(port)) => first <= port && port <= rule.end_port.unwrap_or(first),
        };
        inside(block(&rule.destination), probe.address)
            && rule.protocol.is_none_or(|p| p == probe.protocol)
            && ports
    })
}

fn address_in(rng: &mut Rng, block: Block) -> IpAddr {
    let mask = host_mask(block.width, block.prefix);
    let offset = match rng.below(3) {
        0 => 0,
        1 => mask,
        _ => (u128::from(rng.next()) << 64 | u128::from(rng.next())) & mask,
    };
    let bits = block.bits | offset;
    if block.width == 32 {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

/// Probes inside and at the edges of each rule of `rules`, and a few
/// anywhere in the documentation ranges.
fn probes(rng: &mut Rng, rules: &[EgressRule]) -> Vec<Probe> {
    let mut probes = Vec::new();
    for rule in rules {
        let block = block(&rule.destination);
        for _ in 0..4 {
            let protocol = rule.protocol.unwrap_or_else(|| rng.pick(&PROTOCOLS));
            let port = match (protocol, rule.port) {
                (Protocol::Icmp, _) => None,
                (_, None) => Some(rng.pick(&PORTS)),
                (_, Some(first)) => {
                    let last = rule.end_port.unwrap_or(first);
                    Some(match rng.below(4) {
                        0 => first,
                        1 => last,
                        2 => first.saturating_sub(1),
                        _ => last.saturating_add(1),
                    })
                }
            };
            probes.push(Probe {
                address: address_in(rng, block),
                protocol,
                port,
            });
        }
    }
    for _ in 0..8 {
        let protocol = rng.pick(&PROTOCOLS);
        let anywhere = random_block(rng);
        probes.push(Probe {
            address: address_in(rng, anywhere),
            protocol,
            port: (protocol != Protocol::Icmp).then(|| rng.pick(&PORTS)),
        });
    }
    probes
}

// ------------------------------------------------------------- generator

fn random_block(rng: &mut Rng) -> Block {
    if rng.chance(75) {
        let base = u32::from(rng.pick(&V4_BASES)) | (rng.next() as u32 & 0xff);
        let prefix = u32::from(rng.pick(&V4_PREFIXES));
        Block {
            bits: u128::from(base) & !host_mask(32, prefix),
            width: 32,
            prefix,
        }
    } else {
        let base = (0x2001_0db8u128 << 96)
            | u128::from(rng.next() as u16) << 80
            | u128::from(rng.next() as u8);
        let prefix = u32::from(rng.pick(&V6_PREFIXES));
        Block {
            bits: base & !host_mask(128, prefix),
            width: 128,
            prefix,
        }
    }
}

fn random_rule(rng: &mut Rng) -> EgressRule {
    let block = random_block(rng);
    // A one-address block is written as a bare address now and then.
    let destination = if block.prefix == block.width && rng.chance(50) {
        render(block)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        render(block)
    };
    let protocol = rng.pick(&[
        None,
        Some(Protocol::Tcp),
        Some(Protocol::Udp),
        Some(Protocol::Icmp),
    ]);
    let (port, end_port) = match protocol {
        Some(Protocol::Tcp | Protocol::Udp) if rng.chance(60) => {
            let port = rng.pick(&PORTS);
            let end = rng
                .chance(50)
                .then(|| port.saturating_add(rng.pick(&SPANS)));
            (Some(port), end)
        }
        _ => (None, None),
    };
    EgressRule {
        destination,
        protocol,
        port,
        end_port,
    }
}

fn random_rules(rng: &mut Rng) -> Vec<EgressRule> {
    (0..rng.below(5)).map(|_| random_rule(rng)).collect()
}

fn random_interface(rng: &mut Rng, name: &str) -> Interface {
    let network = (!rng.chance(10)).then(|| rng.pick(&NETWORKS).to_string());
    Interface {
        // An absent name is eth0.
        name: (name != "eth0" || rng.chance(50)).then(|| name.to_string()),
        host_name: rng.chance(25).then(|| format!("veth-{name}")),
        mtu: rng.pick(&MTUS),
        egress: (network.is_some() && rng.chance(70)).then(|| random_rules(rng)),
        network,
    }
}

fn random_network(rng: &mut Rng) -> SandboxNetwork {
    let names = rng.subset(&NAMES, 45);
    SandboxNetwork {
        loopback: rng.pick(&[None, Some(true), Some(false)]),
        interfaces: names
            .iter()
            .map(|name| random_interface(rng, name))
            .collect(),
    }
}

fn name_of(interface: &Interface) -> &str {
    interface.name.as_deref().unwrap_or("eth0")
}

/// A valid decision with a random network.
fn networked(rng: &mut Rng) -> Decision {
    let mut d = Decision::allow().namespace(NamespaceType::Network);
    d.network = Some(random_network(rng));
    d
}

/// One rule inside `rule`: a half of its block, a protocol where it named
/// none, a port or a narrower range. `None` when it cannot narrow.
fn narrower(rng: &mut Rng, rule: &EgressRule) -> Option<EgressRule> {
    let mut narrow = rule.clone();
    match rng.below(3) {
        0 => {
            let outer = block(&rule.destination);
            if outer.prefix == outer.width {
                return None;
            }
            let prefix = outer.prefix + 1 + rng.below((outer.width - outer.prefix) as usize) as u32;
            let (bits, _) = address_bits(address_in(rng, outer));
            let inner = Block {
                bits: bits & !host_mask(outer.width, prefix),
                prefix,
                ..outer
            };
            narrow.destination = render(inner);
        }
        1 => {
            if rule.protocol.is_some() {
                return None;
            }
            narrow.protocol = Some(rng.pick(&PROTOCOLS));
            if narrow.protocol != Some(Protocol::Icmp) && rng.chance(50) {
                narrow.port = Some(rng.pick(&PORTS));
            }
        }
        _ => match (rule.protocol, rule.port) {
            (Some(Protocol::Tcp | Protocol::Udp), None) => {
                narrow.port = Some(rng.pick(&PORTS));
                narrow.end_port = rng
                    .chance(50)
                    .then(|| narrow.port.unwrap_or(0).saturating_add(5));
            }
            (_, Some(first)) => {
                let last = rule.end_port.unwrap_or(first);
                if first == last {
                    return None;
                }
                let from = first + rng.below(usize::from(last - first) + 1) as u16;
                let to = from + rng.below(usize::from(last - from) + 1) as u16;
                narrow.port = Some(from);
                narrow.end_port = Some(to);
            }
            _ => return None,
        },
    }
    Some(narrow)
}

/// One rule that allows more than `rule`: a wider block, no protocol, no
/// port, a wider range. `None` when it cannot widen.
fn wider(rng: &mut Rng, rule: &EgressRule) -> Option<EgressRule> {
    let mut wide = rule.clone();
    match rng.below(3) {
        0 => {
            let inner = block(&rule.destination);
            if inner.prefix == 0 {
                return None;
            }
            let prefix = rng.below(inner.prefix as usize) as u32;
            wide.destination = render(Block {
                bits: inner.bits & !host_mask(inner.width, prefix),
                prefix,
                ..inner
            });
        }
        1 => {
            rule.protocol?;
            wide.protocol = None;
            wide.port = None;
            wide.end_port = None;
        }
        _ => {
            let first = rule.port?;
            let last = rule.end_port.unwrap_or(first);
            if rng.chance(30) {
                wide.port = None;
                wide.end_port = None;
            } else if last < u16::MAX {
                wide.end_port = Some(last + 1 + rng.below(usize::from(u16::MAX - last)) as u16);
            } else if first > 0 {
                wide.port = Some(first - 1);
            } else {
                return None;
            }
        }
    }
    Some(wide)
}

/// Whether one rule of `rules` holds all of `rule` (the model's own
/// single-rule cover, for telling real loosenings from covered ones).
fn one_covers(rules: &[EgressRule], rule: &EgressRule) -> bool {
    let inner = block(&rule.destination);
    rules.iter().any(|outer_rule| {
        let outer = block(&outer_rule.destination);
        let blocks = outer.width == inner.width
            && outer.prefix <= inner.prefix
            && inner.bits & !host_mask(outer.width, outer.prefix) == outer.bits;
        let ports = match (outer_rule.port, rule.port) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => {
                a <= b && rule.end_port.unwrap_or(b) <= outer_rule.end_port.unwrap_or(a)
            }
        };
        blocks && outer_rule.protocol.is_none_or(|p| Some(p) == rule.protocol) && ports
    })
}

fn interfaces(d: &mut Decision) -> &mut Vec<Interface> {
    &mut d
        .network
        .get_or_insert_with(SandboxNetwork::default)
        .interfaces
}

/// A tightening of `d`'s network; the field it touched, or `None`.
fn network_tighten(rng: &mut Rng, d: &mut Decision) -> Option<&'static str> {
    match rng.below(4) {
        0 => {
            let list = interfaces(d);
            if list.is_empty() {
                return None;
            }
            let index = rng.below(list.len());
            list.remove(index);
            Some("drop")
        }
        1 => {
            d.network
                .get_or_insert_with(SandboxNetwork::default)
                .loopback = Some(false);
            Some("loopback")
        }
        _ => {
            let list = interfaces(d);
            let with: Vec<usize> = (0..list.len())
                .filter(|&i| list[i].egress.is_some())
                .collect();
            if with.is_empty() {
                return None;
            }
            let rules = list[rng.pick(&with)].egress.as_mut()?;
            if rules.is_empty() {
                return None;
            }
            let index = rng.below(rules.len());
            if rng.chance(20) {
                rules.remove(index);
            } else {
                let narrow = narrower(rng, &rules[index])?;
                if rng.chance(50) {
                    rules[index] = narrow;
                } else {
                    rules.push(narrow);
                }
            }
            Some("egress")
        }
    }
}

/// A loosening of `d`'s network and the field path the refusal must
/// name, or `None` when it could not loosen.
fn network_loosen(rng: &mut Rng, d: &mut Decision) -> Option<String> {
    let list = interfaces(d);
    match rng.below(6) {
        0 => {
            let name = NAMES
                .iter()
                .chain(["net7", "net8"].iter())
                .find(|name| !list.iter().any(|i| name_of(i) == **name))?;
            list.push(Interface {
                name: Some(name.to_string()),
                network: Some(rng.pick(&NETWORKS).to_string()),
                ..Interface::default()
            });
            Some(format!("network.interfaces[{}]", list.len() - 1))
        }
        1 => {
            let network = d.network.get_or_insert_with(SandboxNetwork::default);
            if network.loopback != Some(false) {
                return None;
            }
            network.loopback = rng.pick(&[None, Some(true)]);
            Some("network.loopback".into())
        }
        2 => {
            if list.is_empty() {
                return None;
            }
            let index = rng.below(list.len());
            let interface = &mut list[index];
            let what = match rng.below(3) {
                0 => {
                    let other = NETWORKS
                        .iter()
                        .map(|n| Some(n.to_string()))
                        .find(|n| *n != interface.network)?;
                    interface.network = other;
                    "network"
                }
                1 => {
                    interface.host_name = match interface.host_name {
                        Some(_) => None,
                        None => Some(format!("veth-x{index}")),
                    };
                    "hostName"
                }
                _ => {
                    interface.mtu = match interface.mtu {
                        Some(1400) => None,
                        _ => Some(1400),
                    };
                    "mtu"
                }
            };
            if interface.network.is_none() {
                interface.egress = None;
            }
            Some(format!("network.interfaces[{index}].{what}"))
        }
        3 => {
            // A list swapped for the default, or the default for a list.
            let index = (0..list.len()).find(|&i| list[i].network.is_some())?;
            let interface = &mut list[index];
            interface.egress = match interface.egress {
                Some(_) => None,
                None => Some(random_rules(rng)),
            };
            Some(format!("network.interfaces[{index}].egress"))
        }
        _ => {
            let index = (0..list.len())
                .find(|&i| list[i].egress.as_ref().is_some_and(|r| !r.is_empty()))?;
            let rules = list[index].egress.as_mut()?;
            let earlier = rules.clone();
            let at = rng.below(rules.len());
            let wide = wider(rng, &rules[at])?;
            if one_covers(&earlier, &wide) {
                return None;
            }
            rules[at] = wide;
            Some(format!("network.interfaces[{index}].egress"))
        }
    }
}

/// The main test's field class: a random network, or one change to it.
pub fn network_op(rng: &mut Rng, d: &mut Decision, mode: Mode) {
    match mode {
        Mode::Fresh => {
            d.network = (!rng.chance(15)).then(|| random_network(rng));
            if d.network.is_some() && !creates(d, NamespaceType::Network) {
                d.namespaces.retain(|ns| ns.kind != NamespaceType::Network);
                d.namespaces.push(Namespace {
                    kind: NamespaceType::Network,
                    path: None,
                });
            }
        }
        Mode::Tighten => {
            network_tighten(rng, d);
        }
        Mode::Loosen => {
            network_loosen(rng, d);
        }
    }
}

/// Keeps `network` valid after other fields changed: without a new
/// network namespace it goes.
pub fn repair(d: &mut Decision) {
    if !creates(d, NamespaceType::Network) {
        d.network = None;
    }
}

/// `b`'s network grants nothing `a`'s does not: its loopback is down if
/// `a`'s is, each of its interfaces is one of `a`'s with the same
/// network, host name and MTU, and each probe its egress list lets out,
/// `a`'s list lets out (an absent list only where `a`'s is absent).
pub fn compare(a: &NormalDecision, b: &NormalDecision) -> Result<(), String> {
    network_no_looser(&mut Rng(SEED), &a.network, &b.network)
}

fn network_no_looser(rng: &mut Rng, a: &NormalNetwork, b: &NormalNetwork) -> Result<(), String> {
    if b.loopback && !a.loopback {
        return Err("the loopback comes up".into());
    }
    for after in &b.interfaces {
        let Some(before) = a.interfaces.iter().find(|i| i.name == after.name) else {
            return Err(format!("interface {} is new", after.name));
        };
        if (&before.network, &before.host_name, before.mtu)
            != (&after.network, &after.host_name, after.mtu)
        {
            return Err(format!("interface {} changed", after.name));
        }
        match (&before.egress, &after.egress) {
            (None, None) => {}
            (Some(e), Some(l)) => {
                for probe in probes(rng, l) {
                    if allowed(l, &probe) && !allowed(e, &probe) {
                        return Err(format!(
                            "interface {}: {probe:?} is let out by the later list only",
                            after.name
                        ));
                    }
                }
            }
            _ => return Err(format!("interface {}: egress list vs default", after.name)),
        }
    }
    Ok(())
}

// ----------------------------------------------------------------- tests

fn rendered(d: &Decision) -> (NormalDecision, Decision) {
    let normal = normal_of(d).unwrap_or_else(|e| panic!("invalid {d:?}: {e}"));
    let rendering = normal.to_decision();
    (normal, rendering)
}

#[test]
fn random_networks_round_trip() {
    for case in 0..3000u64 {
        let mut rng = Rng(SEED ^ 0x77 ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (normal, _) = rendered(&networked(&mut rng));
        round_trips(&normal).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let again = NormalNetwork::from_decision(
            normal.network.to_decision().as_ref(),
            &Default::default(),
        );
        assert_eq!(again, normal.network, "case {case}");
    }
}

#[test]
fn each_network_tightening_is_accepted_and_each_loosening_named() {
    let (mut accepted, mut refused) = (std::collections::BTreeMap::<&str, u64>::new(), 0u64);
    for case in 0..4000u64 {
        let mut rng = Rng(SEED ^ case.wrapping_mul(0xa076_1d64_78bd_642f));
        let (na, a) = rendered(&networked(&mut rng));
        let mut tighter = a.clone();
        let mut touched = Vec::new();
        for _ in 0..1 + rng.below(3) {
            touched.extend(network_tighten(&mut rng, &mut tighter));
        }
        if !touched.is_empty() {
            let nb =
                normal_of(&tighter).unwrap_or_else(|e| panic!("case {case}: {e}: {tighter:?}"));
            check_tightens(&na, &nb).unwrap_or_else(|e| {
                panic!(
                    "case {case}: a tightening is refused: {e}\na: {}\nb: {}",
                    serde_json::to_string(&a).unwrap_or_default(),
                    serde_json::to_string(&tighter).unwrap_or_default()
                )
            });
            network_no_looser(&mut rng, &na.network, &nb.network)
                .unwrap_or_else(|e| panic!("case {case}: the model disagrees: {e}"));
            for field in touched {
                *accepted.entry(field).or_default() += 1;
            }
        }
        let mut looser = a.clone();
        let Some(field) = network_loosen(&mut rng, &mut looser) else {
            continue;
        };
        let nb = normal_of(&looser).unwrap_or_else(|e| panic!("case {case}: {e}: {looser:?}"));
        if nb == na {
            continue;
        }
        let error = check_tightens(&na, &nb).expect_err(&format!(
            "case {case}: a loosening of {field} is accepted\na: {}\nb: {}",
            serde_json::to_string(&a).unwrap_or_default(),
            serde_json::to_string(&looser).unwrap_or_default()
        ));
        assert!(
            error.field.starts_with(&field),
            "case {case}: a loosening of {field} is refused as {error}"
        );
        refused += 1;
    }
    eprintln!("network: accepted tightenings {accepted:?}, refused loosenings {refused}");
    for field in ["drop", "loopback", "egress"] {
        assert!(
            accepted.get(field).copied().unwrap_or(0) > 100,
            "too few {field} tightenings: {accepted:?}"
        );
    }
    assert!(refused > 1000, "too few loosenings: {refused}");
}

#[test]
fn an_accepted_egress_list_allows_no_probe_more() {
    let one = |rules: Option<Vec<EgressRule>>| {
        Decision::allow().interface(Interface {
            network: Some("tenants".into()),
            egress: rules,
            ..Interface::default()
        })
    };
    let (mut accepted, mut changed, mut refused, mut probed) = (0u64, 0u64, 0u64, 0u64);
    for case in 0..20_000u64 {
        let mut rng = Rng(SEED ^ 0xe9 ^ case.wrapping_mul(0xe703_7ed1_a0b4_28db));
        let earlier = random_rules(&mut rng);
        let later = if rng.chance(10) {
            random_rules(&mut rng)
        } else {
            let mut later = earlier.clone();
            for _ in 0..1 + rng.below(3) {
                if later.is_empty() {
                    break;
                }
                let at = rng.below(later.len());
                let changed = if rng.chance(70) {
                    narrower(&mut rng, &later[at])
                } else {
                    wider(&mut rng, &later[at])
                };
                if let Some(rule) = changed {
                    if rng.chance(50) {
                        later[at] = rule;
                    } else {
                        later.push(rule);
                    }
                }
            }
            later
        };
        let na =
            normal_of(&one(Some(earlier.clone()))).unwrap_or_else(|e| panic!("case {case}: {e}"));
        let nb =
            normal_of(&one(Some(later.clone()))).unwrap_or_else(|e| panic!("case {case}: {e}"));
        if check_tightens(&na, &nb).is_err() {
            refused += 1;
            continue;
        }
        accepted += 1;
        if na != nb {
            changed += 1;
        }
        for probe in probes(&mut rng, &later) {
            probed += 1;
            assert!(
                !allowed(&later, &probe) || allowed(&earlier, &probe),
                "case {case}: {probe:?} is let out by the accepted later list only\nearlier: {}\nlater: {}",
                serde_json::to_string(&earlier).unwrap_or_default(),
                serde_json::to_string(&later).unwrap_or_default()
            );
        }
    }
    eprintln!(
        "egress: accepted {accepted} ({changed} changed), refused {refused}, probes {probed}"
    );
    assert!(
        changed > 2000 && refused > 2000,
        "{changed} changed, {refused} refused"
    );
}
