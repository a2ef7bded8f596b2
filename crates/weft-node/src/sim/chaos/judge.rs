//! Assertions judged against a run: some at an instant (reachability), some
//! by a deadline (convergence), the rest over the whole run (gaps, deaths,
//! relays, path changes).

use std::fmt::Write as _;
use std::time::Duration;

use weft_chaos::{AssertionKind, AssertionOutcome, Scenario, TrafficClass, format_duration};

use super::plan::SiteIndex;
use crate::sim::fabric::{ControlStats, FabricSim};

/// How far back a retirement may be explained by a fault (grace, suspicion
/// and the node's own checks all fit well within it).
const DEATH_WINDOW: Duration = Duration::from_mins(1);

/// An assertion's state while the run goes on.
#[derive(Debug, Clone)]
enum Pending {
    /// Judged at the end.
    AtEnd,
    /// Reachability at an instant: the outcome once taken.
    Instant { at: Duration, outcome: Option<(bool, String)> },
    /// Convergence from `from` until `until`: when it was first seen.
    Converge { from: Duration, until: Duration, seen: Option<Duration>, last_bad: String },
}

pub(super) struct Judge<'a> {
    sc: &'a Scenario,
    sites: &'a SiteIndex,
    pending: Vec<Pending>,
}

fn outcome(
    name: &str,
    kind: &str,
    passed: bool,
    measured: Option<String>,
    limit: Option<String>,
    message: String,
) -> AssertionOutcome {
    AssertionOutcome {
        name: name.to_owned(),
        kind: kind.to_owned(),
        passed,
        measured,
        limit,
        message,
    }
}

impl<'a> Judge<'a> {
    pub(super) fn new(sc: &'a Scenario, sites: &'a SiteIndex) -> Self {
        let pending = sc
            .assertions
            .iter()
            .map(|a| match &a.kind {
                AssertionKind::Reachability(r) => Pending::Instant { at: r.at, outcome: None },
                AssertionKind::ConvergedWithin { after, within } => Pending::Converge {
                    from: after.at,
                    until: after.at + *within,
                    seen: None,
                    last_bad: String::new(),
                },
                _ => Pending::AtEnd,
            })
            .collect();
        Self { sc, sites, pending }
    }

    /// The next instant after `t` a check must run at.
    pub(super) fn next_instant(&self, t: Duration) -> Option<Duration> {
        self.pending
            .iter()
            .filter_map(|p| match p {
                Pending::Instant { at, outcome: None } if *at > t => Some(*at),
                Pending::Converge { from, seen: None, .. } if *from > t => Some(*from),
                _ => None,
            })
            .min()
    }

    /// Checks what is due at `t`.
    pub(super) fn at(&mut self, sim: &FabricSim, now: Duration) {
        for (i, pending) in self.pending.iter_mut().enumerate() {
            match pending {
                Pending::Instant { at, outcome } if outcome.is_none() && now >= *at => {
                    let AssertionKind::Reachability(reach) = &self.sc.assertions[i].kind else {
                        continue;
                    };
                    let mut wrong = Vec::new();
                    for (site_a, site_b) in reach.expect.keys() {
                        let (x, y) = (self.sites[site_a], self.sites[site_b]);
                        let both = sim.reachable(x, y) && sim.reachable(y, x);
                        let either = sim.reachable(x, y) || sim.reachable(y, x);
                        let want = reach.expect[&(site_a.clone(), site_b.clone())];
                        if (want && !both) || (!want && either) {
                            let what = if want { "cannot reach" } else { "still reaches" };
                            let why = if wrong.is_empty() {
                                let (p, q) =
                                    if sim.reachable(x, y) == want { (y, x) } else { (x, y) };
                                format!(" ({})", sim.explain_pair(p, q))
                            } else {
                                String::new()
                            };
                            wrong.push(format!("{site_a} {what} {site_b}{why}"));
                        }
                    }
                    let msg = if wrong.is_empty() {
                        format!(
                            "all {} pairs as expected at {}",
                            reach.expect.len(),
                            format_duration(*at)
                        )
                    } else {
                        let more = wrong.len().saturating_sub(5);
                        wrong.truncate(5);
                        let tail =
                            if more > 0 { format!(" and {more} more") } else { String::new() };
                        format!("at {}: {}{tail}", format_duration(*at), wrong.join(", "))
                    };
                    *outcome = Some((msg.starts_with("all "), msg));
                }
                Pending::Converge { from, until, seen, last_bad }
                    if seen.is_none() && now >= *from && now <= *until =>
                {
                    let bad = sim.unconverged_pairs(3);
                    if bad.is_empty() {
                        *seen = Some(now);
                    } else {
                        let names: Vec<String> = bad
                            .iter()
                            .map(|(a, b)| {
                                format!("{}→{}", sites_name(self.sc, *a), sites_name(self.sc, *b))
                            })
                            .collect();
                        let (a, b) = bad[0];
                        *last_bad =
                            format!("{} (first: {})", names.join(", "), sim.explain_pair(a, b));
                    }
                }
                _ => {}
            }
        }
    }

    /// Every assertion's outcome, in file order.
    pub(super) fn finish(self, sim: &FabricSim, flows: &[Option<usize>]) -> Vec<AssertionOutcome> {
        let mut out = Vec::new();
        for (a, p) in self.sc.assertions.iter().zip(&self.pending) {
            let kind = a.kind.as_str();
            let o = match (&a.kind, p) {
                (AssertionKind::Reachability(_), Pending::Instant { outcome, .. }) => {
                    let (ok, msg) = outcome
                        .clone()
                        .unwrap_or((false, "never checked: the run ended first".into()));
                    outcome_plain(&a.name, kind, ok, msg)
                }
                (
                    AssertionKind::ConvergedWithin { within, .. },
                    Pending::Converge { from, seen, last_bad, .. },
                ) => match seen {
                    Some(at) => outcome(
                        &a.name,
                        kind,
                        true,
                        Some(format_duration(at.saturating_sub(*from))),
                        Some(format_duration(*within)),
                        format!(
                            "converged {} after {}",
                            format_duration(at.saturating_sub(*from)),
                            format_duration(*from)
                        ),
                    ),
                    None => outcome(
                        &a.name,
                        kind,
                        false,
                        None,
                        Some(format_duration(*within)),
                        format!(
                            "not converged {} after {}: {last_bad}",
                            format_duration(*within),
                            format_duration(*from)
                        ),
                    ),
                },
                (AssertionKind::MaxFailoverGap { class, flow, max }, _) => {
                    self.gap(sim, flows, &a.name, *class, flow.as_deref(), *max)
                }
                (AssertionKind::NoFalseDeaths, _) => {
                    let false_deaths = sim.false_deaths(DEATH_WINDOW);
                    let msg = match false_deaths.first() {
                        None => format!(
                            "{} retirements, all explained by faults ({} SWIM deaths seen)",
                            sim.deaths().len(),
                            sim.swim_deaths()
                        ),
                        Some(d) => format!(
                            "{} retired {} ({}) at {} with no fault between them; {} such",
                            sites_name(self.sc, d.observer),
                            d.subject,
                            d.reason,
                            format_duration(d.at),
                            false_deaths.len()
                        ),
                    };
                    outcome(
                        &a.name,
                        kind,
                        false_deaths.is_empty(),
                        Some(false_deaths.len().to_string()),
                        Some("0".into()),
                        msg,
                    )
                }
                (AssertionKind::RelayIffDirectDown { flow, tolerance }, _) => {
                    self.relay(sim, flows, &a.name, flow.as_deref(), *tolerance)
                }
                (AssertionKind::MaxPathChanges { flow, max, window }, _) => {
                    self.changes(sim, flows, &a.name, flow.as_deref(), *max, *window)
                }
                (AssertionKind::MaxLeaderGap { max }, _) => {
                    leader_gap(sim.control().as_ref(), &a.name, *max)
                }
                (AssertionKind::SingleLeader, _) => single_leader(sim.control().as_ref(), &a.name),
                _ => outcome_plain(&a.name, kind, false, "internal: assertion not judged".into()),
            };
            out.push(o);
        }
        out
    }

    /// The scenario's flows an assertion covers, with their sim indices.
    fn selected(
        &self,
        flows: &[Option<usize>],
        class: Option<TrafficClass>,
        name: Option<&str>,
    ) -> Vec<(String, usize, usize, usize)> {
        self.sc
            .flows
            .iter()
            .zip(flows)
            .filter(|(f, _)| name.is_none_or(|n| f.name == n) && class.is_none_or(|c| f.class == c))
            .filter_map(|(f, id)| {
                id.map(|id| (f.name.clone(), id, self.sites[&f.from], self.sites[&f.to]))
            })
            .collect()
    }

    fn gap(
        &self,
        sim: &FabricSim,
        flows: &[Option<usize>],
        name: &str,
        class: Option<TrafficClass>,
        flow: Option<&str>,
        max: Duration,
    ) -> AssertionOutcome {
        let kind = "max-failover-gap";
        let mut worst: Option<(Duration, String)> = None;
        for (fname, id, from, to) in self.selected(flows, class, flow) {
            let s = sim.flow(id);
            if s.delivered == 0 {
                return outcome(
                    name,
                    kind,
                    false,
                    None,
                    Some(format_duration(max)),
                    format!("flow {fname} delivered nothing ({} sent)", s.sent),
                );
            }
            // Gaps while the ends were kept apart by the faults do not count.
            for (start, len) in &s.gaps {
                if sim_apart(sim, from, to, *start, *start + *len) {
                    continue;
                }
                if worst.as_ref().is_none_or(|(w, _)| len > w) {
                    worst = Some((
                        *len,
                        format!(
                            "flow {fname} went {} without a packet from {}",
                            format_duration(*len),
                            format_duration(*start)
                        ),
                    ));
                }
            }
            if worst.is_none() {
                worst = Some((
                    s.max_gap.min(Duration::from_millis(99)),
                    format!("flow {fname}: no gap over 100ms"),
                ));
            }
        }
        let Some((w, msg)) = worst else {
            return outcome_plain(name, kind, false, "no flow matches".into());
        };
        outcome(name, kind, w <= max, Some(format_duration(w)), Some(format_duration(max)), msg)
    }

    fn relay(
        &self,
        sim: &FabricSim,
        flows: &[Option<usize>],
        name: &str,
        flow: Option<&str>,
        tolerance: Duration,
    ) -> AssertionOutcome {
        let kind = "relay-iff-direct-down";
        let mut worst = (Duration::ZERO, "never relayed needlessly, never stranded".to_owned());
        for (fname, id, _, _) in self.selected(flows, None, flow) {
            let s = sim.flow(id);
            if s.relayed_while_direct > worst.0 {
                worst = (
                    s.relayed_while_direct,
                    format!(
                        "flow {fname} relayed for {} while a direct path worked",
                        format_duration(s.relayed_while_direct)
                    ),
                );
            }
            if s.direct_down_not_relayed > worst.0 {
                worst = (
                    s.direct_down_not_relayed,
                    format!(
                        "flow {fname} not relayed for {} while every direct path was down",
                        format_duration(s.direct_down_not_relayed)
                    ),
                );
            }
        }
        outcome(
            name,
            kind,
            worst.0 <= tolerance,
            Some(format_duration(worst.0)),
            Some(format_duration(tolerance)),
            worst.1,
        )
    }

    fn changes(
        &self,
        sim: &FabricSim,
        flows: &[Option<usize>],
        name: &str,
        flow: Option<&str>,
        max: u32,
        window: Duration,
    ) -> AssertionOutcome {
        let kind = "max-path-changes";
        let mut worst = (0u32, "no path changes".to_owned());
        for (fname, id, _, _) in self.selected(flows, None, flow) {
            let times = sim.flow(id).change_times;
            let mut lo = 0;
            for hi in 0..times.len() {
                while times[hi].saturating_sub(times[lo]) > window {
                    lo += 1;
                }
                let n = (hi - lo + 1) as u32;
                if n > worst.0 {
                    let at: Vec<String> =
                        times[lo..=hi].iter().map(|t| format_duration(*t)).collect();
                    worst = (
                        n,
                        format!(
                            "flow {fname} changed path {n} times within {} (at {})",
                            format_duration(window),
                            at.join(", ")
                        ),
                    );
                }
            }
        }
        let limit = format!("{max} per {}", format_duration(window));
        outcome(
            name,
            kind,
            worst.0 <= max,
            Some(format!("{} changes", worst.0)),
            Some(limit),
            worst.1,
        )
    }
}

fn outcome_plain(name: &str, kind: &str, passed: bool, message: String) -> AssertionOutcome {
    outcome(name, kind, passed, None, None, message)
}

fn sites_name(sc: &Scenario, i: usize) -> String {
    sc.topology.sites.get(i).map_or_else(|| format!("#{i}"), ToString::to_string)
}

fn sim_apart(sim: &FabricSim, a: usize, b: usize, from: Duration, to: Duration) -> bool {
    sim.apart_within(a, b, from, to)
}

fn leader_gap(st: Option<&ControlStats>, name: &str, max: Duration) -> AssertionOutcome {
    let kind = "max-leader-gap";
    let Some(st) = st else {
        return outcome_plain(name, kind, false, "no control plane was simulated".into());
    };
    let Some(first) = st.first_leader else {
        return outcome_plain(name, kind, false, "no controller was ever elected".into());
    };
    let (gap, from) = st.max_gap;
    let (raw, raw_from) = st.max_gap_raw;
    let msg = format!(
        "first leader at {}, {} elections; longest time without a leader while the store was \
         reachable: {} from {} (with unreachable time: {} from {})",
        format_duration(first),
        st.elections,
        format_duration(gap),
        format_duration(from),
        format_duration(raw),
        format_duration(raw_from),
    );
    outcome(name, kind, gap <= max, Some(format_duration(gap)), Some(format_duration(max)), msg)
}

fn single_leader(st: Option<&ControlStats>, name: &str) -> AssertionOutcome {
    let kind = "single-leader";
    let Some(st) = st else {
        return outcome_plain(name, kind, false, "no control plane was simulated".into());
    };
    let (ticks, first) = st.split_brain;
    let mut msg = format!(
        "{} fenced writes landed, {} refused, {} lost on the way; {ticks} ticks with two \
         leaders, {} unfenced writes",
        st.writes_landed,
        st.writes_refused,
        st.writes_lost,
        st.unfenced.len()
    );
    if let Some(at) = first {
        let _ = write!(msg, "; two leaders first at {}", format_duration(at));
    }
    if let Some((at, site, epoch)) = st.unfenced.first() {
        let _ =
            write!(msg, "; first unfenced: s{site} wrote for {epoch} at {}", format_duration(*at));
    }
    let bad = ticks + st.unfenced.len() as u64;
    outcome(name, kind, bad == 0, Some(bad.to_string()), Some("0".into()), msg)
}

#[cfg(test)]
mod tests {
    use weft_control::Epoch;

    use super::*;

    fn led() -> ControlStats {
        let mut st = ControlStats::default();
        st.first_leader = Some(Duration::from_millis(80));
        st.elections = 2;
        st.writes_landed = 100;
        st
    }

    #[test]
    fn single_leader_fails_on_two_believed_leaders_or_an_unfenced_write() {
        assert!(single_leader(Some(&led()), "one").passed);
        let mut two = led();
        two.split_brain = (3, Some(Duration::from_secs(12)));
        let o = single_leader(Some(&two), "one");
        assert!(!o.passed && o.message.contains("two leaders first at 12s"), "{}", o.message);
        let mut stale = led();
        stale.unfenced.push((Duration::from_secs(20), 2, Epoch(4)));
        let o = single_leader(Some(&stale), "one");
        assert!(!o.passed && o.message.contains("s2 wrote for epoch 4"), "{}", o.message);
        assert!(!single_leader(None, "one").passed, "no control plane, no pass");
    }

    #[test]
    fn max_leader_gap_counts_the_reachable_gap_and_fails_past_its_limit() {
        let mut st = led();
        st.max_gap = (Duration::from_millis(2900), Duration::from_secs(20));
        st.max_gap_raw = (Duration::from_secs(9), Duration::from_secs(40));
        assert!(leader_gap(Some(&st), "gap", Duration::from_secs(3)).passed);
        st.max_gap.0 = Duration::from_millis(3100);
        let o = leader_gap(Some(&st), "gap", Duration::from_secs(3));
        assert!(!o.passed && o.measured.as_deref() == Some("3.1s"), "{o:?}");
        st.first_leader = None;
        assert!(!leader_gap(Some(&st), "gap", Duration::from_secs(3)).passed, "never elected");
    }
}
