//! Exact analysis by box splitting: a box of flow space cut into disjoint
//! pieces, each labelled with the first rule that matches all of it.
//!
//! This is what lets policy tests, the lint and the diff reason about *every*
//! flow of a set instead of samples. The work list takes a piece, finds the
//! first rule (from where its parent left off) with a box intersecting it,
//! labels the intersection with that rule and puts the remainder (the piece
//! minus that box, at most two slabs per dimension) back. A limit on the
//! number of pieces guards against blow-up on adversarial policies.

use crate::space::{FlowBox, Span};

/// The analysis would need too many pieces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// More than `limit` pieces.
    #[error("the analysis needs more than {limit} pieces")]
    TooComplex {
        /// The limit.
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
        let hit = rules
            .iter()
            .enumerate()
            .skip(start)
            .find_map(|(i, r)| r.iter().find_map(|b| b.intersect(&piece).map(|x| (i, *b, x))));
        match hit {
            None => out.push((None, piece)),
            Some((i, b, x)) => {
                out.push((Some(i), x));
                for rest in subtract(&piece, &b) {
                    work.push((i, rest));
                }
            }
        }
        if out.len() + work.len() > limit {
            return Err(PartitionError::TooComplex { limit });
        }
    }
    Ok(out)
}

fn split<T: Copy + Ord + Step>(a: Span<T>, b: Span<T>) -> (Option<Span<T>>, Option<Span<T>>) {
    let below = if b.lo > a.lo { Some(Span { lo: a.lo, hi: b.lo.prev() }) } else { None };
    let above = if b.hi < a.hi { Some(Span { lo: b.hi.next(), hi: a.hi }) } else { None };
    (below, above)
}

trait Step {
    fn prev(self) -> Self;
    fn next(self) -> Self;
}
macro_rules! step { ($($t:ty),*) => {$(impl Step for $t { fn prev(self) -> Self { self - 1 } fn next(self) -> Self { self + 1 } })*}; }
step!(u8, u16, u128);

/// `a` minus `b` as at most two disjoint boxes per dimension.
pub fn subtract(a: &FlowBox, b: &FlowBox) -> Vec<FlowBox> {
    let Some(i) = a.intersect(b) else { return vec![*a] };
    let mut out = Vec::new();
    let mut rest = *a;
    macro_rules! dim {
        ($f:ident) => {
            let (lo, hi) = split(rest.$f, i.$f);
            for s in [lo, hi].into_iter().flatten() {
                out.push(FlowBox { $f: s, ..rest });
            }
            rest.$f = i.$f;
        };
    }
    dim!(family);
    dim!(src);
    dim!(dst);
    dim!(protocol);
    dim!(src_port);
    dim!(dst_port);
    let (lo, hi) = split(rest.dscp, i.dscp);
    out.extend([lo, hi].into_iter().flatten().map(|s| FlowBox { dscp: s, ..rest }));
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::classifier::first_match_naive;
    use crate::space::FlowPoint;

    fn span() -> impl Strategy<Value = Span<u16>> {
        (0u16..40, 0u16..40).prop_map(|(a, b)| Span { lo: a.min(b), hi: a.max(b) })
    }

    fn small_box() -> impl Strategy<Value = FlowBox> {
        (span(), span(), 0u8..4, 0u8..4).prop_map(|(d, s, p, q)| FlowBox {
            family: Span::one(0),
            src: Span { lo: u128::from(s.lo), hi: u128::from(s.hi) },
            dst_port: d,
            protocol: Span { lo: p.min(q), hi: p.max(q) },
            ..FlowBox::ALL
        })
    }

    proptest! {
        #[test]
        fn pieces_are_disjoint_cover_the_query_and_carry_the_first_match(
            rules in proptest::collection::vec(proptest::collection::vec(small_box(), 0..3), 0..8),
            query in small_box(),
            points in proptest::collection::vec((0u16..40, 0u16..40, 0u8..4), 1..60),
        ) {
            let pieces = partition(&rules, &query, 100_000).unwrap();
            for (src, port, proto) in points {
                let p = FlowPoint { family: 0, src: u128::from(src), dst: 7, protocol: proto, src_port: 1, dst_port: port, dscp: 0 };
                let holders: Vec<_> = pieces.iter().filter(|(_, b)| b.contains(&p)).collect();
                if query.contains(&p) {
                    prop_assert_eq!(holders.len(), 1, "{:?} in {} pieces", p, holders.len());
                    prop_assert_eq!(holders[0].0, first_match_naive(&rules, &p));
                } else {
                    prop_assert!(holders.is_empty());
                }
            }
        }

        #[test]
        fn subtracting_leaves_exactly_the_points_outside(a in small_box(), b in small_box(), port in 0u16..40, src in 0u16..40) {
            let p = FlowPoint { family: 0, src: u128::from(src), dst: 7, protocol: a.protocol.lo, src_port: 1, dst_port: port, dscp: 0 };
            let rest = subtract(&a, &b);
            let n = rest.iter().filter(|r| r.contains(&p)).count();
            prop_assert_eq!(n, usize::from(a.contains(&p) && !b.contains(&p)));
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
    }
}
