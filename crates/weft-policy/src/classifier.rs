//! The compiled first-match classifier: which rule, of many, is the first to
//! contain a flow.
//!
//! # Design
//! The bit-vector scheme of Lakshman and Stiliadis. Every box of every rule
//! gets one bit, boxes in rule order, so a lower bit is a higher-precedence
//! rule. For each dimension (source, destination, protocol, ports, DSCP) the
//! edges of all boxes cut the axis into elementary intervals; each interval
//! stores the word offset of the set of boxes covering it, identical sets
//! stored once. A lookup finds the flow's interval on every dimension
//! (branchless binary search; direct tables for protocol and DSCP), ANDs
//! those sets word by word and stops at the first non-zero word: its lowest
//! bit is the first matching box, hence the first matching rule. Dimensions
//! no box constrains are not searched (an all-ones set stands in, so the word
//! loop is always a fixed six-way AND). IPv4 and IPv6 have separate indexes,
//! IPv4 addresses as `u32`.
//!
//! Costs: a lookup is at most four binary searches, two table reads and a
//! scan of up to `boxes / 64` words. The index holds up to `2 × boxes + 1`
//! sets per dimension of `boxes / 64` words each, so memory grows with the
//! square of the box count: about 400 KiB for 1 000 typical rules, tens of
//! MiB at 10 000. Building sweeps each dimension once (about 1 ms for 1 000
//! rules).
//!
//! Several rule sets can share one index ([`Classifier::build_sets`]): each
//! set's boxes start on a fresh word, so one search per dimension answers
//! for all of them ([`Classifier::first_matches`]).
//!
//! The indexes cover the flows that exist: IPv4 with 32-bit addresses, IPv6,
//! DSCP 0..=63. A hand-built [`FlowPoint`] outside that (another family
//! value, an IPv4 address above 32 bits, DSCP above 63) is answered by a
//! linear scan of the few boxes that reach outside it, so every answer is
//! exactly that of [`first_match_naive`].
//!
//! # Use
//! Build it once per policy with [`Classifier::build`], query it once per new
//! flow with [`Classifier::first_match`]. [`first_match_naive`] is the
//! obviously correct linear scan the tests compare it with.
//!
//! The per-family index lives in `classifier/index.rs`.

mod index;

use index::FamilyIndex;

use crate::space::{ANY_DSCP, FAMILY_V4, FAMILY_V6, FlowBox, FlowPoint, Span};

/// Highest IPv4 address value.
const V4_MAX: u128 = u32::MAX as u128;
/// Highest DSCP code point.
const DSCP_MAX: u8 = ANY_DSCP.hi;

/// First-match classifier over rules made of boxes, for one or more rule
/// sets at once (the segmentation and routing rules of a policy share one
/// index, so each dimension is searched once per flow for both).
#[derive(Debug, Clone)]
pub struct Classifier {
    /// Rule count of each rule set.
    rules: Vec<usize>,
    v4: FamilyIndex<u32>,
    v6: FamilyIndex<u128>,
    /// Per rule set, in rule order: (rule, box) of the boxes reaching outside
    /// the indexed domain, for points outside it.
    outside: Vec<Vec<(u32, FlowBox)>>,
}

impl Classifier {
    /// Builds the classifier; `rules[i]` is the union of boxes of rule `i`,
    /// lower index = higher precedence. A rule without boxes matches nothing.
    pub fn build(rules: &[Vec<FlowBox>]) -> Self {
        Self::build_sets(&[rules])
    }

    /// Builds one classifier answering for several rule sets; query them with
    /// [`Classifier::first_matches`].
    pub fn build_sets(sets: &[&[Vec<FlowBox>]]) -> Self {
        let v4_addr = |s: Span<u128>| {
            (s.lo <= V4_MAX).then(|| Span { lo: s.lo as u32, hi: s.hi.min(V4_MAX) as u32 })
        };
        let outside = sets
            .iter()
            .map(|rules| {
                let boxes =
                    rules.iter().enumerate().flat_map(|(r, bs)| bs.iter().map(move |b| (r, b)));
                boxes.filter(|(_, b)| reaches_outside(b)).map(|(r, b)| (r as u32, *b)).collect()
            })
            .collect();
        Self {
            rules: sets.iter().map(|r| r.len()).collect(),
            v4: FamilyIndex::build(sets, FAMILY_V4, v4_addr),
            v6: FamilyIndex::build(sets, FAMILY_V6, Some),
            outside,
        }
    }

    /// Index of the first rule (of the first rule set) with a box containing `p`.
    #[inline]
    pub fn first_match(&self, p: &FlowPoint) -> Option<usize> {
        let mut out = [None];
        self.first_matches(p, &mut out);
        out[0]
    }

    /// For each rule set (in build order, at most `out.len()` of them), the
    /// index of its first rule containing `p`; slots beyond the rule sets are
    /// set to `None`.
    #[inline]
    pub fn first_matches(&self, p: &FlowPoint, out: &mut [Option<usize>]) {
        out.fill(None);
        if p.dscp <= DSCP_MAX {
            if p.family == FAMILY_V4 {
                if let (Ok(src), Ok(dst)) = (u32::try_from(p.src), u32::try_from(p.dst)) {
                    return self.v4.first_matches(src, dst, p, out);
                }
            } else if p.family == FAMILY_V6 {
                return self.v6.first_matches(p.src, p.dst, p, out);
            }
        }
        self.outside_matches(p, out);
    }

    /// Linear scan for points outside the indexed domain.
    #[cold]
    fn outside_matches(&self, p: &FlowPoint, out: &mut [Option<usize>]) {
        for (slot, boxes) in out.iter_mut().zip(&self.outside) {
            *slot = boxes.iter().find(|(_, b)| b.contains(p)).map(|(r, _)| *r as usize);
        }
    }

    /// Number of rules (of the first rule set).
    pub fn rule_count(&self) -> usize {
        self.rules.first().copied().unwrap_or(0)
    }

    /// Bytes of index the classifier holds (boundaries, set tables, bitsets),
    /// for status output and capacity planning.
    pub fn memory_bytes(&self) -> usize {
        let outside: usize = self.outside.iter().map(Vec::len).sum();
        self.v4.memory_bytes()
            + self.v6.memory_bytes()
            + outside * std::mem::size_of::<(u32, FlowBox)>()
    }
}

/// Reference evaluator: a linear scan. Used by tests and by anyone wanting
/// the obviously correct answer.
pub fn first_match_naive(rules: &[Vec<FlowBox>], p: &FlowPoint) -> Option<usize> {
    rules.iter().position(|r| r.iter().any(|b| b.contains(p)))
}

/// Whether `b` holds points outside the indexed domain (see the module doc).
fn reaches_outside(b: &FlowBox) -> bool {
    b.family.hi > FAMILY_V6
        || b.dscp.hi > DSCP_MAX
        || (b.family.contains(FAMILY_V4) && (b.src.hi > V4_MAX || b.dst.hi > V4_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::ANY_U8;

    fn point(family: u8, dst: u128, port: u16) -> FlowPoint {
        FlowPoint { family, src: 1, dst, protocol: 6, src_port: 1, dst_port: port, dscp: 0 }
    }

    fn agrees(rules: &[Vec<FlowBox>], points: &[FlowPoint]) {
        let c = Classifier::build(rules);
        for p in points {
            assert_eq!(c.first_match(p), first_match_naive(rules, p), "{p:?}");
        }
    }

    #[test]
    fn an_empty_classifier_matches_nothing() {
        let c = Classifier::build(&[]);
        assert_eq!((c.first_match(&point(FAMILY_V4, 1, 1)), c.rule_count()), (None, 0));
        let c = Classifier::build(&[vec![], vec![]]);
        assert_eq!((c.first_match(&point(FAMILY_V6, 1, 1)), c.rule_count()), (None, 2));
    }

    #[test]
    fn a_catch_all_matches_both_families() {
        let c = Classifier::build(&[vec![], vec![FlowBox::ALL]]);
        assert_eq!(c.first_match(&point(FAMILY_V4, 1, 1)), Some(1));
        assert_eq!(c.first_match(&point(FAMILY_V6, u128::MAX, 65535)), Some(1));
    }

    #[test]
    fn the_lowest_rule_wins_across_edges_of_the_axes() {
        let top = FlowBox { dst: Span { lo: u128::MAX - 1, hi: u128::MAX }, ..FlowBox::ALL };
        let ports = FlowBox { dst_port: Span::one(65_535), ..FlowBox::ALL };
        let v4 = FlowBox {
            family: Span::one(FAMILY_V4),
            dst: Span { lo: 0, hi: V4_MAX },
            ..FlowBox::ALL
        };
        let rules = vec![vec![top], vec![ports], vec![v4], vec![FlowBox::ALL]];
        agrees(
            &rules,
            &[
                point(FAMILY_V6, u128::MAX, 80),
                point(FAMILY_V6, u128::MAX - 2, 65_535),
                point(FAMILY_V4, V4_MAX, 65_534),
                point(FAMILY_V6, 5, 0),
            ],
        );
    }

    #[test]
    fn a_box_above_the_ipv4_range_matches_no_ipv4_flow() {
        // Both families, but only addresses no IPv4 flow has: clipping must
        // drop it from the IPv4 index, not pin it to address 0.
        let high = FlowBox { src: Span { lo: 1 << 64, hi: 1 << 65 }, ..FlowBox::ALL };
        let rules = vec![vec![high], vec![FlowBox { dst_port: Span::one(80), ..FlowBox::ALL }]];
        let c = Classifier::build(&rules);
        assert_eq!(c.first_match(&FlowPoint { src: 0, ..point(FAMILY_V4, 0, 80) }), Some(1));
        assert_eq!(c.first_match(&FlowPoint { src: 1 << 64, ..point(FAMILY_V6, 0, 80) }), Some(0));
    }

    #[test]
    fn points_outside_the_indexed_domain_get_the_linear_scan_answer() {
        let wide = FlowBox { family: Span { lo: 0, hi: 9 }, dscp: ANY_U8, ..FlowBox::ALL };
        let v4_any = FlowBox { family: Span::one(FAMILY_V4), ..FlowBox::ALL };
        let rules =
            vec![vec![FlowBox { dst_port: Span::one(1), ..wide }], vec![v4_any], vec![wide]];
        agrees(
            &rules,
            &[
                point(7, 0, 1),
                point(7, 0, 2),
                point(10, 0, 1),
                FlowPoint { dscp: 64, ..point(FAMILY_V4, 0, 2) },
                FlowPoint { dscp: 255, ..point(FAMILY_V6, 0, 1) },
                point(FAMILY_V4, 1 << 40, 2),
                FlowPoint { src: u128::MAX, ..point(FAMILY_V4, 0, 3) },
            ],
        );
    }

    #[test]
    fn a_wide_rule_after_a_narrow_protocol_rule_still_matches_past_it() {
        // Found by proptest: protocols 0..=56, then everything, probed at 255.
        let v4 = FlowBox {
            family: Span::one(FAMILY_V4),
            dst: Span { lo: 0, hi: V4_MAX },
            src: Span { lo: 0, hi: V4_MAX },
            ..FlowBox::ALL
        };
        let rules =
            vec![vec![FlowBox { protocol: Span { lo: 0, hi: 56 }, ..v4 }], vec![], vec![v4]];
        let p = FlowPoint { protocol: 255, ..v4.low_corner() };
        agrees(&rules, &[p, FlowPoint { protocol: 56, ..p }, FlowPoint { protocol: 57, ..p }]);
    }

    #[test]
    fn two_rule_sets_in_one_index_answer_independently() {
        let web = FlowBox { dst_port: Span::one(443), ..FlowBox::ALL };
        let dns = FlowBox { dst_port: Span::one(53), ..FlowBox::ALL };
        let (acls, routes) = (vec![vec![dns], vec![web]], vec![vec![web]]);
        let c = Classifier::build_sets(&[&acls, &routes]);
        let mut out = [Some(9); 3];
        c.first_matches(&point(FAMILY_V4, 3, 443), &mut out);
        assert_eq!(out, [Some(1), Some(0), None]);
        c.first_matches(&point(FAMILY_V6, 3, 53), &mut out);
        assert_eq!(out, [Some(0), None, None]);
        assert_eq!(c.rule_count(), 2);
    }
}
