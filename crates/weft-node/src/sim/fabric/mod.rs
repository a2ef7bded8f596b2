//! [`FabricSim`]: the whole fabric on virtual time.
//!
//! N sites, each a real [`Node`](crate::Node) beside a real `weft-mesh`
//! `MeshNode` (certificates from one CA, signed SWIM gossip, link-state
//! flooding), over a simulated underlay ([`Underlay`]) of uplinks with
//! delay, jitter, loss and outages, and partitions between groups of sites.
//! Flows of a class send packets by the tables each site's node programmed,
//! through relays where the node says so, and the simulator records what
//! arrived, when, and by which path. Everything random comes from one seed:
//! a run replays exactly.
//!
//! Optionally ([`FabricConfig::control`], a [`ControlConfig`]) some sites
//! run the control plane's leader election against a model of etcd hosted
//! on another site, over the same underlay; [`FabricSim::control`] says who
//! led when, the longest time without a leader, split brains and stale
//! fenced writes.
//!
//! ```
//! use std::time::Duration;
//! use weft_node::sim::fabric::{FabricConfig, FabricSim};
//!
//! let mut sim = FabricSim::new(FabricConfig { sites: 3, ..FabricConfig::default() }, 7);
//! let call = sim.add_flow(0, 2, "realtime", 50);
//! sim.run_for(Duration::from_secs(8));
//! assert!(sim.converged(), "every site reaches every other");
//! sim.set_uplink(2, 0, false);
//! sim.run_for(Duration::from_secs(4));
//! let f = sim.flow(call);
//! assert!(f.delivered > 0 && f.max_gap < Duration::from_secs(1), "{:?}", f.max_gap);
//! ```

mod control;
mod dataplane;
mod net;
mod observe;
mod record;
mod site;
mod traffic;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weft_mesh::identity::{Enroller, MeshCa};
use weft_mesh::membership::MembershipConfig;
use weft_mesh::node::TopologyMode;
use weft_path::EngineConfig;
use weft_types::{SeededRng, virtual_origin};

pub use control::{ControlConfig, ControlStats, WRITE_EVERY};
pub use dataplane::SimDataPlane;
pub use net::{MESH_PORT, Underlay, WIRE_PORT, locate, uplink_addr};
pub use record::{Death, FlowStats, RelayChange};
pub use site::{CLASSES, site_name, site_prefix};
use site::{SimSite, SiteParams, credentials};
pub use traffic::Route;

use crate::NodeEvent;
use crate::sim::LinkProfile;

/// A path as traces name it: `u0→s4.u1` (local uplink, remote site and uplink).
fn hop_name(uplink: usize, remote: std::net::SocketAddr) -> String {
    match locate(remote) {
        Some((site, u)) => format!("u{uplink}→s{site}.u{u}"),
        None => format!("u{uplink}→{remote}"),
    }
}

/// The Unix time at the simulation's origin.
pub const BASE_UNIX: u64 = 1_800_000_000;

/// How often the data plane's counters go to each node.
const COUNTER_PERIOD: Duration = Duration::from_millis(20);

/// Sites' timers fire on this grid (the agent's loop also wakes every few
/// milliseconds): timers due within one tick run together, which keeps a
/// 200-site run fast. Probe RTTs are unaffected (they are measured from the
/// instant the probe leaves).
const TIMER_TICK: Duration = Duration::from_millis(2);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct FabricConfig {
    /// Number of sites (`s0` holds the CA and is everyone's seed).
    pub sites: usize,
    /// Uplinks per site.
    pub uplinks: usize,
    /// Hub sites for a hub-and-spoke mesh; empty: a full mesh.
    pub hubs: Vec<usize>,
    /// Every uplink's starting profile.
    pub link: LinkProfile,
    /// The path engine's timers and thresholds.
    pub engine: EngineConfig,
    /// SWIM tuning.
    pub membership: MembershipConfig,
    /// How long a member that went down keeps its peer.
    pub mesh_grace: Duration,
    /// How long a direct path must stay up before relayed traffic returns.
    pub relay_hold_down: Duration,
    /// The control plane (controllers, the store), if simulated.
    pub control: Option<ControlConfig>,
}

impl Default for FabricConfig {
    /// The agent's defaults: 2 uplinks, full mesh, 5 ms uplinks, LAN gossip,
    /// 5 s grace, 3 s relay hold-down, no control plane.
    fn default() -> Self {
        Self {
            sites: 3,
            uplinks: 2,
            hubs: Vec::new(),
            link: LinkProfile::ms(5),
            engine: EngineConfig::default(),
            membership: MembershipConfig::lan(),
            mesh_grace: Duration::from_secs(5),
            relay_hold_down: Duration::from_secs(3),
            control: None,
        }
    }
}

#[derive(Debug)]
enum Ev {
    /// A gossip datagram for site `to`.
    Mesh { to: usize, from: std::net::SocketAddr, bytes: Vec<u8> },
    /// A probe or echo for site `to` on its uplink `uplink`.
    Wire { to: usize, uplink: usize, from: std::net::SocketAddr, bytes: Vec<u8> },
    /// A flow packet arriving at site `to`.
    Packet(traffic::InFlight),
    /// Site `site`'s timers.
    Wake(usize),
    /// Flow `flow` sends its next packet.
    FlowTick(usize),
    /// Counters to every node.
    Counters,
    /// The control plane's tick.
    Control,
}

/// The simulation. See the [module documentation](self).
pub struct FabricSim {
    cfg: FabricConfig,
    params: SiteParams,
    seed: u64,
    rng: SeededRng,
    origin: Instant,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    sites: Vec<SimSite>,
    net: Underlay,
    flows: Vec<traffic::Flow>,
    rec: record::Recorder,
    /// The CA's seed (restarted sites keep their certificates under it).
    ca_seed: [u8; 32],
    /// Datagrams delivered, for scale figures.
    datagrams: u64,
    /// The control plane, if simulated.
    control: Option<control::ControlPlane>,
}

impl FabricSim {
    /// The fabric of `cfg`, every site started at once (site 0 holds the CA;
    /// the others join through it), on seed `seed`.
    pub fn new(cfg: FabricConfig, seed: u64) -> Self {
        let mut rng = SeededRng::new(seed);
        let origin = virtual_origin();
        let ca_seed: [u8; 32] = std::array::from_fn(|_| rng.next_u64() as u8);
        let mut enroller = Enroller::new(MeshCa::from_seed(&ca_seed));
        let topology =
            if cfg.hubs.is_empty() { TopologyMode::FullMesh } else { TopologyMode::HubAndSpoke };
        let params = SiteParams {
            uplinks: cfg.uplinks,
            engine: cfg.engine.clone(),
            membership: cfg.membership.clone(),
            topology,
            mesh_grace: cfg.mesh_grace,
            relay_hold_down: cfg.relay_hold_down,
        };
        let creds: Vec<_> = (0..cfg.sites)
            .map(|i| credentials(&mut enroller, i, seed, cfg.hubs.contains(&i), BASE_UNIX))
            .collect();
        let mut enroller = Some(enroller);
        let sites = creds
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let e = if i == 0 { enroller.take() } else { None };
                SimSite::start(i, &params, c, e, 1, rng.next_u64(), origin, BASE_UNIX * 1_000_000)
            })
            .collect();
        let net = Underlay::new(cfg.sites, cfg.uplinks, cfg.link);
        let control = cfg.control.clone().map(|c| control::ControlPlane::new(c, origin, seed));
        let mut sim = Self {
            params,
            seed,
            rng,
            origin,
            now: origin,
            queue: BTreeMap::new(),
            seq: 0,
            sites,
            net,
            flows: Vec::new(),
            rec: record::Recorder::new(cfg.sites),
            ca_seed,
            datagrams: 0,
            control,
            cfg,
        };
        for i in 1..sim.sites.len() {
            let seed_addr = uplink_addr(0, 0, MESH_PORT);
            // Joining can only fail on a quiet (revoked) node.
            let _ = sim.sites[i].mesh.join(origin, seed_addr);
        }
        for i in 0..sim.sites.len() {
            sim.pump(i);
        }
        sim.push(origin + COUNTER_PERIOD, Ev::Counters);
        if sim.control.is_some() {
            sim.push(origin + TIMER_TICK, Ev::Control);
        }
        sim
    }

    /// The configuration.
    pub fn config(&self) -> &FabricConfig {
        &self.cfg
    }

    /// The seed it runs on.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.origin)
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Datagrams delivered so far (gossip, probes, flow packets).
    pub fn datagrams(&self) -> u64 {
        self.datagrams
    }

    /// Number of sites.
    pub fn site_count(&self) -> usize {
        self.sites.len()
    }

    /// Site `i`'s node.
    pub fn node(&self, i: usize) -> &crate::Node {
        &self.sites[i].node
    }

    /// Site `i`'s data plane (what its node programmed).
    pub fn dataplane(&self, i: usize) -> &SimDataPlane {
        &self.sites[i].dp
    }

    /// Whether site `i` is running (not crashed).
    pub fn is_up(&self, i: usize) -> bool {
        self.sites[i].alive
    }

    /// The underlay.
    pub fn underlay(&self) -> &Underlay {
        &self.net
    }

    /// `t` rounded up to the timer grid.
    fn on_tick(&self, t: Instant) -> Instant {
        let since = t.saturating_duration_since(self.origin).as_nanos();
        let tick = TIMER_TICK.as_nanos();
        let rounded = since.div_ceil(tick) * tick;
        self.origin + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    fn unix(&self) -> u64 {
        BASE_UNIX + self.elapsed().as_secs()
    }

    /// Runs until `elapsed() == until`.
    pub fn run_until(&mut self, until: Duration) {
        let end = self.origin + until;
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > end {
                break;
            }
            let ((at, _), ev) = entry.remove_entry();
            self.now = at;
            self.handle(ev);
        }
        self.now = self.now.max(end);
    }

    /// Runs for `d` more virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.elapsed() + d;
        self.run_until(until);
    }

    fn handle(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Mesh { to, from, bytes } => {
                if self.sites[to].alive {
                    self.datagrams += 1;
                    let unix = self.unix();
                    // Refusals are counted by the mesh node.
                    let _ = self.sites[to].mesh.handle_datagram(now, unix, from, &bytes);
                    self.pump(to);
                }
            }
            Ev::Wire { to, uplink, from, bytes } => {
                if self.sites[to].alive {
                    self.datagrams += 1;
                    self.sites[to].node.handle_probe(now, uplink, from, &bytes);
                    self.pump(to);
                }
            }
            Ev::Packet(p) => self.arrive(p),
            Ev::Wake(i) => {
                if self.sites[i].alive && self.sites[i].wake == Some(now) {
                    self.sites[i].wake = None;
                    let unix = self.unix();
                    self.sites[i].on_timer(now, unix, false);
                    self.pump(i);
                }
            }
            Ev::FlowTick(f) => self.flow_tick(f),
            Ev::Counters => {
                for i in 0..self.sites.len() {
                    if self.sites[i].alive && self.sites[i].dirty {
                        self.sites[i].feed_counters(now);
                        self.pump(i);
                    }
                }
                self.push(now + COUNTER_PERIOD, Ev::Counters);
            }
            Ev::Control => {
                self.control_tick();
                self.push(now + TIMER_TICK, Ev::Control);
            }
        }
    }

    /// Sends what site `i` queued, applies its programs, records its events,
    /// and re-arms its timer.
    fn pump(&mut self, i: usize) {
        let now = self.now;
        loop {
            let mut moved = false;
            let mut mesh_events = Vec::new();
            self.sites[i].mesh_events(now, |e| mesh_events.push(e.clone()));
            for e in &mesh_events {
                self.rec.mesh_event(self.elapsed(), i, e);
            }
            while let Some(t) = self.sites[i].mesh.poll_transmit() {
                moved = true;
                self.send_mesh(i, t.to, t.bytes);
            }
            while let Some(t) = self.sites[i].node.poll_transmit() {
                moved = true;
                self.send_wire(i, t.uplink, t.dst, t.payload);
            }
            while let Some(p) = self.sites[i].node.poll_program() {
                moved = true;
                let site_of = |name: &weft_types::SiteId| {
                    name.as_str()[1..].parse::<usize>().unwrap_or(usize::MAX)
                };
                self.sites[i].dp.apply(p, site_of);
            }
            while let Some(e) = self.sites[i].node.poll_event() {
                moved = true;
                let hop = match &e {
                    NodeEvent::Path(weft_path::PathEvent::StateChanged { path, .. }) => self.sites
                        [i]
                        .node
                        .engine()
                        .spec(*path)
                        .map(|s| hop_name(s.uplink.0.into(), s.remote)),
                    _ => None,
                };
                self.rec.node_event(self.elapsed(), i, &e, hop.as_deref());
            }
            if !moved && mesh_events.is_empty() {
                break;
            }
        }
        let at = self.on_tick(self.sites[i].deadline().max(now + Duration::from_micros(100)));
        if self.sites[i].wake.is_none_or(|w| at < w || w <= now) {
            self.sites[i].wake = Some(at);
            self.push(at, Ev::Wake(i));
        }
    }

    fn send_mesh(&mut self, from: usize, to: std::net::SocketAddr, bytes: Vec<u8>) {
        let Some((dst, dst_uplink)) = locate(to) else { return };
        let Some(out) = self.net.first_up(from) else { return };
        if dst >= self.sites.len() {
            return;
        }
        let Some(d) = self.net.transit(&mut self.rng, (from, out), (dst, dst_uplink)) else {
            return;
        };
        let src = uplink_addr(from, 0, MESH_PORT);
        self.push(self.now + d, Ev::Mesh { to: dst, from: src, bytes });
    }

    fn send_wire(&mut self, from: usize, uplink: usize, to: std::net::SocketAddr, bytes: Vec<u8>) {
        let Some((dst, dst_uplink)) = locate(to) else { return };
        if dst >= self.sites.len() {
            return;
        }
        let Some(d) = self.net.transit(&mut self.rng, (from, uplink), (dst, dst_uplink)) else {
            return;
        };
        let src = uplink_addr(from, uplink, WIRE_PORT);
        self.push(self.now + d, Ev::Wire { to: dst, uplink: dst_uplink, from: src, bytes });
    }

    // ----- faults -----

    /// Cuts (`up = false`) or restores site `s`'s uplink `u`.
    pub fn set_uplink(&mut self, s: usize, u: usize, up: bool) {
        let p = self.net.link(s, u);
        self.set_link(s, u, if up { p.up() } else { p.down() });
    }

    /// Sets site `s`'s uplink `u` profile (a brownout, a delay, up or down).
    pub fn set_link(&mut self, s: usize, u: usize, p: LinkProfile) {
        self.net.set_link(s, u, p);
        self.rec.fault(self.elapsed());
        self.note_cut(s);
    }

    /// Records whether site `s` is cut off (crashed or every uplink down).
    fn note_cut(&mut self, s: usize) {
        let cut = !self.sites[s].alive || self.net.first_up(s).is_none();
        self.rec.set_cut(self.elapsed(), s, cut);
    }

    /// Splits the sites into `groups` (the unlisted ones form one more).
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.net.set_groups(groups);
        self.rec.partition(self.elapsed(), groups, self.sites.len());
    }

    /// Cuts (or restores) every path between sites `a` and `b`, and only
    /// those: each still reaches everyone else.
    pub fn cut_between(&mut self, a: usize, b: usize, cut: bool) {
        self.net.set_cut(a, b, cut);
        self.rec.fault(self.elapsed());
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.net.heal();
        self.rec.heal(self.elapsed());
    }

    /// Adds `d` of one-way delay to every datagram of site `s` (no loss).
    pub fn set_extra_delay(&mut self, s: usize, d: Duration) {
        self.net.set_extra_delay(s, d);
    }

    /// Site `s` crashes: it stops sending, receiving and keeping time.
    pub fn crash(&mut self, s: usize) {
        self.sites[s].alive = false;
        let (now, at) = (self.now, self.elapsed());
        if let Some(c) = &mut self.control {
            c.site_changed(s, false, now, at);
        }
        self.note_cut(s);
    }

    /// Site `s` restarts with a fresh node and mesh node (a higher
    /// generation, the same certificate) and rejoins through site 0, or site
    /// 1 when it is site 0.
    pub fn restart(&mut self, s: usize) {
        let old = &self.sites[s];
        let generation = old.generation + 1;
        let ca = MeshCa::from_seed(&self.ca_seed);
        let identity = weft_mesh::node::NodeIdentity {
            site_key: site::site_key(s, self.seed),
            cert: old.mesh.cert().clone(),
            ca: ca.public(),
        };
        let creds = site::Credentials {
            wg: site::wg_private(s, self.seed),
            wg_public: old.mesh.cert().body.wg_key,
            identity,
        };
        let enroller = if s == 0 {
            old.mesh.enroller_state().map(|st| Enroller::from_state(ca, st.clone()))
        } else {
            None
        };
        let unix_us = (BASE_UNIX * 1_000_000).saturating_add(self.elapsed().as_micros() as u64);
        let seed = self.rng.next_u64();
        let mut site =
            SimSite::start(s, &self.params, creds, enroller, generation, seed, self.now, unix_us);
        let seed_site = usize::from(s == 0);
        if seed_site < self.sites.len() && seed_site != s {
            let _ = site.mesh.join(self.now, uplink_addr(seed_site, 0, MESH_PORT));
        }
        self.sites[s] = site;
        let (now, at) = (self.now, self.elapsed());
        if let Some(c) = &mut self.control {
            c.site_changed(s, true, now, at);
        }
        self.note_cut(s);
        self.pump(s);
    }
}
