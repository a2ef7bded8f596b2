//! The Weft site agent.
//!
//! `weftd --config site.toml` runs one site: it owns the path engine
//! (`weft-path`) and the data plane (`weft-dataplane`) in one event loop and
//! serves the local API.
//!
//! # Layout
//! - [`config`]: the site configuration file, parsed and validated with
//!   `file:line:col` diagnostics.
//! - [`uapi`]: the WireGuard userspace API protocol (`wg show` against weftd).
#![forbid(unsafe_code)]

pub mod config;
pub mod uapi;
