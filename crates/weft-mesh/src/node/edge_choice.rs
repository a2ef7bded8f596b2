//! Which edge a shared learnt prefix goes to: when several sites (the edges
//! of one data centre) advertise the same on-prem prefix, every receiver
//! routes it to one of them, chosen by this pure function from what every
//! receiver knows alike (the signed advertisements and membership), so all
//! of them choose the same edge.

use weft_types::SiteId;

/// One site advertising a shared learnt prefix, as a receiver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeCandidate {
    /// The advertising site.
    pub site: SiteId,
    /// The learn preference it advertises (higher is preferred).
    pub preference: u32,
    /// Whether it is up: an alive member of the mesh.
    pub reachable: bool,
}

/// A learnt prefix several sites advertise, and where this site sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedLearnt {
    /// The prefix.
    pub prefix: weft_types::IpPrefix,
    /// The edge it goes to; this site's own id when it learnt the prefix
    /// itself (it keeps routing it to its router).
    pub via: SiteId,
    /// The other advertising sites, in the order they would take over.
    pub standby: Vec<SiteId>,
}

/// The order edges are chosen in, best first: reachable before
/// unreachable (an unreachable one is chosen only when none is reachable,
/// as a single edge keeps its prefix until its advertisement ages out),
/// then the higher preference, then the lower site id.
pub fn rank_edges(candidates: &mut [EdgeCandidate]) {
    candidates.sort_by(|a, b| {
        b.reachable
            .cmp(&a.reachable)
            .then(b.preference.cmp(&a.preference))
            .then_with(|| a.site.cmp(&b.site))
    });
}

/// The edge a shared prefix goes to (the first of [`rank_edges`]); `None`
/// without candidates.
pub fn choose_edge(candidates: &[EdgeCandidate]) -> Option<&SiteId> {
    let mut ranked = candidates.to_vec();
    rank_edges(&mut ranked);
    let best = ranked.first()?;
    candidates.iter().map(|c| &c.site).find(|s| **s == best.site)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(site: &str, preference: u32, reachable: bool) -> EdgeCandidate {
        EdgeCandidate { site: SiteId::new(site).unwrap(), preference, reachable }
    }

    fn chosen(cands: &[EdgeCandidate]) -> Option<String> {
        choose_edge(cands).map(ToString::to_string)
    }

    #[test]
    fn the_reachable_edge_with_the_highest_preference_wins() {
        let cands = [c("a", 100, true), c("b", 200, true), c("c", 300, false)];
        assert_eq!(chosen(&cands).as_deref(), Some("b"));
    }

    #[test]
    fn equal_preferences_are_broken_by_the_lower_site_id_whatever_the_order() {
        let one = [c("edge-b", 100, true), c("edge-a", 100, true)];
        let two = [c("edge-a", 100, true), c("edge-b", 100, true)];
        assert_eq!(chosen(&one).as_deref(), Some("edge-a"));
        assert_eq!(chosen(&two).as_deref(), Some("edge-a"));
    }

    #[test]
    fn an_unreachable_edge_is_chosen_only_when_none_is_reachable() {
        let cands = [c("a", 500, false), c("b", 100, true)];
        assert_eq!(chosen(&cands).as_deref(), Some("b"));
        let none_up = [c("b", 100, false), c("a", 50, false)];
        assert_eq!(chosen(&none_up).as_deref(), Some("b"), "then by preference");
        assert_eq!(chosen(&[]), None);
    }

    #[test]
    fn ranking_lists_the_standby_edges_in_the_order_they_take_over() {
        let mut cands = [c("c", 100, true), c("a", 100, false), c("b", 150, true)];
        rank_edges(&mut cands);
        let order: Vec<String> = cands.iter().map(|c| c.site.to_string()).collect();
        assert_eq!(order, ["b", "c", "a"]);
    }
}
