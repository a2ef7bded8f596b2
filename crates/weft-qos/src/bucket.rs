//! A token bucket: a rate in bits per second and a burst in bytes.
//!
//! A packet may go while the bucket is not in debt; it then takes its size
//! (the bucket may go into debt by one packet). This keeps the long-run rate
//! exact for any packet size without holding a packet back because it is
//! bigger than what is left.

use std::time::{Duration, Instant};

/// A token bucket refilled at `rate_bps`, holding at most `burst` bytes.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    bytes_per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of `rate_bps` bits per second and `burst` bytes at `now`.
    pub fn new(now: Instant, rate_bps: u64, burst: u64) -> Self {
        let burst = burst.max(1) as f64;
        Self { bytes_per_sec: rate_bps as f64 / 8.0, burst, tokens: burst, last: now }
    }

    /// The rate in bits per second.
    pub fn rate_bps(&self) -> u64 {
        (self.bytes_per_sec * 8.0) as u64
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.bytes_per_sec).min(self.burst);
    }

    /// Whether a packet may go at `now` (the bucket is not in debt).
    pub fn ready(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 0.0
    }

    /// Takes `bytes` (call after [`ready`](Self::ready) said yes).
    pub fn take(&mut self, bytes: usize) {
        self.tokens -= bytes as f64;
    }

    /// When the bucket is out of debt again (`now` if it is).
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 0.0 || self.bytes_per_sec <= 0.0 {
            return now;
        }
        now + Duration::from_secs_f64(-self.tokens / self.bytes_per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_passes_its_burst_then_its_rate() {
        let t0 = weft_types::time::virtual_origin();
        // 8 Mbit/s = 1 MB/s, burst 3000 bytes.
        let mut b = TokenBucket::new(t0, 8_000_000, 3000);
        let mut sent = 0;
        while b.ready(t0) {
            b.take(1500);
            sent += 1;
        }
        assert_eq!(sent, 3, "the burst plus one packet of debt");
        let at = b.ready_at(t0);
        assert_eq!(at - t0, Duration::from_micros(1500), "1500 bytes of debt at 1 MB/s");
        // Over one second at the rate: 1 MB goes, give or take a packet.
        let mut bytes = 0;
        let mut now = at;
        while now < t0 + Duration::from_secs(1) {
            if b.ready(now) {
                b.take(1000);
                bytes += 1000;
            } else {
                now = b.ready_at(now);
            }
        }
        assert!((998_000..=1_004_500).contains(&bytes), "{bytes}");
    }
}
