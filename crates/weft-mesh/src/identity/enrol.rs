//! The enrolment messages, as they travel between a joining site and the
//! enroller (the CA, or a seed agent that holds it):
//!
//! - [`EnrolRequest`]: a join token plus the site's id, keys, wanted prefixes
//!   and a timestamp, signed by the site key (proof of possession).
//! - [`RenewRequest`]: the site's current certificate plus a timestamp,
//!   signed by the key that certificate names; no token needed.
//! - [`EnrolResponse`]: the new certificate and the CA's public key, which the
//!   site pins after checking it against the token's CA.
//!
//! Each is `magic`, version, fields, then an Ed25519 signature (64) over
//! every byte before it; nested tokens and certificates are `u16`-length
//! prefixed.

use weft_types::{PublicKey, SiteId};

use super::ca::{CaPublicKey, SiteKey, SitePublicKey};
use super::cert::{CertError, SiteCert, VerifiedCert};
use super::claims::PrefixList;
use super::learn::LearnRanges;
use super::token::JoinToken;
use super::wire::{DecodeError, Decoder, MAX_MESSAGE_LEN, encode_message, split_signed};

const REQUEST_MAGIC: [u8; 4] = *b"WFTE";
const RENEW_MAGIC: [u8; 4] = *b"WFTN";
const RESPONSE_MAGIC: [u8; 4] = *b"WFTR";

fn too_long(what: &'static str, len: usize) -> Result<(), DecodeError> {
    if len > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLong { what, len, max: MAX_MESSAGE_LEN });
    }
    Ok(())
}

/// A new site's request for its first certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolRequest {
    /// The join token the operator gave the site.
    pub token: JoinToken,
    /// The site's id.
    pub site: SiteId,
    /// The site's Ed25519 identity key (it signed this request).
    pub site_key: SitePublicKey,
    /// The site's WireGuard public key.
    pub wg_key: PublicKey,
    /// The overlay prefixes the site asks for.
    pub prefixes: PrefixList,
    /// When the site made the request, Unix seconds.
    pub timestamp: u64,
    /// The on-prem ranges the site asks to bring into the mesh (from its
    /// `[bgp] learn`); written last and only when not empty.
    pub learn_ranges: LearnRanges,
    /// The site key's signature over everything above.
    pub signature: [u8; 64],
}

impl EnrolRequest {
    /// Builds and signs a request with `key` at `now_unix`.
    pub fn new(
        token: JoinToken,
        site: SiteId,
        key: &SiteKey,
        wg_key: PublicKey,
        prefixes: PrefixList,
        now_unix: u64,
    ) -> Self {
        let mut r = Self {
            token,
            site,
            site_key: key.public(),
            wg_key,
            prefixes,
            timestamp: now_unix,
            learn_ranges: LearnRanges::default(),
            signature: [0; 64],
        };
        r.signature = key.sign(&r.signed_part());
        r
    }

    /// The same request asking for `learn_ranges` too, signed again with
    /// `key` (the key that signed it).
    #[must_use]
    pub fn with_learn_ranges(mut self, key: &SiteKey, learn_ranges: LearnRanges) -> Self {
        self.learn_ranges = learn_ranges;
        self.signature = key.sign(&self.signed_part());
        self
    }

    fn signed_part(&self) -> Vec<u8> {
        encode_message(MAX_MESSAGE_LEN, REQUEST_MAGIC, |e| {
            e.len_prefixed(&self.token.encode());
            e.site_id(&self.site);
            e.bytes(&self.site_key.0);
            e.bytes(&self.wg_key.0);
            e.prefixes(&self.prefixes);
            e.u64(self.timestamp);
            e.trailing_learn(&self.learn_ranges);
        })
    }

    /// Whether the site key signed this request (proof of possession).
    pub fn proves_possession(&self) -> bool {
        self.site_key.verifies(&self.signed_part(), &self.signature)
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form; checks the format only.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "enrolment request";
        too_long(WHAT, bytes.len())?;
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_MESSAGE_LEN, REQUEST_MAGIC)?;
        let token_bytes = d.len_prefixed()?;
        let token =
            JoinToken::decode(token_bytes).map_err(|e| d.invalid("token", e.to_string()))?;
        let r = Self {
            token,
            site: d.site_id()?,
            site_key: SitePublicKey(d.array()?),
            wg_key: PublicKey(d.array()?),
            prefixes: d.prefixes()?,
            timestamp: d.u64()?,
            learn_ranges: d.trailing_learn("learn ranges")?,
            signature,
        };
        d.finish()?;
        Ok(r)
    }
}

/// A site's request for a fresh certificate, signed with its current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewRequest {
    /// The site's current (or recently expired) certificate.
    pub cert: SiteCert,
    /// The WireGuard key the new certificate should carry (may be rotated).
    pub wg_key: PublicKey,
    /// When the site made the request, Unix seconds.
    pub timestamp: u64,
    /// Signature by the key `cert` names over everything above.
    pub signature: [u8; 64],
}

impl RenewRequest {
    /// Builds and signs a renewal of `cert` with `key` at `now_unix`.
    pub fn new(cert: SiteCert, key: &SiteKey, wg_key: PublicKey, now_unix: u64) -> Self {
        let mut r = Self { cert, wg_key, timestamp: now_unix, signature: [0; 64] };
        r.signature = key.sign(&r.signed_part());
        r
    }

    fn signed_part(&self) -> Vec<u8> {
        encode_message(MAX_MESSAGE_LEN, RENEW_MAGIC, |e| {
            e.len_prefixed(&self.cert.encode());
            e.bytes(&self.wg_key.0);
            e.u64(self.timestamp);
        })
    }

    /// Whether the key named by the certificate signed this request.
    pub fn proves_possession(&self) -> bool {
        self.cert.body.site_key.verifies(&self.signed_part(), &self.signature)
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form; checks the format only.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "renewal request";
        too_long(WHAT, bytes.len())?;
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_MESSAGE_LEN, RENEW_MAGIC)?;
        let cert_bytes = d.len_prefixed()?;
        let cert =
            SiteCert::decode(cert_bytes).map_err(|e| d.invalid("certificate", e.to_string()))?;
        let r = Self { cert, wg_key: PublicKey(d.array()?), timestamp: d.u64()?, signature };
        d.finish()?;
        Ok(r)
    }
}

/// The enroller's answer: a certificate and the CA key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolResponse {
    /// The mesh CA's public key.
    pub ca: CaPublicKey,
    /// The new certificate.
    pub cert: SiteCert,
}

impl EnrolResponse {
    /// First contact: checks that the response's CA is the one that signed
    /// `token`, then checks the certificate under it at `now_unix`. The site
    /// then pins [`EnrolResponse::ca`].
    pub fn verify_for_token(
        &self,
        token: &JoinToken,
        now_unix: u64,
    ) -> Result<VerifiedCert, CertError> {
        if self.ca != token.ca {
            return Err(CertError::WrongCa {
                expected: token.ca.key_id(),
                found: self.ca.key_id(),
            });
        }
        self.cert.verify(&self.ca, now_unix)
    }

    /// Later contact (renewal): checks the certificate under the pinned `ca`.
    pub fn verify(&self, ca: &CaPublicKey, now_unix: u64) -> Result<VerifiedCert, CertError> {
        if self.ca != *ca {
            return Err(CertError::WrongCa { expected: ca.key_id(), found: self.ca.key_id() });
        }
        self.cert.verify(ca, now_unix)
    }

    /// The wire form (unsigned: the certificate inside carries the signature).
    pub fn encode(&self) -> Vec<u8> {
        encode_message(MAX_MESSAGE_LEN, RESPONSE_MAGIC, |e| {
            e.bytes(&self.ca.0);
            e.len_prefixed(&self.cert.encode());
        })
    }

    /// Parses the wire form; checks the format only.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "enrolment response";
        let mut d = Decoder::open(WHAT, bytes, MAX_MESSAGE_LEN, RESPONSE_MAGIC)?;
        let ca = CaPublicKey(d.array()?);
        let cert_bytes = d.len_prefixed()?;
        let cert =
            SiteCert::decode(cert_bytes).map_err(|e| d.invalid("certificate", e.to_string()))?;
        d.finish()?;
        Ok(Self { ca, cert })
    }
}
