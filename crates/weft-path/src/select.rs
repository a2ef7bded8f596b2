//! Choosing a path for a flow among one peer's paths.
//!
//! [`select`] is a pure function: given the candidate paths (state, quality,
//! attributes, load, hold-down), a [`SelectionPolicy`] and the flow's hash, it
//! returns a [`Choice`]. It allocates nothing, so it can run for every new flow.
//!
//! The rules, in order:
//! 1. A path is **eligible** when it is alive (Up or Degraded), not excluded by
//!    the policy, and meets the class's SLA.
//! 2. Eligible paths still inside their failback **hold-down** take no flows —
//!    unless no other eligible path exists (a recovering path beats none).
//! 3. If no path is eligible, the policy's [`Fallback`] decides: the best of the
//!    alive paths ignoring the SLA, or no path (strict drop).
//! 4. Among the pool, the [`LoadBalance`] mode picks: active-backup takes the
//!    best by (priority, score) but keeps an incumbent of equal priority unless
//!    the challenger's score is better by the failback margin; flow-hash uses
//!    rendezvous hashing (sticky per 5-tuple, minimal movement when the set
//!    changes); weighted shares new flows by available bandwidth; least-loaded
//!    puts new flows where the load per capacity is lowest. Weighted and
//!    least-loaded keep a flow on its incumbent path while it stays in the pool.

use serde::Serialize;
use weft_types::flow::mix64;
use weft_types::{PathId, UplinkId};

use crate::metrics::{PathAttrs, Quality};
use crate::preference::PathPreference;
use crate::sla::{SlaClass, SlaLimits};
use crate::state::{Breach, PathState};

/// How flows of one class spread over the eligible paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalance {
    /// All flows on the best path; the others are hot standbys.
    ActiveBackup,
    /// New flows shared in proportion to available bandwidth.
    Weighted,
    /// Each 5-tuple hashed to a path (rendezvous hashing).
    FlowHash,
    /// New flows to the path with the lowest load per capacity.
    LeastLoaded,
}

/// What to do when no path meets the class's SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    /// Use the best alive path anyway.
    BestOfTheBad,
    /// Send nothing: the flow is dropped until a path qualifies.
    StrictDrop,
}

/// Everything selection needs to know about a class of flows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectionPolicy {
    /// Name shown in decisions (`voip`, `backup`, …).
    pub name: String,
    /// The SLA paths must meet.
    pub sla: SlaClass,
    /// How to rank eligible paths.
    pub preference: PathPreference,
    /// How to spread flows.
    pub balance: LoadBalance,
    /// What to do when no path meets the SLA.
    pub fallback: Fallback,
    /// Uplinks never used for this class, not even as a fallback.
    pub exclude_uplinks: Vec<UplinkId>,
    /// Uplinks preferred over all others (they rank ahead of any priority).
    pub prefer_uplinks: Vec<UplinkId>,
    /// Never use metered uplinks for this class.
    pub avoid_metered: bool,
    /// While flows of this class are active towards a peer, probe that peer's
    /// paths at least this often (never faster than the engine's `min_interval`).
    /// Realtime defaults to 20 ms: spotting a 5 % brownout within 2 s takes
    /// about a hundred probe outcomes.
    pub probe_interval: Option<std::time::Duration>,
}

impl SelectionPolicy {
    /// A policy for `sla` with a matching default preference, active-backup,
    /// best-of-the-bad and no uplink rules.
    pub fn for_class(sla: SlaClass) -> Self {
        let preference = match sla.name.as_str() {
            "realtime" | "interactive" => PathPreference::LATENCY_SENSITIVE,
            "bulk" => PathPreference::THROUGHPUT_FOCUSED,
            _ => PathPreference::LowestLatency,
        };
        let probe_interval = (sla.name == "realtime").then(|| std::time::Duration::from_millis(20));
        Self {
            name: sla.name.clone(),
            probe_interval,
            sla,
            preference,
            balance: LoadBalance::ActiveBackup,
            fallback: Fallback::BestOfTheBad,
            exclude_uplinks: Vec::new(),
            prefer_uplinks: Vec::new(),
            avoid_metered: false,
        }
    }

    fn excludes(&self, c: &Candidate) -> bool {
        (self.avoid_metered && c.attrs.metered) || self.exclude_uplinks.contains(&c.uplink)
    }

    fn rank(&self, c: &Candidate) -> u16 {
        if self.prefer_uplinks.contains(&c.uplink) { 0 } else { 1 + u16::from(c.attrs.priority) }
    }
}

/// One path as selection sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The path.
    pub path: PathId,
    /// Its local uplink.
    pub uplink: UplinkId,
    /// Its liveness state.
    pub state: PathState,
    /// Its measured quality.
    pub quality: Quality,
    /// Its static attributes.
    pub attrs: PathAttrs,
    /// What Weft sends on it now, bits per second.
    pub tx_bps: f64,
    /// Flows pinned to it now.
    pub flows: u32,
    /// Eligible again after a failure, but its hold-down has not yet passed.
    pub held_down: bool,
}

/// Why a candidate is or is not in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Verdict {
    /// Eligible and past any hold-down.
    Usable,
    /// Eligible but inside its failback hold-down.
    HeldDown,
    /// Alive but misses the SLA.
    MissesSla(Breach),
    /// Not alive.
    NotAlive {
        /// Its state.
        state: PathState,
    },
    /// Excluded by the policy (uplink rule or metered).
    Excluded,
}

/// Which pool the choice came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Among paths that meet the SLA and are past their hold-down.
    Sla,
    /// Only paths still in hold-down met the SLA; one was used anyway.
    HeldDownOnly,
    /// No path met the SLA; the best alive path was used (best of the bad).
    BestOfTheBad,
    /// No path met the SLA and the policy is strict: nothing was chosen.
    StrictDrop,
    /// No path is alive at all.
    NoAlivePath,
}

/// The rule that picked the path within its pool.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Rule {
    /// The best by (priority, score).
    Best,
    /// The incumbent was kept: the best challenger was not better by the margin.
    KeptIncumbent {
        /// The best challenger.
        challenger: PathId,
        /// How much better its score was, as a fraction.
        improvement: f64,
    },
    /// The flow stays on its incumbent path (weighted, least-loaded).
    Sticky,
    /// Rendezvous hash of the flow.
    Hashed,
    /// Weighted share by available bandwidth.
    WeightedShare,
    /// Lowest load per capacity.
    LeastLoaded,
    /// Nothing was chosen.
    None,
}

/// The outcome of [`select`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Choice {
    /// The chosen path, if any.
    pub path: Option<PathId>,
    /// Which pool it came from.
    pub basis: Basis,
    /// Which rule picked it.
    pub rule: Rule,
}

/// Classifies one candidate under `policy`.
pub fn verdict(policy: &SelectionPolicy, c: &Candidate) -> Verdict {
    verdict_with(policy, &policy.sla.limits(), c)
}

#[inline]
fn verdict_with(policy: &SelectionPolicy, limits: &SlaLimits, c: &Candidate) -> Verdict {
    if policy.excludes(c) {
        Verdict::Excluded
    } else if !c.state.is_alive() {
        Verdict::NotAlive { state: c.state }
    } else if let Err(b) = limits.check(&c.quality) {
        Verdict::MissesSla(b)
    } else if c.held_down {
        Verdict::HeldDown
    } else {
        Verdict::Usable
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Pool {
    Usable,
    Eligible,
    Alive,
}

fn in_pool(pool: Pool, v: Verdict) -> bool {
    match pool {
        Pool::Usable => matches!(v, Verdict::Usable),
        Pool::Eligible => matches!(v, Verdict::Usable | Verdict::HeldDown),
        Pool::Alive => matches!(v, Verdict::Usable | Verdict::HeldDown | Verdict::MissesSla(_)),
    }
}

/// Chooses a path for a flow. `incumbent` is the flow's current path (or, for
/// active-backup, the class's current primary); `margin` is the failback margin.
pub fn select(
    candidates: &[Candidate],
    policy: &SelectionPolicy,
    flow_hash: u64,
    incumbent: Option<PathId>,
    margin: f64,
) -> Choice {
    if policy.balance == LoadBalance::ActiveBackup {
        return active_backup(candidates, policy, incumbent, margin);
    }
    let limits = policy.sla.limits();
    // Hold-down keeps new flows off a recovering path, never flows already on it.
    let verdict = |c: &Candidate| match verdict_with(policy, &limits, c) {
        Verdict::HeldDown if incumbent == Some(c.path) => Verdict::Usable,
        v => v,
    };
    let (mut usable, mut eligible, mut alive) = (0usize, 0usize, 0usize);
    for c in candidates {
        match verdict(c) {
            Verdict::Usable => usable += 1,
            Verdict::HeldDown => eligible += 1,
            Verdict::MissesSla(_) => alive += 1,
            _ => {}
        }
    }
    let (pool, basis) = if usable > 0 {
        (Pool::Usable, Basis::Sla)
    } else if eligible > 0 {
        (Pool::Eligible, Basis::HeldDownOnly)
    } else if alive == 0 {
        return Choice { path: None, basis: Basis::NoAlivePath, rule: Rule::None };
    } else if policy.fallback == Fallback::StrictDrop {
        return Choice { path: None, basis: Basis::StrictDrop, rule: Rule::None };
    } else {
        (Pool::Alive, Basis::BestOfTheBad)
    };
    let member = |c: &&Candidate| in_pool(pool, verdict(c));
    let incumbent = incumbent.and_then(|p| candidates.iter().filter(member).find(|c| c.path == p));
    let (path, rule) = match policy.balance {
        LoadBalance::ActiveBackup => unreachable!("handled above"),
        LoadBalance::FlowHash => {
            let best = candidates
                .iter()
                .filter(member)
                .max_by_key(|c| mix64(flow_hash ^ mix64(u64::from(c.path.0))));
            (best.map(|c| c.path), Rule::Hashed)
        }
        LoadBalance::Weighted => match incumbent {
            Some(c) => (Some(c.path), Rule::Sticky),
            None => (weighted_share(candidates, &member, flow_hash), Rule::WeightedShare),
        },
        LoadBalance::LeastLoaded => {
            if let Some(c) = incumbent {
                (Some(c.path), Rule::Sticky)
            } else {
                let load = |c: &Candidate| {
                    let cap = (c.attrs.capacity.bps() as f64).max(1.0);
                    c.tx_bps / cap + f64::from(c.flows) * 1e6 / cap
                };
                let best =
                    candidates.iter().filter(member).min_by(|a, b| load(a).total_cmp(&load(b)));
                (best.map(|c| c.path), Rule::LeastLoaded)
            }
        }
    };
    Choice { path, basis, rule }
}

/// Pool level of a verdict: 0 usable, 1 held down, 2 misses the SLA.
fn level(v: Verdict) -> Option<usize> {
    match v {
        Verdict::Usable => Some(0),
        Verdict::HeldDown => Some(1),
        Verdict::MissesSla(_) => Some(2),
        Verdict::NotAlive { .. } | Verdict::Excluded => None,
    }
}

#[derive(Clone, Copy)]
struct Ranked {
    path: PathId,
    rank: u16,
    score: f64,
}

impl Ranked {
    #[inline]
    fn beats(&self, other: &Ranked) -> bool {
        (self.rank, self.score, self.path) < (other.rank, other.score, other.path)
    }
}

/// The best candidate whose pool level is at most `max_level`, and the
/// incumbent if it is in that pool. Only pool members are scored.
#[inline]
fn best_in_pool(
    candidates: &[Candidate],
    policy: &SelectionPolicy,
    limits: &SlaLimits,
    max_level: usize,
    incumbent: Option<PathId>,
) -> (Option<Ranked>, Option<Ranked>, [bool; 3]) {
    let mut best: Option<Ranked> = None;
    let mut inc = None;
    let mut seen = [false; 3];
    for c in candidates {
        let Some(mut level) = level(verdict_with(policy, limits, c)) else { continue };
        if level == 1 && incumbent == Some(c.path) {
            // Hold-down keeps new flows off a recovering path; it never pushes
            // flows that are already there off it.
            level = 0;
        }
        seen[level] = true;
        if level > max_level {
            continue;
        }
        let r = Ranked {
            path: c.path,
            rank: policy.rank(c),
            score: policy.preference.score(&c.quality, &c.attrs, c.tx_bps),
        };
        if best.as_ref().is_none_or(|b| r.beats(b)) {
            best = Some(r);
        }
        if incumbent == Some(c.path) {
            inc = Some(r);
        }
    }
    (best, inc, seen)
}

/// Active-backup: the best usable path by (priority, score), keeping an
/// incumbent of equal priority unless beaten by the margin. The common case
/// (some path is usable) is one pass that scores only usable paths.
fn active_backup(
    candidates: &[Candidate],
    policy: &SelectionPolicy,
    incumbent: Option<PathId>,
    margin: f64,
) -> Choice {
    let limits = policy.sla.limits();
    let (mut top, mut inc, seen) = best_in_pool(candidates, policy, &limits, 0, incumbent);
    let basis = if top.is_some() {
        Basis::Sla
    } else if seen[1] {
        (top, inc, _) = best_in_pool(candidates, policy, &limits, 1, incumbent);
        Basis::HeldDownOnly
    } else if !seen[2] {
        return Choice { path: None, basis: Basis::NoAlivePath, rule: Rule::None };
    } else if policy.fallback == Fallback::StrictDrop {
        return Choice { path: None, basis: Basis::StrictDrop, rule: Rule::None };
    } else {
        (top, inc, _) = best_in_pool(candidates, policy, &limits, 2, incumbent);
        Basis::BestOfTheBad
    };
    let Some(top) = top else { return Choice { path: None, basis, rule: Rule::None } };
    if let Some(inc) = inc.filter(|i| i.path != top.path && i.rank == top.rank) {
        let improvement = if inc.score > 0.0 { (inc.score - top.score) / inc.score } else { 0.0 };
        if improvement < margin || inc.score - top.score < policy.preference.min_gain() {
            return Choice {
                path: Some(inc.path),
                basis,
                rule: Rule::KeptIncumbent { challenger: top.path, improvement },
            };
        }
    }
    Choice { path: Some(top.path), basis, rule: Rule::Best }
}

fn weighted_share(
    candidates: &[Candidate],
    member: &impl Fn(&&Candidate) -> bool,
    flow_hash: u64,
) -> Option<PathId> {
    let avail = |c: &Candidate| ((c.attrs.capacity.bps() as f64 - c.tx_bps) / 1e6).max(0.1);
    let total: f64 = candidates.iter().filter(member).map(avail).sum();
    let mut target = (mix64(flow_hash) >> 11) as f64 / (1u64 << 53) as f64 * total;
    let mut last = None;
    for c in candidates.iter().filter(member) {
        last = Some(c.path);
        target -= avail(c);
        if target < 0.0 {
            return Some(c.path);
        }
    }
    last
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
