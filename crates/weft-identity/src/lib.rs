//! Weft's workload identities, sans-IO.
//!
//! Each registered service gets a SPIFFE ID (`spiffe://TRUST-DOMAIN/svc/NAME`)
//! and short-lived X.509-SVIDs. The chain of trust is the mesh's own: the root
//! certificate is self-signed with the mesh CA's Ed25519 key, an intermediate
//! (held by whoever issues: the control plane) signs the SVIDs.
//!
//! What it does not do: no files, no sockets, no clock, no randomness. Keys
//! come from 32-byte seeds the caller draws, times are Unix seconds passed
//! in; serving SVIDs (the SPIFFE Workload API) and proxying with them are
//! `weftd`'s.
//!
//! # How to drive it
//! 1. [`Root::new`] from the mesh CA seed and the trust domain; its
//!    [`Root::der`] is the trust bundle.
//! 2. [`Root::intermediate`], then [`Intermediate::issue`] an [`Svid`] per
//!    workload identity.
//! 3. Feed each issue to a [`Schedule`]; renew what [`Schedule::poll_due`]
//!    returns; [`Schedule::revoke`] stops an identity's renewals.
//!
//! # Layout
//! - [`x509`]: root, intermediate and SVID certificates.
//! - [`rotation`]: the renewal schedule.
//! - [`san`]: the SPIFFE ID of a (verified) peer certificate.
//! - [`host`]: host certificates for IKE (IPsec) straight from the root,
//!   named by a DNS name.
#![forbid(unsafe_code)]

pub mod host;
pub mod rotation;
pub mod san;
pub mod x509;

pub use host::{HostCert, dns_name_ok};
pub use rotation::{RotationPolicy, Schedule};
pub use weft_types::{SpiffeId, TrustDomain};
pub use x509::{Intermediate, IssueError, Root, Svid, Validity, ed25519_pkcs8};

/// The SPIFFE ID of service `name` in `td`: `spiffe://TD/svc/NAME`.
pub fn service_id(td: &TrustDomain, name: &str) -> Result<SpiffeId, weft_types::SpiffeIdError> {
    td.id(&format!("/svc/{name}"))
}

#[cfg(test)]
mod tests;
