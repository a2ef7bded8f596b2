//! SWIM membership (foca) behind Weft's sans-IO surface.
//!
//! [`Membership`] wraps one `foca::Foca`. Inputs are
//! [`Membership::handle_datagram`], [`Membership::handle_timeout`],
//! [`Membership::join`], [`Membership::leave`]; outputs are
//! [`Membership::poll_transmit`] (sealed datagrams), [`Membership::poll_event`]
//! ([`MemberEvent`]) and [`Membership::poll_timeout`]. No clock, no sockets:
//! foca's "fire after a duration" timers become deadlines in a queue, and its
//! randomness comes from the seed given to [`Membership::new`].
//!
//! Every datagram is an authenticated envelope (see [`auth`](self::Authenticator)):
//! the signer must be enrolled and not revoked, counters must be fresh, the
//! SWIM header must name the signer, and announcements are rate-limited per
//! sender. Refusals are errors and are counted in [`Counters`].
//!
//! Member metadata ([`MemberInfo`]) travels inside the SWIM identity, so a
//! joiner learns it from the ordinary membership feed.
//!
//! # Layout
//! - `info`: metadata and the foca identity (with `renew` for rejoin).
//! - `codec`: bounded wire form of identities, headers, updates.
//! - `auth`: envelope, [`Authenticator`] seam, replay window.
//! - `limit`: announcement token bucket. `timers`: deadline queue.
//! - `config`, `error`, `counters`, `runtime` (foca `Runtime` recorder).
//! - `swim`: [`Membership`] itself.
//! - `testing` (tests and feature `sim` only): a non-cryptographic test
//!   authenticator.

mod auth;
mod codec;
mod config;
mod counters;
mod error;
mod info;
pub(crate) mod limit;
mod runtime;
mod swim;
mod timers;

#[cfg(any(test, feature = "sim"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use auth::{AuthError, Authenticator};
pub use codec::CodecError;
pub use config::{ConfigError, MembershipConfig};
pub use counters::Counters;
pub use error::GossipError;
pub use info::{MemberId, MemberInfo, Role};
pub use swim::{JOIN_SEED_SITE, MemberEvent, Membership, Transmit};
