//! The controller thread: runs this controller's election, and while it
//! leads takes queued policy requests (one fenced transaction each),
//! publishes the current record through the mesh thread, and records the
//! sites' acknowledgements. Any controller queues requests and answers
//! status from the store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use weft_api::{
    CanaryStage, Event, EventKind, MeshPolicyChange, MeshPolicyStatus, SitePolicyState,
};
use weft_control::{CallError, ElectionEvent, Fence, Role};
use weft_etcd::{Compare, ControlStore, Controller, Kv, Txn, TxnOutcome};
use weft_mesh::identity::{Enroller, EnrollerState};

use super::records::{
    self, Ask, AuditEntry, CURRENT, Planned, PolicyRecord, PolicyRequest, PolicyResult,
    PolicyVersion, SiteAck, Step,
};
use super::shards::{Heartbeat, ShardKeeper, ShardSettings, heartbeat_key};
use super::{ControllerView, PlaneRefusal, PlaneState, Publication};
use crate::mesh::ctl::MeshCtl;

/// How long a request's caller waits for the leader's answer.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// Most requests taken per turn.
const REQUESTS_PER_TURN: usize = 16;

/// A request to the controller thread.
#[derive(Debug)]
pub(crate) enum PlaneCtl {
    /// Queue a request and answer with its result record once the leader
    /// has taken it (decode it with the request kind's answer, e.g.
    /// [`answer_of`] for policy requests).
    Submit {
        /// The request.
        request: PolicyRequest,
        /// The answer.
        reply: oneshot::Sender<Result<Kv, PlaneRefusal>>,
    },
    /// The rollout as the store has it.
    Status {
        /// The answer.
        reply: oneshot::Sender<Result<MeshPolicyStatus, PlaneRefusal>>,
    },
    /// A site acknowledged a publication (from the mesh thread).
    Ack(SiteAck),
    /// The shard map, its controllers, plans and history, from the store.
    Shards {
        /// The answer.
        reply: oneshot::Sender<Result<weft_api::ShardStatus, PlaneRefusal>>,
    },
    /// What adding and removing controllers would move (nothing applied).
    SimulateShards {
        /// Controllers to add.
        add: Vec<String>,
        /// Controllers to remove.
        remove: Vec<String>,
        /// The answer.
        reply: oneshot::Sender<Result<weft_api::ShardPlan, PlaneRefusal>>,
    },
    /// The registry's records and the sites' acknowledgements, as stored.
    Registry {
        /// The answer.
        reply: oneshot::Sender<Result<super::registry::Snapshot, PlaneRefusal>>,
    },
    /// The GTM document as stored (with the shifts' history).
    Gtm {
        /// The answer.
        reply: oneshot::Sender<Result<(weft_gtm::GtmDoc, u64), PlaneRefusal>>,
    },
    /// The newest `limit` audit records of the control store, newest first.
    Audit {
        /// How many.
        limit: usize,
        /// The answer: (key, JSON of an audit record).
        reply: oneshot::Sender<Result<Vec<(String, String)>, PlaneRefusal>>,
    },
    /// A site's SVID request (from a member, or `None`: this site's own):
    /// answered while this controller leads, from the CA in the store.
    Svid {
        /// Who asked.
        from: Option<SocketAddr>,
        /// The request (its site checked by the mesh node).
        request: Box<weft_mesh::identity::SvidRequest>,
    },
    /// An enrolment or renewal request this controller's mesh node handed
    /// on: queue it, and give the leader's answer to the mesh thread.
    Enrol {
        /// Who asked.
        from: SocketAddr,
        /// The request frame.
        request: Vec<u8>,
    },
}

/// Where a request's answer goes.
enum Reply {
    /// An API caller.
    Api(oneshot::Sender<Result<Kv, PlaneRefusal>>),
    /// A site that asked to enrol or renew, through the mesh thread.
    Mesh { to: SocketAddr, request: Vec<u8> },
}

struct Waiter {
    id: String,
    until: Instant,
    reply: Reply,
}

/// What a controller thread starts with besides its channels.
pub(crate) struct Setup {
    /// The controller's id.
    pub(crate) id: String,
    /// `etcd` or `sqlite`.
    pub(crate) store: &'static str,
    /// The CA and local ledger, if this controller holds them.
    pub(crate) enroller: Option<Enroller>,
    /// Shard keeping.
    pub(crate) shards: ShardSettings,
    /// The mesh CA's seed, if this controller holds it (what makes the
    /// control plane's identity root).
    pub(crate) ca_seed: Option<[u8; 32]>,
    /// Every site's link-state advertisement (the capacities mesh-wide
    /// reservations are admitted against).
    pub(crate) links: Arc<crate::agent::shared::LinkBoard>,
    /// The share of a site's capacity reservations may hold (`[qos] reservable`).
    pub(crate) reservable: f64,
}

/// The controller thread's state.
pub(crate) struct LeaderLoop<S: ControlStore> {
    ctrl: Controller<S>,
    mesh: Sender<MeshCtl>,
    state: Arc<PlaneState>,
    events: Sender<Event>,
    waiters: Vec<Waiter>,
    acks: Vec<SiteAck>,
    /// What this controller published last while leading: (epoch, seq).
    published: Option<(u64, u64)>,
    /// The same for the registry's relay limits.
    registry_published: Option<(u64, u64)>,
    /// The same for the GTM document.
    gtm_published: Option<(u64, u64)>,
    /// The same for the mesh-wide identity record.
    identity_published: Option<(u64, u64)>,
    /// When the leader next steps the GTM shifts.
    next_gtm: Instant,
    /// When the leader next checks the identity CA's intermediate.
    next_ca_check: Instant,
    current: Option<(PolicyRecord, u64)>,
    leading: Option<u64>,
    view: ControllerView,
    /// The CA, to answer enrolments from the store's ledger.
    enroller: Option<Enroller>,
    /// The mesh CA's seed (the identity root's key), if held here.
    ca_seed: Option<[u8; 32]>,
    /// This controller's local ledger, imported when the store has none.
    import: EnrollerState,
    /// The shard map's keeping (leader) and this controller's heartbeat.
    shards: ShardKeeper,
    weight: u32,
    next_beat: Instant,
    next_shards: Instant,
    /// What this controller published last of the reservation ledger.
    te_published: Option<(u64, u64)>,
    /// What this controller published last of the client record.
    clients_published: Option<(u64, u64)>,
    /// When the leader next expires and re-admits mesh-wide reservations.
    next_te: Instant,
    links: Arc<crate::agent::shared::LinkBoard>,
    reservable: f64,
}

#[path = "leader_te.rs"]
mod leader_te;

impl Reply {
    /// Tells an API caller why its request failed (a site retries by itself).
    fn fail(self, why: PlaneRefusal) {
        if let Self::Api(reply) = self {
            let _ = reply.send(Err(why));
        }
    }
}

fn unavailable(e: &CallError) -> PlaneRefusal {
    PlaneRefusal::new(503, "control_store_unavailable", format!("the control store: {e}"))
}

fn unix_ms() -> i64 {
    crate::api::unix_ms()
}

impl<S: ControlStore> LeaderLoop<S> {
    pub(crate) fn new(
        ctrl: Controller<S>,
        mesh: Sender<MeshCtl>,
        state: Arc<PlaneState>,
        events: Sender<Event>,
        setup: Setup,
    ) -> Self {
        let Setup { id, store, enroller, shards, ca_seed, links, reservable } = setup;
        let weight = shards.weight;
        let import = enroller.as_ref().map(|e| e.state().clone()).unwrap_or_default();
        let view = ControllerView { id, store: store.to_owned(), ..ControllerView::default() };
        Self {
            ctrl,
            mesh,
            state,
            events,
            waiters: Vec::new(),
            acks: Vec::new(),
            published: None,
            registry_published: None,
            gtm_published: None,
            identity_published: None,
            next_gtm: Instant::now(),
            next_ca_check: Instant::now(),
            current: None,
            leading: None,
            view,
            enroller,
            ca_seed,
            import,
            shards: ShardKeeper::new(shards),
            weight,
            next_beat: Instant::now(),
            next_shards: Instant::now(),
            te_published: None,
            clients_published: None,
            next_te: Instant::now(),
            links,
            reservable,
        }
    }

    fn timeout(&self) -> Duration {
        self.ctrl.election().config().call_timeout
    }

    /// Runs until the API and the mesh thread are gone.
    pub(crate) fn run(mut self, requests: &Receiver<PlaneCtl>) {
        loop {
            let sleep = self.turn();
            match requests.recv_timeout(sleep) {
                Ok(msg) => {
                    self.handle(msg);
                    while let Ok(msg) = requests.try_recv() {
                        self.handle(msg);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// One round: the election, leader work, waiting callers; how long to
    /// sleep at most.
    fn turn(&mut self) -> Duration {
        let mut changes = Vec::new();
        let sleep = self.ctrl.turn(|e| changes.push(e.clone()));
        for e in changes {
            self.on_election(&e);
        }
        self.beat();
        if let Some(fence) = self.ctrl.fence() {
            if self.leading != Some(fence.epoch.0) {
                self.leading = Some(fence.epoch.0);
                self.published = None;
                self.shards.reset();
                self.registry_published = None;
                self.gtm_published = None;
                self.identity_published = None;
            }
            self.lead(&fence);
            self.keep_shards(&fence);
        } else {
            if self.leading.take().is_some() {
                let _ = self.mesh.send(MeshCtl::StopPublishing);
            }
            self.acks.clear();
        }
        self.answer_waiters();
        self.publish_view();
        sleep
    }

    /// Every second: this controller's heartbeat (the leader's shard
    /// keeping reads them).
    fn beat(&mut self) {
        let now = Instant::now();
        if now < self.next_beat {
            return;
        }
        self.next_beat = now + Duration::from_secs(1);
        let hb = Heartbeat { id: self.view.id.clone(), weight: self.weight, at_unix_ms: unix_ms() };
        let txn = Txn { puts: vec![(heartbeat_key(&hb.id), json(&hb))], ..Txn::default() };
        let timeout = self.timeout();
        let _ = self.ctrl.store().txn(None, &txn, timeout);
    }

    /// Every second while leading: the shard map.
    fn keep_shards(&mut self, fence: &Fence) {
        let now = Instant::now();
        if now < self.next_shards {
            return;
        }
        self.next_shards = now + Duration::from_secs(1);
        let timeout = self.timeout();
        let store = self.ctrl.store();
        let (Ok(map), Ok(beats), Ok(plans)) = (
            store.get(super::shards::MAP, timeout),
            store.range(super::shards::CONTROLLERS, 1000, timeout),
            store.range(super::shards::PLANS, 100, timeout),
        ) else {
            return;
        };
        if let Some(txn) =
            self.shards.tick(now, unix_ms(), fence.epoch.0, map.as_ref(), &beats, &plans)
        {
            self.fenced(fence, &txn);
        }
    }

    fn on_election(&mut self, e: &ElectionEvent) {
        let line = match e {
            ElectionEvent::Elected { epoch } => {
                format!("controller {} leads the control plane ({epoch})", self.view.id)
            }
            ElectionEvent::SteppedDown { epoch, why } => {
                format!("controller {} stopped leading ({epoch}): {why}", self.view.id)
            }
            ElectionEvent::LeaderSeen { holder, epoch } => {
                format!("controller {holder} leads the control plane ({epoch})")
            }
        };
        crate::log_info!(Control, "{line}");
        let _ = self.events.send(Event::new(EventKind::LeaderChanged, line));
    }

    fn publish_view(&mut self) {
        let election = self.ctrl.election();
        let now = Instant::now();
        let leads = election.is_leader(now);
        let role = match election.role() {
            Role::Leader { .. } if leads => "leader",
            Role::Follower { leader: Some(_) } => "follower",
            _ => "candidate",
        };
        role.clone_into(&mut self.view.role);
        match election.role() {
            Role::Leader { epoch } => {
                self.view.leader = Some(self.view.id.clone());
                self.view.epoch = Some(epoch.0);
            }
            Role::Follower { leader: Some((holder, epoch)) } => {
                self.view.leader = Some(holder.clone());
                self.view.epoch = Some(epoch.0);
            }
            Role::Follower { leader: None } => self.view.leader = None,
        }
        self.view.lease_age_ms = election.lease_valid_until().map(|until| {
            let ttl = election.config().ttl.saturating_sub(election.config().drift_margin);
            let renewed = until.checked_sub(ttl).unwrap_or(now);
            u64::try_from(now.saturating_duration_since(renewed).as_millis()).unwrap_or(u64::MAX)
        });
        if let Ok(mut v) = self.state.controller.write() {
            *v = Some(self.view.clone());
        }
    }

    fn handle(&mut self, msg: PlaneCtl) {
        match msg {
            PlaneCtl::Submit { request, reply } => self.submit(&request, Reply::Api(reply)),
            PlaneCtl::Svid { from, request } => self.answer_svid(from, &request),
            PlaneCtl::Enrol { from, request } => {
                let Some(id) = super::enrol::request_key_id(&request) else { return };
                if self.waiters.iter().any(|w| w.id == id) {
                    return;
                }
                let ask = Ask::Enrol { request: super::enrol::encode(&request) };
                let req = PolicyRequest {
                    id,
                    ask,
                    actor: format!("site at {from}"),
                    at_unix_ms: unix_ms(),
                };
                self.submit(&req, Reply::Mesh { to: from, request });
            }
            PlaneCtl::Shards { reply } => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                let reads = (
                    store.get(super::shards::MAP, timeout),
                    store.range(super::shards::CONTROLLERS, 1000, timeout),
                    store.range(super::shards::PLANS, 100, timeout),
                    store.range(super::shards::HISTORY, 100_000, timeout),
                );
                let answer = match reads {
                    (Ok(map), Ok(beats), Ok(plans), Ok(history)) => {
                        let recent = &history[history.len().saturating_sub(20)..];
                        Ok(super::shards::status(map.as_ref(), &beats, &plans, recent))
                    }
                    (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                        Err(unavailable(&e))
                    }
                };
                let _ = reply.send(answer);
            }
            PlaneCtl::SimulateShards { add, remove, reply } => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                let reads = (
                    store.get(super::shards::MAP, timeout),
                    store.range(super::shards::CONTROLLERS, 1000, timeout),
                );
                let answer = match reads {
                    (Ok(map), Ok(beats)) => {
                        super::shards::simulate(map.as_ref(), &beats, &add, &remove)
                            .map_err(|why| PlaneRefusal::new(409, "simulation_refused", why))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(unavailable(&e)),
                };
                let _ = reply.send(answer);
            }
            PlaneCtl::Status { reply } => {
                let _ = reply.send(self.status());
            }
            PlaneCtl::Registry { reply } => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                let snap = super::registry::snapshot(&mut |p| store.range(p, 100_000, timeout));
                let _ = reply.send(snap.map_err(|e| unavailable(&e)));
            }
            PlaneCtl::Gtm { reply } => {
                let timeout = self.timeout();
                let answer = match self.ctrl.store().get(super::gtm::DOC, timeout) {
                    Ok(kv) => super::gtm::decode(kv.as_ref())
                        .map_err(|e| PlaneRefusal::new(500, "internal", e)),
                    Err(e) => Err(unavailable(&e)),
                };
                let _ = reply.send(answer);
            }
            PlaneCtl::Audit { limit, reply } => {
                let timeout = self.timeout();
                let answer = match self.ctrl.store().range("/weft/audit/", 1_000_000, timeout) {
                    Ok(all) => {
                        Ok(all.into_iter().rev().take(limit).map(|kv| (kv.key, kv.value)).collect())
                    }
                    Err(e) => Err(unavailable(&e)),
                };
                let _ = reply.send(answer);
            }
            PlaneCtl::Ack(ack) => {
                if self.leading.is_some() {
                    self.acks.retain(|a| a.site != ack.site);
                    self.acks.push(ack);
                }
            }
        }
    }

    /// Queues a request (unless it was answered already) and waits for it.
    fn submit(&mut self, request: &PolicyRequest, reply: Reply) {
        let id = request.id.clone();
        let Ok(json) = serde_json::to_string(request) else {
            reply.fail(PlaneRefusal::new(500, "internal", "encoding the request"));
            return;
        };
        let txn = Txn {
            compares: vec![Compare::Missing(records::result_key(&id))],
            puts: vec![(records::request_key(&id), json)],
            deletes: Vec::new(),
        };
        let timeout = self.timeout();
        match self.ctrl.store().txn(None, &txn, timeout) {
            // Queued, or answered before (an idempotent retry): wait.
            Ok(TxnOutcome::Applied(_) | TxnOutcome::CompareFailed) => {
                self.waiters.push(Waiter { id, until: Instant::now() + ANSWER_WAIT, reply });
            }
            Ok(TxnOutcome::Fenced) => {
                reply.fail(PlaneRefusal::new(500, "internal", "unfenced write fenced"));
            }
            Err(e) => reply.fail(unavailable(&e)),
        }
    }

    fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let now = Instant::now();
        let timeout = self.timeout();
        let mut still = Vec::new();
        for w in std::mem::take(&mut self.waiters) {
            match self.ctrl.store().get(&records::result_key(&w.id), timeout) {
                Ok(Some(kv)) => match w.reply {
                    Reply::Api(reply) => {
                        let _ = reply.send(Ok(kv));
                    }
                    Reply::Mesh { to, request } => {
                        if let Some(answer) = super::enrol::answer_of(&kv) {
                            let _ = self.mesh.send(MeshCtl::EnrolAnswer { to, request, answer });
                        }
                    }
                },
                _ if now >= w.until => {
                    w.reply.fail(PlaneRefusal::new(
                        504,
                        "not_applied_yet",
                        format!(
                            "request {} is queued but no leader took it within {} s (see `weft control status`); ask again with the same request id to get its outcome",
                            w.id,
                            ANSWER_WAIT.as_secs()
                        ),
                    ));
                }
                _ => still.push(w),
            }
        }
        self.waiters = still;
    }

    /// Leader work: publish the current record, take requests, record acks.
    fn lead(&mut self, fence: &Fence) {
        let timeout = self.timeout();
        match self.ctrl.store().get(CURRENT, timeout) {
            Ok(Some(kv)) => match serde_json::from_str::<PolicyRecord>(&kv.value) {
                Ok(r) => self.current = Some((r, kv.mod_revision)),
                Err(e) => crate::log_warn!(
                    Control,
                    "the control store's policy record is unreadable: {e}"
                ),
            },
            Ok(None) => self.current = None,
            Err(_) => return,
        }
        self.publish_current(fence);
        self.publish_registry(fence);
        self.publish_gtm(fence);
        self.publish_identity(fence);
        self.publish_reservations(fence);
        self.publish_clients(fence);
        self.tick_gtm(fence);
        self.tick_reservations(fence);
        self.renew_identity_ca(fence);
        let listed = self.ctrl.store().range(records::REQUESTS, REQUESTS_PER_TURN, timeout);
        let Ok(requests) = listed else { return };
        for kv in requests {
            if !self.take(fence, &kv) {
                return;
            }
        }
        self.record_acks(fence);
    }

    fn publish_current(&mut self, fence: &Fence) {
        let Some((record, seq)) = &self.current else { return };
        let key = (fence.epoch.0, *seq);
        if self.published == Some(key) {
            return;
        }
        let publication = Publication {
            kind: weft_mesh::identity::BundleKind::Policy,
            epoch: fence.epoch.0,
            seq: *seq,
            stable: (record.version, record.text.clone()),
            canary: record.canary.as_ref().map(|c| (c.version, c.text.clone(), c.sites.clone())),
        };
        if self.mesh.send(MeshCtl::Publish(Box::new(publication))).is_ok() {
            self.published = Some(key);
        }
    }

    /// Publishes the registry's relay limits when they changed.
    fn publish_registry(&mut self, fence: &Fence) {
        let timeout = self.timeout();
        let Ok(Some(kv)) = self.ctrl.store().get(super::registry::FLAGS, timeout) else { return };
        let key = (fence.epoch.0, kv.mod_revision);
        if self.registry_published == Some(key) {
            return;
        }
        let p = super::registry::publication(fence.epoch.0, &kv);
        if self.mesh.send(MeshCtl::Publish(Box::new(p))).is_ok() {
            self.registry_published = Some(key);
        }
    }

    /// Publishes the GTM document when it changed.
    fn publish_gtm(&mut self, fence: &Fence) {
        let timeout = self.timeout();
        let Ok(Some(kv)) = self.ctrl.store().get(super::gtm::DOC, timeout) else { return };
        let key = (fence.epoch.0, kv.mod_revision);
        if self.gtm_published == Some(key) {
            return;
        }
        let Some(p) = super::gtm::publication(fence.epoch.0, &kv) else {
            crate::log_warn!(Control, "the stored GTM document is unreadable; not published");
            self.gtm_published = Some(key);
            return;
        };
        if self.mesh.send(MeshCtl::Publish(Box::new(p))).is_ok() {
            self.gtm_published = Some(key);
        }
    }

    /// Publishes the mesh-wide identity record when it changed.
    fn publish_identity(&mut self, fence: &Fence) {
        let timeout = self.timeout();
        let Ok(Some(kv)) = self.ctrl.store().get(super::identity::DOC, timeout) else { return };
        let key = (fence.epoch.0, kv.mod_revision);
        if self.identity_published == Some(key) {
            return;
        }
        let Some(p) = super::identity::publication(fence.epoch.0, &kv) else {
            crate::log_warn!(Control, "the stored identity record is unreadable; not published");
            self.identity_published = Some(key);
            return;
        };
        if self.mesh.send(MeshCtl::Publish(Box::new(p))).is_ok() {
            self.identity_published = Some(key);
        }
    }

    /// Answers a site's SVID request while leading (else drops it: the
    /// site asks the new leader once it publishes): signs a leaf for the
    /// site's key with the intermediate in the store, or says why not.
    fn answer_svid(
        &mut self,
        from: Option<SocketAddr>,
        request: &weft_mesh::identity::SvidRequest,
    ) {
        let Some(fence) = self.ctrl.fence() else { return };
        let timeout = self.timeout();
        let store = self.ctrl.store();
        let (Ok(ca), Ok(doc)) =
            (store.get(super::identity_ca::CA, timeout), store.get(super::identity::DOC, timeout))
        else {
            return;
        };
        let service_site = weft_identity::SpiffeId::parse(&request.id)
            .ok()
            .and_then(|id| super::identity_ca::service_name(&id).map(super::registry::service_key))
            .and_then(|key| store.get(&key, timeout).ok().flatten())
            .and_then(|kv| serde_json::from_str::<super::registry::ServiceRecord>(&kv.value).ok())
            .map(|r| r.site);
        let ca = super::identity_ca::decode(ca.as_ref()).ok().flatten().map(|(c, _)| c);
        let doc = super::identity::decode(doc.as_ref()).map(|(d, _)| d).unwrap_or_default();
        let now = crate::mesh::start::unix_now();
        let answer =
            super::identity_ca::answer(ca.as_ref(), &doc, request, service_site.as_deref(), now);
        match &answer.refused {
            Some(why) => {
                self.state.svids.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                crate::log_warn!(
                    Control,
                    "refused {} an SVID for {}: {why}",
                    request.site,
                    request.id
                );
            }
            None => {
                self.state.svids.issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _ = self.mesh.send(MeshCtl::SendSvid {
            to: from,
            site: request.site.clone(),
            epoch: fence.epoch.0,
            payload: json(&answer).into_bytes(),
        });
    }

    /// Every 10 s while leading: replaces the identity CA's intermediate
    /// once two thirds of its life are gone (sites then ask for their SVIDs
    /// again), in one fenced transaction audited as the leader's.
    fn renew_identity_ca(&mut self, fence: &Fence) {
        let now = Instant::now();
        if now < self.next_ca_check {
            return;
        }
        self.next_ca_check = now + Duration::from_secs(10);
        let timeout = self.timeout();
        let Ok(kv) = self.ctrl.store().get(super::identity_ca::CA, timeout) else { return };
        let Ok(Some((ca, _))) = super::identity_ca::decode(kv.as_ref()) else { return };
        let unix = crate::mesh::start::unix_now();
        if !super::identity_ca::due_for_renewal(&ca, unix) {
            return;
        }
        let req = PolicyRequest {
            id: format!("ca-renewal-{unix}"),
            ask: Ask::Identity(super::identity::IdentityAsk::Rotate),
            actor: format!("leader {}", self.view.id),
            at_unix_ms: unix_ms(),
        };
        let store = self.ctrl.store();
        let Ask::Identity(ask) = &req.ask else { return };
        let planned = super::identity::plan(
            &req,
            ask,
            fence.epoch.0,
            unix_ms(),
            self.ca_seed.as_ref(),
            &mut |k| store.get(k, timeout),
        );
        let Some(planned) = planned else { return };
        if planned.puts.is_empty() {
            return;
        }
        let txn = Txn { compares: planned.compares, puts: planned.puts, deletes: planned.deletes };
        if let Some(TxnOutcome::Applied(_)) = self.fenced(fence, &txn) {
            crate::log_info!(Control, "the identity CA's intermediate was due: replaced");
            self.publish_identity(fence);
        }
    }

    /// Four times a second while leading: steps the GTM shifts that are
    /// due, judging canaries by this site's health checks of their new
    /// version since the step began.
    fn tick_gtm(&mut self, fence: &Fence) {
        let now = Instant::now();
        if now < self.next_gtm {
            return;
        }
        self.next_gtm = now + Duration::from_millis(250);
        let timeout = self.timeout();
        let Ok(kv) = self.ctrl.store().get(super::gtm::DOC, timeout) else { return };
        let Ok((doc, _)) = super::gtm::decode(kv.as_ref()) else { return };
        let health = self.state.gtm.clone();
        let mut sample = |sh: &weft_gtm::Shift| {
            let since = sh.window_start_ms()?;
            let weft_gtm::ShiftKind::Canary(c) = &sh.kind else { return None };
            let svc = doc.services.get(sh.service.as_ref()?)?;
            let keys: Vec<_> = svc
                .endpoints
                .iter()
                .filter(|e| e.version == c.canary)
                .map(|e| (svc.name.clone(), e.id.clone()))
                .collect();
            Some(health.health.sample(&keys, since))
        };
        let Some((txn, changed)) =
            super::gtm::tick(kv.as_ref(), fence.epoch.0, unix_ms(), &mut sample)
        else {
            return;
        };
        if let Some(TxnOutcome::Applied(_)) = self.fenced(fence, &txn) {
            for t in changed {
                let line = format!("GTM shift {} {}: {}", t.id, t.state, t.line);
                crate::log_info!(Control, "{line}");
                let _ = self.events.send(Event::new(EventKind::GtmChanged, line));
            }
            self.publish_gtm(fence);
        }
    }

    /// Runs one fenced transaction; `false` once this controller was fenced out.
    fn fenced(&mut self, fence: &Fence, txn: &Txn) -> Option<TxnOutcome> {
        let timeout = self.timeout();
        match self.ctrl.store().txn(Some(fence), txn, timeout) {
            Ok(TxnOutcome::Fenced) => {
                self.view.fenced_refused += 1;
                crate::log_warn!(
                    Control,
                    "a fenced write was refused: this controller lost the lead"
                );
                self.ctrl.fenced_out(fence);
                None
            }
            Ok(outcome) => {
                if let TxnOutcome::Applied(rev) = outcome {
                    self.view.last_fenced_write = Some((rev, unix_ms()));
                }
                Some(outcome)
            }
            Err(_) => Some(TxnOutcome::CompareFailed),
        }
    }

    /// Takes one queued request; `false` to stop this turn.
    fn take(&mut self, fence: &Fence, kv: &Kv) -> bool {
        let id = kv.key.trim_start_matches(records::REQUESTS).to_owned();
        let result_key = records::result_key(&id);
        let Ok(req) = serde_json::from_str::<PolicyRequest>(&kv.value) else {
            crate::log_warn!(Control, "dropping the unreadable control request {id}");
            let txn = Txn { deletes: vec![kv.key.clone()], ..Txn::default() };
            return self.fenced(fence, &txn).is_some();
        };
        let planned = match &req.ask {
            Ask::Apply { .. } | Ask::Rollback { .. } | Ask::Promote => {
                self.plan_policy(fence, &id, &req)
            }
            Ask::Registry(ask) => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                super::registry::plan(&id, &req, ask, fence.epoch.0, &mut |k| store.get(k, timeout))
            }
            Ask::Enrol { request } => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                match self.enroller.as_mut() {
                    Some(enroller) => super::enrol::plan(
                        &req,
                        request,
                        fence.epoch.0,
                        crate::mesh::start::unix_now(),
                        enroller,
                        &self.import,
                        &mut |k| store.get(k, timeout),
                    ),
                    None => Some(Planned::answer(
                        serde_json::json!({ "refused": "the leader holds no mesh CA" }).to_string(),
                    )),
                }
            }
            Ask::ApprovePlan { plan } => {
                let timeout = self.timeout();
                let Ok(id) = plan.parse::<weft_shard::PlanId>() else {
                    let r = serde_json::json!({ "refused": ["not_found", format!("{plan:?} is not a plan id")] });
                    return self.answer_only(fence, kv, &result_key, r.to_string());
                };
                let store = self.ctrl.store();
                let reads = (
                    store.get(super::shards::MAP, timeout),
                    store.get(&format!("{}{id}", super::shards::PLANS), timeout),
                    store.range(super::shards::PLANS, 100, timeout),
                );
                let (Ok(map), Ok(stored), Ok(pending)) = reads else { return false };
                Some(self.shards.approve(&req, id, map.as_ref(), stored.as_ref(), &pending))
            }
            Ask::Gtm(ask) => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                super::gtm::plan(&id, &req, ask, fence.epoch.0, unix_ms(), &mut |k| {
                    store.get(k, timeout)
                })
            }
            Ask::Identity(ask) => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                let seed = self.ca_seed.as_ref();
                super::identity::plan(&req, ask, fence.epoch.0, unix_ms(), seed, &mut |k| {
                    store.get(k, timeout)
                })
            }
            Ask::Reservation(ask) => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                let caps = super::te::Capacities::from_views(&self.links.views(), self.reservable);
                super::te::plan(&req, ask, fence.epoch.0, unix_ms(), &caps, &mut |k| {
                    store.get(k, timeout)
                })
            }
            Ask::Profile(ask) => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                super::clients::plan(&req, ask, fence.epoch.0, unix_ms(), &mut |k| {
                    store.get(k, timeout)
                })
            }
            Ask::Revoke { site } => {
                let timeout = self.timeout();
                let store = self.ctrl.store();
                match self.enroller.as_mut() {
                    Some(enroller) => super::enrol::plan_revoke(
                        &req,
                        site,
                        fence.epoch.0,
                        enroller,
                        &self.import,
                        &mut |k| store.get(k, timeout),
                    ),
                    None => Some(Planned::answer(
                        serde_json::json!({ "refused": "the leader holds no mesh CA" }).to_string(),
                    )),
                }
            }
        };
        let Some(planned) = planned else { return false };
        let wrote = !planned.puts.is_empty();
        let mut txn =
            Txn { compares: planned.compares, puts: planned.puts, deletes: planned.deletes };
        txn.deletes.push(kv.key.clone());
        txn.compares.push(Compare::Missing(result_key.clone()));
        txn.puts.push((result_key.clone(), planned.result));
        match self.fenced(fence, &txn) {
            None => false,
            Some(TxnOutcome::Applied(rev)) => {
                if let Some(record) = planned.published {
                    self.current = Some((record, rev));
                    self.publish_current(fence);
                }
                if let (Ask::Gtm(ask), true) = (&req.ask, wrote) {
                    let line = format!("GTM {} by {} (request {id})", ask.kind(), req.actor);
                    let _ = self.events.send(Event::new(EventKind::GtmChanged, line));
                    self.publish_gtm(fence);
                }
                if let (Ask::Identity(_), true) = (&req.ask, wrote) {
                    self.publish_identity(fence);
                }
                if let (Ask::Profile(_), true) = (&req.ask, wrote) {
                    self.publish_clients(fence);
                }
                if let (Ask::Reservation(ask), true) = (&req.ask, wrote) {
                    let line = format!("mesh-wide {} by {} (request {id})", ask.kind(), req.actor);
                    let _ = self.events.send(Event::new(EventKind::ReservationChanged, line));
                    self.publish_reservations(fence);
                }
                true
            }
            Some(_) => {
                // Answered before (a retried request): drop the copy.
                let timeout = self.timeout();
                let done = self.ctrl.store().get(&result_key, timeout);
                if matches!(done, Ok(Some(_))) {
                    let txn = Txn { deletes: vec![kv.key.clone()], ..Txn::default() };
                    return self.fenced(fence, &txn).is_some();
                }
                false
            }
        }
    }

    /// Answers a request with `result` and nothing else.
    fn answer_only(&mut self, fence: &Fence, kv: &Kv, result_key: &str, result: String) -> bool {
        let txn = Txn {
            compares: vec![Compare::Missing(result_key.to_owned())],
            puts: vec![(result_key.to_owned(), result)],
            deletes: vec![kv.key.clone()],
        };
        self.fenced(fence, &txn).is_some()
    }

    /// The writes of a policy request (apply, rollback, promote); `None`
    /// when the store could not be read.
    fn plan_policy(&mut self, fence: &Fence, id: &str, req: &PolicyRequest) -> Option<Planned> {
        let current = self.current.as_ref().map(|(r, _)| r);
        let mut step = records::step(current, req, None);
        if let Step::NeedVersion(v) = step {
            let timeout = self.timeout();
            let stored = match self.ctrl.store().get(&records::version_key(v), timeout) {
                Ok(kv) => kv.and_then(|kv| serde_json::from_str::<PolicyVersion>(&kv.value).ok()),
                Err(_) => return None,
            };
            step = match stored {
                Some(s) => records::step(current, req, Some(&s)),
                None => Step::Refuse("not_found", format!("no mesh-wide policy version {v}")),
            };
        }
        let epoch = fence.epoch.0;
        let before = current.map_or(0, |r| r.version);
        match step {
            Step::Change { record, new_version } => {
                let result = PolicyResult {
                    kind: req.ask.kind().to_owned(),
                    refused: None,
                    version: record.version,
                    canary: record.canary.as_ref().map(|c| (c.version, c.sites.clone())),
                    epoch,
                };
                let after = record.canary.as_ref().map_or(record.version, |c| c.version);
                let audit = AuditEntry {
                    request: id.to_owned(),
                    actor: req.actor.clone(),
                    action: format!("policy.mesh.{}", req.ask.kind()),
                    before,
                    after,
                    epoch,
                    at_unix_ms: req.at_unix_ms,
                };
                let mut puts = vec![
                    (CURRENT.to_owned(), json(&record)),
                    (records::audit_key(unix_ms(), id), json(&audit)),
                ];
                if let Some(v) = new_version {
                    puts.push((records::version_key(v.version), json(&v)));
                }
                let rev = self.current.as_ref().map_or(0, |(_, rev)| *rev);
                Some(Planned {
                    compares: vec![Compare::ModRevision(CURRENT.to_owned(), rev)],
                    puts,
                    deletes: Vec::new(),
                    result: json(&result),
                    published: Some(record),
                })
            }
            Step::Refuse(code, message) => {
                let result = PolicyResult {
                    kind: req.ask.kind().to_owned(),
                    refused: Some((code.to_owned(), message)),
                    version: before,
                    canary: None,
                    epoch,
                };
                Some(Planned::answer(json(&result)))
            }
            Step::NeedVersion(_) => None,
        }
    }

    fn record_acks(&mut self, fence: &Fence) {
        if self.acks.is_empty() {
            return;
        }
        let puts =
            self.acks.iter().map(|a| (records::status_key(&a.site), json(a))).collect::<Vec<_>>();
        let txn = Txn { puts, ..Txn::default() };
        if let Some(TxnOutcome::Applied(_)) = self.fenced(fence, &txn) {
            self.acks.clear();
        }
    }

    /// The rollout as the store has it (any controller).
    fn status(&mut self) -> Result<MeshPolicyStatus, PlaneRefusal> {
        let timeout = self.timeout();
        let current = self.ctrl.store().get(CURRENT, timeout).map_err(|e| unavailable(&e))?;
        let acks = self.ctrl.store().range(records::STATUS, 100_000, timeout);
        let acks = acks.map_err(|e| unavailable(&e))?;
        let (record, seq) = match current {
            Some(kv) => (
                serde_json::from_str::<PolicyRecord>(&kv.value).map_err(|e| {
                    PlaneRefusal::new(500, "internal", format!("the policy record: {e}"))
                })?,
                kv.mod_revision,
            ),
            None => {
                return Ok(MeshPolicyStatus {
                    version: 0,
                    name: String::new(),
                    canary: None,
                    latest: 0,
                    seq: 0,
                    actor: String::new(),
                    at_unix_ms: 0,
                    sites: Vec::new(),
                });
            }
        };
        let sites = acks
            .iter()
            .filter_map(|kv| serde_json::from_str::<SiteAck>(&kv.value).ok())
            .map(|a| site_state(&record, a))
            .collect();
        Ok(MeshPolicyStatus {
            version: record.version,
            name: record.name.clone(),
            canary: record
                .canary
                .as_ref()
                .map(|c| CanaryStage { version: c.version, sites: c.sites.clone() }),
            latest: record.latest,
            seq,
            actor: record.actor.clone(),
            at_unix_ms: record.at_unix_ms,
            sites,
        })
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A site's state in the rollout from its last acknowledgement.
fn site_state(record: &PolicyRecord, a: SiteAck) -> SitePolicyState {
    let in_canary = record.canary.as_ref().filter(|c| c.sites.contains(&a.site));
    let state = if a.error.is_some() {
        "failed"
    } else if in_canary.is_some_and(|c| c.version == a.version) {
        "canary"
    } else if in_canary.is_none() && a.version == record.version {
        "current"
    } else {
        "behind"
    };
    SitePolicyState {
        site: a.site,
        version: a.version,
        epoch: a.epoch,
        seq: a.seq,
        state: state.to_owned(),
        error: a.error,
        since_unix_ms: a.at_unix_ms,
    }
}

/// A policy request's answer from the leader's result record.
pub(crate) fn answer_of(id: &str, kind: &str, kv: &Kv) -> Result<MeshPolicyChange, PlaneRefusal> {
    let r: PolicyResult = serde_json::from_str(&kv.value)
        .map_err(|e| PlaneRefusal::new(500, "internal", format!("the result record: {e}")))?;
    if let Some((code, message)) = r.refused {
        let status = if code == "not_found" { 404 } else { 409 };
        return Err(PlaneRefusal::new(status, &code, message));
    }
    Ok(MeshPolicyChange {
        request: id.to_owned(),
        kind: if r.kind.is_empty() { kind.to_owned() } else { r.kind },
        version: r.version,
        canary: r.canary.map(|(version, sites)| CanaryStage { version, sites }),
        epoch: r.epoch,
        seq: kv.mod_revision,
        warnings: Vec::new(),
    })
}
