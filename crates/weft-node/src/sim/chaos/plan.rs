//! A scenario's faults and flows as timed actions on a [`FabricSim`], and
//! the bookkeeping that lets overlapping faults on one uplink compose (it
//! is up only when no fault holds it down; a brownout or delay lasts until
//! its own end).

use std::collections::BTreeMap;
use std::time::Duration;

use weft_chaos::{Fault, FaultKind, Scenario};
use weft_types::{SiteId, UplinkId};

use crate::sim::LinkProfile;
use crate::sim::fabric::FabricSim;

/// One thing to do at one time.
#[derive(Debug, Clone)]
pub(super) enum Action {
    /// Start flow (scenario index).
    StartFlow(usize),
    /// Stop flow (scenario index).
    StopFlow(usize),
    /// Hold an uplink down (`true`) or release one hold (`false`).
    Down { site: usize, uplink: usize, hold: bool },
    /// Apply (`Some`) or lift (`None`) a quality change on an uplink, keyed by fault.
    Quality { site: usize, uplink: usize, key: String, change: Option<Quality> },
    /// Split into groups.
    Partition(Vec<Vec<usize>>),
    /// End the partition.
    Heal,
    /// Crash a site.
    Crash(usize),
    /// Restart a site.
    Restart(usize),
    /// Crash whichever controller leads now (fault name: its restart finds it).
    CrashLeader(String),
    /// Restart the controller that fault crashed, if it crashed one.
    RestartLeader(String),
}

/// What a brownout or a delay fault does to an uplink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Quality {
    /// Loss fraction (replaces the base).
    pub(super) loss: Option<f64>,
    /// Extra one-way delay.
    pub(super) delay: Duration,
    /// Jitter (replaces the base when set).
    pub(super) jitter: Option<Duration>,
}

/// The timed actions of one run, and the uplink state they compose into.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) actions: Vec<(Duration, Action)>,
    base: Vec<Vec<LinkProfile>>,
    holds: Vec<Vec<u32>>,
    qualities: Vec<Vec<BTreeMap<String, Quality>>>,
    /// `crash-leader` fault → the site it crashed.
    crashed_leaders: BTreeMap<String, usize>,
}

/// Scenario site names → simulation indices.
pub(super) type SiteIndex = BTreeMap<SiteId, usize>;

pub(super) fn to_profile(l: &weft_chaos::LinkProfile) -> LinkProfile {
    LinkProfile { delay: l.delay, jitter: l.jitter, loss: l.loss.fraction(), up: true }
}

impl Plan {
    /// The plan of `sc` under seed `seed` (random faults expanded).
    pub(super) fn new(sc: &Scenario, seed: u64, sites: &SiteIndex) -> Self {
        let n = sc.topology.sites.len();
        let u = usize::from(sc.topology.uplinks);
        let base = sc
            .topology
            .sites
            .iter()
            .map(|s| {
                (0..sc.topology.uplinks)
                    .map(|x| to_profile(&sc.topology.link(s, UplinkId(x))))
                    .collect()
            })
            .collect();
        let mut plan = Self {
            actions: Vec::new(),
            base,
            holds: vec![vec![0; u]; n],
            qualities: vec![vec![BTreeMap::new(); u]; n],
            crashed_leaders: BTreeMap::new(),
        };
        for (i, f) in sc.flows.iter().enumerate() {
            plan.actions.push((f.start, Action::StartFlow(i)));
            if f.stop < sc.duration {
                plan.actions.push((f.stop, Action::StopFlow(i)));
            }
        }
        for fault in sc.faults_for_seed(seed) {
            plan.add_fault(&fault, sc.duration, sites);
        }
        // Stable: equal times keep file order (a stop before the next start).
        plan.actions.sort_by_key(|(t, _)| *t);
        plan
    }

    fn add_fault(&mut self, f: &Fault, run_end: Duration, sites: &SiteIndex) {
        let at = f.at;
        let end = f.end().filter(|e| *e < run_end);
        let idx = |s: &SiteId| sites[s];
        let ups = |list: &[UplinkId]| list.iter().map(|u| usize::from(u.0)).collect::<Vec<_>>();
        match &f.kind {
            FaultKind::UplinkDown { site, uplinks } => {
                for u in ups(uplinks) {
                    let (site, uplink) = (idx(site), u);
                    self.actions.push((at, Action::Down { site, uplink, hold: true }));
                    if let Some(e) = end {
                        self.actions.push((e, Action::Down { site, uplink, hold: false }));
                    }
                }
            }
            FaultKind::Brownout { site, uplinks, loss, delay, jitter } => {
                let q = Quality {
                    loss: Some(loss.fraction()),
                    delay: *delay,
                    jitter: (!jitter.is_zero()).then_some(*jitter),
                };
                self.quality(idx(site), &ups(uplinks), &f.name, q, at, end);
            }
            FaultKind::Delay { site, uplinks, delay } => {
                let q = Quality { loss: None, delay: *delay, jitter: None };
                self.quality(idx(site), &ups(uplinks), &f.name, q, at, end);
            }
            FaultKind::Flap { site, uplinks, down, every } => {
                let stop = end.unwrap_or(run_end);
                let mut t = at;
                while t < stop && !every.is_zero() {
                    for u in ups(uplinks) {
                        let (site, uplink) = (idx(site), u);
                        self.actions.push((t, Action::Down { site, uplink, hold: true }));
                        let back = (t + *down).min(stop);
                        self.actions.push((back, Action::Down { site, uplink, hold: false }));
                    }
                    t += *every;
                }
            }
            FaultKind::Partition { groups } => {
                let groups = groups.iter().map(|g| g.iter().map(idx).collect()).collect();
                self.actions.push((at, Action::Partition(groups)));
                if let Some(e) = end {
                    self.actions.push((e, Action::Heal));
                }
            }
            FaultKind::Crash { site } => {
                self.actions.push((at, Action::Crash(idx(site))));
                if let Some(e) = end {
                    self.actions.push((e, Action::Restart(idx(site))));
                }
            }
            FaultKind::CrashLeader => {
                self.actions.push((at, Action::CrashLeader(f.name.clone())));
                if let Some(e) = end {
                    self.actions.push((e, Action::RestartLeader(f.name.clone())));
                }
            }
            FaultKind::RandomLinkFailures(_) => {} // expanded by faults_for_seed
        }
    }

    fn quality(
        &mut self,
        site: usize,
        uplinks: &[usize],
        key: &str,
        q: Quality,
        at: Duration,
        end: Option<Duration>,
    ) {
        for &uplink in uplinks {
            let key = key.to_owned();
            self.actions
                .push((at, Action::Quality { site, uplink, key: key.clone(), change: Some(q) }));
            if let Some(e) = end {
                self.actions.push((e, Action::Quality { site, uplink, key, change: None }));
            }
        }
    }

    /// The uplinks' starting profiles, applied to `sim`.
    pub(super) fn apply_base(&self, sim: &mut FabricSim) {
        for (s, links) in self.base.iter().enumerate() {
            for (u, p) in links.iter().enumerate() {
                sim.set_link(s, u, *p);
            }
        }
    }

    /// Applies one uplink or site action to `sim` (flows are the runner's).
    pub(super) fn apply(&mut self, sim: &mut FabricSim, action: &Action) {
        match action {
            Action::Down { site, uplink, hold } => {
                let h = &mut self.holds[*site][*uplink];
                *h = if *hold { *h + 1 } else { h.saturating_sub(1) };
                self.refresh(sim, *site, *uplink);
            }
            Action::Quality { site, uplink, key, change } => {
                let q = &mut self.qualities[*site][*uplink];
                match change {
                    Some(c) => {
                        q.insert(key.clone(), *c);
                    }
                    None => {
                        q.remove(key);
                    }
                }
                self.refresh(sim, *site, *uplink);
            }
            Action::Partition(groups) => sim.partition(groups),
            Action::Heal => sim.heal(),
            Action::Crash(s) => sim.crash(*s),
            Action::Restart(s) => sim.restart(*s),
            Action::CrashLeader(fault) => {
                // The first believed leader (a split brain is judged elsewhere).
                if let Some(&s) = sim.control_leaders().first() {
                    self.crashed_leaders.insert(fault.clone(), s);
                    sim.crash(s);
                }
            }
            Action::RestartLeader(fault) => {
                if let Some(s) = self.crashed_leaders.remove(fault) {
                    sim.restart(s);
                }
            }
            Action::StartFlow(_) | Action::StopFlow(_) => {}
        }
    }

    /// The uplink's profile: its base, every active quality change, up when
    /// no fault holds it down.
    fn refresh(&self, sim: &mut FabricSim, site: usize, uplink: usize) {
        let mut p = self.base[site][uplink];
        for q in self.qualities[site][uplink].values() {
            p.delay += q.delay;
            if let Some(l) = q.loss {
                p.loss = p.loss.max(l);
            }
            if let Some(j) = q.jitter {
                p.jitter = p.jitter.max(j);
            }
        }
        p.up = self.holds[site][uplink] == 0;
        sim.set_link(site, uplink, p);
    }
}
