//! Relaying: the node measures this site's links (the best live path per
//! peer) for the mesh to flood, plans relays from every site's
//! advertisements, and programs each peer's relay into the data plane.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weft_path::Basis;
use weft_types::{PeerId, SiteId};

use super::{Node, NodeEvent, Program};
use std::sync::Arc;

use crate::relay::{ClassRoute, Direct, LinkSummary, LinkView, Need, link_state_db_of};

/// How long a new class relay is advertised before traffic uses it.
const ANNOUNCE_BEFORE_USE: Duration = Duration::from_millis(400);

/// Class relays are replanned every this many relay rounds (500 ms).
const CLASS_PLAN_ROUNDS: u64 = 5;

impl Node {
    /// Measures, plans and programs; cheap enough for every 100 ms.
    pub(super) fn plan_relays(&mut self, now: Instant) {
        let (local, direct) = self.measure_links(now);
        let me = self.cfg.site.clone();
        if local != self.local_links {
            self.local_links.clone_from(&local);
            self.programs.push_back(Program::LocalLinks(local));
        }
        let views = Arc::clone(&self.views);
        let mine = LinkView { origin: me.clone(), links: self.local_links.clone() };
        let all = views.iter().filter(|v| v.origin != me).chain(std::iter::once(&mine));
        let db = link_state_db_of(all);
        self.relay_rounds = self.relay_rounds.wrapping_add(1);
        if self.relay_rounds.is_multiple_of(CLASS_PLAN_ROUNDS) {
            self.plan_class_relays(now, &me, &db, &direct);
        }
        for (dst, via) in self.relays.plan(now, &me, &db, &direct) {
            let Some(i) = self.slot_of(&dst) else { continue };
            let via_slot = via.as_ref().and_then(|v| self.slot_of(v));
            if self.relay_via[i] != via_slot {
                self.relay_via[i] = via_slot;
                self.programs.push_back(Program::RelayVia { peer: i, via: via_slot });
            }
            self.events.push_back(NodeEvent::Relay { dst, via });
        }
        self.program_relay_accept(now, &views);
    }

    /// This site's link to each peer (the best live path; down when none),
    /// and whether each peer has a live direct path.
    ///
    /// Peers this site has no direct path to at all (spoke to spoke) come
    /// last, as relayed-only entries naming the relay in use: the peer then
    /// accepts our addresses from that relay on our signed word, whichever
    /// relay it uses itself. Last, so that real links fill the first pages
    /// of the advertisement (`MAX_LINK_ENTRIES` per page, at most
    /// `MAX_LINKS` in all).
    fn measure_links(&self, now: Instant) -> (Vec<LinkSummary>, BTreeMap<SiteId, Direct>) {
        let mut local = Vec::new();
        let mut relayed_only = Vec::new();
        let mut direct = BTreeMap::new();
        for peer in self.peers.iter().filter(|p| !p.is_out()) {
            let name = &peer.spec.name;
            // The relay we send (some of) its traffic through, so that it
            // accepts our addresses from that relay on our signed word.
            let via = self.relays.via(name).cloned().or_else(|| {
                self.relays.class_relays().find(|(d, _, _)| *d == name).map(|(_, _, v)| v.clone())
            });
            let mut best: Option<LinkSummary> = None;
            for &d in &peer.paths {
                let p = &self.paths[d as usize];
                let Some(m) = self.engine.metrics(now, p.engine_id) else { continue };
                if !m.state.is_alive() {
                    continue;
                }
                let candidate = LinkSummary {
                    neighbor: name.clone(),
                    rtt: m.rtt,
                    jitter: m.jitter,
                    loss: m.loss,
                    capacity_bps: self.cfg.uplinks[p.uplink].capacity.0,
                    up: true,
                    relayed_only: false,
                    via: via.clone(),
                };
                if best.as_ref().is_none_or(|b| candidate.rtt < b.rtt || b.rtt.is_none()) {
                    best = Some(candidate);
                }
            }
            direct.insert(name.clone(), Direct { alive: best.is_some() });
            let down = |relayed_only, via| LinkSummary {
                neighbor: name.clone(),
                rtt: None,
                jitter: Duration::ZERO,
                loss: 1.0,
                capacity_bps: 0,
                up: false,
                relayed_only,
                via,
            };
            if peer.paths.is_empty() {
                // Reached only through a relay (topology): no link of ours.
                if via.is_some() {
                    relayed_only.push(down(true, via));
                }
                continue;
            }
            local.push(best.unwrap_or_else(|| down(false, via)));
        }
        local.append(&mut relayed_only);
        (local, direct)
    }

    /// Classes whose SLA no direct path meets go through a relay that meets
    /// it (the destination itself being reachable directly).
    fn plan_class_relays(
        &mut self,
        now: Instant,
        me: &SiteId,
        db: &weft_route::LinkStateDb,
        direct: &BTreeMap<SiteId, Direct>,
    ) {
        for i in 0..self.peers.len() {
            let name = self.peers[i].spec.name.clone();
            // Peers that are out are not in `direct`: never alive.
            let alive = direct.get(&name).is_some_and(|d| d.alive);
            if !alive || self.relays.via(&name).is_some() {
                for c in self.relays.forget_classes(&name) {
                    self.class_relay_event(&name, c, None);
                }
                continue;
            }
            for c in 0..self.profiles.len() {
                let id = self.profile_ids[c];
                let Some(sla) = self.engine.policy(id).map(|p| p.sla.clone()) else { continue };
                let need = Need {
                    rtt: sla.max_latency,
                    jitter: sla.max_jitter,
                    loss: sla.max_loss.map(weft_types::Ratio::fraction),
                };
                if !need.is_some() && self.relays.class_via(&name, c).is_none() {
                    continue;
                }
                let meets = self
                    .engine
                    .explain(now, PeerId(i as u32), id, 0, None)
                    .is_some_and(|d| matches!(d.choice.basis, Basis::Sla | Basis::HeldDownOnly));
                match self.relays.plan_class(now, me, db, direct, &name, c, &need, meets) {
                    Some(ClassRoute::Via(v)) => self.class_relay_event(&name, c, Some(v)),
                    Some(ClassRoute::Direct) => self.class_relay_event(&name, c, None),
                    None => {}
                }
            }
        }
        // Make before break: a new class relay is advertised first (the
        // destination then accepts our addresses from the relay) and used
        // only once that advertisement had time to arrive.
        let mut chosen = BTreeMap::new();
        for (dst, c, via) in self.relays.class_relays() {
            if let (Some(d), Some(v)) = (self.slot_of(dst), self.slot_of(via)) {
                chosen.insert((d, c), v);
            }
        }
        self.class_relay_seen.retain(|(d, c, v), _| chosen.get(&(*d, *c)) == Some(v));
        let before = std::mem::take(&mut self.class_relay);
        for ((d, c), v) in chosen {
            let seen = *self.class_relay_seen.entry((d, c, v)).or_insert(now);
            if now.saturating_duration_since(seen) >= ANNOUNCE_BEFORE_USE {
                self.class_relay.insert((d, c), v);
            }
        }
        if before != self.class_relay {
            self.republish = true;
        }
    }

    fn class_relay_event(&mut self, dst: &SiteId, class: usize, via: Option<SiteId>) {
        let name = self.profiles.get(class).map_or("?", |p| p.class.as_str()).to_owned();
        self.events.push_back(NodeEvent::ClassRelay { dst: dst.clone(), class: name, via });
    }

    /// Programs, per peer, the one relay its sources may arrive through:
    /// the relay we send all its traffic through, else the relay of one of
    /// its classes (a site relayed for two classes through two relays
    /// accepts only the first's); and the relay the peer itself says, signed,
    /// it relays to us through.
    ///
    /// A relay that ended stays accepted a little longer (the hold-down plus
    /// 2 s): the far end returns to its direct paths after its own hold-down,
    /// a moment later or earlier than this one, and its replies still come
    /// through the relay meanwhile.
    fn program_relay_accept(&mut self, now: Instant, views: &[LinkView]) {
        // Only other sites' views name a relay towards us.
        let linger = self.relays.hold_down() + Duration::from_secs(2);
        // What each site says, signed, about its link to us: the relay it
        // sends through. One pass over the advertisements.
        let me = &self.cfg.site;
        let said: BTreeMap<&SiteId, &SiteId> = views
            .iter()
            .filter_map(|v| {
                let l = v.links.iter().find(|l| l.neighbor == *me)?;
                Some((&v.origin, l.via.as_ref()?))
            })
            .collect();
        for i in 0..self.peers.len() {
            let class = self.class_relay.iter().find(|((d, _), _)| *d == i).map(|(_, v)| *v);
            let mut ours = self.relay_via[i].or(class);
            match ours {
                Some(v) => {
                    self.accept_linger.insert(i, (v, now + linger));
                }
                None => match self.accept_linger.get(&i) {
                    Some(&(v, until)) if now < until => ours = Some(v),
                    Some(_) => {
                        self.accept_linger.remove(&i);
                    }
                    None => {}
                },
            }
            let name = &self.peers[i].spec.name;
            let theirs = said.get(name).and_then(|s| self.slot_of(s));
            if self.relay_accept[i] != (ours, theirs) {
                self.relay_accept[i] = (ours, theirs);
                self.programs.push_back(Program::RelayAccept { peer: i, ours, theirs });
            }
        }
    }
}
