//! Deterministic simulation of membership alone: a small lossy mesh converges
//! after a join and never declares a live member dead.

use std::time::Duration;

use weft_mesh::membership::MemberEvent;
use weft_node::sim::{GossipNet, GossipSim};

#[test]
fn twenty_members_converge_on_a_joiner_and_nobody_alive_is_declared_dead() {
    for seed in [1, 2, 3] {
        let n = 20;
        let mut sim = GossipSim::new(seed, n, GossipNet::default());
        sim.bootstrap(n - 1);
        sim.run_for(Duration::from_secs(5), &mut |_, _, _| {});
        let mut downs = 0;
        let mut on_event = |_, _, e: &MemberEvent| {
            if matches!(e, MemberEvent::Down(_) | MemberEvent::Rejoined(_)) {
                downs += 1;
            }
        };
        sim.join(n - 1, 0, &mut on_event);
        sim.run_for(Duration::from_mins(2), &mut on_event);
        for i in 0..n {
            assert_eq!(sim.member(i).member_count(), n - 1, "seed {seed}: member {i}");
            assert_eq!(sim.member(i).counters().rejected(), 0, "seed {seed}: member {i}");
        }
        assert_eq!(downs, 0, "seed {seed}: false deaths");
    }
}

#[test]
fn a_killed_member_is_declared_down_by_every_live_member() {
    let n = 20;
    let mut sim = GossipSim::new(7, n, GossipNet::default());
    sim.bootstrap(n);
    sim.run_for(Duration::from_secs(5), &mut |_, _, _| {});
    sim.kill(3);
    let victim = sim.member(3).local().site.clone();
    let mut saw_down = vec![false; n];
    sim.run_for(Duration::from_secs(15), &mut |_, i, e| {
        if let MemberEvent::Down(m) = e {
            assert_eq!(m.site, victim, "only the killed member goes down");
            saw_down[i] = true;
        }
    });
    assert!((0..n).filter(|&i| i != 3).all(|i| saw_down[i]));
}
