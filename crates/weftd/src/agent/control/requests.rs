//! Requests from the API the control loop answers itself: flow explanations.

use std::time::Instant;

use weft_api::Explanation;
use weft_policy::{Action, FlowPoint};
use weft_types::FlowKey;

use super::Control;
use crate::agent::ondemand::{self, ExplainHead, PathNames};

impl Control {
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
        let decision = peer.and_then(|p| self.node.explain(now, p, profile, key.stable_hash()));
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
}
