//! The shared pieces of the identity wire formats: limits, the decode error,
//! a bounded encoder/decoder over [`WireWriter`] / [`WireReader`], and a tiny
//! base64url codec for the human text form of join tokens.
//!
//! Every identity message starts with a 4-byte magic and a version byte, so a
//! signature made over one kind of message can never be read as another kind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use weft_types::{IpPrefix, SiteId, WireError, WireReader, WireWriter};

use super::claims::{Label, PrefixList};
use super::learn::LearnRanges;

/// Longest encoded certificate, token, request or response, in bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Longest encoded signed revocation list, in bytes. Revocation lists grow
/// with the mesh, so they get more room than the other messages.
pub const MAX_REVOCATIONS_LEN: usize = 65_535;

/// The only wire-format version this build reads and writes.
pub const WIRE_VERSION: u8 = 1;

/// Length of an Ed25519 signature.
pub(crate) const SIG_LEN: usize = 64;

/// Why bytes did not decode into an identity message. Decoding has no effect
/// on any state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the message kind allows.
    #[error("{what} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// The kind of message.
        what: &'static str,
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input does not start with this message kind's magic bytes.
    #[error("not a {what}: wrong magic bytes")]
    BadMagic {
        /// The kind of message expected.
        what: &'static str,
    },
    /// The version byte names a version this build does not read.
    #[error("{what} has version {found}; this build reads version {supported}")]
    Version {
        /// The kind of message.
        what: &'static str,
        /// The version found.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// The input was truncated or had trailing bytes.
    #[error("malformed {what}: {source}")]
    Wire {
        /// The kind of message.
        what: &'static str,
        /// What the reader found.
        #[source]
        source: WireError,
    },
    /// A field held a value the format does not allow.
    #[error("malformed {what}: invalid {field}: {reason}")]
    Invalid {
        /// The kind of message.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

/// A bounded encoder. The identity types are bounded by construction, so no
/// write can overflow the buffer; [`encode_message`] checks that once.
pub(crate) struct Encoder<'a> {
    w: WireWriter<'a>,
}

impl Encoder<'_> {
    fn put(r: Result<(), WireError>) {
        r.expect("identity messages are bounded by construction and fit their buffer");
    }

    pub(crate) fn u8(&mut self, v: u8) {
        let r = self.w.u8(v);
        Self::put(r);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        let r = self.w.u32(v);
        Self::put(r);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        let r = self.w.u64(v);
        Self::put(r);
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        let r = self.w.bytes(b);
        Self::put(r);
    }

    pub(crate) fn len_prefixed(&mut self, b: &[u8]) {
        let r = self.w.len_prefixed(b);
        Self::put(r);
    }

    /// A string of at most 255 bytes behind a one-byte length.
    fn short_str(&mut self, s: &str) {
        let n = u8::try_from(s.len()).expect("short strings are at most 255 bytes");
        self.u8(n);
        self.bytes(s.as_bytes());
    }

    pub(crate) fn label(&mut self, l: &Label) {
        self.short_str(l.as_str());
    }

    pub(crate) fn site_id(&mut self, s: &SiteId) {
        self.short_str(s.as_str());
    }

    pub(crate) fn prefix(&mut self, p: &IpPrefix) {
        match p.addr() {
            IpAddr::V4(a) => {
                self.u8(4);
                self.bytes(&a.octets());
            }
            IpAddr::V6(a) => {
                self.u8(6);
                self.bytes(&a.octets());
            }
        }
        self.u8(p.prefix_len());
    }

    pub(crate) fn prefixes(&mut self, list: &PrefixList) {
        let n = u8::try_from(list.len()).expect("prefix lists hold at most 64 prefixes");
        self.u8(n);
        for p in list {
            self.prefix(p);
        }
    }
}

impl Encoder<'_> {
    /// Learn ranges, a trailing field older readers do not know: written
    /// only when not empty, so messages without them keep their old bytes.
    /// Must be the last field (see [`Decoder::trailing_learn`]).
    pub(crate) fn trailing_learn(&mut self, list: &LearnRanges) {
        if !list.is_empty() {
            self.prefixes(list.as_list());
        }
    }
}

/// Encodes one message: magic, version, then whatever `body` writes.
pub(crate) fn encode_message(
    max: usize,
    magic: [u8; 4],
    body: impl FnOnce(&mut Encoder<'_>),
) -> Vec<u8> {
    let mut buf = vec![0u8; max];
    let len = {
        let mut e = Encoder { w: WireWriter::new(&mut buf) };
        e.bytes(&magic);
        e.u8(WIRE_VERSION);
        body(&mut e);
        e.w.len()
    };
    buf.truncate(len);
    buf
}

/// A bounded decoder that names the message kind in every error.
pub(crate) struct Decoder<'a> {
    r: WireReader<'a>,
    what: &'static str,
}

impl<'a> Decoder<'a> {
    /// Checks the length limit, the magic and the version.
    pub(crate) fn open(
        what: &'static str,
        buf: &'a [u8],
        max: usize,
        magic: [u8; 4],
    ) -> Result<Self, DecodeError> {
        if buf.len() > max {
            return Err(DecodeError::TooLong { what, len: buf.len(), max });
        }
        let mut d = Self { r: WireReader::new(buf), what };
        if d.array::<4>()? != magic {
            return Err(DecodeError::BadMagic { what });
        }
        let found = d.u8()?;
        if found != WIRE_VERSION {
            return Err(DecodeError::Version { what, found, supported: WIRE_VERSION });
        }
        Ok(d)
    }

    fn wire<T>(&self, r: Result<T, WireError>) -> Result<T, DecodeError> {
        r.map_err(|source| DecodeError::Wire { what: self.what, source })
    }

    pub(crate) fn invalid(&self, field: &'static str, reason: impl Into<String>) -> DecodeError {
        DecodeError::Invalid { what: self.what, field, reason: reason.into() }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let r = self.r.u8();
        self.wire(r)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let r = self.r.u32();
        self.wire(r)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let r = self.r.u64();
        self.wire(r)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let r = self.r.array::<N>();
        self.wire(r)
    }

    pub(crate) fn len_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let r = self.r.len_prefixed();
        self.wire(r)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let r = self.r.bytes(n);
        self.wire(r)
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        self.wire(self.r.finish())
    }

    fn short_str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let n = self.u8()? as usize;
        let r = self.r.bytes(n);
        let b = self.wire(r)?;
        std::str::from_utf8(b).map_err(|e| self.invalid(field, e.to_string()))
    }

    pub(crate) fn label(&mut self, field: &'static str) -> Result<Label, DecodeError> {
        let s = self.short_str(field)?;
        Label::new(s).map_err(|e| self.invalid(field, e.to_string()))
    }

    pub(crate) fn site_id(&mut self) -> Result<SiteId, DecodeError> {
        let s = self.short_str("site id")?;
        SiteId::new(s).map_err(|e| self.invalid("site id", e.to_string()))
    }

    fn prefix(&mut self) -> Result<IpPrefix, DecodeError> {
        let addr = match self.u8()? {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
            other => return Err(self.invalid("prefix", format!("address family {other}"))),
        };
        let len = self.u8()?;
        let p = IpPrefix::new(addr, len).map_err(|e| self.invalid("prefix", e.to_string()))?;
        if p.addr() != addr {
            return Err(self.invalid("prefix", format!("{addr}/{len} has host bits set")));
        }
        Ok(p)
    }

    /// The counterpart of [`Encoder::trailing_learn`]: none when the
    /// message ends here; otherwise 1 to [`LearnRanges::MAX`] ranges (an
    /// empty list written out is not the canonical form, so it is refused).
    pub(crate) fn trailing_learn(
        &mut self,
        field: &'static str,
    ) -> Result<LearnRanges, DecodeError> {
        if self.r.remaining() == 0 {
            return Ok(LearnRanges::default());
        }
        let list = self.prefixes()?;
        if list.is_empty() {
            return Err(self.invalid(field, "an empty list is written by leaving it out"));
        }
        LearnRanges::new(list.as_slice().to_vec()).map_err(|e| self.invalid(field, e.to_string()))
    }

    pub(crate) fn prefixes(&mut self) -> Result<PrefixList, DecodeError> {
        let n = self.u8()? as usize;
        if n > PrefixList::MAX {
            return Err(self.invalid("prefixes", format!("{n} prefixes; the limit is 64")));
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.prefix()?);
        }
        PrefixList::new(v).map_err(|e| self.invalid("prefixes", e.to_string()))
    }
}

/// Splits a signed message into its signed part and the trailing signature.
pub(crate) fn split_signed<'a>(
    what: &'static str,
    buf: &'a [u8],
) -> Result<(&'a [u8], [u8; SIG_LEN]), DecodeError> {
    let Some(at) = buf.len().checked_sub(SIG_LEN) else {
        return Err(DecodeError::Wire {
            what,
            source: WireError::Truncated { offset: 0, needed: SIG_LEN, available: buf.len() },
        });
    };
    let (body, sig) = buf.split_at(at);
    let mut out = [0u8; SIG_LEN];
    out.copy_from_slice(sig);
    Ok((body, out))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes bytes as unpadded base64url (RFC 4648 §5).
pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Why text was not unpadded, canonical base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// A character outside `A-Z a-z 0-9 - _` (padding `=` is not used).
    #[error("invalid base64url character at offset {0}")]
    BadChar(usize),
    /// The length cannot come from whole bytes, or the last character has
    /// bits set that no byte uses.
    #[error("base64url text is truncated or not canonical")]
    BadLength,
}

fn sextet(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// Decodes unpadded, canonical base64url; refuses anything else, so decoding
/// and encoding again gives back the same text.
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let t = text.as_bytes();
    if t.len() % 4 == 1 {
        return Err(Base64Error::BadLength);
    }
    let mut out = Vec::with_capacity(t.len() / 4 * 3 + 2);
    for (ci, chunk) in t.chunks(4).enumerate() {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = sextet(c).ok_or(Base64Error::BadChar(ci * 4 + i))?;
            n |= v << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        let full = n.to_be_bytes();
        // Bits below the last whole byte must be zero (canonical form).
        let unused = n & (0x00FF_FFFF >> (8 * bytes));
        if unused != 0 {
            return Err(Base64Error::BadLength);
        }
        out.extend_from_slice(&full[1..=bytes]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64url_matches_the_rfc_test_vectors_without_padding() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(base64url_encode(plain.as_bytes()), coded);
            assert_eq!(base64url_decode(coded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn base64url_refuses_padding_bad_characters_and_non_canonical_text() {
        assert_eq!(base64url_decode("Zg=="), Err(Base64Error::BadChar(2)));
        assert_eq!(base64url_decode("Zm+v"), Err(Base64Error::BadChar(2)));
        assert_eq!(base64url_decode("Z"), Err(Base64Error::BadLength));
        assert_eq!(base64url_decode("Zh"), Err(Base64Error::BadLength));
    }

    proptest! {
        #[test]
        fn base64url_round_trips_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(base64url_decode(&base64url_encode(&data)).unwrap(), data);
        }

        #[test]
        fn base64url_decoding_never_panics_and_is_canonical(text in "[A-Za-z0-9_=+-]{0,40}") {
            if let Ok(bytes) = base64url_decode(&text) {
                prop_assert_eq!(base64url_encode(&bytes), text);
            }
        }
    }
}
