//! The [`Router`]: a link-state database, its current snapshot, and cached
//! answers to route queries, all by site name.

use std::sync::Arc;
use std::time::Duration;

use weft_types::SiteId;

use crate::blend::Metric;
use crate::cache::{CacheStats, Key, MetricKey, RouteCache, Value};
use crate::constrained::lowest_cost_within;
use crate::disjoint::disjoint_paths;
use crate::ecmp::weighted_next_hops;
use crate::error::{LsdbError, RouteError};
use crate::graph::{Graph, NodeIx};
use crate::lsdb::{LinkStateDb, TopologyChange};
use crate::metrics::LinkMetrics;
use crate::route::Route;
use crate::spf::shortest_path_tree;
use crate::widest::widest_path;

/// A next hop toward a destination with its traffic share (WECMP).
#[derive(Debug, Clone, PartialEq)]
pub struct NextHop {
    /// The neighbouring site.
    pub site: SiteId,
    /// Share of traffic in `[0, 1]`; the shares of one answer sum to 1.
    pub weight: f64,
    /// Widest available bandwidth through this neighbour, bits per second.
    pub bandwidth_bps: u64,
}

/// Owns the link-state database and answers route queries by site name.
///
/// Updates go through the database methods mirrored here; queries take
/// `&mut self` because they fill the cache. Before every query the router
/// compares the snapshot's version with the database's and, if they differ,
/// rebuilds the snapshot and drops every cached answer. An update that
/// changes nothing (same metrics) keeps the version, so the cache survives.
#[derive(Debug)]
pub struct Router {
    lsdb: LinkStateDb,
    graph: Graph,
    cache: RouteCache,
}

impl Default for Router {
    fn default() -> Self {
        Self::from_lsdb(LinkStateDb::new())
    }
}

impl Router {
    /// A router over an empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    /// A router over an existing database (its queued changes stay queued).
    pub fn from_lsdb(lsdb: LinkStateDb) -> Self {
        let graph = Graph::from_lsdb(&lsdb);
        let mut cache = RouteCache::default();
        cache.sync(graph.version());
        Self { lsdb, graph, cache }
    }

    /// The database, read-only.
    pub fn lsdb(&self) -> &LinkStateDb {
        &self.lsdb
    }

    /// See [`LinkStateDb::upsert_site`].
    pub fn upsert_site(&mut self, site: SiteId) -> bool {
        self.lsdb.upsert_site(site)
    }

    /// See [`LinkStateDb::remove_site`].
    pub fn remove_site(&mut self, site: &SiteId) -> Result<(), LsdbError> {
        self.lsdb.remove_site(site)
    }

    /// See [`LinkStateDb::upsert_link`].
    pub fn upsert_link(
        &mut self,
        from: &SiteId,
        to: &SiteId,
        metrics: LinkMetrics,
    ) -> Result<bool, LsdbError> {
        self.lsdb.upsert_link(from, to, metrics)
    }

    /// See [`LinkStateDb::remove_link`].
    pub fn remove_link(&mut self, from: &SiteId, to: &SiteId) -> Result<(), LsdbError> {
        self.lsdb.remove_link(from, to)
    }

    /// See [`LinkStateDb::set_link_up`].
    pub fn set_link_up(&mut self, from: &SiteId, to: &SiteId, up: bool) -> Result<bool, LsdbError> {
        self.lsdb.set_link_up(from, to, up)
    }

    /// See [`LinkStateDb::poll_change`].
    #[must_use]
    pub fn poll_change(&mut self) -> Option<TopologyChange> {
        self.lsdb.poll_change()
    }

    /// The snapshot of the current version (rebuilt if the database moved).
    pub fn graph(&mut self) -> &Graph {
        self.refresh();
        &self.graph
    }

    /// Cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// The shortest route from `src` to `dst` by `metric`, or `None` when
    /// unreachable. One tree per (metric, source) is cached and serves every
    /// destination.
    pub fn shortest_path(
        &mut self,
        src: &SiteId,
        dst: &SiteId,
        metric: Metric,
    ) -> Result<Option<Route>, RouteError> {
        let (s, d) = self.endpoints(src, dst)?;
        let graph = &self.graph;
        let value = self.cache.get_or_try_insert(Key::Tree(MetricKey::from(&metric), s), || {
            let w = metric.edge_weights(graph)?;
            Ok(Value::Tree(Arc::new(shortest_path_tree(graph, s, |e| w[e.index()]))))
        })?;
        let Value::Tree(tree) = value else { unreachable!("tree keys hold trees") };
        Ok(tree.path_nodes(graph, d).and_then(|p| Route::from_nodes(graph, &p)))
    }

    /// The widest route (most available bandwidth at its bottleneck), lowest
    /// latency among equally wide ones.
    pub fn widest_path(&mut self, src: &SiteId, dst: &SiteId) -> Result<Option<Route>, RouteError> {
        let (s, d) = self.endpoints(src, dst)?;
        let graph = &self.graph;
        let value = self.cache.get_or_try_insert::<RouteError>(Key::Widest(s, d), || {
            let p = widest_path(graph, s, d);
            Ok(Value::Route(p.and_then(|p| Route::from_nodes(graph, &p.nodes))))
        })?;
        Ok(one(value))
    }

    /// The lowest-cost route whose latency is at most `max_latency`.
    pub fn constrained_path(
        &mut self,
        src: &SiteId,
        dst: &SiteId,
        max_latency: Duration,
    ) -> Result<Option<Route>, RouteError> {
        let (s, d) = self.endpoints(src, dst)?;
        let bound = u64::try_from(max_latency.as_nanos()).unwrap_or(u64::MAX);
        let graph = &self.graph;
        let value =
            self.cache.get_or_try_insert::<RouteError>(Key::Constrained(s, d, bound), || {
                let p = lowest_cost_within(graph, s, d, bound);
                Ok(Value::Route(p.and_then(|p| Route::from_nodes(graph, &p.nodes))))
            })?;
        Ok(one(value))
    }

    /// ECMP next hops from `src` toward `dst` with WECMP shares, sorted by
    /// site slot. `tolerance` is relative (0.05 admits paths up to 5 % longer).
    pub fn next_hops(
        &mut self,
        src: &SiteId,
        dst: &SiteId,
        metric: Metric,
        tolerance: f64,
    ) -> Result<Vec<NextHop>, RouteError> {
        let (s, d) = self.endpoints(src, dst)?;
        let graph = &self.graph;
        let key = Key::NextHops(MetricKey::from(&metric), s, d, tolerance.to_bits());
        let value = self.cache.get_or_try_insert(key, || {
            let w = metric.edge_weights(graph)?;
            Ok(Value::Hops(weighted_next_hops(graph, s, d, &w, tolerance)?))
        })?;
        let Value::Hops(hops) = value else { unreachable!("next-hop keys hold hops") };
        Ok(hops
            .into_iter()
            .filter_map(|h| {
                let site = graph.site(h.node)?.clone();
                Some(NextHop { site, weight: h.weight, bandwidth_bps: h.bandwidth_bps })
            })
            .collect())
    }

    /// Up to `k` (1..=4) link-disjoint routes minimising total `metric`,
    /// sorted by it: the first is the primary, the rest are backups.
    pub fn disjoint_paths(
        &mut self,
        src: &SiteId,
        dst: &SiteId,
        k: usize,
        metric: Metric,
    ) -> Result<Vec<Route>, RouteError> {
        let (s, d) = self.endpoints(src, dst)?;
        let graph = &self.graph;
        let key = Key::Disjoint(MetricKey::from(&metric), s, d, k);
        let value = self.cache.get_or_try_insert(key, || {
            let w = metric.edge_weights(graph)?;
            let paths = disjoint_paths(graph, s, d, k, &w)?;
            Ok(Value::Routes(
                paths.iter().filter_map(|p| Route::from_nodes(graph, &p.nodes)).collect(),
            ))
        })?;
        let Value::Routes(routes) = value else { unreachable!("disjoint keys hold routes") };
        Ok(routes)
    }

    fn refresh(&mut self) {
        if self.graph.version() != self.lsdb.version() {
            self.graph = Graph::from_lsdb(&self.lsdb);
            self.cache.sync(self.graph.version());
        }
    }

    fn endpoints(&mut self, src: &SiteId, dst: &SiteId) -> Result<(NodeIx, NodeIx), RouteError> {
        self.refresh();
        let node =
            |s: &SiteId| self.graph.node(s).ok_or_else(|| RouteError::UnknownSite(s.clone()));
        Ok((node(src)?, node(dst)?))
    }
}

fn one(value: Value) -> Option<Route> {
    match value {
        Value::Route(r) => r,
        _ => unreachable!("single-route keys hold single routes"),
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
