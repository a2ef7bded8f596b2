//! Why a WireGuard datagram or call failed.

use boringtun::noise::errors::WireGuardError;

/// A WireGuard failure, mapped from boringtun's error without exposing it.
///
/// The receive path counts these by variant and drops the datagram; none is a
/// panic. Variants are grouped by who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WgError {
    // --- Malformed input (noise, truncation, not WireGuard). ---
    /// Not a well-formed WireGuard message: unknown type, wrong length, or a
    /// decrypted payload that is not an IPv4/IPv6 packet.
    #[error("malformed WireGuard datagram")]
    Malformed,
    /// A well-formed message that makes no sense in the current handshake
    /// state (for example a response to no initiation).
    #[error("unexpected WireGuard message for the handshake state")]
    UnexpectedMessage,

    // --- Failed authentication (forged, corrupted, or another peer's). ---
    /// The handshake's MAC1/MAC2 does not verify.
    #[error("WireGuard handshake MAC does not verify")]
    InvalidMac,
    /// A data packet or handshake field failed AEAD decryption: corrupted or
    /// forged.
    #[error("WireGuard packet failed authentication")]
    AuthenticationFailed,
    /// A handshake names a static key other than this session's peer.
    #[error("WireGuard handshake is for a different key")]
    WrongKey,
    /// The receiver index names no session of this peer.
    #[error("WireGuard receiver index is unknown")]
    UnknownIndex,
    /// A handshake initiation's timestamp is invalid.
    #[error("WireGuard handshake timestamp is invalid")]
    InvalidTimestamp,

    // --- Replay (valid message seen before, or too old). ---
    /// A data packet's counter was already received.
    #[error("WireGuard data packet replayed")]
    Replayed,
    /// A data packet's counter is behind the replay window.
    #[error("WireGuard data packet counter too old")]
    CounterTooOld,
    /// A handshake initiation is not newer than the last one accepted from
    /// this peer (a replayed initiation).
    #[error("WireGuard handshake initiation replayed")]
    HandshakeReplayed,

    // --- Session state. ---
    /// A data packet arrived before any session with this peer exists.
    #[error("no WireGuard session for this data packet")]
    NoSession,
    /// The session expired: handshakes failed for too long, or keys aged out.
    /// The next packet sent starts a new handshake.
    #[error("WireGuard session expired")]
    Expired,
    /// The responder is under load and needs a cookie round trip; supply the
    /// datagram's source address so a cookie reply can be sent.
    #[error("WireGuard peer under load, cookie required")]
    UnderLoad,

    // --- Local misuse. ---
    /// The output buffer is too small for the result. Nothing was consumed.
    #[error("output buffer of {got} bytes too small, need {needed}")]
    BufferTooSmall {
        /// Bytes the call needs.
        needed: usize,
        /// Bytes the buffer had.
        got: usize,
    },
    /// boringtun reported an internal failure: a poisoned lock, or a buffer
    /// too small that this wrapper's own checks should have caught (a bug).
    #[error("internal WireGuard error")]
    Internal,
}

impl From<WireGuardError> for WgError {
    fn from(e: WireGuardError) -> Self {
        use WireGuardError as E;
        match e {
            E::IncorrectPacketLength | E::WrongPacketType | E::InvalidPacket => Self::Malformed,
            E::UnexpectedPacket => Self::UnexpectedMessage,
            E::InvalidMac => Self::InvalidMac,
            E::InvalidAeadTag => Self::AuthenticationFailed,
            E::WrongKey => Self::WrongKey,
            E::WrongIndex => Self::UnknownIndex,
            E::InvalidTai64nTimestamp => Self::InvalidTimestamp,
            E::DuplicateCounter => Self::Replayed,
            E::InvalidCounter => Self::CounterTooOld,
            E::WrongTai64nTimestamp => Self::HandshakeReplayed,
            E::NoCurrentSession => Self::NoSession,
            E::ConnectionExpired => Self::Expired,
            E::UnderLoad => Self::UnderLoad,
            E::DestinationBufferTooSmall | E::LockFailed => Self::Internal,
        }
    }
}
