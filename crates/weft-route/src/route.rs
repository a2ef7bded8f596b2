//! Routes as the rest of Weft sees them: site names plus the path's figures.

use std::time::Duration;

use weft_types::SiteId;

use crate::graph::{Graph, NodeIx};

/// A path through the mesh with its end-to-end figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Sites from source to destination, both included.
    pub sites: Vec<SiteId>,
    /// Sum of link latencies.
    pub latency: Duration,
    /// Sum of link jitters (a pessimistic bound: jitter rarely adds up fully).
    pub jitter: Duration,
    /// End-to-end loss, `1 − Π(1 − loss)`.
    pub loss: f64,
    /// Sum of link costs.
    pub cost: u64,
    /// Smallest available bandwidth along the path, bits per second
    /// (`u64::MAX` for a zero-hop route).
    pub bottleneck_bps: u64,
}

impl Route {
    /// Number of links on the route.
    pub fn hops(&self) -> usize {
        self.sites.len().saturating_sub(1)
    }

    /// The next site after the source, if the route has at least one hop.
    pub fn next_hop(&self) -> Option<&SiteId> {
        self.sites.get(1)
    }

    /// Describes a node path of `graph`; `None` if some hop is not an up edge.
    pub fn from_nodes(graph: &Graph, nodes: &[NodeIx]) -> Option<Self> {
        let edges = graph.edges_of(nodes)?;
        let (mut latency, mut jitter, mut delivered, mut cost) = (0u64, 0u64, 1.0, 0u64);
        let mut bottleneck_bps = u64::MAX;
        for &e in &edges {
            latency = latency.saturating_add(graph.latency_ns(e));
            jitter = jitter.saturating_add(graph.jitter_ns(e));
            delivered *= 1.0 - graph.loss(e);
            cost = cost.saturating_add(graph.cost(e));
            bottleneck_bps = bottleneck_bps.min(graph.available_bps(e));
        }
        Some(Self {
            sites: graph.sites_of(nodes),
            latency: Duration::from_nanos(latency),
            jitter: Duration::from_nanos(jitter),
            loss: 1.0 - delivered,
            cost,
            bottleneck_bps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinkMetrics;
    use crate::testkit;

    #[test]
    fn a_route_sums_delays_and_costs_and_compounds_loss() {
        let m = |ms, loss, util| LinkMetrics {
            loss,
            utilisation: util,
            jitter: Duration::from_millis(1),
            ..LinkMetrics::new(Duration::from_millis(ms), 3)
        };
        let g = testkit::graph_with(3, &[(0, 1, m(10, 0.1, 0.5)), (1, 2, m(5, 0.1, 0.0))]);
        let r = Route::from_nodes(&g, &[NodeIx(0), NodeIx(1), NodeIx(2)]).unwrap();
        assert_eq!(r.hops(), 2);
        assert_eq!(r.next_hop(), Some(&testkit::site(1)));
        assert_eq!(r.latency, Duration::from_millis(15));
        assert_eq!(r.jitter, Duration::from_millis(2));
        assert!((r.loss - 0.19).abs() < 1e-12);
        assert_eq!(r.cost, 6);
        assert_eq!(r.bottleneck_bps, 500_000_000);
        assert_eq!(Route::from_nodes(&g, &[NodeIx(2), NodeIx(0)]), None);
    }
}
