//! API tokens and the audit log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Scope;

/// An API token as listed (the secret itself is shown once, at creation,
/// and stored only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Token id.
    pub id: u64,
    /// A name for humans (`grafana`, `ci`).
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// When it was created, Unix milliseconds.
    pub created_unix_ms: i64,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// A name for humans: 1..=64 of `A-Z a-z 0-9 . _ -`, unique among live tokens.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$", min_length = 1, max_length = 64)]
    pub name: String,
    /// What it may do.
    pub scope: Scope,
}

/// Answer of `POST /api/v1/tokens`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The stored token.
    pub token: TokenInfo,
    /// The secret to send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Sequence number.
    pub id: u64,
    /// When, Unix milliseconds.
    pub at_unix_ms: i64,
    /// Who: `token:<name>`, `local socket`, `startup ...`, or the client address.
    pub who: String,
    /// What: `policy.apply`, `policy.rollback`, `policy.refused`, `token.create`,
    /// `token.revoke`, `site.remove`, `path.test`, `denied`, `unauthorized`.
    pub action: String,
    /// What it was done to (`policy`, `token 3`, `site b`, `GET /api/v1/...`).
    pub target: String,
    /// State before, when it changed something (a version, a scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// State after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Free text: why, or what was refused.
    pub detail: String,
    /// The API request that caused it (its `X-Request-Id`, also on the
    /// request's log lines); absent for records written outside a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
