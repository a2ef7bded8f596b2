//! Every site's side of the mesh-wide reservation ledger
//! ([`super::te`]): followed with a [`DocFollower`] (persisted in
//! `STATE_DIR/control/reservations.json`, so a restart enforces the last
//! ledger at once) and kept in [`PlaneState::reservations`], where the
//! site's reservation manager places and enforces the ones it is the
//! source of (within a second).

use std::path::Path;
use std::sync::Arc;

use super::PlaneState;
use super::doc_follow::DocFollower;
use super::te::Ledger;

/// Starts the follower: installs what was accepted before.
pub(crate) fn start(state_dir: &Path, plane: Arc<PlaneState>) -> DocFollower<Ledger> {
    DocFollower::start(
        state_dir,
        "reservations",
        "mesh-wide reservation ledger",
        Box::new(move |ledger: &Ledger, seq| {
            if let Ok(mut r) = plane.reservations.write() {
                *r = (seq, ledger.clone());
            }
        }),
    )
}
