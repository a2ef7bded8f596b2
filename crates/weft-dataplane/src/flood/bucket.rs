//! A token bucket with time passed in.

use std::time::Instant;

/// A token bucket: holds up to `burst` tokens, refilled at `rate` per second
/// from the `now` each call is given. No clock inside.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket as of `now`. A `rate` of 0 never refills; a `burst`
    /// below 1 is raised to 1 so one event can ever pass.
    pub fn new(now: Instant, rate: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self { rate: f64::from(rate), burst, tokens: burst, last: now }
    }

    /// Takes one token if there is one; `now` earlier than the last call
    /// counts as no time passing.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full as of `now` (its owner was quiet long
    /// enough to be forgotten).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = elapsed.mul_add(self.rate, self.tokens).min(self.burst);
        self.last = self.last.max(now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_full_bucket_passes_its_burst_then_refuses() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 10, 3);
        assert_eq!((0..5).filter(|_| b.take(t0)).count(), 3);
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, 10, 1);
        assert!(b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(50)));
        assert!(b.take(t0 + Duration::from_millis(100)));
        // One second at 10/s, capped at the burst of 1.
        let later = t0 + Duration::from_secs(2);
        assert_eq!((0..5).filter(|_| b.take(later)).count(), 1);
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(t0, 1000, 1);
        assert!(b.take(t0));
        let earlier = t0.checked_sub(Duration::from_secs(5)).expect("an instant 5 s earlier");
        assert!(!b.take(earlier));
        assert!(!b.is_full(t0));
    }
}
