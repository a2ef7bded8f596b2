//! The control plane's metrics, read from its shared state at scrape time:
//! this controller's role, epoch, lease age and fenced writes, the mesh-wide
//! policy version in force and what the site did with publications, the
//! SVIDs it signed for sites.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::collect::family;
use super::series::Labels;
use crate::controlplane::PlaneState;

/// Encodes `weft_control_*` and `weft_mesh_policy_*`.
#[derive(Debug)]
pub(super) struct PlaneCollector(pub(super) Arc<PlaneState>);

/// One metric without labels, if `value` is there.
fn single<M: EncodeMetric + TypedMetric>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: Option<M>,
) -> fmt::Result {
    match value {
        Some(m) => m.encode(e.encode_descriptor(name, help, unit, M::TYPE)?),
        None => Ok(()),
    }
}

fn int(n: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Collector for PlaneCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let v = self.0.view();
        let e = &mut enc;
        if let Some(id) = &v.id {
            let me = Labels([("id", id.clone())]);
            let help = "1 while this controller leads the control plane, else 0.";
            family(e, "control_leader", help, None, [(&me, int(u64::from(v.role == "leader")))])?;
            let help =
                "Epoch of the leader this controller knows (the leader key's create revision).";
            single(e, "control_epoch", help, None, v.epoch.map(int))?;
            let help = "Since this controller's last lease renewal that succeeded.";
            let age = v.lease_age_ms.map(|ms| ConstGauge::new(ms as f64 / 1000.0));
            single(e, "control_lease_age", help, Some(&Unit::Seconds), age)?;
            let help = "Store revision of this controller's last fenced write.";
            let rev = v.last_fenced_write_revision.map(int);
            single(e, "control_last_fenced_write_revision", help, None, rev)?;
            let help = "Fenced writes the store refused: this controller had lost the lead.";
            let refused = Some(ConstCounter::new(v.fenced_refused));
            single(e, "control_fenced_refused", help, None, refused)?;
            let svids = &self.0.svids;
            let rows = [
                ("issued", svids.issued.load(std::sync::atomic::Ordering::Relaxed)),
                ("refused", svids.refused.load(std::sync::atomic::Ordering::Relaxed)),
            ]
            .map(|(k, n)| (Labels([("outcome", k.to_owned())]), n));
            let help = "SVIDs this controller signed or refused for sites while leading.";
            family(
                e,
                "control_svids",
                help,
                None,
                rows.iter().map(|(l, n)| (l, ConstCounter::new(*n))),
            )?;
        }
        let help = "Mesh-wide policy version in force on this site (absent: none received).";
        single(e, "mesh_policy_version", help, None, v.policy.as_ref().map(|p| int(p.version)))?;
        let b = &v.bundles;
        let outcomes = [
            ("installed", b.installed),
            ("already_running", b.already_running),
            ("duplicate", b.duplicates),
            ("stale_refused", b.stale_refused),
            ("not_for_us", b.not_for_us),
            ("install_failed", b.install_failed),
        ]
        .map(|(k, n)| (Labels([("outcome", k.to_owned())]), n));
        let help = "Mesh-wide policy publications received, by outcome (stale_refused: older than one already accepted).";
        family(
            e,
            "mesh_policy_publications",
            help,
            None,
            outcomes.iter().map(|(l, n)| (l, ConstCounter::new(*n))),
        )?;
        gtm(e, &self.0.gtm)
    }
}

/// `weft_gtm_*`: answers by service, endpoint and region, other DNS
/// outcomes, endpoint health, shifts.
fn gtm(e: &mut DescriptorEncoder<'_>, g: &crate::gtm::GtmState) -> fmt::Result {
    use std::sync::atomic::Ordering::Relaxed;
    let seq = g.seq();
    if seq == 0 && g.zone.get().is_none() {
        return Ok(());
    }
    let help = "Sequence of the GTM document in force on this site (the control store revision).";
    single(e, "gtm_document_seq", help, None, Some(int(seq)))?;
    let answers: Vec<(Labels<3>, u64)> = g
        .answers()
        .into_iter()
        .map(|((svc, ep, region), n)| {
            let ep = if ep.is_empty() { "none".to_owned() } else { ep };
            (Labels([("name", svc), ("answer", ep), ("region", region)]), n)
        })
        .collect();
    let help = "DNS answers for global services, by service, endpoint answered (none: no address of the asked type) and client region.";
    family(e, "gtm_answers", help, None, answers.iter().map(|(l, n)| (l, ConstCounter::new(*n))))?;
    if g.zone.get().is_some() {
        let o = &g.outcomes;
        let rows = [
            ("nxdomain", o.nxdomain.load(Relaxed)),
            ("nodata", o.nodata.load(Relaxed)),
            ("refused", o.refused.load(Relaxed)),
            ("formerr", o.formerr.load(Relaxed)),
            ("notimp", o.notimp.load(Relaxed)),
            ("servfail", o.servfail.load(Relaxed)),
        ]
        .map(|(k, n)| (Labels([("outcome", k.to_owned())]), n));
        let help = "DNS queries not answered with an address, by outcome.";
        family(
            e,
            "gtm_dns_other",
            help,
            None,
            rows.iter().map(|(l, n)| (l, ConstCounter::new(*n))),
        )?;
    }
    let health: Vec<(Labels<2>, bool)> = g
        .health
        .all()
        .into_iter()
        .map(|((svc, ep), ok)| (Labels([("service", svc), ("endpoint", ep)]), ok))
        .collect();
    let help = "1 while a global service's endpoint passes its health checks from this site.";
    family(
        e,
        "gtm_endpoint_healthy",
        help,
        None,
        health.iter().map(|(l, ok)| (l, int(u64::from(*ok)))),
    )?;
    let doc = g.doc();
    let shifts: Vec<(Labels<4>, f64)> = doc
        .shifts
        .iter()
        .filter(|s| s.is_active())
        .map(|s| {
            let pct = match &s.kind {
                weft_gtm::ShiftKind::Drain { .. } => f64::from(s.drain_permille()) / 10.0,
                _ => s.share_permille().map_or(0.0, |p| f64::from(p) / 10.0),
            };
            let l = Labels([
                ("shift", s.id.clone()),
                ("service", s.service.clone().unwrap_or_default()),
                ("kind", s.kind.name().to_owned()),
                ("state", s.state.name().to_owned()),
            ]);
            (l, pct)
        })
        .collect();
    let help = "Active traffic shifts: the new version's share (canary, blue/green) or the drained endpoints' remaining weight (drain), percent.";
    family(e, "gtm_shift_percent", help, None, shifts.iter().map(|(l, p)| (l, ConstGauge::new(*p))))
}
