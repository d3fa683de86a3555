//! A sandbox's interfaces as `ps` and `stats` show them: names, network,
//! addresses, and traffic counters from the sandbox's side.

use serde::Serialize;

use super::netlink::LinkStats;
use super::record::NetworkRecord;

/// One interface of a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceListing {
    /// Its name in the sandbox.
    pub name: String,
    /// The host end's name.
    pub host_name: String,
    /// The operator's network; absent for an isolated pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Its IPv4 address with the prefix length (`192.0.2.2/24`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Its IPv6 address with the prefix length, if the network has IPv6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address6: Option<String>,
    /// The IPv4 gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Bytes and packets the sandbox received and sent through it (absent
    /// once the interface is gone).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub counters: Option<LinkStats>,
}

/// The interfaces of `record`, with their counters read now.
pub fn interfaces(record: &NetworkRecord) -> Vec<InterfaceListing> {
    let counters = super::setup::counters(record);
    record
        .interfaces
        .iter()
        .zip(counters)
        .map(|(interface, counters)| {
            let lease = interface.lease.as_ref();
            InterfaceListing {
                name: interface.name.clone(),
                host_name: interface.host_name.clone(),
                network: interface.network.clone(),
                address: lease.map(|lease| format!("{}/{}", lease.address, lease.prefix)),
                address6: lease.and_then(|lease| {
                    lease
                        .address6
                        .zip(lease.prefix6)
                        .map(|(address, prefix)| format!("{address}/{prefix}"))
                }),
                gateway: lease.map(|lease| lease.gateway.to_string()),
                counters,
            }
        })
        .collect()
}

/// One line per interface for the text outputs:
/// `eth0 192.0.2.2/24 on test (enf…i0): received 1.2 KiB in 12 packets, sent …`.
pub fn describe(interface: &InterfaceListing) -> String {
    let address = interface.address.as_deref().unwrap_or("no address");
    let network = interface
        .network
        .as_deref()
        .map(|network| format!(" on {network}"))
        .unwrap_or_else(|| " (isolated)".to_string());
    let traffic = match &interface.counters {
        Some(counters) => format!(
            ": received {} bytes in {} packets, sent {} bytes in {} packets",
            counters.rx_bytes, counters.rx_packets, counters.tx_bytes, counters.tx_packets
        ),
        None => ": gone".to_string(),
    };
    format!(
        "{} {address}{network} (host end {}){traffic}",
        interface.name, interface.host_name
    )
}
