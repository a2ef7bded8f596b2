//! Every site's side of the registry's publication: the relay limits
//! (cordoned and drained sites) and the services zero-trust gateways route
//! to (their mTLS endpoints, kept in [`PlaneState::routed`]). Checked with a [`Follower`] of their own
//! (their sequence is the store revision of `/weft/registry/flags`, apart
//! from the policy's), persisted (`STATE_DIR/control/registry.json`) so a
//! restart keeps them and cannot be rolled back by a replay, and handed to
//! the control loop, whose relay planner applies them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use weft_api::RelayLimitsInForce;
use weft_control::{Epoch, Follower, Verdict};
use weft_mesh::identity::{AckOutcome, SignedBundle};
use weft_types::SiteId;

use super::PlaneState;
use super::registry::{Flags, RoutedService};
use crate::agent::ControlMsg;

/// What is persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Persisted {
    newest: Option<(u64, u64)>,
    limits: RelayLimitsInForce,
    #[serde(default)]
    services: BTreeMap<String, RoutedService>,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("control").join("registry.json")
}

fn load(state_dir: &Path) -> Result<Persisted> {
    let p = path(state_dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// The sets of site ids in `limits` (ids that do not parse are skipped).
fn sets(limits: &RelayLimitsInForce) -> (BTreeSet<SiteId>, BTreeSet<SiteId>) {
    let ids = |v: &[String]| v.iter().filter_map(|s| SiteId::new(s).ok()).collect();
    (ids(&limits.cordoned), ids(&limits.drained))
}

/// The registry follower of a site.
pub(crate) struct LimitsFollower {
    follower: Follower,
    persisted: Persisted,
    state_dir: PathBuf,
    control: Sender<ControlMsg>,
    plane: Arc<PlaneState>,
}

impl LimitsFollower {
    /// Loads what was accepted before and hands it to the control loop.
    pub(crate) fn start(
        state_dir: &Path,
        control: Sender<ControlMsg>,
        plane: Arc<PlaneState>,
    ) -> Self {
        let persisted = load(state_dir).unwrap_or_else(|e| {
            crate::log_warn!(Control, "{e:#}; starting with no relay limits");
            Persisted::default()
        });
        let newest = persisted.newest.map(|(e, s)| (Epoch(e), s));
        let running = (persisted.limits.seq > 0).then_some(persisted.limits.seq);
        let me = Self {
            follower: Follower::new(newest, running),
            persisted,
            state_dir: state_dir.to_owned(),
            control,
            plane,
        };
        me.hand_over();
        me
    }

    fn hand_over(&self) {
        let (cordoned, drained) = sets(&self.persisted.limits);
        let _ = self.control.send(ControlMsg::RelayLimits { cordoned, drained });
        if let Ok(mut l) = self.plane.relay_limits.write() {
            l.clone_from(&self.persisted.limits);
        }
        if let Ok(mut r) = self.plane.routed.write() {
            *r = Flags {
                cordoned: self.persisted.limits.cordoned.iter().cloned().collect(),
                drained: self.persisted.limits.drained.iter().cloned().collect(),
                services: self.persisted.services.clone(),
            };
        }
    }

    /// Decides about a registry bundle; the acknowledgement to send, if any.
    pub(crate) fn offer(&mut self, site: &SiteId, bundle: &SignedBundle) -> Option<AckOutcome> {
        let b = &bundle.body;
        let verdict = self.follower.offer(Epoch(b.epoch), b.seq, b.version, bundle.is_for(site));
        let outcome = match verdict {
            Verdict::Install => match serde_json::from_slice::<Flags>(&b.payload) {
                Ok(f) => {
                    self.follower.installed(b.version);
                    self.persisted.limits = RelayLimitsInForce {
                        cordoned: f.cordoned.into_iter().collect(),
                        drained: f.drained.into_iter().collect(),
                        seq: b.seq,
                    };
                    self.persisted.services = f.services;
                    self.hand_over();
                    Some(AckOutcome::Installed)
                }
                Err(e) => Some(AckOutcome::refused(format!("relay limits: {e}"))),
            },
            Verdict::AlreadyRunning | Verdict::Duplicate => Some(AckOutcome::Installed),
            Verdict::Stale(why) => {
                crate::log_warn!(
                    Control,
                    "refused a stale registry publication (epoch {}, seq {}): {why}",
                    b.epoch,
                    b.seq
                );
                None
            }
            Verdict::NotForUs => None,
        };
        self.persisted.newest = self.follower.newest().map(|(e, s)| (e.0, s));
        if let Err(e) = super::follower::save_json(&path(&self.state_dir), &self.persisted) {
            crate::log_warn!(Control, "saving the relay limits: {e:#}");
        }
        outcome
    }
}
