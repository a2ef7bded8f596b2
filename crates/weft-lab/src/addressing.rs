//! The underlay address plan and interface names.
//!
//! Every lab uses the same plan; labs never clash because each lives in its own
//! namespaces. The underlay is carved from 198.18.0.0/15 (RFC 2544's benchmarking
//! range), so it never overlaps an overlay prefix the agent hands out later.
//!
//! Site number `s` (0-based) and uplink number `u` (0-based) get the /30
//! `198.18.{s+1}.{4u}/30`:
//!
//! | address | who |
//! |---|---|
//! | `198.18.{s+1}.{4u+1}` | the internet namespace's end (`s{s}u{u}`), the site's gateway |
//! | `198.18.{s+1}.{4u+2}` | the site's end (interface named after the uplink, e.g. `u0`) |
//!
//! so site `a` (s = 0) has `198.18.1.2` on `u0` and `198.18.1.6` on `u1`. That allows
//! [`MAX_SITES`] sites and [`MAX_UPLINKS`] uplinks per site.
//!
//! Routing inside a site: uplink `u` has its own table `100+u` with a default route
//! through its gateway, chosen by the rule `from <uplink address> lookup 100+u`; the
//! main table's default route uses uplink 0. So a socket bound to an uplink's address
//! (or `ping -I <address>`) leaves by that uplink, and every pair of sites has
//! M×M underlay paths. Sites reach each other only through the internet namespace.

use std::net::Ipv4Addr;

/// Most sites one lab can hold.
pub const MAX_SITES: usize = 254;
/// Most uplinks one site can have.
pub const MAX_UPLINKS: usize = 63;
/// Prefix length of every uplink subnet.
pub const PREFIX_LEN: u8 = 30;
/// The underlay range all lab addresses come from.
pub const UNDERLAY: &str = "198.18.0.0/15";
/// Name of the emulator's TUN device in the internet namespace.
pub const TUN_NAME: &str = "wanem0";
/// Routing table, in the internet namespace, that sends diverted packets to the TUN.
pub const DIVERT_TABLE: u32 = 100;
/// First per-uplink routing table inside a site (`100 + uplink index`).
pub const SITE_TABLE_BASE: u32 = 100;

fn octets(site: usize, uplink: usize) -> (u8, u8) {
    assert!(site < MAX_SITES && uplink < MAX_UPLINKS, "site {site} uplink {uplink} out of plan");
    ((site + 1) as u8, (4 * uplink) as u8)
}

/// The site's own address on an uplink.
pub fn site_addr(site: usize, uplink: usize) -> Ipv4Addr {
    let (c, d) = octets(site, uplink);
    Ipv4Addr::new(198, 18, c, d + 2)
}

/// The gateway (internet namespace side) of an uplink.
pub fn gateway_addr(site: usize, uplink: usize) -> Ipv4Addr {
    let (c, d) = octets(site, uplink);
    Ipv4Addr::new(198, 18, c, d + 1)
}

/// Which (site, uplink) an underlay address belongs to, site end or gateway end.
pub fn owner_of(addr: Ipv4Addr) -> Option<(usize, usize)> {
    let [a, b, c, d] = addr.octets();
    if a != 198 || b != 18 || c == 0 || c == 255 {
        return None;
    }
    let (site, uplink) = (usize::from(c) - 1, usize::from(d) / 4);
    (uplink < MAX_UPLINKS && matches!(d % 4, 1 | 2)).then_some((site, uplink))
}

/// Interface name of an uplink's veth end in the internet namespace.
pub fn inet_ifname(site: usize, uplink: usize) -> String {
    format!("s{site}u{uplink}")
}

/// Routing table of an uplink inside its site.
pub fn site_table(uplink: usize) -> u32 {
    SITE_TABLE_BASE + uplink as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_a_uplinks_get_consecutive_slash_30s() {
        assert_eq!(site_addr(0, 0), Ipv4Addr::new(198, 18, 1, 2));
        assert_eq!(gateway_addr(0, 0), Ipv4Addr::new(198, 18, 1, 1));
        assert_eq!(site_addr(0, 1), Ipv4Addr::new(198, 18, 1, 6));
        assert_eq!(site_addr(2, 62), Ipv4Addr::new(198, 18, 3, 250));
        assert_eq!(site_addr(253, 0), Ipv4Addr::new(198, 18, 254, 2));
    }

    #[test]
    fn every_address_maps_back_to_its_owner() {
        for s in [0, 1, 7, 253] {
            for u in [0, 1, 5, 62] {
                assert_eq!(owner_of(site_addr(s, u)), Some((s, u)));
                assert_eq!(owner_of(gateway_addr(s, u)), Some((s, u)));
            }
        }
        assert_eq!(owner_of(Ipv4Addr::new(10, 0, 0, 1)), None);
        assert_eq!(owner_of(Ipv4Addr::new(198, 18, 1, 0)), None);
        assert_eq!(owner_of(Ipv4Addr::new(198, 18, 1, 3)), None);
    }

    #[test]
    fn inet_interface_names_fit_in_fifteen_bytes() {
        assert!(inet_ifname(MAX_SITES - 1, MAX_UPLINKS - 1).len() <= 15);
    }
}
