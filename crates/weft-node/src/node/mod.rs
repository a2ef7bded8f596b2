//! [`Node`]: one site's brain behind `handle_*` / `poll_*`.
//!
//! It owns the path engine, the peers and their paths, the probe keys and
//! replay windows, the installed policy's route profiles, the relay planner
//! and the link-state view, on-demand tests, and the grace period of members
//! that went down. It does no I/O and never reads the clock.
//!
//! # Driving a node
//! 1. [`Node::new`] with a [`NodeConfig`]; add the configured peers with
//!    [`Node::handle_mesh`]`(now, MeshUpdate::Up(spec))` (a non-`dynamic`
//!    spec) and install the first policy with [`Node::install_profiles`].
//! 2. Feed it: every Weft probe datagram ([`Node::handle_probe`]), the data
//!    plane's counters ([`Node::handle_path_counters`],
//!    [`Node::handle_class_tx`]), the mesh's members and link-state views
//!    ([`Node::handle_mesh`], [`Node::handle_link_views`]), operator commands
//!    ([`Node::start_test`], [`Node::set_removed`], [`Node::install_profiles`]),
//!    and [`Node::handle_timeout`] whenever [`Node::poll_timeout`] is due.
//! 3. After every call, send all of [`Node::poll_transmit`], apply all of
//!    [`Node::poll_program`] to the data plane in order, and handle all of
//!    [`Node::poll_event`].

mod ondemand;
mod peers;
mod probing;
mod relaying;
mod types;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_path::{Decision, PathEngine, PolicyId};
use weft_types::{PathId, PeerId, SeededRng, SiteId};

use crate::relay::{LinkSummary, LinkView, RelayPlanner};
pub use ondemand::{MAX_RUNNING_TESTS, MAX_TEST_PROBES, TEST_SEQ_BIT};
pub use peers::{Claim, claim_conflict};
pub use types::{
    NO_PATH, NewPath, NodeConfig, NodeEvent, PathTestReport, PeerSpec, Profile, Program, Transmit,
    UplinkSpec,
};

/// How often relays are planned and the local links measured.
const RELAY_PLAN_EVERY: Duration = Duration::from_millis(100);

/// What the mesh tells the node.
#[derive(Debug, Clone, PartialEq)]
pub enum MeshUpdate {
    /// A member to peer with (new, or its keys or endpoints changed); also
    /// how configured peers are added (`dynamic: false`).
    Up(PeerSpec),
    /// A member left: retire its peer after the grace period, or at once.
    Down {
        /// The site.
        site: SiteId,
        /// Why (`dead`, `left`, `revoked`, `expired`).
        reason: String,
        /// Retire without waiting for the grace period.
        now: bool,
    },
}

/// Why a node could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The path engine's configuration is invalid (nothing was built).
    #[error("path engine: {0}")]
    Engine(#[from] weft_path::ConfigError),
}

/// A peer slot.
#[derive(Debug)]
pub(crate) struct PeerSlot {
    pub(crate) spec: PeerSpec,
    /// Dense indices of its current paths.
    pub(crate) paths: Vec<u32>,
    pub(crate) probes: Option<weft_probe::PeerProbeState>,
    /// An operator removed it.
    pub(crate) removed: bool,
    /// It left the mesh.
    pub(crate) gone: bool,
}

impl PeerSlot {
    /// Whether it takes no traffic (removed, or gone).
    pub(crate) fn is_out(&self) -> bool {
        self.removed || self.gone
    }
}

/// A path slot (never reused: a replaced peer's old paths stay, unreferenced).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathSlot {
    pub(crate) peer: usize,
    pub(crate) uplink: usize,
    pub(crate) remote: SocketAddr,
    pub(crate) engine_id: PathId,
}

/// One site's brain. See the [module documentation](self) for how to drive it.
#[derive(Debug)]
pub struct Node {
    cfg: NodeConfig,
    engine: PathEngine,
    epoch: Instant,
    peers: Vec<PeerSlot>,
    /// Site → peer slot (a site keeps its slot for good).
    slots: BTreeMap<SiteId, usize>,
    paths: Vec<PathSlot>,
    path_by_addr: BTreeMap<(usize, SocketAddr), u32>,
    profiles: Vec<Profile>,
    /// Engine policy of each route profile (and spares from larger policies).
    profile_ids: Vec<PolicyId>,
    /// `[peer][profile]`: the dense path published to the data plane.
    class_paths: Vec<Vec<u32>>,
    /// Per peer: the engine generation its class paths were published at.
    published_gen: Vec<u64>,
    /// Every peer's class paths must be looked at again (a new policy).
    republish: bool,
    /// The engine's next deadline, cached until the engine changes.
    engine_deadline: std::cell::Cell<(bool, Option<Instant>)>,
    /// Last seen data-plane counters per path: (rx packets, tx bytes).
    seen: Vec<(u64, u64)>,
    /// Last seen packets per (peer, profile).
    seen_class_tx: Vec<Vec<u64>>,
    relays: RelayPlanner,
    relay_via: Vec<Option<usize>>,
    relay_accept: Vec<(Option<usize>, Option<usize>)>,
    /// (destination slot, profile) → relay slot.
    class_relay: BTreeMap<(usize, usize), usize>,
    /// When each (destination, profile, relay) choice was first made.
    class_relay_seen: BTreeMap<(usize, usize, usize), Instant>,
    relay_rounds: u64,
    /// Relays that ended, still accepted until then: peer slot → (relay, until).
    accept_linger: BTreeMap<usize, (usize, Instant)>,
    next_relay_plan: Instant,
    /// Every other site's latest advertisement.
    views: Arc<Vec<LinkView>>,
    local_links: Vec<LinkSummary>,
    /// Members that went down: (site, retire at, why).
    retiring: Vec<(SiteId, Instant, String)>,
    tests: Vec<ondemand::PathTest>,
    next_test_id: u64,
    transmits: VecDeque<Transmit>,
    programs: VecDeque<Program>,
    events: VecDeque<NodeEvent>,
    scratch: Vec<u8>,
}

impl Node {
    /// A node with no peers and no policy, at `now`.
    pub fn new(cfg: NodeConfig, now: Instant) -> Result<Self, NodeError> {
        let engine = PathEngine::new(cfg.engine.clone(), SeededRng::new(cfg.seed), now)?;
        let relays = RelayPlanner::new(cfg.relay_hold_down);
        Ok(Self {
            cfg,
            engine,
            epoch: now,
            peers: Vec::new(),
            slots: BTreeMap::new(),
            paths: Vec::new(),
            path_by_addr: BTreeMap::new(),
            profiles: Vec::new(),
            profile_ids: Vec::new(),
            class_paths: Vec::new(),
            published_gen: Vec::new(),
            republish: true,
            engine_deadline: std::cell::Cell::new((false, None)),
            seen: Vec::new(),
            seen_class_tx: Vec::new(),
            relays,
            relay_via: Vec::new(),
            relay_accept: Vec::new(),
            class_relay: BTreeMap::new(),
            class_relay_seen: BTreeMap::new(),
            relay_rounds: 0,
            accept_linger: BTreeMap::new(),
            next_relay_plan: now,
            views: Arc::new(Vec::new()),
            local_links: Vec::new(),
            retiring: Vec::new(),
            tests: Vec::new(),
            next_test_id: 1,
            transmits: VecDeque::new(),
            programs: VecDeque::new(),
            events: VecDeque::new(),
            scratch: vec![0; 2048],
        })
    }

    /// This site.
    pub fn site(&self) -> &SiteId {
        &self.cfg.site
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// The path engine (read-only: metrics, explanations, policies).
    pub fn engine(&self) -> &PathEngine {
        &self.engine
    }

    /// The installed route profiles.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Number of peer slots.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Peer slot `slot`: its spec, whether an operator removed it, whether it left.
    pub fn peer(&self, slot: usize) -> Option<(&PeerSpec, bool, bool)> {
        self.peers.get(slot).map(|p| (&p.spec, p.removed, p.gone))
    }

    /// The slot of `site`.
    pub fn slot_of(&self, site: &SiteId) -> Option<usize> {
        self.slots.get(site).copied()
    }

    /// Dense indices of peer `slot`'s current paths.
    pub fn peer_paths(&self, slot: usize) -> &[u32] {
        self.peers.get(slot).map_or(&[], |p| &p.paths)
    }

    /// Path `dense`: (peer slot, uplink index, remote, engine id).
    pub fn path(&self, dense: u32) -> Option<(usize, usize, SocketAddr, PathId)> {
        self.paths.get(dense as usize).map(|p| (p.peer, p.uplink, p.remote, p.engine_id))
    }

    /// Number of path slots.
    pub fn path_count(&self) -> usize {
        self.paths.len()
    }

    /// The dense index of engine path `id`.
    pub fn dense(&self, id: PathId) -> Option<u32> {
        self.paths.iter().position(|p| p.engine_id == id).map(|i| i as u32)
    }

    /// The published path (dense) of `profile` towards `peer`.
    pub fn class_path(&self, peer: usize, profile: usize) -> Option<u32> {
        self.class_paths.get(peer)?.get(profile).copied().filter(|p| *p != NO_PATH)
    }

    /// The relay every packet for `peer` goes through now, if any.
    pub fn relay_of(&self, peer: usize) -> Option<usize> {
        self.relay_via.get(peer).copied().flatten()
    }

    /// The relay of `dst`'s whole traffic, by name.
    pub fn relay_via(&self, dst: &SiteId) -> Option<&SiteId> {
        self.relays.via(dst)
    }

    /// Sets the sites the control plane keeps relayed traffic away from:
    /// `cordoned` ones are never chosen as new relays (relays through them
    /// stay), `drained` ones are never chosen and lose the traffic they
    /// relay at the next plan (within 100 ms; class relays within 500 ms).
    pub fn set_relay_limits(
        &mut self,
        cordoned: std::collections::BTreeSet<SiteId>,
        drained: std::collections::BTreeSet<SiteId>,
    ) {
        self.relays.set_limits(crate::relay::RelayLimits { cordoned, drained });
    }

    /// The sites kept out of relaying ([`Self::set_relay_limits`]).
    pub fn relay_limits(&self) -> &crate::relay::RelayLimits {
        self.relays.limits()
    }

    /// This site's measured links as last advertised.
    pub fn local_links(&self) -> &[LinkSummary] {
        &self.local_links
    }

    /// `path`'s readable name: `site:uplink->remote`.
    pub fn path_name(&self, id: PathId) -> String {
        self.paths.iter().find(|p| p.engine_id == id).map_or_else(
            || id.to_string(),
            |p| {
                format!(
                    "{}:{}->{}",
                    self.peers[p.peer].spec.name, self.cfg.uplinks[p.uplink].name, p.remote
                )
            },
        )
    }

    /// Makes `profiles` the running route profiles (reusing the engine
    /// policies of the previous ones) and republishes every class path.
    pub fn install_profiles(&mut self, now: Instant, profiles: Vec<Profile>) {
        for (i, p) in profiles.iter().enumerate() {
            if let Some(id) = self.profile_ids.get(i) {
                self.engine.set_policy(now, *id, p.selection.clone());
            } else {
                let id = self.engine.add_policy(now, p.selection.clone());
                self.profile_ids.push(id);
            }
        }
        self.seen_class_tx = vec![vec![0; profiles.len()]; self.peers.len()];
        self.profiles = profiles;
        self.class_paths = vec![Vec::new(); self.peers.len()];
        self.class_relay.retain(|(_, c), _| *c < self.profiles.len());
        self.republish = true;
        self.publish_paths(now);
        self.engine_changed();
    }

    /// Why `profile`'s flow with hash `flow_hash` towards `peer` goes where it does.
    pub fn explain(
        &mut self,
        now: Instant,
        peer: usize,
        profile: usize,
        flow_hash: u64,
    ) -> Option<Decision> {
        let id = *self.profile_ids.get(profile)?;
        let incumbent = self.class_path(peer, profile).and_then(|d| self.path(d)).map(|p| p.3);
        self.engine_changed();
        self.engine.explain(now, PeerId(peer as u32), id, flow_hash, incumbent)
    }

    /// Data-plane counters of path `dense`: packets received (authenticated)
    /// and bytes sent so far. Changes are proof of life and traffic.
    pub fn handle_path_counters(
        &mut self,
        now: Instant,
        dense: u32,
        rx_packets: u64,
        tx_bytes: u64,
    ) {
        let Some(p) = self.paths.get(dense as usize) else { return };
        let id = p.engine_id;
        let i = dense as usize;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, (0, 0));
        }
        let (seen_rx, seen_tx) = self.seen[i];
        if rx_packets != seen_rx {
            self.engine.handle_rx(now, id);
            self.engine_changed();
        }
        if tx_bytes != seen_tx {
            self.engine.handle_tx(now, id, tx_bytes.wrapping_sub(seen_tx));
            self.engine_changed();
        }
        self.seen[i] = (rx_packets, tx_bytes);
    }

    /// Packets sent so far for `profile` towards `peer`: a change marks the
    /// class active there (probed faster, its backups warm).
    pub fn handle_class_tx(&mut self, now: Instant, peer: usize, profile: usize, packets: u64) {
        let (Some(row), Some(id)) =
            (self.seen_class_tx.get_mut(peer), self.profile_ids.get(profile))
        else {
            return;
        };
        let Some(seen) = row.get_mut(profile) else { return };
        if *seen != packets {
            *seen = packets;
            self.engine.mark_class_active(now, PeerId(peer as u32), *id);
            self.engine_changed();
        }
    }

    /// Every other site's latest link-state advertisement (from the mesh).
    pub fn handle_link_views(&mut self, views: Arc<Vec<LinkView>>) {
        self.views = views;
    }

    /// Timers: the engine's, probes due, tests, retirements, relay planning.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        self.retire_due(now);
        self.send_probes(now);
        self.run_tests(now);
        self.drain_engine_events();
        self.publish_paths(now);
        if now >= self.next_relay_plan {
            self.plan_relays(now);
            self.next_relay_plan = now + RELAY_PLAN_EVERY;
        }
        self.engine_changed();
    }

    /// The next instant [`Node::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_relay_plan;
        let (known, cached) = self.engine_deadline.get();
        let engine = if known {
            cached
        } else {
            let e = self.engine.poll_timeout();
            self.engine_deadline.set((true, e));
            e
        };
        if let Some(e) = engine {
            t = t.min(e);
        }
        for r in &self.retiring {
            t = t.min(r.1);
        }
        for test in &self.tests {
            t = t.min(test.deadline());
        }
        Some(t)
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next change for the data plane.
    #[must_use]
    pub fn poll_program(&mut self) -> Option<Program> {
        self.programs.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    /// Removes (or restores) peer `slot`: the data plane stops (or resumes)
    /// sending to it and accepting from it; probes likewise.
    pub fn set_removed(&mut self, slot: usize, removed: bool) {
        let Some(p) = self.peers.get_mut(slot) else { return };
        if p.removed == removed {
            return;
        }
        p.removed = removed;
        let site = p.spec.name.clone();
        self.republish = true;
        self.programs.push_back(Program::PeerRemoved { slot, removed });
        self.events.push_back(NodeEvent::PeerRemoved { site, removed });
    }

    /// Starts a test of `probes` probes on engine path `path`; `None` when the
    /// path is unknown, its peer takes no Weft probes or is out, or
    /// [`MAX_RUNNING_TESTS`] run already. The result comes as
    /// [`NodeEvent::TestDone`] with the returned id.
    pub fn start_test(&mut self, now: Instant, path: u32, probes: u32) -> Option<u64> {
        let dense = self.paths.iter().position(|p| p.engine_id.0 == path)?;
        let p = self.paths[dense];
        let peer = &self.peers[p.peer];
        if peer.probes.is_none() || peer.is_out() || self.tests.len() >= MAX_RUNNING_TESTS {
            return None;
        }
        let names = ondemand::TestNames {
            site: peer.spec.name.to_string(),
            uplink: self.cfg.uplinks[p.uplink].name.clone(),
            remote: p.remote.to_string(),
            engine_id: path,
        };
        let id = self.next_test_id & 0x7fff_ffff_ffff;
        self.next_test_id += 1;
        self.tests.push(ondemand::PathTest::new(id, dense as u32, probes, now, names));
        Some(id)
    }

    fn run_tests(&mut self, now: Instant) {
        let mut due = Vec::new();
        for t in &mut self.tests {
            while let Some(seq) = t.due(now) {
                due.push((t.path, seq));
            }
        }
        for (path, seq) in due {
            self.seal_probe_on(now, path, seq);
        }
        let mut i = 0;
        while i < self.tests.len() {
            if self.tests[i].finished(now) {
                let report = self.tests.swap_remove(i).finish();
                self.events.push_back(NodeEvent::TestDone(report));
            } else {
                i += 1;
            }
        }
    }

    /// Probe timestamps: microseconds since the node was built.
    fn timestamp_us(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }

    /// Unix time in microseconds, from the time given at start.
    fn unix_us(&self, now: Instant) -> u64 {
        self.cfg.unix_us_at_start.saturating_add(self.timestamp_us(now))
    }

    fn drain_engine_events(&mut self) {
        while let Some(e) = self.engine.poll_event() {
            self.events.push_back(NodeEvent::Path(e));
        }
    }

    /// Publishes each (peer, profile)'s path where it changed: a class
    /// relayed for its SLA rides the relay's path for it (while the relay is
    /// there and has one), else its own. Only peers whose engine generation
    /// moved (or that have a class relay) are looked at, unless everything
    /// must be.
    fn publish_paths(&mut self, now: Instant) {
        let profiles = self.profiles.len();
        let peers = self.peers.len();
        if self.class_paths.len() < peers {
            self.class_paths.resize(peers, Vec::new());
        }
        if self.published_gen.len() < peers {
            self.published_gen.resize(peers, u64::MAX);
        }
        let all = std::mem::take(&mut self.republish);
        for pi in 0..peers {
            let generation = self.engine.generation(PeerId(pi as u32));
            let relayed = self.class_relay.keys().any(|(d, _)| *d == pi);
            let fresh = self.class_paths[pi].len() != profiles;
            if !all && !relayed && !fresh && self.published_gen[pi] == generation {
                continue;
            }
            if fresh {
                self.class_paths[pi] = vec![u32::MAX - 1; profiles];
            }
            for c in 0..profiles {
                let id = self.profile_ids[c];
                let relayed = self
                    .class_relay
                    .get(&(pi, c))
                    .filter(|v| !self.peers[**v].is_out())
                    .and_then(|v| self.engine.current_path(now, PeerId(*v as u32), id));
                let path = relayed.or_else(|| self.engine.current_path(now, PeerId(pi as u32), id));
                let dense = path.and_then(|p| self.dense(p)).unwrap_or(NO_PATH);
                if self.class_paths[pi][c] != dense {
                    self.class_paths[pi][c] = dense;
                    self.programs.push_back(Program::ClassPath {
                        peer: pi,
                        profile: c,
                        path: dense,
                    });
                }
            }
            // current_path may itself have bumped the generation (a new group).
            self.published_gen[pi] = self.engine.generation(PeerId(pi as u32));
        }
    }

    /// The engine changed: its next deadline must be asked again.
    pub(crate) fn engine_changed(&self) {
        self.engine_deadline.set((false, None));
    }
}

/// A counter label for an error: its variant name in snake case, with a prefix
/// (`wg_invalid_mac`, `probe_bad_mac`).
pub fn reason_label(prefix: &str, err: &impl std::fmt::Debug) -> String {
    let dbg = format!("{err:?}");
    let name = dbg.split([' ', '{', '(']).next().unwrap_or("unknown");
    let mut out = String::from(prefix);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    enum E {
        InvalidMac,
        BufferTooSmall { needed: usize },
    }

    #[test]
    fn error_labels_are_snake_case_variant_names() {
        assert_eq!(reason_label("wg_", &E::InvalidMac), "wg_invalid_mac");
        assert_eq!(reason_label("wg_", &E::BufferTooSmall { needed: 3 }), "wg_buffer_too_small");
    }
}
