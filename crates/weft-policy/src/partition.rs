//! Exact analysis by box splitting: a box of flow space cut into disjoint
//! pieces, each labelled with the first rule that matches all of it.
//!
//! This is what lets policy tests, the lint and the diff reason about *every*
//! flow of a set instead of samples. [`partition`] keeps a work list of
//! pieces, each with the first rule still worth looking at. It takes a piece,
//! finds the first rule from there with a box intersecting it, labels the
//! intersection with that rule and puts the remainder (the piece minus that
//! box, at most two slabs per dimension, from [`subtract`]) back, still
//! starting at that rule so its other boxes are considered first. Rules
//! before it cannot touch the remainder: they did not touch the piece. A
//! piece no rule touches is labelled `None`. A limit on the number of pieces
//! guards against blow-up on adversarial policies (every cut can multiply the
//! pieces by up to 14).

use crate::space::{FlowBox, Span};

/// Why a partition was not produced. Either way nothing was returned and no
/// state is kept: retry with a higher limit or a smaller query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// The exact answer has more than `limit` pieces (the policy is too
    /// fragmented over the query for the limit the caller set).
    #[error("the analysis needs more than {limit} pieces")]
    TooComplex {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// Splits `query` into disjoint boxes, each labelled with the first rule
/// (lowest index in `rules`) that matches every flow in it, or `None` where no
/// rule matches. The union of the pieces is exactly `query`. Fails with
/// [`PartitionError::TooComplex`] when more than `limit` pieces would be needed.
pub fn partition(
    rules: &[Vec<FlowBox>],
    query: &FlowBox,
    limit: usize,
) -> Result<Vec<(Option<usize>, FlowBox)>, PartitionError> {
    let mut out = Vec::new();
    let mut work = vec![(0usize, *query)];
    while let Some((start, piece)) = work.pop() {
        let hit = rules.iter().enumerate().skip(start).find_map(|(i, boxes)| {
            boxes.iter().find_map(|b| b.intersect(&piece).map(|common| (i, b, common)))
        });
        match hit {
            None => out.push((None, piece)),
            Some((i, b, common)) => {
                out.push((Some(i), common));
                work.extend(subtract(&piece, b).into_iter().map(|rest| (i, rest)));
            }
        }
        // Every piece still in the work list yields at least one more.
        if out.len() + work.len() > limit {
            return Err(PartitionError::TooComplex { limit });
        }
    }
    Ok(out)
}

/// Box difference: `a` minus `b` as at most 2 × (number of dimensions)
/// disjoint boxes (none when `b` covers `a`, `a` itself when they are
/// disjoint).
pub fn subtract(a: &FlowBox, b: &FlowBox) -> Vec<FlowBox> {
    let Some(common) = a.intersect(b) else { return vec![*a] };
    let mut out = Vec::new();
    // Peel dimension by dimension: the slabs of `rest` below and above the
    // common part on this dimension, then narrow `rest` to the common part.
    let mut rest = *a;
    macro_rules! peel {
        ($($dim:ident),*) => {$(
            let (below, above) = outside(rest.$dim, common.$dim);
            out.extend([below, above].into_iter().flatten().map(|s| FlowBox { $dim: s, ..rest }));
            rest.$dim = common.$dim;
        )*};
    }
    peel!(family, src, dst, protocol, src_port, dst_port, dscp);
    debug_assert_eq!(rest, common);
    out
}

/// The parts of `a` below and above `inner`, which lies within `a`.
fn outside<T: Step>(a: Span<T>, inner: Span<T>) -> (Option<Span<T>>, Option<Span<T>>) {
    // `inner.lo > a.lo` guarantees `inner.lo - 1` exists; likewise above.
    let below = (inner.lo > a.lo).then(|| Span { lo: a.lo, hi: inner.lo.pred() });
    let above = (inner.hi < a.hi).then(|| Span { lo: inner.hi.succ(), hi: a.hi });
    (below, above)
}

/// Neighbours of an axis value; only called where they exist.
trait Step: Copy + Ord {
    fn pred(self) -> Self;
    fn succ(self) -> Self;
}

macro_rules! step {
    ($($t:ty),*) => {$(impl Step for $t {
        fn pred(self) -> Self { self - 1 }
        fn succ(self) -> Self { self + 1 }
    })*};
}
step!(u8, u16, u128);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::FlowPoint;

    fn ports(lo: u16, hi: u16) -> FlowBox {
        FlowBox { dst_port: Span { lo, hi }, ..FlowBox::ALL }
    }

    fn at_port(port: u16) -> FlowPoint {
        FlowPoint { dst_port: port, ..FlowBox::ALL.low_corner() }
    }

    #[test]
    fn a_query_no_rule_touches_comes_back_whole_and_unmatched() {
        let q = ports(10, 20);
        assert_eq!(partition(&[], &q, 1), Ok(vec![(None, q)]));
        assert_eq!(partition(&[vec![], vec![ports(30, 40)]], &q, 1), Ok(vec![(None, q)]));
    }

    #[test]
    fn a_query_inside_a_rule_is_one_piece_of_the_first_such_rule() {
        let rules = vec![vec![ports(0, 5)], vec![ports(0, 100)], vec![FlowBox::ALL]];
        assert_eq!(partition(&rules, &ports(10, 20), 1), Ok(vec![(Some(1), ports(10, 20))]));
    }

    #[test]
    fn the_other_boxes_of_a_rule_still_win_over_later_rules() {
        let rules = vec![vec![ports(0, 9), ports(20, 29)], vec![FlowBox::ALL]];
        let mut pieces = partition(&rules, &ports(0, 39), 100).unwrap();
        pieces.sort_by_key(|(_, b)| b.dst_port);
        let labels: Vec<_> =
            pieces.iter().map(|(l, b)| (*l, b.dst_port.lo, b.dst_port.hi)).collect();
        assert_eq!(
            labels,
            [(Some(0), 0, 9), (Some(1), 10, 19), (Some(0), 20, 29), (Some(1), 30, 39)]
        );
    }

    #[test]
    fn subtracting_at_the_ends_of_the_axes_does_not_overflow() {
        let top = FlowBox { src: Span::one(u128::MAX), dst: Span::one(0), ..FlowBox::ALL };
        let rest = subtract(&FlowBox::ALL, &top);
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[0].src, Span { lo: 0, hi: u128::MAX - 1 });
        assert_eq!(
            (rest[1].src, rest[1].dst),
            (Span::one(u128::MAX), Span { lo: 1, hi: u128::MAX })
        );
        assert!(subtract(&top, &FlowBox::ALL).is_empty());
        assert_eq!(subtract(&ports(0, 1), &ports(2, 3)), vec![ports(0, 1)]);
        assert_eq!(subtract(&ports(0, 9), &ports(3, 5)), vec![ports(0, 2), ports(6, 9)]);
    }

    #[test]
    fn the_pieces_carry_the_first_match_of_their_flows() {
        let rules = vec![vec![ports(5, 5)], vec![ports(0, 7), ports(9, 9)]];
        let pieces = partition(&rules, &ports(0, 10), 100).unwrap();
        for port in 0..=10 {
            let holders: Vec<_> =
                pieces.iter().filter(|(_, b)| b.contains(&at_port(port))).collect();
            assert_eq!(holders.len(), 1, "port {port}");
            assert_eq!(holders[0].0, crate::classifier::first_match_naive(&rules, &at_port(port)));
        }
    }

    #[test]
    fn the_limit_stops_runaway_splits() {
        let rules: Vec<Vec<FlowBox>> = (0..50)
            .map(|i| {
                vec![FlowBox {
                    dst_port: Span::one(i * 2),
                    src_port: Span::one(i * 3),
                    ..FlowBox::ALL
                }]
            })
            .collect();
        assert_eq!(
            partition(&rules, &FlowBox::ALL, 20),
            Err(PartitionError::TooComplex { limit: 20 })
        );
        assert_eq!(partition(&[], &FlowBox::ALL, 0), Err(PartitionError::TooComplex { limit: 0 }));
        assert!(partition(&rules, &FlowBox::ALL, 100_000).is_ok());
    }
}
