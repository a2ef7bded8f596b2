//! Telling datagrams apart on the shared UDP sockets, and finding which peer
//! a handshake initiation comes from.

use blake2::digest::consts::U16;
use blake2::digest::{Digest as _, KeyInit, Mac as _};
use blake2::{Blake2s256, Blake2sMac};
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{Packet, Tunn};
use boringtun::x25519;
use weft_types::{PrivateKey, PublicKey};

use crate::probe;

/// Size of a WireGuard handshake initiation.
pub const HANDSHAKE_INIT_LEN: usize = 148;
/// Size of a WireGuard handshake response.
pub const HANDSHAKE_RESPONSE_LEN: usize = 92;
/// Size of a WireGuard cookie reply.
pub const COOKIE_REPLY_LEN: usize = 64;
/// Bytes a WireGuard data packet adds to the IP packet it carries (16-byte
/// header, 16-byte tag); also the size of a keepalive.
pub const DATA_OVERHEAD: usize = 32;

/// Offset of MAC1 in a handshake initiation (it covers the bytes before it).
const INIT_MAC1_OFFSET: usize = 116;
const LABEL_MAC1: &[u8] = b"mac1----";

/// What a received datagram is, judged from its first bytes and its length
/// only: nothing is authenticated yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatagramKind {
    /// WireGuard type 1 (148 bytes). Find the peer with
    /// [`initiator_public_key`].
    HandshakeInit {
        /// The initiator's index; our response will name it.
        sender_index: u32,
    },
    /// WireGuard type 2 (92 bytes).
    HandshakeResponse {
        /// Our index, naming the session: see [`session_index`].
        receiver_index: u32,
    },
    /// WireGuard type 3 (64 bytes).
    CookieReply {
        /// Our index, naming the session: see [`session_index`].
        receiver_index: u32,
    },
    /// WireGuard type 4 (at least 32 bytes; 32 is a keepalive).
    Data {
        /// Our index, naming the session: see [`session_index`].
        receiver_index: u32,
    },
    /// A Weft probe (type byte `0x57`, [`probe::MESSAGE_LEN`] bytes).
    WeftProbe,
    /// A Weft probe echo (type byte `0x58`, [`probe::MESSAGE_LEN`] bytes).
    WeftEcho,
    /// Anything else; drop it.
    Garbage,
}

/// Classifies a datagram. WireGuard messages start with a little-endian
/// `u32` type (1..=4: one type byte, three zero bytes) and have fixed sizes
/// (148, 92, 64, or at least 32 for data). Never panics.
pub fn classify(datagram: &[u8]) -> DatagramKind {
    let le32 = |at: usize| -> Option<u32> {
        let b = datagram.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(&first) = datagram.first() else {
        return DatagramKind::Garbage;
    };
    if matches!(first, probe::TYPE_PROBE | probe::TYPE_ECHO) {
        return match (first, datagram.len()) {
            (probe::TYPE_PROBE, probe::MESSAGE_LEN) => DatagramKind::WeftProbe,
            (probe::TYPE_ECHO, probe::MESSAGE_LEN) => DatagramKind::WeftEcho,
            _ => DatagramKind::Garbage,
        };
    }
    let kind = match (le32(0), datagram.len()) {
        (Some(1), HANDSHAKE_INIT_LEN) => {
            le32(4).map(|i| DatagramKind::HandshakeInit { sender_index: i })
        }
        (Some(2), HANDSHAKE_RESPONSE_LEN) => {
            le32(8).map(|i| DatagramKind::HandshakeResponse { receiver_index: i })
        }
        (Some(3), COOKIE_REPLY_LEN) => {
            le32(4).map(|i| DatagramKind::CookieReply { receiver_index: i })
        }
        (Some(4), n) if n >= DATA_OVERHEAD => {
            le32(4).map(|i| DatagramKind::Data { receiver_index: i })
        }
        _ => None,
    };
    kind.unwrap_or(DatagramKind::Garbage)
}

/// The `local_index` (given to [`WgSession::new`](super::WgSession::new))
/// of the session a receiver index names: boringtun numbers a peer's
/// successive sessions in the low 8 bits.
pub fn session_index(receiver_index: u32) -> u32 {
    receiver_index >> 8
}

/// Which peer sent a handshake initiation addressed to `local`.
///
/// Checks the initiation's MAC1 first (cheap, keyed by our public key), then
/// decrypts the initiator's static key (one X25519 operation). Returns `None`
/// for anything that is not a valid initiation to `local`. The caller still
/// hands the datagram to that peer's [`WgSession`](super::WgSession), which
/// checks the rest (timestamp replay, rate limits). Rate-limit calls under
/// flood: each costs two scalar multiplications.
pub fn initiator_public_key(local: &PrivateKey, handshake_init: &[u8]) -> Option<PublicKey> {
    if !matches!(classify(handshake_init), DatagramKind::HandshakeInit { .. }) {
        return None;
    }
    let secret = x25519::StaticSecret::from(local.0);
    let public = x25519::PublicKey::from(&secret);
    if !mac1_verifies(public.as_bytes(), handshake_init) {
        return None;
    }
    let Ok(Packet::HandshakeInit(init)) = Tunn::parse_incoming_packet(handshake_init) else {
        return None;
    };
    parse_handshake_anon(&secret, &public, &init).ok().map(|h| PublicKey(h.peer_static_public))
}

/// Writes the MAC1 of a 148-byte handshake initiation addressed to
/// `responder` into its bytes 116..132 (MAC2 is left as it is). For load
/// generators and tests that forge initiations a responder checks to MAC1;
/// returns `false` (and writes nothing) if `message` is not 148 bytes long.
pub fn seal_mac1(responder: &PublicKey, message: &mut [u8]) -> bool {
    if message.len() != HANDSHAKE_INIT_LEN {
        return false;
    }
    let key = Blake2s256::new().chain_update(LABEL_MAC1).chain_update(responder.0).finalize();
    let Ok(mut mac) = <Blake2sMac<U16> as KeyInit>::new_from_slice(&key) else {
        return false;
    };
    mac.update(&message[..INIT_MAC1_OFFSET]);
    let tag = mac.finalize().into_bytes();
    message[INIT_MAC1_OFFSET..INIT_MAC1_OFFSET + 16].copy_from_slice(&tag);
    true
}

/// WireGuard's MAC1: keyed BLAKE2s-128 with key `HASH("mac1----" ‖ Spub)`.
pub(super) fn mac1_verifies(responder_public: &[u8; 32], message: &[u8]) -> bool {
    let (Some(covered), Some(tag)) =
        (message.get(..INIT_MAC1_OFFSET), message.get(INIT_MAC1_OFFSET..INIT_MAC1_OFFSET + 16))
    else {
        return false;
    };
    let key = Blake2s256::new().chain_update(LABEL_MAC1).chain_update(responder_public).finalize();
    let Ok(mut mac) = <Blake2sMac<U16> as KeyInit>::new_from_slice(&key) else {
        return false;
    };
    mac.update(covered);
    mac.verify_slice(tag).is_ok()
}
