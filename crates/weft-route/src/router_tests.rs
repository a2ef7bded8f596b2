//! Tests of the [`Router`](super::Router): name lookups and cache validity.

use std::time::Duration;

use super::*;
use crate::testkit::site;

fn m(ms: u64) -> LinkMetrics {
    LinkMetrics::new(Duration::from_millis(ms), 1)
}

/// s0 - s1 - s2 in a line, both directions, plus a slow s0 -> s2.
fn line() -> Router {
    let mut r = Router::new();
    for i in 0..3 {
        r.upsert_site(site(i));
    }
    for (a, b) in [(0, 1), (1, 2)] {
        r.upsert_link(&site(a), &site(b), m(1)).unwrap();
        r.upsert_link(&site(b), &site(a), m(1)).unwrap();
    }
    r.upsert_link(&site(0), &site(2), m(10)).unwrap();
    r
}

#[test]
fn repeated_queries_hit_the_cache_and_one_tree_serves_every_destination() {
    let mut r = line();
    let first = r.shortest_path(&site(0), &site(2), Metric::Latency).unwrap();
    let again = r.shortest_path(&site(0), &site(2), Metric::Latency).unwrap();
    assert_eq!(first, again);
    let _ = r.shortest_path(&site(0), &site(1), Metric::Latency).unwrap();
    let stats = r.cache_stats();
    assert_eq!((stats.hits, stats.misses), (2, 1));
    assert_eq!(first.map(|p| p.sites), Some(vec![site(0), site(1), site(2)]));
}

#[test]
fn a_real_change_invalidates_the_cache_and_reroutes() {
    let mut r = line();
    let _ = r.shortest_path(&site(0), &site(2), Metric::Latency).unwrap();
    let before = r.cache_stats().invalidations;
    r.set_link_up(&site(1), &site(2), false).unwrap();
    let p = r.shortest_path(&site(0), &site(2), Metric::Latency).unwrap().unwrap();
    assert_eq!(p.sites, vec![site(0), site(2)]);
    assert_eq!(p.latency, Duration::from_millis(10));
    let stats = r.cache_stats();
    assert_eq!(stats.invalidations, before + 1);
    assert_eq!((stats.misses, stats.entries), (2, 1));
}

#[test]
fn an_identical_upsert_keeps_the_cache() {
    let mut r = line();
    let _ = r.widest_path(&site(0), &site(2)).unwrap();
    let before = r.cache_stats();
    assert_eq!(r.upsert_link(&site(0), &site(1), m(1)), Ok(false));
    assert!(!r.upsert_site(site(1)));
    let _ = r.widest_path(&site(0), &site(2)).unwrap();
    let stats = r.cache_stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    assert_eq!(stats.invalidations, before.invalidations);
}

#[test]
fn unknown_sites_and_bad_parameters_are_errors_not_panics() {
    let mut r = line();
    let ghost = SiteId::new("ghost").unwrap();
    assert_eq!(
        r.shortest_path(&site(0), &ghost, Metric::Cost),
        Err(RouteError::UnknownSite(ghost.clone()))
    );
    assert!(matches!(
        r.disjoint_paths(&site(0), &site(2), 9, Metric::Cost),
        Err(RouteError::BadPathCount { asked: 9, .. })
    ));
    assert!(matches!(
        r.next_hops(&site(0), &site(2), Metric::Latency, -1.0),
        Err(RouteError::BadTolerance(_))
    ));
    assert_eq!(r.cache_stats().entries, 0);
    assert!(r.upsert_link(&site(0), &ghost, m(1)).is_err());
}

#[test]
fn every_query_kind_answers_by_site_name() {
    let mut r = line();
    let w = r.widest_path(&site(0), &site(2)).unwrap().unwrap();
    assert_eq!(w.bottleneck_bps, 1_000_000_000);
    let c = r.constrained_path(&site(0), &site(2), Duration::from_millis(5)).unwrap().unwrap();
    assert_eq!(c.cost, 2);
    assert_eq!(r.constrained_path(&site(2), &site(0), Duration::from_millis(1)).unwrap(), None);
    let hops = r.next_hops(&site(0), &site(2), Metric::Cost, 0.0).unwrap();
    assert_eq!(hops.len(), 1);
    assert_eq!((hops[0].site.clone(), hops[0].weight), (site(2), 1.0));
    let d = r.disjoint_paths(&site(0), &site(2), 4, Metric::Latency).unwrap();
    assert_eq!(d.iter().map(Route::hops).collect::<Vec<_>>(), vec![2, 1]);
    while r.poll_change().is_some() {}
    r.remove_site(&site(1)).unwrap();
    assert!(r.poll_change().is_some());
    assert_eq!(r.graph().edge_count(), 1);
}
