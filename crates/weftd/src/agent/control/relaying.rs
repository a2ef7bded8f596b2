//! The control loop's side of relaying: it measures this site's links (the
//! best live path per peer) for the mesh to flood, plans relays from every
//! site's advertisements, and publishes each peer's relay to the data plane.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use weft_api::{Event, EventKind};

use super::Control;
use crate::agent::relay::{Direct, LinkSummary, LinkView, link_state_db};
use crate::agent::shared::NO_PATH;

impl Control {
    /// Measures, plans and publishes; cheap enough for every 100 ms.
    pub(super) fn plan_relays(&mut self, now: Instant) {
        let mut local = Vec::new();
        let mut direct = BTreeMap::new();
        for (i, peer) in self.table.peers.iter().enumerate() {
            if self.table.is_removed(i) {
                continue;
            }
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
    }
}
