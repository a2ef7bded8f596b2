//! `weft qos status`: every shaped uplink's scheduler (`GET /api/v1/qos`):
//! per lane (class or reservation) what is queued, sent and dropped.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use weft_api::QosStatus;

use super::client::AgentArgs;
use super::output::{Table, outln, print_json};

/// `weft qos` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum QosCommand {
    /// Each shaped uplink's lanes: queued, sent, dropped.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs one `weft qos` command.
pub(crate) fn run(cmd: QosCommand) -> Result<ExitCode> {
    let QosCommand::Status { json, agent } = cmd;
    let s: QosStatus = agent.client().get("/api/v1/qos")?;
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !s.enabled {
        outln!("QoS is off ([qos] enabled = false)");
    }
    if s.uplinks.is_empty() {
        outln!("no shaped uplink (write a capacity in an [[uplink]] section)");
    }
    for u in &s.uplinks {
        outln!(
            "{}: capacity {:.1} Mbit/s, shaped to {:.1} Mbit/s",
            u.uplink,
            u.capacity_bps as f64 / 1e6,
            u.shaped_bps as f64 / 1e6
        );
        let mut t = Table::new(&["LANE", "CLASS", "QUEUED", "SENT", "DROPPED"]);
        for l in &u.lanes {
            t.row(vec![
                l.name.clone(),
                l.class.clone(),
                format!("{} pkt / {} B", l.queued_packets, l.queued_bytes),
                format!("{} pkt / {} B", l.sent_packets, l.sent_bytes),
                format!("{} pkt / {} B", l.dropped_packets, l.dropped_bytes),
            ]);
        }
        t.print_or("no lanes");
    }
    Ok(ExitCode::SUCCESS)
}
