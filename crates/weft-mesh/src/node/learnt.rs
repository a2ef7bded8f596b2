//! On-prem prefixes sites learnt from their routers over BGP, as the mesh
//! carries them: each origin lists those it accepted on page 0 of its
//! link-state advertisement; every receiver takes them, as more of the
//! origin's prefixes in its [`PeerView`](super::PeerView), only when
//!
//! - one of the learn ranges of the origin's certificate (signed by the
//!   mesh CA) covers the prefix: neither gossip nor the origin's own word
//!   widens what a site may bring in;
//! - it overlaps no prefix of any other site's certificate (ours included):
//!   a learnt route never steals a site's overlay addresses;
//! - it overlaps no prefix another site learnt (and may bring in), nor one
//!   we learnt ourselves: two edges learning the same on-prem range is not
//!   resolved yet, so both are refused, the same on every receiver whatever
//!   order the advertisements came in.
//!
//! A newer version of the origin's advertisement without a prefix withdraws
//! it; when the origin's advertisement ages out (a site cut off), all of its
//! learnt prefixes go with it.

use std::time::Instant;

use weft_types::{IpPrefix, SiteId};

use super::MeshNode;
use super::link_state::MAX_LEARNT_PREFIXES;
use crate::identity::{CertBody, PrefixList};

impl MeshNode {
    /// Replaces the on-prem prefixes this site learnt and accepted (at most
    /// [`MAX_LEARNT_PREFIXES`]; more are dropped), to advertise on page 0
    /// of its link state. A change goes out at once.
    pub fn set_local_learnt(&mut self, now: Instant, mut learnt: Vec<IpPrefix>) {
        learnt.sort();
        learnt.dedup();
        learnt.truncate(MAX_LEARNT_PREFIXES);
        if learnt == self.local_learnt {
            return;
        }
        self.local_learnt = learnt;
        self.reconcile_all_peers();
        if !self.quiet {
            self.originate(now);
        }
    }

    /// The learnt prefixes this site advertises.
    pub fn local_learnt(&self) -> &[IpPrefix] {
        &self.local_learnt
    }

    /// What `origin` advertises as learnt, as it stands (current set only).
    fn advertised_learnt(&self, origin: &SiteId) -> &[IpPrefix] {
        self.links
            .current(origin)
            .and_then(|set| set.pages().first())
            .map_or(&[], |p| p.learnt.as_slice())
    }

    /// The learnt prefixes of `origin` (whose certificate says `body`) this
    /// site takes: see the module doc for the rule.
    pub(crate) fn accepted_learnt(&self, origin: &SiteId, body: &CertBody) -> Vec<IpPrefix> {
        let others_cert = self
            .certs
            .iter()
            .filter(|(s, _)| *s != origin)
            .flat_map(|(_, pc)| pc.cert.body.prefixes.iter())
            .chain(self.cert.body.prefixes.iter());
        let others_cert: Vec<&IpPrefix> = others_cert.collect();
        let others_learnt: Vec<&IpPrefix> = self
            .certs
            .iter()
            .filter(|(s, _)| *s != origin)
            .flat_map(|(s, pc)| {
                let ranges = &pc.cert.body.learn_ranges;
                self.advertised_learnt(s).iter().filter(move |p| ranges.covers(p))
            })
            .chain(self.local_learnt.iter())
            .collect();
        self.advertised_learnt(origin)
            .iter()
            .filter(|p| body.learn_ranges.covers(p))
            .filter(|p| !others_cert.iter().any(|o| o.overlaps(p)))
            .filter(|p| !others_learnt.iter().any(|o| o.overlaps(p)))
            .copied()
            .collect()
    }

    /// The prefixes of `origin` (whose certificate says `body`) as this site
    /// takes them: the certificate's, followed by the accepted learnt ones
    /// not already among them (at most [`PrefixList::MAX`] in all). Peer
    /// views carry them; the agent uses it for members reached through a
    /// relay too.
    pub fn prefixes_with_learnt(&self, origin: &SiteId, body: &CertBody) -> PrefixList {
        let learnt = self.accepted_learnt(origin, body);
        if learnt.is_empty() {
            return body.prefixes.clone();
        }
        let mut all: Vec<IpPrefix> = body.prefixes.as_slice().to_vec();
        for p in learnt {
            if all.len() < PrefixList::MAX && !all.contains(&p) {
                all.push(p);
            }
        }
        PrefixList::new(all).unwrap_or_else(|_| body.prefixes.clone())
    }

    /// Re-evaluates every site we hold a certificate of: learnt prefixes of
    /// one origin change what the others may bring in.
    pub(crate) fn reconcile_all_peers(&mut self) {
        let sites: Vec<SiteId> = self.certs.keys().cloned().collect();
        for s in sites {
            self.reconcile(&s, super::DownReason::Dead);
        }
    }
}
