//! Weft's data plane.
//!
//! Moves packets between the TUN device and the uplinks' UDP sockets through
//! one WireGuard session per peer, and carries Weft's authenticated path
//! probes on the same sockets.
//!
//! # Layout
//! - `wg`: the WireGuard session wrapper around boringtun's `noise::Tunn`
//!   (no other crate sees boringtun types), key generation, datagram
//!   classification.
//! - `probe`: the probe/echo wire format, its MAC keyed from the two sites'
//!   static keys, and the replay window. Pure: no I/O, time passed in. A
//!   re-export of the `weft-probe` crate, so sans-IO crates can use the codec
//!   without depending on this one.
//! - `packet`: the 5-tuple and addresses of IP packets, bounds-checked.
//! - `flood`: flood defence decisions — token buckets, per-source and global
//!   handshake limits, per-destination rate baselines. Pure, time passed in.
//! - `flows`: the flow table (pin once, idle expiry, size cap).
//! - `sys`: the platform edge — batched UDP sockets with forced buffers, the
//!   TUN device, netlink address/route configuration. The only place `unsafe`
//!   is allowed.
#![deny(unsafe_code)]

pub mod flood;
pub mod flows;
pub mod packet;
pub use weft_probe as probe;
pub mod sys;
pub mod wg;
