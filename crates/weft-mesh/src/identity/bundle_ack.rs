//! Acknowledgements of bundles: a site's word, signed with its own site key
//! (the key its certificate names), that it installed or refused a bundle.
//!
//! Layout: `"WFTA"`, version byte, site id (u8-length string), kind (u8),
//! epoch, seq, version (u64 each), outcome (u8: 0 installed, 1 refused; a
//! refusal then has a u16 length and at most [`MAX_ACK_MESSAGE`] bytes of
//! UTF-8), `at` (u64 Unix seconds), then the site key's Ed25519 signature
//! (64) over every byte before it. The magic keeps the signature apart from
//! everything else the site key signs (requests, link state, gossip).

use weft_types::SiteId;

use super::bundle::{BundleError, BundleKind};
use super::ca::SiteKey;
use super::cert::SiteCert;
use super::wire::{DecodeError, Decoder, MAX_MESSAGE_LEN, encode_message, split_signed};

/// Longest refusal message in an acknowledgement, in bytes.
pub const MAX_ACK_MESSAGE: usize = 256;

const MAGIC: [u8; 4] = *b"WFTA";
const WHAT: &str = "bundle acknowledgement";

/// What a site did with a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    /// It installed it.
    Installed,
    /// It refused it, and why (at most [`MAX_ACK_MESSAGE`] bytes; longer
    /// messages are cut at a character boundary when signed or encoded).
    Refused(String),
}

impl AckOutcome {
    /// A refusal, its message cut to [`MAX_ACK_MESSAGE`] bytes.
    pub fn refused(message: impl Into<String>) -> Self {
        let mut m = message.into();
        m.truncate(floor_boundary(&m, MAX_ACK_MESSAGE));
        Self::Refused(m)
    }
}

/// The largest index ≤ `max` that is a character boundary of `s`.
fn floor_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// A site's answer to one bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleAck {
    /// The acknowledging site.
    pub site: SiteId,
    /// The bundle's kind.
    pub kind: BundleKind,
    /// The bundle's epoch.
    pub epoch: u64,
    /// The bundle's publication sequence.
    pub seq: u64,
    /// The bundle's version.
    pub version: u64,
    /// What the site did.
    pub outcome: AckOutcome,
    /// When, Unix seconds.
    pub at: u64,
}

/// An acknowledgement signed by the acknowledging site's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedBundleAck {
    /// The contents.
    pub ack: BundleAck,
    /// The site key's signature over the encoded contents.
    pub signature: [u8; 64],
}

impl BundleAck {
    /// Signs the acknowledgement with `key` (the site's own key; a refusal
    /// message is cut to [`MAX_ACK_MESSAGE`] bytes first).
    pub fn sign(mut self, key: &SiteKey) -> SignedBundleAck {
        if let AckOutcome::Refused(m) = &mut self.outcome {
            m.truncate(floor_boundary(m, MAX_ACK_MESSAGE));
        }
        let signature = key.sign(&encode_signed_part(&self));
        SignedBundleAck { ack: self, signature }
    }
}

fn encode_signed_part(a: &BundleAck) -> Vec<u8> {
    encode_message(MAX_MESSAGE_LEN, MAGIC, |e| {
        e.site_id(&a.site);
        e.u8(a.kind as u8);
        e.u64(a.epoch);
        e.u64(a.seq);
        e.u64(a.version);
        match &a.outcome {
            AckOutcome::Installed => e.u8(0),
            AckOutcome::Refused(m) => {
                e.u8(1);
                e.len_prefixed(&m.as_bytes()[..floor_boundary(m, MAX_ACK_MESSAGE)]);
            }
        }
        e.u64(a.at);
    })
}

impl SignedBundleAck {
    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encode_signed_part(&self.ack);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form. Never panics; checks the format only (see
    /// [`SignedBundleAck::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            let e = DecodeError::TooLong { what: WHAT, len: bytes.len(), max: MAX_MESSAGE_LEN };
            return Err(e.into());
        }
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_MESSAGE_LEN, MAGIC)?;
        let site = d.site_id()?;
        let k = d.u8()?;
        let kind = BundleKind::from_byte(k)
            .ok_or_else(|| d.invalid("kind", format!("unknown bundle kind {k}")))?;
        let (epoch, seq, version) = (d.u64()?, d.u64()?, d.u64()?);
        let outcome = match d.u8()? {
            0 => AckOutcome::Installed,
            1 => {
                let m = d.len_prefixed()?;
                if m.len() > MAX_ACK_MESSAGE {
                    let reason = format!("{} bytes; the limit is {MAX_ACK_MESSAGE}", m.len());
                    return Err(d.invalid("refusal message", reason).into());
                }
                let m = std::str::from_utf8(m)
                    .map_err(|e| d.invalid("refusal message", e.to_string()))?;
                AckOutcome::Refused(m.to_owned())
            }
            other => return Err(d.invalid("outcome", format!("unknown outcome {other}")).into()),
        };
        let at = d.u64()?;
        d.finish()?;
        Ok(Self { ack: BundleAck { site, kind, epoch, seq, version, outcome, at }, signature })
    }

    /// Checks that the acknowledgement names `cert`'s site and was signed by
    /// the site key `cert` names. `cert` must be one the caller admitted
    /// (chained to the CA, valid, not revoked): this checks only the
    /// acknowledgement against it.
    pub fn verify(&self, cert: &SiteCert) -> Result<&BundleAck, BundleError> {
        if self.ack.site != cert.body.site {
            return Err(BundleError::AckSiteMismatch {
                ack: self.ack.site.clone(),
                cert: cert.body.site.clone(),
            });
        }
        if !cert.body.site_key.verifies(&encode_signed_part(&self.ack), &self.signature) {
            return Err(BundleError::BadAckSignature);
        }
        Ok(&self.ack)
    }
}
