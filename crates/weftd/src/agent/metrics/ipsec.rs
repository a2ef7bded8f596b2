//! `weft_ipsec_*`: the IPsec gateways' paths (`[[ipsec]]`), read at scrape
//! time from what the agent's IPsec threads last published (SAs every
//! second, probes every 100 ms).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::collect::family;
use super::series::Labels;
use crate::ipsec::Shared;

/// Encodes `weft_ipsec_*`.
#[derive(Debug)]
pub(super) struct IpsecCollector(pub(super) Arc<Shared>);

impl Collector for IpsecCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut enc;
        let gws: Vec<_> = self
            .0
            .gateways()
            .into_iter()
            .map(|g| (Labels([("gateway", g.name.clone())]), g))
            .collect();
        let flag = |b: bool| ConstGauge::new(i64::from(b));
        let help = "1 while the gateway's CHILD_SA is installed in charon.";
        family(
            e,
            "ipsec_sa_installed",
            help,
            None,
            gws.iter().map(|(l, g)| (l, flag(g.installed))),
        )?;
        let help = "1 while the gateway's path is alive (CHILD_SA installed, probes answered).";
        family(e, "ipsec_path_alive", help, None, gws.iter().map(|(l, g)| (l, flag(g.alive))))?;
        let help = "1 while best-effort traffic to the gateway's remote prefixes goes over IPsec (0: to the WireGuard site).";
        let rows = gws.iter().map(|(l, g)| (l, flag(g.route == "ipsec")));
        family(e, "ipsec_routed", help, None, rows)?;
        let classes: Vec<_> = gws
            .iter()
            .flat_map(|(_, g)| {
                g.classes.iter().map(|c| {
                    let labels =
                        Labels([("gateway", g.name.clone()), ("profile", c.profile.clone())]);
                    (labels, c.route == "ipsec")
                })
            })
            .collect();
        let help =
            "1 while the route profile's traffic to the gateway's remote prefixes goes over IPsec.";
        family(e, "ipsec_class_routed", help, None, classes.iter().map(|(l, b)| (l, flag(*b))))?;
        let help =
            "Packets the data plane handed to the gateway's tunnel (classes routed over IPsec).";
        let rows = gws.iter().map(|(l, g)| (l, ConstCounter::new(g.steered_packets)));
        family(e, "ipsec_steered_packets", help, None, rows)?;
        let help = "Bytes the data plane handed to the gateway's tunnel.";
        let rows = gws.iter().map(|(l, g)| (l, ConstCounter::new(g.steered_bytes)));
        family(e, "ipsec_steered_bytes", help, None, rows)?;
        let help = "Packets for the gateway's prefixes dropped by the steering (strict class without a path, tunnel device gone or full).";
        let rows = gws.iter().map(|(l, g)| (l, ConstCounter::new(g.steer_dropped)));
        family(e, "ipsec_steer_dropped_packets", help, None, rows)?;
        let help = "Jitter of the probes through the tunnel (RFC 3550), seconds.";
        let rows = gws.iter().map(|(l, g)| (l, ConstGauge::new(g.jitter_ms / 1000.0)));
        family(e, "ipsec_probe_jitter_seconds", help, None, rows)?;
        let help = "Smoothed RTT of the ICMP probes through the tunnel, seconds.";
        let rows =
            gws.iter().filter_map(|(l, g)| g.rtt_ms.map(|ms| (l, ConstGauge::new(ms / 1000.0))));
        family(e, "ipsec_probe_rtt_seconds", help, None, rows)?;
        let help = "Lost probes among the last 20, as a ratio.";
        let rows = gws.iter().map(|(l, g)| (l, ConstGauge::new(g.loss_pct / 100.0)));
        family(e, "ipsec_probe_loss_ratio", help, None, rows)?;
        let help = "Bytes into the site through the CHILD_SA (since it was installed).";
        family(
            e,
            "ipsec_in_bytes",
            help,
            None,
            gws.iter().map(|(l, g)| (l, ConstCounter::new(g.bytes_in))),
        )?;
        let help = "Bytes out of the site through the CHILD_SA (since it was installed).";
        family(
            e,
            "ipsec_out_bytes",
            help,
            None,
            gws.iter().map(|(l, g)| (l, ConstCounter::new(g.bytes_out))),
        )?;
        let help = "Packets into the site through the CHILD_SA.";
        let rows = gws.iter().map(|(l, g)| (l, ConstCounter::new(g.packets_in)));
        family(e, "ipsec_in_packets", help, None, rows)?;
        let help = "Packets out of the site through the CHILD_SA.";
        let rows = gws.iter().map(|(l, g)| (l, ConstCounter::new(g.packets_out)));
        family(e, "ipsec_out_packets", help, None, rows)?;
        let help = "Moves of the gateway's prefixes between IPsec and WireGuard.";
        let rows = gws.iter().map(|(l, g)| (l, ConstCounter::new(g.changes)));
        family(e, "ipsec_route_changes", help, None, rows)?;
        let help = "Times the agent started its charon (1, plus restarts).";
        let none = Labels::<0>([]);
        family(
            e,
            "ipsec_charon_starts",
            help,
            None,
            [(&none, ConstCounter::new(self.0.charon_starts()))],
        )
    }
}
