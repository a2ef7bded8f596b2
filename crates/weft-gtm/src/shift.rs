//! Traffic shifts: drain, blue/green and canary, as state machines.
//!
//! A [`Shift`] is created by [`Shift::new`] (checked), changed by operator
//! commands ([`Shift::command`]) and advanced by [`Shift::tick`] with the
//! time and, for a canary, an [`SloSample`] of its new version's health
//! checks since the current step began. Every change appends a line to the
//! shift's `history` (why, when); the control plane stores the shift and
//! audits the change. [`crate::effect`] reads what a shift does to answers.
//!
//! | kind | states |
//! |---|---|
//! | drain | `running` (factor 100 % → 0 in steps) → `done` (stays at 0 until aborted, which restores) |
//! | blue/green | `running` (all to the new version, holding) → `done` (committed) or `rolled_back` (switch-back) |
//! | canary | `running` step *i* (share `steps[i]` %) → … → `done` (committed), or `rolled_back` on an SLO breach; `paused` holds the share |
//!
//! Any active shift may be `aborted`: a drain restores the weights, a
//! blue/green or canary puts all traffic back on the old version.

use serde::{Deserialize, Serialize};

/// Most entries kept in a shift's history.
const MAX_HISTORY: usize = 64;

/// Why a shift or a command was refused. Nothing changes on a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShiftError {
    /// The specification is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The command does not apply in the shift's state.
    #[error("shift {id} is {state}: cannot {command}")]
    WrongState {
        /// The shift.
        id: String,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
    },
}

/// What a drain acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Target {
    /// Every endpoint at this site.
    Site(String),
    /// Every endpoint in this region.
    Region(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Site(s) => write!(f, "site {s}"),
            Self::Region(r) => write!(f, "region {r}"),
        }
    }
}

/// The SLO a canary's new version must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSpec {
    /// Most failed health checks, percent of all in the window.
    pub max_error_pct: f64,
    /// Most p99 check latency, milliseconds (includes the path through the
    /// fabric: a browned-out path breaches it too).
    pub max_latency_ms: u32,
    /// Checks needed in a step before it may advance or be judged.
    pub min_samples: u32,
}

/// A canary plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanarySpec {
    /// The version taking traffic now.
    pub stable: String,
    /// The new version.
    pub canary: String,
    /// Its share at each step, percent, increasing, ending at 100.
    pub steps: Vec<u8>,
    /// How long each step lasts, ms.
    pub step_ms: u64,
    /// The gate of every step.
    pub slo: SloSpec,
}

/// What a shift does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShiftKind {
    /// Weights of `target`'s endpoints down to zero, `step_pct` per
    /// `step_ms`.
    Drain {
        /// What is drained.
        target: Target,
        /// Percent of the weight removed per step (1 to 100).
        step_pct: u8,
        /// Step length, ms.
        step_ms: u64,
    },
    /// All traffic from `from` to `to` at once, committed after `hold_ms`
    /// unless switched back.
    BlueGreen {
        /// The old version.
        from: String,
        /// The new one.
        to: String,
        /// The hold, ms.
        hold_ms: u64,
    },
    /// A stepped plan gated by an SLO.
    Canary(CanarySpec),
}

impl ShiftKind {
    /// `drain`, `blue_green` or `canary`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Drain { .. } => "drain",
            Self::BlueGreen { .. } => "blue_green",
            Self::Canary(_) => "canary",
        }
    }

    fn validate(&self) -> Result<(), ShiftError> {
        let bad = |m: &str| Err(ShiftError::Invalid(m.to_owned()));
        match self {
            Self::Drain { step_pct, step_ms, .. } => {
                if !(1..=100).contains(step_pct) {
                    return bad("a drain's step_pct must be 1 to 100");
                }
                if !(100..=86_400_000).contains(step_ms) {
                    return bad("a drain's step_ms must be 100 to 86400000");
                }
            }
            Self::BlueGreen { from, to, hold_ms } => {
                if from == to {
                    return bad("a blue/green switch needs two different versions");
                }
                if *hold_ms > 7 * 86_400_000 {
                    return bad("a blue/green hold_ms must be at most 7 days");
                }
            }
            Self::Canary(c) => {
                if c.stable == c.canary {
                    return bad("a canary needs two different versions");
                }
                if c.steps.is_empty() || c.steps.len() > 20 {
                    return bad("a canary needs 1 to 20 steps");
                }
                if c.steps.windows(2).any(|w| w[0] >= w[1]) || c.steps[0] == 0 {
                    return bad("a canary's steps must increase and start above 0");
                }
                if c.steps.last() != Some(&100) {
                    return bad("a canary's last step must be 100");
                }
                if !(100..=86_400_000).contains(&c.step_ms) {
                    return bad("a canary's step_ms must be 100 to 86400000");
                }
                let s = &c.slo;
                if !(0.0..=100.0).contains(&s.max_error_pct) || s.max_error_pct.is_nan() {
                    return bad("a canary's max_error_pct must be 0 to 100");
                }
                if s.max_latency_ms == 0 || s.min_samples == 0 || s.min_samples > 100_000 {
                    return bad(
                        "a canary's max_latency_ms must be above 0 and min_samples 1 to 100000",
                    );
                }
            }
        }
        Ok(())
    }
}

/// Where a shift is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ShiftState {
    /// Moving: at step `step` since `since_ms`.
    Running {
        /// Steps taken (drain), the step index (canary), 0 (blue/green).
        step: usize,
        /// When this step began, Unix ms.
        since_ms: i64,
    },
    /// Held by an operator at `step`.
    Paused {
        /// The step it holds.
        step: usize,
    },
    /// Finished: drained (still in effect), switched, or promoted.
    Done,
    /// Put back on the old version: `reason`.
    RolledBack {
        /// Why.
        reason: String,
    },
    /// Stopped by an operator; nothing of it remains in effect.
    Aborted {
        /// Who.
        by: String,
    },
}

impl ShiftState {
    /// Its name in the API: `running`, `paused`, `done`, `rolled_back`, `aborted`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Running { .. } => "running",
            Self::Paused { .. } => "paused",
            Self::Done => "done",
            Self::RolledBack { .. } => "rolled_back",
            Self::Aborted { .. } => "aborted",
        }
    }

    /// Whether it still changes answers: running or paused, or a finished
    /// drain (which holds its endpoints at zero until aborted).
    pub fn is_active(&self, kind: &ShiftKind) -> bool {
        match self {
            Self::Running { .. } | Self::Paused { .. } => true,
            Self::Done => matches!(kind, ShiftKind::Drain { .. }),
            Self::RolledBack { .. } | Self::Aborted { .. } => false,
        }
    }

    /// The step it is at (running or paused).
    pub fn step(&self) -> Option<usize> {
        match self {
            Self::Running { step, .. } | Self::Paused { step } => Some(*step),
            _ => None,
        }
    }
}

/// An operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftCommand {
    /// Hold a running shift where it is.
    Pause,
    /// Go on from where it was held (the step starts again).
    Resume,
    /// Stop it; nothing of it stays in effect.
    Abort,
    /// A blue/green switch back to the old version, at once.
    SwitchBack,
}

impl ShiftCommand {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Abort => "abort",
            Self::SwitchBack => "switch_back",
        }
    }
}

/// A canary's new version's health checks over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SloSample {
    /// Checks run.
    pub checks: u32,
    /// Checks failed.
    pub errors: u32,
    /// The 99th percentile latency of the checks, ms.
    pub p99_ms: Option<u32>,
}

impl SloSample {
    /// Why it breaches `slo`, if it does (only once `min_samples` checks ran).
    pub fn breach(&self, slo: &SloSpec) -> Option<String> {
        if self.checks < slo.min_samples {
            return None;
        }
        let pct = f64::from(self.errors) * 100.0 / f64::from(self.checks);
        if pct > slo.max_error_pct {
            return Some(format!(
                "error rate {pct:.1} % > {:.1} % ({} of {} checks failed)",
                slo.max_error_pct, self.errors, self.checks
            ));
        }
        match self.p99_ms {
            Some(p99) if p99 > slo.max_latency_ms => Some(format!(
                "p99 latency {p99} ms > {} ms over {} checks",
                slo.max_latency_ms, self.checks
            )),
            _ => None,
        }
    }
}

/// One traffic shift of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// `s1`, `s2`, ...
    pub id: String,
    /// The service it acts on (a drain with none acts on every service).
    pub service: Option<String>,
    /// What it does.
    pub kind: ShiftKind,
    /// Where it is.
    #[serde(flatten)]
    pub state: ShiftState,
    /// Who started it.
    pub actor: String,
    /// When, Unix ms.
    pub created_ms: i64,
    /// (Unix ms, what happened), oldest first.
    pub history: Vec<(i64, String)>,
}

impl Shift {
    /// A new shift, running from `now_ms`.
    pub fn new(
        id: String,
        service: Option<String>,
        kind: ShiftKind,
        actor: &str,
        now_ms: i64,
    ) -> Result<Self, ShiftError> {
        kind.validate()?;
        if service.is_none() && !matches!(kind, ShiftKind::Drain { .. }) {
            return Err(ShiftError::Invalid(format!("a {} shift needs a service", kind.name())));
        }
        let start = match &kind {
            ShiftKind::Drain { target, step_pct, .. } => {
                format!("drain of {target} started: {step_pct} % per step")
            }
            ShiftKind::BlueGreen { from, to, hold_ms } => {
                format!("switched from {from} to {to}; holding {hold_ms} ms")
            }
            ShiftKind::Canary(c) => {
                format!("canary of {} started at {} %", c.canary, c.steps[0])
            }
        };
        let mut s = Self {
            id,
            service,
            kind,
            state: ShiftState::Running { step: 0, since_ms: now_ms },
            actor: actor.to_owned(),
            created_ms: now_ms,
            history: Vec::new(),
        };
        s.log(now_ms, start);
        Ok(s)
    }

    fn log(&mut self, now_ms: i64, line: String) {
        self.history.push((now_ms, line));
        if self.history.len() > MAX_HISTORY {
            self.history.remove(0);
        }
    }

    /// Whether it still changes answers.
    pub fn is_active(&self) -> bool {
        self.state.is_active(&self.kind)
    }

    /// The drain factor in permille (1000: untouched).
    pub fn drain_permille(&self) -> u32 {
        let ShiftKind::Drain { step_pct, .. } = &self.kind else { return 1000 };
        match &self.state {
            ShiftState::Done => 0,
            ShiftState::Running { step, .. } | ShiftState::Paused { step } => {
                1000u32.saturating_sub((*step as u32).saturating_mul(u32::from(*step_pct) * 10))
            }
            _ => 1000,
        }
    }

    /// The new version's share in permille, for a canary or blue/green
    /// that is running or paused.
    pub fn share_permille(&self) -> Option<u16> {
        let step = self.state.step()?;
        match &self.kind {
            ShiftKind::Canary(c) => c.steps.get(step).map(|p| u16::from(*p) * 10),
            ShiftKind::BlueGreen { .. } => Some(1000),
            ShiftKind::Drain { .. } => None,
        }
    }

    /// When this shift wants its next [`tick`](Self::tick), Unix ms.
    pub fn next_tick_ms(&self) -> Option<i64> {
        let ShiftState::Running { since_ms, .. } = self.state else { return None };
        let len = match &self.kind {
            ShiftKind::Drain { step_ms, .. } => *step_ms,
            ShiftKind::BlueGreen { hold_ms, .. } => *hold_ms,
            ShiftKind::Canary(c) => c.step_ms,
        };
        Some(since_ms.saturating_add(i64::try_from(len).unwrap_or(i64::MAX)))
    }

    /// The start of the current step's SLO window, for a running canary.
    pub fn window_start_ms(&self) -> Option<i64> {
        match (&self.kind, &self.state) {
            (ShiftKind::Canary(_), ShiftState::Running { since_ms, .. }) => Some(*since_ms),
            _ => None,
        }
    }

    /// Advances with the time and (for a canary) the new version's checks
    /// since the step began; `true` when it changed.
    pub fn tick(&mut self, now_ms: i64, sample: Option<SloSample>) -> bool {
        let ShiftState::Running { step, .. } = self.state else { return false };
        // A canary is judged on every tick, not only at the end of a step.
        if let ShiftKind::Canary(c) = &self.kind
            && let Some(why) = sample.and_then(|s| s.breach(&c.slo))
        {
            let line = format!("rolled back at {} %: {why}", c.steps[step]);
            self.state = ShiftState::RolledBack { reason: why };
            self.log(now_ms, line);
            return true;
        }
        if self.next_tick_ms().is_some_and(|due| now_ms < due) {
            return false;
        }
        match &self.kind {
            ShiftKind::Drain { step_pct, .. } => {
                let taken = step + 1;
                if taken * usize::from(*step_pct) >= 100 {
                    self.state = ShiftState::Done;
                    self.log(
                        now_ms,
                        "drained: weight 0 (the last healthy endpoint keeps a floor)".into(),
                    );
                } else {
                    self.state = ShiftState::Running { step: taken, since_ms: now_ms };
                    let left = 100 - taken * usize::from(*step_pct);
                    self.log(now_ms, format!("weight at {left} %"));
                }
            }
            ShiftKind::BlueGreen { to, .. } => {
                let line = format!("hold passed: {to} committed");
                self.state = ShiftState::Done;
                self.log(now_ms, line);
            }
            ShiftKind::Canary(c) => {
                let s = sample.unwrap_or_default();
                if s.checks < c.slo.min_samples {
                    let line = format!(
                        "step at {} % waits: {} of {} checks needed so far",
                        c.steps[step], s.checks, c.slo.min_samples
                    );
                    // Log a wait once per step, not on every tick.
                    if self.history.last().is_none_or(|(_, l)| *l != line) {
                        self.log(now_ms, line);
                        return true;
                    }
                    return false;
                }
                if step + 1 == c.steps.len() {
                    let line = format!("{} at 100 % held its SLO: committed", c.canary);
                    self.state = ShiftState::Done;
                    self.log(now_ms, line);
                } else {
                    let line = format!(
                        "{} % held its SLO ({} checks, {} failed): now {} %",
                        c.steps[step],
                        s.checks,
                        s.errors,
                        c.steps[step + 1]
                    );
                    self.state = ShiftState::Running { step: step + 1, since_ms: now_ms };
                    self.log(now_ms, line);
                }
            }
        }
        true
    }

    /// Applies an operator's command.
    pub fn command(
        &mut self,
        cmd: ShiftCommand,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), ShiftError> {
        let wrong = |s: &Self| ShiftError::WrongState {
            id: s.id.clone(),
            state: s.state.name(),
            command: cmd.name(),
        };
        match cmd {
            ShiftCommand::Pause => {
                let ShiftState::Running { step, .. } = self.state else { return Err(wrong(self)) };
                self.state = ShiftState::Paused { step };
                self.log(now_ms, format!("paused by {actor}"));
            }
            ShiftCommand::Resume => {
                let ShiftState::Paused { step } = self.state else { return Err(wrong(self)) };
                self.state = ShiftState::Running { step, since_ms: now_ms };
                self.log(now_ms, format!("resumed by {actor}"));
            }
            ShiftCommand::Abort => {
                if !self.is_active() {
                    return Err(wrong(self));
                }
                self.state = ShiftState::Aborted { by: actor.to_owned() };
                self.log(now_ms, format!("aborted by {actor}"));
            }
            ShiftCommand::SwitchBack => {
                let ShiftKind::BlueGreen { from, .. } = &self.kind else { return Err(wrong(self)) };
                if self.state.step().is_none() {
                    return Err(wrong(self));
                }
                let reason = format!("switched back to {from} by {actor}");
                self.state = ShiftState::RolledBack { reason: reason.clone() };
                self.log(now_ms, reason);
            }
        }
        Ok(())
    }

    /// The version the service should serve once this shift finished, if
    /// it decides one: the new one when done, the old one otherwise.
    pub fn outcome_version(&self) -> Option<&str> {
        let (old, new) = match &self.kind {
            ShiftKind::Drain { .. } => return None,
            ShiftKind::BlueGreen { from, to, .. } => (from, to),
            ShiftKind::Canary(c) => (&c.stable, &c.canary),
        };
        match self.state {
            ShiftState::Done => Some(new),
            ShiftState::RolledBack { .. } | ShiftState::Aborted { .. } => Some(old),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary() -> Shift {
        let spec = CanarySpec {
            stable: "v1".into(),
            canary: "v2".into(),
            steps: vec![5, 25, 50, 100],
            step_ms: 10_000,
            slo: SloSpec { max_error_pct: 5.0, max_latency_ms: 300, min_samples: 5 },
        };
        Shift::new("s1".into(), Some("app".into()), ShiftKind::Canary(spec), "op", 0).unwrap()
    }

    #[allow(clippy::unnecessary_wraps)]
    fn ok(checks: u32) -> Option<SloSample> {
        Some(SloSample { checks, errors: 0, p99_ms: Some(20) })
    }

    #[test]
    fn a_healthy_canary_walks_every_step_to_done() {
        let mut s = canary();
        assert_eq!(s.share_permille(), Some(50));
        assert!(!s.tick(5_000, ok(10)), "no step before its time");
        for (t, share) in [(10_000, Some(250)), (20_000, Some(500)), (30_000, Some(1000))] {
            assert!(s.tick(t, ok(10)));
            assert_eq!(s.share_permille(), share);
        }
        assert!(s.tick(40_000, ok(10)));
        assert_eq!(s.state, ShiftState::Done);
        assert_eq!(s.outcome_version(), Some("v2"));
    }

    #[test]
    fn a_canary_that_fails_its_checks_rolls_back_with_the_reason() {
        let mut s = canary();
        assert!(s.tick(10_000, ok(10)));
        assert!(s.tick(12_000, Some(SloSample { checks: 6, errors: 3, p99_ms: Some(20) })));
        let ShiftState::RolledBack { reason } = &s.state else { panic!("{:?}", s.state) };
        assert!(reason.contains("error rate 50.0 %"), "{reason}");
        assert_eq!(s.outcome_version(), Some("v1"));
        assert!(!s.is_active());
        assert!(s.history.last().unwrap().1.contains("rolled back at 25 %"));
    }

    #[test]
    fn a_slow_canary_rolls_back_on_latency() {
        let mut s = canary();
        assert!(s.tick(1_000, Some(SloSample { checks: 5, errors: 0, p99_ms: Some(450) })));
        let ShiftState::RolledBack { reason } = &s.state else { panic!() };
        assert!(reason.contains("p99 latency 450 ms > 300 ms"), "{reason}");
    }

    #[test]
    fn too_few_samples_neither_advance_nor_judge() {
        let mut s = canary();
        assert!(!s.tick(1_000, Some(SloSample { checks: 4, errors: 4, p99_ms: None })));
        assert!(s.tick(10_000, ok(3)), "the wait is logged once");
        assert!(!s.tick(11_000, ok(3)));
        assert_eq!(s.share_permille(), Some(50));
        assert!(s.tick(12_000, ok(5)));
        assert_eq!(s.share_permille(), Some(250));
    }

    #[test]
    fn pause_holds_the_share_and_resume_restarts_the_step() {
        let mut s = canary();
        s.command(ShiftCommand::Pause, "op", 1_000).unwrap();
        assert!(!s.tick(50_000, ok(10)));
        assert_eq!(s.share_permille(), Some(50));
        s.command(ShiftCommand::Resume, "op", 50_000).unwrap();
        assert!(!s.tick(55_000, ok(10)));
        assert!(s.tick(60_000, ok(10)));
        assert_eq!(s.share_permille(), Some(250));
        assert!(s.command(ShiftCommand::Resume, "op", 60_000).is_err());
        assert!(s.command(ShiftCommand::SwitchBack, "op", 60_000).is_err());
    }

    #[test]
    fn a_drain_steps_down_to_zero_and_stays_until_aborted() {
        let kind =
            ShiftKind::Drain { target: Target::Site("a".into()), step_pct: 50, step_ms: 1_000 };
        let mut s = Shift::new("s1".into(), None, kind, "op", 0).unwrap();
        assert_eq!(s.drain_permille(), 1000);
        assert!(s.tick(1_000, None));
        assert_eq!(s.drain_permille(), 500);
        assert!(s.tick(2_000, None));
        assert_eq!(s.state, ShiftState::Done);
        assert_eq!(s.drain_permille(), 0);
        assert!(s.is_active());
        s.command(ShiftCommand::Abort, "op", 3_000).unwrap();
        assert_eq!(s.drain_permille(), 1000);
        assert!(!s.is_active());
    }

    #[test]
    fn blue_green_switches_at_once_holds_and_switches_back_instantly() {
        let kind = ShiftKind::BlueGreen { from: "blue".into(), to: "green".into(), hold_ms: 5_000 };
        let mut s = Shift::new("s1".into(), Some("app".into()), kind.clone(), "op", 0).unwrap();
        assert_eq!(s.share_permille(), Some(1000));
        s.command(ShiftCommand::SwitchBack, "op", 1_000).unwrap();
        assert_eq!(s.outcome_version(), Some("blue"));
        assert_eq!(s.share_permille(), None);
        let mut s = Shift::new("s2".into(), Some("app".into()), kind, "op", 0).unwrap();
        assert!(s.tick(5_000, None));
        assert_eq!(s.outcome_version(), Some("green"));
    }

    #[test]
    fn bad_plans_are_refused() {
        let bad = |steps: Vec<u8>| {
            let spec = CanarySpec {
                stable: "v1".into(),
                canary: "v2".into(),
                steps,
                step_ms: 1_000,
                slo: SloSpec { max_error_pct: 1.0, max_latency_ms: 100, min_samples: 1 },
            };
            Shift::new("s".into(), Some("app".into()), ShiftKind::Canary(spec), "op", 0).is_err()
        };
        assert!(bad(vec![]));
        assert!(bad(vec![50, 25, 100]));
        assert!(bad(vec![5, 50]));
        assert!(!bad(vec![5, 25, 50, 100]));
        let kind = ShiftKind::BlueGreen { from: "a".into(), to: "b".into(), hold_ms: 0 };
        assert!(Shift::new("s".into(), None, kind, "op", 0).is_err(), "a switch needs a service");
    }
}
