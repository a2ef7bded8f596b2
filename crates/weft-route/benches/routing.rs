//! Routing benchmarks on seeded random meshes (average degree 6, connected).
//!
//! Each algorithm runs on a prebuilt CSR snapshot; building the snapshot is
//! measured separately as `csr_build/500`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use weft_route::{Graph, NodeIx, disjoint_paths, random_mesh, spf_latency, widest_tree};
use weft_types::SeededRng;

const DEGREE: usize = 6;

fn mesh(sites: usize) -> Graph {
    Graph::from_lsdb(&random_mesh(&mut SeededRng::new(0x5eed), sites, DEGREE))
}

fn spf(c: &mut Criterion) {
    let mut group = c.benchmark_group("spf_latency");
    for sites in [50usize, 500] {
        let g = mesh(sites);
        group.bench_function(BenchmarkId::from_parameter(sites), |b| {
            b.iter(|| spf_latency(black_box(&g), black_box(NodeIx(0))));
        });
    }
    group.finish();
}

fn widest(c: &mut Criterion) {
    let g = mesh(500);
    let mut group = c.benchmark_group("widest");
    group.bench_function(BenchmarkId::from_parameter(500), |b| {
        b.iter(|| widest_tree(black_box(&g), black_box(NodeIx(0))));
    });
    group.finish();
}

fn k_disjoint(c: &mut Criterion) {
    let g = mesh(500);
    let (src, dst) = (NodeIx(0), NodeIx(499));
    let found = disjoint_paths(&g, src, dst, 4, g.cost_column()).map(|p| p.len());
    assert!(matches!(found, Ok(n) if n >= 2), "benchmark mesh should offer backups: {found:?}");
    let mut group = c.benchmark_group("k_disjoint");
    group.bench_function(BenchmarkId::from_parameter(500), |b| {
        b.iter(|| disjoint_paths(black_box(&g), src, dst, 4, black_box(g.cost_column())));
    });
    group.finish();
}

fn csr_build(c: &mut Criterion) {
    let db = random_mesh(&mut SeededRng::new(0x5eed), 500, DEGREE);
    let mut group = c.benchmark_group("csr_build");
    group.bench_function(BenchmarkId::from_parameter(500), |b| {
        b.iter(|| Graph::from_lsdb(black_box(&db)));
    });
    group.finish();
}

criterion_group!(benches, spf, widest, k_disjoint, csr_build);
criterion_main!(benches);
