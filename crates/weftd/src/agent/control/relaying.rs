//! The control loop's side of relaying: it measures this site's links (the
//! best live path per peer) for the mesh to flood, plans relays from every
//! site's advertisements, and publishes each peer's relay to the data plane.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use weft_api::{Event, EventKind};

use super::Control;
use weft_path::Basis;
use weft_types::{PeerId, SiteId};

use crate::agent::relay::{ClassRoute, Direct, LinkSummary, LinkView, Need, link_state_db};
use crate::agent::shared::NO_PATH;

/// How long a new class relay is advertised before traffic uses it.
const ANNOUNCE_BEFORE_USE: std::time::Duration = std::time::Duration::from_millis(400);

impl Control {
    /// Measures, plans and publishes; cheap enough for every 100 ms.
    pub(super) fn plan_relays(&mut self, now: Instant) {
        let mut local = Vec::new();
        let mut direct = BTreeMap::new();
        for (i, peer) in self.table.peers.iter().enumerate() {
            if self.table.is_removed(i) {
                continue;
            }
            // The relay we send (some of) its traffic through, so that it
            // accepts our addresses from that relay on our signed word.
            let via = self.relays.via(&peer.name).cloned().or_else(|| {
                self.relays
                    .class_relays()
                    .find(|(d, _, _)| **d == peer.name)
                    .map(|(_, _, v)| v.clone())
            });
            let mut best: Option<LinkSummary> = None;
            for &d in &peer.paths {
                let p = &self.table.paths[d as usize];
                let Some(m) = self.engine.metrics(now, p.engine_id) else { continue };
                if !m.state.is_alive() {
                    continue;
                }
                let candidate = LinkSummary {
                    neighbor: peer.name.clone(),
                    rtt: m.rtt,
                    jitter: m.jitter,
                    loss: m.loss,
                    capacity_bps: self.uplinks[p.uplink].capacity.0,
                    up: true,
                    via: via.clone(),
                };
                if best.as_ref().is_none_or(|b| candidate.rtt < b.rtt || b.rtt.is_none()) {
                    best = Some(candidate);
                }
            }
            let alive = best.is_some();
            direct.insert(peer.name.clone(), Direct { alive });
            if peer.paths.is_empty() {
                continue; // reached only through a relay (topology): no link of ours
            }
            local.push(best.unwrap_or(LinkSummary {
                neighbor: peer.name.clone(),
                rtt: None,
                jitter: std::time::Duration::ZERO,
                loss: 1.0,
                capacity_bps: 0,
                up: false,
                via,
            }));
        }
        let me = self.shared.site.clone();
        let mut views: Vec<LinkView> =
            self.shared.links.views().iter().filter(|v| v.origin != me).cloned().collect();
        views.push(LinkView { origin: me.clone(), links: local.clone() });
        if let Ok(mut l) = self.shared.links.local.write() {
            *l = local;
        }
        let db = link_state_db(&views);
        self.relay_rounds = self.relay_rounds.wrapping_add(1);
        if self.relay_rounds.is_multiple_of(5) {
            self.plan_class_relays(now, &me, &db, &direct);
        }
        for (dst, via) in self.relays.plan(now, &me, &db, &direct) {
            let Some(i) = self.table.peers.iter().position(|p| p.name == dst) else { continue };
            let via_slot =
                via.as_ref().and_then(|v| self.table.peers.iter().position(|p| p.name == *v));
            let slot = via_slot.map_or(NO_PATH, |v| v as u32);
            self.shared.relay_via[i].store(slot, Ordering::Relaxed);
            let line = match &via {
                Some(v) => format!("site {dst}: every direct path is down; relaying through {v}"),
                None => format!("site {dst}: back on its direct paths"),
            };
            eprintln!("weftd[{}]: {line}", self.shared.site);
            let mut ev = Event::new(EventKind::TopologyChanged, line);
            ev.site = Some(dst.to_string());
            ev.reason = Some(via.map_or_else(|| "direct".to_owned(), |v| format!("relay {v}")));
            self.emit(ev);
        }
        self.publish_relay_accept(now, &views);
    }

    /// Classes whose SLA no direct path meets go through a relay that meets
    /// it (the destination itself being reachable directly). Every 500 ms.
    fn plan_class_relays(
        &mut self,
        now: Instant,
        me: &SiteId,
        db: &weft_route::LinkStateDb,
        direct: &BTreeMap<SiteId, Direct>,
    ) {
        let profiles = self.active.policy.profiles.len();
        let table = self.table.clone();
        for (i, peer) in table.peers.iter().enumerate() {
            let alive = direct.get(&peer.name).is_some_and(|d| d.alive);
            if !alive || self.relays.via(&peer.name).is_some() {
                for c in self.relays.forget_classes(&peer.name) {
                    self.class_relay_event(&peer.name, c, None);
                }
                continue;
            }
            for c in 0..profiles {
                let id = self.profile_ids[c];
                let Some(sla) = self.engine.policy(id).map(|p| p.sla.clone()) else { continue };
                let need = Need {
                    rtt: sla.max_latency,
                    jitter: sla.max_jitter,
                    loss: sla.max_loss.map(weft_types::Ratio::fraction),
                };
                if !need.is_some() && self.relays.class_via(&peer.name, c).is_none() {
                    continue;
                }
                let meets = self
                    .engine
                    .explain(now, PeerId(i as u32), id, 0, None)
                    .is_some_and(|d| matches!(d.choice.basis, Basis::Sla | Basis::HeldDownOnly));
                let change =
                    self.relays.plan_class(now, me, db, direct, &peer.name, c, &need, meets);
                match change {
                    Some(ClassRoute::Via(v)) => self.class_relay_event(&peer.name, c, Some(v)),
                    Some(ClassRoute::Direct) => self.class_relay_event(&peer.name, c, None),
                    None => {}
                }
            }
        }
        // Make before break: a new class relay is advertised first (the
        // destination then accepts our addresses from the relay) and used
        // only once that advertisement had time to arrive.
        let mut chosen = std::collections::HashMap::new();
        for (dst, c, via) in self.relays.class_relays() {
            let d = table.peers.iter().position(|p| p.name == *dst);
            let v = table.peers.iter().position(|p| p.name == *via);
            if let (Some(d), Some(v)) = (d, v) {
                chosen.insert((d, c), v);
            }
        }
        self.class_relay_seen.retain(|(d, c, v), _| chosen.get(&(*d, *c)) == Some(v));
        self.class_relay.clear();
        for ((d, c), v) in chosen {
            let seen = *self.class_relay_seen.entry((d, c, v)).or_insert(now);
            if now.saturating_duration_since(seen) >= ANNOUNCE_BEFORE_USE {
                self.class_relay.insert((d, c), v);
            }
        }
    }

    fn class_relay_event(&self, dst: &SiteId, class: usize, via: Option<SiteId>) {
        let name = self.active.policy.profiles.get(class).map_or("?", |p| p.class.as_str());
        let line = match &via {
            Some(v) => {
                format!("class {name} to {dst}: no direct path meets its SLA; relaying through {v}")
            }
            None => format!("class {name} to {dst}: back on its direct paths"),
        };
        eprintln!("weftd[{}]: {line}", self.shared.site);
        let mut ev = Event::new(EventKind::Failover, line);
        ev.site = Some(dst.to_string());
        ev.class = Some(name.to_owned());
        ev.reason = Some(via.map_or_else(|| "direct".to_owned(), |v| format!("relay {v}")));
        self.emit(ev);
    }

    /// Publishes, per peer, the one relay its sources may arrive through:
    /// the relay we send all its traffic through, else the relay of one of
    /// its classes (a site relayed for two classes through two relays
    /// accepts only the first's).
    ///
    /// A relay that ended stays accepted a little longer (`relay_hold_down`
    /// plus 2 s): the far end returns to its direct paths after its own
    /// hold-down, a moment later or earlier than this one, and its replies
    /// still come through the relay meanwhile.
    fn publish_relay_accept(&mut self, now: Instant, views: &[LinkView]) {
        let linger = self.relays.hold_down() + std::time::Duration::from_secs(2);
        for i in 0..self.table.peers.len() {
            let whole = self.shared.relay_via[i].load(Ordering::Relaxed);
            let class = self.class_relay.iter().find(|((d, _), _)| *d == i).map(|(_, v)| *v);
            let mut via =
                if whole == NO_PATH { class.map_or(NO_PATH, |v| v as u32) } else { whole };
            if via == NO_PATH {
                match self.accept_linger.get(&i) {
                    Some(&(v, until)) if now < until => via = v,
                    Some(_) => {
                        self.accept_linger.remove(&i);
                    }
                    None => {}
                }
            } else {
                self.accept_linger.insert(i, (via, now + linger));
            }
            self.shared.relay_accept[i].store(via, Ordering::Relaxed);
            // What the peer itself says, signed: it relays to us through S.
            let me = &self.shared.site;
            let name = &self.table.peers[i].name;
            let said = views
                .iter()
                .find(|v| v.origin == *name)
                .and_then(|v| v.links.iter().find(|l| l.neighbor == *me))
                .and_then(|l| l.via.as_ref())
                .and_then(|s| self.table.peers.iter().position(|p| p.name == *s));
            let said = said.map_or(NO_PATH, |s| s as u32);
            self.shared.relay_accept_said[i].store(said, Ordering::Relaxed);
        }
    }
}
