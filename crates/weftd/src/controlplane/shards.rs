//! Shard maps on the control plane: the leader keeps the map of which
//! controller owns which shard in the store (`weft-shard` decides, this
//! module reads and writes), watches every controller's heartbeat, and
//! lets its rebalancer propose (manual mode) or apply (automatic mode) a
//! plan when an owner is unhealthy past the grace period, gone, or over
//! its load bound. Every applied move is audited; every map version keeps
//! its diff.
//!
//! | key | value |
//! |---|---|
//! | `/weft/controllers/ID` | [`Heartbeat`]: written by every controller every second |
//! | `/weft/shards/map` | the `ShardMap` (version, epoch, owners) |
//! | `/weft/shards/history/NNNNNNNNNN` | the `VersionDiff` that made version N |
//! | `/weft/shards/plans/ID` | a `Plan` waiting for `weft shards approve` |

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use weft_etcd::{Compare, Kv, Txn};
use weft_shard::{
    AuditRecord, Controller, ControllerId, LoadBound, Outcome, Plan, PlanId, RebalanceConfig,
    Rebalancer, ShardId, ShardMap, Status, Strategy, VersionDiff, assign, diff,
};

use super::leader::json;
use super::records::{Planned, PolicyRequest};

/// Controllers' heartbeats.
pub(crate) const CONTROLLERS: &str = "/weft/controllers/";
/// The map.
pub(crate) const MAP: &str = "/weft/shards/map";
/// Map version diffs.
pub(crate) const HISTORY: &str = "/weft/shards/history/";
/// Plans waiting for approval.
pub(crate) const PLANS: &str = "/weft/shards/plans/";

/// A heartbeat older than this (by the leader's clock: the key's revision
/// has not moved) marks its controller unhealthy.
const STALE_AFTER: Duration = Duration::from_secs(3);

/// How shards are kept (`[controller] shards`, `rebalance`, `weight`, `shard_grace`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardSettings {
    /// Shards in the map.
    pub(crate) shards: u32,
    /// Apply plans at once instead of waiting for approval.
    pub(crate) automatic: bool,
    /// This controller's capacity weight.
    pub(crate) weight: u32,
    /// How long a controller may be unhealthy before its shards move.
    pub(crate) grace: Duration,
}

impl From<&crate::config::ControllerConfig> for ShardSettings {
    fn from(c: &crate::config::ControllerConfig) -> Self {
        Self { shards: c.shards, automatic: c.automatic, weight: c.weight, grace: c.shard_grace }
    }
}

/// What every controller writes every second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    pub(crate) id: String,
    pub(crate) weight: u32,
    pub(crate) at_unix_ms: i64,
}

pub(crate) fn heartbeat_key(id: &str) -> String {
    format!("{CONTROLLERS}{id}")
}

fn history_key(version: u64) -> String {
    format!("{HISTORY}{version:010}")
}

fn plan_key(id: PlanId) -> String {
    format!("{PLANS}{id}")
}

/// The leader's shard keeping: health from heartbeats, the rebalancer.
#[derive(Debug)]
pub(crate) struct ShardKeeper {
    settings: ShardSettings,
    rebalancer: Rebalancer,
    /// Per controller: the heartbeat revision last seen and when it changed.
    seen: BTreeMap<String, (u64, Instant)>,
    /// The first look of this leadership: the first map waits a heartbeat
    /// period so that every live controller is in it.
    since: Option<Instant>,
}

impl ShardKeeper {
    pub(crate) fn new(settings: ShardSettings) -> Self {
        let config = RebalanceConfig {
            grace: settings.grace,
            automatic: settings.automatic,
            bound: LoadBound::default(),
            strategy: Strategy::Minimal,
        };
        Self { settings, rebalancer: Rebalancer::new(config), seen: BTreeMap::new(), since: None }
    }

    /// Forgets what one leadership learnt (a new term starts afresh).
    pub(crate) fn reset(&mut self) {
        self.seen.clear();
        self.since = None;
        self.rebalancer = Rebalancer::new(*self.rebalancer.config());
    }

    /// The controllers as the assignment sees them, from their heartbeats,
    /// with health fed to the rebalancer.
    fn controllers(&mut self, now: Instant, beats: &[Kv]) -> Vec<Controller> {
        let mut out = Vec::new();
        for kv in beats {
            let Ok(hb) = serde_json::from_str::<Heartbeat>(&kv.value) else { continue };
            let Ok(id) = ControllerId::new(&hb.id) else { continue };
            let entry = self.seen.entry(hb.id.clone()).or_insert((kv.mod_revision, now));
            if entry.0 != kv.mod_revision {
                *entry = (kv.mod_revision, now);
            }
            let healthy = now.saturating_duration_since(entry.1) < STALE_AFTER;
            self.rebalancer.handle_health(now, &id, healthy);
            out.push(Controller { id, weight: hb.weight.max(1), status: Status::Active });
        }
        out
    }

    /// One look at the map: the transaction the leader must run (fenced),
    /// if any. `map` is the stored map (with its revision), `beats` every
    /// controller's heartbeat.
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        unix_ms: i64,
        epoch: u64,
        map: Option<&Kv>,
        beats: &[Kv],
        pending: &[Kv],
    ) -> Option<Txn> {
        let controllers = self.controllers(now, beats);
        if controllers.is_empty() {
            return None;
        }
        let since = *self.since.get_or_insert(now);
        let Some(kv) = map else {
            if now.saturating_duration_since(since) < STALE_AFTER {
                return None;
            }
            // First map: assign every shard.
            let active: Vec<Controller> = self.rebalancer.effective(now, &controllers);
            let shards = ShardId::range(self.settings.shards);
            let a = assign(&shards, &active, LoadBound::default()).ok()?;
            let map = ShardMap { version: 1, epoch, owners: a.owners };
            let first = VersionDiff {
                from_version: 0,
                to_version: 1,
                moves: diff(&BTreeMap::new(), &map.owners),
            };
            return Some(Txn {
                compares: vec![Compare::Missing(MAP.to_owned())],
                puts: vec![(MAP.to_owned(), map.to_json()), (history_key(1), json(&first))],
                deletes: Vec::new(),
            });
        };
        let mut map = ShardMap::from_json(&kv.value).ok()?;
        if map.epoch != epoch {
            // A new leader takes the map over under its own epoch.
            map.epoch = epoch;
            return Some(Txn {
                compares: vec![Compare::ModRevision(MAP.to_owned(), kv.mod_revision)],
                puts: vec![(MAP.to_owned(), map.to_json())],
                deletes: Vec::new(),
            });
        }
        let unix = u64::try_from(unix_ms).unwrap_or(0);
        match self.rebalancer.handle_tick(now, unix, &map, &controllers).ok()? {
            Outcome::Balanced => None,
            Outcome::Proposed(plan) => {
                let key = plan_key(plan.id);
                if pending.iter().any(|p| p.key == key) {
                    return None;
                }
                // One proposal at a time: the others were made from older maps.
                let deletes = pending.iter().map(|p| p.key.clone()).collect();
                Some(Txn {
                    compares: vec![Compare::ModRevision(MAP.to_owned(), kv.mod_revision)],
                    puts: vec![(key, json(&plan))],
                    deletes,
                })
            }
            Outcome::Applied { plan, map: next, audit } => {
                Some(applied_txn(kv, &plan, &next, &audit, pending))
            }
        }
    }

    /// The writes of `weft shards approve PLAN` (any leader): the plan must
    /// still be pending and made from the current map version.
    pub(crate) fn approve(
        &mut self,
        req: &PolicyRequest,
        plan: PlanId,
        map: Option<&Kv>,
        stored: Option<&Kv>,
        pending: &[Kv],
    ) -> Planned {
        let refuse = |code: &str, why: String| {
            Planned::answer(serde_json::json!({ "refused": [code, why] }).to_string())
        };
        let (Some(map_kv), Some(plan_kv)) = (map, stored) else {
            return refuse("not_found", format!("no pending plan {plan}"));
        };
        let (Ok(current), Ok(p)) =
            (ShardMap::from_json(&map_kv.value), serde_json::from_str::<Plan>(&plan_kv.value))
        else {
            return refuse("internal", "the stored map or plan is unreadable".into());
        };
        let unix = u64::try_from(req.at_unix_ms).unwrap_or(0);
        self.rebalancer.hold(p.clone());
        match self.rebalancer.approve(plan, &current, &req.actor, unix) {
            Ok((next, audit)) => {
                let txn = applied_txn(map_kv, &p, &next, &audit, pending);
                let result = serde_json::json!({ "version": next.version, "moved": p.moves.len() });
                Planned {
                    compares: txn.compares,
                    puts: txn.puts,
                    result: result.to_string(),
                    published: None,
                    deletes: txn.deletes,
                }
            }
            Err(e) => refuse("stale_plan", e.to_string()),
        }
    }
}

fn plan_view(p: &Plan) -> weft_api::ShardPlan {
    weft_api::ShardPlan {
        id: p.id.to_string(),
        base_version: p.base_version,
        reason: serde_json::to_value(&p.reason).unwrap_or_default(),
        moves: p
            .moves
            .iter()
            .map(|m| weft_api::ShardMove {
                shard: m.shard.0,
                from: m.from.as_ref().map(ToString::to_string),
                to: m.to.as_ref().map(ToString::to_string),
            })
            .collect(),
        optimal: p.counts.optimal,
    }
}

/// `GET /api/v1/shards` from what the store holds.
pub(crate) fn status(
    map: Option<&Kv>,
    beats: &[Kv],
    plans: &[Kv],
    history: &[Kv],
) -> weft_api::ShardStatus {
    let map = map.and_then(|kv| ShardMap::from_json(&kv.value).ok());
    let loads = map.as_ref().map(|m| weft_shard::loads(&m.owners)).unwrap_or_default();
    let controllers = beats
        .iter()
        .filter_map(|kv| serde_json::from_str::<Heartbeat>(&kv.value).ok())
        .map(|hb| weft_api::ShardController {
            shards: ControllerId::new(&hb.id)
                .ok()
                .and_then(|id| loads.get(&id).copied())
                .unwrap_or(0),
            id: hb.id,
            weight: hb.weight,
            heartbeat_unix_ms: hb.at_unix_ms,
        })
        .collect();
    weft_api::ShardStatus {
        version: map.as_ref().map_or(0, |m| m.version),
        epoch: map.as_ref().map_or(0, |m| m.epoch),
        owners: map
            .as_ref()
            .map(|m| m.owners.iter().map(|(s, c)| (s.0, c.to_string())).collect())
            .unwrap_or_default(),
        controllers,
        plans: plans
            .iter()
            .filter_map(|kv| serde_json::from_str::<Plan>(&kv.value).ok())
            .map(|p| plan_view(&p))
            .collect(),
        history: history
            .iter()
            .filter_map(|kv| serde_json::from_str::<VersionDiff>(&kv.value).ok())
            .map(|d| weft_api::ShardVersion { version: d.to_version, moved: d.moves.len() })
            .collect(),
    }
}

/// `POST /api/v1/shards/simulate`: the moves adding and removing
/// controllers would make, computed, not applied.
pub(crate) fn simulate(
    map: Option<&Kv>,
    beats: &[Kv],
    add: &[String],
    remove: &[String],
) -> Result<weft_api::ShardPlan, String> {
    let map = map
        .and_then(|kv| ShardMap::from_json(&kv.value).ok())
        .ok_or("no shard map yet (the leader makes one within a second of its election)")?;
    let controllers: Vec<Controller> = beats
        .iter()
        .filter_map(|kv| serde_json::from_str::<Heartbeat>(&kv.value).ok())
        .filter_map(|hb| {
            let id = ControllerId::new(&hb.id).ok()?;
            Some(Controller { id, weight: hb.weight.max(1), status: Status::Active })
        })
        .collect();
    let ids = |names: &[String]| {
        names
            .iter()
            .map(|n| ControllerId::new(n).map_err(|e| format!("controller {n:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()
    };
    let add: Vec<Controller> = ids(add)?.into_iter().map(Controller::active).collect();
    let remove = ids(remove)?;
    weft_shard::simulate(&map, &controllers, &add, &remove, LoadBound::default(), Strategy::Minimal)
        .map(|p| plan_view(&p))
        .map_err(|e| e.to_string())
}

/// Writes a new map version with its diff and audit, and drops every pending plan.
fn applied_txn(
    map_kv: &Kv,
    plan: &Plan,
    next: &ShardMap,
    audit: &[AuditRecord],
    pending: &[Kv],
) -> Txn {
    let diff = VersionDiff {
        from_version: next.version - 1,
        to_version: next.version,
        moves: plan.moves.clone(),
    };
    let mut puts = vec![(MAP.to_owned(), next.to_json()), (history_key(next.version), json(&diff))];
    for (i, a) in audit.iter().enumerate() {
        let key = format!("/weft/audit/{:013}-shard-{}-{i}", a.at_unix_ms, plan.id);
        puts.push((key, json(a)));
    }
    Txn {
        compares: vec![Compare::ModRevision(MAP.to_owned(), map_kv.mod_revision)],
        puts,
        deletes: pending.iter().map(|p| p.key.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: String, rev: u64) -> Kv {
        Kv { key: key.to_owned(), value, create_revision: rev, mod_revision: rev }
    }

    fn beat(id: &str, rev: u64) -> Kv {
        let hb = Heartbeat { id: id.to_owned(), weight: 1, at_unix_ms: 0 };
        kv(&heartbeat_key(id), json(&hb), rev)
    }

    fn keeper(automatic: bool) -> ShardKeeper {
        ShardKeeper::new(ShardSettings {
            shards: 60,
            automatic,
            weight: 1,
            grace: Duration::from_secs(5),
        })
    }

    fn map_of(txn: &Txn, rev: u64) -> Kv {
        let (_, v) = txn.puts.iter().find(|(k, _)| k == MAP).expect("a map write");
        kv(MAP, v.clone(), rev)
    }

    #[test]
    fn the_first_map_spreads_every_shard_and_a_dead_controller_loses_its_shards_after_the_grace() {
        let t0 = weft_types::virtual_origin();
        let mut k = keeper(true);
        let beats = [beat("a", 1), beat("b", 2), beat("c", 3)];
        assert!(k.tick(t0, 0, 7, None, &beats, &[]).is_none(), "a heartbeat period first");
        let first = k.tick(t0 + STALE_AFTER, 0, 7, None, &beats, &[]).expect("a first map");
        assert_eq!(first.compares, vec![Compare::Missing(MAP.to_owned())]);
        let map = map_of(&first, 10);
        let owners = ShardMap::from_json(&map.value).unwrap();
        assert_eq!((owners.version, owners.epoch, owners.owners.len()), (1, 7, 60));
        assert!(k.tick(t0, 0, 7, Some(&map), &beats, &[]).is_none(), "balanced");
        // c stops beating; a and b go on.
        let mut t = t0;
        let mut rev = 20;
        let mut applied = None;
        for _ in 0..20 {
            t += Duration::from_secs(1);
            rev += 2;
            let beats = [beat("a", rev), beat("b", rev + 1), beat("c", 3)];
            if let Some(txn) = k.tick(t, 0, 7, Some(&map), &beats, &[]) {
                applied = Some((t, txn));
                break;
            }
        }
        let (at, txn) = applied.expect("c's shards move");
        assert!(at >= t0 + STALE_AFTER + Duration::from_secs(5), "not before the grace: {at:?}");
        let next = ShardMap::from_json(&map_of(&txn, 30).value).unwrap();
        assert_eq!(next.version, 2);
        assert!(next.owners.values().all(|o| o.as_str() != "c"), "c owns nothing");
        assert!(txn.puts.iter().any(|(k, _)| k.starts_with("/weft/audit/")), "moves audited");
        assert!(txn.puts.iter().any(|(k, _)| k == &history_key(2)), "the diff kept");
    }

    #[test]
    fn in_manual_mode_a_plan_waits_and_is_applied_only_from_the_version_it_was_made_from() {
        let t0 = weft_types::virtual_origin();
        let mut k = keeper(false);
        let beats = [beat("a", 1), beat("b", 2)];
        assert!(k.tick(t0, 0, 7, None, &beats, &[]).is_none());
        let map = map_of(&k.tick(t0 + STALE_AFTER, 0, 7, None, &beats, &[]).unwrap(), 10);
        // A third controller arrives: a and b are above the cap of three.
        let beats = [beat("a", 1), beat("b", 2), beat("c", 3)];
        let proposal = k.tick(t0, 0, 7, Some(&map), &beats, &[]).expect("a proposal");
        let (key, plan) = proposal.puts.first().cloned().unwrap();
        assert!(key.starts_with(PLANS), "{key}");
        let plan: Plan = serde_json::from_str(&plan).unwrap();
        assert!(
            !plan.moves.is_empty()
                && plan.moves.iter().all(|m| m.to.as_ref().unwrap().as_str() == "c")
        );
        let stored = kv(&key, json(&plan), 11);
        assert!(
            k.tick(t0, 0, 7, Some(&map), &beats, std::slice::from_ref(&stored)).is_none(),
            "proposed once"
        );
        let req = PolicyRequest {
            id: "r".into(),
            ask: super::super::records::Ask::Promote,
            actor: "ops".into(),
            at_unix_ms: 5,
        };
        let ok = k.approve(&req, plan.id, Some(&map), Some(&stored), std::slice::from_ref(&stored));
        assert!(ok.puts.iter().any(|(k, _)| k == MAP), "{ok:?}");
        assert_eq!(ok.deletes, vec![key.clone()]);
        // Approving against a newer map is refused.
        let mut newer = ShardMap::from_json(&map.value).unwrap();
        newer.version += 1;
        let newer = kv(MAP, newer.to_json(), 12);
        let stale = k.approve(&req, plan.id, Some(&newer), Some(&stored), &[]);
        assert!(stale.puts.is_empty() && stale.result.contains("stale_plan"), "{stale:?}");
    }
}
