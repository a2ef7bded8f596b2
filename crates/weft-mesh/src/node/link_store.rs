//! What a node holds of each origin's paged advertisement.
//!
//! # How pages are put together
//!
//! Every page of one origination carries the same `version` and the same
//! page count (see `link_state`). Per origin the store holds:
//!
//! - **the current set**: every page of the newest version of which all
//!   pages have arrived. An origin's links are the entries of these pages,
//!   in page order, and nothing else;
//! - **the set being gathered**: pages of one newer version, kept aside
//!   until the last of them arrives; then they replace the current set
//!   whole, and the pages of the old version are gone, however many there
//!   were (so a set that shrank from 3 pages to 1 leaves nothing of pages
//!   2 and 3 behind);
//! - **the newest version completed**, which outlives the current set's
//!   age-out, so an old page replayed or delivered late is never taken
//!   again.
//!
//! A page is taken only if its version is newer than the newest completed
//! one and not older than the set being gathered (a newer one replaces the
//! gathering); a duplicate page, or one whose page count disagrees with its
//! version's first page, is not. A page never mixes with pages of another
//! version, so a lost or late page cannot resurrect links the origin no
//! longer has: a lost page leaves the previous complete set in force, as a
//! lost single-datagram advertisement did, until the next origination (one
//! interval later) completes.
//!
//! A set counts from when its last page arrived and ages out after
//! `link_state_max_age` like a single advertisement did; a gathering that
//! has not completed within that age is dropped too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weft_types::SiteId;

use super::link_state::{LinkEntry, LinkStateAd};

/// An origin's links: every page of its newest complete version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSet {
    version: u64,
    pages: Vec<LinkStateAd>,
    at: Instant,
}

impl LinkSet {
    /// The version every page carries.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The signed pages, in page order (at least one).
    pub fn pages(&self) -> &[LinkStateAd] {
        &self.pages
    }

    /// The learnt prefixes the origin advertises (page 0's).
    pub fn learnt(&self) -> &[weft_types::IpPrefix] {
        self.pages.first().map_or(&[], |p| p.learnt.as_slice())
    }

    /// The learn preference the origin advertises with them (page 0's).
    pub fn learn_preference(&self) -> u32 {
        self.pages
            .first()
            .map_or(super::link_state::DEFAULT_LEARN_PREFERENCE, |p| p.learn_preference)
    }

    /// Every link of the origin, page after page.
    pub fn entries(&self) -> impl Iterator<Item = &LinkEntry> + '_ {
        self.pages.iter().flat_map(|p| p.entries.iter())
    }
}

/// What [`LinkStore::offer`] did with a page (already verified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Kept with the other pages of its version, which is not complete yet.
    Gathered,
    /// The last missing page of its version: that version is the origin's
    /// current set now.
    Completed,
    /// Not newer than what is held (or disagreeing on the page count): ignored.
    Stale,
}

#[derive(Clone, Debug)]
struct Gathering {
    version: u64,
    pages: Vec<Option<LinkStateAd>>,
    since: Instant,
}

#[derive(Clone, Debug, Default)]
struct Origin {
    current: Option<LinkSet>,
    gathering: Option<Gathering>,
    /// The newest version completed (kept after `current` ages out).
    newest: Option<u64>,
}

impl Origin {
    fn is_stale(&self, version: u64, page: u8) -> bool {
        if self.newest.is_some_and(|v| v >= version) {
            return true;
        }
        match &self.gathering {
            Some(g) if g.version > version => true,
            Some(g) if g.version == version => {
                g.pages.get(usize::from(page)).is_none_or(Option::is_some)
            }
            _ => false,
        }
    }
}

/// Per origin: its current set of pages, the newer set being gathered, and
/// the newest version completed (see the module doc).
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkStore {
    held: BTreeMap<SiteId, Origin>,
}

impl LinkStore {
    /// Takes `page` (signature already checked) if it is new; see the module doc.
    pub(crate) fn offer(&mut self, now: Instant, page: LinkStateAd) -> Offer {
        let origin = self.held.entry(page.origin.clone()).or_default();
        if origin.is_stale(page.version, page.page) {
            return Offer::Stale;
        }
        let g = match &mut origin.gathering {
            Some(g) if g.version == page.version => g,
            slot => slot.insert(Gathering {
                version: page.version,
                pages: vec![None; usize::from(page.pages)],
                since: now,
            }),
        };
        if g.pages.len() != usize::from(page.pages) {
            return Offer::Stale;
        }
        let i = usize::from(page.page);
        g.pages[i] = Some(page);
        if g.pages.iter().any(Option::is_none) {
            return Offer::Gathered;
        }
        let Some(g) = origin.gathering.take() else { return Offer::Stale };
        origin.newest = Some(g.version);
        origin.current = Some(LinkSet {
            version: g.version,
            pages: g.pages.into_iter().flatten().collect(),
            at: now,
        });
        Offer::Completed
    }

    /// Whether a page of `origin` at `version` would be stale (a duplicate
    /// or older): checked before its signature, which costs more.
    pub(crate) fn is_stale(&self, origin: &SiteId, version: u64, page: u8) -> bool {
        self.held.get(origin).is_some_and(|o| o.is_stale(version, page))
    }

    /// `origin`'s current set, however old.
    pub(crate) fn current(&self, origin: &SiteId) -> Option<&LinkSet> {
        self.held.get(origin).and_then(|o| o.current.as_ref())
    }

    /// Forgets everything of `origin` (its certificate is gone).
    pub(crate) fn remove(&mut self, origin: &SiteId) {
        self.held.remove(origin);
    }

    /// Forgets sets and gatherings older than `max_age`, except `keep`'s
    /// (our own); remembers the newest version completed. True when a set
    /// that advertised learnt prefixes went (they are withdrawn).
    pub(crate) fn expire(&mut self, now: Instant, max_age: Duration, keep: &SiteId) -> bool {
        let old = |t: Instant| now.saturating_duration_since(t) >= max_age;
        let mut learnt_gone = false;
        for (site, o) in &mut self.held {
            if site == keep {
                continue;
            }
            if let Some(c) = o.current.take_if(|c| old(c.at)) {
                learnt_gone |= !c.learnt().is_empty();
            }
            if o.gathering.as_ref().is_some_and(|g| old(g.since)) {
                o.gathering = None;
            }
        }
        learnt_gone
    }

    /// The current sets younger than `max_age` at `now` (and `keep`'s).
    pub(crate) fn fresh<'a>(
        &'a self,
        now: Instant,
        max_age: Duration,
        keep: &'a SiteId,
    ) -> impl Iterator<Item = (&'a SiteId, &'a LinkSet)> + 'a {
        self.held
            .iter()
            .filter_map(|(s, o)| o.current.as_ref().map(|c| (s, c)))
            .filter(move |(s, c)| *s == keep || now.saturating_duration_since(c.at) < max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::SiteKey;
    use weft_types::virtual_origin;

    fn origin() -> SiteId {
        SiteId::new("origin").unwrap()
    }

    fn page(version: u64, page: u8, pages: u8) -> LinkStateAd {
        LinkStateAd::sign_page(
            &SiteKey::from_seed(&[7; 32]),
            origin(),
            version,
            (page, pages),
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn a_version_counts_only_once_all_its_pages_are_in() {
        let mut store = LinkStore::default();
        let now = virtual_origin();
        assert_eq!(store.offer(now, page(5, 1, 2)), Offer::Gathered);
        assert!(store.current(&origin()).is_none());
        assert_eq!(store.offer(now, page(5, 1, 2)), Offer::Stale, "a duplicate");
        assert_eq!(store.offer(now, page(5, 0, 2)), Offer::Completed);
        assert_eq!(store.current(&origin()).map(LinkSet::version), Some(5));
    }

    #[test]
    fn a_newer_version_replaces_an_unfinished_gathering_and_an_older_one_is_stale() {
        let mut store = LinkStore::default();
        let now = virtual_origin();
        assert_eq!(store.offer(now, page(5, 0, 3)), Offer::Gathered);
        assert_eq!(store.offer(now, page(6, 0, 2)), Offer::Gathered);
        assert_eq!(store.offer(now, page(5, 1, 3)), Offer::Stale, "older than the gathering");
        assert!(store.is_stale(&origin(), 5, 2));
        assert_eq!(store.offer(now, page(6, 1, 2)), Offer::Completed);
        assert_eq!(store.current(&origin()).unwrap().pages().len(), 2);
    }

    #[test]
    fn a_page_disagreeing_with_its_versions_page_count_is_not_taken() {
        let mut store = LinkStore::default();
        let now = virtual_origin();
        assert_eq!(store.offer(now, page(5, 0, 3)), Offer::Gathered);
        assert_eq!(store.offer(now, page(5, 1, 2)), Offer::Stale);
        assert!(store.current(&origin()).is_none());
    }

    #[test]
    fn an_unfinished_gathering_and_an_old_set_age_out_but_their_version_is_remembered() {
        let mut store = LinkStore::default();
        let now = virtual_origin();
        let max = Duration::from_secs(5);
        let me = SiteId::new("me").unwrap();
        assert_eq!(store.offer(now, page(5, 0, 1)), Offer::Completed);
        assert_eq!(store.offer(now, page(6, 0, 2)), Offer::Gathered);
        store.expire(now + max, max, &me);
        assert!(store.current(&origin()).is_none());
        assert_eq!(store.offer(now + max, page(6, 1, 2)), Offer::Gathered, "page 0 went too");
        assert_eq!(store.offer(now + max, page(5, 0, 1)), Offer::Stale);
    }
}
