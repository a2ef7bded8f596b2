//! `weft shards …` on a controller: the shard map (`status`), what adding
//! or removing controllers would move (`simulate`), the plans waiting for
//! approval (`plan`), and applying one (`approve`).

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use weft_api::{ShardPlan, ShardSimulate, ShardStatus};

use super::client::AgentArgs;
use super::output::{outln, utc_ms};

/// `weft shards` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ShardsCommand {
    /// The map: controllers with their shards and heartbeats, recent versions.
    Status {
        /// Also list every shard's owner.
        #[arg(long)]
        owners: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// What adding and removing controllers would move; nothing is applied.
    Simulate {
        /// A controller to add (repeat for more).
        #[arg(long, value_name = "ID")]
        add: Vec<String>,
        /// A controller to remove (repeat for more).
        #[arg(long, value_name = "ID")]
        remove: Vec<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// The rebalancer's plans waiting for approval (a dry run: nothing moves).
    Plan {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Applies a pending plan (refused once the map has moved on).
    Approve {
        /// The plan id (from `weft shards plan`).
        plan: String,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

fn print_plan(p: &ShardPlan) {
    let ratio = if p.optimal > 0.0 {
        format!("{:.2}× the fewest possible ({:.1})", p.moves.len() as f64 / p.optimal, p.optimal)
    } else {
        "nothing had to move".to_owned()
    };
    outln!("plan {} from map version {}: {} move(s), {ratio}", p.id, p.base_version, p.moves.len());
    outln!("  reason: {}", p.reason);
    for m in &p.moves {
        outln!(
            "  shard {:>4}: {} -> {}",
            m.shard,
            m.from.as_deref().unwrap_or("-"),
            m.to.as_deref().unwrap_or("-")
        );
    }
}

/// Runs one `weft shards` command.
pub(crate) fn run(cmd: ShardsCommand) -> Result<ExitCode> {
    match cmd {
        ShardsCommand::Status { owners, json, agent } => {
            let s: ShardStatus = agent.client().get("/api/v1/shards")?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(ExitCode::SUCCESS);
            }
            if s.version == 0 {
                outln!("no shard map yet (the leader makes one within a second of its election)");
            } else {
                outln!(
                    "shard map version {} (epoch {}), {} shards",
                    s.version,
                    s.epoch,
                    s.owners.len()
                );
            }
            outln!("{:<20} {:>6} {:>7}  heartbeat", "CONTROLLER", "WEIGHT", "SHARDS");
            for c in &s.controllers {
                outln!(
                    "{:<20} {:>6} {:>7}  {}",
                    c.id,
                    c.weight,
                    c.shards,
                    utc_ms(c.heartbeat_unix_ms)
                );
            }
            for v in &s.history {
                outln!("version {:>4}: {} shard(s) moved", v.version, v.moved);
            }
            if !s.plans.is_empty() {
                outln!("{} plan(s) waiting: `weft shards plan`", s.plans.len());
            }
            if owners {
                for (shard, owner) in &s.owners {
                    outln!("  shard {shard:>4}: {owner}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ShardsCommand::Simulate { add, remove, json, agent } => {
            let body = ShardSimulate { add, remove };
            let p: ShardPlan = agent.client().post("/api/v1/shards/simulate", &body)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print_plan(&p);
                outln!("(simulated: nothing moved)");
            }
            Ok(ExitCode::SUCCESS)
        }
        ShardsCommand::Plan { json, agent } => {
            let s: ShardStatus = agent.client().get("/api/v1/shards")?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&s.plans)?);
            } else if s.plans.is_empty() {
                outln!("balanced: no plan waiting");
            } else {
                for p in &s.plans {
                    print_plan(p);
                }
                outln!("apply one with `weft shards approve PLAN`");
            }
            Ok(ExitCode::SUCCESS)
        }
        ShardsCommand::Approve { plan, agent } => {
            let path = format!("/api/v1/shards/plans/{plan}/approve");
            let v: serde_json::Value = agent.client().post(&path, &serde_json::json!({}))?;
            outln!(
                "applied plan {plan}: map version {}, {} shard(s) moved",
                v["version"],
                v["moved"]
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
