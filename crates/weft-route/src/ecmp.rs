//! Equal-cost multipath: which neighbours of a source lie on (near-)shortest
//! paths to a destination, and how to split traffic between them.
//!
//! With `d(x)` the shortest distance from `x` to the destination (one reverse
//! Dijkstra), an edge `u -> v` is a *forwarding edge* when
//!
//! - `w(u, v) + d(v) <= d(u) · (1 + tolerance)` (it starts a path within the
//!   relative tolerance of the best), and
//! - `d(v) < d(u)` (it moves strictly closer, so forwarding cannot loop even
//!   when every site applies a non-zero tolerance).
//!
//! With tolerance 0 and positive weights, the forwarding edges out of the
//! source lead exactly to the first hops of all shortest paths.
//!
//! WECMP weighs each next hop `n` by the widest available bandwidth from the
//! source through `n` to the destination *along forwarding edges* (the paths
//! traffic will really take when every hop splits the same way), normalised to
//! sum to 1. When every candidate has zero available bandwidth the split is
//! even.
//!
//! Complexity: O((V + E) log V).

use crate::error::RouteError;
use crate::graph::{EdgeIx, Graph, NodeIx};
use crate::spf::distances_to;

/// A next hop with its share of the traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedNextHop {
    /// The neighbour of the source.
    pub node: NodeIx,
    /// Share of traffic, in `[0, 1]`; shares sum to 1.
    pub weight: f64,
    /// Widest available bandwidth through this neighbour along forwarding
    /// edges, bits per second.
    pub bandwidth_bps: u64,
}

struct Forwarding<'a> {
    graph: &'a Graph,
    weights: &'a [u64],
    dist: Vec<u64>,
    tolerance: f64,
}

impl Forwarding<'_> {
    fn is_forwarding(&self, e: EdgeIx) -> bool {
        let (du, dv) =
            (self.dist[self.graph.tail(e).index()], self.dist[self.graph.head(e).index()]);
        if dv >= du {
            return false;
        }
        let slack = (du as f64 * self.tolerance) as u64;
        self.weights[e.index()].saturating_add(dv) <= du.saturating_add(slack)
    }
}

fn forwarding<'a>(
    graph: &'a Graph,
    dst: NodeIx,
    weights: &'a [u64],
    tolerance: f64,
) -> Result<Forwarding<'a>, RouteError> {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(RouteError::BadTolerance(tolerance));
    }
    let dist = distances_to(graph, dst, |e| weights[e.index()]);
    Ok(Forwarding { graph, weights, dist, tolerance })
}

/// The neighbours of `src` on (near-)equal-cost shortest paths to `dst`,
/// sorted by node; empty when `src == dst` or `dst` is unreachable.
/// `weights` has one entry per edge (see [`Metric::edge_weights`](crate::Metric::edge_weights)).
///
/// # Panics
/// If a node is not in `graph` or `weights` is shorter than the edge count.
pub fn equal_cost_next_hops(
    graph: &Graph,
    src: NodeIx,
    dst: NodeIx,
    weights: &[u64],
    tolerance: f64,
) -> Result<Vec<NodeIx>, RouteError> {
    let f = forwarding(graph, dst, weights, tolerance)?;
    Ok(graph.out_edges(src).filter(|&e| f.is_forwarding(e)).map(|e| graph.head(e)).collect())
}

/// [`equal_cost_next_hops`] with traffic shares (WECMP), in the same order.
pub fn weighted_next_hops(
    graph: &Graph,
    src: NodeIx,
    dst: NodeIx,
    weights: &[u64],
    tolerance: f64,
) -> Result<Vec<WeightedNextHop>, RouteError> {
    let f = forwarding(graph, dst, weights, tolerance)?;
    let first: Vec<EdgeIx> = graph.out_edges(src).filter(|&e| f.is_forwarding(e)).collect();
    if first.is_empty() {
        return Ok(Vec::new());
    }
    // Widest bandwidth to dst along forwarding edges, nearest nodes first.
    let mut order: Vec<usize> =
        (0..graph.node_count()).filter(|&u| f.dist[u] != u64::MAX).collect();
    order.sort_by_key(|&u| f.dist[u]);
    let mut wide = vec![0u64; graph.node_count()];
    wide[dst.index()] = u64::MAX;
    for u in order.into_iter().filter(|&u| u != dst.index()) {
        wide[u] = graph
            .out_edges(NodeIx(u as u32))
            .filter(|&e| f.is_forwarding(e))
            .map(|e| graph.available_bps(e).min(wide[graph.head(e).index()]))
            .max()
            .unwrap_or(0);
    }
    let bandwidth: Vec<u64> =
        first.iter().map(|&e| graph.available_bps(e).min(wide[graph.head(e).index()])).collect();
    let total: f64 = bandwidth.iter().map(|&b| b as f64).sum();
    let even = 1.0 / first.len() as f64;
    Ok(first
        .iter()
        .zip(bandwidth)
        .map(|(&e, bandwidth_bps)| WeightedNextHop {
            node: graph.head(e),
            weight: if total > 0.0 { bandwidth_bps as f64 / total } else { even },
            bandwidth_bps,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::LinkMetrics;
    use crate::testkit::{self, SmallGraph};

    fn link(ms: u64, mbps: u64) -> LinkMetrics {
        LinkMetrics {
            capacity_bps: mbps * 1_000_000,
            ..LinkMetrics::new(Duration::from_millis(ms), 1)
        }
    }

    /// 0 reaches 3 through 1 (10 ms, 200 Mbit/s then 100) and 2 (10 ms, 50),
    /// or through 4 (11 ms).
    fn square() -> Graph {
        testkit::graph_with(
            5,
            &[
                (0, 1, link(5, 200)),
                (1, 3, link(5, 100)),
                (0, 2, link(5, 50)),
                (2, 3, link(5, 400)),
                (0, 4, link(5, 1000)),
                (4, 3, link(6, 1000)),
            ],
        )
    }

    #[test]
    fn equal_latency_neighbours_are_both_next_hops() {
        let g = square();
        let w = g.latency_column();
        let hops = equal_cost_next_hops(&g, NodeIx(0), NodeIx(3), w, 0.0).unwrap();
        assert_eq!(hops, vec![NodeIx(1), NodeIx(2)]);
        let loose = equal_cost_next_hops(&g, NodeIx(0), NodeIx(3), w, 0.1).unwrap();
        assert_eq!(loose, vec![NodeIx(1), NodeIx(2), NodeIx(4)]);
    }

    #[test]
    fn wecmp_splits_by_the_bottleneck_through_each_next_hop() {
        let g = square();
        let hops = weighted_next_hops(&g, NodeIx(0), NodeIx(3), g.latency_column(), 0.0).unwrap();
        assert_eq!(hops.len(), 2);
        assert_eq!((hops[0].node, hops[0].bandwidth_bps), (NodeIx(1), 100_000_000));
        assert_eq!((hops[1].node, hops[1].bandwidth_bps), (NodeIx(2), 50_000_000));
        assert!((hops[0].weight - 2.0 / 3.0).abs() < 1e-12);
        assert!((hops[1].weight - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn no_next_hops_to_self_or_to_the_unreachable_and_bad_tolerance_is_refused() {
        let g = square();
        let w = g.latency_column();
        assert!(equal_cost_next_hops(&g, NodeIx(3), NodeIx(3), w, 0.0).unwrap().is_empty());
        assert!(weighted_next_hops(&g, NodeIx(3), NodeIx(0), w, 0.0).unwrap().is_empty());
        let err = equal_cost_next_hops(&g, NodeIx(0), NodeIx(3), w, f64::NAN);
        assert!(matches!(err, Err(RouteError::BadTolerance(_))));
    }

    proptest! {
        #[test]
        fn ecmp_next_hops_are_the_first_hops_of_all_shortest_paths(sg in testkit::small_graph(7)) {
            let SmallGraph { graph: g, n } = &sg;
            let w = g.cost_column();
            for s in 0..*n {
                for t in 0..*n {
                    let paths = testkit::simple_paths(g, NodeIx(s), NodeIx(t));
                    let cost = |p: &Vec<NodeIx>| testkit::sum(g, p, |e| g.cost(e));
                    let best = paths.iter().map(cost).min();
                    let expected: BTreeSet<NodeIx> = paths
                        .iter()
                        .filter(|p| p.len() > 1 && Some(cost(p)) == best)
                        .map(|p| p[1])
                        .collect();
                    let got = equal_cost_next_hops(g, NodeIx(s), NodeIx(t), w, 0.0).unwrap();
                    prop_assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), expected);
                    let weighted = weighted_next_hops(g, NodeIx(s), NodeIx(t), w, 0.0).unwrap();
                    prop_assert_eq!(weighted.iter().map(|h| h.node).collect::<Vec<_>>(), got);
                    if !weighted.is_empty() {
                        let total: f64 = weighted.iter().map(|h| h.weight).sum();
                        prop_assert!((total - 1.0).abs() < 1e-9);
                    }
                }
            }
        }
    }
}
