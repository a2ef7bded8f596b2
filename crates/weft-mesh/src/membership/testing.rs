//! A test-only [`Authenticator`]: a keyed FNV-1a "MAC". It is **not**
//! cryptography and exists only under `cfg(test)` or feature `sim`, so tests
//! and the simulator exercise the real envelope path without Ed25519.

use std::collections::BTreeSet;
use std::sync::Arc;

use weft_types::SiteId;

use super::auth::{AuthError, Authenticator};

/// The sites one simulated mesh has enrolled, and its secret.
#[derive(Clone, Debug)]
pub struct TestMesh {
    secret: u64,
    enrolled: Arc<BTreeSet<SiteId>>,
}

impl TestMesh {
    /// A mesh with `secret` that has enrolled `sites`.
    pub fn new(secret: u64, sites: impl IntoIterator<Item = SiteId>) -> Self {
        Self { secret, enrolled: Arc::new(sites.into_iter().collect()) }
    }

    /// The authenticator site `me` uses.
    pub fn authenticator(&self, me: &SiteId) -> TestAuth {
        TestAuth { mesh: self.clone(), key: self.key(me), revoked: BTreeSet::new() }
    }

    fn key(&self, site: &SiteId) -> u64 {
        fnv(self.secret, site.as_str().as_bytes())
    }
}

/// Keyed-FNV authenticator of one site of a [`TestMesh`].
#[derive(Clone, Debug)]
pub struct TestAuth {
    mesh: TestMesh,
    key: u64,
    revoked: BTreeSet<SiteId>,
}

impl TestAuth {
    /// From now on refuse datagrams signed by `site`.
    pub fn revoke(&mut self, site: SiteId) {
        self.revoked.insert(site);
    }
}

fn fnv(key: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ key;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Authenticator for TestAuth {
    fn seal(&self, signed: &[u8]) -> Vec<u8> {
        fnv(self.key, signed).to_be_bytes().to_vec()
    }

    fn open(&self, from: &SiteId, signed: &[u8], tag: &[u8]) -> Result<(), AuthError> {
        if !self.mesh.enrolled.contains(from) {
            return Err(AuthError::UnknownSender(from.clone()));
        }
        if self.revoked.contains(from) {
            return Err(AuthError::Revoked(from.clone()));
        }
        let want = fnv(self.mesh.key(from), signed).to_be_bytes();
        if tag == want { Ok(()) } else { Err(AuthError::BadTag(from.clone())) }
    }
}
