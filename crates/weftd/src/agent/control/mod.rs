//! The control loop: the one owner of the path engine.
//!
//! It sends the probes the engine asks for, answers and checks probes the
//! receive threads hand over, feeds the engine passive proof of life and
//! traffic from the data plane's counters, publishes each route profile's
//! current path for the send thread, installs new policies (their profiles
//! become path-engine policies), runs WireGuard timers, and publishes the
//! status the HTTP server serves. Only this thread reads the clock for the
//! engine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weft_api::{Event, EventKind, Explanation, PathTestResult};
use weft_dataplane::wg::WgResult;
use weft_node::{Node, Profile};
use weft_types::FlowKey;

use super::metrics::Metrics;
use super::shared::{PeerTable, Shared};
use super::status::SharedStatus;
use crate::policy::ActivePolicy;

mod programs;
mod report;
mod requests;

pub(crate) use weft_node::MeshUpdate;

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
        /// The API request that asked for it (its id goes on the log lines
        /// the install writes), if any.
        request: Option<Arc<str>>,
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
    /// A run-time stock peer (a connection profile's client) spoke from a
    /// source that is none of its paths: it becomes the peer's endpoint.
    Roamed {
        /// Dense peer index.
        peer: usize,
        /// Where it spoke from.
        src: SocketAddr,
    },
    /// The mesh's revocation list changed: the connection profiles'
    /// clients it names are dropped here, and their records forgotten.
    ClientsRevoked {
        /// Every site id the list names.
        sites: Vec<weft_types::SiteId>,
    },
    /// The registry's relay limits (from the control plane's publication).
    RelayLimits {
        /// Never chosen as new relays.
        cordoned: std::collections::BTreeSet<weft_types::SiteId>,
        /// Never relays; their relayed traffic moves off.
        drained: std::collections::BTreeSet<weft_types::SiteId>,
    },
}

/// The control loop's state: the node, and the data plane's view of it.
pub(crate) struct Control {
    shared: Arc<Shared>,
    /// The peers and paths this loop last published (the data plane's view).
    table: Arc<PeerTable>,
    /// The site's brain: path engine, probes, relays, peers.
    node: Node,
    active: Arc<ActivePolicy>,
    failovers: Vec<(String, u64)>,
    status: Arc<SharedStatus>,
    epoch: Instant,
    /// Events for the recorder (stored, then streamed).
    events: Sender<Event>,
    metrics: Arc<Metrics>,
    /// Running path tests' replies, by the node's test id.
    test_replies: HashMap<u64, tokio::sync::oneshot::Sender<PathTestResult>>,
    /// Per peer: handshakes seen, and the last time-since-handshake.
    handshakes: Vec<(u64, Option<Duration>)>,
    /// Per peer: whether it was last seen alive (`None`: never yet, for site events).
    peer_alive: Vec<Option<bool>>,
    /// The data plane's offloads as last published (a change is logged once).
    offloads: Vec<(String, bool)>,
    generation: u64,
    info: SiteInfo,
    /// The TUN device (routes of new peers' prefixes point at it).
    interface: String,
    rtnl: Option<weft_dataplane::sys::Rtnl>,
    store: crate::store::Store,
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
    /// The TUN device's name.
    pub(crate) interface: String,
    /// The store (sites learnt from the mesh are recorded).
    pub(crate) store: crate::store::Store,
    /// The sites policies may name (mesh members are added as they join).
    pub(crate) directory: Arc<std::sync::RwLock<weft_policy::SiteDirectory>>,
}

impl Control {
    /// A control loop over `shared` (whose table holds the node's peers)
    /// driving `node`; `shared` holds the first policy, which is installed here.
    pub(crate) fn new(shared: Arc<Shared>, node: Node, io: ControlIo) -> Self {
        let table = shared.table();
        let peers = table.peers.len();
        let active = shared.active_policy();
        let mut control = Self {
            shared,
            table,
            node,
            active: active.clone(),
            failovers: Vec::new(),
            status: io.status,
            epoch: Instant::now(),
            events: io.events,
            metrics: io.metrics,
            test_replies: HashMap::new(),
            handshakes: vec![(0, None); peers],
            peer_alive: vec![None; peers],
            offloads: Vec::new(),
            generation: 0,
            info: io.info,
            interface: io.interface,
            rtnl: weft_dataplane::sys::Rtnl::open()
                .map_err(|e| crate::log_warn!(Agent, "rtnetlink for mesh routes: {e}"))
                .ok(),
            store: io.store,
            directory: io.directory,
        };
        control.install(Instant::now(), active);
        control
    }

    /// Makes `policy` the running one: its route profiles go to the node,
    /// whose path choices fill the policy's table before the data plane
    /// sees it, then one swap.
    fn install(&mut self, now: Instant, policy: Arc<ActivePolicy>) {
        let uplinks = &self.shared.uplink_names;
        let uplink_id = |name: &str| {
            uplinks.iter().position(|u| u == name).map(|i| weft_types::UplinkId(i as u16))
        };
        let profiles = (0..policy.policy.profiles.len())
            .map(|i| Profile {
                class: policy.policy.profiles[i].class.clone(),
                selection: policy.policy.selection_policy(i, uplink_id),
            })
            .collect();
        self.active = policy;
        self.node.install_profiles(now, profiles);
        self.pump();
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
        crate::log_info!(
            Policy,
            site = &self.shared.site,
            "policy {:?} version {} running ({} ACLs, {} routes, {} profiles)",
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
            let deadline = self.node.poll_timeout().unwrap_or(next_poll).min(next_poll);
            match rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(msg) => self.handle_msg(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(msg) = rx.try_recv() {
                self.handle_msg(msg);
            }
            let now = Instant::now();
            if now >= next_poll {
                self.poll_counters(now);
                next_poll = now + Duration::from_millis(5);
            }
            self.node.handle_link_views(self.shared.links.views());
            self.node.handle_timeout(now);
            self.pump();
            if now >= next_timers {
                self.wireguard_timers(&mut out);
                next_timers = now + Duration::from_millis(100);
            }
            if now >= next_status {
                self.publish_status(now);
                next_status = now + Duration::from_millis(200);
            }
        }
    }

    fn handle_msg(&mut self, msg: ControlMsg) {
        match msg {
            ControlMsg::Probe { uplink, src, data, at } => {
                self.node.handle_probe(at, uplink, src, &data);
            }
            ControlMsg::InstallPolicy { policy, done, request } => {
                let _serving = crate::log::context::enter(request);
                self.install(Instant::now(), Arc::new(*policy));
                let _ = done.send(());
            }
            ControlMsg::TestPath { path, probes, reply } => {
                if let Some(id) = self.node.start_test(Instant::now(), path, probes) {
                    self.test_replies.insert(id, reply);
                }
            }
            ControlMsg::Explain { key, dscp, reply } => {
                let _ = reply.send(self.explain(Instant::now(), key, dscp));
            }
            ControlMsg::Mesh(update) => self.node.handle_mesh(Instant::now(), update),
            ControlMsg::Roamed { peer, src } => self.roamed(peer, src),
            ControlMsg::ClientsRevoked { sites } => self.clients_revoked(&sites),
            ControlMsg::SetRemoved { peer, removed, done } => {
                self.node.set_removed(peer, removed);
                self.pump();
                let _ = done.send(());
            }
            ControlMsg::RelayLimits { cordoned, drained } => {
                if (&cordoned, &drained)
                    != (&self.node.relay_limits().cordoned, &self.node.relay_limits().drained)
                {
                    let names = |s: &std::collections::BTreeSet<weft_types::SiteId>| {
                        let v: Vec<String> = s.iter().map(ToString::to_string).collect();
                        if v.is_empty() { "none".to_owned() } else { v.join(", ") }
                    };
                    crate::log_info!(
                        Agent,
                        site = &self.shared.site,
                        "relay limits: cordoned {}; drained {}",
                        names(&cordoned),
                        names(&drained)
                    );
                }
                self.node.set_relay_limits(cordoned, drained);
            }
        }
        self.pump();
    }

    /// Sends what the node queued, applies its programs, handles its events.
    fn pump(&mut self) {
        while let Some(t) = self.node.poll_transmit() {
            if let Some(socket) = self.shared.sockets.get(t.uplink) {
                let _ = socket.send_to(&t.payload, t.dst);
            }
        }
        while let Some(p) = self.node.poll_program() {
            self.apply(p);
        }
        while let Some(e) = self.node.poll_event() {
            self.on_event(e);
        }
    }

    /// Hands the data plane's counters to the node: proof of life and
    /// traffic per path, packets per (peer, class).
    fn poll_counters(&mut self, now: Instant) {
        for (i, p) in self.table.paths.iter().enumerate() {
            let rx = p.rx_packets.load(Ordering::Relaxed);
            let tx = p.tx_bytes.load(Ordering::Relaxed);
            self.node.handle_path_counters(now, i as u32, rx, tx);
        }
        let peers = self.table.peers.len();
        for (pi, counters) in self.active.profile_tx.iter().enumerate().take(peers) {
            for (c, counter) in counters.iter().enumerate() {
                self.node.handle_class_tx(now, pi, c, counter.load(Ordering::Relaxed));
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
