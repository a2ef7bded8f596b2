//! A site's data plane as the simulator models it: the tables the node
//! programs ([`Program`]), nothing else. Traffic in the simulator is sent
//! by these tables, exactly as the agent's send thread reads its own, so a
//! program the node forgets to emit shows up as lost traffic.

use std::net::SocketAddr;

use crate::node::{NO_PATH, Program};

/// One peer slot.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    /// Site index in the simulation.
    pub site: usize,
    /// Dense indices of its paths.
    pub paths: Vec<u32>,
    /// It left the mesh.
    pub gone: bool,
    /// An operator removed it.
    pub removed: bool,
}

/// The programmed tables.
#[derive(Debug, Clone, Default)]
pub struct SimDataPlane {
    /// Peer slots.
    pub peers: Vec<PeerEntry>,
    /// Dense paths: (peer slot, uplink, remote).
    pub paths: Vec<(usize, usize, SocketAddr)>,
    /// `[peer][profile]` → dense path or [`NO_PATH`].
    pub class_paths: Vec<Vec<u32>>,
    /// Per peer: the relay of all its traffic.
    pub relay_via: Vec<Option<usize>>,
    /// Per peer: the relays its traffic is accepted from (ours, theirs).
    pub relay_accept: Vec<(Option<usize>, Option<usize>)>,
    /// Per dense path: (rx packets, tx bytes) — fed back to the node.
    pub counters: Vec<(u64, u64)>,
    /// `[peer][profile]`: packets sent — fed back to the node.
    pub class_tx: Vec<Vec<u64>>,
}

impl SimDataPlane {
    /// Applies one program; `site_of` maps a peer's site name to its index.
    pub fn apply(&mut self, p: Program, site_of: impl Fn(&weft_types::SiteId) -> usize) {
        match p {
            Program::PeerUp { slot, spec, paths } => {
                let entry = PeerEntry {
                    site: site_of(&spec.name),
                    paths: paths.iter().map(|p| p.dense).collect(),
                    gone: false,
                    removed: false,
                };
                for p in &paths {
                    debug_assert_eq!(p.dense as usize, self.paths.len());
                    self.paths.push((slot, p.uplink, p.remote));
                    self.counters.push((0, 0));
                }
                if slot == self.peers.len() {
                    self.peers.push(entry);
                    self.class_paths.push(Vec::new());
                    self.relay_via.push(None);
                    self.relay_accept.push((None, None));
                    self.class_tx.push(Vec::new());
                } else {
                    self.peers[slot] = entry;
                }
            }
            Program::PeerGone { slot } => self.peers[slot].gone = true,
            Program::PeerRemoved { slot, removed } => self.peers[slot].removed = removed,
            Program::ClassPath { peer, profile, path } => {
                let row = &mut self.class_paths[peer];
                if row.len() <= profile {
                    row.resize(profile + 1, NO_PATH);
                }
                row[profile] = path;
            }
            Program::RelayVia { peer, via } => self.relay_via[peer] = via,
            Program::RelayAccept { peer, ours, theirs } => {
                self.relay_accept[peer] = (ours, theirs);
            }
            Program::LocalLinks(_) => {}
        }
    }

    /// The slot of site index `site`, if it is a live peer.
    pub fn slot_of(&self, site: usize) -> Option<usize> {
        self.peers.iter().position(|p| p.site == site && !p.gone && !p.removed)
    }

    /// The path for `profile` towards `peer`, as the agent's data plane picks
    /// it: the class's own, else another class's, else the peer's first path.
    pub fn path_for(&self, peer: usize, profile: usize) -> Option<u32> {
        let row = &self.class_paths[peer];
        if let Some(&p) = row.get(profile).filter(|p| **p != NO_PATH) {
            return Some(p);
        }
        row.iter()
            .copied()
            .find(|p| *p != NO_PATH)
            .or_else(|| self.peers[peer].paths.first().copied())
    }

    /// A path of `peer`'s own for `profile` (what a relay forwards on).
    pub fn direct_path(&self, peer: usize, profile: usize) -> Option<u32> {
        let own = |d: &u32| self.paths.get(*d as usize).is_some_and(|p| p.0 == peer);
        self.path_for(peer, profile).filter(own).or_else(|| self.peers[peer].paths.first().copied())
    }

    /// Whether traffic from `peer` relayed by `relay` is accepted.
    pub fn accepts_via(&self, peer: usize, relay: usize) -> bool {
        let (ours, theirs) = self.relay_accept[peer];
        ours == Some(relay) || theirs == Some(relay)
    }

    /// The dense path of (`uplink`, `remote`) among live peers' paths.
    pub fn path_by_addr(&self, uplink: usize, remote: SocketAddr) -> Option<u32> {
        self.peers.iter().filter(|p| !p.gone).flat_map(|p| p.paths.iter().copied()).find(|&d| {
            let (_, u, r) = self.paths[d as usize];
            u == uplink && r == remote
        })
    }
}
