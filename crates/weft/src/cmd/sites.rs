//! `weft sites` (the mesh's sites and their state), `weft site show ID`,
//! `weft site remove ID` (nothing is sent to the site or accepted from it,
//! durably) and `weft site restore ID` (undo). Removing and restoring need
//! the `operate` scope over TCP. `weft site cordon|uncordon|drain|label`
//! change the registry on a controller (`operate` too).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::Value;
use weft_api::Site;

use super::client::{AgentArgs, Query, encode};
use super::output::{Table, fields, list, opt_ms, or_dash, print_json};
use super::output::{out, outln};

/// `weft sites` options.
#[derive(Args, Debug)]
pub(crate) struct SitesArgs {
    /// Only sites in this state.
    #[arg(long, value_parser = ["local", "up", "degraded", "down", "removed"])]
    state: Option<String>,
    /// Print the sites as a JSON array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// `weft site` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum SiteCommand {
    /// One site in detail.
    Show {
        /// Site id (its name).
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Remove a site: nothing is sent to it or accepted from it (durable;
    /// undo with `weft site restore`).
    Remove {
        /// Site id (its name).
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Restore a removed site.
    Restore {
        /// Site id (its name).
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Cordon a site (on a controller): no new relayed traffic goes through it.
    Cordon {
        /// Site id.
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Uncordon a site (ends a drain too).
    Uncordon {
        /// Site id.
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Drain a site: cordoned, relayed traffic moves off it, its services unavailable.
    Drain {
        /// Site id.
        id: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Set (`k=v`) or remove (`k-`) a site's labels.
    Label {
        /// Site id.
        id: String,
        /// `k=v` to set, `k-` to remove.
        #[arg(required = true, value_name = "K=V|K-")]
        changes: Vec<String>,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// Runs `weft sites`.
pub(crate) fn run_list(args: &SitesArgs) -> Result<ExitCode> {
    let q = Query::default().opt("state", args.state.as_deref());
    let all = args.agent.client().get_all("/api/v1/sites", &q)?;
    if args.json {
        print_json(&all)?;
    } else {
        table(&super::decode_all(all, "sites")?).print_or("no sites");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one `weft site` command.
pub(crate) fn run(cmd: SiteCommand) -> Result<ExitCode> {
    match cmd {
        SiteCommand::Show { id, json, agent } => {
            let v: Value = agent.client().get(&format!("/api/v1/sites/{}", encode(&id)))?;
            if json {
                print_json(&v)?;
            } else {
                out!("{}", detail(&super::decode(v, "site")?));
            }
        }
        SiteCommand::Remove { id, json, agent } => {
            let v = agent.client().delete(&format!("/api/v1/sites/{}", encode(&id)))?;
            if json {
                print_json(&v)?;
            } else {
                outln!(
                    "removed site {id}: nothing is sent to it or accepted from it \
                     (undo with `weft site restore {id}`)"
                );
            }
        }
        SiteCommand::Restore { id, json, agent } => {
            let path = format!("/api/v1/sites/{}/restore", encode(&id));
            let v = agent.client().call("POST", &path, None)?.json();
            if json {
                print_json(&v)?;
            } else {
                let state = v["state"].as_str().unwrap_or("restored");
                outln!("restored site {id} (now {state})");
            }
        }
        SiteCommand::Cordon { id, json, agent } => {
            return super::registry::site_change(&agent, &id, "cordon", None, json);
        }
        SiteCommand::Uncordon { id, json, agent } => {
            return super::registry::site_change(&agent, &id, "uncordon", None, json);
        }
        SiteCommand::Drain { id, json, agent } => {
            return super::registry::site_change(&agent, &id, "drain", None, json);
        }
        SiteCommand::Label { id, changes, json, agent } => {
            let body = super::registry::label_changes(&changes)?;
            return super::registry::site_change(&agent, &id, "label", Some(&body), json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table(sites: &[Site]) -> Table {
    let mut t = Table::new(&[
        "SITE",
        "STATE",
        "ROLE",
        "REGION",
        "PATHS UP",
        "BEST RTT",
        "ENDPOINTS",
        "PREFIXES",
    ])
    .right(&[4, 5]);
    for s in sites {
        t.row(vec![
            s.id.clone(),
            s.state.as_str().to_owned(),
            or_dash(s.role.as_ref(), Clone::clone),
            or_dash(s.region.as_ref(), Clone::clone),
            format!("{}/{}", s.paths_up, s.paths_total),
            opt_ms(s.best_rtt_ms),
            list(&s.endpoints),
            list(&s.prefixes),
        ]);
    }
    t
}

fn detail(s: &Site) -> String {
    fields(&[
        ("site", s.id.clone()),
        ("state", s.state.as_str().to_owned()),
        ("role", or_dash(s.role.as_ref(), Clone::clone)),
        ("region", or_dash(s.region.as_ref(), Clone::clone)),
        ("paths", format!("{}/{} up", s.paths_up, s.paths_total)),
        ("best rtt", opt_ms(s.best_rtt_ms)),
        ("endpoints", list(&s.endpoints)),
        ("prefixes", list(&s.prefixes)),
    ])
}

#[cfg(test)]
mod tests {
    use weft_api::SiteState;

    use super::*;

    fn site() -> Site {
        Site {
            id: "b".into(),
            role: Some("hub".into()),
            region: None,
            state: SiteState::Degraded,
            endpoints: vec!["10.0.1.2:51820".into(), "10.0.2.2:51820".into()],
            prefixes: vec!["10.77.2.0/24".into()],
            paths_up: 1,
            paths_total: 2,
            best_rtt_ms: Some(0.42),
        }
    }

    #[test]
    fn sites_show_state_paths_and_missing_values_as_dashes() {
        let out = table(&[site()]).render();
        let row = out.lines().nth(1).unwrap();
        assert!(row.starts_with("b     degraded  hub   -"), "{out}");
        assert!(row.contains("1/2") && row.contains("0.42 ms"), "{out}");
        assert!(row.ends_with("10.0.1.2:51820, 10.0.2.2:51820  10.77.2.0/24"), "{out}");
        let d = detail(&site());
        assert!(d.contains("region     -\n") && d.contains("paths      1/2 up\n"), "{d}");
    }
}
