//! Memoised query results, valid for one topology version.
//!
//! The [`Router`](crate::Router) keys every query by algorithm and its
//! arguments (source, destination, metric, bound, ...). All entries belong to
//! one snapshot version; when the version moves on the whole cache is
//! dropped, since any link change can move any route. The cache is also
//! dropped when it holds [`MAX_ENTRIES`] entries, so callers that vary
//! floating-point parameters cannot grow it without bound.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::blend::Metric;
use crate::ecmp::WeightedNextHop;
use crate::graph::NodeIx;
use crate::route::Route;
use crate::spf::ShortestPathTree;

/// Most entries kept before the cache starts over.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// Hit, miss and invalidation counters of the router's cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Queries answered from the cache.
    pub hits: u64,
    /// Queries that had to run an algorithm.
    pub misses: u64,
    /// Times the cache was dropped because the topology version changed.
    pub invalidations: u64,
    /// Entries held now.
    pub entries: usize,
}

/// Metric identity usable as a map key (float weights by bit pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MetricKey {
    Latency,
    Cost,
    Blend([u64; 5]),
}

impl From<&Metric> for MetricKey {
    fn from(m: &Metric) -> Self {
        match m {
            Metric::Latency => Self::Latency,
            Metric::Cost => Self::Cost,
            Metric::Blend(w) => Self::Blend(w.bits()),
        }
    }
}

/// What was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    Tree(MetricKey, NodeIx),
    Widest(NodeIx, NodeIx),
    Constrained(NodeIx, NodeIx, u64),
    NextHops(MetricKey, NodeIx, NodeIx, u64),
    Disjoint(MetricKey, NodeIx, NodeIx, usize),
}

/// What was answered.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Tree(Arc<ShortestPathTree>),
    Route(Option<Route>),
    Routes(Vec<Route>),
    Hops(Vec<WeightedNextHop>),
}

/// Results for one topology version.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    version: u64,
    entries: BTreeMap<Key, Value>,
    stats: CacheStats,
}

impl RouteCache {
    /// Drops everything if `version` differs from the cached one.
    pub(crate) fn sync(&mut self, version: u64) {
        if version != self.version {
            self.version = version;
            self.entries.clear();
            self.stats.invalidations += 1;
        }
    }

    /// The cached answer to `key`, or `compute()`'s, which is then kept.
    pub(crate) fn get_or_try_insert<E>(
        &mut self,
        key: Key,
        compute: impl FnOnce() -> Result<Value, E>,
    ) -> Result<Value, E> {
        if let Some(v) = self.entries.get(&key) {
            self.stats.hits += 1;
            return Ok(v.clone());
        }
        self.stats.misses += 1;
        let v = compute()?;
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(key, v.clone());
        Ok(v)
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats { entries: self.entries.len(), ..self.stats }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_identical_query_is_a_hit_until_the_version_moves() {
        let route = || Ok::<_, ()>(Value::Route(None));
        let mut c = RouteCache::default();
        let k = Key::Widest(NodeIx(0), NodeIx(1));
        c.get_or_try_insert(k, route).unwrap();
        c.get_or_try_insert(k, route).unwrap();
        c.sync(0);
        c.get_or_try_insert(k, route).unwrap();
        assert_eq!(c.stats(), CacheStats { hits: 2, misses: 1, invalidations: 0, entries: 1 });
        c.sync(1);
        assert_eq!(c.stats().entries, 0);
        c.get_or_try_insert(k, route).unwrap();
        assert_eq!(c.stats(), CacheStats { hits: 2, misses: 2, invalidations: 1, entries: 1 });
    }

    #[test]
    fn failed_computations_are_not_cached_and_the_size_is_bounded() {
        let route = || Ok::<_, ()>(Value::Route(None));
        let mut c = RouteCache::default();
        let k = Key::Tree(MetricKey::Cost, NodeIx(3));
        assert!(c.get_or_try_insert(k, || Err::<Value, _>("bad")).is_err());
        assert_eq!(c.stats().entries, 0);
        for i in 0..=MAX_ENTRIES as u64 {
            c.get_or_try_insert(Key::Constrained(NodeIx(0), NodeIx(1), i), route).unwrap();
        }
        assert!(c.stats().entries <= MAX_ENTRIES);
    }
}
