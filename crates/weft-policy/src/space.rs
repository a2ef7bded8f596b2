//! Flow space: the dimensions a policy rule can match on, as integers.
//!
//! A flow is a [`FlowPoint`]: address family, source and destination address
//! (IPv4 in the low 32 bits of a `u128`), IP protocol, source and destination
//! port, DSCP. A rule's matcher is a union of [`FlowBox`]es, each an inclusive
//! range on every dimension. Both the compiled classifier and the analyses
//! (shadowing, group-level tests, diffs) work on these boxes, so what the lint
//! reasons about is exactly what the data plane evaluates.

use std::net::IpAddr;

use weft_types::{FlowKey, IpPrefix};

/// Address family as a dimension value.
pub const FAMILY_V4: u8 = 0;
/// Address family as a dimension value.
pub const FAMILY_V6: u8 = 1;

/// An inclusive range `lo..=hi` on one dimension. Never empty: `lo <= hi`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
pub struct Span<T> {
    /// Lowest value in the range.
    pub lo: T,
    /// Highest value in the range.
    pub hi: T,
}

impl<T: Copy + Ord> Span<T> {
    /// `lo..=hi`; `None` when `lo > hi`.
    pub fn new(lo: T, hi: T) -> Option<Self> {
        (lo <= hi).then_some(Self { lo, hi })
    }

    /// The single value `v`.
    pub fn one(v: T) -> Self {
        Self { lo: v, hi: v }
    }

    /// Whether `v` lies in the range.
    pub fn contains(&self, v: T) -> bool {
        self.lo <= v && v <= self.hi
    }

    /// Whether every value of `other` lies in this range.
    pub fn covers(&self, other: &Self) -> bool {
        self.lo <= other.lo && other.hi <= self.hi
    }

    /// The common part, if any.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        Self::new(self.lo.max(other.lo), self.hi.min(other.hi))
    }
}

/// The whole range of a `u8` dimension.
pub const ANY_U8: Span<u8> = Span { lo: 0, hi: u8::MAX };
/// The whole range of a port dimension.
pub const ANY_PORT: Span<u16> = Span { lo: 0, hi: u16::MAX };
/// Every address (of either family).
pub const ANY_ADDR: Span<u128> = Span { lo: 0, hi: u128::MAX };
/// Every DSCP code point (6 bits).
pub const ANY_DSCP: Span<u8> = Span { lo: 0, hi: 63 };
/// Both address families.
pub const ANY_FAMILY: Span<u8> = Span { lo: FAMILY_V4, hi: FAMILY_V6 };

/// One flow as the classifier sees it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FlowPoint {
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    /// Source address (IPv4 in the low 32 bits).
    pub src: u128,
    /// Destination address (IPv4 in the low 32 bits).
    pub dst: u128,
    /// IP protocol number.
    pub protocol: u8,
    /// Source port (0 for protocols without ports).
    pub src_port: u16,
    /// Destination port (0 for protocols without ports).
    pub dst_port: u16,
    /// DSCP code point (0..=63).
    pub dscp: u8,
}

impl FlowPoint {
    /// The point of a flow key and the DSCP of its first packet.
    ///
    /// A flow whose source and destination families differ cannot exist on
    /// the wire; it is mapped by its destination's family.
    pub fn new(key: &FlowKey, dscp: u8) -> Self {
        let (family, dst) = addr_value(key.dst);
        let (_, src) = addr_value(key.src);
        Self {
            family,
            src,
            dst,
            protocol: key.protocol.0,
            src_port: key.src_port,
            dst_port: key.dst_port,
            dscp: dscp & 63,
        }
    }
}

/// An address as (family, value).
pub fn addr_value(ip: IpAddr) -> (u8, u128) {
    match ip {
        IpAddr::V4(a) => (FAMILY_V4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (FAMILY_V6, u128::from(a)),
    }
}

/// The address back from (family, value); values too large for IPv4 saturate.
pub fn value_addr(family: u8, value: u128) -> IpAddr {
    if family == FAMILY_V4 {
        IpAddr::V4(u32::try_from(value).unwrap_or(u32::MAX).into())
    } else {
        IpAddr::V6(value.into())
    }
}

/// A prefix as (family, address range).
pub fn prefix_span(p: &IpPrefix) -> (u8, Span<u128>) {
    let (family, base) = addr_value(p.addr());
    let bits: u32 = if family == FAMILY_V4 { 32 } else { 128 };
    let host_bits = bits - u32::from(p.prefix_len());
    let size_minus_one = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    (family, Span { lo: base, hi: base | size_minus_one })
}

/// An axis-aligned box in flow space: one inclusive range per dimension.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FlowBox {
    /// Address families.
    pub family: Span<u8>,
    /// Source addresses.
    pub src: Span<u128>,
    /// Destination addresses.
    pub dst: Span<u128>,
    /// IP protocols.
    pub protocol: Span<u8>,
    /// Source ports.
    pub src_port: Span<u16>,
    /// Destination ports.
    pub dst_port: Span<u16>,
    /// DSCP code points.
    pub dscp: Span<u8>,
}

impl FlowBox {
    /// The box holding every flow.
    pub const ALL: Self = Self {
        family: ANY_FAMILY,
        src: ANY_ADDR,
        dst: ANY_ADDR,
        protocol: ANY_U8,
        src_port: ANY_PORT,
        dst_port: ANY_PORT,
        dscp: ANY_DSCP,
    };

    /// Whether the flow lies in the box.
    pub fn contains(&self, p: &FlowPoint) -> bool {
        self.family.contains(p.family)
            && self.src.contains(p.src)
            && self.dst.contains(p.dst)
            && self.protocol.contains(p.protocol)
            && self.src_port.contains(p.src_port)
            && self.dst_port.contains(p.dst_port)
            && self.dscp.contains(p.dscp)
    }

    /// Whether every flow of `other` lies in this box.
    pub fn covers(&self, other: &Self) -> bool {
        self.family.covers(&other.family)
            && self.src.covers(&other.src)
            && self.dst.covers(&other.dst)
            && self.protocol.covers(&other.protocol)
            && self.src_port.covers(&other.src_port)
            && self.dst_port.covers(&other.dst_port)
            && self.dscp.covers(&other.dscp)
    }

    /// The common part, if any.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        Some(Self {
            family: self.family.intersect(&other.family)?,
            src: self.src.intersect(&other.src)?,
            dst: self.dst.intersect(&other.dst)?,
            protocol: self.protocol.intersect(&other.protocol)?,
            src_port: self.src_port.intersect(&other.src_port)?,
            dst_port: self.dst_port.intersect(&other.dst_port)?,
            dscp: self.dscp.intersect(&other.dscp)?,
        })
    }

    /// The lowest flow in the box (a representative for reports).
    pub fn low_corner(&self) -> FlowPoint {
        FlowPoint {
            family: self.family.lo,
            src: self.src.lo,
            dst: self.dst.lo,
            protocol: self.protocol.lo,
            src_port: self.src_port.lo,
            dst_port: self.dst_port.lo,
            dscp: self.dscp.lo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_map_to_address_ranges_including_the_edges() {
        let p = |s: &str| prefix_span(&IpPrefix::parse(s).unwrap());
        assert_eq!(p("0.0.0.0/0"), (FAMILY_V4, Span { lo: 0, hi: u128::from(u32::MAX) }));
        assert_eq!(p("10.1.2.3/32"), (FAMILY_V4, Span::one(0x0a01_0203)));
        assert_eq!(p("10.1.0.0/16"), (FAMILY_V4, Span { lo: 0x0a01_0000, hi: 0x0a01_ffff }));
        assert_eq!(p("::/0"), (FAMILY_V6, ANY_ADDR));
        assert_eq!(p("fd00::1/128").1.lo, p("fd00::1/128").1.hi);
    }

    #[test]
    fn boxes_intersect_only_when_every_dimension_overlaps() {
        let a = FlowBox { dst_port: Span { lo: 10, hi: 20 }, ..FlowBox::ALL };
        let b = FlowBox { dst_port: Span { lo: 20, hi: 30 }, ..FlowBox::ALL };
        let c = FlowBox { dst_port: Span { lo: 21, hi: 30 }, ..FlowBox::ALL };
        assert_eq!(a.intersect(&b).unwrap().dst_port, Span::one(20));
        assert!(a.intersect(&c).is_none());
        assert!(FlowBox::ALL.covers(&a) && !a.covers(&FlowBox::ALL));
    }
}
