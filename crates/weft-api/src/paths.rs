//! Paths (local uplink × remote endpoint) with their measurements.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One path to a peer and what it measures now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Path {
    /// Path id (stable while the agent runs with the same configuration).
    pub id: u32,
    /// Remote site.
    pub site: String,
    /// Local uplink name.
    pub uplink: String,
    /// Remote endpoint `ip:port`.
    pub remote: String,
    /// `init`, `up`, `degraded` or `down`.
    pub state: String,
    /// How long it has been in that state, milliseconds.
    pub state_for_ms: f64,
    /// SLA classes this path is the current choice of.
    pub active_for: Vec<String>,
    /// Smoothed RTT, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Lowest RTT seen recently, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_min_ms: Option<f64>,
    /// Median RTT of the recent window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_p50_ms: Option<f64>,
    /// 95th percentile RTT of the recent window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_p95_ms: Option<f64>,
    /// 99th percentile RTT of the recent window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_p99_ms: Option<f64>,
    /// RFC 3550 jitter, milliseconds.
    pub jitter_ms: f64,
    /// Probe loss over the short window, percent.
    pub loss_pct: f64,
    /// Probe loss over the long window, percent.
    pub loss_long_pct: f64,
    /// Probes sent.
    pub probes_sent: u64,
    /// Probes declared lost.
    pub probes_lost: u64,
    /// Current probe interval, milliseconds.
    pub probe_interval_ms: f64,
    /// Bytes the data plane sent on it.
    pub tx_bytes: u64,
    /// Bytes received on it.
    pub rx_bytes: u64,
    /// Flows currently pinned to it.
    pub flows: u32,
}

/// One point of a path's measurement history (`GET /api/v1/paths/{id}/metrics`).
///
/// Recent points are raw samples; older ones are averages over
/// `resolution_s` seconds (downsampled, then dropped after the retention).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PathSample {
    /// Start of the sample, Unix milliseconds.
    pub at_unix_ms: i64,
    /// Seconds this point covers.
    pub resolution_s: u32,
    /// Mean smoothed RTT, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Mean jitter, milliseconds.
    pub jitter_ms: f64,
    /// Mean loss, percent.
    pub loss_pct: f64,
    /// Fraction of the time the path was up or degraded (0..1).
    pub up_ratio: f64,
    /// Bytes sent in the interval.
    pub tx_bytes: u64,
    /// Bytes received in the interval.
    pub rx_bytes: u64,
}

/// Body of `POST /api/v1/paths/{id}/test`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathTestRequest {
    /// Probes to send, 1..=100 (default 10).
    #[serde(default, deserialize_with = "crate::common::integer")]
    #[schema(minimum = 1, maximum = 100)]
    pub probes: Option<u32>,
}

/// The result of an on-demand test: a burst of authenticated probes on one path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PathTestResult {
    /// Path id.
    pub path: u32,
    /// Remote site.
    pub site: String,
    /// Local uplink.
    pub uplink: String,
    /// Remote endpoint.
    pub remote: String,
    /// Probes sent.
    pub sent: u32,
    /// Echoes received in time.
    pub received: u32,
    /// Loss in percent.
    pub loss_pct: f64,
    /// Lowest RTT, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_min_ms: Option<f64>,
    /// Mean RTT, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_avg_ms: Option<f64>,
    /// Highest RTT, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<f64>,
}
