//! Weft's mesh layer, sans-IO: who may join and who is there.
//!
//! What it does not do: no sockets, no clock (time comes in as arguments),
//! no unseeded randomness (seeds and key material come in from the caller).
//!
//! # Layout
//! - `identity`: the mesh CA, site certificates, join tokens, enrolment
//!   messages and revocation.
//! - `membership`: SWIM membership over foca, behind a deadline-style API.
//! - `cert_auth`: the gossip authenticator of the product: Ed25519 by
//!   certified site keys.
//! - `node`: the sans-IO core a site agent drives with one UDP socket:
//!   frames, enrolment client and server, renewal, revocation flooding,
//!   link state and the topology filter, over `membership` and `cert_auth`.
#![forbid(unsafe_code)]

pub mod cert_auth;
pub mod identity;
pub mod membership;
pub mod node;
