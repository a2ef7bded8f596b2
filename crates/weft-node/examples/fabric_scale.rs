//! How the fabric simulator scales: N sites (full mesh or hub-and-spoke, 2
//! uplinks each) from a cold start, reporting when the mesh converged (every
//! site reaches every other it may), wall time per simulated minute, and the
//! process's peak memory.
//!
//! `cargo run --release -p weft-node --features sim --example fabric_scale -- 200 hub 60`
//! (sites, `full`, `hub` (hub s0) or `hub2` (hubs s0, s1), simulated seconds). The last line is `key=value` figures.
// A benchmark measures wall time; the simulation itself reads no clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use weft_node::sim::fabric::{FabricConfig, FabricSim};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sites: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let mode = args.next().unwrap_or_else(|| "full".to_owned());
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let hubs = match mode.as_str() {
        "hub" => vec![0],
        "hub2" => vec![0, 1],
        _ => Vec::new(),
    };
    let cfg = FabricConfig { sites, hubs, ..FabricConfig::default() };
    let started = Instant::now();
    let mut sim = FabricSim::new(cfg, 1);
    let mut converged_at = None;
    let step = Duration::from_millis(500);
    while sim.elapsed() < Duration::from_secs(secs) {
        sim.run_for(step);
        if converged_at.is_none() && sim.converged() {
            converged_at = Some(sim.elapsed());
            eprintln!("converged after {:?} of simulated time", sim.elapsed());
        }
        if sim.elapsed().as_millis().is_multiple_of(5000) {
            eprintln!(
                "{:?} simulated, {:.1} s wall, {} datagrams",
                sim.elapsed(),
                started.elapsed().as_secs_f64(),
                sim.datagrams()
            );
        }
    }
    let wall = started.elapsed();
    for (a, b) in sim.unconverged_pairs(3) {
        eprintln!("not converged: s{a} -> s{b}: {}", sim.explain_pair(a, b));
    }
    let per_min = wall.as_secs_f64() * 60.0 / sim.elapsed().as_secs_f64();
    let conv = converged_at.map_or(-1.0, |d| d.as_secs_f64());
    println!(
        "fabric_scale sites={sites} mode={mode} simulated_s={secs} wall_s={:.1} wall_s_per_sim_min={per_min:.1} converged_s={conv:.1} datagrams={} peak_rss_mb={:.0}",
        wall.as_secs_f64(),
        sim.datagrams(),
        peak_rss_mb()
    );
}
