//! Connection profiles: stock WireGuard clients (laptops, VMs, phones) that
//! a site serves as run-time stock peers (`/api/v1/profiles`, scope admin).
//! The client's private key never reaches the agent: only its public key.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /api/v1/profiles`: register a client at this site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileCreate {
    /// The client's name, like a site id: 1..=63 of `a-z 0-9 -`, not starting
    /// or ending with `-`, unique among sites and clients.
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", min_length = 1, max_length = 63)]
    pub name: String,
    /// Its WireGuard public key, base64 (44 characters: 32 bytes).
    #[schema(pattern = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", min_length = 44, max_length = 44)]
    pub public_key: String,
    /// The sites it may use (at least one, at most 64, site ids); this
    /// site serves it as a stock peer only if it is listed. A site id that
    /// is not valid is refused with 422.
    #[schema(min_items = 1, max_items = 64)]
    pub sites: Vec<String>,
    /// Its overlay address (IPv4, optionally `/32`); absent: derived from
    /// its public key in the site's pool, the same at every site with the
    /// same pool.
    #[serde(default)]
    #[schema(pattern = "^[0-9]{1,3}(\\.[0-9]{1,3}){3}(/32)?$", max_length = 18)]
    pub address: Option<String>,
    /// Register it at every site in `sites` at once, through the control
    /// plane (only at a controller: 409 `not_a_controller` elsewhere); the
    /// answer's `mesh_sites` then describes the other sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<bool>,
    /// The client also speaks `IPsec` (`weft profile export --ipsec`): its
    /// `IKEv2` pre-shared key, 64 hex digits (32 bytes, no `0x`), as in its
    /// `NAME.swanctl.conf`. This site's charon then answers the client's
    /// IKE. Stored at the site, never returned by any request (the
    /// profile's `ipsec` says only that there is one), never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-fA-F]{64}$", min_length = 64, max_length = 64, write_only)]
    pub ipsec_psk: Option<String>,
}

/// A site a client may use, as its `wg-quick` `[Peer]` needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileSite {
    /// Site id.
    pub name: String,
    /// Its WireGuard public key, base64.
    pub public_key: String,
    /// `HOST:PORT` the client dials (`[profiles] endpoints`, else the uplinks' binds).
    pub endpoints: Vec<String>,
    /// Its own prefixes, cut to the parts the site's running policy lets the
    /// client reach.
    pub prefixes: Vec<String>,
    /// Other sites' prefixes the client reaches through it, cut the same
    /// way (with its own: the client's `AllowedIPs`).
    pub reachable: Vec<String>,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    /// Client name.
    pub name: String,
    /// Its WireGuard public key, base64.
    pub public_key: String,
    /// Its overlay address, `A.B.C.D/32`.
    pub address: String,
    /// The sites it may use.
    pub sites: Vec<String>,
    /// When it was registered here, Unix milliseconds.
    pub created_unix_ms: i64,
    /// Whether it was registered with an `IPsec` pre-shared key (the key
    /// itself is never returned): this site's charon answers its `IKE`.
    #[serde(default)]
    pub ipsec: bool,
    /// Whether this site serves it (it is listed in `sites`).
    pub served_here: bool,
    /// This site, as the client's configuration names it.
    pub site: ProfileSite,
    /// After a mesh-wide registration: the other sites in `sites`, as this
    /// controller sees them (their keys, endpoints and prefixes, narrowed
    /// by the running policy), so one export can name them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mesh_sites: Vec<ProfileSite>,
}

/// Answer of `DELETE /api/v1/profiles/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileRevoked {
    /// Client name.
    pub name: String,
    /// The client as it was registered here (absent: it was not).
    pub here: Option<Profile>,
    /// With `everywhere`: the version of the mesh's revocation list that now
    /// names the client (every site drops it and forgets its record).
    pub mesh_list_version: Option<u64>,
    /// With `everywhere`: why the mesh-wide revocation did not happen here
    /// (not in a mesh; not the CA holder or a controller: ask one of those).
    pub mesh_refused: Option<String>,
}
