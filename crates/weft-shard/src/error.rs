//! Why a shard-map operation was refused.

use crate::id::{ControllerId, ShardId};
use crate::plan::PlanId;

/// A refused shard-map operation. None of them changes any state: the map,
/// the history and the rebalancer are as they were before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    // --- Bad input from the caller (configuration or an operator command). ---
    /// The same controller id was given twice.
    #[error("controller {0} is listed twice")]
    DuplicateController(ControllerId),
    /// The same shard id was given twice (or two shard names hash alike).
    #[error("{0} is listed twice")]
    DuplicateShard(ShardId),
    /// A controller has weight 0; use [`Status::Draining`](crate::Status) to
    /// give a controller nothing.
    #[error("controller {0} has weight 0")]
    ZeroWeight(ControllerId),
    /// The load factor is below 1000 ‰ (no assignment could respect it) or
    /// above [`LoadBound::MAX_PERMILLE`](crate::LoadBound::MAX_PERMILLE).
    #[error("load factor {0} ‰ is outside 1000..=100000")]
    BadLoadFactor(u32),
    /// There are shards but no controller may own any (none listed, or all
    /// unhealthy or draining).
    #[error("{shards} shards but no healthy controller to own them")]
    NoEligibleController {
        /// How many shards needed an owner.
        shards: usize,
    },
    /// More (shard, controller) pairs than [`MAX_PAIRS`](crate::MAX_PAIRS).
    #[error("{pairs} shard-controller pairs exceed the limit of {max}")]
    TooLarge {
        /// Shards × eligible controllers.
        pairs: usize,
        /// The limit.
        max: usize,
    },
    /// A controller to remove is not in the map's controller set.
    #[error("controller {0} is not a controller of this map")]
    UnknownController(ControllerId),
    /// A controller to add is already there.
    #[error("controller {0} is already a controller of this map")]
    AlreadyPresent(ControllerId),

    // --- Plans (an operator acting on an old view). ---
    /// No pending plan has this id (never proposed, already applied, or
    /// replaced by a newer proposal).
    #[error("no pending plan {0}")]
    UnknownPlan(PlanId),
    /// The map changed since the plan was made: its moves were computed from
    /// another map. Make a new plan.
    #[error("plan {plan} was made for map version {planned}, the map is now at {current}")]
    StalePlan {
        /// The refused plan.
        plan: PlanId,
        /// The map version the plan was computed from.
        planned: u64,
        /// The map version now.
        current: u64,
    },

    // --- Fencing (a stale leader, or a replayed publication). ---
    /// A map from an older leader epoch, or an older version of this epoch.
    #[error(
        "map epoch {epoch} version {version} is older than epoch {seen_epoch} version {seen_version}"
    )]
    Stale {
        /// Epoch of the refused map.
        epoch: u64,
        /// Version of the refused map.
        version: u64,
        /// Epoch of the map already held.
        seen_epoch: u64,
        /// Version of the map already held.
        seen_version: u64,
    },

    // --- Encoding. ---
    /// A serialised map did not parse, or parsed into an invalid map.
    #[error("shard map JSON: {0}")]
    Json(String),
}
