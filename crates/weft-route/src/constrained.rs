//! Constrained shortest path: the lowest-cost path whose total latency stays
//! within a bound.
//!
//! The problem is NP-hard in general (it contains knapsack), so this is an
//! exact *label-setting* search: each label is a `(cost, latency)` pair at a
//! node; labels are expanded cheapest first, and a label is dropped when
//! another label at the same node is no worse in both (Pareto dominance) or
//! when even the fastest way on to the destination (a reverse latency Dijkstra
//! computed up front) would break the bound. The first label to reach the
//! destination is optimal.
//!
//! Complexity: O(L·E·(L + log(L·V))) where L is the largest number of
//! non-dominated labels kept at one node. L is at most the number of distinct
//! path costs (pseudo-polynomial: bounded by the sum of link costs), and in
//! practice a handful on WAN topologies of a few hundred sites.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::graph::{Graph, NodeIx};
use crate::spf::distances_to;

/// A path found by [`lowest_cost_within`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstrainedPath {
    /// Nodes from source to destination, both included.
    pub nodes: Vec<NodeIx>,
    /// Total administrative cost.
    pub cost: u64,
    /// Total latency in nanoseconds (at most the bound).
    pub latency_ns: u64,
}

#[derive(Debug, Clone, Copy)]
struct Label {
    node: NodeIx,
    cost: u64,
    latency: u64,
    parent: u32,
    alive: bool,
}

const ROOT: u32 = u32::MAX;

/// The lowest-cost path from `src` to `dst` with total latency at most
/// `max_latency_ns`; among equal costs, the lowest latency. `None` when no
/// path meets the bound.
///
/// # Panics
/// If `src` or `dst` is not a node of `graph`.
pub fn lowest_cost_within(
    graph: &Graph,
    src: NodeIx,
    dst: NodeIx,
    max_latency_ns: u64,
) -> Option<ConstrainedPath> {
    let to_dst = distances_to(graph, dst, |e| graph.latency_ns(e));
    if to_dst[src.index()] > max_latency_ns {
        return None;
    }
    let mut labels = vec![Label { node: src, cost: 0, latency: 0, parent: ROOT, alive: true }];
    let mut at_node: Vec<Vec<u32>> = vec![Vec::new(); graph.node_count()];
    at_node[src.index()].push(0);
    let mut heap = BinaryHeap::new();
    heap.push(Reverse((0u64, 0u64, 0u32)));
    while let Some(Reverse((_, _, id))) = heap.pop() {
        let label = labels[id as usize];
        if !label.alive {
            continue;
        }
        if label.node == dst {
            return Some(unwind(&labels, id));
        }
        for e in graph.out_edges(label.node) {
            let v = graph.head(e);
            let latency = label.latency.saturating_add(graph.latency_ns(e));
            if latency.saturating_add(to_dst[v.index()]) > max_latency_ns {
                continue;
            }
            let cost = label.cost.saturating_add(graph.cost(e));
            let here = &mut at_node[v.index()];
            let dominated = here.iter().any(|&o| {
                let o = &labels[o as usize];
                o.cost <= cost && o.latency <= latency
            });
            if dominated {
                continue;
            }
            here.retain(|&o| {
                let old = &mut labels[o as usize];
                let keep = !(cost <= old.cost && latency <= old.latency);
                old.alive &= keep;
                keep
            });
            let new = labels.len() as u32;
            labels.push(Label { node: v, cost, latency, parent: id, alive: true });
            here.push(new);
            heap.push(Reverse((cost, latency, new)));
        }
    }
    None
}

fn unwind(labels: &[Label], id: u32) -> ConstrainedPath {
    let end = labels[id as usize];
    let mut nodes = Vec::new();
    let mut at = id;
    while at != ROOT {
        nodes.push(labels[at as usize].node);
        at = labels[at as usize].parent;
    }
    nodes.reverse();
    ConstrainedPath { nodes, cost: end.cost, latency_ns: end.latency }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{self, SmallGraph};

    const MS: u64 = 1_000_000;

    fn diamond() -> Graph {
        // Cheap but slow: 0->1->3 (cost 2, 40 ms). Dear but fast: 0->2->3
        // (cost 10, 4 ms). Middle: 0->1->2->3 (cost 7, 22 ms).
        testkit::graph(4, &[(0, 1, 20, 1), (1, 3, 20, 1), (0, 2, 2, 5), (2, 3, 2, 5), (1, 2, 0, 1)])
    }

    #[test]
    fn a_loose_bound_gives_the_cheapest_path() {
        let p = lowest_cost_within(&diamond(), NodeIx(0), NodeIx(3), 100 * MS).unwrap();
        assert_eq!((p.cost, p.latency_ns), (2, 40 * MS));
    }

    #[test]
    fn tightening_the_bound_trades_cost_for_latency() {
        let g = diamond();
        let p = lowest_cost_within(&g, NodeIx(0), NodeIx(3), 30 * MS).unwrap();
        assert_eq!(p.nodes, [0, 1, 2, 3].map(NodeIx).to_vec());
        assert_eq!((p.cost, p.latency_ns), (7, 22 * MS));
        let p = lowest_cost_within(&g, NodeIx(0), NodeIx(3), 5 * MS).unwrap();
        assert_eq!((p.cost, p.latency_ns), (10, 4 * MS));
        assert_eq!(lowest_cost_within(&g, NodeIx(0), NodeIx(3), 3 * MS), None);
    }

    #[test]
    fn the_source_reaches_itself_at_no_cost() {
        let p = lowest_cost_within(&diamond(), NodeIx(2), NodeIx(2), 0).unwrap();
        assert_eq!((p.nodes, p.cost), (vec![NodeIx(2)], 0));
    }

    proptest! {
        #[test]
        fn constrained_lowest_cost_matches_brute_force(
            sg in testkit::small_graph(7),
            bound_ms in 0u64..20,
        ) {
            let SmallGraph { graph: g, n } = &sg;
            let bound = bound_ms * MS;
            for s in 0..*n {
                for t in 0..*n {
                    let best = testkit::simple_paths(g, NodeIx(s), NodeIx(t))
                        .iter()
                        .map(|p| (testkit::sum(g, p, |e| g.cost(e)), testkit::sum(g, p, |e| g.latency_ns(e))))
                        .filter(|&(_, lat)| lat <= bound)
                        .min();
                    let got = lowest_cost_within(g, NodeIx(s), NodeIx(t), bound);
                    prop_assert_eq!(got.as_ref().map(|p| (p.cost, p.latency_ns)), best);
                    if let Some(p) = got {
                        prop_assert_eq!(testkit::sum(g, &p.nodes, |e| g.cost(e)), p.cost);
                        prop_assert_eq!(testkit::sum(g, &p.nodes, |e| g.latency_ns(e)), p.latency_ns);
                        prop_assert_eq!(p.nodes.first(), Some(&NodeIx(s)));
                        prop_assert_eq!(p.nodes.last(), Some(&NodeIx(t)));
                    }
                }
            }
        }
    }
}
