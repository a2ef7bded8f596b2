//! Every site's side of the mesh-wide client record
//! ([`super::clients`]): followed with a [`DocFollower`] (persisted in
//! `STATE_DIR/control/clients.json`) and kept in [`PlaneState::clients`],
//! where the site registers the clients that name it (within a second).

use std::path::Path;
use std::sync::Arc;

use super::PlaneState;
use super::clients::ClientsDoc;
use super::doc_follow::DocFollower;

/// Starts the follower: installs what was accepted before.
pub(crate) fn start(state_dir: &Path, plane: Arc<PlaneState>) -> DocFollower<ClientsDoc> {
    DocFollower::start(
        state_dir,
        "clients",
        "mesh-wide client record",
        Box::new(move |doc: &ClientsDoc, seq| {
            if let Ok(mut c) = plane.clients.write() {
                *c = (seq, doc.clone());
            }
        }),
    )
}
