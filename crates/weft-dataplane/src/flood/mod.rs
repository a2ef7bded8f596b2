//! Flood defence for the receive path: sans-IO decisions, time passed in.
//!
//! - [`TokenBucket`]: the rate-limit primitive.
//! - [`HandshakeLimiter`]: per-source and global limits on WireGuard
//!   handshake initiations, checked before MAC1 or any X25519 work; above the
//!   global rate the site is *under load* and asks for WireGuard's cookie
//!   (see [`crate::wg::CookieGuard`]). It also counts unauthenticated
//!   datagrams per source, so the detector can name the heaviest ones.
//! - [`RateBaseline`]: packets and bytes per second of one destination
//!   against a learnt (EWMA) baseline; says when a second is anomalous.
//!
//! The agent owns one limiter (behind a lock, taken only for handshake
//! initiations and junk) and one baseline per destination, fed once a
//! second.

mod baseline;
mod bucket;
mod limiter;

pub use baseline::{BaselineConfig, RateBaseline, RateSample};
pub use bucket::TokenBucket;
pub use limiter::{HandshakeLimiter, InitVerdict, LimiterConfig};
