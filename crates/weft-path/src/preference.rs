//! Path preferences: how to rank the paths that meet a class's SLA.
//!
//! Every preference turns a path into a non-negative **score, lower is better**,
//! so that margins ("better by 10 %") mean the same thing for all of them.
//! Weighted scoring normalises each metric to a reference value before weighting:
//! latency per 100 ms RTT, jitter per 10 ms, loss per 1 %, bandwidth as
//! 100 Mbit/s divided by the available bandwidth, cost per 0.10 per GB.

use serde::Serialize;

use crate::metrics::{PathAttrs, Quality};

/// Weights for [`PathPreference::Weighted`]; any non-negative values (they need
/// not sum to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    /// Weight of RTT (per 100 ms).
    pub latency: f64,
    /// Weight of jitter (per 10 ms).
    pub jitter: f64,
    /// Weight of loss (per 1 %).
    pub loss: f64,
    /// Weight of scarce bandwidth (100 Mbit/s ÷ available).
    pub bandwidth: f64,
    /// Weight of cost (per 0.10 per GB).
    pub cost: f64,
}

impl Weights {
    /// For voice, video and interactive traffic: latency, jitter and loss dominate.
    pub const LATENCY_SENSITIVE: Self =
        Self { latency: 0.5, jitter: 0.2, loss: 0.3, bandwidth: 0.0, cost: 0.0 };
    /// For bulk transfers: available bandwidth and loss dominate.
    pub const THROUGHPUT_FOCUSED: Self =
        Self { latency: 0.1, jitter: 0.0, loss: 0.3, bandwidth: 0.6, cost: 0.0 };
    /// For traffic that should stay on cheap links unless they are bad.
    pub const COST_OPTIMISED: Self =
        Self { latency: 0.15, jitter: 0.0, loss: 0.15, bandwidth: 0.0, cost: 0.7 };
}

/// How to rank eligible paths.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PathPreference {
    /// Lowest smoothed RTT.
    LowestLatency,
    /// Lowest loss (RTT breaks ties).
    LowestLoss,
    /// Most available bandwidth (capacity minus what Weft already sends there).
    HighestBandwidth,
    /// Lowest cost per GB (RTT breaks ties).
    LowestCost,
    /// A weighted blend of normalised metrics.
    Weighted(Weights),
}

impl PathPreference {
    /// The latency-sensitive weighted preset.
    pub const LATENCY_SENSITIVE: Self = Self::Weighted(Weights::LATENCY_SENSITIVE);
    /// The throughput-focused weighted preset.
    pub const THROUGHPUT_FOCUSED: Self = Self::Weighted(Weights::THROUGHPUT_FOCUSED);
    /// The cost-optimised weighted preset.
    pub const COST_OPTIMISED: Self = Self::Weighted(Weights::COST_OPTIMISED);

    /// Scores a path: non-negative, lower is better.
    ///
    /// `tx_bps` is what Weft currently sends on the path, subtracted from its
    /// capacity to get the available bandwidth.
    #[inline]
    pub fn score(&self, q: &Quality, attrs: &PathAttrs, tx_bps: f64) -> f64 {
        // Multiplications by reciprocals, and zero weights skipped: this runs
        // for every candidate of every new flow.
        let rtt_ms = f64::from(q.rtt_us) * 1e-3;
        match self {
            Self::LowestLatency => rtt_ms,
            Self::LowestLoss => q.loss * 1e5 + rtt_ms * 1e-3,
            Self::HighestBandwidth => 1e5 / available_mbps(attrs, tx_bps),
            Self::LowestCost => attrs.cost_per_gb * 1e3 + rtt_ms * 1e-3,
            Self::Weighted(w) => {
                let mut s = w.latency * rtt_ms * 0.01
                    + w.jitter * f64::from(q.jitter_us) * 1e-4
                    + w.loss * q.loss * 100.0;
                if w.bandwidth != 0.0 {
                    s += w.bandwidth * 100.0 / available_mbps(attrs, tx_bps);
                }
                if w.cost != 0.0 {
                    s += w.cost * attrs.cost_per_gb * 10.0;
                }
                s
            }
        }
    }

    /// The smallest score difference that counts as "better" when deciding
    /// whether to move flows off a working path: below it, differences are
    /// measurement noise (a few milliseconds of RTT, a fraction of a percent
    /// of loss), whatever the relative margin says.
    pub fn min_gain(&self) -> f64 {
        match self {
            Self::LowestLatency => 2.0,
            Self::LowestLoss => 500.0,
            Self::HighestBandwidth => 0.0,
            Self::LowestCost => 5.0,
            Self::Weighted(_) => 0.02,
        }
    }

    /// A short human name (`lowest-latency`, `weighted`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::LowestLatency => "lowest-latency",
            Self::LowestLoss => "lowest-loss",
            Self::HighestBandwidth => "highest-bandwidth",
            Self::LowestCost => "lowest-cost",
            Self::Weighted(_) => "weighted",
        }
    }
}

fn available_mbps(attrs: &PathAttrs, tx_bps: f64) -> f64 {
    ((attrs.capacity.bps() as f64 - tx_bps) * 1e-6).max(0.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::Bandwidth;

    fn q(rtt_ms: u32, jitter_ms: u32, loss: f64) -> Quality {
        Quality { rtt_us: rtt_ms * 1000, jitter_us: jitter_ms * 1000, loss, loss_long: loss }
    }

    fn attrs(cost: f64, mbit: u64) -> PathAttrs {
        PathAttrs {
            cost_per_gb: cost,
            capacity: Bandwidth(mbit * 1_000_000),
            ..PathAttrs::default()
        }
    }

    #[test]
    fn each_preference_ranks_by_its_own_metric() {
        use PathPreference::{HighestBandwidth, LowestCost, LowestLatency, LowestLoss};
        let fiber = (q(10, 1, 0.0), attrs(0.05, 1000));
        let lte = (q(60, 8, 0.0), attrs(0.0, 50));
        let lossy = (q(5, 1, 0.03), attrs(0.05, 1000));
        let s = |p: PathPreference, x: &(Quality, PathAttrs)| p.score(&x.0, &x.1, 0.0);
        assert!(s(LowestLatency, &lossy) < s(LowestLatency, &fiber));
        assert!(s(LowestLoss, &fiber) < s(LowestLoss, &lossy));
        assert!(s(HighestBandwidth, &fiber) < s(HighestBandwidth, &lte));
        assert!(s(LowestCost, &lte) < s(LowestCost, &fiber));
    }

    #[test]
    fn presets_pull_in_their_direction() {
        let fiber = (q(10, 1, 0.0), attrs(0.50, 1000));
        let lte = (q(60, 8, 0.0), attrs(0.01, 50));
        let s = |p: PathPreference, x: &(Quality, PathAttrs)| p.score(&x.0, &x.1, 0.0);
        assert!(
            s(PathPreference::LATENCY_SENSITIVE, &fiber)
                < s(PathPreference::LATENCY_SENSITIVE, &lte)
        );
        assert!(
            s(PathPreference::THROUGHPUT_FOCUSED, &fiber)
                < s(PathPreference::THROUGHPUT_FOCUSED, &lte)
        );
        assert!(
            s(PathPreference::COST_OPTIMISED, &lte) < s(PathPreference::COST_OPTIMISED, &fiber)
        );
    }

    #[test]
    fn traffic_already_sent_reduces_available_bandwidth() {
        let a = attrs(0.0, 100);
        let p = PathPreference::HighestBandwidth;
        assert!(p.score(&q(1, 0, 0.0), &a, 90e6) > p.score(&q(1, 0, 0.0), &a, 0.0));
        assert!(p.score(&q(1, 0, 0.0), &a, 500e6).is_finite(), "oversubscribed stays finite");
    }
}
