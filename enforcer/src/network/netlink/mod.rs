//! A small synchronous rtnetlink client (links, addresses, routes, veth
//! pairs and bridges) over `netlink-packet-route` and `netlink-sys`: no `ip`
//! binary, no async runtime.
//!
//! A [`Netlink`] is one `NETLINK_ROUTE` socket, bound to the network
//! namespace it was opened in for its whole life (the kernel ties a socket
//! to the namespace of its creator, not of the thread using it).
//! [`Netlink::open_in_namespace_of`] opens one in another process's
//! namespace from a short-lived thread that `setns()`es there.
//!
//! Every request asks for an acknowledgement (`NLM_F_ACK`); a kernel error
//! comes back as a [`NetlinkError`] naming the step and the interfaces,
//! with the kernel's errno. Interface names are checked
//! ([`check_name`]) before anything is sent.
//!
//! - [`link`] holds links, veth pairs, bridges, up, MTU, master, rename,
//!   the move, counters;
//! - [`address`] the addresses;
//! - [`route`] the default route and the route table.

pub mod address;
mod error;
pub mod link;
pub mod route;
#[cfg(test)]
mod tests;

pub use error::{MAX_NAME, NetlinkError, check_name};
pub use link::{Link, LinkStats};
pub use route::Route;

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer,
    NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::errno::Errno;
use nix::libc;

/// How long a reply may take before the request fails with `EAGAIN`
/// (the kernel answers rtnetlink requests at once; this only bounds a bug).
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The receive buffer's starting size; a larger datagram grows it.
const RECEIVE_BUFFER: usize = 32 * 1024;

/// How often a dump the kernel marks interrupted (`NLM_F_DUMP_INTR`: the
/// table changed while it was read) is retried.
const DUMP_RETRIES: usize = 3;

/// A `NETLINK_ROUTE` socket and the sequence number of its last request.
#[derive(Debug)]
pub struct Netlink {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let what = "open a netlink socket";
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| NetlinkError::io(what, &e))?;
        socket.bind_auto().map_err(|e| NetlinkError::io(what, &e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| NetlinkError::io(what, &e))?;
        set_receive_timeout(&socket, REPLY_TIMEOUT)
            .map_err(|errno| NetlinkError::new(what, errno))?;
        Ok(Netlink {
            socket,
            sequence: 0,
            buffer: Vec::with_capacity(RECEIVE_BUFFER),
        })
    }

    /// A socket in the network namespace of process `pid`: opens
    /// `/proc/<pid>/ns/net`; see [`Netlink::open_in`].
    pub fn open_in_namespace_of(pid: i32) -> Result<Netlink, NetlinkError> {
        let path = format!("/proc/{pid}/ns/net");
        let file = File::open(&path).map_err(|e| {
            NetlinkError::io(
                format!("open {path} (the network namespace of process {pid})"),
                &e,
            )
        })?;
        Netlink::open_in_described(
            file.as_fd(),
            &format!("the network namespace of process {pid}"),
        )
    }

    /// A socket in the network namespace `namespace` (an open
    /// `/proc/<pid>/ns/net` or a bind-mounted namespace file): a short-lived
    /// thread `setns()`es into it and opens the socket there; the socket
    /// stays bound to that namespace, the calling thread's is unchanged.
    pub fn open_in(namespace: BorrowedFd<'_>) -> Result<Netlink, NetlinkError> {
        Netlink::open_in_described(namespace, "the network namespace")
    }

    fn open_in_described(
        namespace: BorrowedFd<'_>,
        description: &str,
    ) -> Result<Netlink, NetlinkError> {
        std::thread::scope(|scope| {
            let opener = std::thread::Builder::new()
                .name("netlink-setns".to_string())
                .spawn_scoped(scope, || {
                    // SAFETY: setns on a descriptor the caller keeps open
                    // for the call; it changes only this thread, which ends
                    // right after opening the socket.
                    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(NetlinkError::new(
                            format!("enter {description}"),
                            Errno::last(),
                        ));
                    }
                    Netlink::open().map_err(|mut error| {
                        error.what = format!("{} in {description}", error.what);
                        error
                    })
                })
                .map_err(|e| {
                    NetlinkError::io(format!("enter {description} (start a thread)"), &e)
                })?;
            opener.join().unwrap_or_else(|_| {
                Err(NetlinkError::new(
                    format!("enter {description} (its thread panicked)"),
                    Errno::EIO,
                ))
            })
        })
    }

    /// Sends `message` with `NLM_F_REQUEST | NLM_F_ACK | flags` and
    /// collects the kernel's replies until its acknowledgement; an error
    /// reply becomes `what`'s error.
    fn request(
        &mut self,
        what: &dyn Fn() -> String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.send(what, message, flags)?;
        self.receive(what).map(|(replies, _)| replies)
    }

    /// Dumps a table (`NLM_F_DUMP`): every reply until `NLMSG_DONE`,
    /// retried when the kernel says the table changed during the dump.
    fn dump(
        &mut self,
        what: &dyn Fn() -> String,
        message: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        for _ in 0..DUMP_RETRIES {
            self.send(what, message.clone(), NLM_F_DUMP)?;
            let (replies, interrupted) = self.receive(what)?;
            if !interrupted {
                return Ok(replies);
            }
        }
        Err(NetlinkError::new(
            format!("{} (the table kept changing during the dump)", what()),
            Errno::EAGAIN,
        ))
    }

    fn send(
        &mut self,
        what: &dyn Fn() -> String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetlinkError> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        loop {
            match self.socket.send(&bytes, 0) {
                Ok(sent) if sent == bytes.len() => return Ok(()),
                Ok(_) => {
                    return Err(NetlinkError::new(
                        format!("{} (short send)", what()),
                        Errno::EMSGSIZE,
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(NetlinkError::io(what(), &e)),
            }
        }
    }

    /// Reads the replies to the last request until its end (an
    /// acknowledgement, an error or `NLMSG_DONE`), skipping replies to
    /// earlier requests. Returns the replies and whether the kernel marked
    /// any `NLM_F_DUMP_INTR`.
    fn receive(
        &mut self,
        what: &dyn Fn() -> String,
    ) -> Result<(Vec<RouteNetlinkMessage>, bool), NetlinkError> {
        let mut replies = Vec::new();
        let mut interrupted = false;
        let mut failure: Option<NetlinkError> = None;
        loop {
            self.receive_datagram(what)?;
            let datagram = &self.buffer[..];
            let mut offset = 0;
            let mut finished = false;
            while offset < datagram.len() {
                let rest = &datagram[offset..];
                let (length, message_type, flags, sequence) = match NetlinkBuffer::new_checked(rest)
                {
                    Ok(raw) => (
                        raw.length() as usize,
                        raw.message_type(),
                        raw.flags(),
                        raw.sequence_number(),
                    ),
                    Err(e) => {
                        return Err(NetlinkError::new(
                            format!("{} (unreadable reply: {e})", what()),
                            Errno::EBADMSG,
                        ));
                    }
                };
                let message = &rest[..length];
                offset += length.next_multiple_of(4);
                if sequence != self.sequence {
                    continue;
                }
                interrupted |= flags & NLM_F_DUMP_INTR != 0;
                match NetlinkMessage::<RouteNetlinkMessage>::deserialize(message) {
                    Ok(parsed) => match parsed.payload {
                        NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                        NetlinkPayload::Error(error) => {
                            finished = true;
                            if let Some(code) = error.code {
                                failure.get_or_insert(NetlinkError::new(
                                    what(),
                                    Errno::from_raw(-code.get()),
                                ));
                            }
                        }
                        NetlinkPayload::Done(done) => {
                            finished = true;
                            if done.code < 0 {
                                failure.get_or_insert(NetlinkError::new(
                                    what(),
                                    Errno::from_raw(-done.code),
                                ));
                            }
                        }
                        NetlinkPayload::Overrun(_) => {
                            failure.get_or_insert(NetlinkError::new(
                                format!("{} (the kernel's reply overran the socket)", what()),
                                Errno::ENOBUFS,
                            ));
                        }
                        _ => {}
                    },
                    Err(e) => {
                        finished |= message_type == NLMSG_DONE || message_type == NLMSG_ERROR;
                        failure.get_or_insert(NetlinkError::new(
                            format!("{} (undecodable reply: {e})", what()),
                            Errno::EBADMSG,
                        ));
                    }
                }
            }
            if finished {
                return match failure {
                    Some(error) => Err(error),
                    None => Ok((replies, interrupted)),
                };
            }
        }
    }

    /// Reads one datagram, whole, into `self.buffer` (grown first when the
    /// kernel's next datagram is larger).
    fn receive_datagram(&mut self, what: &dyn Fn() -> String) -> Result<(), NetlinkError> {
        loop {
            self.buffer.clear();
            match self
                .socket
                .recv(&mut self.buffer, libc::MSG_PEEK | libc::MSG_TRUNC)
            {
                Ok(size) if size > self.buffer.capacity() => {
                    self.buffer.clear();
                    self.buffer.reserve(size);
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(NetlinkError::io(
                        format!("{} (waiting for the kernel's reply)", what()),
                        &e,
                    ));
                }
            }
            self.buffer.clear();
            match self.socket.recv(&mut self.buffer, libc::MSG_TRUNC) {
                Ok(size) if size <= self.buffer.len() => return Ok(()),
                Ok(size) => {
                    return Err(NetlinkError::new(
                        format!("{} (a reply of {size} bytes was truncated)", what()),
                        Errno::EMSGSIZE,
                    ));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(NetlinkError::io(
                        format!("{} (reading the kernel's reply)", what()),
                        &e,
                    ));
                }
            }
        }
    }
}

/// `SO_RCVTIMEO`: a reply that never comes fails with `EAGAIN`.
fn set_receive_timeout(socket: &Socket, timeout: Duration) -> Result<(), Errno> {
    let value = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
    };
    // SAFETY: a valid timeval of the size passed, on a socket we own.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&value as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}
