//! The nftables table weftd owns for flood mitigation, driven through the
//! `nft` command (JSON for reading).
//!
//! ```text
//! table inet <name> {
//!   counter flood_dropped { }
//!   set flood_v4 { type ipv4_addr; flags timeout; }
//!   set flood_v6 { type ipv6_addr; flags timeout; }
//!   set inner_v4 { type ipv4_addr; flags timeout; }
//!   chain prerouting {
//!     type filter hook prerouting priority raw; policy accept;
//!     ip saddr @flood_v4 udp dport { <uplink ports> } counter name flood_dropped drop
//!     ip6 saddr @flood_v6 udp dport { <uplink ports> } counter name flood_dropped drop
//!     iifname "<overlay>" ip saddr @inner_v4 counter name flood_dropped drop
//!   }
//! }
//! ```
//! At raw priority the drop happens before conntrack, so a spoofed flood
//! creates no connection entries. `flood_v*` hold outer sources and filter
//! only the uplinks' UDP ports: a listed source can still reach the API or
//! anything else. `inner_v4` holds inner sources of a flood toward one of
//! the site's prefixes and filters only what weftd writes to the overlay
//! interface (decrypted packets), so the hosts behind the site no longer
//! see them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// Sets of sources to drop, in a table of their own.
#[derive(Debug, Clone)]
pub(crate) struct NftSet {
    table: String,
    /// Runs `nft` inside this network namespace (`ip netns exec`); tests only.
    netns: Option<String>,
}

/// One source in the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Blocked {
    /// The address.
    pub(crate) addr: String,
    /// Seconds until it leaves the set.
    pub(crate) expires_s: u64,
}

impl NftSet {
    /// The set in table `inet <table>` (a name checked by the config).
    pub(crate) fn new(table: &str) -> Self {
        Self { table: table.to_owned(), netns: None }
    }

    /// The same, driving `nft` inside network namespace `netns` (lab tests).
    #[cfg(test)]
    pub(crate) fn in_netns(table: &str, netns: &str) -> Self {
        Self { table: table.to_owned(), netns: Some(netns.to_owned()) }
    }

    /// `nft`, or `ip netns exec NS nft`.
    fn command(&self) -> Command {
        match &self.netns {
            None => Command::new("nft"),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "nft"]);
                c
            }
        }
    }

    /// The table's name.
    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (replacing one left by an earlier run) filtering
    /// UDP to `ports` and, from inner sources, packets arriving on the
    /// overlay interface `overlay` (a name the config checked).
    pub(crate) fn install(&self, ports: &[u16], overlay: &str) -> Result<()> {
        if overlay.is_empty()
            || !overlay.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-@".contains(&b))
        {
            bail!("interface name {overlay:?} cannot go into an nftables rule");
        }
        let t = &self.table;
        let ports = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        let script = format!(
            "table inet {t}\ndelete table inet {t}\ntable inet {t} {{\n\
             counter flood_dropped {{ }}\n\
             set flood_v4 {{ type ipv4_addr; flags timeout; size 65536; }}\n\
             set flood_v6 {{ type ipv6_addr; flags timeout; size 65536; }}\n\
             set inner_v4 {{ type ipv4_addr; flags timeout; size 65536; }}\n\
             chain prerouting {{\n\
             type filter hook prerouting priority raw; policy accept;\n\
             ip saddr @flood_v4 udp dport {{ {ports} }} counter name flood_dropped drop\n\
             ip6 saddr @flood_v6 udp dport {{ {ports} }} counter name flood_dropped drop\n\
             iifname \"{overlay}\" ip saddr @inner_v4 counter name flood_dropped drop\n\
             }}\n}}\n"
        );
        nft_script(self.command(), &script)
            .with_context(|| format!("creating nftables table inet {t}"))
    }

    /// Adds outer `sources` (from the uplinks) for `block` (an address
    /// already in the set keeps its expiry).
    pub(crate) fn add(&self, sources: &[IpAddr], block: Duration) -> Result<()> {
        self.add_to(sources, block, [("flood_v4", true), ("flood_v6", false)])
    }

    /// Adds inner IPv4 `sources` (decrypted packets on the overlay
    /// interface) for `block`.
    pub(crate) fn add_inner(&self, sources: &[IpAddr], block: Duration) -> Result<()> {
        self.add_to(sources, block, [("inner_v4", true)])
    }

    fn add_to<const N: usize>(
        &self,
        sources: &[IpAddr],
        block: Duration,
        sets: [(&str, bool); N],
    ) -> Result<()> {
        let secs = block.as_secs().max(1);
        let mut script = String::new();
        for (set, v4) in sets {
            let elems: Vec<String> = sources
                .iter()
                .filter(|a| a.is_ipv4() == v4)
                .map(|a| format!("{a} timeout {secs}s"))
                .collect();
            if !elems.is_empty() {
                let t = &self.table;
                let _ = writeln!(script, "add element inet {t} {set} {{ {} }}", elems.join(", "));
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        nft_script(self.command(), &script).context("adding sources to the flood set")
    }

    /// The sources in the sets now (outer ones, then inner ones).
    pub(crate) fn elements(&self) -> Result<Vec<Blocked>> {
        let mut out = Vec::new();
        for set in ["flood_v4", "flood_v6", "inner_v4"] {
            let v = nft_json(self.command(), &["list", "set", "inet", &self.table, set])?;
            out.extend(parse_elements(&v));
        }
        Ok(out)
    }

    /// Packets the sets' rules dropped (outer and inner).
    pub(crate) fn dropped(&self) -> Result<u64> {
        let v =
            nft_json(self.command(), &["list", "counter", "inet", &self.table, "flood_dropped"])?;
        parse_counter(&v).context("no packets in the nft counter's JSON")
    }

    /// Deletes the table.
    #[cfg(test)]
    pub(crate) fn remove(&self) -> Result<()> {
        nft_script(self.command(), &format!("delete table inet {}\n", self.table))
    }
}

fn nft_script(mut nft: Command, script: &str) -> Result<()> {
    let mut child = nft
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft (is nftables installed?)")?;
    child.stdin.take().context("nft stdin")?.write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn nft_json(mut nft: Command, args: &[&str]) -> Result<serde_json::Value> {
    let out = nft.arg("-j").args(args).output().context("running nft")?;
    if !out.status.success() {
        bail!("nft {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    serde_json::from_slice(&out.stdout).context("reading nft's JSON")
}

/// The elements of `nft -j list set` output.
fn parse_elements(v: &serde_json::Value) -> Vec<Blocked> {
    let items = v.get("nftables").and_then(|n| n.as_array()).into_iter().flatten();
    items
        .filter_map(|i| i.get("set")?.get("elem")?.as_array())
        .flatten()
        .filter_map(|e| {
            let e = e.get("elem").unwrap_or(e);
            let addr = e.get("val").and_then(|a| a.as_str()).unwrap_or_default();
            let addr = if addr.is_empty() { e.as_str()? } else { addr };
            let expires_s = e.get("expires").and_then(serde_json::Value::as_u64).unwrap_or(0);
            Some(Blocked { addr: addr.to_owned(), expires_s })
        })
        .collect()
}

/// The packets of `nft -j list counter` output.
fn parse_counter(v: &serde_json::Value) -> Option<u64> {
    v.get("nftables")?.as_array()?.iter().find_map(|i| i.get("counter")?.get("packets")?.as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_json_of_sets_and_counters_is_read() {
        let set: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family": "inet",
            "name": "flood_v4", "table": "weftd", "elem": [{"elem": {"val": "10.0.0.1",
            "timeout": 60, "expires": 59}}, {"elem": {"val": "10.0.0.2", "timeout": 60,
            "expires": 12}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            parse_elements(&set),
            [
                Blocked { addr: "10.0.0.1".into(), expires_s: 59 },
                Blocked { addr: "10.0.0.2".into(), expires_s: 12 }
            ]
        );
        let empty: serde_json::Value =
            serde_json::from_str(r#"{"nftables": [{"set": {"name": "flood_v6"}}]}"#).unwrap();
        assert!(parse_elements(&empty).is_empty());
        let counter: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {}}, {"counter": {"name": "flood_dropped", "packets": 4242, "bytes": 1}}]}"#,
        )
        .unwrap();
        assert_eq!(parse_counter(&counter), Some(4242));
    }

    /// In a real lab: the table is installed in site a, a source added to
    /// the set is dropped before it reaches a socket (and counted), another
    /// source still gets through, and the element expires.
    #[test]
    fn a_blocked_source_is_dropped_and_counted_by_nftables_in_a_lab() {
        if !rustix_is_root() {
            assert!(std::env::var_os("CI").is_none(), "the nftables lab test needs root in CI");
            eprintln!("note: not root; skipping the nftables lab test");
            return;
        }
        let lab = weft_lab::Lab::builder().sites(2).uplinks(1).build().expect("lab");
        let ns = lab.site("a").expect("site a").netns.clone();
        let (a, b) = (lab.addr("a", 0).expect("a"), lab.addr("b", 0).expect("b"));
        let set = NftSet::in_netns("weft_test", &ns);
        set.install(&[51999], "lo").expect("install");
        set.add(&[IpAddr::V4(b)], Duration::from_secs(2)).expect("add");
        let blocked = set.elements().expect("elements");
        assert_eq!(blocked.len(), 1, "{blocked:?}");
        assert_eq!(blocked[0].addr, b.to_string());
        let socket = lab
            .in_site("a", || std::net::UdpSocket::bind((a, 51999)))
            .expect("in site a")
            .expect("bind");
        socket.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
        let send = |n: usize| {
            let script = format!(
                "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 for _ in range({n}): s.sendto(b'x'*148, ('{a}', 51999))\n"
            );
            lab.exec_ok("b", &["python3", "-c", &script]).expect("send from b");
        };
        send(10);
        let mut buf = [0u8; 256];
        assert!(socket.recv_from(&mut buf).is_err(), "a blocked source got through");
        assert_eq!(set.dropped().expect("counter"), 10);
        // After the element expires, the same source gets through.
        std::thread::sleep(Duration::from_millis(2500));
        assert!(set.elements().expect("elements").is_empty(), "the element did not expire");
        send(1);
        assert!(socket.recv_from(&mut buf).is_ok(), "an expired source is still dropped");
        assert_eq!(set.dropped().expect("counter"), 10);
        set.remove().expect("remove");
    }

    fn rustix_is_root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
        })
    }
}
