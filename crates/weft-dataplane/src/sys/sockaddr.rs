//! Conversions between [`SocketAddr`] and the C `sockaddr_storage` that
//! `recvmmsg`/`sendmmsg` read and write.

use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A zeroed `sockaddr_storage`.
pub(crate) fn zeroed() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is a plain C struct of integers and byte arrays;
    // all-zero bytes are a valid value of it.
    unsafe { mem::zeroed() }
}

/// Writes `addr` into a `sockaddr_storage`; returns it and its used length.
pub(crate) fn to_raw(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let mut storage = zeroed();
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and at least as aligned as
            // sockaddr_in (that is its purpose), and `storage` is a live local.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in>(), sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in6>(), sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Reads the address the kernel wrote into `storage` (`len` bytes); `None`
/// for a family other than IPv4/IPv6 or a short length. IPv4-mapped IPv6
/// sources are returned as IPv4.
pub(crate) fn from_raw(
    storage: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the kernel wrote a sockaddr_in, the length
            // covers it, and sockaddr_storage is suitably sized and aligned.
            let sin = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            if let Some(v4) = ip.to_ipv4_mapped() {
                return Some(SocketAddr::V4(SocketAddrV4::new(v4, port)));
            }
            let flow = u32::from_be(sin6.sin6_flowinfo);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, port, flow, sin6.sin6_scope_id)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_addresses_survive_a_round_trip() {
        for a in [
            "198.18.1.2:51820".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 7, 0, 3)),
        ] {
            let (raw, len) = to_raw(a);
            assert_eq!(from_raw(&raw, len), Some(a));
        }
    }

    #[test]
    fn a_mapped_ipv6_source_reads_as_ipv4() {
        let (raw, len) = to_raw("[::ffff:10.1.2.3]:9".parse().unwrap());
        assert_eq!(from_raw(&raw, len), Some("10.1.2.3:9".parse().unwrap()));
    }

    #[test]
    fn an_unknown_family_or_short_length_gives_none() {
        let raw = zeroed();
        assert_eq!(from_raw(&raw, 128), None);
        let (raw, _) = to_raw("10.0.0.1:1".parse().unwrap());
        assert_eq!(from_raw(&raw, 4), None);
    }
}
