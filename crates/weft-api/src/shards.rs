//! Shard maps: which controller owns which shard of the control plane's
//! per-service work, the plans that move shards, and their simulation.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One controller as the shard map sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShardController {
    /// Its id.
    pub id: String,
    /// Its capacity weight.
    pub weight: u32,
    /// When it last wrote its heartbeat, Unix milliseconds (its clock).
    pub heartbeat_unix_ms: i64,
    /// Shards it owns.
    pub shards: usize,
}

/// One shard changing owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShardMove {
    /// The shard.
    pub shard: u32,
    /// Its owner before (none: new to the map).
    pub from: Option<String>,
    /// Its owner after (none: leaving the map).
    pub to: Option<String>,
}

/// A plan: moves computed from one map version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShardPlan {
    /// Its id (`weft shards approve ID`).
    pub id: String,
    /// The map version it was made from (refused once the map moved on).
    pub base_version: u64,
    /// Why it exists (JSON: `rebalance` with the ineligible and overloaded
    /// owners, or `simulated` with the controllers added and removed).
    pub reason: serde_json::Value,
    /// The moves.
    pub moves: Vec<ShardMove>,
    /// The fewest moves any balanced assignment needs for this change.
    pub optimal: f64,
}

/// One map version's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShardVersion {
    /// The version.
    pub version: u64,
    /// Shards that moved to make it.
    pub moved: usize,
}

/// Answer of `GET /api/v1/shards` (controllers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShardStatus {
    /// The map version (0: no map yet).
    pub version: u64,
    /// The epoch of the leader that published it.
    pub epoch: u64,
    /// Every shard's owner, by shard number.
    pub owners: std::collections::BTreeMap<u32, String>,
    /// The controllers with a heartbeat in the store.
    pub controllers: Vec<ShardController>,
    /// Plans waiting for approval.
    pub plans: Vec<ShardPlan>,
    /// The last versions' changes, newest last.
    pub history: Vec<ShardVersion>,
}

/// Body of `POST /api/v1/shards/simulate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardSimulate {
    /// Controllers to add (weight 1).
    #[serde(default)]
    pub add: Vec<String>,
    /// Controllers to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}
