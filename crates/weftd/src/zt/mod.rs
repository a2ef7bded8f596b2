//! The zero-trust edge: a TLS proxy that authenticates callers by their
//! SPIFFE X509-SVIDs and decides each connection by the policy's identity
//! rules. The decisions (SPIFFE IDs, identity rules, SVID issue and renewal)
//! live in the sans-IO crates `weft-types`, `weft-policy` and
//! `weft-identity`; this module only holds the sockets and the TLS.
//!
//! # Layout
//! - [`tls`]: rustls configurations (SVID in, SPIFFE ID check out).
//! - [`proxy`]: the gateway and sidecar proxy, counters and denials.
//! - [`backends`]: which backend a gateway tries first (health, RTT).
//! - [`metrics`]: its counters in the Prometheus text format.
//! - [`site`]: a site's running proxies, SVID renewal, audit;
//!   [`issuing`]: SVIDs asked of the control plane.
//! - [`workload`]: the SPIFFE Workload API on a unix socket.

pub mod backends;
pub(crate) mod issuing;
pub mod metrics;
pub mod proxy;
pub mod site;
pub mod tls;
pub mod workload;

pub use proxy::{Denial, Mode, Proxy, Route};
