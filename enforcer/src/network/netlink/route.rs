//! Routes: the default route through a gateway, and the route table.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};

use super::address::family_of;
use super::{Netlink, NetlinkError};

/// The main routing table's id (`RT_TABLE_MAIN`).
pub const MAIN_TABLE: u32 = RouteHeader::RT_TABLE_MAIN as u32;

/// What the kernel says of one route.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// The destination (`0.0.0.0` or `::` for a default route).
    pub destination: IpAddr,
    /// The destination's prefix length (0 for a default route).
    pub prefix: u8,
    /// The gateway, if any.
    pub gateway: Option<IpAddr>,
    /// The output interface's index, if any.
    pub interface: Option<u32>,
    /// The routing table's id (254 for main, 255 for local).
    pub table: u32,
}

impl Route {
    /// A default route (prefix 0).
    pub fn is_default(&self) -> bool {
        self.prefix == 0
    }

    fn from_message(message: &RouteMessage) -> Option<Route> {
        let unspecified = match message.header.address_family {
            netlink_packet_route::AddressFamily::Inet => IpAddr::from([0u8; 4]),
            netlink_packet_route::AddressFamily::Inet6 => IpAddr::from([0u8; 16]),
            _ => return None,
        };
        let mut route = Route {
            destination: unspecified,
            prefix: message.header.destination_prefix_length,
            gateway: None,
            interface: None,
            table: message.header.table.into(),
        };
        for attribute in &message.attributes {
            match attribute {
                RouteAttribute::Destination(address) => {
                    if let Some(address) = ip_of(address) {
                        route.destination = address;
                    }
                }
                RouteAttribute::Gateway(address) => route.gateway = ip_of(address),
                RouteAttribute::Oif(index) => route.interface = Some(*index),
                RouteAttribute::Table(table) => route.table = *table,
                _ => {}
            }
        }
        Some(route)
    }
}

fn ip_of(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(address) => Some(IpAddr::V4(*address)),
        RouteAddress::Inet6(address) => Some(IpAddr::V6(*address)),
        _ => None,
    }
}

impl Netlink {
    /// Adds the default route through `gateway` to the main table, IPv4 or
    /// IPv6 by the gateway's family (`EEXIST` when there is one already;
    /// `ENETUNREACH` when no up link's subnet holds the gateway).
    pub fn add_default_route(&mut self, gateway: IpAddr) -> Result<(), NetlinkError> {
        let mut message = RouteMessage::default();
        message.header.address_family = family_of(gateway);
        message.header.destination_prefix_length = 0;
        message.header.table = RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::Boot;
        message.header.scope = RouteScope::Universe;
        message.header.kind = RouteType::Unicast;
        message
            .attributes
            .push(RouteAttribute::Gateway(gateway.into()));
        self.request(
            &|| format!("add the default route via {gateway}"),
            RouteNetlinkMessage::NewRoute(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Every IPv4 and IPv6 route of every table (a dump).
    pub fn routes(&mut self) -> Result<Vec<Route>, NetlinkError> {
        let replies = self.dump(
            &|| "list routes".to_string(),
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
        )?;
        Ok(replies
            .iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewRoute(message) => Route::from_message(message),
                _ => None,
            })
            .collect())
    }
}
