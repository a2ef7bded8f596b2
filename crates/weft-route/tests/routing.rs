//! End-to-end use of the public API on a small named topology.
//!
//! ```text
//!         b ------- e
//!       / |       / |
//!     a   |     /   |      plus a-d (slow, wide) and c-e (slow)
//!       \ |   /     |
//!         c - d ----+
//! ```
//! Latencies (ms, both directions): a-b 10, b-e 10, a-c 5, c-d 5, d-e 5,
//! b-d 2, a-d 30, c-e 40. Costs equal the latency except b-e, which costs 5.
//! a-c, c-d and d-e are 100 Mbit/s; everything else 1 Gbit/s.

use std::collections::BTreeSet;
use std::time::Duration;

use weft_route::{
    BlendWeights, LinkMetrics, LinkStateDb, Metric, Route, Router, TopologyChange, random_mesh,
};
use weft_types::{SeededRng, SiteId};

fn id(s: &str) -> SiteId {
    SiteId::new(s).expect("valid test name")
}

fn names(route: &Route) -> Vec<&str> {
    route.sites.iter().map(SiteId::as_str).collect()
}

fn topology() -> Router {
    let mut r = Router::new();
    for s in ["a", "b", "c", "d", "e"] {
        assert!(r.upsert_site(id(s)));
    }
    let links = [
        ("a", "b", 10, 10, 1000),
        ("b", "e", 10, 5, 1000),
        ("a", "c", 5, 5, 100),
        ("c", "d", 5, 5, 100),
        ("d", "e", 5, 5, 100),
        ("b", "d", 2, 2, 1000),
        ("a", "d", 30, 30, 1000),
        ("c", "e", 40, 40, 1000),
    ];
    for (x, y, ms, cost, mbps) in links {
        let m = LinkMetrics {
            capacity_bps: mbps * 1_000_000,
            ..LinkMetrics::new(Duration::from_millis(ms), cost)
        };
        r.upsert_link(&id(x), &id(y), m).expect("valid link");
        r.upsert_link(&id(y), &id(x), m).expect("valid link");
    }
    r
}

#[test]
fn building_the_topology_reports_every_site_and_link_once() {
    let mut r = topology();
    let changes: Vec<_> = std::iter::from_fn(|| r.poll_change()).collect();
    let sites = changes.iter().filter(|c| matches!(c, TopologyChange::SiteAdded(_))).count();
    let links = changes.iter().filter(|c| matches!(c, TopologyChange::LinkAdded { .. })).count();
    assert_eq!((sites, links, changes.len()), (5, 16, 21));
    assert_eq!(r.lsdb().version(), 21);
}

#[test]
fn latency_cost_widest_and_constrained_routes_each_pick_their_own_path() {
    let mut r = topology();
    let fast = r.shortest_path(&id("a"), &id("e"), Metric::Latency).unwrap().unwrap();
    assert_eq!((names(&fast), fast.latency), (vec!["a", "c", "d", "e"], Duration::from_millis(15)));
    let cheap = r.shortest_path(&id("a"), &id("e"), Metric::Cost).unwrap().unwrap();
    assert_eq!(cheap.cost, 15);
    let wide = r.widest_path(&id("a"), &id("e")).unwrap().unwrap();
    assert_eq!((names(&wide), wide.bottleneck_bps), (vec!["a", "b", "e"], 1_000_000_000));
    let bounded = r.constrained_path(&id("a"), &id("e"), Duration::from_millis(17)).unwrap();
    assert_eq!(bounded.map(|p| (p.cost, p.latency)), Some((15, Duration::from_millis(15))));
    assert_eq!(r.constrained_path(&id("a"), &id("e"), Duration::from_millis(14)).unwrap(), None);
    let blended =
        BlendWeights { latency: 0.0, jitter: 0.0, loss: 0.0, cost: 0.0, inverse_bandwidth: 1.0 };
    let roomy = r.shortest_path(&id("a"), &id("e"), Metric::Blend(blended)).unwrap().unwrap();
    assert_eq!(names(&roomy), vec!["a", "b", "e"]);
}

#[test]
fn primary_and_backups_share_no_link_and_may_give_up_the_fastest_path() {
    let mut r = topology();
    let two = r.disjoint_paths(&id("a"), &id("e"), 2, Metric::Latency).unwrap();
    let two: Vec<_> = two.iter().map(names).collect();
    assert_eq!(two, vec![vec!["a", "c", "d", "e"], vec!["a", "b", "e"]]);
    // Three disjoint paths need all three links out of a and into e; the
    // cheapest such set drops the 15 ms path, so the primary is a-b-e.
    let three = r.disjoint_paths(&id("a"), &id("e"), 4, Metric::Latency).unwrap();
    let three_names: Vec<_> = three.iter().map(names).collect();
    assert_eq!(three_names, vec![vec!["a", "b", "e"], vec!["a", "d", "e"], vec!["a", "c", "e"]]);
    let mut used = BTreeSet::new();
    for route in &three {
        for w in route.sites.windows(2) {
            let link = (w[0].clone().min(w[1].clone()), w[0].clone().max(w[1].clone()));
            assert!(used.insert(link), "a link is shared: {three_names:?}");
        }
    }
}

#[test]
fn ecmp_splits_by_bandwidth_between_equal_cost_next_hops() {
    let mut r = topology();
    let hops = r.next_hops(&id("a"), &id("e"), Metric::Cost, 0.0).unwrap();
    let sites: Vec<_> = hops.iter().map(|h| h.site.as_str()).collect();
    assert_eq!(sites, vec!["b", "c"]);
    // Via b the bottleneck is 1 Gbit/s; via c it is c-d-e at 100 Mbit/s.
    assert!((hops[0].weight - 10.0 / 11.0).abs() < 1e-9);
    assert!((hops[1].weight - 1.0 / 11.0).abs() < 1e-9);
}

#[test]
fn a_down_link_reroutes_and_coming_back_up_restores_the_route() {
    let mut r = topology();
    let before = r.shortest_path(&id("a"), &id("e"), Metric::Latency).unwrap().unwrap();
    r.set_link_up(&id("c"), &id("d"), false).unwrap();
    let detour = r.shortest_path(&id("a"), &id("e"), Metric::Latency).unwrap().unwrap();
    assert_eq!(
        (names(&detour), detour.latency),
        (vec!["a", "b", "d", "e"], Duration::from_millis(17))
    );
    r.set_link_up(&id("b"), &id("d"), false).unwrap();
    let next = r.shortest_path(&id("a"), &id("e"), Metric::Latency).unwrap().unwrap();
    assert_eq!(names(&next), vec!["a", "b", "e"]);
    r.set_link_up(&id("c"), &id("d"), true).unwrap();
    r.set_link_up(&id("b"), &id("d"), true).unwrap();
    let back = r.shortest_path(&id("a"), &id("e"), Metric::Latency).unwrap().unwrap();
    assert_eq!(back, before);
    r.remove_site(&id("e")).unwrap();
    assert!(r.shortest_path(&id("a"), &id("e"), Metric::Latency).is_err());
}

#[test]
fn on_a_random_mesh_the_disjoint_primary_is_never_cheaper_than_the_shortest_path() {
    let db: LinkStateDb = random_mesh(&mut SeededRng::new(11), 40, 5);
    let mut r = Router::from_lsdb(db);
    let sites: Vec<SiteId> = r.lsdb().sites().cloned().collect();
    for (i, src) in sites.iter().enumerate().step_by(7) {
        let dst = &sites[(i * 13 + 5) % sites.len()];
        let best = r.shortest_path(src, dst, Metric::Cost).unwrap().expect("mesh is connected");
        let set = r.disjoint_paths(src, dst, 4, Metric::Cost).unwrap();
        assert!(!set.is_empty());
        assert!(set[0].cost >= best.cost);
        let single = r.disjoint_paths(src, dst, 1, Metric::Cost).unwrap();
        assert_eq!(single[0].cost, best.cost);
    }
}
