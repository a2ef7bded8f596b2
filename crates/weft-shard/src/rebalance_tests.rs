//! Tests of the rebalancer, driven with hand-made times.

use std::time::Duration;

use weft_types::virtual_origin;

use crate::assign::assign;
use crate::controller::{Controller, LoadBound, Status};
use crate::error::ShardError;
use crate::id::{ControllerId, ShardId};
use crate::map::ShardMap;
use crate::plan::PlanId;
use crate::rebalance::{AUTOMATIC_ACTOR, Outcome, RebalanceConfig, Rebalancer};

fn ctls(names: &[&str]) -> Vec<Controller> {
    names.iter().map(|n| Controller::active(ControllerId::new(n).unwrap())).collect()
}

fn start(cs: &[Controller]) -> ShardMap {
    let owners = assign(&ShardId::range(120), cs, LoadBound::default()).unwrap().owners;
    ShardMap { version: 1, epoch: 4, owners }
}

fn manual() -> Rebalancer {
    Rebalancer::new(RebalanceConfig {
        grace: Duration::from_secs(10),
        ..RebalanceConfig::default()
    })
}

#[test]
fn an_unhealthy_controller_keeps_its_shards_until_the_grace_period_ends() {
    let t0 = virtual_origin();
    let cs = ctls(&["a", "b", "c"]);
    let map = start(&cs);
    let mut r = manual();
    r.handle_health(t0, &cs[1].id, false);
    r.handle_health(t0 + Duration::from_secs(5), &cs[1].id, false);
    assert_eq!(r.poll_timeout(t0 + Duration::from_secs(5)), Some(t0 + Duration::from_secs(10)));
    let early = r.handle_tick(t0 + Duration::from_secs(9), 0, &map, &cs).unwrap();
    assert_eq!(early, Outcome::Balanced);
    let Outcome::Proposed(plan) =
        r.handle_tick(t0 + Duration::from_secs(10), 0, &map, &cs).unwrap()
    else {
        panic!("expected a plan once the grace period is over");
    };
    let held = map.owned_by(&cs[1].id).count();
    assert_eq!(plan.moves.len(), held, "only b's shards move");
    assert!(plan.moves.iter().all(|m| m.from.as_ref() == Some(&cs[1].id)));
    assert!(r.poll_timeout(t0 + Duration::from_secs(10)).is_none());
}

#[test]
fn a_controller_that_recovers_within_the_grace_period_keeps_its_shards() {
    let t0 = virtual_origin();
    let cs = ctls(&["a", "b"]);
    let map = start(&cs);
    let mut r = manual();
    r.handle_health(t0, &cs[0].id, false);
    r.handle_health(t0 + Duration::from_secs(3), &cs[0].id, true);
    let out = r.handle_tick(t0 + Duration::from_mins(1), 0, &map, &cs).unwrap();
    assert_eq!(out, Outcome::Balanced);
}

#[test]
fn an_approved_plan_is_applied_and_every_move_audited() {
    let t0 = virtual_origin();
    let mut cs = ctls(&["a", "b", "c"]);
    let map = start(&cs);
    cs[2].status = Status::Draining;
    let mut r = manual();
    let Outcome::Proposed(plan) = r.handle_tick(t0, 0, &map, &cs).unwrap() else {
        panic!("a draining owner needs a plan");
    };
    assert_eq!(r.pending().count(), 1);
    let (next, audit) = r.approve(plan.id, &map, "alice", 1_700_000_000_000).unwrap();
    assert_eq!(next.version, 2);
    assert_eq!(next.epoch, 4);
    assert_eq!(next.owned_by(&cs[2].id).count(), 0);
    assert_eq!(audit.len(), plan.moves.len());
    assert!(audit.iter().all(|a| a.actor == "alice"
        && a.at_unix_ms == 1_700_000_000_000
        && a.version == 2
        && a.plan == plan.id));
    assert_eq!(r.handle_tick(t0, 0, &next, &cs).unwrap(), Outcome::Balanced);
    assert_eq!(r.approve(plan.id, &next, "alice", 0), Err(ShardError::UnknownPlan(plan.id)));
}

#[test]
fn a_plan_made_from_an_older_map_version_is_refused() {
    let t0 = virtual_origin();
    let mut cs = ctls(&["a", "b", "c"]);
    let mut map = start(&cs);
    cs[0].status = Status::Draining;
    let mut r = manual();
    let Outcome::Proposed(plan) = r.handle_tick(t0, 0, &map, &cs).unwrap() else {
        panic!("a draining owner needs a plan");
    };
    map.version += 1;
    assert_eq!(
        r.approve(plan.id, &map, "bob", 0),
        Err(ShardError::StalePlan { plan: plan.id, planned: 1, current: 2 })
    );
    assert!(matches!(r.approve(PlanId(7), &map, "bob", 0), Err(ShardError::UnknownPlan(_))));
}

#[test]
fn automatic_mode_applies_plans_at_once() {
    let t0 = virtual_origin();
    let cs = ctls(&["a", "b", "c"]);
    let map = start(&cs);
    let mut r = Rebalancer::new(RebalanceConfig {
        grace: Duration::ZERO,
        automatic: true,
        ..RebalanceConfig::default()
    });
    r.handle_health(t0, &cs[0].id, false);
    let Outcome::Applied { plan, map: next, audit } = r.handle_tick(t0, 5, &map, &cs).unwrap()
    else {
        panic!("automatic mode applies");
    };
    assert_eq!(next.version, map.version + 1);
    assert_eq!(next.owned_by(&cs[0].id).count(), 0);
    assert_eq!(audit.len(), plan.moves.len());
    assert!(audit.iter().all(|a| a.actor == AUTOMATIC_ACTOR && a.at_unix_ms == 5));
    assert_eq!(r.pending().count(), 0);
}

#[test]
fn an_owner_above_its_cap_gets_a_plan() {
    let t0 = virtual_origin();
    let cs = ctls(&["a", "b", "c"]);
    // A map from elsewhere: everything on a.
    let owners = ShardId::range(30).into_iter().map(|s| (s, cs[0].id.clone())).collect();
    let map = ShardMap { version: 9, epoch: 1, owners };
    let mut r = manual();
    let Outcome::Proposed(plan) = r.handle_tick(t0, 0, &map, &cs).unwrap() else {
        panic!("a is overloaded");
    };
    // 30 shards on a, cap ceil(1.25 × 30 / 3) = 13: at least 17 must move.
    assert!((plan.counts.optimal - 17.0).abs() < 1e-9, "{:?}", plan.counts);
    assert!(plan.counts.moved >= 17);
    assert!(plan.moves.iter().all(|m| m.from.as_ref() == Some(&cs[0].id)));
    let (next, _) = r.approve(plan.id, &map, "carol", 0).unwrap();
    assert!(next.owned_by(&cs[0].id).count() <= LoadBound::default().cap(30, 1, 3));
}
