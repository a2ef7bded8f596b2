//! k link-disjoint paths: a primary and up to three backups that share no
//! physical link, with minimum total weight.
//!
//! This is Suurballe's algorithm in Bhandari's generalised form: successive
//! shortest paths in the residual graph of a unit-capacity flow, each found by
//! Dijkstra on reduced costs (Johnson potentials), so it stays exact after
//! earlier paths were cancelled. After at most `k` augmentations the flow is
//! decomposed into paths.
//!
//! *Disjoint* means no two paths use the same link in either direction (`a ->
//! b` and `b -> a` are one physical link). A minimum-cost flow never uses
//! both directions when weights are positive (swapping the two paths' tails
//! removes both arcs and lowers the cost), and every flow that does can be
//! rewritten without; the code still cancels any such pair before decomposing,
//! so the guarantee holds for zero weights too.
//!
//! The set minimises the *total* weight, so the primary (the cheapest path of
//! the set) can be more expensive than the plain shortest path when the
//! shortest path would leave no disjoint backup (the classic "trap"
//! topology). Fewer than `k` paths are returned when fewer disjoint paths
//! exist.
//!
//! Complexity: O(k · (V + E) log V).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::error::RouteError;
use crate::graph::{EdgeIx, Graph, NodeIx};

/// Most paths one query may ask for: a primary and three backups.
pub const MAX_DISJOINT_PATHS: usize = 4;

/// One path of a disjoint set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DisjointPath {
    /// Total weight of the path.
    pub weight: u64,
    /// Nodes from source to destination, both included.
    pub nodes: Vec<NodeIx>,
}

/// Up to `k` link-disjoint paths from `src` to `dst` with minimum total
/// weight, sorted by weight (then by nodes). `weights` has one entry per edge
/// (see [`Metric::edge_weights`](crate::Metric::edge_weights)). When
/// `src == dst` the answer is the single zero-hop path.
///
/// # Panics
/// If a node is not in `graph` or `weights` is shorter than the edge count.
pub fn disjoint_paths(
    graph: &Graph,
    src: NodeIx,
    dst: NodeIx,
    k: usize,
    weights: &[u64],
) -> Result<Vec<DisjointPath>, RouteError> {
    if !(1..=MAX_DISJOINT_PATHS).contains(&k) {
        return Err(RouteError::BadPathCount { asked: k, max: MAX_DISJOINT_PATHS });
    }
    if src == dst {
        return Ok(vec![DisjointPath { weight: 0, nodes: vec![src] }]);
    }
    let mut flow = vec![false; graph.edge_count()];
    let mut potential = vec![0i128; graph.node_count()];
    for _ in 0..k {
        if !augment(graph, src, dst, weights, &mut flow, &mut potential) {
            break;
        }
    }
    cancel_opposing_pairs(graph, &mut flow);
    let mut paths = Vec::new();
    while let Some(nodes) = take_path(graph, src, dst, &mut flow) {
        let weight = graph
            .edges_of(&nodes)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |acc, e| acc.saturating_add(weights[e.index()]));
        paths.push(DisjointPath { weight, nodes });
    }
    paths.sort();
    Ok(paths)
}

/// A residual arc: a flow-free edge forwards, or a flow-carrying edge backwards.
#[derive(Clone, Copy)]
struct Arc {
    edge: u32,
    backwards: bool,
}

/// One successive-shortest-path round; returns false when `dst` is cut off.
fn augment(
    graph: &Graph,
    src: NodeIx,
    dst: NodeIx,
    weights: &[u64],
    flow: &mut [bool],
    potential: &mut [i128],
) -> bool {
    let n = graph.node_count();
    let mut dist = vec![u64::MAX; n];
    let mut pred: Vec<Option<Arc>> = vec![None; n];
    let mut heap = BinaryHeap::new();
    dist[src.index()] = 0;
    heap.push(Reverse((0u64, src.0)));
    while let Some(Reverse((d, u))) = heap.pop() {
        if d > dist[u as usize] {
            continue;
        }
        let u = NodeIx(u);
        let forward = graph.out_edges(u).filter(|e| !flow[e.index()]).map(|e| {
            (graph.head(e), i128::from(weights[e.index()]), Arc { edge: e.0, backwards: false })
        });
        let backward = graph.in_edges(u).iter().filter(|e| flow[e.index()]).map(|&e| {
            (graph.tail(e), -i128::from(weights[e.index()]), Arc { edge: e.0, backwards: true })
        });
        for (v, w, arc) in forward.chain(backward) {
            let reduced = w + potential[u.index()] - potential[v.index()];
            debug_assert!(reduced >= 0, "potentials keep reduced costs non-negative");
            let nd = d.saturating_add(u64::try_from(reduced.max(0)).unwrap_or(u64::MAX));
            if nd < dist[v.index()] {
                dist[v.index()] = nd;
                pred[v.index()] = Some(arc);
                heap.push(Reverse((nd, v.0)));
            }
        }
    }
    if dist[dst.index()] == u64::MAX {
        return false;
    }
    for (p, &d) in potential.iter_mut().zip(&dist) {
        if d != u64::MAX {
            *p += i128::from(d);
        }
    }
    let mut at = dst;
    while let Some(arc) = pred[at.index()] {
        let e = EdgeIx(arc.edge);
        flow[e.index()] = !arc.backwards;
        at = if arc.backwards { graph.head(e) } else { graph.tail(e) };
    }
    true
}

/// Drops flow on both directions of a physical link where both carry flow;
/// conservation and the flow value are unchanged.
fn cancel_opposing_pairs(graph: &Graph, flow: &mut [bool]) {
    for e in 0..flow.len() {
        if let Some(r) = graph.reverse(EdgeIx(e as u32))
            && flow[e]
            && flow[r.index()]
        {
            flow[e] = false;
            flow[r.index()] = false;
        }
    }
}

/// Removes one simple `src -> dst` path from the flow (breadth first).
fn take_path(graph: &Graph, src: NodeIx, dst: NodeIx, flow: &mut [bool]) -> Option<Vec<NodeIx>> {
    let mut via: Vec<Option<EdgeIx>> = vec![None; graph.node_count()];
    let mut seen = vec![false; graph.node_count()];
    seen[src.index()] = true;
    let mut queue = VecDeque::from([src]);
    while let Some(u) = queue.pop_front() {
        if u == dst {
            break;
        }
        for e in graph.out_edges(u).filter(|e| flow[e.index()]) {
            let v = graph.head(e);
            if !seen[v.index()] {
                seen[v.index()] = true;
                via[v.index()] = Some(e);
                queue.push_back(v);
            }
        }
    }
    if !seen[dst.index()] {
        return None;
    }
    let mut nodes = vec![dst];
    let mut at = dst;
    while let Some(e) = via[at.index()] {
        flow[e.index()] = false;
        at = graph.tail(e);
        nodes.push(at);
    }
    nodes.reverse();
    Some(nodes)
}

#[cfg(test)]
#[path = "disjoint_tests.rs"]
mod tests;
