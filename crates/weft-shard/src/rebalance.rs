//! The health-aware rebalancer: proposes plans when owners fail or overflow,
//! applies approved plans, and audits every move.
//!
//! Sans-IO: health reports and ticks come in with the time (`now`) they
//! happened; outputs are plain values ([`Outcome`], [`AuditRecord`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::assign::loads;
use crate::controller::{Controller, LoadBound, Status};
use crate::error::ShardError;
use crate::id::{ControllerId, ShardId};
use crate::map::{ShardMap, apply_moves, diff};
use crate::minimal::{Strategy, reassign};
use crate::plan::{Plan, PlanId, PlanReason};

/// The actor named in audit records of plans applied in automatic mode.
pub const AUTOMATIC_ACTOR: &str = "rebalancer";

/// The rebalancer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalanceConfig {
    /// How long a controller may be unhealthy before its shards move.
    pub grace: Duration,
    /// Apply plans as soon as they are made (`true`), or wait for an
    /// operator's [`Rebalancer::approve`] (`false`, the default).
    pub automatic: bool,
    /// The load bound of the assignment.
    pub bound: LoadBound,
    /// How plans pick new owners.
    pub strategy: Strategy,
}

impl Default for RebalanceConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            automatic: false,
            bound: LoadBound::default(),
            strategy: Strategy::Rendezvous,
        }
    }
}

/// One applied move, for the audit log: who moved which shard where, when,
/// under which plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The plan the move belongs to.
    pub plan: PlanId,
    /// The shard.
    pub shard: ShardId,
    /// Its owner before.
    pub from: Option<ControllerId>,
    /// Its owner after.
    pub to: Option<ControllerId>,
    /// Who approved it: an operator's name, or [`AUTOMATIC_ACTOR`].
    pub actor: String,
    /// Wall-clock time of the approval, in Unix milliseconds (passed in).
    pub at_unix_ms: u64,
    /// The map version the move created.
    pub version: u64,
    /// The epoch of the leader that applied it.
    pub epoch: u64,
}

/// What [`Rebalancer::handle_tick`] decided.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Outcome {
    /// Every owner is eligible and within its cap.
    Balanced,
    /// Manual mode: a plan waits for [`Rebalancer::approve`].
    Proposed(Plan),
    /// Automatic mode: a plan was applied. Publish `map` (fenced with its
    /// epoch) and append `audit` to the log.
    Applied {
        /// The plan applied.
        plan: Plan,
        /// The new map, one version on.
        map: ShardMap,
        /// One record per move.
        audit: Vec<AuditRecord>,
    },
}

/// Tracks controller health and turns failures and overloads into plans.
#[derive(Debug, Clone)]
pub struct Rebalancer {
    config: RebalanceConfig,
    unhealthy_since: BTreeMap<ControllerId, Instant>,
    pending: BTreeMap<PlanId, Plan>,
}

impl Rebalancer {
    /// A rebalancer that has seen no health report yet (everyone healthy).
    pub fn new(config: RebalanceConfig) -> Self {
        Self { config, unhealthy_since: BTreeMap::new(), pending: BTreeMap::new() }
    }

    /// The settings.
    pub fn config(&self) -> &RebalanceConfig {
        &self.config
    }

    /// Records a health-check result for `controller` at `now`. Repeated
    /// failures keep the time of the first one.
    pub fn handle_health(&mut self, now: Instant, controller: &ControllerId, healthy: bool) {
        if healthy {
            self.unhealthy_since.remove(controller);
        } else {
            self.unhealthy_since.entry(controller.clone()).or_insert(now);
        }
    }

    /// When the next unhealthy controller's grace period ends, if any is
    /// still within it: call [`Rebalancer::handle_tick`] then.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        self.unhealthy_since
            .values()
            .map(|since| *since + self.config.grace)
            .filter(|t| *t > now)
            .min()
    }

    /// `controllers` as the assignment should see them at `now`: those
    /// unhealthy for at least the grace period become [`Status::Unhealthy`].
    pub fn effective(&self, now: Instant, controllers: &[Controller]) -> Vec<Controller> {
        let mut out = controllers.to_vec();
        for c in &mut out {
            if let Some(since) = self.unhealthy_since.get(&c.id)
                && now.saturating_duration_since(*since) >= self.config.grace
            {
                c.status = Status::Unhealthy;
            }
        }
        out
    }

    /// Looks at `map` with the health known at `now`. When an owner may own
    /// nothing (unhealthy past the grace period, draining, not listed) or
    /// owns more than its cap, makes a plan to [`reassign`] the shards:
    /// applied at once in automatic mode (audited as [`AUTOMATIC_ACTOR`] at
    /// `at_unix_ms`), kept for approval otherwise.
    pub fn handle_tick(
        &mut self,
        now: Instant,
        at_unix_ms: u64,
        map: &ShardMap,
        controllers: &[Controller],
    ) -> Result<Outcome, ShardError> {
        let effective = self.effective(now, controllers);
        let by_id: BTreeMap<&ControllerId, &Controller> =
            effective.iter().map(|c| (&c.id, c)).collect();
        let total_weight: u64 =
            effective.iter().filter(|c| c.is_eligible()).map(|c| u64::from(c.weight)).sum();
        let mut ineligible = Vec::new();
        let mut overloaded = Vec::new();
        let (mut orphaned, mut excess) = (0, 0);
        for (owner, owned) in loads(&map.owners) {
            match by_id.get(&owner) {
                Some(c) if c.is_eligible() => {
                    let cap = self.config.bound.cap(map.owners.len(), c.weight, total_weight);
                    if owned > cap {
                        overloaded.push(owner);
                        excess += owned - cap;
                    }
                }
                _ => {
                    ineligible.push(owner);
                    orphaned += owned;
                }
            }
        }
        if ineligible.is_empty() && overloaded.is_empty() {
            return Ok(Outcome::Balanced);
        }
        let shards: Vec<ShardId> = map.owners.keys().copied().collect();
        let target =
            reassign(self.config.strategy, &map.owners, &shards, &effective, self.config.bound)?;
        let moves = diff(&map.owners, &target);
        // The shards that must move at least: all of the ineligible owners'
        // and each overloaded owner's excess over its cap.
        let optimal = (orphaned + excess) as f64;
        let plan = Plan::new(map, PlanReason::Rebalance { ineligible, overloaded }, moves, optimal);
        if self.config.automatic {
            let (map, audit) = Self::apply(&plan, map, AUTOMATIC_ACTOR, at_unix_ms)?;
            return Ok(Outcome::Applied { plan, map, audit });
        }
        self.pending.insert(plan.id, plan.clone());
        Ok(Outcome::Proposed(plan))
    }

    /// Keeps `plan` (for example one from [`simulate`](crate::simulate)) for
    /// a later [`Rebalancer::approve`].
    pub fn hold(&mut self, plan: Plan) {
        self.pending.insert(plan.id, plan);
    }

    /// The plans waiting for approval.
    pub fn pending(&self) -> impl Iterator<Item = &Plan> {
        self.pending.values()
    }

    /// Applies the pending plan `id` to `map` on behalf of `actor`.
    ///
    /// Refused with [`ShardError::StalePlan`] (and forgotten) when the map is
    /// no longer at the version the plan was made from; with
    /// [`ShardError::UnknownPlan`] when no such plan is pending.
    pub fn approve(
        &mut self,
        id: PlanId,
        map: &ShardMap,
        actor: &str,
        at_unix_ms: u64,
    ) -> Result<(ShardMap, Vec<AuditRecord>), ShardError> {
        let plan = self.pending.remove(&id).ok_or(ShardError::UnknownPlan(id))?;
        let out = Self::apply(&plan, map, actor, at_unix_ms)?;
        // Other pending plans were made from the old version: all stale now.
        self.pending.clear();
        Ok(out)
    }

    fn apply(
        plan: &Plan,
        map: &ShardMap,
        actor: &str,
        at_unix_ms: u64,
    ) -> Result<(ShardMap, Vec<AuditRecord>), ShardError> {
        if plan.base_version != map.version || plan.epoch != map.epoch {
            return Err(ShardError::StalePlan {
                plan: plan.id,
                planned: plan.base_version,
                current: map.version,
            });
        }
        let mut next = map.clone();
        next.version += 1;
        apply_moves(&mut next.owners, &plan.moves);
        let audit = plan
            .moves
            .iter()
            .map(|m| AuditRecord {
                plan: plan.id,
                shard: m.shard,
                from: m.from.clone(),
                to: m.to.clone(),
                actor: actor.to_owned(),
                at_unix_ms,
                version: next.version,
                epoch: next.epoch,
            })
            .collect();
        Ok((next, audit))
    }
}
