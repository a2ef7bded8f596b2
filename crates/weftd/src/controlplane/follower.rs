//! Every site's side of publication: the follower thread takes the bundles
//! the mesh thread verified (signed by the mesh CA), decides with
//! [`weft_control::Follower`] (newer than anything accepted? meant for this
//! site?), installs the policy through the policy API (checked again here;
//! a refusal keeps the last good policy), persists what it accepted so a
//! restart cannot be rolled back by a replay, and acknowledges. Registry
//! bundles (relay limits) go to [`super::limits`], GTM bundles to
//! [`super::gtm_follow`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use weft_api::MeshPolicyInForce;
use weft_control::{Epoch, Follower, Verdict};
use weft_mesh::identity::{AckOutcome, BundleAck, BundleBody, BundleKind};
use weft_types::SiteId;

use super::PlaneState;
use super::limits::LimitsFollower;
use super::publish::BundleIn;
use crate::agent::policy_api::PolicyApi;
use crate::mesh::ctl::MeshCtl;

/// What the follower persists (`STATE_DIR/control/follower.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Persisted {
    /// The newest (epoch, seq) accepted.
    pub(crate) newest: Option<(u64, u64)>,
    /// The mesh policy in force.
    pub(crate) in_force: Option<MeshPolicyInForce>,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("control").join("follower.json")
}

/// Reads the persisted state (nothing at first start).
pub(crate) fn load(state_dir: &Path) -> Result<Persisted> {
    let p = path(state_dir);
    match std::fs::read_to_string(&p) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("reading {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Writes it atomically (temporary file, fsync, rename).
fn save(state_dir: &Path, p: &Persisted) -> Result<()> {
    save_json(&path(state_dir), p)
}

/// Writes `value` as JSON to `file` atomically (temporary file, fsync, rename).
pub(crate) fn save_json(file: &Path, value: &impl Serialize) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, serde_json::to_string(value)?.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, file).with_context(|| format!("writing {}", file.display()))
}

/// The follower thread.
pub(crate) struct FollowerLoop {
    pub(crate) site: SiteId,
    pub(crate) state_dir: PathBuf,
    pub(crate) policy: Arc<PolicyApi>,
    pub(crate) mesh: Sender<MeshCtl>,
    pub(crate) plane: Arc<PlaneState>,
    /// The control loop (the registry's relay limits go there).
    pub(crate) control: Sender<crate::agent::ControlMsg>,
}

impl FollowerLoop {
    /// Runs until the mesh thread is gone.
    pub(crate) fn run(self, bundles: &Receiver<BundleIn>) {
        let mut persisted = load(&self.state_dir).unwrap_or_else(|e| {
            crate::log_warn!(Control, "{e:#}; starting with no accepted publication");
            Persisted::default()
        });
        let mut follower = Follower::new(
            persisted.newest.map(|(e, s)| (Epoch(e), s)),
            persisted.in_force.as_ref().map(|p| p.version),
        );
        if let Ok(mut f) = self.plane.in_force.write() {
            f.clone_from(&persisted.in_force);
        }
        let mut install_failed = 0;
        let mut last_refusal: Option<String> = None;
        let mut limits =
            LimitsFollower::start(&self.state_dir, self.control.clone(), self.plane.clone());
        let mut gtm = super::gtm_follow::start(&self.state_dir, self.plane.clone());
        let mut identities = super::identity_follow::start(&self.state_dir, self.plane.clone());
        let mut reservations = super::te_follow::start(&self.state_dir, self.plane.clone());
        let mut clients = super::clients_follow::start(&self.state_dir, self.plane.clone());
        while let Ok(BundleIn { from, bundle }) = bundles.recv() {
            let b = &bundle.body;
            if b.kind == BundleKind::Registry {
                if let Some(outcome) = limits.offer(&self.site, &bundle) {
                    self.ack(from, b, outcome);
                }
                continue;
            }
            if b.kind == BundleKind::Gtm {
                if let Some(outcome) = gtm.offer(&self.site, &bundle) {
                    self.ack(from, b, outcome);
                }
                continue;
            }
            if b.kind == BundleKind::Svid {
                self.svid_answer(&bundle);
                continue;
            }
            if b.kind == BundleKind::Identity {
                if let Some(outcome) = identities.offer(&self.site, &bundle) {
                    self.ack(from, b, outcome);
                }
                continue;
            }
            if b.kind == BundleKind::Reservations {
                if let Some(outcome) = reservations.offer(&self.site, &bundle) {
                    self.ack(from, b, outcome);
                }
                continue;
            }
            if b.kind == BundleKind::Clients {
                if let Some(outcome) = clients.offer(&self.site, &bundle) {
                    self.ack(from, b, outcome);
                }
                continue;
            }
            let verdict =
                follower.offer(Epoch(b.epoch), b.seq, b.version, bundle.is_for(&self.site));
            let outcome = match verdict {
                Verdict::Install => {
                    let text = String::from_utf8_lossy(&b.payload).into_owned();
                    match self.policy.install_mesh(b.version, &text, b.epoch) {
                        Ok(()) => {
                            follower.installed(b.version);
                            persisted.in_force = Some(MeshPolicyInForce {
                                version: b.version,
                                epoch: b.epoch,
                                seq: b.seq,
                                since_unix_ms: crate::api::unix_ms(),
                            });
                            last_refusal = None;
                            Some(AckOutcome::Installed)
                        }
                        Err(why) => {
                            install_failed += 1;
                            crate::log_warn!(
                                Control,
                                "mesh policy version {} refused here (the last good one stays): {why}",
                                b.version
                            );
                            last_refusal = Some(why.clone());
                            Some(AckOutcome::refused(why))
                        }
                    }
                }
                Verdict::AlreadyRunning => {
                    if let Some(p) = persisted.in_force.as_mut() {
                        p.epoch = b.epoch;
                        p.seq = b.seq;
                    }
                    last_refusal = None;
                    Some(AckOutcome::Installed)
                }
                Verdict::Duplicate => {
                    Some(last_refusal.clone().map_or(AckOutcome::Installed, AckOutcome::refused))
                }
                Verdict::Stale(why) => {
                    crate::log_warn!(
                        Control,
                        "refused a stale publication (epoch {}, seq {}) from {}: {why}",
                        b.epoch,
                        b.seq,
                        from.map_or_else(|| "this site".to_owned(), |a| a.to_string())
                    );
                    None
                }
                Verdict::NotForUs => None,
            };
            persisted.newest = follower.newest().map(|(e, s)| (e.0, s));
            if let Err(e) = save(&self.state_dir, &persisted) {
                crate::log_warn!(Control, "saving the accepted publication: {e:#}");
            }
            if let Ok(mut f) = self.plane.in_force.write() {
                f.clone_from(&persisted.in_force);
            }
            if let Ok(mut c) = self.plane.bundles.write() {
                let k = follower.counters();
                c.installed = k.installed;
                c.already_running = k.already_running;
                c.duplicates = k.duplicates;
                c.stale_refused = k.stale_refused;
                c.not_for_us = k.not_for_us;
                c.install_failed = install_failed;
            }
            if let Some(outcome) = outcome {
                self.ack(from, b, outcome);
            }
        }
    }

    /// Hands the leader's answer to one of this site's SVID requests to
    /// the zero-trust proxies (bundles for other sites are ignored).
    fn svid_answer(&self, bundle: &weft_mesh::identity::SignedBundle) {
        if bundle.body.sites.is_empty() || !bundle.is_for(&self.site) {
            return;
        }
        match serde_json::from_slice::<super::identity_ca::SvidAnswer>(&bundle.body.payload) {
            Ok(answer) => {
                let sink = self.plane.svid_answers.lock();
                let sink = sink.unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(tx) = sink.as_ref() {
                    let _ = tx.send(answer);
                }
            }
            Err(e) => crate::log_warn!(Control, "an unreadable SVID answer: {e}"),
        }
    }

    fn ack(&self, to: Option<std::net::SocketAddr>, b: &BundleBody, outcome: AckOutcome) {
        let ack = BundleAck {
            site: self.site.clone(),
            kind: b.kind,
            epoch: b.epoch,
            seq: b.seq,
            version: b.version,
            outcome,
            at: u64::try_from(crate::api::unix_ms()).unwrap_or(0),
        };
        let _ = self.mesh.send(MeshCtl::Ack { to, ack: Box::new(ack) });
    }
}
