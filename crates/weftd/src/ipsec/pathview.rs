//! The path engine's side of a gateway's choice: per route profile of the
//! running policy, what the class asks of a path ([`ClassRule`]) and what
//! the engine offers toward the WireGuard site `via` ([`Candidate`]), read
//! from the agent's latest status and policy.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use weft_api::SiteState;
use weft_path::{Fallback, PathAttrs, Quality};

use super::choice::{Candidate, ClassRule};
use crate::agent::status::Status;
use crate::policy::ActivePolicy;

/// The running policy and the latest status, as the agent has them now.
pub(crate) type EngineNow = Arc<dyn Fn() -> EngineView + Send + Sync>;

/// One reading of the agent's policy and status.
#[derive(Debug, Clone)]
pub(crate) struct EngineView {
    /// The running policy (its route profiles and classes).
    pub(crate) policy: Arc<ActivePolicy>,
    /// The agent's latest status (peers, paths, the engine's choices).
    pub(crate) status: Arc<Status>,
}

/// [`EngineView`] with the reachable sites worked out once.
pub(crate) struct Engine {
    view: EngineView,
    up: BTreeSet<String>,
}

impl Engine {
    /// Reads `view`.
    pub(crate) fn new(view: EngineView) -> Self {
        let up = crate::api::views::sites(&view.status)
            .into_iter()
            .filter(|s| matches!(s.state, SiteState::Up | SiteState::Degraded))
            .map(|s| s.id)
            .collect();
        Engine { view, up }
    }

    /// How many route profiles the running policy has.
    pub(crate) fn profiles(&self) -> usize {
        self.view.policy.policy.profiles.len()
    }

    /// Profile `profile`'s name (its class, then the preference and index
    /// for a route's own profile) and class.
    pub(crate) fn label(&self, profile: usize) -> (String, String) {
        let p = &self.view.policy.policy;
        let name = p.selection_policy(profile, |_| None).name;
        (name, p.profiles.get(profile).map(|x| x.class.clone()).unwrap_or_default())
    }

    /// What profile `profile` asks of gateway `gateway`'s paths.
    pub(crate) fn rule(&self, gateway: &str, profile: usize) -> ClassRule {
        let p = &self.view.policy.policy;
        let Some(route) = p.profiles.get(profile) else { return ClassRule::best_effort() };
        let sel = p.selection_policy(profile, |_| None);
        let me = format!("ipsec:{gateway}");
        ClassRule {
            sla: sel.sla.limits(),
            preference: sel.preference,
            strict: sel.fallback == Fallback::StrictDrop,
            ipsec_first: route.uplinks.contains(&me),
            ipsec_excluded: route.exclude_uplinks.contains(&me),
        }
    }

    /// The WireGuard path toward site `via` for profile `profile` (`None`:
    /// any class's), as the path engine chose it: `None` when the site is
    /// unknown, or the engine has no path for a profile that may not borrow
    /// another's (a strict class, excluded uplinks).
    pub(crate) fn wireguard(&self, via: &str, profile: Option<usize>) -> Option<Candidate> {
        let s = &self.view.status;
        let peer = s.peers.iter().find(|p| p.name == via && !p.gone && !p.removed)?;
        let own = profile.and_then(|i| peer.choices.get(i).copied().flatten());
        let may_borrow =
            profile.is_none_or(|i| !self.view.policy.no_borrow.get(i).copied().unwrap_or(false));
        let chosen = own.or_else(|| {
            may_borrow.then(|| peer.choices.iter().copied().flatten().next()).flatten()
        });
        if chosen.is_none() && !may_borrow {
            return None;
        }
        let path = chosen.and_then(|id| s.paths.iter().find(|p| p.id == id));
        let site_up = self.up.contains(via);
        let Some(path) = path else {
            // reachable without a path of its own for the class (relayed):
            // alive, quality unknown
            return Some(Candidate {
                alive: site_up,
                quality: Quality::default(),
                attrs: PathAttrs::default(),
            });
        };
        let m = &path.metrics;
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        Some(Candidate {
            alive: site_up && m.state.is_alive(),
            quality: Quality {
                rtt_us: m.rtt.map_or(0, us),
                jitter_us: us(m.jitter),
                loss: m.loss,
                loss_long: m.loss_long,
            },
            attrs: PathAttrs::default(),
        })
    }
}
