//! Weft's control plane, the decisions: who leads, with which epoch, and
//! whether a publication may be trusted. Sans-IO: no sockets, no clock;
//! time comes in as `now: Instant`, results of store calls come back through
//! `handle_*`, and the driver (`weft-etcd` against a real etcd) executes
//! what `poll_request` asks for.
//!
//! - [`election`]: one controller's [`Election`]: a lease, a campaign for
//!   the leader key, keep-alives, stepping down *before* the lease could
//!   have expired at the store, and following whoever leads.
//! - [`fence`]: the [`Epoch`] (the leader key's create revision), the
//!   [`Fence`] every leader write carries (the store compares the leader
//!   key's create revision with it in the same transaction), and the
//!   agents' [`EpochGuard`] (no publication older than the newest seen).
//! - [`rollout`]: mesh-wide publication: the leader's [`Publisher`]
//!   (who still needs the current publication, re-sends) and the agents'
//!   [`Follower`] (install, already running, stale, not for us).
//! - `sim` (feature `sim`): `ModelStore`, a deterministic model of etcd's
//!   leases, leader key and fenced writes, for tests and the fabric
//!   simulator.
//!
//! # The timing rule
//! A leader renews its lease every `renew_every`; a failed renewal is
//! retried every `retry_every`; `renew_every + 2 × retry_every ≤ ttl`, so
//! two lost renewals in a row still leave the lease alive. The store
//! starts a renewed lease's TTL when the renewal *arrives*, which is after
//! it was sent, so the leader counts its validity from the *send* time:
//! it stops writing at `sent + ttl − drift_margin`, before the lease can
//! have expired anywhere else. Every store call has a deadline
//! (`call_timeout ≤ retry_every`), so a dead connection cannot hold up a
//! step-down.

pub mod election;
pub mod fence;
pub mod rollout;
#[cfg(any(test, feature = "sim"))]
pub mod sim;

pub use election::{
    CallError, Election, ElectionConfig, ElectionError, ElectionEvent, LeaseId, Request, RequestId,
    Response, Role,
};
pub use fence::{Epoch, EpochGuard, Fence, Stale};
pub use rollout::{AckState, Follower, FollowerCounters, Publisher, Verdict};
