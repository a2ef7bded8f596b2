//! Certificate admission and the peer set: which members are peers, and the
//! events when that changes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weft_types::SiteId;

use super::MeshNode;
use super::frame::Frame;
use super::topology::{SiteTraits, should_peer};
use super::types::{DownReason, NodeError, NodeEvent, PeerView};
use crate::identity::{CertError, SiteCert};
use crate::membership::{MemberEvent, MemberInfo, Transmit};

/// How often at most a `HELLO` goes to one member.
const HELLO_INTERVAL: Duration = Duration::from_secs(1);

/// An admitted certificate and its exact bytes (the cache key).
#[derive(Clone, Debug)]
pub(super) struct PeerCert {
    pub(super) bytes: Vec<u8>,
    pub(super) cert: SiteCert,
}

impl MeshNode {
    /// Admits the certificate `bytes` sent from `from`; returns its site.
    /// Unchanged bytes are not verified again; an older serial than the one
    /// held is ignored (the held one stays).
    pub(super) fn admit_bytes(
        &mut self,
        now_unix: u64,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<SiteId, NodeError> {
        let cert = match SiteCert::decode(bytes) {
            Ok(c) => c,
            Err(e) => {
                self.counters.certs_refused_malformed += 1;
                return Err(e.into());
            }
        };
        let site = cert.body.site.clone();
        if site == self.site {
            self.counters.certs_refused_own_site += 1;
            return Err(NodeError::OwnSite);
        }
        if let Some(held) = self.certs.get(&site) {
            if held.bytes == bytes {
                if now_unix < held.cert.body.not_after {
                    return Ok(site);
                }
                self.counters.certs_refused_expired += 1;
                let not_after = held.cert.body.not_after;
                return Err(CertError::Expired { not_after, now: now_unix }.into());
            }
            if held.cert.body.serial >= cert.body.serial {
                return Ok(site);
            }
        }
        if let Err(e) = self.membership.auth_mut().admit(&cert, now_unix) {
            let c = &mut self.counters;
            match e {
                CertError::WrongCa { .. } => c.certs_refused_wrong_ca += 1,
                CertError::BadSignature => c.certs_refused_bad_signature += 1,
                CertError::Expired { .. } | CertError::NotYetValid { .. } => {
                    c.certs_refused_expired += 1;
                }
                CertError::Revoked { .. } => {
                    c.certs_refused_revoked += 1;
                    self.tell_revoked(now_unix, from);
                }
                _ => c.certs_refused_malformed += 1,
            }
            return Err(e.into());
        }
        self.counters.certs_admitted += 1;
        let first =
            self.certs.insert(site.clone(), PeerCert { bytes: bytes.to_vec(), cert }).is_none();
        let version = self.membership.auth().revocations().version();
        if first && version > 0 {
            self.send_revocations_to(from);
        }
        self.reconcile(&site, DownReason::Dead);
        Ok(site)
    }

    /// Sends our revocation list to `to`.
    pub(super) fn send_revocations_to(&mut self, to: SocketAddr) {
        let Some(list) = self.last_revocations.clone() else { return };
        if let Ok(bytes) = Frame::Revocations(list).encode() {
            self.transmits.push_back(Transmit { to, bytes });
        }
    }

    /// Sends the revocation list to a revoked site that is still talking (it
    /// restarted, or missed the flood), so it learns and goes quiet; at most
    /// every 5 s per address.
    fn tell_revoked(&mut self, now_unix: u64, to: SocketAddr) {
        if self.revoked_told.get(&to).is_some_and(|at| now_unix < at + 5) {
            return;
        }
        if self.revoked_told.len() >= 4096 {
            self.revoked_told.retain(|_, at| now_unix < *at + 5);
            if self.revoked_told.len() >= 4096 {
                return;
            }
        }
        self.revoked_told.insert(to, now_unix);
        self.send_revocations_to(to);
    }

    /// Handles what the membership reported since the last call.
    pub(super) fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.membership.poll_event() {
            match ev {
                MemberEvent::Joined(info) | MemberEvent::Updated(info) => {
                    if !self.certs.contains_key(&info.site) {
                        self.send_hello(now, &info.site, info.gossip, true);
                    }
                    self.reconcile_member(&info.site);
                }
                MemberEvent::Down(info) => {
                    // Its signed advertisement stays until it ages out: gossip
                    // calling a member dead (we, or it, were cut off for a
                    // moment) does not make its word false, and the relays
                    // it names are what the destination accepts its traffic
                    // through meanwhile. Revocation removes it at once.
                    self.reconcile_member(&info.site);
                }
                MemberEvent::Suspect(_) | MemberEvent::Left(_) | MemberEvent::Rejoined(_) => {}
            }
        }
    }

    /// Re-evaluates a member whose liveness changed: all peers when it
    /// advertises learnt prefixes (shared ones may move to or from it).
    fn reconcile_member(&mut self, site: &SiteId) {
        if self.advertises_learnt(site) {
            self.reconcile_all_peers();
        } else {
            self.reconcile(site, DownReason::Dead);
        }
    }

    /// Sends a `HELLO` with our certificate to `to` (at most once a second per site).
    /// Replies are limited the same way: a replayed certificate from a
    /// spoofed address must not turn us into a reflector.
    pub(super) fn send_hello(&mut self, now: Instant, site: &SiteId, to: SocketAddr, reply: bool) {
        if self.hello_sent.get(site).is_some_and(|&at| now < at + HELLO_INTERVAL) {
            return;
        }
        if self.hello_sent.len() >= 4096 {
            self.hello_sent.retain(|_, at| now < *at + HELLO_INTERVAL);
        }
        self.hello_sent.insert(site.clone(), now);
        if let Ok(bytes) = (Frame::Hello { reply, cert: &self.cert_bytes }).encode() {
            self.counters.hellos_sent += 1;
            self.transmits.push_back(Transmit { to, bytes });
        }
    }

    /// The alive member `site`, newest generation.
    pub(super) fn member(&self, site: &SiteId) -> Option<&MemberInfo> {
        self.membership.members().filter(|m| m.site == *site).max_by_key(|m| m.generation)
    }

    fn desired(&self, site: &SiteId) -> Option<PeerView> {
        let info = self.member(site)?;
        let b = &self.certs.get(site)?.cert.body;
        if b.wg_key != info.wg_public_key {
            return None;
        }
        let me = SiteTraits::of(&self.cert.body);
        if !should_peer(&self.config.topology, me, SiteTraits::of(b)) {
            return None;
        }
        Some(PeerView {
            site: site.clone(),
            wg_key: b.wg_key,
            prefixes: self.prefixes_with_learnt(site, b),
            role: b.role.clone(),
            region: b.region.clone(),
            endpoints: info.endpoints.clone(),
            gossip: info.gossip,
            serial: b.serial,
            cert_not_after: b.not_after,
        })
    }

    /// Whether re-evaluating `site` would take a prefix from its peer view
    /// (or the whole view).
    pub(super) fn loses_prefixes(&self, site: &SiteId) -> bool {
        let Some(old) = self.peers.get(site) else { return false };
        match self.desired(site) {
            None => true,
            Some(v) => old.prefixes.iter().any(|p| !v.prefixes.as_slice().contains(p)),
        }
    }

    /// Re-evaluates `site` and emits `PeerUp` / `PeerChanged` / `PeerDown{reason}`.
    pub(super) fn reconcile(&mut self, site: &SiteId, reason: DownReason) {
        let want = self.desired(site);
        match (self.peers.get(site), want) {
            (None, Some(v)) => {
                self.peers.insert(site.clone(), v.clone());
                self.events.push_back(NodeEvent::PeerUp(v));
            }
            (Some(old), Some(v)) if *old != v => {
                self.peers.insert(site.clone(), v.clone());
                self.events.push_back(NodeEvent::PeerChanged(v));
            }
            (Some(_), None) => {
                self.peers.remove(site);
                self.events.push_back(NodeEvent::PeerDown { site: site.clone(), reason });
            }
            _ => {}
        }
    }

    /// Forgets `site`'s certificate and advertisement; `PeerDown{reason}` if it was a peer.
    pub(super) fn drop_cert(&mut self, site: &SiteId, reason: DownReason) {
        self.certs.remove(site);
        let had_learnt = self.links.current(site).is_some_and(|s| !s.learnt().is_empty());
        self.links.remove(site);
        self.reconcile(site, reason);
        if had_learnt {
            self.reconcile_all_peers();
        }
    }
}
