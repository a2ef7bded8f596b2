//! Why a probe datagram was refused or could not be written.

/// A probe that could not be opened or written.
///
/// The receive path counts these by variant and drops the datagram; none of
/// them is ever a panic. Variants are grouped by who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    // --- Malformed datagram (noise, a bug, or a newer peer). ---
    /// The datagram is not exactly [`MESSAGE_LEN`](crate::MESSAGE_LEN) bytes.
    /// Changes no state.
    #[error("probe datagram must be {expected} bytes, got {got}")]
    WrongLength {
        /// The fixed message size.
        expected: usize,
        /// The datagram's size.
        got: usize,
    },
    /// The first byte is neither the probe nor the echo type. Changes no state.
    #[error("unknown probe message type {0:#04x}")]
    UnknownType(u8),
    /// The version byte names a version this build does not speak.
    /// Changes no state.
    #[error("unsupported probe version {0}")]
    UnsupportedVersion(u8),
    /// The reserved bytes are not zero. Changes no state.
    #[error("probe reserved bytes are not zero")]
    BadReserved,

    // --- Failed authentication (forged, corrupted, or keyed for another peer). ---
    /// The MAC does not match (checked in constant time). Changes no state.
    #[error("probe MAC does not verify")]
    BadMac,
    /// The sender key id is not the peer this key belongs to (for example
    /// one of our own probes reflected back at us), or no peer has that id.
    /// Changes no state.
    #[error("probe sender key id is not the expected peer")]
    UnknownKeyId,

    // --- Replay (a valid message seen before). ---
    /// The counter was already accepted. Changes no state.
    #[error("probe counter {0} was already seen")]
    Replayed(u64),
    /// The counter is older than the replay window covers. Changes no state.
    #[error("probe counter {0} is too old for the replay window")]
    TooOld(u64),
    /// The counter is further ahead of the receiver's clock than
    /// [`MAX_COUNTER_LEAD_US`](crate::MAX_COUNTER_LEAD_US) allows. Counters
    /// start at the sender's Unix time in microseconds; accepting one far in
    /// the future would make every honest later counter "too old" until that
    /// time arrived. Changes no state.
    #[error("probe counter {0} is too far in the future")]
    FromTheFuture(u64),

    // --- Local misuse or configuration. ---
    /// The output buffer is smaller than [`MESSAGE_LEN`](crate::MESSAGE_LEN).
    /// Nothing was written.
    #[error("output buffer of {0} bytes is too small for a probe")]
    BufferTooSmall(usize),
    /// The peer's public key is a low-order point: the shared secret would be
    /// known to anyone, so no probe key is derived.
    #[error("peer public key is weak (low-order point)")]
    WeakPeerKey,
    /// The send counter reached `u64::MAX`; derive a new key (the peer
    /// restarted its counter) before sending more. Nothing was written.
    #[error("probe send counter exhausted")]
    CounterExhausted,
}
