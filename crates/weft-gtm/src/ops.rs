//! Changes to a [`GtmDoc`]: starting shifts, operator commands and the
//! leader's ticks. Each applies a finished canary's or switch's outcome to
//! its service's serving version, so the document alone says what serves.

use crate::model::{GtmDoc, ModelError};
use crate::shift::{Shift, ShiftCommand, ShiftError, ShiftKind, SloSample, Target};

/// Why a document change was refused. Nothing changes on a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The service or shift named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the document (a running split, a missing version).
    #[error("{0}")]
    Conflict(String),
    /// The shift was refused.
    #[error(transparent)]
    Shift(#[from] ShiftError),
    /// The service was refused.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// One shift that changed in a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticked {
    /// The shift.
    pub id: String,
    /// Its state's name after the tick.
    pub state: &'static str,
    /// Its newest history line.
    pub line: String,
}

impl GtmDoc {
    /// Starts a shift; its id.
    pub fn start_shift(
        &mut self,
        service: Option<String>,
        kind: ShiftKind,
        actor: &str,
        now_ms: i64,
    ) -> Result<String, OpError> {
        if let Some(name) = &service {
            let svc = self
                .services
                .get(name)
                .ok_or_else(|| OpError::NotFound(format!("no global service {name:?}")))?;
            let versions = svc.versions();
            let need: Vec<&String> = match &kind {
                ShiftKind::BlueGreen { from, to, .. } => vec![from, to],
                ShiftKind::Canary(c) => vec![&c.stable, &c.canary],
                ShiftKind::Drain { .. } => Vec::new(),
            };
            if let Some(v) = need.iter().find(|v| !versions.contains(v.as_str())) {
                return Err(OpError::Conflict(format!(
                    "service {name:?} has no endpoint of version {v:?} (it has {versions:?})"
                )));
            }
            if !matches!(kind, ShiftKind::Drain { .. })
                && let Some(other) = self.shifts.iter().find(|s| {
                    s.is_active()
                        && s.service.as_deref() == Some(name)
                        && !matches!(s.kind, ShiftKind::Drain { .. })
                })
            {
                return Err(OpError::Conflict(format!(
                    "service {name:?} already has a running {} ({}); abort it first",
                    other.kind.name(),
                    other.id
                )));
            }
        }
        if let ShiftKind::Drain { target, .. } = &kind {
            let hit = self
                .services
                .values()
                .filter(|s| service.as_ref().is_none_or(|n| *n == s.name))
                .any(|s| {
                    s.endpoints.iter().any(|e| match target {
                        Target::Site(x) => e.site == *x,
                        Target::Region(r) => e.region == *r,
                    })
                });
            if !hit {
                return Err(OpError::NotFound(format!(
                    "no endpoint matches the drain target ({target})"
                )));
            }
        }
        self.next_shift += 1;
        let id = format!("s{}", self.next_shift);
        let shift = Shift::new(id.clone(), service, kind, actor, now_ms)?;
        self.shifts.push(shift);
        self.trim();
        Ok(id)
    }

    /// Applies an operator's command to shift `id`.
    pub fn command(
        &mut self,
        id: &str,
        cmd: ShiftCommand,
        actor: &str,
        now_ms: i64,
    ) -> Result<(), OpError> {
        let shift =
            self.shift_mut(id).ok_or_else(|| OpError::NotFound(format!("no shift {id:?}")))?;
        shift.command(cmd, actor, now_ms)?;
        self.settle(id);
        Ok(())
    }

    /// Advances every running shift; `sample` gives a canary's new-version
    /// checks since its step began. The shifts that changed.
    pub fn tick(
        &mut self,
        now_ms: i64,
        sample: &mut dyn FnMut(&Shift) -> Option<SloSample>,
    ) -> Vec<Ticked> {
        let mut changed = Vec::new();
        for i in 0..self.shifts.len() {
            let s = sample(&self.shifts[i]);
            if self.shifts[i].tick(now_ms, s) {
                let sh = &self.shifts[i];
                changed.push(Ticked {
                    id: sh.id.clone(),
                    state: sh.state.name(),
                    line: sh.history.last().map(|(_, l)| l.clone()).unwrap_or_default(),
                });
            }
        }
        for t in &changed {
            self.settle(&t.id);
        }
        changed
    }

    /// When any shift wants its next tick, Unix ms.
    pub fn next_tick_ms(&self) -> Option<i64> {
        self.shifts.iter().filter_map(Shift::next_tick_ms).min()
    }

    /// Writes a finished shift's outcome into its service's serving version.
    fn settle(&mut self, id: &str) {
        let Some(sh) = self.shift(id) else { return };
        let (Some(v), Some(name)) = (sh.outcome_version().map(str::to_owned), sh.service.clone())
        else {
            return;
        };
        if let Some(svc) = self.services.get_mut(&name) {
            svc.serving = Some(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, GlobalService};
    use crate::shift::{CanarySpec, SloSpec};

    fn doc() -> GtmDoc {
        let ep = |id: &str, version: &str| Endpoint {
            id: id.into(),
            site: id.into(),
            region: "r".into(),
            address: "10.0.0.1".parse().unwrap(),
            port: 80,
            weight: 100,
            capacity_qps: 0,
            version: version.into(),
        };
        let mut d = GtmDoc::default();
        d.set_service(GlobalService {
            name: "app".into(),
            endpoints: vec![ep("a", "v1"), ep("b", "v2")],
            ttl: None,
            serving: Some("v1".into()),
            check: None,
            anycast: None,
        })
        .unwrap();
        d
    }

    fn canary() -> ShiftKind {
        ShiftKind::Canary(CanarySpec {
            stable: "v1".into(),
            canary: "v2".into(),
            steps: vec![50, 100],
            step_ms: 1_000,
            slo: SloSpec { max_error_pct: 10.0, max_latency_ms: 100, min_samples: 2 },
        })
    }

    #[test]
    fn a_finished_canary_makes_its_version_the_serving_one() {
        let mut d = doc();
        let id = d.start_shift(Some("app".into()), canary(), "op", 0).unwrap();
        let good = |_: &Shift| Some(SloSample { checks: 5, errors: 0, p99_ms: Some(5) });
        assert_eq!(d.tick(1_000, &mut { good }).len(), 1);
        let t = d.tick(2_000, &mut { good });
        assert_eq!(t[0].state, "done");
        assert_eq!(d.services["app"].serving.as_deref(), Some("v2"));
        assert!(!d.shift(&id).unwrap().is_active());
    }

    #[test]
    fn a_rolled_back_canary_keeps_the_stable_version() {
        let mut d = doc();
        d.start_shift(Some("app".into()), canary(), "op", 0).unwrap();
        let bad = |_: &Shift| Some(SloSample { checks: 5, errors: 5, p99_ms: Some(5) });
        let t = d.tick(500, &mut { bad });
        assert_eq!(t[0].state, "rolled_back");
        assert!(t[0].line.contains("error rate"));
        assert_eq!(d.services["app"].serving.as_deref(), Some("v1"));
    }

    #[test]
    fn two_splits_on_one_service_and_unknown_versions_are_refused() {
        let mut d = doc();
        d.start_shift(Some("app".into()), canary(), "op", 0).unwrap();
        assert!(matches!(
            d.start_shift(Some("app".into()), canary(), "op", 0),
            Err(OpError::Conflict(_))
        ));
        let mut d = doc();
        let kind = ShiftKind::BlueGreen { from: "v1".into(), to: "v9".into(), hold_ms: 0 };
        assert!(matches!(
            d.start_shift(Some("app".into()), kind, "op", 0),
            Err(OpError::Conflict(_))
        ));
        let kind =
            ShiftKind::Drain { target: Target::Site("zz".into()), step_pct: 50, step_ms: 1000 };
        assert!(matches!(d.start_shift(None, kind, "op", 0), Err(OpError::NotFound(_))));
        assert!(matches!(d.command("s9", ShiftCommand::Abort, "op", 0), Err(OpError::NotFound(_))));
    }
}
