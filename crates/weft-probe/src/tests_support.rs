//! Shared helpers for the probe tests.

use weft_types::{PrivateKey, PublicKey};
use x25519_dalek as x25519;

use crate::{PeerProbeState, ProbeKey};

pub(crate) fn public(key: &PrivateKey) -> PublicKey {
    PublicKey(x25519::PublicKey::from(&x25519::StaticSecret::from(key.0)).to_bytes())
}

/// Keys of sites A and B as seen from each side: (A→B, B→A).
pub(crate) fn keys() -> (ProbeKey, ProbeKey) {
    let (a, b) = (PrivateKey([0x11; 32]), PrivateKey([0x22; 32]));
    (ProbeKey::derive(&a, &public(&b)).unwrap(), ProbeKey::derive(&b, &public(&a)).unwrap())
}

/// Probe states of A (for peer B) and B (for peer A) with first counters.
pub(crate) fn pair(a_first: u64, b_first: u64) -> (PeerProbeState, PeerProbeState) {
    let (ab, ba) = keys();
    (PeerProbeState::new(ab, a_first), PeerProbeState::new(ba, b_first))
}
