//! An in-memory network for nodes and enrolments: datagrams move between
//! slots by address with a 1 ms delay on virtual time. Deterministic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU32, NonZeroU64};
use std::time::{Duration, Instant};

use weft_types::{PublicKey, SiteId, virtual_origin};

use crate::identity::{Enroller, JoinToken, Label, MeshCa, PrefixList, SelfClaims, SiteKey};
use crate::membership::{MemberInfo, MembershipConfig};
use crate::node::{
    EnrolFailure, Enrolled, Enrolment, MeshNode, NodeConfig, NodeEvent, NodeIdentity, TokenSpec,
};

pub(super) const BASE_UNIX: u64 = 1_700_000_000;
pub(super) const CA_SEED: [u8; 32] = [1; 32];

pub(super) fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 7946)
}

fn index(a: SocketAddr) -> usize {
    match a.ip() {
        IpAddr::V4(v4) => usize::from(v4.octets()[3]),
        IpAddr::V6(_) => usize::MAX,
    }
}

pub(super) fn site(i: u8) -> SiteId {
    SiteId::new(&format!("site-{i}")).unwrap()
}

pub(super) fn key(i: u8) -> SiteKey {
    SiteKey::from_seed(&[i.wrapping_add(10); 32])
}

pub(super) fn wg(i: u8) -> PublicKey {
    PublicKey([i.wrapping_add(100); 32])
}

pub(super) fn prefixes(i: u8) -> PrefixList {
    PrefixList::new(vec![format!("10.{i}.0.0/16").parse().unwrap()]).unwrap()
}

pub(super) fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

pub(super) fn info(i: u8, generation: u32) -> MemberInfo {
    let mut m = MemberInfo::new(site(i), addr(i), wg(i));
    m.generation = generation;
    m.endpoints = vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), 51820)];
    m
}

pub(super) fn config(renew_via: Vec<SocketAddr>) -> NodeConfig {
    let membership = MembershipConfig {
        expected_members: NonZeroU32::new(10).unwrap(),
        ..MembershipConfig::lan()
    };
    NodeConfig::new(membership, renew_via)
}

pub(super) fn spec(ttl_s: u64, uses: u32) -> TokenSpec {
    TokenSpec {
        ttl_s,
        uses,
        role: label("site"),
        region: label("eu"),
        allowed_prefixes: None,
        allowed_learn: crate::identity::LearnRanges::default(),
    }
}

/// What sits at an address.
pub(super) enum Slot {
    Empty,
    Enrolling(Box<Enrolment>),
    Node(Box<MeshNode>),
}

/// Decides whether a datagram from slot `.0` to slot `.1` is delivered.
pub(super) type Filter = Box<dyn Fn(usize, usize, &[u8]) -> bool>;

pub(super) struct Sim {
    pub(super) slots: Vec<Slot>,
    /// `false`: nothing is delivered to or from this slot.
    pub(super) up: Vec<bool>,
    pub(super) now: Instant,
    pub(super) origin: Instant,
    in_flight: Vec<(Instant, usize, usize, Vec<u8>)>,
    /// Every event: (slot, when, event).
    pub(super) events: Vec<(usize, Instant, NodeEvent)>,
    pub(super) filter: Filter,
    /// Every datagram sent, if `recording`: (from, to, bytes).
    pub(super) log: Vec<(usize, usize, Vec<u8>)>,
    pub(super) recording: bool,
    /// The topology every site started from now on uses.
    pub(super) topology: crate::node::TopologyMode,
}

impl Sim {
    /// A network with the CA holder (a hub) at slot 0.
    pub(super) fn with_ca(lifetime: Option<u64>) -> Self {
        let origin = virtual_origin();
        let mut enroller = Enroller::new(MeshCa::from_seed(&CA_SEED));
        if let Some(l) = lifetime {
            enroller.set_cert_lifetime(NonZeroU64::new(l).unwrap());
        }
        let claims = SelfClaims {
            site: site(0),
            role: label("hub"),
            region: label("eu"),
            prefixes: prefixes(0),
            site_key: key(0).public(),
            wg_key: wg(0),
            learn_ranges: crate::identity::LearnRanges::default(),
        };
        let cert = enroller.issue_self(BASE_UNIX, claims).unwrap();
        let ca = enroller.ca_public();
        let me = NodeIdentity { site_key: key(0), cert, ca };
        let node =
            MeshNode::new(info(0, 0), me, config(vec![]), Some(enroller), 0, origin, BASE_UNIX)
                .unwrap();
        let mut slots: Vec<Slot> = (0..16).map(|_| Slot::Empty).collect();
        slots[0] = Slot::Node(Box::new(node));
        Self {
            slots,
            up: vec![true; 16],
            now: origin,
            origin,
            in_flight: Vec::new(),
            events: Vec::new(),
            filter: Box::new(|_, _, _| true),
            log: Vec::new(),
            recording: false,
            topology: crate::node::TopologyMode::FullMesh,
        }
    }

    /// The CA holder plus sites `1..=n`, enrolled, started and joined, after
    /// `settle` of virtual time.
    pub(super) fn mesh(n: u8, lifetime: Option<u64>, settle: Duration) -> Self {
        Self::with_ca(lifetime).populate(n, settle)
    }

    /// Enrols, starts and joins sites `1..=n`, then runs `settle`.
    pub(super) fn populate(mut self, n: u8, settle: Duration) -> Self {
        let sim = &mut self;
        for i in 1..=n {
            let enrolled = sim.enrol(i, spec(3600, 10)).expect("enrols");
            sim.start(i, &enrolled, 0);
        }
        sim.run_for(settle);
        self
    }

    pub(super) fn now_unix(&self) -> u64 {
        BASE_UNIX + (self.now - self.origin).as_secs()
    }

    pub(super) fn node(&self, i: u8) -> &MeshNode {
        match &self.slots[usize::from(i)] {
            Slot::Node(n) => n,
            _ => panic!("slot {i} holds no node"),
        }
    }

    pub(super) fn node_mut(&mut self, i: u8) -> &mut MeshNode {
        match &mut self.slots[usize::from(i)] {
            Slot::Node(n) => n,
            _ => panic!("slot {i} holds no node"),
        }
    }

    pub(super) fn token(&mut self, spec: TokenSpec) -> JoinToken {
        let now_unix = self.now_unix();
        self.node_mut(0).issue_token(now_unix, spec).unwrap()
    }

    /// Enrols site `i` with a fresh token of `spec` from the CA holder.
    pub(super) fn enrol(&mut self, i: u8, spec: TokenSpec) -> Result<Enrolled, EnrolFailure> {
        let token = self.token(spec);
        self.enrol_with(i, token)
    }

    /// Runs an [`Enrolment`] of site `i` with `token` in slot `i` to its end.
    pub(super) fn enrol_with(&mut self, i: u8, token: JoinToken) -> Result<Enrolled, EnrolFailure> {
        self.enrol_learning(i, token, crate::identity::LearnRanges::default())
    }

    /// Like [`Sim::enrol_with`], asking for `learn` ranges too.
    pub(super) fn enrol_learning(
        &mut self,
        i: u8,
        token: JoinToken,
        learn: crate::identity::LearnRanges,
    ) -> Result<Enrolled, EnrolFailure> {
        let (now, now_unix) = (self.now, self.now_unix());
        let e = Enrolment::new(token, site(i), &key(i), wg(i), prefixes(i), addr(0), now, now_unix)
            .with_learn_ranges(&key(i), learn);
        self.slots[usize::from(i)] = Slot::Enrolling(Box::new(e));
        for _ in 0..200 {
            self.run_for(Duration::from_millis(100));
            if let Slot::Enrolling(e) = &self.slots[usize::from(i)]
                && let Some(outcome) = e.outcome()
            {
                self.slots[usize::from(i)] = Slot::Empty;
                return outcome;
            }
        }
        panic!("enrolment of {i} never ended")
    }

    /// Starts site `i`'s node from its enrolment and joins via slot 0.
    pub(super) fn start(&mut self, i: u8, enrolled: &Enrolled, generation: u32) {
        let me = NodeIdentity { site_key: key(i), cert: enrolled.cert.clone(), ca: enrolled.ca };
        let (now, now_unix) = (self.now, self.now_unix());
        let mut cfg = config(vec![addr(0)]);
        cfg.topology = self.topology.clone();
        let mut node = MeshNode::new(
            info(i, generation),
            me,
            cfg,
            None,
            u64::from(i) + 1000 * u64::from(generation),
            now,
            now_unix,
        )
        .unwrap();
        node.handle_revocations(now, &enrolled.revocations).unwrap();
        node.join(now, addr(0)).unwrap();
        self.slots[usize::from(i)] = Slot::Node(Box::new(node));
    }

    /// Events of slot `i` since `since`.
    pub(super) fn events_of(&self, i: u8, since: Instant) -> Vec<&NodeEvent> {
        self.events
            .iter()
            .filter(|(s, at, _)| *s == usize::from(i) && *at >= since)
            .map(|(_, _, e)| e)
            .collect()
    }

    /// Hands `bytes` from slot `from` to slot `to` now, bypassing the network.
    pub(super) fn inject(
        &mut self,
        from: u8,
        to: u8,
        bytes: &[u8],
    ) -> Result<(), super::NodeError> {
        let (now, now_unix) = (self.now, self.now_unix());
        let r = self.node_mut(to).handle_datagram(now, now_unix, addr(from), bytes);
        self.collect();
        r
    }

    fn collect(&mut self) {
        let at = self.now + Duration::from_millis(1);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            loop {
                let t = match slot {
                    Slot::Empty => None,
                    Slot::Enrolling(e) => e.poll_transmit(),
                    Slot::Node(n) => n.poll_transmit(),
                };
                let Some(t) = t else { break };
                let to = index(t.to);
                if self.recording {
                    self.log.push((i, to, t.bytes.clone()));
                }
                if to < self.up.len() && self.up[i] && self.up[to] && (self.filter)(i, to, &t.bytes)
                {
                    self.in_flight.push((at, i, to, t.bytes));
                }
            }
            if let Slot::Node(n) = slot {
                while let Some(e) = n.poll_event() {
                    self.events.push((i, self.now, e));
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let timers = self.slots.iter().filter_map(|s| match s {
            Slot::Empty => None,
            Slot::Enrolling(e) => e.poll_timeout(),
            Slot::Node(n) => n.poll_timeout(),
        });
        self.in_flight.iter().map(|f| f.0).chain(timers).min()
    }

    fn step(&mut self, limit: Instant) {
        self.collect();
        let next = self.next_deadline().unwrap_or(limit).min(limit).max(self.now);
        self.now = next;
        let now_unix = self.now_unix();
        let (due, rest): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.in_flight).into_iter().partition(|f| f.0 <= next);
        self.in_flight = rest;
        for (_, from, to, bytes) in due {
            if !self.up[to] {
                continue;
            }
            let from = addr(from as u8);
            match &mut self.slots[to] {
                Slot::Empty => {}
                Slot::Enrolling(e) => e.handle_datagram(next, now_unix, from, &bytes),
                Slot::Node(n) => {
                    let _ = n.handle_datagram(next, now_unix, from, &bytes);
                }
            }
        }
        for slot in &mut self.slots {
            match slot {
                Slot::Empty => {}
                Slot::Enrolling(e) => {
                    if e.poll_timeout().is_some_and(|t| t <= next) {
                        e.handle_timeout(next, now_unix);
                    }
                }
                Slot::Node(n) => {
                    if n.poll_timeout().is_some_and(|t| t <= next) {
                        n.handle_timeout(next, now_unix);
                    }
                }
            }
        }
        self.collect();
    }

    pub(super) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        let mut steps = 0u64;
        while self.now < end {
            self.step(end);
            steps += 1;
            assert!(steps < 5_000_000, "the simulation does not advance");
        }
    }
}
