//! Behaviour of the node, driven through the in-memory network of `sim`.

mod bundles;
mod delegated;
mod frames;
mod learnt;
mod links;
mod pages;
mod shared_learnt;
mod sim;

use std::collections::BTreeSet;
use std::time::Duration;

use sim::{Sim, addr, info, key, label, prefixes, site, spec, wg};

use super::*;
use crate::identity::{Enroller, MeshCa, SelfClaims};

fn peer_up_sites(sim: &Sim, i: u8) -> BTreeSet<SiteId> {
    sim.events_of(i, sim.origin)
        .into_iter()
        .filter_map(|e| match e {
            NodeEvent::PeerUp(v) => Some(v.site.clone()),
            _ => None,
        })
        .collect()
}

fn downs(sim: &Sim, i: u8, since: std::time::Instant) -> Vec<(SiteId, DownReason)> {
    sim.events_of(i, since)
        .into_iter()
        .filter_map(|e| match e {
            NodeEvent::PeerDown { site, reason } => Some((site.clone(), *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_ca_holder_and_four_sites_enrol_join_and_all_peer_with_keys_from_their_certificates() {
    let sim = Sim::mesh(4, None, Duration::from_secs(5));
    for i in 0..=4u8 {
        let others: BTreeSet<SiteId> = (0..=4).filter(|&j| j != i).map(site).collect();
        assert_eq!(peer_up_sites(&sim, i), others, "PeerUp at {i}");
        let peers: Vec<&PeerView> = sim.node(i).peers().collect();
        assert_eq!(peers.len(), 4, "peers of {i}");
        for p in peers {
            let j: u8 = p.site.as_str().trim_start_matches("site-").parse().unwrap();
            assert_eq!(p.wg_key, wg(j));
            assert_eq!(p.prefixes, prefixes(j));
            assert_eq!(p.gossip, addr(j));
            assert_eq!(p.role.as_str(), if j == 0 { "hub" } else { "site" });
        }
    }
    let enrolled = sim.events_of(0, sim.origin);
    let n = enrolled.iter().filter(|e| matches!(e, NodeEvent::Enrolled { .. })).count();
    assert_eq!(n, 4);
    assert_eq!(sim.node(0).enroller_state().unwrap().sites.len(), 5);
    for i in 0..=4u8 {
        let c = sim.node(i).counters();
        assert_eq!(c.certs_admitted, 4, "each certificate is verified once at {i}");
        assert!(c.membership.datagrams_in > 20);
        assert_eq!(c.certs_refused(), 0);
    }
}

#[test]
fn an_expired_token_is_refused_with_a_clear_message() {
    let mut sim = Sim::with_ca(None);
    let token = sim.token(spec(1, 5));
    sim.run_for(Duration::from_secs(2));
    match sim.enrol_with(1, token) {
        Err(EnrolFailure::Refused { code, message }) => {
            assert_eq!(code, RefusalCode::TokenExpired);
            assert!(message.contains("expired"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.node(0).counters().enrolments_refused, 1);
}

#[test]
fn a_refusal_of_another_request_is_not_taken_for_the_answer() {
    let ca = MeshCa::from_seed(&sim::CA_SEED);
    let token = ca.issue_token(crate::identity::TokenBody {
        id: crate::identity::TokenId([3; 16]),
        expires_at: sim::BASE_UNIX + 600,
        max_uses: 1,
        role: label("site"),
        region: label(""),
        allowed_prefixes: None,
        allowed_learn: crate::identity::LearnRanges::default(),
    });
    let now = weft_types::virtual_origin();
    let mut e =
        Enrolment::new(token, site(1), &key(1), wg(1), prefixes(1), addr(0), now, sim::BASE_UNIX);
    let mine = e.poll_transmit().expect("the first request");
    let Ok(Frame::EnrolRequest(req)) = Frame::decode(&mine.bytes) else { panic!("a request") };
    let refusal = |request| {
        let f =
            Frame::EnrolRefused { request, code: RefusalCode::TokenUsedUp, message: "late".into() };
        f.encode().unwrap()
    };
    // A late refusal of an earlier attempt (another signature) changes nothing.
    e.handle_datagram(now, sim::BASE_UNIX, addr(0), &refusal([0xee; REQUEST_ID_LEN]));
    assert!(e.outcome().is_none());
    assert_eq!(e.ignored(), 1);
    // Rate limiting is not a final answer either.
    let limited = Frame::EnrolRefused {
        request: request_id(&req.signature),
        code: RefusalCode::RateLimited,
        message: "slow down".into(),
    };
    e.handle_datagram(now, sim::BASE_UNIX, addr(0), &limited.encode().unwrap());
    assert!(e.outcome().is_none(), "rate limited: still trying");
    // The refusal of this request ends it.
    e.handle_datagram(now, sim::BASE_UNIX, addr(0), &refusal(request_id(&req.signature)));
    assert!(matches!(e.outcome(), Some(Err(EnrolFailure::Refused { .. }))));
}

#[test]
fn a_used_up_token_is_refused_for_the_second_site() {
    let mut sim = Sim::with_ca(None);
    let token = sim.token(spec(600, 1));
    sim.enrol_with(1, token.clone()).expect("the first site enrols");
    match sim.enrol_with(2, token) {
        Err(EnrolFailure::Refused { code, message }) => {
            assert_eq!(code, RefusalCode::TokenUsedUp);
            assert!(message.contains("used"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_retransmitted_request_gets_the_same_answer_and_enrols_once() {
    let mut sim = Sim::with_ca(None);
    let token = sim.token(spec(600, 1));
    let now_unix = sim.now_unix();
    let req =
        crate::identity::EnrolRequest::new(token, site(1), &key(1), wg(1), prefixes(1), now_unix);
    let bytes = Frame::EnrolRequest(req).encode().unwrap();
    let mut answers = Vec::new();
    let (now, now_unix) = (sim.now, sim.now_unix());
    for _ in 0..2 {
        sim.node_mut(0).handle_datagram(now, now_unix, addr(1), &bytes).unwrap();
        let t = sim.node_mut(0).poll_transmit().unwrap();
        assert_eq!(t.to, addr(1));
        assert_eq!(t.bytes[0], FrameKind::EnrolOk as u8);
        answers.push(t.bytes);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(sim.node(0).counters().enrolments_ok, 1);
}

#[test]
fn enrolment_requests_beyond_the_burst_are_rate_limited_per_address() {
    let mut sim = Sim::with_ca(None);
    let refused = (0..15).filter(|_| sim.inject(1, 0, &[0x02, 1, 2, 3]).is_err()).count();
    assert_eq!(refused, 15, "garbage requests are malformed, not served");
    let token = sim.token(spec(600, 100));
    let now_unix = sim.now_unix();
    let mut limited = 0;
    for n in 0..15u64 {
        let req = crate::identity::EnrolRequest::new(
            token.clone(),
            site(1),
            &key(1),
            wg(1),
            prefixes(1),
            now_unix + n,
        );
        let r = sim.inject(1, 0, &Frame::EnrolRequest(req).encode().unwrap());
        limited += usize::from(matches!(r, Err(NodeError::RateLimited(_))));
    }
    assert_eq!(limited, 5);
    assert_eq!(sim.node(0).counters().enrolments_rate_limited, 5);
}

#[test]
fn a_site_certified_by_another_ca_never_becomes_a_peer_and_is_counted() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(2));
    let mut other = Enroller::new(MeshCa::from_seed(&[99; 32]));
    let claims = SelfClaims {
        site: site(7),
        role: label("site"),
        region: label("eu"),
        prefixes: prefixes(7),
        site_key: key(7).public(),
        wg_key: wg(7),
        learn_ranges: crate::identity::LearnRanges::default(),
    };
    let cert = other.issue_self(sim.now_unix(), claims).unwrap();
    let me = NodeIdentity { site_key: key(7), cert, ca: other.ca_public() };
    let (now, now_unix) = (sim.now, sim.now_unix());
    let mut node =
        MeshNode::new(info(7, 0), me, sim::config(vec![addr(0)]), None, 7, now, now_unix).unwrap();
    node.join(now, addr(0)).unwrap();
    sim.slots[7] = sim::Slot::Node(Box::new(node));
    sim.run_for(Duration::from_secs(5));
    for i in [0u8, 1, 2, 7] {
        let ups = peer_up_sites(&sim, i);
        assert!(!ups.contains(&site(7)), "{i} peered with the foreign site");
        if i == 7 {
            assert!(ups.is_empty());
        }
    }
    assert!(sim.node(0).counters().certs_refused_wrong_ca > 0);
    assert!(sim.node(0).membership().members().all(|m| m.site != site(7)));
}

#[test]
fn a_revocation_floods_at_once_silences_the_site_and_blocks_its_reenrolment() {
    let mut sim = Sim::mesh(4, None, Duration::from_secs(3));
    let t0 = sim.now;
    let (now, now_unix) = (sim.now, sim.now_unix());
    let list = sim.node_mut(0).revoke(now, now_unix, site(3)).unwrap();
    assert!(list.list.is_site_revoked(&site(3)));
    sim.run_for(Duration::from_millis(20));
    for i in [0u8, 1, 2, 4] {
        assert_eq!(downs(&sim, i, t0), vec![(site(3), DownReason::Revoked)], "at {i}");
        assert!(sim.node(i).peers().all(|p| p.site != site(3)));
    }
    assert!(sim.events_of(3, t0).contains(&&NodeEvent::SelfRevoked));
    assert!(sim.node(3).is_quiet());
    assert!(sim.events_of(0, t0).contains(&&NodeEvent::EnrollerChanged));
    sim.run_for(Duration::from_secs(3));
    for i in [0u8, 1, 2, 4] {
        assert_eq!(downs(&sim, i, t0).len(), 1, "nothing else went down at {i}");
    }
    match sim.enrol(3, spec(600, 1)) {
        Err(EnrolFailure::Refused { code, message }) => {
            assert_eq!(code, RefusalCode::Revoked);
            assert!(message.contains("revoked"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_member_known_only_through_gossip_is_no_peer_until_a_hello_exchange() {
    let mut sim = Sim::with_ca(None);
    // Sites 1 and 2 cannot reach each other at all; both reach the seed.
    sim.filter = Box::new(|a, b, _| !matches!((a, b), (1, 2) | (2, 1)));
    for i in 1..=2 {
        let e = sim.enrol(i, spec(600, 5)).unwrap();
        sim.start(i, &e, 0);
    }
    sim.run_for(Duration::from_secs(4));
    assert!(sim.node(1).membership().members().any(|m| m.site == site(2)));
    assert!(!peer_up_sites(&sim, 1).contains(&site(2)));
    assert!(!peer_up_sites(&sim, 2).contains(&site(1)));
    assert!(sim.node(1).counters().hellos_sent > 0);
    // Now only HELLO frames pass between them.
    sim.filter = Box::new(|a, b, bytes| {
        !matches!((a, b), (1, 2) | (2, 1)) || bytes[0] == FrameKind::Hello as u8
    });
    sim.run_for(Duration::from_secs(2));
    assert!(peer_up_sites(&sim, 1).contains(&site(2)));
    assert!(peer_up_sites(&sim, 2).contains(&site(1)));
    assert!(sim.node(2).counters().hellos_received > 0);
}

#[test]
fn a_dead_site_goes_down_everywhere_and_comes_back_after_a_restart() {
    let mut sim = Sim::mesh(4, None, Duration::from_secs(3));
    let cert = sim.node(4).cert().clone();
    let t0 = sim.now;
    sim.up[4] = false;
    sim.run_for(Duration::from_secs(6));
    for i in 0..=3u8 {
        assert_eq!(downs(&sim, i, t0), vec![(site(4), DownReason::Dead)], "at {i}");
    }
    let t1 = sim.now;
    sim.up[4] = true;
    let revocations = sim.node(0).last_revocations.clone().unwrap();
    let enrolled = Enrolled { cert, ca: *sim.node(0).ca(), revocations };
    sim.start(4, &enrolled, 1);
    sim.run_for(Duration::from_secs(5));
    for i in 0..=3u8 {
        let up = sim
            .events_of(i, t1)
            .into_iter()
            .any(|e| matches!(e, NodeEvent::PeerUp(v) if v.site == site(4)));
        assert!(up, "site 4 is back at {i}");
    }
    assert_eq!(sim.node(4).peers().count(), 4);
}

#[test]
fn certificates_renew_at_two_thirds_of_their_life_without_any_peer_going_down() {
    // 12 s certificates renew 8 s after issue; the old ones expire at 12 s.
    let mut sim = Sim::mesh(3, Some(12), Duration::from_secs(2));
    let t0 = sim.now;
    let old: Vec<u64> = (0..=3).map(|i| sim.node(i).cert().body.serial).collect();
    sim.run_for(Duration::from_secs(9));
    for i in 0..=3u8 {
        let renewed =
            sim.events_of(i, t0).into_iter().any(|e| matches!(e, NodeEvent::CertRenewed(_)));
        assert!(renewed, "{i} renewed");
        assert!(sim.node(i).cert().body.serial > old[usize::from(i)]);
        assert!(downs(&sim, i, t0).is_empty(), "no peer went down at {i}");
        for p in sim.node(i).peers() {
            let j: u8 = p.site.as_str().trim_start_matches("site-").parse().unwrap();
            assert_eq!(p.serial, sim.node(j).cert().body.serial, "{i} sees {j}'s new serial");
        }
        let changed = sim
            .events_of(i, t0)
            .into_iter()
            .filter(|e| matches!(e, NodeEvent::PeerChanged(_)))
            .count();
        assert!(changed >= 3, "{i} saw its peers change: {changed}");
    }
    sim.run_for(Duration::from_secs(10));
    for i in 0..=3u8 {
        assert!(
            downs(&sim, i, t0).is_empty(),
            "still up after the old certificates expired at {i}"
        );
    }
}

#[test]
fn only_the_ca_holder_issues_tokens_and_revokes() {
    let mut sim = Sim::mesh(1, None, Duration::from_secs(1));
    let (now, now_unix) = (sim.now, sim.now_unix());
    let n = sim.node_mut(1);
    assert!(matches!(n.issue_token(now_unix, spec(60, 1)), Err(NodeError::NotCaHolder)));
    assert!(matches!(n.revoke(now, now_unix, site(0)), Err(NodeError::NotCaHolder)));
    assert!(n.enroller_state().is_none());
}

#[test]
fn in_hub_and_spoke_sites_peer_only_with_the_hub() {
    let mut sim = Sim::with_ca(None);
    sim.topology = TopologyMode::HubAndSpoke;
    let sim = sim.populate(3, Duration::from_secs(3));
    let all: BTreeSet<SiteId> = (1..=3).map(site).collect();
    assert_eq!(peer_up_sites(&sim, 0), all, "the hub peers with every site");
    for i in 1..=3u8 {
        assert_eq!(peer_up_sites(&sim, i), [site(0)].into_iter().collect(), "spoke {i}");
        assert_eq!(sim.node(i).membership().member_count(), 3, "{i} still knows everyone");
    }
}

#[test]
fn a_certificate_that_is_never_renewed_takes_its_site_down_as_expired() {
    let mut sim = Sim::with_ca(Some(12));
    sim.filter = Box::new(|from, _, b| !(from == 2 && b[0] == FrameKind::RenewRequest as u8));
    let mut sim = sim.populate(2, Duration::from_secs(3));
    let t0 = sim.now;
    sim.run_for(Duration::from_secs(11));
    for i in [0u8, 1] {
        assert_eq!(downs(&sim, i, t0), vec![(site(2), DownReason::Expired)], "at {i}");
    }
    assert!(sim.node(2).counters().renewals_sent >= 2, "retried every renew_retry");
}

#[test]
fn new_endpoints_reach_peers_as_a_change() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let t0 = sim.now;
    let mut new = info(1, 0);
    new.endpoints = vec![addr(200)];
    let now = sim.now;
    sim.node_mut(1).set_info(now, new).unwrap();
    sim.run_for(Duration::from_secs(2));
    for i in [0u8, 2] {
        let changed = sim.events_of(i, t0).into_iter().any(
            |e| matches!(e, NodeEvent::PeerChanged(v) if v.site == site(1) && v.endpoints == vec![addr(200)]),
        );
        assert!(changed, "{i} saw the new endpoints");
        assert!(downs(&sim, i, t0).is_empty());
    }
}

#[test]
fn a_site_whose_first_announcement_is_lost_announces_again_until_it_joins() {
    let mut sim = Sim::with_ca(None);
    let enrolled = sim.enrol(1, spec(3600, 10)).expect("enrols");
    // Every datagram from site 1 to the seed is lost for a while.
    sim.filter = Box::new(|from, to, _| !(from == 1 && to == 0));
    sim.start(1, &enrolled, 0);
    sim.run_for(Duration::from_millis(1500));
    assert_eq!(sim.node(1).membership().member_count(), 0, "alone so far");
    sim.filter = Box::new(|_, _, _| true);
    sim.run_for(Duration::from_secs(3));
    assert!(sim.node(1).counters().rejoins_while_alone >= 1);
    assert_eq!(sim.node(1).membership().member_count(), 1, "joined after all");
    assert!(sim.node(0).membership().members().any(|m| m.site == site(1)));
}
