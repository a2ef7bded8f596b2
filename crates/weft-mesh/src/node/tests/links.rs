//! Link-state advertisements through the simulated network.

use std::time::Duration;

use super::sim::{Sim, site};
use super::*;

fn entry(to: u8, up: bool) -> LinkEntry {
    LinkEntry {
        neighbour: site(to),
        rtt_us: 1000 + u32::from(to),
        jitter_us: 50,
        loss_ppm: 0,
        capacity_kbps: 100_000,
        up,
        relayed_only: false,
        via: None,
    }
}

fn origins(sim: &Sim, i: u8) -> BTreeSet<SiteId> {
    sim.node(i).link_states().map(|(s, _)| s.clone()).collect()
}

#[test]
fn every_advertisement_reaches_every_node_and_tampered_or_old_ones_are_refused() {
    let mut sim = Sim::mesh(3, None, Duration::from_secs(3));
    let now = sim.now;
    for i in 0..=3u8 {
        let links = (0..=3).filter(|&j| j != i).map(|j| entry(j, true)).collect();
        sim.node_mut(i).set_local_links(now, links);
    }
    sim.recording = true;
    sim.run_for(Duration::from_secs(3));
    let all: BTreeSet<SiteId> = (0..=3).map(site).collect();
    for i in 0..=3u8 {
        assert_eq!(origins(&sim, i), all, "origins at {i}");
        let (_, ad) = sim.node(i).link_states().find(|(s, _)| **s == site(1)).unwrap();
        assert_eq!(ad.entries().count(), 3);
        assert_eq!(ad.entries().next().unwrap().neighbour, site(0));
        assert!(sim.node(i).counters().link_states_accepted > 0 || i == 1);
    }
    // The first advertisement site 1 sent to site 2, replayed now: too old.
    let (_, _, old) = sim
        .log
        .iter()
        .find(|(f, t, b)| *f == 1 && *t == 2 && b[0] == FrameKind::LinkState as u8)
        .cloned()
        .unwrap();
    let held =
        |sim: &Sim| sim.node(2).link_states().find(|(s, _)| **s == site(1)).unwrap().1.version();
    let before = (held(&sim), sim.node(2).counters().link_states_stale);
    sim.inject(1, 2, &old).unwrap();
    assert_eq!(held(&sim), before.0);
    assert_eq!(sim.node(2).counters().link_states_stale, before.1 + 1);
    // Tampered: a newer version with a changed RTT, the signature no longer fits.
    let Frame::LinkState { cert, mut ad } = Frame::decode(&old).unwrap() else { unreachable!() };
    ad.version = before.0 + 10;
    ad.entries[0].rtt_us += 1;
    let tampered = Frame::LinkState { cert, ad }.encode().unwrap();
    let refused = sim.node(2).counters().link_states_refused;
    assert!(matches!(sim.inject(1, 2, &tampered), Err(NodeError::LinkState(_))));
    assert_eq!(sim.node(2).counters().link_states_refused, refused + 1);
    assert_eq!(held(&sim), before.0);
    // Signed by site 3, presented as site 1's: refused too.
    let forged = LinkStateAd::sign(&super::sim::key(3), site(1), before.0 + 20, vec![]).unwrap();
    let cert1 = sim.node(1).cert().encode();
    let frame = Frame::LinkState { cert: &cert1, ad: forged }.encode().unwrap();
    assert!(sim.inject(3, 2, &frame).is_err());
    assert_eq!(held(&sim), before.0);
}

#[test]
fn an_advertisement_expires_when_its_origin_stops_sending_it() {
    let mut sim = Sim::mesh(3, None, Duration::from_secs(3));
    assert!(origins(&sim, 1).contains(&site(3)));
    sim.filter = Box::new(|from, _, b| !(from == 3 && b[0] == FrameKind::LinkState as u8));
    sim.run_for(Duration::from_secs(6));
    for i in 0..=2u8 {
        assert!(!origins(&sim, i).contains(&site(3)), "expired at {i}");
        assert!(sim.node(i).peers().any(|p| p.site == site(3)), "still a peer at {i}");
    }
    assert!(origins(&sim, 3).contains(&site(3)), "our own never expires");
}

#[test]
fn a_link_going_down_is_advertised_at_once_with_a_higher_version() {
    let mut sim = Sim::mesh(1, None, Duration::from_secs(2));
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, vec![entry(0, true)]);
    let v1 = sim.node(1).link_states().find(|(s, _)| **s == site(1)).unwrap().1.version();
    let n = sim.node_mut(1);
    while n.poll_transmit().is_some() {}
    n.set_local_links(now, vec![entry(0, false)]);
    let t = n.poll_transmit().expect("sent at once");
    assert_eq!(t.bytes[0], FrameKind::LinkState as u8);
    let v2 = sim.node(1).link_states().find(|(s, _)| **s == site(1)).unwrap().1.version();
    assert!(v2 > v1);
    // A change of RTT alone waits for the interval.
    let n = sim.node_mut(1);
    let mut e = entry(0, false);
    e.rtt_us = 9;
    n.set_local_links(now, vec![e]);
    assert!(n.poll_transmit().is_none());
}

#[test]
fn a_site_cut_off_from_another_still_gets_its_advertisements_through_a_member_that_reaches_both() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    // Sites 1 and 2 cannot talk to each other; 0 reaches both.
    sim.filter = Box::new(|from, to, _| !matches!((from, to), (1, 2) | (2, 1)));
    sim.run_for(Duration::from_secs(1));
    let now = sim.now;
    sim.node_mut(0).set_local_links(now, vec![entry(1, true), entry(2, true)]);
    sim.node_mut(1).set_local_links(now, vec![entry(0, true), entry(2, false)]);
    sim.node_mut(2).set_local_links(now, vec![entry(0, true), entry(1, false)]);
    // Longer than an advertisement lives: only forwarded copies keep them fresh.
    sim.run_for(Duration::from_secs(12));
    assert!(origins(&sim, 1).contains(&site(2)), "1 holds 2's advertisement");
    assert!(origins(&sim, 2).contains(&site(1)), "2 holds 1's advertisement");
    assert!(sim.node(0).counters().link_states_forwarded > 0);
    let (_, ad) = sim.node(1).link_states().find(|(s, _)| **s == site(2)).unwrap();
    assert!(ad.entries().any(|e| e.neighbour == site(0) && e.up), "the relay's link, confirmed");
    // Members that reach the origin themselves get nothing forwarded.
    let forwarded_to_1_or_2_only =
        sim.node(1).counters().link_states_forwarded + sim.node(2).counters().link_states_forwarded;
    assert_eq!(forwarded_to_1_or_2_only, 0, "only the member that reaches both forwards");
}

#[test]
fn a_neighbour_reached_only_through_a_relay_is_not_a_cut_link_and_nothing_is_forwarded_for_it() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    sim.run_for(Duration::from_secs(1));
    let now = sim.now;
    let relayed_only = |to: u8| LinkEntry {
        up: false,
        relayed_only: true,
        via: Some(site(0)),
        ..entry(to, false)
    };
    sim.node_mut(0).set_local_links(now, vec![entry(1, true), entry(2, true)]);
    sim.node_mut(1).set_local_links(now, vec![entry(0, true), relayed_only(2)]);
    sim.node_mut(2).set_local_links(now, vec![entry(0, true), relayed_only(1)]);
    sim.run_for(Duration::from_secs(12));
    let (_, ad) = sim.node(2).link_states().find(|(s, _)| **s == site(1)).unwrap();
    assert!(
        ad.entries().any(|e| e.neighbour == site(2) && e.relayed_only && e.via == Some(site(0))),
        "2 holds 1's signed word that it reaches 2 through 0"
    );
    let forwarded: u64 = (0..=2).map(|i| sim.node(i).counters().link_states_forwarded).sum();
    assert_eq!(forwarded, 0, "a relayed-only neighbour is not cut off");
}

#[test]
fn a_member_gossip_declares_dead_keeps_its_advertisement_until_it_ages_out() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    sim.run_for(Duration::from_secs(1));
    let now = sim.now;
    for i in 0..=2u8 {
        let links = (0..=2).filter(|&j| j != i).map(|j| entry(j, true)).collect();
        sim.node_mut(i).set_local_links(now, links);
    }
    sim.run_for(Duration::from_secs(2));
    assert!(origins(&sim, 1).contains(&site(2)));
    // Site 2 is cut off until gossip at 1 calls it dead.
    sim.filter = Box::new(|from, to, _| from != 2 && to != 2);
    let mut waited = Duration::ZERO;
    while sim.node(1).membership().members().any(|m| m.site == site(2)) {
        assert!(waited < Duration::from_secs(4), "2 never declared dead");
        sim.run_for(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    }
    assert!(origins(&sim, 1).contains(&site(2)), "its signed word is kept while fresh");
    sim.run_for(Duration::from_secs(6));
    assert!(!origins(&sim, 1).contains(&site(2)), "and ages out like any other");
}
