//! Fewest-moves reassignment: change a current map as little as the load
//! bound and a fair share for every controller allow.
//!
//! [`assign`](crate::assign) recomputes the map from the controller set
//! alone, so the moves a change causes are whatever the two assignments
//! differ by: `S/(N+1)` on average for one controller added to N, with
//! binomial scatter. [`Strategy::Minimal`] instead starts from the current
//! owners:
//!
//! 1. every eligible controller keeps its best-ranked current shards, up to
//!    its floor share `floor(S × w / Σw)`; the rest go to a pool. Shards that
//!    must move (their owner may no longer own anything, or they are ranked
//!    beyond their owner's cap) are marked as orphans;
//! 2. controllers below their floor share take pool shards by rendezvous
//!    rank, orphans first;
//! 3. every other pool shard goes back to its previous owner, and the
//!    orphans left go by rank to controllers below their ceiling share
//!    `ceil(S × w / Σw)`, then below their cap.
//!
//! From a map this strategy made, one controller added to N equal ones
//! moves exactly `floor(S/(N+1))` shards, all to the newcomer. One removed
//! from N moves the shards it held plus at most N-1 more: the controllers
//! left must all reach the new floor share, and the removed one's shards
//! (at least the old floor share) may fall short of that by up to N-1
//! because of rounding; each extra move goes from a controller above the new
//! floor to one below it. The price: the map depends on the history of
//! changes, not only on the controller set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assign::{assign, validate};
use crate::controller::{Controller, LoadBound};
use crate::error::ShardError;
use crate::hash::{fnv1a64, pair_hash, race_key};
use crate::id::ShardId;
use crate::map::Owners;

/// How a changed controller set turns into new owners.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Recompute with [`assign`]: the map is a pure function of the shards,
    /// the controllers and the bound.
    Rendezvous,
    /// Move as few shards as possible from the current map (see the module
    /// documentation): optimal moves, history-dependent map. The default:
    /// the fenced leader publishes the map, so nobody has to recompute it,
    /// and every change stays within the optimum.
    #[default]
    Minimal,
}

/// The owners of `shards` among `controllers` under `strategy`, starting
/// from `current` (ignored by [`Strategy::Rendezvous`]).
pub fn reassign(
    strategy: Strategy,
    current: &Owners,
    shards: &[ShardId],
    controllers: &[Controller],
    bound: LoadBound,
) -> Result<Owners, ShardError> {
    match strategy {
        Strategy::Rendezvous => assign(shards, controllers, bound).map(|a| a.owners),
        Strategy::Minimal => minimal(current, shards, controllers, bound),
    }
}

type Key = (f64, u64);

fn cmp_key(a: &Key, b: &Key) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Gives each shard of `pool` (in order of best pair first) to a controller
/// whose `room` is not used up; returns the shards left over.
fn fill(
    pool: &[ShardId],
    room: &mut [usize],
    owners: &mut Vec<(ShardId, usize)>,
    key: &dyn Fn(ShardId, usize) -> Key,
) -> Vec<ShardId> {
    let mut pairs: Vec<(Key, ShardId, usize)> = Vec::new();
    for &s in pool {
        for (ci, r) in room.iter().enumerate() {
            if *r > 0 {
                pairs.push((key(s, ci), s, ci));
            }
        }
    }
    pairs.sort_by(|a, b| cmp_key(&a.0, &b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut taken = std::collections::BTreeSet::new();
    for (_, s, ci) in pairs {
        if room[ci] > 0 && !taken.contains(&s) {
            taken.insert(s);
            room[ci] -= 1;
            owners.push((s, ci));
        }
    }
    pool.iter().copied().filter(|s| !taken.contains(s)).collect()
}

fn minimal(
    current: &Owners,
    shards: &[ShardId],
    controllers: &[Controller],
    bound: LoadBound,
) -> Result<Owners, ShardError> {
    let eligible = validate(shards, controllers)?;
    if shards.is_empty() {
        return Ok(Owners::new());
    }
    if eligible.is_empty() {
        return Err(ShardError::NoEligibleController { shards: shards.len() });
    }
    let pairs = shards.len().saturating_mul(eligible.len());
    if pairs > crate::assign::MAX_PAIRS {
        return Err(ShardError::TooLarge { pairs, max: crate::assign::MAX_PAIRS });
    }
    let s_count = shards.len();
    let total_weight: u64 = eligible.iter().map(|c| u64::from(c.weight)).sum();
    let caps: Vec<usize> =
        eligible.iter().map(|c| bound.cap(s_count, c.weight, total_weight)).collect();
    let floors: Vec<usize> = eligible
        .iter()
        .map(|c| (s_count as u128 * u128::from(c.weight) / u128::from(total_weight)) as usize)
        .collect();
    let ceils: Vec<usize> = eligible
        .iter()
        .map(|c| {
            (s_count as u128 * u128::from(c.weight)).div_ceil(u128::from(total_weight)) as usize
        })
        .collect();
    let name_hashes: Vec<u64> =
        eligible.iter().map(|c| fnv1a64(c.id.as_str().as_bytes())).collect();
    let key = |s: ShardId, ci: usize| -> Key {
        let h = pair_hash(s.0, name_hashes[ci]);
        (race_key(h, eligible[ci].weight), h)
    };
    let index: BTreeMap<_, usize> = eligible.iter().enumerate().map(|(i, c)| (&c.id, i)).collect();

    // 1. Keep the best-ranked current shards up to the floor share. Shards
    //    ranked beyond the cap must move: they join the orphans.
    let mut sorted = shards.to_vec();
    sorted.sort_unstable();
    let mut held: Vec<Vec<ShardId>> = vec![Vec::new(); eligible.len()];
    let mut orphans = Vec::new();
    for &s in &sorted {
        match current.get(&s).and_then(|c| index.get(c)) {
            Some(&ci) => held[ci].push(s),
            None => orphans.push(s),
        }
    }
    let mut placed: Vec<(ShardId, usize)> = Vec::with_capacity(s_count);
    let mut released: Vec<(ShardId, usize)> = Vec::new();
    let mut load = vec![0usize; eligible.len()];
    for (ci, mine) in held.iter_mut().enumerate() {
        mine.sort_by(|a, b| cmp_key(&key(*a, ci), &key(*b, ci)).then(a.cmp(b)));
        for (rank, &s) in mine.iter().enumerate() {
            if rank < floors[ci] {
                placed.push((s, ci));
                load[ci] += 1;
            } else if rank < caps[ci] {
                released.push((s, ci));
            } else {
                orphans.push(s);
            }
        }
    }

    // 2. Fill every controller to its floor share, shards that must move
    //    first.
    orphans.sort_unstable();
    let mut room: Vec<usize> = floors.iter().zip(&load).map(|(f, l)| f - l).collect();
    let before = placed.len();
    let orphans_left = fill(&orphans, &mut room, &mut placed, &key);
    let released_ids: Vec<ShardId> = released.iter().map(|(s, _)| *s).collect();
    let released_left = fill(&released_ids, &mut room, &mut placed, &key);
    for &(_, ci) in &placed[before..] {
        load[ci] += 1;
    }

    // 3. Back to the previous owner (always within its cap: shards beyond
    //    it were orphaned), the rest by rank, up to the ceiling share first
    //    so that loads stay near the mean, then up to the cap.
    let previous: BTreeMap<ShardId, usize> = released.into_iter().collect();
    let mut rest = orphans_left;
    for s in released_left {
        match previous.get(&s) {
            Some(&ci) if load[ci] < caps[ci] => {
                placed.push((s, ci));
                load[ci] += 1;
            }
            _ => rest.push(s),
        }
    }
    rest.sort_unstable();
    let before = placed.len();
    let mut room: Vec<usize> = ceils.iter().zip(&load).map(|(c, l)| c.saturating_sub(*l)).collect();
    let rest = fill(&rest, &mut room, &mut placed, &key);
    for &(_, ci) in &placed[before..] {
        load[ci] += 1;
    }
    let mut room: Vec<usize> = caps.iter().zip(&load).map(|(c, l)| c.saturating_sub(*l)).collect();
    let unplaced = fill(&rest, &mut room, &mut placed, &key);
    debug_assert!(unplaced.is_empty(), "ceilings sum to at least the shard count");

    Ok(placed.into_iter().map(|(s, ci)| (s, eligible[ci].id.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::loads;
    use crate::id::ControllerId;
    use crate::map::diff;

    fn ctls(names: &[&str]) -> Vec<Controller> {
        names.iter().map(|n| Controller::active(ControllerId::new(n).unwrap())).collect()
    }

    #[test]
    fn adding_a_controller_moves_exactly_its_floor_share() {
        let b = LoadBound::default();
        let shards = ShardId::range(1000);
        let old = ctls(&["a", "b", "c"]);
        let start = assign(&shards, &old, b).unwrap().owners;
        let new = ctls(&["a", "b", "c", "d"]);
        let next = reassign(Strategy::Minimal, &start, &shards, &new, b).unwrap();
        let moves = diff(&start, &next);
        assert_eq!(moves.len(), 250);
        assert!(moves.iter().all(|m| m.to.as_ref().unwrap().as_str() == "d"));
    }

    #[test]
    fn removing_a_controller_here_moves_only_its_shards() {
        let b = LoadBound::default();
        let shards = ShardId::range(777);
        let old = ctls(&["a", "b", "c", "d"]);
        let start = reassign(Strategy::Minimal, &Owners::new(), &shards, &old, b).unwrap();
        let gone = ControllerId::new("b").unwrap();
        let held = start.values().filter(|c| **c == gone).count();
        let next =
            reassign(Strategy::Minimal, &start, &shards, &ctls(&["a", "c", "d"]), b).unwrap();
        let moves = diff(&start, &next);
        assert_eq!(moves.len(), held);
        assert!(moves.iter().all(|m| m.from.as_ref() == Some(&gone)));
        assert!(loads(&next).values().all(|&n| n <= b.cap(777, 1, 3)));
    }

    #[test]
    fn reassigning_an_unchanged_set_moves_nothing() {
        let b = LoadBound::default();
        let shards = ShardId::range(500);
        let cs = ctls(&["a", "b", "c", "d", "e", "f", "g"]);
        let once = reassign(Strategy::Minimal, &Owners::new(), &shards, &cs, b).unwrap();
        let twice = reassign(Strategy::Minimal, &once, &shards, &cs, b).unwrap();
        assert_eq!(once, twice);
    }
}
