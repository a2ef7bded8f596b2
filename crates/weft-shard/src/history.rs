//! A bounded history of map changes, for watchers that fell behind.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::map::Move;

/// The moves from one map version to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionDiff {
    /// The version the moves start from.
    pub from_version: u64,
    /// The version they lead to.
    pub to_version: u64,
    /// The moves, in shard order.
    pub moves: Vec<Move>,
}

/// The last `capacity` version diffs. A watcher at version `v` catches up
/// with [`DiffHistory::since`] or, once `v` has fallen out, by reading the
/// whole map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffHistory {
    capacity: usize,
    diffs: VecDeque<VersionDiff>,
}

impl DiffHistory {
    /// An empty history keeping at most `capacity` diffs (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), diffs: VecDeque::new() }
    }

    /// Records a diff, forgetting the oldest one when full.
    pub fn push(&mut self, diff: VersionDiff) {
        if self.diffs.len() == self.capacity {
            self.diffs.pop_front();
        }
        self.diffs.push_back(diff);
    }

    /// The diffs held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &VersionDiff> {
        self.diffs.iter()
    }

    /// The diffs that take a map at `version` to the newest one, or `None`
    /// when `version` is older than the history reaches (read the full map).
    /// Empty when `version` is already the newest.
    pub fn since(&self, version: u64) -> Option<Vec<&VersionDiff>> {
        let newest = self.diffs.back().map_or(version, |d| d.to_version);
        if version >= newest {
            return Some(Vec::new());
        }
        let start = self.diffs.iter().position(|d| d.from_version == version)?;
        Some(self.diffs.iter().skip(start).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(from: u64) -> VersionDiff {
        VersionDiff { from_version: from, to_version: from + 1, moves: Vec::new() }
    }

    #[test]
    fn the_history_keeps_only_the_last_diffs() {
        let mut h = DiffHistory::new(3);
        for v in 0..5 {
            h.push(d(v));
        }
        let kept: Vec<u64> = h.iter().map(|d| d.from_version).collect();
        assert_eq!(kept, vec![2, 3, 4]);
    }

    #[test]
    fn a_watcher_catches_up_from_a_version_still_held() {
        let mut h = DiffHistory::new(3);
        for v in 0..5 {
            h.push(d(v));
        }
        assert_eq!(h.since(3).unwrap().len(), 2);
        assert_eq!(h.since(5).unwrap().len(), 0);
        assert!(h.since(1).is_none(), "version 1 fell out of the history");
    }
}
