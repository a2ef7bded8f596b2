//! Every site's side of a publication that carries one JSON document (the
//! GTM document, the mesh-wide identity state): checked with a
//! [`Follower`] of its own (the sequence is the store revision of the
//! document), persisted (`STATE_DIR/control/NAME.json`) so a restart
//! installs it at once and cannot be rolled back by a replay, and handed to
//! an installer.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use weft_control::{Epoch, Follower, Verdict};
use weft_mesh::identity::{AckOutcome, SignedBundle};
use weft_types::SiteId;

/// What is persisted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Persisted<T> {
    newest: Option<(u64, u64)>,
    seq: u64,
    doc: T,
}

/// Installs a document and its sequence where the site uses it.
pub(crate) type Install<T> = Box<dyn FnMut(&T, u64) + Send>;

/// The follower of one document kind.
pub(crate) struct DocFollower<T> {
    what: &'static str,
    follower: Follower,
    persisted: Persisted<T>,
    path: PathBuf,
    install: Install<T>,
}

fn load<T: DeserializeOwned + Default>(p: &Path) -> Result<Persisted<T>> {
    match std::fs::read_to_string(p) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

impl<T: Serialize + DeserializeOwned + Default> DocFollower<T> {
    /// Loads what was accepted before (`STATE_DIR/control/NAME.json`) and
    /// installs it; `what` names the document in messages.
    pub(crate) fn start(
        state_dir: &Path,
        name: &str,
        what: &'static str,
        mut install: Install<T>,
    ) -> Self {
        let path = state_dir.join("control").join(format!("{name}.json"));
        let persisted = load(&path).unwrap_or_else(|e| {
            crate::log_warn!(Control, "{e:#}; starting with no {what}");
            Persisted::default()
        });
        let newest = persisted.newest.map(|(e, s)| (Epoch(e), s));
        let running = (persisted.seq > 0).then_some(persisted.seq);
        install(&persisted.doc, persisted.seq);
        Self { what, follower: Follower::new(newest, running), persisted, path, install }
    }

    /// Decides about a bundle of this kind; the acknowledgement to send, if any.
    pub(crate) fn offer(&mut self, site: &SiteId, bundle: &SignedBundle) -> Option<AckOutcome> {
        let b = &bundle.body;
        let verdict = self.follower.offer(Epoch(b.epoch), b.seq, b.version, bundle.is_for(site));
        let outcome = match verdict {
            Verdict::Install => match serde_json::from_slice::<T>(&b.payload) {
                Ok(doc) => {
                    self.follower.installed(b.version);
                    (self.install)(&doc, b.seq);
                    self.persisted.doc = doc;
                    self.persisted.seq = b.seq;
                    Some(AckOutcome::Installed)
                }
                Err(e) => Some(AckOutcome::refused(format!("{}: {e}", self.what))),
            },
            Verdict::AlreadyRunning | Verdict::Duplicate => Some(AckOutcome::Installed),
            Verdict::Stale(why) => {
                crate::log_warn!(
                    Control,
                    "refused a stale {} publication (epoch {}, seq {}): {why}",
                    self.what,
                    b.epoch,
                    b.seq
                );
                None
            }
            Verdict::NotForUs => None,
        };
        self.persisted.newest = self.follower.newest().map(|(e, s)| (e.0, s));
        if let Err(e) = super::follower::save_json(&self.path, &self.persisted) {
            crate::log_warn!(Control, "saving the {}: {e:#}", self.what);
        }
        outcome
    }
}
