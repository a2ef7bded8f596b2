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
    let stored = read(LEDGER).ok()?;
    let (state, rev) = match &stored {
        Some(kv) => match crate::mesh::files::enroller_from_json(&kv.value) {
            Ok(s) => (s, kv.mod_revision),
            Err(e) => {
                eprintln!("weftd: the enrolment ledger in the store is unreadable: {e}");
                return None;
            }
        },
        None => (import.clone(), 0),
    };
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
