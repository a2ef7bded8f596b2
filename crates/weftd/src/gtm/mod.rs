//! Global traffic management in the agent: the GTM document this site
//! received from the control plane, endpoint health checks, and (on sites
//! with `[dns]`) the authoritative DNS server that answers for the global
//! services. The decisions are `weft-gtm`'s; this is their I/O edge.
//!
//! - [`health`]: TCP and HTTP checks of every endpoint, with samples for
//!   canary gates.
//! - [`view`]: the snapshot answers come from (health, region RTTs, load).
//! - [`server`]: the hickory-server request handler, UDP and TCP.
//!
//! Health checks and the DNS snapshots run on a single-threaded runtime of
//! their own (`weft-gtm`), started on sites that answer DNS or may lead the
//! control plane; each DNS worker is a thread with its own runtime
//! (`weft-dns-N`).

pub(crate) mod health;
pub(crate) mod server;
pub(crate) mod view;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use weft_gtm::GtmDoc;

use crate::config::DnsConfig;

/// (service, endpoint id or "" for none, region).
type CounterKey = (String, String, String);

/// GTM state shared by the follower (which installs documents), the
/// checker, the DNS server, the leader and the API.
#[derive(Debug, Default)]
pub(crate) struct GtmState {
    doc: RwLock<Arc<GtmDoc>>,
    seq: AtomicU64,
    generation: AtomicU64,
    /// Endpoint health.
    pub(crate) health: health::HealthBoard,
    view: RwLock<Option<Arc<view::View>>>,
    /// Answers by (service, endpoint, region): they outlive snapshots.
    counters: Mutex<BTreeMap<CounterKey, Arc<AtomicU64>>>,
    /// Per (service, endpoint index): (answers at the last roll, answers/s).
    load: Mutex<BTreeMap<(String, usize), (u64, u32)>>,
    /// Queries refused, malformed, for names outside the zone, ... by kind.
    pub(crate) outcomes: Outcomes,
    /// The zone this site answers (none: not a DNS site).
    pub(crate) zone: std::sync::OnceLock<String>,
}

/// Query outcomes other than answers, for the metrics.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    pub(crate) nxdomain: AtomicU64,
    pub(crate) nodata: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) formerr: AtomicU64,
    pub(crate) notimp: AtomicU64,
    pub(crate) servfail: AtomicU64,
}

impl GtmState {
    /// The document in force here.
    pub(crate) fn doc(&self) -> Arc<GtmDoc> {
        self.doc.read().map_or_else(|p| p.into_inner().clone(), |d| d.clone())
    }

    /// Installs a document published at sequence `seq` (the follower).
    pub(crate) fn set_doc(&self, doc: GtmDoc, seq: u64) {
        match self.doc.write() {
            Ok(mut d) => *d = Arc::new(doc),
            Err(p) => *p.into_inner() = Arc::new(doc),
        }
        self.seq.store(seq, Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The sequence of the document in force (0: none).
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Bumped on every installed document.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How this site judges each endpoint of `svc` (its DNS snapshot's
    /// health, from the local region's candidates); none when this site
    /// builds no snapshot (not a DNS site).
    pub(crate) fn judged(&self, svc: &weft_gtm::GlobalService) -> Option<Vec<Result<(), String>>> {
        let view = self.view()?;
        let sv = view.services.get(&svc.name)?;
        let local = sv.cands.last()?;
        Some(local.iter().map(|c| c.health.clone()).collect())
    }

    /// The anycast prefixes `site` should announce now (see
    /// `weft_gtm::announcements`): health as this site judges it when it
    /// answers DNS, else every endpoint counts as healthy and drains,
    /// shifts and the serving version decide.
    pub(crate) fn anycast_for(
        &self,
        site: &str,
    ) -> std::collections::BTreeSet<weft_types::IpPrefix> {
        let doc = self.doc();
        let mut out = std::collections::BTreeSet::new();
        for svc in doc.services.values().filter(|s| s.anycast.is_some()) {
            let eff = weft_gtm::effect(&doc, svc);
            let judged = self.judged(svc);
            let healthy: Vec<bool> = (0..svc.endpoints.len())
                .map(|i| judged.as_ref().is_none_or(|j| j.get(i).is_some_and(Result::is_ok)))
                .collect();
            out.extend(
                weft_gtm::announcements(svc, &eff, &healthy)
                    .into_iter()
                    .filter(|a| a.site == site && a.announce)
                    .map(|a| a.prefix),
            );
        }
        out
    }

    /// The latest answer snapshot (none: not a DNS site, or not built yet).
    pub(crate) fn view(&self) -> Option<Arc<view::View>> {
        self.view.read().map_or_else(|p| p.into_inner().clone(), |v| v.clone())
    }

    fn set_view(&self, v: view::View) {
        match self.view.write() {
            Ok(mut x) => *x = Some(Arc::new(v)),
            Err(p) => *p.into_inner() = Some(Arc::new(v)),
        }
    }

    fn counter(&self, service: &str, endpoint: &str, region: &str) -> Arc<AtomicU64> {
        let mut m = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry((service.to_owned(), endpoint.to_owned(), region.to_owned())).or_default().clone()
    }

    /// Every answer counter: ((service, endpoint or "", region), count).
    pub(crate) fn answers(&self) -> Vec<(CounterKey, u64)> {
        let m = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.iter().map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed))).collect()
    }

    /// Answers per second of endpoint `i` of `service` over the last roll.
    fn load(&self, service: &str, i: usize) -> u32 {
        let m = self.load.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        m.get(&(service.to_owned(), i)).map_or(0, |(_, qps)| *qps)
    }

    /// Turns the answer counters into answers per second over `elapsed`.
    fn roll_load(&self, elapsed: Duration) {
        let Some(view) = self.view() else { return };
        let mut m = self.load.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, sv) in &view.services {
            for i in 0..sv.svc.endpoints.len() {
                let total: u64 = sv.counters.iter().map(|r| r[i].load(Ordering::Relaxed)).sum();
                let e = m.entry((name.clone(), i)).or_insert((total, 0));
                let qps = (total.saturating_sub(e.0)) as f64 / elapsed.as_secs_f64().max(0.001);
                *e = (total, qps as u32);
            }
        }
    }
}

/// What the GTM runtime needs from the agent.
pub(crate) struct Start {
    pub(crate) state: Arc<GtmState>,
    pub(crate) dns: Option<DnsConfig>,
    pub(crate) site_address: std::net::IpAddr,
    pub(crate) status: Arc<crate::agent::status::SharedStatus>,
    pub(crate) links: Arc<crate::agent::shared::LinkBoard>,
    pub(crate) plane: Arc<crate::controlplane::PlaneState>,
}

/// Starts the GTM runtime: health checks always; the DNS server and its
/// snapshots when `[dns]` is configured. Binding errors stop the start.
pub(crate) fn start(s: Start) -> Result<()> {
    if let Some(d) = &s.dns {
        let _ = s.state.zone.set(d.zone.clone());
    }
    if let Some(cfg) = &s.dns {
        let workers = cfg.workers as usize;
        let sockets = server::bind(cfg, workers)?;
        server::spawn(&s.state, cfg, s.site_address, sockets)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the GTM runtime")?;
    std::thread::Builder::new().name("weft-gtm".into()).spawn(move || {
        rt.block_on(async move {
            if let Some(cfg) = s.dns {
                tokio::spawn(view::refresh(s.state.clone(), cfg, s.status, s.links, s.plane));
            }
            health::run(s.state).await;
        });
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use weft_gtm::{Endpoint, GlobalService, GtmDoc};
    use weft_types::IpPrefix;

    use super::GtmState;

    fn doc(weight_a: u32) -> GtmDoc {
        let ep = |id: &str, weight| Endpoint {
            id: id.into(),
            site: id.into(),
            region: "r".into(),
            address: "10.0.0.1".parse().unwrap(),
            port: 80,
            weight,
            capacity_qps: 0,
            version: "v1".into(),
        };
        let mut d = GtmDoc::default();
        d.set_service(GlobalService {
            name: "app".into(),
            endpoints: vec![ep("a", weight_a), ep("b", 100)],
            ttl: None,
            serving: None,
            check: None,
            anycast: Some(IpPrefix::parse("192.0.2.0/24").unwrap()),
        })
        .unwrap();
        d
    }

    #[test]
    fn a_site_announces_the_anycast_prefix_of_the_services_it_serves_and_not_when_drained() {
        let s = GtmState::default();
        assert!(s.anycast_for("a").is_empty(), "no document");
        s.set_doc(doc(100), 1);
        let p = IpPrefix::parse("192.0.2.0/24").unwrap();
        assert_eq!(s.anycast_for("a"), [p].into());
        assert_eq!(s.anycast_for("b"), [p].into());
        assert!(s.anycast_for("c").is_empty(), "no endpoint there");
        s.set_doc(doc(0), 2);
        assert!(s.anycast_for("a").is_empty(), "weight 0: no traffic here, withdrawn");
        assert_eq!(s.anycast_for("b"), [p].into());
    }
}
