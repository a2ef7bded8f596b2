//! The control plane in the fabric (optional): some sites run a
//! controller, one site hosts the store. Each controller runs a
//! `weft-control` [`Election`] against a [`ModelStore`] over the simulated
//! underlay; while it leads it makes a fenced write every
//! [`WRITE_EVERY`]. What it records ([`ControlStats`]) is what the chaos
//! suite's `max-leader-gap` and `single-leader` assertions judge.
//!
//! A call from controller site `c` reaches the store's site `s` only while
//! both run, each has an uplink up and no partition or cut separates them;
//! it crosses `c`'s first live uplink and `s`'s (their delays, jitter and
//! loss add, each way). A call not answered within the election's
//! `call_timeout` times out. A crashed controller's election is dropped; a
//! restarted one starts afresh. Everything is driven on the fabric's 2 ms
//! timer grid, and the leaders are sampled on every tick.

use std::time::{Duration, Instant};

use weft_control::sim::ModelStore;
use weft_control::{
    CallError, Election, ElectionConfig, ElectionEvent, Epoch, Fence, Request, RequestId, Response,
};
use weft_types::SeededRng;

use super::FabricSim;
use super::site::site_name;

/// A leader's fenced writes: one this often.
pub const WRITE_EVERY: Duration = Duration::from_millis(100);

/// Which sites run the control plane, and how their elections are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// Controller sites.
    pub controllers: Vec<usize>,
    /// The store's site (etcd).
    pub store: usize,
    /// Every controller's election settings; `id` is replaced by the
    /// controller's site name.
    pub election: ElectionConfig,
}

impl ControlConfig {
    /// `controllers` against the store on `store`, with the election's
    /// defaults on the key `/weft/control/leader`.
    pub fn new(controllers: Vec<usize>, store: usize) -> Self {
        Self {
            controllers,
            store,
            election: ElectionConfig::new("/weft/control/leader", "controller"),
        }
    }
}

/// What the control plane did during a run.
#[derive(Debug, Clone, Default)]
pub struct ControlStats {
    /// Every change of the set of controllers that believed they led
    /// (sampled every 2 ms tick): (when, sites).
    pub leaders: Vec<(Duration, Vec<usize>)>,
    /// When some controller first led.
    pub first_leader: Option<Duration>,
    /// Longest time without a leader after the first election, counting
    /// only the time some running controller could reach the store; and
    /// when that gap started.
    pub max_gap: (Duration, Duration),
    /// Longest time without a leader after the first election, all of it
    /// (store unreachable or not); and when it started.
    pub max_gap_raw: (Duration, Duration),
    /// Ticks at which two or more controllers believed they led; the first.
    pub split_brain: (u64, Option<Duration>),
    /// Elections won.
    pub elections: u64,
    /// Fenced writes that landed at the store.
    pub writes_landed: u64,
    /// Fenced writes the store refused (a deposed leader's).
    pub writes_refused: u64,
    /// Fenced writes that never reached the store (cut off, lost, or the
    /// writer or the store crashed on the way).
    pub writes_lost: u64,
    /// Writes that landed for an epoch older than one that had already
    /// landed: (when, writer site, its epoch). Must stay empty.
    pub unfenced: Vec<(Duration, usize, Epoch)>,
    newest_landed: Option<Epoch>,
    /// The open gap: (start, counted so far).
    gap: Option<(Duration, Duration)>,
    last_tick: Duration,
}

impl ControlStats {
    /// The longest gap (counted, start) including one still open now.
    fn close_gap(&mut self, now: Duration) {
        if let Some((start, counted)) = self.gap.take() {
            if counted > self.max_gap.0 {
                self.max_gap = (counted, start);
            }
            let raw = now.saturating_sub(start);
            if raw > self.max_gap_raw.0 {
                self.max_gap_raw = (raw, start);
            }
        }
    }
}

/// A store call on its way.
#[derive(Debug)]
struct Call {
    id: RequestId,
    request: Request,
    /// When it reaches the store (`None`: lost on the way).
    apply_at: Option<Instant>,
    /// The answer and when it is back (`None` until applied, or lost).
    answer: Option<(Instant, Result<Response, CallError>)>,
    deadline: Instant,
}

/// A fenced write on its way.
#[derive(Debug)]
struct Write {
    ctl: usize,
    generation: u64,
    fence: Fence,
    apply_at: Instant,
}

/// One controller.
#[derive(Debug)]
struct Ctl {
    site: usize,
    election: Option<Election>,
    generation: u64,
    call: Option<Call>,
    next_write: Instant,
    /// A refused write's answer: (when it is back, generation, epoch).
    refused: Vec<(Instant, u64, Epoch)>,
}

/// The control plane's state inside a [`FabricSim`].
#[derive(Debug)]
pub(super) struct ControlPlane {
    cfg: ControlConfig,
    store: ModelStore,
    ctls: Vec<Ctl>,
    writes: Vec<Write>,
    rng: SeededRng,
    pub(super) stats: ControlStats,
    /// Election events and crashes: (when, site, text), for traces.
    pub(super) log: Vec<(Duration, usize, String)>,
}

impl ControlPlane {
    pub(super) fn new(cfg: ControlConfig, now: Instant, seed: u64) -> Self {
        let mut plane = Self {
            store: ModelStore::new(),
            ctls: Vec::new(),
            writes: Vec::new(),
            rng: SeededRng::new(seed ^ 0x00c0_47c0_1000),
            stats: ControlStats::default(),
            log: Vec::new(),
            cfg,
        };
        plane.ctls = plane
            .cfg
            .controllers
            .iter()
            .map(|&site| Ctl {
                site,
                election: None,
                generation: 0,
                call: None,
                next_write: now,
                refused: Vec::new(),
            })
            .collect();
        for i in 0..plane.ctls.len() {
            plane.start(i, now, Duration::ZERO);
        }
        plane
    }

    fn start(&mut self, i: usize, now: Instant, at: Duration) {
        let mut cfg = self.cfg.election.clone();
        cfg.id = site_name(self.ctls[i].site).to_string();
        let c = &mut self.ctls[i];
        c.generation += 1;
        c.call = None;
        c.refused.clear();
        c.next_write = now;
        match Election::new(now, cfg) {
            Ok(e) => {
                c.election = Some(e);
                self.log.push((at, c.site, "control: controller started".into()));
            }
            Err(e) => {
                c.election = None;
                self.log.push((at, c.site, format!("control: election refused its config: {e}")));
            }
        }
    }

    /// Site `site` crashed (`up = false`) or restarted.
    pub(super) fn site_changed(&mut self, site: usize, up: bool, now: Instant, at: Duration) {
        let Some(i) = self.ctls.iter().position(|c| c.site == site) else { return };
        if up {
            self.start(i, now, at);
        } else {
            let c = &mut self.ctls[i];
            c.election = None;
            c.call = None;
            c.generation += 1;
            self.log.push((at, site, "control: controller stopped (crash)".into()));
        }
    }

    /// The controller sites that believe they lead at `now`.
    pub(super) fn leaders(&self, now: Instant) -> Vec<usize> {
        self.ctls
            .iter()
            .filter(|c| c.election.as_ref().is_some_and(|e| e.is_leader(now)))
            .map(|c| c.site)
            .collect()
    }
}

impl FabricSim {
    /// Whether controller site `c` can reach the store now, and the
    /// uplinks a call would cross.
    fn store_route(&self, c: usize) -> Option<((usize, usize), (usize, usize))> {
        let plane = self.control.as_ref()?;
        let s = plane.cfg.store;
        if !self.sites[c].alive || !self.sites[s].alive || !self.net.same_side(c, s) {
            return None;
        }
        Some(((c, self.net.first_up(c)?), (s, self.net.first_up(s)?)))
    }

    /// One transit between controller `c` and the store, if it arrives.
    fn store_transit(&mut self, c: usize) -> Option<Duration> {
        let (a, b) = self.store_route(c)?;
        let plane = self.control.as_mut()?;
        self.net.transit(&mut plane.rng, a, b)
    }

    /// One tick of the control plane: calls and writes move, elections
    /// poll, leaders write, and the leaders are sampled.
    pub(super) fn control_tick(&mut self) {
        let Some(plane) = self.control.as_ref() else { return };
        let (now, at) = (self.now, self.elapsed());
        for i in 0..plane.ctls.len() {
            self.control_step(i, now, at);
        }
        self.control_writes(now, at);
        let Some(plane) = self.control.as_ref() else { return };
        let leaders = plane.leaders(now);
        let reach_any = plane.ctls.iter().any(|c| self.store_route(c.site).is_some());
        let Some(plane) = self.control.as_mut() else { return };
        let st = &mut plane.stats;
        let dt = at.saturating_sub(st.last_tick);
        st.last_tick = at;
        if st.leaders.last().is_none_or(|(_, l)| *l != leaders) {
            st.leaders.push((at, leaders.clone()));
        }
        if leaders.len() > 1 {
            st.split_brain.0 += 1;
            st.split_brain.1.get_or_insert(at);
        }
        if !leaders.is_empty() {
            st.first_leader.get_or_insert(at);
            st.close_gap(at);
        } else if st.first_leader.is_some() {
            let gap = st.gap.get_or_insert((at, Duration::ZERO));
            if reach_any {
                gap.1 += dt;
            }
        }
    }

    fn control_step(&mut self, i: usize, now: Instant, at: Duration) {
        let Some(plane) = self.control.as_mut() else { return };
        let site = plane.ctls[i].site;
        if plane.ctls[i].election.is_none() {
            return;
        }
        // The call in flight: reaches the store, answers, or times out.
        if let Some(mut call) = plane.ctls[i].call.take() {
            if call.answer.is_none()
                && let Some(t) = call.apply_at.filter(|t| now >= *t)
            {
                call.apply_at = None;
                if self.store_route(site).is_some() {
                    let plane = self.control.as_mut().expect("checked above");
                    let result = plane.store.apply(now, &call.request);
                    if let Some(back) = self.store_transit(site) {
                        call.answer = Some((t.max(now) + back, result));
                    }
                }
            }
            let plane = self.control.as_mut().expect("checked above");
            let ctl = &mut plane.ctls[i];
            let election = ctl.election.as_mut().expect("checked above");
            match call.answer.take() {
                Some((back, result)) if now >= back && back <= call.deadline => {
                    election.handle_response(now, call.id, result);
                }
                answer if now >= call.deadline => {
                    drop(answer);
                    election.handle_response(now, call.id, Err(CallError::Timeout));
                }
                answer => {
                    call.answer = answer;
                    ctl.call = Some(call);
                }
            }
        }
        // Refused writes' answers: another leader holds the key.
        let plane = self.control.as_mut().expect("checked above");
        let ctl = &mut plane.ctls[i];
        let generation = ctl.generation;
        let due: Vec<Epoch> = ctl
            .refused
            .iter()
            .filter(|(t, g, _)| *t <= now && *g == generation)
            .map(|(_, _, e)| *e)
            .collect();
        ctl.refused.retain(|(t, _, _)| *t > now);
        let election = ctl.election.as_mut().expect("checked above");
        for epoch in due {
            election.handle_fence_failed(now, epoch);
        }
        // A new call.
        if ctl.call.is_none()
            && let Some((id, request)) = election.poll_request(now)
        {
            let deadline = now + election.config().call_timeout;
            let there = self.store_transit(site);
            let plane = self.control.as_mut().expect("checked above");
            plane.ctls[i].call = Some(Call {
                id,
                request,
                apply_at: there.map(|d| now + d),
                answer: None,
                deadline,
            });
        }
        // Events to the trace.
        let plane = self.control.as_mut().expect("checked above");
        let ctl = &mut plane.ctls[i];
        let election = ctl.election.as_mut().expect("checked above");
        while let Some(e) = election.poll_event() {
            let text = match e {
                ElectionEvent::Elected { epoch } => {
                    plane.stats.elections += 1;
                    format!("control: elected leader ({epoch})")
                }
                ElectionEvent::SteppedDown { epoch, why } => {
                    format!("control: stepped down ({epoch}): {why}")
                }
                ElectionEvent::LeaderSeen { holder, epoch } => {
                    format!("control: follows {holder} ({epoch})")
                }
            };
            plane.log.push((at, site, text));
        }
        // Leader work: a fenced write every WRITE_EVERY.
        if now >= ctl.next_write
            && let Some(fence) = election.fence(now)
        {
            ctl.next_write = now + WRITE_EVERY;
            let generation = ctl.generation;
            let there = self.store_transit(site);
            let plane = self.control.as_mut().expect("checked above");
            if let Some(d) = there {
                plane.writes.push(Write { ctl: i, generation, fence, apply_at: now + d });
            } else {
                plane.stats.writes_lost += 1;
            }
        }
    }

    /// Fenced writes reaching the store.
    fn control_writes(&mut self, now: Instant, at: Duration) {
        let Some(plane) = self.control.as_mut() else { return };
        let (due, rest): (Vec<Write>, Vec<Write>) =
            std::mem::take(&mut plane.writes).into_iter().partition(|w| w.apply_at <= now);
        plane.writes = rest;
        for w in due {
            let Some(plane) = self.control.as_ref() else { return };
            let site = plane.ctls[w.ctl].site;
            if self.store_route(site).is_none() {
                if let Some(plane) = self.control.as_mut() {
                    plane.stats.writes_lost += 1;
                }
                continue;
            }
            let back = self.store_transit(site);
            let plane = self.control.as_mut().expect("checked above");
            let writer = site_name(site).to_string();
            if plane.store.fenced_write(now, &w.fence, &writer) {
                let st = &mut plane.stats;
                st.writes_landed += 1;
                if st.newest_landed.is_some_and(|n| n > w.fence.epoch) {
                    st.unfenced.push((at, site, w.fence.epoch));
                    plane.log.push((
                        at,
                        site,
                        format!("control: UNFENCED write ({})", w.fence.epoch),
                    ));
                }
                st.newest_landed = st.newest_landed.max(Some(w.fence.epoch));
            } else {
                plane.stats.writes_refused += 1;
                if let Some(d) = back {
                    plane.ctls[w.ctl].refused.push((now + d, w.generation, w.fence.epoch));
                }
            }
        }
    }

    /// The control plane's record so far (`None` without one). The open
    /// gap without a leader, if any, counts up to now.
    pub fn control(&self) -> Option<ControlStats> {
        let plane = self.control.as_ref()?;
        let mut st = plane.stats.clone();
        st.close_gap(self.elapsed());
        Some(st)
    }

    /// The controller sites that believe they lead now.
    pub fn control_leaders(&self) -> Vec<usize> {
        self.control.as_ref().map(|p| p.leaders(self.now)).unwrap_or_default()
    }

    /// Who holds the leader key at the store now: (controller id, epoch).
    pub fn control_key_holder(&self) -> Option<(String, Epoch)> {
        self.control.as_ref()?.store.holder()
    }
}
