//! `weft bgp status`: the site's BGP speaker (`GET /api/v1/bgp`): its
//! neighbors, the prefixes it announces to them and those it learnt from
//! them (accepted as the site's, or refused and why), and for a prefix
//! several edges learnt, which edge this site sends it to.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use weft_api::BgpStatus;

use super::client::AgentArgs;
use super::output::{Table, outln, print_json};

/// `weft bgp` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum BgpCommand {
    /// Neighbors, announced and learnt prefixes.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs one `weft bgp` command.
pub(crate) fn run(cmd: BgpCommand) -> Result<ExitCode> {
    let BgpCommand::Status { json, agent } = cmd;
    let s: BgpStatus = agent.client().get("/api/v1/bgp")?;
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !s.enabled {
        outln!("BGP is off (no [bgp] section)");
        print_shared(&s);
        return Ok(ExitCode::SUCCESS);
    }
    let learn = if s.learn.is_empty() { "nothing".to_owned() } else { s.learn.join(" ") };
    outln!("AS {}, learns {learn}", s.local_as);
    let mut t = Table::new(&["NEIGHBOR", "ADDRESS", "AS", "IMPORT", "SESSION"]);
    for n in &s.neighbors {
        let import = if n.import { "yes" } else { "no" };
        let session = if n.session.is_empty() { "-" } else { n.session.as_str() };
        t.row(vec![
            n.name.clone(),
            n.address.clone(),
            n.remote_as.to_string(),
            import.into(),
            session.into(),
        ]);
    }
    t.print_or("no neighbors");
    let announced =
        if s.announced.is_empty() { "nothing".to_owned() } else { s.announced.join(" ") };
    outln!("announced {announced}");
    let mut t = Table::new(&["LEARNT", "FROM", "STATE"]);
    for l in &s.learnt {
        let state = match &l.refused {
            None => "accepted".to_owned(),
            Some(why) => format!("refused: {why}"),
        };
        t.row(vec![l.prefix.clone(), l.neighbor.clone(), state]);
    }
    t.print_or("nothing learnt");
    print_shared(&s);
    Ok(ExitCode::SUCCESS)
}

/// The learnt prefixes several edges advertise: where this site sends each.
fn print_shared(s: &BgpStatus) {
    if s.shared.is_empty() {
        return;
    }
    let mut t = Table::new(&["SHARED", "VIA", "STANDBY"]);
    for x in &s.shared {
        let standby = if x.standby.is_empty() { "-".to_owned() } else { x.standby.join(" ") };
        t.row(vec![x.prefix.clone(), x.via.clone(), standby]);
    }
    t.print_or("");
}
