//! A compact, immutable snapshot of the usable topology (CSR adjacency).
//!
//! [`Graph::from_lsdb`] copies the *up* links of one database version into
//! flat arrays: outgoing edges of node `u` are `out_start[u]..out_start[u + 1]`,
//! sorted by head; incoming edges are indexed the same way. Per-edge metrics
//! are stored column-wise (latency in nanoseconds, cost, available bandwidth,
//! ...), so an algorithm's inner loop touches only the columns it needs.
//!
//! Node numbers ([`NodeIx`]) are the database's site slots, so a freed slot is
//! a node with no edges and no site. They are only meaningful for the snapshot
//! they came from.

use std::collections::BTreeMap;

use weft_types::SiteId;

use crate::lsdb::LinkStateDb;

/// A node (site) of one [`Graph`] snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIx(pub u32);

impl NodeIx {
    /// As an array index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A directed edge (up link) of one [`Graph`] snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeIx(pub u32);

impl EdgeIx {
    /// As an array index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The up links of one database version, in CSR form.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    version: u64,
    sites: Vec<Option<SiteId>>,
    index: BTreeMap<SiteId, NodeIx>,
    out_start: Vec<u32>,
    tail: Vec<NodeIx>,
    head: Vec<NodeIx>,
    in_start: Vec<u32>,
    in_edges: Vec<EdgeIx>,
    reverse: Vec<Option<EdgeIx>>,
    latency_ns: Vec<u64>,
    jitter_ns: Vec<u64>,
    loss: Vec<f64>,
    available_bps: Vec<u64>,
    cost: Vec<u64>,
}

impl Graph {
    /// Snapshots the up links of `db`. Costs O(V + E log E).
    pub fn from_lsdb(db: &LinkStateDb) -> Self {
        let sites = db.slots().to_vec();
        let n = sites.len();
        let index = sites
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((s.clone()?, NodeIx(i as u32))))
            .collect();
        let mut g = Graph { version: db.version(), sites, index, ..Graph::default() };
        g.out_start = vec![0; n + 1];
        let mut in_degree = vec![0u32; n + 1];
        for (&(f, t), m) in db.slot_links().iter().filter(|(_, m)| m.up) {
            g.out_start[f as usize + 1] += 1;
            in_degree[t as usize + 1] += 1;
            g.tail.push(NodeIx(f));
            g.head.push(NodeIx(t));
            g.latency_ns.push(nanos(m.latency));
            g.jitter_ns.push(nanos(m.jitter));
            g.loss.push(m.loss);
            g.available_bps.push(m.available_bps());
            g.cost.push(u64::from(m.cost));
        }
        for i in 0..n {
            g.out_start[i + 1] += g.out_start[i];
            in_degree[i + 1] += in_degree[i];
        }
        g.in_start.clone_from(&in_degree);
        g.in_edges = vec![EdgeIx(0); g.head.len()];
        for (e, h) in g.head.iter().enumerate() {
            let slot = &mut in_degree[h.index()];
            g.in_edges[*slot as usize] = EdgeIx(e as u32);
            *slot += 1;
        }
        g.reverse = (0..g.head.len()).map(|e| g.find_edge(g.head[e], g.tail[e])).collect();
        g
    }

    /// The database version this snapshot was taken at.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of node slots (live sites plus freed slots).
    pub fn node_count(&self) -> usize {
        self.sites.len()
    }

    /// Number of directed up edges.
    pub fn edge_count(&self) -> usize {
        self.head.len()
    }

    /// The node of `site`, if the site is in this snapshot.
    pub fn node(&self, site: &SiteId) -> Option<NodeIx> {
        self.index.get(site).copied()
    }

    /// The site at `node`, if the slot is live.
    pub fn site(&self, node: NodeIx) -> Option<&SiteId> {
        self.sites.get(node.index())?.as_ref()
    }

    /// Sites of a node sequence (skipping dead slots, which paths never hold).
    pub fn sites_of(&self, nodes: &[NodeIx]) -> Vec<SiteId> {
        nodes.iter().filter_map(|&n| self.site(n).cloned()).collect()
    }

    /// Outgoing edges of `node`, sorted by head.
    pub fn out_edges(&self, node: NodeIx) -> impl Iterator<Item = EdgeIx> + use<> {
        let (a, b) = (self.out_start[node.index()], self.out_start[node.index() + 1]);
        (a..b).map(EdgeIx)
    }

    /// Incoming edges of `node`.
    pub fn in_edges(&self, node: NodeIx) -> &[EdgeIx] {
        let (a, b) = (self.in_start[node.index()], self.in_start[node.index() + 1]);
        &self.in_edges[a as usize..b as usize]
    }

    /// The edge `from -> to`, if it exists and is up.
    pub fn find_edge(&self, from: NodeIx, to: NodeIx) -> Option<EdgeIx> {
        let (a, b) =
            (self.out_start[from.index()] as usize, self.out_start[from.index() + 1] as usize);
        let at = self.head[a..b].binary_search(&to).ok()?;
        Some(EdgeIx((a + at) as u32))
    }

    /// The edge in the opposite direction (same physical link), if up.
    pub fn reverse(&self, e: EdgeIx) -> Option<EdgeIx> {
        self.reverse[e.index()]
    }

    /// Tail (from) of `e`.
    pub fn tail(&self, e: EdgeIx) -> NodeIx {
        self.tail[e.index()]
    }

    /// Head (to) of `e`.
    pub fn head(&self, e: EdgeIx) -> NodeIx {
        self.head[e.index()]
    }

    /// Latency of `e` in nanoseconds.
    pub fn latency_ns(&self, e: EdgeIx) -> u64 {
        self.latency_ns[e.index()]
    }

    /// Jitter of `e` in nanoseconds.
    pub fn jitter_ns(&self, e: EdgeIx) -> u64 {
        self.jitter_ns[e.index()]
    }

    /// Loss fraction of `e`.
    pub fn loss(&self, e: EdgeIx) -> f64 {
        self.loss[e.index()]
    }

    /// Available bandwidth of `e`, bits per second.
    pub fn available_bps(&self, e: EdgeIx) -> u64 {
        self.available_bps[e.index()]
    }

    /// Administrative cost of `e` (at least 1).
    pub fn cost(&self, e: EdgeIx) -> u64 {
        self.cost[e.index()]
    }

    /// The per-edge latency column (nanoseconds), indexed by [`EdgeIx`].
    pub fn latency_column(&self) -> &[u64] {
        &self.latency_ns
    }

    /// The per-edge cost column, indexed by [`EdgeIx`].
    pub fn cost_column(&self) -> &[u64] {
        &self.cost
    }

    /// The edges along a node sequence, or `None` if some hop is not an up
    /// edge of this snapshot.
    pub fn edges_of(&self, nodes: &[NodeIx]) -> Option<Vec<EdgeIx>> {
        nodes.windows(2).map(|w| self.find_edge(w[0], w[1])).collect()
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::LinkMetrics;

    fn id(s: &str) -> SiteId {
        SiteId::new(s).unwrap()
    }

    fn db() -> LinkStateDb {
        let mut db = LinkStateDb::new();
        for s in ["a", "b", "c"] {
            db.upsert_site(id(s));
        }
        let m = |ms| LinkMetrics::new(Duration::from_millis(ms), 1);
        db.upsert_link(&id("a"), &id("c"), m(3)).unwrap();
        db.upsert_link(&id("a"), &id("b"), m(1)).unwrap();
        db.upsert_link(&id("b"), &id("a"), m(2)).unwrap();
        db.upsert_link(&id("c"), &id("b"), LinkMetrics { up: false, ..m(9) }).unwrap();
        db
    }

    #[test]
    fn snapshot_holds_only_up_links_in_sorted_csr_order() {
        let g = Graph::from_lsdb(&db());
        assert_eq!(g.edge_count(), 3);
        let (a, b, c) = (NodeIx(0), NodeIx(1), NodeIx(2));
        let heads: Vec<_> = g.out_edges(a).map(|e| g.head(e)).collect();
        assert_eq!(heads, vec![b, c]);
        assert_eq!(g.out_edges(c).count(), 0);
        assert_eq!(g.find_edge(c, b), None);
        let into_b: Vec<_> = g.in_edges(b).iter().map(|&e| g.tail(e)).collect();
        assert_eq!(into_b, vec![a]);
        assert_eq!(g.in_edges(a).len(), 1);
    }

    #[test]
    fn reverse_edges_pair_up_both_directions_of_a_link() {
        let g = Graph::from_lsdb(&db());
        let ab = g.find_edge(NodeIx(0), NodeIx(1)).unwrap();
        let ba = g.find_edge(NodeIx(1), NodeIx(0)).unwrap();
        assert_eq!(g.reverse(ab), Some(ba));
        assert_eq!(g.reverse(ba), Some(ab));
        let ac = g.find_edge(NodeIx(0), NodeIx(2)).unwrap();
        assert_eq!(g.reverse(ac), None);
        assert_eq!(g.latency_ns(ab), 1_000_000);
    }

    #[test]
    fn sites_map_to_nodes_and_back() {
        let d = db();
        let g = Graph::from_lsdb(&d);
        assert_eq!(g.version(), d.version());
        let b = g.node(&id("b")).unwrap();
        assert_eq!(g.site(b), Some(&id("b")));
        assert_eq!(g.node(&id("zz")), None);
        assert_eq!(g.sites_of(&[NodeIx(0), b]), vec![id("a"), id("b")]);
        assert_eq!(g.edges_of(&[NodeIx(0), NodeIx(2), NodeIx(1)]), None);
    }
}
