//! The decision, pure: which path each class of traffic to one gateway's
//! remote prefixes takes ([`choose_for_class`]), and the liveness and
//! quality of its IPsec path from the ICMP probes' answers ([`Liveness`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use weft_path::sla::SlaLimits;
use weft_path::{PathAttrs, PathPreference, Quality};

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

/// Where a class of a gateway's traffic goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Through weft's data plane to the WireGuard site `via` (on the path
    /// the path engine chose for the class).
    WireGuard,
    /// Into charon's tunnel.
    Ipsec,
    /// Nowhere: a `strict-drop` class and neither path meets its SLA.
    Drop,
}

impl Route {
    /// Its name in the API and the logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Route::WireGuard => "wireguard",
            Route::Ipsec => "ipsec",
            Route::Drop => "drop",
        }
    }
}

/// One path as the choice sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    /// It carries traffic (WireGuard: the site is reachable and the engine
    /// has a path for the class; IPsec: CHILD_SA installed, probes answered).
    pub(crate) alive: bool,
    /// Its measured RTT, jitter and loss.
    pub(crate) quality: Quality,
    /// Its cost and capacity (for the cost and bandwidth preferences).
    pub(crate) attrs: PathAttrs,
}

/// What a route profile of the running policy asks of the paths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClassRule {
    /// The class's SLA.
    pub(crate) sla: SlaLimits,
    /// How the route ranks paths that meet it.
    pub(crate) preference: PathPreference,
    /// `fallback = "strict-drop"`: nothing when no path meets the SLA.
    pub(crate) strict: bool,
    /// The route ranks this gateway first (`uplinks = ["ipsec:NAME"]`).
    pub(crate) ipsec_first: bool,
    /// The route never uses it (`exclude_uplinks = ["ipsec:NAME"]`).
    pub(crate) ipsec_excluded: bool,
}

impl ClassRule {
    /// Flows no policy route matches under the built-in policy: any live
    /// path, no preference of the policy's own.
    pub(crate) fn best_effort() -> Self {
        ClassRule {
            sla: SlaLimits::new(None, None, None, false),
            preference: PathPreference::LowestLatency,
            strict: false,
            ipsec_first: false,
            ipsec_excluded: false,
        }
    }
}

/// The path for one class of traffic to a gateway that has a WireGuard
/// alternative (`via`), the way the path engine picks among a site's
/// uplinks:
///
/// 1. a path is eligible when it is alive and meets the class's SLA; an
///    IPsec path the route excludes never is (the class then follows the
///    path engine, which drops it when the site has no path for it);
/// 2. of two eligible paths the first in rank wins: the route's own
///    preference for the gateway (`uplinks = ["ipsec:NAME"]`), else the
///    gateway's `prefer`; with `prefer = "best"` the one scoring better
///    under the route's preference, and the current one stays unless the
///    other is better by the preference's margin;
/// 3. when neither is eligible: nothing for a `strict-drop` class, else
///    the best of the bad (the live one, by the same rank).
///
/// `wireguard` is `None` when the path engine has no path to `via` for
/// the class.
pub(crate) fn choose_for_class(
    prefer: Prefer,
    rule: &ClassRule,
    wireguard: Option<&Candidate>,
    ipsec: &Candidate,
    current: Option<Route>,
) -> Route {
    if rule.ipsec_excluded {
        return Route::WireGuard;
    }
    let meets = |c: &Candidate| c.alive && rule.sla.check(&c.quality).is_ok();
    let ranked = || -> Route {
        if rule.ipsec_first {
            return Route::Ipsec;
        }
        match (prefer, wireguard) {
            (Prefer::WireGuard, _) => Route::WireGuard,
            (Prefer::Ipsec, _) | (Prefer::Best, None) => Route::Ipsec,
            (Prefer::Best, Some(wg)) => by_score(rule.preference, wg, ipsec, current),
        }
    };
    let wg_ok = wireguard.is_some_and(meets);
    match (wg_ok, meets(ipsec)) {
        (true, true) => ranked(),
        (true, false) => Route::WireGuard,
        (false, true) => Route::Ipsec,
        (false, false) if rule.strict => Route::Drop,
        (false, false) => match (wireguard.is_some_and(|c| c.alive), ipsec.alive) {
            (true, false) => Route::WireGuard,
            (false, true) => Route::Ipsec,
            // both alive and both bad, or nothing alive: the rank
            _ => ranked(),
        },
    }
}

/// The better-scoring path under `preference`, keeping `current` unless the
/// other is better by the preference's margin.
fn by_score(
    preference: PathPreference,
    wg: &Candidate,
    ipsec: &Candidate,
    current: Option<Route>,
) -> Route {
    let w = preference.score(&wg.quality, &wg.attrs, 0.0);
    let i = preference.score(&ipsec.quality, &ipsec.attrs, 0.0);
    let gain = preference.min_gain();
    match current {
        Some(Route::WireGuard) if i + gain < w => Route::Ipsec,
        Some(Route::WireGuard) => Route::WireGuard,
        Some(Route::Ipsec) if w + gain < i => Route::WireGuard,
        Some(Route::Ipsec) => Route::Ipsec,
        _ if i < w => Route::Ipsec,
        _ => Route::WireGuard,
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
    /// RFC 3550 jitter of the round trips.
    jitter: Duration,
    last_rtt: Option<Duration>,
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
        if let Some(last) = self.last_rtt {
            // J += (|D| - J) / 16, in nanoseconds as f64 (exact far beyond
            // any round trip)
            let d = rtt.abs_diff(last).as_secs_f64();
            let j = self.jitter.as_secs_f64();
            self.jitter = Duration::from_secs_f64((j + (d - j) / 16.0).max(0.0));
        }
        self.last_rtt = Some(rtt);
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

    /// Jitter of the probes' round trips, milliseconds.
    pub(crate) fn jitter_ms(&self) -> f64 {
        self.jitter.as_secs_f64() * 1000.0
    }

    /// The path's RTT, jitter and loss the way the path engine measures
    /// its own paths (one loss window: the last [`WINDOW`] probes).
    pub(crate) fn quality(&self) -> Quality {
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        let loss = self.loss_pct() / 100.0;
        Quality {
            rtt_us: self.srtt.map_or(0, us),
            jitter_us: us(self.jitter),
            loss,
            loss_long: loss,
        }
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

    fn path(alive: bool, rtt_ms: u32, loss: f64) -> Candidate {
        Candidate {
            alive,
            quality: Quality { rtt_us: rtt_ms * 1000, jitter_us: 0, loss, loss_long: loss },
            attrs: PathAttrs::default(),
        }
    }

    fn best_effort(prefer: Prefer, wg: Option<bool>, ipsec: bool) -> Route {
        let wg = wg.map(|a| path(a, 10, 0.0));
        choose_for_class(
            prefer,
            &ClassRule::best_effort(),
            wg.as_ref(),
            &path(ipsec, 10, 0.0),
            None,
        )
    }

    #[test]
    fn wireguard_first_falls_back_to_ipsec_only_while_the_site_is_unreachable() {
        let p = Prefer::WireGuard;
        assert_eq!(best_effort(p, Some(true), true), Route::WireGuard);
        assert_eq!(best_effort(p, Some(false), true), Route::Ipsec);
        assert_eq!(
            best_effort(p, Some(false), false),
            Route::WireGuard,
            "nothing alive: preferred"
        );
        assert_eq!(best_effort(p, Some(true), false), Route::WireGuard);
        assert_eq!(
            best_effort(p, None, true),
            Route::Ipsec,
            "the engine has no path for the class"
        );
    }

    #[test]
    fn ipsec_first_falls_back_to_the_site() {
        let p = Prefer::Ipsec;
        assert_eq!(best_effort(p, Some(true), true), Route::Ipsec);
        assert_eq!(best_effort(p, Some(true), false), Route::WireGuard);
        assert_eq!(best_effort(p, Some(false), false), Route::Ipsec);
        assert_eq!(best_effort(p, None, false), Route::Ipsec);
    }

    fn realtime() -> ClassRule {
        ClassRule {
            sla: SlaLimits::new(
                Some(Duration::from_millis(150)),
                Some(Duration::from_millis(30)),
                Some(weft_types::Ratio::from_percent(1.0)),
                false,
            ),
            preference: PathPreference::LowestLatency,
            ..ClassRule::best_effort()
        }
    }

    #[test]
    fn a_class_takes_the_path_that_meets_its_sla_whatever_the_gateway_prefers() {
        let rule = realtime();
        let lossy_wg = path(true, 20, 0.05);
        let good_ipsec = path(true, 40, 0.0);
        let r = choose_for_class(Prefer::WireGuard, &rule, Some(&lossy_wg), &good_ipsec, None);
        assert_eq!(r, Route::Ipsec, "5 % loss breaks realtime's 1 %");
        let best = ClassRule::best_effort();
        let r = choose_for_class(Prefer::WireGuard, &best, Some(&lossy_wg), &good_ipsec, None);
        assert_eq!(r, Route::WireGuard, "best-effort has no SLA: the gateway's rank");
        let slow_ipsec = path(true, 200, 0.0);
        let good_wg = path(true, 20, 0.0);
        let r = choose_for_class(Prefer::Ipsec, &rule, Some(&good_wg), &slow_ipsec, None);
        assert_eq!(r, Route::WireGuard, "200 ms breaks realtime's 150 ms");
    }

    #[test]
    fn a_strict_class_is_dropped_when_neither_path_meets_its_sla_and_others_take_the_best_of_the_bad()
     {
        let bad_wg = path(true, 20, 0.05);
        let bad_ipsec = path(true, 400, 0.0);
        let strict = ClassRule { strict: true, ..realtime() };
        let r = choose_for_class(Prefer::WireGuard, &strict, Some(&bad_wg), &bad_ipsec, None);
        assert_eq!(r, Route::Drop);
        let r = choose_for_class(Prefer::Ipsec, &realtime(), Some(&bad_wg), &bad_ipsec, None);
        assert_eq!(r, Route::Ipsec, "both bad and alive: the rank");
        let dead_wg = path(false, 20, 0.0);
        let r = choose_for_class(Prefer::WireGuard, &realtime(), Some(&dead_wg), &bad_ipsec, None);
        assert_eq!(r, Route::Ipsec, "the live one of the bad");
    }

    #[test]
    fn a_route_can_rank_the_gateway_first_or_exclude_it() {
        let (wg, ipsec) = (path(true, 10, 0.0), path(true, 10, 0.0));
        let first = ClassRule { ipsec_first: true, ..ClassRule::best_effort() };
        assert_eq!(
            choose_for_class(Prefer::WireGuard, &first, Some(&wg), &ipsec, None),
            Route::Ipsec
        );
        let dead_wg = path(false, 10, 0.0);
        let never = ClassRule { ipsec_excluded: true, ..ClassRule::best_effort() };
        let r = choose_for_class(Prefer::Ipsec, &never, Some(&dead_wg), &ipsec, None);
        assert_eq!(r, Route::WireGuard, "excluded: never IPsec, not even as the fallback");
    }

    #[test]
    fn best_takes_the_better_score_and_moves_only_for_more_than_the_margin() {
        let rule = ClassRule::best_effort();
        let (wg, ipsec) = (path(true, 30, 0.0), path(true, 12, 0.0));
        assert_eq!(choose_for_class(Prefer::Best, &rule, Some(&wg), &ipsec, None), Route::Ipsec);
        // 1 ms better is inside lowest-latency's 2 ms margin: stay
        let (wg, ipsec) = (path(true, 11, 0.0), path(true, 12, 0.0));
        let r = choose_for_class(Prefer::Best, &rule, Some(&wg), &ipsec, Some(Route::Ipsec));
        assert_eq!(r, Route::Ipsec);
        let (wg, ipsec) = (path(true, 5, 0.0), path(true, 12, 0.0));
        let r = choose_for_class(Prefer::Best, &rule, Some(&wg), &ipsec, Some(Route::Ipsec));
        assert_eq!(r, Route::WireGuard);
        let lossless = ClassRule { preference: PathPreference::LowestLoss, ..rule };
        let (wg, ipsec) = (path(true, 5, 0.02), path(true, 50, 0.0));
        let r = choose_for_class(Prefer::Best, &lossless, Some(&wg), &ipsec, None);
        assert_eq!(r, Route::Ipsec, "the route's preference scores, not only latency");
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
        assert_eq!(l.quality().rtt_us, 2000);
        assert!(l.jitter_ms() < 0.01, "steady round trips: no jitter");
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
    fn jitter_follows_the_changes_of_the_round_trip_not_its_size() {
        let t0 = Instant::now();
        let mut l = Liveness::default();
        // round trips alternating 10 and 30 ms: |D| = 20 ms every time
        for seq in 0..200u16 {
            let sent = t0 + Duration::from_millis(u64::from(seq) * 100);
            l.handle_sent(seq, sent);
            let rtt = if seq % 2 == 0 { 10 } else { 30 };
            l.handle_reply(seq, sent + Duration::from_millis(rtt));
        }
        assert!((l.jitter_ms() - 20.0).abs() < 0.5, "{}", l.jitter_ms());
        assert_eq!(l.quality().jitter_us / 1000, 19, "{:?}", l.quality());
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
