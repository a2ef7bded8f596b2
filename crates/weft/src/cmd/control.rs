//! `weft control status` and the mesh-wide side of `weft policy`:
//! `status` (every site's version), `promote` (end a canary stage), and the
//! answers of `apply`/`rollback` when the agent is a controller.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use serde_json::Value;
use weft_api::{ControlStatus, MeshPolicyChange, MeshPolicyStatus};

use super::client::AgentArgs;
use super::output::{outln, utc_ms};

/// `weft control` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ControlCommand {
    /// This site's view of the control plane: role, leader, epoch, lease,
    /// last fenced write, the mesh-wide policy in force.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// The control store's audit records, newest first (on a controller):
    /// policy, registry, shard and GTM changes with who and why.
    Audit {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs one `weft control` command.
pub(crate) fn run(cmd: ControlCommand) -> Result<ExitCode> {
    match cmd {
        ControlCommand::Audit { limit, json, agent } => {
            let rows: Vec<weft_api::ControlAuditRecord> =
                agent.client().get(&format!("/api/v1/control/audit?limit={limit}"))?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            for r in &rows {
                outln!(
                    "{}  epoch {:<4} {:<16} {}",
                    super::output::utc_ms(r.at_unix_ms),
                    r.epoch,
                    r.actor,
                    r.action
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ControlCommand::Status { json, agent } => {
            let s: ControlStatus = agent.client().get("/api/v1/control")?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(ExitCode::SUCCESS);
            }
            let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
            if s.controller {
                outln!(
                    "controller   {} ({}, store {})",
                    opt(s.id.clone()),
                    s.role,
                    opt(s.store.clone())
                );
                outln!(
                    "leader       {} (epoch {})",
                    opt(s.leader.clone()),
                    opt(s.epoch.map(|e| e.to_string()))
                );
                if let Some(age) = s.lease_age_ms {
                    outln!("lease        renewed {age} ms ago");
                }
                if let (Some(rev), Some(at)) =
                    (s.last_fenced_write_revision, s.last_fenced_write_unix_ms)
                {
                    outln!("last write   revision {rev} at {}", utc_ms(at));
                }
                outln!("fenced out   {} write(s)", s.fenced_refused);
            } else {
                outln!("controller   no (this site follows the control plane)");
            }
            match &s.policy {
                Some(p) => outln!(
                    "policy       mesh version {} (epoch {}, seq {}) since {}",
                    p.version,
                    p.epoch,
                    p.seq,
                    utc_ms(p.since_unix_ms)
                ),
                None => outln!("policy       local (no mesh-wide policy received)"),
            }
            let b = &s.bundles;
            outln!(
                "publications {} installed, {} already running, {} duplicate, {} stale refused, {} failed",
                b.installed,
                b.already_running,
                b.duplicates,
                b.stale_refused,
                b.install_failed
            );
            let r = &s.relay_limits;
            if r.seq > 0 {
                let names = |v: &[String]| if v.is_empty() { "-".to_owned() } else { v.join(", ") };
                outln!(
                    "relay limits cordoned {}; drained {} (seq {})",
                    names(&r.cordoned),
                    names(&r.drained),
                    r.seq
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `weft policy status`: the rollout as the controllers' store has it.
pub(crate) fn policy_status(agent: &AgentArgs, json: bool) -> Result<ExitCode> {
    let s: MeshPolicyStatus = agent.client().get("/api/v1/policy/mesh")?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    if s.version == 0 {
        outln!("no mesh-wide policy has been applied yet");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "mesh policy {:?} version {} (seq {}, newest stored {}), by {} at {}",
        s.name,
        s.version,
        s.seq,
        s.latest,
        s.actor,
        utc_ms(s.at_unix_ms)
    );
    if let Some(c) = &s.canary {
        outln!("canary: version {} on {}", c.version, c.sites.join(", "));
    }
    outln!("{:<20} {:>7} {:>6} {:>8}  {:<8} since", "SITE", "VERSION", "EPOCH", "SEQ", "STATE");
    for site in &s.sites {
        outln!(
            "{:<20} {:>7} {:>6} {:>8}  {:<8} {}{}",
            site.site,
            site.version,
            site.epoch,
            site.seq,
            site.state,
            utc_ms(site.since_unix_ms),
            site.error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a controller's answer to a mesh-wide apply, rollback or promote,
/// if `body` is one; `false` if it is a single agent's answer.
pub(crate) fn print_change(body: &Value) -> bool {
    let Ok(c) = serde_json::from_value::<MeshPolicyChange>(body.clone()) else { return false };
    for w in &c.warnings {
        outln!("warning: {w}");
    }
    match &c.canary {
        Some(k) => outln!(
            "{}: mesh version {} on canary sites {}, version {} everywhere else (epoch {}, seq {}); `weft policy promote` to finish, `weft policy rollback` to undo",
            c.kind,
            k.version,
            k.sites.join(", "),
            c.version,
            c.epoch,
            c.seq
        ),
        None => outln!(
            "{}: mesh version {} published to every site (epoch {}, seq {}); `weft policy status` shows who runs it",
            c.kind,
            c.version,
            c.epoch,
            c.seq
        ),
    }
    outln!("request {}", c.request);
    true
}
