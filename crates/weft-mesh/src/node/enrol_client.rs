//! [`Enrolment`]: a new site's side of enrolment, sans-IO.
//!
//! Drive it like the node: after [`Enrolment::new`], send every
//! [`Enrolment::poll_transmit`] from the mesh socket, feed every datagram to
//! [`Enrolment::handle_datagram`], call [`Enrolment::handle_timeout`] at
//! [`Enrolment::poll_timeout`], until [`Enrolment::outcome`] is `Some`. On
//! success, persist the certificate and pinned CA and build a
//! [`MeshNode`](super::MeshNode) from them.
//!
//! The request is resent unchanged every [`RESEND_INTERVAL`]; the enroller
//! answers an identical request with the same certificate.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weft_types::{PublicKey, SiteId};

use super::frame::{Frame, RefusalCode, request_id};
use crate::identity::{
    CaPublicKey, EnrolRequest, JoinToken, LearnRanges, PrefixList, SignedRevocations, SiteCert,
    SiteKey,
};
use crate::membership::Transmit;

/// How often the request is resent while no answer came.
pub const RESEND_INTERVAL: Duration = Duration::from_millis(500);

/// How long enrolment waits by default before giving up.
pub const DEFAULT_ENROL_DEADLINE: Duration = Duration::from_secs(10);

/// What a successful enrolment yields; persist all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    /// The site's certificate (verified under `ca`).
    pub cert: SiteCert,
    /// The mesh CA, checked against the token; pin it.
    pub ca: CaPublicKey,
    /// The enroller's revocation list (verified under `ca`).
    pub revocations: SignedRevocations,
}

/// Why enrolment failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolFailure {
    /// The seed refused; the message is the enroller's (unauthenticated: a
    /// hint for the operator, see the frame module).
    #[error("enrolment refused ({code:?}): {message}")]
    Refused {
        /// Why, for programs.
        code: RefusalCode,
        /// Why, for people.
        message: String,
    },
    /// No valid answer before the deadline.
    #[error("no answer from the seed before the deadline")]
    TimedOut,
}

/// One enrolment attempt against one seed.
#[derive(Debug)]
pub struct Enrolment {
    token: JoinToken,
    request: EnrolRequest,
    frame: Vec<u8>,
    seed: SocketAddr,
    due: bool,
    next_send: Instant,
    deadline: Instant,
    outcome: Option<Result<Enrolled, EnrolFailure>>,
    ignored: u64,
}

impl Enrolment {
    /// Starts enrolling `site` with `token` at the enroller at `seed_addr`;
    /// the first request is ready at once. `key` signs the request.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        token: JoinToken,
        site: SiteId,
        key: &SiteKey,
        wg_key: PublicKey,
        prefixes: PrefixList,
        seed_addr: SocketAddr,
        now: Instant,
        now_unix: u64,
    ) -> Self {
        let request = EnrolRequest::new(token.clone(), site, key, wg_key, prefixes, now_unix);
        let frame = Frame::EnrolRequest(request.clone()).encode().unwrap_or_default();
        Self {
            token,
            request,
            frame,
            seed: seed_addr,
            due: true,
            next_send: now + RESEND_INTERVAL,
            deadline: now + DEFAULT_ENROL_DEADLINE,
            outcome: None,
            ignored: 0,
        }
    }

    /// Asks for `learn_ranges` too (the site's `[bgp] learn`): the request
    /// is signed again with `key`, the key given to [`Enrolment::new`].
    #[must_use]
    pub fn with_learn_ranges(mut self, key: &SiteKey, learn_ranges: LearnRanges) -> Self {
        self.request = self.request.with_learn_ranges(key, learn_ranges);
        self.frame = Frame::EnrolRequest(self.request.clone()).encode().unwrap_or_default();
        self
    }

    /// Gives up `deadline` after `now` instead of the default 10 s.
    #[must_use]
    pub fn with_deadline(mut self, now: Instant, deadline: Duration) -> Self {
        self.deadline = now + deadline;
        self
    }

    /// The next datagram to send (the request, when it is due).
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.outcome.is_some() {
            return None;
        }
        if !self.due {
            return None;
        }
        self.due = false;
        Some(Transmit { to: self.seed, bytes: self.frame.clone() })
    }

    /// Handles one datagram: `ENROL_OK` (any sender: it must verify against
    /// the token) or `ENROL_REFUSED` (only from the seed, and only of this
    /// request: a late refusal of an earlier attempt is ignored). Anything
    /// else is ignored and counted in [`Self::ignored`].
    pub fn handle_datagram(
        &mut self,
        _now: Instant,
        now_unix: u64,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if self.outcome.is_some() {
            return;
        }
        match Frame::decode(bytes) {
            Ok(Frame::EnrolOk { response, revocations }) => {
                let ok = response.verify_for_token(&self.token, now_unix).is_ok_and(|v| {
                    let b = v.body();
                    b.site == self.request.site
                        && b.site_key == self.request.site_key
                        && b.wg_key == self.request.wg_key
                }) && revocations.verify(&response.ca).is_ok();
                if ok {
                    let (cert, ca) = (response.cert, response.ca);
                    self.outcome = Some(Ok(Enrolled { cert, ca, revocations }));
                } else {
                    self.ignored += 1;
                }
            }
            // Rate limiting is not an answer (anyone spoofing our address can
            // drain our bucket at the seed): keep asking until the deadline.
            Ok(Frame::EnrolRefused { code: RefusalCode::RateLimited, .. }) => self.ignored += 1,
            Ok(Frame::EnrolRefused { request, code, message })
                if from == self.seed && request == request_id(&self.request.signature) =>
            {
                self.outcome = Some(Err(EnrolFailure::Refused { code, message }));
            }
            _ => self.ignored += 1,
        }
    }

    /// Resends the request every [`RESEND_INTERVAL`]; fails at the deadline.
    pub fn handle_timeout(&mut self, now: Instant, _now_unix: u64) {
        if self.outcome.is_some() {
            return;
        }
        if now >= self.deadline {
            self.outcome = Some(Err(EnrolFailure::TimedOut));
            return;
        }
        if now >= self.next_send {
            self.due = true;
            self.next_send = now + RESEND_INTERVAL;
        }
    }

    /// When to call [`Self::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        Some(self.next_send.min(self.deadline))
    }

    /// The result, once there is one.
    pub fn outcome(&self) -> Option<Result<Enrolled, EnrolFailure>> {
        self.outcome.clone()
    }

    /// Datagrams that were not a valid answer.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }
}
