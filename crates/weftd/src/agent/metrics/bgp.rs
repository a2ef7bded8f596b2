//! `weft_bgp_*`: the BGP speaker (`[bgp]`), read from the board its thread
//! publishes to (every second) at scrape time: each session's state, how
//! many prefixes are announced, how many learnt ones were accepted and
//! refused.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use super::collect::family;
use super::series::Labels;
use crate::bgp::BgpBoard;

/// Encodes `weft_bgp_*`.
pub(super) struct BgpCollector(pub(super) Arc<BgpBoard>);

impl fmt::Debug for BgpCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BgpCollector")
    }
}

fn gauge(n: usize) -> ConstGauge {
    ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Collector for BgpCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut enc;
        let s = self.0.get();
        let sessions: Vec<_> = s
            .neighbors
            .iter()
            .map(|n| (Labels([("neighbor", n.name.clone())]), n.session.starts_with("up")))
            .collect();
        let help = "Whether the BGP session with a neighbor is established (1) or not (0).";
        let rows = sessions.iter().map(|(l, up)| (l, ConstGauge::new(i64::from(*up))));
        family(e, "bgp_session_up", help, None, rows)?;
        let help = "Prefixes announced to the routers now.";
        let descriptor =
            e.encode_descriptor("bgp_announced_prefixes", help, None, MetricType::Gauge)?;
        gauge(s.announced.len()).encode(descriptor)?;
        let accepted = s.learnt.iter().filter(|l| l.accepted).count();
        let states = [
            (Labels([("state", "accepted".to_owned())]), accepted),
            (Labels([("state", "refused".to_owned())]), s.learnt.len() - accepted),
        ];
        let help = "Prefixes learnt from the routers, accepted as the site's or refused.";
        let rows = states.iter().map(|(l, n)| (l, gauge(*n)));
        family(e, "bgp_learnt_prefixes", help, None, rows)
    }
}
