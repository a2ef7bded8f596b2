//! Round-trip time: smoothed EWMA, variation, minimum and windowed percentiles.

use std::cell::Cell;
use std::time::Duration;

/// Estimates a path's round-trip time from probe echoes.
///
/// The smoothed RTT and its variation use RFC 6298's gains (α = 1/8, β = 1/4).
/// The minimum is over the whole life of the path. Percentiles are computed on
/// demand over the last `window` samples (kept in microseconds in a ring).
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt_us: f64,
    rttvar_us: f64,
    min_us: u32,
    latest_us: u32,
    ring: Vec<u32>,
    next: usize,
    filled: usize,
    samples: u64,
    /// [`percentiles`](Self::percentiles) since the last sample (`None`: not
    /// computed yet, or no sample): drivers read a path's metrics far more
    /// often than echoes arrive, and each computation sorts the window.
    percentiles: Cell<Option<[Duration; 3]>>,
}

impl RttEstimator {
    /// An estimator keeping the last `window` samples (at least 1) for percentiles.
    pub fn new(window: usize) -> Self {
        Self {
            srtt_us: 0.0,
            rttvar_us: 0.0,
            min_us: u32::MAX,
            latest_us: 0,
            ring: vec![0; window.max(1)],
            next: 0,
            filled: 0,
            samples: 0,
            percentiles: Cell::new(None),
        }
    }

    /// Feeds one RTT sample.
    pub fn update(&mut self, rtt: Duration) {
        self.percentiles.set(None);
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        let x = f64::from(us);
        if self.samples == 0 {
            self.srtt_us = x;
            self.rttvar_us = x / 2.0;
        } else {
            self.rttvar_us += ((self.srtt_us - x).abs() - self.rttvar_us) / 4.0;
            self.srtt_us += (x - self.srtt_us) / 8.0;
        }
        self.min_us = self.min_us.min(us);
        self.latest_us = us;
        self.ring[self.next] = us;
        self.next = (self.next + 1) % self.ring.len();
        self.filled = (self.filled + 1).min(self.ring.len());
        self.samples += 1;
    }

    /// Number of samples seen since creation.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The smoothed RTT, or `None` before the first sample.
    pub fn smoothed(&self) -> Option<Duration> {
        (self.samples > 0).then(|| us(self.srtt_us))
    }

    /// The RTT variation (RFC 6298 `RTTVAR`), or `None` before the first sample.
    pub fn variation(&self) -> Option<Duration> {
        (self.samples > 0).then(|| us(self.rttvar_us))
    }

    /// The smallest RTT seen, or `None` before the first sample.
    pub fn min(&self) -> Option<Duration> {
        (self.samples > 0).then(|| Duration::from_micros(u64::from(self.min_us)))
    }

    /// The most recent sample, or `None` before the first sample.
    pub fn latest(&self) -> Option<Duration> {
        (self.samples > 0).then(|| Duration::from_micros(u64::from(self.latest_us)))
    }

    /// The `q`-quantile (0.0..=1.0, nearest rank) of the windowed samples.
    pub fn percentile(&self, q: f64) -> Option<Duration> {
        let mut v = self.window_samples();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(Duration::from_micros(u64::from(v[nearest_rank(q, v.len())])))
    }

    /// p50, p95 and p99 in one pass (one sort), or `None` before the first sample.
    pub fn percentiles(&self) -> Option<[Duration; 3]> {
        if let Some(p) = self.percentiles.get() {
            return Some(p);
        }
        let p = self.sorted_percentiles();
        self.percentiles.set(p);
        p
    }

    fn sorted_percentiles(&self) -> Option<[Duration; 3]> {
        let mut v = self.window_samples();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(
            [0.50, 0.95, 0.99]
                .map(|q| Duration::from_micros(u64::from(v[nearest_rank(q, v.len())]))),
        )
    }

    fn window_samples(&self) -> Vec<u32> {
        self.ring[..self.filled].to_vec()
    }
}

fn nearest_rank(q: f64, n: usize) -> usize {
    let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    rank.clamp(1, n) - 1
}

fn us(v: f64) -> Duration {
    Duration::from_micros(v.max(0.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn first_sample_sets_smoothed_rtt_and_half_variation() {
        let mut e = RttEstimator::new(8);
        assert_eq!(e.smoothed(), None);
        e.update(ms(40));
        assert_eq!(e.smoothed(), Some(ms(40)));
        assert_eq!(e.variation(), Some(ms(20)));
        assert_eq!(e.min(), Some(ms(40)));
    }

    #[test]
    fn smoothed_rtt_moves_an_eighth_of_the_way_to_each_sample() {
        let mut e = RttEstimator::new(8);
        e.update(ms(40));
        e.update(ms(120));
        assert_eq!(e.smoothed(), Some(ms(50)));
        assert_eq!(e.min(), Some(ms(40)));
        assert_eq!(e.latest(), Some(ms(120)));
    }

    #[test]
    fn percentiles_cover_only_the_window() {
        let mut e = RttEstimator::new(100);
        for i in 1..=100 {
            e.update(ms(i));
        }
        let [p50, p95, p99] = e.percentiles().unwrap();
        assert_eq!((p50, p95, p99), (ms(50), ms(95), ms(99)));
        // Push 100 more: the old samples fall out of the window.
        for _ in 0..100 {
            e.update(ms(500));
        }
        assert_eq!(e.percentile(0.01), Some(ms(500)));
        assert_eq!(e.min(), Some(ms(1)), "the minimum is lifetime, not windowed");
    }

    proptest! {
        #[test]
        fn smoothed_rtt_stays_within_the_sample_range(samples in proptest::collection::vec(1u64..2_000_000, 1..200)) {
            let mut e = RttEstimator::new(64);
            for s in &samples { e.update(Duration::from_micros(*s)); }
            let lo = *samples.iter().min().unwrap();
            let hi = *samples.iter().max().unwrap();
            let srtt = e.smoothed().unwrap().as_micros() as u64;
            prop_assert!(srtt + 1 >= lo && srtt <= hi + 1, "srtt {} outside [{}, {}]", srtt, lo, hi);
            prop_assert_eq!(e.min().unwrap().as_micros() as u64, lo);
        }

        #[test]
        fn percentiles_are_ordered_and_are_samples(samples in proptest::collection::vec(1u64..1_000_000, 1..300)) {
            let mut e = RttEstimator::new(128);
            for s in &samples { e.update(Duration::from_micros(*s)); }
            let [p50, p95, p99] = e.percentiles().unwrap();
            prop_assert!(p50 <= p95 && p95 <= p99);
            let window: Vec<u64> = samples.iter().rev().take(128).copied().collect();
            for p in [p50, p95, p99] {
                prop_assert!(window.contains(&(p.as_micros() as u64)));
            }
        }
    }
}
