//! Membership at scale, in deterministic simulation.
//!
//! `cargo run --release -p weft-node --features sim --example gossip_scale -- --members 1000`
//!
//! Options: `--members N` (200), `--loss P` (0.01), `--seed S` (1),
//! `--interval-ms I` (200), `--gossip-ms G` (interval / 2), `--soak-s D` (virtual seconds of the false-death
//! soak; default 3600 up to 200 members, 600 above).
//!
//! Scenario: N−1 members start as a settled cluster (each restored with the
//! others' records) and run 10 s; then (1) member N−1 joins through member 0:
//! time until 95 % / 100 % of the others report it joined (up to 30 s); (2) member 1 is
//! killed: time until 95 % / 100 % of the live members report it down
//! (up to 60 s; `dead_detect_ms` is the 100 % figure); (3) a soak of `--soak-s` virtual
//! seconds counts suspicions and false deaths (any live member declared down
//! by anyone, from the join onwards). `bytes_per_member_s` is the soak's bytes
//! sent (lost datagrams included) per live member per virtual second.

use std::time::{Duration, Instant};

use weft_mesh::membership::{MemberEvent, MembershipConfig};
use weft_node::sim::{GossipNet, GossipSim};

struct Args {
    members: usize,
    loss: f64,
    seed: u64,
    interval_ms: u64,
    soak_s: Option<u64>,
    gossip_ms: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut a =
        Args { members: 200, loss: 0.01, seed: 1, interval_ms: 200, soak_s: None, gossip_ms: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--members" => a.members = value.parse().map_err(|e| bad(&e))?,
            "--loss" => a.loss = value.parse().map_err(|e| bad(&e))?,
            "--seed" => a.seed = value.parse().map_err(|e| bad(&e))?,
            "--interval-ms" => a.interval_ms = value.parse().map_err(|e| bad(&e))?,
            "--gossip-ms" => a.gossip_ms = Some(value.parse().map_err(|e| bad(&e))?),
            "--soak-s" => a.soak_s = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.members < 3 {
        return Err("--members must be at least 3".into());
    }
    Ok(a)
}

/// Time from `start` until `count` reached `need`, given sorted arrival times.
fn reach_ms(times: &mut [Instant], start: Instant, need: usize) -> Option<u128> {
    times.sort();
    let t = times.get(need.checked_sub(1)?)?;
    Some(t.duration_since(start).as_millis())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gossip_scale: {e}");
            std::process::exit(2);
        }
    };
    let wall = wall_clock();
    let n = args.members;
    let mut config = MembershipConfig::lan();
    config.interval = Duration::from_millis(args.interval_ms);
    config.probe_rtt = config.interval * 2 / 5;
    config.gossip_interval = args.gossip_ms.map_or(config.interval / 2, Duration::from_millis);
    config.expected_members = std::num::NonZeroU32::new(n as u32).expect("n >= 3");
    let net = GossipNet { loss: args.loss, config: config.clone(), ..GossipNet::default() };
    println!(
        "gossip_scale: {n} members, loss {:.1} %, delay 1-20 ms, interval {} ms, gossip every {} ms to {}, suspicion {} ms, retransmit {} (seed {})",
        args.loss * 100.0,
        config.interval.as_millis(),
        config.gossip_interval.as_millis(),
        config.fanout,
        config.suspicion_timeout().as_millis(),
        config.retransmit_limit,
        args.seed
    );

    let mut sim = GossipSim::new(args.seed, n, net);
    let joiner = n - 1;
    let victim = 1;
    sim.bootstrap(n - 1);
    sim.run_for(Duration::from_secs(10), &mut |_, _, _| {});

    let mut obs = Observer {
        joiner: sim.member(joiner).local().site.clone(),
        victim: sim.member(victim).local().site.clone(),
        joined_at: vec![None; n],
        down_at: vec![None; n],
        falsely_dead: std::collections::BTreeSet::new(),
        false_down_reports: 0,
        suspicions: 0,
        soaking: false,
    };

    // (1) Join.
    let t_join = sim.now();
    sim.join(joiner, 0, &mut |t, i, e| obs.see(t, i, e));
    let others = n - 1;
    let step = Duration::from_millis(50);
    while sim.now() < t_join + Duration::from_secs(30)
        && obs.joined_at[..joiner].iter().flatten().count() < others
    {
        sim.run_for(step, &mut |t, i, e| obs.see(t, i, e));
    }
    let mut times: Vec<Instant> = obs.joined_at[..joiner].iter().flatten().copied().collect();
    let reached = times.len();
    let join95 = reach_ms(&mut times, t_join, (others * 95).div_ceil(100));
    let join100 = reach_ms(&mut times, t_join, others);
    println!(
        "join: {reached}/{others} members saw the joiner; 95 % after {} ms, 100 % after {} ms",
        fmt_ms(join95),
        fmt_ms(join100)
    );

    // (2) Death.
    let t_kill = sim.now();
    sim.kill(victim);
    let live: Vec<usize> = (0..n).filter(|&i| i != victim).collect();
    while sim.now() < t_kill + Duration::from_mins(1)
        && live.iter().filter(|&&i| obs.down_at[i].is_some()).count() < live.len()
    {
        sim.run_for(step, &mut |t, i, e| obs.see(t, i, e));
    }
    let mut times: Vec<Instant> = live.iter().filter_map(|&i| obs.down_at[i]).collect();
    let detected = times.len();
    let dead95 = reach_ms(&mut times, t_kill, (live.len() * 95).div_ceil(100));
    let dead100 = reach_ms(&mut times, t_kill, live.len());
    println!(
        "death: {detected}/{} live members declared the killed member down; 95 % after {} ms, 100 % after {} ms",
        live.len(),
        fmt_ms(dead95),
        fmt_ms(dead100)
    );

    // (3) Soak.
    let soak = Duration::from_secs(args.soak_s.unwrap_or(if n <= 200 { 3600 } else { 600 }));
    let bytes_before = sim.bytes_sent();
    obs.soaking = true;
    sim.run_for(soak, &mut |t, i, e| obs.see(t, i, e));
    let (false_deaths, suspicions) = (obs.falsely_dead.len(), obs.suspicions);
    let bytes = sim.bytes_sent() - bytes_before;
    let member_hours = live.len() as f64 * soak.as_secs_f64() / 3600.0;
    let rejected: u64 = (0..n).map(|i| sim.member(i).counters().rejected()).sum();
    let per_member_s = bytes as f64 / live.len() as f64 / soak.as_secs_f64();
    println!(
        "soak: {} s virtual; {suspicions} suspect reports about live members, summed over observers ({:.2} per member-hour); {false_deaths} false deaths ({} down reports about live members); {rejected} datagrams rejected",
        soak.as_secs(),
        suspicions as f64 / member_hours,
        obs.false_down_reports,
    );
    println!(
        "traffic: {:.1} bytes/member/s, {:.1} datagrams/member/s; real time {:.1} s",
        per_member_s,
        sim.datagrams_sent() as f64 / live.len() as f64 / sim.elapsed().as_secs_f64(),
        wall_clock().duration_since(wall).as_secs_f64()
    );
    println!(
        "gossip members={n} join95_ms={} join100_ms={} dead_detect_ms={} false_deaths={false_deaths} bytes_per_member_s={per_member_s:.1}",
        fmt_ms(join95),
        fmt_ms(join100),
        fmt_ms(dead100),
    );
}

/// What the members report, phase by phase.
struct Observer {
    joiner: weft_types::SiteId,
    victim: weft_types::SiteId,
    joined_at: Vec<Option<Instant>>,
    down_at: Vec<Option<Instant>>,
    /// Live members declared down by anyone (each counted once).
    falsely_dead: std::collections::BTreeSet<weft_types::SiteId>,
    /// Down reports about live members, summed over observers.
    false_down_reports: u64,
    suspicions: u64,
    soaking: bool,
}

impl Observer {
    fn see(&mut self, now: Instant, observer: usize, e: &MemberEvent) {
        match e {
            MemberEvent::Joined(m) if m.site == self.joiner => {
                self.joined_at[observer].get_or_insert(now);
            }
            MemberEvent::Down(m) if m.site == self.victim => {
                self.down_at[observer].get_or_insert(now);
            }
            MemberEvent::Down(m) => {
                self.falsely_dead.insert(m.site.clone());
                self.false_down_reports += 1;
            }
            MemberEvent::Suspect(m) if self.soaking && m.site != self.victim => {
                self.suspicions += 1;
            }
            _ => {}
        }
    }
}

/// The real clock, read only to report how long the run took; the simulation
/// itself runs on virtual time.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Instant {
    Instant::now()
}

/// Milliseconds, or -1 when the threshold was never reached.
fn fmt_ms(v: Option<u128>) -> i128 {
    v.map_or(-1, u128::cast_signed)
}
