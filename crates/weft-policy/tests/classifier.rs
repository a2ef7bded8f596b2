//! Property tests of the flow-space engines against their obvious
//! definitions: the compiled [`Classifier`] against the linear scan
//! [`first_match_naive`], [`partition`] against "every flow of the query in
//! exactly one piece, labelled with its first matching rule", and
//! [`subtract`] against "exactly the flows of `a` outside `b`".
//!
//! Rule sets mix both families, prefixes of every length (/0 to /32 and
//! /128), odd ranges, the ends of every axis, boxes spanning both families
//! and a few reaching outside the domain real flows live in (other family
//! values, DSCP above 63). Probe points lie on box corners and edges, one
//! off them, inside them or anywhere.

use proptest::collection::vec;
use proptest::prelude::*;
use weft_policy::classifier::{Classifier, first_match_naive};
use weft_policy::partition::{partition, subtract};
use weft_policy::space::{ANY_ADDR, ANY_DSCP, ANY_FAMILY, ANY_PORT, ANY_U8, FAMILY_V4, FAMILY_V6};
use weft_policy::{FlowBox, FlowPoint, Span};

const V4_MAX: u128 = u32::MAX as u128;

fn ordered<T: Ord + Copy>(a: T, b: T) -> Span<T> {
    Span { lo: a.min(b), hi: a.max(b) }
}

/// Address spans of a family of `bits` bits, clustered in three blocks so
/// that boxes overlap.
fn addr_span(bits: u32) -> BoxedStrategy<Span<u128>> {
    let top = if bits == 32 { V4_MAX } else { u128::MAX };
    let clustered = move |raw: u128| {
        let shift = bits - 8;
        ((raw & top) & !(0xff << shift)) | ((raw % 3) << shift)
    };
    let prefix = move |(len, raw): (u32, u128)| {
        let host = bits - len;
        let mask = if host == 128 { u128::MAX } else { (1u128 << host) - 1 };
        let base = clustered(raw) & !mask;
        Span { lo: base, hi: base | mask }
    };
    let edge =
        prop_oneof![Just(0), Just(1), Just(top - 1), Just(top), any::<u128>().prop_map(clustered)];
    prop_oneof![
        4 => (0..=bits, any::<u128>()).prop_map(prefix),
        1 => Just(Span { lo: 0, hi: top }),
        1 => edge.prop_map(Span::one),
        1 => (any::<u128>(), any::<u128>()).prop_map(move |(a, b)| ordered(clustered(a), clustered(b))),
    ]
    .boxed()
}

fn protocol() -> BoxedStrategy<Span<u8>> {
    prop_oneof![
        3 => Just(ANY_U8),
        2 => prop_oneof![Just(6u8), Just(17), Just(0), Just(255)].prop_map(Span::one),
        1 => any::<u8>().prop_map(Span::one),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| ordered(a, b)),
    ]
    .boxed()
}

fn port() -> BoxedStrategy<Span<u16>> {
    prop_oneof![
        3 => Just(ANY_PORT),
        2 => prop_oneof![Just(0u16), Just(1), Just(53), Just(443), Just(65_534), Just(65_535)]
            .prop_map(Span::one),
        1 => any::<u16>().prop_map(Span::one),
        2 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| ordered(a, b)),
    ]
    .boxed()
}

fn dscp() -> BoxedStrategy<Span<u8>> {
    prop_oneof![
        6 => Just(ANY_DSCP),
        2 => (0u8..=63).prop_map(Span::one),
        1 => (0u8..=63, 0u8..=63).prop_map(|(a, b)| ordered(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| ordered(a, b)),
    ]
    .boxed()
}

fn flow_box() -> BoxedStrategy<FlowBox> {
    let v4 = (addr_span(32), addr_span(32)).prop_map(|(s, d)| (Span::one(FAMILY_V4), s, d));
    let v6 = (addr_span(128), addr_span(128)).prop_map(|(s, d)| (Span::one(FAMILY_V6), s, d));
    let both = (addr_span(32), addr_span(128)).prop_map(|(s, d)| (ANY_FAMILY, s, d));
    let odd = (0u8..4, 0u8..4, addr_span(128), addr_span(32))
        .prop_map(|(a, b, s, d)| (ordered(a, b), s, d));
    let families = prop_oneof![
        5 => v4,
        3 => v6,
        2 => both,
        1 => Just((ANY_FAMILY, ANY_ADDR, ANY_ADDR)),
        1 => odd,
    ]
    .boxed();
    (families, protocol(), port(), port(), dscp())
        .prop_map(|((family, src, dst), protocol, src_port, dst_port, dscp)| FlowBox {
            family,
            src,
            dst,
            protocol,
            src_port,
            dst_port,
            dscp,
        })
        .boxed()
}

fn rule_sets(max_rules: usize) -> impl Strategy<Value = Vec<Vec<FlowBox>>> {
    vec(vec(flow_box(), 1..4), 0..max_rules)
}

/// Where to put a probe point: which box, how on each dimension, and raw bits.
type Probe = (usize, [u8; 7], u128);

fn probes(n: usize) -> impl Strategy<Value = Vec<Probe>> {
    vec((any::<usize>(), any::<[u8; 7]>(), any::<u128>()), 1..n)
}

/// A value on or near `s` within `0..=max`: an end, one past an end
/// (wrapping), inside, or anywhere.
fn near(lo: u128, hi: u128, max: u128, how: u8, raw: u128) -> u128 {
    match how % 8 {
        0 | 1 => lo,
        2 | 3 => hi,
        4 => lo.checked_sub(1).unwrap_or(max),
        5 => {
            if hi == max {
                0
            } else {
                hi + 1
            }
        }
        6 => (hi - lo).checked_add(1).map_or(raw, |width| lo + raw % width),
        _ => raw & max,
    }
}

/// A point near one of `boxes` (or anywhere when there are none). Mostly
/// in the domain real flows live in, sometimes not.
fn probe(boxes: &[FlowBox], (pick, how, raw): Probe) -> FlowPoint {
    let b = boxes.get(pick % boxes.len().max(1)).copied().unwrap_or(FlowBox::ALL);
    let raw_byte = raw as u8;
    let family = match how[0] % 16 {
        0 => raw_byte,
        1..8 => b.family.lo,
        _ => b.family.hi,
    };
    let addr = |s: Span<u128>, h: u8, raw: u128| {
        let v = near(s.lo, s.hi, u128::MAX, h, raw);
        if family == FAMILY_V4 && h >= 16 { v & V4_MAX } else { v }
    };
    let small = |s: Span<u8>, h: u8| near(s.lo.into(), s.hi.into(), 255, h, raw) as u8;
    let port = |s: Span<u16>, h: u8| near(s.lo.into(), s.hi.into(), 65_535, h, raw >> 8) as u16;
    let dscp = small(b.dscp, how[6]);
    FlowPoint {
        family,
        src: addr(b.src, how[1], raw),
        dst: addr(b.dst, how[2], raw.rotate_left(64)),
        protocol: small(b.protocol, how[3]),
        src_port: port(b.src_port, how[4]),
        dst_port: port(b.dst_port, how[5]),
        dscp: if how[6] >= 16 { dscp & 63 } else { dscp },
    }
}

/// Whether the union of `boxes` covers `piece` (exact: nothing is left once
/// every box is subtracted).
fn covered_by(piece: &FlowBox, boxes: &[FlowBox]) -> bool {
    let mut rest = vec![*piece];
    for b in boxes {
        rest = rest.iter().flat_map(|r| subtract(r, b)).collect();
    }
    rest.is_empty()
}

fn pairwise_disjoint(boxes: &[FlowBox]) -> bool {
    boxes.iter().enumerate().all(|(i, a)| boxes[i + 1..].iter().all(|b| a.intersect(b).is_none()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_classifier_agrees_with_the_linear_scan(rules in rule_sets(60), probes in probes(64)) {
        let c = Classifier::build(&rules);
        prop_assert_eq!(c.rule_count(), rules.len());
        let boxes: Vec<FlowBox> = rules.iter().flatten().copied().collect();
        for pr in probes {
            let p = probe(&boxes, pr);
            prop_assert_eq!(c.first_match(&p), first_match_naive(&rules, &p), "{:?}", p);
        }
    }

    #[test]
    fn one_index_over_two_rule_sets_answers_for_each_as_if_alone(
        a in rule_sets(40),
        b in rule_sets(20),
        probes in probes(40),
    ) {
        let both = Classifier::build_sets(&[&a, &b]);
        let boxes: Vec<FlowBox> = a.iter().chain(&b).flatten().copied().collect();
        for pr in probes {
            let p = probe(&boxes, pr);
            let mut out = [None; 2];
            both.first_matches(&p, &mut out);
            prop_assert_eq!(out, [first_match_naive(&a, &p), first_match_naive(&b, &p)], "{:?}", p);
        }
    }
}

/// A box with about half its dimensions widened to the whole axis, so that
/// the rules of a partition overlap each other and the query.
fn loose_box() -> BoxedStrategy<FlowBox> {
    (flow_box(), any::<u8>())
        .prop_map(|(b, wide)| {
            let on = |bit: u8| wide & (1 << bit) != 0;
            FlowBox {
                family: if on(0) { ANY_FAMILY } else { b.family },
                src: if on(1) { ANY_ADDR } else { b.src },
                dst: if on(2) { ANY_ADDR } else { b.dst },
                protocol: if on(3) { ANY_U8 } else { b.protocol },
                src_port: if on(4) { ANY_PORT } else { b.src_port },
                dst_port: if on(5) { ANY_PORT } else { b.dst_port },
                dscp: if on(6) { ANY_DSCP } else { b.dscp },
            }
        })
        .boxed()
}

/// The smallest box holding both.
fn hull(a: &FlowBox, b: &FlowBox) -> FlowBox {
    fn h<T: Ord + Copy>(a: Span<T>, b: Span<T>) -> Span<T> {
        Span { lo: a.lo.min(b.lo), hi: a.hi.max(b.hi) }
    }
    FlowBox {
        family: h(a.family, b.family),
        src: h(a.src, b.src),
        dst: h(a.dst, b.dst),
        protocol: h(a.protocol, b.protocol),
        src_port: h(a.src_port, b.src_port),
        dst_port: h(a.dst_port, b.dst_port),
        dscp: h(a.dscp, b.dscp),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn partition_pieces_tile_the_query_and_carry_their_first_match(
        rules in vec(vec(loose_box(), 1..4), 0..8),
        (query, around) in (prop_oneof![Just(FlowBox::ALL), loose_box()], any::<Option<usize>>()),
        probes in probes(64),
    ) {
        // Often the hull of the query and a rule's box, so that they meet.
        let boxes: Vec<FlowBox> = rules.iter().flatten().copied().collect();
        let query = match around {
            Some(i) if !boxes.is_empty() => hull(&query, &boxes[i % boxes.len()]),
            _ => query,
        };
        let pieces = partition(&rules, &query, 2_000);
        prop_assume!(pieces.is_ok(), "too fragmented for the test");
        let pieces = pieces.unwrap();
        let shapes: Vec<FlowBox> = pieces.iter().map(|(_, b)| *b).collect();
        // Exact: inside the query, disjoint, together all of it.
        prop_assert!(shapes.iter().all(|b| query.covers(b)));
        prop_assert!(pairwise_disjoint(&shapes));
        prop_assert!(covered_by(&query, &shapes));
        // Exact: a piece labelled r lies in rule r and misses every rule before it.
        for (label, piece) in &pieces {
            let before = label.unwrap_or(rules.len());
            prop_assert!(rules[..before].iter().flatten().all(|b| b.intersect(piece).is_none()));
            if let Some(r) = *label {
                prop_assert!(covered_by(piece, &rules[r]), "{:?} not in rule {}", piece, r);
            }
        }
        // Sampled: points near the pieces, the rules and the query.
        let mut near_boxes = boxes;
        near_boxes.extend(shapes.iter().copied().chain([query]));
        for pr in probes {
            let p = probe(&near_boxes, pr);
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
    fn subtracting_leaves_exactly_the_flows_of_a_outside_b(
        a in flow_box(),
        b in flow_box(),
        probes in probes(64),
    ) {
        let rest = subtract(&a, &b);
        prop_assert!(rest.len() <= 14);
        prop_assert!(pairwise_disjoint(&rest));
        prop_assert!(rest.iter().all(|r| a.covers(r) && r.intersect(&b).is_none()));
        for pr in probes {
            let p = probe(&[a, b], pr);
            let n = rest.iter().filter(|r| r.contains(&p)).count();
            prop_assert_eq!(n, usize::from(a.contains(&p) && !b.contains(&p)), "{:?}", p);
        }
    }
}
