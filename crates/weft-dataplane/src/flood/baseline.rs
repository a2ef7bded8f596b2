//! Packets and bytes per second of one destination against a learnt baseline.

use std::time::Duration;

/// Weight of an anomalous interval in the average, relative to a normal one.
const ANOMALY_WEIGHT: f64 = 0.001;

/// Settings of a [`RateBaseline`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineConfig {
    /// Weight of a new sample in the moving average (0 < alpha ≤ 1).
    pub alpha: f64,
    /// A sample is anomalous above `factor` × the baseline…
    pub factor: f64,
    /// …and above this many packets per second (so a quiet site does not
    /// alarm on a few packets)…
    pub min_pps: f64,
    /// …or, for bytes, above `factor` × the byte baseline and this many bits
    /// per second.
    pub min_bps: f64,
    /// Samples learnt before any verdict.
    pub warmup: u32,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self { alpha: 0.05, factor: 4.0, min_pps: 20_000.0, min_bps: 2e9, warmup: 5 }
    }
}

/// One interval's verdict from [`RateBaseline::observe`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSample {
    /// Packets per second over the interval.
    pub pps: f64,
    /// Bits per second over the interval.
    pub bps: f64,
    /// The baseline in packets per second (before this sample).
    pub baseline_pps: f64,
    /// The baseline in bits per second (before this sample).
    pub baseline_bps: f64,
    /// This interval is anomalous.
    pub anomalous: bool,
    /// It is the first anomalous interval of an episode (raise the event).
    pub started: bool,
    /// It is the first normal interval after an episode.
    pub ended: bool,
}

/// Exponentially weighted moving averages of one destination's packet and
/// bit rates, fed one interval at a time. Anomalous intervals count a
/// thousandth as much, so a flood does not become the baseline within an
/// attack: with the defaults, a level 20 times the baseline stops being
/// anomalous after about 80 minutes of one-second intervals. The first
/// `warmup` intervals are learnt whatever they are. Sans-IO: the caller
/// measures the interval.
#[derive(Debug, Clone)]
pub struct RateBaseline {
    config: BaselineConfig,
    pps: f64,
    bps: f64,
    samples: u32,
    in_episode: bool,
}

impl RateBaseline {
    /// A baseline that has learnt nothing yet.
    pub fn new(config: BaselineConfig) -> Self {
        Self { config, pps: 0.0, bps: 0.0, samples: 0, in_episode: false }
    }

    /// Whether an anomaly episode is going on.
    pub fn in_episode(&self) -> bool {
        self.in_episode
    }

    /// Takes in `packets` and `bytes` seen over `elapsed`; an empty interval
    /// is ignored (returns a sample of zero rates and no verdict change).
    pub fn observe(&mut self, elapsed: Duration, packets: u64, bytes: u64) -> RateSample {
        let secs = elapsed.as_secs_f64();
        let (pps, bps) = if secs > 0.0 {
            (packets as f64 / secs, bytes as f64 * 8.0 / secs)
        } else {
            (0.0, 0.0)
        };
        let c = self.config;
        let mut sample = RateSample {
            pps,
            bps,
            baseline_pps: self.pps,
            baseline_bps: self.bps,
            anomalous: false,
            started: false,
            ended: false,
        };
        if secs <= 0.0 {
            sample.anomalous = self.in_episode;
            return sample;
        }
        if self.samples < c.warmup {
            self.learn(pps, bps, 1.0);
            return sample;
        }
        let over_pps = pps > c.min_pps && pps > c.factor * self.pps;
        let over_bps = bps > c.min_bps && bps > c.factor * self.bps;
        sample.anomalous = over_pps || over_bps;
        sample.started = sample.anomalous && !self.in_episode;
        sample.ended = !sample.anomalous && self.in_episode;
        self.in_episode = sample.anomalous;
        // A flood is learnt at a thousandth of the weight: not within an
        // attack, but a lasting change of level is taken in in the end.
        self.learn(pps, bps, if sample.anomalous { ANOMALY_WEIGHT } else { 1.0 });
        sample
    }

    fn learn(&mut self, pps: f64, bps: f64, weight: f64) {
        let a = if self.samples == 0 {
            1.0
        } else {
            self.config.alpha.clamp(f64::EPSILON, 1.0) * weight
        };
        self.pps += a * (pps - self.pps);
        self.bps += a * (bps - self.bps);
        self.samples = self.samples.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn learnt(pps: u64) -> RateBaseline {
        let mut b = RateBaseline::new(BaselineConfig { min_pps: 1000.0, ..Default::default() });
        for _ in 0..20 {
            let s = b.observe(SEC, pps, pps * 1000);
            assert!(!s.anomalous);
        }
        b
    }

    #[test]
    fn the_baseline_follows_normal_traffic_without_alarm() {
        let mut b = learnt(5000);
        // Twice the usual is within the factor.
        let s = b.observe(SEC, 10_000, 10_000_000);
        assert!(!s.anomalous, "{s:?}");
        assert!((s.baseline_pps - 5000.0).abs() < 1.0, "{s:?}");
    }

    #[test]
    fn a_flood_starts_one_episode_is_not_learnt_and_ends() {
        let mut b = learnt(5000);
        let first = b.observe(SEC, 100_000, 14_800_000);
        assert!(first.anomalous && first.started, "{first:?}");
        for _ in 0..50 {
            let s = b.observe(SEC, 100_000, 14_800_000);
            assert!(s.anomalous && !s.started, "{s:?}");
            assert!(s.baseline_pps < 7500.0, "the flood is barely learnt: {s:?}");
        }
        let after = b.observe(SEC, 5000, 5_000_000);
        assert!(!after.anomalous && after.ended, "{after:?}");
        assert!(!b.in_episode());
    }

    #[test]
    fn a_quiet_destination_needs_the_absolute_floor_to_alarm() {
        let mut b = learnt(10);
        // 50 times the baseline, but under min_pps.
        assert!(!b.observe(SEC, 500, 500_000).anomalous);
        assert!(b.observe(SEC, 5000, 500_000).started);
    }

    #[test]
    fn nothing_is_judged_during_warm_up_and_empty_intervals_change_nothing() {
        let mut b = RateBaseline::new(BaselineConfig { min_pps: 1.0, ..Default::default() });
        assert!(!b.observe(SEC, 1_000_000, 0).anomalous, "the first sample is learnt");
        let s = b.observe(Duration::ZERO, 5, 5);
        assert!(!s.anomalous && !s.started);
    }

    #[test]
    fn a_lasting_new_level_is_learnt_in_the_end() {
        let mut b = learnt(5000);
        let episodes =
            (0..20_000).map(|_| b.observe(SEC, 100_000, 14_800_000)).filter(|s| s.started).count();
        assert_eq!(episodes, 1);
        assert!(!b.in_episode(), "after hours at the new level it is the baseline");
        assert!(b.observe(SEC, 100_000, 14_800_000).baseline_pps > 25_000.0);
    }

    #[test]
    fn a_byte_flood_alarms_without_a_packet_flood() {
        let mut b = RateBaseline::new(BaselineConfig { min_bps: 1e8, ..Default::default() });
        for _ in 0..10 {
            let _ = b.observe(SEC, 1000, 100_000);
        }
        // Same packet rate, jumbo datagrams: 1000 × 60 000 B = 480 Mbit/s.
        assert!(b.observe(SEC, 1000, 60_000_000).started);
    }
}
