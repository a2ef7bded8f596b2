//! Bundles over the mesh socket: the CA holder signs mesh-wide policy
//! bundles and sends them to members; each site answers with an
//! acknowledgement signed by its own site key. The node only carries and
//! authenticates them: choosing whom to send a bundle to, and whether to
//! install one (epochs, sequence, canary stages), is the agent's business.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use weft_types::SiteId;

use super::MeshNode;
use super::frame::{Frame, bundle_frame};
use super::types::{NodeError, NodeEvent};
use crate::identity::{
    BundleAck, BundleBody, BundleError, SignedBundle, SignedBundleAck, SignedSvidRequest,
    SvidRequest,
};
use crate::membership::Transmit;

impl MeshNode {
    /// Signs a bundle with the mesh CA, if this node holds it (else `None`).
    pub fn sign_bundle(&self, body: BundleBody) -> Option<Result<SignedBundle, BundleError>> {
        self.enroller.as_ref().map(|e| e.ca().sign_bundle(body))
    }

    /// Queues a `BUNDLE` frame with `bundle` to `to` ([`Self::poll_transmit`]
    /// yields it). Nothing once the node is quiet.
    pub fn send_bundle(&mut self, to: SocketAddr, bundle: &SignedBundle) {
        if self.quiet {
            return;
        }
        self.counters.bundles_sent += 1;
        self.transmits.push_back(Transmit { to, bytes: bundle_frame(bundle) });
    }

    /// Queues a `BUNDLE_ACK` frame to `to`: `ack` signed with this node's
    /// site key, with our current certificate. The acknowledgement's `site`
    /// is set to this node's (receivers refuse any other). Nothing once the
    /// node is quiet.
    pub fn send_bundle_ack(&mut self, to: SocketAddr, mut ack: BundleAck) {
        if self.quiet {
            return;
        }
        ack.site = self.site.clone();
        let ack = ack.sign(self.membership.auth().site_key());
        if let Ok(bytes) = (Frame::BundleAck { cert: &self.cert_bytes, ack }).encode() {
            self.counters.acks_sent += 1;
            self.transmits.push_back(Transmit { to, bytes });
        }
    }

    /// The gossip address of every alive member this node knows (newest
    /// generation; not this node itself), sorted by site: where a publisher
    /// sends its bundles. A member's certificate need not be admitted yet.
    pub fn member_addrs(&self) -> Vec<(SiteId, SocketAddr)> {
        let mut newest: BTreeMap<&SiteId, (u32, SocketAddr)> = BTreeMap::new();
        for m in self.membership.members() {
            let e = newest.entry(&m.site).or_insert((m.generation, m.gossip));
            if m.generation > e.0 {
                *e = (m.generation, m.gossip);
            }
        }
        newest.into_iter().map(|(site, (_, addr))| (site.clone(), addr)).collect()
    }

    /// `BUNDLE`: emits the bundle if our CA signed it.
    pub(super) fn on_bundle(
        &mut self,
        from: SocketAddr,
        bundle: SignedBundle,
    ) -> Result<(), NodeError> {
        if let Err(e) = bundle.verify(&self.ca) {
            self.counters.bundles_refused += 1;
            return Err(e.into());
        }
        self.counters.bundles_received += 1;
        self.events.push_back(NodeEvent::Bundle { from, bundle });
        Ok(())
    }

    /// `BUNDLE_ACK`: admits the certificate as every certified frame does
    /// (our CA, valid, not revoked), then emits the acknowledgement if it
    /// names that certificate's site and its key signed it.
    pub(super) fn on_bundle_ack(
        &mut self,
        now_unix: u64,
        from: SocketAddr,
        cert: &[u8],
        ack: SignedBundleAck,
    ) -> Result<(), NodeError> {
        let site = match self.admit_bytes(now_unix, from, cert) {
            Ok(s) => s,
            Err(e) => {
                self.counters.acks_refused += 1;
                return Err(e);
            }
        };
        // Admission keeps the certificate it admitted (or a newer one of the
        // same site), so it is there; its key is the one that must have signed.
        let checked = match self.certs.get(&site) {
            Some(held) => ack.verify(&held.cert).map(|_| ()),
            None => Err(BundleError::BadAckSignature),
        };
        if let Err(e) = checked {
            self.counters.acks_refused += 1;
            return Err(e.into());
        }
        self.counters.acks_received += 1;
        self.events.push_back(NodeEvent::BundleAck { from, ack: ack.ack });
        Ok(())
    }

    /// Queues an `SVID_REQUEST` frame to `to`: `request` signed with this
    /// node's site key, with our current certificate (its `site` is set to
    /// this node's). Nothing once the node is quiet.
    pub fn send_svid_request(&mut self, to: SocketAddr, mut request: SvidRequest) {
        if self.quiet {
            return;
        }
        request.site = self.site.clone();
        let request = request.sign(self.membership.auth().site_key());
        if let Ok(bytes) = (Frame::SvidRequest { cert: &self.cert_bytes, request }).encode() {
            self.transmits.push_back(Transmit { to, bytes });
        }
    }

    /// `SVID_REQUEST`: admits the certificate as every certified frame does,
    /// then emits the request if it names that certificate's site and its
    /// key signed it.
    pub(super) fn on_svid_request(
        &mut self,
        now_unix: u64,
        from: SocketAddr,
        cert: &[u8],
        request: SignedSvidRequest,
    ) -> Result<(), NodeError> {
        let site = match self.admit_bytes(now_unix, from, cert) {
            Ok(s) => s,
            Err(e) => {
                self.counters.svid_requests_refused += 1;
                return Err(e);
            }
        };
        let checked = match self.certs.get(&site) {
            Some(held) => request.verify(&held.cert).map(|_| ()),
            None => Err(BundleError::BadAckSignature),
        };
        if let Err(e) = checked {
            self.counters.svid_requests_refused += 1;
            return Err(e.into());
        }
        self.counters.svid_requests_received += 1;
        self.events.push_back(NodeEvent::SvidRequested { from, request: request.request });
        Ok(())
    }
}
