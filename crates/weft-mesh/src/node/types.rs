//! The plain data [`MeshNode`](super::MeshNode) takes and gives: its
//! configuration, identity, events, peer views, counters and errors.

use std::net::SocketAddr;
use std::time::Duration;

use weft_types::{PublicKey, SiteId};

use super::frame::FrameError;
use super::topology::TopologyMode;
use crate::identity::{
    BundleAck, BundleError, CaPublicKey, CertError, Label, LearnRanges, PrefixList,
    RevocationError, SignedBundle, SiteCert, SiteKey,
};
use crate::membership::{ConfigError, Counters, GossipError, MembershipConfig};

/// How a node behaves. Start from [`NodeConfig::new`] and adjust fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// SWIM tuning.
    pub membership: MembershipConfig,
    /// Which admitted members become peers.
    pub topology: TopologyMode,
    /// How often our link-state advertisement is sent.
    pub link_state_interval: Duration,
    /// How long a received advertisement (all pages of one version, from
    /// when the last arrived) counts without a newer one.
    pub link_state_max_age: Duration,
    /// Where renewal requests go (the seeds that hold the CA).
    pub renew_via: Vec<SocketAddr>,
    /// How often an unanswered renewal is resent.
    pub renew_retry: Duration,
}

impl NodeConfig {
    /// Full mesh, link state every 1 s kept 5 s, renewals retried every 5 s
    /// via `renew_via`.
    pub fn new(membership: MembershipConfig, renew_via: Vec<SocketAddr>) -> Self {
        Self {
            membership,
            topology: TopologyMode::FullMesh,
            link_state_interval: Duration::from_secs(1),
            link_state_max_age: Duration::from_secs(5),
            renew_via,
            renew_retry: Duration::from_secs(5),
        }
    }

    /// [`NodeConfig::new`] with [`MembershipConfig::lan`].
    pub fn lan(renew_via: Vec<SocketAddr>) -> Self {
        Self::new(MembershipConfig::lan(), renew_via)
    }

    /// [`NodeConfig::new`] with [`MembershipConfig::wan`].
    pub fn wan(renew_via: Vec<SocketAddr>) -> Self {
        Self::new(MembershipConfig::wan(), renew_via)
    }
}

impl Default for NodeConfig {
    /// WAN membership, no renewal targets (right for the CA holder, which
    /// renews itself).
    fn default() -> Self {
        Self::wan(Vec::new())
    }
}

/// Who this node is: its key, its certificate and the pinned mesh CA.
#[derive(Debug)]
pub struct NodeIdentity {
    /// The site's Ed25519 key (the certificate names its public half).
    pub site_key: SiteKey,
    /// The site's current certificate.
    pub cert: SiteCert,
    /// The mesh CA pinned at enrolment.
    pub ca: CaPublicKey,
}

/// What a join token minted by [`MeshNode::issue_token`](super::MeshNode::issue_token) allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSpec {
    /// Seconds from now until the token expires.
    pub ttl_s: u64,
    /// How many sites may enrol with it.
    pub uses: u32,
    /// The role certified to those sites.
    pub role: Label,
    /// The region certified to those sites.
    pub region: Label,
    /// If set, the prefixes those sites may ask for.
    pub allowed_prefixes: Option<PrefixList>,
    /// The on-prem ranges those sites may bring into the mesh (empty: none).
    pub allowed_learn: LearnRanges,
}

/// A peer as the agent configures it: keys and prefixes from its verified
/// certificate, addresses from its membership metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerView {
    /// Site id.
    pub site: SiteId,
    /// WireGuard key (from the certificate, never from gossip).
    pub wg_key: PublicKey,
    /// Overlay prefixes (from the certificate).
    pub prefixes: PrefixList,
    /// Role (from the certificate).
    pub role: Label,
    /// Region (from the certificate).
    pub region: Label,
    /// WireGuard endpoints (from membership metadata).
    pub endpoints: Vec<SocketAddr>,
    /// Gossip address (from membership metadata).
    pub gossip: SocketAddr,
    /// The certificate's serial.
    pub serial: u64,
    /// When the certificate expires, Unix seconds.
    pub cert_not_after: u64,
}

/// Why a peer went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// SWIM declared it down (failed or left: SWIM does not tell them
    /// apart), or its metadata stopped matching its certificate.
    Dead,
    /// We left the mesh ourselves ([`MeshNode::leave`](super::MeshNode::leave)).
    Left,
    /// A revocation list names it.
    Revoked,
    /// Its certificate expired without a renewal.
    Expired,
}

/// What the agent must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// Build a tunnel to this peer.
    PeerUp(PeerView),
    /// A peer's endpoints or certificate changed: update its tunnel.
    PeerChanged(PeerView),
    /// Remove this peer's tunnel.
    PeerDown {
        /// The peer.
        site: SiteId,
        /// Why.
        reason: DownReason,
    },
    /// A revocation list names us: the node has gone quiet; tear everything down.
    SelfRevoked,
    /// Our certificate was renewed: persist it (the node already uses it).
    CertRenewed(SiteCert),
    /// The CA holder's enroller state changed: persist
    /// [`MeshNode::enroller_state`](super::MeshNode::enroller_state).
    EnrollerChanged,
    /// An enrolment or renewal request passed the checks that need no
    /// ledger, and enrolment is delegated
    /// ([`MeshNode::delegate_enrolment`](super::MeshNode::delegate_enrolment)):
    /// have the control plane's leader answer it, then call
    /// [`MeshNode::answer_delegated`](super::MeshNode::answer_delegated).
    EnrolDelegated {
        /// Who asked (answer there).
        from: SocketAddr,
        /// The request frame, as received.
        request: Vec<u8>,
    },
    /// The CA holder enrolled a site (for the event log).
    Enrolled {
        /// The site.
        site: SiteId,
        /// Its certificate's serial.
        serial: u64,
    },
    /// A bundle signed by the mesh CA arrived (signature checked; whether it
    /// is meant for this site, see [`SignedBundle::is_for`], and whether to
    /// install it are the agent's call).
    Bundle {
        /// The address it came from (not authenticated: anyone may forward a
        /// CA-signed bundle).
        from: SocketAddr,
        /// The bundle.
        bundle: SignedBundle,
    },
    /// A site acknowledged a bundle: its certificate was admitted and the
    /// acknowledgement is signed by that certificate's site key and names
    /// its site.
    BundleAck {
        /// The address it came from.
        from: SocketAddr,
        /// The acknowledgement.
        ack: BundleAck,
    },
    /// A site asks for an X.509-SVID: its certificate was admitted and the
    /// request is signed by that certificate's site key and names its site.
    /// Answer with a `Svid` bundle to `from` (the control plane's leader
    /// does; see [`MeshNode::send_bundle`](super::MeshNode::send_bundle)).
    SvidRequested {
        /// The address it came from.
        from: SocketAddr,
        /// The request.
        request: crate::identity::SvidRequest,
    },
}

/// Running totals of a node (its own frames; SWIM's are in `membership`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Datagrams that were not a frame (truncated, bad field).
    pub frames_malformed: u64,
    /// Datagrams whose kind byte names no frame.
    pub frames_unknown_kind: u64,
    /// Frames not meant for this node (e.g. an enrolment request at a non-CA holder).
    pub frames_ignored: u64,
    /// Certificates refused: not parseable.
    pub certs_refused_malformed: u64,
    /// Certificates refused: another CA issued them.
    pub certs_refused_wrong_ca: u64,
    /// Certificates refused: bad CA signature.
    pub certs_refused_bad_signature: u64,
    /// Certificates refused: expired or not yet valid.
    pub certs_refused_expired: u64,
    /// Certificates refused: revoked.
    pub certs_refused_revoked: u64,
    /// Certificates refused: our own site's, sent by someone else.
    pub certs_refused_own_site: u64,
    /// Certificates admitted (first sight or renewal).
    pub certs_admitted: u64,
    /// Sites enrolled (CA holder).
    pub enrolments_ok: u64,
    /// Enrolment or renewal requests refused by the enroller (CA holder).
    pub enrolments_refused: u64,
    /// Enrolment and renewal requests handed to the control plane's leader.
    pub enrolments_delegated: u64,
    /// Enrolment or renewal requests dropped by the per-address rate limit.
    pub enrolments_rate_limited: u64,
    /// Renewals served (CA holder).
    pub renewals_served: u64,
    /// Renewal requests sent.
    pub renewals_sent: u64,
    /// Our own certificate renewed.
    pub renewals_done: u64,
    /// Renewal answers or local renewals that failed.
    pub renewals_failed: u64,
    /// Newer revocation lists applied.
    pub revocations_applied: u64,
    /// Revocation lists refused (bad signature, malformed).
    pub revocations_refused: u64,
    /// Link-state advertisement pages accepted.
    pub link_states_accepted: u64,
    /// Link-state advertisement pages refused (bad signature, origin mismatch).
    pub link_states_refused: u64,
    /// Link-state advertisement pages ignored as held already or older than
    /// what is held.
    pub link_states_stale: u64,
    /// Link-state advertisement pages forwarded to members cut off from their origin.
    pub link_states_forwarded: u64,
    /// Announcements to the seed repeated because no member was known.
    pub rejoins_while_alone: u64,
    /// `HELLOs` sent.
    pub hellos_sent: u64,
    /// `HELLOs` received.
    pub hellos_received: u64,
    /// Gossip envelopes the membership refused (details in `membership`).
    pub gossip_refused: u64,
    /// `BUNDLE` frames sent.
    pub bundles_sent: u64,
    /// Bundles received with a valid CA signature (each a [`NodeEvent::Bundle`]).
    pub bundles_received: u64,
    /// `BUNDLE` frames refused: malformed, another CA, bad signature.
    pub bundles_refused: u64,
    /// `BUNDLE_ACK` frames sent.
    pub acks_sent: u64,
    /// Acknowledgements accepted (each a [`NodeEvent::BundleAck`]).
    pub acks_received: u64,
    /// `BUNDLE_ACK` frames refused: malformed, certificate not admitted,
    /// site mismatch, bad signature (a refused certificate is also counted
    /// in `certs_refused_*`).
    pub acks_refused: u64,
    /// SVID requests received and verified.
    pub svid_requests_received: u64,
    /// SVID requests refused (certificate not admitted, or a bad signature).
    pub svid_requests_refused: u64,
    /// The membership's own counters.
    pub membership: Counters,
}

impl NodeCounters {
    /// All refused certificates.
    pub fn certs_refused(&self) -> u64 {
        self.certs_refused_malformed
            + self.certs_refused_wrong_ca
            + self.certs_refused_bad_signature
            + self.certs_refused_expired
            + self.certs_refused_revoked
            + self.certs_refused_own_site
    }
}

/// Why a node call failed. Input errors (`Frame`, `Cert`, `Gossip`,
/// `LinkState`, `Revocations`, `Bundle`, `RateLimited`) leave the state
/// unchanged and are counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The datagram is not a frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The attached certificate was refused.
    #[error("certificate refused: {0}")]
    Cert(#[from] CertError),
    /// The attached certificate is our own site's.
    #[error("a frame from another address carried our own certificate")]
    OwnSite,
    /// The membership refused the gossip envelope.
    #[error(transparent)]
    Gossip(#[from] GossipError),
    /// A link-state advertisement was refused.
    #[error("link-state advertisement refused: {0}")]
    LinkState(&'static str),
    /// A revocation list was refused, or revoking failed.
    #[error(transparent)]
    Revocations(#[from] RevocationError),
    /// A bundle or an acknowledgement was refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Too many enrolment requests from this address.
    #[error("enrolment request from {0} rate-limited")]
    RateLimited(SocketAddr),
    /// The call needs the CA (API misuse, or a request sent to a non-CA site).
    #[error("this node does not hold the mesh CA")]
    NotCaHolder,
    /// We are revoked: the node ignores all input.
    #[error("this site is revoked; the node is quiet")]
    Quiet,
    /// `MeshNode::new` got an inconsistent membership configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `MeshNode::new` got an identity that does not fit together.
    #[error("inconsistent identity: {0}")]
    Identity(&'static str),
}
