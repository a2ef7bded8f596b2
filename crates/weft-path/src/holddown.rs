//! Failback hysteresis with flap dampening, per (class policy, path).
//!
//! A path that stops being eligible for a class (Down, or misses the SLA) takes
//! that class's flows back only after being eligible again for the hold-down.
//! Each such flap doubles the hold-down (up to a cap), so a path that flaps
//! keeps being held longer; after staying eligible for the cap the penalty is
//! forgiven. A path that has never failed needs no hold-down.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct HoldDown {
    eligible: bool,
    since: Instant,
    penalty: u32,
    /// Whether the engine last saw this hold running (so it can notice the expiry).
    reported_held: bool,
}

impl HoldDown {
    pub(crate) fn new(now: Instant) -> Self {
        Self { eligible: false, since: now, penalty: 0, reported_held: false }
    }

    /// Required hold for the current penalty.
    fn required(&self, base: Duration, cap: Duration) -> Duration {
        if self.penalty == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (self.penalty - 1).min(16);
        base.saturating_mul(factor).min(cap)
    }

    /// Records the current eligibility; returns whether it changed.
    pub(crate) fn update(&mut self, now: Instant, eligible: bool, cap: Duration) -> bool {
        if eligible == self.eligible {
            if eligible && self.penalty > 0 && now.duration_since(self.since) >= cap {
                self.penalty = 0;
            }
            return false;
        }
        if !eligible {
            // Eligible → ineligible: a flap.
            self.penalty = self.penalty.saturating_add(1);
        }
        self.eligible = eligible;
        self.since = now;
        true
    }

    /// Whether the path is eligible but still inside its hold-down.
    pub(crate) fn held(&self, now: Instant, base: Duration, cap: Duration) -> bool {
        self.eligible && now < self.since + self.required(base, cap)
    }

    /// When the hold-down ends, if it is running.
    #[cfg(test)]
    pub(crate) fn expires_at(
        &self,
        now: Instant,
        base: Duration,
        cap: Duration,
    ) -> Option<Instant> {
        let end = self.since + self.required(base, cap);
        (self.eligible && now < end).then_some(end)
    }

    /// Notes whether the hold is running at `now`; returns true exactly once
    /// when a hold the engine saw running has ended.
    pub(crate) fn poll_expired(&mut self, now: Instant, base: Duration, cap: Duration) -> bool {
        let held = self.held(now, base, cap);
        let expired = self.reported_held && !held;
        self.reported_held = held;
        expired
    }

    /// When a hold the engine saw running ends (for `poll_timeout`).
    pub(crate) fn pending_expiry(&self, base: Duration, cap: Duration) -> Option<Instant> {
        self.reported_held.then(|| self.since + self.required(base, cap))
    }

    /// Current flap penalty.
    #[cfg(test)]
    pub(crate) fn penalty(&self) -> u32 {
        self.penalty
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_types::virtual_origin;

    const BASE: Duration = Duration::from_secs(5);
    const CAP: Duration = Duration::from_mins(1);

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn a_path_that_never_failed_is_not_held() {
        let t0 = virtual_origin();
        let mut h = HoldDown::new(t0);
        h.update(t0 + s(1), true, CAP);
        assert!(!h.held(t0 + s(1), BASE, CAP));
    }

    #[test]
    fn after_one_failure_the_path_is_held_for_the_hold_down() {
        let t0 = virtual_origin();
        let mut h = HoldDown::new(t0);
        h.update(t0, true, CAP);
        h.update(t0 + s(10), false, CAP);
        h.update(t0 + s(11), true, CAP);
        assert!(h.held(t0 + s(15), BASE, CAP));
        assert_eq!(h.expires_at(t0 + s(15), BASE, CAP), Some(t0 + s(16)));
        assert!(!h.held(t0 + s(16), BASE, CAP));
    }

    #[test]
    fn each_flap_doubles_the_hold_down_up_to_the_cap() {
        let t0 = virtual_origin();
        let mut h = HoldDown::new(t0);
        h.update(t0, true, CAP);
        let mut t = t0;
        for expected in [5, 10, 20, 40, 60, 60] {
            t += s(1);
            h.update(t, false, CAP);
            t += s(1);
            h.update(t, true, CAP);
            assert_eq!(
                h.expires_at(t, BASE, CAP),
                Some(t + s(expected)),
                "penalty {}",
                h.penalty()
            );
        }
    }

    #[test]
    fn the_penalty_is_forgiven_after_staying_eligible_for_the_cap() {
        let t0 = virtual_origin();
        let mut h = HoldDown::new(t0);
        h.update(t0, true, CAP);
        h.update(t0 + s(1), false, CAP);
        h.update(t0 + s(2), true, CAP);
        h.update(t0 + s(62), true, CAP);
        assert_eq!(h.penalty(), 0);
        h.update(t0 + s(63), false, CAP);
        h.update(t0 + s(64), true, CAP);
        assert_eq!(
            h.expires_at(t0 + s(64), BASE, CAP),
            Some(t0 + s(69)),
            "back to the base hold-down"
        );
    }
}
