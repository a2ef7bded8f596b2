//! Loss over sliding windows of the last probe outcomes.
//!
//! Two windows share one ring: a short one (default 100 probes) for classes
//! that must react fast (a realtime call moves on two lost probes), and a long
//! one (default 500) for classes whose loose limits need more samples to tell
//! a real brownout from noise (bulk at 10 %: over 100 probes, a 5 % path
//! measures above 10 % about once a minute).

/// Counts lost probes among the last `short` and the last `long` outcomes.
///
/// Outcomes are recorded in the order they become known: an echo arrived
/// ([`record(false)`](Self::record)) or the probe's loss timeout passed
/// ([`record(true)`](Self::record)). The ring is a bitmap and both counts are
/// kept incrementally, so an update is a few bit operations.
#[derive(Debug, Clone)]
pub struct LossEstimator {
    bits: Vec<u64>,
    short: usize,
    long: usize,
    next: usize,
    filled: usize,
    lost_short: usize,
    lost_long: usize,
    total: u64,
    total_lost: u64,
}

impl LossEstimator {
    /// An estimator over the last `short` and the last `long` outcomes
    /// (`long` is raised to at least `short`, both to at least 1).
    pub fn new(short: usize, long: usize) -> Self {
        let short = short.max(1);
        let long = long.max(short);
        Self {
            bits: vec![0; long.div_ceil(64)],
            short,
            long,
            next: 0,
            filled: 0,
            lost_short: 0,
            lost_long: 0,
            total: 0,
            total_lost: 0,
        }
    }

    fn bit(&self, pos: usize) -> bool {
        self.bits[pos / 64] & (1u64 << (pos % 64)) != 0
    }

    /// Records one probe outcome: `lost = true` when no echo came in time.
    pub fn record(&mut self, lost: bool) {
        // The outcome leaving the short window, if it is full.
        if self.filled >= self.short {
            let leaving = (self.next + self.long - self.short) % self.long;
            if self.bit(leaving) {
                self.lost_short -= 1;
            }
        }
        // The outcome being overwritten leaves the long window.
        if self.filled == self.long && self.bit(self.next) {
            self.lost_long -= 1;
        }
        let (word, mask) = (self.next / 64, 1u64 << (self.next % 64));
        if lost {
            self.bits[word] |= mask;
            self.lost_short += 1;
            self.lost_long += 1;
            self.total_lost += 1;
        } else {
            self.bits[word] &= !mask;
        }
        self.next = (self.next + 1) % self.long;
        self.filled = (self.filled + 1).min(self.long);
        self.total += 1;
    }

    /// Loss fraction over the short window, of the outcomes seen (0 before any).
    pub fn loss(&self) -> f64 {
        let n = self.filled.min(self.short);
        if n == 0 { 0.0 } else { self.lost_short as f64 / n as f64 }
    }

    /// Lost probes in the short window.
    pub fn lost_in_window(&self) -> usize {
        self.lost_short
    }

    /// Lost probes in the long window.
    pub fn lost_in_long_window(&self) -> usize {
        self.lost_long
    }

    /// Outcomes currently in the short window.
    pub fn in_window(&self) -> usize {
        self.filled.min(self.short)
    }

    /// Outcomes currently in the long window.
    pub fn in_long_window(&self) -> usize {
        self.filled
    }

    /// Size of the short window.
    pub fn short_len(&self) -> usize {
        self.short
    }

    /// Size of the long window.
    pub fn long_len(&self) -> usize {
        self.long
    }

    /// Probes whose outcome was recorded since creation.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Probes lost since creation.
    pub fn total_lost(&self) -> u64 {
        self.total_lost
    }

    /// Forgets both windows (lifetime totals are kept), e.g. after a path was
    /// down: down time says nothing about its quality once it is back.
    pub fn reset_window(&mut self) {
        self.bits.iter_mut().for_each(|w| *w = 0);
        self.next = 0;
        self.filled = 0;
        self.lost_short = 0;
        self.lost_long = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn loss_is_the_fraction_lost_in_the_window() {
        let mut l = LossEstimator::new(100, 500);
        for i in 0..100 {
            l.record(i % 10 == 0);
        }
        assert!((l.loss() - 0.10).abs() < 1e-12);
        assert_eq!(l.lost_in_window(), 10);
    }

    #[test]
    fn old_losses_slide_out_of_the_short_window_before_the_long_one() {
        let mut l = LossEstimator::new(100, 500);
        for _ in 0..5 {
            l.record(true);
        }
        for _ in 0..100 {
            l.record(false);
        }
        assert_eq!(l.lost_in_window(), 0);
        assert_eq!(l.lost_in_long_window(), 5);
        for _ in 0..400 {
            l.record(false);
        }
        assert_eq!(l.lost_in_long_window(), 0);
        assert_eq!(l.total_lost(), 5);
        assert_eq!(l.total(), 505);
    }

    #[test]
    fn before_the_window_fills_loss_is_over_what_was_seen() {
        let mut l = LossEstimator::new(100, 100);
        l.record(true);
        l.record(false);
        assert!((l.loss() - 0.5).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn both_windows_match_a_naive_count(short in 1usize..150, extra in 0usize..300,
                                            outcomes in proptest::collection::vec(any::<bool>(), 0..900)) {
            let long = short + extra;
            let mut l = LossEstimator::new(short, long);
            for (i, o) in outcomes.iter().enumerate() {
                l.record(*o);
                let count = |n: usize| outcomes[(i + 1).saturating_sub(n)..=i].iter().filter(|x| **x).count();
                prop_assert_eq!(l.lost_in_window(), count(short));
                prop_assert_eq!(l.lost_in_long_window(), count(long));
            }
        }
    }
}
