//! X25519 key generation and public-key derivation.

use boringtun::x25519;
use weft_types::{PrivateKey, PublicKey};

/// Generates a new private key from the operating system's randomness,
/// clamped as X25519 requires (like `wg genkey`).
///
/// # Panics
/// If the operating system has no randomness to give (`getrandom` fails),
/// which on Linux means the kernel is broken; no key is better than a weak one.
pub fn generate_private_key() -> PrivateKey {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        panic!("the operating system refused randomness for a private key: {e}");
    }
    PrivateKey(clamp(bytes))
}

/// Clamps a scalar as RFC 7748 requires.
fn clamp(mut bytes: [u8; 32]) -> [u8; 32] {
    bytes[0] &= 0xf8;
    bytes[31] &= 0x7f;
    bytes[31] |= 0x40;
    bytes
}

/// The public key of `private` (like `wg pubkey`).
pub fn public_key(private: &PrivateKey) -> PublicKey {
    PublicKey(x25519::PublicKey::from(&x25519::StaticSecret::from(private.0)).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_matches_the_rfc_7748_test_vector() {
        let alice = PrivateKey::from_hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        )
        .unwrap();
        assert_eq!(
            public_key(&alice).to_hex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }

    #[test]
    fn generated_keys_are_clamped_and_distinct() {
        let a = generate_private_key();
        let b = generate_private_key();
        assert_ne!(a, b);
        for k in [&a, &b] {
            assert_eq!(k.0[0] & 7, 0);
            assert_eq!(k.0[31] & 0xc0, 0x40);
        }
        assert_ne!(public_key(&a), public_key(&b));
    }
}
