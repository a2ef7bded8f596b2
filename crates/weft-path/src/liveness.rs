//! The per-path liveness state machine: Down → Init → Up, and Up ⇄ Degraded.
//!
//! Proof of life is a probe echo or (hybrid monitoring) authenticated traffic
//! received on the path. A path is declared Down when nothing proved life for
//! the detection time (`detect_multiplier × interval`, as in BFD), or when the
//! last `detect_multiplier` probes were all lost even though traffic still
//! arrives (the send direction is broken). Up needs `up_after` consecutive
//! echoes: traffic alone never makes a path Up, since only an echo proves the
//! send direction works.

use std::time::{Duration, Instant};

use crate::state::{Breach, PathState, TransitionReason};

/// A state change, with its reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Transition {
    pub(crate) from: PathState,
    pub(crate) to: PathState,
    pub(crate) reason: TransitionReason,
}

#[derive(Debug, Clone)]
pub(crate) struct Liveness {
    state: PathState,
    since: Instant,
    last_proof: Option<Instant>,
    echo_streak: u8,
    loss_streak: u32,
}

impl Liveness {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            state: PathState::Down,
            since: now,
            last_proof: None,
            echo_streak: 0,
            loss_streak: 0,
        }
    }

    pub(crate) fn state(&self) -> PathState {
        self.state
    }

    pub(crate) fn since(&self) -> Instant {
        self.since
    }

    fn go(&mut self, now: Instant, to: PathState, reason: TransitionReason) -> Option<Transition> {
        if self.state == to {
            return None;
        }
        let t = Transition { from: self.state, to, reason };
        self.state = to;
        self.since = now;
        Some(t)
    }

    /// An echo of one of our probes arrived.
    pub(crate) fn on_echo(&mut self, now: Instant, up_after: u8) -> Option<Transition> {
        self.last_proof = Some(now);
        self.loss_streak = 0;
        self.echo_streak = self.echo_streak.saturating_add(1);
        match self.state {
            PathState::Down | PathState::Init if self.echo_streak >= up_after => self.go(
                now,
                PathState::Up,
                TransitionReason::ConsecutiveEchoes { count: self.echo_streak },
            ),
            PathState::Down => self.go(now, PathState::Init, TransitionReason::ProofOfLife),
            _ => None,
        }
    }

    /// Authenticated traffic arrived on the path (passive proof of life).
    pub(crate) fn on_traffic(&mut self, now: Instant) -> Option<Transition> {
        self.last_proof = Some(now);
        if self.state == PathState::Down {
            self.echo_streak = 0;
            return self.go(now, PathState::Init, TransitionReason::ProofOfLife);
        }
        None
    }

    /// Authenticated traffic arrived on a path whose only proof of life is
    /// traffic (a peer that does not answer probes): it is Up at once.
    pub(crate) fn on_traffic_only(&mut self, now: Instant) -> Option<Transition> {
        self.last_proof = Some(now);
        match self.state {
            PathState::Down | PathState::Init => {
                self.go(now, PathState::Up, TransitionReason::ProofOfLife)
            }
            _ => None,
        }
    }

    /// A probe's loss timeout passed without an echo.
    pub(crate) fn on_probe_lost(&mut self, now: Instant, multiplier: u8) -> Option<Transition> {
        self.echo_streak = 0;
        self.loss_streak += 1;
        if self.state != PathState::Down && self.loss_streak >= u32::from(multiplier) {
            return self.go(
                now,
                PathState::Down,
                TransitionReason::ProbesLost { count: self.loss_streak },
            );
        }
        None
    }

    /// When the path will be declared Down if nothing arrives, given the current
    /// detection time. `not_before` pushes the deadline out after the probe rate
    /// was raised, so a faster schedule never condemns a path for the silence of
    /// the slower one.
    pub(crate) fn detect_deadline(&self, detect: Duration, not_before: Instant) -> Option<Instant> {
        if self.state == PathState::Down {
            return None;
        }
        let base = self.last_proof.map_or(not_before, |p| p.max(not_before));
        Some(base + detect)
    }

    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        detect: Duration,
        not_before: Instant,
    ) -> Option<Transition> {
        match self.detect_deadline(detect, not_before) {
            Some(deadline) if now >= deadline => {
                let silent_for = now - self.last_proof.unwrap_or(self.since);
                self.echo_streak = 0;
                self.go(now, PathState::Down, TransitionReason::DetectTimeout { silent_for })
            }
            _ => None,
        }
    }

    /// Applies the brownout verdict to an alive path.
    pub(crate) fn set_brownout(
        &mut self,
        now: Instant,
        breach: Option<Breach>,
    ) -> Option<Transition> {
        match (self.state, breach) {
            (PathState::Up, Some(b)) => {
                self.go(now, PathState::Degraded, TransitionReason::Brownout(b))
            }
            (PathState::Degraded, None) => {
                self.go(now, PathState::Up, TransitionReason::BrownoutCleared)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Metric;
    use weft_types::virtual_origin;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_new_path_goes_down_init_up_after_three_echoes() {
        let t0 = virtual_origin();
        let mut l = Liveness::new(t0);
        assert_eq!(l.state(), PathState::Down);
        let t = l.on_echo(t0 + ms(10), 3).unwrap();
        assert_eq!(
            (t.from, t.to, t.reason),
            (PathState::Down, PathState::Init, TransitionReason::ProofOfLife)
        );
        assert!(l.on_echo(t0 + ms(20), 3).is_none());
        let t = l.on_echo(t0 + ms(30), 3).unwrap();
        assert_eq!(t.to, PathState::Up);
        assert_eq!(t.reason, TransitionReason::ConsecutiveEchoes { count: 3 });
    }

    #[test]
    fn silence_for_the_detection_time_takes_a_path_down() {
        let t0 = virtual_origin();
        let mut l = Liveness::new(t0);
        l.on_echo(t0, 1);
        assert_eq!(l.state(), PathState::Up);
        assert!(l.on_timeout(t0 + ms(299), ms(300), t0).is_none());
        let t = l.on_timeout(t0 + ms(300), ms(300), t0).unwrap();
        assert_eq!(t.to, PathState::Down);
        assert_eq!(t.reason, TransitionReason::DetectTimeout { silent_for: ms(300) });
    }

    #[test]
    fn traffic_keeps_a_path_alive_but_never_makes_it_up() {
        let t0 = virtual_origin();
        let mut l = Liveness::new(t0);
        assert_eq!(l.on_traffic(t0).unwrap().to, PathState::Init);
        for i in 1..10 {
            assert!(l.on_traffic(t0 + ms(100 * i)).is_none());
        }
        assert_eq!(l.state(), PathState::Init);
        assert!(
            l.on_timeout(t0 + ms(1000), ms(300), t0).is_none(),
            "traffic at 900ms is proof of life"
        );
    }

    #[test]
    fn consecutive_probe_losses_take_a_path_down_even_with_traffic() {
        let t0 = virtual_origin();
        let mut l = Liveness::new(t0);
        l.on_echo(t0, 1);
        l.on_traffic(t0 + ms(50));
        assert!(l.on_probe_lost(t0 + ms(100), 3).is_none());
        assert!(l.on_probe_lost(t0 + ms(200), 3).is_none());
        let t = l.on_probe_lost(t0 + ms(300), 3).unwrap();
        assert_eq!(t.reason, TransitionReason::ProbesLost { count: 3 });
    }

    #[test]
    fn an_echo_resets_the_loss_streak() {
        let t0 = virtual_origin();
        let mut l = Liveness::new(t0);
        l.on_echo(t0, 1);
        l.on_probe_lost(t0, 3);
        l.on_probe_lost(t0, 3);
        l.on_echo(t0, 1);
        assert!(l.on_probe_lost(t0, 3).is_none());
        assert_eq!(l.state(), PathState::Up);
    }

    #[test]
    fn brownout_moves_up_to_degraded_and_back() {
        let t0 = virtual_origin();
        let mut l = Liveness::new(t0);
        l.on_echo(t0, 1);
        let b = Breach { metric: Metric::Loss, measured: 8.0, limit: 5.0 };
        assert_eq!(l.set_brownout(t0, Some(b)).unwrap().to, PathState::Degraded);
        assert!(l.set_brownout(t0, Some(b)).is_none());
        assert_eq!(l.set_brownout(t0, None).unwrap().reason, TransitionReason::BrownoutCleared);
        // A Down path is never "degraded".
        let mut d = Liveness::new(t0);
        assert!(d.set_brownout(t0, Some(b)).is_none());
    }

    #[test]
    fn a_raised_probe_rate_does_not_condemn_a_path_for_old_silence() {
        let t0 = virtual_origin();
        let mut l = Liveness::new(t0);
        l.on_echo(t0, 1);
        // Idle peer: last echo at t0. At t0+900ms the peer becomes active and the
        // detection time drops to 300ms; the deadline counts from the change.
        let changed = t0 + ms(900);
        assert!(l.on_timeout(t0 + ms(1000), ms(300), changed).is_none());
        assert!(l.on_timeout(t0 + ms(1200), ms(300), changed).is_some());
    }
}
