//! The agent's status as data: every path with its measurements, rendered as
//! the JSON of `/api/v1/paths` and the Prometheus text of `/metrics`.
//!
//! The control loop builds a [`Status`] a few times a second and publishes it;
//! the HTTP server only reads the latest one, so a slow client never touches
//! protocol state.

use std::fmt::Write as _;
use std::net::SocketAddr;

use serde::Serialize;
use weft_path::{PathMetrics, PathState};

/// One path as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PathStatus {
    /// Engine path id.
    pub id: u32,
    /// Peer site name.
    pub peer: String,
    /// Local uplink name.
    pub uplink: String,
    /// Remote endpoint.
    pub remote: SocketAddr,
    /// Whether this path is the current primary for at least one class.
    pub active_for: Vec<String>,
    /// State, RTT, jitter, loss and counters.
    #[serde(skip)]
    pub metrics: PathMetrics,
    /// Bytes sent on this path by the data plane.
    pub tx_bytes: u64,
    /// Bytes received on this path.
    pub rx_bytes: u64,
}

/// Counters of dropped input, by reason.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DropCounters {
    /// (reason, count) pairs, e.g. `("probe_bad_mac", 3)`.
    pub by_reason: Vec<(String, u64)>,
}

/// Everything the status endpoints serve.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Site name.
    pub site: String,
    /// Every path.
    pub paths: Vec<PathStatus>,
    /// Failovers so far, by reason.
    pub failovers: Vec<(String, u64)>,
    /// Dropped packets by reason.
    pub drops: DropCounters,
    /// The running policy.
    pub policy: PolicyStatus,
}

/// The running policy as status shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyStatus {
    /// `[policy] name`.
    pub name: String,
    /// Stored version (0: built in).
    pub version: u64,
    /// Packets denied, by ACL name (`default` for the default verdict).
    pub denied: Vec<(String, u64)>,
}

impl Status {
    /// The JSON body of `/api/v1/paths`: durations in milliseconds, loss in
    /// percent.
    pub fn paths_json(&self) -> String {
        let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1e3);
        let paths: Vec<serde_json::Value> = self
            .paths
            .iter()
            .map(|p| {
                let m = &p.metrics;
                serde_json::json!({
                    "id": p.id,
                    "peer": p.peer,
                    "uplink": p.uplink,
                    "remote": p.remote,
                    "state": m.state,
                    "state_for_ms": m.state_for.as_secs_f64() * 1e3,
                    "active_for": p.active_for,
                    "rtt_ms": ms(m.rtt),
                    "rtt_min_ms": ms(m.rtt_min),
                    "rtt_p50_ms": ms(m.rtt_p50),
                    "rtt_p95_ms": ms(m.rtt_p95),
                    "rtt_p99_ms": ms(m.rtt_p99),
                    "jitter_ms": m.jitter.as_secs_f64() * 1e3,
                    "loss_pct": m.loss * 100.0,
                    "loss_long_pct": m.loss_long * 100.0,
                    "probes_sent": m.probes_sent,
                    "probes_lost": m.probes_lost,
                    "probe_interval_ms": m.probe_interval.as_secs_f64() * 1e3,
                    "tx_bytes": p.tx_bytes,
                    "rx_bytes": p.rx_bytes,
                })
            })
            .collect();
        let body = serde_json::json!({
            "site": self.site,
            "paths": paths,
            "failovers": self.failovers,
            "drops": self.drops.by_reason,
            "policy": self.policy,
        });
        serde_json::to_string_pretty(&body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The Prometheus text exposition of `/metrics`.
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let labels = |p: &PathStatus| {
            format!(
                "peer=\"{}\",uplink=\"{}\",remote=\"{}\"",
                escape(&p.peer),
                escape(&p.uplink),
                p.remote
            )
        };
        gauge(
            &mut s,
            "weft_path_rtt_seconds",
            "Smoothed round-trip time of the path.",
            self.paths
                .iter()
                .map(|p| (labels(p), p.metrics.rtt.map_or(f64::NAN, |d| d.as_secs_f64()))),
        );
        gauge(
            &mut s,
            "weft_path_jitter_seconds",
            "RFC 3550 jitter of the path.",
            self.paths.iter().map(|p| (labels(p), p.metrics.jitter.as_secs_f64())),
        );
        gauge(
            &mut s,
            "weft_path_loss_ratio",
            "Probe loss over the short window (0..1).",
            self.paths.iter().map(|p| (labels(p), p.metrics.loss)),
        );
        gauge(
            &mut s,
            "weft_path_up",
            "1 when the path is Up or Degraded.",
            self.paths.iter().map(|p| (labels(p), f64::from(u8::from(p.metrics.state.is_alive())))),
        );
        gauge(
            &mut s,
            "weft_path_state",
            "Path state: 0 down, 1 init, 2 up, 3 degraded.",
            self.paths.iter().map(|p| (labels(p), f64::from(state_code(p.metrics.state)))),
        );
        counter(
            &mut s,
            "weft_path_probes_sent_total",
            "Probes sent on the path.",
            self.paths.iter().map(|p| (labels(p), p.metrics.probes_sent)),
        );
        counter(
            &mut s,
            "weft_path_probes_lost_total",
            "Probes declared lost on the path.",
            self.paths.iter().map(|p| (labels(p), p.metrics.probes_lost)),
        );
        counter(
            &mut s,
            "weft_path_tx_bytes_total",
            "Bytes sent on the path.",
            self.paths.iter().map(|p| (labels(p), p.tx_bytes)),
        );
        counter(
            &mut s,
            "weft_path_rx_bytes_total",
            "Bytes received on the path.",
            self.paths.iter().map(|p| (labels(p), p.rx_bytes)),
        );
        counter(
            &mut s,
            "weft_failovers_total",
            "Class failovers by reason.",
            self.failovers.iter().map(|(r, n)| (format!("reason=\"{}\"", escape(r)), *n)),
        );
        counter(
            &mut s,
            "weft_dropped_packets_total",
            "Dropped input by reason.",
            self.drops.by_reason.iter().map(|(r, n)| (format!("reason=\"{}\"", escape(r)), *n)),
        );
        counter(
            &mut s,
            "weft_policy_denied_packets_total",
            "Packets dropped by the running policy, by the ACL that denied them.",
            self.policy.denied.iter().map(|(r, n)| (format!("rule=\"{}\"", escape(r)), *n)),
        );
        gauge(
            &mut s,
            "weft_policy_version",
            "Version of the running policy (0: built in).",
            std::iter::once((
                format!("name=\"{}\"", escape(&self.policy.name)),
                self.policy.version as f64,
            )),
        );
        s
    }
}

fn state_code(s: PathState) -> u8 {
    match s {
        PathState::Down => 0,
        PathState::Init => 1,
        PathState::Up => 2,
        PathState::Degraded => 3,
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn gauge(s: &mut String, name: &str, help: &str, rows: impl Iterator<Item = (String, f64)>) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, v) in rows {
        let _ = writeln!(s, "{name}{{{labels}}} {}", fmt_f64(v));
    }
}

fn counter(s: &mut String, name: &str, help: &str, rows: impl Iterator<Item = (String, u64)>) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, v) in rows {
        let _ = writeln!(s, "{name}{{{labels}}} {v}");
    }
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() { "NaN".to_owned() } else { format!("{v}") }
}
