//! IP prefixes (`10.1.0.0/16`, `fd00:1::/64`), IPv4 and IPv6 alike.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// Why a prefix string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The address part did not parse.
    #[error("{0:?} is not an IP address")]
    Address(String),
    /// The length part did not parse or is too long for the family.
    #[error("prefix length {len:?} is invalid for {family} (0..={max})")]
    Length {
        /// The offered length text.
        len: String,
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// Longest valid length for the family.
        max: u8,
    },
    /// Bits were set after the prefix length (`10.1.2.3/16`), in strict parsing.
    #[error("{0} has host bits set; did you mean {1}?")]
    HostBits(String, IpPrefix),
}

/// An IP network: an address and a prefix length, with the host bits cleared.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    /// Makes a prefix, clearing any host bits. Fails when `len` is too long.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        let max = max_len(addr);
        if len > max {
            return Err(PrefixError::Length { len: len.to_string(), family: family(addr), max });
        }
        Ok(Self { addr: mask(addr, len), len })
    }

    /// The prefix holding just `addr` (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        Self { addr, len: max_len(addr) }
    }

    /// Parses `ADDR/LEN` (or a bare address, meaning a host prefix); clears host bits.
    pub fn parse(s: &str) -> Result<Self, PrefixError> {
        let s = s.trim();
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr_text.parse().map_err(|_| PrefixError::Address(addr_text.to_owned()))?;
        let max = max_len(addr);
        let len = match len_text {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max && !l.starts_with('+') => n,
                _ => {
                    return Err(PrefixError::Length {
                        len: l.to_owned(),
                        family: family(addr),
                        max,
                    });
                }
            },
        };
        Self::new(addr, len)
    }

    /// Like [`IpPrefix::parse`], but refuses host bits after the length.
    pub fn parse_strict(s: &str) -> Result<Self, PrefixError> {
        let p = Self::parse(s)?;
        let given: IpAddr = s
            .trim()
            .split('/')
            .next()
            .unwrap_or("")
            .parse()
            .map_err(|_| PrefixError::Address(s.to_owned()))?;
        if given != p.addr {
            return Err(PrefixError::HostBits(s.trim().to_owned(), p));
        }
        Ok(p)
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for `/0`, which matches every address of its family.
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` lies in this prefix (families must match).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.len) == self.addr
            }
            _ => false,
        }
    }

    /// Whether every address of `other` lies in this prefix.
    pub fn covers(&self, other: &IpPrefix) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }

    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, other: &IpPrefix) -> bool {
        self.covers(other) || other.covers(self)
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Debug for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for IpPrefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for IpPrefix {
    type Error = PrefixError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<IpPrefix> for String {
    fn from(value: IpPrefix) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> IpPrefix {
        IpPrefix::parse(s).unwrap()
    }

    #[test]
    fn parsing_clears_host_bits_and_strict_parsing_refuses_them() {
        assert_eq!(p("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert!(matches!(IpPrefix::parse_strict("10.1.2.3/16"), Err(PrefixError::HostBits(..))));
        assert_eq!(IpPrefix::parse_strict("10.1.0.0/16").unwrap(), p("10.1.0.0/16"));
        assert_eq!(p("fd00::1/64").to_string(), "fd00::/64");
        assert_eq!(p("192.0.2.7").prefix_len(), 32);
    }

    #[test]
    fn bad_prefixes_name_what_is_wrong() {
        assert!(matches!(IpPrefix::parse("10.1.0.0/33"), Err(PrefixError::Length { max: 32, .. })));
        assert!(matches!(IpPrefix::parse("fd00::/129"), Err(PrefixError::Length { max: 128, .. })));
        assert!(matches!(IpPrefix::parse("10.1.0/8"), Err(PrefixError::Address(_))));
        assert!(matches!(IpPrefix::parse("10.0.0.0/-1"), Err(PrefixError::Length { .. })));
        assert!(matches!(IpPrefix::parse("10.0.0.0/+8"), Err(PrefixError::Length { .. })));
    }

    #[test]
    fn zero_length_prefix_contains_its_whole_family_only() {
        let all4 = p("0.0.0.0/0");
        assert!(all4.contains("255.255.255.255".parse().unwrap()));
        assert!(!all4.contains("::1".parse().unwrap()));
        let all6 = p("::/0");
        assert!(all6.contains("fd00::1".parse().unwrap()));
        assert!(!all6.contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn host_prefixes_contain_exactly_one_address() {
        let h = p("10.0.0.5/32");
        assert!(h.contains("10.0.0.5".parse().unwrap()));
        assert!(!h.contains("10.0.0.4".parse().unwrap()));
        let h6 = p("fd00::5/128");
        assert!(h6.contains("fd00::5".parse().unwrap()));
        assert!(!h6.contains("fd00::6".parse().unwrap()));
    }

    #[test]
    fn covers_and_overlaps_agree_with_containment() {
        assert!(p("10.0.0.0/8").covers(&p("10.1.0.0/16")));
        assert!(!p("10.1.0.0/16").covers(&p("10.0.0.0/8")));
        assert!(p("10.1.0.0/16").overlaps(&p("10.0.0.0/8")));
        assert!(!p("10.1.0.0/16").overlaps(&p("10.2.0.0/16")));
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(a in any::<u32>(), len in 0u8..=32) {
            let pre = IpPrefix::new(IpAddr::V4(Ipv4Addr::from(a)), len).unwrap();
            prop_assert_eq!(IpPrefix::parse(&pre.to_string()).unwrap(), pre);
        }

        #[test]
        fn a_prefix_contains_the_address_it_was_made_from(a in any::<u128>(), len in 0u8..=128) {
            let ip = IpAddr::V6(Ipv6Addr::from(a));
            prop_assert!(IpPrefix::new(ip, len).unwrap().contains(ip));
        }
    }
}
