//! What a run leaves behind for its assertions: per flow, what was sent and
//! delivered, its gaps, its route changes and when it was relayed; per site,
//! the peers it retired and the relays it chose; the faults' windows.

use std::time::Duration;

use weft_types::SiteId;

use super::traffic::Route;
use crate::node::NodeEvent;

/// A flow's record.
#[derive(Debug, Clone, Default)]
pub struct FlowStats {
    /// Packets sent (the source was up).
    pub sent: u64,
    /// Packets delivered.
    pub delivered: u64,
    /// Relayed packets the destination refused (no accept entry for the relay).
    pub refused: u64,
    /// Longest run without a delivered packet (send times), minus one interval.
    pub max_gap: Duration,
    /// Every gap over 100 ms: (start, length), by send time since the start.
    pub gaps: Vec<(Duration, Duration)>,
    /// Route changes at the source.
    pub path_changes: u64,
    /// When each route change happened.
    pub change_times: Vec<Duration>,
    /// Longest stretch relayed while a direct path existed in the underlay.
    pub relayed_while_direct: Duration,
    /// Longest stretch not relayed while no direct path existed but a relay could help.
    pub direct_down_not_relayed: Duration,
    /// Stopped: sends nothing more.
    pub stopped: bool,
    last_delivered: Option<Duration>,
    last_sent: Option<Duration>,
    relay_streak: Option<Duration>,
    down_streak: Option<Duration>,
    last_route: Option<Route>,
}

/// Gaps shorter than this are not listed (they still count for `max_gap`).
const LISTED_GAP: Duration = Duration::from_millis(100);

impl FlowStats {
    /// `direct_ok`: a direct path exists in the underlay; `relay_ok`: the
    /// destination is reachable through some relay.
    pub(super) fn sample_route(
        &mut self,
        at: Duration,
        route: Route,
        direct_ok: bool,
        relay_ok: bool,
    ) {
        self.last_sent = Some(at);
        if self.last_route.is_some_and(|r| r != route) {
            self.change_times.push(at);
        }
        self.last_route = Some(route);
        let relayed = matches!(route, Route::Relayed { .. });
        streak(&mut self.relay_streak, relayed && direct_ok, at, &mut self.relayed_while_direct);
        let stranded = !relayed && !direct_ok && relay_ok;
        streak(&mut self.down_streak, stranded, at, &mut self.direct_down_not_relayed);
    }

    pub(super) fn delivered_at(&mut self, sent_at: Duration, interval: Duration) {
        self.delivered += 1;
        let prev = self.last_delivered;
        if prev.is_some_and(|p| sent_at <= p) {
            return; // reordered: an older packet
        }
        self.last_delivered = Some(sent_at);
        if let Some(p) = prev {
            let gap = sent_at.saturating_sub(p).saturating_sub(interval);
            self.note_gap(p, gap);
        }
    }

    fn note_gap(&mut self, start: Duration, gap: Duration) {
        self.max_gap = self.max_gap.max(gap);
        if gap >= LISTED_GAP {
            self.gaps.push((start, gap));
        }
    }

    /// Counts a gap still open at `now` (nothing delivered since).
    pub(super) fn close(&mut self, _now: Duration, interval: Duration) {
        if let (Some(d), Some(s)) = (self.last_delivered, self.last_sent)
            && s > d + interval
        {
            self.note_gap(d, s.saturating_sub(d).saturating_sub(interval));
        }
    }
}

fn streak(start: &mut Option<Duration>, on: bool, at: Duration, longest: &mut Duration) {
    if on {
        let s = *start.get_or_insert(at);
        *longest = (*longest).max(at.saturating_sub(s));
    } else {
        *start = None;
    }
}

/// A peer a site retired (its traffic cut).
#[derive(Debug, Clone, PartialEq)]
pub struct Death {
    /// When.
    pub at: Duration,
    /// The site that retired the peer.
    pub observer: usize,
    /// The peer.
    pub subject: SiteId,
    /// Why (`dead`, `left`, …).
    pub reason: String,
}

/// A relay a site chose or dropped for all of a destination's traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayChange {
    /// When.
    pub at: Duration,
    /// The site.
    pub site: usize,
    /// The destination.
    pub dst: SiteId,
    /// The relay (`None`: direct again).
    pub via: Option<SiteId>,
}

/// What happened, by time.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    pub(super) deaths: Vec<Death>,
    /// Members the mesh (SWIM) declared dead: (at, observer, subject).
    pub(super) swim_deaths: Vec<(Duration, usize, SiteId)>,
    pub(super) relays: Vec<RelayChange>,
    pub(super) class_relays: u64,
    /// Per site: intervals it was crashed or had every uplink down.
    pub(super) cut: Vec<Vec<(Duration, Option<Duration>)>>,
    /// Partitions: (from, until, group of each site).
    pub(super) partitions: Vec<(Duration, Option<Duration>, Vec<u32>)>,
    pub(super) last_fault: Duration,
    /// Refusals and notes of the nodes: (at, site, text).
    pub(super) notes: Vec<(Duration, usize, String)>,
    /// Every path state change: (at, site, text).
    pub(super) path_changes: Vec<(Duration, usize, String)>,
    /// Membership events of the mesh nodes: (at, site, text).
    pub(super) mesh_log: Vec<(Duration, usize, String)>,
    /// Flows moving to another route, at their source: (at, site, text).
    pub(super) route_log: Vec<(Duration, usize, String)>,
}

impl Recorder {
    pub(super) fn new(sites: usize) -> Self {
        Self { cut: vec![Vec::new(); sites], ..Self::default() }
    }

    /// Records `e` of `site`; `hop` names a path event's path (`u0→s4.u1`).
    pub(super) fn node_event(
        &mut self,
        at: Duration,
        site: usize,
        e: &NodeEvent,
        hop: Option<&str>,
    ) {
        match e {
            NodeEvent::PeerLeft { site: subject, reason } => self.deaths.push(Death {
                at,
                observer: site,
                subject: subject.clone(),
                reason: reason.clone(),
            }),
            NodeEvent::Relay { dst, via } => {
                self.relays.push(RelayChange { at, site, dst: dst.clone(), via: via.clone() });
            }
            NodeEvent::ClassRelay { .. } => self.class_relays += 1,
            NodeEvent::PeerRefused { site: who, why } => {
                self.notes.push((at, site, format!("refused {who}: {why}")));
            }
            NodeEvent::Note(text) => self.notes.push((at, site, text.clone())),
            NodeEvent::Path(weft_path::PathEvent::StateChanged {
                path, from, to, reason, ..
            }) => {
                self.path_changes.push((
                    at,
                    site,
                    format!("path {} {} {from} -> {to} ({reason})", path.0, hop.unwrap_or("?")),
                ));
            }
            _ => {}
        }
    }

    pub(super) fn mesh_event(&mut self, at: Duration, site: usize, e: &weft_mesh::node::NodeEvent) {
        use weft_mesh::node::{DownReason, NodeEvent as Mesh};
        let text = match e {
            Mesh::PeerUp(p) => format!("mesh: peer {} up", p.site),
            Mesh::PeerDown { site: subject, reason } => {
                if *reason == DownReason::Dead {
                    self.swim_deaths.push((at, site, subject.clone()));
                }
                format!("mesh: peer {subject} down ({reason:?})")
            }
            Mesh::SelfRevoked => "mesh: this site is revoked".to_owned(),
            Mesh::CertRenewed(_) => "mesh: certificate renewed".to_owned(),
            _ => return,
        };
        self.mesh_log.push((at, site, text));
    }

    pub(super) fn fault(&mut self, at: Duration) {
        self.last_fault = at;
    }

    /// Site `s` is (or no longer is) cut off: crashed, or every uplink down.
    pub(super) fn set_cut(&mut self, at: Duration, s: usize, cut: bool) {
        self.last_fault = at;
        let list = &mut self.cut[s];
        let open = list.last().is_some_and(|(_, end)| end.is_none());
        if cut && !open {
            list.push((at, None));
        } else if !cut
            && open
            && let Some(last) = list.last_mut()
        {
            last.1 = Some(at);
        }
    }

    pub(super) fn partition(&mut self, at: Duration, groups: &[Vec<usize>], sites: usize) {
        self.heal(at);
        let mut g = vec![0u32; sites];
        for (i, members) in groups.iter().enumerate() {
            for &s in members {
                g[s] = i as u32 + 1;
            }
        }
        self.partitions.push((at, None, g));
    }

    pub(super) fn heal(&mut self, at: Duration) {
        self.last_fault = at;
        if let Some(p) = self.partitions.last_mut().filter(|p| p.1.is_none()) {
            p.1 = Some(at);
        }
    }

    /// Whether `a` and `b` were kept apart (either cut off, or on two sides
    /// of a partition) at some time in `[from, to]`.
    pub(super) fn apart_within(&self, a: usize, b: usize, from: Duration, to: Duration) -> bool {
        let overlaps = |s: Duration, e: Option<Duration>| s <= to && e.is_none_or(|e| e >= from);
        let cut = |x: usize| self.cut[x].iter().any(|(s, e)| overlaps(*s, *e));
        let split = self.partitions.iter().any(|(s, e, g)| overlaps(*s, *e) && g[a] != g[b]);
        cut(a) || cut(b) || split
    }
}
