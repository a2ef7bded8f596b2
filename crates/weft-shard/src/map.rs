//! The versioned shard map, its diffs and its fencing check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ShardError;
use crate::id::{ControllerId, ShardId};

/// Who owns which shard.
pub type Owners = BTreeMap<ShardId, ControllerId>;

/// One published shard map.
///
/// `version` counts the maps one leader line has published; `epoch` is the
/// fencing epoch of the leader that published it. Agents and controllers
/// keep the newest map they have seen and refuse older ones with
/// [`ShardMap::accepts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMap {
    /// Increases by one with every published change.
    pub version: u64,
    /// The publishing leader's fencing epoch.
    pub epoch: u64,
    /// The owner of every shard.
    pub owners: Owners,
}

/// One shard changing owner. `from` is `None` for a shard new to the map,
/// `to` is `None` for a shard leaving it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Move {
    /// The shard.
    pub shard: ShardId,
    /// Its owner before.
    pub from: Option<ControllerId>,
    /// Its owner after.
    pub to: Option<ControllerId>,
}

impl ShardMap {
    /// An empty map at version 0 of `epoch`.
    pub fn empty(epoch: u64) -> Self {
        Self { version: 0, epoch, owners: Owners::new() }
    }

    /// Whether a holder of `self` should take `other`: `other` has a higher
    /// epoch, or the same epoch and a higher version. Everything else (an
    /// older leader, a replay, the same map again) is refused.
    pub fn accepts(&self, other: &ShardMap) -> Result<(), ShardError> {
        if (other.epoch, other.version) > (self.epoch, self.version) {
            Ok(())
        } else {
            Err(ShardError::Stale {
                epoch: other.epoch,
                version: other.version,
                seen_epoch: self.epoch,
                seen_version: self.version,
            })
        }
    }

    /// The shards `controller` owns.
    pub fn owned_by<'a>(
        &'a self,
        controller: &'a ControllerId,
    ) -> impl Iterator<Item = ShardId> + 'a {
        self.owners.iter().filter(move |(_, c)| *c == controller).map(|(s, _)| *s)
    }

    /// The map as JSON, for the API and the store.
    pub fn to_json(&self) -> String {
        // Serialising plain maps of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A map from JSON written by [`ShardMap::to_json`].
    pub fn from_json(text: &str) -> Result<Self, ShardError> {
        serde_json::from_str(text).map_err(|e| ShardError::Json(e.to_string()))
    }
}

/// The moves that turn `old` into `new`, in shard order.
pub fn diff(old: &Owners, new: &Owners) -> Vec<Move> {
    let mut out = Vec::new();
    for (shard, from) in old {
        match new.get(shard) {
            Some(to) if to == from => {}
            to => out.push(Move { shard: *shard, from: Some(from.clone()), to: to.cloned() }),
        }
    }
    for (shard, to) in new {
        if !old.contains_key(shard) {
            out.push(Move { shard: *shard, from: None, to: Some(to.clone()) });
        }
    }
    out.sort();
    out
}

/// Applies `moves` to `owners` (the inverse of [`diff`]).
pub fn apply_moves(owners: &mut Owners, moves: &[Move]) {
    for m in moves {
        match &m.to {
            Some(to) => {
                owners.insert(m.shard, to.clone());
            }
            None => {
                owners.remove(&m.shard);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: &str) -> ControllerId {
        ControllerId::new(n).unwrap()
    }

    fn owners(pairs: &[(u32, &str)]) -> Owners {
        pairs.iter().map(|(s, c)| (ShardId(*s), id(c))).collect()
    }

    #[test]
    fn diff_lists_changed_added_and_removed_shards() {
        let old = owners(&[(1, "a"), (2, "a"), (3, "b")]);
        let new = owners(&[(1, "a"), (2, "b"), (4, "c")]);
        let d = diff(&old, &new);
        assert_eq!(
            d,
            vec![
                Move { shard: ShardId(2), from: Some(id("a")), to: Some(id("b")) },
                Move { shard: ShardId(3), from: Some(id("b")), to: None },
                Move { shard: ShardId(4), from: None, to: Some(id("c")) },
            ]
        );
        let mut back = old.clone();
        apply_moves(&mut back, &d);
        assert_eq!(back, new);
    }

    #[test]
    fn older_epochs_and_versions_are_refused() {
        let held = ShardMap { version: 5, epoch: 3, owners: Owners::new() };
        let at = |epoch, version| ShardMap { version, epoch, owners: Owners::new() };
        assert!(held.accepts(&at(3, 6)).is_ok());
        assert!(held.accepts(&at(4, 1)).is_ok());
        assert!(held.accepts(&at(3, 5)).is_err(), "the same map again");
        assert!(held.accepts(&at(3, 4)).is_err());
        assert!(held.accepts(&at(2, 99)).is_err(), "a deposed leader's newer version");
    }

    #[test]
    fn maps_round_trip_through_json() {
        let m = ShardMap { version: 7, epoch: 2, owners: owners(&[(0, "a"), (9, "b")]) };
        let text = m.to_json();
        assert_eq!(text, r#"{"version":7,"epoch":2,"owners":{"0":"a","9":"b"}}"#);
        assert_eq!(ShardMap::from_json(&text).unwrap(), m);
        assert!(matches!(
            ShardMap::from_json(r#"{"version":1,"epoch":1,"owners":{"0":"BAD"}}"#),
            Err(ShardError::Json(_))
        ));
    }
}
