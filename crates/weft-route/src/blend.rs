//! Edge metrics for the weight-generic algorithms, including a weighted blend
//! of several measurements.
//!
//! A [`Metric`] turns a [`Graph`] snapshot into one `u64` weight per edge.
//! [`Metric::Latency`] and [`Metric::Cost`] borrow the snapshot's columns;
//! [`Metric::Blend`] computes, for every edge,
//!
//! ```text
//! score = w_latency · latency / max latency
//!       + w_jitter  · jitter / max jitter
//!       + w_loss    · −ln(1 − loss) / max −ln(1 − loss)
//!       + w_cost    · cost / max cost
//!       + w_inverse_bandwidth · (1 / available) / max (1 / available)
//! ```
//!
//! Every term is normalised to `[0, 1]` by its largest value in the snapshot,
//! so the weights compare like with like. Loss enters as `−ln(1 − p)` so that
//! it adds up along a path the way delivery probability multiplies. Scores are
//! stored in fixed point ([`BLEND_SCALE`] units per 1.0) so Dijkstra stays on
//! integers; a path's blended distance is the sum of its edges' scores.
//!
//! Because normalisation uses the snapshot's maxima, a blended route can
//! change when a far-away link's measurements change; results are cached per
//! topology version, which already accounts for that.

use std::borrow::Cow;

use crate::error::RouteError;
use crate::graph::{EdgeIx, Graph, NodeIx};
use crate::spf::{ShortestPathTree, shortest_path_tree};

/// Fixed-point units per 1.0 of blended score.
pub const BLEND_SCALE: f64 = 1_000_000.0;

/// Named weights of the blended metric; each must be finite and `>= 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlendWeights {
    /// Weight of normalised latency.
    pub latency: f64,
    /// Weight of normalised jitter.
    pub jitter: f64,
    /// Weight of normalised loss (`−ln(1 − p)`).
    pub loss: f64,
    /// Weight of normalised administrative cost.
    pub cost: f64,
    /// Weight of normalised inverse available bandwidth.
    pub inverse_bandwidth: f64,
}

impl BlendWeights {
    /// A general-purpose mix for interactive traffic: latency first, then loss
    /// and jitter, with a nudge away from congested links.
    pub const BALANCED: Self =
        Self { latency: 1.0, jitter: 0.5, loss: 1.0, cost: 0.1, inverse_bandwidth: 0.25 };

    /// Checks that every weight is finite and non-negative.
    pub fn validate(&self) -> Result<(), RouteError> {
        let named = [
            ("latency", self.latency),
            ("jitter", self.jitter),
            ("loss", self.loss),
            ("cost", self.cost),
            ("inverse_bandwidth", self.inverse_bandwidth),
        ];
        for (name, value) in named {
            if !(value.is_finite() && value >= 0.0) {
                return Err(RouteError::BadWeight { name, value });
            }
        }
        Ok(())
    }

    /// The weights as raw bits, for use as a cache key.
    pub(crate) fn bits(&self) -> [u64; 5] {
        [self.latency, self.jitter, self.loss, self.cost, self.inverse_bandwidth].map(f64::to_bits)
    }
}

/// Which per-edge weight a weight-generic algorithm minimises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Latency in nanoseconds.
    Latency,
    /// Administrative cost.
    Cost,
    /// A weighted blend of normalised measurements (see the module docs).
    Blend(BlendWeights),
}

impl Metric {
    /// One weight per edge of `graph`, indexed by [`EdgeIx`].
    pub fn edge_weights<'g>(&self, graph: &'g Graph) -> Result<Cow<'g, [u64]>, RouteError> {
        match self {
            Metric::Latency => Ok(Cow::Borrowed(graph.latency_column())),
            Metric::Cost => Ok(Cow::Borrowed(graph.cost_column())),
            Metric::Blend(w) => Ok(Cow::Owned(blended_weights(graph, w)?)),
        }
    }
}

fn loss_term(p: f64) -> f64 {
    -(1.0 - p.min(1.0 - 1e-12)).ln()
}

/// Blended fixed-point score of every edge of `graph`.
pub fn blended_weights(graph: &Graph, w: &BlendWeights) -> Result<Vec<u64>, RouteError> {
    w.validate()?;
    let edges = || (0..graph.edge_count() as u32).map(EdgeIx);
    let max = |f: &dyn Fn(EdgeIx) -> f64| edges().map(f).fold(0.0_f64, f64::max);
    let max_latency = max(&|e| graph.latency_ns(e) as f64);
    let max_jitter = max(&|e| graph.jitter_ns(e) as f64);
    let max_loss = max(&|e| loss_term(graph.loss(e)));
    let max_cost = max(&|e| graph.cost(e) as f64);
    let min_avail = edges().map(|e| graph.available_bps(e).max(1)).min().unwrap_or(1) as f64;
    let norm = |v: f64, max: f64| if max > 0.0 { v / max } else { 0.0 };
    Ok(edges()
        .map(|e| {
            let score = w.latency * norm(graph.latency_ns(e) as f64, max_latency)
                + w.jitter * norm(graph.jitter_ns(e) as f64, max_jitter)
                + w.loss * norm(loss_term(graph.loss(e)), max_loss)
                + w.cost * norm(graph.cost(e) as f64, max_cost)
                + w.inverse_bandwidth * (min_avail / graph.available_bps(e).max(1) as f64);
            (score * BLEND_SCALE).round() as u64
        })
        .collect())
}

/// Shortest-path tree on the blended score.
pub fn blended_tree(
    graph: &Graph,
    src: NodeIx,
    weights: &BlendWeights,
) -> Result<ShortestPathTree, RouteError> {
    let w = blended_weights(graph, weights)?;
    Ok(shortest_path_tree(graph, src, |e| w[e.index()]))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::LinkMetrics;
    use crate::testkit::{self, SmallGraph};

    const ZERO: BlendWeights =
        BlendWeights { latency: 0.0, jitter: 0.0, loss: 0.0, cost: 0.0, inverse_bandwidth: 0.0 };

    fn lossy_fast_vs_clean_slow() -> Graph {
        let fast = LinkMetrics { loss: 0.05, ..LinkMetrics::new(Duration::from_millis(5), 1) };
        let slow = LinkMetrics::new(Duration::from_millis(8), 1);
        testkit::graph_with(4, &[(0, 1, fast), (1, 3, fast), (0, 2, slow), (2, 3, slow)])
    }

    #[test]
    fn latency_only_weights_take_the_fast_path_and_loss_weights_avoid_loss() {
        let g = lossy_fast_vs_clean_slow();
        let fast = blended_tree(&g, NodeIx(0), &BlendWeights { latency: 1.0, ..ZERO }).unwrap();
        assert_eq!(fast.path_nodes(&g, NodeIx(3)), Some([0, 1, 3].map(NodeIx).to_vec()));
        assert_eq!(fast.distance(NodeIx(3)), Some(1_250_000));
        let careful = BlendWeights { latency: 1.0, loss: 1.0, ..ZERO };
        let t = blended_tree(&g, NodeIx(0), &careful).unwrap();
        assert_eq!(t.path_nodes(&g, NodeIx(3)), Some([0, 2, 3].map(NodeIx).to_vec()));
    }

    #[test]
    fn invalid_weights_are_refused_by_name() {
        let g = lossy_fast_vs_clean_slow();
        let bad = BlendWeights { jitter: -1.0, ..BlendWeights::BALANCED };
        assert!(matches!(
            blended_tree(&g, NodeIx(0), &bad),
            Err(RouteError::BadWeight { name: "jitter", .. })
        ));
        let nan = BlendWeights { inverse_bandwidth: f64::NAN, ..ZERO };
        assert!(Metric::Blend(nan).edge_weights(&g).is_err());
        assert!(Metric::Blend(BlendWeights::BALANCED).edge_weights(&g).is_ok());
    }

    #[test]
    fn inverse_bandwidth_steers_around_a_congested_link() {
        let busy =
            LinkMetrics { utilisation: 0.9, ..LinkMetrics::new(Duration::from_millis(1), 1) };
        let idle = LinkMetrics::new(Duration::from_millis(1), 1);
        let g = testkit::graph_with(4, &[(0, 1, busy), (1, 3, idle), (0, 2, idle), (2, 3, idle)]);
        let t =
            blended_tree(&g, NodeIx(0), &BlendWeights { inverse_bandwidth: 1.0, ..ZERO }).unwrap();
        assert_eq!(t.path_nodes(&g, NodeIx(3)), Some([0, 2, 3].map(NodeIx).to_vec()));
    }

    proptest! {
        #[test]
        fn a_pure_cost_blend_orders_paths_like_cost(sg in testkit::small_graph(6)) {
            let SmallGraph { graph: g, n } = &sg;
            let t = blended_tree(g, NodeIx(0), &BlendWeights { cost: 1.0, ..ZERO }).unwrap();
            for d in 0..*n {
                let best = testkit::simple_paths(g, NodeIx(0), NodeIx(d))
                    .iter()
                    .map(|p| testkit::sum(g, p, |e| g.cost(e)))
                    .min();
                let got = t.path_nodes(g, NodeIx(d)).map(|p| testkit::sum(g, &p, |e| g.cost(e)));
                prop_assert_eq!(got, best);
            }
        }
    }
}
