//! Mesh-wide reservations at this site: the control plane's ledger
//! (followed into `PlaneState::reservations`) says which reservations the
//! leader admitted; the ones whose source is this site are placed here on
//! an uplink with room toward their destination, like this site's own,
//! and enforced by the same scheduler. The others are only shown.
//!
//! A mesh-wide reservation the leader admitted but no uplink here can hold
//! (every path's uplink is full with this site's own, or its class is not
//! in the running policy) is `waiting` with the reason, and is placed by a
//! later tick once room returns.

use std::collections::BTreeMap;

use weft_api::Reservation;
use weft_qos::{Candidate, Held};

use super::{Reservations, held};
use crate::controlplane::te::{self, MeshReservation};

/// Where this site put one of its mesh-wide reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Placed {
    /// The class its traffic is (an app's, resolved here).
    pub(super) class: String,
    /// The uplink it holds (none: waiting).
    pub(super) uplink: Option<String>,
    /// Why it waits.
    pub(super) reason: Option<String>,
}

/// State shown for a mesh-wide reservation placed (or not) here.
const WAITING: &str = "waiting";

impl Reservations {
    /// The ledger in force here.
    fn ledger(&self) -> te::Ledger {
        self.plane.reservations.read().map(|r| r.1.clone()).unwrap_or_default()
    }

    /// What this site's uplinks hold: its own admitted reservations and the
    /// mesh-wide ones placed here.
    pub(super) fn holding(&self, local: &[Reservation]) -> Vec<Held> {
        let placed = self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ledger = self.ledger();
        let mut out: Vec<Held> = local.iter().filter_map(held).collect();
        out.extend(placed.iter().filter_map(|(id, p)| {
            let r = ledger.reservations.get(id)?;
            Some(Held {
                id: id.clone(),
                to: r.to.clone(),
                rate_bps: r.rate_bps,
                priority: r.priority,
                uplink: p.uplink.clone()?,
            })
        }));
        out
    }

    /// Places the mesh-wide reservations this site is the source of and
    /// that are not placed yet; forgets the ones the ledger no longer
    /// admits. Whether anything changed, and what to say about it.
    pub(super) fn sync_mesh(&self, local: &[Reservation]) -> (bool, Vec<String>) {
        let ledger = self.ledger();
        let me = self.shared.site.to_string();
        let mut mine: Vec<&MeshReservation> = ledger
            .reservations
            .values()
            .filter(|r| r.from == me && r.state == te::ADMITTED)
            .collect();
        mine.sort_by_key(|r| (std::cmp::Reverse(r.priority), r.created_unix_ms));
        let before = self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut placed: BTreeMap<String, Placed> = before
            .iter()
            .filter(|(id, _)| mine.iter().any(|r| &r.id == *id))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut said: Vec<String> = before
            .keys()
            .filter(|id| !placed.contains_key(*id))
            .map(|id| format!("mesh-wide reservation {id} ended here"))
            .collect();
        let admission = Self::admission(&self.board.setup());
        let classes = self.classes();
        for r in mine {
            if placed.get(&r.id).is_some_and(|p| p.uplink.is_some()) {
                continue;
            }
            let class = match (&r.class, &r.app) {
                (Some(c), _) if classes.contains(c) => Ok(c.clone()),
                (Some(c), _) => Err(format!("no class {c:?} in the policy running here")),
                (None, Some(app)) => self.class_of_app(app),
                (None, None) => Err("neither a class nor an app".into()),
            };
            let class = match class {
                Ok(c) => c,
                Err(why) => {
                    placed.insert(
                        r.id.clone(),
                        Placed {
                            class: r.class.clone().unwrap_or_default(),
                            uplink: None,
                            reason: Some(why),
                        },
                    );
                    continue;
                }
            };
            *self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = placed.clone();
            let holding = self.holding(local);
            let mut usable: Vec<Candidate> =
                self.candidates(&r.to).into_iter().filter(|c| c.usable).collect();
            usable.sort_by_key(|c| (c.rtt.is_none(), c.rtt));
            let uplink = usable
                .iter()
                .find(|c| admission.free_on(&c.uplink, &holding) >= r.rate_bps)
                .map(|c| c.uplink.clone());
            let reason = uplink.is_none().then(|| {
                format!(
                    "admitted by the control plane; no uplink of {me} toward {} has {} free",
                    r.to,
                    weft_qos::admission::mbit(r.rate_bps)
                )
            });
            placed.insert(r.id.clone(), Placed { class, uplink, reason });
        }
        for (id, p) in &placed {
            if before.get(id) != Some(p) {
                said.push(match &p.uplink {
                    Some(u) => format!("mesh-wide reservation {id} placed on {u}"),
                    None => format!(
                        "mesh-wide reservation {id} waits: {}",
                        p.reason.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        let changed = placed != before;
        *self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = placed;
        (changed, said)
    }

    /// The mesh-wide reservations as the API shows them here.
    pub(super) fn mesh_views(&self) -> Vec<Reservation> {
        let placed = self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.ledger()
            .reservations
            .values()
            .map(|r| {
                let here = placed.get(&r.id);
                let mut view = r.view();
                if let Some(p) = here {
                    view.class.clone_from(&p.class);
                    view.uplink.clone_from(&p.uplink);
                    if p.uplink.is_none() {
                        WAITING.clone_into(&mut view.state);
                        view.reason.clone_from(&p.reason);
                    }
                }
                view
            })
            .collect()
    }

    /// The mesh-wide reservations placed here, for the send path:
    /// (id, to, class, app, uplink, rate).
    pub(super) fn placed_routes(
        &self,
    ) -> Vec<(String, String, String, Option<String>, String, u64)> {
        let placed = self.placed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ledger = self.ledger();
        placed
            .iter()
            .filter_map(|(id, p)| {
                let r = ledger.reservations.get(id)?;
                Some((
                    id.clone(),
                    r.to.clone(),
                    p.class.clone(),
                    r.app.clone(),
                    p.uplink.clone()?,
                    r.rate_bps,
                ))
            })
            .collect()
    }
}
