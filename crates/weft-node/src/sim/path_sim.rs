//! The discrete-event loop of the path simulator.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use weft_path::{
    EngineConfig, LivenessSource, PathAttrs, PathEngine, PathEvent, PathMetrics, PathSpec,
    PolicyId, SelectionPolicy,
};
use weft_types::{PathId, PeerId, SeededRng, UplinkId, virtual_origin};

use super::link::LinkProfile;

/// Bytes a simulated flow sends per traffic tick.
const TICK_BYTES: u64 = 1200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Delivery {
    /// A probe echo reaches the engine.
    Echo { path: PathId, seq: u64 },
    /// Traffic from the peer reaches the engine (passive proof of life).
    Rx { path: PathId },
    /// A scheduled link change takes effect.
    Change { path: PathId, change: usize },
}

/// One flow in the simulation and every path change it went through.
#[derive(Debug, Clone)]
pub struct SimFlow {
    /// Name for reports.
    pub name: String,
    /// Its peer.
    pub peer: PeerId,
    /// Its class policy.
    pub policy: PolicyId,
    /// Its 5-tuple hash.
    pub hash: u64,
    /// Its current path (`None`: no path, traffic waits or is dropped).
    pub path: Option<PathId>,
    /// Every change of path.
    pub moves: Vec<FlowMove>,
    generation: Option<u64>,
}

/// A flow changing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowMove {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    /// Old path.
    pub from: Option<PathId>,
    /// New path.
    pub to: Option<PathId>,
}

/// An engine event with its virtual time.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    /// The event.
    pub event: PathEvent,
}

/// A deterministic simulation of one site's paths, links and flows.
#[derive(Debug)]
pub struct PathSim {
    origin: Instant,
    now: Instant,
    rng: SeededRng,
    engine: PathEngine,
    links: BTreeMap<PathId, LinkProfile>,
    names: BTreeMap<PathId, String>,
    changes: Vec<(PathId, LinkProfile)>,
    queue: BinaryHeap<Reverse<(Instant, u64, Delivery)>>,
    queue_seq: u64,
    flows: Vec<SimFlow>,
    log: Vec<LogEntry>,
    traffic_interval: Duration,
    next_traffic: Instant,
}

impl PathSim {
    /// A simulation whose every random choice follows from `seed`.
    ///
    /// # Panics
    /// If `config` does not validate (tests pass fixed, valid configs).
    pub fn new(seed: u64, config: EngineConfig) -> Self {
        let origin = virtual_origin();
        let mut rng = SeededRng::new(seed);
        let engine = PathEngine::new(config, rng.fork(), origin).expect("valid engine config");
        Self {
            origin,
            now: origin,
            rng,
            engine,
            links: BTreeMap::new(),
            names: BTreeMap::new(),
            changes: Vec::new(),
            queue: BinaryHeap::new(),
            queue_seq: 0,
            flows: Vec::new(),
            log: Vec::new(),
            traffic_interval: Duration::from_millis(10),
            next_traffic: origin,
        }
    }

    /// The engine under test.
    pub fn engine(&self) -> &PathEngine {
        &self.engine
    }

    /// The engine under test, mutably (for `explain`, policy changes).
    pub fn engine_mut(&mut self) -> &mut PathEngine {
        &mut self.engine
    }

    /// A path's measurements now.
    pub fn metrics(&self, path: PathId) -> Option<PathMetrics> {
        self.engine.metrics(self.now, path)
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.origin
    }

    /// Registers a class policy.
    pub fn add_policy(&mut self, policy: SelectionPolicy) -> PolicyId {
        self.engine.add_policy(self.now, policy)
    }

    /// Adds a probed path to `peer` over `uplink` with the given link behaviour.
    pub fn add_path(
        &mut self,
        peer: PeerId,
        uplink: UplinkId,
        name: &str,
        attrs: PathAttrs,
        link: LinkProfile,
    ) -> PathId {
        self.add_path_with(peer, uplink, name, attrs, link, LivenessSource::Probes)
    }

    /// Adds a probed path to `peer` from `uplink` to the peer's endpoint
    /// number `remote` (`add_path` uses the uplink's number): several local
    /// uplinks can then reach one endpoint and one uplink several endpoints.
    pub fn add_path_to(
        &mut self,
        peer: PeerId,
        uplink: UplinkId,
        remote: u16,
        name: &str,
        attrs: PathAttrs,
        link: LinkProfile,
    ) -> PathId {
        let spec = PathSpec {
            peer,
            uplink,
            remote: Self::endpoint(peer, remote),
            attrs,
            liveness: LivenessSource::Probes,
        };
        self.insert_path(spec, name, link)
    }

    /// Adds a path whose proof of life comes from `liveness` (e.g. traffic
    /// only, for a stock WireGuard peer).
    pub fn add_path_with(
        &mut self,
        peer: PeerId,
        uplink: UplinkId,
        name: &str,
        attrs: PathAttrs,
        link: LinkProfile,
        liveness: LivenessSource,
    ) -> PathId {
        let spec =
            PathSpec { peer, uplink, remote: Self::endpoint(peer, uplink.0), attrs, liveness };
        self.insert_path(spec, name, link)
    }

    /// Endpoint number `n` of `peer`.
    fn endpoint(peer: PeerId, n: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, (peer.0 % 250) as u8)), 51820 + n)
    }

    fn insert_path(&mut self, spec: PathSpec, name: &str, link: LinkProfile) -> PathId {
        let id = self.engine.add_path(self.now, spec);
        self.links.insert(id, link);
        self.names.insert(id, name.to_owned());
        id
    }

    /// The name a path was added with.
    pub fn path_name(&self, path: PathId) -> &str {
        self.names.get(&path).map_or("?", String::as_str)
    }

    /// Adds a flow of class `policy` to `peer`; returns its index.
    pub fn add_flow(&mut self, name: &str, peer: PeerId, policy: PolicyId, hash: u64) -> usize {
        self.flows.push(SimFlow {
            name: name.to_owned(),
            peer,
            policy,
            hash,
            path: None,
            moves: Vec::new(),
            generation: None,
        });
        self.flows.len() - 1
    }

    /// A flow by index.
    pub fn flow(&self, i: usize) -> &SimFlow {
        &self.flows[i]
    }

    /// Every flow.
    pub fn flows(&self) -> &[SimFlow] {
        &self.flows
    }

    /// Every engine event so far.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Changes a link now.
    pub fn set_link(&mut self, path: PathId, link: LinkProfile) {
        self.links.insert(path, link);
    }

    /// The link behaviour of a path now.
    pub fn link(&self, path: PathId) -> Option<LinkProfile> {
        self.links.get(&path).copied()
    }

    /// Changes a link at virtual time `at` (since the start).
    pub fn schedule(&mut self, at: Duration, path: PathId, link: LinkProfile) {
        self.changes.push((path, link));
        let change = self.changes.len() - 1;
        self.push(self.origin + at, Delivery::Change { path, change });
    }

    fn push(&mut self, at: Instant, d: Delivery) {
        self.queue_seq += 1;
        self.queue.push(Reverse((at, self.queue_seq, d)));
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until virtual time `at` since the start.
    pub fn run_to(&mut self, at: Duration) {
        self.run_until(self.origin + at);
    }

    fn run_until(&mut self, end: Instant) {
        let mut stuck = 0u32;
        loop {
            let mut next = self.engine.poll_timeout().unwrap_or(end);
            if let Some(Reverse((t, _, _))) = self.queue.peek() {
                next = next.min(*t);
            }
            if !self.flows.is_empty() {
                next = next.min(self.next_traffic);
            }
            if next > end {
                self.now = end;
                return;
            }
            stuck = if next <= self.now { stuck + 1 } else { 0 };
            assert!(stuck < 10_000, "simulation made no progress at {:?}", self.elapsed());
            self.now = next.max(self.now);
            self.step();
        }
    }

    fn step(&mut self) {
        let now = self.now;
        while self.queue.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
            let Some(Reverse((_, _, d))) = self.queue.pop() else { break };
            match d {
                Delivery::Echo { path, seq } => {
                    let _ = self.engine.handle_echo(now, path, seq);
                }
                Delivery::Rx { path } => self.engine.handle_rx(now, path),
                Delivery::Change { path, change } => {
                    let link = self.changes[change].1;
                    self.links.insert(path, link);
                }
            }
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        if !self.flows.is_empty() && self.next_traffic <= now {
            self.next_traffic = now + self.traffic_interval;
            self.send_traffic();
        }
        self.pump();
    }

    fn send_traffic(&mut self) {
        let now = self.now;
        let classes: Vec<(PeerId, PolicyId)> =
            self.flows.iter().map(|f| (f.peer, f.policy)).collect();
        for (peer, policy) in classes {
            // As the data plane does for its active flows.
            self.engine.mark_class_active(now, peer, policy);
        }
        let sending: Vec<PathId> = self.flows.iter().filter_map(|f| f.path).collect();
        for path in sending {
            self.engine.handle_tx(now, path, TICK_BYTES);
            let Some(link) = self.links.get(&path).copied() else { continue };
            // The peer's replies come back on the same path.
            if let (Some(a), Some(b)) = (link.transit(&mut self.rng), link.transit(&mut self.rng)) {
                self.push(now + a + b, Delivery::Rx { path });
            }
        }
    }

    /// Sends what the engine asked for, records its events, and lets flows follow.
    fn pump(&mut self) {
        let now = self.now;
        while let Some(p) = self.engine.poll_probe() {
            let Some(link) = self.links.get(&p.path).copied() else { continue };
            let there = link.transit(&mut self.rng);
            let back = link.transit(&mut self.rng);
            if let (Some(a), Some(b)) = (there, back) {
                self.push(now + a + b, Delivery::Echo { path: p.path, seq: p.seq });
            }
        }
        loop {
            while let Some(e) = self.engine.poll_event() {
                self.log.push(LogEntry { at: now - self.origin, event: e });
            }
            let mut moved = false;
            for i in 0..self.flows.len() {
                let f = &self.flows[i];
                let generation = self.engine.generation(f.peer);
                if f.generation == Some(generation) {
                    continue;
                }
                let (peer, policy, hash, cur) = (f.peer, f.policy, f.hash, f.path);
                let to = self.engine.select_path(now, peer, policy, hash, cur);
                let f = &mut self.flows[i];
                f.generation = Some(self.engine.generation(peer));
                if to != cur {
                    f.moves.push(FlowMove { at: now - self.origin, from: cur, to });
                    f.path = to;
                    moved = true;
                }
            }
            if !moved && self.engine_idle() {
                break;
            }
        }
    }

    fn engine_idle(&mut self) -> bool {
        // Selecting can create groups and emit events; drain until quiet.
        let mut any = false;
        while let Some(e) = self.engine.poll_event() {
            self.log.push(LogEntry { at: self.now - self.origin, event: e });
            any = true;
        }
        !any
    }
}
