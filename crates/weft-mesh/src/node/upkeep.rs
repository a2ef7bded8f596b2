//! Periodic work: link-state origination, certificate expiry and renewal.

use std::net::SocketAddr;
use std::time::Instant;

use weft_types::SiteId;

use super::MeshNode;
use super::frame::Frame;
use super::link_state::LinkStateAd;
use super::types::{DownReason, NodeEvent};
use crate::identity::{RenewRequest, SiteCert};
use crate::membership::Transmit;

impl MeshNode {
    /// Signs our advertisement, one page per [`MAX_LINK_ENTRIES`](super::MAX_LINK_ENTRIES) links, and
    /// sends every page to every admitted member; the version (the same on
    /// every page) is at least `now_unix × 1000` and always above the last one.
    pub(super) fn originate(&mut self, now: Instant) {
        self.next_ad = now + self.config.link_state_interval;
        self.ls_version = (self.ls_version + 1).max(self.now_unix.saturating_mul(1000));
        let key = self.membership.auth().site_key();
        let Ok(pages) = LinkStateAd::sign_pages_learnt(
            key,
            &self.site,
            self.ls_version,
            &self.local_links,
            (&self.local_learnt, self.local_learn_preference),
        ) else {
            return;
        };
        let mut frames = Vec::with_capacity(pages.len());
        for ad in pages {
            let Ok(bytes) = (Frame::LinkState { cert: &self.cert_bytes, ad: ad.clone() }).encode()
            else {
                return;
            };
            frames.push((ad, bytes));
        }
        let to: Vec<SocketAddr> = self
            .membership
            .members()
            .filter(|m| self.certs.contains_key(&m.site))
            .map(|m| m.gossip)
            .collect();
        for (ad, bytes) in frames {
            self.links.offer(now, ad);
            for &to in &to {
                self.transmits.push_back(Transmit { to, bytes: bytes.clone() });
            }
        }
    }

    pub(super) fn upkeep(&mut self, now: Instant, now_unix: u64) {
        let expired: Vec<SiteId> = self
            .certs
            .iter()
            .filter(|(_, pc)| pc.cert.body.not_after <= now_unix)
            .map(|(s, _)| s.clone())
            .collect();
        for site in expired {
            self.drop_cert(&site, DownReason::Expired);
        }
        self.membership.auth_mut().expire(now_unix);
        let aged = self.links.expire(now, self.config.link_state_max_age, &self.site);
        if aged {
            // Their learnt prefixes are withdrawn with the rest of their state.
            self.reconcile_all_peers();
        }
        self.server.cleanup(now);
        self.hello_unknown(now);
        self.rejoin_if_alone(now);
        self.maybe_renew(now, now_unix);
    }

    /// Announces to the seed again while we know no member: SWIM announces
    /// only to members it knows, so a site whose first announcement (or its
    /// answer) was lost would otherwise stay alone for good.
    fn rejoin_if_alone(&mut self, now: Instant) {
        if self.membership.member_count() > 0 {
            return;
        }
        if let Some(seed) = self.join_seed {
            self.counters.rejoins_while_alone += 1;
            let _ = self.membership.join(now, seed);
            self.pump(now);
        }
    }

    /// HELLOs (rate-limited per site) to members whose certificate we still
    /// lack, in case the first one was lost.
    fn hello_unknown(&mut self, now: Instant) {
        let unknown: Vec<(SiteId, SocketAddr)> = self
            .membership
            .members()
            .filter(|m| !self.certs.contains_key(&m.site))
            .map(|m| (m.site.clone(), m.gossip))
            .collect();
        for (site, to) in unknown {
            self.send_hello(now, &site, to, true);
        }
    }

    fn maybe_renew(&mut self, now: Instant, now_unix: u64) {
        if now_unix < self.cert.renew_at() {
            return;
        }
        let wg = self.cert.body.wg_key;
        let key = self.membership.auth().site_key();
        let req = RenewRequest::new(self.cert.clone(), key, wg, now_unix);
        if let Some(enroller) = self.enroller.as_mut() {
            match enroller.handle_renewal(now_unix, &req) {
                Ok(resp) => {
                    self.events.push_back(NodeEvent::EnrollerChanged);
                    self.install_cert(resp.cert);
                }
                Err(_) => self.counters.renewals_failed += 1,
            }
            return;
        }
        if self.renew_next.is_some_and(|t| now < t) {
            return;
        }
        self.renew_next = Some(now + self.config.renew_retry);
        let Ok(bytes) = Frame::RenewRequest(req).encode() else { return };
        for to in self.config.renew_via.clone() {
            self.counters.renewals_sent += 1;
            self.transmits.push_back(Transmit { to, bytes: bytes.clone() });
        }
    }

    /// Uses `cert` from now on and tells the agent to persist it.
    pub(super) fn install_cert(&mut self, cert: SiteCert) {
        self.cert_bytes = cert.encode();
        self.cert = cert.clone();
        self.renew_next = None;
        self.counters.renewals_done += 1;
        self.events.push_back(NodeEvent::CertRenewed(cert));
    }
}
