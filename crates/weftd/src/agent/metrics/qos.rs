//! `weft_qos_*`: the QoS scheduler's lanes, read from the board the send
//! thread publishes to (every 250 ms) at scrape time.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::collect::family;
use super::series::Labels;
use crate::agent::qos::QosBoard;

/// Encodes `weft_qos_*`.
#[derive(Debug)]
pub(super) struct QosCollector(pub(super) Arc<QosBoard>);

impl Collector for QosCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut enc;
        let stats = self.0.stats();
        let uplinks: Vec<_> = stats
            .iter()
            .map(|u| (Labels([("uplink", u.uplink.clone())]), u.capacity_bps, u.shaped_bps))
            .collect();
        let help = "Configured capacity of a shaped uplink, bits per second.";
        let rows = uplinks
            .iter()
            .map(|(l, c, _)| (l, ConstGauge::new(i64::try_from(*c).unwrap_or(i64::MAX))));
        family(e, "qos_capacity_bps", help, None, rows)?;
        let help = "The rate the QoS shaper sends at on the uplink, bits per second.";
        let rows = uplinks
            .iter()
            .map(|(l, _, s)| (l, ConstGauge::new(i64::try_from(*s).unwrap_or(i64::MAX))));
        family(e, "qos_shaped_bps", help, None, rows)?;
        let lanes: Vec<_> = stats
            .iter()
            .flat_map(|u| {
                u.lanes.iter().map(|l| {
                    let labels = Labels([
                        ("uplink", u.uplink.clone()),
                        ("lane", l.name.clone()),
                        ("class", l.class.clone()),
                    ]);
                    (labels, l.clone())
                })
            })
            .collect();
        let help = "Bytes queued in a lane now (wire size).";
        let rows = lanes
            .iter()
            .map(|(l, s)| (l, ConstGauge::new(i64::try_from(s.queued_bytes).unwrap_or(i64::MAX))));
        family(e, "qos_queue_bytes", help, None, rows)?;
        let help = "Bytes a lane sent (wire size).";
        let rows = lanes.iter().map(|(l, s)| (l, ConstCounter::new(s.sent_bytes)));
        family(e, "qos_sent_bytes", help, None, rows)?;
        let help = "Packets a lane sent.";
        let rows = lanes.iter().map(|(l, s)| (l, ConstCounter::new(s.sent_packets)));
        family(e, "qos_sent_packets", help, None, rows)?;
        let help = "Packets dropped because the lane was full (tail drop).";
        let rows = lanes.iter().map(|(l, s)| (l, ConstCounter::new(s.dropped_packets)));
        family(e, "qos_dropped_packets", help, None, rows)?;
        let help = "Bytes dropped because the lane was full.";
        let rows = lanes.iter().map(|(l, s)| (l, ConstCounter::new(s.dropped_bytes)));
        family(e, "qos_dropped_bytes", help, None, rows)?;
        let setup = self.0.setup();
        let reserved: Vec<_> = setup
            .reservations
            .iter()
            .map(|r| {
                let uplink = setup.uplink_names.get(r.uplink).cloned().unwrap_or_default();
                let labels = Labels([
                    ("id", r.id.clone()),
                    ("to", r.to.clone()),
                    ("class", r.class.clone()),
                    ("uplink", uplink),
                ]);
                (labels, r.rate_bps)
            })
            .collect();
        let help = "Rate an admitted bandwidth reservation holds, bits per second.";
        let rows = reserved
            .iter()
            .map(|(l, r)| (l, ConstGauge::new(i64::try_from(*r).unwrap_or(i64::MAX))));
        family(e, "qos_reservation_bps", help, None, rows)?;
        let states: Vec<_> = self
            .0
            .reservation_states()
            .into_iter()
            .map(|(state, n)| (Labels([("state", state)]), n))
            .collect();
        let help = "Reservations as this site lists them (its own, then every mesh-wide one) by state: admitted, preempted, waiting (admitted mesh-wide, its source has no uplink with room yet).";
        let rows =
            states.iter().map(|(l, n)| (l, ConstGauge::new(i64::try_from(*n).unwrap_or(i64::MAX))));
        family(e, "qos_reservations", help, None, rows)
    }
}
