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
//! - it overlaps no *different* prefix another site learnt (and may bring
//!   in), nor one we learnt ourselves;
//! - when other sites advertise the very same prefix (two edges of one data
//!   centre), the origin is the edge [`choose_edge`] picks among them: the
//!   reachable one with the highest learn preference, ties broken by site
//!   id. The others are standbys and take over when it withdraws the
//!   prefix, leaves the membership or ages out. A site that learnt the
//!   prefix itself takes it from nobody: it routes it to its router.
//!
//! All of this reads only what every receiver holds alike, so each decides
//! the same whatever order the advertisements came in.
//!
//! A newer version of the origin's advertisement without a prefix withdraws
//! it; when the origin's advertisement ages out (a site cut off), all of its
//! learnt prefixes go with it.

use std::time::Instant;

use weft_types::{IpPrefix, SiteId};

use super::MeshNode;
use super::edge_choice::{EdgeCandidate, SharedLearnt, choose_edge, rank_edges};
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

    /// Sets the learn preference advertised with our learnt prefixes
    /// (higher is preferred when other sites advertise the same prefix). A
    /// change goes out at once.
    pub fn set_learn_preference(&mut self, now: Instant, preference: u32) {
        if preference == self.local_learn_preference {
            return;
        }
        self.local_learn_preference = preference;
        if !self.quiet && !self.local_learnt.is_empty() {
            self.originate(now);
        }
    }

    /// The learnt prefixes this site advertises.
    pub fn local_learnt(&self) -> &[IpPrefix] {
        &self.local_learnt
    }

    /// What `origin` advertises as learnt, as it stands (current set only).
    fn advertised_learnt(&self, origin: &SiteId) -> &[IpPrefix] {
        self.links.current(origin).map_or(&[], |set| set.learnt())
    }

    /// Every other site's advertised learnt prefixes its certificate lets
    /// it bring in, whether this site takes them or not: (site, prefix).
    pub fn advertised_learnt_prefixes(&self) -> Vec<(SiteId, IpPrefix)> {
        self.others_learnt().into_iter().map(|(s, p)| (s.clone(), *p)).collect()
    }

    /// Every other site's advertised learnt prefixes its certificate lets
    /// it bring in: (site, prefix).
    fn others_learnt(&self) -> Vec<(&SiteId, &IpPrefix)> {
        self.certs
            .iter()
            .flat_map(|(s, pc)| {
                let ranges = &pc.cert.body.learn_ranges;
                self.advertised_learnt(s)
                    .iter()
                    .filter(move |p| ranges.covers(p))
                    .map(move |p| (s, p))
            })
            .collect()
    }

    /// `site` as an edge for a shared prefix.
    fn candidate(&self, site: &SiteId) -> EdgeCandidate {
        EdgeCandidate {
            site: site.clone(),
            preference: self.links.current(site).map_or(
                super::link_state::DEFAULT_LEARN_PREFERENCE,
                super::LinkSet::learn_preference,
            ),
            reachable: self.member(site).is_some(),
        }
    }

    /// The learnt prefixes of `origin` (whose certificate says `body`) this
    /// site takes: see the module doc for the rule.
    pub(crate) fn accepted_learnt(&self, origin: &SiteId, body: &CertBody) -> Vec<IpPrefix> {
        let others_cert: Vec<&IpPrefix> = self
            .certs
            .iter()
            .filter(|(s, _)| *s != origin)
            .flat_map(|(_, pc)| pc.cert.body.prefixes.iter())
            .chain(self.cert.body.prefixes.iter())
            .collect();
        let others_learnt: Vec<(&SiteId, &IpPrefix)> =
            self.others_learnt().into_iter().filter(|(s, _)| *s != origin).collect();
        self.advertised_learnt(origin)
            .iter()
            .filter(|p| body.learn_ranges.covers(p))
            .filter(|p| !others_cert.iter().any(|o| o.overlaps(p)))
            .filter(|p| !self.local_learnt.iter().any(|o| o.overlaps(p)))
            .filter(|p| {
                let mut same = Vec::new();
                for (s, o) in &others_learnt {
                    if *o == *p {
                        same.push(self.candidate(s));
                    } else if o.overlaps(p) {
                        return false;
                    }
                }
                if same.is_empty() {
                    return true;
                }
                same.push(self.candidate(origin));
                choose_edge(&same) == Some(origin)
            })
            .copied()
            .collect()
    }

    /// The learnt prefixes more than one site advertises (this one
    /// included) that this site routes somewhere: where each goes and the
    /// standby edges. For `weft bgp status`.
    pub fn shared_learnt(&self) -> Vec<SharedLearnt> {
        let mut by_prefix: std::collections::BTreeMap<IpPrefix, Vec<&SiteId>> =
            std::collections::BTreeMap::new();
        for (s, p) in self.others_learnt() {
            by_prefix.entry(*p).or_default().push(s);
        }
        let mut out = Vec::new();
        for (prefix, sites) in by_prefix {
            let local = self.local_learnt.contains(&prefix);
            if sites.len() + usize::from(local) < 2 {
                continue;
            }
            let mut ranked: Vec<EdgeCandidate> = sites.iter().map(|s| self.candidate(s)).collect();
            rank_edges(&mut ranked);
            let mut order: Vec<SiteId> = ranked.into_iter().map(|c| c.site).collect();
            let via = if local {
                self.site.clone()
            } else {
                let first = order.remove(0);
                let taken = self.certs.get(&first).is_some_and(|pc| {
                    self.accepted_learnt(&first, &pc.cert.body).contains(&prefix)
                });
                if !taken {
                    continue; // refused from every edge (an overlap)
                }
                first
            };
            out.push(SharedLearnt { prefix, via, standby: order });
        }
        out
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

    /// Whether `site` advertises learnt prefixes (its liveness then decides
    /// where shared ones go).
    pub(crate) fn advertises_learnt(&self, site: &SiteId) -> bool {
        !self.advertised_learnt(site).is_empty()
    }

    /// Re-evaluates every site we hold a certificate of: learnt prefixes of
    /// one origin change what the others may bring in. Sites that lose a
    /// prefix go first, so a prefix moving between edges is never held by
    /// two peers at once (the agent refuses a peer claiming another's).
    pub(crate) fn reconcile_all_peers(&mut self) {
        let mut sites: Vec<SiteId> = self.certs.keys().cloned().collect();
        sites.sort_by_cached_key(|s| !self.loses_prefixes(s));
        for s in sites {
            self.reconcile(&s, super::DownReason::Dead);
        }
    }
}
