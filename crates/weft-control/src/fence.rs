//! Fencing: epochs, the fence a leader's writes carry, and the agents'
//! guard against stale publications.

use serde::{Deserialize, Serialize};

/// A leadership term: the create revision of the leader key in the store.
/// Every new leader's key is created anew, so epochs only grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(pub u64);

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}

/// What a leader's write carries: the store applies the write only if the
/// leader key still has this create revision (an etcd transaction
/// `compare: CREATE(key) == epoch`). A deposed leader's write fails there,
/// whatever it believes about its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    /// The leader key.
    pub key: String,
    /// Its create revision when this leader won it.
    pub epoch: Epoch,
}

/// Why a publication was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// Published by an older leader than one already seen.
    #[error("{got} is older than {seen}, already seen")]
    OlderEpoch {
        /// The publication's epoch.
        got: Epoch,
        /// The newest epoch seen.
        seen: Epoch,
    },
    /// Same leader, but not newer than what is in force.
    #[error("version {got} of {epoch} is not newer than version {seen}")]
    NotNewer {
        /// The epoch.
        epoch: Epoch,
        /// The publication's version.
        got: u64,
        /// The newest version seen in that epoch.
        seen: u64,
    },
}

/// An agent's memory of the newest (epoch, version) it accepted, per kind
/// of publication (policy, revocations, shard map): anything older is
/// refused, so a deposed leader that still reaches agents cannot roll them
/// back. Persist [`EpochGuard::newest`] with what it guards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochGuard {
    newest: Option<(Epoch, u64)>,
}

impl EpochGuard {
    /// A guard that has seen `newest` (from the state store), or nothing.
    pub fn new(newest: Option<(Epoch, u64)>) -> Self {
        Self { newest }
    }

    /// The newest (epoch, version) accepted.
    pub fn newest(&self) -> Option<(Epoch, u64)> {
        self.newest
    }

    /// Whether a publication of `epoch`, `version` would be accepted.
    pub fn check(&self, epoch: Epoch, version: u64) -> Result<(), Stale> {
        match self.newest {
            Some((seen, _)) if epoch < seen => Err(Stale::OlderEpoch { got: epoch, seen }),
            Some((seen, v)) if epoch == seen && version <= v => {
                Err(Stale::NotNewer { epoch, got: version, seen: v })
            }
            _ => Ok(()),
        }
    }

    /// Accepts the publication if [`check`](Self::check) allows it and
    /// remembers it.
    pub fn accept(&mut self, epoch: Epoch, version: u64) -> Result<(), Stale> {
        self.check(epoch, version)?;
        self.newest = Some((epoch, version));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_refuses_older_epochs_and_replays_and_takes_newer_ones() {
        let mut g = EpochGuard::default();
        g.accept(Epoch(5), 1).unwrap();
        g.accept(Epoch(5), 2).unwrap();
        assert_eq!(
            g.accept(Epoch(5), 2),
            Err(Stale::NotNewer { epoch: Epoch(5), got: 2, seen: 2 })
        );
        assert_eq!(g.accept(Epoch(4), 9), Err(Stale::OlderEpoch { got: Epoch(4), seen: Epoch(5) }));
        // A new leader may start its versions anywhere.
        g.accept(Epoch(9), 1).unwrap();
        assert_eq!(g.newest(), Some((Epoch(9), 1)));
        assert!(g.check(Epoch(5), 100).is_err());
    }
}
