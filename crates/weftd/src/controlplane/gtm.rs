//! Global traffic management in the control store: one [`GtmDoc`] at
//! `/weft/gtm/doc`, changed only by the leader in fenced transactions —
//! operators' requests (services, shifts, shift commands) through the
//! request queue, and the leader's own ticks that step, commit or roll
//! back shifts. Every change writes an audit record (`/weft/audit/...`)
//! with the reason; the document's mod revision is the sequence of the
//! `Gtm` publication every site receives (services and the shifts in
//! effect, without their history).

use serde::{Deserialize, Serialize};
use weft_api::{GtmChange, GtmShift, GtmShiftLine};
use weft_etcd::{Compare, Kv};
use weft_gtm::shift::{ShiftCommand, ShiftKind, ShiftState};
use weft_gtm::{GlobalService, GtmDoc, Shift, SloSample, Ticked};

use super::PlaneRefusal;
use super::leader::json;
use super::records::{AuditEntry, Planned, PolicyRequest, audit_key};
use weft_control::CallError;

/// The document's key.
pub(crate) const DOC: &str = "/weft/gtm/doc";

/// A GTM request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum GtmAsk {
    /// Add or replace a global service.
    SetService { service: GlobalService },
    /// Remove one (refused while a shift of it is active).
    RemoveService { name: String },
    /// Start a shift.
    StartShift { service: Option<String>, shift: ShiftKind },
    /// An operator's command to a shift.
    Command { id: String, command: ShiftCommand },
}

impl Eq for GtmAsk {}

impl GtmAsk {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::SetService { .. } => "gtm_set_service",
            Self::RemoveService { .. } => "gtm_remove_service",
            Self::StartShift { .. } => "gtm_start_shift",
            Self::Command { command, .. } => match command {
                ShiftCommand::Pause => "gtm_shift_pause",
                ShiftCommand::Resume => "gtm_shift_resume",
                ShiftCommand::Abort => "gtm_shift_abort",
                ShiftCommand::SwitchBack => "gtm_shift_switch_back",
            },
        }
    }
}

/// The leader's answer to a GTM request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GtmResult {
    pub(crate) kind: String,
    /// (`code`, message) when refused.
    pub(crate) refused: Option<(String, String)>,
    pub(crate) epoch: u64,
    pub(crate) shift: Option<Shift>,
}

/// The document in `kv` and its revision (empty, 0 when there is none).
pub(crate) fn decode(kv: Option<&Kv>) -> Result<(GtmDoc, u64), String> {
    match kv {
        None => Ok((GtmDoc::default(), 0)),
        Some(kv) => serde_json::from_str(&kv.value)
            .map(|d| (d, kv.mod_revision))
            .map_err(|e| format!("the stored GTM document is unreadable: {e}")),
    }
}

fn audit(id: &str, actor: &str, action: String, epoch: u64, at_unix_ms: i64) -> AuditEntry {
    AuditEntry {
        request: id.to_owned(),
        actor: actor.to_owned(),
        action,
        before: 0,
        after: 0,
        epoch,
        at_unix_ms,
    }
}

/// The writes of a GTM request; `None` when the store could not be read.
pub(crate) fn plan(
    id: &str,
    req: &PolicyRequest,
    ask: &GtmAsk,
    epoch: u64,
    now_ms: i64,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let mut result = GtmResult { kind: ask.kind().to_owned(), refused: None, epoch, shift: None };
    let stored = read(DOC).ok()?;
    let refuse = |mut r: GtmResult, code: &str, m: String| {
        r.refused = Some((code.to_owned(), m));
        Some(Planned::answer(json(&r)))
    };
    let (mut doc, rev) = match decode(stored.as_ref()) {
        Ok(d) => d,
        Err(e) => return refuse(result, "internal", e),
    };
    let action = match ask {
        GtmAsk::SetService { service } => {
            if let Err(e) = doc.set_service(service.clone()) {
                return refuse(result, "invalid_request", e.to_string());
            }
            format!("gtm.service.set {}", service.name)
        }
        GtmAsk::RemoveService { name } => {
            if !doc.services.contains_key(name) {
                return refuse(result, "not_found", format!("no global service {name:?}"));
            }
            if let Some(s) =
                doc.shifts.iter().find(|s| s.is_active() && s.service.as_ref() == Some(name))
            {
                return refuse(
                    result,
                    "conflict",
                    format!("service {name:?} has an active shift ({}); abort it first", s.id),
                );
            }
            doc.services.remove(name);
            format!("gtm.service.remove {name}")
        }
        GtmAsk::StartShift { service, shift } => {
            match doc.start_shift(service.clone(), shift.clone(), &req.actor, now_ms) {
                Ok(sid) => {
                    result.shift = doc.shift(&sid).cloned();
                    format!("gtm.shift.start {sid}: {}", plan_words(doc.shift(&sid)?))
                }
                Err(e) => return refuse(result, op_code(&e), e.to_string()),
            }
        }
        GtmAsk::Command { id: sid, command } => {
            match doc.command(sid, *command, &req.actor, now_ms) {
                Ok(()) => {
                    result.shift = doc.shift(sid).cloned();
                    format!("gtm.shift.{} {sid}", command.name())
                }
                Err(e) => return refuse(result, op_code(&e), e.to_string()),
            }
        }
    };
    let entry = audit(id, &req.actor, action, epoch, req.at_unix_ms);
    Some(Planned {
        compares: vec![Compare::ModRevision(DOC.to_owned(), rev)],
        puts: vec![(DOC.to_owned(), json(&doc)), (audit_key(now_ms, id), json(&entry))],
        deletes: Vec::new(),
        result: json(&result),
        published: None,
    })
}

fn op_code(e: &weft_gtm::OpError) -> &'static str {
    use weft_gtm::{OpError, ShiftError};
    match e {
        OpError::NotFound(_) => "not_found",
        OpError::Conflict(_) | OpError::Shift(ShiftError::WrongState { .. }) => "conflict",
        _ => "invalid_request",
    }
}

/// The leader's tick: steps shifts that are due, judging running canaries
/// by `sample` (their new version's checks since the step began). The
/// transaction to write (document, audit records) and what changed; none
/// when nothing did.
pub(crate) fn tick(
    kv: Option<&Kv>,
    epoch: u64,
    now_ms: i64,
    sample: &mut dyn FnMut(&Shift) -> Option<SloSample>,
) -> Option<(weft_etcd::Txn, Vec<Ticked>)> {
    let (mut doc, rev) = decode(kv).ok()?;
    if !doc.shifts.iter().any(|s| matches!(s.state, ShiftState::Running { .. })) {
        return None;
    }
    let changed = doc.tick(now_ms, sample);
    if changed.is_empty() {
        return None;
    }
    let mut puts = vec![(DOC.to_owned(), json(&doc))];
    for (i, t) in changed.iter().enumerate() {
        let id = format!("gtm-{}-{now_ms}-{i}", t.id);
        let entry = audit(
            &id,
            "leader",
            format!("gtm.shift.{} {}: {}", t.state, t.id, t.line),
            epoch,
            now_ms,
        );
        puts.push((audit_key(now_ms, &id), json(&entry)));
    }
    let txn = weft_etcd::Txn {
        compares: vec![Compare::ModRevision(DOC.to_owned(), rev)],
        puts,
        deletes: Vec::new(),
    };
    Some((txn, changed))
}

/// What every site gets: the services and the shifts in effect, without
/// their history (the bundle stays small).
pub(crate) fn published_doc(doc: &GtmDoc) -> GtmDoc {
    GtmDoc {
        services: doc.services.clone(),
        shifts: doc
            .shifts
            .iter()
            .filter(|s| s.is_active())
            .map(|s| Shift { history: Vec::new(), ..s.clone() })
            .collect(),
        next_shift: doc.next_shift,
    }
}

/// The publication of the stored document.
pub(crate) fn publication(epoch: u64, kv: &Kv) -> Option<super::Publication> {
    let (doc, _) = decode(Some(kv)).ok()?;
    Some(super::Publication {
        kind: weft_mesh::identity::BundleKind::Gtm,
        epoch,
        seq: kv.mod_revision,
        stable: (kv.mod_revision, json(&published_doc(&doc))),
        canary: None,
    })
}

/// A shift's plan in words.
pub(crate) fn plan_words(s: &Shift) -> String {
    match &s.kind {
        ShiftKind::Drain { target: t, step_pct, step_ms } => {
            let of = s
                .service
                .as_ref()
                .map_or_else(|| "every service".to_owned(), |n| format!("service {n}"));
            format!("drain {t} of {of}, {step_pct} % every {step_ms} ms")
        }
        ShiftKind::BlueGreen { from, to, hold_ms } => {
            format!("blue/green {from} → {to}, hold {hold_ms} ms")
        }
        ShiftKind::Canary(c) => format!(
            "canary {} → {} at {:?} % every {} ms; SLO errors ≤ {} %, p99 ≤ {} ms, ≥ {} checks per step",
            c.stable,
            c.canary,
            c.steps,
            c.step_ms,
            c.slo.max_error_pct,
            c.slo.max_latency_ms,
            c.slo.min_samples
        ),
    }
}

/// A shift as the API shows it.
pub(crate) fn shift_view(s: &Shift) -> GtmShift {
    let percent = match &s.kind {
        ShiftKind::Drain { .. } => s.is_active().then(|| f64::from(s.drain_permille()) / 10.0),
        _ => s.share_permille().map(|p| f64::from(p) / 10.0),
    };
    GtmShift {
        id: s.id.clone(),
        kind: s.kind.name().to_owned(),
        service: s.service.clone(),
        plan: plan_words(s),
        state: s.state.name().to_owned(),
        percent,
        reason: match &s.state {
            ShiftState::RolledBack { reason } => Some(reason.clone()),
            _ => None,
        },
        actor: s.actor.clone(),
        created_unix_ms: s.created_ms,
        history: s
            .history
            .iter()
            .map(|(at, line)| GtmShiftLine { at_unix_ms: *at, line: line.clone() })
            .collect(),
    }
}

/// A GTM request's answer from the leader's result record.
pub(crate) fn answer_of(id: &str, kv: &Kv) -> Result<GtmChange, PlaneRefusal> {
    let r: GtmResult = serde_json::from_str(&kv.value)
        .map_err(|e| PlaneRefusal::new(500, "internal", format!("the result record: {e}")))?;
    if let Some((code, message)) = r.refused {
        let status = match code.as_str() {
            "not_found" => 404,
            "invalid_request" => 400,
            _ => 409,
        };
        return Err(PlaneRefusal::new(status, &code, message));
    }
    Ok(GtmChange {
        request: id.to_owned(),
        kind: r.kind,
        epoch: r.epoch,
        revision: kv.mod_revision,
        shift: r.shift.as_ref().map(shift_view),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_gtm::Endpoint;
    use weft_gtm::shift::{CanarySpec, SloSpec};

    fn req(ask: GtmAsk) -> PolicyRequest {
        PolicyRequest {
            id: "r1".into(),
            ask: super::super::records::Ask::Gtm(ask),
            actor: "op".into(),
            at_unix_ms: 1,
        }
    }

    fn service() -> GlobalService {
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
        GlobalService {
            name: "app".into(),
            endpoints: vec![ep("a", "v1"), ep("b", "v2")],
            ttl: None,
            serving: Some("v1".into()),
            check: None,
            anycast: None,
        }
    }

    fn run(doc: Option<&Kv>, ask: GtmAsk) -> (Planned, GtmResult) {
        let r = req(ask);
        let super::super::records::Ask::Gtm(a) = &r.ask else { unreachable!() };
        let p = plan("r1", &r, a, 7, 1000, &mut |_| Ok(doc.cloned())).unwrap();
        let res = serde_json::from_str(&p.result).unwrap();
        (p, res)
    }

    fn stored(p: &Planned, rev: u64) -> Kv {
        let (_, v) = p.puts.iter().find(|(k, _)| k == DOC).unwrap();
        Kv { key: DOC.into(), value: v.clone(), mod_revision: rev, create_revision: 1 }
    }

    #[test]
    fn a_service_and_a_canary_are_written_with_an_audit_record_under_a_revision_check() {
        let (p, r) = run(None, GtmAsk::SetService { service: service() });
        assert_eq!(r.refused, None);
        assert_eq!(p.compares, vec![Compare::ModRevision(DOC.into(), 0)]);
        assert!(
            p.puts
                .iter()
                .any(|(k, v)| k.starts_with("/weft/audit/") && v.contains("gtm.service.set app"))
        );
        let kv = stored(&p, 5);
        let canary = ShiftKind::Canary(CanarySpec {
            stable: "v1".into(),
            canary: "v2".into(),
            steps: vec![50, 100],
            step_ms: 1000,
            slo: SloSpec { max_error_pct: 1.0, max_latency_ms: 100, min_samples: 2 },
        });
        let (p, r) =
            run(Some(&kv), GtmAsk::StartShift { service: Some("app".into()), shift: canary });
        assert_eq!(r.shift.as_ref().map(|s| s.id.as_str()), Some("s1"));
        assert_eq!(p.compares, vec![Compare::ModRevision(DOC.into(), 5)]);
        // A failing canary is rolled back by the tick, with the reason audited.
        let kv = stored(&p, 6);
        let (txn, changed) = tick(Some(&kv), 7, 1500, &mut |_| {
            Some(SloSample { checks: 4, errors: 4, p99_ms: None })
        })
        .unwrap();
        assert_eq!(changed[0].state, "rolled_back");
        assert!(
            txn.puts
                .iter()
                .any(|(k, v)| k.starts_with("/weft/audit/") && v.contains("error rate 100.0 %"))
        );
        let after: GtmDoc = serde_json::from_str(&txn.puts[0].1).unwrap();
        assert_eq!(after.services["app"].serving.as_deref(), Some("v1"));
        assert!(published_doc(&after).shifts.is_empty(), "a finished canary is not published");
    }

    #[test]
    fn refusals_name_their_cause_and_write_nothing() {
        let (p, r) = run(None, GtmAsk::RemoveService { name: "app".into() });
        assert_eq!(r.refused.as_ref().map(|x| x.0.as_str()), Some("not_found"));
        assert!(p.puts.is_empty());
        let mut bad = service();
        bad.endpoints[1].id = "a".into();
        let (_, r) = run(None, GtmAsk::SetService { service: bad });
        assert_eq!(r.refused.as_ref().map(|x| x.0.as_str()), Some("invalid_request"));
        let (_, r) = run(None, GtmAsk::Command { id: "s4".into(), command: ShiftCommand::Pause });
        assert_eq!(r.refused.as_ref().map(|x| x.0.as_str()), Some("not_found"));
    }
}
