//! WireGuard's cookie mechanism for a site under load, around boringtun's
//! `RateLimiter`, plus the cheap MAC1 check and the initiator lookup with
//! keys computed once.

use std::net::IpAddr;

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519;
use weft_types::{PrivateKey, PublicKey};

use super::classify::{COOKIE_REPLY_LEN, DatagramKind, classify, mac1_verifies};

/// What [`CookieGuard::check`] found.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum CookieCheck<'a> {
    /// MAC1 and MAC2 are valid: the initiator proved it receives at its
    /// address; hand the initiation on.
    Valid,
    /// Not a handshake message to us (bad MAC1, wrong size or type): drop.
    BadMac1,
    /// MAC1 is valid but MAC2 is missing or stale: send this cookie reply
    /// (64 bytes) to the source, or drop silently when replies are limited.
    Reply(&'a [u8]),
}

/// The site's keys for handshake initiations that arrive before any peer is
/// known: MAC1 checks, cookie replies under load, and finding the initiator.
///
/// Under load, an initiation is accepted only with a valid MAC2, a MAC keyed
/// by a cookie that depends on the source address and a secret that changes
/// every two minutes; an initiator without one gets a cookie reply (the
/// cookie encrypted with XChaCha20-Poly1305 to the initiation's MAC1) and
/// retries with it. A spoofed source never receives its cookie. boringtun's
/// `RateLimiter` holds the secret; it reads the clock to rotate it, the one
/// exception to Weft's passed-in time besides [`WgSession`](super::WgSession).
pub struct CookieGuard {
    secret: x25519::StaticSecret,
    public: x25519::PublicKey,
    /// Always "under load" (limit 0): the caller decides when to ask for
    /// cookies.
    cookies: RateLimiter,
}

impl std::fmt::Debug for CookieGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieGuard").finish_non_exhaustive()
    }
}

impl CookieGuard {
    /// The guard of the site whose static key is `local`.
    pub fn new(local: &PrivateKey) -> Self {
        let secret = x25519::StaticSecret::from(local.0);
        let public = x25519::PublicKey::from(&secret);
        let cookies = RateLimiter::new(&public, 0);
        Self { secret, public, cookies }
    }

    /// Whether `datagram` is a handshake initiation with a valid MAC1 for
    /// this site: one keyed BLAKE2s, no public-key work.
    pub fn mac1_valid(&self, datagram: &[u8]) -> bool {
        matches!(classify(datagram), DatagramKind::HandshakeInit { .. })
            && mac1_verifies(self.public.as_bytes(), datagram)
    }

    /// Checks MAC1 then MAC2 of a handshake initiation from `src`, writing a
    /// cookie reply into `out` (at least 64 bytes) when MAC2 is not valid.
    pub fn check<'a>(&self, src: IpAddr, datagram: &[u8], out: &'a mut [u8]) -> CookieCheck<'a> {
        if !matches!(classify(datagram), DatagramKind::HandshakeInit { .. })
            || out.len() < COOKIE_REPLY_LEN
        {
            return CookieCheck::BadMac1;
        }
        match self.cookies.verify_packet(Some(src), datagram, out) {
            Ok(_) => CookieCheck::Valid,
            Err(TunnResult::WriteToNetwork(reply)) => CookieCheck::Reply(reply),
            Err(TunnResult::Err(WireGuardError::InvalidMac) | _) => CookieCheck::BadMac1,
        }
    }

    /// Which peer sent a handshake initiation addressed to us: MAC1 first,
    /// then one X25519 operation to decrypt the initiator's static key.
    /// `None` for anything that is not a valid initiation to this site.
    pub fn initiator(&self, handshake_init: &[u8]) -> Option<PublicKey> {
        if !self.mac1_valid(handshake_init) {
            return None;
        }
        let Ok(Packet::HandshakeInit(init)) = Tunn::parse_incoming_packet(handshake_init) else {
            return None;
        };
        parse_handshake_anon(&self.secret, &self.public, &init)
            .ok()
            .map(|h| PublicKey(h.peer_static_public))
    }
}
