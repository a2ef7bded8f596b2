//! Global traffic management: global services, traffic shifts, and why a
//! DNS answer is what it is.
//!
//! Services and shifts are changed on a controller (`PUT
//! /gtm/services/{name}`, `POST /gtm/shifts`, ...), committed by the leader
//! and published to every site; `GET /gtm` on any site shows what it has,
//! with health and effective weights as that site sees them; `GET
//! /gtm/explain` on a DNS site shows one decision.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn default_weight() -> u32 {
    100
}

fn default_version() -> String {
    "v1".to_owned()
}

fn default_interval() -> u64 {
    2000
}

fn default_timeout() -> u64 {
    1000
}

fn default_run() -> u32 {
    2
}

/// One endpoint of a global service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GtmEndpoint {
    /// Unique within the service (a DNS label).
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    pub id: String,
    /// The site it runs at.
    #[schema(min_length = 1, max_length = 63)]
    pub site: String,
    /// The region it serves (a DNS label).
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    pub region: String,
    /// The address answers name.
    pub address: String,
    /// The port health checks use.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// Share among equally near endpoints, 0 to 10000 (default 100).
    #[serde(default = "default_weight")]
    #[schema(maximum = 10000)]
    pub weight: u32,
    /// Answers per second it should take at most (0: unlimited).
    #[serde(default)]
    pub capacity_qps: u32,
    /// The version it runs (default `v1`).
    #[serde(default = "default_version")]
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    pub version: String,
}

/// A global service's health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GtmCheck {
    /// `tcp` or `http`.
    pub kind: crate::HealthCheckKind,
    /// The path an `http` check gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub path: Option<String>,
    /// How often, ms (200 to 3 600 000; default 2000).
    #[serde(default = "default_interval")]
    #[schema(minimum = 200, maximum = 3_600_000)]
    pub interval_ms: u64,
    /// How long one check may take, ms (default 1000).
    #[serde(default = "default_timeout")]
    #[schema(minimum = 100, maximum = 60_000)]
    pub timeout_ms: u64,
    /// Failures in a row that make an endpoint unhealthy (default 2).
    #[serde(default = "default_run")]
    #[schema(minimum = 1, maximum = 10)]
    pub fall: u32,
    /// Successes in a row that make it healthy again (default 2).
    #[serde(default = "default_run")]
    #[schema(minimum = 1, maximum = 10)]
    pub rise: u32,
}

/// Body of `PUT /api/v1/gtm/services/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GtmServiceSpec {
    /// Its endpoints (1 to 64).
    #[schema(min_items = 1, max_items = 64)]
    pub endpoints: Vec<GtmEndpoint>,
    /// Answer TTL, seconds (default: each DNS site's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl: Option<u32>,
    /// The version taking traffic outside shifts (default: every version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<String>,
    /// Its health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<GtmCheck>,
    /// An anycast prefix announced from the sites serving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anycast: Option<String>,
}

/// One endpoint as a site sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GtmEndpointState {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: GtmEndpoint,
    /// Its weight after drains.
    pub effective_weight: u32,
    /// The drain holding it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_by: Option<String>,
    /// Healthy as this site sees it (none: this site does not judge it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Why not healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// One anycast decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GtmAnnouncement {
    /// The site.
    pub site: String,
    /// The prefix.
    pub prefix: String,
    /// Announce (true) or withdraw.
    pub announce: bool,
    /// Why.
    pub why: String,
}

/// A global service as a site sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GtmService {
    /// Its name (`NAME.ZONE` on DNS sites).
    pub name: String,
    /// Answer TTL, seconds, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// The version serving outside shifts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<String>,
    /// Its health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<GtmCheck>,
    /// Its anycast prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anycast: Option<String>,
    /// A running split: `OLD → NEW at N‰ (shift ID)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Its endpoints.
    pub endpoints: Vec<GtmEndpointState>,
    /// Where its anycast prefix is announced (empty without one).
    pub announcements: Vec<GtmAnnouncement>,
}

/// One line of a shift's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GtmShiftLine {
    /// When, Unix ms.
    pub at_unix_ms: i64,
    /// What happened.
    pub line: String,
}

/// A traffic shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GtmShift {
    /// `s1`, `s2`, ...
    pub id: String,
    /// `drain`, `blue_green` or `canary`.
    pub kind: String,
    /// The service (none: a drain of every service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// What it does, in words.
    pub plan: String,
    /// `running`, `paused`, `done`, `rolled_back` or `aborted`.
    pub state: String,
    /// The new version's share (canary, blue/green) or the drained
    /// endpoints' remaining weight (drain), percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Why it rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who started it.
    pub actor: String,
    /// When, Unix ms.
    pub created_unix_ms: i64,
    /// What happened, oldest first.
    pub history: Vec<GtmShiftLine>,
}

/// `GET /api/v1/gtm`: what this site has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GtmStatus {
    /// Whether this site answers DNS.
    pub dns: bool,
    /// The zone it answers, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The document's sequence as published (0: none received).
    pub seq: u64,
    /// Global services.
    pub services: Vec<GtmService>,
    /// Shifts (with their history on a controller, active ones elsewhere).
    pub shifts: Vec<GtmShift>,
}

/// Body of `POST /api/v1/gtm/shifts`: a drain (`site` or `region`), a
/// blue/green switch (`from`, `to`, `hold_ms`) or a canary (`stable`,
/// `canary`, `steps`, `step_ms` and the SLO).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GtmShiftStart {
    /// `drain`, `blue_green` or `canary`.
    #[schema(pattern = "^(drain|blue_green|canary)$")]
    pub kind: String,
    /// The service (required but for a drain, which otherwise acts on every service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Drain: the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Drain: the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Drain: percent of the weight removed per step (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    pub step_pct: Option<u8>,
    /// Drain, canary: step length, ms (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 86_400_000)]
    pub step_ms: Option<u64>,
    /// Blue/green: the old version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Blue/green: the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Blue/green: the hold before committing, ms (default 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 604_800_000)]
    pub hold_ms: Option<u64>,
    /// Canary: the version serving now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<String>,
    /// Canary: the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// Canary: its share at each step, percent (default 5, 25, 50, 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub steps: Option<Vec<u8>>,
    /// Canary SLO: most failed checks, percent (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub max_error_pct: Option<f64>,
    /// Canary SLO: most p99 check latency, ms (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_latency_ms: Option<u32>,
    /// Canary SLO: checks needed per step (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100_000)]
    pub min_samples: Option<u32>,
}

/// The answer to a GTM change, once the leader committed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GtmChange {
    /// The request id (`Idempotency-Key`, or a random one).
    pub request: String,
    /// `set_service`, `remove_service`, `start_shift` or `shift_COMMAND`.
    pub kind: String,
    /// The leader's epoch.
    pub epoch: u64,
    /// The store revision of the change (the publication's sequence).
    pub revision: u64,
    /// The shift started or changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<GtmShift>,
}

/// One candidate of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GtmCandidate {
    /// The endpoint.
    pub endpoint: String,
    /// Its site.
    pub site: String,
    /// Its region.
    pub region: String,
    /// Its version.
    pub version: String,
    /// Its address.
    pub address: String,
    /// Healthy as this site sees it.
    pub healthy: bool,
    /// Its weight after drains.
    pub weight: u32,
    /// RTT from the client's region to its site, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Answers per second it got lately.
    pub load_qps: u32,
    /// Its capacity (0: unlimited).
    pub capacity_qps: u32,
    /// Whether it was in the final tier.
    pub eligible: bool,
    /// Why it was or was not chosen.
    pub why: String,
}

/// `GET /api/v1/gtm/explain?name=N&from=PREFIX`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GtmExplanation {
    /// The service.
    pub service: String,
    /// The client's region.
    pub region: String,
    /// The ECS scope an answer would carry (none without a client subnet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_scope: Option<u8>,
    /// The address answered (none: nothing healthy; DNS then fails open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The endpoint answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The version a running split picked this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The running split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Whether the drain floor was used.
    pub floor: bool,
    /// Every endpoint and how it fared.
    pub candidates: Vec<GtmCandidate>,
}
