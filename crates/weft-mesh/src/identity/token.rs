//! Join tokens: CA-signed permission for a new site to enrol, limited in time
//! and number of uses, fixing the role and region the site gets and,
//! optionally, the overlay prefixes it may ask for.
//!
//! Humans and the CLI see them as `weft1.<base64url>`; the bytes are
//! `"WFTT"`, version, CA public key (32), token id (16), `expires_at` (u64),
//! `max_uses` (u32), role, region, an allowed-prefixes flag (0 or 1) and
//! list, the allowed learn ranges (a prefix list, present only when not
//! empty), then the CA's signature (64) over every byte before it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ca::{CaPublicKey, MeshCa};
use super::claims::{Label, PrefixList};
use super::learn::LearnRanges;
use super::wire::{
    Base64Error, DecodeError, Decoder, Encoder, MAX_MESSAGE_LEN, base64url_decode,
    base64url_encode, encode_message, split_signed,
};

/// The prefix of a join token's text form.
pub const TOKEN_TEXT_PREFIX: &str = "weft1.";

const MAGIC: [u8; 4] = *b"WFTT";
const WHAT: &str = "join token";

/// Why a join token was refused. Parsing and checking change no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The text does not start with `weft1.`.
    #[error("not a Weft join token (expected weft1.…)")]
    NotAToken,
    /// The text after `weft1.` is not base64url.
    #[error("join token text is damaged: {0}")]
    Base64(#[from] Base64Error),
    /// The bytes are not a well-formed token.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
    /// The token was made by another mesh's CA.
    #[error("join token belongs to CA {found}, not to this mesh's CA {expected}")]
    WrongCa {
        /// Fingerprint of this mesh's CA.
        expected: String,
        /// Fingerprint of the token's CA.
        found: String,
    },
    /// The CA signature does not match the contents (forged or tampered).
    #[error("join token signature is not valid")]
    BadSignature,
}

/// A token's identifier: 16 bytes the caller draws at random.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TokenId(pub [u8; 16]);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

/// What a join token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBody {
    /// The token's id (the ledger counts uses by it).
    pub id: TokenId,
    /// Unix seconds after which the token no longer enrols anyone (a token is
    /// usable while `now < expires_at`).
    pub expires_at: u64,
    /// How many sites may enrol with it.
    pub max_uses: u32,
    /// The role enrolled sites get.
    pub role: Label,
    /// The region enrolled sites get.
    pub region: Label,
    /// The prefixes enrolled sites may ask for; `None` allows any.
    pub allowed_prefixes: Option<PrefixList>,
    /// The on-prem ranges enrolled sites may ask to bring into the mesh
    /// (`weft token create --learn CIDR`); each learn range a site asks for
    /// must lie inside one of them. Empty: none.
    pub allowed_learn: LearnRanges,
}

/// A CA-signed join token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The CA that made it (full key, so a new site can pin it).
    pub ca: CaPublicKey,
    /// What it allows.
    pub body: TokenBody,
    /// The CA's signature over the encoded key and body.
    pub signature: [u8; 64],
}

impl MeshCa {
    /// Signs `body` into a join token of this CA.
    pub fn issue_token(&self, body: TokenBody) -> JoinToken {
        let ca = self.public();
        let signature = self.sign(&encode_signed_part(&ca, &body));
        JoinToken { ca, body, signature }
    }
}

fn encode_body(e: &mut Encoder<'_>, ca: &CaPublicKey, b: &TokenBody) {
    e.bytes(&ca.0);
    e.bytes(&b.id.0);
    e.u64(b.expires_at);
    e.u32(b.max_uses);
    e.label(&b.role);
    e.label(&b.region);
    match &b.allowed_prefixes {
        None => e.u8(0),
        Some(p) => {
            e.u8(1);
            e.prefixes(p);
        }
    }
    e.trailing_learn(&b.allowed_learn);
}

fn encode_signed_part(ca: &CaPublicKey, b: &TokenBody) -> Vec<u8> {
    encode_message(MAX_MESSAGE_LEN, MAGIC, |e| encode_body(e, ca, b))
}

impl JoinToken {
    /// The token's wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encode_signed_part(&self.ca, &self.body);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses the wire form; checks the format only (see [`JoinToken::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, TokenError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong {
                what: WHAT,
                len: bytes.len(),
                max: MAX_MESSAGE_LEN,
            }
            .into());
        }
        let (signed, signature) = split_signed(WHAT, bytes)?;
        let mut d = Decoder::open(WHAT, signed, MAX_MESSAGE_LEN, MAGIC)?;
        let ca = CaPublicKey(d.array()?);
        let id = TokenId(d.array()?);
        let expires_at = d.u64()?;
        let max_uses = d.u32()?;
        let role = d.label("role")?;
        let region = d.label("region")?;
        let allowed_prefixes = match d.u8()? {
            0 => None,
            1 => Some(d.prefixes()?),
            n => {
                return Err(d
                    .invalid("allowed-prefixes flag", format!("{n} (expected 0 or 1)"))
                    .into());
            }
        };
        let allowed_learn = d.trailing_learn("allowed learn ranges")?;
        d.finish()?;
        let body =
            TokenBody { id, expires_at, max_uses, role, region, allowed_prefixes, allowed_learn };
        Ok(Self { ca, body, signature })
    }

    /// The text form, `weft1.<base64url>`.
    pub fn to_text(&self) -> String {
        format!("{TOKEN_TEXT_PREFIX}{}", base64url_encode(&self.encode()))
    }

    /// Parses the text form (surrounding whitespace is ignored).
    pub fn from_text(text: &str) -> Result<Self, TokenError> {
        let rest = text.trim().strip_prefix(TOKEN_TEXT_PREFIX).ok_or(TokenError::NotAToken)?;
        if rest.len() > MAX_MESSAGE_LEN.div_ceil(3) * 4 {
            let len = rest.len() / 4 * 3;
            return Err(DecodeError::TooLong { what: WHAT, len, max: MAX_MESSAGE_LEN }.into());
        }
        Self::decode(&base64url_decode(rest)?)
    }

    /// Checks that `ca` made this token. Expiry and uses are the enroller's
    /// to check, against its clock and ledger.
    pub fn verify(&self, ca: &CaPublicKey) -> Result<(), TokenError> {
        if self.ca != *ca {
            return Err(TokenError::WrongCa {
                expected: ca.fingerprint(),
                found: self.ca.fingerprint(),
            });
        }
        if !ca.verifies(&encode_signed_part(&self.ca, &self.body), &self.signature) {
            return Err(TokenError::BadSignature);
        }
        Ok(())
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl std::str::FromStr for JoinToken {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_text(s)
    }
}
