//! How many shards move when one controller joins N, against the optimum.
//!
//! For N = 1..=16 controllers and S shards (1024 by default), prints the
//! optimal fraction 1/(N+1) and the moved/optimal ratio of adding controller
//! N+1:
//! - with recomputed rendezvous maps ([`Strategy::Rendezvous`]), for the
//!   controllers `ctl-1..` and, over 32 other sets of names, the mean and
//!   the worst ratio;
//! - with fewest-moves maps ([`Strategy::Minimal`]), worst over the same sets.
//!
//! Run with `cargo run -p weft-shard --release --example moves [SHARDS] [PERMILLE]`.

use weft_shard::{
    Controller, ControllerId, LoadBound, Owners, ShardId, ShardMap, Strategy, reassign, simulate,
};

fn controllers(prefix: &str, n: usize) -> Vec<Controller> {
    (1..=n)
        .map(|i| Controller::active(ControllerId::new(&format!("{prefix}ctl-{i}")).expect("valid")))
        .collect()
}

/// The moved/optimal ratio of adding controller n+1 to controllers 1..=n,
/// starting from a map the strategy made for the n.
fn ratio(strategy: Strategy, prefix: &str, n: usize, shards: u32, bound: LoadBound) -> f64 {
    let all = controllers(prefix, n + 1);
    let (old, new) = all.split_at(n);
    let owners =
        reassign(strategy, &Owners::new(), &ShardId::range(shards), old, bound).expect("assign");
    let map = ShardMap { version: 1, epoch: 1, owners };
    let plan = simulate(&map, old, new, &[], bound, strategy).expect("simulate");
    plan.counts.ratio().unwrap_or(0.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shards: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let permille: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1250);
    let bound = LoadBound::new(permille).expect("load factor of at least 1000");
    println!(
        "S = {shards} shards, load bound c = {:.3}; moved/optimal when one controller joins N",
        f64::from(permille) / 1000.0
    );
    println!(" N  optimal | rendezvous: ctl-1..  mean   worst | fewest moves: worst");
    for n in 1..=16 {
        let sets: Vec<String> = (0..32).map(|k| format!("s{k}-")).collect();
        let one = ratio(Strategy::Rendezvous, "", n, shards, bound);
        let ratios: Vec<f64> =
            sets.iter().map(|p| ratio(Strategy::Rendezvous, p, n, shards, bound)).collect();
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        let worst = ratios.iter().copied().fold(0.0, f64::max);
        let minimal =
            sets.iter().map(|p| ratio(Strategy::Minimal, p, n, shards, bound)).fold(0.0, f64::max);
        println!(
            "{n:2}  {:.4}  |             {one:.3}  {mean:.3}  {worst:.3} |               {minimal:.3}",
            1.0 / (n as f64 + 1.0)
        );
    }
}
