//! ICMP echo through a gateway's tunnel: a raw socket pinned to charon's
//! TUN device (`SO_BINDTODEVICE`) and bound to the site's address, so the
//! probes take the tunnel whatever the routing table says for the remote
//! prefixes (the kernel treats the destination as on-link of the device).

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, Result, bail};
use socket2::{Domain, Protocol, Socket, Type};

/// One gateway's echo socket.
pub(crate) struct Echo {
    socket: Socket,
    ident: u16,
    target: Ipv4Addr,
}

impl Echo {
    /// A socket sending echo requests with identifier `ident` from `source`
    /// to `target` out of `device`.
    pub(crate) fn open(device: &str, source: IpAddr, target: IpAddr, ident: u16) -> Result<Echo> {
        let (IpAddr::V4(source), IpAddr::V4(target)) = (source, target) else {
            bail!("IPsec probes are IPv4 only for now ({source} -> {target})");
        };
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))
            .context("raw ICMP socket")?;
        socket
            .bind_device(Some(device.as_bytes()))
            .with_context(|| format!("binding to {device}"))?;
        socket
            .bind(&SocketAddr::new(source.into(), 0).into())
            .with_context(|| format!("binding to {source}"))?;
        socket.set_nonblocking(true)?;
        Ok(Echo { socket, ident, target })
    }

    /// Sends echo request `seq`.
    pub(crate) fn send(&self, seq: u16) -> std::io::Result<()> {
        let packet = request(self.ident, seq);
        self.socket.send_to(&packet, &SocketAddr::new(self.target.into(), 0).into()).map(|_| ())
    }

    /// The sequence numbers of the answers waiting (non-blocking).
    pub(crate) fn replies(&self) -> Vec<u16> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1500];
        while let Ok(n) = (&self.socket).read(&mut buf) {
            if let Some(seq) = reply(&buf[..n], self.ident, self.target) {
                out.push(seq);
            }
        }
        out
    }
}

/// An echo request (type 8) with a 16-byte payload.
fn request(ident: u16, seq: u16) -> [u8; 24] {
    let mut p = [0u8; 24];
    p[0] = 8;
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..].copy_from_slice(b"weft-ipsec-probe");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The sequence number of an echo reply (type 0) with our identifier from
/// `from`, given the whole IPv4 packet a raw socket reads; `None` for
/// anything else, malformed or short packets included.
fn reply(packet: &[u8], ident: u16, from: Ipv4Addr) -> Option<u16> {
    let ihl = usize::from(*packet.first()? & 0x0f) * 4;
    if ihl < 20 || packet.get(9) != Some(&1) {
        return None;
    }
    let src = Ipv4Addr::new(*packet.get(12)?, *packet.get(13)?, *packet.get(14)?, *packet.get(15)?);
    let icmp = packet.get(ihl..ihl + 8)?;
    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
    (src == from && icmp[0] == 0 && id == ident).then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_checks_out_and_only_our_replies_are_read() {
        let req = request(0x1234, 7);
        assert_eq!(checksum(&req), 0, "a packet with its checksum sums to zero");
        let from = Ipv4Addr::new(10, 77, 2, 1);
        let mut ip = vec![0x45, 0, 0, 44, 0, 0, 0, 0, 64, 1, 0, 0, 10, 77, 2, 1, 10, 77, 1, 1];
        let mut echo = req.to_vec();
        echo[0] = 0;
        ip.extend_from_slice(&echo);
        assert_eq!(reply(&ip, 0x1234, from), Some(7));
        assert_eq!(reply(&ip, 0x1235, from), None, "another prober's identifier");
        assert_eq!(reply(&ip, 0x1234, Ipv4Addr::new(10, 77, 2, 2)), None, "another source");
        assert_eq!(reply(&ip[..24], 0x1234, from), None, "truncated");
        assert_eq!(reply(&[0x4f], 0x1234, from), None, "an options length past the end");
        ip[20] = 8;
        assert_eq!(reply(&ip, 0x1234, from), None, "a request is not a reply");
    }
}
