//! Interface addresses: add one, list a link's.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;

use super::{Netlink, NetlinkError, check_name};

/// The address family of `address`.
pub(crate) fn family_of(address: IpAddr) -> AddressFamily {
    match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The longest prefix of `address`'s family (32 or 128).
fn max_prefix(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl Netlink {
    /// Adds `address/prefix` to link `name` (`EEXIST` when it holds it
    /// already). The kernel adds the prefix's route when the link is up.
    /// An IPv6 address is added with `IFA_F_NODAD`, so it is usable at
    /// once instead of after duplicate address detection.
    pub fn add_address(
        &mut self,
        name: &str,
        address: IpAddr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        check_name("interface", name)?;
        let what = || format!("add address {address}/{prefix} to {name}");
        if prefix > max_prefix(address) {
            return Err(NetlinkError::new(
                format!(
                    "{} (the prefix is longer than {})",
                    what(),
                    max_prefix(address)
                ),
                Errno::EINVAL,
            ));
        }
        let index = self.index_of(name, &what)?;
        let mut message = AddressMessage::default();
        message.header.family = family_of(address);
        message.header.prefix_len = prefix;
        message.header.scope = AddressScope::Universe;
        message.header.index = index;
        message.attributes.push(AddressAttribute::Local(address));
        message.attributes.push(AddressAttribute::Address(address));
        if address.is_ipv6() {
            message.header.flags = AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.request(
            &what,
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// The addresses of link `name` with their prefix lengths, IPv4 and
    /// IPv6 (including the kernel's own, such as an IPv6 link-local one),
    /// in the kernel's order. `ENODEV` when there is no such link.
    pub fn addresses(&mut self, name: &str) -> Result<Vec<(IpAddr, u8)>, NetlinkError> {
        check_name("interface", name)?;
        let what = || format!("list the addresses of {name}");
        let index = self.index_of(name, &what)?;
        let replies = self.dump(
            &what,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )?;
        Ok(replies
            .iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewAddress(message) if message.header.index == index => {
                    address_of(message).map(|address| (address, message.header.prefix_len))
                }
                _ => None,
            })
            .collect())
    }
}

/// The local address of an address message: `IFA_LOCAL` when present (for
/// IPv4, `IFA_ADDRESS` is the peer's on a point-to-point link), else
/// `IFA_ADDRESS`.
fn address_of(message: &AddressMessage) -> Option<IpAddr> {
    let mut found = None;
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(address) => return Some(*address),
            AddressAttribute::Address(address) => found = Some(*address),
            _ => {}
        }
    }
    found
}
