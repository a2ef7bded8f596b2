//! WireGuard keys in their usual text form: 32 bytes, standard base64 (44 chars).
//!
//! These are plain byte holders. Deriving a public key from a private key is
//! cryptography and lives with the WireGuard wrapper in `weft-dataplane`.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Why a key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not valid base64.
    #[error("key is not valid base64: {0}")]
    Base64(String),
    /// Not valid hex (the UAPI form).
    #[error("key is not valid hex")]
    Hex,
    /// Decoded to the wrong number of bytes.
    #[error("key must be 32 bytes, got {0}")]
    Length(usize),
}

fn decode_base64(s: &str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD.decode(s.trim()).map_err(|e| KeyError::Base64(e.to_string()))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(bytes.len()))
}

fn decode_hex(s: &str) -> Result<[u8; 32], KeyError> {
    let s = s.trim();
    if s.len() != 64 {
        return Err(KeyError::Length(s.len() / 2));
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hi = (chunk[0] as char).to_digit(16).ok_or(KeyError::Hex)?;
        let lo = (chunk[1] as char).to_digit(16).ok_or(KeyError::Hex)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

fn encode_hex(bytes: &[u8; 32]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(64);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A WireGuard (X25519) public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses the base64 form (`wg pubkey` output).
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        decode_base64(s).map(Self)
    }
    /// Parses the lowercase hex form used by the WireGuard UAPI.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        decode_hex(s).map(Self)
    }
    /// The base64 form.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
    /// The hex form used by the WireGuard UAPI.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.to_base64();
        write!(f, "PublicKey({}…)", &b[..8])
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64(s)
    }
}

impl TryFrom<String> for PublicKey {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_base64(&value)
    }
}

impl From<PublicKey> for String {
    fn from(value: PublicKey) -> Self {
        value.to_base64()
    }
}

/// A WireGuard (X25519) private key. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(pub [u8; 32]);

impl PrivateKey {
    /// Parses the base64 form (`wg genkey` output).
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        decode_base64(s).map(Self)
    }
    /// Parses the lowercase hex form used by the WireGuard UAPI.
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        decode_hex(s).map(Self)
    }
    /// The base64 form, for writing key files.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
    /// The hex form used by the WireGuard UAPI.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_round_trips_base64_and_hex() {
        let k = PublicKey([7u8; 32]);
        assert_eq!(PublicKey::from_base64(&k.to_base64()).unwrap(), k);
        assert_eq!(PublicKey::from_hex(&k.to_hex()).unwrap(), k);
        assert_eq!(k.to_hex().len(), 64);
        assert_eq!(k.to_base64().len(), 44);
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        assert!(matches!(PublicKey::from_base64("not base64!"), Err(KeyError::Base64(_))));
        assert_eq!(PublicKey::from_base64("AAAA"), Err(KeyError::Length(3)));
        assert_eq!(PublicKey::from_hex(&"zz".repeat(32)), Err(KeyError::Hex));
        assert_eq!(PublicKey::from_hex("00"), Err(KeyError::Length(1)));
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let k = PrivateKey([1u8; 32]);
        assert!(!format!("{k:?}").contains(&k.to_base64()[..8]));
    }
}
