//! One path's monitor: probe schedule, outstanding probes, estimators, liveness.
//!
//! The engine owns one `PathMonitor` per path and drives it with the current
//! time; the monitor never decides anything about flows.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use weft_types::SeededRng;

use crate::config::{EngineConfig, IntervalMode};
use crate::estimator::{JitterEstimator, LossEstimator, RttEstimator};
use crate::holddown::HoldDown;
use crate::liveness::{Liveness, Transition};
use crate::metrics::{LivenessSource, PathMetrics, PathSpec, Quality};
use crate::sla::check_limits;
use crate::state::PathState;

/// Most probes in flight per path; older ones are declared lost.
const MAX_OUTSTANDING: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    seq: u64,
    sent: Instant,
    deadline: Instant,
}

#[derive(Debug)]
pub(crate) struct PathMonitor {
    pub(crate) spec: PathSpec,
    pub(crate) liveness: Liveness,
    rtt: RttEstimator,
    jitter: JitterEstimator,
    loss: LossEstimator,
    pub(crate) quality: Quality,
    pub(crate) mtu: Option<u16>,
    pub(crate) holds: Vec<HoldDown>,
    next_probe: Instant,
    interval: Duration,
    /// The interval detection counts in: the probe interval without the busy
    /// factor (traffic on a busy path proves life far more often than probes).
    detect_interval: Duration,
    /// Detection deadlines never count silence from before this instant: when
    /// a new probe schedule starts (recovery, or a higher rate), its first
    /// echoes cannot arrive before one round trip has passed.
    detect_base: Instant,
    down_backoff: Duration,
    accel_remaining: u32,
    next_seq: u64,
    outstanding: VecDeque<Outstanding>,
    /// Set when a path sharing this one's uplink or remote endpoint just went
    /// Down: this one is probably dead too, so it takes no new flows until it
    /// answers a probe sent after that moment.
    suspect_since: Option<Instant>,
    /// Whether `suspect_since` changed since the engine last looked.
    suspect_changed: bool,
    /// Probes declared lost recently (seq, send time), so a late echo still
    /// yields an RTT sample.
    expired: VecDeque<(u64, Instant)>,
    last_rx: Option<Instant>,
    pub(crate) probes_sent: u64,
    pub(crate) late_echoes: u64,
    tx_rate_bps: f64,
    tx_rate_at: Instant,
    /// [`next_deadline`](Self::next_deadline), computed once after each
    /// change (the engine asks for it on every timer and input, for every
    /// path). Every method that can move the deadline clears it; the engine's
    /// configuration, the other input, never changes.
    deadline: Cell<Option<Instant>>,
    /// The deadline the engine's timer index holds this path under.
    pub(crate) indexed: Option<Instant>,
    /// The earliest pending hold-down expiry the engine's index holds this
    /// path under.
    pub(crate) holds_indexed: Option<Instant>,
}

/// Result of an echo.
pub(crate) enum EchoOutcome {
    Sample(Duration, Option<Transition>),
    /// The probe had been declared lost; its RTT still feeds the estimators
    /// (so the loss timeout grows after an RTT jump) and it proves life.
    Late(Option<Transition>),
    Unknown,
}

impl PathMonitor {
    pub(crate) fn new(now: Instant, spec: PathSpec, cfg: &EngineConfig, policies: usize) -> Self {
        let detect_interval = match spec.liveness {
            LivenessSource::Traffic { expected_interval } => expected_interval,
            LivenessSource::Probes => base_interval(cfg, false),
        };
        Self {
            spec,
            liveness: Liveness::new(now),
            rtt: RttEstimator::new(cfg.probe.rtt_window),
            jitter: JitterEstimator::new(),
            loss: LossEstimator::new(cfg.probe.loss_window, cfg.probe.long_loss_window),
            quality: Quality::default(),
            mtu: None,
            holds: (0..policies).map(|_| HoldDown::new(now)).collect(),
            next_probe: now,
            interval: base_interval(cfg, false),
            detect_interval,
            detect_base: now,
            down_backoff: base_interval(cfg, false).min(cfg.probe.down_interval),
            accel_remaining: 0,
            next_seq: 1,
            outstanding: VecDeque::new(),
            expired: VecDeque::new(),
            suspect_since: None,
            suspect_changed: false,
            last_rx: None,
            probes_sent: 0,
            late_echoes: 0,
            tx_rate_bps: 0.0,
            tx_rate_at: now,
            deadline: Cell::new(None),
            indexed: None,
            holds_indexed: None,
        }
    }

    pub(crate) fn state(&self) -> PathState {
        self.liveness.state()
    }

    /// Nominal interval for the next probe, given the peer's base interval.
    /// `measuring`: a class asked for this rate to measure quality, so the
    /// busy factor (which trusts traffic for liveness) does not apply.
    fn nominal_interval(
        &self,
        now: Instant,
        cfg: &EngineConfig,
        base: Duration,
        measuring: bool,
    ) -> Duration {
        let p = &cfg.probe;
        if self.accel_remaining > 0 {
            return p.min_interval;
        }
        match self.state() {
            PathState::Down => self.down_backoff.clamp(p.min_interval, p.down_interval.max(base)),
            PathState::Init => base,
            PathState::Up | PathState::Degraded => {
                let busy = !measuring && self.last_rx.is_some_and(|t| now.duration_since(t) < base);
                if busy { base.saturating_mul(p.busy_factor.max(1)) } else { base }
            }
        }
    }

    /// Detection time: multiplier × the interval in use.
    pub(crate) fn detect_time(&self, cfg: &EngineConfig) -> Duration {
        self.detect_interval.saturating_mul(u32::from(cfg.probe.detect_multiplier.get()))
    }

    /// Called when the peer's base interval drops (it turned active, or a class
    /// with a faster probe interval started): probe at the new rate from now on.
    pub(crate) fn on_rate_raised(
        &mut self,
        now: Instant,
        cfg: &EngineConfig,
        base: Duration,
        measuring: bool,
        rng: &mut SeededRng,
    ) {
        self.deadline.set(None);
        let fast = self.nominal_interval(now, cfg, base, measuring);
        if fast < self.interval {
            self.interval = fast;
            self.detect_interval = self.detect_interval.min(base);
            self.detect_base = now + self.round_trip_allowance();
            let soon = now + jittered(fast, rng);
            self.next_probe = self.next_probe.min(soon);
        }
    }

    /// Takes the probe that is due at `now`, if any, and schedules the next.
    pub(crate) fn take_due_probe(
        &mut self,
        now: Instant,
        cfg: &EngineConfig,
        base: Duration,
        measuring: bool,
        rng: &mut SeededRng,
    ) -> Option<u64> {
        self.deadline.set(None);
        if let LivenessSource::Traffic { expected_interval } = self.spec.liveness {
            // Nothing to send; keep the deadline machinery moving.
            self.detect_interval = expected_interval;
            self.next_probe = now + expected_interval;
            return None;
        }
        if now < self.next_probe {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.probes_sent += 1;
        let deadline = now + self.loss_timeout();
        if self.outstanding.len() == MAX_OUTSTANDING
            && let Some(o) = self.outstanding.pop_front()
        {
            self.expired.push_back((o.seq, o.sent));
            if self.expired.len() > MAX_OUTSTANDING {
                self.expired.pop_front();
            }
        }
        self.outstanding.push_back(Outstanding { seq, sent: now, deadline });
        self.accel_remaining = self.accel_remaining.saturating_sub(1);
        if self.state() == PathState::Down {
            self.down_backoff = (self.down_backoff * 2).min(cfg.probe.down_interval);
        }
        let nominal = self.nominal_interval(now, cfg, base, measuring);
        // Detection counts in the peer's base interval: neither the busy factor
        // nor loss-triggered acceleration changes how long silence may last.
        if base < self.detect_interval {
            self.detect_base = now + self.round_trip_allowance();
        }
        self.detect_interval = base;
        self.interval = nominal;
        self.next_probe = now + jittered(nominal, rng);
        Some(seq)
    }

    fn loss_timeout(&self) -> Duration {
        match (self.rtt.smoothed(), self.rtt.variation()) {
            (Some(srtt), Some(var)) => {
                (srtt * 2 + var * 4).clamp(Duration::from_millis(50), Duration::from_secs(2))
            }
            _ => Duration::from_secs(1),
        }
    }

    pub(crate) fn on_echo(&mut self, now: Instant, seq: u64, cfg: &EngineConfig) -> EchoOutcome {
        self.deadline.set(None);
        let Some(i) = self.outstanding.iter().position(|o| o.seq == seq) else {
            let Some(j) = self.expired.iter().position(|(s, _)| *s == seq) else {
                return EchoOutcome::Unknown;
            };
            let (_, sent) = self.expired.remove(j).expect("index from position");
            self.late_echoes += 1;
            let rtt = now.duration_since(sent);
            self.rtt.update(rtt);
            self.jitter.update(rtt);
            let t = self.liveness.on_traffic(now);
            if t.is_some() {
                self.recovered(now);
            }
            self.refresh_quality();
            return EchoOutcome::Late(t);
        };
        let o = self.outstanding.remove(i).expect("index from position");
        if self.suspect_since.is_some_and(|t| o.sent >= t) {
            self.suspect_since = None;
            self.suspect_changed = true;
        }
        let rtt = now.duration_since(o.sent);
        self.rtt.update(rtt);
        self.jitter.update(rtt);
        let was_alive = self.state().is_alive();
        if was_alive {
            self.loss.record(false);
        }
        let t = self.liveness.on_echo(now, cfg.probe.up_after.get());
        if t.is_some_and(|t| t.from == PathState::Down) {
            self.recovered(now);
        }
        self.refresh_quality();
        EchoOutcome::Sample(rtt, t)
    }

    /// A sibling path (same uplink or same remote endpoint) just went Down:
    /// suspect this one and probe it fast to find out.
    pub(crate) fn mark_suspect(&mut self, now: Instant, cfg: &EngineConfig) {
        self.deadline.set(None);
        if !self.state().is_alive() || self.suspect_since.is_some() {
            return;
        }
        self.suspect_since = Some(now);
        self.suspect_changed = true;
        self.accel_remaining = cfg.probe.accel_probes;
        self.next_probe = self.next_probe.min(now);
    }

    /// Whether this path is suspected after a sibling's failure.
    pub(crate) fn is_suspect(&self) -> bool {
        self.suspect_since.is_some()
    }

    /// Whether the suspicion was raised or cleared since the last call.
    pub(crate) fn take_suspect_changed(&mut self) -> bool {
        std::mem::take(&mut self.suspect_changed)
    }

    /// A Down path showed life: forget its down-time history and confirm it
    /// at once instead of waiting out the Down backoff.
    fn recovered(&mut self, now: Instant) {
        // Down time is not brownout: old loss history says nothing now.
        self.loss.reset_window();
        self.next_probe = now;
        self.detect_base = now + self.round_trip_allowance();
    }

    /// How long the first echo of a new schedule may take: a little over the
    /// smoothed RTT, or the initial loss timeout while no RTT is known.
    fn round_trip_allowance(&self) -> Duration {
        match (self.rtt.smoothed(), self.rtt.variation()) {
            (Some(srtt), Some(var)) => srtt + var * 2,
            _ => self.loss_timeout(),
        }
    }

    pub(crate) fn on_traffic(&mut self, now: Instant) -> Option<Transition> {
        self.deadline.set(None);
        self.last_rx = Some(now);
        if let LivenessSource::Traffic { expected_interval } = self.spec.liveness {
            self.detect_interval = expected_interval;
            return self.liveness.on_traffic_only(now);
        }
        let t = self.liveness.on_traffic(now);
        if t.is_some() {
            self.recovered(now);
        }
        t
    }

    pub(crate) fn on_tx(&mut self, now: Instant, bytes: u64) {
        // EWMA of the send rate with a 1 s time constant.
        let dt = now.duration_since(self.tx_rate_at).as_secs_f64().max(1e-3);
        let inst = bytes as f64 * 8.0 / dt;
        let a = (dt / 1.0).min(1.0);
        self.tx_rate_bps += a * (inst - self.tx_rate_bps);
        self.tx_rate_at = now;
    }

    pub(crate) fn tx_rate_bps(&self) -> f64 {
        self.tx_rate_bps
    }

    /// Expires overdue probes and checks the detection deadline. Returns the
    /// transitions that happened and whether a probe was lost on an alive path.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        cfg: &EngineConfig,
        peer_active: bool,
        out: &mut Vec<Transition>,
    ) -> bool {
        self.deadline.set(None);
        let mut lost_alive = false;
        while let Some(o) = self.outstanding.front().copied().filter(|o| o.deadline <= now) {
            self.outstanding.pop_front();
            if self.expired.len() == MAX_OUTSTANDING {
                self.expired.pop_front();
            }
            self.expired.push_back((o.seq, o.sent));
            if self.state().is_alive() {
                self.loss.record(true);
                lost_alive = true;
            }
            out.extend(self.liveness.on_probe_lost(now, cfg.probe.detect_multiplier.get()));
        }
        if lost_alive && peer_active {
            self.accel_remaining = cfg.probe.accel_probes;
            self.next_probe = self.next_probe.min(now + cfg.probe.min_interval);
        }
        let detect = self.detect_time(cfg);
        out.extend(self.liveness.on_timeout(now, detect, self.detect_base));
        if out.last().is_some_and(|t| t.to == PathState::Down) {
            // Slow start: keep probing a dead path at the rate it had, doubling
            // towards `down_interval`.
            self.down_backoff = self.interval;
            self.accel_remaining = 0;
        }
        self.refresh_quality();
        lost_alive
    }

    /// Recomputes the quality figures and applies the brownout thresholds.
    fn refresh_quality(&mut self) {
        self.quality = Quality {
            rtt_us: self
                .rtt
                .smoothed()
                .map_or(0, |d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX)),
            jitter_us: u32::try_from(self.jitter.jitter().as_micros()).unwrap_or(u32::MAX),
            // Outcomes not yet seen count as delivered: a young path is not
            // condemned by its first lost probe.
            loss: self.loss.lost_in_window() as f64
                / self.loss.in_window().max(self.loss.short_len()) as f64,
            loss_long: self.loss.lost_in_long_window() as f64
                / self.loss.in_long_window().max(self.loss.long_len()) as f64,
        };
    }

    /// Applies the brownout thresholds. A Degraded path clears only once it is
    /// back under `clear_ratio` of each threshold, with loss judged over both
    /// windows, and not before it has been Degraded for the hold-down, so a
    /// path hovering at the threshold does not flap between Up and Degraded.
    pub(crate) fn apply_brownout(
        &mut self,
        now: Instant,
        cfg: &EngineConfig,
    ) -> Option<Transition> {
        self.deadline.set(None);
        let b = &cfg.brownout;
        let q = &self.quality;
        let breach = check_limits(q, q.loss, b.max_latency, b.max_jitter, Some(b.max_loss)).err();
        if breach.is_none() && self.state() == PathState::Degraded {
            // Stay Degraded for at least the hold-down: noisy loss estimates
            // dip under the threshold now and then during a real brownout.
            if now.duration_since(self.liveness.since()) < cfg.hold_down {
                return None;
            }
            let r = b.clear_ratio;
            let scaled = |d: Option<Duration>| d.map(|d| d.mul_f64(r));
            let loss = Some(weft_types::Ratio::from_fraction(b.max_loss.fraction() * r));
            let worst_loss = q.loss.max(q.loss_long);
            if let Err(still) =
                check_limits(q, worst_loss, scaled(b.max_latency), scaled(b.max_jitter), loss)
            {
                return self.liveness.set_brownout(now, Some(still));
            }
        }
        self.liveness.set_brownout(now, breach)
    }

    /// The earliest instant this monitor needs attention.
    pub(crate) fn next_deadline(&self, cfg: &EngineConfig) -> Instant {
        if let Some(t) = self.deadline.get() {
            return t;
        }
        let mut t = self.next_probe;
        if let Some(o) = self.outstanding.front() {
            t = t.min(o.deadline);
        }
        if let Some(d) = self.liveness.detect_deadline(self.detect_time(cfg), self.detect_base) {
            t = t.min(d);
        }
        self.deadline.set(Some(t));
        t
    }

    pub(crate) fn snapshot(&self, now: Instant) -> PathMetrics {
        let pct = self.rtt.percentiles();
        PathMetrics {
            state: self.state(),
            state_for: now.duration_since(self.liveness.since()),
            rtt: self.rtt.smoothed(),
            rtt_min: self.rtt.min(),
            rtt_var: self.rtt.variation(),
            rtt_p50: pct.map(|p| p[0]),
            rtt_p95: pct.map(|p| p[1]),
            rtt_p99: pct.map(|p| p[2]),
            jitter: self.jitter.jitter(),
            loss: self.quality.loss,
            loss_long: self.quality.loss_long,
            loss_window: self.loss.in_window(),
            probes_sent: self.probes_sent,
            probes_lost: self.loss.total_lost(),
            late_echoes: self.late_echoes,
            mtu: self.mtu,
            probe_interval: self.interval,
            tx_rate_bps: self.tx_rate_bps,
        }
    }
}

/// The configured interval for an active or idle peer (before class overrides).
pub(crate) fn base_interval(cfg: &EngineConfig, peer_active: bool) -> Duration {
    match cfg.probe.interval {
        IntervalMode::Adaptive { active, idle } => {
            if peer_active {
                active
            } else {
                idle
            }
        }
        IntervalMode::Fixed(d) => d,
    }
}

/// RFC 5880 §6.8.7: each interval is 75–100 % of nominal, so probes from many
/// paths do not synchronise.
fn jittered(nominal: Duration, rng: &mut SeededRng) -> Duration {
    nominal.mul_f64(rng.uniform(0.75, 1.0))
}
