//! Every site's side of the mesh-wide identity publication
//! ([`super::identity`]): the revoked SPIFFE IDs, followed with a
//! [`DocFollower`] (persisted in `STATE_DIR/control/identity.json`) and
//! kept in [`PlaneState::identities`], where the site's zero-trust proxies
//! and Workload API read them (within a second).

use std::path::Path;
use std::sync::Arc;

use super::PlaneState;
use super::doc_follow::DocFollower;
use super::identity::Published;

/// The mesh-wide identity state in force at a site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MeshIdentities {
    /// The publication's sequence (0: none received).
    pub(crate) seq: u64,
    /// Revoked SPIFFE IDs, as published.
    pub(crate) revoked: Vec<String>,
    /// The control plane's trust domain, once it has a CA.
    pub(crate) trust_domain: Option<String>,
    /// Its roots (DER).
    pub(crate) roots: Vec<Vec<u8>>,
    /// The serial of the intermediate signing SVIDs now (0: none).
    pub(crate) intermediate_serial: u64,
}

/// Starts the follower: installs what was accepted before.
pub(crate) fn start(state_dir: &Path, plane: Arc<PlaneState>) -> DocFollower<Published> {
    DocFollower::start(
        state_dir,
        "identity",
        "mesh identity state",
        Box::new(move |doc: &Published, seq| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            if let Ok(mut m) = plane.identities.write() {
                *m = MeshIdentities {
                    seq,
                    revoked: doc.revoked.clone(),
                    trust_domain: doc.trust_domain.clone(),
                    roots: doc.roots.iter().filter_map(|r| b64.decode(r).ok()).collect(),
                    intermediate_serial: doc.intermediate_serial,
                };
            }
        }),
    )
}
