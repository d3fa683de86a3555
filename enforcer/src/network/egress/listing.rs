//! What is in the enforcer's tables, read from `nft -j list table ...`
//! (pure: the JSON comes in).

use nftables::types::NfFamily;
use serde_json::Value;

use super::rules::{DROPPED, FORWARD, GENERATION, Handle, INPUT, POSTROUTING, PREROUTING};

/// The base chains of the `inet` table.
const INET_BASE: [&str; 4] = [PREROUTING, FORWARD, INPUT, POSTROUTING];

/// One rule as listed.
#[derive(Debug, Clone)]
pub(crate) struct ListedRule {
    family: NfFamily,
    chain: String,
    handle: u32,
    comment: Option<String>,
    expr: Value,
}

/// The enforcer's two tables as listed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    /// Whether `bridge enforcer` exists.
    pub bridge: bool,
    chains: Vec<String>,
    rules: Vec<ListedRule>,
    /// The handle of the counter `generation`.
    pub generation: Option<u32>,
}

impl Listing {
    /// Reads the listings of `inet enforcer` and `bridge enforcer` (`None`:
    /// the table is absent).
    pub(crate) fn parse(inet: Option<&Value>, bridge: Option<&Value>) -> Result<Listing, String> {
        let mut listing = Listing {
            bridge: bridge.is_some(),
            ..Listing::default()
        };
        for (document, family) in [(inet, NfFamily::INet), (bridge, NfFamily::Bridge)] {
            let Some(document) = document else { continue };
            let objects = document
                .get("nftables")
                .and_then(Value::as_array)
                .ok_or("no \"nftables\" array")?;
            for object in objects {
                listing.read(object, family)?;
            }
        }
        Ok(listing)
    }

    fn read(&mut self, object: &Value, family: NfFamily) -> Result<(), String> {
        if let Some(chain) = object.get("chain") {
            let name = text(chain, "name")?;
            if family == NfFamily::INet && !INET_BASE.contains(&name.as_str()) {
                self.chains.push(name);
            }
        } else if let Some(rule) = object.get("rule") {
            self.rules.push(ListedRule {
                family,
                chain: text(rule, "chain")?,
                handle: handle(rule)?,
                comment: rule
                    .get("comment")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                expr: rule.get("expr").cloned().unwrap_or(Value::Null),
            });
        } else if let Some(counter) = object.get("counter")
            && family == NfFamily::INet
            && text(counter, "name")? == GENERATION
        {
            self.generation = Some(handle(counter)?);
        }
        Ok(())
    }

    /// The sandbox chains (every regular chain of the `inet` table).
    pub(crate) fn sandbox_chains(&self) -> &[String] {
        &self.chains
    }

    /// Whether the sandbox chain `chain` exists.
    pub(crate) fn has_chain(&self, chain: &str) -> bool {
        self.chains.iter().any(|name| name == chain)
    }

    /// The mark and jump rules of sandbox chain `chain` in the base chains.
    pub(crate) fn jumps(&self, chain: &str) -> Vec<Handle> {
        self.base_rules(|rule| rule.chain != POSTROUTING && rule.comment.as_deref() == Some(chain))
    }

    /// The masquerade rules of `network`.
    pub(crate) fn masquerades(&self, network: &str) -> Vec<Handle> {
        self.base_rules(|rule| {
            rule.family == NfFamily::INet
                && rule.chain == POSTROUTING
                && rule.comment.as_deref() == Some(network)
        })
    }

    fn base_rules(&self, keep: impl Fn(&ListedRule) -> bool) -> Vec<Handle> {
        self.rules
            .iter()
            .filter(|rule| {
                rule.family == NfFamily::Bridge || INET_BASE.contains(&rule.chain.as_str())
            })
            .filter(|rule| keep(rule))
            .map(|rule| Handle {
                family: rule.family,
                chain: rule.chain.clone(),
                handle: rule.handle,
            })
            .collect()
    }

    /// Whether anything of ours is left once chain `gone_chain` (and its
    /// rules) and the masquerade rules of `gone_network` are deleted.
    pub(crate) fn anything_left(
        &self,
        gone_chain: Option<&str>,
        gone_network: Option<&str>,
    ) -> bool {
        let chains = self
            .chains
            .iter()
            .any(|name| Some(name.as_str()) != gone_chain);
        let masquerades = self.rules.iter().any(|rule| {
            rule.family == NfFamily::INet
                && rule.chain == POSTROUTING
                && rule.comment.as_deref() != gone_network
        });
        let jumps = self.rules.iter().any(|rule| {
            rule.chain != POSTROUTING
                && (rule.family == NfFamily::Bridge || INET_BASE.contains(&rule.chain.as_str()))
                && rule.comment.as_deref() != gone_chain
        });
        chains || masquerades || jumps
    }

    /// The packets and bytes of `chain`'s final counted drop.
    pub(crate) fn dropped(&self, chain: &str) -> Option<(u64, u64)> {
        let rule = self.rules.iter().find(|rule| {
            rule.family == NfFamily::INet
                && rule.chain == chain
                && rule.comment.as_deref() == Some(DROPPED)
        })?;
        let counter = rule
            .expr
            .as_array()?
            .iter()
            .find_map(|statement| statement.get("counter"))?;
        Some((
            counter.get("packets")?.as_u64()?,
            counter.get("bytes")?.as_u64()?,
        ))
    }
}

fn text(object: &Value, key: &str) -> Result<String, String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("an object without {key:?}: {object}"))
}

fn handle(object: &Value) -> Result<u32, String> {
    object
        .get("handle")
        .and_then(Value::as_u64)
        .and_then(|handle| u32::try_from(handle).ok())
        .ok_or_else(|| format!("an object without a handle: {object}"))
}
