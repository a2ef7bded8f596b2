//! The decision, pure: which path the remote prefixes of one gateway take,
//! and the liveness of its IPsec path from the ICMP probes' answers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::Prefer;

/// How often a probe goes out through each gateway's tunnel.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// A probe not answered within this is lost.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_millis(250);
/// Lost probes in a row that call the path dead.
pub(crate) const DOWN_AFTER: u32 = 3;
/// Answered probes in a row that call it alive again.
pub(crate) const UP_AFTER: u32 = 3;
/// Probes the loss figure is computed over.
const WINDOW: usize = 20;

/// Where a gateway's remote prefixes are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Through weft's interface to the WireGuard site `via`.
    WireGuard,
    /// Into charon's tunnel.
    Ipsec,
}

impl Route {
    /// Its name in the API and the logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::WireGuard => "wireguard",
            Route::Ipsec => "ipsec",
        }
    }
}

/// The preferred path while it is alive, else the other one when that is
/// alive, else the preferred one (nothing better to do). `wireguard_alive`
/// is `None` without a `via` site: then IPsec is the only path.
pub(crate) fn choose(prefer: Prefer, wireguard_alive: Option<bool>, ipsec_alive: bool) -> Route {
    let Some(wg) = wireguard_alive else { return Route::Ipsec };
    match prefer {
        Prefer::WireGuard if !wg && ipsec_alive => Route::Ipsec,
        Prefer::WireGuard => Route::WireGuard,
        Prefer::Ipsec if !ipsec_alive && wg => Route::WireGuard,
        Prefer::Ipsec => Route::Ipsec,
    }
}

/// The probes of one IPsec path: which are in flight, RTT, loss, and the
/// alive/dead state with its hysteresis ([`DOWN_AFTER`], [`UP_AFTER`]).
/// Time comes in as arguments.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    in_flight: VecDeque<(u16, Instant)>,
    results: VecDeque<bool>,
    lost_in_row: u32,
    answered_in_row: u32,
    alive: bool,
    srtt: Option<Duration>,
}

impl Liveness {
    /// A probe `seq` went out at `now`.
    pub(crate) fn handle_sent(&mut self, seq: u16, now: Instant) {
        self.in_flight.push_back((seq, now));
    }

    /// The answer to `seq` came at `now` (unknown or late answers are ignored).
    pub(crate) fn handle_reply(&mut self, seq: u16, now: Instant) {
        let Some(i) = self.in_flight.iter().position(|(s, _)| *s == seq) else { return };
        let Some((_, sent)) = self.in_flight.remove(i) else { return };
        let rtt = now.saturating_duration_since(sent);
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
        self.record(true);
        self.lost_in_row = 0;
        self.answered_in_row += 1;
        if self.answered_in_row >= UP_AFTER {
            self.alive = true;
        }
    }

    /// Counts the probes unanswered for [`PROBE_TIMEOUT`] at `now` as lost.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(_, sent)) = self.in_flight.front() {
            if now.saturating_duration_since(sent) < PROBE_TIMEOUT {
                break;
            }
            self.in_flight.pop_front();
            self.record(false);
            self.answered_in_row = 0;
            self.lost_in_row += 1;
            if self.lost_in_row >= DOWN_AFTER {
                self.alive = false;
            }
        }
    }

    /// The tunnel is gone (its child SA is not installed): dead at once.
    pub(crate) fn reset(&mut self) {
        *self = Liveness::default();
    }

    fn record(&mut self, answered: bool) {
        if self.results.len() == WINDOW {
            self.results.pop_front();
        }
        self.results.push_back(answered);
    }

    /// Whether the probes say the path carries traffic.
    pub(crate) fn alive(&self) -> bool {
        self.alive
    }

    /// Smoothed RTT, milliseconds.
    pub(crate) fn rtt_ms(&self) -> Option<f64> {
        self.srtt.map(|d| d.as_secs_f64() * 1000.0)
    }

    /// Lost probes among the last ones, percent.
    pub(crate) fn loss_pct(&self) -> f64 {
        if self.results.is_empty() {
            return 0.0;
        }
        let lost = self.results.iter().filter(|a| !**a).count();
        lost as f64 * 100.0 / self.results.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wireguard_first_falls_back_to_ipsec_only_while_the_site_is_unreachable() {
        let p = Prefer::WireGuard;
        assert_eq!(choose(p, Some(true), true), Route::WireGuard);
        assert_eq!(choose(p, Some(false), true), Route::Ipsec);
        assert_eq!(choose(p, Some(false), false), Route::WireGuard, "nothing alive: preferred");
        assert_eq!(choose(p, Some(true), false), Route::WireGuard);
    }

    #[test]
    fn ipsec_first_falls_back_to_the_site_and_without_one_stays_on_ipsec() {
        let p = Prefer::Ipsec;
        assert_eq!(choose(p, Some(true), true), Route::Ipsec);
        assert_eq!(choose(p, Some(true), false), Route::WireGuard);
        assert_eq!(choose(p, Some(false), false), Route::Ipsec);
        assert_eq!(choose(p, None, false), Route::Ipsec);
    }

    #[test]
    fn a_path_is_alive_after_three_answers_and_dead_after_three_losses() {
        let t0 = Instant::now();
        let mut l = Liveness::default();
        let ms = |n| t0 + Duration::from_millis(n);
        for seq in 0..3u16 {
            assert!(!l.alive());
            l.handle_sent(seq, ms(u64::from(seq) * 100));
            l.handle_reply(seq, ms(u64::from(seq) * 100 + 2));
        }
        assert!(l.alive());
        assert!((l.rtt_ms().unwrap() - 2.0).abs() < 0.01);
        for seq in 3..6u16 {
            l.handle_sent(seq, ms(u64::from(seq) * 100));
        }
        l.handle_timeout(ms(600));
        assert!(l.alive(), "two probes timed out so far, the third is still in time");
        l.handle_timeout(ms(751));
        assert!(!l.alive(), "three losses in a row");
        assert!((l.loss_pct() - 50.0).abs() < 0.01);
        // a late answer to a lost probe changes nothing
        l.handle_reply(3, ms(800));
        assert!(!l.alive());
    }

    #[test]
    fn a_single_answer_in_losses_does_not_revive_it_and_reset_kills_it() {
        let t0 = Instant::now();
        let mut l = Liveness::default();
        for seq in 0..3u16 {
            l.handle_sent(seq, t0);
            l.handle_reply(seq, t0);
        }
        l.handle_sent(3, t0);
        l.handle_timeout(t0 + PROBE_TIMEOUT);
        l.handle_sent(4, t0 + PROBE_TIMEOUT);
        l.handle_reply(4, t0 + PROBE_TIMEOUT);
        assert!(l.alive(), "one loss is not enough");
        l.reset();
        assert!(!l.alive() && l.rtt_ms().is_none());
    }
}
