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
    /// Where the remote prefixes are routed now: `ipsec` or `wireguard`
    /// (empty before the first decision).
    pub route: String,
    /// The Weft site serving the same prefixes over WireGuard, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Smoothed RTT of the probes through the tunnel, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Lost probes among the last 20, percent.
    pub loss_pct: f64,
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
