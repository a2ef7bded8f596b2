//! What a DNS site answers from: a snapshot of the GTM document with every
//! endpoint's health and its RTT from every region, rebuilt a few times a
//! second by [`refresh`] so a query does no more than a table lookup and
//! the decision.
//!
//! - **Health** = the endpoint's site is reachable over the mesh (this
//!   site, or a peer with a live or relayed path), is not drained in the
//!   registry, and the service's own check (if any) passes.
//! - **RTT from a region** = the lowest measured RTT from any of the
//!   region's sites (`[[dns.region]] sites`, or this site) to the
//!   endpoint's site, from the link-state advertisements every site floods
//!   (each site's best live path to each neighbour); 0 inside one site.
//! - **Load** = answers per second naming the endpoint over the last
//!   refresh, for the capacity spill-over.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use weft_gtm::{Candidate, Effect, GlobalService, GtmDoc, RegionTable, effect};
use weft_types::IpPrefix;

use super::GtmState;
use weft_api::SiteState;

use crate::agent::status::{Status, site_states};
use crate::config::DnsConfig;

/// One global service as answers see it.
#[derive(Debug)]
pub(crate) struct ServiceView {
    pub(crate) svc: GlobalService,
    pub(crate) effect: Effect,
    /// Per region (the table's order, default last), per endpoint.
    pub(crate) cands: Vec<Vec<Candidate>>,
    /// Answers naming each endpoint, per region: `[region][endpoint]`; the
    /// last column counts answers with no endpoint (nothing healthy).
    pub(crate) counters: Vec<Vec<Arc<AtomicU64>>>,
    pub(crate) ttl: u32,
}

/// The snapshot.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) table: RegionTable,
    /// Region names in `cands` order.
    pub(crate) regions: Vec<String>,
    pub(crate) services: BTreeMap<String, ServiceView>,
}

impl View {
    /// The index of `region` in [`Self::regions`].
    pub(crate) fn region_index(&self, region: &str) -> usize {
        self.regions.iter().position(|r| r == region).unwrap_or(self.regions.len() - 1)
    }
}

/// The best live RTT `from` → `to` in the advertisements (either direction).
fn link_rtt(views: &[weft_node::relay::LinkView], from: &str, to: &str) -> Option<Duration> {
    if from == to {
        return Some(Duration::ZERO);
    }
    let one_way = |a: &str, b: &str| {
        views
            .iter()
            .filter(|v| v.origin.as_str() == a)
            .flat_map(|v| v.links.iter())
            .filter(|l| l.up && l.neighbor.as_str() == b)
            .filter_map(|l| l.rtt)
            .min()
    };
    match (one_way(from, to), one_way(to, from)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Sites this site can reach, and why the others are not.
fn reachability(status: &Status) -> BTreeMap<String, Result<(), String>> {
    let mut out = BTreeMap::new();
    out.insert(status.site.clone(), Ok(()));
    for (peer, state) in status.peers.iter().zip(site_states(status)) {
        let r = match state {
            SiteState::Up | SiteState::Degraded => Ok(()),
            SiteState::Removed => Err("site removed by an operator".to_owned()),
            _ => Err("site unreachable over the mesh".to_owned()),
        };
        out.insert(peer.name.clone(), r);
    }
    out
}

/// Builds a snapshot.
pub(crate) fn build(
    state: &GtmState,
    cfg: &DnsConfig,
    status: &Status,
    links: &[weft_node::relay::LinkView],
    drained: &[String],
) -> View {
    let doc: Arc<GtmDoc> = state.doc();
    let table = RegionTable::new(
        cfg.regions.iter().flat_map(|r| r.prefixes.iter().map(move |p| (*p, r.name.clone()))),
        &cfg.default_region,
    );
    let mut regions: Vec<String> = cfg.regions.iter().map(|r| r.name.clone()).collect();
    regions.retain(|r| *r != cfg.default_region);
    regions.push(cfg.default_region.clone());
    let region_names = regions.clone();
    let region_sites: Vec<Vec<String>> = regions
        .iter()
        .map(|name| {
            let sites: Vec<String> = cfg
                .regions
                .iter()
                .filter(|r| r.name == *name)
                .flat_map(|r| r.sites.iter().map(ToString::to_string))
                .collect();
            if sites.is_empty() { vec![status.site.clone()] } else { sites }
        })
        .collect();
    let reach = reachability(status);
    let mut services = BTreeMap::new();
    for svc in doc.services.values() {
        let eff = effect(&doc, svc);
        let health: Vec<Result<(), String>> = svc
            .endpoints
            .iter()
            .map(|e| {
                if drained.contains(&e.site) {
                    return Err("site drained in the registry".to_owned());
                }
                match reach.get(&e.site) {
                    None => return Err("site not in the mesh".to_owned()),
                    Some(Err(why)) => return Err(why.clone()),
                    Some(Ok(())) => {}
                }
                state.health.verdict(&(svc.name.clone(), e.id.clone())).unwrap_or(Ok(()))
            })
            .collect();
        let loads: Vec<u32> = (0..svc.endpoints.len()).map(|i| state.load(&svc.name, i)).collect();
        let cands = region_sites
            .iter()
            .zip(&region_names)
            .map(|(sites, region)| {
                svc.endpoints
                    .iter()
                    .enumerate()
                    .map(|(i, e)| Candidate {
                        same_region: e.region == *region,
                        id: e.id.clone(),
                        version: e.version.clone(),
                        health: health[i].clone(),
                        rtt: sites.iter().filter_map(|s| link_rtt(links, s, &e.site)).min(),
                        load_qps: loads[i],
                        capacity_qps: e.capacity_qps,
                    })
                    .collect()
            })
            .collect();
        let counters = regions
            .iter()
            .map(|r| {
                svc.endpoints
                    .iter()
                    .map(|e| state.counter(&svc.name, &e.id, r))
                    .chain(std::iter::once(state.counter(&svc.name, "", r)))
                    .collect()
            })
            .collect();
        let ttl = svc.ttl.unwrap_or(u32::try_from(cfg.ttl.as_secs()).unwrap_or(30));
        services.insert(
            svc.name.clone(),
            ServiceView { svc: svc.clone(), effect: eff, cands, counters, ttl },
        );
    }
    View { table, regions, services }
}

/// The region of a client and the ECS scope of the decision.
pub(crate) fn client_region(
    view: &View,
    client: IpAddr,
    ecs: Option<(IpAddr, u8)>,
) -> (usize, Option<u8>) {
    let (addr, ecs_len) = match ecs {
        Some((a, len)) => (a, Some(len)),
        None => (client, None),
    };
    let m = view.table.lookup(addr);
    let scope = ecs_len.map(|_| view.table.scope(&m, addr));
    (view.region_index(&m.region), scope)
}

/// Parses `PREFIX` (or an address) for explain.
pub(crate) fn parse_from(s: &str) -> Result<(IpAddr, u8), String> {
    let p = IpPrefix::parse(s).map_err(|e| e.to_string())?;
    Ok((p.addr(), p.prefix_len()))
}

/// Rebuilds the snapshot every 250 ms, and the load figures every second.
pub(crate) async fn refresh(
    state: Arc<GtmState>,
    cfg: DnsConfig,
    status: Arc<crate::agent::status::SharedStatus>,
    links: Arc<crate::agent::shared::LinkBoard>,
    plane: Arc<crate::controlplane::PlaneState>,
) {
    let mut last_load = Instant::now();
    loop {
        if last_load.elapsed() >= Duration::from_secs(1) {
            state.roll_load(last_load.elapsed());
            last_load = Instant::now();
        }
        let drained = plane.relay_limits.read().map(|l| l.drained.clone()).unwrap_or_default();
        let view = build(&state, &cfg, &status.get(), &links.views(), &drained);
        state.set_view(view);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
