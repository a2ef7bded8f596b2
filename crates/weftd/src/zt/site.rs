//! A site's running zero-trust proxies (`[zerotrust]`): binds them, gets
//! their SVIDs — signed here with the intermediate in `[zerotrust] dir`
//! (`issuer = "local"`), or asked of the control plane's leader
//! (`issuer = "control"`, [`super::issuing`]) — renews them at half life
//! (the sans-IO [`Schedule`]), gets every SVID again when the intermediate
//! changes (a rotation), follows the site's policy for identity rules, and
//! appends every denial to the audit log. A proxy without an SVID yet
//! (control plane not reached) refuses handshakes until it has one.
//!
//! It also serves the SPIFFE Workload API to the configured workloads
//! (`[[zerotrust.workload]]`), with SVIDs issued and renewed the same way and
//! pushed to every open stream on each change.
//!
//! It runs on a thread of its own (`weft-zt`) with a small tokio runtime; the
//! API reads [`ZtSite::entries`] and [`ZtSite::workloads`] and calls
//! [`ZtSite::revoke`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use weft_identity::{
    RotationPolicy, Schedule, SpiffeId, Svid, TrustDomain, Validity, ed25519_pkcs8,
};

use super::proxy::{Denial, Mode, Proxy};
use super::workload::WorkloadSource;
use super::workload::attest::{Caller, WorkloadRule};
use crate::config::ZeroTrustConfig;
use crate::store::{NewAudit, Store};
use weft_layout::zt as files;

/// The site's policy: its generation (bumped on every change) and identity rules.
pub(crate) type PolicySource = Box<dyn Fn() -> (u64, weft_policy::IdentityRules) + Send>;

/// The mesh-wide revoked identities the control plane published: their
/// sequence (bumped on every change) and the IDs.
pub(crate) type MeshRevocations = Box<dyn Fn() -> (u64, Vec<SpiffeId>) + Send>;

/// The sites as the path engine sees them now (for gateways' backend order).
pub(crate) type SitesView = Arc<dyn Fn() -> Vec<super::backends::SiteView> + Send + Sync>;

/// One proxy of the site and the SVID it presents.
pub struct Entry {
    /// `gateway` or `sidecar`.
    pub kind: &'static str,
    /// Gateway name or service name.
    pub name: String,
    /// Where it listens.
    pub listen: SocketAddr,
    /// The proxy.
    pub proxy: Arc<Proxy>,
    /// Its identity.
    pub id: SpiffeId,
    /// Its current SVID (none yet: asked of the control plane).
    svid: Mutex<Option<Svid>>,
    /// Why it has no SVID yet, when the control plane said.
    pending: Mutex<Option<String>>,
}

impl Entry {
    /// Its current SVID's serial and validity, if it has one.
    pub fn svid(&self) -> Option<(u64, Validity)> {
        lock(&self.svid).as_ref().map(|s| (s.serial, s.validity))
    }

    /// Why it has no SVID (yet), if it has none.
    pub fn pending(&self) -> Option<String> {
        lock(&self.svid).is_none().then(|| {
            lock(&self.pending).clone().unwrap_or_else(|| "asked of the control plane".to_owned())
        })
    }
}

/// A workload the Workload API serves and its current SVID.
pub struct WorkloadEntry {
    /// Its identity and selectors.
    pub rule: WorkloadRule,
    svid: Mutex<Option<Svid>>,
    pending: Mutex<Option<String>>,
}

impl WorkloadEntry {
    /// Its current SVID's serial and validity, if it has one.
    pub fn svid(&self) -> Option<(u64, Validity)> {
        lock(&self.svid).as_ref().map(|s| (s.serial, s.validity))
    }

    /// Why it has no SVID (yet), if it has none.
    pub fn pending(&self) -> Option<String> {
        lock(&self.svid).is_none().then(|| {
            lock(&self.pending).clone().unwrap_or_else(|| "asked of the control plane".to_owned())
        })
    }
}

/// Where the site's SVIDs come from.
pub(crate) enum Issuing {
    /// Signed here with the intermediate in `[zerotrust] dir`.
    Local,
    /// Asked of the control plane's leader.
    Control(super::issuing::ControlIssuer),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The site's zero-trust proxies.
pub struct ZtSite {
    td: TrustDomain,
    dir: PathBuf,
    /// The proxies.
    pub entries: Vec<Entry>,
    /// The workloads of the Workload API.
    pub workloads: Vec<WorkloadEntry>,
    /// Where the Workload API listens (None: no workloads configured).
    pub workload_socket: Option<PathBuf>,
    bundle: Mutex<Vec<Vec<u8>>>,
    updates: tokio::sync::watch::Sender<u64>,
    revoked: Mutex<BTreeSet<SpiffeId>>,
    /// Those of `revoked` the control plane revoked mesh-wide.
    mesh_revoked: Mutex<BTreeSet<SpiffeId>>,
    schedule: Mutex<Schedule>,
    /// The intermediate the SVIDs were issued under (local: its DER;
    /// control: its serial, big-endian).
    intermediate_der: Mutex<Vec<u8>>,
    issuing: Issuing,
    /// Denials not audited: the audit thread was behind (a flood never blocks a proxy).
    pub audit_dropped: Arc<AtomicU64>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn issue(inter: &weft_identity::Intermediate, id: &SpiffeId, ttl: u64) -> Result<Svid> {
    let seed = weft_layout::mesh::random_seed()?;
    let serial = files::random_serial()?;
    let svid = inter.issue(id, &seed, serial, Validity::starting(unix_now(), ttl))?;
    debug_assert_eq!(svid.key_pkcs8, ed25519_pkcs8(&seed));
    Ok(svid)
}

impl ZtSite {
    /// Binds and starts every proxy of `cfg`; the returned site is live.
    /// With `issuing` = control the proxies start without SVIDs and get
    /// them from the control plane (they refuse handshakes until then).
    pub(crate) fn start(
        cfg: &ZeroTrustConfig,
        store: Store,
        policy: PolicySource,
        mesh_revoked: MeshRevocations,
        sites: &SitesView,
        issuing: Issuing,
    ) -> Result<Arc<Self>> {
        let td = cfg.trust_domain.clone();
        let dir = cfg.dir.clone();
        let ttl = cfg.svid_ttl.as_secs();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (bundle, inter, inter_mark) = match &issuing {
            Issuing::Local => {
                let inter = files::intermediate(&dir, &td)?;
                let mark = inter.der().to_vec();
                (files::bundle(&dir)?, Some(inter), mark)
            }
            Issuing::Control(c) => {
                let view = c.view();
                (view.roots, None, Vec::new())
            }
        };
        let (generation, rules) = policy();
        let (audit_tx, audit_rx) = sync_channel::<Denial>(1024);
        let audit_dropped = Arc::new(AtomicU64::new(0));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weft-zt")
            .enable_all()
            .build()
            .context("starting the zero-trust runtime")?;
        let mut entries = Vec::new();
        let mut listeners = Vec::new();
        let mut plan: Vec<(&'static str, String, SocketAddr, Mode, SpiffeId)> = Vec::new();
        for s in &cfg.sidecars {
            let mode = Mode::Sidecar { service: s.service.clone(), port: s.port, local: s.forward };
            plan.push((
                "sidecar",
                s.service.clone(),
                s.listen,
                mode,
                weft_identity::service_id(&td, &s.service)?,
            ));
        }
        for g in &cfg.gateways {
            let id = td.id(&format!("/gateway/{}", g.name))?;
            plan.push(("gateway", g.name.clone(), g.listen, Mode::Gateway(g.routes.clone()), id));
        }
        let mut schedule = Schedule::new(RotationPolicy { ttl_secs: ttl, renew_permille: 500 });
        let revoked: BTreeSet<SpiffeId> = files::revoked(&dir)?.into_iter().collect();
        let first = |id: &SpiffeId, schedule: &mut Schedule| -> Result<Option<Svid>> {
            let Some(inter) = &inter else { return Ok(None) };
            let svid = issue(inter, id, ttl)?;
            schedule.handle_issued(id, svid.validity);
            Ok(Some(svid))
        };
        for (kind, name, listen, mode, id) in plan {
            let svid = first(&id, &mut schedule)?;
            let (tx, dropped) = (audit_tx.clone(), Arc::clone(&audit_dropped));
            let audit: super::proxy::AuditFn = Box::new(move |d: &Denial| {
                if let Err(TrySendError::Full(_)) = tx.try_send(d.clone()) {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            });
            let proxy = Proxy::new(td.clone(), mode, svid.as_ref(), &bundle, rules.clone(), audit)?;
            for r in &revoked {
                proxy.revoke(r.clone());
            }
            if kind == "gateway" {
                let sites = Arc::clone(sites);
                proxy.set_ranker(Arc::new(move |b| super::backends::rank(b, &sites())));
            }
            let l = rt
                .block_on(tokio::net::TcpListener::bind(listen))
                .with_context(|| format!("binding the zero-trust {kind} {name} to {listen}"))?;
            listeners.push((Arc::clone(&proxy), l));
            entries.push(Entry {
                kind,
                name,
                listen,
                proxy,
                id,
                svid: Mutex::new(svid),
                pending: Mutex::new(None),
            });
        }
        let mut workloads = Vec::new();
        for rule in &cfg.workloads {
            let svid = first(&rule.id, &mut schedule)?;
            workloads.push(WorkloadEntry {
                rule: rule.clone(),
                svid: Mutex::new(svid),
                pending: Mutex::new(None),
            });
        }
        let workload_listener = if workloads.is_empty() {
            None
        } else {
            let _guard = rt.enter();
            Some(bind_workload_socket(&cfg.workload_socket)?)
        };
        for id in &revoked {
            schedule.revoke(id);
        }
        let site = Arc::new(Self {
            td,
            dir,
            entries,
            workloads,
            workload_socket: workload_listener.as_ref().map(|_| cfg.workload_socket.clone()),
            bundle: Mutex::new(bundle),
            updates: tokio::sync::watch::channel(0).0,
            revoked: Mutex::new(revoked),
            mesh_revoked: Mutex::new(BTreeSet::new()),
            schedule: Mutex::new(schedule),
            intermediate_der: Mutex::new(inter_mark),
            issuing,
            audit_dropped,
        });
        for (proxy, l) in listeners {
            rt.spawn(proxy.serve(l));
        }
        if let Some(l) = workload_listener {
            rt.spawn(super::workload::serve(l, Arc::clone(&site) as Arc<dyn WorkloadSource>));
        }
        std::thread::Builder::new()
            .name("weft-zt-audit".into())
            .spawn(move || audit_loop(&store, &audit_rx))?;
        let (seq, ids) = mesh_revoked();
        site.follow_mesh_revocations(&ids);
        let me = Arc::clone(&site);
        std::thread::Builder::new().name("weft-zt".into()).spawn(move || {
            rt.block_on(me.drive(&policy, &mesh_revoked, generation, seq));
        })?;
        Ok(site)
    }

    /// Every second: follow the policy, the mesh-wide revocations, a new
    /// intermediate, due renewals.
    async fn drive(
        self: Arc<Self>,
        policy: &PolicySource,
        mesh_revoked: &MeshRevocations,
        mut generation: u64,
        mut mesh_seq: u64,
    ) {
        let every = match self.issuing {
            Issuing::Local => Duration::from_secs(1),
            Issuing::Control(_) => Duration::from_millis(250),
        };
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let (seq, ids) = mesh_revoked();
            if seq != mesh_seq {
                mesh_seq = seq;
                self.follow_mesh_revocations(&ids);
            }
            let (g, rules) = policy();
            if g != generation {
                generation = g;
                for e in &self.entries {
                    e.proxy.set_rules(rules.clone());
                }
            }
            if let Err(e) = self.renew() {
                crate::log_warn!(Zt, "zero trust: renewing SVIDs: {e:#}");
            }
        }
    }

    /// Follows the trust bundle, and gets again the SVIDs that are due, or
    /// all of them under a new intermediate; every change reaches the
    /// Workload API's streams.
    fn renew(&self) -> Result<()> {
        let changed = match &self.issuing {
            Issuing::Local => self.renew_local()?,
            Issuing::Control(c) => self.renew_from_control(c)?,
        };
        if changed {
            self.updates.send_modify(|g| *g += 1);
        }
        Ok(())
    }

    /// Installs `bundle` when it changed: the proxies that have an SVID
    /// trust it from their next connection.
    fn follow_bundle(&self, bundle: Vec<Vec<u8>>) -> Result<bool> {
        if *lock(&self.bundle) == bundle {
            return Ok(false);
        }
        for e in &self.entries {
            if let Some(svid) = lock(&e.svid).as_ref() {
                e.proxy.set_credentials(svid, &bundle)?;
            }
        }
        *lock(&self.bundle) = bundle;
        Ok(true)
    }

    /// Every identity of the site (proxies, then workloads).
    fn identities(&self) -> Vec<SpiffeId> {
        let proxies = self.entries.iter().map(|e| e.id.clone());
        proxies.chain(self.workloads.iter().map(|w| w.rule.id.clone())).collect()
    }

    /// Puts `svid` in use for its identity.
    fn install(&self, svid: Svid) -> Result<()> {
        lock(&self.schedule).handle_issued(&svid.id, svid.validity);
        let bundle = lock(&self.bundle).clone();
        if let Some(e) = self.entries.iter().find(|e| e.id == svid.id) {
            if !bundle.is_empty() {
                e.proxy.set_credentials(&svid, &bundle)?;
            }
            *lock(&e.pending) = None;
            *lock(&e.svid) = Some(svid);
        } else if let Some(w) = self.workloads.iter().find(|w| w.rule.id == svid.id) {
            *lock(&w.pending) = None;
            *lock(&w.svid) = Some(svid);
        }
        Ok(())
    }

    /// Why `id` has no SVID, as the API shows it.
    fn set_pending(&self, id: &SpiffeId, why: String) {
        if let Some(e) = self.entries.iter().find(|e| e.id == *id) {
            *lock(&e.pending) = Some(why);
        } else if let Some(w) = self.workloads.iter().find(|w| w.rule.id == *id) {
            *lock(&w.pending) = Some(why);
        }
    }

    fn has_svid(&self, id: &SpiffeId) -> bool {
        self.entries.iter().find(|e| e.id == *id).map_or_else(
            || self.workloads.iter().any(|w| w.rule.id == *id && lock(&w.svid).is_some()),
            |e| lock(&e.svid).is_some(),
        )
    }

    /// `issuer = "local"`: the bundle and intermediate on disk.
    fn renew_local(&self) -> Result<bool> {
        let mut changed = self.follow_bundle(files::bundle(&self.dir)?)?;
        let der = std::fs::read(self.dir.join(files::INTERMEDIATE))
            .context("reading the intermediate")?;
        let rotated = *lock(&self.intermediate_der) != der;
        let due: BTreeSet<SpiffeId> =
            lock(&self.schedule).poll_due(unix_now()).into_iter().collect();
        if rotated || !due.is_empty() {
            let inter = files::intermediate(&self.dir, &self.td)?;
            let ttl = lock(&self.schedule).policy().ttl_secs;
            for id in self.identities() {
                if !lock(&self.revoked).contains(&id) && (rotated || due.contains(&id)) {
                    self.install(issue(&inter, &id, ttl)?)?;
                }
            }
            *lock(&self.intermediate_der) = der;
            changed = true;
        }
        Ok(changed)
    }

    /// `issuer = "control"`: the control plane's roots, answers to this
    /// site's requests, and requests for what is missing, due, or issued
    /// under an intermediate the control plane replaced.
    fn renew_from_control(&self, c: &super::issuing::ControlIssuer) -> Result<bool> {
        let view = c.view();
        if let Some(td) = view.trust_domain.as_deref()
            && td != self.td.as_str()
        {
            let why = format!(
                "the control plane's trust domain is {td}, this site's [zerotrust] trust_domain is {}",
                self.td
            );
            for id in self.identities() {
                self.set_pending(&id, why.clone());
            }
            return Ok(false);
        }
        let mut changed =
            if view.roots.is_empty() { false } else { self.follow_bundle(view.roots.clone())? };
        let (now, unix) = (std::time::Instant::now(), unix_now());
        for (id, answer) in c.take_answers(now) {
            match answer {
                Ok(svid) => {
                    self.install(svid)?;
                    changed = true;
                }
                Err(why) => {
                    crate::log_warn!(Zt, "zero trust: no SVID for {id}: {why}");
                    self.set_pending(&id, why);
                }
            }
        }
        if view.trust_domain.is_none() {
            return Ok(changed);
        }
        let serial = view.intermediate_serial.to_be_bytes().to_vec();
        let rotated = *lock(&self.intermediate_der) != serial;
        if rotated {
            *lock(&self.intermediate_der) = serial;
        }
        let due: BTreeSet<SpiffeId> = lock(&self.schedule).poll_due(unix).into_iter().collect();
        let ttl = lock(&self.schedule).policy().ttl_secs;
        for id in self.identities() {
            if lock(&self.revoked).contains(&id) {
                continue;
            }
            if rotated {
                c.forget(&id);
            }
            if rotated || due.contains(&id) || !self.has_svid(&id) || c.is_pending(&id) {
                c.ask(&id, ttl, now, unix)?;
            }
        }
        Ok(changed)
    }

    /// Revokes `id` on this site: refused by every proxy from the next
    /// connection, never renewed, remembered across restarts. Returns whether
    /// it was not revoked already.
    pub fn revoke(&self, id: &SpiffeId) -> Result<bool> {
        let mut set = self.revoked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.insert(id.clone()) {
            return Ok(false);
        }
        let mesh = lock(&self.mesh_revoked);
        let site_only: Vec<SpiffeId> = set.iter().filter(|i| !mesh.contains(*i)).cloned().collect();
        drop(mesh);
        files::write_revoked(&self.dir, &site_only)?;
        for e in &self.entries {
            e.proxy.revoke(id.clone());
        }
        lock(&self.schedule).revoke(id);
        // A revoked workload is no longer served: its streams hear of it now.
        self.updates.send_modify(|g| *g += 1);
        Ok(true)
    }

    /// Refuses every ID of `ids` (the control plane's mesh-wide list) like a
    /// site revocation, without writing them to `zt/revoked`: the control
    /// plane's follower persists its list.
    fn follow_mesh_revocations(&self, ids: &[SpiffeId]) {
        let mut newly = false;
        for id in ids {
            lock(&self.mesh_revoked).insert(id.clone());
            if lock(&self.revoked).insert(id.clone()) {
                for e in &self.entries {
                    e.proxy.revoke(id.clone());
                }
                lock(&self.schedule).revoke(id);
                crate::log_info!(Zt, "zero trust: {id} revoked mesh-wide");
                newly = true;
            }
        }
        if newly {
            self.updates.send_modify(|g| *g += 1);
        }
    }

    /// The identities the control plane revoked mesh-wide (a subset of
    /// [`Self::revoked`]).
    pub fn mesh_revoked(&self) -> Vec<SpiffeId> {
        lock(&self.mesh_revoked).iter().cloned().collect()
    }

    /// The revoked identities.
    pub fn revoked(&self) -> Vec<SpiffeId> {
        self.revoked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.td
    }
}

impl WorkloadSource for ZtSite {
    fn svids(&self, caller: &Caller) -> Vec<Svid> {
        let revoked = lock(&self.revoked);
        self.workloads
            .iter()
            .filter(|w| w.rule.matches(caller) && !revoked.contains(&w.rule.id))
            .filter_map(|w| lock(&w.svid).clone())
            .collect()
    }

    fn bundle(&self) -> (TrustDomain, Vec<Vec<u8>>) {
        (self.td.clone(), lock(&self.bundle).clone())
    }

    fn updates(&self) -> tokio::sync::watch::Receiver<u64> {
        self.updates.subscribe()
    }
}

/// The Workload API's socket at `path`: a stale one is replaced; any local
/// process may connect (attestation decides what it gets).
fn bind_workload_socket(path: &Path) -> Result<tokio::net::UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing the stale {}", path.display())),
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("binding the Workload API to {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .with_context(|| format!("opening {} to local workloads", path.display()))?;
    Ok(l)
}

/// Appends denials to the audit log: who is the caller, the detail names
/// both identities.
fn audit_loop(store: &Store, rx: &Receiver<Denial>) {
    while let Ok(d) = rx.recv() {
        let caller = d.caller.as_ref().map_or_else(|| "anonymous".to_owned(), ToString::to_string);
        let rec = NewAudit {
            who: caller.clone(),
            action: "zt.deny".to_owned(),
            target: format!("service {}:{}", d.service, d.port),
            before: None,
            after: None,
            detail: format!("{caller} refused by {} ({}) from {}", d.proxy, d.reason, d.peer),
        };
        let now_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_millis() as i64);
        if let Err(e) = store.audit(&rec, now_ms) {
            crate::log_warn!(Zt, "zero trust: auditing a denial: {e:#}");
        }
    }
}
