//! Peers the mesh brings and takes away: a member that is up (certificate
//! verified, topology allows) becomes a peer with a path per uplink ×
//! endpoint, probed at once; a member that is down is retired after the
//! grace period (at once when revoked). A site that comes back reuses its
//! slot, so indices never move under the data plane.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use weft_api::{Event, EventKind};
use weft_types::SiteId;

use super::Control;
use crate::agent::peers::{self, PeerSpec};
use crate::agent::shared::{MAX_PEERS, PeerTable};
use crate::store::SiteRecord;

/// What the mesh thread tells the control loop.
#[derive(Debug)]
pub(crate) enum MeshUpdate {
    /// A member to peer with (new, or its keys or endpoints changed).
    Up(PeerSpec),
    /// A member left: retire its peer after the grace period, or at once.
    Down {
        /// The site.
        site: SiteId,
        /// Why (`dead`, `left`, `revoked`, `expired`).
        reason: String,
        /// Retire without waiting for the grace period.
        now: bool,
    },
}

impl Control {
    /// Applies one update from the mesh.
    pub(crate) fn mesh_update(&mut self, now: Instant, update: MeshUpdate) {
        match update {
            MeshUpdate::Up(spec) => {
                self.retiring.retain(|(site, _, _)| *site != spec.name);
                self.upsert_peer(now, &spec);
            }
            MeshUpdate::Down { site, reason, now: at_once } => {
                let Some(i) = self.slot_of(&site) else { return };
                if !self.table.peers[i].dynamic || self.table.peers[i].gone.load(Ordering::Relaxed)
                {
                    return;
                }
                if at_once {
                    self.retiring.retain(|(s, _, _)| *s != site);
                    self.retire_peer(now, i, &reason);
                } else if !self.retiring.iter().any(|(s, _, _)| *s == site) {
                    eprintln!(
                        "weftd[{}]: member {site} is {reason}; its peer goes in {:?} unless it returns",
                        self.shared.site, self.mesh_grace
                    );
                    self.retiring.push((site, now + self.mesh_grace, reason));
                }
            }
        }
    }

    /// Retires the peers whose grace period is over and whose paths are all
    /// down too: gossip can call a member dead that its tunnels still show
    /// alive (a stalled gossip thread, a gossip port filtered), and traffic
    /// that flows is not cut on gossip's word alone. Such a member is looked
    /// at again every second.
    pub(crate) fn retire_due(&mut self, now: Instant) {
        let due: Vec<_> = self.retiring.iter().filter(|(_, at, _)| *at <= now).cloned().collect();
        if due.is_empty() {
            return;
        }
        self.retiring.retain(|(_, at, _)| *at > now);
        for (site, _, reason) in due {
            let Some(i) = self.slot_of(&site) else { continue };
            if self.any_path_alive(now, i) {
                self.retiring.push((site, now + std::time::Duration::from_secs(1), reason));
            } else {
                self.retire_peer(now, i, &reason);
            }
        }
    }

    fn any_path_alive(&self, now: Instant, i: usize) -> bool {
        self.table.peers[i].paths.iter().any(|&d| {
            let id = self.table.paths[d as usize].engine_id;
            self.engine.metrics(now, id).is_some_and(|m| m.state.is_alive())
        })
    }

    fn slot_of(&self, site: &SiteId) -> Option<usize> {
        self.table.peers.iter().position(|p| p.name == *site)
    }

    /// Adds `spec` as a peer, or replaces the peer of the same site when its
    /// keys, prefixes or endpoints changed. Configured peers are never
    /// replaced by the mesh.
    fn upsert_peer(&mut self, now: Instant, spec: &PeerSpec) {
        let existing = self.slot_of(&spec.name);
        if let Some(i) = existing {
            let p = &self.table.peers[i];
            if !p.dynamic {
                return;
            }
            let same = p.public_key == spec.public_key
                && p.prefixes == spec.prefixes
                && p.endpoints == spec.endpoints;
            if same && !p.gone.load(Ordering::Relaxed) {
                return;
            }
            self.drop_engine_paths(now, i);
        }
        if let Err(why) = self.claim_conflict(existing, spec) {
            eprintln!("weftd[{}]: not peering with {}: {why}", self.shared.site, spec.name);
            let mut ev = Event::new(
                EventKind::TopologyChanged,
                format!("site {} refused: {why}", spec.name),
            );
            ev.site = Some(spec.name.to_string());
            ev.reason = Some("claim_conflict".to_owned());
            self.emit(ev);
            return;
        }
        let index = existing.unwrap_or(self.table.peers.len());
        if index >= MAX_PEERS {
            eprintln!(
                "weftd[{}]: cannot peer with {}: {MAX_PEERS} peer slots in use",
                self.shared.site, spec.name
            );
            return;
        }
        let first_path = self.table.paths.len();
        let built = match peers::build(
            &mut self.engine,
            now,
            &self.shared.private_key,
            &self.uplinks,
            index,
            first_path,
            spec,
            false,
        ) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("weftd[{}]: cannot peer with {}: {e:#}", self.shared.site, spec.name);
                return;
            }
        };
        for prefix in &spec.prefixes {
            if let Some(rtnl) = self.rtnl.as_mut()
                && let Err(e) = rtnl.add_route(&self.interface, *prefix)
            {
                eprintln!("weftd[{}]: route {prefix} for {}: {e}", self.shared.site, spec.name);
            }
        }
        self.remember_site(spec, &built.paths);
        self.learn_site(spec);
        let mut peers = self.table.peers.clone();
        let mut paths = self.table.paths.clone();
        let n_paths = built.paths.len();
        paths.extend(built.paths.into_iter().map(Arc::new));
        if index == peers.len() {
            peers.push(Arc::new(built.peer));
            self.probes.push(built.probes);
            self.handshakes.push((0, None));
            self.peer_alive.push(None);
        } else {
            peers[index] = Arc::new(built.peer);
            self.probes[index] = built.probes;
            self.handshakes[index] = (0, None);
            self.peer_alive[index] = None;
        }
        self.seen.resize(paths.len(), (0, 0));
        let profiles = self.active.policy.profiles.len();
        self.seen_profile_tx.resize(peers.len(), vec![0; profiles]);
        self.seen_profile_tx[index] = vec![0; profiles];
        self.publish_table(PeerTable::new(peers, paths));
        let verb = if existing.is_some() { "is back" } else { "joined" };
        eprintln!(
            "weftd[{}]: peer {} {verb} ({} paths, prefixes {:?})",
            self.shared.site, spec.name, n_paths, spec.prefixes
        );
        let mut ev =
            Event::new(EventKind::SiteJoined, format!("site {} {verb} the mesh", spec.name));
        ev.site = Some(spec.name.to_string());
        self.emit(ev);
        self.emit(Event::new(EventKind::TopologyChanged, format!("site {} {verb}", spec.name)));
    }

    fn claim_conflict(&self, slot: Option<usize>, spec: &PeerSpec) -> Result<(), String> {
        let others = self.table.peers.iter().enumerate().filter_map(|(i, p)| {
            let live = Some(i) != slot && !p.gone.load(Ordering::Relaxed);
            live.then(|| peers::Claim { name: &p.name, key: &p.public_key, prefixes: &p.prefixes })
        });
        peers::claim_conflict(&self.shared.local_prefixes, others, spec)
    }

    /// Stops peering with slot `i`: no traffic, no probes, no paths.
    fn retire_peer(&mut self, now: Instant, i: usize, reason: &str) {
        let peer = self.table.peers[i].clone();
        if peer.gone.swap(true, Ordering::Relaxed) {
            return;
        }
        self.drop_engine_paths(now, i);
        let (peers, paths) = (self.table.peers.clone(), self.table.paths.clone());
        self.publish_table(PeerTable::new(peers, paths));
        eprintln!("weftd[{}]: peer {} removed ({reason})", self.shared.site, peer.name);
        let mut ev =
            Event::new(EventKind::SiteLeft, format!("site {} left the mesh ({reason})", peer.name));
        ev.site = Some(peer.name.to_string());
        ev.reason = Some(reason.to_owned());
        self.emit(ev);
        self.emit(Event::new(EventKind::TopologyChanged, format!("site {} left", peer.name)));
    }

    fn drop_engine_paths(&mut self, now: Instant, i: usize) {
        for &d in &self.table.peers[i].paths {
            self.engine.remove_path(now, self.table.paths[d as usize].engine_id);
        }
        self.tests.retain(|t| self.table.paths[t.path as usize].peer != i);
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
    fn remember_site(&self, spec: &PeerSpec, paths: &[crate::agent::shared::PathRt]) {
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
            eprintln!("weftd[{}]: storing site {}: {e:#}", self.shared.site, spec.name);
        }
    }
}
