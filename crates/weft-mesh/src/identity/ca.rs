//! Keys: the mesh CA's signing key and its public half, and a site's
//! Ed25519 identity key. Both come from 32-byte seeds the caller passes in
//! (from a CSPRNG in the binary, or a fixed seed in tests); nothing here draws
//! randomness.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Short identifier of a CA key: the first 8 bytes of its public key. It lets
/// a certificate name its issuer cheaply; trust always rests on the full key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Checks an Ed25519 signature strictly (no malleable or small-order
/// encodings). False for keys that are not valid curve points.
pub(crate) fn verify_sig(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(key)
        .is_ok_and(|k| k.verify_strict(msg, &Signature::from_bytes(sig)).is_ok())
}

/// The public key of a mesh CA: what every agent trusts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CaPublicKey(pub [u8; 32]);

impl CaPublicKey {
    /// The key's id, as certificates name their issuer.
    pub fn key_id(&self) -> KeyId {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.0[..8]);
        KeyId(id)
    }

    /// A short fingerprint for humans: the key id in hex (16 characters), as
    /// `weft ca init` prints it and operators compare it.
    pub fn fingerprint(&self) -> String {
        self.key_id().to_string()
    }

    /// Whether `sig` is this CA's signature over `msg`.
    pub fn verifies(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        verify_sig(&self.0, msg, sig)
    }
}

impl fmt::Debug for CaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaPublicKey({})", self.fingerprint())
    }
}

/// A mesh certificate authority: signs site certificates, join tokens and
/// revocation lists. Its secret never leaves this value (no `Debug` output,
/// zeroised on drop).
pub struct MeshCa {
    key: SigningKey,
}

impl MeshCa {
    /// The CA whose Ed25519 key derives from `seed`. The seed is the CA's
    /// secret: the caller draws it from a CSPRNG and stores it.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(seed) }
    }

    /// The CA's public key.
    pub fn public(&self) -> CaPublicKey {
        CaPublicKey(self.key.verifying_key().to_bytes())
    }

    /// Signs `msg`.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for MeshCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MeshCa({})", self.public().fingerprint())
    }
}

/// A site's Ed25519 identity public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SitePublicKey(pub [u8; 32]);

impl SitePublicKey {
    /// Whether `sig` is this key's signature over `msg`.
    pub fn verifies(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        verify_sig(&self.0, msg, sig)
    }
}

impl fmt::Debug for SitePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SitePublicKey(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// A site's Ed25519 identity key: signs enrolment and renewal requests to
/// prove the site holds it.
pub struct SiteKey {
    key: SigningKey,
}

impl SiteKey {
    /// The site key that derives from `seed` (the caller's secret).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(seed) }
    }

    /// The public half.
    pub fn public(&self) -> SitePublicKey {
        SitePublicKey(self.key.verifying_key().to_bytes())
    }

    /// Signs `msg`.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiteKey({:?})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_ca_and_fingerprint() {
        let a = MeshCa::from_seed(&[7; 32]);
        let b = MeshCa::from_seed(&[7; 32]);
        assert_eq!(a.public(), b.public());
        assert_eq!(a.public().fingerprint().len(), 16);
        assert_ne!(a.public(), MeshCa::from_seed(&[8; 32]).public());
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let ca = MeshCa::from_seed(&[7; 32]);
        let shown = format!("{ca:?}");
        assert!(shown.starts_with("MeshCa("));
        assert!(!shown.contains("0707"));
    }

    #[test]
    fn a_signature_verifies_only_under_its_key_and_message() {
        let ca = MeshCa::from_seed(&[1; 32]);
        let sig = ca.sign(b"hello");
        assert!(ca.public().verifies(b"hello", &sig));
        assert!(!ca.public().verifies(b"hellp", &sig));
        assert!(!MeshCa::from_seed(&[2; 32]).public().verifies(b"hello", &sig));
    }
}
