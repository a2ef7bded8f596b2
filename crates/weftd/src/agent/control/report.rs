//! What the control loop tells the world: events (stored and streamed by the
//! recorder), the published [`Status`], and the metrics snapshot.

use std::sync::atomic::Ordering;
use std::time::Instant;

use weft_api::{Event, EventKind};
use weft_path::{PathEvent, PathState};
use weft_policy::Action;
use weft_types::PathId;

use super::Control;
use crate::agent::metrics::{MetricsSnapshot, PathLabels, PathSnapshot};
use crate::agent::status::{FlowStatus, PathStatus, PeerStatus, PolicyStatus, Status};

impl Control {
    /// Sends `ev` to the recorder (it stamps id and time).
    pub(super) fn emit(&self, ev: Event) {
        let _ = self.events.send(ev);
    }

    /// Metric labels of engine path `id`.
    pub(super) fn labels(&self, id: PathId) -> Option<PathLabels> {
        let p = self.table.paths.iter().find(|p| p.engine_id == id)?;
        Some(PathLabels {
            peer: self.table.peers[p.peer].name.to_string(),
            uplink: self.shared.uplink_names[p.uplink].clone(),
            remote: p.remote.to_string(),
        })
    }

    /// Turns one of the path engine's events into a log line and an API event.
    pub(super) fn path_event(&mut self, e: &PathEvent) {
        let now = Instant::now();
        match e {
            PathEvent::StateChanged { path, peer, from, to, reason } => {
                let name = self.node.path_name(*path);
                crate::log_info!(
                    Path,
                    site = &self.shared.site,
                    "path {name} {from} -> {to} ({reason})"
                );
                let kind = match (from, to) {
                    (_, PathState::Down) => EventKind::PathDown,
                    (PathState::Degraded, PathState::Up) => EventKind::PathRecovered,
                    (_, PathState::Up) => EventKind::PathUp,
                    (_, PathState::Degraded) => EventKind::PathDegraded,
                    (_, PathState::Init) => return,
                };
                let mut ev = Event::new(kind, format!("path {name} {from} -> {to} ({reason})"));
                ev.site = Some(self.table.peers[peer.0 as usize].name.to_string());
                ev.path = Some(path.0);
                ev.reason = Some(reason.to_string());
                if let Some(m) = self.node.engine().metrics(now, *path) {
                    ev.rtt_ms = m.rtt.map(|d| d.as_secs_f64() * 1e3);
                    ev.loss_pct = Some(m.loss * 100.0);
                }
                self.emit(ev);
            }
            PathEvent::Failover { peer, policy, from, to, reason } => {
                let label = crate::agent::shared::reason_label("", reason);
                match self.failovers.iter_mut().find(|(r, _)| *r == label) {
                    Some((_, n)) => *n += 1,
                    None => self.failovers.push((label.clone(), 1)),
                }
                let class = self.node.engine().policy(*policy).map_or("?", |p| p.name.as_str());
                let line = format!(
                    "class {class}: {} -> {} ({reason})",
                    from.map_or("none".to_owned(), |p| self.node.path_name(p)),
                    to.map_or("none".to_owned(), |p| self.node.path_name(p))
                );
                crate::log_info!(Path, site = &self.shared.site, "{line}");
                let mut ev = Event::new(EventKind::Failover, line);
                ev.site = Some(self.table.peers[peer.0 as usize].name.to_string());
                ev.path = to.map(|p| p.0);
                ev.from_path = from.map(|p| p.0);
                ev.class = Some(class.to_owned());
                ev.reason = Some(label);
                self.emit(ev);
            }
            PathEvent::PoolChanged { policy, pool, .. } => {
                crate::log_info!(
                    Path,
                    site = &self.shared.site,
                    "pool of class {} is now {pool:?}",
                    policy.0
                );
            }
        }
    }

    /// Site events: a peer whose liveness (any path alive) changed.
    fn site_events(&mut self, peers: &[PeerStatus], paths: &[PathStatus]) {
        for (i, peer) in peers.iter().enumerate() {
            let alive = paths.iter().any(|p| p.peer == i && p.metrics.state.is_alive());
            let before = self.peer_alive[i];
            if before == Some(alive) || (before.is_none() && !alive) {
                continue;
            }
            self.peer_alive[i] = Some(alive);
            let (kind, msg) = match (before, alive) {
                (None, false) => continue,
                (None, true) => (EventKind::SiteJoined, format!("site {} is reachable", peer.name)),
                (Some(_), true) => {
                    (EventKind::SiteStatusChanged, format!("site {} is up", peer.name))
                }
                (Some(_), false) => {
                    (EventKind::SiteStatusChanged, format!("site {} is down", peer.name))
                }
            };
            let mut ev = Event::new(kind, msg);
            ev.site = Some(peer.name.clone());
            self.emit(ev);
        }
    }

    fn peer_statuses(&mut self) -> Vec<PeerStatus> {
        let profiles = self.active.policy.profiles.len();
        let mut out = Vec::with_capacity(self.table.peers.len());
        for (i, peer) in self.table.peers.iter().enumerate() {
            let stats = peer.session.lock().map(|s| s.stats()).ok();
            let since = stats.and_then(|s| s.since_last_handshake);
            let (count, last) = &mut self.handshakes[i];
            if let Some(now) = since
                && last.is_none_or(|l| now < l)
            {
                *count += 1;
            }
            *last = since;
            let choices = (0..profiles)
                .map(|c| {
                    let d = self.active.primary[i][c].load(Ordering::Relaxed);
                    self.table.paths.get(d as usize).map(|p| p.engine_id.0)
                })
                .collect();
            out.push(PeerStatus {
                name: peer.name.to_string(),
                public_key: peer.public_key.to_base64(),
                endpoints: peer.endpoints.clone(),
                prefixes: peer.prefixes.iter().map(ToString::to_string).collect(),
                role: peer.role.clone(),
                region: peer.region.clone(),
                stock: peer.stock,
                client: peer.stock && peer.dynamic,
                keepalive: peer.keepalive,
                removed: peer.removed.load(Ordering::Relaxed),
                gone: peer.gone.load(Ordering::Relaxed),
                relay_only: peer.relay_only(),
                via: self.node.relay_via(&peer.name).map(ToString::to_string),
                handshakes: *count,
                since_handshake: since,
                tx_bytes: stats.map_or(0, |s| s.tx_bytes),
                rx_bytes: stats.map_or(0, |s| s.rx_bytes),
                choices,
            });
        }
        out
    }

    fn flow_statuses(&self, peers: &[PeerStatus]) -> Vec<FlowStatus> {
        let doc = &self.active.policy.document;
        // One flow arriving on two uplinks is in two receive threads' tables: merge.
        let mut merged: Vec<crate::agent::gate::FlowSnap> = Vec::new();
        let mut seen: std::collections::HashMap<(weft_types::FlowKey, bool), usize> =
            std::collections::HashMap::new();
        for f in self.shared.flow_board.all() {
            let k = (f.key, f.direction == crate::agent::gate::Direction::Out);
            if let Some(&i) = seen.get(&k) {
                let m = &mut merged[i];
                m.packets += f.packets;
                m.bytes += f.bytes;
                m.idle = m.idle.min(f.idle);
            } else {
                seen.insert(k, merged.len());
                merged.push(f);
            }
        }
        merged
            .into_iter()
            .map(|f| {
                let remote = match f.direction {
                    crate::agent::gate::Direction::Out => f.key.dst,
                    crate::agent::gate::Direction::In => f.key.src,
                };
                let peer = self.table.peer_for(remote);
                let profile = f.class.profile as usize;
                let path = peer.and_then(|p| peers[p].choices.get(profile).copied().flatten());
                FlowStatus {
                    key: f.key,
                    direction: f.direction,
                    peer,
                    allowed: f.class.action == Action::Allow,
                    rule: f
                        .class
                        .acl
                        .and_then(|a| doc.acls.get(a as usize))
                        .map_or_else(|| "default".to_owned(), |a| a.name.clone()),
                    route_rule: f
                        .class
                        .route
                        .and_then(|r| doc.routes.get(r as usize))
                        .map_or_else(|| "default".to_owned(), |r| r.name.clone()),
                    profile,
                    path,
                    packets: f.packets,
                    bytes: f.bytes,
                    idle: f.idle,
                }
            })
            .collect()
    }

    /// Builds and publishes the status, the metrics, and site events.
    pub(super) fn publish_status(&mut self, now: Instant) {
        let tun_queue_full =
            self.rtnl.as_mut().and_then(|nl| nl.tx_dropped(&self.interface).ok()).unwrap_or(0);
        let offloads = self.shared.offloads();
        if !self.offloads.is_empty() && offloads != self.offloads {
            // A GSO send failed with EIO: that uplink sends unsegmented from now on.
            crate::log_info!(Dataplane, "data-plane offloads now {offloads:?}");
        }
        self.offloads.clone_from(&offloads);
        let peers = self.peer_statuses();
        let flows = self.flow_statuses(&peers);
        let mut paths = Vec::with_capacity(self.table.paths.len());
        for (i, p) in self.table.paths.iter().enumerate() {
            let Some(metrics) = self.node.engine().metrics(now, p.engine_id) else { continue };
            let mut active_for: Vec<String> = Vec::new();
            for (c, slot) in self.active.primary[p.peer].iter().enumerate() {
                let class = &self.active.policy.profiles[c].class;
                if slot.load(Ordering::Relaxed) == i as u32 && !active_for.contains(class) {
                    active_for.push(class.clone());
                }
            }
            let id = p.engine_id.0;
            paths.push(PathStatus {
                id,
                peer: p.peer,
                uplink: self.shared.uplink_names[p.uplink].clone(),
                remote: p.remote,
                active_for,
                metrics,
                tx_bytes: p.tx_bytes.load(Ordering::Relaxed),
                rx_bytes: p.rx_bytes.load(Ordering::Relaxed),
                rx_packets: p.rx_packets.load(Ordering::Relaxed),
                tx_packets: p.tx_packets.load(Ordering::Relaxed),
                flows: flows.iter().filter(|f| f.path == Some(id)).count() as u32,
            });
        }
        self.site_events(&peers, &paths);
        self.generation += 1;
        let status = Status {
            site: self.shared.site.to_string(),
            role: self.info.role.clone(),
            region: self.info.region.clone(),
            prefixes: self.info.prefixes.clone(),
            uptime: now.saturating_duration_since(self.epoch),
            generation: self.generation,
            peers,
            paths,
            flows,
            profile_classes: self.active.policy.profiles.iter().map(|p| p.class.clone()).collect(),
            failovers: self.failovers.clone(),
            drops: self.shared.drop_counts(tun_queue_full),
            offloads,
            mesh: {
                let mut m = self.shared.links.counters();
                m.push(("relayed_packets".to_owned(), self.shared.relayed.load(Ordering::Relaxed)));
                m
            },
            policy: PolicyStatus {
                name: self.active.policy.document.name.clone(),
                version: self.active.version,
                denied: self.active.denied_by_rule(),
            },
        };
        self.metrics.update(metrics_snapshot(&status));
        self.status.set(status);
    }
}

fn metrics_snapshot(s: &Status) -> MetricsSnapshot {
    let paths = s
        .paths
        .iter()
        .map(|p| PathSnapshot {
            labels: PathLabels {
                peer: s.peers[p.peer].name.clone(),
                uplink: p.uplink.clone(),
                remote: p.remote.to_string(),
            },
            rtt: p.metrics.rtt,
            jitter: p.metrics.jitter,
            loss: p.metrics.loss,
            state: crate::agent::status::state_code(p.metrics.state),
            probes_sent: p.metrics.probes_sent,
            probes_lost: p.metrics.probes_lost,
            tx_bytes: p.tx_bytes,
            rx_bytes: p.rx_bytes,
            tx_packets: p.tx_packets,
            rx_packets: p.rx_packets,
            flows: u64::from(p.flows),
        })
        .collect();
    let mut members: Vec<(String, u64)> = Vec::new();
    let states = crate::agent::status::site_states(s);
    for (state, _) in states.into_iter().zip(&s.peers).filter(|(_, p)| !p.gone) {
        let state = state.as_str().to_owned();
        match members.iter_mut().find(|(m, _)| *m == state) {
            Some((_, n)) => *n += 1,
            None => members.push((state, 1)),
        }
    }
    MetricsSnapshot {
        paths,
        failovers: s.failovers.clone(),
        drops: s.drops.clone(),
        offloads: s.offloads.iter().map(|(k, on)| (k.clone(), u64::from(*on))).collect(),
        mesh: s.mesh.clone(),
        policy_denied: s.policy.denied.clone(),
        policy_version: s.policy.version,
        policy_name: s.policy.name.clone(),
        handshakes: s.peers.iter().map(|p| (p.name.clone(), p.handshakes)).collect(),
        members,
        api_requests: Vec::new(),
    }
}
