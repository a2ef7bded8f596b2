//! `weft flows [--site S]` (flows the data plane saw recently, where they go
//! and why) and `weft flow show ID`.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;
use weft_api::Flow;

use super::client::{AgentArgs, Query, encode};
use super::output::out;
use super::output::{Table, bytes, fields, ms, or_dash, print_json};

/// `weft flows` options.
#[derive(Args, Debug)]
pub(crate) struct FlowsArgs {
    /// Only flows to (or from) this site.
    #[arg(long)]
    site: Option<String>,
    /// Print the flows as a JSON array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// `weft flow` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum FlowCommand {
    /// One flow in detail, with why it takes its path.
    Show {
        /// Flow id as listed by `weft flows --json` (`proto:src:sport-dst:dport`).
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs `weft flows`.
pub(crate) fn run_list(args: &FlowsArgs) -> Result<ExitCode> {
    let q = Query::default().opt("site", args.site.as_deref());
    let all = args.agent.client().get_all("/api/v1/flows", &q)?;
    if args.json {
        print_json(&all)?;
    } else {
        table(&super::decode_all(all, "flows")?).print_or("no flows");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one `weft flow` command.
pub(crate) fn run(cmd: FlowCommand) -> Result<ExitCode> {
    let FlowCommand::Show { id, json, agent } = cmd;
    let v: Value = agent.client().get(&format!("/api/v1/flows/{}", encode(&id)))?;
    if json {
        print_json(&v)?;
    } else {
        out!("{}", detail(&super::decode(v, "flow")?));
    }
    Ok(ExitCode::SUCCESS)
}

/// `10.0.1.5:443`, `[fd00::1]:443`, or the bare address when the port is 0.
pub(crate) fn endpoint(addr: &str, port: u16) -> String {
    match (port, addr.contains(':')) {
        (0, _) => addr.to_owned(),
        (p, true) => format!("[{addr}]:{p}"),
        (p, false) => format!("{addr}:{p}"),
    }
}

/// `tcp 10.0.1.5:1234 -> 10.0.2.7:443`.
fn five_tuple(f: &Flow) -> String {
    format!("{} {} -> {}", f.protocol, endpoint(&f.src, f.src_port), endpoint(&f.dst, f.dst_port))
}

fn table(flows: &[Flow]) -> Table {
    let mut t = Table::new(&[
        "FLOW", "DIR", "SITE", "VERDICT", "RULE", "CLASS", "PATH", "PACKETS", "BYTES", "IDLE",
    ])
    .right(&[6, 7, 8, 9]);
    for f in flows {
        t.row(vec![
            five_tuple(f),
            f.direction.clone(),
            or_dash(f.site.as_ref(), Clone::clone),
            f.verdict.clone(),
            f.rule.clone(),
            f.class.clone(),
            or_dash(f.path, |p| p.to_string()),
            f.packets.to_string(),
            bytes(f.bytes),
            ms(f.idle_ms as f64),
        ]);
    }
    t
}

fn detail(f: &Flow) -> String {
    fields(&[
        ("flow", five_tuple(f)),
        ("id", f.id.clone()),
        ("direction", f.direction.clone()),
        ("site", or_dash(f.site.as_ref(), Clone::clone)),
        ("verdict", format!("{} (rule {})", f.verdict, f.rule)),
        ("class", f.class.clone()),
        ("path", or_dash(f.path, |p| p.to_string())),
        ("why", f.reason.clone()),
        (
            "seen",
            format!("{} packets, {}, idle {}", f.packets, bytes(f.bytes), ms(f.idle_ms as f64)),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow {
            id: "udp:fd00::1:5000-fd00::2:5060".into(),
            protocol: "udp".into(),
            src: "fd00::1".into(),
            src_port: 5000,
            dst: "fd00::2".into(),
            dst_port: 5060,
            direction: "out".into(),
            site: Some("b".into()),
            verdict: "allow".into(),
            rule: "default".into(),
            class: "voice".into(),
            path: Some(3),
            reason: "lowest latency path meeting voice".into(),
            packets: 10,
            bytes: 4096,
            idle_ms: 250,
        }
    }

    #[test]
    fn flows_print_their_five_tuple_with_bracketed_ipv6() {
        let row = table(&[flow()]).render().lines().nth(1).unwrap().to_owned();
        assert!(row.starts_with("udp [fd00::1]:5000 -> [fd00::2]:5060  out  b"), "{row}");
        assert!(row.ends_with("3       10  4.0 KiB  250 ms"), "{row}");
        assert_eq!(endpoint("10.0.0.1", 0), "10.0.0.1");
        assert!(detail(&flow()).contains("why        lowest latency path meeting voice\n"));
    }
}
