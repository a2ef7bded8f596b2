//! `weft sim run FILE…`: chaos scenarios in the deterministic fabric
//! simulator (`weft-node`'s `sim`), over many seeds, with a readable
//! summary, a JSON report and a `JUnit` XML report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use weft_chaos::{CaseResult, DEFAULT_REPLAY_PREFIX, Scenario, json_report, junit_xml, summary};

use super::UsageError;

/// `weft sim …`.
#[derive(Subcommand, Debug)]
pub(crate) enum SimCommand {
    /// Run scenario files: each over its seeds (or --seeds N, or one --seed).
    Run(RunArgs),
}

/// `weft sim run`.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Scenario files (TOML; see scenarios/).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Run every scenario over seeds 1..=N instead of its own count.
    #[arg(long, value_name = "N", conflicts_with = "seed")]
    seeds: Option<u32>,
    /// Run one seed only (what a report's replay command does).
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
    /// Write the JSON report here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write the `JUnit` XML report here.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Runs at once (default: one per core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// With --seed: after the run, print what happened at these sites
    /// (comma-separated names, or `all`): path changes, relays, retired
    /// peers, membership events, notes.
    #[arg(long, value_name = "SITES", requires = "seed")]
    trace: Option<String>,
    /// Start of the trace window (simulated time, e.g. `55s`, `1m30s`).
    #[arg(long, value_name = "TIME", requires = "trace", value_parser = duration)]
    trace_from: Option<Duration>,
    /// End of the trace window.
    #[arg(long, value_name = "TIME", requires = "trace", value_parser = duration)]
    trace_to: Option<Duration>,
}

fn duration(s: &str) -> Result<Duration, String> {
    weft_types::parse_duration(s).map_err(|e| e.to_string())
}

/// Runs the command.
pub(crate) fn run(c: SimCommand) -> Result<ExitCode> {
    match c {
        SimCommand::Run(a) => run_files(&a),
    }
}

fn run_files(a: &RunArgs) -> Result<ExitCode> {
    let mut scenarios = Vec::new();
    for f in &a.files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        match weft_chaos::parse(f, &text) {
            Ok(sc) => scenarios.push(sc),
            Err(diags) => {
                let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
                return Err(UsageError(lines.join("\n")).into());
            }
        }
    }
    let mut jobs = Vec::new();
    for (i, sc) in scenarios.iter().enumerate() {
        let seeds: Vec<u64> = match (a.seed, a.seeds) {
            (Some(s), _) => vec![s],
            (None, Some(n)) => (1..=u64::from(n)).collect(),
            (None, None) => (1..=u64::from(sc.seeds)).collect(),
        };
        jobs.extend(seeds.into_iter().map(|seed| (i, seed)));
    }
    if let (Some(sites), Some(seed)) = (&a.trace, a.seed) {
        return trace(&scenarios, seed, sites, a);
    }
    let workers = a
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let results = run_jobs(&scenarios, &jobs, workers.max(1));
    for (i, sc) in scenarios.iter().enumerate() {
        let mine: Vec<&CaseResult> =
            results.iter().zip(&jobs).filter(|(_, j)| j.0 == i).map(|(r, _)| r).collect();
        let passed = mine.iter().filter(|r| r.passed).count();
        eprintln!("weft sim: {} — {passed} of {} seeds passed", sc.name, mine.len());
    }
    print!("{}", summary(&results));
    if let Some(p) = &a.json {
        write(p, &json_report(&results))?;
    }
    if let Some(p) = &a.junit {
        write(p, &junit_xml(&results))?;
    }
    let ok = results.iter().all(|r| r.passed);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `--trace`: runs each scenario on one seed and prints its summary, then
/// the trace of the chosen sites.
fn trace(scenarios: &[Scenario], seed: u64, sites: &str, a: &RunArgs) -> Result<ExitCode> {
    let mut ok = true;
    for sc in scenarios {
        let chosen: Vec<usize> = if sites == "all" {
            Vec::new()
        } else {
            sites
                .split(',')
                .map(|name| {
                    sc.topology.sites.iter().position(|s| s.as_str() == name.trim()).ok_or_else(
                        || UsageError(format!("--trace: {name:?} is not a site of {}", sc.name)),
                    )
                })
                .collect::<Result<_, _>>()?
        };
        let started = std::time::Instant::now();
        let (mut case, sim) =
            weft_node::sim::chaos::run_case_sim(sc, seed, DEFAULT_REPLAY_PREFIX, |_| {});
        case.wall_time = started.elapsed();
        let from = a.trace_from.unwrap_or(Duration::ZERO);
        let to = a.trace_to.unwrap_or(Duration::MAX);
        println!("trace of {} seed {seed}:", sc.name);
        for line in sim.trace(&chosen, from, to) {
            println!("{line}");
        }
        print!("{}", summary(std::slice::from_ref(&case)));
        ok &= case.passed;
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Runs every (scenario, seed) job on `workers` threads; results in job order.
/// Each case is deterministic on its own, so the order they run in changes nothing.
fn run_jobs(scenarios: &[Scenario], jobs: &[(usize, u64)], workers: usize) -> Vec<CaseResult> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(i, seed)) = jobs.get(k) else { break };
                    let started = std::time::Instant::now();
                    let mut case =
                        weft_node::sim::chaos::run_case(&scenarios[i], seed, DEFAULT_REPLAY_PREFIX);
                    case.wall_time = started.elapsed();
                    if let Ok(mut d) = done.lock() {
                        d[k] = Some(case);
                    }
                }
            });
        }
    });
    let done = done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    done.into_iter()
        .zip(jobs)
        .map(|(c, (i, seed))| {
            c.unwrap_or_else(|| {
                let sc = &scenarios[*i];
                let mut c = CaseResult::new(
                    &sc.file.display().to_string(),
                    &sc.name,
                    *seed,
                    DEFAULT_REPLAY_PREFIX,
                );
                c.set_error("the run panicked");
                c
            })
        })
        .collect()
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
