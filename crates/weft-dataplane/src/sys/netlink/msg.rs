//! Builders for the rtnetlink requests we send. Pure: no socket, so the
//! field choices (scope, protocol, table, flags) are unit-tested.

use std::fmt;
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use weft_types::IpPrefix;

/// An interface address: an address *with* its host bits and the length of
/// the on-link prefix, e.g. `10.99.0.1/24`. ([`IpPrefix`] clears host bits,
/// so it converts only as a host address: `/32` or `/128`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr {
    /// The address.
    pub addr: IpAddr,
    /// The on-link prefix length (clamped to 32 or 128 when sent).
    pub prefix_len: u8,
}

impl IfAddr {
    /// `addr/prefix_len`.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Self {
        Self { addr, prefix_len }
    }

    fn max_len(&self) -> u8 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

impl From<IpPrefix> for IfAddr {
    /// The prefix's address with the prefix's length (host bits are already
    /// clear, so use host prefixes for interface addresses).
    fn from(p: IpPrefix) -> Self {
        Self { addr: p.addr(), prefix_len: p.prefix_len() }
    }
}

impl From<(IpAddr, u8)> for IfAddr {
    fn from((addr, prefix_len): (IpAddr, u8)) -> Self {
        Self { addr, prefix_len }
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

fn family(addr: IpAddr) -> AddressFamily {
    if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 }
}

/// `RTM_GETLINK` for the interface called `name`.
pub(crate) fn get_link(name: &str) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_owned()));
    RouteNetlinkMessage::GetLink(m)
}

/// `RTM_NEWLINK` setting `IFF_UP` on interface `index`.
pub(crate) fn set_up(index: u32) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    RouteNetlinkMessage::SetLink(m)
}

/// `RTM_NEWLINK` setting the MTU of interface `index`.
pub(crate) fn set_mtu(index: u32, mtu: u32) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::Mtu(mtu));
    RouteNetlinkMessage::SetLink(m)
}

/// `RTM_NEWADDR` for `addr` on interface `index`; IPv6 addresses skip
/// duplicate address detection so they are usable at once.
pub(crate) fn add_address(index: u32, addr: IfAddr) -> RouteNetlinkMessage {
    let mut m = AddressMessage::default();
    m.header.family = family(addr.addr);
    m.header.prefix_len = addr.prefix_len.min(addr.max_len());
    m.header.index = index;
    m.attributes.push(AddressAttribute::Local(addr.addr));
    m.attributes.push(AddressAttribute::Address(addr.addr));
    if addr.addr.is_ipv6() {
        m.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    RouteNetlinkMessage::NewAddress(m)
}

/// A route of `prefix` straight to interface `index` (no gateway), in the
/// main table; `add` picks `RTM_NEWROUTE` or `RTM_DELROUTE`. Scopes follow
/// iproute2: link for IPv4 adds, universe for IPv6, any (`nowhere`) on delete.
pub(crate) fn route(index: u32, prefix: IpPrefix, add: bool) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(prefix.addr());
    m.header.destination_prefix_length = prefix.prefix_len();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.kind = RouteType::Unicast;
    m.header.protocol = RouteProtocol::Static;
    m.header.scope = match (add, prefix.addr()) {
        (false, _) => RouteScope::NoWhere,
        (true, IpAddr::V4(_)) => RouteScope::Link,
        (true, IpAddr::V6(_)) => RouteScope::Universe,
    };
    if prefix.prefix_len() > 0 {
        m.attributes.push(RouteAttribute::Destination(RouteAddress::from(prefix.addr())));
    }
    m.attributes.push(RouteAttribute::Oif(index));
    if add { RouteNetlinkMessage::NewRoute(m) } else { RouteNetlinkMessage::DelRoute(m) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_route_add_is_a_link_scope_static_main_table_unicast_route() {
        let p = IpPrefix::parse("10.2.0.0/16").unwrap();
        let RouteNetlinkMessage::NewRoute(m) = route(7, p, true) else { panic!("not NewRoute") };
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert_eq!(m.header.destination_prefix_length, 16);
        assert_eq!(m.header.scope, RouteScope::Link);
        assert_eq!(m.header.table, RouteHeader::RT_TABLE_MAIN);
        assert_eq!(m.header.kind, RouteType::Unicast);
        assert!(m.attributes.contains(&RouteAttribute::Oif(7)));
        assert!(m.attributes.contains(&RouteAttribute::Destination(RouteAddress::Inet(
            "10.2.0.0".parse().unwrap()
        ))));
    }

    #[test]
    fn an_ipv6_route_add_is_universe_scope_and_a_delete_any_scope() {
        let p = IpPrefix::parse("fd00:2::/64").unwrap();
        let RouteNetlinkMessage::NewRoute(m) = route(1, p, true) else { panic!("not NewRoute") };
        assert_eq!(m.header.address_family, AddressFamily::Inet6);
        assert_eq!(m.header.scope, RouteScope::Universe);
        let RouteNetlinkMessage::DelRoute(m) = route(1, p, false) else { panic!("not DelRoute") };
        assert_eq!(m.header.scope, RouteScope::NoWhere);
    }

    #[test]
    fn a_default_route_carries_no_destination() {
        let RouteNetlinkMessage::NewRoute(m) =
            route(1, IpPrefix::parse("0.0.0.0/0").unwrap(), true)
        else {
            panic!("not NewRoute")
        };
        assert!(!m.attributes.iter().any(|a| matches!(a, RouteAttribute::Destination(_))));
    }

    #[test]
    fn an_address_keeps_its_host_bits_and_ipv6_skips_dad() {
        let a = IfAddr::new("10.99.0.1".parse().unwrap(), 24);
        let RouteNetlinkMessage::NewAddress(m) = add_address(3, a) else {
            panic!("not NewAddress")
        };
        assert_eq!(m.header.prefix_len, 24);
        assert!(m.attributes.contains(&AddressAttribute::Local(a.addr)));
        let a6 = IfAddr::new("fd00::1".parse().unwrap(), 200);
        let RouteNetlinkMessage::NewAddress(m) = add_address(3, a6) else {
            panic!("not NewAddress")
        };
        assert_eq!(m.header.prefix_len, 128);
        assert!(m.attributes.contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
    }

    #[test]
    fn a_host_prefix_converts_to_an_interface_address() {
        let a = IfAddr::from(IpPrefix::host("10.0.0.5".parse().unwrap()));
        assert_eq!(a.to_string(), "10.0.0.5/32");
    }

    #[test]
    fn set_up_changes_only_the_up_flag() {
        let RouteNetlinkMessage::SetLink(m) = set_up(4) else { panic!("not SetLink") };
        assert_eq!((m.header.index, m.header.change_mask), (4, LinkFlags::Up));
    }
}
