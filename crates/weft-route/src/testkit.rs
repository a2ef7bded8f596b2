//! Test helpers: tiny graph builders, a proptest strategy for small random
//! graphs, and brute-force references (enumerate all simple paths).

use std::time::Duration;

use proptest::prelude::*;
use weft_types::SiteId;

use crate::graph::{EdgeIx, Graph, NodeIx};
use crate::lsdb::LinkStateDb;
use crate::metrics::LinkMetrics;

/// Site `i` is named `s{i}`.
pub(crate) fn site(i: u32) -> SiteId {
    SiteId::new(&format!("s{i}")).expect("valid name")
}

/// A graph of `n` sites and links `(from, to, latency_ms, cost)`, 1 Gbit/s idle.
pub(crate) fn graph(n: u32, links: &[(u32, u32, u64, u32)]) -> Graph {
    let full: Vec<_> = links
        .iter()
        .map(|&(f, t, ms, cost)| (f, t, LinkMetrics::new(Duration::from_millis(ms), cost)))
        .collect();
    graph_with(n, &full)
}

/// A graph of `n` sites and fully specified links.
pub(crate) fn graph_with(n: u32, links: &[(u32, u32, LinkMetrics)]) -> Graph {
    let mut db = LinkStateDb::new();
    for i in 0..n {
        db.upsert_site(site(i));
    }
    for (f, t, m) in links {
        db.upsert_link(&site(*f), &site(*t), *m).expect("valid test link");
    }
    Graph::from_lsdb(&db)
}

/// A random small graph for property tests.
#[derive(Debug, Clone)]
pub(crate) struct SmallGraph {
    pub(crate) graph: Graph,
    pub(crate) n: u32,
}

/// Graphs of 2..=`max_n` nodes; each ordered pair linked with probability
/// 0.45, small integer metrics (so ties are common), 10 % of links down.
pub(crate) fn small_graph(max_n: u32) -> impl Strategy<Value = SmallGraph> {
    let link = prop::option::weighted(
        0.45,
        (1u64..6, 1u32..5, 1u64..6, 0u8..3, prop::bool::weighted(0.9)),
    );
    (2..=max_n)
        .prop_flat_map(move |n| (Just(n), prop::collection::vec(link.clone(), (n * n) as usize)))
        .prop_map(|(n, cells)| {
            let mut links = Vec::new();
            for (i, cell) in cells.into_iter().enumerate() {
                let (f, t) = (i as u32 / n, i as u32 % n);
                let Some((ms, cost, cap, util, up)) = cell else { continue };
                if f == t {
                    continue;
                }
                let m = LinkMetrics {
                    capacity_bps: cap * 10_000_000,
                    utilisation: f64::from(util) * 0.25,
                    up,
                    jitter: Duration::from_millis(u64::from(cost)),
                    loss: f64::from(util) * 0.01,
                    ..LinkMetrics::new(Duration::from_millis(ms), cost)
                };
                links.push((f, t, m));
            }
            SmallGraph { graph: graph_with(n, &links), n }
        })
}

/// Every simple path from `s` to `t` (node sequences); `[s]` when `s == t`.
pub(crate) fn simple_paths(g: &Graph, s: NodeIx, t: NodeIx) -> Vec<Vec<NodeIx>> {
    fn go(g: &Graph, t: NodeIx, path: &mut Vec<NodeIx>, out: &mut Vec<Vec<NodeIx>>) {
        let &at = path.last().expect("non-empty");
        if at == t {
            out.push(path.clone());
            return;
        }
        for e in g.out_edges(at) {
            let v = g.head(e);
            if !path.contains(&v) {
                path.push(v);
                go(g, t, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(g, t, &mut vec![s], &mut out);
    out
}

/// Sum of `f` over the edges of a node path.
pub(crate) fn sum(g: &Graph, path: &[NodeIx], f: impl Fn(EdgeIx) -> u64) -> u64 {
    g.edges_of(path).expect("a path of up edges").into_iter().map(f).sum()
}

/// Smallest available bandwidth along a node path (`u64::MAX` for `[s]`).
pub(crate) fn bottleneck(g: &Graph, path: &[NodeIx]) -> u64 {
    let edges = g.edges_of(path).expect("a path of up edges");
    edges.into_iter().map(|e| g.available_bps(e)).min().unwrap_or(u64::MAX)
}

/// Physical links (unordered node pairs) of a node path.
pub(crate) fn physical_links(path: &[NodeIx]) -> Vec<(NodeIx, NodeIx)> {
    path.windows(2).map(|w| (w[0].min(w[1]), w[0].max(w[1]))).collect()
}
