//! The authentication seam: every gossip datagram is an envelope
//!
//! ```text
//! u8 version (1) ‖ u8 len ‖ sender site id ‖ u64 counter ‖ u16 len ‖ payload ‖ tag
//! ```
//!
//! The tag covers everything before it and comes from an [`Authenticator`]
//! (Ed25519 over the sender's site certificate in the product). The counter
//! strictly increases per sender; receivers keep a 64-entry sliding window
//! ([`ReplayWindow`]) so reordered datagrams pass and repeated ones do not.
//! There is deliberately no "no authentication" implementation.

use weft_types::{SiteId, WireReader};

/// Why an [`Authenticator`] refused a datagram.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum AuthError {
    /// The sender holds no certificate this mesh knows.
    #[error("sender `{0}` is not enrolled")]
    UnknownSender(SiteId),
    /// The sender's certificate was revoked.
    #[error("sender `{0}` is revoked")]
    Revoked(SiteId),
    /// The tag does not verify under the sender's key.
    #[error("bad authentication tag from `{0}`")]
    BadTag(SiteId),
}

/// Seals outgoing and verifies incoming gossip envelopes.
pub trait Authenticator {
    /// The tag over `signed` (the envelope up to the tag), made with the local
    /// site's key.
    fn seal(&self, signed: &[u8]) -> Vec<u8>;

    /// Checks that `tag` over `signed` was made by site `from`, which must be
    /// enrolled and not revoked.
    fn open(&self, from: &SiteId, signed: &[u8], tag: &[u8]) -> Result<(), AuthError>;
}

pub(crate) const ENVELOPE_VERSION: u8 = 1;

/// A parsed (not yet verified) envelope.
pub(crate) struct Envelope<'a> {
    pub(crate) sender: SiteId,
    pub(crate) counter: u64,
    pub(crate) payload: &'a [u8],
    pub(crate) signed: &'a [u8],
    pub(crate) tag: &'a [u8],
}

/// Frames `payload` and appends the tag.
pub(crate) fn seal(
    auth: &impl Authenticator,
    sender: &SiteId,
    counter: u64,
    payload: &[u8],
) -> Vec<u8> {
    let site = sender.as_str().as_bytes();
    let mut out = Vec::with_capacity(1 + 1 + site.len() + 8 + 2 + payload.len() + 64);
    out.push(ENVELOPE_VERSION);
    out.push(site.len() as u8);
    out.extend_from_slice(site);
    out.extend_from_slice(&counter.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    let tag = auth.seal(&out);
    out.extend_from_slice(&tag);
    out
}

/// Splits an envelope into its parts; `None` if it is malformed.
pub(crate) fn parse(bytes: &[u8]) -> Option<Envelope<'_>> {
    let mut r = WireReader::new(bytes);
    if r.u8().ok()? != ENVELOPE_VERSION {
        return None;
    }
    let site = r.len_prefixed_u8()?;
    let sender = SiteId::new(std::str::from_utf8(site).ok()?).ok()?;
    let counter = r.u64().ok()?;
    let len = usize::from(r.u16().ok()?);
    let payload = r.bytes(len).ok()?;
    let signed_len = r.position();
    let tag = r.rest();
    Some(Envelope { sender, counter, payload, signed: &bytes[..signed_len], tag })
}

trait LenPrefixedU8<'a> {
    fn len_prefixed_u8(&mut self) -> Option<&'a [u8]>;
}

impl<'a> LenPrefixedU8<'a> for WireReader<'a> {
    fn len_prefixed_u8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8().ok()?);
        self.bytes(n).ok()
    }
}

/// Sliding anti-replay window over one sender's counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReplayWindow {
    highest: u64,
    /// Bit `i` set: counter `highest - i` was seen.
    seen: u64,
}

impl ReplayWindow {
    /// Width of the window: counters this far below the highest still pass once.
    pub(crate) const WIDTH: u64 = 64;

    /// Whether `counter` is new (not seen, not below the window).
    pub(crate) fn is_fresh(&self, counter: u64) -> bool {
        if self.seen == 0 || counter > self.highest {
            return true;
        }
        let back = self.highest - counter;
        back < Self::WIDTH && self.seen & (1 << back) == 0
    }

    /// Records `counter` as seen; call only after [`Self::is_fresh`] and
    /// authentication both passed.
    pub(crate) fn mark(&mut self, counter: u64) {
        if self.seen == 0 {
            self.highest = counter;
            self.seen = 1;
        } else if counter > self.highest {
            let shift = counter - self.highest;
            self.seen = if shift >= Self::WIDTH { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = counter;
        } else {
            self.seen |= 1 << (self.highest - counter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_window_accepts_reordering_and_refuses_repeats_and_stale_counters() {
        let mut w = ReplayWindow::default();
        for c in [10, 12, 11, 80] {
            assert!(w.is_fresh(c), "{c}");
            w.mark(c);
        }
        assert!(!w.is_fresh(80));
        assert!(!w.is_fresh(12), "12 is 68 below the highest: outside the window");
        assert!(w.is_fresh(79));
        assert!(w.is_fresh(17));
    }

    #[test]
    fn a_truncated_envelope_does_not_parse() {
        assert!(parse(&[]).is_none());
        assert!(parse(&[1, 3, b'a']).is_none());
        assert!(parse(&[2, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]).is_none());
        assert!(parse(&[1, 1, b'a', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]).is_some());
    }
}
