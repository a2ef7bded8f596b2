//! `weft peers`: the WireGuard peers (one per remote site) and their traffic.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use weft_api::Peer;

use super::client::{AgentArgs, Query};
use super::output::{Table, bytes, list, or_dash, print_json, secs, short_key};

/// `weft peers` options.
#[derive(Args, Debug)]
pub(crate) struct PeersArgs {
    /// Print the peers as a JSON array.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    agent: AgentArgs,
}

/// Runs `weft peers`.
pub(crate) fn run(args: &PeersArgs) -> Result<ExitCode> {
    let all = args.agent.client().get_all("/api/v1/peers", &Query::default())?;
    if args.json {
        print_json(&all)?;
    } else {
        table(&super::decode_all(all, "peers")?).print_or("no peers");
    }
    Ok(ExitCode::SUCCESS)
}

fn table(peers: &[Peer]) -> Table {
    let mut t = Table::new(&[
        "SITE",
        "PUBLIC KEY",
        "ENDPOINTS",
        "LAST HANDSHAKE",
        "HANDSHAKES",
        "TX",
        "RX",
    ])
    .right(&[3, 4, 5, 6]);
    for p in peers {
        let site = if p.stock { format!("{} (stock)", p.site) } else { p.site.clone() };
        t.row(vec![
            site,
            short_key(&p.public_key),
            list(&p.endpoints),
            or_dash(p.last_handshake_s, |s| format!("{} ago", secs(s))),
            p.handshakes.to_string(),
            bytes(p.tx_bytes),
            bytes(p.rx_bytes),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_show_a_short_key_and_human_traffic() {
        let p = Peer {
            site: "b".into(),
            public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=".into(),
            endpoints: vec!["10.0.1.2:51820".into()],
            allowed_prefixes: vec!["10.77.2.0/24".into()],
            last_handshake_s: Some(12.0),
            handshakes: 3,
            keepalive_s: None,
            stock: false,
            tx_bytes: 1536 * 1024,
            rx_bytes: 10,
        };
        let never = Peer { site: "c".into(), last_handshake_s: None, stock: true, ..p.clone() };
        let out = table(&[p, never]).render();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("b          xTIBA5rb…   10.0.1.2:51820"), "{out}");
        assert!(lines[1].contains("12 s ago") && lines[1].ends_with("1.5 MiB  10 B"), "{out}");
        assert!(lines[2].starts_with("c (stock)") && lines[2].contains("  -  "), "{out}");
    }
}
