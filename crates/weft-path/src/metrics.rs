//! What is known about a path: its attributes and its measured quality.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use weft_types::{Bandwidth, PeerId, UplinkId};

use crate::state::PathState;

/// The compact quality figures selection runs on (updated on every echo/loss).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Quality {
    /// Smoothed RTT in microseconds (0 before the first echo).
    pub rtt_us: u32,
    /// Jitter in microseconds.
    pub jitter_us: u32,
    /// Loss fraction over the short window (default 100 probes), `[0, 1]`.
    pub loss: f64,
    /// Loss fraction over the long window (default 500 probes), `[0, 1]`.
    pub loss_long: f64,
}

impl Quality {
    /// RTT in milliseconds.
    pub fn rtt_ms(&self) -> f64 {
        f64::from(self.rtt_us) / 1e3
    }
    /// Jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        f64::from(self.jitter_us) / 1e3
    }
}

/// Static attributes of a path, from the uplink's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PathAttrs {
    /// Money per GB sent (any currency, used for comparison only).
    pub cost_per_gb: f64,
    /// Capacity of the path (the smaller of the two ends' uplinks, if known).
    pub capacity: Bandwidth,
    /// Active-backup order: lower is preferred.
    pub priority: u8,
    /// Metered uplink (e.g. LTE with a data cap); policies can avoid it.
    pub metered: bool,
}

impl Default for PathAttrs {
    fn default() -> Self {
        Self { cost_per_gb: 0.0, capacity: Bandwidth(100_000_000), priority: 100, metered: false }
    }
}

/// Describes a path to add to the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathSpec {
    /// The peer the path leads to.
    pub peer: PeerId,
    /// The local uplink it leaves from.
    pub uplink: UplinkId,
    /// The remote endpoint (the peer's underlay address on one of its uplinks).
    pub remote: SocketAddr,
    /// Static attributes.
    pub attrs: PathAttrs,
    /// Where proof of life comes from.
    pub liveness: LivenessSource,
}

/// Where a path's proof of life comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum LivenessSource {
    /// Weft probes and their echoes (and, passively, authenticated traffic).
    Probes,
    /// Authenticated traffic only, for peers that do not answer probes (stock
    /// WireGuard): no probes are sent; the first authenticated packet makes the
    /// path Up, and silence for `detect_multiplier × expected_interval` makes it
    /// Down. Set `expected_interval` to the peer's keepalive interval. Such a
    /// path has no RTT, jitter or loss figures, so it meets every SLA.
    Traffic {
        /// How often the peer is expected to send at least a keepalive.
        expected_interval: std::time::Duration,
    },
}

/// A full snapshot of one path's measurements, for operators and the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathMetrics {
    /// Current state.
    pub state: PathState,
    /// How long it has been in that state.
    pub state_for: Duration,
    /// Smoothed RTT.
    pub rtt: Option<Duration>,
    /// Lowest RTT ever seen.
    pub rtt_min: Option<Duration>,
    /// RTT variation (RFC 6298).
    pub rtt_var: Option<Duration>,
    /// Median RTT over the sample window.
    pub rtt_p50: Option<Duration>,
    /// 95th-percentile RTT over the window.
    pub rtt_p95: Option<Duration>,
    /// 99th-percentile RTT over the window.
    pub rtt_p99: Option<Duration>,
    /// RFC 3550 jitter.
    pub jitter: Duration,
    /// Loss fraction over the short loss window.
    pub loss: f64,
    /// Loss fraction over the long loss window.
    pub loss_long: f64,
    /// Probe outcomes in the loss window.
    pub loss_window: usize,
    /// Probes sent since the path was added.
    pub probes_sent: u64,
    /// Probes declared lost since the path was added.
    pub probes_lost: u64,
    /// Echoes that arrived after their probe was declared lost.
    pub late_echoes: u64,
    /// Path MTU, when known.
    pub mtu: Option<u16>,
    /// Current probe interval.
    pub probe_interval: Duration,
    /// Recent send rate on the path, bits per second.
    pub tx_rate_bps: f64,
}
