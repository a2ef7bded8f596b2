//! The link-state database: which sites exist and what every directed link
//! between them looks like.
//!
//! Sites are keyed by [`SiteId`] and mapped to dense slot numbers so that
//! [snapshots](crate::Graph) can use index arrays. A removed site's slot is
//! reused by the next new site (last freed, first reused), so slot numbers are
//! deterministic but only meaningful within one [`version`](LinkStateDb::version).
//!
//! # Driving it
//! Feed updates in with `upsert_*` / `remove_*` / [`set_link_up`](LinkStateDb::set_link_up);
//! each one either is refused with an [`LsdbError`] (nothing changes), is a
//! no-op (same data as before: no version bump, no event), or is a real change
//! (the version goes up by one and one or more [`TopologyChange`]s are queued).
//! Drain the queue with [`poll_change`](LinkStateDb::poll_change); it grows
//! until drained.

use std::collections::{BTreeMap, VecDeque};

use weft_types::SiteId;

use crate::error::LsdbError;
use crate::metrics::LinkMetrics;

/// One real change to the topology, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopologyChange {
    /// A site was added.
    SiteAdded(SiteId),
    /// A site was removed (its links were removed just before, each with a
    /// [`LinkRemoved`](Self::LinkRemoved)).
    SiteRemoved(SiteId),
    /// A new directed link.
    LinkAdded {
        /// Tail.
        from: SiteId,
        /// Head.
        to: SiteId,
    },
    /// An existing link's measurements changed.
    LinkUpdated {
        /// Tail.
        from: SiteId,
        /// Head.
        to: SiteId,
    },
    /// A link was removed.
    LinkRemoved {
        /// Tail.
        from: SiteId,
        /// Head.
        to: SiteId,
    },
    /// A link went up or down.
    LinkStateChanged {
        /// Tail.
        from: SiteId,
        /// Head.
        to: SiteId,
        /// The new state.
        up: bool,
    },
}

/// Sites and directed links with their metrics, versioned.
#[derive(Debug, Clone, Default)]
pub struct LinkStateDb {
    /// Slot → site; `None` for a freed slot.
    slots: Vec<Option<SiteId>>,
    /// Freed slots, reused last-in first-out.
    free: Vec<u32>,
    index: BTreeMap<SiteId, u32>,
    /// Links keyed by (from slot, to slot): iteration order is CSR order.
    links: BTreeMap<(u32, u32), LinkMetrics>,
    version: u64,
    changes: VecDeque<TopologyChange>,
}

impl LinkStateDb {
    /// An empty database at version 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Goes up by one on every real change; never on refused or no-op updates.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of sites.
    pub fn site_count(&self) -> usize {
        self.index.len()
    }

    /// Number of directed links, up or down.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Whether `site` is known.
    pub fn contains_site(&self, site: &SiteId) -> bool {
        self.index.contains_key(site)
    }

    /// All sites, in name order.
    pub fn sites(&self) -> impl Iterator<Item = &SiteId> + '_ {
        self.index.keys()
    }

    /// The metrics of the link `from -> to`, if it exists.
    pub fn link(&self, from: &SiteId, to: &SiteId) -> Option<&LinkMetrics> {
        let (f, t) = (self.index.get(from)?, self.index.get(to)?);
        self.links.get(&(*f, *t))
    }

    /// All links as `(from, to, metrics)`, ordered by slot.
    pub fn links(&self) -> impl Iterator<Item = (&SiteId, &SiteId, &LinkMetrics)> + '_ {
        self.links.iter().filter_map(|(&(f, t), m)| Some((self.slot(f)?, self.slot(t)?, m)))
    }

    /// Takes the oldest queued change, if any.
    #[must_use]
    pub fn poll_change(&mut self) -> Option<TopologyChange> {
        self.changes.pop_front()
    }

    /// Adds `site`; returns whether it was new (an existing site is a no-op).
    pub fn upsert_site(&mut self, site: SiteId) -> bool {
        if self.index.contains_key(&site) {
            return false;
        }
        let slot = if let Some(slot) = self.free.pop() {
            self.slots[slot as usize] = Some(site.clone());
            slot
        } else {
            self.slots.push(Some(site.clone()));
            (self.slots.len() - 1) as u32
        };
        self.index.insert(site.clone(), slot);
        self.bump(TopologyChange::SiteAdded(site));
        true
    }

    /// Removes `site` and every link from or to it.
    pub fn remove_site(&mut self, site: &SiteId) -> Result<(), LsdbError> {
        let slot = self.slot_of(site)?;
        let doomed: Vec<(u32, u32)> =
            self.links.keys().filter(|&&(f, t)| f == slot || t == slot).copied().collect();
        for key in doomed {
            self.links.remove(&key);
            let (from, to) = self.pair(key);
            self.changes.push_back(TopologyChange::LinkRemoved { from, to });
        }
        self.index.remove(site);
        self.slots[slot as usize] = None;
        self.free.push(slot);
        self.bump(TopologyChange::SiteRemoved(site.clone()));
        Ok(())
    }

    /// Adds or updates the link `from -> to`. Returns whether anything changed:
    /// offering the metrics the link already has is a no-op.
    ///
    /// An update that changes both measurements and the up state queues a
    /// [`LinkUpdated`](TopologyChange::LinkUpdated) then a
    /// [`LinkStateChanged`](TopologyChange::LinkStateChanged), under one
    /// version bump.
    pub fn upsert_link(
        &mut self,
        from: &SiteId,
        to: &SiteId,
        metrics: LinkMetrics,
    ) -> Result<bool, LsdbError> {
        let key = self.key(from, to)?;
        metrics.validate()?;
        let (from, to) = (from.clone(), to.clone());
        match self.links.insert(key, metrics) {
            None => self.bump(TopologyChange::LinkAdded { from, to }),
            Some(old) if old == metrics => return Ok(false),
            Some(old) => {
                if !old.same_measurements(&metrics) {
                    let (from, to) = (from.clone(), to.clone());
                    self.changes.push_back(TopologyChange::LinkUpdated { from, to });
                }
                if old.up != metrics.up {
                    let up = metrics.up;
                    self.changes.push_back(TopologyChange::LinkStateChanged { from, to, up });
                }
                self.version += 1;
            }
        }
        Ok(true)
    }

    /// Removes the link `from -> to` (only that direction).
    pub fn remove_link(&mut self, from: &SiteId, to: &SiteId) -> Result<(), LsdbError> {
        let key = self.key(from, to)?;
        if self.links.remove(&key).is_none() {
            return Err(LsdbError::UnknownLink { from: from.clone(), to: to.clone() });
        }
        self.bump(TopologyChange::LinkRemoved { from: from.clone(), to: to.clone() });
        Ok(())
    }

    /// Marks the link `from -> to` up or down; returns whether that changed
    /// its state.
    pub fn set_link_up(&mut self, from: &SiteId, to: &SiteId, up: bool) -> Result<bool, LsdbError> {
        let key = self.key(from, to)?;
        let Some(link) = self.links.get_mut(&key) else {
            return Err(LsdbError::UnknownLink { from: from.clone(), to: to.clone() });
        };
        if link.up == up {
            return Ok(false);
        }
        link.up = up;
        self.bump(TopologyChange::LinkStateChanged { from: from.clone(), to: to.clone(), up });
        Ok(true)
    }

    /// Slot table (slot → site) for snapshots.
    pub(crate) fn slots(&self) -> &[Option<SiteId>] {
        &self.slots
    }

    /// Links keyed by slots, in CSR order, for snapshots.
    pub(crate) fn slot_links(&self) -> &BTreeMap<(u32, u32), LinkMetrics> {
        &self.links
    }

    fn bump(&mut self, change: TopologyChange) {
        self.version += 1;
        self.changes.push_back(change);
    }

    fn slot(&self, slot: u32) -> Option<&SiteId> {
        self.slots.get(slot as usize)?.as_ref()
    }

    fn slot_of(&self, site: &SiteId) -> Result<u32, LsdbError> {
        self.index.get(site).copied().ok_or_else(|| LsdbError::UnknownSite(site.clone()))
    }

    fn key(&self, from: &SiteId, to: &SiteId) -> Result<(u32, u32), LsdbError> {
        let key = (self.slot_of(from)?, self.slot_of(to)?);
        if key.0 == key.1 {
            return Err(LsdbError::SelfLoop(from.clone()));
        }
        Ok(key)
    }

    fn pair(&self, (f, t): (u32, u32)) -> (SiteId, SiteId) {
        let name = |s: u32| self.slots[s as usize].clone().expect("links only join live slots");
        (name(f), name(t))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(s: &str) -> SiteId {
        SiteId::new(s).unwrap()
    }

    fn m(ms: u64) -> LinkMetrics {
        LinkMetrics::new(Duration::from_millis(ms), 1)
    }

    fn drain(db: &mut LinkStateDb) -> Vec<TopologyChange> {
        std::iter::from_fn(|| db.poll_change()).collect()
    }

    fn abc() -> LinkStateDb {
        let mut db = LinkStateDb::new();
        for s in ["a", "b", "c"] {
            db.upsert_site(id(s));
        }
        db
    }

    #[test]
    fn adding_sites_bumps_the_version_once_each_and_repeats_are_no_ops() {
        let mut db = abc();
        assert_eq!(db.version(), 3);
        assert!(!db.upsert_site(id("a")));
        assert_eq!(db.version(), 3);
        assert_eq!(drain(&mut db), ["a", "b", "c"].map(|s| TopologyChange::SiteAdded(id(s))));
    }

    #[test]
    fn an_identical_link_upsert_changes_nothing() {
        let mut db = abc();
        assert_eq!(db.upsert_link(&id("a"), &id("b"), m(5)), Ok(true));
        let v = db.version();
        let _ = drain(&mut db);
        assert_eq!(db.upsert_link(&id("a"), &id("b"), m(5)), Ok(false));
        assert_eq!(db.version(), v);
        assert_eq!(db.poll_change(), None);
    }

    #[test]
    fn a_changed_link_is_reported_as_updated_and_state_changes_separately() {
        let mut db = abc();
        db.upsert_link(&id("a"), &id("b"), m(5)).unwrap();
        let _ = drain(&mut db);
        let v = db.version();
        db.upsert_link(&id("a"), &id("b"), LinkMetrics { up: false, ..m(6) }).unwrap();
        assert_eq!(db.version(), v + 1);
        assert_eq!(
            drain(&mut db),
            vec![
                TopologyChange::LinkUpdated { from: id("a"), to: id("b") },
                TopologyChange::LinkStateChanged { from: id("a"), to: id("b"), up: false },
            ]
        );
        assert_eq!(db.set_link_up(&id("a"), &id("b"), false), Ok(false));
        assert_eq!(db.set_link_up(&id("a"), &id("b"), true), Ok(true));
        assert_eq!(db.version(), v + 2);
        assert!(db.link(&id("a"), &id("b")).is_some_and(|l| l.up));
    }

    #[test]
    fn bad_updates_are_refused_without_touching_the_version() {
        let mut db = abc();
        let v = db.version();
        assert_eq!(db.upsert_link(&id("a"), &id("a"), m(1)), Err(LsdbError::SelfLoop(id("a"))));
        assert_eq!(db.upsert_link(&id("a"), &id("z"), m(1)), Err(LsdbError::UnknownSite(id("z"))));
        let nan = LinkMetrics { loss: f64::NAN, ..m(1) };
        assert!(matches!(
            db.upsert_link(&id("a"), &id("b"), nan),
            Err(LsdbError::BadFraction { .. })
        ));
        assert!(matches!(db.remove_link(&id("a"), &id("b")), Err(LsdbError::UnknownLink { .. })));
        assert!(matches!(
            db.set_link_up(&id("b"), &id("a"), true),
            Err(LsdbError::UnknownLink { .. })
        ));
        assert_eq!(db.remove_site(&id("q")), Err(LsdbError::UnknownSite(id("q"))));
        assert_eq!(db.version(), v);
        assert_eq!(db.link_count(), 0);
    }

    #[test]
    fn removing_a_site_removes_its_links_in_both_directions() {
        let mut db = abc();
        db.upsert_link(&id("a"), &id("b"), m(1)).unwrap();
        db.upsert_link(&id("b"), &id("a"), m(1)).unwrap();
        db.upsert_link(&id("b"), &id("c"), m(1)).unwrap();
        db.upsert_link(&id("a"), &id("c"), m(1)).unwrap();
        let _ = drain(&mut db);
        let v = db.version();
        db.remove_site(&id("b")).unwrap();
        assert_eq!(db.version(), v + 1);
        assert_eq!(db.link_count(), 1);
        let changes = drain(&mut db);
        assert_eq!(changes.len(), 4);
        assert_eq!(changes.last(), Some(&TopologyChange::SiteRemoved(id("b"))));
        assert!(!db.contains_site(&id("b")));
        let names: Vec<_> = db.links().map(|(f, t, _)| (f.as_str(), t.as_str())).collect();
        assert_eq!(names, vec![("a", "c")]);
    }

    #[test]
    fn a_freed_slot_is_reused_by_the_next_site() {
        let mut db = abc();
        db.remove_site(&id("b")).unwrap();
        db.upsert_site(id("d"));
        assert_eq!(db.slots().len(), 3);
        assert_eq!(db.slots()[1], Some(id("d")));
        assert_eq!(db.sites().map(SiteId::as_str).collect::<Vec<_>>(), ["a", "c", "d"]);
    }
}
