//! Requests from the API the control loop serves: on-demand path tests,
//! flow explanations, removing and restoring a site.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use weft_api::{Event, EventKind, Explanation, PathTestResult};
use weft_dataplane::probe::ProbeFields;
use weft_policy::{Action, FlowPoint};
use weft_types::{FlowKey, PeerId};

use super::Control;
use crate::agent::ondemand::{self, ExplainHead, MAX_RUNNING_TESTS, PathNames, PathTest};

impl Control {
    /// Starts a test of engine path `path`; `reply` is dropped unanswered when
    /// the path is unknown or its peer takes no Weft probes.
    pub(super) fn start_test(
        &mut self,
        path: u32,
        probes: u32,
        reply: tokio::sync::oneshot::Sender<PathTestResult>,
    ) {
        let Some(dense) = self.table.paths.iter().position(|p| p.engine_id.0 == path) else {
            return;
        };
        let p = &self.table.paths[dense];
        if self.probes[p.peer].is_none()
            || self.table.is_removed(p.peer)
            || self.tests.len() >= MAX_RUNNING_TESTS
        {
            return;
        }
        let names = (
            self.table.peers[p.peer].name.to_string(),
            self.shared.uplink_names[p.uplink].clone(),
            p.remote.to_string(),
            path,
        );
        let id = self.next_test_id & 0x7fff_ffff_ffff;
        self.next_test_id += 1;
        self.tests.push(PathTest::new(id, dense as u32, probes, Instant::now(), names, reply));
    }

    /// Sends due test probes and answers finished tests.
    pub(super) fn run_tests(&mut self, now: Instant, out: &mut [u8]) {
        for t in &mut self.tests {
            while let Some(seq) = t.due(now) {
                let p = &self.table.paths[t.path as usize];
                let Some(state) = self.probes[p.peer].as_mut() else { break };
                let fields = ProbeFields {
                    path_token: p.engine_id.0,
                    seq,
                    timestamp_us: u64::try_from(now.duration_since(self.epoch).as_micros())
                        .unwrap_or(u64::MAX),
                };
                if let Ok(n) = state.seal_probe(&fields, out) {
                    let _ = self.shared.sockets[p.uplink].send_to(&out[..n], p.remote);
                }
            }
        }
        let mut i = 0;
        while i < self.tests.len() {
            if self.tests[i].finished(now) {
                self.tests.swap_remove(i).finish();
            } else {
                i += 1;
            }
        }
    }

    /// The next instant a test needs the loop (a probe or its end).
    pub(super) fn test_deadline(&self, now: Instant) -> Option<Instant> {
        (!self.tests.is_empty()).then(|| now + Duration::from_millis(10))
    }

    /// Explains `key` under the running policy and the engine's current view.
    pub(super) fn explain(&mut self, now: Instant, key: FlowKey, dscp: u8) -> Explanation {
        let doc = &self.active.policy.document;
        let c = self.active.policy.classify(&FlowPoint::new(&key, dscp));
        let profile = c.profile as usize;
        let peer = self.table.peer_for(key.dst);
        let head = ExplainHead {
            verdict: if c.action == Action::Allow { "allow" } else { "deny" }.to_owned(),
            rule: c
                .acl
                .and_then(|a| doc.acls.get(a as usize))
                .map_or_else(|| "default".to_owned(), |a| a.name.clone()),
            route_rule: c
                .route
                .and_then(|r| doc.routes.get(r as usize))
                .map_or_else(|| "default".to_owned(), |r| r.name.clone()),
            class: self.active.policy.profiles[profile].class.clone(),
            site: peer.map(|p| self.table.peers[p].name.to_string()),
        };
        let flow = key.to_string();
        let decision = peer.and_then(|p| {
            let incumbent = self.active.primary[p][profile].load(Ordering::Relaxed);
            let incumbent = self.table.paths.get(incumbent as usize).map(|x| x.engine_id);
            self.engine.explain(
                now,
                PeerId(p as u32),
                self.profile_ids[profile],
                key.stable_hash(),
                incumbent,
            )
        });
        let names = PathNames {
            paths: self
                .table
                .paths
                .iter()
                .map(|p| {
                    (
                        p.engine_id.0,
                        self.shared.uplink_names[p.uplink].as_str(),
                        p.remote.to_string(),
                    )
                })
                .collect(),
        };
        ondemand::explanation(flow, head, decision.as_ref(), &names)
    }

    /// Removes (or restores) peer `peer`: the data plane stops (or resumes)
    /// sending to it and accepting from it; probes and timers likewise.
    pub(super) fn set_removed(&mut self, peer: usize, removed: bool) {
        let Some(p) = self.table.peers.get(peer) else { return };
        if p.removed.swap(removed, Ordering::Relaxed) == removed {
            return;
        }
        let (kind, verb) = if removed {
            (EventKind::SiteLeft, "removed by an operator")
        } else {
            (EventKind::SiteJoined, "restored by an operator")
        };
        let mut ev = Event::new(kind, format!("site {} {verb}", p.name));
        ev.site = Some(p.name.to_string());
        self.emit(ev);
        self.emit(Event::new(EventKind::TopologyChanged, format!("site {} {verb}", p.name)));
    }
}
