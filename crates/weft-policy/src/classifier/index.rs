//! The index of one address family: elementary intervals per dimension,
//! deduplicated box bitsets, and the lookup that ANDs them (see the
//! [parent module](super) for the design).

use std::collections::BTreeMap;

use super::DSCP_MAX;
use crate::space::{ANY_ADDR, ANY_DSCP, ANY_PORT, ANY_U8, FlowBox, FlowPoint, Span};

/// A value on one axis.
pub(super) trait Axis: Copy + Ord + std::fmt::Debug {
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

/// Deduplicated bitsets of `words` u64 each, stored back to back.
struct Sets {
    words: usize,
    bits: Vec<u64>,
    offset: BTreeMap<Vec<u64>, u32>,
}

impl Sets {
    /// Word offset of `set` in `bits`, storing it if new.
    fn intern(&mut self, set: &[u64]) -> u32 {
        if let Some(&at) = self.offset.get(set) {
            return at;
        }
        let at = u32::try_from(self.bits.len()).expect("set tables stay under 32 GiB");
        self.bits.extend_from_slice(set);
        self.offset.insert(set.to_vec(), at);
        at
    }
}

/// One dimension: interval starts (ascending, the first is the axis
/// minimum) and the set offset of each interval. Empty means no box
/// constrains this dimension.
#[derive(Debug, Clone)]
struct Dim<T> {
    starts: Vec<T>,
    set_of: Vec<u32>,
}

impl<T: Axis> Dim<T> {
    /// The elementary intervals of `spans` (bit, span) on an axis `full`.
    fn build(spans: &[(usize, Span<T>)], full: Span<T>, sets: &mut Sets) -> Self {
        if spans.iter().all(|(_, s)| s.covers(&full)) {
            return Self { starts: Vec::new(), set_of: Vec::new() };
        }
        // Sweep: a box's bit turns on at its `lo` and off after its `hi`.
        let mut edges: Vec<(T, usize)> = spans.iter().map(|&(bit, s)| (s.lo, bit)).collect();
        edges.extend(spans.iter().filter_map(|&(bit, s)| Some((s.hi.succ()?, bit))));
        edges.sort_unstable_by_key(|e| e.0);
        let mut current = vec![0u64; sets.words];
        let (mut starts, mut set_of) = (Vec::new(), Vec::new());
        let mut next = edges.iter().peekable();
        let mut at = T::MIN;
        loop {
            while let Some((_, bit)) = next.next_if(|e| e.0 == at) {
                current[bit / 64] ^= 1 << (bit % 64);
            }
            starts.push(at);
            set_of.push(sets.intern(&current));
            match next.peek() {
                Some(e) => at = e.0,
                None => break,
            }
        }
        Self { starts, set_of }
    }

    fn is_constrained(&self) -> bool {
        !self.starts.is_empty()
    }

    /// The set offset of the interval holding `v`.
    #[inline]
    fn set(&self, v: T) -> u32 {
        // The last start <= v (starts[0] == MIN, so there is one), found by a
        // branchless binary search: the comparison feeds a conditional move,
        // not a branch the CPU mispredicts half the time.
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

/// A small dimension (protocol, DSCP) as a direct table of set offsets;
/// empty when no box constrains it.
fn table(spans: &[(usize, Span<u8>)], full: Span<u8>, sets: &mut Sets) -> Vec<u32> {
    let d = Dim::build(spans, full, sets);
    if d.is_constrained() { (0..=full.hi).map(|v| d.set(v)).collect() } else { Vec::new() }
}

/// Each box's (bit, span) on one dimension.
fn spans<T>(boxes: &[(usize, FlowBox)], on: impl Fn(&FlowBox) -> Span<T>) -> Vec<(usize, Span<T>)> {
    boxes.iter().map(|(bit, b)| (*bit, on(b))).collect()
}

/// The index of one address family.
#[derive(Debug, Clone)]
pub(super) struct FamilyIndex<A> {
    /// Rule (within its set) of each box bit; padding bits hold `u32::MAX`.
    box_rule: Vec<u32>,
    /// Word range of each rule set.
    set_words: Vec<(usize, usize)>,
    /// Every interned set, back to back.
    bits: Vec<u64>,
    /// Words per set.
    words: usize,
    /// Offset of the all-ones set, standing in for unconstrained dimensions.
    ones: u32,
    src: Dim<A>,
    dst: Dim<A>,
    src_port: Dim<u16>,
    dst_port: Dim<u16>,
    protocol: Vec<u32>,
    dscp: Vec<u32>,
}

impl<A: Axis> FamilyIndex<A> {
    /// The index of the boxes holding flows of `family`, their addresses
    /// clipped to the family by `addr` (`None`: no address of the family).
    pub(super) fn build(
        rule_sets: &[&[Vec<FlowBox>]],
        family: u8,
        addr: impl Fn(Span<u128>) -> Option<Span<A>>,
    ) -> Self {
        // Bits: each rule set's boxes of this family in rule order, each set
        // starting on a fresh word. DSCP is clipped to 0..=63 (and the
        // addresses to the family by `addr`) as only such flows come here.
        let mut boxes: Vec<(usize, FlowBox)> = Vec::new();
        let mut box_rule = Vec::new();
        let mut set_words = Vec::new();
        for rules in rule_sets {
            box_rule.resize(box_rule.len().div_ceil(64) * 64, u32::MAX);
            let first_word = box_rule.len() / 64;
            for (r, bs) in rules.iter().enumerate() {
                for b in bs.iter().filter(|b| b.family.contains(family)) {
                    let dscp = Span::new(b.dscp.lo, b.dscp.hi.min(DSCP_MAX));
                    if let (Some(_), Some(_), Some(dscp)) = (addr(b.src), addr(b.dst), dscp) {
                        boxes.push((box_rule.len(), FlowBox { dscp, ..*b }));
                        box_rule.push(r as u32);
                    }
                }
            }
            set_words.push((first_word, box_rule.len().div_ceil(64)));
        }
        let words = box_rule.len().div_ceil(64).max(1);
        let mut sets = Sets { words, bits: Vec::new(), offset: BTreeMap::new() };
        let all = addr(ANY_ADDR).expect("every family has address 0");
        let clip = |s: Span<u128>| addr(s).expect("kept boxes have addresses of the family");
        let src = Dim::build(&spans(&boxes, |b| clip(b.src)), all, &mut sets);
        let dst = Dim::build(&spans(&boxes, |b| clip(b.dst)), all, &mut sets);
        let mut src_port = Dim::build(&spans(&boxes, |b| b.src_port), ANY_PORT, &mut sets);
        let dst_port = Dim::build(&spans(&boxes, |b| b.dst_port), ANY_PORT, &mut sets);
        let protocol = table(&spans(&boxes, |b| b.protocol), ANY_U8, &mut sets);
        let dscp = table(&spans(&boxes, |b| b.dscp), ANY_DSCP, &mut sets);
        let none_constrained = !(src.is_constrained()
            || dst.is_constrained()
            || src_port.is_constrained()
            || dst_port.is_constrained())
            && protocol.is_empty()
            && dscp.is_empty();
        if none_constrained {
            // Every box holds every flow of the family: one interval, all boxes.
            let mut every = vec![0u64; words];
            for (bit, ..) in &boxes {
                every[bit / 64] |= 1 << (bit % 64);
            }
            src_port = Dim { starts: vec![0], set_of: vec![sets.intern(&every)] };
        }
        let ones = sets.intern(&vec![u64::MAX; words]);
        let bits = sets.bits;
        Self {
            box_rule,
            set_words,
            bits,
            words,
            ones,
            src,
            dst,
            src_port,
            dst_port,
            protocol,
            dscp,
        }
    }

    /// The first rule of each rule set holding the flow `p` (addresses
    /// `src` and `dst` in this family's type, DSCP at most 63).
    #[inline]
    pub(super) fn first_matches(&self, src: A, dst: A, p: &FlowPoint, out: &mut [Option<usize>]) {
        // One set per dimension; unconstrained ones AND in the all-ones set
        // (at least one dimension is constrained, so padding bits never
        // survive), which keeps the word loop below fixed and branch-free.
        let mut at = [self.ones; 6];
        if !self.protocol.is_empty() {
            at[0] = self.protocol[usize::from(p.protocol)];
        }
        if !self.dscp.is_empty() {
            at[1] = self.dscp[usize::from(p.dscp)];
        }
        if self.dst_port.is_constrained() {
            at[2] = self.dst_port.set(p.dst_port);
        }
        if self.dst.is_constrained() {
            at[3] = self.dst.set(dst);
        }
        if self.src.is_constrained() {
            at[4] = self.src.set(src);
        }
        if self.src_port.is_constrained() {
            at[5] = self.src_port.set(p.src_port);
        }
        let rows = at.map(|at| &self.bits[at as usize..][..self.words]);
        for (slot, &(from, to)) in out.iter_mut().zip(&self.set_words) {
            let [r0, r1, r2, r3, r4, r5] = rows.map(|r| &r[from..to]);
            let words = r0.iter().zip(r1).zip(r2).zip(r3).zip(r4).zip(r5);
            *slot = words.enumerate().find_map(|(i, (((((w0, w1), w2), w3), w4), w5))| {
                let common = w0 & w1 & w2 & w3 & w4 & w5;
                let bit = (from + i) * 64 + common.trailing_zeros() as usize;
                (common != 0).then(|| self.box_rule[bit] as usize)
            });
        }
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.bits.len() * 8
            + self.box_rule.len() * 4
            + self.src.memory_bytes()
            + self.dst.memory_bytes()
            + self.src_port.memory_bytes()
            + self.dst_port.memory_bytes()
            + (self.protocol.len() + self.dscp.len()) * 4
    }
}
