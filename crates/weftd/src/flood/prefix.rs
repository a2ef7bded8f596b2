//! Per-destination-prefix counters of the receive path: packets and bytes of
//! decrypted (inner) traffic toward each of the site's own prefixes, and,
//! while an anomaly toward one is open, the heaviest inner IPv4 sources
//! toward it.
//!
//! The receive threads call [`PrefixCounters::count`] once per decrypted
//! packet addressed to this site. That costs a scan of at most
//! [`MAX_PREFIXES`] prefixes (longest first, no allocation) and two relaxed
//! atomic adds on a fixed array; only while the flood thread has switched
//! source tracking on (an anomaly toward a prefix, mitigation on) does it
//! also hash the source into a fixed table of [`SLOTS`] counters (a few
//! more atomics, still no lock and no allocation). The flood thread reads
//! [`totals`](PrefixCounters::totals) once a second and, while tracking,
//! [`take_top`](PrefixCounters::take_top), which empties the table.
//!
//! IPv6 inner sources are counted in the prefix totals but not tracked as
//! sources (the table holds 32-bit addresses).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};

use weft_types::IpPrefix;

/// Most prefixes of a site counted separately (the rest are not counted).
pub(crate) const MAX_PREFIXES: usize = 16;
/// Source slots (a power of two).
pub(crate) const SLOTS: usize = 1024;
/// Slots tried after the hashed one before a source is given up.
const PROBES: usize = 4;

/// One source slot: `(prefix index + 1) << 32 | IPv4 source` (0: free) and its hits.
#[derive(Debug, Default)]
struct Slot {
    key: AtomicU64,
    hits: AtomicU32,
}

/// Counters per destination prefix, shared by the receive threads and the
/// flood thread.
#[derive(Debug)]
pub(crate) struct PrefixCounters {
    /// The prefixes, in the order of the site's configuration.
    prefixes: Vec<IpPrefix>,
    /// Indexes into `prefixes`, longest prefix first (the order of the scan).
    scan: Vec<usize>,
    /// Packets and bytes per prefix.
    counts: Vec<(AtomicU64, AtomicU64)>,
    /// Whether the receive threads record sources now.
    tracking: AtomicBool,
    slots: Vec<Slot>,
    /// Sources not recorded because their slots were taken.
    pub(crate) untracked: AtomicU64,
}

impl PrefixCounters {
    /// Counters for `prefixes` (each once, at most [`MAX_PREFIXES`]).
    pub(crate) fn new(prefixes: &[IpPrefix]) -> Self {
        let mut own: Vec<IpPrefix> = Vec::new();
        for p in prefixes {
            if !own.contains(p) && own.len() < MAX_PREFIXES {
                own.push(*p);
            }
        }
        let mut scan: Vec<usize> = (0..own.len()).collect();
        scan.sort_by_key(|i| std::cmp::Reverse(own[*i].prefix_len()));
        Self {
            counts: own.iter().map(|_| Default::default()).collect(),
            prefixes: own,
            scan,
            tracking: AtomicBool::new(false),
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            untracked: AtomicU64::new(0),
        }
    }

    /// The prefixes, in [`totals`](Self::totals) order.
    pub(crate) fn prefixes(&self) -> &[IpPrefix] {
        &self.prefixes
    }

    /// Counts one inner packet of `len` bytes from `src` to `dst` (nothing
    /// if `dst` is in none of the prefixes). The receive path's hot call.
    pub(crate) fn count(&self, src: IpAddr, dst: IpAddr, len: usize) {
        let Some(&i) = self.scan.iter().find(|i| self.prefixes[**i].contains(dst)) else {
            return;
        };
        let (packets, bytes) = &self.counts[i];
        packets.fetch_add(1, Relaxed);
        bytes.fetch_add(len as u64, Relaxed);
        if let IpAddr::V4(src) = src
            && self.tracking.load(Relaxed)
        {
            self.note_source(i, src);
        }
    }

    /// Starts or stops recording sources.
    pub(crate) fn set_tracking(&self, on: bool) {
        self.tracking.store(on, Relaxed);
    }

    /// Running totals (packets, bytes) per prefix.
    pub(crate) fn totals(&self) -> Vec<(u64, u64)> {
        self.counts.iter().map(|(p, b)| (p.load(Relaxed), b.load(Relaxed))).collect()
    }

    /// The recorded sources with at least `min_hits` packets since the last
    /// call, heaviest first (then by prefix and address), as (prefix index,
    /// source, packets); empties the table.
    pub(crate) fn take_top(&self, min_hits: u32) -> Vec<(usize, Ipv4Addr, u32)> {
        let mut out = Vec::new();
        for s in &self.slots {
            let key = s.key.swap(0, Relaxed);
            let hits = s.hits.swap(0, Relaxed);
            if key == 0 || hits < min_hits.max(1) {
                continue;
            }
            let prefix = usize::try_from((key >> 32) - 1).unwrap_or(usize::MAX);
            #[allow(clippy::cast_possible_truncation)]
            let src = Ipv4Addr::from(key as u32);
            out.push((prefix, src, hits));
        }
        out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        out
    }

    fn note_source(&self, prefix: usize, src: Ipv4Addr) {
        let key = ((prefix as u64 + 1) << 32) | u64::from(u32::from(src));
        // Fibonacci hashing: the top bits of the product index the table.
        let start =
            (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize;
        for i in 0..PROBES {
            let slot = &self.slots[(start + i) & (SLOTS - 1)];
            let k = slot.key.load(Relaxed);
            // A free slot is claimed; another thread may claim it first,
            // for this same source or another.
            let mine = k == key
                || (k == 0
                    && slot.key.compare_exchange(0, key, Relaxed, Relaxed).unwrap_or_else(|c| c)
                        == 0)
                || slot.key.load(Relaxed) == key;
            if mine {
                slot.hits.fetch_add(1, Relaxed);
                return;
            }
        }
        self.untracked.fetch_add(1, Relaxed);
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

    #[test]
    fn packets_are_counted_toward_the_longest_prefix_that_holds_them_and_others_not_at_all() {
        let c = PrefixCounters::new(&[p("10.77.0.0/16"), p("10.77.1.0/24"), p("10.77.1.0/24")]);
        assert_eq!(c.prefixes(), [p("10.77.0.0/16"), p("10.77.1.0/24")], "each once, in order");
        c.count(ip("10.77.2.9"), ip("10.77.1.1"), 100);
        c.count(ip("10.77.2.9"), ip("10.77.1.200"), 50);
        c.count(ip("10.77.2.9"), ip("10.77.9.1"), 10);
        c.count(ip("10.77.2.9"), ip("192.0.2.1"), 1000);
        assert_eq!(c.totals(), [(1, 10), (2, 150)]);
    }

    #[test]
    fn sources_are_recorded_only_while_tracking_and_come_out_heaviest_first() {
        let c = PrefixCounters::new(&[p("10.77.1.0/24"), p("10.77.5.0/24")]);
        c.count(ip("10.77.2.7"), ip("10.77.1.1"), 100);
        assert!(c.take_top(1).is_empty(), "not tracking: no source recorded");
        c.set_tracking(true);
        for _ in 0..30 {
            c.count(ip("10.77.2.7"), ip("10.77.1.1"), 100);
        }
        for _ in 0..10 {
            c.count(ip("10.77.2.8"), ip("10.77.1.1"), 100);
            c.count(ip("10.77.2.8"), ip("10.77.5.1"), 100);
        }
        c.count(ip("10.77.2.9"), ip("10.77.1.1"), 100);
        c.count("fd00::1".parse().unwrap(), ip("10.77.1.1"), 100);
        let top = c.take_top(5);
        assert_eq!(
            top,
            [
                (0, "10.77.2.7".parse().unwrap(), 30),
                (0, "10.77.2.8".parse().unwrap(), 10),
                (1, "10.77.2.8".parse().unwrap(), 10),
            ],
            "per prefix, at least 5 packets, heaviest first"
        );
        assert!(c.take_top(1).is_empty(), "taking empties the table");
    }

    #[test]
    fn a_full_table_gives_up_sources_instead_of_growing() {
        let c = PrefixCounters::new(&[p("10.0.0.0/8")]);
        c.set_tracking(true);
        let many = SLOTS as u32 * 2;
        for n in 0..many {
            c.count(IpAddr::V4(Ipv4Addr::from(0x6440_0000 + n)), ip("10.1.1.1"), 60);
        }
        let top = c.take_top(1);
        assert!(top.len() <= SLOTS, "{}", top.len());
        let untracked = c.untracked.load(Relaxed);
        assert_eq!(top.len() as u64 + untracked, u64::from(many), "each source kept or counted");
        assert!(untracked > 0);
        assert_eq!(c.totals(), [(u64::from(many), u64::from(many) * 60)]);
    }
}
