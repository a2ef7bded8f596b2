//! Helpers shared by the lab tests.

use std::net::Ipv4Addr;

use weft_lab::{Lab, LabBuilder};

/// Builds a lab, failing loudly (never skipping) when not root.
pub(crate) fn build(builder: LabBuilder) -> Lab {
    match builder.name_prefix("t").build() {
        Ok(lab) => lab,
        Err(e @ weft_lab::LabError::NotRoot { .. }) => {
            panic!("the weft-lab integration tests need root: {e}")
        }
        Err(e) => panic!("building the lab failed: {e}"),
    }
}

/// A lab of `sites` sites with `uplinks` uplinks each.
pub(crate) fn lab(sites: usize, uplinks: usize) -> Lab {
    build(Lab::builder().sites(sites).uplinks(uplinks))
}

/// Result of a ping run.
#[derive(Debug)]
pub(crate) struct Ping {
    pub(crate) received: u32,
    pub(crate) sent: u32,
    pub(crate) avg_ms: Option<f64>,
}

/// Pings `to` from site `site` with source address `from`.
pub(crate) fn ping(
    lab: &Lab,
    site: &str,
    from: Ipv4Addr,
    to: Ipv4Addr,
    count: u32,
    interval: &str,
) -> Ping {
    let out = lab
        .exec(
            site,
            &[
                "ping",
                "-n",
                "-q",
                "-c",
                &count.to_string(),
                "-i",
                interval,
                "-W",
                "1",
                "-I",
                &from.to_string(),
                &to.to_string(),
            ],
        )
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    parse_ping(&text).unwrap_or_else(|| panic!("unreadable ping output: {text}"))
}

/// Reads `N packets transmitted, M received` and `rtt min/avg/max/mdev = a/b/c/d ms`.
pub(crate) fn parse_ping(text: &str) -> Option<Ping> {
    let line = text.lines().find(|l| l.contains("packets transmitted"))?;
    let mut nums = line.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    let sent = nums.next()?.parse().ok()?;
    let received = nums.next()?.parse().ok()?;
    let avg_ms = text
        .lines()
        .find(|l| l.starts_with("rtt") || l.starts_with("round-trip"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok());
    Some(Ping { received, sent, avg_ms })
}

/// True if one ping from `from` to `to` is answered.
pub(crate) fn reachable(lab: &Lab, site: &str, from: Ipv4Addr, to: Ipv4Addr) -> bool {
    ping(lab, site, from, to, 2, "0.05").received > 0
}

/// Names of all network namespaces.
pub(crate) fn namespaces() -> Vec<String> {
    let out =
        std::process::Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}
