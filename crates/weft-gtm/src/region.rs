//! The client-prefix → region table of a DNS site, and the EDNS Client
//! Subnet (RFC 7871) scope an answer may claim.
//!
//! A client (the ECS address when the query carries one, else the
//! resolver's address) belongs to the region of the longest table prefix
//! that contains it; with none, to the table's default region. The answer
//! depends on nothing finer than that match, so the scope is the matched
//! prefix's length — made longer only as far as needed to keep out any
//! more specific table prefix inside it (whose clients would be decided
//! differently). That may be longer than the source prefix the client
//! sent, which RFC 7871 (7.2.1) reads as "the source was not specific
//! enough": the resolver then asks again with a longer one.

use std::net::IpAddr;

use weft_types::IpPrefix;

/// A region the table placed a client in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionMatch {
    /// The region's name.
    pub region: String,
    /// The table prefix that matched (none: the default region).
    pub prefix: Option<IpPrefix>,
}

/// Prefix → region, longest match first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionTable {
    /// Sorted by prefix length, longest first.
    entries: Vec<(IpPrefix, String)>,
    default_region: String,
}

/// The number of leading bits `a` and `b` share (same family assumed).
fn common_bits(a: IpAddr, b: IpAddr) -> u8 {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) ^ u32::from(b)).leading_zeros() as u8,
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a) ^ u128::from(b)).leading_zeros() as u8,
        _ => 0,
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

impl RegionTable {
    /// A table; clients no prefix contains belong to `default_region`.
    pub fn new(
        entries: impl IntoIterator<Item = (IpPrefix, String)>,
        default_region: &str,
    ) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        entries.sort_by(|a, b| b.0.prefix_len().cmp(&a.0.prefix_len()).then(a.0.cmp(&b.0)));
        entries.dedup_by(|a, b| a.0 == b.0);
        Self { entries, default_region: default_region.to_owned() }
    }

    /// The default region.
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// Every region named (the default last).
    pub fn regions(&self) -> Vec<String> {
        let mut v: Vec<String> = self.entries.iter().map(|(_, r)| r.clone()).collect();
        v.sort();
        v.dedup();
        if !v.contains(&self.default_region) {
            v.push(self.default_region.clone());
        }
        v
    }

    /// The region of `client`.
    pub fn lookup(&self, client: IpAddr) -> RegionMatch {
        let client = canonical(client);
        match self.entries.iter().find(|(p, _)| p.contains(client)) {
            Some((p, r)) => RegionMatch { region: r.clone(), prefix: Some(*p) },
            None => RegionMatch { region: self.default_region.clone(), prefix: None },
        }
    }

    /// The ECS scope prefix length for an answer decided by `m` for the
    /// client subnet address `source` (zeros past its source length, as
    /// ECS sends it).
    pub fn scope(&self, m: &RegionMatch, source: IpAddr) -> u8 {
        let source = canonical(source);
        let base = m.prefix.map_or(0, |p| p.prefix_len());
        let mut scope = base;
        for (p, _) in &self.entries {
            if p.prefix_len() <= base || !same_family(p.addr(), source) {
                continue;
            }
            // Only prefixes inside the matched one (all of the family for
            // the default region) can carve out different clients.
            if let Some(mp) = m.prefix
                && !mp.covers(p)
            {
                continue;
            }
            if p.contains(source) {
                continue;
            }
            // The client's prefix at `scope` bits must not overlap `p`:
            // one bit past where they diverge is enough.
            let diverge = common_bits(source, p.addr()).min(p.prefix_len());
            scope = scope.max(diverge.saturating_add(1));
        }
        scope
    }
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> IpPrefix {
        IpPrefix::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table() -> RegionTable {
        RegionTable::new(
            [
                (p("10.1.0.0/16"), "eu".to_owned()),
                (p("10.2.0.0/16"), "us".to_owned()),
                (p("10.1.128.0/24"), "ap".to_owned()),
            ],
            "default",
        )
    }

    #[test]
    fn the_longest_prefix_decides_the_region() {
        let t = table();
        assert_eq!(t.lookup(ip("10.1.2.3")).region, "eu");
        assert_eq!(t.lookup(ip("10.1.128.9")).region, "ap");
        assert_eq!(t.lookup(ip("10.2.0.1")).region, "us");
        assert_eq!(t.lookup(ip("192.0.2.1")).region, "default");
        assert_eq!(t.lookup(ip("::ffff:10.2.0.1")).region, "us");
    }

    #[test]
    fn the_scope_is_the_matched_prefix_when_nothing_finer_is_inside() {
        let t = table();
        let m = t.lookup(ip("10.2.7.0"));
        assert_eq!(t.scope(&m, ip("10.2.7.0")), 16);
        let m = t.lookup(ip("10.1.128.0"));
        assert_eq!(t.scope(&m, ip("10.1.128.0")), 24);
    }

    #[test]
    fn the_scope_grows_to_keep_a_more_specific_prefix_out() {
        let t = table();
        // 10.1.2.0 is eu, but 10.1.128.0/24 inside 10.1.0.0/16 is ap: the
        // answer holds for 10.1.0.0/17 only.
        let m = t.lookup(ip("10.1.2.0"));
        assert_eq!(t.scope(&m, ip("10.1.2.0")), 17);
        // Clients in the default region share it only with clients outside
        // every table prefix: 192.0.2.0 diverges from 10/8 at bit 0.
        let m = t.lookup(ip("192.0.2.0"));
        assert_eq!(t.scope(&m, ip("192.0.2.0")), 1);
    }

    #[test]
    fn a_default_region_scope_keeps_every_table_prefix_out() {
        let t = table();
        let m = t.lookup(ip("10.0.0.0"));
        assert_eq!(t.scope(&m, ip("10.0.0.0")), 16);
    }

    proptest::proptest! {
        /// Every address inside the claimed scope gets the same region.
        #[test]
        fn every_client_in_the_scope_gets_the_same_region(a in proptest::prelude::any::<u32>(), b in proptest::prelude::any::<u32>()) {
            let t = RegionTable::new(
                [
                    (p("10.0.0.0/8"), "a".to_owned()),
                    (p("10.64.0.0/10"), "b".to_owned()),
                    (p("10.64.3.0/24"), "c".to_owned()),
                    (p("172.16.0.0/12"), "d".to_owned()),
                ],
                "z",
            );
            // Bias toward the interesting space.
            let client = IpAddr::V4(std::net::Ipv4Addr::from((a & 0x00ff_ffff) | 0x0a00_0000));
            let m = t.lookup(client);
            let scope = t.scope(&m, client);
            let net = IpPrefix::new(client, scope).unwrap();
            let other = IpAddr::V4(std::net::Ipv4Addr::from(b));
            if net.contains(other) {
                proptest::prop_assert_eq!(t.lookup(other).region, m.region);
            }
        }
    }
}
