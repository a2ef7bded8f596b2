//! Building a lab's namespaces, veth pairs, addresses and routes, and removing them.

use std::fmt::Write as _;

use crate::addressing::{self, DIVERT_TABLE, PREFIX_LEN, TUN_NAME};
use crate::error::{LabError, Result};
use crate::state::{EmulatorHost, LabState, SiteState, UplinkState, state_dir};
use crate::sys;
use crate::topology::Topology;

/// Policy-rule priority of the per-uplink source rules in a site, and of the
/// "came back from the emulator" rule in the internet namespace.
const PREF_FIRST: u32 = 100;
/// Policy-rule priority of the divert rules in the internet namespace.
pub(crate) const PREF_DIVERT: u32 = 200;

/// Lays out names and addresses for a lab; creates nothing.
pub(crate) fn plan(name: &str, topology: &Topology) -> LabState {
    let sites = topology
        .sites
        .iter()
        .enumerate()
        .map(|(s, site)| SiteState {
            name: site.name.clone(),
            netns: format!("{name}-{}", site.name),
            uplinks: site
                .uplinks
                .iter()
                .enumerate()
                .map(|(u, up)| UplinkState {
                    name: up.name.clone(),
                    addr: addressing::site_addr(s, u),
                    gateway: addressing::gateway_addr(s, u),
                    prefix_len: PREFIX_LEN,
                    inet_if: addressing::inet_ifname(s, u),
                    impairment: crate::Impairment::NONE,
                    diverted: false,
                })
                .collect(),
        })
        .collect();
    LabState {
        name: name.to_owned(),
        inet_ns: format!("{name}-inet"),
        via_emulator: topology.via_emulator,
        sites,
        emulator: EmulatorHost::None,
        pids: Vec::new(),
    }
}

/// Refuses to build over an existing lab of the same name (or clashing namespaces).
pub(crate) fn check_free(state: &LabState) -> Result<()> {
    let dir = state_dir(&state.name);
    if dir.exists() {
        return Err(LabError::AlreadyExists {
            name: state.name.clone(),
            evidence: format!("{} exists", dir.display()),
        });
    }
    if let Some(ns) = state.namespaces().into_iter().find(|ns| sys::netns_exists(ns)) {
        return Err(LabError::AlreadyExists {
            name: state.name.clone(),
            evidence: format!("namespace {ns} exists"),
        });
    }
    Ok(())
}

/// Creates namespaces, links, addresses and routes (everything but the emulator).
pub(crate) fn create(state: &LabState) -> Result<()> {
    for ns in state.namespaces() {
        sys::run("ip", &["netns", "add", &ns])?;
    }
    let forwarding = [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
    ];
    sys::sysctls(&state.inet_ns, &forwarding)?;
    for site in &state.sites {
        // Replies may arrive on a different uplink than the main table's default
        // route: strict reverse-path filtering would drop them.
        sys::sysctls(&site.netns, &forwarding[1..3])?;
    }

    // veth pairs, each end born in its own namespace (nothing touches the root one).
    let mut root = String::new();
    for site in &state.sites {
        for up in &site.uplinks {
            let _ = writeln!(
                root,
                "link add {} netns {} type veth peer name {} netns {}",
                up.name, site.netns, up.inet_if, state.inet_ns
            );
        }
    }
    sys::ip_batch(None, &root)?;

    let mut inet = String::from("link set lo up\n");
    for site in &state.sites {
        let mut s = String::from("link set lo up\n");
        for (u, up) in site.uplinks.iter().enumerate() {
            let table = addressing::site_table(u);
            let (addr, gw, len) = (up.addr, up.gateway, up.prefix_len);
            let _ = writeln!(s, "addr add {addr}/{len} dev {}", up.name);
            let _ = writeln!(s, "link set {} up", up.name);
            let _ =
                writeln!(s, "route add default via {gw} dev {} src {addr} table {table}", up.name);
            let _ = writeln!(s, "rule add from {addr} lookup {table} pref {PREF_FIRST}");
            if u == 0 {
                let _ = writeln!(s, "route add default via {gw} dev {} src {addr}", up.name);
            }
            let _ = writeln!(inet, "addr add {gw}/{len} dev {}", up.inet_if);
            let _ = writeln!(inet, "link set {} up", up.inet_if);
        }
        sys::ip_batch(Some(&site.netns), &s)?;
    }
    let _ = writeln!(inet, "rule add iif {TUN_NAME} lookup main pref {PREF_FIRST}");
    sys::ip_batch(Some(&state.inet_ns), &inet)
}

/// Brings the emulator's TUN up and routes the divert table to it.
pub(crate) fn route_to_emulator(state: &LabState) -> Result<()> {
    let script = format!(
        "link set {TUN_NAME} up\nroute replace default dev {TUN_NAME} table {DIVERT_TABLE}\n"
    );
    sys::ip_batch(Some(&state.inet_ns), &script)
}

/// Kills what runs in the lab's namespaces and deletes them. Best effort: carries
/// on past failures and reports what is left.
pub(crate) fn destroy(state: &LabState) -> Result<()> {
    let mut pids = state.pids.clone();
    if let EmulatorHost::Process { pid } = state.emulator {
        pids.push(pid);
    }
    for pid in pids {
        if sys::alive(pid) {
            sys::terminate(pid, std::time::Duration::from_secs(1));
        }
    }
    let mut left = Vec::new();
    for ns in state.namespaces() {
        if !sys::netns_exists(&ns) {
            continue;
        }
        // Anything still running inside would keep the namespace (and its links) alive.
        if let Ok(out) = sys::run("ip", &["netns", "pids", &ns]) {
            for pid in out.split_whitespace().filter_map(|p| p.parse::<u32>().ok()) {
                sys::terminate(pid, std::time::Duration::from_secs(1));
            }
        }
        if let Err(e) = sys::run("ip", &["netns", "del", &ns]) {
            left.push(e.to_string());
        }
    }
    let dir = state_dir(&state.name);
    if let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        left.push(format!("removing {}: {e}", dir.display()));
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(LabError::Command {
            cmd: "lab down".into(),
            status: "incomplete".into(),
            stderr: left.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_prefixes_every_namespace_with_the_lab_name() {
        let st = plan("t1", &Topology::uniform(2, 2).unwrap());
        assert_eq!(st.namespaces(), ["t1-inet", "t1-a", "t1-b"]);
        let up = &st.sites[1].uplinks[1];
        assert_eq!((up.name.as_str(), up.inet_if.as_str()), ("u1", "s1u1"));
        assert_eq!(up.addr.to_string(), "198.18.2.6");
        assert_eq!(up.gateway.to_string(), "198.18.2.5");
    }
}
