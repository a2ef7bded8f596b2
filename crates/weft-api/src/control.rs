//! The control plane: controllers, the leader, and mesh-wide policy.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The mesh-wide policy this site runs, as the control plane published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshPolicyInForce {
    /// The mesh policy version.
    pub version: u64,
    /// The publishing leader's epoch.
    pub epoch: u64,
    /// The publication's sequence (the store revision it was published at).
    pub seq: u64,
    /// When this site installed it, Unix milliseconds.
    pub since_unix_ms: i64,
}

/// What this site did with the publications it received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BundleCounters {
    /// Installed.
    pub installed: u64,
    /// Of the version already running (acknowledged, not reinstalled).
    pub already_running: u64,
    /// Re-sends of the publication in force.
    pub duplicates: u64,
    /// Refused: older than the newest accepted (a deposed leader, a replay).
    pub stale_refused: u64,
    /// Canary bundles for other sites.
    pub not_for_us: u64,
    /// Refused by the policy check on this site (the last good policy stays).
    pub install_failed: u64,
}

/// Answer of `GET /api/v1/control`: this site's view of the control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlStatus {
    /// Whether this site is a controller (`[controller]`).
    pub controller: bool,
    /// Its controller id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `leader`, `follower`, `candidate` or `none` (not a controller).
    pub role: String,
    /// The leader's id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// The leader's epoch (the leader key's create revision), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// The store: `etcd` or `sqlite`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Since this controller's last lease renewal that succeeded, ms (every
    /// controller holds a lease; the leader's keeps it leading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_age_ms: Option<u64>,
    /// The store revision of this controller's last fenced write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fenced_write_revision: Option<u64>,
    /// When it was made, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fenced_write_unix_ms: Option<i64>,
    /// Fenced writes the store refused (this controller had lost the lead).
    pub fenced_refused: u64,
    /// The mesh-wide policy in force on this site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<MeshPolicyInForce>,
    /// What this site did with publications.
    pub bundles: BundleCounters,
    /// The registry's relay limits in force on this site.
    #[serde(default)]
    pub relay_limits: RelayLimitsInForce,
}

/// The sites the control plane's registry keeps relayed traffic away from,
/// as this site last received them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RelayLimitsInForce {
    /// Never chosen as a new relay (relays through them stay).
    pub cordoned: Vec<String>,
    /// Never a relay: traffic relayed through them moved off.
    pub drained: Vec<String>,
    /// The publication's sequence (0: none received).
    pub seq: u64,
}

/// One site's state in a mesh-wide rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SitePolicyState {
    /// The site.
    pub site: String,
    /// The version it acknowledged last.
    pub version: u64,
    /// The publication's epoch and sequence.
    pub epoch: u64,
    /// The publication's sequence.
    pub seq: u64,
    /// `current`, `canary`, `behind` or `failed`.
    pub state: String,
    /// Why it refused the version (state `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it took it, Unix milliseconds (its own clock).
    pub since_unix_ms: i64,
}

/// The canary stage of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CanaryStage {
    /// The version on trial.
    pub version: u64,
    /// The sites that run it.
    pub sites: Vec<String>,
}

/// Answer of `GET /api/v1/policy/mesh` (controllers only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshPolicyStatus {
    /// The version every site not in a canary runs (0: none published yet).
    pub version: u64,
    /// Its policy's name.
    pub name: String,
    /// The canary stage, if one is open (`weft policy promote` ends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStage>,
    /// The newest version stored.
    pub latest: u64,
    /// The sequence of the current publication.
    pub seq: u64,
    /// Who made the last change.
    pub actor: String,
    /// When, Unix milliseconds.
    pub at_unix_ms: i64,
    /// Every site that acknowledged a publication.
    pub sites: Vec<SitePolicyState>,
}

/// Answer of a mesh-wide `POST /api/v1/policy`, `/policy/rollback` or
/// `/policy/promote` on a controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshPolicyChange {
    /// The request's id (`Idempotency-Key`, or one made up): asking again
    /// with it returns this answer and changes nothing.
    pub request: String,
    /// `apply`, `rollback` or `promote`.
    pub kind: String,
    /// The version every site not in a canary runs now.
    pub version: u64,
    /// The canary stage, if one is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStage>,
    /// The leader's epoch that published it.
    pub epoch: u64,
    /// The publication's sequence.
    pub seq: u64,
    /// Warnings of the policy check.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One audit record of the control store (`GET /api/v1/control/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControlAuditRecord {
    /// Its key in the store (`/weft/audit/UNIXMS-ID`).
    pub key: String,
    /// The request (or leader tick) that made the change.
    pub request: String,
    /// Who asked (`leader` for the leader's own steps).
    pub actor: String,
    /// What changed, with the reason where there is one.
    pub action: String,
    /// The leader's epoch.
    pub epoch: u64,
    /// When, Unix ms.
    pub at_unix_ms: i64,
}
