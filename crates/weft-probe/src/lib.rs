//! Weft's authenticated path probes: wire format, keys, replay protection.
//!
//! Every (local uplink × remote endpoint) pair carries probes; the peer
//! answers each with an echo, and the path engine (`weft-path`) turns the
//! echoes into RTT, jitter, loss and liveness. This crate only encodes,
//! authenticates and checks the messages. It is pure: no sockets, no clock
//! (timestamps are opaque numbers the caller passes in), no randomness.
//!
//! # Wire format
//!
//! Probes share the UDP sockets of WireGuard. WireGuard messages start with a
//! little-endian `u32` type of 1 to 4 (so a first byte of 1..=4 followed by
//! three zero bytes); probes use first bytes WireGuard never sends, so the
//! data plane's datagram classifier (`weft_dataplane::wg::classify`) can tell
//! them apart from the first byte.
//! Every message is exactly [`MESSAGE_LEN`] = 56 bytes; anything else is
//! refused. Integers are big-endian.
//!
//! | offset | size | field | probe | echo |
//! |---:|---:|---|---|---|
//! | 0 | 1 | type | `0x57` ([`TYPE_PROBE`]) | `0x58` ([`TYPE_ECHO`]) |
//! | 1 | 1 | version | `1` ([`VERSION`]) | `1` |
//! | 2 | 2 | reserved | zero | zero |
//! | 4 | 8 | sender key id | [`KeyId`] of the prober | [`KeyId`] of the echoer |
//! | 12 | 8 | counter | prober's per-peer counter | echoer's per-peer counter |
//! | 20 | 4 | path token | chosen by the prober | copied from the probe |
//! | 24 | 8 | seq | chosen by the prober | copied from the probe |
//! | 32 | 8 | timestamp (µs) | prober's send time | copied from the probe |
//! | 40 | 16 | MAC | keyed BLAKE2s-128 of bytes 0..40 | same |
//!
//! - **Key id**: the first 8 bytes of BLAKE2s-256 of the sender's X25519
//!   public key; [`peek_key_id`] reads it (unauthenticated) so the receiver
//!   knows which peer's key to check the MAC with.
//! - **Counter**: strictly increasing per (sender, peer) across all paths and
//!   restarts; the receiver's [`ReplayWindow`] accepts each value once and
//!   none more than [`REPLAY_WINDOW`] behind the highest seen.
//! - **MAC**: BLAKE2s with a 16-byte output, keyed with the [`ProbeKey`]
//!   both sites derive from their static keys (see [`ProbeKey::derive`]);
//!   verified in constant time. It covers the type, so a probe cannot be
//!   turned into an echo, and the sender id, so a reflected probe fails.
//! - **Evolution**: a new layout gets a new version number; receivers refuse
//!   versions they do not know ([`ProbeError::UnsupportedVersion`]), and the
//!   reserved bytes must be zero until a version gives them a meaning.
//!
//! # Use
//!
//! Per peer, hold a [`PeerProbeState`]. To probe a path,
//! [`seal_probe`](PeerProbeState::seal_probe) with that path's token, seq and
//! the current time. On receipt, classify the datagram, [`peek_key_id`] to
//! find the peer, then [`open_checked`](PeerProbeState::open_checked); answer
//! a probe with [`seal_echo`](PeerProbeState::seal_echo) on the same path, and
//! hand an echo's fields to the path engine. Count each [`ProbeError`] by
//! variant; none of them changes state.
//!
//! # Layout
//! - `wire`: the 56-byte message layout, [`encode`] / [`open`], the keyed
//!   BLAKE2s MAC and [`peek_key_id`].
//! - `key`: [`ProbeKey`] (derived from the two sites' static X25519 keys) and
//!   the [`KeyId`] that names a sender.
//! - `replay`: the sliding [`ReplayWindow`] over message counters.
//! - `peer`: [`PeerProbeState`], one per peer: send counter, key and window.
//! - `error`: [`ProbeError`], one variant per reason a message is refused.
//!
//! `weft-dataplane` re-exports this crate as `weft_dataplane::probe`; the
//! sans-IO node (`weft-node`) depends on it directly, without any socket crate.
#![forbid(unsafe_code)]

mod error;
mod key;
mod peer;
mod replay;
mod wire;

#[cfg(test)]
mod tests_support;
#[cfg(test)]
mod wire_tests;

pub use error::ProbeError;
pub use key::{KeyId, ProbeKey};
pub use peer::{MAX_COUNTER_LEAD_US, PeerProbeState};
pub use replay::{REPLAY_WINDOW, ReplayVerdict, ReplayWindow};
pub use wire::{
    MESSAGE_LEN, ProbeFields, ProbeKind, ProbeMessage, TYPE_ECHO, TYPE_PROBE, VERSION, encode,
    encode_echo, encode_probe, open, peek_key_id,
};
