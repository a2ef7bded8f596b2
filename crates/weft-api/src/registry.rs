//! The registry on the controllers: sites with their labels and relay
//! flags (cordoned, drained), and services (name, protocol, port, labels,
//! health check).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One site as the registry shows it: what the mesh knows of it merged
/// with its registry record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistrySite {
    /// The site id.
    pub site: String,
    /// `alive` (this controller, or a mesh member now) or `down` (known
    /// only from the store: acknowledged publications, a registry record).
    pub state: String,
    /// Its role (from its certificate), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its region, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Its membership (gossip) address, when a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gossip: Option<String>,
    /// Its uplinks' WireGuard endpoints, when a member.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// When its certificate expires, Unix seconds, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_unix_s: Option<u64>,
    /// The mesh policy version it acknowledged last, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<u64>,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// No new relayed traffic goes through it.
    pub cordoned: bool,
    /// No relayed traffic goes through it and its services are unavailable.
    pub drained: bool,
    /// Who changed its registry record last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
    /// When, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_unix_ms: Option<i64>,
}

/// A service's transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl ServiceProtocol {
    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// How a service's health is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheckKind {
    /// A TCP connect.
    Tcp,
    /// An HTTP GET of `path`.
    Http,
}

/// A service's health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `tcp` or `http`.
    pub kind: HealthCheckKind,
    /// The path an `http` check gets (starts with `/`); none for `tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub path: Option<String>,
    /// How often, ms (1000 to 3 600 000).
    #[schema(minimum = 1000, maximum = 3_600_000)]
    pub interval_ms: u64,
}

/// Body of `POST /api/v1/registry/services`: registers a service (or
/// replaces the one of that name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRegistration {
    /// Its name: 1 to 63 of `a-z 0-9 -`, starting and ending alphanumeric.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    pub name: String,
    /// The site it runs at (any valid site id: a site may be down).
    #[schema(min_length = 1, max_length = 63)]
    pub site: String,
    /// `tcp` or `udp`.
    pub protocol: ServiceProtocol,
    /// Its port, 1 to 65535.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its health check, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Where its mTLS endpoint (its zero-trust sidecar) listens, `ADDRESS:PORT`
    /// on the site's overlay: zero-trust gateways route to it (routes without
    /// `backends`); absent for services gateways do not reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 64)]
    pub mtls: Option<String>,
}

/// One registered service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistryService {
    /// Its name.
    pub name: String,
    /// The site it runs at.
    pub site: String,
    /// `tcp` or `udp`.
    pub protocol: ServiceProtocol,
    /// Its port.
    pub port: u16,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its health check, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Where its mTLS endpoint (sidecar) listens, if registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<String>,
    /// False while its site is drained.
    pub available: bool,
    /// Who registered it.
    pub registered_by: String,
    /// When, Unix milliseconds.
    pub registered_unix_ms: i64,
}

/// Body of `POST /api/v1/sites/{id}/label`: labels to set, and (`null`)
/// to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelChange {
    /// Label key to its new value, or `null` to remove it.
    pub set: BTreeMap<String, Option<String>>,
}

/// A site's registry record after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SiteRegistration {
    /// The site id.
    pub site: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// No new relayed traffic goes through it.
    pub cordoned: bool,
    /// No relayed traffic goes through it; its services are unavailable.
    pub drained: bool,
    /// Who changed it.
    pub changed_by: String,
    /// When, Unix milliseconds.
    pub changed_unix_ms: i64,
}

/// The answer to a registry change, once the leader committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistryChange {
    /// The request id (`Idempotency-Key`, or a random one).
    pub request: String,
    /// `cordon`, `uncordon`, `drain`, `label`, `register_service` or
    /// `deregister_service`.
    pub kind: String,
    /// The leader's epoch.
    pub epoch: u64,
    /// The store revision of the change.
    pub revision: u64,
    /// The site's record after a site change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteRegistration>,
    /// The service after a registration (before, for a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<RegistryService>,
}

/// One change of the registry, as `GET /api/v1/registry/watch` streams it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegistryEvent {
    /// `site` or `service`.
    pub kind: String,
    /// The site id or service name.
    pub name: String,
    /// `put` or `delete`.
    pub change: String,
    /// The store revision of the change (for a delete: the last one seen).
    pub revision: u64,
    /// The record after the change (none for a delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub value: Option<serde_json::Value>,
}
