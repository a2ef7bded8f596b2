//! Enrolment through the control plane: a controller's mesh node hands the
//! enrolment and renewal requests it receives to the controller thread
//! (after the checks that need no ledger); the thread queues each under its
//! request id; the leader answers it from the ledger in the store
//! (`/weft/enroller`) and writes the new ledger, the answer and an audit
//! record in one fenced transaction; the controller that received it sends
//! the answer back. A retransmission (to the same or another controller)
//! gets the stored answer: a site is enrolled once, a token use counted
//! once, whichever controllers come and go.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use weft_control::CallError;
use weft_etcd::{Compare, Kv};
use weft_mesh::identity::{Enroller, EnrollerState};
use weft_mesh::node::{answer_delegated_request, delegated_request_id};

use super::records::{self, AuditEntry, Planned, PolicyRequest};

/// The ledger's key.
pub(crate) const LEDGER: &str = "/weft/enroller";

/// The result record of an enrolment request: the frame to send back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EnrolResult {
    /// `ENROL_OK` or `ENROL_REFUSED`, base64.
    pub(crate) frame: String,
}

/// The request id a request frame is queued under (`enrol-` and the hex of
/// the first bytes of its signature), if it is a request.
pub(crate) fn request_key_id(request: &[u8]) -> Option<String> {
    let id = delegated_request_id(request)?;
    Some(id.iter().fold(String::from("enrol-"), |mut s, b| {
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        s
    }))
}

pub(crate) fn encode(request: &[u8]) -> String {
    B64.encode(request)
}

/// The answer frame of a result record.
pub(crate) fn answer_of(kv: &Kv) -> Option<Vec<u8>> {
    let r: EnrolResult = serde_json::from_str(&kv.value).ok()?;
    B64.decode(r.frame).ok()
}

/// The result record of a revocation: the signed list to flood, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RevokeResult {
    /// The CA-signed revocation list (base64), when the site was revoked.
    pub(crate) revocations: Option<String>,
    /// Why not.
    pub(crate) refused: Option<String>,
}

/// The ledger in the store, or `import` when it has none, with the revision
/// to compare against; `None` when the store could not be read or the
/// ledger is unreadable.
fn ledger(
    import: &EnrollerState,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<(EnrollerState, u64)> {
    match read(LEDGER).ok()? {
        Some(kv) => match crate::mesh::files::enroller_from_json(&kv.value) {
            Ok(s) => Some((s, kv.mod_revision)),
            Err(e) => {
                crate::log_warn!(Control, "the enrolment ledger in the store is unreadable: {e}");
                None
            }
        },
        None => Some((import.clone(), 0)),
    }
}

/// The leader's writes for a revocation: the ledger with the site revoked
/// (so no controller enrols or renews it again) and the signed list.
pub(crate) fn plan_revoke(
    req: &PolicyRequest,
    site: &str,
    epoch: u64,
    enroller: &mut Enroller,
    import: &EnrollerState,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let (state, rev) = ledger(import, read)?;
    enroller.restore(state);
    let refused = |why: String| {
        let r = RevokeResult { revocations: None, refused: Some(why) };
        Some(Planned::answer(super::leader::json(&r)))
    };
    let Ok(id) = weft_types::SiteId::new(site) else {
        return refused(format!("{site:?} is not a site id"));
    };
    let list = match enroller.revoke_site(id) {
        Ok(l) => l,
        Err(e) => return refused(e.to_string()),
    };
    let Ok(text) = crate::mesh::files::enroller_json(enroller.state()) else {
        return refused("the ledger cannot be encoded".into());
    };
    let result = RevokeResult { revocations: Some(B64.encode(list.encode())), refused: None };
    let audit = AuditEntry {
        request: req.id.clone(),
        actor: req.actor.clone(),
        action: format!("mesh.revoke {site}"),
        before: 0,
        after: enroller.state().revocations.version(),
        epoch,
        at_unix_ms: crate::api::unix_ms(),
    };
    let mut planned = Planned::answer(super::leader::json(&result));
    planned.compares.push(Compare::ModRevision(LEDGER.to_owned(), rev));
    planned.puts.push((LEDGER.to_owned(), text));
    planned
        .puts
        .push((records::audit_key(crate::api::unix_ms(), &req.id), super::leader::json(&audit)));
    Some(planned)
}

/// The signed list of a revocation's result record, or why there is none.
pub(crate) fn revocations_of(kv: &Kv) -> Result<Vec<u8>, String> {
    let r: RevokeResult = serde_json::from_str(&kv.value).map_err(|e| e.to_string())?;
    match (r.revocations, r.refused) {
        (Some(b), _) => B64.decode(b).map_err(|e| e.to_string()),
        (None, Some(why)) => Err(why),
        (None, None) => Err("no answer".into()),
    }
}

/// The leader's writes for an enrolment request: the ledger from the store
/// (or, the first time, `import`: the leader's own local ledger), the
/// answer, and the new ledger when it changed. `None` when the store could
/// not be read.
pub(crate) fn plan(
    req: &PolicyRequest,
    request: &str,
    epoch: u64,
    now_unix: u64,
    enroller: &mut Enroller,
    import: &EnrollerState,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let (id, actor) = (req.id.as_str(), req.actor.as_str());
    let (state, rev) = ledger(import, read)?;
    let refuse = |why: String| {
        let result = serde_json::json!({ "refused": why });
        Some(Planned::answer(result.to_string()))
    };
    let Ok(frame) = B64.decode(request) else { return refuse("not base64".into()) };
    enroller.restore(state);
    let answer = match answer_delegated_request(enroller, now_unix, &frame) {
        Ok(a) => a,
        Err(e) => return refuse(e.to_string()),
    };
    let result = EnrolResult { frame: B64.encode(&answer.frame) };
    let mut planned = Planned::answer(super::leader::json(&result));
    if answer.changed {
        planned.compares.push(Compare::ModRevision(LEDGER.to_owned(), rev));
        let Ok(ledger) = crate::mesh::files::enroller_json(enroller.state()) else {
            return refuse("the ledger cannot be encoded".into());
        };
        planned.puts.push((LEDGER.to_owned(), ledger));
        if let Some((site, serial)) = answer.issued {
            let audit = AuditEntry {
                request: id.to_owned(),
                actor: actor.to_owned(),
                action: format!("mesh.certify {site} serial {serial}"),
                before: 0,
                after: serial,
                epoch,
                at_unix_ms: crate::api::unix_ms(),
            };
            planned
                .puts
                .push((records::audit_key(crate::api::unix_ms(), id), super::leader::json(&audit)));
        }
    }
    Some(planned)
}
