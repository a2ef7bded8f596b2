//! Relaying through another site when every direct path to a site is down.
//!
//! Every agent feeds the link-state advertisements the mesh floods (each
//! site's measured paths to its neighbours) into the same `weft-route`
//! [`LinkStateDb`]; [`RelayPlanner::plan`] then picks, per destination with
//! no live direct path, the relay `B` that minimises
//! `latency(me → B) + latency(B → dst)` over links that are up at both
//! ends of the advertisement. A relay only ever forwards on its *direct*
//! path (never relays again), so relayed traffic is loop-free with one
//! intermediate hop; the IP hop limit is decremented as well.
//!
//! Hysteresis: once relayed, a destination returns to its direct paths only
//! after one of them has been up for the hold-down without interruption; a
//! valid relay is kept rather than switched for a marginally better one.
//!
//! Relay limits (the control plane's registry, [`RelayLimits`]): a
//! *cordoned* site is never chosen as a new relay but keeps the relayed
//! traffic it carries; a *drained* one is never chosen and loses what it
//! carries at the next plan (to another relay, or back to the direct paths).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use weft_route::{LinkMetrics, LinkStateDb};
use weft_types::SiteId;

/// One measured link as an advertisement carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSummary {
    /// The neighbour.
    pub neighbor: SiteId,
    /// Best RTT over the live paths to it.
    pub rtt: Option<Duration>,
    /// Jitter of that path.
    pub jitter: Duration,
    /// Loss of that path, a fraction.
    pub loss: f64,
    /// Capacity of that path's uplink, bits per second.
    pub capacity_bps: u64,
    /// Whether any path to it is alive.
    pub up: bool,
    /// The measuring site has no direct path to the neighbour at all (a
    /// spoke and another spoke): not a link, only the signed word of the
    /// relay it sends through (`via`), which the neighbour accepts.
    pub relayed_only: bool,
    /// The relay the measuring site sends (some of) its traffic for the
    /// neighbour through, if any.
    pub via: Option<SiteId>,
}

/// One site's advertisement.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkView {
    /// Who measured.
    pub origin: SiteId,
    /// What it measured.
    pub links: Vec<LinkSummary>,
}

/// The database every agent builds from the same advertisements.
pub fn link_state_db(views: &[LinkView]) -> LinkStateDb {
    link_state_db_of(views.iter())
}

/// [`link_state_db`] over borrowed views (no copies of the advertisements).
pub fn link_state_db_of<'a>(views: impl Iterator<Item = &'a LinkView> + Clone) -> LinkStateDb {
    let mut db = LinkStateDb::new();
    for v in views.clone() {
        db.upsert_site(v.origin.clone());
        for l in v.links.iter().filter(|l| !l.relayed_only) {
            db.upsert_site(l.neighbor.clone());
        }
    }
    for v in views {
        for l in v.links.iter().filter(|l| !l.relayed_only) {
            let metrics = LinkMetrics {
                latency: l.rtt.map_or(Duration::from_secs(1), |r| r / 2),
                jitter: l.jitter.min(LinkMetrics::MAX_DELAY),
                loss: if l.loss.is_finite() { l.loss.clamp(0.0, 1.0) } else { 1.0 },
                capacity_bps: l.capacity_bps,
                utilisation: 0.0,
                cost: 1,
                up: l.up && l.rtt.is_some(),
            };
            // Refusals (a self-loop, absurd delays) leave the link out.
            let _ = db.upsert_link(&v.origin, &l.neighbor, metrics);
        }
    }
    db
}

/// Sites the control plane keeps new (cordoned) or all (drained) relayed
/// traffic away from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayLimits {
    /// Never chosen as a new relay; relays through them are kept.
    pub cordoned: BTreeSet<SiteId>,
    /// Never chosen as a relay; relays through them are dropped.
    pub drained: BTreeSet<SiteId>,
}

impl RelayLimits {
    /// Whether `via` may become a relay now.
    pub fn may_choose(&self, via: &SiteId) -> bool {
        !self.cordoned.contains(via) && !self.drained.contains(via)
    }

    /// Whether a relay through `via` may stay.
    pub fn may_keep(&self, via: &SiteId) -> bool {
        !self.drained.contains(via)
    }
}

#[derive(Debug, Clone)]
struct Relayed {
    via: SiteId,
    direct_up_since: Option<Instant>,
}

/// Chooses relays and keeps them with hysteresis. Sans-IO: time comes in.
#[derive(Debug)]
pub struct RelayPlanner {
    hold_down: Duration,
    relayed: BTreeMap<SiteId, Relayed>,
    /// Per (destination, class): classes relayed because no direct path
    /// meets their SLA (the destination's paths being alive).
    by_class: BTreeMap<(SiteId, usize), Relayed>,
    limits: RelayLimits,
}

/// A destination's direct reachability as the local path engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direct {
    /// Any direct path alive.
    pub alive: bool,
}

impl RelayPlanner {
    /// A planner returning to direct paths after `hold_down`.
    pub fn new(hold_down: Duration) -> Self {
        Self {
            hold_down,
            relayed: BTreeMap::new(),
            by_class: BTreeMap::new(),
            limits: RelayLimits::default(),
        }
    }

    /// Sets the sites kept out of relaying; takes effect at the next plan.
    pub fn set_limits(&mut self, limits: RelayLimits) {
        self.limits = limits;
    }

    /// The sites kept out of relaying.
    pub fn limits(&self) -> &RelayLimits {
        &self.limits
    }

    /// How long a direct path must stay good before traffic returns to it.
    pub fn hold_down(&self) -> Duration {
        self.hold_down
    }

    /// The relay of `dst`, if its traffic goes through one now.
    pub fn via(&self, dst: &SiteId) -> Option<&SiteId> {
        self.relayed.get(dst).map(|r| &r.via)
    }

    /// Replans every destination in `direct` (our peers, by site) at `now`
    /// from `db`; returns the changes as (destination, new relay or `None`
    /// for direct).
    pub fn plan(
        &mut self,
        now: Instant,
        me: &SiteId,
        db: &LinkStateDb,
        direct: &BTreeMap<SiteId, Direct>,
    ) -> Vec<(SiteId, Option<SiteId>)> {
        let mut changes = Vec::new();
        self.relayed.retain(|dst, _| {
            let keep = direct.contains_key(dst);
            if !keep {
                changes.push((dst.clone(), None));
            }
            keep
        });
        // Relays are sites we reach directly now: usually few of the peers
        // (hubs), and looked up once rather than per destination.
        let reachable: Vec<&SiteId> =
            direct.iter().filter(|(_, d)| d.alive).map(|(s, _)| s).collect();
        for (dst, d) in direct {
            if d.alive {
                let Some(r) = self.relayed.get_mut(dst) else { continue };
                let since = *r.direct_up_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= self.hold_down {
                    self.relayed.remove(dst);
                    changes.push((dst.clone(), None));
                }
                continue;
            }
            // Both ends must advertise the relay's link to the destination: a
            // relay's own word alone would let it attract traffic.
            let usable = |via: &SiteId| {
                db.link(via, dst).is_some_and(|l| l.up) && db.link(dst, via).is_some_and(|l| l.up)
            };
            let limits = &self.limits;
            if let Some(r) = self.relayed.get_mut(dst) {
                r.direct_up_since = None;
                let alive = direct.get(&r.via).is_some_and(|v| v.alive);
                if alive && usable(&r.via) && limits.may_keep(&r.via) {
                    continue;
                }
            }
            let best = reachable
                .iter()
                .copied()
                .filter(|via| *via != dst && *via != me && usable(via) && limits.may_choose(via))
                .min_by_key(|via| {
                    let first = db.link(me, via).map_or(Duration::from_secs(1), |l| l.latency);
                    let second = db.link(via, dst).map_or(Duration::from_secs(1), |l| l.latency);
                    (first + second, (*via).clone())
                })
                .cloned();
            match best {
                Some(via) => {
                    let changed = self.relayed.get(dst).is_none_or(|r| r.via != via);
                    self.relayed
                        .insert(dst.clone(), Relayed { via: via.clone(), direct_up_since: None });
                    if changed {
                        changes.push((dst.clone(), Some(via)));
                    }
                }
                None => {
                    if self.relayed.remove(dst).is_some() {
                        changes.push((dst.clone(), None));
                    }
                }
            }
        }
        changes
    }
}

/// What a class needs of a path (its SLA), for judging a relayed one.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Need {
    /// Highest RTT.
    pub rtt: Option<Duration>,
    /// Highest jitter.
    pub jitter: Option<Duration>,
    /// Highest loss, a fraction.
    pub loss: Option<f64>,
}

/// A class's new route, from [`RelayPlanner::plan_class`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassRoute {
    /// Through this relay.
    Via(SiteId),
    /// Back on the direct paths.
    Direct,
}

impl Need {
    /// Whether this asks for anything (a class without limits never relays
    /// for quality: any live path will do).
    pub fn is_some(&self) -> bool {
        self.rtt.is_some() || self.jitter.is_some() || self.loss.is_some()
    }

    /// Whether two hops `first` then `second` meet it: RTTs and jitters add,
    /// deliveries multiply.
    fn met_by(&self, first: &LinkMetrics, second: &LinkMetrics) -> Option<Duration> {
        let rtt = (first.latency + second.latency) * 2;
        let jitter = first.jitter + second.jitter;
        let loss = 1.0 - (1.0 - first.loss) * (1.0 - second.loss);
        let ok = self.rtt.is_none_or(|m| rtt <= m)
            && self.jitter.is_none_or(|m| jitter <= m)
            && self.loss.is_none_or(|m| loss <= m);
        ok.then_some(rtt)
    }
}

impl RelayPlanner {
    /// The relay of class `class` towards `dst`, if that class goes through one.
    pub fn class_via(&self, dst: &SiteId, class: usize) -> Option<&SiteId> {
        self.by_class.get(&(dst.clone(), class)).map(|r| &r.via)
    }

    /// Replans class `class` towards `dst`, whose direct paths are alive:
    /// `direct_meets` says whether one of them meets the class's `need`.
    /// When none does, the relay whose two hops meet it with the lowest RTT
    /// carries the class; once a direct path meets it again for the
    /// hold-down, the class returns. Returns the change, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn plan_class(
        &mut self,
        now: Instant,
        me: &SiteId,
        db: &LinkStateDb,
        direct: &BTreeMap<SiteId, Direct>,
        dst: &SiteId,
        class: usize,
        need: &Need,
        direct_meets: bool,
    ) -> Option<ClassRoute> {
        let key = (dst.clone(), class);
        if direct_meets || !need.is_some() {
            let r = self.by_class.get_mut(&key)?;
            let since = *r.direct_up_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.hold_down || !need.is_some() {
                self.by_class.remove(&key);
                return Some(ClassRoute::Direct);
            }
            return None;
        }
        let meets = |via: &SiteId| -> Option<Duration> {
            if via == dst || via == me || !direct.get(via).is_some_and(|d| d.alive) {
                return None;
            }
            let first = db.link(me, via).filter(|l| l.up)?;
            let second = db.link(via, dst).filter(|l| l.up)?;
            db.link(dst, via).filter(|l| l.up)?; // confirmed by the destination
            need.met_by(first, second)
        };
        let limits = &self.limits;
        if let Some(r) = self.by_class.get_mut(&key) {
            r.direct_up_since = None;
            if meets(&r.via).is_some() && limits.may_keep(&r.via) {
                return None;
            }
        }
        let best = direct
            .keys()
            .filter(|via| limits.may_choose(via))
            .filter_map(|via| meets(via).map(|rtt| (rtt, via.clone())))
            .min()
            .map(|(_, via)| via);
        match best {
            Some(via) => {
                let changed = self.by_class.get(&key).is_none_or(|r| r.via != via);
                self.by_class.insert(key, Relayed { via: via.clone(), direct_up_since: None });
                changed.then_some(ClassRoute::Via(via))
            }
            None => self.by_class.remove(&key).map(|_| ClassRoute::Direct),
        }
    }

    /// Forgets every class relay towards `dst` (it left, or all its traffic
    /// is relayed anyway).
    pub fn forget_classes(&mut self, dst: &SiteId) -> Vec<usize> {
        let gone: Vec<usize> =
            self.by_class.keys().filter(|(d, _)| d == dst).map(|(_, c)| *c).collect();
        self.by_class.retain(|(d, _), _| d != dst);
        gone
    }

    /// Every class relay now: (destination, class, relay).
    pub fn class_relays(&self) -> impl Iterator<Item = (&SiteId, usize, &SiteId)> {
        self.by_class.iter().map(|((d, c), r)| (d, *c, &r.via))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> SiteId {
        SiteId::new(x).unwrap()
    }

    fn link(to: &str, rtt_ms: u64, up: bool) -> LinkSummary {
        LinkSummary {
            neighbor: s(to),
            rtt: Some(Duration::from_millis(rtt_ms)),
            jitter: Duration::ZERO,
            loss: 0.0,
            capacity_bps: 1_000_000_000,
            up,
            relayed_only: false,
            via: None,
        }
    }

    /// a–c down; a–b 10 ms, b–c 10 ms; a–d 5 ms, d–c 40 ms.
    fn views(ac_up: bool) -> Vec<LinkView> {
        vec![
            LinkView {
                origin: s("a"),
                links: vec![link("b", 10, true), link("c", 5, ac_up), link("d", 5, true)],
            },
            LinkView { origin: s("b"), links: vec![link("a", 10, true), link("c", 10, true)] },
            LinkView {
                origin: s("c"),
                links: vec![link("a", 5, ac_up), link("b", 10, true), link("d", 40, true)],
            },
            LinkView { origin: s("d"), links: vec![link("a", 5, true), link("c", 40, true)] },
        ]
    }

    fn direct(c_alive: bool) -> BTreeMap<SiteId, Direct> {
        [("b", true), ("c", c_alive), ("d", true)]
            .into_iter()
            .map(|(k, v)| (s(k), Direct { alive: v }))
            .collect()
    }

    #[test]
    fn a_site_without_a_live_direct_path_goes_through_the_cheapest_relay() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let t0 = weft_types::virtual_origin();
        let db = link_state_db(&views(false));
        let changes = p.plan(t0, &s("a"), &db, &direct(false));
        // via b: 5 + 5 ms one way; via d: 2.5 + 20 ms.
        assert_eq!(changes, vec![(s("c"), Some(s("b")))]);
        assert_eq!(p.via(&s("c")), Some(&s("b")));
        assert_eq!(p.via(&s("b")), None, "sites with live paths stay direct");
    }

    #[test]
    fn traffic_returns_direct_only_after_the_hold_down() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let t0 = weft_types::virtual_origin();
        let me = s("a");
        p.plan(t0, &me, &link_state_db(&views(false)), &direct(false));
        let db = link_state_db(&views(true));
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(p.plan(at(1000), &me, &db, &direct(true)).is_empty());
        assert!(p.plan(at(3500), &me, &db, &direct(true)).is_empty(), "2.5 s up: still relayed");
        // A flap restarts the hold-down.
        p.plan(at(3600), &me, &link_state_db(&views(false)), &direct(false));
        assert!(p.plan(at(4000), &me, &db, &direct(true)).is_empty());
        assert!(p.plan(at(6900), &me, &db, &direct(true)).is_empty());
        assert_eq!(p.plan(at(7000), &me, &db, &direct(true)), vec![(s("c"), None)]);
        assert_eq!(p.via(&s("c")), None);
    }

    #[test]
    fn a_relay_whose_own_link_fails_is_replaced_and_none_means_direct() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let t0 = weft_types::virtual_origin();
        let me = s("a");
        p.plan(t0, &me, &link_state_db(&views(false)), &direct(false));
        let mut v = views(false);
        v[1].links[1].up = false; // b–c down
        let changes = p.plan(t0, &me, &link_state_db(&v), &direct(false));
        assert_eq!(changes, vec![(s("c"), Some(s("d")))]);
        v[3].links[1].up = false; // d–c down too: no relay left
        assert_eq!(p.plan(t0, &me, &link_state_db(&v), &direct(false)), vec![(s("c"), None)]);
    }

    #[test]
    fn a_relay_we_cannot_reach_directly_is_never_chosen() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let mut d = direct(false);
        d.insert(s("b"), Direct { alive: false });
        let changes =
            p.plan(weft_types::virtual_origin(), &s("a"), &link_state_db(&views(false)), &d);
        assert_eq!(changes, vec![(s("c"), Some(s("d")))], "b is down from here: d it is");
    }

    #[test]
    fn a_destination_that_left_is_forgotten() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let t0 = weft_types::virtual_origin();
        p.plan(t0, &s("a"), &link_state_db(&views(false)), &direct(false));
        let mut d = direct(false);
        d.remove(&s("c"));
        assert_eq!(p.plan(t0, &s("a"), &link_state_db(&views(false)), &d), vec![(s("c"), None)]);
    }

    fn lossy(mut v: Vec<LinkView>, loss: f64) -> Vec<LinkView> {
        for view in &mut v {
            for l in &mut view.links {
                let ac = (view.origin == s("a") && l.neighbor == s("c"))
                    || (view.origin == s("c") && l.neighbor == s("a"));
                if ac {
                    l.loss = loss;
                }
            }
        }
        v
    }

    #[test]
    fn a_class_whose_sla_no_direct_path_meets_goes_through_a_relay_that_meets_it() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let (t0, me, c) = (weft_types::virtual_origin(), s("a"), s("c"));
        let db = link_state_db(&lossy(views(true), 0.10));
        let need =
            Need { rtt: Some(Duration::from_millis(150)), loss: Some(0.01), ..Need::default() };
        // realtime (class 1): direct a–c loses 10 %: through b (20 ms, no loss).
        let change = p.plan_class(t0, &me, &db, &direct(true), &c, 1, &need, false);
        assert_eq!(change, Some(ClassRoute::Via(s("b"))));
        assert_eq!(p.class_via(&c, 1), Some(&s("b")));
        assert_eq!(p.via(&c), None, "the site itself stays direct");
        // A class that asks nothing never relays.
        assert_eq!(p.plan_class(t0, &me, &db, &direct(true), &c, 0, &Need::default(), false), None);
        // Back when a direct path meets the SLA for the hold-down.
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(p.plan_class(at(100), &me, &db, &direct(true), &c, 1, &need, true), None);
        assert_eq!(
            p.plan_class(at(3200), &me, &db, &direct(true), &c, 1, &need, true),
            Some(ClassRoute::Direct)
        );
        assert_eq!(p.class_via(&c, 1), None);
    }

    #[test]
    fn a_relay_that_misses_the_sla_too_is_not_used() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let mut v = lossy(views(true), 0.10);
        v[1].links[1].loss = 0.05; // b–c loses 5 %
        v[3].links[1].rtt = Some(Duration::from_millis(400)); // d–c too slow
        let need =
            Need { rtt: Some(Duration::from_millis(150)), loss: Some(0.01), ..Need::default() };
        let change = p.plan_class(
            weft_types::virtual_origin(),
            &s("a"),
            &link_state_db(&v),
            &direct(true),
            &s("c"),
            1,
            &need,
            false,
        );
        assert_eq!(change, None, "no relay meets it: stay on the best direct path");
        assert_eq!(p.class_via(&s("c"), 1), None);
    }

    fn limits(cordoned: &[&str], drained: &[&str]) -> RelayLimits {
        RelayLimits {
            cordoned: cordoned.iter().map(|x| s(x)).collect(),
            drained: drained.iter().map(|x| s(x)).collect(),
        }
    }

    #[test]
    fn a_cordoned_site_is_never_chosen_as_a_new_relay() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        p.set_limits(limits(&["b"], &[]));
        let changes = p.plan(
            weft_types::virtual_origin(),
            &s("a"),
            &link_state_db(&views(false)),
            &direct(false),
        );
        assert_eq!(changes, vec![(s("c"), Some(s("d")))], "b is the cheaper relay but cordoned");
    }

    #[test]
    fn a_relay_through_a_site_cordoned_later_is_kept() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let (t0, me, db) = (weft_types::virtual_origin(), s("a"), link_state_db(&views(false)));
        assert_eq!(p.plan(t0, &me, &db, &direct(false)), vec![(s("c"), Some(s("b")))]);
        p.set_limits(limits(&["b"], &[]));
        assert!(p.plan(t0, &me, &db, &direct(false)).is_empty(), "existing traffic stays on b");
        assert_eq!(p.via(&s("c")), Some(&s("b")));
    }

    #[test]
    fn relayed_traffic_moves_off_a_drained_site_at_the_next_plan() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let (t0, me, db) = (weft_types::virtual_origin(), s("a"), link_state_db(&views(false)));
        p.plan(t0, &me, &db, &direct(false));
        p.set_limits(limits(&[], &["b"]));
        assert_eq!(p.plan(t0, &me, &db, &direct(false)), vec![(s("c"), Some(s("d")))]);
        p.set_limits(limits(&["d"], &["b"]));
        assert!(p.plan(t0, &me, &db, &direct(false)).is_empty(), "cordoning d keeps it");
        p.set_limits(limits(&[], &["b", "d"]));
        assert_eq!(p.plan(t0, &me, &db, &direct(false)), vec![(s("c"), None)], "no relay left");
    }

    #[test]
    fn class_relays_avoid_cordoned_sites_and_leave_drained_ones() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let (t0, me, c) = (weft_types::virtual_origin(), s("a"), s("c"));
        let db = link_state_db(&lossy(views(true), 0.10));
        let need =
            Need { rtt: Some(Duration::from_millis(150)), loss: Some(0.01), ..Need::default() };
        p.set_limits(limits(&["b"], &[]));
        let change = p.plan_class(t0, &me, &db, &direct(true), &c, 1, &need, false);
        assert_eq!(change, Some(ClassRoute::Via(s("d"))), "b is cordoned: d (90 ms) meets it");
        p.set_limits(limits(&["d"], &[]));
        assert_eq!(p.plan_class(t0, &me, &db, &direct(true), &c, 1, &need, false), None);
        p.set_limits(limits(&[], &["d"]));
        let change = p.plan_class(t0, &me, &db, &direct(true), &c, 1, &need, false);
        assert_eq!(change, Some(ClassRoute::Via(s("b"))), "drained d loses the class");
        p.set_limits(limits(&["b"], &["d"]));
        assert_eq!(p.plan_class(t0, &me, &db, &direct(true), &c, 1, &need, false), None);
        p.set_limits(limits(&[], &["b", "d"]));
        let change = p.plan_class(t0, &me, &db, &direct(true), &c, 1, &need, false);
        assert_eq!(change, Some(ClassRoute::Direct));
    }

    #[test]
    fn a_relay_whose_link_the_destination_does_not_confirm_is_not_chosen() {
        let mut p = RelayPlanner::new(Duration::from_secs(3));
        let mut v = views(false);
        v[2].links[1].up = false; // c says its link to b is down; b still claims b–c up
        let changes =
            p.plan(weft_types::virtual_origin(), &s("a"), &link_state_db(&v), &direct(false));
        assert_eq!(changes, vec![(s("c"), Some(s("d")))], "b's claim alone is not enough");
    }
}
