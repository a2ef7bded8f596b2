//! `GET /api/v1/ipsec`: the IPsec gateways of a site (`[[ipsec]]`), each a
//! path: its SAs in the agent's charon, the probes through its tunnel, and
//! where its remote prefixes are routed now.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every gateway of one agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IpsecStatus {
    /// How often the agent started charon (1, plus restarts); 0 without gateways.
    pub charon_starts: u64,
    /// Where ESP runs: `kernel` (XFRM) or `userspace` (charon's
    /// kernel-libipsec); empty before charon started or without gateways.
    #[serde(default)]
    pub esp_engine: String,
    /// The gateways, in configuration order.
    pub gateways: Vec<IpsecGateway>,
}

/// One IPsec gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IpsecGateway {
    /// The `[[ipsec]]` name.
    pub name: String,
    /// The gateway's IKE address.
    pub remote: String,
    /// How the two ends authenticate: `psk` or `cert` (mesh CA certificates).
    #[serde(default)]
    pub auth: String,
    /// Why the last `initiate` failed (charon's answer), while no CHILD SA
    /// is installed; absent once one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// charon's state of the IKE SA (`ESTABLISHED`, `CONNECTING`, ...); empty: none.
    pub ike_state: String,
    /// Whether its CHILD SA is installed (can carry traffic).
    pub installed: bool,
    /// Whether the path is alive: CHILD SA installed and probes answered.
    pub alive: bool,
    /// Where best-effort traffic to the remote prefixes goes now: `ipsec` or
    /// `wireguard` (empty before the first decision); each class's own
    /// choice is in `classes`.
    pub route: String,
    /// Per route profile of the running policy: where its traffic to the
    /// remote prefixes goes.
    #[serde(default)]
    pub classes: Vec<IpsecClassRoute>,
    /// The Weft site serving the same prefixes over WireGuard, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Smoothed RTT of the probes through the tunnel, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Jitter of the probes' round trips (RFC 3550), milliseconds.
    #[serde(default)]
    pub jitter_ms: f64,
    /// Lost probes among the last 20, percent.
    pub loss_pct: f64,
    /// Packets of the classes routed over IPsec that the data plane handed
    /// to the tunnel.
    #[serde(default)]
    pub steered_packets: u64,
    /// Their bytes.
    #[serde(default)]
    pub steered_bytes: u64,
    /// Packets the data plane dropped for the gateway: a `strict-drop`
    /// class with no path meeting its SLA, or charon's device gone or full.
    #[serde(default)]
    pub steer_dropped: u64,
    /// Bytes into this site through the CHILD SA (since it was installed).
    pub bytes_in: u64,
    /// Bytes out through it.
    pub bytes_out: u64,
    /// Packets in.
    pub packets_in: u64,
    /// Packets out.
    pub packets_out: u64,
    /// Route changes since the agent started.
    pub changes: u64,
}

/// Where one route profile's traffic to a gateway's prefixes goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IpsecClassRoute {
    /// The route profile (its class, then the preference and index for a
    /// route's own profile, as in `weft paths`).
    pub profile: String,
    /// Its SLA class.
    pub class: String,
    /// `ipsec`, `wireguard`, or `drop` (a strict class, no path meets its SLA).
    pub route: String,
}
