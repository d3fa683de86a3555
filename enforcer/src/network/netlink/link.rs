//! Links: lookup and dump, veth pairs and bridges, up, MTU, master, rename,
//! the move into another network namespace, deletion and counters.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use nix::errno::Errno;

use super::{Netlink, NetlinkError, check_name};

/// What the kernel says of one link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// The interface index (unique within its network namespace).
    pub index: u32,
    /// The interface name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// The MTU.
    pub mtu: u32,
    /// The index of the bridge (or other master) it is attached to.
    pub master: Option<u32>,
    /// The link kind (`veth`, `bridge`, ...); `None` for a device without
    /// one (`lo`, a physical NIC).
    pub kind: Option<String>,
}

/// Traffic counters of one link (`IFLA_STATS64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

impl Link {
    fn from_message(message: &LinkMessage) -> Link {
        let mut link = Link {
            index: message.header.index,
            name: String::new(),
            up: message.header.flags.contains(LinkFlags::Up),
            mtu: 0,
            master: None,
            kind: None,
        };
        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
                LinkAttribute::Controller(master) => link.master = Some(*master),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            link.kind = Some(kind.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

impl LinkStats {
    fn from_message(message: &LinkMessage) -> Option<LinkStats> {
        let mut fallback = None;
        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::Stats64(stats) => {
                    return Some(LinkStats {
                        rx_bytes: stats.rx_bytes,
                        tx_bytes: stats.tx_bytes,
                        rx_packets: stats.rx_packets,
                        tx_packets: stats.tx_packets,
                    });
                }
                LinkAttribute::Stats(stats) => {
                    fallback = Some(LinkStats {
                        rx_bytes: stats.rx_bytes.into(),
                        tx_bytes: stats.tx_bytes.into(),
                        rx_packets: stats.rx_packets.into(),
                        tx_packets: stats.tx_packets.into(),
                    });
                }
                _ => {}
            }
        }
        fallback
    }
}

/// A link message naming `name` (the kernel looks a link up by
/// `IFLA_IFNAME` when the index is 0).
fn by_name(name: &str) -> LinkMessage {
    let mut message = LinkMessage::default();
    message
        .attributes
        .push(LinkAttribute::IfName(name.to_string()));
    message
}

/// A link message for index `index`.
fn by_index(index: u32) -> LinkMessage {
    let mut message = LinkMessage::default();
    message.header.index = index;
    message
}

impl Netlink {
    /// The link named `name` in this socket's namespace, or `None`.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>, NetlinkError> {
        Ok(self.link_message(name)?.as_ref().map(Link::from_message))
    }

    /// Every link in this socket's namespace (a dump).
    pub fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        let replies = self.dump(
            &|| "list links".to_string(),
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
        )?;
        Ok(replies
            .iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewLink(message) => Some(Link::from_message(message)),
                _ => None,
            })
            .collect())
    }

    /// The traffic counters of link `name`, or `None` when there is no
    /// such link.
    pub fn stats(&mut self, name: &str) -> Result<Option<LinkStats>, NetlinkError> {
        let Some(message) = self.link_message(name)? else {
            return Ok(None);
        };
        match LinkStats::from_message(&message) {
            Some(stats) => Ok(Some(stats)),
            None => Err(NetlinkError::new(
                format!("read the counters of {name} (the kernel sent none)"),
                Errno::ENODATA,
            )),
        }
    }

    fn link_message(&mut self, name: &str) -> Result<Option<LinkMessage>, NetlinkError> {
        check_name("interface", name)?;
        match self.request(
            &|| format!("look up link {name}"),
            RouteNetlinkMessage::GetLink(by_name(name)),
            0,
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(|reply| match reply {
                RouteNetlinkMessage::NewLink(message) => Some(message),
                _ => None,
            })),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The index of link `name`; `ENODEV` naming `what` when it is missing.
    pub(crate) fn index_of(
        &mut self,
        name: &str,
        what: &dyn Fn() -> String,
    ) -> Result<u32, NetlinkError> {
        match self.link_message(name)? {
            Some(message) => Ok(message.header.index),
            None => Err(NetlinkError::new(
                format!("{} (no link {name})", what()),
                Errno::ENODEV,
            )),
        }
    }

    /// Creates a veth pair `host` / `peer`, both ends in this namespace
    /// and down, with `mtu` on both when given (`NLM_F_CREATE |
    /// NLM_F_EXCL`: `EEXIST` when either name is taken).
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
    ) -> Result<(), NetlinkError> {
        check_name("interface", host)?;
        check_name("veth peer", peer)?;
        let mut peer_message = by_name(peer);
        let mut message = by_name(host);
        if let Some(mtu) = mtu {
            peer_message.attributes.push(LinkAttribute::Mtu(mtu));
            message.attributes.push(LinkAttribute::Mtu(mtu));
        }
        message.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_message))),
        ]));
        self.request(
            &|| format!("create veth pair {host}/{peer}"),
            RouteNetlinkMessage::NewLink(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Creates a veth pair whose end `host` stays in this socket's
    /// namespace and whose end `peer` is made directly in the network
    /// namespace `namespace` (the peer's `IFLA_NET_NS_FD`), both down, with
    /// `mtu` when given. Making the peer where it belongs spares the move
    /// of [`Netlink::move_to_namespace`], which waits for the kernel's
    /// network-wide synchronisation (tens of milliseconds), and its
    /// rename: the peer is made under its final name (`eth0`), which may
    /// be taken on the host.
    pub fn create_veth_into(
        &mut self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
        namespace: BorrowedFd<'_>,
    ) -> Result<(), NetlinkError> {
        check_name("interface", host)?;
        check_name("veth peer", peer)?;
        let mut peer_message = by_name(peer);
        peer_message
            .attributes
            .push(LinkAttribute::NetNsFd(namespace.as_raw_fd()));
        let mut message = by_name(host);
        if let Some(mtu) = mtu {
            peer_message.attributes.push(LinkAttribute::Mtu(mtu));
            message.attributes.push(LinkAttribute::Mtu(mtu));
        }
        message.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_message))),
        ]));
        self.request(
            &|| format!("create veth pair {host} (host) / {peer} (sandbox)"),
            RouteNetlinkMessage::NewLink(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Creates a bridge `name`, down, with `mtu` when given (`EEXIST` when
    /// the name is taken).
    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        check_name("bridge", name)?;
        let mut message = by_name(name);
        if let Some(mtu) = mtu {
            message.attributes.push(LinkAttribute::Mtu(mtu));
        }
        message
            .attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            &|| format!("create bridge {name}"),
            RouteNetlinkMessage::NewLink(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Deletes link `name` (for a veth, both ends go); `Ok(false)` when it
    /// was not there.
    pub fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
        check_name("interface", name)?;
        match self.request(
            &|| format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(by_name(name)),
            0,
        ) {
            Ok(_) => Ok(true),
            Err(error) if error.is_not_found() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Moves link `name` into the network namespace of process `pid`
    /// (`IFLA_NET_NS_PID`); it arrives there down, under the same name.
    pub fn move_to_namespace_of(&mut self, name: &str, pid: i32) -> Result<(), NetlinkError> {
        check_name("interface", name)?;
        let what = || format!("move {name} into the network namespace of process {pid}");
        let Ok(pid) = u32::try_from(pid) else {
            return Err(NetlinkError::new(
                format!("{} (not a process id)", what()),
                Errno::EINVAL,
            ));
        };
        let mut message = by_name(name);
        message.attributes.push(LinkAttribute::NetNsPid(pid));
        self.request(&what, RouteNetlinkMessage::SetLink(message), 0)?;
        Ok(())
    }

    /// Moves link `name` into the network namespace open as `namespace`
    /// (`IFLA_NET_NS_FD`).
    pub fn move_to_namespace(
        &mut self,
        name: &str,
        namespace: BorrowedFd<'_>,
    ) -> Result<(), NetlinkError> {
        check_name("interface", name)?;
        let mut message = by_name(name);
        message
            .attributes
            .push(LinkAttribute::NetNsFd(namespace.as_raw_fd()));
        self.request(
            &|| format!("move {name} into another network namespace"),
            RouteNetlinkMessage::SetLink(message),
            0,
        )?;
        Ok(())
    }

    /// Renames link `from` to `to` (best done while it is down: a kernel
    /// may refuse to rename a link that is up, `EBUSY`).
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), NetlinkError> {
        check_name("interface", from)?;
        check_name("new name", to)?;
        let what = || format!("rename {from} to {to}");
        let index = self.index_of(from, &what)?;
        let mut message = by_index(index);
        message
            .attributes
            .push(LinkAttribute::IfName(to.to_string()));
        self.request(&what, RouteNetlinkMessage::SetLink(message), 0)?;
        Ok(())
    }

    /// Brings link `name` up (`IFF_UP`).
    pub fn set_up(&mut self, name: &str) -> Result<(), NetlinkError> {
        self.set_flag_up(name, true)
    }

    /// Takes link `name` down.
    pub fn set_down(&mut self, name: &str) -> Result<(), NetlinkError> {
        self.set_flag_up(name, false)
    }

    fn set_flag_up(&mut self, name: &str, up: bool) -> Result<(), NetlinkError> {
        check_name("interface", name)?;
        let mut message = by_name(name);
        message.header.change_mask = LinkFlags::Up;
        if up {
            message.header.flags = LinkFlags::Up;
        }
        let state = if up { "up" } else { "down" };
        self.request(
            &|| format!("set {name} {state}"),
            RouteNetlinkMessage::SetLink(message),
            0,
        )?;
        Ok(())
    }

    /// Sets link `name`'s MTU.
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<(), NetlinkError> {
        check_name("interface", name)?;
        let mut message = by_name(name);
        message.attributes.push(LinkAttribute::Mtu(mtu));
        self.request(
            &|| format!("set the MTU of {name} to {mtu}"),
            RouteNetlinkMessage::SetLink(message),
            0,
        )?;
        Ok(())
    }

    /// Attaches link `name` to bridge `bridge` (`IFLA_MASTER`); `ENODEV`
    /// when the bridge is missing.
    pub fn set_master(&mut self, name: &str, bridge: &str) -> Result<(), NetlinkError> {
        check_name("interface", name)?;
        check_name("bridge", bridge)?;
        let what = || format!("attach {name} to bridge {bridge}");
        let master = self.index_of(bridge, &what)?;
        let mut message = by_name(name);
        message.attributes.push(LinkAttribute::Controller(master));
        self.request(&what, RouteNetlinkMessage::SetLink(message), 0)?;
        Ok(())
    }

    /// Detaches link `name` from its bridge (`IFLA_MASTER` 0).
    pub fn clear_master(&mut self, name: &str) -> Result<(), NetlinkError> {
        check_name("interface", name)?;
        let mut message = by_name(name);
        message.attributes.push(LinkAttribute::Controller(0));
        self.request(
            &|| format!("detach {name} from its bridge"),
            RouteNetlinkMessage::SetLink(message),
            0,
        )?;
        Ok(())
    }
}
