//! Loss over a sliding window of the last N probe outcomes.

/// Counts lost probes among the last `window` probes whose fate is known.
///
/// Outcomes are recorded in send order once known: an echo arrived
/// ([`record(false)`](Self::record)) or the probe's loss timeout passed
/// ([`record(true)`](Self::record)). The window is a bitmap, so an update is a
/// couple of bit operations.
#[derive(Debug, Clone)]
pub struct LossEstimator {
    bits: Vec<u64>,
    window: usize,
    next: usize,
    filled: usize,
    lost_in_window: usize,
    total: u64,
    total_lost: u64,
}

impl LossEstimator {
    /// An estimator over the last `window` outcomes (at least 1).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        Self {
            bits: vec![0; window.div_ceil(64)],
            window,
            next: 0,
            filled: 0,
            lost_in_window: 0,
            total: 0,
            total_lost: 0,
        }
    }

    /// Records one probe outcome: `lost = true` when no echo came in time.
    pub fn record(&mut self, lost: bool) {
        let (word, bit) = (self.next / 64, self.next % 64);
        let mask = 1u64 << bit;
        if self.filled == self.window && self.bits[word] & mask != 0 {
            self.lost_in_window -= 1;
        }
        if lost {
            self.bits[word] |= mask;
            self.lost_in_window += 1;
            self.total_lost += 1;
        } else {
            self.bits[word] &= !mask;
        }
        self.next = (self.next + 1) % self.window;
        self.filled = (self.filled + 1).min(self.window);
        self.total += 1;
    }

    /// Loss fraction over the window (0 before any outcome).
    pub fn loss(&self) -> f64 {
        if self.filled == 0 { 0.0 } else { self.lost_in_window as f64 / self.filled as f64 }
    }

    /// Lost probes currently in the window.
    pub fn lost_in_window(&self) -> usize {
        self.lost_in_window
    }

    /// Outcomes currently in the window.
    pub fn in_window(&self) -> usize {
        self.filled
    }

    /// Probes whose outcome was recorded since creation.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Probes lost since creation.
    pub fn total_lost(&self) -> u64 {
        self.total_lost
    }

    /// Forgets the window (lifetime totals are kept), e.g. after a path was down
    /// long enough that its old history says nothing about it.
    pub fn reset_window(&mut self) {
        self.bits.iter_mut().for_each(|w| *w = 0);
        self.next = 0;
        self.filled = 0;
        self.lost_in_window = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn loss_is_the_fraction_lost_in_the_window() {
        let mut l = LossEstimator::new(100);
        for i in 0..100 {
            l.record(i % 10 == 0);
        }
        assert!((l.loss() - 0.10).abs() < 1e-12);
        assert_eq!(l.lost_in_window(), 10);
    }

    #[test]
    fn old_losses_slide_out_of_the_window() {
        let mut l = LossEstimator::new(100);
        for _ in 0..5 {
            l.record(true);
        }
        for _ in 0..100 {
            l.record(false);
        }
        assert_eq!(l.loss(), 0.0);
        assert_eq!(l.total_lost(), 5);
        assert_eq!(l.total(), 105);
    }

    #[test]
    fn before_the_window_fills_loss_is_over_what_was_seen() {
        let mut l = LossEstimator::new(100);
        l.record(true);
        l.record(false);
        assert!((l.loss() - 0.5).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn matches_a_naive_window(window in 1usize..200, outcomes in proptest::collection::vec(any::<bool>(), 0..600)) {
            let mut l = LossEstimator::new(window);
            for (i, o) in outcomes.iter().enumerate() {
                l.record(*o);
                let start = (i + 1).saturating_sub(window);
                let slice = &outcomes[start..=i];
                let naive = slice.iter().filter(|x| **x).count();
                prop_assert_eq!(l.lost_in_window(), naive);
                prop_assert!((l.loss() - naive as f64 / slice.len() as f64).abs() < 1e-12);
            }
        }
    }
}
