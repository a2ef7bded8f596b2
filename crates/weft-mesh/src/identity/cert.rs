//! Site certificates: a compact, versioned binary format (not X.509) that a
//! mesh CA signs, and the checks that turn one into a [`VerifiedCert`].
//!
//! Layout: `"WFTC"`, version, issuer key id (8), serial (u64), site id,
//! role, region (u8-length strings), prefixes (u8 count, then family,
//! address, length each), site Ed25519 key (32), WireGuard key (32),
//! `not_before`, `not_after` (u64 Unix seconds), the learn ranges (a
//! prefix list, present only when not empty, so certificates without them
//! keep the bytes they had before the field existed), then the CA's Ed25519
//! signature (64) over every byte before it.

use weft_types::{PublicKey, SiteId};

use super::ca::{CaPublicKey, KeyId, MeshCa, SitePublicKey};
use super::claims::{Label, PrefixList};
use super::learn::LearnRanges;
use super::revocation::RevocationList;
use super::wire::{DecodeError, Decoder, MAX_MESSAGE_LEN, encode_message, split_signed};

/// How long a certificate lives unless the enroller is told otherwise: 24 h.
pub const DEFAULT_CERT_LIFETIME_SECS: u64 = 24 * 60 * 60;

const MAGIC: [u8; 4] = *b"WFTC";
const WHAT: &str = "site certificate";

/// Why a certificate was refused. Checking a certificate changes no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The bytes are not a well-formed certificate (invalid message).
    #[error(transparent)]
    Malformed(#[from] DecodeError),
    /// The certificate names another CA as its issuer (peer incompatible).
    #[error("certificate was issued by CA {found}, not by this mesh's CA {expected}")]
    WrongCa {
        /// This mesh's CA key id.
        expected: KeyId,
        /// The issuer the certificate names.
        found: KeyId,
    },
    /// The CA signature does not match the contents (forged or tampered).
    #[error("certificate signature is not valid for this mesh's CA")]
    BadSignature,
    /// The certificate's validity has not started yet.
    #[error("certificate is not valid before {not_before} (now {now})")]
    NotYetValid {
        /// Start of validity, Unix seconds.
        not_before: u64,
        /// The time checked.
        now: u64,
    },
    /// The certificate's validity has ended.
    #[error("certificate expired at {not_after} (now {now})")]
    Expired {
        /// End of validity, Unix seconds.
        not_after: u64,
        /// The time checked.
        now: u64,
    },
    /// The site or this certificate's serial is on the revocation list.
    #[error("certificate {serial} of site {site} is revoked")]
    Revoked {
        /// The site.
        site: SiteId,
        /// The certificate serial.
        serial: u64,
    },
}

/// What a certificate says about a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertBody {
    /// Serial number, unique per CA.
    pub serial: u64,
    /// The site.
    pub site: SiteId,
    /// The site's role (`site`, `seed`, ...).
    pub role: Label,
    /// The site's region (may be empty).
    pub region: Label,
    /// The overlay prefixes the site may announce and source traffic from.
    pub prefixes: PrefixList,
    /// The site's Ed25519 identity key.
    pub site_key: SitePublicKey,
    /// The site's WireGuard public key.
    pub wg_key: PublicKey,
    /// Start of validity, Unix seconds (inclusive).
    pub not_before: u64,
    /// End of validity, Unix seconds (exclusive: at `not_after` it is expired).
    pub not_after: u64,
    /// The on-prem ranges the site may bring into the mesh: prefixes it
    /// learns from its routers over BGP are taken by other sites only
    /// inside these. Empty: none.
    pub learn_ranges: LearnRanges,
}

/// A site certificate as issued by a mesh CA; not yet checked. Only
/// [`SiteCert::verify`] gives the [`VerifiedCert`] that admission needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteCert {
    /// The issuing CA's key id.
    pub issuer: KeyId,
    /// The contents.
    pub body: CertBody,
    /// The CA's signature over the encoded issuer and contents.
    pub signature: [u8; 64],
}

impl MeshCa {
    /// Signs `body` into a certificate issued by this CA.
    pub fn issue_cert(&self, body: CertBody) -> SiteCert {
        let issuer = self.public().key_id();
        let signed = encode_signed_part(issuer, &body);
        let signature = self.sign(&signed);
        SiteCert { issuer, body, signature }
    }
}

fn encode_signed_part(issuer: KeyId, b: &CertBody) -> Vec<u8> {
    encode_message(MAX_MESSAGE_LEN, MAGIC, |e| {
        e.bytes(&issuer.0);
        e.u64(b.serial);
        e.site_id(&b.site);
        e.label(&b.role);
        e.label(&b.region);
        e.prefixes(&b.prefixes);
        e.bytes(&b.site_key.0);
        e.bytes(&b.wg_key.0);
        e.u64(b.not_before);
        e.u64(b.not_after);
        e.trailing_learn(&b.learn_ranges);
    })
}

impl SiteCert {
    /// The certificate's wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encode_signed_part(self.issuer, &self.body);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form. Never panics; checks the format only, not the
    /// signature or validity (see [`SiteCert::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, CertError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong {
                what: WHAT,
                len: bytes.len(),
                max: MAX_MESSAGE_LEN,
            }
            .into());
        }
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_MESSAGE_LEN, MAGIC)?;
        let issuer = KeyId(d.array()?);
        let body = CertBody {
            serial: d.u64()?,
            site: d.site_id()?,
            role: d.label("role")?,
            region: d.label("region")?,
            prefixes: d.prefixes()?,
            site_key: SitePublicKey(d.array()?),
            wg_key: PublicKey(d.array()?),
            not_before: d.u64()?,
            not_after: d.u64()?,
            learn_ranges: d.trailing_learn("learn ranges")?,
        };
        d.finish()?;
        Ok(Self { issuer, body, signature })
    }

    /// Checks issuer, signature and validity at `now_unix` (seconds): valid
    /// from `not_before` (inclusive) to `not_after` (exclusive).
    pub fn verify(&self, ca: &CaPublicKey, now_unix: u64) -> Result<VerifiedCert, CertError> {
        self.check_signature(ca)?;
        let b = &self.body;
        if now_unix < b.not_before {
            return Err(CertError::NotYetValid { not_before: b.not_before, now: now_unix });
        }
        if now_unix >= b.not_after {
            return Err(CertError::Expired { not_after: b.not_after, now: now_unix });
        }
        Ok(VerifiedCert(self.clone()))
    }

    /// Like [`SiteCert::verify`], and also refuses a revoked site or serial.
    pub fn verify_not_revoked(
        &self,
        ca: &CaPublicKey,
        now_unix: u64,
        revocations: &RevocationList,
    ) -> Result<VerifiedCert, CertError> {
        let v = self.verify(ca, now_unix)?;
        if revocations.is_revoked(self) {
            return Err(CertError::Revoked {
                site: self.body.site.clone(),
                serial: self.body.serial,
            });
        }
        Ok(v)
    }

    /// Checks issuer and signature only, ignoring validity times.
    pub(crate) fn check_signature(&self, ca: &CaPublicKey) -> Result<(), CertError> {
        if self.issuer != ca.key_id() {
            return Err(CertError::WrongCa { expected: ca.key_id(), found: self.issuer });
        }
        if !ca.verifies(&encode_signed_part(self.issuer, &self.body), &self.signature) {
            return Err(CertError::BadSignature);
        }
        Ok(())
    }

    /// Total validity, in seconds (zero when the times are inverted).
    pub fn lifetime(&self) -> u64 {
        self.body.not_after.saturating_sub(self.body.not_before)
    }

    /// When the holder should ask for a new certificate: two thirds into its
    /// life, so the new one overlaps the last third of the old one.
    pub fn renew_at(&self) -> u64 {
        let l = self.lifetime();
        self.body.not_before.saturating_add(l / 3 * 2 + (l % 3) * 2 / 3)
    }
}

/// Proof that a certificate was checked against the mesh CA at some time.
/// Only [`SiteCert::verify`] makes one, so code that admits a site by taking
/// a `VerifiedCert` cannot skip the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCert(SiteCert);

impl VerifiedCert {
    /// The checked certificate.
    pub fn cert(&self) -> &SiteCert {
        &self.0
    }

    /// The checked contents.
    pub fn body(&self) -> &CertBody {
        &self.0.body
    }

    /// The checked certificate, giving up the proof.
    pub fn into_cert(self) -> SiteCert {
        self.0
    }
}
