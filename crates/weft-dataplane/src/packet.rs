//! Reading the flow key (5-tuple) and addresses out of IP packets.
//!
//! Every read is bounds-checked: a truncated or malformed packet yields a
//! [`PacketError`] that the caller counts and drops, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use weft_types::{FlowKey, IpProtocol};

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Empty, or shorter than its IP header.
    #[error("truncated IP packet")]
    Truncated,
    /// The version nibble is neither 4 nor 6.
    #[error("not an IPv4 or IPv6 packet (version {0})")]
    BadVersion(u8),
    /// An IPv4 header length below 20 bytes.
    #[error("bad IPv4 header length")]
    BadHeaderLength,
}

/// Source and destination of an IP packet.
pub fn addresses(packet: &[u8]) -> Result<(IpAddr, IpAddr), PacketError> {
    if version(packet)? == 4 {
        let h = packet.get(..20).ok_or(PacketError::Truncated)?;
        Ok((ip4(&h[12..16]), ip4(&h[16..20])))
    } else {
        let h = packet.get(..40).ok_or(PacketError::Truncated)?;
        Ok((ip6(&h[8..24]), ip6(&h[24..40])))
    }
}

/// The DSCP code point (0..=63) of an IP packet: the top six bits of the IPv4
/// TOS byte or the IPv6 traffic class; 0 for anything too short to carry one.
pub fn dscp(packet: &[u8]) -> u8 {
    match (packet.first().map(|b| b >> 4), packet.get(1)) {
        (Some(4), Some(tos)) => tos >> 2,
        (Some(6), Some(b1)) => (((packet[0] & 0x0f) << 4) | (b1 >> 4)) >> 2,
        _ => 0,
    }
}

/// The flow key of an outgoing packet. Ports are read for TCP, UDP, SCTP and
/// UDP-Lite when present; a first fragment without them, later fragments and
/// other protocols get ports 0. IPv6 extension headers are not walked: the
/// protocol is the first Next Header (flows stay consistent either way).
pub fn flow_key(packet: &[u8]) -> Result<FlowKey, PacketError> {
    let (src, dst) = addresses(packet)?;
    let (protocol, l4, fragment_offset) = match version(packet)? {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if ihl < 20 {
                return Err(PacketError::BadHeaderLength);
            }
            let frag = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff;
            (IpProtocol(packet[9]), packet.get(ihl..).unwrap_or(&[]), frag)
        }
        _ => (IpProtocol(packet[6]), packet.get(40..).unwrap_or(&[]), 0),
    };
    let (src_port, dst_port) = if protocol.has_ports() && fragment_offset == 0 && l4.len() >= 4 {
        (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]))
    } else {
        (0, 0)
    };
    Ok(FlowKey { src, dst, protocol, src_port, dst_port })
}

fn version(packet: &[u8]) -> Result<u8, PacketError> {
    let v = packet.first().ok_or(PacketError::Truncated)? >> 4;
    match v {
        4 | 6 => Ok(v),
        v => Err(PacketError::BadVersion(v)),
    }
}

fn ip4(b: &[u8]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn ip6(b: &[u8]) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    IpAddr::V6(Ipv6Addr::from(a))
}

/// Decrements a forwarded packet's hop limit (IPv4 TTL, fixing the header
/// checksum incrementally as RFC 1624 does; IPv6 hop limit). Returns `false`
/// and leaves the packet alone when it must not be forwarded: the hop limit
/// is 1 or 0, or the packet is too short or not IP.
pub fn decrement_hop_limit(packet: &mut [u8]) -> bool {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            if packet[8] <= 1 {
                return false;
            }
            packet[8] -= 1;
            // The TTL is the high byte of the 16-bit word at offset 8: the
            // word dropped by 0x0100, so the one's-complement sum gains it back.
            let sum = u32::from(u16::from_be_bytes([packet[10], packet[11]])) + 0x0100;
            let folded = (sum & 0xffff) + (sum >> 16);
            packet[10..12].copy_from_slice(&(folded as u16).to_be_bytes());
            true
        }
        Some(6) if packet.len() >= 40 => {
            if packet[7] <= 1 {
                return false;
            }
            packet[7] -= 1;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn udp4(sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 1, 0, 5]);
        p[16..20].copy_from_slice(&[10, 2, 0, 9]);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn an_ipv4_udp_packet_gives_its_five_tuple() {
        let k = flow_key(&udp4(4000, 5060)).unwrap();
        assert_eq!(k.to_string(), "udp 10.1.0.5:4000 -> 10.2.0.9:5060");
    }

    #[test]
    fn ipv4_options_are_skipped_and_fragments_have_no_ports() {
        let mut p = udp4(4000, 5060);
        p[0] = 0x46;
        p.splice(20..20, [0u8; 4]);
        assert_eq!(flow_key(&p).unwrap().dst_port, 5060);
        let mut frag = udp4(4000, 5060);
        frag[7] = 10;
        assert_eq!(flow_key(&frag).unwrap().dst_port, 0);
    }

    #[test]
    fn an_ipv6_tcp_packet_gives_its_five_tuple() {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[6] = 6;
        p[8..24].copy_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
        p[40..42].copy_from_slice(&443u16.to_be_bytes());
        p[42..44].copy_from_slice(&55000u16.to_be_bytes());
        let k = flow_key(&p).unwrap();
        assert_eq!((k.protocol, k.src_port, k.dst_port), (IpProtocol::TCP, 443, 55000));
        assert_eq!(k.dst.to_string(), "fd00::2");
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(flow_key(&[]), Err(PacketError::Truncated));
        assert_eq!(flow_key(&[0x45, 0, 0]), Err(PacketError::Truncated));
        assert_eq!(flow_key(&[0x20; 40]), Err(PacketError::BadVersion(2)));
        let mut p = udp4(1, 2);
        p[0] = 0x43;
        assert_eq!(flow_key(&p), Err(PacketError::BadHeaderLength));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = flow_key(&data);
            let _ = addresses(&data);
        }
    }

    #[test]
    fn dscp_is_read_from_the_tos_byte_and_the_ipv6_traffic_class() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[1] = 46 << 2; // EF
        assert_eq!(dscp(&v4), 46);
        let mut v6 = [0u8; 40];
        // version 6, traffic class 0xb8 (EF << 2) split over bytes 0 and 1
        v6[0] = 0x6b;
        v6[1] = 0x80;
        assert_eq!(dscp(&v6), 46);
        assert_eq!(dscp(&[]), 0);
        assert_eq!(dscp(&[0x45]), 0);
    }

    fn ipv4_checksum(header: &[u8]) -> u16 {
        let mut sum = 0u32;
        for w in header.chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn forwarding_decrements_the_ttl_and_keeps_the_ipv4_checksum_valid() {
        for ttl in [2u8, 64, 255] {
            let mut p = vec![0u8; 28];
            p[0] = 0x45;
            p[2..4].copy_from_slice(&28u16.to_be_bytes());
            p[8] = ttl;
            p[9] = 17;
            p[12..16].copy_from_slice(&[10, 10, 1, 2]);
            p[16..20].copy_from_slice(&[10, 10, 3, 2]);
            let c = ipv4_checksum(&p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            assert!(decrement_hop_limit(&mut p));
            assert_eq!(p[8], ttl - 1);
            assert_eq!(ipv4_checksum(&p[..20]), 0, "a valid header sums to 0xffff (ttl {ttl})");
        }
    }

    #[test]
    fn a_packet_at_its_last_hop_is_not_forwarded() {
        let mut v4 = vec![0u8; 20];
        v4[0] = 0x45;
        v4[8] = 1;
        assert!(!decrement_hop_limit(&mut v4));
        assert_eq!(v4[8], 1);
        let mut v6 = vec![0u8; 40];
        v6[0] = 0x60;
        v6[7] = 1;
        assert!(!decrement_hop_limit(&mut v6));
        v6[7] = 9;
        assert!(decrement_hop_limit(&mut v6));
        assert_eq!(v6[7], 8);
        assert!(!decrement_hop_limit(&mut [0x45, 0, 0]));
        assert!(!decrement_hop_limit(&mut []));
    }
}
