//! Workload identities of a site's zero-trust proxies (`GET /identities`,
//! `POST /identities/revoke`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Allow and deny counts of one service at one proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityService {
    /// The service (`(no route)` for a gateway's unroutable connections).
    pub service: String,
    /// Connections allowed.
    pub allowed: u64,
    /// Connections denied.
    pub denied: u64,
}

/// One proxy of the site and the SVID it presents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Identity {
    /// Its SPIFFE ID.
    pub id: String,
    /// `gateway`, `sidecar`, or `workload` (served by the Workload API).
    pub kind: String,
    /// Gateway or service name (a workload: its ID's last segment).
    pub name: String,
    /// Where it listens (a workload: the Workload API's socket).
    pub listen: String,
    /// Serial number of its current SVID, hex.
    pub serial: String,
    /// Its current SVID is valid from (Unix seconds).
    pub not_before_unix_s: u64,
    /// And until.
    pub not_after_unix_s: u64,
    /// Decisions by service (a gateway's routes, a sidecar's service).
    pub services: Vec<IdentityService>,
    /// TLS handshakes refused before a decision.
    pub handshake_failures: u64,
    /// Why it has no SVID (yet): its SVIDs come from the control plane,
    /// which has not answered, or refused (the refusal's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

/// The control plane's identity CA as this site last heard of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityControl {
    /// The trust domain.
    pub trust_domain: String,
    /// Serial of the intermediate signing SVIDs now, hex.
    pub intermediate_serial: String,
    /// Roots in the trust bundle.
    pub roots: usize,
}

/// `POST /identities/ca` (controllers): make the control plane's identity CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityCaInit {
    /// The mesh's SPIFFE trust domain (lowercase `a-z 0-9 . - _`).
    #[schema(min_length = 1, max_length = 255, pattern = "^[a-z0-9._-]+$")]
    pub trust_domain: String,
}

/// `POST /identities/grants` and `/identities/grants/remove` (controllers):
/// let a site hold SPIFFE IDs beyond its registered services' `svc/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityGrant {
    /// The site.
    #[schema(min_length = 1, max_length = 63)]
    pub site: String,
    /// A SPIFFE ID, or `SPIFFE-ID/*` for every ID under it.
    #[schema(min_length = 10, max_length = 2048, pattern = "^spiffe://")]
    pub id: String,
}

/// What a control-plane identity request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityChange {
    /// The trust domain, grant or ID it was about.
    pub id: String,
    /// Whether anything changed.
    pub newly: bool,
    /// The serial of the intermediate signing SVIDs now, hex (none before
    /// the CA exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_serial: Option<String>,
}

/// The site's workload identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityList {
    /// The trust domain (absent: the site runs no zero-trust proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    /// Its proxies.
    pub identities: Vec<Identity>,
    /// Identities this site's proxies and Workload API refuse: revoked on
    /// this site or mesh-wide.
    pub revoked: Vec<String>,
    /// Identities the control plane revoked mesh-wide, as this site last
    /// received them (also on sites without zero-trust proxies).
    #[serde(default)]
    pub mesh_revoked: Vec<String>,
    /// The control plane's identity CA, once this site heard of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<IdentityControl>,
}

/// `POST /identities/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRevoke {
    /// The SPIFFE ID to refuse from now on (segments are never `.` or `..`).
    #[schema(
        min_length = 10,
        max_length = 2048,
        pattern = "^spiffe://[a-z0-9._-]{1,255}(/[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*)*$"
    )]
    pub id: String,
}

/// The answer to a revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityRevoked {
    /// The SPIFFE ID.
    pub id: String,
    /// False when it was revoked already.
    pub newly: bool,
    /// `mesh` (asked on a controller: the leader revoked it in the control
    /// store and published it to every site) or `site` (this site only).
    pub scope: String,
}
