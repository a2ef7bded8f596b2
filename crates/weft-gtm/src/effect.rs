//! What a document's shifts do to one service right now.

use crate::model::{Endpoint, GlobalService, GtmDoc};
use crate::shift::{ShiftKind, Target};

/// Traffic split between two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSplit {
    /// The old version.
    pub stable: String,
    /// The new one.
    pub next: String,
    /// The new one's share, permille.
    pub next_permille: u16,
    /// The shift doing it.
    pub shift: String,
}

/// A service's effective state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Each endpoint's weight after drains (same order as the service's).
    pub weights: Vec<u32>,
    /// Endpoints a drain holds (same order), with the draining shift.
    pub drained_by: Vec<Option<String>>,
    /// The split of a running canary or blue/green, if any.
    pub split: Option<VersionSplit>,
    /// The version serving outside a split (none: every version).
    pub serving: Option<String>,
}

fn targets(t: &Target, e: &Endpoint) -> bool {
    match t {
        Target::Site(s) => e.site == *s,
        Target::Region(r) => e.region == *r,
    }
}

/// The effect of `doc`'s active shifts on `svc`.
pub fn effect(doc: &GtmDoc, svc: &GlobalService) -> Effect {
    let mut weights: Vec<u32> = svc.endpoints.iter().map(|e| e.weight).collect();
    let mut drained_by = vec![None; svc.endpoints.len()];
    let mut split = None;
    for sh in doc.shifts.iter().filter(|s| s.is_active()) {
        if sh.service.as_ref().is_some_and(|n| *n != svc.name) {
            continue;
        }
        match &sh.kind {
            ShiftKind::Drain { target, .. } => {
                let f = sh.drain_permille();
                for (i, e) in svc.endpoints.iter().enumerate() {
                    if targets(target, e) {
                        weights[i] = (u64::from(weights[i]) * u64::from(f) / 1000) as u32;
                        drained_by[i] = Some(sh.id.clone());
                    }
                }
            }
            ShiftKind::BlueGreen { from, to, .. } => {
                if let Some(p) = sh.share_permille() {
                    split = Some(VersionSplit {
                        stable: from.clone(),
                        next: to.clone(),
                        next_permille: p,
                        shift: sh.id.clone(),
                    });
                }
            }
            ShiftKind::Canary(c) => {
                if let Some(p) = sh.share_permille() {
                    split = Some(VersionSplit {
                        stable: c.stable.clone(),
                        next: c.canary.clone(),
                        next_permille: p,
                        shift: sh.id.clone(),
                    });
                }
            }
        }
    }
    Effect { weights, drained_by, split, serving: svc.serving.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shift::{Shift, ShiftCommand};

    fn svc() -> GlobalService {
        let ep = |id: &str, site: &str, region: &str, version: &str| Endpoint {
            id: id.into(),
            site: site.into(),
            region: region.into(),
            address: "10.0.0.1".parse().unwrap(),
            port: 80,
            weight: 100,
            capacity_qps: 0,
            version: version.into(),
        };
        GlobalService {
            name: "app".into(),
            endpoints: vec![
                ep("a", "a", "eu", "v1"),
                ep("b", "b", "us", "v1"),
                ep("c", "b", "us", "v2"),
            ],
            ttl: None,
            serving: Some("v1".into()),
            check: None,
            anycast: None,
        }
    }

    #[test]
    fn a_region_drain_scales_only_that_regions_endpoints() {
        let mut doc = GtmDoc::default();
        let kind =
            ShiftKind::Drain { target: Target::Region("us".into()), step_pct: 25, step_ms: 1_000 };
        let mut s = Shift::new("s1".into(), None, kind, "op", 0).unwrap();
        s.tick(1_000, None);
        doc.shifts.push(s);
        let e = effect(&doc, &svc());
        assert_eq!(e.weights, vec![100, 75, 75]);
        assert_eq!(e.drained_by, vec![None, Some("s1".into()), Some("s1".into())]);
        doc.shifts[0].command(ShiftCommand::Abort, "op", 2_000).unwrap();
        assert_eq!(effect(&doc, &svc()).weights, vec![100, 100, 100]);
    }

    #[test]
    fn a_running_canary_splits_and_a_finished_one_does_not() {
        let mut doc = GtmDoc::default();
        let spec = crate::shift::CanarySpec {
            stable: "v1".into(),
            canary: "v2".into(),
            steps: vec![10, 100],
            step_ms: 1_000,
            slo: crate::shift::SloSpec { max_error_pct: 1.0, max_latency_ms: 100, min_samples: 1 },
        };
        doc.shifts.push(
            Shift::new("s1".into(), Some("app".into()), ShiftKind::Canary(spec), "op", 0).unwrap(),
        );
        let e = effect(&doc, &svc());
        assert_eq!(e.split.as_ref().map(|s| s.next_permille), Some(100));
        doc.shifts[0].command(ShiftCommand::Abort, "op", 1).unwrap();
        assert_eq!(effect(&doc, &svc()).split, None);
    }
}
