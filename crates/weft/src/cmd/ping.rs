//! `weft ping SITE [--probes N]`: test every path to a site, one after
//! another, and print one line per path.
//!
//! Exit code 1 when the site has no paths ("no such site") or when no path
//! answered at all; a path whose test fails prints its error and the others
//! go on.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use weft_api::{Path, PathTestResult};

use super::client::{AgentArgs, Client, ClientError, Query, encode};
use super::output::outln;
use super::output::print_json;
use super::path_test::{self, line, name, timeout_for};

/// `weft ping` options.
#[derive(Args, Debug)]
pub(crate) struct PingArgs {
    /// The site to ping (its name).
    site: String,
    /// Probes per path, 1..=100 [default: 10].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    probes: Option<u32>,
    /// Print the test results as a JSON array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// Runs `weft ping`.
pub(crate) fn run(args: &PingArgs) -> Result<ExitCode> {
    let client = args.agent.client().with_timeout(timeout_for(args.probes));
    let q = Query::default().push("site", &args.site);
    let paths: Vec<Path> = super::decode_all(client.get_all("/api/v1/paths", &q)?, "paths")?;
    if paths.is_empty() {
        bail!("{}", no_paths(&client, &args.site));
    }
    let mut results = Vec::new();
    let mut answered = false;
    for p in &paths {
        match path_test::test(&client, p, args.probes) {
            Ok(v) => {
                let r: PathTestResult = super::decode(v.clone(), "test result")?;
                answered |= r.received > 0;
                if !args.json {
                    outln!("{}", line(&r));
                }
                results.push(v);
            }
            Err(e @ (ClientError::Unreachable { .. } | ClientError::Auth { .. })) => {
                return Err(e.into());
            }
            Err(e) => outln!("{}: error: {e}", name(&p.site, &p.uplink, &p.remote)),
        }
    }
    if args.json {
        print_json(&results)?;
    }
    if answered {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("weft: no path to {} answered", args.site);
        Ok(ExitCode::FAILURE)
    }
}

/// Why there is nothing to ping: the site is unknown, or it has no paths.
fn no_paths(client: &Client, site: &str) -> String {
    match client.get::<serde_json::Value>(&format!("/api/v1/sites/{}", encode(site))) {
        Ok(_) => format!("site {site} has no paths"),
        Err(_) => format!("no such site: {site}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::client::fake::{self, FakeAgent};
    use super::*;

    const PATH: &str = r#"{"id":3,"site":"b","uplink":"u0","remote":"10.0.1.2:51820","state":"up",
        "state_for_ms":1.0,"active_for":[],"jitter_ms":0.0,"loss_pct":0.0,"loss_long_pct":0.0,
        "probes_sent":0,"probes_lost":0,"probe_interval_ms":1000.0,"tx_bytes":0,"rx_bytes":0,"flows":0}"#;

    #[test]
    fn a_site_without_paths_is_no_such_site() {
        let agent = FakeAgent::unix(vec![
            fake::json(200, r#"{"items":[],"total":0}"#),
            fake::json(404, r#"{"code":"not_found","message":"no site x"}"#),
        ]);
        let client = agent.client(None);
        let paths = client.get_all("/api/v1/paths", &Query::default().push("site", "x")).unwrap();
        assert!(paths.is_empty());
        assert_eq!(no_paths(&client, "x"), "no such site: x");
        assert!(agent.request().starts_with("GET /api/v1/paths?site=x&limit=1000 "));
        assert!(agent.request().starts_with("GET /api/v1/sites/x "));
    }

    #[test]
    fn each_path_is_tested_with_the_probes_asked_for() {
        let result = r#"{"path":3,"site":"b","uplink":"u0","remote":"10.0.1.2:51820","sent":5,
            "received":5,"loss_pct":0.0,"rtt_min_ms":0.4,"rtt_avg_ms":0.5,"rtt_max_ms":0.9}"#;
        let agent = FakeAgent::unix(vec![fake::json(200, result)]);
        let path: Path = serde_json::from_str(PATH).unwrap();
        let v = path_test::test(&agent.client(None), &path, Some(5)).unwrap();
        assert_eq!(v["received"], 5);
        let req = agent.request();
        assert!(req.starts_with("POST /api/v1/paths/3/test "), "{req}");
        assert!(req.ends_with("{\"probes\":5}"), "{req}");
    }
}
