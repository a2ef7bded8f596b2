//! A site's request for an X.509-SVID (a workload certificate, see
//! `weft-identity`), signed with its own site key: the control plane's
//! leader signs the certificate for the public key the site names, so the
//! private key never leaves the site, and decides from the site (which its
//! certificate proves) whether it may hold the SPIFFE ID.
//!
//! Layout: `"WFTS"`, version byte, site id (u8-length string), SPIFFE ID
//! (u16-length UTF-8, at most [`MAX_SVID_ID`] bytes), the Ed25519 public
//! key (32), a nonce (16), the lifetime asked for (u32 seconds), `at` (u64
//! Unix seconds), then the site key's Ed25519 signature (64) over every
//! byte before it. The magic keeps the signature apart from everything
//! else the site key signs.

use weft_types::SiteId;

use super::bundle::BundleError;
use super::ca::SiteKey;
use super::cert::SiteCert;
use super::wire::{DecodeError, Decoder, MAX_MESSAGE_LEN, encode_message, split_signed};

/// Longest SPIFFE ID a request carries, in bytes (the SPIFFE limit).
pub const MAX_SVID_ID: usize = 2048;

const MAGIC: [u8; 4] = *b"WFTS";
const WHAT: &str = "SVID request";

/// What a site asks the control plane to certify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvidRequest {
    /// The asking site (the node sets it to its own when it signs).
    pub site: SiteId,
    /// The SPIFFE ID (checked by the control plane, not here).
    pub id: String,
    /// The Ed25519 public key the certificate is for.
    pub public_key: [u8; 32],
    /// Chosen by the site; the answer echoes it.
    pub nonce: [u8; 16],
    /// Lifetime asked for, seconds (the control plane may shorten it).
    pub ttl_secs: u32,
    /// When, Unix seconds.
    pub at: u64,
}

/// A request signed by the asking site's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedSvidRequest {
    /// The contents.
    pub request: SvidRequest,
    /// The site key's signature over the encoded contents.
    pub signature: [u8; 64],
}

fn encode_signed_part(r: &SvidRequest) -> Vec<u8> {
    encode_message(MAX_MESSAGE_LEN, MAGIC, |e| {
        e.site_id(&r.site);
        let id = &r.id.as_bytes()[..r.id.len().min(MAX_SVID_ID)];
        e.len_prefixed(id);
        e.bytes(&r.public_key);
        e.bytes(&r.nonce);
        e.u32(r.ttl_secs);
        e.u64(r.at);
    })
}

impl SvidRequest {
    /// Signs the request with `key` (the site's own key).
    pub fn sign(self, key: &SiteKey) -> SignedSvidRequest {
        let signature = key.sign(&encode_signed_part(&self));
        SignedSvidRequest { request: self, signature }
    }
}

impl SignedSvidRequest {
    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encode_signed_part(&self.request);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form. Never panics; checks the format only (see
    /// [`SignedSvidRequest::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            let e = DecodeError::TooLong { what: WHAT, len: bytes.len(), max: MAX_MESSAGE_LEN };
            return Err(e.into());
        }
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_MESSAGE_LEN, MAGIC)?;
        let site = d.site_id()?;
        let id = d.len_prefixed()?;
        if id.len() > MAX_SVID_ID {
            let reason = format!("{} bytes; the limit is {MAX_SVID_ID}", id.len());
            return Err(d.invalid("SPIFFE ID", reason).into());
        }
        let id = std::str::from_utf8(id).map_err(|e| d.invalid("SPIFFE ID", e.to_string()))?;
        let id = id.to_owned();
        let public_key = d.array::<32>()?;
        let nonce = d.array::<16>()?;
        let (ttl_secs, at) = (d.u32()?, d.u64()?);
        d.finish()?;
        let request = SvidRequest { site, id, public_key, nonce, ttl_secs, at };
        Ok(Self { request, signature })
    }

    /// Checks that the request names `cert`'s site and was signed by the
    /// site key `cert` names. `cert` must be one the caller admitted
    /// (chained to the CA, valid, not revoked).
    pub fn verify(&self, cert: &SiteCert) -> Result<&SvidRequest, BundleError> {
        if self.request.site != cert.body.site {
            return Err(BundleError::AckSiteMismatch {
                ack: self.request.site.clone(),
                cert: cert.body.site.clone(),
            });
        }
        if !cert.body.site_key.verifies(&encode_signed_part(&self.request), &self.signature) {
            return Err(BundleError::BadAckSignature);
        }
        Ok(&self.request)
    }
}
