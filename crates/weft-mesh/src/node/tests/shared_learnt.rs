//! Two edges learning the same on-prem prefix: every receiver routes it to
//! one of them (reachable, highest preference, lowest site id), moves it to
//! the other when that one withdraws it, raises its preference or goes
//! away, and the edges keep it for themselves.

use std::time::Duration;

use weft_types::IpPrefix;

use super::sim::{Sim, site, spec};
use super::*;
use crate::identity::LearnRanges;

fn p(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

/// The CA holder (0), sites 1 and 3 certified to learn 10.60.0.0/16 (the
/// two edges), site 2 plain.
fn two_edges() -> Sim {
    let mut sim = Sim::with_ca(None);
    let learn = LearnRanges::new(vec![p("10.60.0.0/16")]).unwrap();
    for i in [1, 3] {
        let mut s = spec(3600, 1);
        s.allowed_learn = learn.clone();
        let token = sim.token(s);
        let e = sim.enrol_learning(i, token, learn.clone()).expect("enrols");
        sim.start(i, &e, 0);
    }
    let two = sim.enrol(2, spec(3600, 1)).expect("enrols");
    sim.start(2, &two, 0);
    sim.run_for(Duration::from_secs(3));
    sim
}

/// Whether site `at` routes `prefix` to site `of`.
fn routes(sim: &Sim, at: u8, of: u8, prefix: &str) -> bool {
    sim.node(at)
        .peers()
        .find(|v| v.site == site(of))
        .is_some_and(|v| v.prefixes.iter().any(|x| *x == p(prefix)))
}

/// Both edges learn 10.60.1.0/24 and run for a moment.
fn both_learn(sim: &mut Sim) {
    let now = sim.now;
    for i in [1, 3] {
        sim.node_mut(i).set_local_learnt(now, vec![p("10.60.1.0/24")]);
    }
    sim.run_for(Duration::from_secs(2));
}

#[test]
fn the_same_prefix_from_two_edges_goes_to_one_of_them_the_same_at_every_receiver() {
    let mut sim = two_edges();
    both_learn(&mut sim);
    for at in [0, 2] {
        assert!(routes(&sim, at, 1, "10.60.1.0/24"), "at {at}: to site-1, the lower id");
        assert!(!routes(&sim, at, 3, "10.60.1.0/24"), "at {at}: not to site-3 as well");
        let shared = sim.node(at).shared_learnt();
        assert_eq!(shared.len(), 1, "at {at}: {shared:?}");
        assert_eq!((shared[0].via.clone(), shared[0].standby.clone()), (site(1), vec![site(3)]));
    }
    // The edges keep it for themselves (their router has it).
    assert!(!routes(&sim, 1, 3, "10.60.1.0/24"));
    assert!(!routes(&sim, 3, 1, "10.60.1.0/24"));
    let at_edge = sim.node(3).shared_learnt();
    assert_eq!((at_edge[0].via.clone(), at_edge[0].standby.clone()), (site(3), vec![site(1)]));
}

/// The sites whose peer view changed at site 2 since `since`, in order.
fn changed(sim: &Sim, since: std::time::Instant) -> Vec<SiteId> {
    sim.events_of(2, since)
        .into_iter()
        .filter_map(|e| match e {
            NodeEvent::PeerChanged(v) => Some(v.site.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_higher_preference_moves_the_prefix_and_the_loser_gives_it_up_first() {
    let mut sim = two_edges();
    both_learn(&mut sim);
    let now = sim.now;
    sim.node_mut(3).set_learn_preference(now, 200);
    sim.run_for(Duration::from_secs(2));
    assert!(routes(&sim, 2, 3, "10.60.1.0/24"));
    assert!(!routes(&sim, 2, 1, "10.60.1.0/24"));
    // Site 1's view loses it before site 3's gains it: never two holders.
    assert_eq!(changed(&sim, now), [site(1), site(3)]);
    // Back to the default: back to site 1, site 3 giving it up first
    // (against the order sites are kept in).
    let now = sim.now;
    sim.node_mut(3).set_learn_preference(now, DEFAULT_LEARN_PREFERENCE);
    sim.run_for(Duration::from_secs(2));
    assert!(routes(&sim, 2, 1, "10.60.1.0/24") && !routes(&sim, 2, 3, "10.60.1.0/24"));
    assert_eq!(changed(&sim, now), [site(3), site(1)]);
}

#[test]
fn when_the_chosen_edge_withdraws_the_prefix_the_standby_takes_it_and_gives_it_back() {
    let mut sim = two_edges();
    both_learn(&mut sim);
    let now = sim.now;
    sim.node_mut(1).set_local_learnt(now, vec![]);
    sim.run_for(Duration::from_secs(2));
    assert!(routes(&sim, 2, 3, "10.60.1.0/24"), "the standby took over");
    assert!(sim.node(2).shared_learnt().is_empty(), "one edge left: not shared");
    let now = sim.now;
    sim.node_mut(1).set_local_learnt(now, vec![p("10.60.1.0/24")]);
    sim.run_for(Duration::from_secs(2));
    assert!(routes(&sim, 2, 1, "10.60.1.0/24") && !routes(&sim, 2, 3, "10.60.1.0/24"));
}

#[test]
fn when_the_chosen_edge_is_cut_off_the_standby_takes_the_prefix() {
    let mut sim = two_edges();
    both_learn(&mut sim);
    sim.filter = Box::new(|from, to, _| from != 1 && to != 1);
    sim.run_for(Duration::from_secs(8));
    assert!(routes(&sim, 2, 3, "10.60.1.0/24"));
    assert!(routes(&sim, 0, 3, "10.60.1.0/24"));
    sim.filter = Box::new(|_, _, _| true);
    sim.run_for(Duration::from_secs(8));
    assert!(routes(&sim, 2, 1, "10.60.1.0/24"), "back, and preferred again");
    assert!(!routes(&sim, 2, 3, "10.60.1.0/24"));
}

#[test]
fn different_overlapping_prefixes_from_two_edges_are_still_refused_from_both() {
    let mut sim = two_edges();
    let now = sim.now;
    sim.node_mut(1).set_local_learnt(now, vec![p("10.60.1.0/24")]);
    sim.node_mut(3).set_local_learnt(now, vec![p("10.60.0.0/23")]);
    sim.run_for(Duration::from_secs(2));
    assert!(!routes(&sim, 2, 1, "10.60.1.0/24"));
    assert!(!routes(&sim, 2, 3, "10.60.0.0/23"));
    assert!(sim.node(2).shared_learnt().is_empty());
}

#[test]
fn the_learn_preference_rides_with_the_learnt_prefixes_and_the_default_keeps_the_bytes() {
    let with = |pref| {
        LinkStateAd::sign_pages_learnt(&key_of(1), &site(1), 9, &[], (&[p("10.60.1.0/24")], pref))
            .unwrap()
            .remove(0)
    };
    let (plain, preferred) = (with(DEFAULT_LEARN_PREFERENCE), with(200));
    assert_eq!(plain.encode().len() + 4, preferred.encode().len());
    let back = LinkStateAd::decode(&preferred.encode()).unwrap();
    assert_eq!(back.learn_preference, 200);
    assert!(back.verify(&key_of(1).public()));
    let mut forged = preferred.clone();
    forged.learn_preference = 300;
    assert!(!forged.verify(&key_of(1).public()), "signed");
    // The default written out is refused; no preference without learnt prefixes.
    let mut bytes = plain.encode();
    let at = bytes.len() - 64;
    bytes.splice(at..at, DEFAULT_LEARN_PREFERENCE.to_be_bytes());
    assert!(matches!(LinkStateAd::decode(&bytes), Err(FrameError::Invalid { .. })));
    let none = LinkStateAd::sign_pages_learnt(&key_of(1), &site(1), 9, &[], (&[], 200)).unwrap();
    assert_eq!(none[0].learn_preference, DEFAULT_LEARN_PREFERENCE);
}

fn key_of(i: u8) -> crate::identity::SiteKey {
    super::sim::key(i)
}
