//! Learnt on-prem prefixes: carried on page 0 of the link state, taken by
//! receivers only inside the origin's certified learn ranges, withdrawn by a
//! newer version without them or when the origin's advertisement ages out.

use std::time::Duration;

use weft_types::IpPrefix;

use super::sim::{Sim, key, site, spec};
use super::*;
use crate::identity::LearnRanges;

fn p(s: &str) -> IpPrefix {
    s.parse().unwrap()
}

fn learn(items: &[&str]) -> LearnRanges {
    LearnRanges::new(items.iter().map(|s| p(s)).collect()).unwrap()
}

#[test]
fn learnt_prefixes_ride_on_page_0_only_and_pages_without_them_keep_their_bytes() {
    let plain = LinkStateAd::sign_pages(&key(1), &site(1), 9, &[]).unwrap();
    let with =
        LinkStateAd::sign_pages_learnt(&key(1), &site(1), 9, &[], (&[p("10.60.1.0/24")], 100))
            .unwrap();
    assert_eq!(with[0].learnt, [p("10.60.1.0/24")]);
    assert_eq!(&LinkStateAd::decode(&with[0].encode()).unwrap(), &with[0]);
    assert!(with[0].verify(&key(1).public()));
    // Without learnt prefixes the page is what it was: entries, then the signature.
    assert_eq!(plain[0].encode().len() + 1 + 6, with[0].encode().len());
    assert!(LinkStateAd::decode(&plain[0].encode()).unwrap().learnt.is_empty());
    // Changed learnt prefixes no longer verify.
    let mut forged = with[0].clone();
    forged.learnt = vec![p("10.0.0.0/8")];
    assert!(!forged.verify(&key(1).public()));
    // Not on another page; not more than the bound; not an empty list written out.
    assert!(
        LinkStateAd::sign_page_learnt(
            &key(1),
            site(1),
            9,
            (1, 2),
            vec![],
            (vec![p("10.60.1.0/24")], 100)
        )
        .is_err()
    );
    let many: Vec<IpPrefix> =
        (0..=MAX_LEARNT_PREFIXES).map(|i| p(&format!("10.60.{i}.0/24"))).collect();
    assert!(matches!(
        LinkStateAd::sign_pages_learnt(&key(1), &site(1), 9, &[], (&many, 100)),
        Err(FrameError::TooLong { .. })
    ));
    let mut bytes = plain[0].encode();
    let at = bytes.len() - 64;
    bytes.insert(at, 0);
    assert!(matches!(LinkStateAd::decode(&bytes), Err(FrameError::Invalid { .. })));
    let mut bytes = with[0].encode();
    let count_at = bytes.len() - 64 - 7;
    bytes[count_at] = MAX_LEARNT_PREFIXES as u8 + 1;
    assert!(matches!(LinkStateAd::decode(&bytes), Err(FrameError::TooLong { .. })));
    // Page 1 of 2 with learnt bytes appended (signature aside) is refused.
    let page1 = LinkStateAd::sign_page(&key(1), site(1), 9, (1, 2), vec![]).unwrap();
    let mut b = page1.encode();
    let at = b.len() - 64;
    b.splice(at..at, [1, 4, 10, 60, 1, 0, 24]);
    assert!(matches!(LinkStateAd::decode(&b), Err(FrameError::Invalid { .. })));
}

/// The CA holder (0), site 1 certified to learn 10.60.0.0/16, site 2 plain.
fn mesh_with_a_learning_site() -> Sim {
    mesh_of(TopologyMode::FullMesh)
}

fn mesh_of(topology: TopologyMode) -> Sim {
    let mut sim = Sim::with_ca(None);
    sim.topology = topology;
    let mut s = spec(3600, 1);
    s.allowed_learn = learn(&["10.60.0.0/16"]);
    let token = sim.token(s);
    let one = sim.enrol_learning(1, token, learn(&["10.60.0.0/16"])).expect("enrols");
    assert_eq!(one.cert.body.learn_ranges, learn(&["10.60.0.0/16"]));
    sim.start(1, &one, 0);
    let two = sim.enrol(2, spec(3600, 1)).expect("enrols");
    sim.start(2, &two, 0);
    sim.run_for(Duration::from_secs(3));
    sim
}

fn prefixes_of(sim: &Sim, at: u8, of: u8) -> Vec<IpPrefix> {
    let v = sim.node(at).peers().find(|v| v.site == site(of)).expect("a peer");
    v.prefixes.iter().copied().collect()
}

#[test]
fn receivers_take_learnt_prefixes_only_inside_the_certified_learn_ranges() {
    let mut sim = mesh_with_a_learning_site();
    let now = sim.now;
    // Inside the range; outside it; inside site 2's certified 10.2.0.0/16.
    let offered = vec![p("10.60.1.0/24"), p("10.99.1.0/24"), p("10.2.5.0/24")];
    sim.node_mut(1).set_local_learnt(now, offered);
    sim.run_for(Duration::from_secs(2));
    for at in [0, 2] {
        assert_eq!(prefixes_of(&sim, at, 1), [p("10.1.0.0/16"), p("10.60.1.0/24")], "at {at}");
    }
    assert!(sim.events_of(2, now).iter().any(
        |e| matches!(e, NodeEvent::PeerChanged(v) if v.site == site(1) && v.prefixes.len() == 2)
    ));
    // Site 2 learning an overlapping prefix it may not bring in changes nothing.
    let now = sim.now;
    sim.node_mut(2).set_local_learnt(now, vec![p("10.60.0.0/16")]);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(prefixes_of(&sim, 0, 2), [p("10.2.0.0/16")]);
    assert_eq!(prefixes_of(&sim, 0, 1), [p("10.1.0.0/16"), p("10.60.1.0/24")]);
}

#[test]
fn a_newer_version_without_a_prefix_withdraws_it() {
    let mut sim = mesh_with_a_learning_site();
    let now = sim.now;
    sim.node_mut(1).set_local_learnt(now, vec![p("10.60.1.0/24"), p("10.60.2.0/24")]);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(prefixes_of(&sim, 2, 1).len(), 3);
    let now = sim.now;
    sim.node_mut(1).set_local_learnt(now, vec![p("10.60.2.0/24")]);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(prefixes_of(&sim, 2, 1), [p("10.1.0.0/16"), p("10.60.2.0/24")]);
}

#[test]
fn when_the_origins_advertisement_ages_out_its_learnt_prefixes_go_with_it() {
    let mut sim = mesh_with_a_learning_site();
    let now = sim.now;
    sim.node_mut(1).set_local_learnt(now, vec![p("10.60.1.0/24")]);
    sim.run_for(Duration::from_secs(2));
    assert_eq!(prefixes_of(&sim, 2, 1).len(), 2);
    // Site 1's link state stops reaching anyone; its membership does not.
    let link_state = FrameKind::LinkState as u8;
    sim.filter = Box::new(move |from, _, bytes| !(from == 1 && bytes[0] == link_state));
    sim.run_for(Duration::from_secs(7));
    assert_eq!(prefixes_of(&sim, 2, 1), [p("10.1.0.0/16")], "still a peer, without 10.60.1.0/24");
}

#[test]
fn a_spoke_reached_through_the_hub_brings_its_learnt_prefixes_too() {
    let mut sim = mesh_of(TopologyMode::HubAndSpoke);
    let now = sim.now;
    sim.node_mut(1).set_local_learnt(now, vec![p("10.60.1.0/24")]);
    sim.run_for(Duration::from_secs(2));
    let node = sim.node(2);
    let (s, body) = node.reachable_via_relay().into_iter().find(|(s, _)| **s == site(1)).unwrap();
    let got: Vec<IpPrefix> = node.prefixes_with_learnt(s, body).iter().copied().collect();
    assert_eq!(got, [p("10.1.0.0/16"), p("10.60.1.0/24")]);
}
