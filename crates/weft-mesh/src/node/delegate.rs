//! Delegated enrolment: a controller of the HA control plane does not
//! answer enrolment and renewal requests from its own ledger; it runs the
//! checks that need no ledger, hands the request to its driver
//! ([`NodeEvent::EnrolDelegated`]), and sends back the answer the control
//! plane's leader made from the ledger in the store
//! ([`MeshNode::answer_delegated`]). The leader makes that answer with
//! [`answer_delegated_request`], the same code a CA holder runs for itself.

use std::net::SocketAddr;
use std::time::Instant;

use weft_types::SiteId;

use super::MeshNode;
use super::frame::{Frame, REQUEST_ID_LEN, request_id};
use super::server::code_of;
use super::types::NodeEvent;
use crate::identity::{EnrolError, EnrolResponse, Enroller};
use crate::membership::Transmit;

/// The leader's answer to a delegated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegatedAnswer {
    /// The `ENROL_OK` or `ENROL_REFUSED` frame to send back.
    pub frame: Vec<u8>,
    /// Whether the ledger changed (persist it with the answer).
    pub changed: bool,
    /// The site certified and its serial, when it was an enrolment or renewal that succeeded.
    pub issued: Option<(SiteId, u64)>,
}

/// Why a delegated request could not be answered at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegateError {
    /// Not an `ENROL_REQUEST` or `RENEW_REQUEST` frame.
    #[error("not an enrolment or renewal request: {0}")]
    NotARequest(String),
}

/// The id of a request frame (the first bytes of its signature): what the
/// control plane keys it by, so a retransmission is answered once.
pub fn delegated_request_id(request: &[u8]) -> Option<[u8; REQUEST_ID_LEN]> {
    match Frame::decode(request).ok()? {
        Frame::EnrolRequest(r) => Some(request_id(&r.signature)),
        Frame::RenewRequest(r) => Some(request_id(&r.signature)),
        _ => None,
    }
}

/// Answers a delegated request frame from `enroller` (the leader's,
/// restored from the store's ledger) at `now_unix`.
pub fn answer_delegated_request(
    enroller: &mut Enroller,
    now_unix: u64,
    request: &[u8],
) -> Result<DelegatedAnswer, DelegateError> {
    let frame = Frame::decode(request).map_err(|e| DelegateError::NotARequest(e.to_string()))?;
    let (id, result) = match frame {
        Frame::EnrolRequest(r) => (request_id(&r.signature), enroller.handle_request(now_unix, &r)),
        Frame::RenewRequest(r) => (request_id(&r.signature), enroller.handle_renewal(now_unix, &r)),
        other => return Err(DelegateError::NotARequest(format!("{:?}", other.kind()))),
    };
    let refusal = |e: &EnrolError| Frame::EnrolRefused {
        request: id,
        code: code_of(e),
        message: e.to_string(),
    };
    match result {
        Ok(response) => {
            let issued = Some((response.cert.body.site.clone(), response.cert.body.serial));
            let revocations = enroller.signed_revocations();
            let frame = Frame::EnrolOk { response, revocations }
                .encode()
                .map_err(|e| DelegateError::NotARequest(e.to_string()))?;
            Ok(DelegatedAnswer { frame, changed: true, issued })
        }
        Err(e) => {
            let frame =
                refusal(&e).encode().map_err(|e| DelegateError::NotARequest(e.to_string()))?;
            Ok(DelegatedAnswer { frame, changed: false, issued: None })
        }
    }
}

impl MeshNode {
    /// Hands enrolment and renewal requests to the driver
    /// ([`NodeEvent::EnrolDelegated`]) instead of answering them from this
    /// node's ledger (a controller of the HA control plane). Rate limits,
    /// retransmitted answers and the checks that need no ledger still run
    /// here.
    pub fn delegate_enrolment(&mut self, on: bool) {
        self.delegated = on;
    }

    /// Whether requests are delegated.
    pub fn delegates_enrolment(&self) -> bool {
        self.delegated
    }

    /// Sends `answer` (an `ENROL_OK` or `ENROL_REFUSED` frame the leader
    /// made) to `to` for the delegated `request`, and answers its
    /// retransmissions with the same bytes.
    pub fn answer_delegated(
        &mut self,
        now: Instant,
        to: SocketAddr,
        request: &[u8],
        answer: Vec<u8>,
    ) {
        match Frame::decode(&answer) {
            Ok(Frame::EnrolOk { response, .. }) => {
                let EnrolResponse { cert, .. } = &response;
                self.counters.enrolments_ok += 1;
                self.events.push_back(NodeEvent::Enrolled {
                    site: cert.body.site.clone(),
                    serial: cert.body.serial,
                });
            }
            Ok(Frame::EnrolRefused { .. }) => self.counters.enrolments_refused += 1,
            _ => return,
        }
        self.server.remember(now, request, answer.clone());
        self.transmits.push_back(Transmit { to, bytes: answer });
    }

    /// The delegated path of `serve`: hands the request on, or refuses it
    /// here when a check that needs no ledger failed.
    pub(super) fn delegate(
        &mut self,
        from: SocketAddr,
        raw: &[u8],
        id: [u8; REQUEST_ID_LEN],
        precheck: Result<(), EnrolError>,
    ) {
        match precheck {
            Ok(()) => {
                self.counters.enrolments_delegated += 1;
                self.events.push_back(NodeEvent::EnrolDelegated { from, request: raw.to_vec() });
            }
            Err(e) => {
                self.counters.enrolments_refused += 1;
                let frame =
                    Frame::EnrolRefused { request: id, code: code_of(&e), message: e.to_string() };
                self.send_frame(from, &frame);
            }
        }
    }
}
