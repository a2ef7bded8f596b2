//! Dijkstra shortest paths, generic over the edge weight.
//!
//! [`shortest_path_tree`] computes, from one source, the distance to every
//! node and the edge that reaches it on one shortest path (a predecessor
//! tree). Weights are `u64` in any unit (nanoseconds of latency, cost, or a
//! fixed-point blended score); sums saturate rather than overflow. Ties are
//! broken deterministically: the first label to reach a node with the lowest
//! distance wins, and nodes with equal distance are settled in index order.
//!
//! Complexity: O((V + E) log V) with a binary heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use weft_types::SiteId;

use crate::graph::{EdgeIx, Graph, NodeIx};

const NO_EDGE: u32 = u32::MAX;

/// Distances and predecessor edges from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortestPathTree {
    source: NodeIx,
    dist: Vec<u64>,
    pred: Vec<u32>,
}

impl ShortestPathTree {
    /// The source node.
    pub fn source(&self) -> NodeIx {
        self.source
    }

    /// Distance to `node`, or `None` when unreachable.
    pub fn distance(&self, node: NodeIx) -> Option<u64> {
        self.dist.get(node.index()).copied().filter(|&d| d != u64::MAX)
    }

    /// The edge through which `node` is reached (`None` for the source and
    /// unreachable nodes).
    pub fn parent_edge(&self, node: NodeIx) -> Option<EdgeIx> {
        self.pred.get(node.index()).copied().filter(|&e| e != NO_EDGE).map(EdgeIx)
    }

    /// The node sequence from the source to `dst`, both included, or `None`
    /// when `dst` is unreachable.
    pub fn path_nodes(&self, graph: &Graph, dst: NodeIx) -> Option<Vec<NodeIx>> {
        self.distance(dst)?;
        let mut nodes = vec![dst];
        let mut at = dst;
        while let Some(e) = self.parent_edge(at) {
            at = graph.tail(e);
            nodes.push(at);
        }
        nodes.reverse();
        Some(nodes)
    }

    /// The site sequence from the source to `dst`, or `None` when unreachable.
    pub fn path(&self, graph: &Graph, dst: NodeIx) -> Option<Vec<SiteId>> {
        Some(graph.sites_of(&self.path_nodes(graph, dst)?))
    }
}

/// Single-source shortest paths from `source` with `weight(edge)`.
///
/// # Panics
/// If `source` is not a node of `graph`.
pub fn shortest_path_tree<W>(graph: &Graph, source: NodeIx, weight: W) -> ShortestPathTree
where
    W: Fn(EdgeIx) -> u64,
{
    let n = graph.node_count();
    let mut dist = vec![u64::MAX; n];
    let mut pred = vec![NO_EDGE; n];
    let mut heap = BinaryHeap::with_capacity(n);
    dist[source.index()] = 0;
    heap.push(Reverse((0u64, source.0)));
    while let Some(Reverse((d, u))) = heap.pop() {
        if d > dist[u as usize] {
            continue;
        }
        for e in graph.out_edges(NodeIx(u)) {
            let v = graph.head(e).index();
            let nd = d.saturating_add(weight(e));
            if nd < dist[v] {
                dist[v] = nd;
                pred[v] = e.0;
                heap.push(Reverse((nd, v as u32)));
            }
        }
    }
    ShortestPathTree { source, dist, pred }
}

/// Shortest paths by latency (distances in nanoseconds).
pub fn spf_latency(graph: &Graph, source: NodeIx) -> ShortestPathTree {
    let w = graph.latency_column();
    shortest_path_tree(graph, source, |e| w[e.index()])
}

/// Shortest paths by administrative cost.
pub fn spf_cost(graph: &Graph, source: NodeIx) -> ShortestPathTree {
    let w = graph.cost_column();
    shortest_path_tree(graph, source, |e| w[e.index()])
}

/// Distance from every node *to* `target` (Dijkstra over incoming edges);
/// `u64::MAX` where `target` is unreachable.
pub(crate) fn distances_to<W>(graph: &Graph, target: NodeIx, weight: W) -> Vec<u64>
where
    W: Fn(EdgeIx) -> u64,
{
    let mut dist = vec![u64::MAX; graph.node_count()];
    let mut heap = BinaryHeap::new();
    dist[target.index()] = 0;
    heap.push(Reverse((0u64, target.0)));
    while let Some(Reverse((d, v))) = heap.pop() {
        if d > dist[v as usize] {
            continue;
        }
        for &e in graph.in_edges(NodeIx(v)) {
            let u = graph.tail(e).index();
            let nd = d.saturating_add(weight(e));
            if nd < dist[u] {
                dist[u] = nd;
                heap.push(Reverse((nd, u as u32)));
            }
        }
    }
    dist
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{self, SmallGraph};

    #[test]
    fn the_tree_follows_the_cheaper_two_hop_route() {
        // a->b 1, b->c 1, a->c 5.
        let g = testkit::graph(3, &[(0, 1, 1, 1), (1, 2, 1, 1), (0, 2, 5, 1)]);
        let t = spf_latency(&g, NodeIx(0));
        assert_eq!(t.distance(NodeIx(2)), Some(2_000_000));
        assert_eq!(t.path_nodes(&g, NodeIx(2)), Some(vec![NodeIx(0), NodeIx(1), NodeIx(2)]));
        assert_eq!(t.path(&g, NodeIx(0)).map(|p| p.len()), Some(1));
        let by_cost = spf_cost(&g, NodeIx(0));
        assert_eq!(by_cost.distance(NodeIx(2)), Some(1));
        assert_eq!(by_cost.path_nodes(&g, NodeIx(2)), Some(vec![NodeIx(0), NodeIx(2)]));
    }

    #[test]
    fn unreachable_nodes_have_no_distance_or_path() {
        let g = testkit::graph(3, &[(0, 1, 1, 1)]);
        let t = spf_latency(&g, NodeIx(0));
        assert_eq!(t.distance(NodeIx(2)), None);
        assert_eq!(t.path_nodes(&g, NodeIx(2)), None);
        assert_eq!(t.parent_edge(NodeIx(0)), None);
    }

    #[test]
    fn distances_to_a_target_match_forward_trees() {
        let g = testkit::graph(4, &[(0, 1, 2, 1), (1, 3, 2, 1), (0, 2, 1, 1), (2, 3, 5, 1)]);
        let to = distances_to(&g, NodeIx(3), |e| g.latency_ns(e));
        for s in 0..4 {
            let t = spf_latency(&g, NodeIx(s));
            assert_eq!(to[s as usize], t.distance(NodeIx(3)).unwrap_or(u64::MAX));
        }
    }

    proptest! {
        #[test]
        fn dijkstra_agrees_with_brute_force_on_small_graphs(sg in testkit::small_graph(7)) {
            let SmallGraph { graph: g, n, .. } = &sg;
            for s in 0..*n {
                let tree = spf_cost(g, NodeIx(s));
                let lat = spf_latency(g, NodeIx(s));
                for t in 0..*n {
                    let paths = testkit::simple_paths(g, NodeIx(s), NodeIx(t));
                    let best = paths.iter().map(|p| testkit::sum(g, p, |e| g.cost(e))).min();
                    prop_assert_eq!(tree.distance(NodeIx(t)), best);
                    let best_lat = paths.iter().map(|p| testkit::sum(g, p, |e| g.latency_ns(e))).min();
                    prop_assert_eq!(lat.distance(NodeIx(t)), best_lat);
                    if let Some(p) = tree.path_nodes(g, NodeIx(t)) {
                        prop_assert_eq!(p.first(), Some(&NodeIx(s)));
                        prop_assert_eq!(p.last(), Some(&NodeIx(t)));
                        prop_assert_eq!(Some(testkit::sum(g, &p, |e| g.cost(e))), best);
                    }
                }
            }
        }
    }
}
