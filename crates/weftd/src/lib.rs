//! The Weft site agent.
//!
//! `weftd --config site.toml` runs one site: it owns the path engine
//! (`weft-path`) and the data plane (`weft-dataplane`) in one event loop and
//! serves the local API.
//!
//! # Layout
//! - [`agent`]: the running agent (threads, control loop, status, UAPI).
//! - [`config`]: the site configuration file, parsed and validated with
//!   `file:line:col` diagnostics.
//! - `controlplane`: a controller's election and mesh-wide policy
//!   publication; every site's follower of it.
//! - `flood`: flood defence — handshake limits and cookies before any crypto,
//!   per-uplink anomaly detection, the nftables mitigation hook.
//! - `gtm`: global traffic management: endpoint health checks and, on
//!   `[dns]` sites, the authoritative DNS server for global services.
//! - [`log`]: the agent's log lines (human or JSON), levels, request ids.
//! - [`labgen`]: keys and site configurations for a namespace lab
//!   (re-exported from `weft-layout`, which the CLI shares).
//! - [`profiles`]: stock WireGuard clients served as run-time stock peers.
//! - [`uapi`]: the WireGuard userspace API protocol (`wg show` against weftd).
//! - [`zt`]: the zero-trust gateway and sidecar proxy (SPIFFE mTLS).
#![forbid(unsafe_code)]

pub mod agent;
pub(crate) mod api;
pub(crate) mod bgp;
pub mod config;
pub(crate) mod controlplane;
pub(crate) mod flood;
pub(crate) mod gtm;
pub(crate) mod ipsec;
pub mod labgen;
pub mod log;
pub mod mesh;
pub mod policy;
pub mod profiles;
pub mod store;
pub mod uapi;
pub mod zt;

/// Entry points for `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing {
    /// One DNS datagram through weftd's GTM answer path (parse, answer,
    /// encode) over a fixed zone; the encoded answer, if any.
    pub fn dns_query(data: &[u8]) -> Option<Vec<u8>> {
        crate::gtm::server::answer_bytes(data)
    }

    /// One UAPI `set` (its `key=value` lines) through the planner against a
    /// fixed device, its promises asserted; the number of changes, or the
    /// errno of the refusal.
    pub fn uapi_set(lines: &[(String, String)]) -> Result<usize, i32> {
        crate::agent::uapi_set::fuzz_plan(lines)
    }
}
