//! Behaviour of the membership wrapper, driven by hand on virtual time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::{Duration, Instant};

use weft_types::{PublicKey, SiteId, virtual_origin};

use super::testing::{TestAuth, TestMesh};
use super::timers::TimerQueue;
use super::*;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), 7946)
}

fn site(i: u8) -> SiteId {
    SiteId::new(&format!("site-{i}")).unwrap()
}

fn info(i: u8) -> MemberInfo {
    let mut m = MemberInfo::new(site(i), addr(i), PublicKey([i; 32]));
    m.region = "eu-west".into();
    m.cluster = "prod".into();
    m.version = "0.1.0".into();
    m.endpoints = vec![addr(i), SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), 51820)];
    m
}

fn mesh(n: u8) -> TestMesh {
    TestMesh::new(0x00C0_FFEE, (0..n).map(site))
}

fn config() -> MembershipConfig {
    MembershipConfig {
        expected_members: std::num::NonZeroU32::new(10).unwrap(),
        ..MembershipConfig::lan()
    }
}

/// Members on a perfect 1 ms network; `alive[i] == false` stops member `i`
/// and drops everything to and from it; `isolated[i]` only drops its
/// datagrams (it runs on, alone).
struct Net {
    nodes: Vec<Membership<TestAuth>>,
    alive: Vec<bool>,
    isolated: Vec<bool>,
    now: Instant,
    in_flight: Vec<(Instant, usize, SocketAddr, Vec<u8>)>,
    events: Vec<(usize, MemberEvent)>,
}

impl Net {
    fn new(n: u8) -> Self {
        let mesh = mesh(n);
        let nodes = (0..n)
            .map(|i| {
                Membership::new(info(i), config(), mesh.authenticator(&site(i)), u64::from(i))
                    .unwrap()
            })
            .collect();
        Self {
            nodes,
            alive: vec![true; n as usize],
            isolated: vec![false; n as usize],
            now: virtual_origin(),
            in_flight: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        for (i, node) in self.nodes.iter_mut().enumerate() {
            while let Some(t) = node.poll_transmit() {
                let to = usize::from(
                    t.to.ip().to_string().rsplit('.').next().unwrap().parse::<u8>().unwrap(),
                );
                let up = |k: usize| self.alive[k] && !self.isolated[k];
                if up(i) && up(to) {
                    self.in_flight.push((
                        self.now + Duration::from_millis(1),
                        to,
                        addr(i as u8),
                        t.bytes,
                    ));
                }
            }
            while let Some(e) = node.poll_event() {
                self.events.push((i, e));
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(1);
            let now = self.now;
            let (due, rest): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|m| m.0 <= now);
            self.in_flight = rest;
            for (_, to, from, bytes) in due {
                let _ = self.nodes[to].handle_datagram(now, from, &bytes);
            }
            for (i, node) in self.nodes.iter_mut().enumerate() {
                if self.alive[i] && node.poll_timeout().is_some_and(|t| t <= now) {
                    node.handle_timeout(now);
                }
            }
            self.drain();
        }
    }

    fn sees(&self, i: usize, j: u8) -> bool {
        self.nodes[i].members().any(|m| m.site == site(j))
    }
}

#[test]
fn two_members_join_and_see_each_other_with_metadata() {
    let mut net = Net::new(2);
    net.nodes[1].join(net.now, addr(0)).unwrap();
    net.drain();
    net.run_for(Duration::from_millis(50));
    assert!(net.sees(0, 1) && net.sees(1, 0));
    let seen = net.nodes[0].members().next().unwrap().clone();
    assert_eq!(seen, info(1));
    assert!(
        net.events
            .iter()
            .any(|(i, e)| *i == 0 && matches!(e, MemberEvent::Joined(m) if m.site == site(1)))
    );
}

#[test]
fn three_members_converge_through_one_seed() {
    let mut net = Net::new(3);
    net.nodes[1].join(net.now, addr(0)).unwrap();
    net.nodes[2].join(net.now, addr(0)).unwrap();
    net.drain();
    net.run_for(Duration::from_secs(2));
    for i in 0..3 {
        assert_eq!(net.nodes[i].member_count(), 2, "member {i}");
    }
    assert_eq!(net.nodes[0].counters().rejected(), 0);
}

#[test]
fn a_stopped_member_is_declared_down_by_the_others() {
    let mut net = Net::new(3);
    net.nodes[1].join(net.now, addr(0)).unwrap();
    net.nodes[2].join(net.now, addr(0)).unwrap();
    net.drain();
    net.run_for(Duration::from_secs(2));
    net.alive[2] = false;
    let timeout = net.nodes[0].suspicion_timeout();
    net.run_for(timeout * 2 + Duration::from_secs(2));
    for i in 0..2 {
        assert!(!net.sees(i, 2), "member {i} still sees the stopped one");
        assert!(
            net.events
                .iter()
                .any(|(n, e)| *n == i && matches!(e, MemberEvent::Down(m) if m.site == site(2)))
        );
    }
    assert!(net.sees(0, 1) && net.sees(1, 0), "no false death");
}

#[test]
fn a_member_back_from_isolation_does_not_take_the_healthy_ones_down_with_it() {
    let mut net = Net::new(5);
    for i in 1..5 {
        net.nodes[i].join(net.now, addr(0)).unwrap();
    }
    net.drain();
    net.run_for(Duration::from_secs(3));
    // Member 4 is cut off long enough to declare everyone down (and to be
    // declared down by them).
    net.isolated[4] = true;
    let timeout = net.nodes[0].suspicion_timeout();
    net.run_for(timeout * 2 + Duration::from_secs(3));
    assert_eq!(net.nodes[4].member_count(), 0, "the isolated member declared everyone down");
    assert!(!net.sees(0, 4));
    net.events.clear();
    net.isolated[4] = false;
    net.run_for(Duration::from_secs(10));
    let wrongly_down: Vec<_> = net
        .events
        .iter()
        .filter_map(|(i, e)| match e {
            MemberEvent::Down(m) if m.site != site(4) => Some((*i, m.site.clone())),
            _ => None,
        })
        .collect();
    assert!(wrongly_down.is_empty(), "healthy members declared down: {wrongly_down:?}");
    assert_eq!(net.nodes[4].counters().restarts, 1, "it rejoined once, afresh");
    for i in 0..5 {
        assert_eq!(net.nodes[i].member_count(), 4, "member {i} sees everyone again");
    }
}

#[test]
fn a_leaving_member_reports_left_and_others_see_it_down() {
    let mut net = Net::new(2);
    net.nodes[1].join(net.now, addr(0)).unwrap();
    net.drain();
    net.run_for(Duration::from_millis(50));
    net.nodes[1].leave(net.now).unwrap();
    net.drain();
    net.run_for(Duration::from_millis(50));
    assert!(!net.sees(0, 1));
    assert!(net.events.iter().any(|(n, e)| *n == 1 && matches!(e, MemberEvent::Left(_))));
}

fn one_datagram() -> (Membership<TestAuth>, Membership<TestAuth>, Transmit) {
    let mesh = mesh(2);
    let a = Membership::new(info(0), config(), mesh.authenticator(&site(0)), 1).unwrap();
    let mut b = Membership::new(info(1), config(), mesh.authenticator(&site(1)), 2).unwrap();
    b.join(virtual_origin(), addr(0)).unwrap();
    let t = b.poll_transmit().unwrap();
    (a, b, t)
}

#[test]
fn a_replayed_datagram_is_rejected_and_counted() {
    let (mut a, _b, t) = one_datagram();
    let now = virtual_origin();
    a.handle_datagram(now, addr(1), &t.bytes).unwrap();
    let err = a.handle_datagram(now, addr(1), &t.bytes).unwrap_err();
    assert!(matches!(err, GossipError::Replayed { .. }), "{err}");
    assert_eq!(a.counters().rejected_replayed, 1);
}

#[test]
fn datagrams_from_unenrolled_revoked_or_tampered_senders_are_rejected_and_counted() {
    let now = virtual_origin();
    let stranger_mesh = TestMesh::new(0x00C0_FFEE, [site(9)]);
    let mut stranger =
        Membership::new(info(9), config(), stranger_mesh.authenticator(&site(9)), 9).unwrap();
    stranger.join(now, addr(0)).unwrap();
    let from_stranger = stranger.poll_transmit().unwrap();

    let (mut a, _b, t) = one_datagram();
    let err = a.handle_datagram(now, addr(9), &from_stranger.bytes).unwrap_err();
    assert!(matches!(err, GossipError::Unauthenticated(AuthError::UnknownSender(_))), "{err}");

    let mut tampered = t.bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let err = a.handle_datagram(now, addr(1), &tampered).unwrap_err();
    assert!(matches!(err, GossipError::Unauthenticated(AuthError::BadTag(_))), "{err}");

    let mut revoking = mesh(2).authenticator(&site(0));
    revoking.revoke(site(1));
    let mut a2 = Membership::new(info(0), config(), revoking, 1).unwrap();
    let err = a2.handle_datagram(now, addr(1), &t.bytes).unwrap_err();
    assert!(matches!(err, GossipError::Unauthenticated(AuthError::Revoked(_))), "{err}");

    let err = a.handle_datagram(now, addr(1), b"\x01garbage").unwrap_err();
    assert!(matches!(err, GossipError::Malformed { .. }), "{err}");
    assert_eq!(a.counters().rejected_unauthenticated, 2);
    assert_eq!(a.counters().rejected_malformed, 1);
    assert_eq!(a.member_count(), 0);
}

#[test]
fn announcements_over_the_per_sender_rate_are_rejected_and_counted() {
    let now = virtual_origin();
    let (mut a, mut b, first) = one_datagram();
    a.handle_datagram(now, addr(1), &first.bytes).unwrap();
    let burst = config().announce_burst.get();
    let mut limited = 0;
    for _ in 0..burst + 3 {
        b.join(now, addr(0)).unwrap();
        let t = b.poll_transmit().unwrap();
        if let Err(GossipError::RateLimited(s)) = a.handle_datagram(now, addr(1), &t.bytes) {
            assert_eq!(s, site(1));
            limited += 1;
        }
    }
    assert_eq!(limited, 4, "the first announcement plus {burst} more fill the bucket");
    assert_eq!(a.counters().rejected_rate_limited, 4);
    let later = now + Duration::from_secs(10);
    b.join(later, addr(0)).unwrap();
    let t = b.poll_transmit().unwrap();
    a.handle_datagram(later, addr(1), &t.bytes).unwrap();
}

#[test]
fn a_header_that_names_another_site_than_the_signer_is_rejected() {
    let now = virtual_origin();
    let (mut a, _b, t) = one_datagram();
    // Re-seal site-1's payload as site-0 would (a site signing for another).
    let env = super::auth::parse(&t.bytes).unwrap();
    let forged = super::auth::seal(&mesh(2).authenticator(&site(0)), &site(0), 5, env.payload);
    let err = a.handle_datagram(now, addr(1), &forged).unwrap_err();
    assert!(matches!(err, GossipError::SenderMismatch { .. }), "{err}");
    assert_eq!(a.counters().rejected_sender_mismatch, 1);
}

#[test]
fn the_timer_queue_delivers_by_deadline_then_foca_order_and_keeps_stale_timers_for_foca() {
    let t0 = virtual_origin();
    let mut q = TimerQueue::default();
    q.push(t0, Duration::from_millis(30), foca::Timer::PeriodicGossip(1));
    q.push(t0, Duration::from_millis(10), foca::Timer::PeriodicAnnounce(0));
    q.push(t0, Duration::from_millis(10), foca::Timer::ProbeRandomMember(0));
    assert_eq!(q.next_deadline(), Some(t0 + Duration::from_millis(10)));
    assert!(q.take_due(t0 + Duration::from_millis(5)).is_empty());
    let due = q.take_due(t0 + Duration::from_millis(40));
    assert_eq!(
        due,
        vec![
            foca::Timer::ProbeRandomMember(0),
            foca::Timer::PeriodicAnnounce(0),
            foca::Timer::PeriodicGossip(1),
        ]
    );
    assert_eq!(q.next_deadline(), None);
}

#[test]
fn a_stale_timer_after_an_identity_change_is_ignored_by_foca() {
    let mut net = Net::new(2);
    net.nodes[1].join(net.now, addr(0)).unwrap();
    net.drain();
    net.run_for(Duration::from_millis(50));
    let mut next = info(1);
    next.version = "0.2.0".into();
    net.nodes[1].set_info(net.now, next).unwrap();
    net.drain();
    // Timers armed under the old identity are still queued; delivering them
    // must not error or disturb the cluster.
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[1].counters().timer_errors, 0);
    let seen = net.nodes[0].members().next().unwrap();
    assert_eq!((seen.version.as_str(), seen.generation), ("0.2.0", 1));
    assert!(net.events.iter().any(|(n, e)| *n == 0 && matches!(e, MemberEvent::Updated(_))));
}

#[test]
fn config_validation_refuses_inconsistent_values() {
    assert_eq!(MembershipConfig::lan().validate(), Ok(()));
    assert_eq!(MembershipConfig::wan().validate(), Ok(()));
    let c = MembershipConfig { probe_rtt: Duration::from_millis(200), ..MembershipConfig::lan() };
    assert!(matches!(c.validate(), Err(ConfigError::RttNotBelowInterval { .. })));
    let c = MembershipConfig { gossip_interval: Duration::ZERO, ..MembershipConfig::lan() };
    assert_eq!(c.validate(), Err(ConfigError::Zero("gossip_interval")));
    let c = MembershipConfig {
        max_payload: NonZeroUsize::new(100).unwrap(),
        ..MembershipConfig::lan()
    };
    assert_eq!(c.validate(), Err(ConfigError::PayloadTooSmall(100)));
    let mut bad = info(1);
    bad.endpoints = vec![addr(1); 17];
    let err = Membership::new(bad, config(), mesh(2).authenticator(&site(1)), 0).unwrap_err();
    assert!(matches!(err, ConfigError::Info(_)));
    let foca = MembershipConfig {
        retransmit_limit: NonZeroU8::new(7).unwrap(),
        ..MembershipConfig::lan()
    }
    .to_foca();
    assert_eq!(foca.max_transmissions.get(), 7);
    assert_eq!(foca.probe_period, Duration::from_millis(200));
}

#[test]
fn the_suspicion_timeout_scales_with_the_log_of_the_cluster_size() {
    let c = MembershipConfig::lan();
    assert_eq!(c.suspicion_timeout(), Duration::from_millis(2400));
    let small = MembershipConfig { expected_members: std::num::NonZeroU32::new(5).unwrap(), ..c };
    assert_eq!(small.suspicion_timeout(), Duration::from_millis(800));
}
