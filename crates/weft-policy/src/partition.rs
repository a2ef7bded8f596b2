//! Interim partition (the helper's version replaces this file).

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

/// Splits `query` by first matching rule.
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

/// `a` minus `b` as disjoint boxes.
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
