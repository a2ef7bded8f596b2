//! Criterion benchmarks of the path engine's hot operations.
//!
//! - `estimator_update`: one probe echo into every estimator (RTT EWMA and
//!   window, RFC 3550 jitter, both loss windows).
//! - `select/8`, `select/64`: choosing a path for a new flow among 8 or 64
//!   candidates (realtime SLA, latency-sensitive weights, active-backup, two
//!   candidates failing the SLA and one down), as `PathEngine` does per flow.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use weft_path::estimator::{JitterEstimator, LossEstimator, RttEstimator};
use weft_path::{
    Candidate, LoadBalance, PathAttrs, PathState, Quality, SelectionPolicy, SlaClass, select,
};
use weft_types::{Bandwidth, PathId, SeededRng, UplinkId};

fn estimator_update(c: &mut Criterion) {
    let mut rtt = RttEstimator::new(128);
    let mut jitter = JitterEstimator::new();
    let mut loss = LossEstimator::new(100, 500);
    let mut rng = SeededRng::new(1);
    let samples: Vec<Duration> =
        (0..1024).map(|_| Duration::from_micros(20_000 + rng.below(5_000))).collect();
    let mut i = 0usize;
    c.bench_function("estimator_update", |b| {
        b.iter(|| {
            let s = black_box(samples[i & 1023]);
            i = i.wrapping_add(1);
            rtt.update(s);
            jitter.update(s);
            loss.record(black_box(false));
        });
    });
}

fn candidates(n: usize, rng: &mut SeededRng) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            path: PathId(i as u32),
            uplink: UplinkId((i % 4) as u16),
            state: if i == 3 { PathState::Down } else { PathState::Up },
            quality: Quality {
                rtt_us: 10_000 + rng.below(90_000) as u32,
                jitter_us: 500 + rng.below(5_000) as u32,
                loss: if i % 7 == 1 { 0.05 } else { 0.0 },
                loss_long: 0.0,
            },
            attrs: PathAttrs {
                cost_per_gb: rng.uniform(0.0, 0.2),
                capacity: Bandwidth(100_000_000 + rng.below(900_000_000)),
                priority: (i % 3) as u8,
                metered: i % 4 == 3,
            },
            tx_bps: rng.uniform(0.0, 50e6),
            flows: rng.below(100) as u32,
            held_down: false,
        })
        .collect()
}

fn select_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("select");
    let policy = SelectionPolicy {
        balance: LoadBalance::ActiveBackup,
        ..SelectionPolicy::for_class(SlaClass::realtime())
    };
    let mut rng = SeededRng::new(7);
    for n in [8usize, 64] {
        let cands = candidates(n, &mut rng);
        let mut h = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(n), &cands, |b, cands| {
            b.iter(|| {
                h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
                select(black_box(cands), &policy, black_box(h), None, 0.1)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, estimator_update, select_bench);
criterion_main!(benches);
