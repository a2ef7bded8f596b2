//! [`GossipError`]: why a datagram or command was not applied.

use weft_types::SiteId;

use super::auth::AuthError;

/// Why gossip input was refused. Unless a variant says otherwise, the
/// membership state is unchanged and the refusal is counted in
/// [`Counters`](super::Counters).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GossipError {
    /// Not an envelope (bad version, truncated, bad site id).
    #[error("malformed gossip envelope ({len} bytes)")]
    Malformed {
        /// Length of the datagram.
        len: usize,
    },
    /// The authenticator refused the sender or the tag.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// The counter was already seen from this sender, or is too old.
    #[error("replayed gossip from `{from}` (counter {counter})")]
    Replayed {
        /// Claimed sender.
        from: SiteId,
        /// The refused counter.
        counter: u64,
    },
    /// The payload speaks for another site than the one that signed it.
    #[error("gossip signed by `{signer}` claims to come from `{claimed}`")]
    SenderMismatch {
        /// Who signed the envelope.
        signer: SiteId,
        /// Who the SWIM header names.
        claimed: SiteId,
    },
    /// Too many announcements from this sender.
    #[error("announcement from `{0}` rate-limited")]
    RateLimited(SiteId),
    /// foca refused the payload or command. For datagrams the envelope's
    /// counter is already recorded; foca documents which of its errors may
    /// leave its own state partly updated.
    #[error("SWIM: {0}")]
    Protocol(#[from] foca::Error),
}
