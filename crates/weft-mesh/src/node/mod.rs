//! The sans-IO core a site agent drives with one UDP socket: SWIM membership
//! with certificates attached, enrolment (server on the CA holder, client on
//! joiners), renewal, revocation flooding, link-state advertisements, the
//! topology filter that turns admitted members into WireGuard peers, and the
//! transport of CA-signed policy bundles and their signed acknowledgements.
//!
//! # Driving a [`MeshNode`]
//! 1. Build it with [`MeshNode::new`] from the site's [`NodeIdentity`] (a
//!    new site gets its certificate with an [`Enrolment`] first; the CA
//!    holder makes its own with
//!    [`Enroller::issue_self`](crate::identity::Enroller::issue_self)).
//! 2. Call [`MeshNode::join`] with a seed's address (not on the seed itself).
//! 3. Loop: feed every datagram to [`MeshNode::handle_datagram`]; call
//!    [`MeshNode::handle_timeout`] when [`MeshNode::poll_timeout`] is due;
//!    after every call send all of [`MeshNode::poll_transmit`] and act on all
//!    of [`MeshNode::poll_event`].
//!
//! A member becomes a peer ([`NodeEvent::PeerUp`]) only when SWIM reports it
//! alive, its certificate verified under the pinned CA (received from the
//! member itself: every `GOSSIP`, `LINK_STATE` and `HELLO` frame carries the
//! sender's certificate), the certificate's WireGuard key equals the one in
//! its metadata, and the topology says we peer. Keys and prefixes always come
//! from the certificate, so an admitted member cannot inject peers with keys
//! of its choosing by gossiping fake metadata. A member we learn of only
//! through others gets a `HELLO`, which brings its certificate within one RTT.
//!
//! # Layout
//! - `frame`: the wire frames. `link_state`: signed advertisement pages.
//!   `link_store`: how received pages make up each origin's links.
//! - `topology`: [`should_peer`]. `types`: config, events, counters, errors.
//! - `enrol_client`: [`Enrolment`]. `server`: the CA holder's enrolment service.
//! - `inbound`: what each frame does. `peers`: certificate admission and peer views.
//! - `learnt`: on-prem prefixes learnt over BGP, advertised on page 0 of the
//!   link state and taken by receivers within the origin's learn ranges.
//!   `edge_choice`: which edge a prefix several sites learnt goes to.
//! - `upkeep`: periodic work (renewal, link state, expiry).
//! - `bundles`: sending CA-signed policy bundles and signed acknowledgements,
//!   and checking received ones.

mod bundles;
mod delegate;
mod edge_choice;
mod enrol_client;
mod frame;
mod inbound;
mod learnt;
mod link_state;
mod link_store;
mod peers;
mod server;
mod topology;
mod types;
mod upkeep;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use weft_types::{SeededRng, SiteId};

pub use delegate::{
    DelegateError, DelegatedAnswer, answer_delegated_request, delegated_request_id,
};
pub use edge_choice::{EdgeCandidate, SharedLearnt, choose_edge, rank_edges};
pub use enrol_client::{
    DEFAULT_ENROL_DEADLINE, EnrolFailure, Enrolled, Enrolment, RESEND_INTERVAL,
};
pub use frame::{
    Frame, FrameError, FrameKind, MAX_REFUSAL_MESSAGE, REQUEST_ID_LEN, RefusalCode, request_id,
};
pub use link_state::{
    DEFAULT_LEARN_PREFERENCE, LinkEntry, LinkStateAd, MAX_LEARNT_PREFIXES, MAX_LINK_ENTRIES,
    MAX_LINK_PAGES, MAX_LINKS,
};
pub use link_store::LinkSet;
pub use topology::{HUB_ROLE, SiteTraits, TopologyMode, should_peer};
pub use types::{
    DownReason, NodeConfig, NodeCounters, NodeError, NodeEvent, NodeIdentity, PeerView, TokenSpec,
};

use crate::cert_auth::CertAuthenticator;
use crate::identity::{
    CaPublicKey, Enroller, EnrollerState, JoinToken, SignedRevocations, SiteCert, TokenBody,
    TokenId,
};
use crate::membership::{MemberInfo, Membership, Transmit};
use link_store::LinkStore;
use peers::PeerCert;
use server::EnrolServer;

/// How often expiry and renewal are checked at most.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// One site's mesh agent core, sans-IO. See the module doc for how to drive it.
#[derive(Debug)]
pub struct MeshNode {
    membership: Membership<CertAuthenticator>,
    site: SiteId,
    cert: SiteCert,
    cert_bytes: Vec<u8>,
    ca: CaPublicKey,
    config: NodeConfig,
    enroller: Option<Enroller>,
    server: EnrolServer,
    /// Enrolment is answered by the control plane's leader (see `delegate`).
    delegated: bool,
    certs: BTreeMap<SiteId, PeerCert>,
    peers: BTreeMap<SiteId, PeerView>,
    hello_sent: BTreeMap<SiteId, Instant>,
    /// When each address of a revoked site was last sent the revocation list.
    revoked_told: BTreeMap<SocketAddr, u64>,
    links: LinkStore,
    /// Origin → members whose latest advertisement says their link to it is
    /// down (they get the origin's advertisements forwarded).
    cut_off: BTreeMap<SiteId, std::collections::BTreeSet<SiteId>>,
    local_links: Vec<LinkEntry>,
    /// Our accepted learnt prefixes, advertised on page 0.
    local_learnt: Vec<weft_types::IpPrefix>,
    /// The learn preference advertised with them.
    local_learn_preference: u32,
    ls_version: u64,
    next_ad: Instant,
    next_upkeep: Instant,
    /// The seed joined through: announced to again at every upkeep while
    /// no member is known (a lost first announcement left a site alone for
    /// good).
    join_seed: Option<SocketAddr>,
    renew_next: Option<Instant>,
    last_revocations: Option<SignedRevocations>,
    rng: SeededRng,
    transmits: VecDeque<Transmit>,
    events: VecDeque<NodeEvent>,
    counters: NodeCounters,
    quiet: bool,
    now: Instant,
    now_unix: u64,
}

impl MeshNode {
    /// A node that knows nobody yet. `info` is our membership metadata (its
    /// site and WireGuard key must match the certificate); `enroller` is
    /// `Some` on the CA holder only; `seed` drives SWIM's and token ids'
    /// randomness (draw it fresh at every start).
    pub fn new(
        info: MemberInfo,
        me: NodeIdentity,
        config: NodeConfig,
        enroller: Option<Enroller>,
        seed: u64,
        now: Instant,
        now_unix: u64,
    ) -> Result<Self, NodeError> {
        let NodeIdentity { site_key, cert, ca } = me;
        cert.check_signature(&ca)?;
        if cert.body.site != info.site {
            return Err(NodeError::Identity("the certificate names another site"));
        }
        if cert.body.site_key != site_key.public() {
            return Err(NodeError::Identity("the certificate names another site key"));
        }
        if cert.body.wg_key != info.wg_public_key {
            return Err(NodeError::Identity("the certificate names another WireGuard key"));
        }
        if enroller.as_ref().is_some_and(|e| e.ca_public() != ca) {
            return Err(NodeError::Identity("the enroller holds another CA"));
        }
        let site = info.site.clone();
        let auth = CertAuthenticator::new(site_key, ca);
        let membership = Membership::new(info, config.membership.clone(), auth, seed)?;
        let mut node = Self {
            membership,
            site,
            cert_bytes: cert.encode(),
            cert,
            ca,
            enroller,
            server: EnrolServer::default(),
            delegated: false,
            certs: BTreeMap::new(),
            peers: BTreeMap::new(),
            hello_sent: BTreeMap::new(),
            revoked_told: BTreeMap::new(),
            links: LinkStore::default(),
            cut_off: BTreeMap::new(),
            local_links: Vec::new(),
            local_learnt: Vec::new(),
            local_learn_preference: DEFAULT_LEARN_PREFERENCE,
            ls_version: now_unix.saturating_mul(1000),
            next_ad: now + config.link_state_interval,
            next_upkeep: now,
            join_seed: None,
            renew_next: None,
            last_revocations: None,
            rng: SeededRng::new(seed ^ 0x746f_6b65_6e5f_6964),
            config,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            counters: NodeCounters::default(),
            quiet: false,
            now,
            now_unix,
        };
        if let Some(list) = node.enroller.as_ref().map(Enroller::signed_revocations) {
            node.membership.auth_mut().update_revocations(&list)?;
            node.last_revocations = Some(list);
        }
        Ok(node)
    }

    /// Joins the mesh through the seed at `seed_addr` (foca announce).
    pub fn join(&mut self, now: Instant, seed_addr: SocketAddr) -> Result<(), NodeError> {
        self.now = now;
        if self.quiet {
            return Err(NodeError::Quiet);
        }
        self.join_seed = Some(seed_addr);
        let r = self.membership.join(now, seed_addr);
        self.pump(now);
        Ok(r?)
    }

    /// Leaves the mesh: tells a few members, then reports every peer down
    /// with [`DownReason::Left`].
    pub fn leave(&mut self, now: Instant) -> Result<(), NodeError> {
        let r = self.membership.leave(now);
        self.pump(now);
        for site in std::mem::take(&mut self.peers).into_keys() {
            self.events.push_back(NodeEvent::PeerDown { site, reason: DownReason::Left });
        }
        Ok(r?)
    }

    /// Replaces our membership metadata (new endpoints); site and WireGuard
    /// key must stay those of the certificate.
    pub fn set_info(&mut self, now: Instant, info: MemberInfo) -> Result<(), NodeError> {
        if info.site != self.site || info.wg_public_key != self.cert.body.wg_key {
            return Err(NodeError::Identity("metadata must match the certificate"));
        }
        let r = self.membership.set_info(now, info);
        self.pump(now);
        Ok(r?)
    }

    /// Handles one datagram of any frame kind from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        now_unix: u64,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), NodeError> {
        self.now = now;
        self.now_unix = now_unix;
        if self.quiet {
            return Err(NodeError::Quiet);
        }
        let frame = match Frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                if matches!(e, FrameError::UnknownKind(_)) {
                    self.counters.frames_unknown_kind += 1;
                } else {
                    self.counters.frames_malformed += 1;
                }
                match bytes.first().copied().and_then(FrameKind::from_byte) {
                    Some(FrameKind::Bundle) => self.counters.bundles_refused += 1,
                    Some(FrameKind::BundleAck) => self.counters.acks_refused += 1,
                    _ => {}
                }
                return Err(e.into());
            }
        };
        self.handle_frame(now, now_unix, from, bytes, frame)
    }

    /// Runs due SWIM timers, link-state origination, renewal and expiry.
    pub fn handle_timeout(&mut self, now: Instant, now_unix: u64) {
        self.now = now;
        self.now_unix = now_unix;
        if self.quiet {
            return;
        }
        self.membership.handle_timeout(now);
        self.pump(now);
        if now >= self.next_ad {
            self.originate(now);
        }
        if now >= self.next_upkeep {
            self.next_upkeep = now + UPKEEP_INTERVAL.min(self.config.link_state_interval);
            self.upkeep(now, now_unix);
        }
    }

    /// The next datagram to send: our own frames first, then SWIM's wrapped
    /// in `GOSSIP` frames with our certificate. Nothing once we are revoked.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.quiet {
            self.transmits.clear();
            while self.membership.poll_transmit().is_some() {}
            return None;
        }
        if let Some(t) = self.transmits.pop_front() {
            return Some(t);
        }
        let t = self.membership.poll_transmit()?;
        let frame = Frame::Gossip { cert: &self.cert_bytes, envelope: &t.bytes };
        Some(Transmit { to: t.to, bytes: frame.encode().unwrap_or_default() })
    }

    /// The next event for the agent.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next (`None` once quiet).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.quiet {
            return None;
        }
        let ours = self.next_ad.min(self.next_upkeep);
        Some(self.membership.poll_timeout().map_or(ours, |t| t.min(ours)))
    }

    /// Replaces our measured links (at most [`MAX_LINKS`]; extra entries
    /// are dropped). They are advertised in pages of [`MAX_LINK_ENTRIES`],
    /// in this order. A change of any entry's `up` (or a neighbour added or
    /// removed) is advertised at once; other changes at the next interval.
    pub fn set_local_links(&mut self, now: Instant, mut links: Vec<LinkEntry>) {
        links.truncate(MAX_LINKS);
        // An `up` or a relay that changed goes out at once; a new RTT waits.
        let ups = |l: &[LinkEntry]| -> Vec<(SiteId, bool, Option<SiteId>)> {
            let mut v: Vec<_> =
                l.iter().map(|e| (e.neighbour.clone(), e.up, e.via.clone())).collect();
            v.sort();
            v
        };
        let flipped = ups(&links) != ups(&self.local_links);
        self.local_links = links;
        if flipped && !self.quiet {
            self.originate(now);
        }
    }

    /// The newest complete, unexpired advertisement (every page of one
    /// version) per origin, our own included.
    pub fn link_states(&self) -> impl Iterator<Item = (&SiteId, &LinkSet)> {
        self.links.fresh(self.now, self.config.link_state_max_age, &self.site)
    }

    /// The current peers (admitted, alive and chosen by the topology).
    pub fn peers(&self) -> impl Iterator<Item = &PeerView> {
        self.peers.values()
    }

    /// Members this site does not peer with because of the topology (say,
    /// another spoke in hub-and-spoke) but whose certificate it verified and
    /// which are alive: reachable through a relay. Sorted by site; each with
    /// the certificate's claims (prefixes, role, region) — never gossip's.
    pub fn reachable_via_relay(&self) -> Vec<(&SiteId, &crate::identity::CertBody)> {
        self.certs
            .iter()
            .filter(|(site, _)| !self.peers.contains_key(*site))
            .filter(|(site, c)| {
                self.member(site).is_some_and(|m| m.wg_public_key == c.cert.body.wg_key)
            })
            .map(|(site, c)| (site, &c.cert.body))
            .collect()
    }

    /// Mints a join token (CA holder only). Its id is drawn from the seed.
    pub fn issue_token(&mut self, now_unix: u64, spec: TokenSpec) -> Result<JoinToken, NodeError> {
        let enroller = self.enroller.as_ref().ok_or(NodeError::NotCaHolder)?;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&(self.rng.next_u64() ^ now_unix).to_be_bytes());
        Ok(enroller.ca().issue_token(TokenBody {
            id: TokenId(id),
            expires_at: now_unix.saturating_add(spec.ttl_s),
            max_uses: spec.uses,
            role: spec.role,
            region: spec.region,
            allowed_prefixes: spec.allowed_prefixes,
            allowed_learn: spec.allowed_learn,
        }))
    }

    /// Revokes `site` (CA holder only): updates the enroller, applies the
    /// list here (peer down at once) and floods it to every known member.
    pub fn revoke(
        &mut self,
        now: Instant,
        now_unix: u64,
        site: SiteId,
    ) -> Result<SignedRevocations, NodeError> {
        self.now = now;
        self.now_unix = now_unix;
        let enroller = self.enroller.as_mut().ok_or(NodeError::NotCaHolder)?;
        let list = enroller.revoke_site(site)?;
        self.server.forget_answers();
        self.events.push_back(NodeEvent::EnrollerChanged);
        self.handle_revocations(now, &list)?;
        Ok(list)
    }

    /// Our current certificate.
    pub fn cert(&self) -> &SiteCert {
        &self.cert
    }

    /// The pinned mesh CA.
    pub fn ca(&self) -> &CaPublicKey {
        &self.ca
    }

    /// The enroller's state (CA holder only), to persist on
    /// [`NodeEvent::EnrollerChanged`].
    pub fn enroller_state(&self) -> Option<&EnrollerState> {
        self.enroller.as_ref().map(Enroller::state)
    }

    /// Whether a revocation list named us (the node ignores everything then).
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Totals so far, the membership's included.
    pub fn counters(&self) -> NodeCounters {
        NodeCounters { membership: self.membership.counters().clone(), ..self.counters.clone() }
    }

    /// The SWIM membership underneath (members, configuration).
    pub fn membership(&self) -> &Membership<CertAuthenticator> {
        &self.membership
    }
}
