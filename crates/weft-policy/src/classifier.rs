//! The compiled first-match classifier: which rule, of many, is the first to
//! contain a flow.
//!
//! Design (the bit-vector scheme of Lakshman and Stiliadis): every box of
//! every rule gets one bit, in rule order. For each dimension (source,
//! destination, protocol, ports, DSCP) the boundaries of all boxes cut the
//! axis into elementary intervals; each interval stores (an index to) the set
//! of boxes covering it, identical sets stored once. A lookup finds the
//! flow's interval on every dimension (binary search; direct tables for
//! protocol and DSCP), ANDs those sets word by word and stops at the first
//! non-zero word: its lowest bit is the first matching box, hence the first
//! matching rule. Dimensions no box constrains are skipped. IPv4 and IPv6 have
//! separate indexes, IPv4 addresses as `u32`.
//!
//! Build it with [`Classifier::build`], query it with
//! [`Classifier::first_match`]; [`first_match_naive`] is the obviously
//! correct linear scan the tests compare it with.

use crate::space::{FAMILY_V4, FAMILY_V6, FlowBox, FlowPoint, Span};

/// First-match classifier over rules made of boxes, for one or more rule
/// sets at once (the segmentation and routing rules of a policy share one
/// index, so each dimension is searched once per flow for both).
#[derive(Debug, Clone)]
pub struct Classifier {
    rules: Vec<usize>,
    v4: FamilyIndex<u32>,
    v6: FamilyIndex<u128>,
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
            let hi = u32::try_from(s.hi).unwrap_or(u32::MAX);
            u32::try_from(s.lo).ok().map(|lo| Span { lo, hi })
        };
        Self {
            rules: sets.iter().map(|r| r.len()).collect(),
            v4: FamilyIndex::build(sets, FAMILY_V4, v4_addr),
            v6: FamilyIndex::build(sets, FAMILY_V6, Some),
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
    /// index of its first rule containing `p`.
    #[inline]
    pub fn first_matches(&self, p: &FlowPoint, out: &mut [Option<usize>]) {
        out.fill(None);
        if p.family == FAMILY_V4 {
            if let (Ok(src), Ok(dst)) = (u32::try_from(p.src), u32::try_from(p.dst)) {
                self.v4.first_matches(src, dst, p, out);
            }
        } else {
            self.v6.first_matches(p.src, p.dst, p, out);
        }
    }

    /// Number of rules (of the first rule set).
    pub fn rule_count(&self) -> usize {
        self.rules.first().copied().unwrap_or(0)
    }

    /// Bytes of index the classifier holds (boundaries, set tables, bitsets).
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }
}

/// Reference evaluator: a linear scan.
pub fn first_match_naive(rules: &[Vec<FlowBox>], p: &FlowPoint) -> Option<usize> {
    rules.iter().position(|r| r.iter().any(|b| b.contains(p)))
}

/// A value on one axis.
trait Axis: Copy + Ord + std::fmt::Debug {
    const MIN: Self;
    fn succ(self) -> Option<Self>;
}

macro_rules! axis {
    ($($t:ty),*) => {$(impl Axis for $t {
        const MIN: Self = 0;
        fn succ(self) -> Option<Self> { self.checked_add(1) }
    })*};
}
axis!(u8, u16, u32, u128);

/// One dimension: interval starts and the set index of each interval. Empty
/// `starts` means no box constrains this dimension.
#[derive(Debug, Clone)]
struct Dim<T> {
    starts: Vec<T>,
    set_of: Vec<u32>,
}

impl<T: Axis> Dim<T> {
    fn unconstrained() -> Self {
        Self { starts: Vec::new(), set_of: Vec::new() }
    }

    #[inline]
    fn set(&self, v: T) -> u32 {
        // The last start <= v (starts[0] == MIN, so there is one), found by a
        // branchless binary search: the comparison feeds a conditional move, not
        // a branch the CPU mispredicts half the time.
        let starts = &self.starts[..];
        let mut base = 0usize;
        let mut len = starts.len();
        while len > 1 {
            let half = len / 2;
            base = if starts[base + half] <= v { base + half } else { base };
            len -= half;
        }
        self.set_of[base]
    }

    fn memory_bytes(&self) -> usize {
        self.starts.len() * std::mem::size_of::<T>() + self.set_of.len() * 4
    }
}

/// A small dimension as a direct table (protocol, DSCP).
#[derive(Debug, Clone)]
struct Table {
    set_of: Vec<u32>,
}

/// Deduplicated bitsets, `words` u64 each.
#[derive(Debug, Clone, Default)]
struct Sets {
    words: usize,
    bits: Vec<u64>,
    index: std::collections::BTreeMap<Vec<u64>, u32>,
}

impl Sets {
    fn intern(&mut self, set: Vec<u64>) -> u32 {
        if let Some(i) = self.index.get(&set) {
            return *i;
        }
        let i = (self.bits.len() / self.words.max(1)) as u32;
        self.bits.extend_from_slice(&set);
        self.index.insert(set, i);
        i
    }
}

/// The index of one address family.
#[derive(Debug, Clone)]
struct FamilyIndex<A> {
    /// Rule (within its set) of each box bit.
    box_rule: Vec<u32>,
    /// Word range of each rule set.
    set_words: Vec<(usize, usize)>,
    words: usize,
    bits: Vec<u64>,
    src: Dim<A>,
    dst: Dim<A>,
    src_port: Dim<u16>,
    dst_port: Dim<u16>,
    protocol: Option<Table>,
    dscp: Option<Table>,
}

/// Builds one dimension from the boxes' spans on it; `None` when every span
/// covers the whole axis.
fn dim<T: Axis>(spans: &[(usize, Span<T>)], full: Span<T>, sets: &mut Sets) -> Dim<T> {
    if spans.iter().all(|(_, s)| s.covers(&full)) {
        return Dim::unconstrained();
    }
    let mut starts: Vec<T> = vec![T::MIN];
    for (_, s) in spans {
        starts.push(s.lo);
        if let Some(n) = s.hi.succ() {
            starts.push(n);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut per_interval = vec![vec![0u64; sets.words]; starts.len()];
    for &(bit, s) in spans {
        let first = starts.partition_point(|x| *x < s.lo);
        let end = s.hi.succ().map_or(starts.len(), |n| starts.partition_point(|x| *x < n));
        for set in &mut per_interval[first..end] {
            set[bit / 64] |= 1 << (bit % 64);
        }
    }
    let set_of = per_interval.into_iter().map(|s| sets.intern(s)).collect();
    Dim { starts, set_of }
}

fn table(spans: &[(usize, Span<u8>)], full: Span<u8>, sets: &mut Sets) -> Option<Table> {
    let d = dim(spans, full, sets);
    if d.starts.is_empty() {
        return None;
    }
    Some(Table { set_of: (0..=full.hi).map(|v| d.set(v)).collect() })
}

impl<A: Axis> FamilyIndex<A> {
    fn build(
        rule_sets: &[&[Vec<FlowBox>]],
        family: u8,
        addr: impl Fn(Span<u128>) -> Option<Span<A>>,
    ) -> Self {
        // Bits: each rule set's boxes of this family in rule order, each set
        // starting on a fresh word.
        let mut boxes: Vec<(usize, FlowBox)> = Vec::new();
        let mut box_rule = Vec::new();
        let mut set_words = Vec::new();
        for rules in rule_sets {
            let base = box_rule.len().div_ceil(64) * 64;
            box_rule.resize(base, u32::MAX);
            for (r, bs) in rules.iter().enumerate() {
                for b in bs.iter().filter(|b| b.family.contains(family)) {
                    boxes.push((box_rule.len(), *b));
                    box_rule.push(r as u32);
                }
            }
            set_words.push((base / 64, box_rule.len().div_ceil(64)));
        }
        let words = box_rule.len().div_ceil(64).max(1);
        let mut sets = Sets { words, ..Sets::default() };
        let addr_span = |s: Span<u128>| addr(s).unwrap_or(Span { lo: A::MIN, hi: A::MIN });
        let all_a = addr(Span { lo: 0, hi: u128::MAX }).unwrap_or(Span { lo: A::MIN, hi: A::MIN });
        let on = |f: &dyn Fn(&FlowBox) -> Span<u128>| -> Vec<(usize, Span<A>)> {
            boxes.iter().map(|(bit, b)| (*bit, addr_span(f(b)))).collect()
        };
        let src = dim(&on(&|b| b.src), all_a, &mut sets);
        let dst = dim(&on(&|b| b.dst), all_a, &mut sets);
        let ports = |f: &dyn Fn(&FlowBox) -> Span<u16>| -> Vec<(usize, Span<u16>)> {
            boxes.iter().map(|(bit, b)| (*bit, f(b))).collect()
        };
        let src_port = dim(&ports(&|b| b.src_port), Span { lo: 0, hi: u16::MAX }, &mut sets);
        let dst_port = dim(&ports(&|b| b.dst_port), Span { lo: 0, hi: u16::MAX }, &mut sets);
        let small = |f: &dyn Fn(&FlowBox) -> Span<u8>| -> Vec<(usize, Span<u8>)> {
            boxes.iter().map(|(bit, b)| (*bit, f(b))).collect()
        };
        let protocol = table(&small(&|b| b.protocol), Span { lo: 0, hi: u8::MAX }, &mut sets);
        let dscp = table(&small(&|b| b.dscp), Span { lo: 0, hi: 63 }, &mut sets);
        // With no dimension constrained every box matches everything: one set of all boxes.
        let mut bits = sets.bits;
        let mut all = vec![0u64; words];
        for (bit, _) in &boxes {
            all[bit / 64] |= 1 << (bit % 64);
        }
        let all_index = (bits.len() / words) as u32;
        bits.extend_from_slice(&all);
        let mut s =
            Self { box_rule, set_words, words, bits, src, dst, src_port, dst_port, protocol, dscp };
        s.all_index_fixup(all_index);
        s
    }

    /// Records where the all-ones set lives (used when no dimension constrains).
    fn all_index_fixup(&mut self, all_index: u32) {
        if self.src.starts.is_empty()
            && self.dst.starts.is_empty()
            && self.src_port.starts.is_empty()
            && self.dst_port.starts.is_empty()
            && self.protocol.is_none()
            && self.dscp.is_none()
        {
            // Any box matches any point: a degenerate dimension with one interval.
            self.dst_port = Dim { starts: vec![0], set_of: vec![all_index] };
        }
    }

    #[inline]
    fn first_matches(&self, src: A, dst: A, p: &FlowPoint, out: &mut [Option<usize>]) {
        let mut picked = [0u32; 6];
        let mut n = 0;
        let mut add = |set: u32| {
            picked[n] = set;
            n += 1;
        };
        if let Some(t) = &self.protocol {
            add(t.set_of[usize::from(p.protocol)]);
        }
        if let Some(t) = &self.dscp {
            add(t.set_of[usize::from(p.dscp & 63)]);
        }
        if !self.dst_port.starts.is_empty() {
            add(self.dst_port.set(p.dst_port));
        }
        if !self.dst.starts.is_empty() {
            add(self.dst.set(dst));
        }
        if !self.src.starts.is_empty() {
            add(self.src.set(src));
        }
        if !self.src_port.starts.is_empty() {
            add(self.src_port.set(p.src_port));
        }
        let w = self.words;
        let offsets: [usize; 6] = std::array::from_fn(|i| picked[i] as usize * w);
        let sets = &offsets[..n];
        for (slot, &(from, to)) in out.iter_mut().zip(&self.set_words) {
            for word in from..to {
                let mut acc = u64::MAX;
                for off in sets {
                    acc &= self.bits[off + word];
                }
                if acc != 0 {
                    let bit = word * 64 + acc.trailing_zeros() as usize;
                    *slot = Some(self.box_rule[bit] as usize);
                    break;
                }
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        self.bits.len() * 8
            + self.box_rule.len() * 4
            + self.src.memory_bytes()
            + self.dst.memory_bytes()
            + self.src_port.memory_bytes()
            + self.dst_port.memory_bytes()
            + self.protocol.as_ref().map_or(0, |t| t.set_of.len() * 4)
            + self.dscp.as_ref().map_or(0, |t| t.set_of.len() * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::ANY_PORT;

    fn point(family: u8, dst: u128, port: u16) -> FlowPoint {
        FlowPoint { family, src: 1, dst, protocol: 6, src_port: 1, dst_port: port, dscp: 0 }
    }

    #[test]
    fn an_empty_classifier_matches_nothing() {
        let c = Classifier::build(&[]);
        assert_eq!(c.first_match(&point(FAMILY_V4, 1, 1)), None);
        let c = Classifier::build(&[vec![]]);
        assert_eq!(c.first_match(&point(FAMILY_V4, 1, 1)), None);
    }

    #[test]
    fn a_catch_all_matches_both_families() {
        let c = Classifier::build(&[vec![FlowBox::ALL]]);
        assert_eq!(c.first_match(&point(FAMILY_V4, 1, 1)), Some(0));
        assert_eq!(c.first_match(&point(FAMILY_V6, u128::MAX, 65535)), Some(0));
    }

    #[test]
    fn the_lowest_rule_wins_across_edges_of_the_axes() {
        let top = FlowBox { dst: Span { lo: u128::MAX - 1, hi: u128::MAX }, ..FlowBox::ALL };
        let ports = FlowBox { dst_port: Span { lo: 65_535, hi: 65_535 }, ..FlowBox::ALL };
        let v4 = FlowBox {
            family: Span::one(FAMILY_V4),
            dst: Span { lo: 0, hi: 0xffff_ffff },
            ..FlowBox::ALL
        };
        let rules = vec![
            vec![top],
            vec![ports],
            vec![v4],
            vec![FlowBox { dst_port: ANY_PORT, ..FlowBox::ALL }],
        ];
        let c = Classifier::build(&rules);
        for p in [
            point(FAMILY_V6, u128::MAX, 80),
            point(FAMILY_V6, u128::MAX - 2, 65_535),
            point(FAMILY_V4, 0xffff_ffff, 65_534),
            point(FAMILY_V6, 5, 0),
        ] {
            assert_eq!(c.first_match(&p), first_match_naive(&rules, &p), "{p:?}");
        }
    }

    fn span8(max: u8) -> impl proptest::strategy::Strategy<Value = Span<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Span { lo: 0, hi: max }),
            (0..=max).prop_map(Span::one),
            (0..=max, 0..=max).prop_map(|(a, b)| Span { lo: a.min(b), hi: a.max(b) }),
        ]
    }

    fn span16() -> impl proptest::strategy::Strategy<Value = Span<u16>> {
        use proptest::prelude::*;
        prop_oneof![
            Just(ANY_PORT),
            prop_oneof![Just(0u16), Just(1), Just(80), Just(443), Just(65_535), any::<u16>()]
                .prop_map(Span::one),
            (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Span { lo: a.min(b), hi: a.max(b) }),
        ]
    }

    fn addr(family: u8) -> impl proptest::strategy::Strategy<Value = Span<u128>> {
        use proptest::prelude::*;
        let bits: u32 = if family == FAMILY_V4 { 32 } else { 128 };
        (0u32..=bits, any::<u128>()).prop_map(move |(len, raw)| {
            let raw = if bits == 32 { raw & 0xffff_ffff } else { raw };
            // Clustered in a few /8s so that boxes overlap.
            let raw = (raw & !(0xfc << (bits - 8))) | (u128::from((raw % 3) as u8) << (bits - 8));
            let host = bits - len;
            let mask = if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
            Span { lo: raw & !mask, hi: (raw & !mask) | mask }
        })
    }

    fn flow_box() -> impl proptest::strategy::Strategy<Value = FlowBox> {
        use proptest::prelude::*;
        (prop_oneof![Just(FAMILY_V4), Just(FAMILY_V6)], any::<bool>(), any::<bool>()).prop_flat_map(
            |(family, any_src, any_dst)| {
                let full = if family == FAMILY_V4 {
                    Span { lo: 0, hi: 0xffff_ffff }
                } else {
                    crate::space::ANY_ADDR
                };
                (
                    if any_src { Just(full).boxed() } else { addr(family).boxed() },
                    if any_dst { Just(full).boxed() } else { addr(family).boxed() },
                    span8(255),
                    span16(),
                    span16(),
                    span8(63),
                )
                    .prop_map(
                        move |(src, dst, protocol, src_port, dst_port, dscp)| FlowBox {
                            family: Span::one(family),
                            src,
                            dst,
                            protocol,
                            src_port,
                            dst_port,
                            dscp,
                        },
                    )
            },
        )
    }

    /// Points on the corners of the given boxes, one off them, or anywhere.
    fn probe(rules: &[Vec<FlowBox>], pick: usize, corner: u8, jitter: u8) -> FlowPoint {
        let all: Vec<FlowBox> = rules.iter().flatten().copied().collect();
        let Some(b) = all.get(pick % all.len().max(1)) else { return point(FAMILY_V4, 0, 0) };
        let mut p = if corner & 1 == 0 {
            b.low_corner()
        } else {
            FlowPoint {
                family: b.family.hi,
                src: b.src.hi,
                dst: b.dst.hi,
                protocol: b.protocol.hi,
                src_port: b.src_port.hi,
                dst_port: b.dst_port.hi,
                dscp: b.dscp.hi,
            }
        };
        match jitter % 4 {
            1 => p.dst_port = p.dst_port.wrapping_add(1),
            2 => p.dst = p.dst.wrapping_sub(1),
            3 => p.protocol = p.protocol.wrapping_add(1),
            _ => {}
        }
        if p.family == FAMILY_V4 {
            p.src &= 0xffff_ffff;
            p.dst &= 0xffff_ffff;
        }
        p.dscp &= 63;
        p
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        #[test]
        fn the_classifier_agrees_with_the_linear_scan(
            rules in proptest::collection::vec(proptest::collection::vec(flow_box(), 0..4), 0..60),
            probes in proptest::collection::vec((0usize..1000, proptest::prelude::any::<u8>(), proptest::prelude::any::<u8>()), 1..50),
        ) {
            let c = Classifier::build(&rules);
            for (pick, corner, jitter) in probes {
                let p = probe(&rules, pick, corner, jitter);
                proptest::prop_assert_eq!(c.first_match(&p), first_match_naive(&rules, &p), "{:?}", p);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        #[test]
        fn one_index_over_two_rule_sets_answers_for_each_as_if_alone(
            a in proptest::collection::vec(proptest::collection::vec(flow_box(), 0..3), 0..70),
            b in proptest::collection::vec(proptest::collection::vec(flow_box(), 0..3), 0..30),
            probes in proptest::collection::vec((0usize..1000, proptest::prelude::any::<u8>(), proptest::prelude::any::<u8>()), 1..40),
        ) {
            let both = Classifier::build_sets(&[&a, &b]);
            let joined: Vec<Vec<FlowBox>> = a.iter().chain(&b).cloned().collect();
            for (pick, corner, jitter) in probes {
                let p = probe(&joined, pick, corner, jitter);
                let mut out = [None; 2];
                both.first_matches(&p, &mut out);
                proptest::prop_assert_eq!(out, [first_match_naive(&a, &p), first_match_naive(&b, &p)], "{:?}", p);
            }
        }
    }
}
