//! The whole fabric in the simulator: real nodes, real SWIM, real probes,
//! real relay planning, on virtual time.

use std::time::Duration;

use weft_node::sim::fabric::{FabricConfig, FabricSim};

fn sim(sites: usize, seed: u64) -> FabricSim {
    FabricSim::new(FabricConfig { sites, ..FabricConfig::default() }, seed)
}

#[test]
fn a_full_mesh_of_five_sites_converges_from_one_seed_with_real_certificates() {
    let mut s = sim(5, 1);
    s.run_for(Duration::from_secs(8));
    assert!(s.converged(), "unconverged: {:?}", s.unconverged_pairs(5));
    for i in 0..5 {
        let peers = s.dataplane(i).peers.iter().filter(|p| !p.gone).count();
        assert_eq!(peers, 4, "site {i} peers with every other site");
    }
    assert!(s.deaths().is_empty(), "nobody retired: {:?}", s.deaths());
}

#[test]
fn traffic_goes_through_a_relay_only_while_every_direct_path_is_down() {
    let mut s = sim(3, 2);
    let flow = s.add_flow(0, 2, "best-effort", 50);
    s.run_for(Duration::from_secs(8));
    assert!(matches!(s.route(0, 2, 3), weft_node::sim::fabric::Route::Direct { .. }));
    s.cut_between(0, 2, true);
    s.run_for(Duration::from_secs(6));
    assert!(
        matches!(s.route(0, 2, 3), weft_node::sim::fabric::Route::Relayed { via: 1, .. }),
        "relayed through s1 while a–c is cut: {:?}",
        s.route(0, 2, 3)
    );
    assert!(s.reachable(0, 2) && s.reachable(2, 0), "both ways through the relay");
    s.cut_between(0, 2, false);
    s.run_for(Duration::from_secs(10));
    assert!(matches!(s.route(0, 2, 3), weft_node::sim::fabric::Route::Direct { .. }));
    let f = s.flow(flow);
    assert!(f.max_gap < Duration::from_secs(5), "the cut cost {:?}", f.max_gap);
    assert!(s.relay_changes().iter().any(|r| r.site == 0 && r.via.is_some()));
    assert!(s.relay_changes().iter().any(|r| r.site == 0 && r.via.is_none()), "back direct");
}

#[test]
fn a_run_replays_exactly_from_its_seed() {
    let run = |seed| {
        let mut s = sim(4, seed);
        let f = s.add_flow(1, 3, "realtime", 100);
        s.run_for(Duration::from_secs(3));
        s.set_uplink(3, 0, false);
        s.run_for(Duration::from_secs(3));
        let st = s.flow(f);
        (s.datagrams(), st.delivered, st.max_gap, st.path_changes)
    };
    assert_eq!(run(9), run(9), "same seed, same run");
    assert_ne!(run(9).0, run(10).0, "another seed, another run");
}

#[test]
fn a_crashed_site_is_retired_everywhere_and_comes_back_after_a_restart() {
    let mut s = sim(4, 3);
    s.run_for(Duration::from_secs(6));
    s.crash(2);
    s.run_for(Duration::from_secs(20));
    for i in [0, 1, 3] {
        assert!(s.dataplane(i).slot_of(2).is_none(), "site {i} retired the crashed site");
    }
    assert!(s.false_deaths(Duration::from_mins(1)).is_empty(), "{:?}", s.deaths());
    s.restart(2);
    s.run_for(Duration::from_secs(10));
    assert!(s.converged(), "after the restart: {:?}", s.unconverged_pairs(5));
}
