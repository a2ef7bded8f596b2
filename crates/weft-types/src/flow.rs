//! Flow keys: the 5-tuple that identifies one application flow.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An IP protocol number, with names for the common ones.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// ICMP (1).
    pub const ICMP: Self = Self(1);
    /// TCP (6).
    pub const TCP: Self = Self(6);
    /// UDP (17).
    pub const UDP: Self = Self(17);
    /// ICMPv6 (58).
    pub const ICMPV6: Self = Self(58);

    /// Whether the protocol carries 16-bit source and destination ports.
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 132 | 136)
    }

    /// Parses `tcp`, `udp`, `icmp`, `icmpv6` or a number.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Self::TCP),
            "udp" => Some(Self::UDP),
            "icmp" => Some(Self::ICMP),
            "icmpv6" | "ipv6-icmp" => Some(Self::ICMPV6),
            n => n.parse().ok().map(Self),
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TCP => f.write_str("tcp"),
            Self::UDP => f.write_str("udp"),
            Self::ICMP => f.write_str("icmp"),
            Self::ICMPV6 => f.write_str("icmpv6"),
            Self(n) => write!(f, "proto-{n}"),
        }
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The 5-tuple of a flow, as seen leaving the local site.
///
/// Ports are zero for protocols without ports.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FlowKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol.
    pub protocol: IpProtocol,
    /// Source port (0 when the protocol has none).
    pub src_port: u16,
    /// Destination port (0 when the protocol has none).
    pub dst_port: u16,
}

impl FlowKey {
    /// A stable 64-bit hash of the 5-tuple, the same in every process and
    /// release: flow-hash load balancing relies on it being sticky.
    pub fn stable_hash(&self) -> u64 {
        let mut h = mix64(
            u64::from(self.protocol.0) << 32
                | u64::from(self.src_port) << 16
                | u64::from(self.dst_port),
        );
        h = mix64(h ^ addr_bits(self.src));
        mix64(h ^ addr_bits(self.dst).rotate_left(17))
    }
}

fn addr_bits(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            mix64(v as u64) ^ (v >> 64) as u64
        }
    }
}

/// The SplitMix64 finaliser: a fast, well-mixing bijection on `u64`, stable
/// across processes and releases (rendezvous hashing and the RNG rely on it).
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.protocol.has_ports() {
            write!(
                f,
                "{} {}:{} -> {}:{}",
                self.protocol,
                fmt_ip(self.src),
                self.src_port,
                fmt_ip(self.dst),
                self.dst_port
            )
        } else {
            write!(f, "{} {} -> {}", self.protocol, self.src, self.dst)
        }
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn fmt_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sport: u16) -> FlowKey {
        FlowKey {
            src: "10.1.0.5".parse().unwrap(),
            dst: "10.2.0.9".parse().unwrap(),
            protocol: IpProtocol::UDP,
            src_port: sport,
            dst_port: 5060,
        }
    }

    #[test]
    fn stable_hash_is_a_fixed_function_of_the_tuple() {
        // Pinned value: if this changes, sticky flows move to other paths on upgrade.
        assert_eq!(key(4000).stable_hash(), 0xa422_80ad_6ce3_cb61);
        assert_ne!(key(4000).stable_hash(), key(4001).stable_hash());
        let swapped = FlowKey { src: key(1).dst, dst: key(1).src, ..key(1) };
        assert_ne!(swapped.stable_hash(), key(1).stable_hash());
    }

    #[test]
    fn stable_hash_spreads_consecutive_ports_evenly() {
        let mut buckets = [0u32; 4];
        for p in 0..4000u16 {
            buckets[(key(p).stable_hash() % 4) as usize] += 1;
        }
        for b in buckets {
            assert!((900..1100).contains(&b), "uneven buckets {buckets:?}");
        }
    }

    #[test]
    fn protocols_parse_by_name_or_number() {
        assert_eq!(IpProtocol::parse("TCP"), Some(IpProtocol::TCP));
        assert_eq!(IpProtocol::parse("47"), Some(IpProtocol(47)));
        assert_eq!(IpProtocol::parse("nope"), None);
        assert_eq!(key(1).to_string(), "udp 10.1.0.5:1 -> 10.2.0.9:5060");
    }
}
