//! Per-link measurements and their validation.
//!
//! A [`LinkMetrics`] describes one *directed* link as the path engine last
//! measured it (latency, jitter, loss, utilisation) plus what the operator set
//! (capacity, cost). The database validates every value on the way in, so the
//! algorithms never see NaN, negative fractions or absurd delays.

use std::time::Duration;

use crate::error::LsdbError;

/// What is known about one directed link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkMetrics {
    /// One-way latency (half the measured RTT when only RTT is known).
    pub latency: Duration,
    /// Latency variation.
    pub jitter: Duration,
    /// Packet loss as a fraction in `[0, 1]`.
    pub loss: f64,
    /// Link capacity in bits per second.
    pub capacity_bps: u64,
    /// Share of the capacity in use, a fraction in `[0, 1]`.
    pub utilisation: f64,
    /// Administrative cost, at least 1.
    pub cost: u32,
    /// Whether the link is usable. Down links stay in the database but every
    /// algorithm ignores them.
    pub up: bool,
}

impl LinkMetrics {
    /// Largest latency or jitter accepted: one hour. Anything above is a broken
    /// measurement, and the bound keeps nanosecond path sums far from overflow.
    pub const MAX_DELAY: Duration = Duration::from_hours(1);

    /// An up link with the given latency and cost, 1 Gbit/s capacity, idle, no
    /// jitter or loss. Convenient for tests and static configuration.
    pub fn new(latency: Duration, cost: u32) -> Self {
        Self {
            latency,
            jitter: Duration::ZERO,
            loss: 0.0,
            capacity_bps: 1_000_000_000,
            utilisation: 0.0,
            cost,
            up: true,
        }
    }

    /// Bandwidth still available: `capacity × (1 − utilisation)`, in bits per
    /// second.
    pub fn available_bps(&self) -> u64 {
        let free = (1.0 - self.utilisation).clamp(0.0, 1.0);
        (self.capacity_bps as f64 * free).round() as u64
    }

    /// Checks every field; the database calls this before accepting a link.
    pub fn validate(&self) -> Result<(), LsdbError> {
        check_fraction("loss", self.loss)?;
        check_fraction("utilisation", self.utilisation)?;
        check_delay("latency", self.latency)?;
        check_delay("jitter", self.jitter)?;
        if self.cost == 0 {
            return Err(LsdbError::ZeroCost);
        }
        Ok(())
    }

    /// Same measurements, ignoring the up/down state.
    pub(crate) fn same_measurements(&self, other: &Self) -> bool {
        Self { up: other.up, ..*self } == *other
    }
}

fn check_fraction(field: &'static str, value: f64) -> Result<(), LsdbError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(LsdbError::BadFraction { field, value })
    }
}

fn check_delay(field: &'static str, value: Duration) -> Result<(), LsdbError> {
    if value <= LinkMetrics::MAX_DELAY {
        Ok(())
    } else {
        Err(LsdbError::DelayTooLarge {
            field,
            value_ms: value.as_millis(),
            max_ms: LinkMetrics::MAX_DELAY.as_millis(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> LinkMetrics {
        LinkMetrics::new(Duration::from_millis(10), 5)
    }

    #[test]
    fn sensible_metrics_are_accepted() {
        assert_eq!(ok().validate(), Ok(()));
        let edge = LinkMetrics { loss: 1.0, utilisation: 1.0, ..ok() };
        assert_eq!(edge.validate(), Ok(()));
    }

    #[test]
    fn nan_negative_and_above_one_fractions_are_refused() {
        for bad in [f64::NAN, -0.1, 1.01, f64::INFINITY] {
            let m = LinkMetrics { loss: bad, ..ok() };
            assert!(matches!(m.validate(), Err(LsdbError::BadFraction { field: "loss", .. })));
            let m = LinkMetrics { utilisation: bad, ..ok() };
            assert!(matches!(
                m.validate(),
                Err(LsdbError::BadFraction { field: "utilisation", .. })
            ));
        }
    }

    #[test]
    fn zero_cost_and_absurd_delays_are_refused() {
        assert_eq!(LinkMetrics { cost: 0, ..ok() }.validate(), Err(LsdbError::ZeroCost));
        let slow = LinkMetrics { jitter: Duration::from_secs(3601), ..ok() };
        assert!(matches!(slow.validate(), Err(LsdbError::DelayTooLarge { field: "jitter", .. })));
    }

    #[test]
    fn available_bandwidth_is_capacity_times_free_share() {
        let m = LinkMetrics { capacity_bps: 100_000_000, utilisation: 0.25, ..ok() };
        assert_eq!(m.available_bps(), 75_000_000);
        assert_eq!(LinkMetrics { utilisation: 1.0, ..m }.available_bps(), 0);
    }

    #[test]
    fn up_state_is_not_a_measurement() {
        let a = ok();
        assert!(a.same_measurements(&LinkMetrics { up: false, ..a }));
        assert!(!a.same_measurements(&LinkMetrics { cost: 6, ..a }));
    }
}
