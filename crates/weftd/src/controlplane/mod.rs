//! The control plane in the agent: a site configured as a controller
//! (`[controller]`) runs an election against the control store (etcd, or
//! SQLite for a single controller); the leader takes mesh-wide policy
//! requests and publishes them, signed by the mesh CA and stamped with its
//! epoch, to every site over the mesh socket. Every site (controller or
//! not) installs what it receives if it is newer than anything it
//! accepted, and acknowledges.
//!
//! - [`records`]: what the store holds and the step from a request to the
//!   next policy record (pure).
//! - [`leader`]: the controller thread.
//! - [`publish`]: the mesh thread's side: signs bundles, delivers and
//!   re-sends them, hands acknowledgements on.
//! - [`registry`]: sites and services in the store, cordon, drain, labels;
//!   [`selector`]: label selectors and label syntax.
//! - [`enrol`]: enrolment and renewal answered by the leader from the
//!   ledger in the store.
//! - [`shards`]: the shard map in the store, heartbeats, the rebalancer.
//! - [`gtm`]: the GTM document (global services, traffic shifts) in the
//!   store, the leader's shift ticks.
//! - [`follower`]: every site's side: checks, installs, persists, acknowledges;
//!   [`limits`]: the same for the registry's relay limits, [`gtm_follow`]
//!   for the GTM document, [`identity_follow`] for the mesh-wide revoked
//!   workload identities ([`identity`]: the record in the store).

pub(crate) mod clients;
pub(crate) mod clients_follow;
pub(crate) mod doc_follow;
pub(crate) mod enrol;
pub(crate) mod follower;
pub(crate) mod gtm;
pub(crate) mod gtm_follow;
pub(crate) mod identity;
pub(crate) mod identity_ca;
pub(crate) mod identity_follow;
pub(crate) mod leader;
pub(crate) mod limits;
pub(crate) mod publish;
pub(crate) mod records;
pub(crate) mod registry;
pub(crate) mod selector;
pub(crate) mod shards;
pub(crate) mod te;
pub(crate) mod te_follow;

use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use weft_api::{BundleCounters, ControlStatus, Event, MeshPolicyInForce, RelayLimitsInForce};
use weft_control::ElectionConfig;
use weft_etcd::{Controller, EtcdStore, SqliteStore};

use crate::config::{ControlStoreKind, ControllerConfig};
use crate::mesh::ctl::MeshCtl;
pub(crate) use leader::PlaneCtl;

/// A refusal of the control plane, with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlaneRefusal {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl PlaneRefusal {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_owned(), message: message.into() }
    }
}

/// What the leader hands the mesh thread to publish: a policy, or (kind
/// `Registry`) the relay limits as `stable` = (seq, JSON), no canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Publication {
    pub(crate) kind: weft_mesh::identity::BundleKind,
    pub(crate) epoch: u64,
    pub(crate) seq: u64,
    /// The version (and text) every site outside the canary runs.
    pub(crate) stable: (u64, String),
    /// The canary's version, text and sites.
    pub(crate) canary: Option<(u64, String, Vec<String>)>,
}

/// A controller's state as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ControllerView {
    pub(crate) id: String,
    pub(crate) store: String,
    pub(crate) role: String,
    pub(crate) leader: Option<String>,
    pub(crate) epoch: Option<u64>,
    pub(crate) lease_age_ms: Option<u64>,
    pub(crate) last_fenced_write: Option<(u64, i64)>,
    pub(crate) fenced_refused: u64,
}

/// The control plane's state shared with the API.
#[derive(Debug, Default)]
pub(crate) struct PlaneState {
    /// This controller (none: the site is not one).
    pub(crate) controller: RwLock<Option<ControllerView>>,
    /// The mesh-wide policy in force here.
    pub(crate) in_force: RwLock<Option<MeshPolicyInForce>>,
    /// What this site did with publications.
    pub(crate) bundles: RwLock<BundleCounters>,
    /// The registry's relay limits in force here.
    pub(crate) relay_limits: RwLock<RelayLimitsInForce>,
    /// The registry's published flags in force here, with the services
    /// zero-trust gateways route to.
    pub(crate) routed: RwLock<registry::Flags>,
    /// Global traffic management here: the document, health, DNS answers.
    pub(crate) gtm: Arc<crate::gtm::GtmState>,
    /// The mesh-wide identity state in force here (revoked IDs, roots,
    /// the intermediate's serial).
    pub(crate) identities: RwLock<identity_follow::MeshIdentities>,
    /// The mesh-wide reservation ledger in force here (sequence, ledger).
    pub(crate) reservations: RwLock<(u64, te::Ledger)>,
    /// The mesh-wide client record in force here (sequence, record).
    pub(crate) clients: RwLock<(u64, clients::ClientsDoc)>,
    /// Where the leader's answers to this site's SVID requests go (the
    /// zero-trust proxies, when they take SVIDs from the control plane).
    pub(crate) svid_answers: std::sync::Mutex<Option<Sender<identity_ca::SvidAnswer>>>,
    /// SVIDs this controller signed and refused while leading.
    pub(crate) svids: SvidCounters,
}

/// SVIDs a leader signed and refused.
#[derive(Debug, Default)]
pub(crate) struct SvidCounters {
    pub(crate) issued: std::sync::atomic::AtomicU64,
    pub(crate) refused: std::sync::atomic::AtomicU64,
}

impl PlaneState {
    /// `GET /api/v1/control`.
    pub(crate) fn view(&self) -> ControlStatus {
        let c = self.controller.read().map(|c| c.clone()).unwrap_or_default();
        let policy = self.in_force.read().map(|p| p.clone()).unwrap_or_default();
        let bundles = self.bundles.read().map(|b| b.clone()).unwrap_or_default();
        let relay_limits = self.relay_limits.read().map(|r| r.clone()).unwrap_or_default();
        match c {
            Some(c) => ControlStatus {
                controller: true,
                id: Some(c.id),
                role: if c.role.is_empty() { "candidate".to_owned() } else { c.role },
                leader: c.leader,
                epoch: c.epoch,
                store: Some(c.store),
                lease_age_ms: c.lease_age_ms,
                last_fenced_write_revision: c.last_fenced_write.map(|(r, _)| r),
                last_fenced_write_unix_ms: c.last_fenced_write.map(|(_, at)| at),
                fenced_refused: c.fenced_refused,
                policy,
                bundles,
                relay_limits,
            },
            None => ControlStatus {
                controller: false,
                id: None,
                role: "none".to_owned(),
                leader: None,
                epoch: None,
                store: None,
                lease_age_ms: None,
                last_fenced_write_revision: None,
                last_fenced_write_unix_ms: None,
                fenced_refused: 0,
                policy,
                bundles,
                relay_limits,
            },
        }
    }

    /// Whether the site runs a policy the control plane published (then
    /// only a controller may change it).
    pub(crate) fn mesh_managed(&self) -> bool {
        self.in_force.read().is_ok_and(|p| p.is_some())
    }
}

/// The election's timing for a lease of `ttl`: renew every ttl/4, retry
/// every ttl/8, follower polls every ttl/10 (the defaults for 2 s).
fn election_config(cfg: &ControllerConfig) -> ElectionConfig {
    let mut e = ElectionConfig::new(records::LEADER_KEY, cfg.id.clone());
    e.ttl = cfg.lease_ttl;
    e.renew_every = cfg.lease_ttl / 4;
    e.retry_every = cfg.lease_ttl / 8;
    e.poll_every = cfg.lease_ttl / 10;
    e.call_timeout = cfg.lease_ttl / 8;
    e
}

/// What the leader admits mesh-wide reservations with.
pub(crate) struct TeSetup {
    /// Every site's link-state advertisement (their capacities).
    pub(crate) links: Arc<crate::agent::shared::LinkBoard>,
    /// `[qos] reservable` of this controller.
    pub(crate) reservable: f64,
}

/// Starts the controller thread; its request channel.
pub(crate) fn start(
    cfg: &ControllerConfig,
    state_dir: &Path,
    mesh: Sender<MeshCtl>,
    state: Arc<PlaneState>,
    events: Sender<Event>,
    te: &TeSetup,
) -> Result<Sender<PlaneCtl>> {
    let election = election_config(cfg);
    let files = crate::mesh::files::MeshFiles::open(state_dir)?;
    let enroller = || -> Result<Option<weft_mesh::identity::Enroller>> {
        let Some(ca) = files.load_ca()? else { return Ok(None) };
        let ledger = files.load_enroller()?.unwrap_or_default();
        Ok(Some(weft_mesh::identity::Enroller::from_state(ca, ledger)))
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let id = cfg.id.clone();
    match &cfg.store {
        ControlStoreKind::Etcd(endpoints) => {
            let ctrl = Controller::new(election, EtcdStore::new(endpoints.clone()))
                .context("the controller's election timing")?;
            let setup = leader::Setup {
                id,
                store: "etcd",
                enroller: enroller()?,
                shards: shards::ShardSettings::from(cfg),
                ca_seed: weft_layout::zt::ca_seed(state_dir).ok(),
                links: te.links.clone(),
                reservable: te.reservable,
            };
            let lp = leader::LeaderLoop::new(ctrl, mesh, state, events, setup);
            spawn(move || lp.run(&rx))?;
        }
        ControlStoreKind::Sqlite => {
            let path = state_dir.join("control.db");
            let store = SqliteStore::open(&path)
                .with_context(|| format!("opening the control store {}", path.display()))?;
            let ctrl =
                Controller::new(election, store).context("the controller's election timing")?;
            let setup = leader::Setup {
                id,
                store: "sqlite",
                enroller: enroller()?,
                shards: shards::ShardSettings::from(cfg),
                ca_seed: weft_layout::zt::ca_seed(state_dir).ok(),
                links: te.links.clone(),
                reservable: te.reservable,
            };
            let lp = leader::LeaderLoop::new(ctrl, mesh, state, events, setup);
            spawn(move || lp.run(&rx))?;
        }
    }
    Ok(tx)
}

fn spawn(f: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name("weft-controller".into())
        .spawn(f)
        .map(|_| ())
        .context("starting the controller thread")
}
