//! The simulated underlay: every site's uplinks with their impairments,
//! partitions between groups of sites, and the addresses that tie a
//! datagram to an (site, uplink).
//!
//! Site `s`, uplink `u` has address `100.(64 + s / 256).(s % 256).(u + 1)`;
//! WireGuard and probes use port 51820 there, gossip port 7946 on uplink 0.
//! An impairment on an uplink applies in both directions, as in the lab: a
//! datagram crosses the sender's uplink and the receiver's, so their delays
//! add and either may lose it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use weft_types::SeededRng;

use crate::sim::LinkProfile;

/// The WireGuard / probe port of every simulated uplink.
pub const WIRE_PORT: u16 = 51820;
/// The gossip port (on uplink 0's address).
pub const MESH_PORT: u16 = 7946;

/// The address of site `site`'s uplink `uplink` on `port`.
pub fn uplink_addr(site: usize, uplink: usize, port: u16) -> SocketAddr {
    let hi = 64 + (site / 256) as u8;
    let lo = (site % 256) as u8;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(100, hi, lo, uplink as u8 + 1)), port)
}

/// The (site, uplink) an address belongs to.
pub fn locate(addr: SocketAddr) -> Option<(usize, usize)> {
    let IpAddr::V4(ip) = addr.ip() else { return None };
    let [a, hi, lo, u] = ip.octets();
    if a != 100 || hi < 64 || u == 0 {
        return None;
    }
    Some((usize::from(hi - 64) * 256 + usize::from(lo), usize::from(u - 1)))
}

/// Every uplink's profile and every site's partition group.
#[derive(Debug, Clone)]
pub struct Underlay {
    /// `[site][uplink]`.
    links: Vec<Vec<LinkProfile>>,
    /// Sites in different groups cannot reach each other (0: everyone's).
    group: Vec<u32>,
    /// Extra one-way delay per site (message-delay faults), added to both ends.
    extra_delay: Vec<Duration>,
    /// Pairs of sites cut from each other (smaller index first).
    cut: std::collections::BTreeSet<(usize, usize)>,
}

impl Underlay {
    /// `sites` sites of `uplinks` uplinks, all with `profile`.
    pub fn new(sites: usize, uplinks: usize, profile: LinkProfile) -> Self {
        Self {
            links: vec![vec![profile; uplinks]; sites],
            group: vec![0; sites],
            extra_delay: vec![Duration::ZERO; sites],
            cut: std::collections::BTreeSet::new(),
        }
    }

    /// Site `s`'s uplink `u`.
    pub fn link(&self, s: usize, u: usize) -> LinkProfile {
        self.links[s][u]
    }

    /// Sets site `s`'s uplink `u`.
    pub fn set_link(&mut self, s: usize, u: usize, p: LinkProfile) {
        self.links[s][u] = p;
    }

    /// Puts every site in group 0 except those listed, which go to the given groups.
    pub fn set_groups(&mut self, groups: &[Vec<usize>]) {
        self.group.iter_mut().for_each(|g| *g = 0);
        for (i, members) in groups.iter().enumerate() {
            for &s in members {
                self.group[s] = i as u32 + 1;
            }
        }
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    /// Sets site `s`'s extra one-way delay.
    pub fn set_extra_delay(&mut self, s: usize, d: Duration) {
        self.extra_delay[s] = d;
    }

    /// Cuts (or restores) everything between `a` and `b` only.
    pub fn set_cut(&mut self, a: usize, b: usize, cut: bool) {
        let key = (a.min(b), a.max(b));
        if cut {
            self.cut.insert(key);
        } else {
            self.cut.remove(&key);
        }
    }

    /// Whether `a` and `b` are on the same side of every partition and not
    /// cut from each other.
    pub fn same_side(&self, a: usize, b: usize) -> bool {
        self.group[a] == self.group[b] && !self.cut.contains(&(a.min(b), a.max(b)))
    }

    /// Whether a datagram from (`a`, `ua`) to (`b`, `ub`) can arrive at all.
    pub fn usable(&self, a: usize, ua: usize, b: usize, ub: usize) -> bool {
        self.same_side(a, b) && self.links[a][ua].up && self.links[b][ub].up
    }

    /// Whether some uplink pair of `a` and `b` is usable (a direct path exists
    /// in the underlay).
    pub fn direct_possible(&self, a: usize, b: usize) -> bool {
        let (na, nb) = (self.links[a].len(), self.links[b].len());
        (0..na).any(|ua| (0..nb).any(|ub| self.usable(a, ua, b, ub)))
    }

    /// The transit time of one datagram, or `None` when it is lost.
    pub fn transit(
        &self,
        rng: &mut SeededRng,
        (a, ua): (usize, usize),
        (b, ub): (usize, usize),
    ) -> Option<Duration> {
        if !self.same_side(a, b) {
            return None;
        }
        let out = self.links[a][ua].transit(rng)?;
        let inn = self.links[b][ub].transit(rng)?;
        Some(out + inn + self.extra_delay[a] + self.extra_delay[b])
    }

    /// The first uplink of `s` that is up (where its gossip leaves from).
    pub fn first_up(&self, s: usize) -> Option<usize> {
        self.links[s].iter().position(|l| l.up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_back_to_their_site_and_uplink() {
        for (s, u) in [(0, 0), (1, 1), (255, 0), (256, 1), (1999, 3)] {
            assert_eq!(locate(uplink_addr(s, u, WIRE_PORT)), Some((s, u)));
        }
        assert_eq!(locate("10.0.0.1:1".parse().unwrap()), None);
    }

    #[test]
    fn a_partition_cuts_only_across_groups_and_heals() {
        let mut net = Underlay::new(4, 2, LinkProfile::ms(5));
        net.set_groups(&[vec![0, 1]]);
        assert!(net.usable(0, 0, 1, 1));
        assert!(!net.usable(0, 0, 2, 0));
        assert!(net.usable(2, 0, 3, 0), "the unlisted sites form the other side");
        net.heal();
        assert!(net.direct_possible(0, 2));
    }

    #[test]
    fn both_ends_delays_add_and_a_down_uplink_loses_everything() {
        let mut net = Underlay::new(2, 2, LinkProfile::ms(5));
        let mut rng = SeededRng::new(1);
        assert_eq!(net.transit(&mut rng, (0, 0), (1, 0)), Some(Duration::from_millis(10)));
        net.set_link(1, 0, LinkProfile::ms(5).down());
        assert_eq!(net.transit(&mut rng, (0, 0), (1, 0)), None);
        assert!(net.direct_possible(0, 1), "uplink 1 of site 1 still works");
        assert_eq!(net.first_up(1), Some(1));
    }
}
