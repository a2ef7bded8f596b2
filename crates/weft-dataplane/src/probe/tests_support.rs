//! Shared helpers for the probe tests.

use boringtun::x25519;
use weft_types::{PrivateKey, PublicKey};

use super::{PeerProbeState, ProbeKey};

pub(super) fn public(key: &PrivateKey) -> PublicKey {
    PublicKey(x25519::PublicKey::from(&x25519::StaticSecret::from(key.0)).to_bytes())
}

/// Keys of sites A and B as seen from each side: (A→B, B→A).
pub(super) fn keys() -> (ProbeKey, ProbeKey) {
    let (a, b) = (PrivateKey([0x11; 32]), PrivateKey([0x22; 32]));
    (ProbeKey::derive(&a, &public(&b)).unwrap(), ProbeKey::derive(&b, &public(&a)).unwrap())
}

/// Probe states of A (for peer B) and B (for peer A) with first counters.
pub(super) fn pair(a_first: u64, b_first: u64) -> (PeerProbeState, PeerProbeState) {
    let (ab, ba) = keys();
    (PeerProbeState::new(ab, a_first), PeerProbeState::new(ba, b_first))
}
