//! `weft registry sites|services|watch|register|deregister` (the registry
//! on a controller) and the registry's site changes behind `weft site
//! cordon|uncordon|drain|label`. Lists need `read`; site changes
//! `operate`; services `admin`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use weft_api::{
    HealthCheck, HealthCheckKind, LabelChange, RegistryChange, RegistryService, RegistrySite,
    ServiceProtocol, ServiceRegistration,
};

use super::client::{AgentArgs, Query, encode};
use super::output::{Table, list, or_dash, outln, print_json};

/// `weft registry` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum RegistryCommand {
    /// Every site the controller knows, with labels and relay flags.
    Sites {
        /// Label selector: `k=v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a)`; comma is AND.
        #[arg(long, short = 'l')]
        selector: Option<String>,
        /// Only sites in this state.
        #[arg(long, value_parser = ["alive", "down"])]
        state: Option<String>,
        /// Only sites of this role.
        #[arg(long)]
        role: Option<String>,
        /// Only sites of this region.
        #[arg(long)]
        region: Option<String>,
        /// Only cordoned sites.
        #[arg(long)]
        cordoned: bool,
        /// Only drained sites.
        #[arg(long)]
        drained: bool,
        /// Print the sites as a JSON array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Registered services (unavailable while their site is drained).
    Services {
        /// Label selector (as for sites).
        #[arg(long, short = 'l')]
        selector: Option<String>,
        /// Only services at this site.
        #[arg(long)]
        site: Option<String>,
        /// Only services of this protocol.
        #[arg(long, value_parser = ["tcp", "udp"])]
        protocol: Option<String>,
        /// Print the services as a JSON array.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Register a service (or replace the one of that name).
    Register {
        /// Service name.
        name: String,
        /// The site it runs at.
        #[arg(long)]
        site: String,
        /// Its protocol.
        #[arg(long, value_parser = ["tcp", "udp"], default_value = "tcp")]
        protocol: String,
        /// Its port.
        #[arg(long)]
        port: u16,
        /// A label `k=v` (repeat for more).
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        /// Health check: `tcp`, or `http:/path`.
        #[arg(long)]
        check: Option<String>,
        /// Health check interval, ms.
        #[arg(long, default_value_t = 10_000)]
        check_interval_ms: u64,
        /// Where its zero-trust sidecar listens (`ADDRESS:PORT` on the
        /// site's overlay): gateways' routes without backends go there.
        #[arg(long, value_name = "ADDR:PORT")]
        mtls: Option<String>,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Remove a service.
    Deregister {
        /// Service name.
        name: String,
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
    /// Stream registry changes (every record first, then each change).
    Watch {
        /// One JSON event per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        agent: AgentArgs,
    },
}

/// `k=v` sets, `k-` removes.
pub(crate) fn label_changes(args: &[String]) -> Result<LabelChange> {
    let mut set = BTreeMap::new();
    for a in args {
        if let Some((k, v)) = a.split_once('=') {
            set.insert(k.to_owned(), Some(v.to_owned()));
        } else if let Some(k) = a.strip_suffix('-') {
            set.insert(k.to_owned(), None);
        } else {
            bail!("{a:?}: write k=v to set a label, k- to remove it");
        }
    }
    if set.is_empty() {
        bail!("name at least one label: k=v to set, k- to remove");
    }
    Ok(LabelChange { set })
}

fn check(spec: Option<&str>, interval_ms: u64) -> Result<Option<HealthCheck>> {
    Ok(match spec {
        None => None,
        Some("tcp") => Some(HealthCheck { kind: HealthCheckKind::Tcp, path: None, interval_ms }),
        Some(s) => match s.strip_prefix("http:") {
            Some(path) => Some(HealthCheck {
                kind: HealthCheckKind::Http,
                path: Some(path.to_owned()),
                interval_ms,
            }),
            None => bail!("--check {s:?}: tcp or http:/path"),
        },
    })
}

/// Runs one `weft registry` command.
pub(crate) fn run(cmd: RegistryCommand) -> Result<ExitCode> {
    match cmd {
        RegistryCommand::Sites {
            selector,
            state,
            role,
            region,
            cordoned,
            drained,
            json,
            agent,
        } => {
            let q = Query::default()
                .opt("selector", selector.as_deref())
                .opt("state", state.as_deref())
                .opt("role", role.as_deref())
                .opt("region", region.as_deref())
                .opt("cordoned", cordoned.then_some(true))
                .opt("drained", drained.then_some(true));
            let all = agent.client().get_all("/api/v1/registry/sites", &q)?;
            if json {
                print_json(&all)?;
            } else {
                sites_table(&super::decode_all(all, "registry sites")?).print_or("no sites");
            }
        }
        RegistryCommand::Services { selector, site, protocol, json, agent } => {
            let q = Query::default()
                .opt("selector", selector.as_deref())
                .opt("site", site.as_deref())
                .opt("protocol", protocol.as_deref());
            let all = agent.client().get_all("/api/v1/registry/services", &q)?;
            if json {
                print_json(&all)?;
            } else {
                services_table(&super::decode_all(all, "registry services")?)
                    .print_or("no services");
            }
        }
        RegistryCommand::Register {
            name,
            site,
            protocol,
            port,
            labels,
            check: spec,
            check_interval_ms,
            mtls,
            json,
            agent,
        } => {
            let mut l = BTreeMap::new();
            for (k, v) in label_changes(&labels).map(|c| c.set).unwrap_or_default() {
                let Some(v) = v else { bail!("--label {k}-: a registration only sets labels") };
                l.insert(k, v);
            }
            let body = ServiceRegistration {
                name,
                site,
                protocol: if protocol == "udp" {
                    ServiceProtocol::Udp
                } else {
                    ServiceProtocol::Tcp
                },
                port,
                labels: l,
                health_check: check(spec.as_deref(), check_interval_ms)?,
                mtls,
            };
            let c: RegistryChange = agent.client().post("/api/v1/registry/services", &body)?;
            if json {
                print_json(&c)?;
            } else {
                outln!("registered service {} (revision {})", body.name, c.revision);
            }
        }
        RegistryCommand::Deregister { name, json, agent } => {
            let v =
                agent.client().delete(&format!("/api/v1/registry/services/{}", encode(&name)))?;
            if json {
                print_json(&v)?;
            } else {
                outln!("removed service {name}");
            }
        }
        RegistryCommand::Watch { json, agent } => {
            for item in agent.client().event_stream("/api/v1/registry/watch", None)? {
                let sse = item?;
                if json {
                    outln!("{}", sse.data);
                    continue;
                }
                let e: weft_api::RegistryEvent = serde_json::from_str(&sse.data)?;
                outln!("{:>8} {:<7} {:<6} {}", e.revision, e.kind, e.change, e.name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a site change (`cordon`, `uncordon`, `drain`; `label` with a body).
pub(crate) fn site_change(
    agent: &AgentArgs,
    id: &str,
    op: &str,
    body: Option<&LabelChange>,
    json: bool,
) -> Result<ExitCode> {
    let path = format!("/api/v1/sites/{}/{op}", encode(id));
    let client = agent.client();
    let c: RegistryChange = match body {
        Some(b) => client.post(&path, b)?,
        None => client.post(&path, &serde_json::json!({}))?,
    };
    if json {
        print_json(&c)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = c.site.as_ref();
    let what = match op {
        "cordon" => "cordoned: no new relayed traffic goes through it".to_owned(),
        "drain" => "drained: relayed traffic moves off it, its services are unavailable".to_owned(),
        "uncordon" => "uncordoned: it may relay again".to_owned(),
        _ => format!("labels {}", s.map_or_else(String::new, |s| labels(&s.labels))),
    };
    outln!("site {id} {what} (revision {})", c.revision);
    Ok(ExitCode::SUCCESS)
}

fn labels(l: &BTreeMap<String, String>) -> String {
    if l.is_empty() {
        return "-".to_owned();
    }
    l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn sites_table(sites: &[RegistrySite]) -> Table {
    let mut t =
        Table::new(&["SITE", "STATE", "ROLE", "REGION", "FLAGS", "POLICY", "LABELS", "ENDPOINTS"]);
    for s in sites {
        let flags = match (s.cordoned, s.drained) {
            (_, true) => "drained",
            (true, false) => "cordoned",
            _ => "-",
        };
        t.row(vec![
            s.site.clone(),
            s.state.clone(),
            or_dash(s.role.as_ref(), Clone::clone),
            or_dash(s.region.as_ref(), Clone::clone),
            flags.to_owned(),
            or_dash(s.policy_version, |v| format!("v{v}")),
            labels(&s.labels),
            list(&s.endpoints),
        ]);
    }
    t
}

fn services_table(services: &[RegistryService]) -> Table {
    let mut t =
        Table::new(&["SERVICE", "SITE", "PROTO", "PORT", "MTLS", "AVAILABLE", "CHECK", "LABELS"])
            .right(&[3]);
    for s in services {
        let check = s.health_check.as_ref().map_or_else(
            || "-".to_owned(),
            |h| match h.kind {
                HealthCheckKind::Tcp => format!("tcp/{}ms", h.interval_ms),
                HealthCheckKind::Http => {
                    format!("http {}/{}ms", h.path.as_deref().unwrap_or("/"), h.interval_ms)
                }
            },
        );
        t.row(vec![
            s.name.clone(),
            s.site.clone(),
            s.protocol.as_str().to_owned(),
            s.port.to_string(),
            s.mtls.clone().unwrap_or_else(|| "-".to_owned()),
            if s.available { "yes" } else { "no (drained)" }.to_owned(),
            check,
            labels(&s.labels),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_arguments_set_with_equals_and_remove_with_a_trailing_dash() {
        let c = label_changes(&["env=prod".into(), "old-".into(), "empty=".into()]).unwrap();
        assert_eq!(c.set.get("env"), Some(&Some("prod".to_owned())));
        assert_eq!(c.set.get("old"), Some(&None));
        assert_eq!(c.set.get("empty"), Some(&Some(String::new())));
        assert!(label_changes(&["bare".into()]).is_err());
        assert!(label_changes(&[]).is_err());
    }

    #[test]
    fn health_checks_are_tcp_or_http_with_a_path() {
        assert_eq!(check(Some("tcp"), 5).unwrap().unwrap().kind, HealthCheckKind::Tcp);
        let h = check(Some("http:/healthz"), 5).unwrap().unwrap();
        assert_eq!((h.kind, h.path.as_deref()), (HealthCheckKind::Http, Some("/healthz")));
        assert!(check(Some("icmp"), 5).is_err());
        assert!(check(None, 5).unwrap().is_none());
    }
}
