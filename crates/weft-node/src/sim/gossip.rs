//! [`GossipSim`]: many [`Membership`]s on one simulated lossy network.
//!
//! Every datagram is delayed uniformly within `delay` and dropped with
//! probability `loss`; members can be started from a shared member list
//! (bootstrap), joined through a seed, or killed (they stop sending and
//! receiving). Virtual time, one seed, no threads: a run replays exactly.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use weft_mesh::membership::testing::{TestAuth, TestMesh};
use weft_mesh::membership::{MemberEvent, MemberInfo, Membership, MembershipConfig, Role};
use weft_types::{PublicKey, SeededRng, SiteId, virtual_origin};

/// Network impairment and member configuration of a [`GossipSim`].
#[derive(Clone, Debug)]
pub struct GossipNet {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// One-way delay range, drawn uniformly per datagram.
    pub delay: Range<Duration>,
    /// Every member's configuration.
    pub config: MembershipConfig,
}

impl Default for GossipNet {
    fn default() -> Self {
        Self {
            loss: 0.01,
            delay: Duration::from_millis(1)..Duration::from_millis(20),
            config: MembershipConfig::lan(),
        }
    }
}

enum Ev {
    Deliver { to: usize, from: usize, bytes: Vec<u8> },
    Wake(usize),
    Start(usize),
}

struct Node {
    m: Membership<TestAuth>,
    up: bool,
    wake: Option<Instant>,
}

/// The simulated mesh. Member `i` is site `s{i}` at `10.x.y.1:7946`.
pub struct GossipSim {
    net: GossipNet,
    rng: SeededRng,
    nodes: Vec<Node>,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    now: Instant,
    origin: Instant,
    bytes_sent: u64,
    datagrams_sent: u64,
    by_site: BTreeMap<SiteId, usize>,
    bootstrap_n: usize,
}

fn site(i: usize) -> SiteId {
    SiteId::new(&format!("s{i}")).expect("valid site id")
}

fn addr(i: usize) -> SocketAddr {
    let [_, _, hi, lo] = (i as u32).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, hi, lo, 1)), 7946)
}

fn index(a: SocketAddr) -> usize {
    match a.ip() {
        IpAddr::V4(ip) => {
            let [_, hi, lo, _] = ip.octets();
            usize::from(hi) << 8 | usize::from(lo)
        }
        IpAddr::V6(_) => usize::MAX,
    }
}

fn info(i: usize) -> MemberInfo {
    let mut m = MemberInfo::new(site(i), addr(i), PublicKey([(i % 251) as u8; 32]));
    m.role = if i.is_multiple_of(50) { Role::Hub } else { Role::Site };
    m.region = format!("region-{}", i % 8);
    m.cluster = "sim".into();
    m.version = "0.1.0".into();
    m.endpoints = vec![SocketAddr::new(addr(i).ip(), 51820)];
    m
}

impl GossipSim {
    /// `capacity` members are created (not started); all are enrolled.
    pub fn new(seed: u64, capacity: usize, net: GossipNet) -> Self {
        assert!(capacity <= 65_536, "addresses are 10.x.y.1");
        let mut rng = SeededRng::new(seed);
        let mesh = TestMesh::new(rng.next_u64(), (0..capacity).map(site));
        let nodes = (0..capacity)
            .map(|i| {
                let m = Membership::new(
                    info(i),
                    net.config.clone(),
                    mesh.authenticator(&site(i)),
                    rng.next_u64(),
                )
                .expect("simulated members are valid");
                Node { m, up: true, wake: None }
            })
            .collect();
        let origin = virtual_origin();
        let by_site = (0..capacity).map(|i| (site(i), i)).collect();
        Self {
            net,
            rng,
            nodes,
            queue: BTreeMap::new(),
            seq: 0,
            now: origin,
            origin,
            bytes_sent: 0,
            datagrams_sent: 0,
            by_site,
            bootstrap_n: 0,
        }
    }

    /// Starts members `0..n` as one settled cluster: each knows all the others
    /// (as from a state store) and starts at a random point of one interval.
    pub fn bootstrap(&mut self, n: usize) {
        let spread = self.net.config.interval.as_nanos() as u64;
        for i in 0..n {
            let at = self.now + Duration::from_nanos(self.rng.below(spread.max(1)));
            self.push(at, Ev::Start(i));
        }
        self.bootstrap_n = n;
    }

    /// Member `i` announces itself to member `seed`.
    pub fn join(
        &mut self,
        i: usize,
        seed: usize,
        on_event: &mut impl FnMut(Instant, usize, &MemberEvent),
    ) {
        let now = self.now;
        // An announcement that fails to encode is a bug, not a network event.
        self.nodes[i].m.join(now, addr(seed)).expect("announce");
        self.after(i, on_event);
    }

    /// Member `i` stops sending, receiving and running timers.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].up = false;
    }

    /// Whether member `i` is running.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].up
    }

    /// Runs until virtual time `until`, handing every member event to
    /// `on_event(now, observer, event)`.
    pub fn run_until(
        &mut self,
        until: Instant,
        on_event: &mut impl FnMut(Instant, usize, &MemberEvent),
    ) {
        while let Some(entry) = self.queue.first_entry() {
            let at = entry.key().0;
            if at > until {
                break;
            }
            let ev = entry.remove();
            self.now = self.now.max(at);
            let now = self.now;
            let touched = match ev {
                Ev::Deliver { to, from, bytes } => {
                    if !self.nodes[to].up {
                        continue;
                    }
                    // Refusals are counted by the member; the simulation has none.
                    let _ = self.nodes[to].m.handle_datagram(now, addr(from), &bytes);
                    to
                }
                Ev::Wake(i) => {
                    if !self.nodes[i].up || self.nodes[i].wake != Some(at) {
                        continue;
                    }
                    self.nodes[i].wake = None;
                    self.nodes[i].m.handle_timeout(now);
                    i
                }
                Ev::Start(i) => {
                    let others = (0..self.bootstrap_n).filter(|&j| j != i).map(info);
                    self.nodes[i].m.restore(now, others).expect("restore");
                    i
                }
            };
            self.after(touched, on_event);
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(
        &mut self,
        d: Duration,
        on_event: &mut impl FnMut(Instant, usize, &MemberEvent),
    ) {
        let until = self.now + d;
        self.run_until(until, on_event);
    }

    fn after(&mut self, i: usize, on_event: &mut impl FnMut(Instant, usize, &MemberEvent)) {
        let now = self.now;
        while let Some(t) = self.nodes[i].m.poll_transmit() {
            self.bytes_sent += t.bytes.len() as u64;
            self.datagrams_sent += 1;
            if self.rng.chance(self.net.loss) {
                continue;
            }
            let to = index(t.to);
            if to >= self.nodes.len() {
                continue;
            }
            let lo = self.net.delay.start.as_nanos() as u64;
            let hi = self.net.delay.end.as_nanos() as u64;
            let delay = Duration::from_nanos(lo + self.rng.below(hi.saturating_sub(lo).max(1)));
            self.push(now + delay, Ev::Deliver { to, from: i, bytes: t.bytes });
        }
        while let Some(e) = self.nodes[i].m.poll_event() {
            on_event(now, i, &e);
        }
        if let Some(t) = self.nodes[i].m.poll_timeout() {
            let t = t.max(now);
            if self.nodes[i].wake != Some(t) {
                self.nodes[i].wake = Some(t);
                self.push(t, Ev::Wake(i));
            }
        }
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.queue.insert((at, self.seq), ev);
        self.seq += 1;
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time elapsed since the simulation began.
    pub fn elapsed(&self) -> Duration {
        self.now.duration_since(self.origin)
    }

    /// Total bytes all members have sent (lost datagrams included).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Total datagrams all members have sent.
    pub fn datagrams_sent(&self) -> u64 {
        self.datagrams_sent
    }

    /// Which member a site id names.
    pub fn index_of(&self, site: &SiteId) -> Option<usize> {
        self.by_site.get(site).copied()
    }

    /// Member `i`'s membership.
    pub fn member(&self, i: usize) -> &Membership<TestAuth> {
        &self.nodes[i].m
    }

    /// Number of members (started or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the simulation has no members.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
