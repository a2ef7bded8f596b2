//! The WireGuard session wrapper: boringtun's `noise::Tunn` behind Weft types.
//!
//! No boringtun type appears in this module's public API, so the rest of
//! Weft never depends on boringtun directly and it can be replaced.
//!
//! - [`generate_private_key`], [`public_key`]: X25519 keys as `weft-types`
//!   holds them.
//! - [`WgSession`]: one peer's session. Calls write into a caller buffer and
//!   return a plain [`WgResult`]; failures are [`WgError`] values to count,
//!   never panics.
//! - [`classify`]: what a received datagram is (WireGuard message, Weft
//!   probe or echo, garbage), from its first bytes and length;
//!   [`session_index`] maps a receiver index to the session that owns it;
//!   [`initiator_public_key`] finds which peer a handshake initiation is from.
//! - [`CookieGuard`]: the same with keys computed once, plus WireGuard's
//!   cookie replies and MAC2 checks for a site under load.
//!
//! # Time
//! boringtun reads the monotonic clock inside its timers (handshake retry,
//! rekey, keepalive). Weft's sans-IO crates never read the clock; this
//! wrapper is the one accepted exception, confined to [`WgSession`]. Its
//! timer tests therefore sleep for real (about a second).

mod classify;
mod cookie;
mod error;
mod keys;
mod session;

#[cfg(test)]
mod classify_tests;
#[cfg(test)]
mod cookie_tests;
#[cfg(test)]
mod session_tests;

pub use classify::{
    COOKIE_REPLY_LEN, DATA_OVERHEAD, DatagramKind, HANDSHAKE_INIT_LEN, HANDSHAKE_RESPONSE_LEN,
    classify, initiator_public_key, seal_mac1, session_index,
};
pub use cookie::{CookieCheck, CookieGuard};
pub use error::WgError;
pub use keys::{generate_private_key, public_key};
pub use session::{WgResult, WgSession, WgStats};
