//! The agent's Prometheus metrics, encoded by `prometheus-client`.
//!
//! The control loop owns every number. It feeds each probe echo's RTT to
//! [`Metrics::observe_rtt`] and hands [`Metrics::update`] a [`MetricsSnapshot`]
//! of absolute values every 200 ms; `GET /metrics` serves [`Metrics::encode`]
//! with [`CONTENT_TYPE`]. Scrapes never touch protocol state.
//!
//! Everything but the RTT histogram is a custom collector over the latest
//! snapshot (constant counters and gauges), with these rules:
//!
//! - **A counter never goes backwards.** A snapshot total lower than the
//!   previous one means its owner restarted from zero (e.g. a path re-created),
//!   so the exposed value becomes the previous exposed value plus the new
//!   total, as if the counter had been advanced by deltas all along.
//! - **What is not in the latest snapshot is not exposed**, so a removed path,
//!   reason or rule disappears from the output. Its last value is remembered
//!   for [`FORGET_AFTER`] updates, so that a series coming back soon continues
//!   where it was; after that it starts afresh as a new series.
//! - Duplicate label sets in one snapshot are summed (counter lists and
//!   `members`); of two paths with the same labels the first one counts.
//! - No `NaN`: the smoothed RTT is absent before the first echo, and a
//!   non-finite loss ratio is left out.
//!
//! The RTT histogram of a path is live (observed per echo) and follows the
//! same rules: shown while the path is in the latest snapshot (or from its
//! first echo until the next update), kept hidden for [`FORGET_AFTER`] updates
//! once it is gone.
//!
//! Label values are escaped here: `prometheus-client` 0.24 writes them
//! verbatim, which is why [`PathLabels`] implements `EncodeLabelSet` by hand
//! instead of deriving it.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder, text};
use prometheus_client::registry::Registry;

use collect::Shared;
use series::Escaped;

mod bgp;
mod collect;
mod flood;
mod ipsec;
mod plane;
mod qos;
mod series;
#[cfg(test)]
mod tests;

/// The content type of what [`Metrics::encode`] returns (`OpenMetrics` text 1.0.0).
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Updates for which a series missing from the snapshot is remembered (hidden)
/// before it is forgotten: 1500 × 200 ms = 5 minutes, Prometheus' staleness
/// window.
pub(crate) const FORGET_AFTER: u64 = 1500;

/// Lowest RTT bucket bound: 0.5 ms.
const RTT_BUCKET_START: f64 = 0.000_5;
/// Bucket bounds double: 0.5 ms, 1 ms, 2 ms … 1.024 s, 2.048 s (then `+Inf`).
const RTT_BUCKET_FACTOR: f64 = 2.0;
/// Number of finite RTT bucket bounds.
const RTT_BUCKETS: u16 = 13;

/// Labels of a path.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PathLabels {
    /// Peer site name.
    pub(crate) peer: String,
    /// Local uplink name.
    pub(crate) uplink: String,
    /// Remote endpoint, e.g. `192.0.2.1:51820`.
    pub(crate) remote: String,
}

impl EncodeLabelSet for PathLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        let labels = [("peer", &self.peer), ("uplink", &self.uplink), ("remote", &self.remote)];
        for (key, value) in labels {
            (key, Escaped(value)).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// Plain data; every counter here is an absolute total since the agent started.
#[derive(Clone, Debug, Default)]
pub(crate) struct MetricsSnapshot {
    /// Every path.
    pub(crate) paths: Vec<PathSnapshot>,
    /// Class failovers, by reason.
    pub(crate) failovers: Vec<(String, u64)>,
    /// Dropped packets, by reason.
    pub(crate) drops: Vec<(String, u64)>,
    /// Data-plane offloads by kind: 1 in use, 0 not.
    pub(crate) offloads: Vec<(String, u64)>,
    /// Mesh events (gossip, refusals, relayed packets), by kind.
    pub(crate) mesh: Vec<(String, u64)>,
    /// Packets denied by the running policy, by the rule (ACL) that denied them.
    pub(crate) policy_denied: Vec<(String, u64)>,
    /// Version of the running policy (0: built in).
    pub(crate) policy_version: u64,
    /// Name of the running policy.
    pub(crate) policy_name: String,
    /// Completed tunnel handshakes, by peer.
    pub(crate) handshakes: Vec<(String, u64)>,
    /// Sites by state (`up`, `degraded`, `down`, `removed`). List every state,
    /// with 0 where none is, so that alerts on a state see a value.
    pub(crate) members: Vec<(String, u64)>,
    /// API requests: (method, route template, status code, count).
    pub(crate) api_requests: Vec<(String, String, u16, u64)>,
}

/// One path's latest figures.
#[derive(Clone, Debug, Default)]
pub(crate) struct PathSnapshot {
    /// Its labels.
    pub(crate) labels: PathLabels,
    /// Smoothed RTT (`None` before the first echo).
    pub(crate) rtt: Option<Duration>,
    /// RFC 3550 jitter.
    pub(crate) jitter: Duration,
    /// Probe loss over the short window, `0..=1`.
    pub(crate) loss: f64,
    /// State: 0 down, 1 init, 2 up, 3 degraded.
    pub(crate) state: u8,
    /// Probes sent.
    pub(crate) probes_sent: u64,
    /// Probes declared lost.
    pub(crate) probes_lost: u64,
    /// Bytes sent by the data plane.
    pub(crate) tx_bytes: u64,
    /// Bytes received.
    pub(crate) rx_bytes: u64,
    /// Packets sent.
    pub(crate) tx_packets: u64,
    /// Packets received.
    pub(crate) rx_packets: u64,
    /// Flows currently on the path.
    pub(crate) flows: u64,
}

/// The agent's metrics: shared as `Arc<Metrics>` between the control loop
/// (writer) and the HTTP server (reader).
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Holds the collector; prefixes every name with `weft_`.
    registry: Registry,
    /// What the collector encodes.
    shared: Arc<Shared>,
    /// API requests by (method, route template, status), counted by the API.
    requests: std::sync::Mutex<std::collections::BTreeMap<(String, String, u16), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics: no series until the first update or echo.
    pub(crate) fn new() -> Self {
        let shared = Arc::new(Shared::default());
        let mut registry = Registry::with_prefix("weft");
        registry.register_collector(Box::new(Arc::clone(&shared)));
        Self { registry, shared, requests: std::sync::Mutex::default() }
    }

    /// Adds the control plane's metrics (`weft_control_*`,
    /// `weft_mesh_policy_*`), read from `plane` at every scrape.
    pub(crate) fn with_plane(mut self, plane: Arc<crate::controlplane::PlaneState>) -> Self {
        self.registry.register_collector(Box::new(plane::PlaneCollector(plane)));
        self
    }

    /// Adds the zero-trust proxies' counters (`weft_zt_*`), read from `site`
    /// at every scrape.
    pub(crate) fn with_zt(mut self, site: Option<Arc<crate::zt::site::ZtSite>>) -> Self {
        if let Some(site) = site {
            self.registry.register_collector(Box::new(crate::zt::metrics::ZtCollector(site)));
        }
        self
    }

    /// Adds the flood defence's metrics (`weft_flood_*`), read from
    /// `shield` at every scrape.
    pub(crate) fn with_flood(mut self, shield: Arc<crate::flood::FloodShield>) -> Self {
        self.registry.register_collector(Box::new(flood::FloodCollector(shield)));
        self
    }

    /// Adds the QoS schedulers' lanes (`weft_qos_*`), read from `board` at
    /// every scrape.
    pub(crate) fn with_qos(mut self, board: Arc<crate::agent::qos::QosBoard>) -> Self {
        self.registry.register_collector(Box::new(qos::QosCollector(board)));
        self
    }

    /// Adds the BGP speaker's metrics (`weft_bgp_*`) when the site has
    /// `[bgp]`, read from `board` at every scrape.
    pub(crate) fn with_bgp(mut self, board: Option<Arc<crate::bgp::BgpBoard>>) -> Self {
        if let Some(board) = board {
            self.registry.register_collector(Box::new(bgp::BgpCollector(board)));
        }
        self
    }

    /// Adds the IPsec gateways' paths (`weft_ipsec_*`), read from `shared`
    /// at every scrape; nothing without `[[ipsec]]`.
    pub(crate) fn with_ipsec(mut self, shared: Option<Arc<crate::ipsec::Shared>>) -> Self {
        if let Some(shared) = shared {
            self.registry.register_collector(Box::new(ipsec::IpsecCollector(shared)));
        }
        self
    }

    /// Adds `weft_mesh_cert_expiry_timestamp_seconds`, read from `links`
    /// (the mesh thread keeps the certificate's expiry there).
    pub(crate) fn with_links(mut self, links: Arc<crate::agent::shared::LinkBoard>) -> Self {
        self.registry.register_collector(Box::new(flood::CertCollector(links)));
        self
    }

    /// One RTT sample from a probe echo (called per echo by the control loop):
    /// RTT histogram.
    pub(crate) fn observe_rtt(&self, path: &PathLabels, rtt: Duration) {
        let secs = rtt.as_secs_f64();
        if let Some(series) = self.shared.read().rtt.get(path) {
            series.histogram.observe(secs);
            return;
        }
        self.shared.write().rtt_series(path).histogram.observe(secs);
    }

    /// Counts one API request (the API's middleware calls this).
    pub(crate) fn count_request(&self, method: &str, route: &str, code: u16) {
        let mut m = self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.entry((method.to_owned(), route.to_owned(), code)).or_default() += 1;
    }

    /// The latest absolute values, called by the control loop every 200 ms;
    /// API request counts kept by [`count_request`](Self::count_request) are
    /// added to whatever `snap` says of them.
    pub(crate) fn update(&self, mut snap: MetricsSnapshot) {
        let m = self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        snap.api_requests.extend(
            m.iter().map(|((method, route, code), n)| (method.clone(), route.clone(), *code, *n)),
        );
        drop(m);
        self.shared.write().apply(&snap);
    }

    /// The text exposition (`OpenMetrics` text as `prometheus-client` encodes
    /// it, ending in `# EOF`) for `GET /metrics`; serve it as [`CONTENT_TYPE`].
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and the collector has no other error.
        let result = text::encode(&mut out, &self.registry);
        debug_assert!(result.is_ok(), "encoding metrics: {result:?}");
        out
    }

    /// The same in the Prometheus text format 0.0.4 (what `promtool check
    /// metrics` and scrapers that do not ask for `OpenMetrics` read); serve
    /// it as [`TEXT_CONTENT_TYPE`].
    pub(crate) fn encode_text(&self) -> String {
        as_text_format(&self.encode())
    }
}

/// Content type of [`Metrics::encode_text`].
pub(crate) const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `OpenMetrics` text as the Prometheus text format 0.0.4 that promtool's
/// parser reads: the only difference in what we emit is that a counter's
/// `HELP`/`TYPE` lines name the family (`weft_failovers`) where 0.0.4 names
/// them after the sample (`weft_failovers_total`). `# UNIT` and `# EOF` are
/// comments to that parser.
fn as_text_format(openmetrics: &str) -> String {
    use std::collections::BTreeSet;
    let counters: BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::new();
    for line in openmetrics.lines() {
        // `# UNIT` and `# EOF` are OpenMetrics only.
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|kw| {
            let (name, rest) = line.strip_prefix(kw)?.split_once(' ')?;
            counters.contains(name).then(|| format!("{kw}{name}_total {rest}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}
