//! Revocation: the CA's versioned list of revoked sites and certificate
//! serials, signed so agents can gossip it and take the newest version they
//! see. A revoked site id can never enrol or renew again.
//!
//! Layout: `"WFTV"`, version byte, issuer key id (8), list version (u64),
//! site count (u16) and sites (strictly ascending), serial count (u16) and
//! serials (u64, strictly ascending), then the CA's signature (64).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use weft_types::SiteId;

use super::ca::{CaPublicKey, KeyId, MeshCa};
use super::cert::SiteCert;
use super::wire::{DecodeError, Decoder, MAX_REVOCATIONS_LEN, encode_message, split_signed};

const MAGIC: [u8; 4] = *b"WFTV";
const WHAT: &str = "revocation list";

/// Why a revocation list was refused or could not grow. No state changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The bytes are not a well-formed signed revocation list.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
    /// The list was signed by another CA.
    #[error("revocation list was signed by CA {found}, not by this mesh's CA {expected}")]
    WrongCa {
        /// This mesh's CA key id.
        expected: KeyId,
        /// The signer the list names.
        found: KeyId,
    },
    /// The signature does not match the contents.
    #[error("revocation list signature is not valid")]
    BadSignature,
    /// The list is full; the entry was not added.
    #[error("revocation list is full ({max} {kind}); rotate the CA instead")]
    Full {
        /// `sites` or `serials`.
        kind: &'static str,
        /// The limit.
        max: usize,
    },
}

/// The revoked sites and serials, at a version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    version: u64,
    sites: BTreeSet<SiteId>,
    serials: BTreeSet<u64>,
}

impl RevocationList {
    /// Most revoked site ids in one list.
    pub const MAX_SITES: usize = 512;
    /// Most revoked serials in one list.
    pub const MAX_SERIALS: usize = 2048;

    /// The list's version; every change increments it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The revoked sites.
    pub fn sites(&self) -> &BTreeSet<SiteId> {
        &self.sites
    }

    /// The revoked serials.
    pub fn serials(&self) -> &BTreeSet<u64> {
        &self.serials
    }

    /// Revokes `site` (every certificate it holds or will hold). Returns
    /// whether the list changed (and its version went up).
    pub fn revoke_site(&mut self, site: SiteId) -> Result<bool, RevocationError> {
        if self.sites.contains(&site) {
            return Ok(false);
        }
        if self.sites.len() >= Self::MAX_SITES {
            return Err(RevocationError::Full { kind: "sites", max: Self::MAX_SITES });
        }
        self.sites.insert(site);
        self.version += 1;
        Ok(true)
    }

    /// Revokes one certificate by serial. Returns whether the list changed.
    pub fn revoke_serial(&mut self, serial: u64) -> Result<bool, RevocationError> {
        if self.serials.contains(&serial) {
            return Ok(false);
        }
        if self.serials.len() >= Self::MAX_SERIALS {
            return Err(RevocationError::Full { kind: "serials", max: Self::MAX_SERIALS });
        }
        self.serials.insert(serial);
        self.version += 1;
        Ok(true)
    }

    /// Whether `site` is revoked.
    pub fn is_site_revoked(&self, site: &SiteId) -> bool {
        self.sites.contains(site)
    }

    /// Whether `cert`'s site or serial is revoked.
    pub fn is_revoked(&self, cert: &SiteCert) -> bool {
        self.is_site_revoked(&cert.body.site) || self.serials.contains(&cert.body.serial)
    }

    /// Takes `other` if it is newer (higher version). Returns whether this
    /// list changed. Only merge lists that came out of
    /// [`SignedRevocations::verify`].
    pub fn merge(&mut self, other: &RevocationList) -> bool {
        if other.version > self.version {
            *self = other.clone();
            true
        } else {
            false
        }
    }
}

/// A revocation list signed by the CA, as it is gossiped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRevocations {
    /// The signing CA's key id.
    pub issuer: KeyId,
    /// The list.
    pub list: RevocationList,
    /// The CA's signature over the encoded issuer and list.
    pub signature: [u8; 64],
}

impl MeshCa {
    /// Signs the current state of `list`.
    pub fn sign_revocations(&self, list: &RevocationList) -> SignedRevocations {
        let issuer = self.public().key_id();
        let signature = self.sign(&encode_signed_part(issuer, list));
        SignedRevocations { issuer, list: list.clone(), signature }
    }
}

fn encode_signed_part(issuer: KeyId, l: &RevocationList) -> Vec<u8> {
    encode_message(MAX_REVOCATIONS_LEN, MAGIC, |e| {
        e.bytes(&issuer.0);
        e.u64(l.version);
        e.bytes(&(l.sites.len() as u16).to_be_bytes());
        for s in &l.sites {
            e.site_id(s);
        }
        e.bytes(&(l.serials.len() as u16).to_be_bytes());
        for s in &l.serials {
            e.u64(*s);
        }
    })
}

impl SignedRevocations {
    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encode_signed_part(self.issuer, &self.list);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form; checks the format only (see
    /// [`SignedRevocations::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, RevocationError> {
        if bytes.len() > MAX_REVOCATIONS_LEN {
            let e = DecodeError::TooLong { what: WHAT, len: bytes.len(), max: MAX_REVOCATIONS_LEN };
            return Err(e.into());
        }
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_REVOCATIONS_LEN, MAGIC)?;
        let issuer = KeyId(d.array()?);
        let version = d.u64()?;
        let n = u16::from_be_bytes(d.array()?) as usize;
        if n > RevocationList::MAX_SITES {
            return Err(d.invalid("sites", format!("{n} sites; the limit is 512")).into());
        }
        let mut sites = BTreeSet::new();
        for _ in 0..n {
            let s = d.site_id()?;
            if sites.last().is_some_and(|last| *last >= s) {
                return Err(d.invalid("sites", "not in strictly ascending order").into());
            }
            sites.insert(s);
        }
        let n = u16::from_be_bytes(d.array()?) as usize;
        if n > RevocationList::MAX_SERIALS {
            return Err(d.invalid("serials", format!("{n} serials; the limit is 2048")).into());
        }
        let mut serials = BTreeSet::new();
        for _ in 0..n {
            let s = d.u64()?;
            if serials.last().is_some_and(|last| *last >= s) {
                return Err(d.invalid("serials", "not in strictly ascending order").into());
            }
            serials.insert(s);
        }
        d.finish()?;
        Ok(Self { issuer, list: RevocationList { version, sites, serials }, signature })
    }

    /// Checks that `ca` signed the list; gives the list to merge.
    pub fn verify(&self, ca: &CaPublicKey) -> Result<&RevocationList, RevocationError> {
        if self.issuer != ca.key_id() {
            return Err(RevocationError::WrongCa { expected: ca.key_id(), found: self.issuer });
        }
        if !ca.verifies(&encode_signed_part(self.issuer, &self.list), &self.signature) {
            return Err(RevocationError::BadSignature);
        }
        Ok(&self.list)
    }
}
