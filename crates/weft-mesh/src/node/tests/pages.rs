//! Paged link-state advertisements through the simulated network: more
//! links than fit one datagram, sets that shrink, pages lost or replayed.

use std::time::Duration;

use super::sim::{Sim, site};
use super::*;

/// A link to a site that need not exist (the neighbours of a big hub).
fn far(i: usize, up: bool) -> LinkEntry {
    LinkEntry {
        neighbour: SiteId::new(&format!("far-{i:03}")).unwrap(),
        rtt_us: 1000 + i as u32,
        jitter_us: 50,
        loss_ppm: 0,
        capacity_kbps: 100_000,
        up,
        relayed_only: false,
        via: None,
    }
}

fn links(n: usize) -> Vec<LinkEntry> {
    (0..n).map(|i| far(i, true)).collect()
}

/// Site `at`'s view of site `of`'s links: (version, pages, neighbours).
fn held(sim: &Sim, at: u8, of: u8) -> Option<(u64, usize, Vec<SiteId>)> {
    let (_, set) = sim.node(at).link_states().find(|(s, _)| **s == site(of))?;
    Some((set.version(), set.pages().len(), set.entries().map(|e| e.neighbour.clone()).collect()))
}

fn neighbours(n: usize) -> Vec<SiteId> {
    links(n).into_iter().map(|e| e.neighbour).collect()
}

/// The `LINK_STATE` pages `from` sent `to` in the log: (version, page, pages, bytes).
fn pages_sent(sim: &Sim, from: usize, to: usize) -> Vec<(u64, u8, u8, Vec<u8>)> {
    sim.log
        .iter()
        .filter(|(f, t, b)| *f == from && *t == to && b[0] == FrameKind::LinkState as u8)
        .map(|(_, _, b)| {
            let Ok(Frame::LinkState { ad, .. }) = Frame::decode(b) else { unreachable!() };
            (ad.version, ad.page, ad.pages, b.clone())
        })
        .collect()
}

#[test]
fn a_site_with_150_links_floods_three_pages_and_every_receiver_holds_all_150() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    sim.recording = true;
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, links(150));
    sim.run_for(Duration::from_millis(100));
    let sent = pages_sent(&sim, 1, 2);
    let first = sent.first().expect("sent at once").0;
    let of_first: Vec<(u8, u8)> =
        sent.iter().filter(|p| p.0 == first).map(|p| (p.1, p.2)).collect();
    assert_eq!(of_first, [(0, 3), (1, 3), (2, 3)], "three pages of one version");
    for at in [0, 2] {
        let (version, pages, got) = held(&sim, at, 1).expect("held");
        assert_eq!((version, pages), (first, 3), "at {at}");
        assert_eq!(got, neighbours(150), "every link, in order, at {at}");
    }
    let bytes = sent.iter().map(|p| p.3.len()).max().unwrap();
    assert!(bytes < 9000, "each page is one datagram ({bytes} bytes)");
}

#[test]
fn shrinking_to_40_links_drops_the_second_and_third_pages_at_receivers() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, links(150));
    sim.run_for(Duration::from_secs(2));
    assert_eq!(held(&sim, 2, 1).unwrap().2.len(), 150);
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, links(40));
    sim.run_for(Duration::from_millis(100));
    for at in [0, 2] {
        let (_, pages, got) = held(&sim, at, 1).unwrap();
        assert_eq!(pages, 1, "one page at {at}");
        assert_eq!(got, neighbours(40), "nothing of the old pages 2 and 3 at {at}");
    }
    // And it stays so as the set is sent again and again.
    sim.run_for(Duration::from_secs(3));
    assert_eq!(held(&sim, 2, 1).unwrap().2, neighbours(40));
}

#[test]
fn a_replayed_older_page_is_ignored_even_once_the_set_it_belonged_to_aged_out() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    sim.recording = true;
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, links(150));
    sim.run_for(Duration::from_secs(2));
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, links(40));
    sim.run_for(Duration::from_millis(100));
    let sent = pages_sent(&sim, 1, 2);
    let old_last = sent.iter().find(|p| (p.1, p.2) == (2, 3)).expect("a page 3 of 3").3.clone();
    let old_first = sent.iter().find(|p| (p.1, p.2) == (0, 3)).unwrap().3.clone();
    let stale = sim.node(2).counters().link_states_stale;
    sim.inject(1, 2, &old_last).unwrap();
    sim.inject(1, 2, &old_first).unwrap();
    assert_eq!(sim.node(2).counters().link_states_stale, stale + 2);
    assert_eq!(held(&sim, 2, 1).unwrap().2, neighbours(40));
    // Site 1 falls silent; its set ages out at 2, then the old pages come back.
    sim.filter = Box::new(|from, _, b| !(from == 1 && b[0] == FrameKind::LinkState as u8));
    sim.run_for(Duration::from_secs(6));
    assert!(held(&sim, 2, 1).is_none(), "aged out");
    for bytes in [&old_first, &old_last] {
        sim.inject(1, 2, bytes).unwrap();
    }
    assert!(held(&sim, 2, 1).is_none(), "no old page comes back to life");
}

#[test]
fn a_lost_page_leaves_the_previous_complete_set_in_force_until_the_next_version_completes() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, links(150));
    sim.run_for(Duration::from_secs(2));
    // The second page of every version from 1 to 2 is lost from now on.
    sim.filter = Box::new(|from, to, b| {
        let page = match Frame::decode(b) {
            Ok(Frame::LinkState { ad, .. }) => Some(ad.page),
            _ => None,
        };
        !(from == 1 && to == 2 && page == Some(1))
    });
    let mut changed = links(150);
    changed[0].up = false; // on the first page
    changed[149].up = false; // on the third
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, changed);
    let (new, _, _) = held(&sim, 1, 1).unwrap();
    sim.run_for(Duration::from_millis(100));
    let (v, pages, got) = held(&sim, 2, 1).unwrap();
    assert!(v < new, "the new version is not complete at 2");
    assert_eq!((pages, got), (3, neighbours(150)), "the old set, whole");
    let set = sim.node(2).link_states().find(|(s, _)| **s == site(1)).unwrap().1;
    assert!(set.entries().all(|e| e.up), "no page of the new version mixed in");
    let at_0 = sim.node(0).link_states().find(|(s, _)| **s == site(1)).unwrap().1;
    assert_eq!(at_0.version(), new, "site 0 lost nothing");
    assert_eq!(at_0.entries().filter(|e| !e.up).count(), 2);
    sim.filter = Box::new(|_, _, _| true);
    sim.run_for(Duration::from_millis(1100));
    let set = sim.node(2).link_states().find(|(s, _)| **s == site(1)).unwrap().1;
    assert!(set.version() > new);
    assert_eq!(set.entries().filter(|e| !e.up).count(), 2);
}

#[test]
fn a_paged_advertisement_ages_out_when_its_origin_stops_sending_it() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    let now = sim.now;
    sim.node_mut(1).set_local_links(now, links(100));
    sim.run_for(Duration::from_secs(2));
    assert_eq!(held(&sim, 2, 1).unwrap().1, 2);
    sim.filter = Box::new(|from, _, b| !(from == 1 && b[0] == FrameKind::LinkState as u8));
    sim.run_for(Duration::from_secs(6));
    assert!(held(&sim, 2, 1).is_none());
    assert_eq!(held(&sim, 1, 1).unwrap().2.len(), 100, "our own never expires");
}

#[test]
fn a_cut_link_on_a_later_page_gets_every_page_forwarded_to_the_cut_off_site() {
    let mut sim = Sim::mesh(2, None, Duration::from_secs(3));
    // Sites 1 and 2 cannot talk to each other; 0 reaches both.
    sim.filter = Box::new(|from, to, _| !matches!((from, to), (1, 2) | (2, 1)));
    sim.run_for(Duration::from_secs(1));
    let now = sim.now;
    let side = |other: u8| {
        let mut l = links(100);
        l.push(LinkEntry { neighbour: site(0), ..far(0, true) });
        l.push(LinkEntry { neighbour: site(other), ..far(0, false) }); // on the second page
        l
    };
    sim.node_mut(0).set_local_links(now, links(10));
    sim.node_mut(1).set_local_links(now, side(2));
    sim.node_mut(2).set_local_links(now, side(1));
    // Longer than an advertisement lives: only forwarded copies keep them fresh.
    sim.run_for(Duration::from_secs(12));
    for (at, of) in [(1, 2), (2, 1)] {
        let (_, pages, got) = held(&sim, at, of).expect("held through site 0");
        assert_eq!((pages, got.len()), (2, 102), "{at} holds all of {of}'s links");
    }
    assert!(sim.node(0).counters().link_states_forwarded > 0);
}
