//! Requests the API sends to the mesh thread, each with a reply channel.
//!
//! The mesh thread owns the mesh node (membership, certificates, the CA when
//! this agent holds it); the API never touches it directly.

use tokio::sync::oneshot;

/// A request to the mesh thread.
#[derive(Debug)]
pub(crate) enum MeshCtl {
    /// Mint a join token (CA holder only).
    CreateToken {
        /// What the token allows.
        req: weft_api::MeshTokenCreate,
        /// The answer.
        reply: oneshot::Sender<Result<weft_api::MeshToken, MeshRefusal>>,
    },
    /// Revoke a site (CA holder only); the signed list floods the mesh.
    Revoke {
        /// The site id.
        site: String,
        /// A connection profile's client, not a site: it need not be a
        /// member or in the enrolment ledger (the API checked it is no site).
        client: bool,
        /// The answer.
        reply: oneshot::Sender<Result<weft_api::MeshRevocation, MeshRefusal>>,
    },
    /// The membership view.
    Status {
        /// The answer.
        reply: oneshot::Sender<weft_api::MeshStatus>,
    },
    /// Publish this to every site (the leader's controller thread).
    Publish(Box<crate::controlplane::Publication>),
    /// Stop publishing (the controller stepped down).
    StopPublishing,
    /// Apply and flood a revocation list the control plane's leader signed.
    ApplyRevocations {
        /// The encoded `SignedRevocations`.
        list: Vec<u8>,
        /// The answer.
        reply: oneshot::Sender<Result<weft_api::MeshRevocation, MeshRefusal>>,
        /// The site revoked.
        site: String,
    },
    /// Send the leader's answer to a delegated enrolment or renewal request.
    EnrolAnswer {
        /// Who asked.
        to: std::net::SocketAddr,
        /// The request frame.
        request: Vec<u8>,
        /// The `ENROL_OK` or `ENROL_REFUSED` frame.
        answer: Vec<u8>,
    },
    /// Ask the control plane's leader (the site that published to us last,
    /// or this site's own controller thread) for an X.509-SVID; the answer
    /// comes back as a `Svid` bundle to this site's follower.
    RequestSvid(Box<weft_mesh::identity::SvidRequest>),
    /// Send the leader's answer to an SVID request, signed by the mesh CA
    /// as a bundle addressed to `site`: to `to`, or (`None`) to this site's
    /// own follower.
    SendSvid {
        /// Where the request came from.
        to: Option<std::net::SocketAddr>,
        /// The asking site.
        site: weft_types::SiteId,
        /// The leader's epoch.
        epoch: u64,
        /// The answer (JSON).
        payload: Vec<u8>,
    },
    /// Acknowledge a bundle (this site's follower): to the member that
    /// sent it, or (`None`) to this site's own publisher.
    Ack {
        /// Where the bundle came from.
        to: Option<std::net::SocketAddr>,
        /// The acknowledgement.
        ack: Box<weft_mesh::identity::BundleAck>,
    },
}

/// Why the mesh thread refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MeshRefusal {
    /// What kind of refusal.
    pub(crate) kind: RefusalKind,
    /// A sentence for the operator.
    pub(crate) message: String,
}

/// Kinds of [`MeshRefusal`], each with its HTTP status in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// This agent does not hold the mesh CA (409 `not_ca_holder`).
    NotCaHolder,
    /// The request is invalid (400 `invalid_request`).
    Invalid,
    /// No such site (404 `not_found`).
    NotFound,
}
