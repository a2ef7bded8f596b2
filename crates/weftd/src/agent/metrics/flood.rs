//! `weft_flood_*` (read from the flood shield at scrape time) and
//! `weft_mesh_cert_expiry_timestamp_seconds` (from the mesh thread's board).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::collect::family;
use super::series::Labels;
use crate::agent::shared::LinkBoard;
use crate::flood::FloodShield;

/// Encodes `weft_flood_*`.
#[derive(Debug)]
pub(super) struct FloodCollector(pub(super) Arc<FloodShield>);

/// Encodes the mesh certificate's expiry (absent outside a mesh).
#[derive(Debug)]
pub(super) struct CertCollector(pub(super) Arc<LinkBoard>);

/// No labels.
static NONE: Labels<0> = Labels([]);

impl Collector for FloodCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let s = &self.0;
        let e = &mut enc;
        let dropped: Vec<_> =
            s.dropped().into_iter().map(|(r, n)| (Labels([("reason", r.to_owned())]), n)).collect();
        let help = "Datagrams dropped before any crypto, by reason: junk (not WireGuard), \
                    bad_mac1, rate_source (over the per-source limit), cookie_required (under \
                    load without a valid cookie).";
        let rows = dropped.iter().map(|(l, n)| (l, ConstCounter::new(*n)));
        family(e, "flood_dropped", help, None, rows)?;
        let help = "WireGuard handshake initiations received.";
        let rows = [(&NONE, ConstCounter::new(s.inits.load(Relaxed)))];
        family(e, "flood_handshake_inits", help, None, rows)?;
        let help = "Cookie replies sent to initiations while under load.";
        let rows = [(&NONE, ConstCounter::new(s.cookie_replies.load(Relaxed)))];
        family(e, "flood_cookie_replies", help, None, rows)?;
        let help = "1 while handshake initiations exceed the global rate (cookies required).";
        let rows = [(&NONE, ConstGauge::new(i64::from(s.under_load())))];
        family(e, "flood_under_load", help, None, rows)?;

        let view = s.view.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let dests: Vec<_> = view
            .destinations
            .iter()
            .map(|d| (Labels([("dest", d.dest.clone())]), d.pps, d.baseline_pps))
            .collect();
        let help = "Datagrams per second received on the destination (an uplink, or inner packets toward a prefix of the site) over the last second.";
        let rows = dests.iter().map(|(l, p, _)| (l, ConstGauge::new(*p)));
        family(e, "flood_dest_packets_per_second", help, None, rows)?;
        let help = "Learnt baseline of the destination's datagrams per second.";
        let rows = dests.iter().map(|(l, _, b)| (l, ConstGauge::new(*b)));
        family(e, "flood_dest_baseline_packets_per_second", help, None, rows)?;
        let counts: Vec<_> = s
            .all_dest_names()
            .map(|d| {
                let n = view.detection_counts.iter().find(|(x, _)| x == d).map_or(0, |(_, n)| *n);
                (Labels([("dest", d.clone())]), n)
            })
            .collect();
        let help = "Flood anomalies detected, by destination.";
        let rows = counts.iter().map(|(l, n)| (l, ConstCounter::new(*n)));
        family(e, "flood_detections", help, None, rows)?;
        if let Some(m) = &view.mitigation {
            let help = "Datagrams dropped by the nftables flood set.";
            let rows = [(&NONE, ConstCounter::new(m.dropped_packets))];
            family(e, "flood_nft_dropped_packets", help, None, rows)?;
            let help = "Sources in the nftables flood set.";
            let rows =
                [(&NONE, ConstGauge::new(i64::try_from(m.blocked.len()).unwrap_or(i64::MAX)))];
            family(e, "flood_nft_set_elements", help, None, rows)?;
        }
        Ok(())
    }
}

impl Collector for CertCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let not_after = self.0.cert_not_after.load(Relaxed);
        if not_after == 0 {
            return Ok(());
        }
        let help = "When this site's mesh certificate expires, Unix seconds.";
        let rows = [(&NONE, ConstGauge::new(i64::try_from(not_after).unwrap_or(i64::MAX)))];
        family(&mut enc, "mesh_cert_expiry_timestamp_seconds", help, None, rows)
    }
}
