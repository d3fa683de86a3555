//! Pure rule generation: the nft JSON batches for the decision's egress
//! rules, and the checks of every name and rule that goes into them. No
//! I/O: the interfaces' indexes and the handles of old rules come in.

use std::borrow::Cow;

use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix};
use nftables::schema::{Chain, FlushObject, NfCmd, NfListObject, NfObject, Rule, Table};
use nftables::stmt::{Counter, JumpTarget, Mangle, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use policy_model::decision::{Cidr, EgressRule, Protocol};
use serde_json::{Value, json};

use super::{EgressError, TABLE};

/// The `inet` base chain that marks unbridged host ends' packets.
pub(crate) const PREROUTING: &str = "prerouting";
/// The `inet` base chain for routed traffic.
pub(crate) const FORWARD: &str = "forward";
/// The `inet` base chain for traffic to the host's own addresses.
pub(crate) const INPUT: &str = "input";
/// The `inet` base chain of the masquerade rules.
pub(crate) const POSTROUTING: &str = "postrouting";
/// The named counter replaced by every adding batch (module docs).
pub(crate) const GENERATION: &str = "generation";
/// The comment of a sandbox chain's final drop.
pub(crate) const DROPPED: &str = "dropped";
/// Chain names a sandbox chain may not take.
const RESERVED: [&str; 5] = [PREROUTING, FORWARD, INPUT, POSTROUTING, GENERATION];
/// nft's priority `raw` (and the bridge family's earliest usual one).
const PRIORITY_RAW: i32 = -300;
/// nft's priority `filter` in the inet family.
const PRIORITY_FILTER: i32 = 0;
/// nft's priority `srcnat`.
const PRIORITY_SRCNAT: i32 = 100;
/// The longest comment nft stores.
const MAX_COMMENT: usize = 128;

/// A host end with the mark its packets get (its interface index).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marked<'a> {
    /// The host end's name.
    pub name: &'a str,
    /// Its interface index, the packets' mark.
    pub mark: u32,
    /// What may leave through it.
    pub allow: &'a [EgressRule],
}

/// A rule already in the kernel, to delete by handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handle {
    /// Its table's family.
    pub family: NfFamily,
    /// Its chain.
    pub chain: String,
    /// Its handle.
    pub handle: u32,
}

/// Refuses a sandbox chain name nft would not take or that is one of ours.
pub(crate) fn check_chain(chain: &str) -> Result<(), EgressError> {
    let bad = |message: &str| EgressError::Name {
        what: "egress chain",
        name: chain.to_string(),
        message: message.to_string(),
    };
    if chain.is_empty() || chain.len() > 64 {
        return Err(bad("must be 1 to 64 characters"));
    }
    if !chain
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad("may hold only letters, digits, '-' and '_'"));
    }
    if RESERVED.contains(&chain) {
        return Err(bad("is one of the enforcer's own chains"));
    }
    Ok(())
}

/// Refuses an interface name the kernel would not take (`what`: which).
pub(crate) fn check_interface(what: &'static str, name: &str) -> Result<(), EgressError> {
    let bad = |message: &str| EgressError::Name {
        what,
        name: name.to_string(),
        message: message.to_string(),
    };
    if name.is_empty() || name.len() > policy_model::decision::MAX_INTERFACE_NAME {
        return Err(bad("must be 1 to 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(bad("is not an interface name"));
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == b'"' || b == b'\\' || !b.is_ascii_graphic())
    {
        return Err(bad(
            "may not hold '/', ':', quotes, backslashes, spaces or control characters",
        ));
    }
    Ok(())
}

/// Refuses a network name that cannot be a comment.
pub(crate) fn check_network(network: &str) -> Result<(), EgressError> {
    let ok = !network.is_empty()
        && network.len() <= MAX_COMMENT
        && network
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(EgressError::Name {
            what: "network",
            name: network.to_string(),
            message: "must be 1 to 128 printable characters without quotes or backslashes"
                .to_string(),
        })
    }
}

fn string(text: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(text.into()))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn mark_is(mark: u32) -> Statement<'static> {
    matches(meta(MetaKey::Mark), Operator::EQ, Expression::Number(mark))
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

/// An address or a block, as nft's right-hand side.
fn cidr_expression(cidr: Cidr) -> Expression<'static> {
    let full = if cidr.is_ipv4() { 32 } else { 128 };
    if cidr.prefix == full {
        string(cidr.address.to_string())
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(string(cidr.address.to_string())),
            len: u32::from(cidr.prefix),
        }))
    }
}

/// `ip daddr <cidr>` or `ip6 daddr <cidr>`.
fn daddr(cidr: Cidr) -> Statement<'static> {
    let family = if cidr.is_ipv4() { "ip" } else { "ip6" };
    matches(
        payload(family, "daddr"),
        Operator::EQ,
        cidr_expression(cidr),
    )
}

/// `ip saddr <cidr>` or `ip6 saddr <cidr>`.
fn saddr(cidr: Cidr) -> Statement<'static> {
    let family = if cidr.is_ipv4() { "ip" } else { "ip6" };
    matches(
        payload(family, "saddr"),
        Operator::EQ,
        cidr_expression(cidr),
    )
}

/// The matches of one allowed rule (without the mark and the verdict),
/// after checking it; the error names the rule.
pub(crate) fn allow_matches(
    interface: &str,
    index: usize,
    rule: &EgressRule,
) -> Result<Vec<Statement<'static>>, EgressError> {
    let invalid = |message: String| EgressError::Invalid {
        interface: interface.to_string(),
        index,
        rule: serde_json::to_string(rule).unwrap_or_else(|_| format!("{rule:?}")),
        message,
    };
    let destination =
        Cidr::parse(&rule.destination).map_err(|err| invalid(format!("destination: {err}")))?;
    let ports = match (rule.port, rule.end_port) {
        (None, None) => None,
        (None, Some(_)) => return Err(invalid("endPort needs port".into())),
        (Some(0), _) => return Err(invalid("port 0 is not a port".into())),
        (Some(first), last) => {
            let last = last.unwrap_or(first);
            if last < first {
                return Err(invalid(format!("endPort {last} is below port {first}")));
            }
            Some((first, last))
        }
    };
    let mut statements = vec![daddr(destination)];
    match (rule.protocol, ports) {
        (None, None) => {}
        (None | Some(Protocol::Icmp), Some(_)) => {
            return Err(invalid("a port needs protocol tcp or udp".into()));
        }
        (Some(Protocol::Icmp), None) => {
            let l4 = if destination.is_ipv4() {
                "icmp"
            } else {
                "ipv6-icmp"
            };
            statements.push(matches(meta(MetaKey::L4proto), Operator::EQ, string(l4)));
        }
        (Some(protocol @ (Protocol::Tcp | Protocol::Udp)), None) => {
            statements.push(matches(
                meta(MetaKey::L4proto),
                Operator::EQ,
                string(protocol.as_str()),
            ));
        }
        (Some(protocol @ (Protocol::Tcp | Protocol::Udp)), Some((first, last))) => {
            let name = if protocol == Protocol::Tcp {
                "tcp"
            } else {
                "udp"
            };
            let right = if first == last {
                Expression::Number(u32::from(first))
            } else {
                Expression::Range(Box::new(nftables::expr::Range {
                    range: [
                        Expression::Number(u32::from(first)),
                        Expression::Number(u32::from(last)),
                    ],
                }))
            };
            statements.push(matches(payload(name, "dport"), Operator::EQ, right));
        }
    }
    Ok(statements)
}

fn rule(
    family: NfFamily,
    chain: &str,
    expr: Vec<Statement<'static>>,
    comment: Option<&str>,
) -> Rule<'static> {
    Rule {
        family,
        table: TABLE.into(),
        chain: chain.to_string().into(),
        expr: expr.into(),
        handle: None,
        index: None,
        comment: comment.map(|comment| comment.to_string().into()),
    }
}

/// The sandbox chain's rules, in order: established/related, neighbour
/// discovery per host end, the allowed rules per host end, the counted
/// drop.
pub(crate) fn chain_rules(
    chain: &str,
    interfaces: &[Marked<'_>],
) -> Result<Vec<Rule<'static>>, EgressError> {
    let mut rules = vec![rule(
        NfFamily::INet,
        chain,
        vec![
            matches(
                Expression::Named(NamedExpression::CT(nftables::expr::CT {
                    key: "state".into(),
                    family: None,
                    dir: None,
                })),
                Operator::IN,
                Expression::List(vec![string("established"), string("related")]),
            ),
            accept(),
        ],
        None,
    )];
    for interface in interfaces {
        rules.push(rule(
            NfFamily::INet,
            chain,
            vec![
                mark_is(interface.mark),
                matches(meta(MetaKey::L4proto), Operator::EQ, string("ipv6-icmp")),
                matches(
                    payload("icmpv6", "type"),
                    Operator::EQ,
                    Expression::Named(NamedExpression::Set(
                        [
                            "nd-neighbor-solicit",
                            "nd-neighbor-advert",
                            "nd-router-solicit",
                        ]
                        .into_iter()
                        .map(|kind| nftables::expr::SetItem::Element(string(kind)))
                        .collect(),
                    )),
                ),
                accept(),
            ],
            None,
        ));
    }
    for interface in interfaces {
        for (index, allowed) in interface.allow.iter().enumerate() {
            let mut expr = vec![mark_is(interface.mark)];
            expr.extend(allow_matches(interface.name, index, allowed)?);
            expr.push(accept());
            rules.push(rule(NfFamily::INet, chain, expr, None));
        }
    }
    rules.push(rule(
        NfFamily::INet,
        chain,
        vec![
            Statement::Counter(Counter::Anonymous(None)),
            Statement::Drop(None),
        ],
        Some(DROPPED),
    ));
    Ok(rules)
}

fn table(family: NfFamily) -> Table<'static> {
    Table {
        family,
        name: TABLE.into(),
        handle: None,
    }
}

fn chain(family: NfFamily, name: &str) -> Chain<'static> {
    Chain {
        family,
        table: TABLE.into(),
        name: name.to_string().into(),
        ..Chain::default()
    }
}

fn base_chain(
    family: NfFamily,
    name: &str,
    kind: NfChainType,
    hook: NfHook,
    prio: i32,
) -> Chain<'static> {
    Chain {
        _type: Some(kind),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..chain(family, name)
    }
}

/// A batch under construction: typed objects serialized as they come, plus
/// the few commands the crate's types would serialize with `null`s nft
/// refuses (the named counter).
#[derive(Debug, Default)]
pub(crate) struct Batch(Vec<Value>);

impl Batch {
    fn push(&mut self, object: NfObject<'static>) {
        // Serializing the crate's own types into a Value cannot fail (no
        // maps with non-string keys, no failing Serialize impls).
        if let Ok(value) = serde_json::to_value(object) {
            self.0.push(value);
        }
    }

    fn add(&mut self, object: NfListObject<'static>) {
        self.push(NfObject::CmdObject(NfCmd::Add(object)));
    }

    fn delete(&mut self, object: NfListObject<'static>) {
        self.push(NfObject::CmdObject(NfCmd::Delete(object)));
    }

    /// The JSON document `nft -j -f -` reads.
    pub(crate) fn document(&self) -> Value {
        json!({ "nftables": self.0 })
    }

    /// The commands, for tests.
    #[cfg(test)]
    pub(crate) fn commands(&self) -> &[Value] {
        &self.0
    }

    /// Both tables and every base chain, when missing (`add` leaves
    /// existing ones as they are).
    fn base(&mut self) {
        self.add(NfListObject::Table(table(NfFamily::INet)));
        for (name, kind, hook, prio) in [
            (
                PREROUTING,
                NfChainType::Filter,
                NfHook::Prerouting,
                PRIORITY_RAW,
            ),
            (
                FORWARD,
                NfChainType::Filter,
                NfHook::Forward,
                PRIORITY_FILTER,
            ),
            (INPUT, NfChainType::Filter, NfHook::Input, PRIORITY_FILTER),
            (
                POSTROUTING,
                NfChainType::NAT,
                NfHook::Postrouting,
                PRIORITY_SRCNAT,
            ),
        ] {
            self.add(NfListObject::Chain(base_chain(
                NfFamily::INet,
                name,
                kind,
                hook,
                prio,
            )));
        }
        self.add(NfListObject::Table(table(NfFamily::Bridge)));
        self.add(NfListObject::Chain(base_chain(
            NfFamily::Bridge,
            PREROUTING,
            NfChainType::Filter,
            NfHook::Prerouting,
            PRIORITY_RAW,
        )));
    }

    /// Replaces the counter `generation` (a new handle): see the module
    /// docs' *Concurrency*.
    fn bump_generation(&mut self) {
        let counter = json!({ "family": "inet", "table": TABLE, "name": GENERATION });
        self.0
            .push(json!({ "add": { "counter": counter.clone() } }));
        self.0
            .push(json!({ "delete": { "counter": counter.clone() } }));
        self.0.push(json!({ "add": { "counter": counter } }));
    }

    fn delete_rules(&mut self, old: &[Handle]) {
        for old in old {
            let mut deleted = rule(old.family, &old.chain, Vec::new(), None);
            deleted.handle = Some(old.handle);
            self.delete(NfListObject::Rule(deleted));
        }
    }

    /// Deletes both tables, but only if `generation` still has `handle`.
    fn delete_tables(&mut self, generation: u32, bridge_table: bool) {
        self.0.push(json!({ "delete": { "counter": {
            "family": "inet", "table": TABLE, "handle": generation } } }));
        self.delete(NfListObject::Table(table(NfFamily::INet)));
        if bridge_table {
            self.delete(NfListObject::Table(table(NfFamily::Bridge)));
        }
    }
}

/// The batch that installs `chain` for `interfaces`, deleting the `old`
/// mark and jump rules of a previous install.
pub(crate) fn install_batch(
    chain_name: &str,
    interfaces: &[Marked<'_>],
    old: &[Handle],
) -> Result<Batch, EgressError> {
    check_chain(chain_name)?;
    for interface in interfaces {
        check_interface("host interface", interface.name)?;
    }
    let rules = chain_rules(chain_name, interfaces)?;
    let mut batch = Batch::default();
    batch.base();
    batch.bump_generation();
    batch.delete_rules(old);
    batch.add(NfListObject::Chain(chain(NfFamily::INet, chain_name)));
    batch.push(NfObject::CmdObject(NfCmd::Flush(FlushObject::Chain(
        chain(NfFamily::INet, chain_name),
    ))));
    for rule in rules {
        batch.add(NfListObject::Rule(rule));
    }
    for interface in interfaces {
        let set_mark = || {
            vec![
                matches(meta(MetaKey::Iifname), Operator::EQ, string(interface.name)),
                Statement::Mangle(Mangle {
                    key: meta(MetaKey::Mark),
                    value: Expression::Number(interface.mark),
                }),
            ]
        };
        for family in [NfFamily::Bridge, NfFamily::INet] {
            batch.add(NfListObject::Rule(rule(
                family,
                PREROUTING,
                set_mark(),
                Some(chain_name),
            )));
        }
        for hook in [FORWARD, INPUT] {
            batch.add(NfListObject::Rule(rule(
                NfFamily::INet,
                hook,
                vec![
                    mark_is(interface.mark),
                    Statement::Jump(JumpTarget {
                        target: chain_name.to_string().into(),
                    }),
                ],
                Some(chain_name),
            )));
        }
    }
    Ok(batch)
}

/// The batch that removes `chain_name` (when `chain_exists`) and its
/// `old` rules, and the tables too when `delete_tables` gives the listed
/// handle of `generation` (and whether the bridge table exists).
pub(crate) fn remove_batch(
    chain_name: &str,
    chain_exists: bool,
    old: &[Handle],
    delete_tables: Option<(u32, bool)>,
) -> Batch {
    let mut batch = Batch::default();
    batch.delete_rules(old);
    if chain_exists {
        batch.delete(NfListObject::Chain(chain(NfFamily::INet, chain_name)));
    }
    if let Some((generation, bridge_table)) = delete_tables {
        batch.delete_tables(generation, bridge_table);
    }
    batch
}

/// The batch that sets `network`'s masquerade rule, deleting the `old`
/// ones.
pub(crate) fn masquerade_batch(
    network: &str,
    subnet: Cidr,
    bridge: &str,
    old: &[Handle],
) -> Result<Batch, EgressError> {
    check_network(network)?;
    check_interface("bridge", bridge)?;
    let mut batch = Batch::default();
    batch.base();
    batch.bump_generation();
    batch.delete_rules(old);
    batch.add(NfListObject::Rule(rule(
        NfFamily::INet,
        POSTROUTING,
        vec![
            saddr(subnet),
            matches(meta(MetaKey::Oifname), Operator::NEQ, string(bridge)),
            Statement::Masquerade(None),
        ],
        Some(network),
    )));
    Ok(batch)
}

/// The batch that deletes `old` masquerade rules, and the tables too as
/// in [`remove_batch`].
pub(crate) fn unmasquerade_batch(old: &[Handle], delete_tables: Option<(u32, bool)>) -> Batch {
    let mut batch = Batch::default();
    batch.delete_rules(old);
    if let Some((generation, bridge_table)) = delete_tables {
        batch.delete_tables(generation, bridge_table);
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_with(
        destination: &str,
        protocol: Option<Protocol>,
        port: Option<u16>,
        end_port: Option<u16>,
    ) -> EgressRule {
        EgressRule {
            destination: destination.to_string(),
            protocol,
            port,
            end_port,
        }
    }

    fn json_of(statements: &[Statement<'static>]) -> Value {
        serde_json::to_value(statements).expect("json")
    }

    /// Every protocol × port shape × family: the JSON made, or the error.
    #[test]
    fn every_protocol_port_and_family_combination() {
        let protocols = [
            None,
            Some(Protocol::Tcp),
            Some(Protocol::Udp),
            Some(Protocol::Icmp),
        ];
        let ports = [
            (None, None),
            (Some(80), None),
            (Some(80), Some(80)),
            (Some(80), Some(90)),
            (None, Some(90)),
            (Some(90), Some(80)),
            (Some(0), None),
        ];
        let families = [
            (
                "192.0.2.0/24",
                "ip",
                json!({"prefix": {"addr": "192.0.2.0", "len": 24}}),
            ),
            ("192.0.2.7", "ip", json!("192.0.2.7")),
            (
                "2001:db8::/32",
                "ip6",
                json!({"prefix": {"addr": "2001:db8::", "len": 32}}),
            ),
            ("2001:db8::7", "ip6", json!("2001:db8::7")),
        ];
        let mut made = 0;
        for protocol in protocols {
            for (port, end_port) in ports {
                for (destination, family, address) in &families {
                    let rule = rule_with(destination, protocol, port, end_port);
                    let result = allow_matches("enf0", 3, &rule);
                    let daddr = json!({"match": {"op": "==", "left": {"payload": {"protocol": family, "field": "daddr"}}, "right": address}});
                    let valid_ports = match (port, end_port) {
                        (None, None) => Some(None),
                        (Some(first), last) if first > 0 && last.unwrap_or(first) >= first => {
                            Some(Some((first, last.unwrap_or(first))))
                        }
                        _ => None,
                    };
                    let expected = match (protocol, valid_ports) {
                        (_, None) => None,
                        (None, Some(None)) => Some(vec![daddr]),
                        (None | Some(Protocol::Icmp), Some(Some(_))) => None,
                        (Some(Protocol::Icmp), Some(None)) => {
                            let l4 = if *family == "ip" { "icmp" } else { "ipv6-icmp" };
                            Some(vec![
                                daddr,
                                json!({"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": l4}}),
                            ])
                        }
                        (Some(p), Some(None)) => Some(vec![
                            daddr,
                            json!({"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": p.as_str()}}),
                        ]),
                        (Some(p), Some(Some((first, last)))) => {
                            let right = if first == last {
                                json!(first)
                            } else {
                                json!({"range": [first, last]})
                            };
                            Some(vec![
                                daddr,
                                json!({"match": {"op": "==", "left": {"payload": {"protocol": p.as_str(), "field": "dport"}}, "right": right}}),
                            ])
                        }
                    };
                    match (result, expected) {
                        (Ok(statements), Some(expected)) => {
                            assert_eq!(json_of(&statements), Value::Array(expected), "{rule:?}");
                            made += 1;
                        }
                        (
                            Err(EgressError::Invalid {
                                interface,
                                index,
                                rule: text,
                                ..
                            }),
                            None,
                        ) => {
                            assert_eq!((interface.as_str(), index), ("enf0", 3));
                            assert!(text.contains(destination), "{text}");
                        }
                        (result, expected) => {
                            panic!("{rule:?}: {result:?} but expected {expected:?}")
                        }
                    }
                }
            }
        }
        assert_eq!(made, 4 * (1 + 1 + 2 * 4));
    }

    #[test]
    fn bad_destinations_are_refused() {
        for destination in [
            "192.0.2.1/24",
            "example.com",
            "",
            "2001:db8::1/129",
            "192.0.2.0/",
        ] {
            let err =
                allow_matches("enf0", 0, &EgressRule::to(destination)).expect_err(destination);
            assert!(err.to_string().contains("destination"), "{err}");
        }
    }

    #[test]
    fn names_are_checked() {
        for good in ["sandbox-0123456789abcdef", "a_b"] {
            check_chain(good).expect(good);
        }
        for bad in [
            "",
            "forward",
            "generation",
            "a b",
            "a;b",
            "a\"b",
            &"x".repeat(65),
        ] {
            assert!(check_chain(bad).is_err(), "{bad:?}");
        }
        check_interface("host interface", "enf0123456789i0").expect("derived name");
        for bad in ["", "enf0123456789i10", "a/b", "a b", "a:b", "..", "a\"b"] {
            assert!(check_interface("host interface", bad).is_err(), "{bad:?}");
        }
        check_network("web-1").expect("network");
        for bad in ["", "a b", "a\"b", &"n".repeat(129)] {
            assert!(check_network(bad).is_err(), "{bad:?}");
        }
    }

    use crate::network::test_support::Rng;

    fn random_rule(rng: &mut Rng) -> EgressRule {
        let destination = match rng.below(4) {
            0 => format!("192.0.2.{}", rng.below(256)),
            1 => format!("198.51.100.{}/30", 4 * rng.below(64)),
            2 => format!("2001:db8::{:x}", rng.below(0x10000)),
            _ => "203.0.113.0/24".to_string(),
        };
        let protocol = [
            None,
            Some(Protocol::Tcp),
            Some(Protocol::Udp),
            Some(Protocol::Icmp),
        ][rng.below(4) as usize];
        let (port, end_port) = match protocol {
            Some(Protocol::Tcp | Protocol::Udp) if rng.below(2) == 0 => {
                let first = 1 + rng.below(60000) as u16;
                (
                    Some(first),
                    (rng.below(2) == 0).then(|| first + rng.below(1000) as u16),
                )
            }
            _ => (None, None),
        };
        rule_with(&destination, protocol, port, end_port)
    }

    /// Over random rule lists on random interfaces: the chain is
    /// established/related first, one neighbour-discovery rule per
    /// interface, each allowed rule exactly once (in order, under its
    /// interface's mark), the counted drop last.
    #[test]
    fn random_rule_lists_appear_once_each_and_the_drop_is_last() {
        let mut rng = Rng(0x6567_7265_7373_2d31);
        for case in 0..2000 {
            let names: Vec<String> = (0..rng.below(4)).map(|i| format!("enf{i}")).collect();
            let allows: Vec<Vec<EgressRule>> = names
                .iter()
                .map(|_| (0..rng.below(6)).map(|_| random_rule(&mut rng)).collect())
                .collect();
            let marked: Vec<Marked<'_>> = names
                .iter()
                .zip(&allows)
                .enumerate()
                .map(|(i, (name, allow))| Marked {
                    name,
                    mark: 10 + i as u32,
                    allow,
                })
                .collect();
            let rules = chain_rules("sandbox-x", &marked).expect("valid rules");
            let rendered: Vec<Value> = rules.iter().map(|rule| json_of(&rule.expr)).collect();
            let total: usize = allows.iter().map(Vec::len).sum();
            assert_eq!(rules.len(), 1 + names.len() + total + 1, "case {case}");
            assert_eq!(
                rendered[0][0]["match"]["left"]["ct"]["key"], "state",
                "case {case}"
            );
            let last = rules.last().expect("drop");
            assert_eq!(last.comment.as_deref(), Some(DROPPED));
            assert_eq!(
                json_of(&last.expr),
                json!([{"counter": null}, {"drop": null}]),
                "case {case}"
            );
            assert!(rules.iter().all(|rule| rule.chain == "sandbox-x"));
            for interface in &marked {
                for (index, allowed) in interface.allow.iter().enumerate() {
                    let mut expected = vec![mark_is(interface.mark)];
                    expected.extend(allow_matches(interface.name, index, allowed).expect("valid"));
                    expected.push(accept());
                    let expected = json_of(&expected);
                    let wanted = interface
                        .allow
                        .iter()
                        .filter(|other| *other == allowed)
                        .count();
                    let found = rendered.iter().filter(|rule| **rule == expected).count();
                    assert_eq!(found, wanted, "case {case}: {allowed:?}");
                }
            }
            let drops = rendered
                .iter()
                .filter(|rule| rule.to_string().contains("\"drop\""))
                .count();
            assert_eq!(drops, 1, "case {case}");
        }
    }

    #[test]
    fn install_batch_holds_one_mark_and_two_jumps_per_interface() {
        let allow = [EgressRule::tcp("192.0.2.1", 443)];
        let marked = [
            Marked {
                name: "enf0",
                mark: 7,
                allow: &allow,
            },
            Marked {
                name: "enf1",
                mark: 8,
                allow: &[],
            },
        ];
        let old = [Handle {
            family: NfFamily::INet,
            chain: FORWARD.to_string(),
            handle: 42,
        }];
        let batch = install_batch("sandbox-x", &marked, &old).expect("batch");
        let text = batch.document().to_string();
        let commands = batch.commands();
        let delete_old = commands
            .iter()
            .position(|c| c["delete"]["rule"]["handle"] == 42)
            .expect("old jump deleted");
        let flush = commands
            .iter()
            .position(|c| c["flush"]["chain"]["name"] == "sandbox-x")
            .expect("flush");
        assert!(delete_old < flush);
        let jumps = commands
            .iter()
            .filter(|c| c["add"]["rule"]["comment"] == "sandbox-x")
            .count();
        assert_eq!(jumps, 2 * 4, "{text}");
        assert!(
            text.contains("\"jump\":{\"target\":\"sandbox-x\"}"),
            "{text}"
        );
        assert!(
            install_batch(
                "sandbox-x",
                &[Marked {
                    name: "enf0",
                    mark: 7,
                    allow: &[EgressRule::tcp("192.0.2.1/24", 1)]
                }],
                &[]
            )
            .is_err()
        );
    }
}
