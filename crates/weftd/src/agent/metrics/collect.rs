//! The collector: the latest snapshot and the RTT histograms behind one lock,
//! encoded as constant counters, constant gauges and live histograms.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Unit;

use super::series::{Counters, Labels, by_one, summed};
use super::{
    FORGET_AFTER, MetricsSnapshot, PathLabels, PathSnapshot, RTT_BUCKET_FACTOR, RTT_BUCKET_START,
    RTT_BUCKETS,
};

/// A path's RTT histogram.
#[derive(Debug)]
pub(super) struct RttSeries {
    /// The observations.
    pub(super) histogram: Histogram,
    /// Generation of the last update that listed the path (or of its creation).
    seen: u64,
}

/// Everything encoded, behind one lock.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Number of updates so far.
    generation: u64,
    /// The latest snapshot's paths, one per label set, sorted.
    paths: Vec<PathSnapshot>,
    /// RTT histograms.
    pub(super) rtt: BTreeMap<PathLabels, RttSeries>,
    /// Probes sent, probes lost, tx bytes, rx bytes, tx packets, rx packets.
    path_counters: [Counters<PathLabels>; 6],
    /// Failovers by reason.
    failovers: Counters<Labels<1>>,
    /// Drops by reason.
    drops: Counters<Labels<1>>,
    /// Offloads by kind, 1 or 0.
    offloads: Vec<(Labels<1>, u64)>,
    /// Mesh gossip and enrolment, by event.
    mesh: Counters<Labels<1>>,
    /// Denied packets by rule.
    denied: Counters<Labels<1>>,
    /// Handshakes by peer.
    handshakes: Counters<Labels<1>>,
    /// API requests by method, route and code.
    api_requests: Counters<Labels<3>>,
    /// Sites by state.
    members: Vec<(Labels<1>, u64)>,
    /// Policy name label and version (none before the first update).
    policy: Option<(Labels<1>, u64)>,
}

impl State {
    /// The RTT histogram of `path`, created (shown until the next update) if new.
    pub(super) fn rtt_series(&mut self, path: &PathLabels) -> &RttSeries {
        let seen = self.generation;
        self.rtt.entry(path.clone()).or_insert_with(|| RttSeries {
            histogram: Histogram::new(exponential_buckets(
                RTT_BUCKET_START,
                RTT_BUCKET_FACTOR,
                RTT_BUCKETS,
            )),
            seen,
        })
    }

    /// Takes in the latest snapshot: it becomes what is shown.
    pub(super) fn apply(&mut self, snap: &MetricsSnapshot) {
        self.generation += 1;
        let generation = self.generation;

        let mut paths: BTreeMap<&PathLabels, &PathSnapshot> = BTreeMap::new();
        for p in &snap.paths {
            paths.entry(&p.labels).or_insert(p);
        }
        for (labels, p) in &paths {
            let totals = [p.probes_sent, p.probes_lost, p.tx_bytes, p.rx_bytes];
            let totals = totals.into_iter().chain([p.tx_packets, p.rx_packets]);
            for (counters, total) in self.path_counters.iter_mut().zip(totals) {
                counters.set(labels, total, generation);
            }
            if let Some(series) = self.rtt.get_mut(*labels) {
                series.seen = generation;
            }
        }
        self.paths = paths.into_values().cloned().collect();

        self.failovers.set_all(by_one("reason", &snap.failovers), generation);
        self.drops.set_all(by_one("reason", &snap.drops), generation);
        self.mesh.set_all(by_one("event", &snap.mesh), generation);
        self.denied.set_all(by_one("rule", &snap.policy_denied), generation);
        self.handshakes.set_all(by_one("peer", &snap.handshakes), generation);
        let requests = snap.api_requests.iter().map(|(method, route, code, n)| {
            let labels =
                [("method", method.clone()), ("route", route.clone()), ("code", code.to_string())];
            (Labels(labels), *n)
        });
        self.api_requests.set_all(requests, generation);
        self.members = summed(by_one("state", &snap.members)).into_iter().collect();
        self.offloads = by_one("kind", &snap.offloads).collect();
        self.policy = Some((Labels([("name", snap.policy_name.clone())]), snap.policy_version));

        for counters in &mut self.path_counters {
            counters.sweep(generation);
        }
        for counters in [
            &mut self.failovers,
            &mut self.drops,
            &mut self.mesh,
            &mut self.denied,
            &mut self.handshakes,
        ] {
            counters.sweep(generation);
        }
        self.api_requests.sweep(generation);
        self.rtt.retain(|_, s| generation - s.seen <= FORGET_AFTER);
    }
}

/// The collector: the state shared with [`Metrics`](super::Metrics).
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// The latest values.
    state: RwLock<State>,
}

impl Shared {
    /// Reads the state (a panic elsewhere leaves it consistent enough to show).
    pub(super) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the state.
    pub(super) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Names (after `weft_`, before the unit) and help of the per-path counters,
/// in [`State::path_counters`] order.
const PATH_COUNTERS: [(&str, &str, Option<Unit>); 6] = [
    ("path_probes_sent", "Probes sent on the path.", None),
    ("path_probes_lost", "Probes declared lost on the path.", None),
    ("path_tx", "Bytes sent on the path by the data plane.", Some(Unit::Bytes)),
    ("path_rx", "Bytes received on the path by the data plane.", Some(Unit::Bytes)),
    ("path_tx_packets", "Packets sent on the path by the data plane.", None),
    ("path_rx_packets", "Packets received on the path by the data plane.", None),
];

impl Collector for Shared {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let state = self.read();
        let generation = state.generation;
        let e = &mut enc;
        let seconds = Some(Unit::Seconds);
        let secs = |d: Duration| ConstGauge::new(d.as_secs_f64());
        let int = |n: u64| ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
        let paths = || state.paths.iter();

        let rtt = state.rtt.iter().filter(|(_, s)| s.seen == generation);
        let help = "Round-trip time of each probe echo on the path.";
        family(e, "path_rtt", help, seconds.as_ref(), rtt.map(|(k, s)| (k, s.histogram.clone())))?;
        let srtt = paths().filter_map(|p| Some((&p.labels, secs(p.rtt?))));
        let help = "Smoothed round-trip time of the path (absent before the first echo).";
        family(e, "path_srtt", help, seconds.as_ref(), srtt)?;
        let jitter = paths().map(|p| (&p.labels, secs(p.jitter)));
        family(e, "path_jitter", "RFC 3550 jitter of the path.", seconds.as_ref(), jitter)?;
        let loss =
            paths().filter(|p| p.loss.is_finite()).map(|p| (&p.labels, ConstGauge::new(p.loss)));
        let help = "Probe loss of the path over the short window (0 to 1).";
        family(e, "path_loss_ratio", help, None, loss)?;
        let state_code = paths().map(|p| (&p.labels, int(p.state.into())));
        let help = "Path state: 0 down, 1 init, 2 up, 3 degraded.";
        family(e, "path_state", help, None, state_code)?;
        let up = paths().map(|p| (&p.labels, int(u64::from(matches!(p.state, 2 | 3)))));
        family(e, "path_up", "1 when the path is up or degraded, else 0.", None, up)?;
        for ((name, help, unit), counters) in PATH_COUNTERS.iter().zip(&state.path_counters) {
            family(e, name, help, unit.as_ref(), counters.rows(generation))?;
        }
        let flows = paths().map(|p| (&p.labels, int(p.flows)));
        family(e, "path_flows", "Flows currently sent on the path.", None, flows)?;

        let rows = state.failovers.rows(generation);
        family(e, "failovers", "Class failovers, by reason.", None, rows)?;
        let rows = state.drops.rows(generation);
        family(e, "dropped_packets", "Dropped input packets, by reason.", None, rows)?;
        let rows = state.offloads.iter().map(|(k, n)| (k, int(*n)));
        let help = "Data-plane kernel offloads, by kind (tun_tso, tun_uso, udp_gso, udp_gro): \
                    1 in use, 0 switched off or missing from the kernel.";
        family(e, "dataplane_offload", help, None, rows)?;
        let rows = state.mesh.rows(generation);
        let help = "Mesh events, by kind: gossip datagrams in and out, refusals (unauthenticated, \
                    replayed, rate limited, malformed, certificates), packets relayed for others.";
        family(e, "mesh_events", help, None, rows)?;
        let rows = state.denied.rows(generation);
        let help = "Packets dropped by the running policy, by the rule that denied them.";
        family(e, "policy_denied_packets", help, None, rows)?;
        let help = "Version of the running policy (0: built in), labelled with its name.";
        let rows = state.policy.as_ref().map(|(name, version)| (name, int(*version)));
        family(e, "policy_version", help, None, rows)?;
        let rows = state.handshakes.rows(generation);
        family(e, "tunnel_handshakes", "Completed tunnel handshakes, by peer.", None, rows)?;
        let rows = state.members.iter().map(|(k, n)| (k, int(*n)));
        family(e, "members", "Sites of the mesh, by state.", None, rows)?;
        let rows = state.api_requests.rows(generation);
        let help = "API requests served, by method, route template and status code.";
        family(e, "api_requests", help, None, rows)
    }
}

/// Encodes one metric family, or nothing when it has no series.
pub(super) fn family<'r, K, M>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: impl IntoIterator<Item = (&'r K, M)>,
) -> fmt::Result
where
    K: EncodeLabelSet + 'r,
    M: EncodeMetric + TypedMetric,
{
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit, M::TYPE)?;
    for (labels, m) in rows {
        m.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}
