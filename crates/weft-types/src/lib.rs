//! Weft's shared vocabulary.
//!
//! Every other Weft crate speaks in these types: identifiers for sites, peers,
//! uplinks and paths; WireGuard keys; IP prefixes; flow keys (5-tuples); units
//! parsed from human input (`40ms`, `50mbit`, `2%`); a seeded random number
//! generator; and a bounded reader/writer for wire formats.
//!
//! What it does not do: no I/O, no clock, no cryptography (key *derivation* lives
//! with the WireGuard wrapper in `weft-dataplane`).
//!
//! # Layout
//! - [`diag`]: [`Diagnostic`], a message at `file:line:col`.
//! - [`ids`]: [`SiteId`], [`PeerId`], [`UplinkId`], [`PathId`].
//! - [`key`]: [`PublicKey`], [`PrivateKey`] in WireGuard's base64 format.
//! - [`prefix`]: [`IpPrefix`] (`10.1.0.0/16`, `fd00::/64`).
//! - [`flow`]: [`FlowKey`], the 5-tuple, and its stable hash.
//! - [`units`]: [`Bandwidth`], [`Ratio`] and [`parse_duration`].
//! - [`rng`]: [`SeededRng`], the only randomness the sans-IO crates use.
//! - [`spiffe`]: [`SpiffeId`] and [`TrustDomain`], workload identities.
//! - [`time`]: [`virtual_origin`], the time origin of tests and simulations.
//! - [`wire`]: [`WireReader`] / [`WireWriter`], bounds-checked codecs.
#![forbid(unsafe_code)]

pub mod diag;
pub mod flow;
pub mod ids;
pub mod key;
pub mod prefix;
pub mod rng;
pub mod spiffe;
pub mod time;
pub mod units;
pub mod wire;

pub use diag::{Diagnostic, line_col};
pub use flow::{FlowKey, IpProtocol};
pub use ids::{IdError, PathId, PeerId, SiteId, UplinkId};
pub use key::{KeyError, PrivateKey, PublicKey};
pub use prefix::{IpPrefix, PrefixError};
pub use rng::SeededRng;
pub use spiffe::{SpiffeId, SpiffeIdError, TrustDomain};
pub use time::virtual_origin;
pub use units::{Bandwidth, Ratio, UnitError, format_duration, parse_duration};
pub use wire::{WireError, WireReader, WireWriter};
