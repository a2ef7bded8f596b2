//! `weft status`: the agent at a glance.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::Value;
use weft_api::{Counter, Status};

use super::client::AgentArgs;
use super::output::out;
use super::output::{fields, print_json, secs};

/// `weft status` options.
#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    /// Print the agent's JSON answer.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// Runs `weft status`.
pub(crate) fn run(args: &StatusArgs) -> Result<ExitCode> {
    let v: Value = args.agent.client().get("/api/v1/status")?;
    if args.json {
        print_json(&v)?;
    } else {
        out!("{}", render(&super::decode::<Status>(v, "status")?));
    }
    Ok(ExitCode::SUCCESS)
}

/// `name 3, other 1`, or `none`.
fn counters(list: &[Counter]) -> String {
    if list.is_empty() {
        return "none".to_owned();
    }
    list.iter().map(|c| format!("{} {}", c.name, c.count)).collect::<Vec<_>>().join(", ")
}

fn render(s: &Status) -> String {
    let policy = if s.policy_version == 0 {
        format!("{} (version 0, built in)", s.policy_name)
    } else {
        format!("{} version {}", s.policy_name, s.policy_version)
    };
    let mut failovers = s.failovers.to_string();
    if !s.failovers_by_reason.is_empty() {
        failovers = format!("{failovers} ({})", counters(&s.failovers_by_reason));
    }
    let mut rows = vec![
        ("site", s.site.clone()),
        ("agent", format!("weftd {}, up {}", s.version, secs(s.uptime_s))),
        ("sites", format!("{}/{} up", s.sites_up, s.sites)),
        ("paths", format!("{}/{} up", s.paths_up, s.paths)),
        ("flows", s.flows.to_string()),
        ("policy", policy),
        ("failovers", failovers),
    ];
    if !s.policy_denied.is_empty() {
        rows.push(("denied", counters(&s.policy_denied)));
    }
    if !s.drops.is_empty() {
        rows.push(("drops", counters(&s.drops)));
    }
    if !s.offloads.is_empty() {
        let list = s
            .offloads
            .iter()
            .map(|o| format!("{} {}", o.kind, if o.enabled { "on" } else { "off" }));
        rows.push(("offloads", list.collect::<Vec<_>>().join(", ")));
    }
    rows.push(("last event", format!("#{}", s.last_event_id)));
    fields(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_api::Offload;

    #[test]
    fn status_prints_one_summary_line_per_topic() {
        let s = Status {
            site: "a".into(),
            version: "0.1.0".into(),
            uptime_s: 3.0 * 3600.0 + 720.0,
            sites: 2,
            sites_up: 1,
            paths: 4,
            paths_up: 2,
            flows: 3,
            policy_name: "corp".into(),
            policy_version: 2,
            failovers: 1,
            last_event_id: 42,
            failovers_by_reason: vec![Counter { name: "path_down".into(), count: 1 }],
            drops: vec![],
            policy_denied: vec![Counter { name: "no-telnet".into(), count: 7 }],
            offloads: vec![
                Offload { kind: "tun_tso".into(), enabled: true },
                Offload { kind: "udp_gro".into(), enabled: false },
            ],
        };
        let out = render(&s);
        assert!(out.contains("agent       weftd 0.1.0, up 3 h 12 min\n"), "{out}");
        assert!(out.contains("paths       2/4 up\n"), "{out}");
        assert!(out.contains("policy      corp version 2\n"), "{out}");
        assert!(out.contains("failovers   1 (path_down 1)\n"), "{out}");
        assert!(out.contains("denied      no-telnet 7\n") && !out.contains("drops"), "{out}");
        assert!(out.contains("offloads    tun_tso on, udp_gro off\n"), "{out}");
        assert!(out.ends_with("last event  #42\n"), "{out}");
    }
}
