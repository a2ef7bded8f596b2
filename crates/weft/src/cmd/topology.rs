//! `weft topology`: the mesh as this agent sees it, sites and the measured
//! paths between them (edges).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use weft_api::{Topology, TopologyNode};

use super::client::AgentArgs;
use super::output::out;
use super::output::{Table, ms, opt_ms, pct, print_json};

/// `weft topology` options.
#[derive(Args, Debug)]
pub(crate) struct TopologyArgs {
    /// Print the agent's JSON answer (nodes and edges).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// Runs `weft topology`.
pub(crate) fn run(args: &TopologyArgs) -> Result<ExitCode> {
    let v: Value = args.agent.client().get("/api/v1/topology")?;
    if args.json {
        print_json(&v)?;
    } else {
        out!("{}", render(&super::decode(v, "topology")?));
    }
    Ok(ExitCode::SUCCESS)
}

/// `a (local)`, `b (hub, eu-west)`, `c`.
fn node(n: &TopologyNode) -> String {
    let mut tags: Vec<&str> = Vec::new();
    if n.local {
        tags.push("local");
    }
    tags.extend(n.role.as_deref());
    tags.extend(n.region.as_deref());
    if tags.is_empty() { n.id.clone() } else { format!("{} ({})", n.id, tags.join(", ")) }
}

fn render(t: &Topology) -> String {
    let nodes: Vec<String> = t.nodes.iter().map(node).collect();
    let mut out =
        format!("sites: {}\n", if nodes.is_empty() { "-".into() } else { nodes.join(", ") });
    let mut table = Table::new(&["FROM", "TO", "PATH", "UPLINK", "STATE", "RTT", "JITTER", "LOSS"])
        .right(&[2, 5, 6, 7]);
    for e in &t.edges {
        table.row(vec![
            e.from.clone(),
            e.to.clone(),
            e.path.to_string(),
            e.uplink.clone(),
            e.state.clone(),
            opt_ms(e.rtt_ms),
            ms(e.jitter_ms),
            pct(e.loss_pct),
        ]);
    }
    if table.is_empty() {
        out.push_str("no paths\n");
    } else {
        out.push_str(&table.render());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use weft_api::TopologyEdge;

    use super::*;

    #[test]
    fn topology_lists_the_sites_then_one_row_per_edge() {
        let t = Topology {
            nodes: vec![
                TopologyNode { id: "a".into(), local: true, role: None, region: None },
                TopologyNode {
                    id: "b".into(),
                    local: false,
                    role: Some("hub".into()),
                    region: Some("eu-west".into()),
                },
            ],
            edges: vec![TopologyEdge {
                from: "a".into(),
                to: "b".into(),
                path: 0,
                uplink: "u0".into(),
                state: "up".into(),
                rtt_ms: Some(20.0),
                jitter_ms: 0.5,
                loss_pct: 2.0,
            }],
        };
        let out = render(&t);
        assert!(out.starts_with("sites: a (local), b (hub, eu-west)\nFROM"), "{out}");
        assert!(out.ends_with("a     b      0  u0      up     20.0 ms  0.50 ms    2%\n"), "{out}");
    }
}
