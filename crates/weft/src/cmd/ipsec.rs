//! `weft ipsec status`: the site's IPsec gateways as paths (`GET
//! /api/v1/ipsec`): SA state, probe RTT, jitter and loss, where best-effort
//! traffic to the remote prefixes goes now, the CHILD SA counters; then
//! where each class goes and what the data plane steered into the tunnel.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use weft_api::IpsecStatus;

use super::client::AgentArgs;
use super::output::{Table, outln, print_json};

/// `weft ipsec` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum IpsecCommand {
    /// Each gateway: SA, alive, route, RTT, jitter, loss, bytes; each class's path.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs one `weft ipsec` command.
pub(crate) fn run(cmd: IpsecCommand) -> Result<ExitCode> {
    let IpsecCommand::Status { json, agent } = cmd;
    let s: IpsecStatus = agent.client().get("/api/v1/ipsec")?;
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !s.gateways.is_empty() {
        outln!("charon started {} time(s)", s.charon_starts);
    }
    let mut t = Table::new(&[
        "GATEWAY", "REMOTE", "IKE", "ALIVE", "ROUTE", "VIA", "RTT", "JITTER", "LOSS", "IN", "OUT",
    ]);
    for g in &s.gateways {
        t.row(vec![
            g.name.clone(),
            g.remote.clone(),
            if g.ike_state.is_empty() { "-".into() } else { g.ike_state.clone() },
            if g.alive { "yes".into() } else { "no".into() },
            g.route.clone(),
            g.via.clone().unwrap_or_else(|| "-".into()),
            g.rtt_ms.map_or_else(|| "-".into(), |r| format!("{r:.2} ms")),
            format!("{:.2} ms", g.jitter_ms),
            format!("{:.0} %", g.loss_pct),
            format!("{} pkt / {} B", g.packets_in, g.bytes_in),
            format!("{} pkt / {} B", g.packets_out, g.bytes_out),
        ]);
    }
    t.print_or("no IPsec gateway (add an [[ipsec]] section to the site configuration)");
    let steered: Vec<_> = s.gateways.iter().filter(|g| g.via.is_some()).collect();
    if !steered.is_empty() {
        outln!();
        let mut t = Table::new(&["GATEWAY", "PROFILE", "CLASS", "PATH"]);
        for g in &steered {
            for c in &g.classes {
                t.row(vec![g.name.clone(), c.profile.clone(), c.class.clone(), c.route.clone()]);
            }
        }
        t.print_or("no class decided yet");
        for g in steered {
            outln!(
                "{}: {} packets ({} B) steered into the tunnel, {} dropped",
                g.name,
                g.steered_packets,
                g.steered_bytes,
                g.steer_dropped
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
