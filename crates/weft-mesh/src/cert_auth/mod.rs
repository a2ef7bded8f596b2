//! The gossip authenticator the product uses: every envelope is signed with
//! the sender's certified Ed25519 site key and checked against the
//! certificate the receiver admitted for that site.
//!
//! Drive it: build it from the local [`SiteKey`] and the mesh CA's public key;
//! [`admit`](CertAuthenticator::admit) every peer certificate learnt (from
//! enrolment, a seed, or a cert exchange) after it verified; feed signed
//! revocation lists to [`update_revocations`](CertAuthenticator::update_revocations)
//! (a revoked site's datagrams are refused from then on) and call
//! [`expire`](CertAuthenticator::expire) with the time now and then. Hand it
//! to [`Membership::new`](crate::membership::Membership::new).
//!
//! What it does not do: learn certificates by itself; the membership layer
//! refuses datagrams from sites it has no certificate for (`UnknownSender`).

use std::collections::BTreeMap;

use weft_types::SiteId;

use crate::identity::{
    CaPublicKey, CertError, RevocationError, RevocationList, SignedRevocations, SiteCert, SiteKey,
    SitePublicKey,
};
use crate::membership::{AuthError, Authenticator};

/// Length of an Ed25519 signature, the envelope tag.
const TAG_LEN: usize = 64;

/// What is kept of an admitted certificate.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    key: SitePublicKey,
    serial: u64,
    not_after: u64,
}

/// Ed25519 envelope tags by certified site keys.
#[derive(Debug)]
pub struct CertAuthenticator {
    me: SiteKey,
    ca: CaPublicKey,
    peers: BTreeMap<SiteId, Admitted>,
    revocations: RevocationList,
}

impl CertAuthenticator {
    /// Signs as `me`; trusts certificates of `ca`.
    pub fn new(me: SiteKey, ca: CaPublicKey) -> Self {
        Self { me, ca, peers: BTreeMap::new(), revocations: RevocationList::default() }
    }

    /// Admits `cert` after checking it against the CA, its validity at
    /// `now_unix` and the revocations. A newer serial replaces an older one
    /// of the same site (a renewal); an older one is ignored.
    pub fn admit(&mut self, cert: &SiteCert, now_unix: u64) -> Result<(), CertError> {
        let v = cert.verify_not_revoked(&self.ca, now_unix, &self.revocations)?;
        let b = v.body();
        let new = Admitted { key: b.site_key, serial: b.serial, not_after: b.not_after };
        match self.peers.get(&b.site) {
            Some(old) if old.serial >= new.serial => {}
            _ => {
                self.peers.insert(b.site.clone(), new);
            }
        }
        Ok(())
    }

    /// Applies a CA-signed revocation list if it is newer than the one held;
    /// revoked sites and serials are forgotten. Returns whether it changed.
    pub fn update_revocations(
        &mut self,
        signed: &SignedRevocations,
    ) -> Result<bool, RevocationError> {
        let list = signed.verify(&self.ca)?;
        if !self.revocations.merge(list) {
            return Ok(false);
        }
        let r = &self.revocations;
        self.peers.retain(|site, a| !r.is_site_revoked(site) && !r.serials().contains(&a.serial));
        Ok(true)
    }

    /// Forgets certificates expired at `now_unix`; how many.
    pub fn expire(&mut self, now_unix: u64) -> usize {
        let before = self.peers.len();
        self.peers.retain(|_, a| a.not_after > now_unix);
        before - self.peers.len()
    }

    /// The local site key envelopes are sealed with.
    pub fn site_key(&self) -> &SiteKey {
        &self.me
    }

    /// The revocation list in force (version 0 if none was applied).
    pub fn revocations(&self) -> &RevocationList {
        &self.revocations
    }

    /// The mesh CA this authenticator trusts.
    pub fn ca(&self) -> &CaPublicKey {
        &self.ca
    }

    /// Whether `site` has an admitted, unrevoked certificate.
    pub fn is_admitted(&self, site: &SiteId) -> bool {
        self.peers.contains_key(site)
    }
}

impl Authenticator for CertAuthenticator {
    fn seal(&self, signed: &[u8]) -> Vec<u8> {
        self.me.sign(signed).to_vec()
    }

    fn open(&self, from: &SiteId, signed: &[u8], tag: &[u8]) -> Result<(), AuthError> {
        let Some(peer) = self.peers.get(from) else {
            return Err(if self.revocations.is_site_revoked(from) {
                AuthError::Revoked(from.clone())
            } else {
                AuthError::UnknownSender(from.clone())
            });
        };
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| AuthError::BadTag(from.clone()))?;
        if peer.key.verifies(signed, tag) { Ok(()) } else { Err(AuthError::BadTag(from.clone())) }
    }
}

#[cfg(test)]
mod tests;
