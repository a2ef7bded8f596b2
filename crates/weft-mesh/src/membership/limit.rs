//! Per-sender token bucket for announcements; time is passed in.

use std::time::{Duration, Instant};

/// A token bucket counting in millitokens so refill stays exact.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    millitokens: u64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn full(now: Instant, burst: u32) -> Self {
        Self { millitokens: u64::from(burst) * 1000, last: now }
    }

    /// Refills for the time since the last call, then takes one token if
    /// there is one.
    pub(crate) fn try_take(&mut self, now: Instant, burst: u32, per_minute: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        let refill = elapsed.as_millis().saturating_mul(u128::from(per_minute)) / 60;
        let cap = u64::from(burst) * 1000;
        self.millitokens = (u128::from(self.millitokens) + refill).min(u128::from(cap)) as u64;
        if self.millitokens >= 1000 {
            self.millitokens -= 1000;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full again (and can be forgotten).
    pub(crate) fn idle_since(&self, now: Instant, burst: u32, per_minute: u32) -> bool {
        let missing = (u64::from(burst) * 1000).saturating_sub(self.millitokens);
        let needed = Duration::from_millis(missing * 60 / u64::from(per_minute.max(1)));
        now.saturating_duration_since(self.last) >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_until_time_refills_it() {
        let t0 = weft_types::virtual_origin();
        let mut b = TokenBucket::full(t0, 3);
        assert!((0..3).all(|_| b.try_take(t0, 3, 60)));
        assert!(!b.try_take(t0, 3, 60));
        assert!(!b.try_take(t0 + Duration::from_millis(500), 3, 60));
        assert!(b.try_take(t0 + Duration::from_secs(1), 3, 60));
        assert!(b.idle_since(t0 + Duration::from_secs(4), 3, 60));
    }
}
