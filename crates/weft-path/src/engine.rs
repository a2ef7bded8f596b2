//! The path engine: every path of one site, their probes, states and the
//! class-by-class choice of path for each peer.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     engine.handle_timeout(now)                       // when poll_timeout() passes
//!     engine.handle_echo(now, path, seq)               // a probe echo arrived
//!     engine.handle_rx(now, path) / handle_tx(..)      // authenticated traffic seen / sent
//!     while let Some(p) = engine.poll_probe() { send an authenticated probe }
//!     while let Some(e) = engine.poll_event() { report it }
//!     sleep until engine.poll_timeout()
//! }
//! ```
//!
//! Flows ask [`PathEngine::select_path`] once when they start and again when
//! [`PathEngine::generation`] of their peer changes.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use weft_types::{PathId, PeerId, SeededRng};

use crate::config::{ConfigError, EngineConfig};
use crate::event::{FailoverReason, PathEvent, PolicyId, ProbeRequest};
use crate::explain::Decision;
use crate::liveness::Transition;
use crate::metrics::{PathMetrics, PathSpec};
use crate::monitor::{EchoOutcome, PathMonitor, base_interval};
use crate::select::{Candidate, LoadBalance, SelectionPolicy, Verdict, select, verdict};
use crate::state::PathState;

/// Why an echo was not used. Neither changes any state beyond a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EchoError {
    /// No such path (removed, or never existed).
    #[error("echo for unknown path {0}")]
    UnknownPath(PathId),
    /// The probe was already declared lost: it stays lost, but its RTT
    /// still updated the estimators (so the loss timeout follows an RTT
    /// jump) and it counted as proof of life.
    #[error("late echo for {path} seq {seq}")]
    Late {
        /// The path.
        path: PathId,
        /// The probe's sequence number.
        seq: u64,
    },
    /// A sequence number this engine never sent.
    #[error("echo for {path} with unknown seq {seq}")]
    UnknownSeq {
        /// The path.
        path: PathId,
        /// The offered sequence number.
        seq: u64,
    },
}

#[derive(Debug, Default)]
struct PeerState {
    paths: Vec<PathId>,
    active_until: Option<Instant>,
    generation: u64,
}

#[derive(Debug, Clone, Default)]
struct Group {
    primary: Option<PathId>,
    pool: Vec<PathId>,
    /// Flows of this class were active until then (for class probe intervals).
    active_until: Option<Instant>,
    /// Whether the class ever had a path (to tell "initial" from "restored").
    had_path: bool,
}

/// Counters of things that went wrong but changed nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Echoes for paths that do not exist.
    pub unknown_path_echoes: u64,
    /// Echoes with sequence numbers never sent.
    pub unknown_seq_echoes: u64,
    /// Echoes after their probe was declared lost.
    pub late_echoes: u64,
}

/// All paths of one site and the choice of path per (peer, class policy).
#[derive(Debug)]
pub struct PathEngine {
    config: EngineConfig,
    rng: SeededRng,
    paths: BTreeMap<PathId, PathMonitor>,
    peers: BTreeMap<PeerId, PeerState>,
    policies: Vec<SelectionPolicy>,
    groups: BTreeMap<(PeerId, PolicyId), Group>,
    next_path: u32,
    probes: VecDeque<ProbeRequest>,
    events: VecDeque<PathEvent>,
    next_reoptimise: Instant,
    scratch: Vec<Candidate>,
    transitions: Vec<Transition>,
    counters: EngineCounters,
    /// A lower bound of the next deadline (`None`: unknown, take the earliest
    /// of the timer indexes). Hot inputs lower it by their peer's paths only;
    /// everything else clears it.
    deadline: Cell<Option<Instant>>,
    /// Every path with a pending hold-down expiry, under the earliest (see
    /// [`reindex_holds`]): a hold-down polled at `t` changes or reports
    /// nothing when polled again before its expiry, unless updated meanwhile.
    hold_timers: BTreeSet<(Instant, PathId)>,
    /// Paths whose hold-downs were updated but not polled since.
    holds_unpolled: BTreeSet<PathId>,
    /// Every path under its [`PathMonitor::next_deadline`], earliest first:
    /// re-indexed after every input that can move a path's deadline (see
    /// [`reindex`]), so timeouts find the due paths without a scan.
    timers: BTreeSet<(Instant, PathId)>,
}

impl PathEngine {
    /// An engine with no paths. `rng` seeds probe jitter; the simulator passes
    /// the test's seed, the agent a seed from the OS.
    pub fn new(config: EngineConfig, rng: SeededRng, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let next_reoptimise = now + config.reoptimise_interval;
        Ok(Self {
            config,
            rng,
            paths: BTreeMap::new(),
            peers: BTreeMap::new(),
            policies: Vec::new(),
            groups: BTreeMap::new(),
            next_path: 1,
            probes: VecDeque::new(),
            events: VecDeque::new(),
            next_reoptimise,
            scratch: Vec::new(),
            transitions: Vec::new(),
            counters: EngineCounters::default(),
            deadline: Cell::new(None),
            hold_timers: BTreeSet::new(),
            holds_unpolled: BTreeSet::new(),
            timers: BTreeSet::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Registers a class policy; flows name it by the returned id.
    ///
    /// # Panics
    /// Beyond 65 536 policies (ids are `u16`); policy sets are validated far
    /// below that before they reach the engine.
    pub fn add_policy(&mut self, now: Instant, policy: SelectionPolicy) -> PolicyId {
        self.deadline.set(None);
        let id = PolicyId(u16::try_from(self.policies.len()).expect("fewer than 65 536 policies"));
        self.policies.push(policy);
        for (path, m) in &mut self.paths {
            m.holds.push(crate::holddown::HoldDown::new(now));
            let eligible = eligible_for(&self.policies[id.0 as usize], m);
            if let Some(h) = m.holds.last_mut() {
                h.update(now, eligible, self.config.max_hold_down);
            }
            self.holds_unpolled.insert(*path);
            reindex_holds(&mut self.hold_timers, &self.config, *path, m);
        }
        id
    }

    /// Replaces a class policy (e.g. after a policy reload); flows re-select.
    pub fn set_policy(&mut self, now: Instant, id: PolicyId, policy: SelectionPolicy) -> bool {
        self.deadline.set(None);
        let Some(slot) = self.policies.get_mut(id.0 as usize) else { return false };
        *slot = policy;
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            self.refresh_peer(now, peer, true);
        }
        true
    }

    /// A registered policy.
    pub fn policy(&self, id: PolicyId) -> Option<&SelectionPolicy> {
        self.policies.get(id.0 as usize)
    }

    /// Adds a path; it starts Down and is probed at once.
    pub fn add_path(&mut self, now: Instant, spec: PathSpec) -> PathId {
        self.deadline.set(None);
        let id = PathId(self.next_path);
        self.next_path += 1;
        let peer = spec.peer;
        let mut m = PathMonitor::new(now, spec, &self.config, self.policies.len());
        reindex(&mut self.timers, &self.config, id, &mut m);
        self.paths.insert(id, m);
        self.peers.entry(peer).or_default().paths.push(id);
        id
    }

    /// Removes a path; flows on it move at once.
    pub fn remove_path(&mut self, now: Instant, path: PathId) -> bool {
        self.deadline.set(None);
        let Some(m) = self.paths.remove(&path) else { return false };
        self.holds_unpolled.remove(&path);
        if let Some(t) = m.holds_indexed {
            self.hold_timers.remove(&(t, path));
        }
        if let Some(t) = m.indexed {
            self.timers.remove(&(t, path));
        }
        let peer = m.spec.peer;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.paths.retain(|x| *x != path);
        }
        for ((gp, pol), g) in &mut self.groups {
            if *gp == peer && g.primary == Some(path) {
                self.events.push_back(PathEvent::Failover {
                    peer,
                    policy: *pol,
                    from: Some(path),
                    to: None,
                    reason: FailoverReason::PathRemoved,
                });
                g.primary = None;
            }
        }
        self.refresh_peer(now, peer, true);
        true
    }

    /// Sets a path's MTU (learnt by the data plane).
    pub fn set_mtu(&mut self, path: PathId, mtu: u16) {
        if let Some(m) = self.paths.get_mut(&path) {
            m.mtu = Some(mtu);
        }
    }

    /// An echo of probe `seq` arrived on `path`. Returns the RTT sample.
    pub fn handle_echo(
        &mut self,
        now: Instant,
        path: PathId,
        seq: u64,
    ) -> Result<Duration, EchoError> {
        let events = self.events.len();
        let result = self.on_echo(now, path, seq);
        self.lower_deadline(path, events);
        result
    }

    fn on_echo(&mut self, now: Instant, path: PathId, seq: u64) -> Result<Duration, EchoError> {
        let Some(m) = self.paths.get_mut(&path) else {
            self.counters.unknown_path_echoes += 1;
            return Err(EchoError::UnknownPath(path));
        };
        let (rtt, t) = match m.on_echo(now, seq, &self.config) {
            EchoOutcome::Sample(rtt, t) => (rtt, t),
            EchoOutcome::Late(t) => {
                self.counters.late_echoes += 1;
                self.transitions.clear();
                self.transitions.extend(t);
                self.after_update(now, path);
                return Err(EchoError::Late { path, seq });
            }
            EchoOutcome::Unknown => {
                reindex(&mut self.timers, &self.config, path, m);
                self.counters.unknown_seq_echoes += 1;
                return Err(EchoError::UnknownSeq { path, seq });
            }
        };
        self.transitions.clear();
        self.transitions.extend(t);
        self.after_update(now, path);
        Ok(rtt)
    }

    /// Authenticated traffic arrived on `path`: proof of life, and the peer is active.
    pub fn handle_rx(&mut self, now: Instant, path: PathId) {
        let events = self.events.len();
        self.on_rx(now, path, true);
        self.lower_deadline(path, events);
    }

    /// An authenticated control message (a peer's probe) arrived on `path`:
    /// proof of life only. The peer is not marked active: if probes counted
    /// as traffic, two sites probing each other would keep each other busy
    /// and every path would be probed at the fast rate forever.
    pub fn handle_alive(&mut self, now: Instant, path: PathId) {
        let events = self.events.len();
        self.on_rx(now, path, false);
        self.lower_deadline(path, events);
    }

    fn on_rx(&mut self, now: Instant, path: PathId, traffic: bool) {
        let Some(m) = self.paths.get_mut(&path) else { return };
        let peer = m.spec.peer;
        let t = m.on_traffic(now);
        self.transitions.clear();
        self.transitions.extend(t);
        self.after_update(now, path);
        if traffic {
            self.mark_active(now, peer);
        }
    }

    /// Weft sent `bytes` of traffic on `path`: the peer is active (its paths are
    /// probed at the fast rate) and the path's load estimate grows.
    pub fn handle_tx(&mut self, now: Instant, path: PathId, bytes: u64) {
        let Some(m) = self.paths.get_mut(&path) else { return };
        m.on_tx(now, bytes);
        let peer = m.spec.peer;
        self.mark_active(now, peer);
    }

    /// After an input on `path`: a path that went down makes its siblings
    /// suspect (anywhere), so the bound is dropped; otherwise only `path`'s
    /// peer's paths can have moved earlier.
    fn lower_deadline(&self, path: PathId, events_before: usize) {
        let went_down = self
            .events
            .iter()
            .skip(events_before)
            .any(|e| matches!(e, PathEvent::StateChanged { to: PathState::Down, .. }));
        if went_down {
            self.deadline.set(None);
            return;
        }
        if let Some(peer) = self.paths.get(&path).map(|m| m.spec.peer) {
            self.lower_deadline_of_peer(peer);
        }
    }

    fn lower_deadline_of_peer(&self, peer: PeerId) {
        let Some(bound) = self.deadline.get() else { return };
        let ids = self.peers.get(&peer).map_or(&[][..], |p| &p.paths[..]);
        let mut t = bound;
        for m in ids.iter().filter_map(|id| self.paths.get(id)) {
            t = t.min(m.next_deadline(&self.config));
            if let Some(e) = m.holds_indexed {
                t = t.min(e);
            }
        }
        self.deadline.set(Some(t));
    }

    /// Marks `peer` as carrying traffic (also done by `handle_rx`/`handle_tx`).
    pub fn mark_active(&mut self, now: Instant, peer: PeerId) {
        let before = self.base_interval(now, peer);
        let Some(p) = self.peers.get_mut(&peer) else { return };
        p.active_until = Some(now + self.config.probe.activity_timeout);
        self.raise_rate_if_faster(now, peer, before);
        self.lower_deadline_of_peer(peer);
    }

    /// Marks flows of class `policy` to `peer` as active: while they are, the
    /// peer's paths are probed at least at the policy's `probe_interval`.
    /// [`select_path`](Self::select_path) does this too; the data plane calls
    /// it now and then for long-lived flows.
    pub fn mark_class_active(&mut self, now: Instant, peer: PeerId, policy: PolicyId) {
        let before = self.base_interval(now, peer);
        if let Some(g) = self.groups.get_mut(&(peer, policy)) {
            g.active_until = Some(now + self.config.probe.activity_timeout);
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.active_until = Some(now + self.config.probe.activity_timeout);
        }
        self.raise_rate_if_faster(now, peer, before);
        self.lower_deadline_of_peer(peer);
    }

    fn raise_rate_if_faster(&mut self, now: Instant, peer: PeerId, before: Duration) {
        let after = self.base_interval(now, peer);
        if after >= before {
            return;
        }
        let Some(p) = self.peers.get(&peer) else { return };
        for id in &p.paths {
            if let Some(m) = self.paths.get_mut(id) {
                m.on_rate_raised(now, &self.config, after, true, &mut self.rng);
                reindex(&mut self.timers, &self.config, *id, m);
            }
        }
    }

    /// The probe interval for `peer`'s paths now: the idle or active interval,
    /// lowered by the `probe_interval` of any class active towards the peer.
    fn base_interval(&self, now: Instant, peer: PeerId) -> Duration {
        self.probe_rate(now, peer).0
    }

    /// The peer's base probe interval, and whether a class's `probe_interval`
    /// set it (then it is a measurement rate that traffic does not relax).
    fn probe_rate(&self, now: Instant, peer: PeerId) -> (Duration, bool) {
        let active = self.is_active(now, peer);
        let configured = base_interval(&self.config, active);
        let mut base = configured;
        if active {
            for ((gp, pid), g) in
                self.groups.range((peer, PolicyId(0))..=(peer, PolicyId(u16::MAX)))
            {
                debug_assert_eq!(*gp, peer);
                if g.active_until.is_some_and(|t| t > now)
                    && let Some(i) = self.policies[pid.0 as usize].probe_interval
                {
                    base = base.min(i.max(self.config.probe.min_interval));
                }
            }
        }
        (base, base < configured)
    }

    fn is_active(&self, now: Instant, peer: PeerId) -> bool {
        self.peers.get(&peer).and_then(|p| p.active_until).is_some_and(|t| t > now)
    }

    /// Runs every timer that is due at `now`: probes, loss timeouts, detection,
    /// hold-down expiries and re-optimisation.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.deadline.set(None);
        // Paths in id order, each looked at when the previous one is done (its
        // update can make a sibling due): the due path with the lowest id
        // after the last one handled, found among the due timers.
        let mut after: Option<PathId> = None;
        loop {
            let due = self
                .timers
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, id)| *id)
                .filter(|id| after.is_none_or(|a| *id > a))
                .min();
            let Some(id) = due else { break };
            let Some(peer) = self.paths.get(&id).map(|m| m.spec.peer) else { break };
            after = Some(id);
            let active = self.is_active(now, peer);
            let (base, measuring) = self.probe_rate(now, peer);
            let Some(m) = self.paths.get_mut(&id) else { continue };
            {
                self.transitions.clear();
                m.expire(now, &self.config, active, &mut self.transitions);
                if let Some(seq) =
                    m.take_due_probe(now, &self.config, base, measuring, &mut self.rng)
                {
                    self.probes.push_back(ProbeRequest {
                        path: id,
                        peer,
                        uplink: m.spec.uplink,
                        remote: m.spec.remote,
                        seq,
                    });
                }
                self.after_update(now, id);
            }
        }
        let (base, cap) = (self.config.hold_down, self.config.max_hold_down);
        let mut held_expired: Vec<PeerId> = Vec::new();
        // Only hold-downs updated since their last poll, or past their expiry,
        // can change or report anything.
        let mut polled: Vec<PathId> =
            std::mem::take(&mut self.holds_unpolled).into_iter().collect();
        polled.extend(self.hold_timers.iter().take_while(|(t, _)| *t <= now).map(|(_, id)| *id));
        polled.sort_unstable();
        polled.dedup();
        for id in polled {
            let Some(m) = self.paths.get_mut(&id) else { continue };
            let mut any = false;
            for h in &mut m.holds {
                any |= h.poll_expired(now, base, cap);
            }
            reindex_holds(&mut self.hold_timers, &self.config, id, m);
            if any && !held_expired.contains(&m.spec.peer) {
                held_expired.push(m.spec.peer);
            }
        }
        let reopt = now >= self.next_reoptimise;
        if reopt {
            self.next_reoptimise = now + self.config.reoptimise_interval;
        }
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            if reopt || held_expired.contains(&peer) {
                self.refresh_peer(now, peer, false);
            }
        }
    }

    /// Re-applies brownout, hold-downs and groups after `path` changed.
    fn after_update(&mut self, now: Instant, path: PathId) {
        let Some(m) = self.paths.get_mut(&path) else { return };
        let peer = m.spec.peer;
        if let Some(t) = m.apply_brownout(now, &self.config) {
            self.transitions.push(t);
        }
        // Every input that moves a deadline ends here (or re-indexes itself).
        reindex(&mut self.timers, &self.config, path, m);
        let mut changed = !self.transitions.is_empty() | m.take_suspect_changed();
        // A path that dies or browns out takes its siblings under suspicion.
        let mut shared_fate =
            self.transitions.iter().any(|t| t.to == PathState::Down || t.to == PathState::Degraded);
        let (uplink, remote) = (m.spec.uplink, m.spec.remote);
        for t in self.transitions.drain(..) {
            self.events.push_back(PathEvent::StateChanged {
                path,
                peer,
                from: t.from,
                to: t.to,
                reason: t.reason,
            });
        }
        let (base, cap) = (self.config.hold_down, self.config.max_hold_down);
        for (i, pol) in self.policies.iter().enumerate() {
            let eligible = eligible_for(pol, m);
            let flipped = m.holds[i].update(now, eligible, cap);
            // So does one that starts losing more than a class allows.
            shared_fate |= flipped
                && !eligible
                && m.state().is_alive()
                && !m.is_suspect()
                && pol.sla.check(&m.quality).is_err_and(|b| b.metric == crate::Metric::Loss);
            changed |= flipped;
            changed |= m.holds[i].poll_expired(now, base, cap);
        }
        // Updated and polled: this path's hold-downs are up to date.
        self.holds_unpolled.remove(&path);
        reindex_holds(&mut self.hold_timers, &self.config, path, m);
        if shared_fate {
            self.suspect_siblings(now, path, uplink, remote);
        }
        if changed {
            self.refresh_peer(now, peer, true);
        }
    }

    /// Correlated failure: when `path` goes Down, browns out, or loses more
    /// than a class allows, every alive path that shares its local uplink or
    /// its remote endpoint probably suffers too. Mark them suspect (no new
    /// flows, fast probes) until they answer a fresh probe, then hold them
    /// down like any path that failed, so failover goes straight to a path
    /// that does not share the failure and the siblings' own loss estimates
    /// have time to catch up.
    fn suspect_siblings(
        &mut self,
        now: Instant,
        path: PathId,
        uplink: weft_types::UplinkId,
        remote: std::net::SocketAddr,
    ) {
        let mut peers = Vec::new();
        let cap = self.config.max_hold_down;
        for (id, m) in &mut self.paths {
            if *id != path
                && (m.spec.uplink == uplink || m.spec.remote == remote)
                && m.state().is_alive()
            {
                m.mark_suspect(now, &self.config);
                reindex(&mut self.timers, &self.config, *id, m);
                for (i, pol) in self.policies.iter().enumerate() {
                    let eligible = eligible_for(pol, m);
                    m.holds[i].update(now, eligible, cap);
                }
                self.holds_unpolled.insert(*id);
                reindex_holds(&mut self.hold_timers, &self.config, *id, m);
                if !peers.contains(&m.spec.peer) {
                    peers.push(m.spec.peer);
                }
            }
        }
        for p in peers {
            self.refresh_peer(now, p, true);
        }
    }

    /// Re-evaluates every known group of `peer`; bumps the generation when
    /// anything flows depend on changed (or when `force`).
    fn refresh_peer(&mut self, now: Instant, peer: PeerId, force: bool) {
        let keys: Vec<(PeerId, PolicyId)> =
            self.groups.keys().filter(|(p, _)| *p == peer).copied().collect();
        let mut changed = force;
        for key in keys {
            changed |= self.evaluate_group(now, key);
        }
        if changed && let Some(p) = self.peers.get_mut(&peer) {
            p.generation += 1;
        }
    }

    fn fill_candidates(&mut self, now: Instant, peer: PeerId, policy: PolicyId) {
        self.scratch.clear();
        let Some(p) = self.peers.get(&peer) else { return };
        for id in &p.paths {
            if let Some(m) = self.paths.get(id) {
                self.scratch.push(candidate(*id, m, policy, now, &self.config));
            }
        }
    }

    /// Evaluates one group; returns whether its primary or pool changed.
    fn evaluate_group(&mut self, now: Instant, key: (PeerId, PolicyId)) -> bool {
        let (peer, pid) = key;
        self.fill_candidates(now, peer, pid);
        let policy = &self.policies[pid.0 as usize];
        let old = self.groups.get(&key).cloned().unwrap_or_default();
        let choice = select(&self.scratch, policy, 0, old.primary, self.config.failback_margin);
        let pool: Vec<PathId> = self
            .scratch
            .iter()
            .filter(|c| matches!(verdict(policy, c), Verdict::Usable))
            .map(|c| c.path)
            .collect();
        let mut changed = false;
        if policy.balance == LoadBalance::ActiveBackup && choice.path != old.primary {
            let reason = match old.primary.and_then(|p| self.scratch.iter().find(|c| c.path == p)) {
                None if old.primary.is_some() => FailoverReason::PathRemoved,
                None if old.had_path => FailoverReason::Restored,
                None => FailoverReason::Initial,
                Some(c) => match verdict(policy, c) {
                    Verdict::NotAlive { state } => FailoverReason::PathDown { state },
                    Verdict::MissesSla(b) => FailoverReason::SlaBreach(b),
                    _ => FailoverReason::BetterPath,
                },
            };
            self.events.push_back(PathEvent::Failover {
                peer,
                policy: pid,
                from: old.primary,
                to: choice.path,
                reason,
            });
            changed = true;
        }
        if policy.balance != LoadBalance::ActiveBackup && pool != old.pool {
            self.events.push_back(PathEvent::PoolChanged { peer, policy: pid, pool: pool.clone() });
            changed = true;
        }
        let had_path = old.had_path || choice.path.is_some();
        let active_until = old.active_until;
        self.groups.insert(key, Group { primary: choice.path, pool, active_until, had_path });
        changed
    }

    /// The path for a flow of class `policy` to `peer`, or `None` (drop, or no
    /// path yet). `incumbent` is the flow's current path, if it has one.
    pub fn select_path(
        &mut self,
        now: Instant,
        peer: PeerId,
        policy: PolicyId,
        flow_hash: u64,
        incumbent: Option<PathId>,
    ) -> Option<PathId> {
        self.deadline.set(None);
        let balance = self.policies.get(policy.0 as usize)?.balance;
        let key = (peer, policy);
        if !self.groups.contains_key(&key)
            && self.evaluate_group(now, key)
            && let Some(p) = self.peers.get_mut(&peer)
        {
            p.generation += 1;
        }
        self.mark_class_active(now, peer, policy);
        if balance == LoadBalance::ActiveBackup {
            return self.groups.get(&key).and_then(|g| g.primary);
        }
        self.fill_candidates(now, peer, policy);
        let pol = &self.policies[policy.0 as usize];
        select(&self.scratch, pol, flow_hash, incumbent, self.config.failback_margin).path
    }

    /// The current primary path of an active-backup class towards `peer`,
    /// without marking the class active (for drivers that publish choices to a
    /// data plane). For other balancing modes this is the pool's first member.
    pub fn current_path(&mut self, now: Instant, peer: PeerId, policy: PolicyId) -> Option<PathId> {
        self.deadline.set(None);
        self.policies.get(policy.0 as usize)?;
        let key = (peer, policy);
        if !self.groups.contains_key(&key)
            && self.evaluate_group(now, key)
            && let Some(p) = self.peers.get_mut(&peer)
        {
            p.generation += 1;
        }
        let g = self.groups.get(&key)?;
        g.primary.or_else(|| g.pool.first().copied())
    }

    /// Explains the choice [`select_path`](Self::select_path) would make now.
    pub fn explain(
        &mut self,
        now: Instant,
        peer: PeerId,
        policy: PolicyId,
        flow_hash: u64,
        incumbent: Option<PathId>,
    ) -> Option<Decision> {
        self.deadline.set(None);
        let pol = self.policies.get(policy.0 as usize)?.clone();
        let incumbent = if pol.balance == LoadBalance::ActiveBackup {
            self.groups.get(&(peer, policy)).and_then(|g| g.primary).or(incumbent)
        } else {
            incumbent
        };
        self.fill_candidates(now, peer, policy);
        Some(Decision::new(&self.scratch, &pol, flow_hash, incumbent, self.config.failback_margin))
    }

    /// Changes whenever flows to `peer` may need another path.
    pub fn generation(&self, peer: PeerId) -> u64 {
        self.peers.get(&peer).map_or(0, |p| p.generation)
    }

    /// The next probe to send.
    #[must_use]
    pub fn poll_probe(&mut self) -> Option<ProbeRequest> {
        self.probes.pop_front()
    }

    /// The next event to report.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PathEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(t) = self.deadline.get() {
            return Some(t);
        }
        let mut t = self.next_reoptimise;
        if let Some((first, _)) = self.timers.first() {
            t = t.min(*first);
        }
        if let Some((first, _)) = self.hold_timers.first() {
            t = t.min(*first);
        }
        #[cfg(test)]
        self.assert_indexes_exact(t);
        self.deadline.set(Some(t));
        Some(t)
    }

    /// The timer indexes agree with a scan of every path.
    #[cfg(test)]
    fn assert_indexes_exact(&self, earliest: Instant) {
        let (base, cap) = (self.config.hold_down, self.config.max_hold_down);
        let mut t = self.next_reoptimise;
        for (id, m) in &self.paths {
            let d = m.next_deadline(&self.config);
            assert_eq!(m.indexed, Some(d), "{id} indexed under a stale deadline");
            assert!(self.timers.contains(&(d, *id)));
            let h = m.holds.iter().filter_map(|h| h.pending_expiry(base, cap)).min();
            assert_eq!(m.holds_indexed, h, "{id} indexed under a stale hold-down expiry");
            t = t.min(d);
            t = h.map_or(t, |h| t.min(h));
        }
        assert_eq!(self.timers.len(), self.paths.len());
        assert_eq!(earliest, t);
    }

    /// A path's state.
    pub fn state(&self, path: PathId) -> Option<PathState> {
        self.paths.get(&path).map(PathMonitor::state)
    }

    /// A path's full measurements.
    pub fn metrics(&self, now: Instant, path: PathId) -> Option<PathMetrics> {
        self.paths.get(&path).map(|m| m.snapshot(now))
    }

    /// A path's description.
    pub fn spec(&self, path: PathId) -> Option<&PathSpec> {
        self.paths.get(&path).map(|m| &m.spec)
    }

    /// Every path id, in order.
    pub fn paths(&self) -> impl Iterator<Item = PathId> + '_ {
        self.paths.keys().copied()
    }

    /// The paths to one peer.
    pub fn peer_paths(&self, peer: PeerId) -> &[PathId] {
        self.peers.get(&peer).map_or(&[], |p| p.paths.as_slice())
    }

    /// Counters of rejected input.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }
}

/// Files `m` (path `id`) in `timers` under its current deadline; called after
/// every change to a monitor that can move its deadline.
fn reindex(
    timers: &mut BTreeSet<(Instant, PathId)>,
    cfg: &EngineConfig,
    id: PathId,
    m: &mut PathMonitor,
) {
    let t = m.next_deadline(cfg);
    if m.indexed != Some(t) {
        if let Some(old) = m.indexed.replace(t) {
            timers.remove(&(old, id));
        }
        timers.insert((t, id));
    }
}

/// Files `m` (path `id`) in `timers` under its earliest pending hold-down
/// expiry, if any; called after every update or poll of its hold-downs.
fn reindex_holds(
    timers: &mut BTreeSet<(Instant, PathId)>,
    cfg: &EngineConfig,
    id: PathId,
    m: &mut PathMonitor,
) {
    let t = m.holds.iter().filter_map(|h| h.pending_expiry(cfg.hold_down, cfg.max_hold_down)).min();
    if m.holds_indexed != t {
        if let Some(old) = m.holds_indexed {
            timers.remove(&(old, id));
        }
        if let Some(new) = t {
            timers.insert((new, id));
        }
        m.holds_indexed = t;
    }
}

/// Whether `m` may carry `policy`'s flows: alive, not suspected after a
/// sibling's failure, and within the SLA. Leaving this state is a flap for the
/// hold-down: a suspected sibling that answers again waits out the hold-down
/// before it takes new flows (a brownout hits every path of an uplink, and
/// the loss estimate of the next one has not caught up when it answers).
fn eligible_for(policy: &SelectionPolicy, m: &PathMonitor) -> bool {
    m.state().is_alive() && !m.is_suspect() && policy.sla.check(&m.quality).is_ok()
}

fn candidate(
    id: PathId,
    m: &PathMonitor,
    policy: PolicyId,
    now: Instant,
    cfg: &EngineConfig,
) -> Candidate {
    Candidate {
        path: id,
        uplink: m.spec.uplink,
        state: m.state(),
        quality: m.quality,
        attrs: m.spec.attrs,
        tx_bps: m.tx_rate_bps(),
        flows: 0,
        held_down: m.is_suspect()
            || m.holds
                .get(policy.0 as usize)
                .is_some_and(|h| h.held(now, cfg.hold_down, cfg.max_hold_down)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{LivenessSource, PathAttrs};
    use weft_types::{UplinkId, virtual_origin};

    /// Echoes some probes, loses others (so paths go Down, siblings turn
    /// suspect and hold-downs run) and checks the timer indexes against a scan
    /// of every path at each step (`poll_timeout` does under `cfg(test)`).
    #[test]
    fn the_timer_indexes_always_match_a_scan_of_every_path() {
        let t0 = virtual_origin();
        let mut e = PathEngine::new(EngineConfig::default(), SeededRng::new(3), t0).unwrap();
        let rt = e.add_policy(t0, SelectionPolicy::for_class(crate::SlaClass::realtime()));
        for peer in 1..=3u32 {
            for uplink in 0..2u8 {
                e.add_path(
                    t0,
                    PathSpec {
                        peer: PeerId(peer),
                        uplink: UplinkId(u16::from(uplink)),
                        remote: ([10, 0, 0, peer as u8], 7000 + u16::from(uplink)).into(),
                        attrs: PathAttrs::default(),
                        liveness: LivenessSource::Probes,
                    },
                );
            }
        }
        let mut rng = SeededRng::new(9);
        let mut now = t0;
        for step in 0..20_000u32 {
            now += Duration::from_millis(5);
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
            // Lossy for a while, then clean, then lossy again.
            let loss = if (step / 4000) % 2 == 0 { 0.02 } else { 0.6 };
            while let Some(p) = e.poll_probe() {
                if !rng.chance(loss) {
                    let _ = e.handle_echo(now, p.path, p.seq);
                }
            }
            if step % 50 == 0 {
                let _ = e.select_path(now, PeerId(1), rt, 0, None);
            }
            while e.poll_event().is_some() {}
            let _ = e.poll_timeout();
        }
    }
}
