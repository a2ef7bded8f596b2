//! Mesh-wide bandwidth reservations in the control store
//! (`/weft/te/reservations`): the ledger of every reservation between two
//! sites of the mesh, admitted by the leader against **both ends**: the
//! source's uplink and the destination's downlink.
//!
//! A change is a request like any other (`weft reserve add --from A` at a
//! controller): the leader plans it here in one fenced transaction with an
//! audit record, then publishes the ledger (`BundleKind::Reservations`,
//! signed by the mesh CA, `seq` = the ledger's store revision) to every
//! site. The source site places each admitted reservation on one of its
//! uplinks and enforces it in its scheduler (see
//! `agent::reservations`); the other sites only show it.
//!
//! # Admission at the mesh level
//! Each site's capacity is what it advertises in its link state (the
//! `capacity` of the uplink its best path to a neighbour uses, the largest
//! over its live links). A reservation `from → to` at rate R fits when
//! `R + Σ(admitted from "from") ≤ reservable × capacity(from)` and
//! `R + Σ(admitted to "to") ≤ reservable × capacity(to)`. When it does not,
//! lower-priority reservations that share an end are preempted, lowest
//! priority first, until it fits; they wait (`preempted`) and are
//! re-admitted by the leader's tick, highest priority first, once room
//! returns. When even that is not enough the request is refused with the
//! figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft_control::CallError;
use weft_etcd::Kv;

use super::PlaneRefusal;
use super::records::{AuditEntry, Planned, PolicyRequest};
use weft_qos::admission::mbit;

/// The ledger's key.
pub(crate) const DOC: &str = "/weft/te/reservations";

/// Admitted: it holds its rate at both ends.
pub(crate) const ADMITTED: &str = "admitted";
/// Preempted: waits for room.
pub(crate) const PREEMPTED: &str = "preempted";

/// One mesh-wide reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MeshReservation {
    /// `m1`, `m2`, ... (never reused).
    pub(crate) id: String,
    /// The site whose traffic it reserves for (where it is enforced).
    pub(crate) from: String,
    /// The destination site.
    pub(crate) to: String,
    /// The class it reserves for, or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) class: Option<String>,
    /// the app (of the policy running at `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) app: Option<String>,
    pub(crate) rate_bps: u64,
    pub(crate) priority: u8,
    /// [`ADMITTED`] or [`PREEMPTED`].
    pub(crate) state: String,
    /// Why it is preempted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Who made it.
    pub(crate) actor: String,
    pub(crate) created_unix_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_unix_ms: Option<i64>,
}

/// The stored ledger, also what every site gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ledger {
    /// The number of the next id.
    pub(crate) next: u64,
    /// By id.
    pub(crate) reservations: BTreeMap<String, MeshReservation>,
}

/// A change of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ReservationAsk {
    /// A new reservation (checked by the controller that took it).
    Add {
        from: String,
        to: String,
        class: Option<String>,
        app: Option<String>,
        rate_bps: u64,
        priority: u8,
        expires_unix_ms: Option<i64>,
    },
    /// End one.
    Delete { id: String },
}

impl ReservationAsk {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Add { .. } => "reservation_add",
            Self::Delete { .. } => "reservation_delete",
        }
    }
}

/// The leader's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReservationResult {
    /// The reservation made or deleted.
    pub(crate) reservation: Option<MeshReservation>,
    /// The reservations preempted to make room (as they are now).
    #[serde(default)]
    pub(crate) preempted: Vec<MeshReservation>,
    /// Why not (`code`, message), when refused.
    pub(crate) refused: Option<(String, String)>,
    pub(crate) epoch: u64,
}

/// What admission knows of the sites: their capacity (bit/s) as they
/// advertise it, and the share of it reservations may hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Capacities {
    pub(crate) sites: BTreeMap<String, u64>,
    /// 0 < reservable <= 1.
    pub(crate) reservable: f64,
}

impl Capacities {
    /// Capacities from every site's latest link-state advertisement.
    pub(crate) fn from_views(views: &[weft_node::relay::LinkView], reservable: f64) -> Self {
        let sites = views
            .iter()
            .filter_map(|v| {
                let best = v.links.iter().filter(|l| l.up).map(|l| l.capacity_bps).max()?;
                Some((v.origin.to_string(), best))
            })
            .collect();
        Self { sites, reservable }
    }

    fn limit(&self, site: &str) -> Option<u64> {
        self.sites.get(site).map(|c| (*c as f64 * self.reservable) as u64)
    }
}

/// The ledger in `kv` (none stored: empty).
pub(crate) fn decode(kv: Option<&Kv>) -> Result<(Ledger, u64), String> {
    match kv {
        None => Ok((Ledger::default(), 0)),
        Some(kv) => serde_json::from_str(&kv.value)
            .map(|d| (d, kv.mod_revision))
            .map_err(|e| format!("the stored reservation ledger is unreadable: {e}")),
    }
}

/// Which end of a reservation is short, and by how much.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Short {
    end: &'static str,
    site: String,
    free: u64,
    limit: u64,
}

/// Bit/s held by admitted reservations at `site` as the source (`up`) or
/// the destination, leaving out `skip`.
fn held(ledger: &Ledger, site: &str, up: bool, skip: &[String]) -> u64 {
    ledger
        .reservations
        .values()
        .filter(|r| r.state == ADMITTED && !skip.contains(&r.id))
        .filter(|r| if up { r.from == site } else { r.to == site })
        .map(|r| r.rate_bps)
        .sum()
}

/// The ends where `rate` from → to does not fit (empty: it fits), with
/// the reservations in `skip` not counted; `Err` when an end has no
/// known capacity.
fn short_ends(
    ledger: &Ledger,
    caps: &Capacities,
    from: &str,
    to: &str,
    rate: u64,
    skip: &[String],
) -> Result<Vec<Short>, String> {
    let mut out = Vec::new();
    for (end, site, up) in [("uplink", from, true), ("downlink", to, false)] {
        let Some(limit) = caps.limit(site) else {
            return Err(format!(
                "site {site} advertises no live link: its capacity is unknown to the control plane"
            ));
        };
        let free = limit.saturating_sub(held(ledger, site, up, skip));
        if free < rate {
            out.push(Short { end, site: site.to_owned(), free, limit });
        }
    }
    Ok(out)
}

fn describe_short(rate: u64, from: &str, to: &str, short: &[Short]) -> String {
    let ends: Vec<String> = short
        .iter()
        .map(|s| {
            format!(
                "{}'s {} has {} free of {} reservable",
                s.site,
                s.end,
                mbit(s.free),
                mbit(s.limit)
            )
        })
        .collect();
    format!("{} from {from} to {to} does not fit: {}", mbit(rate), ends.join("; "))
}

/// What admission decided for a new reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Fits once `preempt` (maybe none) are held down.
    Admit { preempt: Vec<String> },
    /// Does not fit: why, with the figures.
    Refuse(String),
}

/// Admission of `rate` at `priority` from → to against `ledger`.
pub(crate) fn place(
    ledger: &Ledger,
    caps: &Capacities,
    from: &str,
    to: &str,
    rate: u64,
    priority: u8,
) -> Placement {
    let short = match short_ends(ledger, caps, from, to, rate, &[]) {
        Ok(s) => s,
        Err(why) => return Placement::Refuse(why),
    };
    if short.is_empty() {
        return Placement::Admit { preempt: Vec::new() };
    }
    // Lower priorities that share an end, lowest first, larger first
    // within a priority (fewest victims).
    let mut victims: Vec<&MeshReservation> = ledger
        .reservations
        .values()
        .filter(|r| r.state == ADMITTED && r.priority < priority)
        .filter(|r| r.from == from || r.to == to)
        .collect();
    victims.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.rate_bps)));
    let mut preempt = Vec::new();
    for v in victims {
        preempt.push(v.id.clone());
        if short_ends(ledger, caps, from, to, rate, &preempt).is_ok_and(|s| s.is_empty()) {
            // Keep only the victims that were needed: drop any whose
            // removal was not required, from the last added backwards.
            let mut needed = preempt.clone();
            for id in preempt.iter().rev().skip(1) {
                let without: Vec<String> = needed.iter().filter(|x| *x != id).cloned().collect();
                if short_ends(ledger, caps, from, to, rate, &without).is_ok_and(|s| s.is_empty()) {
                    needed = without;
                }
            }
            return Placement::Admit { preempt: needed };
        }
    }
    let why = describe_short(rate, from, to, &short);
    Placement::Refuse(if priority == 0 {
        format!("{why}, and at priority 0 it preempts nothing")
    } else {
        format!("{why}, even with every lower-priority reservation preempted")
    })
}

/// One request's context.
struct Step<'a> {
    request: &'a str,
    actor: &'a str,
    epoch: u64,
    now_unix_ms: i64,
}

impl Step<'_> {
    fn refuse(&self, code: &str, why: String) -> Planned {
        let r = ReservationResult {
            refused: Some((code.to_owned(), why)),
            epoch: self.epoch,
            ..ReservationResult::default()
        };
        Planned::answer(super::leader::json(&r))
    }

    fn write(
        &self,
        ledger: &Ledger,
        rev: u64,
        result: &ReservationResult,
        action: String,
    ) -> Planned {
        let audit = AuditEntry {
            request: self.request.to_owned(),
            actor: self.actor.to_owned(),
            action,
            before: rev,
            after: 0,
            epoch: self.epoch,
            at_unix_ms: self.now_unix_ms,
        };
        Planned::answer(super::leader::json(result)).with_doc(
            DOC,
            rev,
            super::leader::json(ledger),
            &audit,
            self.now_unix_ms,
        )
    }
}

/// Checks what a controller takes before queueing an add.
pub(crate) fn check_add(ask: &ReservationAsk) -> Result<(), String> {
    let ReservationAsk::Add { from, to, class, app, rate_bps, .. } = ask else { return Ok(()) };
    for (what, site) in [("from", from), ("to", to)] {
        weft_types::SiteId::new(site).map_err(|e| format!("{what} {site:?}: {e}"))?;
    }
    if from == to {
        return Err(format!("from and to are the same site ({from})"));
    }
    if class.is_some() == app.is_some() {
        return Err("give exactly one of class and app".into());
    }
    if *rate_bps == 0 {
        return Err("rate must be above 0".into());
    }
    Ok(())
}

/// The leader's writes for `ask`; `None` when the store could not be read.
pub(crate) fn plan(
    req: &PolicyRequest,
    ask: &ReservationAsk,
    epoch: u64,
    now_unix_ms: i64,
    caps: &Capacities,
    read: &mut dyn FnMut(&str) -> Result<Option<Kv>, CallError>,
) -> Option<Planned> {
    let kv = read(DOC).ok()?;
    let step = Step { request: &req.id, actor: &req.actor, epoch, now_unix_ms };
    let (mut ledger, rev) = match decode(kv.as_ref()) {
        Ok(d) => d,
        Err(why) => return Some(step.refuse("internal", why)),
    };
    match ask {
        ReservationAsk::Add { from, to, class, app, rate_bps, priority, expires_unix_ms } => {
            if let Err(why) = check_add(ask) {
                return Some(step.refuse("invalid_reservation", why));
            }
            let preempt = match place(&ledger, caps, from, to, *rate_bps, *priority) {
                Placement::Admit { preempt } => preempt,
                Placement::Refuse(why) => return Some(step.refuse("no_room", why)),
            };
            ledger.next = ledger.next.max(1);
            let id = format!("m{}", ledger.next);
            ledger.next += 1;
            let made = MeshReservation {
                id: id.clone(),
                from: from.clone(),
                to: to.clone(),
                class: class.clone(),
                app: app.clone(),
                rate_bps: *rate_bps,
                priority: *priority,
                state: ADMITTED.into(),
                reason: None,
                actor: req.actor.clone(),
                created_unix_ms: now_unix_ms,
                expires_unix_ms: *expires_unix_ms,
            };
            for v in &preempt {
                if let Some(r) = ledger.reservations.get_mut(v) {
                    r.state = PREEMPTED.into();
                    r.reason = Some(format!(
                        "preempted by {id} (priority {priority}, {} from {from} to {to}); waits for room",
                        mbit(*rate_bps)
                    ));
                }
            }
            ledger.reservations.insert(id.clone(), made.clone());
            let victims: Vec<MeshReservation> =
                preempt.iter().filter_map(|v| ledger.reservations.get(v).cloned()).collect();
            let action = format!(
                "reservation.mesh.create {id} {} {from}->{to}{}",
                mbit(*rate_bps),
                if preempt.is_empty() {
                    String::new()
                } else {
                    format!(" preempting {}", preempt.join(","))
                }
            );
            let result = ReservationResult {
                reservation: Some(made),
                preempted: victims,
                refused: None,
                epoch,
            };
            Some(step.write(&ledger, rev, &result, action))
        }
        ReservationAsk::Delete { id } => {
            let Some(gone) = ledger.reservations.remove(id) else {
                return Some(step.refuse("not_found", format!("no mesh-wide reservation {id}")));
            };
            readmit(&mut ledger, caps);
            let action = format!("reservation.mesh.delete {id}");
            let result = ReservationResult {
                reservation: Some(gone),
                preempted: Vec::new(),
                refused: None,
                epoch,
            };
            Some(step.write(&ledger, rev, &result, action))
        }
    }
}

/// Re-admits preempted reservations that fit now, highest priority first,
/// without preempting anything; the ids it re-admitted.
fn readmit(ledger: &mut Ledger, caps: &Capacities) -> Vec<String> {
    let mut waiting: Vec<MeshReservation> =
        ledger.reservations.values().filter(|r| r.state == PREEMPTED).cloned().collect();
    waiting.sort_by_key(|r| (std::cmp::Reverse(r.priority), r.created_unix_ms));
    let mut back = Vec::new();
    for w in waiting {
        let fits =
            short_ends(ledger, caps, &w.from, &w.to, w.rate_bps, &[]).is_ok_and(|s| s.is_empty());
        if fits && let Some(r) = ledger.reservations.get_mut(&w.id) {
            r.state = ADMITTED.into();
            r.reason = None;
            back.push(w.id.clone());
        }
    }
    back
}

/// The leader's periodic writes: expired reservations end, preempted ones
/// that fit come back. `None`: nothing to do (or the store is unreadable).
pub(crate) fn plan_tick(
    epoch: u64,
    now_unix_ms: i64,
    actor: &str,
    caps: &Capacities,
    kv: Option<&Kv>,
) -> Option<(Planned, Vec<String>)> {
    let (mut ledger, rev) = decode(kv).ok()?;
    let expired: Vec<String> = ledger
        .reservations
        .values()
        .filter(|r| r.expires_unix_ms.is_some_and(|t| t <= now_unix_ms))
        .map(|r| r.id.clone())
        .collect();
    for id in &expired {
        ledger.reservations.remove(id);
    }
    let back = readmit(&mut ledger, caps);
    if expired.is_empty() && back.is_empty() {
        return None;
    }
    let mut said = Vec::new();
    said.extend(expired.iter().map(|id| format!("reservation.mesh.expire {id}")));
    said.extend(back.iter().map(|id| format!("reservation.mesh.readmit {id}")));
    let request = format!("te-tick-{now_unix_ms}");
    let step = Step { request: &request, actor, epoch, now_unix_ms };
    let result = ReservationResult { epoch, ..ReservationResult::default() };
    Some((step.write(&ledger, rev, &result, said.join("; ")), said))
}

/// The publication of the ledger in `kv`.
pub(crate) fn publication(epoch: u64, kv: &Kv) -> Option<super::Publication> {
    let (ledger, _) = decode(Some(kv)).ok()?;
    Some(super::Publication {
        kind: weft_mesh::identity::BundleKind::Reservations,
        epoch,
        seq: kv.mod_revision,
        stable: (kv.mod_revision, super::leader::json(&ledger)),
        canary: None,
    })
}

impl MeshReservation {
    /// As the API shows it where it is not placed (at a controller, or a
    /// site that is not its source).
    pub(crate) fn view(&self) -> weft_api::Reservation {
        weft_api::Reservation {
            id: self.id.clone(),
            from: Some(self.from.clone()),
            to: self.to.clone(),
            class: self.class.clone().unwrap_or_default(),
            app: self.app.clone(),
            rate_bps: self.rate_bps,
            priority: self.priority,
            state: self.state.clone(),
            uplink: None,
            reason: self.reason.clone(),
            created_unix_ms: self.created_unix_ms,
            expires_unix_ms: self.expires_unix_ms,
        }
    }
}

/// A request's answer from the leader's result record.
pub(crate) fn answer_of(kv: &Kv) -> Result<ReservationResult, PlaneRefusal> {
    let r: ReservationResult = serde_json::from_str(&kv.value)
        .map_err(|e| PlaneRefusal::new(500, "internal", format!("the result record: {e}")))?;
    match r.refused {
        Some((code, message)) => {
            let status = match code.as_str() {
                "invalid_reservation" => 422,
                "no_room" => 409,
                "not_found" => 404,
                _ => 500,
            };
            Err(PlaneRefusal::new(status, &code, message))
        }
        None => Ok(r),
    }
}

#[cfg(test)]
#[path = "te_tests.rs"]
mod tests;
