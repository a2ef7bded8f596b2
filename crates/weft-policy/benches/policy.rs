//! Criterion benchmarks of the policy engine.
//!
//! - `classify/100`, `classify/1000`: one flow through a compiled policy of
//!   100 or 1 000 rules (80 % ACLs, 20 % routes) with mixed IPv4 prefixes
//!   (/8 to /32, some any), single ports, port ranges and any port, tcp/udp/any
//!   and a few DSCP constraints: both lookups `CompiledPolicy::classify` does
//!   per new flow (verdict and route). Flows rotate over 1 024 generated
//!   points: hits at every depth and misses.
//! - `compile/1000`: `weft_policy::compile` of the 1 000-rule document
//!   (resolution into boxes and building both classifiers).
//! - `parse/1000`: parsing and validating its TOML text.
#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use weft_policy::{FlowPoint, SiteDirectory};
use weft_types::{FlowKey, IpProtocol, SeededRng};

fn prefix(rng: &mut SeededRng) -> String {
    let len = [8u64, 16, 20, 24, 28, 32][rng.below(6) as usize];
    let a = 10 + rng.below(4);
    let (b, c, d) = (rng.below(256), rng.below(256), rng.below(256));
    let ip = u32::from_be_bytes([a as u8, b as u8, c as u8, d as u8]);
    let mask = if len == 32 { u32::MAX } else { !(u32::MAX >> len) };
    format!("{}/{len}", std::net::Ipv4Addr::from(ip & mask))
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
            let addr = |rng: &mut SeededRng| {
                std::net::IpAddr::V4(std::net::Ipv4Addr::new(
                    10 + rng.below(5) as u8,
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                    rng.below(256) as u8,
                ))
            };
            let key = FlowKey {
                src: addr(&mut rng),
                dst: addr(&mut rng),
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

fn classify(c: &mut Criterion) {
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
}

fn compile(c: &mut Criterion) {
    let text = document(1000, 7);
    let doc = weft_policy::parse(Path::new("bench.toml"), &text).expect("parses");
    let dir = SiteDirectory::default();
    let bytes = weft_policy::compile(&doc, &dir).expect("compiles").0.classifier_bytes();
    eprintln!("classifier of the 1000-rule policy: {} KiB", bytes / 1024);
    c.benchmark_group("compile").bench_function("1000", |b| {
        b.iter(|| black_box(weft_policy::compile(black_box(&doc), &dir).is_ok()));
    });
    c.benchmark_group("parse").bench_function("1000", |b| {
        b.iter(|| black_box(weft_policy::parse(Path::new("bench.toml"), black_box(&text)).is_ok()));
    });
}

criterion_group!(benches, classify, compile);
criterion_main!(benches);
