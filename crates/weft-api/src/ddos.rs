//! `GET /api/v1/ddos`: the agent's flood defence.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Counter;

/// Flood defence state of one agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DdosStatus {
    /// Handshake initiations arrive over the site's global rate: only those
    /// with a valid cookie (MAC2) reach the crypto.
    pub under_load: bool,
    /// Handshake initiations received.
    pub handshake_inits: u64,
    /// Cookie replies sent.
    pub cookie_replies: u64,
    /// Datagrams dropped before any crypto, by reason (`junk`, `bad_mac1`,
    /// `rate_source`, `cookie_required`).
    pub dropped: Vec<Counter>,
    /// Handshake initiations per second allowed from one source.
    pub handshakes_per_source: u32,
    /// Handshake initiations per second for the site before cookies.
    pub handshakes: u32,
    /// Each destination's latest second.
    pub destinations: Vec<DdosDestination>,
    /// Recent anomalies, newest last (at most 20).
    pub detections: Vec<DdosDetection>,
    /// The nftables hook (absent: `[flood] mitigate` is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigation: Option<DdosMitigation>,
}

/// One destination (an uplink: `uplink:NAME`) against its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DdosDestination {
    /// `uplink:NAME`.
    pub dest: String,
    /// Datagrams per second over the last second.
    pub pps: f64,
    /// Bits per second over the last second.
    pub bps: f64,
    /// Learnt baseline, datagrams per second.
    pub baseline_pps: f64,
    /// Learnt baseline, bits per second.
    pub baseline_bps: f64,
    /// In an anomaly now.
    pub anomalous: bool,
}

/// One anomaly episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DdosDetection {
    /// When it started, Unix milliseconds.
    pub at_unix_ms: i64,
    /// When it ended (absent: going on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_unix_ms: Option<i64>,
    /// The destination.
    pub dest: String,
    /// Highest datagrams per second seen in it.
    pub peak_pps: f64,
    /// The baseline when it started.
    pub baseline_pps: f64,
    /// Sources added to the nftables set during it.
    pub sources_blocked: u64,
}

/// The nftables set of blocked sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DdosMitigation {
    /// The `inet` table weftd owns.
    pub table: String,
    /// Seconds a source stays blocked.
    pub block_s: u64,
    /// Sources in the set now.
    pub blocked: Vec<DdosBlocked>,
    /// Datagrams nftables dropped from them.
    pub dropped_packets: u64,
    /// The last nft error, if the last call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A blocked source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DdosBlocked {
    /// Its address.
    pub addr: String,
    /// Seconds until it leaves the set.
    pub expires_s: u64,
}
