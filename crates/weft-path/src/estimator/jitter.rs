//! Jitter as in RFC 3550 §6.4.1: a running mean of |difference between
//! consecutive transit times|, with gain 1/16.
//!
//! Weft has no synchronised clocks between sites, so the "transit time" here is
//! the round-trip time of each probe; the difference of consecutive RTTs is the
//! variation RFC 3550 calls `D(i-1, i)`.

use std::time::Duration;

/// RFC 3550 interarrival jitter over consecutive probe RTTs.
#[derive(Debug, Clone, Default)]
pub struct JitterEstimator {
    jitter_us: f64,
    last_us: Option<f64>,
}

impl JitterEstimator {
    /// A fresh estimator (jitter zero until two samples arrive).
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the RTT of the next echoed probe, in send order.
    pub fn update(&mut self, rtt: Duration) {
        let x = rtt.as_micros() as f64;
        if let Some(last) = self.last_us {
            let d = (x - last).abs();
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_us = Some(x);
    }

    /// The current jitter estimate.
    pub fn jitter(&self) -> Duration {
        Duration::from_micros(self.jitter_us.round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn constant_rtt_has_zero_jitter() {
        let mut j = JitterEstimator::new();
        for _ in 0..100 {
            j.update(Duration::from_millis(30));
        }
        assert_eq!(j.jitter(), Duration::ZERO);
    }

    #[test]
    fn alternating_rtt_converges_to_the_step_size() {
        let mut j = JitterEstimator::new();
        for i in 0..1000 {
            j.update(Duration::from_millis(if i % 2 == 0 { 30 } else { 40 }));
        }
        let got = j.jitter().as_secs_f64() * 1e3;
        assert!((got - 10.0).abs() < 0.1, "jitter {got} ms");
    }

    #[test]
    fn one_step_moves_jitter_by_a_sixteenth() {
        let mut j = JitterEstimator::new();
        j.update(Duration::from_millis(10));
        j.update(Duration::from_millis(26));
        assert_eq!(j.jitter(), Duration::from_millis(1));
    }

    proptest! {
        #[test]
        fn jitter_never_exceeds_the_largest_step(samples in proptest::collection::vec(0u64..1_000_000, 2..200)) {
            let mut j = JitterEstimator::new();
            for s in &samples { j.update(Duration::from_micros(*s)); }
            let max_step = samples.windows(2).map(|w| w[0].abs_diff(w[1])).max().unwrap();
            prop_assert!(j.jitter().as_micros() as u64 <= max_step + 1);
        }
    }
}
