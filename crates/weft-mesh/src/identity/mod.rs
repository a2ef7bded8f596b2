//! Identity and enrolment, sans-IO: the mesh CA, site certificates, join
//! tokens, the enrolment exchange and revocation.
//!
//! A mesh has one CA (Ed25519). The operator mints a join token with it; a
//! new site sends the token with its keys in an [`EnrolRequest`] signed by its
//! own key (proof of possession); the [`Enroller`] checks everything and
//! answers with a short-lived [`SiteCert`] (24 h by default) naming the
//! site's id, role, region, overlay prefixes and keys. The site renews at two
//! thirds of the certificate's life with a [`RenewRequest`] signed by the same
//! key, so old and new certificates overlap. Every agent admits a peer only
//! with a [`VerifiedCert`], which only [`SiteCert::verify`] makes, and drops
//! sites on the gossiped [`SignedRevocations`]. The CA also signs the
//! [`SignedBundle`]s of mesh-wide policy; sites answer each with a
//! [`SignedBundleAck`] signed by their own key.
//!
//! What it does not do: no I/O, no clock, no randomness. Time comes in as
//! Unix seconds; keys derive from 32-byte seeds and token ids are 16 bytes
//! the caller draws. All formats are our own compact binary (not X.509),
//! bounded (strings ≤ 255 bytes, ≤ 64 prefixes, messages ≤ 4 KiB,
//! revocation lists and bundles < 64 KiB) and versioned; decoders never
//! panic.
//!
//! # Example: CA → token → request → certificate → verify
//!
//! ```
//! use weft_mesh::identity::*;
//! use weft_types::{PublicKey, SiteId};
//!
//! let now = 1_700_000_000;
//! let mut enroller = Enroller::new(MeshCa::from_seed(&[1; 32]));
//! let token = enroller.ca().issue_token(TokenBody {
//!     id: TokenId([9; 16]),
//!     expires_at: now + 3600,
//!     max_uses: 1,
//!     role: Label::new("site").unwrap(),
//!     region: Label::new("eu-west").unwrap(),
//!     allowed_prefixes: None,
//!     allowed_learn: LearnRanges::default(),
//! });
//! let text = token.to_text(); // `weft1.…`, handed to the new site
//!
//! // On the new site:
//! let token = JoinToken::from_text(&text).unwrap();
//! let site_key = SiteKey::from_seed(&[2; 32]);
//! let prefixes = PrefixList::new(vec!["10.1.0.0/16".parse().unwrap()]).unwrap();
//! let site = SiteId::new("paris-dc1").unwrap();
//! let req = EnrolRequest::new(token.clone(), site, &site_key, PublicKey([3; 32]), prefixes, now);
//!
//! // On the enroller (bytes in, bytes out):
//! let req = EnrolRequest::decode(&req.encode()).unwrap();
//! let resp = enroller.handle_request(now, &req).unwrap().encode();
//!
//! // Back on the site: check the CA against the token, then pin it.
//! let resp = EnrolResponse::decode(&resp).unwrap();
//! let verified = resp.verify_for_token(&token, now + 1).unwrap();
//! assert_eq!(verified.body().site.as_str(), "paris-dc1");
//! assert_eq!(verified.cert().renew_at(), now + 16 * 3600);
//! ```
//!
//! # Layout
//! - [`ca`]: [`MeshCa`], [`CaPublicKey`], [`KeyId`], [`SiteKey`].
//! - [`claims`]: [`Label`] (role, region) and [`PrefixList`].
//! - [`cert`]: [`SiteCert`], [`VerifiedCert`], [`CertError`].
//! - [`token`]: [`JoinToken`] and its `weft1.` text form.
//! - [`enrol`]: [`EnrolRequest`], [`RenewRequest`], [`EnrolResponse`].
//! - [`enroller`]: [`Enroller`], its plain-data [`EnrollerState`], [`EnrolError`].
//! - [`revocation`]: [`RevocationList`], [`SignedRevocations`].
//! - [`bundle`]: [`SignedBundle`], the CA-signed policies the leader
//!   publishes; [`bundle_ack`]: [`SignedBundleAck`], a site's signed answer.
//! - [`wire`]: limits, [`DecodeError`], base64url.

pub mod bundle;
pub mod bundle_ack;
pub mod ca;
pub mod cert;
pub mod claims;
pub mod enrol;
pub mod enroller;
pub mod learn;
pub mod revocation;
pub mod svid_request;
pub mod token;
pub mod wire;

#[cfg(test)]
mod bundle_tests;
#[cfg(test)]
mod learn_tests;
#[cfg(test)]
mod tests;

pub use bundle::{
    BundleBody, BundleError, BundleKind, MAX_BUNDLE_LEN, MAX_BUNDLE_PAYLOAD, MAX_BUNDLE_SITES,
    SignedBundle,
};
pub use bundle_ack::{AckOutcome, BundleAck, MAX_ACK_MESSAGE, SignedBundleAck};
pub use ca::{CaPublicKey, KeyId, MeshCa, SiteKey, SitePublicKey};
pub use cert::{CertBody, CertError, DEFAULT_CERT_LIFETIME_SECS, SiteCert, VerifiedCert};
pub use claims::{ClaimError, Label, PrefixList};
pub use enrol::{EnrolRequest, EnrolResponse, RenewRequest};
pub use enroller::{
    EnrolError, Enroller, EnrollerState, MAX_CLOCK_SKEW_SECS, RENEWAL_GRACE_SECS, SelfClaims,
    SiteRecord,
};
pub use learn::LearnRanges;
pub use revocation::{RevocationError, RevocationList, SignedRevocations};
pub use svid_request::{MAX_SVID_ID, SignedSvidRequest, SvidRequest};
pub use token::{JoinToken, TOKEN_TEXT_PREFIX, TokenBody, TokenError, TokenId};
pub use wire::{Base64Error, DecodeError, MAX_MESSAGE_LEN, MAX_REVOCATIONS_LEN, WIRE_VERSION};
