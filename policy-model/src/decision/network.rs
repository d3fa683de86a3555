//! The sandbox's network: whether its loopback is up, and the interfaces
//! the enforcer gives its new network namespace (an enforcer extension
//! beside the OCI fields, the top-level key `network`).
//!
//! A policy chooses *networks* (by the names the operator's config
//! declares) and *egress* (where the workload may connect to); it never
//! picks addresses: the enforcer leases those from the network's subnet.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The in-sandbox name of an interface that gives none.
pub const DEFAULT_INTERFACE: &str = "eth0";

/// The most interfaces one sandbox may have.
pub const MAX_INTERFACES: usize = 8;

/// The longest interface name the kernel takes (`IFNAMSIZ` - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// The sandbox's network (`network`): only meaningful with a new network
/// namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxNetwork {
    /// Whether `lo` is brought up [default: `true`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loopback: Option<bool>,
    /// The interfaces the enforcer creates, each one end of a veth pair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
}

/// One interface of the sandbox: the sandbox's end of a veth pair whose
/// other end stays on the host, attached to a network's bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Interface {
    /// Its name in the sandbox [default: `eth0`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The host end's name [default: derived from the sandbox id].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// Its MTU [default: the network's, else the kernel's].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The operator's network it joins, by name; absent: an isolated pair
    /// (no address, no bridge) the caller wires itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The destinations the workload may reach through it; absent: the
    /// network's default. An empty list allows nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EgressRule>>,
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressRule {
    /// An address or a CIDR block, IPv4 or IPv6 (`192.0.2.0/24`,
    /// `2001:db8::1`).
    pub destination: String,
    /// Only this protocol [default: every protocol].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Only this destination port (or the first of a range); needs
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The last port of the range starting at `port` (Kubernetes
    /// NetworkPolicy's `endPort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<u16>,
}

/// The protocols an egress rule may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP, and ICMPv6 for an IPv6 destination.
    Icmp,
}

impl Protocol {
    /// Its name in a decision (`tcp`, `udp`, `icmp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EgressRule {
    /// Every destination, every protocol (IPv4 `0.0.0.0/0`).
    pub fn all_ipv4() -> EgressRule {
        EgressRule::to("0.0.0.0/0")
    }

    /// Every destination, every protocol (IPv6 `::/0`).
    pub fn all_ipv6() -> EgressRule {
        EgressRule::to("::/0")
    }

    /// Any protocol to `destination`.
    pub fn to(destination: impl Into<String>) -> EgressRule {
        EgressRule {
            destination: destination.into(),
            protocol: None,
            port: None,
            end_port: None,
        }
    }

    /// TCP to `destination` on `port`.
    pub fn tcp(destination: impl Into<String>, port: u16) -> EgressRule {
        EgressRule {
            protocol: Some(Protocol::Tcp),
            port: Some(port),
            ..EgressRule::to(destination)
        }
    }

    /// UDP to `destination` on `port`.
    pub fn udp(destination: impl Into<String>, port: u16) -> EgressRule {
        EgressRule {
            protocol: Some(Protocol::Udp),
            port: Some(port),
            ..EgressRule::to(destination)
        }
    }

    /// The ports it allows, first and last; `None`: every port.
    pub fn port_range(&self) -> Option<(u16, u16)> {
        self.port
            .map(|first| (first, self.end_port.unwrap_or(first)))
    }
}

/// An IPv4 or IPv6 block: an address with its prefix length, host bits
/// cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The first address of the block.
    pub address: IpAddr,
    /// The prefix length (0..=32 for IPv4, 0..=128 for IPv6).
    pub prefix: u8,
}

/// Why a string is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an address.
    #[error("{0:?} is not an IPv4 or IPv6 address")]
    Address(String),
    /// The prefix length is not a number in range.
    #[error("{0:?} is not a prefix length (0 to 32 for IPv4, 0 to 128 for IPv6)")]
    Prefix(String),
    /// The address has bits set past the prefix.
    #[error("{given} has host bits set: the block is {block}")]
    HostBits {
        /// What was given.
        given: String,
        /// The block it lies in.
        block: Cidr,
    },
}

impl Cidr {
    /// Parses `address` or `address/prefix`, refusing host bits past the
    /// prefix (`192.0.2.1/24` is an error: write `192.0.2.0/24`).
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let cidr = Cidr::parse_lenient(text)?;
        let (address, _) = text.split_once('/').unwrap_or((text, ""));
        let given: IpAddr = address
            .parse()
            .map_err(|_| CidrError::Address(address.to_string()))?;
        if given != cidr.address {
            return Err(CidrError::HostBits {
                given: text.to_string(),
                block: cidr,
            });
        }
        Ok(cidr)
    }

    /// Parses `address` or `address/prefix`, clearing host bits
    /// (`192.0.2.1/24` is `192.0.2.0/24`).
    pub fn parse_lenient(text: &str) -> Result<Cidr, CidrError> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| CidrError::Address(address.to_string()))?;
        let width = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => width,
            Some(text) => match text.parse::<u8>() {
                Ok(prefix) if prefix <= width && text.bytes().all(|b| b.is_ascii_digit()) => prefix,
                _ => return Err(CidrError::Prefix(text.to_string())),
            },
        };
        Ok(Cidr {
            address: mask(address, prefix),
            prefix,
        })
    }

    /// Whether it is an IPv4 block.
    pub fn is_ipv4(&self) -> bool {
        self.address.is_ipv4()
    }

    /// Whether `address` lies in the block.
    pub fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.is_ipv4() && mask(address, self.prefix) == self.address
    }

    /// Whether every address of `other` lies in this block.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.address)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        Cidr::parse(text)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::V4(Ipv4Addr::from(bits & kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::V6(Ipv6Addr::from(bits & kept))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_parse_and_cover() {
        let block = Cidr::parse("192.0.2.0/24").expect("block");
        assert_eq!(block.to_string(), "192.0.2.0/24");
        assert!(block.contains("192.0.2.9".parse().expect("address")));
        assert!(!block.contains("198.51.100.9".parse().expect("address")));
        assert!(block.covers(&Cidr::parse("192.0.2.8/29").expect("block")));
        assert!(!block.covers(&Cidr::parse("192.0.0.0/16").expect("block")));
        assert_eq!(Cidr::parse("2001:db8::1").expect("v6").prefix, 128);
        assert!(Cidr::parse("0.0.0.0/0").expect("all").covers(&block));
        assert!(!Cidr::parse("::/0").expect("all").covers(&block));
        assert!(matches!(
            Cidr::parse("192.0.2.1/24"),
            Err(CidrError::HostBits { .. })
        ));
        assert_eq!(
            Cidr::parse_lenient("192.0.2.1/24")
                .expect("lenient")
                .to_string(),
            "192.0.2.0/24"
        );
        for bad in [
            "192.0.2.0/33",
            "192.0.2.0/",
            "x/8",
            "192.0.2.0/+8",
            "::/129",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
