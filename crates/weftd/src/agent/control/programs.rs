//! What the node decides, carried out: data-plane programs (peers and
//! paths, class paths, relays, the links the mesh advertises) and events
//! (logs, the event stream, metrics, the store, the policy directory).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use weft_api::{Event, EventKind};
use weft_node::{NewPath, NodeEvent, PeerSpec, Program};
use weft_types::IpPrefix;

use super::Control;
use crate::agent::peers::{path_rt, peer_rt};
use crate::agent::shared::{NO_PATH, PeerTable};
use crate::store::SiteRecord;

fn slot_or_none(v: Option<usize>) -> u32 {
    v.map_or(NO_PATH, |v| v as u32)
}

impl Control {
    /// Applies one program to the data plane.
    pub(super) fn apply(&mut self, program: Program) {
        match program {
            Program::PeerUp { slot, spec, paths } => self.peer_up(slot, &spec, &paths),
            Program::PeerGone { slot } => {
                if let Some(p) = self.table.peers.get(slot) {
                    p.gone.store(true, Ordering::Relaxed);
                    let (peers, paths) = (self.table.peers.clone(), self.table.paths.clone());
                    self.publish_table(PeerTable::new(peers, paths));
                }
            }
            Program::PeerRemoved { slot, removed } => {
                if let Some(p) = self.table.peers.get(slot) {
                    p.removed.store(removed, Ordering::Relaxed);
                }
            }
            Program::ClassPath { peer, profile, path } => {
                if let Some(slot) = self.active.primary.get(peer).and_then(|r| r.get(profile)) {
                    slot.store(path, Ordering::Relaxed);
                }
            }
            Program::RelayVia { peer, via } => {
                self.shared.relay_via[peer].store(slot_or_none(via), Ordering::Relaxed);
            }
            Program::RelayAccept { peer, ours, theirs } => {
                self.shared.relay_accept[peer].store(slot_or_none(ours), Ordering::Relaxed);
                self.shared.relay_accept_said[peer].store(slot_or_none(theirs), Ordering::Relaxed);
            }
            Program::LocalLinks(links) => match self.shared.links.local.write() {
                Ok(mut l) => *l = links,
                Err(p) => *p.into_inner() = links,
            },
        }
    }

    /// A peer in slot `slot`, new or replaced: its session and paths, its
    /// routes (mesh members), the store and the policy directory.
    fn peer_up(&mut self, slot: usize, spec: &PeerSpec, new_paths: &[NewPath]) {
        let mut peers = self.table.peers.clone();
        let mut paths = self.table.paths.clone();
        paths.extend(new_paths.iter().map(|p| Arc::new(path_rt(slot, p))));
        debug_assert_eq!(paths.len(), self.node.path_count(), "path tables in step");
        let psk =
            if spec.stock && spec.dynamic { self.shared.stock_psk(&spec.public_key) } else { None };
        // A client that roamed keeps its session: same slot, same key.
        let keep = peers
            .get(slot)
            .filter(|old| {
                old.stock
                    && old.dynamic
                    && old.public_key == spec.public_key
                    && !old.gone.load(Ordering::Relaxed)
            })
            .map(|old| old.session.clone());
        let withdrawn: Vec<IpPrefix> = peers
            .get(slot)
            .filter(|old| spec.dynamic && old.name == spec.name)
            .map(|old| {
                old.prefixes.iter().filter(|p| !spec.prefixes.contains(p)).copied().collect()
            })
            .unwrap_or_default();
        let rt = Arc::new(peer_rt(&self.shared.private_key, slot, spec, new_paths, psk, keep));
        if slot == peers.len() {
            peers.push(rt);
            self.handshakes.push((0, None));
            self.peer_alive.push(None);
        } else {
            peers[slot] = rt;
            self.handshakes[slot] = (0, None);
            self.peer_alive[slot] = None;
        }
        if spec.dynamic {
            // A prefix the site no longer has (a learnt on-prem prefix its
            // router withdrew) loses its route through the overlay.
            for prefix in &withdrawn {
                // Another site holds it now (a shared learnt prefix moved
                // to another edge): its route through the overlay stays.
                let held = self.table.peers.iter().enumerate().any(|(i, p)| {
                    i != slot && !p.gone.load(Ordering::Relaxed) && p.prefixes.contains(prefix)
                });
                if held {
                    continue;
                }
                if let Some(rtnl) = self.rtnl.as_mut()
                    && let Err(e) = rtnl.del_route(&self.interface, *prefix)
                {
                    crate::log_warn!(
                        Peer,
                        site = &self.shared.site,
                        "removing route {prefix} of {}: {e}",
                        spec.name
                    );
                }
            }
            for prefix in &spec.prefixes {
                if let Some(rtnl) = self.rtnl.as_mut()
                    && let Err(e) = rtnl.add_route(&self.interface, *prefix)
                {
                    crate::log_warn!(
                        Peer,
                        site = &self.shared.site,
                        "route {prefix} for {}: {e}",
                        spec.name
                    );
                }
            }
            self.remember_site(spec, new_paths);
            self.learn_site(spec);
        }
        self.publish_table(PeerTable::new(peers, paths));
    }

    /// A run-time stock peer (a connection profile's client) spoke from
    /// `src`: that is its endpoint now (its paths are rebuilt, its session
    /// kept). Configured and mesh peers are never moved this way.
    pub(super) fn roamed(&mut self, slot: usize, src: std::net::SocketAddr) {
        let Some(p) = self.table.peers.get(slot) else { return };
        if !(p.stock && p.dynamic) || p.gone.load(Ordering::Relaxed) || p.endpoints == [src] {
            return;
        }
        let spec = PeerSpec {
            name: p.name.clone(),
            public_key: p.public_key,
            prefixes: p.prefixes.clone(),
            endpoints: vec![src],
            stock: true,
            keepalive: p.keepalive.map(|s| std::time::Duration::from_secs(u64::from(s))),
            role: p.role.clone(),
            region: p.region.clone(),
            dynamic: true,
        };
        eprintln!("weftd[{}]: client {} is at {src}", self.shared.site, p.name);
        self.node.handle_mesh(std::time::Instant::now(), weft_node::MeshUpdate::Up(spec));
    }

    /// The mesh revoked `sites`: every connection profile's client among
    /// them goes at once, and its stored record (audited), so a restart
    /// does not bring it back. Sites it names are the mesh's business.
    pub(super) fn clients_revoked(&mut self, sites: &[weft_types::SiteId]) {
        let now = std::time::Instant::now();
        for site in sites {
            let client = self.table.peers.iter().any(|p| {
                p.name == *site && p.stock && p.dynamic && !p.gone.load(Ordering::Relaxed)
            });
            if client {
                let down = weft_node::MeshUpdate::Down {
                    site: site.clone(),
                    reason: "revoked".to_owned(),
                    now: true,
                };
                self.node.handle_mesh(now, down);
            }
            match self.store.delete_profile(site.as_str()) {
                Ok(Some(rec)) => {
                    eprintln!("weftd[{}]: client {site} revoked by the mesh", self.shared.site);
                    let audit = crate::store::NewAudit {
                        who: "mesh revocation list".to_owned(),
                        action: "profile.revoke".to_owned(),
                        target: format!("client {site}"),
                        before: Some(format!("{} sites {}", rec.address, rec.sites.join(","))),
                        after: None,
                        detail: rec.public_key,
                    };
                    if let Err(e) = self.store.audit(&audit, crate::api::unix_ms()) {
                        eprintln!(
                            "weftd[{}]: auditing the revocation of {site}: {e}",
                            self.shared.site
                        );
                    }
                }
                Ok(None) => {}
                Err(e) => eprintln!("weftd[{}]: forgetting client {site}: {e:#}", self.shared.site),
            }
        }
    }

    fn publish_table(&mut self, table: PeerTable) {
        let table = Arc::new(table);
        self.shared.publish_table(table.clone());
        self.table = table;
    }

    /// Lets policies name a site learnt from the mesh (its certified
    /// prefixes, role and region); a configured site of the same name wins.
    fn learn_site(&self, spec: &PeerSpec) {
        let info = weft_policy::SiteInfo {
            prefixes: spec.prefixes.clone(),
            role: spec.role.clone(),
            region: spec.region.clone(),
            uplinks: Vec::new(),
        };
        match self.directory.write() {
            Ok(mut d) => d.insert(spec.name.to_string(), info),
            Err(p) => p.into_inner().insert(spec.name.to_string(), info),
        }
    }

    /// Records a learnt site and its paths, so the API and the history know them.
    fn remember_site(&self, spec: &PeerSpec, paths: &[NewPath]) {
        let now = crate::api::unix_ms();
        let record = SiteRecord {
            id: spec.name.to_string(),
            role: spec.role.clone(),
            region: spec.region.clone(),
            public_key: spec.public_key.to_base64(),
            endpoints: spec.endpoints.iter().map(ToString::to_string).collect(),
            prefixes: spec.prefixes.iter().map(ToString::to_string).collect(),
            removed: false,
        };
        let mut result = self.store.upsert_site(&record, now);
        for p in paths {
            let (site, uplink, remote) =
                (spec.name.to_string(), &self.shared.uplink_names[p.uplink], p.remote.to_string());
            let key = crate::store::path_key(&site, uplink, &remote);
            result =
                result.and_then(|()| self.store.upsert_path(&key, &site, uplink, &remote, now));
        }
        if let Err(e) = result {
            crate::log_warn!(Peer, site = &self.shared.site, "storing site {}: {e:#}", spec.name);
        }
    }

    /// Logs, streams, counts or answers one event of the node's.
    pub(super) fn on_event(&mut self, event: NodeEvent) {
        let me = self.shared.site.clone();
        match event {
            NodeEvent::Path(e) => self.path_event(&e),
            NodeEvent::EchoRtt { path, rtt } => {
                if let Some(labels) = self.labels(path) {
                    self.metrics.observe_rtt(&labels, rtt);
                }
            }
            NodeEvent::Dropped { reason } => self.shared.drops.count(&reason),
            NodeEvent::PeerJoined { site, back, paths } => {
                let verb = if back { "is back" } else { "joined" };
                let prefixes = self.node.slot_of(&site).and_then(|s| self.node.peer(s));
                let prefixes = prefixes.map(|(s, _, _)| s.prefixes.clone()).unwrap_or_default();
                crate::log_info!(
                    Peer,
                    site = &me,
                    "peer {site} {verb} ({paths} paths, prefixes {prefixes:?})"
                );
                let mut ev =
                    Event::new(EventKind::SiteJoined, format!("site {site} {verb} the mesh"));
                ev.site = Some(site.to_string());
                self.emit(ev);
                self.emit(Event::new(EventKind::TopologyChanged, format!("site {site} {verb}")));
            }
            NodeEvent::PeerRefused { site, why } => {
                crate::log_warn!(Peer, site = &me, "not peering with {site}: {why}");
                let mut ev =
                    Event::new(EventKind::TopologyChanged, format!("site {site} refused: {why}"));
                ev.site = Some(site.to_string());
                ev.reason = Some("claim_conflict".to_owned());
                self.emit(ev);
            }
            NodeEvent::PeerLeft { site, reason } => {
                crate::log_info!(Peer, site = &me, "peer {site} removed ({reason})");
                let mut ev = Event::new(
                    EventKind::SiteLeft,
                    format!("site {site} left the mesh ({reason})"),
                );
                ev.site = Some(site.to_string());
                ev.reason = Some(reason);
                self.emit(ev);
                self.emit(Event::new(EventKind::TopologyChanged, format!("site {site} left")));
            }
            NodeEvent::PeerRemoved { site, removed } => {
                let (kind, verb) = if removed {
                    (EventKind::SiteLeft, "removed by an operator")
                } else {
                    (EventKind::SiteJoined, "restored by an operator")
                };
                let mut ev = Event::new(kind, format!("site {site} {verb}"));
                ev.site = Some(site.to_string());
                self.emit(ev);
                self.emit(Event::new(EventKind::TopologyChanged, format!("site {site} {verb}")));
            }
            NodeEvent::Relay { dst, via } => {
                let line = match &via {
                    Some(v) => {
                        format!("site {dst}: every direct path is down; relaying through {v}")
                    }
                    None => format!("site {dst}: back on its direct paths"),
                };
                crate::log_info!(Peer, site = &me, "{line}");
                let mut ev = Event::new(EventKind::TopologyChanged, line);
                ev.site = Some(dst.to_string());
                ev.reason = Some(via.map_or_else(|| "direct".to_owned(), |v| format!("relay {v}")));
                self.emit(ev);
            }
            NodeEvent::ClassRelay { dst, class, via } => {
                let line = match &via {
                    Some(v) => format!(
                        "class {class} to {dst}: no direct path meets its SLA; relaying through {v}"
                    ),
                    None => format!("class {class} to {dst}: back on its direct paths"),
                };
                crate::log_info!(Peer, site = &me, "{line}");
                let mut ev = Event::new(EventKind::Failover, line);
                ev.site = Some(dst.to_string());
                ev.class = Some(class);
                ev.reason = Some(via.map_or_else(|| "direct".to_owned(), |v| format!("relay {v}")));
                self.emit(ev);
            }
            NodeEvent::TestDone(report) => {
                if let Some(reply) = self.test_replies.remove(&report.id) {
                    let _ = reply.send(crate::agent::ondemand::test_result(report));
                }
            }
            NodeEvent::TestAborted { id } => {
                self.test_replies.remove(&id); // dropped: the API answers that it failed
            }
            NodeEvent::Note(line) => crate::log_info!(Peer, site = &me, "{line}"),
        }
    }
}
