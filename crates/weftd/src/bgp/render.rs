//! What `weftd` tells BIRD: the prefixes to announce and the neighbors, as
//! one BIRD 2 configuration file (a pure function of them, so a change of
//! announcements is a change of text and a `birdc configure`).
//!
//! The announced prefixes are static routes of protocol `weft_mesh`
//! through the site's Weft interface; the export filter `weft_export`
//! passes only them, with the configured communities and MED, so a route
//! BIRD learnt from a router is never sent on by BIRD itself. Neighbors
//! with `import` take routes through the import filter `weft_import`,
//! which accepts only prefixes inside `[bgp] learn`; the others import
//! nothing. There is no `kernel` protocol: BIRD changes no route of the
//! host (the agent reads what BIRD learnt, see `learn`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use weft_types::IpPrefix;

use crate::config::BgpConfig;

/// BIRD's configuration announcing `prefixes` (IPv4 ones; BIRD's IPv6
/// channel is not configured) through `interface`.
pub(crate) fn render(
    cfg: &BgpConfig,
    router_id: Ipv4Addr,
    interface: &str,
    prefixes: &BTreeSet<IpPrefix>,
) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "# Written by weftd ([bgp]); rewritten on every change of announcements.");
    let _ = writeln!(out, "router id {router_id};");
    let _ = writeln!(out, "log stderr all;");
    let _ = writeln!(out, "protocol device {{}}");
    let _ = writeln!(out, "protocol static weft_mesh {{");
    let _ = writeln!(out, "  ipv4;");
    for p in prefixes.iter().filter(|p| p.addr().is_ipv4()) {
        let _ = writeln!(out, "  route {p} via \"{interface}\";");
    }
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "filter weft_export {{");
    let _ = writeln!(out, "  if proto != \"weft_mesh\" then reject;");
    for (asn, value) in &cfg.communities {
        let _ = writeln!(out, "  bgp_community.add(({asn}, {value}));");
    }
    if let Some(med) = cfg.med {
        let _ = writeln!(out, "  bgp_med = {med};");
    }
    let _ = writeln!(out, "  accept;");
    let _ = writeln!(out, "}}");
    let ranges: Vec<String> =
        cfg.learn.iter().filter(|p| p.addr().is_ipv4()).map(|p| format!("{p}+")).collect();
    if !ranges.is_empty() {
        let _ = writeln!(out, "filter weft_import {{");
        let _ = writeln!(out, "  if net ~ [ {} ] then accept;", ranges.join(", "));
        let _ = writeln!(out, "  reject;");
        let _ = writeln!(out, "}}");
    }
    for n in &cfg.neighbors {
        // Prefixed: a neighbor's name may be a BIRD keyword (`router`).
        let _ = writeln!(out, "protocol bgp bgp_{} {{", n.name);
        let _ = writeln!(out, "  local as {};", cfg.local_as);
        let _ = writeln!(out, "  neighbor {} as {};", n.address, n.remote_as);
        if let Some(hops) = n.multihop {
            let _ = writeln!(out, "  multihop {hops};");
        }
        let import = if n.import && !ranges.is_empty() { "filter weft_import" } else { "none" };
        let _ = writeln!(
            out,
            "  ipv4 {{ import {import}; export filter weft_export; next hop self; }};"
        );
        let _ = writeln!(out, "}}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NeighborConfig;

    fn cfg() -> BgpConfig {
        BgpConfig {
            local_as: 65001,
            router_id: None,
            communities: vec![(65001, 100)],
            med: Some(50),
            announce_local: false,
            dir: "/tmp".into(),
            learn: Vec::new(),
            learn_preference: 100,
            neighbors: vec![NeighborConfig {
                name: "dc1".into(),
                address: "198.18.3.2".parse().unwrap(),
                remote_as: 65000,
                multihop: None,
                import: false,
            }],
        }
    }

    #[test]
    fn the_configuration_announces_exactly_the_prefixes_with_communities_and_med() {
        let prefixes: BTreeSet<IpPrefix> =
            ["10.77.2.0/24", "10.77.3.0/24"].iter().map(|p| IpPrefix::parse(p).unwrap()).collect();
        let text = render(&cfg(), "198.18.1.2".parse().unwrap(), "weft0", &prefixes);
        assert!(text.contains("router id 198.18.1.2;"));
        assert!(
            text.contains(
                "  route 10.77.2.0/24 via \"weft0\";\n  route 10.77.3.0/24 via \"weft0\";"
            )
        );
        assert!(text.contains("bgp_community.add((65001, 100));"));
        assert!(text.contains("bgp_med = 50;"));
        assert!(text.contains("protocol bgp bgp_dc1 {"));
        assert!(text.contains("neighbor 198.18.3.2 as 65000;"));
        assert!(text.contains("import none; export filter weft_export;"));
        assert!(!text.contains("protocol kernel"), "BIRD never touches the host's routes");
        let fewer: BTreeSet<IpPrefix> = [IpPrefix::parse("10.77.3.0/24").unwrap()].into();
        let text2 = render(&cfg(), "198.18.1.2".parse().unwrap(), "weft0", &fewer);
        assert!(!text2.contains("10.77.2.0/24"), "a lost prefix is withdrawn");
        assert_eq!(text, render(&cfg(), "198.18.1.2".parse().unwrap(), "weft0", &prefixes));
    }

    #[test]
    fn learning_neighbors_import_only_inside_the_learn_ranges() {
        let mut c = cfg();
        c.learn = vec![IpPrefix::parse("10.60.0.0/16").unwrap()];
        c.neighbors[0].import = true;
        let mut quiet = c.neighbors[0].clone();
        quiet.name = "dc2".into();
        quiet.import = false;
        c.neighbors.push(quiet);
        let text = render(&c, "198.18.1.2".parse().unwrap(), "weft0", &BTreeSet::new());
        assert!(text.contains(
            "filter weft_import {\n  if net ~ [ 10.60.0.0/16+ ] then accept;\n  reject;\n}"
        ));
        let dc1 = text.split("protocol bgp bgp_dc1").nth(1).unwrap();
        let dc2 = text.split("protocol bgp bgp_dc2").nth(1).unwrap();
        assert!(dc1.contains("import filter weft_import; export filter weft_export;"), "{text}");
        assert!(dc2.contains("import none; export filter weft_export;"), "{text}");
        assert!(!text.contains("protocol kernel"), "learnt routes stay in BIRD");
    }
}
