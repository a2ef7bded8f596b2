//! Sites, WireGuard peers and the agent's summary.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A site's state as this agent sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SiteState {
    /// The site this agent runs on.
    Local,
    /// At least one path is up and none is needed that is down.
    Up,
    /// Reachable, but only over degraded paths.
    Degraded,
    /// No path is alive.
    Down,
    /// An operator removed it (`DELETE /api/v1/sites/{id}`): no traffic is
    /// sent to it until the agent restarts with it in its configuration.
    Removed,
}

impl SiteState {
    /// The lowercase name, as in JSON and `?state=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Removed => "removed",
        }
    }
}

/// A site of the mesh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Site {
    /// Site id (its name).
    pub id: String,
    /// Role (`site`, `hub`, ...), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Region, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// State.
    pub state: SiteState,
    /// Its WireGuard endpoints (`ip:port`); empty for the local site.
    pub endpoints: Vec<String>,
    /// Overlay prefixes it serves.
    pub prefixes: Vec<String>,
    /// Paths to it that are up or degraded.
    pub paths_up: u32,
    /// Paths to it.
    pub paths_total: u32,
    /// Lowest smoothed RTT over its live paths, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_rtt_ms: Option<f64>,
}

/// A WireGuard peer (one per remote site).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Peer {
    /// Site id.
    pub site: String,
    /// WireGuard public key, base64.
    pub public_key: String,
    /// Endpoints it is reached at.
    pub endpoints: Vec<String>,
    /// Allowed overlay prefixes.
    pub allowed_prefixes: Vec<String>,
    /// Seconds since the current session's handshake; absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handshake_s: Option<f64>,
    /// Handshakes completed since the agent started.
    pub handshakes: u64,
    /// Persistent keepalive, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_s: Option<u16>,
    /// Whether it is a stock WireGuard peer (no Weft probes).
    pub stock: bool,
    /// IP payload bytes sent to it.
    pub tx_bytes: u64,
    /// IP payload bytes received from it.
    pub rx_bytes: u64,
}

/// The agent at a glance: `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// This site's id.
    pub site: String,
    /// The agent's version.
    pub version: String,
    /// Seconds since the agent started.
    pub uptime_s: f64,
    /// Remote sites known.
    pub sites: u32,
    /// Remote sites with at least one live path.
    pub sites_up: u32,
    /// Paths.
    pub paths: u32,
    /// Paths up or degraded.
    pub paths_up: u32,
    /// Flows in the flow table.
    pub flows: u32,
    /// Name of the running policy.
    pub policy_name: String,
    /// Version of the running policy (0: built in).
    pub policy_version: u64,
    /// Failovers since start.
    pub failovers: u64,
    /// Id of the newest event (resume `events` after it).
    pub last_event_id: u64,
    /// Failovers by reason (`path_down`, `sla_breach`, ...).
    pub failovers_by_reason: Vec<Counter>,
    /// Dropped packets by reason (`no_route`, `wg_invalid_mac`, `policy_denied`, ...).
    pub drops: Vec<Counter>,
    /// Packets the running policy denied, by ACL name (`default` for the default).
    pub policy_denied: Vec<Counter>,
    /// The data plane's kernel offloads (`tun_tso`, `tun_uso`, `udp_gso`,
    /// `udp_gro`) and whether each is in use; absent from older agents.
    #[serde(default)]
    pub offloads: Vec<Offload>,
}

/// One kernel offload of the data plane and whether it is in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Offload {
    /// Which: `tun_tso` (TCP super-packets through the TUN device, with
    /// coalesced writes), `tun_uso` (the same for UDP), `udp_gso` (segmented
    /// sends on the uplinks), `udp_gro` (coalesced receives).
    pub kind: String,
    /// In use (false: switched off by `[site] offload = false`, or missing
    /// from the kernel).
    pub enabled: bool,
}

/// A named count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counter {
    /// What is counted.
    pub name: String,
    /// How many.
    pub count: u64,
}
