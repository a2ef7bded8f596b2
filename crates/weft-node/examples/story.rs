//! `make demo` (for now): a readable story of Weft's path engine, told by the
//! deterministic simulator in virtual time.
//!
//! Site `paris` reaches site `berlin` over three uplinks — fiber, cable and a
//! metered LTE link. A voice call (realtime), an SSH session (interactive) and
//! a backup (bulk, never over metered links) run across them while the fiber
//! browns out, then is cut, then comes back. Every path decision is printed as
//! it happens, with its reason; path tables show what the engine measured.
//!
//! Run: `cargo run --release -p weft-node --features sim --example story [-- --seed N]`

use std::time::Duration;

use weft_node::sim::{LinkProfile, PathSim};
use weft_path::{EngineConfig, PathAttrs, PathEvent, SelectionPolicy, SlaClass};
use weft_types::{Bandwidth, PathId, PeerId, UplinkId, format_duration};

const BERLIN: PeerId = PeerId(1);

fn main() {
    let seed = std::env::args()
        .skip_while(|a| a != "--seed")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2026);
    println!("Weft path engine — simulated story (seed {seed}; replay with --seed {seed})\n");
    println!("paris ──fiber (10 ms, prio 1)──┐");
    println!("paris ──cable (18 ms, prio 2)──┼── berlin");
    println!("paris ──lte   (35 ms, metered)─┘\n");

    let mut sim = PathSim::new(seed, EngineConfig::default());
    let attrs = |priority: u8, mbit: u64, cost: f64, metered: bool| PathAttrs {
        priority,
        capacity: Bandwidth(mbit * 1_000_000),
        cost_per_gb: cost,
        metered,
    };
    let fiber = sim.add_path(
        BERLIN,
        UplinkId(0),
        "fiber",
        attrs(1, 1000, 0.02, false),
        LinkProfile::ms(10).jitter_ms(1),
    );
    let cable = sim.add_path(
        BERLIN,
        UplinkId(1),
        "cable",
        attrs(2, 200, 0.01, false),
        LinkProfile::ms(18).jitter_ms(2),
    );
    let lte = sim.add_path(
        BERLIN,
        UplinkId(2),
        "lte",
        attrs(3, 50, 0.50, true),
        LinkProfile::ms(35).jitter_ms(6),
    );

    let voip = sim.add_policy(SelectionPolicy::for_class(SlaClass::realtime()));
    let ssh = sim.add_policy(SelectionPolicy::for_class(SlaClass::interactive()));
    let mut bulk_policy = SelectionPolicy::for_class(SlaClass::bulk());
    bulk_policy.avoid_metered = true;
    let bulk = sim.add_policy(bulk_policy);
    sim.add_flow("voip call", BERLIN, voip, 11);
    sim.add_flow("ssh", BERLIN, ssh, 22);
    sim.add_flow("backup", BERLIN, bulk, 33);

    let mut printed = 0;
    let chapter = |sim: &mut PathSim, printed: &mut usize, until: f64, title: &str| {
        println!("── {title}");
        sim.run_to(Duration::from_secs_f64(until));
        narrate(sim, printed);
        println!();
    };

    chapter(
        &mut sim,
        &mut printed,
        3.0,
        "t=0s   paths come up; flows take the best path their class allows",
    );
    table(&sim, &[fiber, cable, lte]);

    sim.schedule(Duration::from_secs(10), fiber, LinkProfile::ms(10).jitter_ms(1).loss_pct(2.6));
    chapter(&mut sim, &mut printed, 20.0, "t=10s  fiber browns out: 5% round-trip loss");
    table(&sim, &[fiber, cable, lte]);

    sim.schedule(Duration::from_secs(20), fiber, LinkProfile::ms(10).down());
    sim.schedule(Duration::from_secs(20), cable, LinkProfile::ms(18).jitter_ms(2).down());
    chapter(
        &mut sim,
        &mut printed,
        24.0,
        "t=20s  fiber and cable are cut: only metered LTE is left",
    );
    table(&sim, &[fiber, cable, lte]);

    sim.schedule(Duration::from_secs(24), fiber, LinkProfile::ms(10).jitter_ms(1));
    sim.schedule(Duration::from_secs(24), cable, LinkProfile::ms(18).jitter_ms(2));
    chapter(
        &mut sim,
        &mut printed,
        40.0,
        "t=24s  fiber and cable return: flows wait out the 5 s hold-down, then fail back",
    );
    table(&sim, &[fiber, cable, lte]);

    println!("── why is the voice call where it is?");
    let now = sim.now();
    if let Some(d) = sim.engine_mut().explain(now, BERLIN, voip, 11, None) {
        println!("{d}\n");
    }

    println!("── failover summary");
    for f in sim.flows() {
        for m in &f.moves {
            println!(
                "  {:>7}  {:<10} {} -> {}",
                format_duration(m.at),
                f.name,
                name(&sim, m.from),
                name(&sim, m.to)
            );
        }
    }
}

fn name(sim: &PathSim, p: Option<PathId>) -> String {
    p.map_or_else(|| "(none)".to_owned(), |p| sim.path_name(p).to_owned())
}

/// Prints the events logged since the last call.
fn narrate(sim: &PathSim, printed: &mut usize) {
    for e in &sim.log()[*printed..] {
        let at = format_duration(e.at);
        match &e.event {
            PathEvent::StateChanged { path, from, to, reason, .. } => {
                println!("  {at:>7}  path {:<6} {from} -> {to}  ({reason})", sim.path_name(*path));
            }
            PathEvent::Failover { policy, from, to, reason, .. } => {
                let class = sim.engine().policy(*policy).map_or("?", |p| p.name.as_str());
                println!(
                    "  {at:>7}  {class:<11} moves {} -> {}  ({reason})",
                    name(sim, *from),
                    name(sim, *to)
                );
            }
            PathEvent::PoolChanged { policy, pool, .. } => {
                let names: Vec<&str> = pool.iter().map(|p| sim.path_name(*p)).collect();
                println!("  {at:>7}  pool of policy {} is now {names:?}", policy.0);
            }
        }
    }
    *printed = sim.log().len();
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

fn table(sim: &PathSim, paths: &[PathId]) {
    println!(
        "  {:<6} {:<9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>9}",
        "path", "state", "rtt ms", "p50", "p99", "jitter", "loss%", "probes", "interval"
    );
    for p in paths {
        let Some(m) = sim.metrics(*p) else { continue };
        println!(
            "  {:<6} {:<9} {:>8} {:>8} {:>8} {:>8.1} {:>7.1} {:>6} {:>9}",
            sim.path_name(*p),
            m.state.to_string(),
            ms(m.rtt),
            ms(m.rtt_p50),
            ms(m.rtt_p99),
            m.jitter.as_secs_f64() * 1e3,
            m.loss * 100.0,
            m.probes_sent,
            format_duration(m.probe_interval)
        );
    }
    println!();
}
