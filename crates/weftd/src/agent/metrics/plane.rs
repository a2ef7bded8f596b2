//! The control plane's metrics, read from its shared state at scrape time:
//! this controller's role, epoch, lease age and fenced writes, the mesh-wide
//! policy version in force and what the site did with publications.

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
        )
    }
}
