//! The CA holder's enrolment service: `ENROL_REQUEST` and `RENEW_REQUEST` in,
//! `ENROL_OK` or `ENROL_REFUSED` out, rate-limited per source address, with
//! identical retransmitted requests answered with the same bytes.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::MeshNode;
use super::frame::{Frame, REQUEST_ID_LEN, RefusalCode, request_id};
use super::types::{NodeError, NodeEvent};
use crate::identity::{
    CertError, EnrolError, EnrolRequest, EnrolResponse, MAX_CLOCK_SKEW_SECS, RenewRequest,
};
use crate::membership::Transmit;
use crate::membership::limit::TokenBucket;

/// Requests one address may send in a burst.
const BURST: u32 = 10;
/// Tokens an address regains per minute.
const PER_MINUTE: u32 = 60;
/// Most addresses tracked; beyond that, the bucket used least recently is
/// dropped for the newcomer (a flood of spoofed sources must not lock new
/// sites out; a dropped address only gets a full bucket again).
const MAX_BUCKETS: usize = 4096;
/// Answers remembered for retransmitted requests.
const MAX_ANSWERS: usize = 32;
/// How long an answer is remembered (a request is stale after this anyway).
const ANSWER_TTL: Duration = Duration::from_secs(MAX_CLOCK_SKEW_SECS);

#[derive(Debug, Default)]
pub(super) struct EnrolServer {
    buckets: BTreeMap<SocketAddr, TokenBucket>,
    /// When each tracked address last asked (for eviction).
    used: BTreeMap<SocketAddr, Instant>,
    answers: VecDeque<(Instant, Vec<u8>, Vec<u8>)>,
}

impl EnrolServer {
    fn allow(&mut self, now: Instant, from: SocketAddr) -> bool {
        if !self.buckets.contains_key(&from) && self.buckets.len() >= MAX_BUCKETS {
            self.cleanup(now);
            if self.buckets.len() >= MAX_BUCKETS
                && let Some(oldest) = self.used.iter().min_by_key(|(_, at)| **at).map(|(a, _)| *a)
            {
                self.buckets.remove(&oldest);
                self.used.remove(&oldest);
            }
        }
        self.used.insert(from, now);
        self.buckets
            .entry(from)
            .or_insert_with(|| TokenBucket::full(now, BURST))
            .try_take(now, BURST, PER_MINUTE)
    }

    fn answer(&self, now: Instant, request: &[u8]) -> Option<Vec<u8>> {
        self.answers
            .iter()
            .find(|(at, req, _)| req == request && now < *at + ANSWER_TTL)
            .map(|(_, _, a)| a.clone())
    }

    pub(super) fn remember(&mut self, now: Instant, request: &[u8], answer: Vec<u8>) {
        if self.answers.len() >= MAX_ANSWERS {
            self.answers.pop_front();
        }
        self.answers.push_back((now, request.to_vec(), answer));
    }

    /// Forgets remembered answers (after a revocation).
    pub(super) fn forget_answers(&mut self) {
        self.answers.clear();
    }

    /// Forgets idle buckets and old answers.
    pub(super) fn cleanup(&mut self, now: Instant) {
        self.buckets.retain(|_, b| !b.idle_since(now, BURST, PER_MINUTE));
        let buckets = &self.buckets;
        self.used.retain(|a, _| buckets.contains_key(a));
        self.answers.retain(|(at, _, _)| now < *at + ANSWER_TTL);
    }
}

pub(super) fn code_of(e: &EnrolError) -> RefusalCode {
    match e {
        EnrolError::TokenExpired { .. } => RefusalCode::TokenExpired,
        EnrolError::TokenUsedUp { .. } => RefusalCode::TokenUsedUp,
        EnrolError::Revoked { .. } | EnrolError::Cert(CertError::Revoked { .. }) => {
            RefusalCode::Revoked
        }
        _ => RefusalCode::Other,
    }
}

#[derive(Clone, Copy)]
enum Request<'a> {
    Enrol(&'a EnrolRequest),
    Renew(&'a RenewRequest),
}

impl Request<'_> {
    /// What a refusal of this request echoes.
    fn id(self) -> [u8; REQUEST_ID_LEN] {
        match self {
            Self::Enrol(r) => request_id(&r.signature),
            Self::Renew(r) => request_id(&r.signature),
        }
    }
}

impl MeshNode {
    pub(super) fn serve_enrol(
        &mut self,
        now: Instant,
        now_unix: u64,
        from: SocketAddr,
        raw: &[u8],
        req: &EnrolRequest,
    ) -> Result<(), NodeError> {
        self.serve(now, now_unix, from, raw, Request::Enrol(req))
    }

    pub(super) fn serve_renew(
        &mut self,
        now: Instant,
        now_unix: u64,
        from: SocketAddr,
        raw: &[u8],
        req: &RenewRequest,
    ) -> Result<(), NodeError> {
        self.serve(now, now_unix, from, raw, Request::Renew(req))
    }

    fn serve(
        &mut self,
        now: Instant,
        now_unix: u64,
        from: SocketAddr,
        raw: &[u8],
        req: Request<'_>,
    ) -> Result<(), NodeError> {
        if self.enroller.is_none() {
            self.counters.frames_ignored += 1;
            return Err(NodeError::NotCaHolder);
        }
        if !self.server.allow(now, from) {
            self.counters.enrolments_rate_limited += 1;
            let message = "too many requests from this address; retry in a minute".to_owned();
            let request = req.id();
            let frame = Frame::EnrolRefused { request, code: RefusalCode::RateLimited, message };
            self.send_frame(from, &frame);
            return Err(NodeError::RateLimited(from));
        }
        if let Some(bytes) = self.server.answer(now, raw) {
            self.transmits.push_back(Transmit { to: from, bytes });
            return Ok(());
        }
        if self.delegated {
            let Some(enroller) = self.enroller.as_ref() else {
                return Err(NodeError::NotCaHolder);
            };
            let precheck = match req {
                Request::Enrol(r) => enroller.precheck_request(now_unix, r),
                Request::Renew(r) => enroller.precheck_renewal(now_unix, r),
            };
            self.delegate(from, raw, req.id(), precheck);
            return Ok(());
        }
        let Some(enroller) = self.enroller.as_mut() else { return Err(NodeError::NotCaHolder) };
        let result = match req {
            Request::Enrol(r) => enroller.handle_request(now_unix, r),
            Request::Renew(r) => enroller.handle_renewal(now_unix, r),
        };
        match result {
            Ok(response) => {
                let revocations = enroller.signed_revocations();
                let EnrolResponse { cert, .. } = &response;
                let (site, serial) = (cert.body.site.clone(), cert.body.serial);
                if let Ok(bytes) = (Frame::EnrolOk { response, revocations }).encode() {
                    self.server.remember(now, raw, bytes.clone());
                    self.transmits.push_back(Transmit { to: from, bytes });
                }
                if matches!(req, Request::Enrol(_)) {
                    self.counters.enrolments_ok += 1;
                    self.events.push_back(NodeEvent::Enrolled { site, serial });
                } else {
                    self.counters.renewals_served += 1;
                }
                self.events.push_back(NodeEvent::EnrollerChanged);
            }
            Err(e) => {
                self.counters.enrolments_refused += 1;
                let frame = Frame::EnrolRefused {
                    request: req.id(),
                    code: code_of(&e),
                    message: e.to_string(),
                };
                self.send_frame(from, &frame);
            }
        }
        Ok(())
    }

    pub(super) fn send_frame(&mut self, to: SocketAddr, frame: &Frame<'_>) {
        if let Ok(bytes) = frame.encode() {
            self.transmits.push_back(Transmit { to, bytes });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 7946)
    }

    #[test]
    fn a_full_table_of_addresses_still_serves_a_new_one() {
        let mut server = EnrolServer::default();
        let t0 = weft_types::virtual_origin();
        let limit = u32::try_from(MAX_BUCKETS).unwrap();
        for i in 0..limit {
            assert!(server.allow(t0, addr(i)));
        }
        let later = t0 + Duration::from_millis(1);
        assert!(server.allow(later, addr(limit)), "a newcomer beyond the table is served");
        assert_eq!(server.buckets.len(), MAX_BUCKETS);
        assert!(!server.buckets.contains_key(&addr(0)), "the least recently used one went");
        // Its bucket is its own: the burst holds, then it is limited.
        for _ in 1..BURST {
            assert!(server.allow(later, addr(limit)));
        }
        assert!(!server.allow(later, addr(limit)));
    }
}
