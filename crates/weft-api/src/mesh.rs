//! The zero-touch mesh: join tokens, revocations and the membership view.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /api/v1/mesh/tokens` (only an agent holding the mesh CA
/// answers it). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeshTokenCreate {
    /// How long the token enrols sites, seconds (default 3600; 60..=2592000).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::integer_u64"
    )]
    #[schema(minimum = 60, maximum = 2_592_000)]
    pub ttl_s: Option<u64>,
    /// How many sites may enrol with it (default 1; 1..=10000).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::common::integer"
    )]
    #[schema(minimum = 1, maximum = 10_000)]
    pub uses: Option<u32>,
    /// The role enrolled sites get (default `site`; `hub` for hubs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9-]{1,63}$")]
    pub role: Option<String>,
    /// The region enrolled sites get (default empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9-]{0,63}$")]
    pub region: Option<String>,
    /// Overlay prefixes enrolled sites may claim (default: any), in CIDR
    /// form without host bits; one that is not is refused with 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 64)]
    pub prefixes: Option<Vec<String>>,
    /// On-prem ranges enrolled sites may bring into the mesh from their
    /// routers (`[bgp] learn`), in CIDR form (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 8)]
    pub learn: Option<Vec<String>>,
}

/// Answer of `POST /api/v1/mesh/tokens`: the token text, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshToken {
    /// The token to give `weftd --join` (`weft1.…`).
    pub token: String,
    /// Its id (hex), as the enroller's ledger counts its uses.
    pub id: String,
    /// When it stops enrolling sites, Unix seconds.
    pub expires_unix_s: u64,
    /// How many sites may enrol with it.
    pub uses: u32,
    /// The role enrolled sites get.
    pub role: String,
    /// The region enrolled sites get.
    pub region: String,
}

/// Body of `POST /api/v1/mesh/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeshRevoke {
    /// The site to revoke: it is dropped by every agent and cannot rejoin.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", min_length = 1, max_length = 63)]
    pub site: String,
}

/// Answer of `POST /api/v1/mesh/revocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshRevocation {
    /// The revoked site.
    pub site: String,
    /// Version of the signed revocation list now flooding the mesh.
    pub list_version: u64,
    /// Sites named by the list.
    pub revoked_sites: Vec<String>,
}

/// One member as this agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshMember {
    /// Site id.
    pub site: String,
    /// Role from its certificate (empty until its certificate is seen).
    pub role: String,
    /// Region from its certificate.
    pub region: String,
    /// `alive`, `suspect`, `dead`, `revoked`.
    pub state: String,
    /// Its gossip address.
    pub gossip: String,
    /// Its WireGuard endpoints.
    pub endpoints: Vec<String>,
    /// Whether this agent peers with it (certificate seen, topology allows).
    pub peered: bool,
    /// Its certificate's serial, when seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_serial: Option<u64>,
    /// Its certificate's expiry, Unix seconds, when seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_unix_s: Option<u64>,
}

/// Answer of `GET /api/v1/mesh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshStatus {
    /// This site.
    pub site: String,
    /// Fingerprint of the mesh CA this agent trusts.
    pub ca_fingerprint: String,
    /// Whether this agent holds the CA (enrols sites, mints tokens, revokes).
    pub ca_holder: bool,
    /// `full-mesh`, `hub-and-spoke` or `hybrid`.
    pub topology: String,
    /// Serial of this site's certificate.
    pub cert_serial: u64,
    /// When it expires, Unix seconds.
    pub cert_expires_unix_s: u64,
    /// When it is renewed (two thirds of its life), Unix seconds.
    pub cert_renew_unix_s: u64,
    /// Version of the revocation list held.
    pub revocation_version: u64,
    /// The other members.
    pub members: Vec<MeshMember>,
    /// Gossip and enrolment counters (`datagrams_in`, `rejected_unauthenticated`, ...).
    pub counters: Vec<crate::Counter>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_with_a_fraction_are_accepted_as_integers() {
        let r: MeshTokenCreate = serde_json::from_str(r#"{"ttl_s": 2825.0, "uses": 2.0}"#).unwrap();
        assert_eq!((r.ttl_s, r.uses), (Some(2825), Some(2)));
        assert!(serde_json::from_str::<MeshTokenCreate>(r#"{"ttl_s": 1.5}"#).is_err());
        let r: MeshTokenCreate = serde_json::from_str("{}").unwrap();
        assert_eq!(r, MeshTokenCreate::default());
    }
}
