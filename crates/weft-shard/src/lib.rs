//! Weft's shard-map core: which controller owns which shard of per-service
//! work, how that changes, and who changed it.
//!
//! Controllers of the HA control plane split work such as health checking
//! and registry partitions into numbered shards ([`ShardId`]). This crate
//! decides the owners and nothing else. It is pure: no I/O, no clock (time
//! comes in as arguments), no randomness. The etcd-backed controller that
//! elects the leader, stores the map and fences its writes is not built yet;
//! it will drive these types.
//!
//! # Model
//! - **Assignment** ([`assign`]): rendezvous (highest-random-weight) hashing
//!   with a load bound. Every (shard, controller) pair has a key from a fixed
//!   hash of the shard number and the controller name (FNV-1a, then the
//!   SplitMix64 finaliser), scaled by the controller's weight. Pairs are taken
//!   best first; a pair assigns its shard unless the shard is taken or the
//!   controller holds its cap, `ceil(c × S × w / Σw)` (`c` = [`LoadBound`],
//!   1.25 by default; `ceil(c × S / N)` with equal weights). The map is a pure
//!   function of (shards, controllers, weights and status, bound): input order
//!   does not matter. Draining and unhealthy controllers own nothing.
//! - **Map** ([`ShardMap`]): owners plus a `version` and the fencing `epoch`
//!   of the leader that published it; [`ShardMap::accepts`] refuses older
//!   epochs and older versions. [`diff`] lists [`Move`]s; [`DiffHistory`]
//!   keeps the last K version diffs for watchers; JSON via serde.
//! - **Plans** ([`Plan`]): moves computed from one map version, with counts
//!   against the optimum and an id that digests their content.
//!   [`simulate`] makes one for `weft shards simulate --add X --remove Y`.
//! - **Rebalancer** ([`Rebalancer`]): takes health reports with their time,
//!   and on each tick proposes a plan when an owner has been unhealthy past
//!   the grace period, is draining or gone, or is above its cap. In automatic
//!   mode it applies the plan at once; otherwise
//!   [`approve`](Rebalancer::approve) applies it, refusing a plan made from
//!   an older map version. Every applied move yields an [`AuditRecord`].
//!
//! # How many shards move
//! Two strategies ([`Strategy`]) turn a changed controller set into owners.
//!
//! **Rendezvous** recomputes the map with [`assign`], so the
//! map is a pure function of the controller set. When nothing hits its cap, a
//! controller that arrives takes exactly the shards for which it beats the
//! current owner and nothing else moves; one that leaves hands each shard to
//! that shard's next choice. Caps add spill-overs: the only other shards that
//! can move are those not with their first choice before or after
//! ([`Assignment::spilled`]). The count of shards that pick a newcomer first
//! is binomial, so one addition to N moves `S/(N+1)` on average but scatters
//! by about `sqrt(S/(N+1))`: at S = 1024 and the default bound, the mean
//! moved/optimal ratio over 32 sets of names is 0.99 to 1.04 for N = 1..=16,
//! the worst single change 1.06 (N = 1) to 1.30 (N = 16). No assignment that
//! is a pure function of the controller set can do better every time: zero
//! extra moves on every change forces each shard to follow a fixed
//! preference order over controllers, and counts drawn that way are random.
//! A tighter bound makes it worse (at c = 1.0, means of 1.06 to 1.25 for N = 5
//! to 16, from cascades of spill-overs).
//!
//! **Minimal** (the default; [`reassign`] with [`Strategy::Minimal`]) starts from the
//! current map and moves the fewest shards that give every controller its
//! floor share within the bound: one controller added to N moves exactly
//! `floor(S/(N+1))` shards (ratio at most 1, for any S and N), one removed
//! moves its shards plus at most N-1 balancing moves. The price is that the
//! map depends on the history of changes, not only on the controller set;
//! the leader publishes it, so controllers never need to recompute it alike.
//!
//! `examples/moves.rs` prints these figures; `tests/properties.rs` asserts
//! the 1.05 × optimal bound for Minimal over N in 1..=20 and S in 64..=4096,
//! the spill-over bounds for Rendezvous, and the Rendezvous mean.
//!
//! # Driving it
//! 1. The leader builds the controller list ([`Controller`]: id, weight,
//!    [`Status`]) and calls [`assign`] for the first map, version 1 of its
//!    epoch. It picks a [`Strategy`] for later changes
//!    ([`RebalanceConfig::strategy`]).
//! 2. It feeds health results to [`Rebalancer::handle_health`] with `now`,
//!    calls [`Rebalancer::handle_tick`] on every check and at
//!    [`Rebalancer::poll_timeout`], publishes the maps of
//!    [`Outcome::Applied`] (fenced by its epoch), records each change as a
//!    [`VersionDiff`] in its [`DiffHistory`], and shows
//!    [`Outcome::Proposed`] plans to operators.
//! 3. Operators see the effect of a change with [`simulate`], and apply a plan
//!    with [`Rebalancer::hold`] then [`Rebalancer::approve`].
//!
//! # Layout
//! - `id`: [`ShardId`], [`ControllerId`].
//! - `hash`: the fixed hashes (FNV-1a, SplitMix64 finaliser, race keys).
//! - `controller`: [`Controller`], [`Status`], [`LoadBound`].
//! - `assign`: [`assign`], [`Assignment`], [`loads`].
//! - `map`: [`ShardMap`], [`Move`], [`diff`], [`apply_moves`].
//! - `history`: [`DiffHistory`], [`VersionDiff`].
//! - `minimal`: [`Strategy`] and [`reassign`], including the fewest-moves
//!   reassignment from a current map.
//! - `plan`: [`Plan`], [`PlanId`], [`MoveCounts`], [`simulate`].
//! - `rebalance`: [`Rebalancer`], [`RebalanceConfig`], [`Outcome`],
//!   [`AuditRecord`].
//! - `error`: [`ShardError`].
#![forbid(unsafe_code)]

mod assign;
mod controller;
mod error;
mod hash;
mod history;
mod id;
mod map;
mod minimal;
mod plan;
mod rebalance;

#[cfg(test)]
mod rebalance_tests;

pub use assign::{Assignment, MAX_PAIRS, assign, loads};
pub use controller::{Controller, LoadBound, Status};
pub use error::ShardError;
pub use history::{DiffHistory, VersionDiff};
pub use id::{ControllerId, ShardId};
pub use map::{Move, Owners, ShardMap, apply_moves, diff};
pub use minimal::{Strategy, reassign};
pub use plan::{MoveCounts, Plan, PlanId, PlanReason, simulate};
pub use rebalance::{AUTOMATIC_ACTOR, AuditRecord, Outcome, RebalanceConfig, Rebalancer};
