//! Every site's side of the GTM publication: followed with a
//! [`DocFollower`] (the sequence is the store revision of `/weft/gtm/doc`;
//! persisted in `STATE_DIR/control/gtm.json`, so a restarted DNS site
//! answers at once and cannot be rolled back by a replay) and installed in
//! the site's [`GtmState`](crate::gtm::GtmState).

use std::path::Path;
use std::sync::Arc;

use weft_gtm::GtmDoc;

use super::PlaneState;
use super::doc_follow::DocFollower;

/// Starts the follower: installs what was accepted before.
pub(crate) fn start(state_dir: &Path, plane: Arc<PlaneState>) -> DocFollower<GtmDoc> {
    DocFollower::start(
        state_dir,
        "gtm",
        "GTM document",
        Box::new(move |doc: &GtmDoc, seq| plane.gtm.set_doc(doc.clone(), seq)),
    )
}
