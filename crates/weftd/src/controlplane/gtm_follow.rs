//! Every site's side of the GTM publication: checked with a [`Follower`]
//! of its own (the sequence is the store revision of `/weft/gtm/doc`),
//! persisted (`STATE_DIR/control/gtm.json`) so a restarted DNS site
//! answers at once and cannot be rolled back by a replay, and installed
//! in the site's [`GtmState`](crate::gtm::GtmState).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use weft_control::{Epoch, Follower, Verdict};
use weft_gtm::GtmDoc;
use weft_mesh::identity::{AckOutcome, SignedBundle};
use weft_types::SiteId;

use super::PlaneState;

/// What is persisted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Persisted {
    newest: Option<(u64, u64)>,
    seq: u64,
    doc: GtmDoc,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("control").join("gtm.json")
}

fn load(state_dir: &Path) -> Result<Persisted> {
    let p = path(state_dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// The GTM follower of a site.
pub(crate) struct GtmFollower {
    follower: Follower,
    persisted: Persisted,
    state_dir: PathBuf,
    plane: Arc<PlaneState>,
}

impl GtmFollower {
    /// Loads what was accepted before and installs it.
    pub(crate) fn start(state_dir: &Path, plane: Arc<PlaneState>) -> Self {
        let persisted = load(state_dir).unwrap_or_else(|e| {
            eprintln!("weftd: {e:#}; starting with no GTM document");
            Persisted::default()
        });
        let newest = persisted.newest.map(|(e, s)| (Epoch(e), s));
        let running = (persisted.seq > 0).then_some(persisted.seq);
        plane.gtm.set_doc(persisted.doc.clone(), persisted.seq);
        Self {
            follower: Follower::new(newest, running),
            persisted,
            state_dir: state_dir.to_owned(),
            plane,
        }
    }

    /// Decides about a GTM bundle; the acknowledgement to send, if any.
    pub(crate) fn offer(&mut self, site: &SiteId, bundle: &SignedBundle) -> Option<AckOutcome> {
        let b = &bundle.body;
        let verdict = self.follower.offer(Epoch(b.epoch), b.seq, b.version, bundle.is_for(site));
        let outcome = match verdict {
            Verdict::Install => match serde_json::from_slice::<GtmDoc>(&b.payload) {
                Ok(doc) => {
                    self.follower.installed(b.version);
                    self.plane.gtm.set_doc(doc.clone(), b.seq);
                    self.persisted.doc = doc;
                    self.persisted.seq = b.seq;
                    Some(AckOutcome::Installed)
                }
                Err(e) => Some(AckOutcome::refused(format!("GTM document: {e}"))),
            },
            Verdict::AlreadyRunning | Verdict::Duplicate => Some(AckOutcome::Installed),
            Verdict::Stale(why) => {
                eprintln!(
                    "weftd: refused a stale GTM publication (epoch {}, seq {}): {why}",
                    b.epoch, b.seq
                );
                None
            }
            Verdict::NotForUs => None,
        };
        self.persisted.newest = self.follower.newest().map(|(e, s)| (e.0, s));
        if let Err(e) = super::follower::save_json(&path(&self.state_dir), &self.persisted) {
            eprintln!("weftd: saving the GTM document: {e:#}");
        }
        outcome
    }
}
