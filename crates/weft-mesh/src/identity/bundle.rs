//! Bundles: mesh-wide policies the control plane's leader publishes to the
//! sites, signed by the mesh CA so a site can trust one whoever forwarded it.
//! This module only carries and authenticates them: whether a site installs
//! a bundle (epochs, sequence, canary stages) is decided elsewhere.
//!
//! Layout: `"WFTB"`, version byte, issuer key id (8), kind (u8), epoch, seq,
//! version, `issued_at` (u64 each), site count (u16) and sites (u8-length
//! strings, strictly ascending), payload length (u32) and payload, then the
//! CA's signature (64) over every byte before it. The magic separates the
//! signature's domain from the CA's certificates (`WFTC`), tokens and
//! revocation lists (`WFTV`).
//!
//! A whole encoded bundle is at most [`MAX_BUNDLE_LEN`] bytes, so a `BUNDLE`
//! frame fits one UDP datagram; a large payload with many long site ids may
//! not fit, and [`MeshCa::sign_bundle`] refuses it.

use weft_types::SiteId;

use super::ca::{CaPublicKey, KeyId, MeshCa};
use super::wire::{DecodeError, Decoder, SIG_LEN, encode_message, split_signed};

/// Longest bundle payload, in bytes.
pub const MAX_BUNDLE_PAYLOAD: usize = 48 * 1024;

/// Most sites a bundle may name.
pub const MAX_BUNDLE_SITES: usize = 256;

/// Longest encoded [`SignedBundle`], in bytes: with the frame's kind byte it
/// fits one UDP datagram over IPv4 (65 507 bytes).
pub const MAX_BUNDLE_LEN: usize = 65_506;

const MAGIC: [u8; 4] = *b"WFTB";
const WHAT: &str = "bundle";

/// Bytes a bundle takes besides its sites and payload (magic, version,
/// issuer, kind, four u64, the two counts, the signature).
const FIXED_LEN: usize = 4 + 1 + 8 + 1 + 4 * 8 + 2 + 4 + SIG_LEN;

/// Why a bundle was refused, or could not be signed. No state changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bytes are not a well-formed bundle or acknowledgement (invalid
    /// message).
    #[error(transparent)]
    Malformed(#[from] DecodeError),
    /// The payload is larger than [`MAX_BUNDLE_PAYLOAD`] (API misuse at
    /// signing).
    #[error("bundle payload is {len} bytes; the limit is {max}")]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bundle names more than [`MAX_BUNDLE_SITES`] sites (API misuse at
    /// signing).
    #[error("bundle names {count} sites; the limit is {max}")]
    TooManySites {
        /// How many distinct sites it names.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The encoded bundle would not fit one datagram (API misuse at
    /// signing): fewer or shorter site ids, or a smaller payload.
    #[error("encoded bundle would be {len} bytes; the limit is {max}")]
    TooLarge {
        /// The encoded length.
        len: usize,
        /// The limit ([`MAX_BUNDLE_LEN`]).
        max: usize,
    },
    /// The bundle was signed by another CA (peer incompatible).
    #[error("bundle was signed by CA {found}, not by this mesh's CA {expected}")]
    WrongCa {
        /// This mesh's CA key id.
        expected: KeyId,
        /// The signer the bundle names.
        found: KeyId,
    },
    /// The CA's signature does not match the contents (forged or tampered).
    #[error("bundle signature is not valid for this mesh's CA")]
    BadSignature,
    /// An acknowledgement names another site than the certificate it came
    /// with (peer misbehaved).
    #[error("acknowledgement names site {ack} but came with the certificate of {cert}")]
    AckSiteMismatch {
        /// The site the acknowledgement names.
        ack: SiteId,
        /// The site the certificate names.
        cert: SiteId,
    },
    /// An acknowledgement's signature does not verify under the site key of
    /// its certificate (forged or tampered).
    #[error("acknowledgement signature is not valid for the site's key")]
    BadAckSignature,
}

/// What a bundle carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum BundleKind {
    /// Mesh-wide policy text.
    Policy = 1,
    /// The registry's relay limits: JSON `{"cordoned": [..], "drained": [..]}`.
    Registry = 2,
    /// Global traffic management: JSON of the GTM document (services and
    /// the shifts in effect; see `weft-gtm`).
    Gtm = 3,
    /// Mesh-wide workload identity state: JSON `{"revoked": [..]}`, the
    /// SPIFFE IDs every zero-trust proxy of the mesh refuses.
    Identity = 4,
    /// An answer to one site's SVID request (addressed to that site only):
    /// JSON with the request's nonce and the certificate chain, or why not.
    Svid = 5,
    /// The control plane's ledger of mesh-wide bandwidth reservations
    /// (JSON); each source site enforces its own.
    Reservations = 6,
    /// The control plane's record of connection profiles' clients
    /// registered mesh-wide (JSON); each site serves the ones naming it.
    Clients = 7,
}

impl BundleKind {
    /// The kind named by `b`, if any.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Policy),
            2 => Some(Self::Registry),
            3 => Some(Self::Gtm),
            4 => Some(Self::Identity),
            5 => Some(Self::Svid),
            6 => Some(Self::Reservations),
            7 => Some(Self::Clients),
            _ => None,
        }
    }
}

/// What a bundle says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleBody {
    /// What the payload is.
    pub kind: BundleKind,
    /// The publishing leader's fencing epoch.
    pub epoch: u64,
    /// Publication sequence (a store revision): grows with every publication.
    pub seq: u64,
    /// The version of what the payload carries (the policy version).
    pub version: u64,
    /// When it was issued, Unix seconds.
    pub issued_at: u64,
    /// The sites it is meant for; empty means every site. At most
    /// [`MAX_BUNDLE_SITES`]; signing sorts them and drops duplicates.
    pub sites: Vec<SiteId>,
    /// The payload (not necessarily UTF-8 at this layer), at most
    /// [`MAX_BUNDLE_PAYLOAD`] bytes.
    pub payload: Vec<u8>,
}

/// A bundle signed by the mesh CA, as it travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedBundle {
    /// The contents.
    pub body: BundleBody,
    /// The signing CA's key id.
    pub issuer: KeyId,
    /// The CA's signature over the encoded issuer and contents.
    pub signature: [u8; 64],
}

impl MeshCa {
    /// Signs `body` into a bundle. Its sites are sorted and deduplicated
    /// first; refuses a payload over [`MAX_BUNDLE_PAYLOAD`], more than
    /// [`MAX_BUNDLE_SITES`] sites, or a bundle whose encoding would exceed
    /// [`MAX_BUNDLE_LEN`].
    pub fn sign_bundle(&self, mut body: BundleBody) -> Result<SignedBundle, BundleError> {
        if body.payload.len() > MAX_BUNDLE_PAYLOAD {
            let len = body.payload.len();
            return Err(BundleError::PayloadTooLarge { len, max: MAX_BUNDLE_PAYLOAD });
        }
        body.sites.sort();
        body.sites.dedup();
        if body.sites.len() > MAX_BUNDLE_SITES {
            let count = body.sites.len();
            return Err(BundleError::TooManySites { count, max: MAX_BUNDLE_SITES });
        }
        let len = encoded_len(&body);
        if len > MAX_BUNDLE_LEN {
            return Err(BundleError::TooLarge { len, max: MAX_BUNDLE_LEN });
        }
        let issuer = self.public().key_id();
        let signature = self.sign(&encode_signed_part(issuer, &body));
        Ok(SignedBundle { body, issuer, signature })
    }
}

/// The exact length of the encoded signed bundle.
fn encoded_len(b: &BundleBody) -> usize {
    let sites: usize = b.sites.iter().map(|s| 1 + s.as_str().len()).sum();
    FIXED_LEN + sites + b.payload.len()
}

fn encode_signed_part(issuer: KeyId, b: &BundleBody) -> Vec<u8> {
    // Sized from the body itself, so even a hand-built oversize bundle
    // encodes (and is then refused by every decoder) instead of panicking.
    encode_message(encoded_len(b), MAGIC, |e| {
        e.bytes(&issuer.0);
        e.u8(b.kind as u8);
        e.u64(b.epoch);
        e.u64(b.seq);
        e.u64(b.version);
        e.u64(b.issued_at);
        e.bytes(&(b.sites.len() as u16).to_be_bytes());
        for s in &b.sites {
            e.site_id(s);
        }
        e.u32(b.payload.len() as u32);
        e.bytes(&b.payload);
    })
}

impl SignedBundle {
    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encode_signed_part(self.issuer, &self.body);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form. Never panics; checks the format and limits
    /// only, not the signature (see [`SignedBundle::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_LEN {
            let e = DecodeError::TooLong { what: WHAT, len: bytes.len(), max: MAX_BUNDLE_LEN };
            return Err(e.into());
        }
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_BUNDLE_LEN, MAGIC)?;
        let issuer = KeyId(d.array()?);
        let k = d.u8()?;
        let kind = BundleKind::from_byte(k)
            .ok_or_else(|| d.invalid("kind", format!("unknown bundle kind {k}")))?;
        let (epoch, seq, version, issued_at) = (d.u64()?, d.u64()?, d.u64()?, d.u64()?);
        let n = u16::from_be_bytes(d.array()?) as usize;
        if n > MAX_BUNDLE_SITES {
            let reason = format!("{n} sites; the limit is {MAX_BUNDLE_SITES}");
            return Err(d.invalid("sites", reason).into());
        }
        let mut sites: Vec<SiteId> = Vec::with_capacity(n);
        for _ in 0..n {
            let s = d.site_id()?;
            if sites.last().is_some_and(|last| *last >= s) {
                return Err(d.invalid("sites", "not in strictly ascending order").into());
            }
            sites.push(s);
        }
        let len = d.u32()? as usize;
        if len > MAX_BUNDLE_PAYLOAD {
            let reason = format!("{len} bytes; the limit is {MAX_BUNDLE_PAYLOAD}");
            return Err(d.invalid("payload", reason).into());
        }
        let payload = d.bytes(len)?.to_vec();
        d.finish()?;
        let body = BundleBody { kind, epoch, seq, version, issued_at, sites, payload };
        Ok(Self { body, issuer, signature })
    }

    /// Checks that `ca` signed the bundle (its key id must match); gives the
    /// contents.
    pub fn verify(&self, ca: &CaPublicKey) -> Result<&BundleBody, BundleError> {
        if self.issuer != ca.key_id() {
            return Err(BundleError::WrongCa { expected: ca.key_id(), found: self.issuer });
        }
        if !ca.verifies(&encode_signed_part(self.issuer, &self.body), &self.signature) {
            return Err(BundleError::BadSignature);
        }
        Ok(&self.body)
    }

    /// Whether the bundle is meant for `site`: it names no sites (every
    /// site), or names this one.
    pub fn is_for(&self, site: &SiteId) -> bool {
        self.body.sites.is_empty() || self.body.sites.contains(site)
    }
}
