//! Interface configuration over rtnetlink (no `ip` commands): look up, bring
//! up, set the MTU, add addresses, add and delete device routes.
//!
//! Every request goes to the kernel of the network namespace the *socket*
//! was opened in: open an [`Rtnl`] on the thread that is in the namespace to
//! configure. Requests are synchronous: each waits for the kernel's ack.
//! Adding what already exists (`EEXIST`) and deleting what is gone (`ESRCH`)
//! count as success, so configuration can be reapplied.

mod error;
mod msg;

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkAttribute;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use weft_types::IpPrefix;

pub use error::{NetlinkError, Op};
pub use msg::IfAddr;

/// An open rtnetlink socket in the current thread's network namespace.
#[derive(Debug)]
pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

fn iface(name: &str) -> String {
    format!("interface {name:?}")
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, NetlinkError> {
        let socket_err =
            |source| NetlinkError::Socket { op: Op::Open, target: "socket".into(), source };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(socket_err)?;
        socket.bind_auto().map_err(socket_err)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(socket_err)?;
        Ok(Self { socket, seq: 0 })
    }

    /// The index of the interface called `name`.
    pub fn link_index(&mut self, name: &str) -> Result<u32, NetlinkError> {
        let replies = self.request(msg::get_link(name), 0, Op::GetLink, &iface(name))?;
        replies
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .ok_or_else(|| NetlinkError::Malformed {
                op: Op::GetLink,
                target: iface(name),
                detail: "no link in the reply".into(),
            })
    }

    /// Packets interface `name` dropped on transmit: for a TUN device, those
    /// the kernel routed to it while its queue to the reading process was
    /// full (`IFLA_STATS64` `tx_dropped`).
    pub fn tx_dropped(&mut self, name: &str) -> Result<u64, NetlinkError> {
        let replies = self.request(msg::get_link(name), 0, Op::GetLink, &iface(name))?;
        replies
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::Stats64(s) => Some(s.tx_dropped),
                    _ => None,
                }),
                _ => None,
            })
            .ok_or_else(|| NetlinkError::Malformed {
                op: Op::GetLink,
                target: iface(name),
                detail: "no link statistics in the reply".into(),
            })
    }

    /// Brings interface `name` up.
    pub fn set_up(&mut self, name: &str) -> Result<(), NetlinkError> {
        let index = self.link_index(name)?;
        self.request(msg::set_up(index), 0, Op::SetUp, &iface(name)).map(drop)
    }

    /// Sets the MTU of interface `name`.
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<(), NetlinkError> {
        let index = self.link_index(name)?;
        self.request(msg::set_mtu(index, mtu), 0, Op::SetMtu, &format!("{mtu} on {}", iface(name)))
            .map(drop)
    }

    /// Adds `addr` to interface `name` (IPv4 or IPv6; IPv6 without duplicate
    /// address detection). Already present is success.
    pub fn add_address(&mut self, name: &str, addr: impl Into<IfAddr>) -> Result<(), NetlinkError> {
        let addr = addr.into();
        let index = self.link_index(name)?;
        let target = format!("{addr} on {}", iface(name));
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        ok_if(
            self.request(msg::add_address(index, addr), flags, Op::AddAddress, &target),
            libc::EEXIST,
        )
    }

    /// Routes `prefix` to interface `name` (main table, no gateway). Already
    /// present is success.
    pub fn add_route(&mut self, name: &str, prefix: IpPrefix) -> Result<(), NetlinkError> {
        let index = self.link_index(name)?;
        let target = format!("{prefix} dev {name:?}");
        let flags = NLM_F_CREATE | NLM_F_EXCL;
        ok_if(
            self.request(msg::route(index, prefix, true), flags, Op::AddRoute, &target),
            libc::EEXIST,
        )
    }

    /// Deletes the route of `prefix` to interface `name`. Already gone is success.
    pub fn del_route(&mut self, name: &str, prefix: IpPrefix) -> Result<(), NetlinkError> {
        let index = self.link_index(name)?;
        let target = format!("{prefix} dev {name:?}");
        ok_if(self.request(msg::route(index, prefix, false), 0, Op::DelRoute, &target), libc::ESRCH)
    }

    /// Sends one request and collects the replies until the kernel's ack.
    fn request(
        &mut self,
        inner: RouteNetlinkMessage,
        flags: u16,
        op: Op,
        target: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let socket_err = |source| NetlinkError::Socket { op, target: target.to_owned(), source };
        let malformed =
            |detail: String| NetlinkError::Malformed { op, target: target.to_owned(), detail };
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(socket_err)?;

        let mut replies = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full().map_err(socket_err)?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| malformed(e.to_string()))?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(malformed("zero-length message".into()));
                }
                offset += (len + 3) & !3;
                if reply.header.sequence_number != self.seq {
                    continue; // a stale reply to an earlier request
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(NetlinkError::Rejected {
                                op,
                                target: target.to_owned(),
                                source: io::Error::from_raw_os_error(-code.get()),
                            }),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }
}

/// Turns a rejection with errno `benign` into success.
fn ok_if<T>(r: Result<T, NetlinkError>, benign: i32) -> Result<(), NetlinkError> {
    match r {
        Ok(_) => Ok(()),
        Err(NetlinkError::Rejected { source, .. }) if source.raw_os_error() == Some(benign) => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Opens a socket and returns the index of interface `name`.
pub fn link_index(name: &str) -> Result<u32, NetlinkError> {
    Rtnl::open()?.link_index(name)
}

/// Opens a socket and brings interface `name` up.
pub fn set_up(name: &str) -> Result<(), NetlinkError> {
    Rtnl::open()?.set_up(name)
}

/// Opens a socket and sets interface `name`'s MTU.
pub fn set_mtu(name: &str, mtu: u32) -> Result<(), NetlinkError> {
    Rtnl::open()?.set_mtu(name, mtu)
}

/// Opens a socket and adds `addr` to interface `name`.
pub fn add_address(name: &str, addr: impl Into<IfAddr>) -> Result<(), NetlinkError> {
    Rtnl::open()?.add_address(name, addr)
}

/// Opens a socket and routes `prefix` to interface `name`.
pub fn add_route(name: &str, prefix: IpPrefix) -> Result<(), NetlinkError> {
    Rtnl::open()?.add_route(name, prefix)
}

/// Opens a socket and deletes the route of `prefix` to interface `name`.
pub fn del_route(name: &str, prefix: IpPrefix) -> Result<(), NetlinkError> {
    Rtnl::open()?.del_route(name, prefix)
}
