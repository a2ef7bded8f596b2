//! One WireGuard session with one peer, around boringtun's `noise::Tunn`.

use std::net::IpAddr;
use std::time::Duration;

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use weft_types::{PrivateKey, PublicKey};

use super::WgError;
use super::classify::{DATA_OVERHEAD, HANDSHAKE_INIT_LEN};

/// Bits of the local index a session keeps: boringtun shifts it left by 8 to
/// number the peer's successive sessions in the low byte.
const INDEX_BITS: u32 = 24;

/// What a [`WgSession`] call produced. Borrowed data lives in the caller's
/// output buffer.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum WgResult<'a> {
    /// Nothing to send or deliver.
    Done,
    /// Send these bytes to the peer over UDP. After a `ToNetwork` from
    /// [`WgSession::decapsulate`], call [`WgSession::flush`] until `Done`.
    ToNetwork(&'a [u8]),
    /// Write this decrypted IP packet to the TUN device; the address is the
    /// packet's inner source, to check against the peer's allowed prefixes.
    ToTunnel(&'a [u8], IpAddr),
    /// The call failed; count it and drop the datagram.
    Error(WgError),
}

impl<'a> From<TunnResult<'a>> for WgResult<'a> {
    fn from(r: TunnResult<'a>) -> Self {
        match r {
            TunnResult::Done => Self::Done,
            TunnResult::Err(e) => Self::Error(e.into()),
            TunnResult::WriteToNetwork(b) => Self::ToNetwork(b),
            TunnResult::WriteToTunnelV4(b, a) => Self::ToTunnel(b, IpAddr::V4(a)),
            TunnResult::WriteToTunnelV6(b, a) => Self::ToTunnel(b, IpAddr::V6(a)),
        }
    }
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WgStats {
    /// Time since the current session's handshake completed; `None` before
    /// the first one.
    pub since_last_handshake: Option<Duration>,
    /// IP payload bytes sent.
    pub tx_bytes: u64,
    /// IP payload bytes received.
    pub rx_bytes: u64,
    /// boringtun's estimate of receive loss (0.0–1.0) from data counters.
    pub estimated_loss: f32,
    /// Round-trip time of the last handshake we initiated.
    pub handshake_rtt: Option<Duration>,
}

/// The WireGuard session with one peer.
///
/// # Time
/// boringtun reads the system's monotonic clock inside its timers; this
/// wrapper is the only place in Weft that lets it. The driver calls
/// [`update_timers`](Self::update_timers) periodically (every 250 ms or so,
/// as boringtun's own device does) and sends what it returns.
///
/// # Receive loop
/// ```text
/// match session.decapsulate(Some(src), datagram, &mut out) {
///     ToNetwork(b) => { send(b); while let ToNetwork(b) = session.flush(&mut out) { send(b) } }
///     ToTunnel(p, inner_src) => write_tun(p),
///     Done => {}
///     Error(e) => count(e),
/// }
/// ```
pub struct WgSession {
    tunn: Tunn,
    local_index: u32,
    /// Largest IP packet handed to `encapsulate`: a queued one may come back
    /// out of `flush`, which must then have room for it.
    largest_packet: usize,
}

impl std::fmt::Debug for WgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgSession").field("local_index", &self.local_index).finish_non_exhaustive()
    }
}

impl WgSession {
    /// A session between `local` and `peer`, not yet handshaken.
    ///
    /// `local_index` must be unique among this site's sessions; only its low
    /// 24 bits are used. Incoming messages carry `local_index << 8 | n` as
    /// receiver index: see [`session_index`](super::session_index).
    pub fn new(
        local: &PrivateKey,
        peer: &PublicKey,
        preshared: Option<[u8; 32]>,
        persistent_keepalive: Option<u16>,
        local_index: u32,
    ) -> Self {
        let local_index = local_index & ((1 << INDEX_BITS) - 1);
        let tunn = Tunn::new(
            x25519::StaticSecret::from(local.0),
            x25519::PublicKey::from(peer.0),
            preshared,
            persistent_keepalive,
            local_index,
            None,
        );
        Self { tunn, local_index, largest_packet: 0 }
    }

    /// The local index given to [`new`](Self::new), masked to 24 bits.
    pub fn local_index(&self) -> u32 {
        self.local_index
    }

    /// The persistent keepalive interval in seconds, if any. boringtun 0.7
    /// cannot change it on a live session; build a new session to change it.
    pub fn persistent_keepalive(&self) -> Option<u16> {
        self.tunn.persistent_keepalive()
    }

    /// Encrypts one IP packet for the peer.
    ///
    /// Returns `ToNetwork` with a data packet, or, when no session exists
    /// yet, queues the packet and returns a handshake initiation (or `Done`
    /// if one is already in flight). `out` needs at least
    /// `ip_packet.len() + 32` bytes and never less than 148.
    pub fn encapsulate<'a>(&mut self, ip_packet: &[u8], out: &'a mut [u8]) -> WgResult<'a> {
        let needed = (ip_packet.len() + DATA_OVERHEAD).max(HANDSHAKE_INIT_LEN);
        if out.len() < needed {
            return WgResult::Error(WgError::BufferTooSmall { needed, got: out.len() });
        }
        self.largest_packet = self.largest_packet.max(ip_packet.len());
        self.tunn.encapsulate(ip_packet, out).into()
    }

    /// Handles one datagram received from the peer (`src` is its UDP source,
    /// used for cookies under load).
    ///
    /// After a `ToNetwork` result, call [`flush`](Self::flush) until it
    /// returns `Done`: a completed handshake releases queued packets. `out`
    /// needs at least `datagram.len()` bytes and never less than 148. An
    /// empty datagram is [`WgError::Malformed`].
    pub fn decapsulate<'a>(
        &mut self,
        src: Option<IpAddr>,
        datagram: &[u8],
        out: &'a mut [u8],
    ) -> WgResult<'a> {
        if datagram.is_empty() {
            return WgResult::Error(WgError::Malformed);
        }
        let needed = datagram.len().max(HANDSHAKE_INIT_LEN);
        if out.len() < needed {
            return WgResult::Error(WgError::BufferTooSmall { needed, got: out.len() });
        }
        self.tunn.decapsulate(src, datagram, out).into()
    }

    /// Sends the next packet queued while the handshake was pending; call
    /// after `decapsulate` returned `ToNetwork`, until `Done`.
    /// `out` needs room for the largest packet ever given to `encapsulate`.
    pub fn flush<'a>(&mut self, out: &'a mut [u8]) -> WgResult<'a> {
        let needed = (self.largest_packet + DATA_OVERHEAD).max(HANDSHAKE_INIT_LEN);
        if out.len() < needed {
            return WgResult::Error(WgError::BufferTooSmall { needed, got: out.len() });
        }
        self.tunn.decapsulate(None, &[], out).into()
    }

    /// Runs boringtun's timers: handshake retries, rekeying, keepalives.
    /// Returns a message to send, `Done`, or [`WgError::Expired`] when the
    /// session gave up. `out` needs at least 148 bytes.
    pub fn update_timers<'a>(&mut self, out: &'a mut [u8]) -> WgResult<'a> {
        if out.len() < HANDSHAKE_INIT_LEN {
            return WgResult::Error(WgError::BufferTooSmall {
                needed: HANDSHAKE_INIT_LEN,
                got: out.len(),
            });
        }
        self.tunn.update_timers(out).into()
    }

    /// Whether the handshake expired (no session, retries exhausted).
    pub fn is_expired(&self) -> bool {
        self.tunn.is_expired()
    }

    /// The session's counters.
    pub fn stats(&self) -> WgStats {
        let (since, tx, rx, loss, rtt) = self.tunn.stats();
        WgStats {
            since_last_handshake: since,
            tx_bytes: tx as u64,
            rx_bytes: rx as u64,
            estimated_loss: loss,
            handshake_rtt: rtt.map(|ms| Duration::from_millis(ms.into())),
        }
    }
}
