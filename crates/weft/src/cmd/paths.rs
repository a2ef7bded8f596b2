//! `weft paths` (every path with its live measurements), and `weft path …`:
//! `show ID`, `history ID [--since DURATION]`, `test ID [--probes N]`
//! (the test is in `path_test`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;
use weft_api::{Path, PathSample};

use super::client::{AgentArgs, Query};
use super::output::out;
use super::output::{
    Table, bytes, fields, list, ms, now_unix_ms, opt_ms, pct, print_json, secs, utc,
};
use super::path_test::{self, TestArgs};

/// `weft paths` options.
#[derive(Args, Debug)]
pub(crate) struct PathsArgs {
    /// Only paths to this site.
    #[arg(long)]
    site: Option<String>,
    /// Only paths in this state.
    #[arg(long, value_parser = ["init", "up", "degraded", "down"])]
    state: Option<String>,
    /// Print the paths as a JSON array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// `weft path` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum PathCommand {
    /// One path in detail: RTT percentiles, loss windows, probes, traffic.
    Show {
        /// Path id (see `weft paths`).
        id: u32,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Send a burst of probes on one path now and report RTT and loss.
    Test(TestArgs),
    /// The path's measurement history (recent samples, older averages).
    History {
        /// Path id (see `weft paths`).
        id: u32,
        /// Only samples newer than this (`30s`, `10m`, `2h`, `1d`).
        #[arg(long, value_name = "DURATION", value_parser = parse_since)]
        since: Option<Duration>,
        /// At most this many samples.
        #[arg(long)]
        limit: Option<u32>,
        /// Print the samples as a JSON array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Parses `--since`: a duration such as `90s`, `10m`, `2h` or `1d`.
fn parse_since(s: &str) -> Result<Duration, String> {
    if let Some(days) = s.trim().strip_suffix('d') {
        return days
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|d| Duration::try_from_secs_f64(d * 86_400.0).ok())
            .ok_or_else(|| format!("{s:?} is not a valid duration: expected e.g. 1d"));
    }
    weft_types::parse_duration(s).map_err(|e| e.to_string())
}

/// Runs `weft paths`.
pub(crate) fn run_list(args: &PathsArgs) -> Result<ExitCode> {
    let q = Query::default().opt("site", args.site.as_deref()).opt("state", args.state.as_deref());
    let all = args.agent.client().get_all("/api/v1/paths", &q)?;
    if args.json {
        print_json(&all)?;
    } else {
        table(&super::decode_all(all, "paths")?).print_or("no paths");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one `weft path` command.
pub(crate) fn run(cmd: PathCommand) -> Result<ExitCode> {
    match cmd {
        PathCommand::Show { id, json, agent } => {
            let v: Value = agent.client().get(&format!("/api/v1/paths/{id}"))?;
            if json {
                print_json(&v)?;
            } else {
                out!("{}", detail(&super::decode(v, "path")?));
            }
            Ok(ExitCode::SUCCESS)
        }
        PathCommand::Test(args) => path_test::run(&args),
        PathCommand::History { id, since, limit, json, agent } => {
            let since_ms = since.map(|d| {
                now_unix_ms().saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            });
            let q = Query::default().opt("since_unix_ms", since_ms).opt("limit", limit);
            let v: Value = agent.client().get(&format!("/api/v1/paths/{id}/metrics{q}"))?;
            if json {
                print_json(&v)?;
            } else {
                let samples: Vec<PathSample> = super::decode(v, "path samples")?;
                history(&samples).print_or("no samples");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `up (12 min)`.
fn state(p: &Path) -> String {
    format!("{} ({})", p.state, ms(p.state_for_ms))
}

fn table(paths: &[Path]) -> Table {
    let mut t = Table::new(&[
        "ID",
        "SITE",
        "UPLINK",
        "REMOTE",
        "STATE",
        "RTT",
        "JITTER",
        "LOSS",
        "ACTIVE FOR",
        "TX",
        "RX",
    ])
    .right(&[0, 5, 6, 7, 9, 10]);
    for p in paths {
        t.row(vec![
            p.id.to_string(),
            p.site.clone(),
            p.uplink.clone(),
            p.remote.clone(),
            state(p),
            opt_ms(p.rtt_ms),
            ms(p.jitter_ms),
            pct(p.loss_pct),
            list(&p.active_for),
            bytes(p.tx_bytes),
            bytes(p.rx_bytes),
        ]);
    }
    t
}

fn detail(p: &Path) -> String {
    fields(&[
        ("path", format!("{} ({} via {} to {})", p.id, p.site, p.uplink, p.remote)),
        ("state", state(p)),
        ("active for", list(&p.active_for)),
        (
            "rtt",
            format!(
                "{} (min {}, p50 {}, p95 {}, p99 {})",
                opt_ms(p.rtt_ms),
                opt_ms(p.rtt_min_ms),
                opt_ms(p.rtt_p50_ms),
                opt_ms(p.rtt_p95_ms),
                opt_ms(p.rtt_p99_ms)
            ),
        ),
        ("jitter", ms(p.jitter_ms)),
        ("loss", format!("{} short, {} long", pct(p.loss_pct), pct(p.loss_long_pct))),
        (
            "probes",
            format!(
                "{} sent, {} lost, every {}",
                p.probes_sent,
                p.probes_lost,
                ms(p.probe_interval_ms)
            ),
        ),
        (
            "traffic",
            format!("tx {}, rx {}, {} flow(s)", bytes(p.tx_bytes), bytes(p.rx_bytes), p.flows),
        ),
    ])
}

fn history(samples: &[PathSample]) -> Table {
    let mut t = Table::new(&["TIME", "SPAN", "RTT", "JITTER", "LOSS", "UP", "TX", "RX"])
        .right(&[1, 2, 3, 4, 5, 6, 7]);
    for s in samples {
        t.row(vec![
            utc(s.at_unix_ms.div_euclid(1000)),
            secs(f64::from(s.resolution_s)),
            opt_ms(s.rtt_ms),
            ms(s.jitter_ms),
            pct(s.loss_pct),
            pct(s.up_ratio * 100.0),
            bytes(s.tx_bytes),
            bytes(s.rx_bytes),
        ]);
    }
    t
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A path for tests.
    pub(crate) fn path(id: u32, uplink: &str) -> Path {
        Path {
            id,
            site: "b".into(),
            uplink: uplink.into(),
            remote: "10.0.1.2:51820".into(),
            state: "up".into(),
            state_for_ms: 725_000.0,
            active_for: vec!["voice".into(), "default".into()],
            rtt_ms: Some(0.5),
            rtt_min_ms: Some(0.4),
            rtt_p50_ms: Some(0.5),
            rtt_p95_ms: None,
            rtt_p99_ms: None,
            jitter_ms: 0.05,
            loss_pct: 0.0,
            loss_long_pct: 1.25,
            probes_sent: 100,
            probes_lost: 1,
            probe_interval_ms: 1000.0,
            tx_bytes: 2048,
            rx_bytes: 0,
            flows: 2,
        }
    }

    #[test]
    fn paths_show_state_age_measurements_and_classes() {
        let out = table(&[path(3, "u0")]).render();
        let row = out.lines().nth(1).unwrap();
        assert!(row.starts_with(" 3  b     u0      10.0.1.2:51820  up (12 min 5 s)"), "{out}");
        assert!(row.contains("  0.50 ms  0.05 ms    0%  voice, default  2.0 KiB  0 B"), "{out}");
        let d = detail(&path(3, "u0"));
        assert!(d.contains("(min 0.40 ms, p50 0.50 ms, p95 -, p99 -)"), "{d}");
        assert!(d.contains("loss        0% short, 1.3% long\n"), "{d}");
    }

    #[test]
    fn since_takes_days_as_well_as_the_usual_units() {
        assert_eq!(parse_since("10m"), Ok(Duration::from_mins(10)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_hours(24)));
        assert!(parse_since("soon").is_err());
        assert!(parse_since("xd").is_err());
    }

    #[test]
    fn history_rows_have_utc_times_and_up_ratio_as_percent() {
        let s = PathSample {
            at_unix_ms: 1_796_165_861_000,
            resolution_s: 60,
            rtt_ms: Some(12.34),
            jitter_ms: 1.0,
            loss_pct: 0.5,
            up_ratio: 0.75,
            tx_bytes: 1,
            rx_bytes: 2,
        };
        let out = history(&[s]).render();
        assert!(out.lines().nth(1).unwrap().starts_with("2026-12-01 22:57:41Z"), "{out}");
        assert!(out.contains("12.3 ms") && out.contains("75%") && out.contains("0.5%"), "{out}");
    }
}
