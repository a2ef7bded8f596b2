//! Bandwidth reservations on this site: the I/O edge of
//! [`weft_qos::Admission`].
//!
//! A reservation (destination site, class, rate, priority, optional expiry)
//! is admitted on the lowest-latency usable path to its destination whose
//! uplink has room (reservable share of a shaped uplink's capacity, less
//! what others hold), preempting lower-priority ones if it must; it is
//! refused with the figures otherwise. Admitted reservations are published
//! to the send path ([`QosSetup::reservations`]): their class's traffic to
//! their destination goes on the uplink they hold, in a lane with their
//! guaranteed rate. Every change is stored with its audit record in one
//! transaction and raises a `reservation_changed` event.
//!
//! [`Reservations::tick`] (every second) ends expired reservations and
//! re-admits preempted ones when room returns.

mod mesh;

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use weft_api::{Event, EventKind, NewReservation, Reservation, ReservationMade};
use weft_path::PathState;
use weft_qos::{Admission, Candidate, Decision, Held, Request};
use weft_types::{Bandwidth, parse_duration};

use super::qos::{QosBoard, QosSetup, ReservedRoute};
use super::shared::Shared;
use super::status::SharedStatus;
use crate::store::{NewAudit, ReservationChange, Store};

/// Why a reservation was not made: the API's 4xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The request is malformed (400).
    Bad(String),
    /// It does not fit, or cannot be placed (409).
    NoRoom(String),
}

/// The site's reservations.
pub(crate) struct Reservations {
    store: Store,
    shared: Arc<Shared>,
    board: Arc<QosBoard>,
    status: Arc<SharedStatus>,
    events: Mutex<Sender<Event>>,
    /// One change at a time (admission reads, then writes).
    lock: Mutex<()>,
    /// The control plane's state here: the mesh-wide ledger in force.
    plane: Arc<crate::controlplane::PlaneState>,
    /// The mesh-wide reservations this site is the source of, by id.
    placed: Mutex<BTreeMap<String, mesh::Placed>>,
}

const ADMITTED: &str = "admitted";
const PREEMPTED: &str = "preempted";

fn held(r: &Reservation) -> Option<Held> {
    (r.state == ADMITTED).then(|| Held {
        id: r.id.clone(),
        to: r.to.clone(),
        rate_bps: r.rate_bps,
        priority: r.priority,
        uplink: r.uplink.clone().unwrap_or_default(),
    })
}

/// The rate (bit/s), expiry (Unix ms) and priority of a request, or why
/// they are malformed.
pub(crate) fn parse_terms(
    req: &NewReservation,
    now_unix_ms: i64,
) -> Result<(u64, Option<i64>, u8), String> {
    let rate = match Bandwidth::parse(&req.rate) {
        Ok(b) if b.bps() > 0 => b.bps(),
        Ok(_) => return Err("rate must be above 0".into()),
        Err(e) => return Err(format!("rate: {e}")),
    };
    let expires = match req.expires_in.as_deref().map(parse_duration) {
        None => None,
        Some(Ok(d)) if d >= Duration::from_secs(1) => {
            Some(now_unix_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
        }
        Some(Ok(_)) => return Err("expires_in must be at least 1s".into()),
        Some(Err(e)) => return Err(format!("expires_in: {e}")),
    };
    let Ok(priority) = u8::try_from(req.priority.unwrap_or(0)) else {
        return Err("priority must be 0..=255".into());
    };
    Ok((rate, expires, priority))
}

fn describe(r: &Reservation) -> String {
    let what = r.app.as_ref().map_or_else(|| r.class.clone(), |a| format!("app {a}"));
    format!(
        "{} to {} for {} ({}, priority {})",
        weft_qos::admission::mbit(r.rate_bps),
        r.to,
        what,
        r.uplink.as_deref().unwrap_or("no uplink"),
        r.priority
    )
}

impl Reservations {
    /// The manager over `store`, publishing to `board`, reading paths from
    /// `status`, raising events on `events`; publishes what is stored.
    pub(crate) fn new(
        store: Store,
        shared: Arc<Shared>,
        status: Arc<SharedStatus>,
        events: Sender<Event>,
        plane: Arc<crate::controlplane::PlaneState>,
    ) -> Result<Self> {
        let board = shared.qos.clone();
        let r = Self {
            store,
            shared,
            board,
            status,
            events: Mutex::new(events),
            lock: Mutex::new(()),
            plane,
            placed: Mutex::new(BTreeMap::new()),
        };
        let list = r.store.reservations()?;
        r.publish(&list);
        Ok(r)
    }

    /// Every reservation of this site, oldest first, then the mesh-wide ones.
    pub(crate) fn list(&self) -> Result<Vec<Reservation>> {
        let mut all = self.store.reservations()?;
        all.extend(self.mesh_views());
        Ok(all)
    }

    fn admission(setup: &QosSetup) -> Admission {
        let Some(cfg) = setup.config.as_ref().filter(|c| c.enabled) else {
            return Admission::default();
        };
        let reservable = setup
            .capacity_bps
            .iter()
            .zip(&setup.uplink_names)
            .filter_map(|(c, name)| Some((name.clone(), (((*c)? as f64) * cfg.reservable) as u64)))
            .collect();
        Admission { reservable }
    }

    /// The paths toward `site` as admission sees them.
    fn candidates(&self, site: &str) -> Vec<Candidate> {
        let status = self.status.get();
        status
            .paths
            .iter()
            .filter(|p| status.peers.get(p.peer).is_some_and(|peer| peer.name == site))
            .map(|p| Candidate {
                uplink: p.uplink.clone(),
                rtt: p.metrics.rtt,
                usable: matches!(p.metrics.state, PathState::Up | PathState::Degraded),
            })
            .collect()
    }

    fn classes(&self) -> Vec<String> {
        let stats = self.board.stats();
        stats.first().map_or_else(Vec::new, |u| {
            u.lanes.iter().filter(|l| l.name == l.class).map(|l| l.class.clone()).collect()
        })
    }

    /// The class of the first route of the running policy that names `app`.
    fn class_of_app(&self, app: &str) -> Result<String, String> {
        let policy = self.shared.active_policy();
        let doc = &policy.policy.document;
        doc.routes
            .iter()
            .find(|r| r.matches.apps.iter().any(|a| a == app))
            .map(|r| r.profile.class.clone())
            .ok_or_else(|| {
                let apps: Vec<&str> = doc
                    .routes
                    .iter()
                    .flat_map(|r| r.matches.apps.iter().map(String::as_str))
                    .collect();
                format!(
                    "no route of the running policy names app {app:?} (apps with routes: {})",
                    if apps.is_empty() { "none".to_owned() } else { apps.join(", ") }
                )
            })
    }

    /// Makes a reservation for `who`.
    pub(crate) fn make(
        &self,
        who: &str,
        req: &NewReservation,
        now_unix_ms: i64,
    ) -> Result<Result<ReservationMade, Refusal>> {
        let (rate, expires, priority) = match parse_terms(req, now_unix_ms) {
            Ok(t) => t,
            Err(m) => return Ok(Err(Refusal::Bad(m))),
        };
        let classes = self.classes();
        if classes.is_empty() {
            return Ok(Err(Refusal::NoRoom(
                "no uplink is shaped: write a capacity in the uplink's [[uplink]] section and keep [qos] enabled".into(),
            )));
        }
        let class = match (&req.class, &req.app) {
            (Some(class), None) => {
                if !classes.contains(class) {
                    return Ok(Err(Refusal::Bad(format!(
                        "no class {class:?} in the running policy (classes: {})",
                        classes.join(", ")
                    ))));
                }
                class.clone()
            }
            (None, Some(app)) => match self.class_of_app(app) {
                Ok(class) => class,
                Err(m) => return Ok(Err(Refusal::Bad(m))),
            },
            _ => return Ok(Err(Refusal::Bad("give exactly one of class and app".into()))),
        };
        let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let all = self.store.reservations()?;
        let holding = self.holding(&all);
        let setup = self.board.setup();
        let admission = Self::admission(&setup);
        let request = Request { id: "new".into(), to: req.to.clone(), rate_bps: rate, priority };
        let paths_to = |site: &str| self.candidates(site);
        let (uplink, moved) = match admission.admit(&request, &holding, &paths_to) {
            Decision::Admitted { uplink, preempted } => (uplink, preempted),
            Decision::Refused { reason } => return Ok(Err(Refusal::NoRoom(reason))),
        };
        let mut made = Reservation {
            id: String::new(),
            from: None,
            to: req.to.clone(),
            class,
            app: req.app.clone(),
            rate_bps: rate,
            priority,
            state: ADMITTED.into(),
            uplink: Some(uplink),
            reason: None,
            created_unix_ms: now_unix_ms,
            expires_unix_ms: expires,
        };
        let mut change = ReservationChange { insert: Some(made.clone()), ..Default::default() };
        change.audit.push(NewAudit {
            who: who.to_owned(),
            action: "reservation.create".into(),
            target: "reservation {new}".into(),
            before: None,
            after: Some(describe(&made)),
            detail: String::new(),
        });
        let mut preempted = Vec::new();
        for m in &moved {
            let Some(mut victim) = all.iter().find(|r| r.id == m.id).cloned() else { continue };
            let before = describe(&victim);
            if let Some(u) = &m.to_uplink {
                victim.uplink = Some(u.clone());
                victim.reason = Some("moved to make room for a higher priority".into());
            } else {
                victim.state = PREEMPTED.into();
                victim.uplink = None;
                victim.reason = Some(format!(
                    "preempted by a priority {} reservation to {}; waits for room",
                    priority, req.to
                ));
            }
            change.audit.push(NewAudit {
                who: who.to_owned(),
                action: "reservation.preempt".into(),
                target: format!("reservation {}", victim.id),
                before: Some(before),
                after: Some(format!("{} ({})", describe(&victim), victim.state)),
                detail: "preempted by reservation {new}".into(),
            });
            change.update.push(victim.clone());
            preempted.push(victim);
        }
        let id = self.store.change_reservations(&change, now_unix_ms)?.unwrap_or_default();
        made.id = id;
        for v in &mut preempted {
            v.reason = v.reason.take().map(|r| format!("{r} ({})", made.id));
        }
        self.publish(&self.store.reservations()?);
        self.event(format!("reservation {} made: {}", made.id, describe(&made)));
        for v in &preempted {
            self.event(format!(
                "reservation {} preempted by {}: {}",
                v.id,
                made.id,
                if v.state == ADMITTED {
                    format!("moved to {}", describe(v))
                } else {
                    "held down until room returns".into()
                }
            ));
        }
        Ok(Ok(ReservationMade { reservation: made, preempted }))
    }

    /// Deletes reservation `id` for `who`; `None` if there is none.
    pub(crate) fn delete(
        &self,
        who: &str,
        id: &str,
        now_unix_ms: i64,
    ) -> Result<Option<Reservation>> {
        let gone = {
            let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(r) = self.store.reservations()?.into_iter().find(|r| r.id == id) else {
                return Ok(None);
            };
            self.end(who, &r, "reservation.delete", now_unix_ms)?;
            r
        };
        self.event(format!("reservation {} deleted: {}", gone.id, describe(&gone)));
        self.tick(now_unix_ms)?;
        Ok(Some(gone))
    }

    fn end(&self, who: &str, r: &Reservation, action: &str, now_unix_ms: i64) -> Result<()> {
        let change = ReservationChange {
            delete: vec![r.id.clone()],
            audit: vec![NewAudit {
                who: who.to_owned(),
                action: action.to_owned(),
                target: format!("reservation {}", r.id),
                before: Some(describe(r)),
                after: None,
                detail: String::new(),
            }],
            ..Default::default()
        };
        self.store.change_reservations(&change, now_unix_ms)?;
        self.publish(&self.store.reservations()?);
        Ok(())
    }

    /// Ends expired reservations and re-admits preempted ones that fit now
    /// (highest priority first, without preempting anything).
    pub(crate) fn tick(&self, now_unix_ms: i64) -> Result<()> {
        let mut said = Vec::new();
        {
            let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let local = self.store.reservations()?;
            let (moved, mesh_said) = self.sync_mesh(&local);
            said.extend(mesh_said);
            if moved {
                self.publish(&local);
            }
            let all = self.store.reservations()?;
            for r in all.iter().filter(|r| r.expires_unix_ms.is_some_and(|t| t <= now_unix_ms)) {
                self.end("expiry", r, "reservation.expire", now_unix_ms)?;
                said.push(format!("reservation {} expired: {}", r.id, describe(r)));
            }
            let all = self.store.reservations()?;
            let mut waiting: Vec<&Reservation> =
                all.iter().filter(|r| r.state == PREEMPTED).collect();
            if !waiting.is_empty() {
                waiting.sort_by_key(|r| std::cmp::Reverse(r.priority));
                let admission = Self::admission(&self.board.setup());
                let mut holding = self.holding(&all);
                for w in waiting {
                    let candidates = self.candidates(&w.to);
                    let mut usable: Vec<&Candidate> =
                        candidates.iter().filter(|c| c.usable).collect();
                    usable.sort_by_key(|c| (c.rtt.is_none(), c.rtt));
                    let Some(c) = usable
                        .into_iter()
                        .find(|c| admission.free_on(&c.uplink, &holding) >= w.rate_bps)
                    else {
                        continue;
                    };
                    let mut back = w.clone();
                    back.state = ADMITTED.into();
                    back.uplink = Some(c.uplink.clone());
                    back.reason = None;
                    if let Some(h) = held(&back) {
                        holding.push(h);
                    }
                    let change = ReservationChange {
                        update: vec![back.clone()],
                        audit: vec![NewAudit {
                            who: "admission".into(),
                            action: "reservation.readmit".into(),
                            target: format!("reservation {}", back.id),
                            before: Some(format!("{} ({PREEMPTED})", describe(w))),
                            after: Some(describe(&back)),
                            detail: "room returned".into(),
                        }],
                        ..Default::default()
                    };
                    self.store.change_reservations(&change, now_unix_ms)?;
                    said.push(format!("reservation {} re-admitted: {}", back.id, describe(&back)));
                }
                self.publish(&self.store.reservations()?);
            }
        }
        for s in said {
            self.event(s);
        }
        let all = self.list()?;
        self.board
            .set_reservation_states(super::qos::count_states(all.iter().map(|r| r.state.as_str())));
        Ok(())
    }

    /// Publishes the admitted reservations to the send path.
    fn publish(&self, list: &[Reservation]) {
        let mut setup = (*self.board.setup()).clone();
        setup.reservations = list
            .iter()
            .filter(|r| r.state == ADMITTED)
            .filter_map(|r| {
                let uplink =
                    setup.uplink_names.iter().position(|n| Some(n) == r.uplink.as_ref())?;
                Some(ReservedRoute {
                    id: r.id.clone(),
                    to: r.to.clone(),
                    class: r.class.clone(),
                    app: r.app.clone(),
                    uplink,
                    rate_bps: r.rate_bps,
                })
            })
            .collect();
        for (id, to, class, app, uplink, rate_bps) in self.placed_routes() {
            let Some(uplink) = setup.uplink_names.iter().position(|n| *n == uplink) else {
                continue;
            };
            setup.reservations.push(ReservedRoute { id, to, class, app, uplink, rate_bps });
        }
        self.board.publish(setup);
    }

    fn event(&self, message: String) {
        if let Ok(tx) = self.events.lock() {
            let _ = tx.send(Event::new(EventKind::ReservationChanged, message));
        }
    }
}
