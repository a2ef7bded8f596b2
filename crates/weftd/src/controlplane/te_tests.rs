use std::collections::BTreeMap;

use weft_etcd::Compare;

use super::*;
use crate::controlplane::records::Ask;

const NOW_MS: i64 = 1_800_000_000_000;
const MBIT: u64 = 1_000_000;

/// The ledger in a one-key store: plans against it, checks the compares,
/// applies the puts.
#[derive(Default)]
struct Mem {
    value: Option<(String, u64)>,
    rev: u64,
    caps: Capacities,
}

impl Mem {
    fn with(sites: &[(&str, u64)]) -> Self {
        let caps = Capacities {
            sites: sites.iter().map(|(s, c)| ((*s).to_owned(), c * MBIT)).collect(),
            reservable: 0.8,
        };
        Self { caps, ..Self::default() }
    }

    fn kv(&self) -> Option<Kv> {
        self.value.as_ref().map(|(v, rev)| Kv {
            key: DOC.to_owned(),
            value: v.clone(),
            create_revision: 1,
            mod_revision: *rev,
        })
    }

    fn apply(&mut self, p: &Planned) {
        for c in &p.compares {
            match c {
                Compare::ModRevision(_, rev) => {
                    assert_eq!(self.value.as_ref().map(|x| x.1), Some(*rev));
                }
                Compare::Missing(_) => assert!(self.value.is_none()),
            }
        }
        for (k, v) in &p.puts {
            if k == DOC {
                self.rev += 1;
                self.value = Some((v.clone(), self.rev));
            } else {
                assert!(k.starts_with("/weft/audit/") || k.contains("audit"), "unexpected key {k}");
            }
        }
    }

    fn run(&mut self, ask: &ReservationAsk) -> ReservationResult {
        let req = PolicyRequest {
            id: "q1".into(),
            ask: Ask::Reservation(ask.clone()),
            actor: "op".into(),
            at_unix_ms: NOW_MS,
        };
        let kv = self.kv();
        let mut read = |_: &str| Ok(kv.clone());
        let p = plan(&req, ask, 3, NOW_MS, &self.caps, &mut read).unwrap();
        self.apply(&p);
        serde_json::from_str(&p.result).unwrap()
    }

    fn ledger(&self) -> Ledger {
        decode(self.kv().as_ref()).unwrap().0
    }

    fn state(&self, id: &str) -> String {
        self.ledger().reservations[id].state.clone()
    }
}

fn add(from: &str, to: &str, mbit: u64, priority: u8) -> ReservationAsk {
    ReservationAsk::Add {
        from: from.into(),
        to: to.into(),
        class: Some("bulk".into()),
        app: None,
        rate_bps: mbit * MBIT,
        priority,
        expires_unix_ms: None,
    }
}

#[test]
fn a_reservation_that_fits_both_ends_is_admitted_with_a_new_id_and_audited() {
    let mut m = Mem::with(&[("a", 100), ("b", 50)]);
    let r = m.run(&add("a", "b", 20, 0));
    assert_eq!(r.refused, None);
    let made = r.reservation.unwrap();
    assert_eq!((made.id.as_str(), made.state.as_str()), ("m1", ADMITTED));
    let r = m.run(&add("a", "b", 10, 0));
    assert_eq!(r.reservation.unwrap().id, "m2", "ids are never reused");
    assert_eq!(m.ledger().reservations.len(), 2);
}

#[test]
fn the_destination_downlink_refuses_what_the_source_uplink_would_take() {
    // a has 100 Mbit/s (80 reservable), b only 50 (40 reservable).
    let mut m = Mem::with(&[("a", 100), ("b", 50), ("c", 100)]);
    assert_eq!(m.run(&add("a", "b", 30, 0)).refused, None);
    // 30 + 20 > 40 at b's downlink, although a's uplink has 50 free.
    let r = m.run(&add("c", "b", 20, 0));
    let (code, why) = r.refused.unwrap();
    assert_eq!(code, "no_room");
    assert!(why.contains("b's downlink has 10.0 Mbit/s free of 40.0 Mbit/s reservable"), "{why}");
    assert!(!why.contains("a's"), "only the short end is named: {why}");
    // Toward c it fits.
    assert_eq!(m.run(&add("a", "c", 20, 0)).refused, None);
}

#[test]
fn the_source_uplink_is_checked_across_destinations() {
    let mut m = Mem::with(&[("a", 50), ("b", 100), ("c", 100)]);
    assert_eq!(m.run(&add("a", "b", 25, 0)).refused, None);
    let (_, why) = m.run(&add("a", "c", 25, 0)).refused.unwrap();
    assert!(why.contains("a's uplink has 15.0 Mbit/s free"), "{why}");
}

#[test]
fn a_site_without_a_live_link_is_refused_by_name() {
    let mut m = Mem::with(&[("a", 100)]);
    let (code, why) = m.run(&add("a", "z", 1, 0)).refused.unwrap();
    assert_eq!(code, "no_room");
    assert!(why.contains("site z advertises no live link"), "{why}");
}

#[test]
fn higher_priority_preempts_the_fewest_lowest_and_they_come_back_when_room_returns() {
    let mut m = Mem::with(&[("a", 100), ("b", 50), ("c", 100)]);
    assert_eq!(m.run(&add("a", "b", 10, 1)).refused, None); // m1
    assert_eq!(m.run(&add("c", "b", 25, 0)).refused, None); // m2
    // 35 of 40 held at b; 20 at priority 5 needs 15 more: m2 (lowest) goes, m1 stays.
    let r = m.run(&add("a", "b", 20, 5));
    assert_eq!(r.refused, None);
    let victims: Vec<&str> = r.preempted.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(victims, ["m2"]);
    assert_eq!(m.state("m1"), ADMITTED);
    assert_eq!(m.state("m2"), PREEMPTED);
    let reason = m.ledger().reservations["m2"].reason.clone().unwrap();
    assert!(reason.contains("preempted by m3"), "{reason}");
    // Priority 0 preempts nothing: refused with the figures.
    let (_, why) = m.run(&add("c", "b", 20, 0)).refused.unwrap();
    assert!(why.contains("at priority 0 it preempts nothing"), "{why}");
    // A tick with nothing freed changes nothing.
    assert!(plan_tick(3, NOW_MS, "leader", &m.caps, m.kv().as_ref()).is_none());
    // m3 deleted: m2 fits again and is re-admitted by the delete itself.
    let r = m.run(&ReservationAsk::Delete { id: "m3".into() });
    assert_eq!(r.reservation.unwrap().id, "m3");
    assert_eq!(m.state("m2"), ADMITTED);
    assert_eq!(m.ledger().reservations["m2"].reason, None);
}

#[test]
fn the_tick_ends_expired_reservations_and_readmits_what_then_fits() {
    let mut m = Mem::with(&[("a", 100), ("b", 50)]);
    let mut ask = add("a", "b", 30, 2);
    if let ReservationAsk::Add { expires_unix_ms, .. } = &mut ask {
        *expires_unix_ms = Some(NOW_MS + 60_000);
    }
    assert_eq!(m.run(&ask).refused, None); // m1, expires in a minute
    // Place a low one, then preempt it by hand as a higher one would have.
    let mut ledger = m.ledger();
    ledger.reservations.insert(
        "m9".into(),
        MeshReservation {
            id: "m9".into(),
            from: "a".into(),
            to: "b".into(),
            class: Some("bulk".into()),
            app: None,
            rate_bps: 20 * MBIT,
            priority: 0,
            state: PREEMPTED.into(),
            reason: Some("preempted by m1".into()),
            actor: "op".into(),
            created_unix_ms: NOW_MS,
            expires_unix_ms: None,
        },
    );
    m.rev += 1;
    m.value = Some((serde_json::to_string(&ledger).unwrap(), m.rev));
    assert!(plan_tick(3, NOW_MS + 1_000, "leader", &m.caps, m.kv().as_ref()).is_none());
    let (p, said) = plan_tick(3, NOW_MS + 60_000, "leader", &m.caps, m.kv().as_ref()).unwrap();
    m.apply(&p);
    assert_eq!(said, ["reservation.mesh.expire m1", "reservation.mesh.readmit m9"]);
    assert!(!m.ledger().reservations.contains_key("m1"));
    assert_eq!(m.state("m9"), ADMITTED);
}

#[test]
fn malformed_asks_are_refused_before_admission() {
    let mut m = Mem::with(&[("a", 100), ("b", 100)]);
    let (code, _) = m.run(&add("a", "a", 1, 0)).refused.unwrap();
    assert_eq!(code, "invalid_reservation");
    let (code, _) = m.run(&add("a", "b", 0, 0)).refused.unwrap();
    assert_eq!(code, "invalid_reservation");
    let (code, _) = m.run(&add("A B", "b", 1, 0)).refused.unwrap();
    assert_eq!(code, "invalid_reservation");
    let (code, _) = m.run(&ReservationAsk::Delete { id: "m7".into() }).refused.unwrap();
    assert_eq!(code, "not_found");
    assert!(m.value.is_none(), "nothing was written");
}

#[test]
fn capacities_come_from_the_best_live_link_each_site_advertises() {
    use std::time::Duration;
    use weft_node::relay::{LinkSummary, LinkView};
    let link = |to: &str, cap: u64, up: bool| LinkSummary {
        neighbor: to.parse().unwrap(),
        rtt: Some(Duration::from_millis(5)),
        jitter: Duration::ZERO,
        loss: 0.0,
        capacity_bps: cap,
        up,
        relayed_only: false,
        via: None,
    };
    let views = vec![
        LinkView {
            origin: "a".parse().unwrap(),
            links: vec![link("b", 50, true), link("c", 200, false)],
        },
        LinkView { origin: "b".parse().unwrap(), links: vec![link("a", 0, false)] },
    ];
    let caps = Capacities::from_views(&views, 0.5);
    assert_eq!(caps.sites, BTreeMap::from([("a".to_owned(), 50)]));
    assert_eq!(caps.limit("a"), Some(25));
    assert_eq!(caps.limit("b"), None, "no live link: unknown");
}

#[test]
fn the_publication_carries_the_ledger_at_its_store_revision() {
    let mut m = Mem::with(&[("a", 100), ("b", 100)]);
    m.run(&add("a", "b", 5, 0));
    let kv = m.kv().unwrap();
    let p = publication(7, &kv).unwrap();
    assert_eq!(p.kind, weft_mesh::identity::BundleKind::Reservations);
    assert_eq!((p.epoch, p.seq, p.stable.0), (7, kv.mod_revision, kv.mod_revision));
    let back: Ledger = serde_json::from_str(&p.stable.1).unwrap();
    assert_eq!(back, m.ledger());
}
