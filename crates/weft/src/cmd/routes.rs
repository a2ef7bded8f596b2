//! `weft routes`: where every overlay prefix goes, and the current path of
//! each route profile (SLA class) to its site.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use weft_api::{Route, RouteChoice};

use super::client::{AgentArgs, Query};
use super::output::{MISSING, Table, print_json};

/// `weft routes` options.
#[derive(Args, Debug)]
pub(crate) struct RoutesArgs {
    /// Print the routes as a JSON array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// Runs `weft routes`.
pub(crate) fn run(args: &RoutesArgs) -> Result<ExitCode> {
    let all = args.agent.client().get_all("/api/v1/routes", &Query::default())?;
    if args.json {
        print_json(&all)?;
    } else {
        table(&super::decode_all(all, "routes")?).print_or("no routes");
    }
    Ok(ExitCode::SUCCESS)
}

/// `voice #3 (u0)`, or `voice -` when no path is eligible.
fn choice(c: &RouteChoice) -> String {
    match (c.path, &c.uplink) {
        (Some(p), Some(u)) => format!("{} #{p} ({u})", c.class),
        (Some(p), None) => format!("{} #{p}", c.class),
        (None, _) => format!("{} {MISSING}", c.class),
    }
}

fn table(routes: &[Route]) -> Table {
    let mut t = Table::new(&["PREFIX", "SITE", "VIA", "PATH BY CLASS"]);
    for r in routes {
        let choices: Vec<String> = r.choices.iter().map(choice).collect();
        t.row(vec![
            r.prefix.clone(),
            r.site.clone(),
            if r.via == r.site { "direct".to_owned() } else { r.via.clone() },
            if choices.is_empty() { MISSING.to_owned() } else { choices.join(", ") },
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_list_each_class_and_its_path() {
        let r = Route {
            prefix: "10.77.2.0/24".into(),
            site: "b".into(),
            via: "b".into(),
            choices: vec![
                RouteChoice { class: "voice".into(), path: Some(3), uplink: Some("u0".into()) },
                RouteChoice { class: "bulk".into(), path: None, uplink: None },
            ],
        };
        let hub = Route { via: "hub".into(), choices: vec![], ..r.clone() };
        let out = table(&[r, hub]).render();
        assert!(out.contains("10.77.2.0/24  b     direct  voice #3 (u0), bulk -"), "{out}");
        assert!(out.lines().nth(2).unwrap().ends_with("hub     -"), "{out}");
    }
}
