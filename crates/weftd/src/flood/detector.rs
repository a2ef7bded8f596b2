//! Per-destination anomaly detection: sans-IO, fed once a second.

use std::time::Duration;

use weft_dataplane::flood::{BaselineConfig, RateBaseline, RateSample};

/// One destination's latest interval.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DestRate {
    /// `uplink:NAME`.
    pub(crate) dest: String,
    /// The interval's verdict.
    pub(crate) sample: RateSample,
}

/// Baselines of every destination and the totals last seen.
#[derive(Debug)]
pub(crate) struct Detector {
    dests: Vec<(String, RateBaseline, u64, u64)>,
}

impl Detector {
    /// A detector for `dests` (names) with `config`.
    pub(crate) fn new(dests: &[String], config: BaselineConfig) -> Self {
        Self { dests: dests.iter().map(|d| (d.clone(), RateBaseline::new(config), 0, 0)).collect() }
    }

    /// Takes in the destinations' running totals (`packets`, `bytes`, in
    /// [`new`](Self::new) order) after `elapsed`; returns each one's rate and
    /// verdict. Missing totals count as unchanged.
    pub(crate) fn tick(&mut self, elapsed: Duration, totals: &[(u64, u64)]) -> Vec<DestRate> {
        self.dests
            .iter_mut()
            .enumerate()
            .map(|(i, (dest, baseline, last_p, last_b))| {
                let (p, b) = totals.get(i).copied().unwrap_or((*last_p, *last_b));
                let sample =
                    baseline.observe(elapsed, p.saturating_sub(*last_p), b.saturating_sub(*last_b));
                (*last_p, *last_b) = (p, b);
                DestRate { dest: dest.clone(), sample }
            })
            .collect()
    }

    /// Whether a destination whose name ends in `suffix` is in an anomaly
    /// episode (`""`: any).
    pub(crate) fn anomaly_in(&self, suffix: &str) -> bool {
        self.dests.iter().any(|(d, b, _, _)| d.ends_with(suffix) && b.in_episode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn running_totals_become_rates_and_a_jump_on_one_uplink_is_an_anomaly() {
        let config = BaselineConfig { min_pps: 1000.0, warmup: 3, ..BaselineConfig::default() };
        let mut d = Detector::new(&["uplink:wan0".into(), "uplink:lte".into()], config);
        let (mut wan, mut lte) = (0u64, 0u64);
        for _ in 0..10 {
            wan += 2000;
            lte += 100;
            let rates = d.tick(SEC, &[(wan, wan * 100), (lte, lte * 100)]);
            assert!(rates.iter().all(|r| !r.sample.anomalous), "{rates:?}");
        }
        assert!(!d.anomaly_in(""));
        wan += 100_000;
        lte += 100;
        let rates = d.tick(SEC, &[(wan, wan * 100), (lte, lte * 100)]);
        assert_eq!(rates[0].dest, "uplink:wan0");
        assert!(rates[0].sample.started, "{rates:?}");
        assert!((rates[0].sample.pps - 100_000.0).abs() < 1.0);
        assert!(!rates[1].sample.anomalous);
        assert!(d.anomaly_in(""));
        assert!(d.anomaly_in("wan0") && !d.anomaly_in("lte"));
        wan += 2000;
        let rates = d.tick(SEC, &[(wan, wan * 100)]);
        assert!(rates[0].sample.ended, "{rates:?}");
        assert!(rates[1].sample.pps.abs() < f64::EPSILON, "a missing total is no traffic");
    }
}
