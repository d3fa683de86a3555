//! What a sandbox's state records of its network: enough for `delete`,
//! the end of its run and `gc` to remove it without the operator's config
//! (which may have changed since).

use serde::{Deserialize, Serialize};

use super::lease::AddressLease;

/// The network of one sandbox, recorded before anything of it is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkRecord {
    /// Its interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceRecord>,
    /// Its egress chain in the table `inet enforcer`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
}

/// One interface of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterfaceRecord {
    /// Its name in the sandbox.
    pub name: String,
    /// The host end's name.
    pub host_name: String,
    /// The host end's interface index once the enforcer made it: only a
    /// link of that name with that index is removed at the end (a name a
    /// policy chose may be a link of the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_index: Option<u32>,
    /// The operator's network it is on; `None`: an isolated pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The network's bridge (removed with the network's last sandbox if
    /// the enforcer made it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// The addresses leased to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<AddressLease>,
}

impl NetworkRecord {
    /// The networks it uses, each once, with their bridges.
    pub fn networks(&self) -> Vec<(&str, Option<&str>)> {
        let mut networks: Vec<(&str, Option<&str>)> = Vec::new();
        for interface in &self.interfaces {
            if let Some(network) = interface.network.as_deref()
                && !networks.iter().any(|(name, _)| *name == network)
            {
                networks.push((network, interface.bridge.as_deref()));
            }
        }
        networks
    }
}
