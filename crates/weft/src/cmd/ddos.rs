//! `weft ddos status`: the agent's flood defence (`GET /api/v1/ddos`):
//! counters before any crypto, per-uplink rates against their baselines,
//! recent detections and the nftables set of blocked sources.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use weft_api::DdosStatus;

use super::client::AgentArgs;
use super::output::{outln, utc_ms};

/// `weft ddos` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum DdosCommand {
    /// Counters, rates against baselines, detections, the nftables set.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs one `weft ddos` command.
pub(crate) fn run(cmd: DdosCommand) -> Result<ExitCode> {
    let DdosCommand::Status { json, agent } = cmd;
    let s: DdosStatus = agent.client().get("/api/v1/ddos")?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "handshakes   {} received, limits {}/s per source, {}/s for the site{}",
        s.handshake_inits,
        s.handshakes_per_source,
        s.handshakes,
        if s.under_load { " — UNDER LOAD (cookies required)" } else { "" }
    );
    outln!("cookies      {} replies sent", s.cookie_replies);
    let dropped: Vec<String> =
        s.dropped.iter().map(|c| format!("{} {}", c.name, c.count)).collect();
    outln!("dropped      {}", dropped.join(", "));
    for d in &s.destinations {
        outln!(
            "{:<12} {:>10.0} pkt/s {:>10.1} Mbit/s  baseline {:>8.0} pkt/s{}",
            d.dest,
            d.pps,
            d.bps / 1e6,
            d.baseline_pps,
            if d.anomalous { "  ANOMALY" } else { "" }
        );
    }
    if s.detections.is_empty() {
        outln!("detections   none");
    }
    for d in &s.detections {
        let until = d.ended_unix_ms.map_or_else(|| "ongoing".to_owned(), utc_ms);
        outln!(
            "detection    {} .. {}  {}  peak {:.0} pkt/s (baseline {:.0}), {} sources blocked",
            utc_ms(d.at_unix_ms),
            until,
            d.dest,
            d.peak_pps,
            d.baseline_pps,
            d.sources_blocked
        );
    }
    match &s.mitigation {
        None => outln!("mitigation   off ([flood] mitigate = false)"),
        Some(m) => {
            outln!(
                "mitigation   nft inet {}: {} sources blocked for {} s, {} datagrams dropped",
                m.table,
                m.blocked.len(),
                m.block_s,
                m.dropped_packets
            );
            for b in m.blocked.iter().take(20) {
                outln!("  {:<40} {:>4} s left", b.addr, b.expires_s);
            }
            if m.blocked.len() > 20 {
                outln!("  … {} more (--json lists them all)", m.blocked.len() - 20);
            }
            if let Some(e) = &m.error {
                outln!("  last nft error: {e}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
