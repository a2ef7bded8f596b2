//! Peers the configuration and the mesh bring and take away: a member that
//! is up (certificate verified, topology allows) becomes a peer with a path
//! per uplink × endpoint of the same family, probed at once; a member that is
//! down is retired after the grace period (at once when revoked). A site that
//! comes back reuses its slot, so indices never move under the data plane.

use std::time::{Duration, Instant};

use weft_path::{LivenessSource, PathAttrs, PathSpec};
use weft_probe::{PeerProbeState, ProbeKey};
use weft_types::{IpPrefix, PeerId, PublicKey, SiteId, UplinkId};

use super::{MeshUpdate, NewPath, Node, NodeEvent, PathSlot, PeerSlot, PeerSpec, Program};

impl Node {
    /// Applies one update from the mesh (or adds a configured peer).
    pub fn handle_mesh(&mut self, now: Instant, update: MeshUpdate) {
        self.engine_changed();
        match update {
            MeshUpdate::Up(spec) => {
                self.retiring.retain(|(site, _, _)| *site != spec.name);
                self.upsert_peer(now, spec);
            }
            MeshUpdate::Down { site, reason, now: at_once } => {
                let Some(i) = self.slot_of(&site) else { return };
                if !self.peers[i].spec.dynamic || self.peers[i].gone {
                    return;
                }
                if at_once {
                    self.retiring.retain(|(s, _, _)| *s != site);
                    self.retire_peer(now, i, &reason);
                } else if !self.retiring.iter().any(|(s, _, _)| *s == site) {
                    self.events.push_back(NodeEvent::Note(format!(
                        "member {site} is {reason}; its peer goes in {:?} unless it returns",
                        self.cfg.mesh_grace
                    )));
                    self.retiring.push((site, now + self.cfg.mesh_grace, reason));
                }
            }
        }
    }

    /// Retires the peers whose grace period is over and whose paths are all
    /// down too: gossip can call a member dead that its tunnels still show
    /// alive (a stalled gossip thread, a gossip port filtered), and traffic
    /// that flows is not cut on gossip's word alone. Such a member is looked
    /// at again every second.
    pub(super) fn retire_due(&mut self, now: Instant) {
        if !self.retiring.iter().any(|(_, at, _)| *at <= now) {
            return;
        }
        let due: Vec<_> = self.retiring.iter().filter(|(_, at, _)| *at <= now).cloned().collect();
        self.retiring.retain(|(_, at, _)| *at > now);
        for (site, _, reason) in due {
            let Some(i) = self.slot_of(&site) else { continue };
            if self.any_path_alive(now, i) {
                self.retiring.push((site, now + Duration::from_secs(1), reason));
            } else {
                self.retire_peer(now, i, &reason);
            }
        }
    }

    /// Whether any path of peer `i` is alive.
    pub(crate) fn any_path_alive(&self, now: Instant, i: usize) -> bool {
        self.peers[i].paths.iter().any(|&d| {
            let id = self.paths[d as usize].engine_id;
            self.engine.metrics(now, id).is_some_and(|m| m.state.is_alive())
        })
    }

    /// Adds `spec` as a peer, or replaces the peer of the same site when its
    /// keys, prefixes or endpoints changed. Configured peers are never
    /// replaced by the mesh.
    fn upsert_peer(&mut self, now: Instant, spec: PeerSpec) {
        let existing = self.slot_of(&spec.name);
        if let Some(i) = existing {
            let p = &self.peers[i];
            if !p.spec.dynamic {
                return;
            }
            let same = p.spec.public_key == spec.public_key
                && p.spec.prefixes == spec.prefixes
                && p.spec.endpoints == spec.endpoints;
            if same && !p.gone {
                return;
            }
            self.drop_engine_paths(now, i);
        }
        let others = self.peers.iter().enumerate().filter_map(|(i, p)| {
            let live = Some(i) != existing && !p.gone;
            live.then_some(Claim {
                name: &p.spec.name,
                key: &p.spec.public_key,
                prefixes: &p.spec.prefixes,
            })
        });
        // Configured peers are the operator's word; mesh members must not
        // claim what another site holds.
        let checked = if spec.dynamic {
            claim_conflict(&self.cfg.local_prefixes, others, &spec)
        } else {
            Ok(())
        };
        if let Err(why) = checked {
            self.events.push_back(NodeEvent::PeerRefused { site: spec.name, why });
            return;
        }
        let index = existing.unwrap_or(self.peers.len());
        if index >= self.cfg.max_peers {
            self.events.push_back(NodeEvent::Note(format!(
                "cannot peer with {}: {} peer slots in use",
                spec.name, self.cfg.max_peers
            )));
            return;
        }
        let probes = if spec.stock {
            None
        } else {
            match ProbeKey::derive(&self.cfg.private_key, &spec.public_key) {
                Ok(key) => Some(PeerProbeState::new(key, self.unix_us(now))),
                Err(e) => {
                    self.events
                        .push_back(NodeEvent::Note(format!("cannot peer with {}: {e}", spec.name)));
                    return;
                }
            }
        };
        let new_paths = self.add_engine_paths(now, index, &spec);
        let dense: Vec<u32> = new_paths.iter().map(|p| p.dense).collect();
        let slot =
            PeerSlot { spec: spec.clone(), paths: dense, probes, removed: false, gone: false };
        let n_paths = new_paths.len();
        if index == self.peers.len() {
            self.slots.insert(spec.name.clone(), index);
            self.peers.push(slot);
            self.relay_via.push(None);
            self.relay_accept.push((None, None));
        } else {
            self.peers[index] = slot;
        }
        self.seen.resize(self.paths.len(), (0, 0));
        let profiles = self.profiles.len();
        self.seen_class_tx.resize(self.peers.len(), vec![0; profiles]);
        self.seen_class_tx[index] = vec![0; profiles];
        self.rebuild_addr_index();
        self.republish = true;
        let site = spec.name.clone();
        self.programs.push_back(Program::PeerUp { slot: index, spec, paths: new_paths });
        if self.peers[index].spec.dynamic {
            self.events.push_back(NodeEvent::PeerJoined {
                site,
                back: existing.is_some(),
                paths: n_paths,
            });
        }
    }

    /// One engine path per (uplink, endpoint) pair of the same family, in
    /// uplink priority order.
    fn add_engine_paths(&mut self, now: Instant, index: usize, spec: &PeerSpec) -> Vec<NewPath> {
        let mut order: Vec<usize> = (0..self.cfg.uplinks.len()).collect();
        order.sort_by_key(|u| self.cfg.uplinks[*u].priority);
        let mut out = Vec::new();
        for u in order {
            let up = self.cfg.uplinks[u].clone();
            for remote in spec.endpoints.iter().filter(|e| e.is_ipv4() == up.ipv4) {
                let liveness = if spec.stock {
                    LivenessSource::Traffic {
                        expected_interval: spec.keepalive.unwrap_or(Duration::from_secs(1)),
                    }
                } else {
                    LivenessSource::Probes
                };
                let attrs = PathAttrs {
                    cost_per_gb: up.cost_per_gb,
                    capacity: up.capacity,
                    priority: up.priority,
                    metered: up.metered,
                };
                let peer = PeerId(index as u32);
                let uplink = UplinkId(u as u16);
                let path = PathSpec { peer, uplink, remote: *remote, attrs, liveness };
                let engine_id = self.engine.add_path(now, path);
                let dense = self.paths.len() as u32;
                self.paths.push(PathSlot { peer: index, uplink: u, remote: *remote, engine_id });
                out.push(NewPath { dense, uplink: u, remote: *remote, engine_id });
            }
        }
        out
    }

    /// Stops peering with slot `i`: no traffic, no probes, no paths.
    fn retire_peer(&mut self, now: Instant, i: usize, reason: &str) {
        if self.peers[i].gone {
            return;
        }
        self.peers[i].gone = true;
        self.republish = true;
        self.drop_engine_paths(now, i);
        self.rebuild_addr_index();
        let site = self.peers[i].spec.name.clone();
        self.programs.push_back(Program::PeerGone { slot: i });
        self.events.push_back(NodeEvent::PeerLeft { site, reason: reason.to_owned() });
    }

    fn drop_engine_paths(&mut self, now: Instant, i: usize) {
        for &d in &self.peers[i].paths {
            self.engine.remove_path(now, self.paths[d as usize].engine_id);
        }
        let paths = &self.paths;
        let (gone, kept) = std::mem::take(&mut self.tests)
            .into_iter()
            .partition::<Vec<_>, _>(|t| paths[t.path as usize].peer == i);
        self.tests = kept;
        for t in gone {
            self.events.push_back(NodeEvent::TestAborted { id: t.id() });
        }
    }

    /// (uplink, remote) → dense path, over the peers that have not left.
    fn rebuild_addr_index(&mut self) {
        self.path_by_addr.clear();
        for p in self.peers.iter().filter(|p| !p.gone) {
            for &d in &p.paths {
                let path = &self.paths[d as usize];
                self.path_by_addr.insert((path.uplink, path.remote), d);
            }
        }
    }
}

/// What a live peer holds, for [`claim_conflict`].
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// Its site.
    pub name: &'a SiteId,
    /// Its WireGuard key.
    pub key: &'a PublicKey,
    /// Its prefixes.
    pub prefixes: &'a [IpPrefix],
}

/// Why `spec` may not be peered: a prefix overlapping this site's own
/// (`local`) or another live site's, or another live site's WireGuard key.
/// Certificates are checked, but a token that allows any prefix lets a site
/// claim one that is taken, and longest-prefix match would hand it that
/// traffic.
pub fn claim_conflict<'a>(
    local: &[IpPrefix],
    others: impl IntoIterator<Item = Claim<'a>>,
    spec: &PeerSpec,
) -> Result<(), String> {
    for p in &spec.prefixes {
        if let Some(own) = local.iter().find(|l| l.overlaps(p)) {
            return Err(format!("its prefix {p} overlaps this site's {own}"));
        }
    }
    for other in others {
        if *other.key == spec.public_key {
            return Err(format!("its WireGuard key is {}'s", other.name));
        }
        for p in &spec.prefixes {
            if let Some(taken) = other.prefixes.iter().find(|o| o.overlaps(p)) {
                return Err(format!("its prefix {p} overlaps {}'s {taken}", other.name));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, key: u8, prefixes: &[&str]) -> PeerSpec {
        PeerSpec {
            name: SiteId::new(name).unwrap(),
            public_key: PublicKey([key; 32]),
            prefixes: prefixes.iter().map(|p| IpPrefix::parse(p).unwrap()).collect(),
            endpoints: Vec::new(),
            stock: false,
            keepalive: None,
            role: None,
            region: None,
            dynamic: true,
        }
    }

    #[test]
    fn a_claim_on_taken_prefixes_or_a_taken_key_is_refused() {
        let local = [IpPrefix::parse("10.77.1.0/24").unwrap()];
        let b = spec("b", 2, &["10.77.2.0/24"]);
        let others = || [Claim { name: &b.name, key: &b.public_key, prefixes: &b.prefixes }];
        assert!(claim_conflict(&local, others(), &spec("c", 3, &["10.77.3.0/24"])).is_ok());
        let e = claim_conflict(&local, others(), &spec("c", 3, &["10.77.1.7/32"])).unwrap_err();
        assert!(e.contains("overlaps this site's 10.77.1.0/24"), "{e}");
        let e = claim_conflict(&local, others(), &spec("c", 3, &["10.77.0.0/16"])).unwrap_err();
        assert!(e.contains("overlaps this site's"), "{e}");
        let e = claim_conflict(&local, others(), &spec("c", 3, &["10.77.2.128/25"])).unwrap_err();
        assert!(e.contains("overlaps b's 10.77.2.0/24"), "{e}");
        let e = claim_conflict(&local, others(), &spec("c", 2, &["10.77.3.0/24"])).unwrap_err();
        assert!(e.contains("WireGuard key is b's"), "{e}");
    }
}
