//! Between the mesh (`weft-mesh`'s [`MeshNode`]) and the [`Node`](crate::Node):
//! members become peer specs, departures become [`MeshUpdate`]s, this site's
//! measured links become link-state entries to flood, and every site's
//! advertisement becomes a [`LinkView`] for the relay planner.
//!
//! The agent's mesh thread and the simulator both use these, so the
//! simulator runs the same translation the agent does.

use std::collections::BTreeMap;
use std::time::Duration;

use weft_mesh::identity::{CertBody, Label};
use weft_mesh::node::{DownReason, LinkEntry, LinkSet, MeshNode, PeerView};
use weft_types::{IpPrefix, SiteId};

use crate::node::{MeshUpdate, PeerSpec};
use crate::relay::{LinkSummary, LinkView};

fn text(l: &Label) -> Option<String> {
    (!l.as_str().is_empty()).then(|| l.as_str().to_owned())
}

/// The peer a member becomes: keys and prefixes from its certificate,
/// endpoints from its (authenticated) gossip metadata.
pub fn peer_spec(v: &PeerView) -> PeerSpec {
    PeerSpec {
        name: v.site.clone(),
        public_key: v.wg_key,
        prefixes: v.prefixes.as_slice().to_vec(),
        endpoints: v.endpoints.clone(),
        stock: false,
        keepalive: None,
        role: text(&v.role),
        region: text(&v.region),
        dynamic: true,
    }
}

/// A member the topology keeps us from peering with (another spoke): a
/// peer with no endpoints, reached through a relay.
pub fn relayed_spec(site: &SiteId, body: &CertBody) -> PeerSpec {
    relayed_spec_with(site, body, body.prefixes.as_slice().to_vec())
}

/// Like [`relayed_spec`], with `prefixes` (the certificate's and the
/// learnt ones the mesh takes: [`MeshNode::prefixes_with_learnt`]).
pub fn relayed_spec_with(site: &SiteId, body: &CertBody, prefixes: Vec<IpPrefix>) -> PeerSpec {
    PeerSpec {
        name: site.clone(),
        public_key: body.wg_key,
        prefixes,
        endpoints: Vec::new(),
        stock: false,
        keepalive: None,
        role: text(&body.role),
        region: text(&body.region),
        dynamic: true,
    }
}

/// What a member's departure means for its peer: revoked and expired
/// members go at once, dead and departed ones after the grace period.
pub fn down_update(site: SiteId, reason: DownReason) -> MeshUpdate {
    let (why, now) = match reason {
        DownReason::Dead => ("dead", false),
        DownReason::Left => ("left", false),
        DownReason::Revoked => ("revoked", true),
        DownReason::Expired => ("expired", true),
    };
    MeshUpdate::Down { site, reason: why.to_owned(), now }
}

/// This site's measured links as link-state entries.
pub fn link_entries(local: &[LinkSummary]) -> Vec<LinkEntry> {
    let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    local
        .iter()
        .map(|l| LinkEntry {
            neighbour: l.neighbor.clone(),
            rtt_us: l.rtt.map_or(u32::MAX, us),
            jitter_us: us(l.jitter),
            loss_ppm: (l.loss.clamp(0.0, 1.0) * 1e6) as u32,
            capacity_kbps: u32::try_from(l.capacity_bps / 1000).unwrap_or(u32::MAX),
            up: l.up,
            relayed_only: l.relayed_only,
            via: l.via.clone(),
        })
        .collect()
}

/// A received advertisement (every page of it) as the relay planner reads it.
pub fn link_view(origin: &SiteId, set: &LinkSet) -> LinkView {
    LinkView {
        origin: origin.clone(),
        links: set
            .entries()
            .map(|e| LinkSummary {
                neighbor: e.neighbour.clone(),
                rtt: (e.rtt_us != u32::MAX).then(|| Duration::from_micros(u64::from(e.rtt_us))),
                jitter: Duration::from_micros(u64::from(e.jitter_us)),
                loss: f64::from(e.loss_ppm) / 1e6,
                capacity_bps: u64::from(e.capacity_kbps) * 1000,
                up: e.up,
                relayed_only: e.relayed_only,
                via: e.via.clone(),
            })
            .collect(),
    }
}

/// Every fresh advertisement the mesh holds, as views.
pub fn link_views(mesh: &MeshNode) -> Vec<LinkView> {
    mesh.link_states().map(|(origin, set)| link_view(origin, set)).collect()
}

/// The members reached only through a relay, kept in step: call
/// [`RelayedMembers::sync`] now and then and hand its updates to the node.
#[derive(Debug, Default)]
pub struct RelayedMembers {
    /// Each relay-only member with the prefixes last handed on.
    known: BTreeMap<SiteId, Vec<IpPrefix>>,
}

impl RelayedMembers {
    /// New relay-only members come up (again when their prefixes change:
    /// learnt ones added or withdrawn); ones that left (or became peers) go.
    pub fn sync(&mut self, mesh: &MeshNode) -> Vec<MeshUpdate> {
        let mut out = Vec::new();
        let now: BTreeMap<SiteId, Vec<IpPrefix>> = mesh
            .reachable_via_relay()
            .into_iter()
            .map(|(s, body)| (s.clone(), mesh.prefixes_with_learnt(s, body).as_slice().to_vec()))
            .collect();
        // Members losing a prefix first: a learnt prefix moving between
        // edges is never claimed by two of them at once.
        let mut ups: Vec<(bool, MeshUpdate)> = Vec::new();
        for (site, body) in mesh.reachable_via_relay() {
            let prefixes = &now[site];
            let old = self.known.get(site);
            if old != Some(prefixes) {
                let loses = old.is_some_and(|o| o.iter().any(|p| !prefixes.contains(p)));
                ups.push((!loses, MeshUpdate::Up(relayed_spec_with(site, body, prefixes.clone()))));
            }
        }
        ups.sort_by_key(|(gains, _)| *gains);
        out.extend(ups.into_iter().map(|(_, u)| u));
        for site in self.known.keys().filter(|s| !now.contains_key(*s)) {
            if mesh.peers().any(|p| p.site == *site) {
                continue; // now a peer: its PeerUp replaced the relayed entry
            }
            // Like a dead peer: after the grace period. A hub coming back
            // from an outage spreads its stale view (everyone down) and the
            // members it names renew within a moment; dropping them at once
            // cut every spoke-to-spoke flow of the mesh for that moment.
            out.push(MeshUpdate::Down { site: site.clone(), reason: "gone".into(), now: false });
        }
        self.known = now;
        out
    }
}
