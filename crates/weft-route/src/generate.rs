//! Seeded random topologies for tests, benchmarks and the simulator.
//!
//! [`random_mesh`] builds a connected mesh: a random spanning tree first (so
//! every site is reachable), then random extra links until the average degree
//! is reached. Every physical link is added in both directions with the same
//! latency, jitter, loss, capacity and cost; utilisation differs per direction.
//! The same seed always gives the same database.

use std::collections::BTreeSet;
use std::time::Duration;

use weft_types::{SeededRng, SiteId};

use crate::lsdb::LinkStateDb;
use crate::metrics::LinkMetrics;

/// The name of generated site `i`: `site-{i}`.
pub fn site_name(i: usize) -> SiteId {
    SiteId::new(&format!("site-{i}")).expect("site-N is a valid site name")
}

/// A connected random mesh of `sites` sites with about `avg_degree`
/// neighbours each (capped at a full mesh). Latency 1–80 ms, jitter up to
/// 5 ms, loss up to 1 %, capacity 100 Mbit/s, 1 or 10 Gbit/s, utilisation up
/// to 80 %, cost 1–100.
pub fn random_mesh(rng: &mut SeededRng, sites: usize, avg_degree: usize) -> LinkStateDb {
    let mut db = LinkStateDb::new();
    for i in 0..sites {
        db.upsert_site(site_name(i));
    }
    let max_links = sites * sites.saturating_sub(1) / 2;
    let target = (sites * avg_degree / 2).clamp(sites.saturating_sub(1), max_links);
    let mut pairs = BTreeSet::new();
    for i in 1..sites {
        let j = rng.below(i as u64) as usize;
        pairs.insert((j, i));
    }
    while pairs.len() < target {
        let a = rng.below(sites as u64) as usize;
        let b = rng.below(sites as u64) as usize;
        if a != b {
            pairs.insert((a.min(b), a.max(b)));
        }
    }
    for (a, b) in pairs {
        let base = LinkMetrics {
            latency: Duration::from_micros(rng.uniform(1_000.0, 80_000.0) as u64),
            jitter: Duration::from_micros(rng.below(5_000)),
            loss: rng.uniform(0.0, 0.01),
            capacity_bps: [100_000_000, 1_000_000_000, 10_000_000_000][rng.below(3) as usize],
            utilisation: 0.0,
            cost: 1 + rng.below(100) as u32,
            up: true,
        };
        for (f, t) in [(a, b), (b, a)] {
            let m = LinkMetrics { utilisation: rng.uniform(0.0, 0.8), ..base };
            db.upsert_link(&site_name(f), &site_name(t), m)
                .expect("generated sites exist and generated metrics are valid");
        }
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, NodeIx};
    use crate::spf::spf_latency;

    #[test]
    fn a_random_mesh_is_connected_with_the_asked_degree_and_replays_from_its_seed() {
        let db = random_mesh(&mut SeededRng::new(7), 60, 6);
        assert_eq!(db.site_count(), 60);
        assert_eq!(db.link_count(), 60 * 6);
        let g = Graph::from_lsdb(&db);
        let t = spf_latency(&g, NodeIx(0));
        assert!((0..60).all(|i| t.distance(NodeIx(i)).is_some()));
        let again = random_mesh(&mut SeededRng::new(7), 60, 6);
        assert!(db.links().eq(again.links()));
        let other = random_mesh(&mut SeededRng::new(8), 60, 6);
        assert!(!db.links().eq(other.links()));
    }

    #[test]
    fn tiny_and_over_dense_requests_are_capped() {
        assert_eq!(random_mesh(&mut SeededRng::new(1), 0, 6).site_count(), 0);
        assert_eq!(random_mesh(&mut SeededRng::new(1), 1, 6).link_count(), 0);
        assert_eq!(random_mesh(&mut SeededRng::new(1), 4, 50).link_count(), 12);
        assert_eq!(random_mesh(&mut SeededRng::new(1), 5, 0).link_count(), 8);
    }
}
