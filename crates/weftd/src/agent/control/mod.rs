//! The control loop: the one owner of the path engine.
//!
//! It sends the probes the engine asks for, answers and checks probes the
//! receive threads hand over, feeds the engine passive proof of life and
//! traffic from the data plane's counters, publishes each route profile's
//! current path for the send thread, installs new policies (their profiles
//! become path-engine policies), runs WireGuard timers, and publishes the
//! status the HTTP server serves. Only this thread reads the clock for the
//! engine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weft_api::{Event, EventKind, Explanation, PathTestResult};
use weft_dataplane::probe::{PeerProbeState, ProbeFields, ProbeKind, peek_key_id};
use weft_dataplane::wg::WgResult;
use weft_path::{PathEngine, PolicyId};
use weft_types::{FlowKey, PathId, PeerId};

use super::metrics::Metrics;
use super::ondemand::{PathTest, TEST_SEQ_BIT};
use super::shared::{NO_PATH, PeerTable, Shared, reason_label};
use super::status::SharedStatus;
use crate::policy::ActivePolicy;

mod mesh_peers;
mod relaying;
mod report;
mod requests;

pub(crate) use mesh_peers::MeshUpdate;

/// What the receive threads hand to the control loop.
#[derive(Debug)]
pub(crate) enum ControlMsg {
    /// A Weft probe or echo arrived.
    Probe {
        /// Uplink it arrived on.
        uplink: usize,
        /// Its source.
        src: SocketAddr,
        /// The datagram.
        data: Vec<u8>,
        /// When it was received.
        at: Instant,
    },
    /// Install a checked policy and answer once the data plane has it.
    InstallPolicy {
        /// The policy, with fresh data-plane state.
        policy: Box<ActivePolicy>,
        /// Answered after the swap.
        done: Sender<()>,
    },
    /// Run an on-demand test of a path (engine id); answered when done.
    TestPath {
        /// Engine path id.
        path: u32,
        /// Probes to send.
        probes: u32,
        /// Gets the result (dropped unanswered if the path is unknown, has no
        /// probes, its site is removed, or too many tests run).
        reply: tokio::sync::oneshot::Sender<PathTestResult>,
    },
    /// Explain where a flow goes and why.
    Explain {
        /// The flow.
        key: FlowKey,
        /// Its DSCP.
        dscp: u8,
        /// Gets the explanation.
        reply: tokio::sync::oneshot::Sender<Explanation>,
    },
    /// A member of the mesh came or went.
    Mesh(MeshUpdate),
    /// Mark a peer removed (or restored); answered after the data plane sees it.
    SetRemoved {
        /// Dense peer index.
        peer: usize,
        /// Removed or restored.
        removed: bool,
        /// Answered after the change.
        done: tokio::sync::oneshot::Sender<()>,
    },
}

/// The control loop's state.
pub(crate) struct Control {
    shared: Arc<Shared>,
    /// The peers and paths this loop last published (the data plane's view).
    table: Arc<PeerTable>,
    engine: PathEngine,
    /// Engine policy of each route profile of the running policy (and spares
    /// left from larger earlier policies, reused by the next install).
    profile_ids: Vec<PolicyId>,
    active: Arc<ActivePolicy>,
    probes: Vec<Option<PeerProbeState>>,
    /// Last seen data-plane counters per path: (rx packets, tx bytes).
    seen: Vec<(u64, u64)>,
    seen_profile_tx: Vec<Vec<u64>>,
    failovers: Vec<(String, u64)>,
    status: Arc<SharedStatus>,
    epoch: Instant,
    /// Events for the recorder (stored, then streamed).
    events: Sender<Event>,
    metrics: Arc<Metrics>,
    tests: Vec<PathTest>,
    next_test_id: u64,
    /// Per peer: handshakes seen, and the last time-since-handshake.
    handshakes: Vec<(u64, Option<Duration>)>,
    /// Per peer: whether it was last seen alive (`None`: never yet, for site events).
    peer_alive: Vec<Option<bool>>,
    generation: u64,
    info: SiteInfo,
    /// Local uplinks (new peers get a path per uplink and endpoint).
    uplinks: Vec<crate::config::UplinkConfig>,
    /// The TUN device (routes of new peers' prefixes point at it).
    interface: String,
    rtnl: Option<weft_dataplane::sys::Rtnl>,
    store: crate::store::Store,
    /// Members that went down: (site, retire at, why).
    retiring: Vec<(weft_types::SiteId, Instant, String)>,
    /// How long a member that went down keeps its peer.
    mesh_grace: Duration,
    /// Relays of sites whose direct paths are down, and of classes whose
    /// SLA no direct path meets.
    relays: crate::agent::relay::RelayPlanner,
    /// (destination slot, class) → relay slot, from `relays`.
    class_relay: std::collections::HashMap<(usize, usize), usize>,
    /// When each (destination, class, relay) choice was first made.
    class_relay_seen: std::collections::HashMap<(usize, usize, usize), Instant>,
    relay_rounds: u64,
    /// Relays that ended, still accepted until then: peer slot → (relay, until).
    accept_linger: std::collections::HashMap<usize, (u32, Instant)>,
    /// The sites policies may name.
    directory: Arc<std::sync::RwLock<weft_policy::SiteDirectory>>,
}

/// The local site as the status shows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct SiteInfo {
    /// Role.
    pub(crate) role: Option<String>,
    /// Region.
    pub(crate) region: Option<String>,
    /// Overlay prefixes.
    pub(crate) prefixes: Vec<String>,
}

/// What the control loop needs besides the engine.
pub(crate) struct ControlIo {
    /// Where the status goes.
    pub(crate) status: Arc<SharedStatus>,
    /// Where events go.
    pub(crate) events: Sender<Event>,
    /// The metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The local site.
    pub(crate) info: SiteInfo,
    /// Local uplinks.
    pub(crate) uplinks: Vec<crate::config::UplinkConfig>,
    /// The TUN device's name.
    pub(crate) interface: String,
    /// The store (sites learnt from the mesh are recorded).
    pub(crate) store: crate::store::Store,
    /// How long a member that went down keeps its peer.
    pub(crate) mesh_grace: Duration,
    /// How long a direct path must stay up before relayed traffic returns to it.
    pub(crate) relay_hold_down: Duration,
    /// The sites policies may name (mesh members are added as they join).
    pub(crate) directory: Arc<std::sync::RwLock<weft_policy::SiteDirectory>>,
}

impl Control {
    /// A control loop over `shared` with an engine whose paths are already
    /// added; `shared` holds the first policy, which is installed here.
    pub(crate) fn new(
        shared: Arc<Shared>,
        engine: PathEngine,
        probes: Vec<Option<PeerProbeState>>,
        io: ControlIo,
    ) -> Self {
        let table = shared.table();
        let n = table.paths.len();
        let peers = table.peers.len();
        let active = shared.active_policy();
        let mut control = Self {
            shared,
            table,
            engine,
            profile_ids: Vec::new(),
            active: active.clone(),
            probes,
            seen: vec![(0, 0); n],
            seen_profile_tx: Vec::new(),
            failovers: Vec::new(),
            status: io.status,
            epoch: Instant::now(),
            events: io.events,
            metrics: io.metrics,
            tests: Vec::new(),
            next_test_id: 1,
            handshakes: vec![(0, None); peers],
            peer_alive: vec![None; peers],
            generation: 0,
            info: io.info,
            uplinks: io.uplinks,
            interface: io.interface,
            rtnl: weft_dataplane::sys::Rtnl::open()
                .map_err(|e| eprintln!("weftd: rtnetlink for mesh routes: {e}"))
                .ok(),
            store: io.store,
            retiring: Vec::new(),
            mesh_grace: io.mesh_grace,
            relays: crate::agent::relay::RelayPlanner::new(io.relay_hold_down),
            class_relay: std::collections::HashMap::new(),
            class_relay_seen: std::collections::HashMap::new(),
            relay_rounds: 0,
            accept_linger: std::collections::HashMap::new(),
            directory: io.directory,
        };
        control.install(Instant::now(), active);
        control
    }

    /// Makes `policy` the running one: one engine policy per route profile
    /// (reusing the ids of the previous policy), paths chosen before the data
    /// plane sees it, then one swap.
    fn install(&mut self, now: Instant, policy: Arc<ActivePolicy>) {
        let uplinks = &self.shared.uplink_names;
        let uplink_id = |name: &str| {
            uplinks.iter().position(|u| u == name).map(|i| weft_types::UplinkId(i as u16))
        };
        for i in 0..policy.policy.profiles.len() {
            let sel = policy.policy.selection_policy(i, uplink_id);
            if let Some(id) = self.profile_ids.get(i) {
                self.engine.set_policy(now, *id, sel);
            } else {
                let id = self.engine.add_policy(now, sel);
                self.profile_ids.push(id);
            }
        }
        self.seen_profile_tx = vec![vec![0; policy.policy.profiles.len()]; self.table.peers.len()];
        self.active = policy;
        self.publish_paths(now);
        if !Arc::ptr_eq(&self.active, &self.shared.active_policy()) {
            self.shared.publish_policy(self.active.clone());
        }
        let mut ev = Event::new(
            EventKind::PolicyApplied,
            format!(
                "policy {:?} version {} running",
                self.active.policy.document.name, self.active.version
            ),
        );
        ev.policy_version = Some(self.active.version);
        self.emit(ev);
        eprintln!(
            "weftd[{}]: policy {:?} version {} running ({} ACLs, {} routes, {} profiles)",
            self.shared.site,
            self.active.policy.document.name,
            self.active.version,
            self.active.policy.document.acls.len(),
            self.active.policy.document.routes.len(),
            self.active.policy.profiles.len()
        );
    }

    /// Runs forever.
    pub(crate) fn run(mut self, rx: &Receiver<ControlMsg>) {
        let mut next_poll = Instant::now();
        let mut next_timers = Instant::now();
        let mut next_status = Instant::now();
        let mut out = vec![0u8; 2048];
        loop {
            let now = Instant::now();
            let deadline = self
                .engine
                .poll_timeout()
                .unwrap_or(now + Duration::from_millis(10))
                .min(next_poll)
                .min(self.test_deadline(now).unwrap_or(next_poll));
            match rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(msg) => self.handle_msg(msg, &mut out),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(msg) = rx.try_recv() {
                self.handle_msg(msg, &mut out);
            }
            let now = Instant::now();
            if now >= next_poll {
                self.poll_counters(now);
                next_poll = now + Duration::from_millis(5);
            }
            if self.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.engine.handle_timeout(now);
            }
            self.retire_due(now);
            self.send_probes(now, &mut out);
            self.run_tests(now, &mut out);
            self.drain_events(now);
            self.publish_paths(now);
            if now >= next_timers {
                self.wireguard_timers(&mut out);
                self.plan_relays(now);
                next_timers = now + Duration::from_millis(100);
            }
            if now >= next_status {
                self.publish_status(now);
                next_status = now + Duration::from_millis(200);
            }
        }
    }

    fn handle_msg(&mut self, msg: ControlMsg, out: &mut [u8]) {
        let (uplink, src, data, at) = match msg {
            ControlMsg::Probe { uplink, src, data, at } => (uplink, src, data, at),
            ControlMsg::InstallPolicy { policy, done } => {
                self.install(Instant::now(), Arc::new(*policy));
                let _ = done.send(());
                return;
            }
            ControlMsg::TestPath { path, probes, reply } => {
                self.start_test(path, probes, reply);
                return;
            }
            ControlMsg::Explain { key, dscp, reply } => {
                let _ = reply.send(self.explain(Instant::now(), key, dscp));
                return;
            }
            ControlMsg::Mesh(update) => {
                self.mesh_update(Instant::now(), update);
                return;
            }
            ControlMsg::SetRemoved { peer, removed, done } => {
                self.set_removed(peer, removed);
                let _ = done.send(());
                return;
            }
        };
        let Ok(key_id) = peek_key_id(&data) else {
            self.shared.drops.count("probe_malformed");
            return;
        };
        let found =
            self.probes.iter().position(|p| p.as_ref().is_some_and(|p| p.peer_key_id() == key_id));
        let Some(peer) = found else {
            self.shared.drops.count("probe_unknown_key_id");
            return;
        };
        if self.table.is_removed(peer) {
            self.shared.drops.count("peer_removed");
            return;
        }
        let Some(state) = self.probes[peer].as_mut() else { return };
        let msg = match state.open_checked_at(&data, first_probe_counter()) {
            Ok(m) => m,
            Err(e) => {
                self.shared.drops.count(&reason_label("probe_", &e));
                return;
            }
        };
        // An authenticated message from the peer proves this path works inwards.
        if let Some(&i) = self.table.path_by_addr.get(&(uplink, src)) {
            self.engine.handle_rx(at, self.table.paths[i as usize].engine_id);
        }
        match msg.kind {
            ProbeKind::Probe => match state.seal_echo(&msg.fields, out) {
                Ok(n) => {
                    let _ = self.shared.sockets[uplink].send_to(&out[..n], src);
                }
                Err(e) => self.shared.drops.count(&reason_label("probe_", &e)),
            },
            ProbeKind::Echo if msg.fields.seq & TEST_SEQ_BIT != 0 => {
                let seq = msg.fields.seq;
                if !self.tests.iter_mut().any(|t| t.on_echo(seq, at)) {
                    self.shared.drops.count("echo_unknown_test");
                }
            }
            ProbeKind::Echo => {
                let path = PathId(msg.fields.path_token);
                match self.engine.handle_echo(at, path, msg.fields.seq) {
                    Ok(rtt) => {
                        if let Some(labels) = self.labels(path) {
                            self.metrics.observe_rtt(&labels, rtt);
                        }
                    }
                    Err(e) => self.shared.drops.count(&reason_label("echo_", &e)),
                }
            }
        }
    }

    fn poll_counters(&mut self, now: Instant) {
        for (i, p) in self.table.paths.iter().enumerate() {
            let rx = p.rx_packets.load(Ordering::Relaxed);
            let tx = p.tx_bytes.load(Ordering::Relaxed);
            let (seen_rx, seen_tx) = self.seen[i];
            if rx != seen_rx {
                self.engine.handle_rx(now, p.engine_id);
            }
            if tx != seen_tx {
                self.engine.handle_tx(now, p.engine_id, tx - seen_tx);
            }
            self.seen[i] = (rx, tx);
        }
        let peers = self.table.peers.len();
        for (pi, counters) in self.active.profile_tx.iter().enumerate().take(peers) {
            for (c, counter) in counters.iter().enumerate() {
                let n = counter.load(Ordering::Relaxed);
                if n != self.seen_profile_tx[pi][c] {
                    self.seen_profile_tx[pi][c] = n;
                    self.engine.mark_class_active(now, PeerId(pi as u32), self.profile_ids[c]);
                }
            }
        }
    }

    fn send_probes(&mut self, now: Instant, out: &mut [u8]) {
        while let Some(p) = self.engine.poll_probe() {
            if self.table.is_removed(p.peer.0 as usize) {
                continue;
            }
            let Some(state) = self.probes.get_mut(p.peer.0 as usize).and_then(Option::as_mut)
            else {
                continue;
            };
            let fields = ProbeFields {
                path_token: p.path.0,
                seq: p.seq,
                timestamp_us: u64::try_from(now.duration_since(self.epoch).as_micros())
                    .unwrap_or(u64::MAX),
            };
            match state.seal_probe(&fields, out) {
                Ok(n) => {
                    let _ = self.shared.sockets[p.uplink.0 as usize].send_to(&out[..n], p.remote);
                }
                Err(e) => self.shared.drops.count(&reason_label("probe_", &e)),
            }
        }
    }

    fn path_name(&self, id: PathId) -> String {
        self.table.paths.iter().find(|p| p.engine_id == id).map_or_else(
            || id.to_string(),
            |p| {
                format!(
                    "{}:{}->{}",
                    self.table.peers[p.peer].name, self.shared.uplink_names[p.uplink], p.remote
                )
            },
        )
    }

    fn dense(&self, id: PathId) -> Option<u32> {
        self.table.paths.iter().position(|p| p.engine_id == id).map(|i| i as u32)
    }

    fn publish_paths(&mut self, now: Instant) {
        let profiles = self.active.policy.profiles.len();
        for pi in 0..self.table.peers.len() {
            for c in 0..profiles {
                // A class relayed for its SLA rides the relay's path for it,
                // while the relay is there and has one; else its own.
                let id = self.profile_ids[c];
                let relayed = self
                    .class_relay
                    .get(&(pi, c))
                    .filter(|v| !self.table.is_removed(**v))
                    .and_then(|v| self.engine.current_path(now, PeerId(*v as u32), id));
                let path = relayed.or_else(|| self.engine.current_path(now, PeerId(pi as u32), id));
                let dense = path.and_then(|p| self.dense(p)).unwrap_or(NO_PATH);
                self.active.primary[pi][c].store(dense, Ordering::Relaxed);
            }
        }
    }

    fn wireguard_timers(&self, out: &mut [u8]) {
        for (i, peer) in self.table.peers.iter().enumerate() {
            if self.table.is_removed(i) {
                continue;
            }
            let Ok(mut session) = peer.session.lock() else { continue };
            if let WgResult::ToNetwork(d) = session.update_timers(out) {
                let Some(pi) = self.table.direct_path(&self.active, i, 0) else { continue };
                let path = &self.table.paths[pi as usize];
                if self.shared.sockets[path.uplink].send_to(d, path.remote).is_ok() {
                    path.tx_bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }
}

/// A probe counter start that grows across restarts (the peer's replay window
/// outlives our restart): microseconds since the Unix epoch.
pub(crate) fn first_probe_counter() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(1))
}
