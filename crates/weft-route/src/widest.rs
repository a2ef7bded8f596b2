//! Widest paths: maximise the bottleneck of available bandwidth
//! (`capacity × (1 − utilisation)`), breaking ties by lower latency.
//!
//! [`widest_tree`] is a modified Dijkstra from one source: labels are
//! `(bottleneck, latency)`, the wider label wins and equal widths prefer the
//! lower latency. Its bottleneck for every node is exact. Its latency
//! tie-break is *per node*, which is not always globally optimal: widest paths
//! are not isotonic under a latency tie-break (a wider but slower prefix can
//! be narrowed later by a shared bottleneck, after which the slower prefix is
//! no longer worth it), so no single tree is optimal for every destination.
//!
//! [`widest_path`] is exact for one destination: it takes the bottleneck `W`
//! from the tree, then runs latency Dijkstra over only the edges with at least
//! `W` available, giving the lowest-latency path among all widest paths.
//!
//! Complexity: O((V + E) log V) for the tree, twice that for one path.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::graph::{EdgeIx, Graph, NodeIx};
use crate::spf::shortest_path_tree;

const NO_EDGE: u32 = u32::MAX;

/// Bottleneck widths and predecessor edges from one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidestTree {
    source: NodeIx,
    width: Vec<u64>,
    latency: Vec<u64>,
    reached: Vec<bool>,
    pred: Vec<u32>,
}

impl WidestTree {
    /// The source node.
    pub fn source(&self) -> NodeIx {
        self.source
    }

    /// The widest bottleneck to `node` in bits per second (`u64::MAX` for the
    /// source itself), or `None` when unreachable.
    pub fn bottleneck_bps(&self, node: NodeIx) -> Option<u64> {
        self.reached.get(node.index()).copied()?.then(|| self.width[node.index()])
    }

    /// Latency (ns) of the tree's path to `node`, or `None` when unreachable.
    pub fn latency_ns(&self, node: NodeIx) -> Option<u64> {
        self.reached.get(node.index()).copied()?.then(|| self.latency[node.index()])
    }

    /// The tree's node sequence from the source to `dst`.
    pub fn path_nodes(&self, graph: &Graph, dst: NodeIx) -> Option<Vec<NodeIx>> {
        self.bottleneck_bps(dst)?;
        let mut nodes = vec![dst];
        let mut at = dst;
        while self.pred[at.index()] != NO_EDGE {
            at = graph.tail(EdgeIx(self.pred[at.index()]));
            nodes.push(at);
        }
        nodes.reverse();
        Some(nodes)
    }
}

/// Widest-path tree from `source`.
///
/// # Panics
/// If `source` is not a node of `graph`.
pub fn widest_tree(graph: &Graph, source: NodeIx) -> WidestTree {
    let n = graph.node_count();
    let mut t = WidestTree {
        source,
        width: vec![0; n],
        latency: vec![u64::MAX; n],
        reached: vec![false; n],
        pred: vec![NO_EDGE; n],
    };
    let mut settled = vec![false; n];
    let s = source.index();
    (t.width[s], t.latency[s], t.reached[s]) = (u64::MAX, 0, true);
    // Max-heap: widest first, then lowest latency, then lowest index.
    let mut heap = BinaryHeap::with_capacity(n);
    heap.push((u64::MAX, Reverse(0u64), Reverse(source.0)));
    while let Some((w, Reverse(lat), Reverse(u))) = heap.pop() {
        if settled[u as usize] {
            continue;
        }
        settled[u as usize] = true;
        for e in graph.out_edges(NodeIx(u)) {
            let v = graph.head(e).index();
            if settled[v] {
                continue;
            }
            let nw = w.min(graph.available_bps(e));
            let nl = lat.saturating_add(graph.latency_ns(e));
            let better =
                !t.reached[v] || nw > t.width[v] || (nw == t.width[v] && nl < t.latency[v]);
            if better {
                (t.width[v], t.latency[v], t.reached[v], t.pred[v]) = (nw, nl, true, e.0);
                heap.push((nw, Reverse(nl), Reverse(v as u32)));
            }
        }
    }
    t
}

/// One widest path with its figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidestPath {
    /// Nodes from source to destination, both included.
    pub nodes: Vec<NodeIx>,
    /// The bottleneck available bandwidth (`u64::MAX` for a zero-hop path).
    pub bottleneck_bps: u64,
    /// Total latency in nanoseconds.
    pub latency_ns: u64,
}

/// The lowest-latency path among the widest paths from `src` to `dst`, or
/// `None` when `dst` is unreachable. Exact (see the module docs).
pub fn widest_path(graph: &Graph, src: NodeIx, dst: NodeIx) -> Option<WidestPath> {
    let width = widest_tree(graph, src).bottleneck_bps(dst)?;
    let tree = shortest_path_tree(graph, src, |e| {
        if graph.available_bps(e) >= width { graph.latency_ns(e) } else { u64::MAX }
    });
    let nodes = tree.path_nodes(graph, dst)?;
    let latency_ns = tree.distance(dst)?;
    Some(WidestPath { nodes, bottleneck_bps: width, latency_ns })
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn the_widest_path_avoids_the_narrow_short_cut() {
        let g = testkit::graph_with(
            3,
            &[(0, 2, link(1, 10)), (0, 1, link(5, 100)), (1, 2, link(5, 50))],
        );
        let p = widest_path(&g, NodeIx(0), NodeIx(2)).unwrap();
        assert_eq!(p.nodes, vec![NodeIx(0), NodeIx(1), NodeIx(2)]);
        assert_eq!(p.bottleneck_bps, 50_000_000);
        assert_eq!(p.latency_ns, 10_000_000);
    }

    #[test]
    fn equal_widths_prefer_lower_latency_even_past_a_shared_bottleneck() {
        // 0->1 wide but slow, 0->2 narrower but fast; both meet at 3, then a
        // 10 Mbit/s hop to 4 caps everything. The tree keeps the wide prefix
        // at 3; the exact path picks the fast one.
        let g = testkit::graph_with(
            5,
            &[
                (0, 1, link(50, 100)),
                (1, 3, link(50, 100)),
                (0, 2, link(1, 20)),
                (2, 3, link(1, 20)),
                (3, 4, link(1, 10)),
            ],
        );
        let tree = widest_tree(&g, NodeIx(0));
        assert_eq!(tree.bottleneck_bps(NodeIx(4)), Some(10_000_000));
        assert_eq!(tree.latency_ns(NodeIx(4)), Some(101_000_000));
        let p = widest_path(&g, NodeIx(0), NodeIx(4)).unwrap();
        assert_eq!(p.nodes, [0, 2, 3, 4].map(NodeIx).to_vec());
        assert_eq!(p.latency_ns, 3_000_000);
    }

    #[test]
    fn an_unreachable_destination_has_no_widest_path() {
        let g = testkit::graph(3, &[(0, 1, 1, 1)]);
        assert_eq!(widest_path(&g, NodeIx(0), NodeIx(2)), None);
        assert_eq!(widest_tree(&g, NodeIx(0)).bottleneck_bps(NodeIx(0)), Some(u64::MAX));
    }

    proptest! {
        #[test]
        fn widest_bottleneck_and_latency_match_brute_force(sg in testkit::small_graph(7)) {
            let SmallGraph { graph: g, n } = &sg;
            for s in 0..*n {
                let tree = widest_tree(g, NodeIx(s));
                for t in 0..*n {
                    let paths = testkit::simple_paths(g, NodeIx(s), NodeIx(t));
                    let best = paths.iter().map(|p| testkit::bottleneck(g, p)).max();
                    prop_assert_eq!(tree.bottleneck_bps(NodeIx(t)), best);
                    let exact = widest_path(g, NodeIx(s), NodeIx(t));
                    prop_assert_eq!(exact.as_ref().map(|p| p.bottleneck_bps), best);
                    let Some(exact) = exact else { continue };
                    let min_lat = paths
                        .iter()
                        .filter(|p| Some(testkit::bottleneck(g, p)) == best)
                        .map(|p| testkit::sum(g, p, |e| g.latency_ns(e)))
                        .min();
                    prop_assert_eq!(Some(exact.latency_ns), min_lat);
                    prop_assert_eq!(testkit::bottleneck(g, &exact.nodes), exact.bottleneck_bps);
                    prop_assert_eq!(testkit::sum(g, &exact.nodes, |e| g.latency_ns(e)), exact.latency_ns);
                    let tree_path = tree.path_nodes(g, NodeIx(t)).unwrap();
                    prop_assert_eq!(Some(testkit::bottleneck(g, &tree_path)), best);
                }
            }
        }
    }
}
