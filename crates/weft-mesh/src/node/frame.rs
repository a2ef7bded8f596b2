//! The datagrams a site agent sends on its one mesh UDP socket.
//!
//! The first byte is the kind ([`FrameKind`]); the rest depends on it:
//!
//! ```text
//! 0x01 GOSSIP         kind ‖ u16 cert_len ‖ sender SiteCert ‖ membership envelope
//! 0x02 ENROL_REQUEST  kind ‖ EnrolRequest
//! 0x03 RENEW_REQUEST  kind ‖ RenewRequest
//! 0x04 ENROL_OK       kind ‖ u16 len ‖ EnrolResponse ‖ SignedRevocations
//! 0x05 ENROL_REFUSED  kind ‖ u8 code ‖ u16 len ‖ UTF-8 message (≤ 512 bytes)
//! 0x06 REVOCATIONS    kind ‖ SignedRevocations
//! 0x07 LINK_STATE     kind ‖ u16 cert_len ‖ origin SiteCert ‖ LinkStateAd (one page)
//! 0x08 HELLO          kind ‖ u8 flags (bit 0: please reply) ‖ u16 cert_len ‖ SiteCert
//! 0x09 BUNDLE         kind ‖ SignedBundle
//! 0x0A BUNDLE_ACK     kind ‖ u16 cert_len ‖ acking site's SiteCert ‖ SignedBundleAck
//! 0x0B SVID_REQUEST   kind ‖ u16 cert_len ‖ asking site's SiteCert ‖ SignedSvidRequest
//! ```
//!
//! The answer to an `SVID_REQUEST` is a `BUNDLE` of kind `Svid` addressed
//! to the asking site.
//!
//! A `LinkStateAd` is one signed page of its origin's links: origin,
//! version, page index and page count, at most 64 entries (see
//! [`crate::node::LinkStateAd`]); a site with more links sends several
//! `LINK_STATE` frames per version.
//!
//! A `SignedBundle` is signed by the mesh CA; a `SignedBundleAck` is the
//! acknowledgement followed by the 64-byte signature of the site key its
//! certificate names (see [`crate::identity::bundle`] and
//! [`crate::identity::bundle_ack`]).
//!
//! Certificates inside `GOSSIP`, `LINK_STATE`, `HELLO` and `BUNDLE_ACK` stay
//! raw bytes here: the node caches admitted certificates by their exact bytes
//! and decodes only bytes it has not seen. Every decoder is bounded by the
//! datagram, never panics and names what was wrong.
//!
//! `ENROL_REFUSED` is **unauthenticated** (the joiner has no key to check it
//! with yet): anyone on the path can forge one. A joiner may print its
//! message, but must not treat it as more than a hint.

use weft_types::WireReader;

use super::link_state::LinkStateAd;
use crate::identity::{
    EnrolRequest, EnrolResponse, RenewRequest, SignedBundle, SignedBundleAck, SignedRevocations,
    SignedSvidRequest,
};

/// Longest `ENROL_REFUSED` message, in bytes.
pub const MAX_REFUSAL_MESSAGE: usize = 512;

/// Length of the request id an `ENROL_REFUSED` echoes: the first bytes of
/// the refused request's signature, so a joiner never takes a late refusal
/// of an earlier attempt (a duplicated datagram, a restarted agent) for the
/// answer to its current one.
pub const REQUEST_ID_LEN: usize = 16;

/// The id of a signed request, as a refusal echoes it.
pub fn request_id(signature: &[u8; 64]) -> [u8; REQUEST_ID_LEN] {
    let mut id = [0u8; REQUEST_ID_LEN];
    id.copy_from_slice(&signature[..REQUEST_ID_LEN]);
    id
}

/// The kind byte of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameKind {
    /// SWIM gossip with the sender's certificate.
    Gossip = 0x01,
    /// A new site's enrolment request.
    EnrolRequest = 0x02,
    /// A site's renewal request.
    RenewRequest = 0x03,
    /// A certificate (enrolment or renewal) and the current revocations.
    EnrolOk = 0x04,
    /// The enroller's refusal.
    EnrolRefused = 0x05,
    /// A signed revocation list, flooded.
    Revocations = 0x06,
    /// A signed link-state advertisement with its origin's certificate.
    LinkState = 0x07,
    /// A certificate exchange with a member we hold no certificate for.
    Hello = 0x08,
    /// A CA-signed bundle of mesh-wide policy.
    Bundle = 0x09,
    /// A site's signed acknowledgement of a bundle, with its certificate.
    BundleAck = 0x0A,
    /// A site's signed request for an X.509-SVID, with its certificate.
    SvidRequest = 0x0B,
}

impl FrameKind {
    /// The kind named by `b`, if any.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::Gossip,
            0x02 => Self::EnrolRequest,
            0x03 => Self::RenewRequest,
            0x04 => Self::EnrolOk,
            0x05 => Self::EnrolRefused,
            0x06 => Self::Revocations,
            0x07 => Self::LinkState,
            0x08 => Self::Hello,
            0x09 => Self::Bundle,
            0x0A => Self::BundleAck,
            0x0B => Self::SvidRequest,
            _ => return None,
        })
    }
}

/// Why an enroller refused, as carried in `ENROL_REFUSED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefusalCode {
    /// Anything else (the message says what).
    Other = 0,
    /// The join token has expired.
    TokenExpired = 1,
    /// The join token has been used as often as it allows.
    TokenUsedUp = 2,
    /// The site is revoked.
    Revoked = 3,
    /// Too many requests from this address; retry later.
    RateLimited = 4,
}

impl RefusalCode {
    /// The code for `b`; unknown codes read as [`RefusalCode::Other`].
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::TokenExpired,
            2 => Self::TokenUsedUp,
            3 => Self::Revoked,
            4 => Self::RateLimited,
            _ => Self::Other,
        }
    }
}

/// Why a datagram is not a frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The datagram was empty.
    #[error("empty datagram")]
    Empty,
    /// The kind byte names no frame.
    #[error("unknown frame kind 0x{0:02x}")]
    UnknownKind(u8),
    /// The datagram ended inside a field.
    #[error("truncated {what}")]
    Truncated {
        /// The field.
        what: &'static str,
    },
    /// A field is longer than its limit.
    #[error("{what} is {len} bytes; the limit is {max}")]
    TooLong {
        /// The field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field did not parse.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// One decoded frame. Certificates are raw bytes (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// SWIM gossip: the sender's certificate and the sealed envelope.
    Gossip {
        /// The sender's certificate bytes.
        cert: &'a [u8],
        /// The membership envelope.
        envelope: &'a [u8],
    },
    /// An enrolment request.
    EnrolRequest(EnrolRequest),
    /// A renewal request.
    RenewRequest(RenewRequest),
    /// A certificate and the enroller's current revocation list.
    EnrolOk {
        /// The certificate and CA key.
        response: EnrolResponse,
        /// The revocation list in force at the enroller.
        revocations: SignedRevocations,
    },
    /// A refusal (unauthenticated).
    EnrolRefused {
        /// The refused request's id ([`request_id`] of its signature).
        request: [u8; REQUEST_ID_LEN],
        /// Why, for programs.
        code: RefusalCode,
        /// Why, for people (at most [`MAX_REFUSAL_MESSAGE`] bytes).
        message: String,
    },
    /// A revocation list.
    Revocations(SignedRevocations),
    /// One page of a link-state advertisement and its origin's certificate bytes.
    LinkState {
        /// The origin's certificate bytes.
        cert: &'a [u8],
        /// The page (signature not yet checked).
        ad: LinkStateAd,
    },
    /// A certificate exchange.
    Hello {
        /// Whether the sender asks for our certificate back.
        reply: bool,
        /// The sender's certificate bytes.
        cert: &'a [u8],
    },
    /// A bundle (signature not yet checked).
    Bundle(SignedBundle),
    /// An acknowledgement and the acknowledging site's certificate bytes.
    BundleAck {
        /// The acknowledging site's certificate bytes.
        cert: &'a [u8],
        /// The acknowledgement (signature not yet checked).
        ack: SignedBundleAck,
    },
    /// An SVID request and the asking site's certificate bytes.
    SvidRequest {
        /// The asking site's certificate bytes.
        cert: &'a [u8],
        /// The request (signature not yet checked).
        request: SignedSvidRequest,
    },
}

fn truncated(what: &'static str) -> impl Fn(weft_types::WireError) -> FrameError {
    move |_| FrameError::Truncated { what }
}

fn invalid(what: &'static str, e: impl std::fmt::Display) -> FrameError {
    FrameError::Invalid { what, reason: e.to_string() }
}

fn u16_len(what: &'static str, len: usize) -> Result<u16, FrameError> {
    u16::try_from(len).map_err(|_| FrameError::TooLong { what, len, max: usize::from(u16::MAX) })
}

impl<'a> Frame<'a> {
    /// This frame's kind.
    pub fn kind(&self) -> FrameKind {
        match self {
            Self::Gossip { .. } => FrameKind::Gossip,
            Self::EnrolRequest(_) => FrameKind::EnrolRequest,
            Self::RenewRequest(_) => FrameKind::RenewRequest,
            Self::EnrolOk { .. } => FrameKind::EnrolOk,
            Self::EnrolRefused { .. } => FrameKind::EnrolRefused,
            Self::Revocations(_) => FrameKind::Revocations,
            Self::LinkState { .. } => FrameKind::LinkState,
            Self::Hello { .. } => FrameKind::Hello,
            Self::Bundle(_) => FrameKind::Bundle,
            Self::BundleAck { .. } => FrameKind::BundleAck,
            Self::SvidRequest { .. } => FrameKind::SvidRequest,
        }
    }

    /// Parses one datagram.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let (&kind, rest) = bytes.split_first().ok_or(FrameError::Empty)?;
        let kind = FrameKind::from_byte(kind).ok_or(FrameError::UnknownKind(kind))?;
        let mut r = WireReader::new(rest);
        Ok(match kind {
            FrameKind::Gossip => {
                let cert = cert_field(&mut r)?;
                Self::Gossip { cert, envelope: r.rest() }
            }
            FrameKind::EnrolRequest => Self::EnrolRequest(
                EnrolRequest::decode(rest).map_err(|e| invalid("enrolment request", e))?,
            ),
            FrameKind::RenewRequest => Self::RenewRequest(
                RenewRequest::decode(rest).map_err(|e| invalid("renewal request", e))?,
            ),
            FrameKind::EnrolOk => {
                let len = usize::from(r.u16().map_err(truncated("enrolment response length"))?);
                let resp = r.bytes(len).map_err(truncated("enrolment response"))?;
                let response =
                    EnrolResponse::decode(resp).map_err(|e| invalid("enrolment response", e))?;
                let revocations = SignedRevocations::decode(r.rest())
                    .map_err(|e| invalid("revocation list", e))?;
                Self::EnrolOk { response, revocations }
            }
            FrameKind::EnrolRefused => {
                let request = r.array().map_err(truncated("refused request id"))?;
                let code = RefusalCode::from_byte(r.u8().map_err(truncated("refusal code"))?);
                let len = usize::from(r.u16().map_err(truncated("refusal length"))?);
                if len > MAX_REFUSAL_MESSAGE {
                    return Err(FrameError::TooLong {
                        what: "refusal message",
                        len,
                        max: MAX_REFUSAL_MESSAGE,
                    });
                }
                let msg = r.bytes(len).map_err(truncated("refusal message"))?;
                r.finish().map_err(|e| invalid("refusal", e))?;
                let message =
                    std::str::from_utf8(msg).map_err(|e| invalid("refusal message", e))?.to_owned();
                Self::EnrolRefused { request, code, message }
            }
            FrameKind::Revocations => Self::Revocations(
                SignedRevocations::decode(rest).map_err(|e| invalid("revocation list", e))?,
            ),
            FrameKind::LinkState => {
                let cert = cert_field(&mut r)?;
                Self::LinkState { cert, ad: LinkStateAd::decode(r.rest())? }
            }
            FrameKind::Hello => {
                let flags = r.u8().map_err(truncated("hello flags"))?;
                let cert = cert_field(&mut r)?;
                r.finish().map_err(|e| invalid("hello", e))?;
                Self::Hello { reply: flags & 1 == 1, cert }
            }
            FrameKind::Bundle => {
                Self::Bundle(SignedBundle::decode(rest).map_err(|e| invalid("bundle", e))?)
            }
            FrameKind::BundleAck => {
                let cert = cert_field(&mut r)?;
                let ack = SignedBundleAck::decode(r.rest())
                    .map_err(|e| invalid("bundle acknowledgement", e))?;
                Self::BundleAck { cert, ack }
            }
            FrameKind::SvidRequest => {
                let cert = cert_field(&mut r)?;
                let request =
                    SignedSvidRequest::decode(r.rest()).map_err(|e| invalid("SVID request", e))?;
                Self::SvidRequest { cert, request }
            }
        })
    }

    /// The wire form. Fails only if a field exceeds its length prefix.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = vec![self.kind() as u8];
        match self {
            Self::Gossip { cert, envelope } => {
                put_cert(&mut out, cert)?;
                out.extend_from_slice(envelope);
            }
            Self::EnrolRequest(req) => out.extend_from_slice(&req.encode()),
            Self::RenewRequest(req) => out.extend_from_slice(&req.encode()),
            Self::EnrolOk { response, revocations } => {
                let resp = response.encode();
                out.extend_from_slice(&u16_len("enrolment response", resp.len())?.to_be_bytes());
                out.extend_from_slice(&resp);
                out.extend_from_slice(&revocations.encode());
            }
            Self::EnrolRefused { request, code, message } => {
                out.extend_from_slice(request);
                out.push(*code as u8);
                let msg = truncate_utf8(message, MAX_REFUSAL_MESSAGE);
                out.extend_from_slice(&(msg.len() as u16).to_be_bytes());
                out.extend_from_slice(msg.as_bytes());
            }
            Self::Revocations(list) => out.extend_from_slice(&list.encode()),
            Self::LinkState { cert, ad } => {
                put_cert(&mut out, cert)?;
                out.extend_from_slice(&ad.encode());
            }
            Self::Hello { reply, cert } => {
                out.push(u8::from(*reply));
                put_cert(&mut out, cert)?;
            }
            Self::Bundle(bundle) => return Ok(bundle_frame(bundle)),
            Self::BundleAck { cert, ack } => {
                put_cert(&mut out, cert)?;
                out.extend_from_slice(&ack.encode());
            }
            Self::SvidRequest { cert, request } => {
                put_cert(&mut out, cert)?;
                out.extend_from_slice(&request.encode());
            }
        }
        Ok(out)
    }
}

/// A `BUNDLE` frame's bytes (without cloning the bundle into a [`Frame`]).
pub(crate) fn bundle_frame(bundle: &SignedBundle) -> Vec<u8> {
    let mut out = vec![FrameKind::Bundle as u8];
    out.extend_from_slice(&bundle.encode());
    out
}

fn cert_field<'a>(r: &mut WireReader<'a>) -> Result<&'a [u8], FrameError> {
    let len = usize::from(r.u16().map_err(truncated("certificate length"))?);
    r.bytes(len).map_err(truncated("certificate"))
}

fn put_cert(out: &mut Vec<u8>, cert: &[u8]) -> Result<(), FrameError> {
    out.extend_from_slice(&u16_len("certificate", cert.len())?.to_be_bytes());
    out.extend_from_slice(cert);
    Ok(())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
