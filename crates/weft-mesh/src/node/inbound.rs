//! What each received frame does.

use std::net::SocketAddr;
use std::time::Instant;

use weft_types::SiteId;

use super::MeshNode;
use super::frame::Frame;
use super::link_state::LinkStateAd;
use super::link_store::{LinkSet, Offer};
use super::types::{DownReason, NodeError, NodeEvent};
use crate::identity::{EnrolResponse, SignedRevocations};
use crate::membership::Transmit;

impl MeshNode {
    pub(super) fn handle_frame(
        &mut self,
        now: Instant,
        now_unix: u64,
        from: SocketAddr,
        raw: &[u8],
        frame: Frame<'_>,
    ) -> Result<(), NodeError> {
        match frame {
            Frame::Gossip { cert, envelope } => {
                self.admit_bytes(now_unix, from, cert)?;
                let r = self.membership.handle_datagram(now, from, envelope);
                self.pump(now);
                if r.is_err() {
                    self.counters.gossip_refused += 1;
                }
                Ok(r?)
            }
            Frame::Hello { reply, cert } => {
                self.counters.hellos_received += 1;
                let site = self.admit_bytes(now_unix, from, cert)?;
                if reply {
                    self.send_hello(now, &site, from, false);
                }
                Ok(())
            }
            Frame::LinkState { cert, ad } => self.on_link_state(now, now_unix, from, cert, ad),
            Frame::Revocations(list) => self.handle_revocations(now, &list).map(|_| ()),
            Frame::EnrolRequest(req) => self.serve_enrol(now, now_unix, from, raw, &req),
            Frame::RenewRequest(req) => self.serve_renew(now, now_unix, from, raw, &req),
            Frame::EnrolOk { response, revocations } => {
                self.on_renewed(now, now_unix, &response, &revocations)
            }
            Frame::EnrolRefused { .. } => {
                self.counters.renewals_failed += 1;
                Ok(())
            }
            Frame::Bundle(bundle) => self.on_bundle(from, bundle),
            Frame::BundleAck { cert, ack } => self.on_bundle_ack(now_unix, from, cert, ack),
            Frame::SvidRequest { cert, request } => {
                self.on_svid_request(now_unix, from, cert, request)
            }
        }
    }

    /// Applies a CA-signed revocation list if it is newer than the one held
    /// (from a `REVOCATIONS` frame, an `ENROL_OK`, or the agent's store). Peers
    /// it names go down at once ([`DownReason::Revoked`]); a list naming us
    /// makes the node quiet ([`NodeEvent::SelfRevoked`]). A newer list is
    /// forwarded to every known member, an old one is not (so the flood
    /// ends). Returns whether the list was newer.
    pub fn handle_revocations(
        &mut self,
        _now: Instant,
        signed: &SignedRevocations,
    ) -> Result<bool, NodeError> {
        if self.quiet {
            return Err(NodeError::Quiet);
        }
        let changed = match self.membership.auth_mut().update_revocations(signed) {
            Ok(c) => c,
            Err(e) => {
                self.counters.revocations_refused += 1;
                return Err(e.into());
            }
        };
        if !changed {
            return Ok(false);
        }
        self.counters.revocations_applied += 1;
        self.last_revocations = Some(signed.clone());
        let list = self.membership.auth().revocations();
        if list.is_revoked(&self.cert) {
            self.quiet = true;
            self.transmits.clear();
            self.events.push_back(NodeEvent::SelfRevoked);
            return Ok(true);
        }
        let revoked: Vec<SiteId> = self
            .certs
            .iter()
            .filter(|(_, pc)| list.is_revoked(&pc.cert))
            .map(|(s, _)| s.clone())
            .collect();
        for site in revoked {
            self.drop_cert(&site, DownReason::Revoked);
        }
        if let Ok(bytes) = Frame::Revocations(signed.clone()).encode() {
            let to: Vec<SocketAddr> = self.membership.members().map(|m| m.gossip).collect();
            for to in to {
                self.transmits.push_back(Transmit { to, bytes: bytes.clone() });
            }
        }
        Ok(true)
    }

    fn on_link_state(
        &mut self,
        now: Instant,
        now_unix: u64,
        from: SocketAddr,
        cert: &[u8],
        ad: LinkStateAd,
    ) -> Result<(), NodeError> {
        let site = match self.admit_bytes(now_unix, from, cert) {
            Ok(s) => s,
            Err(e) => {
                self.counters.link_states_refused += 1;
                return Err(e);
            }
        };
        if ad.origin != site {
            self.counters.link_states_refused += 1;
            return Err(NodeError::LinkState("origin is not the attached certificate's site"));
        }
        // A page we already hold (forwarded twice, replayed) is dropped
        // before the signature check; a newer version is always verified.
        if self.links.is_stale(&site, ad.version, ad.page) {
            self.counters.link_states_stale += 1;
            return Ok(());
        }
        let key = self.certs.get(&site).map(|pc| pc.cert.body.site_key);
        if !key.is_some_and(|k| ad.verify(&k)) {
            self.counters.link_states_refused += 1;
            return Err(NodeError::LinkState("signature does not verify under the origin's key"));
        }
        let origin = ad.origin.clone();
        let forward = Frame::LinkState { cert, ad: ad.clone() }.encode();
        let learnt_of = |n: &Self| {
            n.links.current(&origin).map(|s| (s.learnt().to_vec(), s.learn_preference()))
        };
        let learnt_before = learnt_of(self);
        let offer = self.links.offer(now, ad);
        if offer == Offer::Stale {
            self.counters.link_states_stale += 1;
            return Ok(());
        }
        self.counters.link_states_accepted += 1;
        if offer == Offer::Completed {
            // Who is cut off from whom is read from the whole set, once it is.
            let down: Vec<SiteId> = self
                .links
                .current(&origin)
                .into_iter()
                .flat_map(LinkSet::entries)
                .filter(|e| !e.up && !e.relayed_only)
                .map(|e| e.neighbour.clone())
                .collect();
            self.note_cut_off(&origin, down);
            if learnt_before != learnt_of(self) {
                // Added, withdrawn or preferred otherwise: every peer's
                // prefixes may change.
                self.reconcile_all_peers();
            }
        }
        // Every new page goes on at once (each page once: only new ones are taken).
        if let Ok(bytes) = forward {
            self.forward_link_state(&origin, from, &bytes);
        }
        Ok(())
    }

    /// Records that `reporter`'s new complete advertisement (all its pages)
    /// says its links to `down` are down (and no others).
    fn note_cut_off(&mut self, reporter: &SiteId, down: Vec<SiteId>) {
        for members in self.cut_off.values_mut() {
            members.remove(reporter);
        }
        self.cut_off.retain(|_, m| !m.is_empty());
        for site in down {
            self.cut_off.entry(site).or_default().insert(reporter.clone());
        }
    }

    /// Advertisements go straight from their origin to every member, so two
    /// sites that cannot reach each other never hear each other's: the relay
    /// between them would be refused after a few seconds for want of the
    /// destination's confirmation. A member that says (in its own
    /// advertisement) that its link to `origin` is down therefore gets
    /// every page of `origin`'s new advertisement from us. The origin's
    /// signature travels with each page; each node forwards a page once
    /// (only pages not held yet are taken).
    fn forward_link_state(&mut self, origin: &SiteId, from: SocketAddr, bytes: &[u8]) {
        let Some(cut_off) = self.cut_off.get(origin).filter(|c| !c.is_empty()) else { return };
        let to: Vec<SocketAddr> = self
            .membership
            .members()
            .filter(|m| cut_off.contains(&m.site) && m.gossip != from)
            .map(|m| m.gossip)
            .collect();
        for to in to {
            self.counters.link_states_forwarded += 1;
            self.transmits.push_back(Transmit { to, bytes: bytes.to_vec() });
        }
    }

    /// `ENROL_OK` at a site: the answer to our renewal.
    fn on_renewed(
        &mut self,
        now: Instant,
        now_unix: u64,
        response: &EnrolResponse,
        revocations: &SignedRevocations,
    ) -> Result<(), NodeError> {
        let v = match response.verify(&self.ca, now_unix) {
            Ok(v) => v,
            Err(e) => {
                self.counters.renewals_failed += 1;
                return Err(e.into());
            }
        };
        let _ = self.handle_revocations(now, revocations);
        if self.quiet {
            return Ok(());
        }
        let b = v.body();
        let mine = b.site == self.site
            && b.site_key == self.membership.auth().site_key().public()
            && b.serial > self.cert.body.serial;
        if mine {
            self.install_cert(v.into_cert());
        } else {
            self.counters.frames_ignored += 1;
        }
        Ok(())
    }
}
