//! Probe keys: the per-peer MAC key and the key ids that name senders.

use std::fmt;

use blake2::Blake2s256;
use blake2::digest::Digest as _;
use weft_types::{PrivateKey, PublicKey};
use x25519_dalek as x25519;

use crate::ProbeError;

/// Domain-separation label for the probe MAC key.
const KEY_LABEL: &[u8] = b"weft probe v1";

/// Names the sender of a probe: the first 8 bytes of BLAKE2s-256 of its
/// X25519 public key. Lets a receiver find the peer before checking the MAC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The key id of `key`.
    pub fn of(key: &PublicKey) -> Self {
        let digest = Blake2s256::digest(key.0);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self(id)
    }
}

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

/// The symmetric key that authenticates probes between two sites, plus the
/// key ids of both ends.
///
/// Both sites derive the same MAC key from their static X25519 keys; only the
/// roles of the two key ids differ. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ProbeKey {
    pub(crate) mac_key: [u8; 32],
    local: KeyId,
    peer: KeyId,
}

impl ProbeKey {
    /// Derives the probe key shared with `peer`.
    ///
    /// `key = BLAKE2s-256("weft probe v1" ‖ lower public key ‖ higher public
    /// key ‖ X25519(local, peer))`, with the two public keys in byte order so
    /// both sides hash the same input. The raw DH output is never used as a
    /// MAC key by itself.
    ///
    /// Fails with [`ProbeError::WeakPeerKey`] when `peer` is a low-order point.
    pub fn derive(local: &PrivateKey, peer: &PublicKey) -> Result<Self, ProbeError> {
        let secret = x25519::StaticSecret::from(local.0);
        let local_public = PublicKey(x25519::PublicKey::from(&secret).to_bytes());
        let shared = secret.diffie_hellman(&x25519::PublicKey::from(peer.0));
        if !shared.was_contributory() {
            return Err(ProbeError::WeakPeerKey);
        }
        let (lo, hi) =
            if local_public <= *peer { (&local_public, peer) } else { (peer, &local_public) };
        let mut h = Blake2s256::new();
        h.update(KEY_LABEL);
        h.update(lo.0);
        h.update(hi.0);
        h.update(shared.as_bytes());
        Ok(Self {
            mac_key: h.finalize().into(),
            local: KeyId::of(&local_public),
            peer: KeyId::of(peer),
        })
    }

    /// The key id this side writes into the probes and echoes it sends.
    pub fn local_key_id(&self) -> KeyId {
        self.local
    }

    /// The key id the peer writes into its messages; [`open`](crate::open)
    /// accepts no other sender.
    pub fn peer_key_id(&self) -> KeyId {
        self.peer
    }
}

impl fmt::Debug for ProbeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeKey")
            .field("mac_key", &"<redacted>")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(seed: u8) -> PrivateKey {
        PrivateKey([seed; 32])
    }

    fn public(key: &PrivateKey) -> PublicKey {
        PublicKey(x25519::PublicKey::from(&x25519::StaticSecret::from(key.0)).to_bytes())
    }

    #[test]
    fn both_sides_derive_the_same_key_and_mirrored_ids() {
        let (a, b) = (private(1), private(2));
        let ab = ProbeKey::derive(&a, &public(&b)).unwrap();
        let ba = ProbeKey::derive(&b, &public(&a)).unwrap();
        assert_eq!(ab.mac_key, ba.mac_key);
        assert_eq!(ab.local_key_id(), ba.peer_key_id());
        assert_eq!(ab.peer_key_id(), ba.local_key_id());
        assert_ne!(ab.local_key_id(), ab.peer_key_id());
    }

    #[test]
    fn a_third_site_derives_a_different_key() {
        let (a, b, c) = (private(1), private(2), private(3));
        let ab = ProbeKey::derive(&a, &public(&b)).unwrap();
        let ac = ProbeKey::derive(&a, &public(&c)).unwrap();
        let cb = ProbeKey::derive(&c, &public(&b)).unwrap();
        assert_ne!(ab.mac_key, ac.mac_key);
        assert_ne!(ab.mac_key, cb.mac_key);
    }

    #[test]
    fn the_key_is_not_the_raw_shared_secret() {
        let (a, b) = (private(1), private(2));
        let dh =
            x25519::StaticSecret::from(a.0).diffie_hellman(&x25519::PublicKey::from(public(&b).0));
        let ab = ProbeKey::derive(&a, &public(&b)).unwrap();
        assert_ne!(&ab.mac_key, dh.as_bytes());
    }

    #[test]
    fn a_low_order_peer_key_is_refused() {
        assert_eq!(
            ProbeKey::derive(&private(1), &PublicKey([0; 32])),
            Err(ProbeError::WeakPeerKey)
        );
    }

    #[test]
    fn debug_output_hides_the_mac_key() {
        let k = ProbeKey::derive(&private(1), &public(&private(2))).unwrap();
        let shown = format!("{k:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&format!("{:?}", k.mac_key)));
    }
}
