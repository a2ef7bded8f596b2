//! Plans: a list of moves computed from one map version, with their counts
//! and a content digest as id; and [`simulate`], which makes one for an
//! operator's "what if".

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::controller::{Controller, LoadBound};
use crate::error::ShardError;
use crate::hash::{fnv1a64, mix64};
use crate::id::ControllerId;
use crate::map::{Move, ShardMap, diff};
use crate::minimal::{Strategy, reassign};

/// A plan's id: a digest of its base version and moves, so the same plan
/// proposed twice has the same id and an operator can name it in
/// `weft shards approve PLAN`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanId(pub u64);

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlanId({self})")
    }
}

impl std::str::FromStr for PlanId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(PlanId)
    }
}

/// Why a plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PlanReason {
    /// An operator asked what adding and removing controllers would do.
    Simulated {
        /// Controllers added.
        add: Vec<ControllerId>,
        /// Controllers removed.
        remove: Vec<ControllerId>,
    },
    /// Controllers own shards they may no longer own (unhealthy past the
    /// grace period, draining, or gone), or more than the load bound.
    Rebalance {
        /// Owners that may own nothing.
        ineligible: Vec<ControllerId>,
        /// Owners above their cap.
        overloaded: Vec<ControllerId>,
    },
}

/// How a plan compares with the fewest moves any assignment could make.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MoveCounts {
    /// Shards in the map.
    pub shards: usize,
    /// Shards the plan moves.
    pub moved: usize,
    /// The fewest moves any balanced assignment needs for this change: the
    /// larger of the shards held by controllers that leave and the fair
    /// shares (by weight) of the controllers that arrive. For one controller
    /// added to N equal ones this is `shards / (N + 1)`.
    pub optimal: f64,
}

impl MoveCounts {
    /// `moved / optimal`, or `None` when nothing had to move.
    pub fn ratio(&self) -> Option<f64> {
        (self.optimal > 0.0).then(|| self.moved as f64 / self.optimal)
    }
}

/// Moves computed from one version of the map, not yet applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Digest of `base_version`, `epoch` and `moves`.
    pub id: PlanId,
    /// The map version the moves were computed from; the plan is refused
    /// once the map has moved on.
    pub base_version: u64,
    /// The epoch of that map.
    pub epoch: u64,
    /// Why the plan exists.
    pub reason: PlanReason,
    /// The moves, in shard order.
    pub moves: Vec<Move>,
    /// Moves compared with the optimum.
    pub counts: MoveCounts,
}

impl Plan {
    /// Makes a plan and its id.
    pub(crate) fn new(base: &ShardMap, reason: PlanReason, moves: Vec<Move>, optimal: f64) -> Self {
        let counts = MoveCounts { shards: base.owners.len(), moved: moves.len(), optimal };
        let digest_input =
            serde_json::to_string(&(base.version, base.epoch, &moves)).unwrap_or_default();
        let id = PlanId(mix64(fnv1a64(digest_input.as_bytes())));
        Self { id, base_version: base.version, epoch: base.epoch, reason, moves, counts }
    }
}

/// The moves that adding `add` and removing `remove` would make to
/// `current`, whose controllers are `controllers`, without applying them.
///
/// The new owners come from [`reassign`] with `strategy`: with
/// [`Strategy::Rendezvous`], applying the plan leads to the same map a fresh
/// [`assign`](crate::assign) would; with [`Strategy::Minimal`], to the fewest
/// moves. Refused: an added controller already present, a removed one
/// absent, and everything [`assign`](crate::assign) refuses.
pub fn simulate(
    current: &ShardMap,
    controllers: &[Controller],
    add: &[Controller],
    remove: &[ControllerId],
    bound: LoadBound,
    strategy: Strategy,
) -> Result<Plan, ShardError> {
    let present: BTreeSet<&ControllerId> = controllers.iter().map(|c| &c.id).collect();
    for c in add {
        if present.contains(&c.id) {
            return Err(ShardError::AlreadyPresent(c.id.clone()));
        }
    }
    for id in remove {
        if !present.contains(id) {
            return Err(ShardError::UnknownController(id.clone()));
        }
    }
    let removed: BTreeSet<&ControllerId> = remove.iter().collect();
    let mut next: Vec<Controller> =
        controllers.iter().filter(|c| !removed.contains(&c.id)).cloned().collect();
    next.extend(add.iter().cloned());

    let shards: Vec<_> = current.owners.keys().copied().collect();
    let target = reassign(strategy, &current.owners, &shards, &next, bound)?;
    let moves = diff(&current.owners, &target);

    let leaving = current.owners.values().filter(|c| removed.contains(c)).count() as f64;
    let total_weight: u64 =
        next.iter().filter(|c| c.is_eligible()).map(|c| u64::from(c.weight)).sum();
    let arriving: u64 = add.iter().filter(|c| c.is_eligible()).map(|c| u64::from(c.weight)).sum();
    let share = if total_weight == 0 {
        0.0
    } else {
        shards.len() as f64 * arriving as f64 / total_weight as f64
    };
    let reason = PlanReason::Simulated {
        add: add.iter().map(|c| c.id.clone()).collect(),
        remove: remove.to_vec(),
    };
    Ok(Plan::new(current, reason, moves, leaving.max(share)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::assign;
    use crate::id::ShardId;

    fn ctl(name: &str) -> Controller {
        Controller::active(ControllerId::new(name).unwrap())
    }

    fn map_of(cs: &[Controller], shards: u32) -> ShardMap {
        let a = assign(&ShardId::range(shards), cs, LoadBound::default()).unwrap();
        ShardMap { version: 3, epoch: 1, owners: a.owners }
    }

    #[test]
    fn simulating_an_addition_moves_shards_only_to_the_new_controller() {
        let cs: Vec<_> = ["a", "b", "c"].iter().map(|n| ctl(n)).collect();
        let map = map_of(&cs, 3000);
        let plan =
            simulate(&map, &cs, &[ctl("d")], &[], LoadBound::default(), Strategy::Rendezvous)
                .unwrap();
        assert!((plan.counts.optimal - 750.0).abs() < 1e-9);
        assert!(plan.moves.iter().all(|m| m.to.as_ref().unwrap().as_str() == "d"));
        let ratio = plan.counts.ratio().unwrap();
        assert!((0.9..1.1).contains(&ratio), "{ratio}");
        assert_eq!(plan.base_version, 3);
    }

    #[test]
    fn the_same_plan_gets_the_same_id_and_another_plan_another() {
        let cs: Vec<_> = ["a", "b"].iter().map(|n| ctl(n)).collect();
        let map = map_of(&cs, 64);
        let p1 = simulate(&map, &cs, &[ctl("c")], &[], LoadBound::default(), Strategy::Rendezvous)
            .unwrap();
        let p2 = simulate(&map, &cs, &[ctl("c")], &[], LoadBound::default(), Strategy::Rendezvous)
            .unwrap();
        let p3 = simulate(&map, &cs, &[ctl("e")], &[], LoadBound::default(), Strategy::Rendezvous)
            .unwrap();
        assert_eq!(p1.id, p2.id);
        assert_ne!(p1.id, p3.id);
        assert_eq!(p1.id.to_string().parse::<PlanId>().unwrap(), p1.id);
    }

    #[test]
    fn simulating_unknown_or_duplicate_controllers_is_refused() {
        let cs: Vec<_> = ["a", "b"].iter().map(|n| ctl(n)).collect();
        let map = map_of(&cs, 16);
        let b = LoadBound::default();
        assert!(matches!(
            simulate(&map, &cs, &[ctl("a")], &[], b, Strategy::Rendezvous),
            Err(ShardError::AlreadyPresent(_))
        ));
        let x = ControllerId::new("x").unwrap();
        assert!(matches!(
            simulate(&map, &cs, &[], &[x], b, Strategy::Rendezvous),
            Err(ShardError::UnknownController(_))
        ));
        let all: Vec<_> = cs.iter().map(|c| c.id.clone()).collect();
        assert!(matches!(
            simulate(&map, &cs, &[], &all, b, Strategy::Rendezvous),
            Err(ShardError::NoEligibleController { .. })
        ));
    }
}
