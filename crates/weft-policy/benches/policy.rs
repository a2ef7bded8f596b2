//! Criterion benchmarks of the policy engine.
//!
//! - `classify/100`, `classify/1000` (the target, < 100 ns): one flow
//!   through a compiled policy document of 100 or 1 000 rules (80 % ACLs,
//!   20 % routes; mixed prefixes, ports, ranges, protocols, some DSCP): both
//!   lookups `CompiledPolicy::classify` does per new flow (verdict and route).
//! - `compile/1000`: `weft_policy::compile` of the 1 000-rule document
//!   (resolution into boxes and building the classifier); the size of its
//!   classifier is printed on stderr once.
//! - `parse/1000`: parsing and validating its TOML text.
//! - `classifier/100`, `classifier/1000`: [`Classifier::first_match`] of one flow
//!   against 100 or 1 000 generated rules: IPv4 source and destination
//!   prefixes from /8 to /32 in a few shared /8s (some any), single ports,
//!   port ranges and any port, tcp/udp/any, a few DSCP constraints, one rule in
//!   five made of two or three boxes. Flows rotate over 1 024 points: half
//!   drawn inside a random rule's box (hits at every depth), a quarter
//!   anywhere in the same address blocks (hits on wide rules), a quarter
//!   from and to addresses no rule names (misses).
//! - `classifier_build/1000`: [`Classifier::build`] of those 1 000 rules. The
//!   size of the built index is printed on stderr once.
#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use weft_policy::classifier::Classifier;
use weft_policy::space::{ANY_DSCP, ANY_PORT, ANY_U8, FAMILY_V4};
use weft_policy::{FlowBox, FlowPoint, SiteDirectory, Span};
use weft_types::{FlowKey, IpProtocol, SeededRng};

/// A random IPv4 address in 10.0.0.0/8 .. 13.0.0.0/8.
fn address(rng: &mut SeededRng) -> u32 {
    let a = 10 + rng.below(4) as u8;
    let [b, c, d] = [rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8];
    u32::from_be_bytes([a, b, c, d])
}

/// A prefix of length /8 to /32 around a random address, as its span.
fn prefix_span(rng: &mut SeededRng) -> Span<u128> {
    let len = [8u32, 12, 16, 20, 24, 28, 32][rng.below(7) as usize];
    let host = if len == 32 { 0 } else { u32::MAX >> len };
    let lo = address(rng) & !host;
    Span { lo: u128::from(lo), hi: u128::from(lo | host) }
}

fn port_span(rng: &mut SeededRng) -> Span<u16> {
    match rng.below(3) {
        0 => Span::one([22, 53, 80, 443, 8080][rng.below(5) as usize]),
        1 => Span::one(rng.below(65_536) as u16),
        _ => {
            let lo = rng.below(60_000) as u16;
            Span { lo, hi: lo + rng.below(5_000) as u16 }
        }
    }
}

/// One rule's box: the mix of constraints a real ACL has. A rule from any
/// address to any address names a port (no catch-all: some flows miss).
fn rule_box(rng: &mut SeededRng) -> FlowBox {
    let any_v4 = Span { lo: 0, hi: u128::from(u32::MAX) };
    let src = if rng.chance(0.8) { prefix_span(rng) } else { any_v4 };
    let dst = if rng.chance(0.9) { prefix_span(rng) } else { any_v4 };
    let wide = src == any_v4 && dst == any_v4;
    FlowBox {
        family: Span::one(FAMILY_V4),
        src,
        dst,
        protocol: match rng.below(3) {
            0 => Span::one(6),
            1 => Span::one(17),
            _ => ANY_U8,
        },
        src_port: if rng.chance(0.05) { Span { lo: 1024, hi: 65_535 } } else { ANY_PORT },
        dst_port: if wide || rng.chance(0.7) { port_span(rng) } else { ANY_PORT },
        dscp: if rng.chance(0.05) { Span::one(46) } else { ANY_DSCP },
    }
}

/// `n` rules; one in five has two or three boxes (several destinations).
fn rules(n: usize, seed: u64) -> Vec<Vec<FlowBox>> {
    let mut rng = SeededRng::new(seed);
    (0..n)
        .map(|_| {
            let first = rule_box(&mut rng);
            let extra = if rng.chance(0.2) { 1 + rng.below(2) } else { 0 };
            let more = (0..extra).map(|_| FlowBox { dst: prefix_span(&mut rng), ..first });
            std::iter::once(first).chain(more.collect::<Vec<_>>()).collect()
        })
        .collect()
}

fn pick<T: Copy>(rng: &mut SeededRng, s: Span<T>, to: fn(T) -> u128, from: fn(u128) -> T) -> T {
    let (lo, hi) = (to(s.lo), to(s.hi));
    let width = u64::try_from(hi - lo).unwrap_or(u64::MAX);
    from(lo + u128::from(rng.below(width.saturating_add(1)).min(width)))
}

/// 1 024 flows: half inside a random rule's box, a quarter anywhere in the
/// rules' address blocks, a quarter outside them.
fn points(rules: &[Vec<FlowBox>], seed: u64) -> Vec<FlowPoint> {
    let mut rng = SeededRng::new(seed);
    let u16_of = |v: u128| u16::try_from(v).unwrap_or(u16::MAX);
    let u8_of = |v: u128| u8::try_from(v).unwrap_or(u8::MAX);
    (0..1024)
        .map(|_| {
            if rng.chance(0.5) {
                let r = &rules[rng.below(rules.len() as u64) as usize];
                let b = r[rng.below(r.len() as u64) as usize];
                FlowPoint {
                    family: FAMILY_V4,
                    src: pick(&mut rng, b.src, |v| v, |v| v),
                    dst: pick(&mut rng, b.dst, |v| v, |v| v),
                    protocol: if b.protocol == ANY_U8 { 6 } else { b.protocol.lo },
                    src_port: pick(&mut rng, b.src_port, u128::from, u16_of),
                    dst_port: pick(&mut rng, b.dst_port, u128::from, u16_of),
                    dscp: pick(&mut rng, b.dscp, u128::from, u8_of),
                }
            } else {
                // Half of these from and to addresses no rule names (misses).
                let outsider = rng.chance(0.5);
                let addr = |rng: &mut SeededRng| {
                    let a = address(rng);
                    u128::from(if outsider { a ^ 0xb000_0000 } else { a })
                };
                FlowPoint {
                    family: FAMILY_V4,
                    src: addr(&mut rng),
                    dst: addr(&mut rng),
                    protocol: if rng.chance(0.5) { 6 } else { 17 },
                    src_port: rng.below(65_536) as u16,
                    dst_port: if rng.chance(0.5) { 443 } else { rng.below(65_536) as u16 },
                    dscp: if rng.chance(0.1) { 46 } else { 0 },
                }
            }
        })
        .collect()
}

fn classify(c: &mut Criterion) {
    let mut g = c.benchmark_group("classifier");
    for n in [100usize, 1000] {
        let rules = rules(n, 7);
        let classifier = Classifier::build(&rules);
        let flows = points(&rules, 11);
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let p = &flows[i & 1023];
                i = i.wrapping_add(1);
                black_box(classifier.first_match(black_box(p)))
            });
        });
    }
    g.finish();
}

fn compile(c: &mut Criterion) {
    let rules = rules(1000, 7);
    let built = Classifier::build(&rules);
    let boxes: usize = rules.iter().map(Vec::len).sum();
    eprintln!(
        "classifier of 1000 rules ({boxes} boxes): {} KiB",
        built.memory_bytes().div_ceil(1024)
    );
    c.benchmark_group("classifier_build").bench_function("1000", |b| {
        b.iter(|| black_box(Classifier::build(black_box(&rules)).rule_count()));
    });
}

// ---- The same through a policy document ----

fn prefix(rng: &mut SeededRng) -> String {
    let s = prefix_span(rng);
    let len = 32 - (s.hi - s.lo + 1).trailing_zeros();
    let lo = u32::try_from(s.lo).unwrap_or(0);
    format!("{}/{len}", std::net::Ipv4Addr::from(lo))
}

fn matcher(rng: &mut SeededRng, s: &mut String) {
    if rng.chance(0.8) {
        let _ = writeln!(s, "from = \"{}\"", prefix(rng));
    }
    if rng.chance(0.9) {
        let _ = writeln!(s, "to = \"{}\"", prefix(rng));
    }
    match rng.below(3) {
        0 => s.push_str("protocol = \"tcp\"\n"),
        1 => s.push_str("protocol = \"udp\"\n"),
        _ => {}
    }
    match rng.below(3) {
        0 => {
            let _ = writeln!(s, "ports = {}", rng.below(65_536));
        }
        1 => {
            let lo = rng.below(60_000);
            let _ = writeln!(s, "ports = \"{lo}-{}\"", lo + rng.below(5_000));
        }
        _ => {}
    }
    if rng.chance(0.05) {
        s.push_str("dscp = \"ef\"\n");
    }
}

/// A document of `n` rules: 80 % ACLs, 20 % routes.
fn document(n: usize, seed: u64) -> String {
    let mut rng = SeededRng::new(seed);
    let mut s = String::from("[policy]\nname = \"bench\"\ndefault = \"allow\"\n");
    for i in 0..n {
        if i % 5 == 4 {
            let class = ["realtime", "interactive", "bulk"][rng.below(3) as usize];
            let _ = writeln!(s, "\n[[route]]\nname = \"r{i}\"\nclass = \"{class}\"");
        } else {
            let action = if rng.chance(0.5) { "deny" } else { "allow" };
            let _ = writeln!(
                s,
                "\n[[acl]]\nname = \"a{i}\"\naction = \"{action}\"\npriority = {}",
                rng.below(10) * 100
            );
        }
        matcher(&mut rng, &mut s);
    }
    s
}

fn flows(seed: u64) -> Vec<FlowPoint> {
    let mut rng = SeededRng::new(seed);
    (0..1024)
        .map(|_| {
            let key = FlowKey {
                src: std::net::Ipv4Addr::from(address(&mut rng)).into(),
                dst: std::net::Ipv4Addr::from(address(&mut rng)).into(),
                protocol: if rng.chance(0.5) { IpProtocol::TCP } else { IpProtocol::UDP },
                src_port: rng.below(65_536) as u16,
                dst_port: rng.below(65_536) as u16,
            };
            FlowPoint::new(&key, if rng.chance(0.1) { 46 } else { 0 })
        })
        .collect()
}

fn compiled(n: usize) -> weft_policy::CompiledPolicy {
    let doc = weft_policy::parse(Path::new("bench.toml"), &document(n, 7)).expect("parses");
    weft_policy::compile(&doc, &SiteDirectory::default()).expect("compiles").0
}

fn policy(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify");
    let points = flows(11);
    for n in [100usize, 1000] {
        let policy = compiled(n);
        let mut i = 0usize;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let p = &points[i & 1023];
                i = i.wrapping_add(1);
                black_box(policy.classify(black_box(p)))
            });
        });
    }
    g.finish();
    let text = document(1000, 7);
    let doc = weft_policy::parse(Path::new("bench.toml"), &text).expect("parses");
    let dir = SiteDirectory::default();
    let bytes = weft_policy::compile(&doc, &dir).expect("compiles").0.classifier_bytes();
    eprintln!("classifier of the 1000-rule policy: {} KiB", bytes.div_ceil(1024));
    c.benchmark_group("compile").bench_function("1000", |b| {
        b.iter(|| black_box(weft_policy::compile(black_box(&doc), &dir).is_ok()));
    });
    c.benchmark_group("parse").bench_function("1000", |b| {
        b.iter(|| black_box(weft_policy::parse(Path::new("bench.toml"), black_box(&text)).is_ok()));
    });
}

criterion_group!(benches, classify, compile, policy);
criterion_main!(benches);
