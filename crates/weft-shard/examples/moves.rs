//! How many shards move when one controller joins N, against the optimum.
//!
//! For N = 1..=16 controllers and S = 1024 shards, prints the fraction of
//! shards that move when controller N+1 arrives, the optimal fraction
//! 1/(N+1), and their ratio, for the named controllers `ctl-1..` and, over 32
//! other sets of names, the mean and worst ratio. Run with
//! `cargo run -p weft-shard --release --example moves [SHARDS] [PERMILLE]`.

use weft_shard::{
    Controller, ControllerId, LoadBound, ShardId, ShardMap, Strategy, assign, simulate,
};

fn controllers(prefix: &str, n: usize) -> Vec<Controller> {
    (1..=n)
        .map(|i| Controller::active(ControllerId::new(&format!("{prefix}ctl-{i}")).expect("valid")))
        .collect()
}

/// The moved/optimal ratio of adding controller n+1 to controllers 1..=n.
fn ratio(prefix: &str, n: usize, shards: u32, bound: LoadBound) -> (f64, f64) {
    let all = controllers(prefix, n + 1);
    let (old, new) = all.split_at(n);
    let owners = assign(&ShardId::range(shards), old, bound).expect("assign").owners;
    let map = ShardMap { version: 1, epoch: 1, owners };
    let plan = simulate(&map, old, new, &[], bound, Strategy::Rendezvous).expect("simulate");
    (plan.counts.moved as f64 / f64::from(shards), plan.counts.ratio().unwrap_or(0.0))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shards: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let permille: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1250);
    let bound = LoadBound::new(permille).expect("load factor of at least 1000");
    println!("S = {shards} shards, load bound c = {:.3}", f64::from(permille) / 1000.0);
    println!(" N  moved   optimal  ratio | 32 name sets: mean   worst");
    for n in 1..=16 {
        let (moved, r) = ratio("", n, shards, bound);
        let ratios: Vec<f64> =
            (0..32).map(|k| ratio(&format!("s{k}-"), n, shards, bound).1).collect();
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        let worst = ratios.iter().copied().fold(0.0, f64::max);
        println!(
            "{n:2}  {moved:.4}  {:.4}   {r:.3} |               {mean:.3}  {worst:.3}",
            1.0 / (n as f64 + 1.0)
        );
    }
}
