//! `weft path test ID [--probes N]`: a burst of authenticated probes on one
//! path, now (`POST /api/v1/paths/{id}/test`); also the engine of `weft ping`.
//!
//! The agent answers when the burst is done (probes × its probe interval,
//! a few seconds), so the request timeout grows with `--probes` and a
//! spinner runs on a terminal meanwhile.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use weft_api::{Path, PathTestRequest, PathTestResult};

use super::client::{AgentArgs, Client, ClientError, DEFAULT_TIMEOUT};
use super::output::outln;
use super::output::{ms_series, pct, print_json};
use super::progress::Progress;

/// Probes per test when `--probes` is not given (the agent's default).
pub(crate) const DEFAULT_PROBES: u32 = 10;

/// `weft path test` options.
#[derive(Args, Debug)]
pub(crate) struct TestArgs {
    /// Path id (see `weft paths`).
    id: u32,
    /// Probes to send, 1..=100 [default: 10].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    probes: Option<u32>,
    /// Print the agent's JSON answer.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// A request timeout that leaves room for `probes` probes a second apart.
pub(crate) fn timeout_for(probes: Option<u32>) -> Duration {
    DEFAULT_TIMEOUT + Duration::from_secs(u64::from(probes.unwrap_or(DEFAULT_PROBES)))
}

/// `b via u0 (10.0.1.2:51820)`.
pub(crate) fn name(site: &str, uplink: &str, remote: &str) -> String {
    format!("{site} via {uplink} ({remote})")
}

/// Tests `path` with a spinner on a terminal; the agent's JSON answer.
pub(crate) fn test(
    client: &Client,
    path: &Path,
    probes: Option<u32>,
) -> Result<Value, ClientError> {
    let spinner =
        Progress::start(format!("testing {}", name(&path.site, &path.uplink, &path.remote)));
    let r = client.post(&format!("/api/v1/paths/{}/test", path.id), &PathTestRequest { probes });
    spinner.finish();
    r
}

/// One line per result:
/// `b via u0 (10.0.1.2:51820): 10/10 replies, rtt min/avg/max 0.40/0.50/0.90 ms, loss 0%`.
pub(crate) fn line(r: &PathTestResult) -> String {
    let mut out =
        format!("{}: {}/{} replies", name(&r.site, &r.uplink, &r.remote), r.received, r.sent);
    if r.received > 0 {
        let rtt = ms_series(&[r.rtt_min_ms, r.rtt_avg_ms, r.rtt_max_ms]);
        let _ = write!(out, ", rtt min/avg/max {rtt}");
    }
    let _ = write!(out, ", loss {}", pct(r.loss_pct));
    out
}

/// Runs `weft path test`.
pub(crate) fn run(args: &TestArgs) -> Result<ExitCode> {
    let client = args.agent.client().with_timeout(timeout_for(args.probes));
    let path: Path = super::decode(client.get(&format!("/api/v1/paths/{}", args.id))?, "path")?;
    let v = test(&client, &path, args.probes)?;
    if args.json {
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let r: PathTestResult = super::decode(v, "test result")?;
    outln!("{}", line(&r));
    Ok(if r.received == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(received: u32) -> PathTestResult {
        PathTestResult {
            path: 3,
            site: "b".into(),
            uplink: "u0".into(),
            remote: "10.0.1.2:51820".into(),
            sent: 10,
            received,
            loss_pct: 100.0 - f64::from(received) * 10.0,
            rtt_min_ms: (received > 0).then_some(0.4),
            rtt_avg_ms: (received > 0).then_some(0.5),
            rtt_max_ms: (received > 0).then_some(0.9),
        }
    }

    #[test]
    fn a_test_result_prints_as_one_ping_like_line() {
        assert_eq!(
            line(&result(10)),
            "b via u0 (10.0.1.2:51820): 10/10 replies, rtt min/avg/max 0.40/0.50/0.90 ms, loss 0%"
        );
        assert_eq!(line(&result(0)), "b via u0 (10.0.1.2:51820): 0/10 replies, loss 100%");
    }

    #[test]
    fn the_timeout_grows_with_the_probes() {
        assert_eq!(timeout_for(None), DEFAULT_TIMEOUT + Duration::from_secs(10));
        assert_eq!(timeout_for(Some(100)), DEFAULT_TIMEOUT + Duration::from_secs(100));
    }
}
