//! On-prem prefixes learnt over BGP, advertised into the mesh: site b holds
//! the mesh CA, site a joins with a token that lets it bring in
//! `10.60.0.0/16` (`--learn`), and the router at c (plain BIRD) announces
//! on-prem prefixes to a. The on-prem host `10.60.1.1` sits on the router,
//! behind a link between a and c (the site's edge on the data centre's LAN).
//!
//! - b takes `10.60.1.0/24` as a's prefix (route through its overlay
//!   interface) and pings `10.60.1.1` through a;
//! - a prefix a learns outside its certified learn ranges (its `learn` was
//!   widened after it enrolled) is not taken by b;
//! - the router withdraws `10.60.1.0/24`: b loses the route.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use weftd::mesh::files::init_ca;

use super::{learnt, router_conf, start_router};
use crate::support::{Harness, wait_for};

/// Site a's configuration with `[bgp]` peering with the router, learning `learn`.
fn bgp_config(h: &Harness, base: &str, learn: &str) -> String {
    let c_addr = h.lab.addr(2, 0).unwrap();
    let mut text = base.to_owned();
    let _ = write!(
        text,
        "\n[bgp]\nlocal_as = 65001\nlearn = [{learn}]\n[[bgp.neighbor]]\nname = \"router\"\naddress = \"{c_addr}\"\nremote_as = 65000\nmultihop = 4\n"
    );
    text
}

/// Runs `ip ARGS` in site `i`'s namespace; its output.
fn ip(h: &Harness, i: usize, args: &[&str]) -> String {
    let mut argv = vec!["ip"];
    argv.extend_from_slice(args);
    h.lab.exec_ok(i, &argv).unwrap_or_else(|e| panic!("ip {args:?} in site {i}: {e}"))
}

/// The prefixes site `at` lists for site `of`.
fn prefixes_of(h: &Harness, at: usize, of: &str) -> Option<Vec<String>> {
    let page: Value = h.get(at, "/api/v1/sites?limit=100")?;
    let site = page["items"].as_array()?.iter().find(|s| s["id"] == of)?;
    let list = site["prefixes"].as_array()?;
    Some(list.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
}

/// The edge link: a veth between a and the router, routes on both sides
/// (a forwards between its overlay interface and the LAN).
fn wire_onprem_lan(h: &Harness) {
    let (a_ns, c_ns) = (h.lab.sites()[0].netns.clone(), h.lab.sites()[2].netns.clone());
    let root = |args: &[&str]| {
        let out = std::process::Command::new("ip").args(args).output().expect("ip");
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    root(&[
        "link", "add", "lan-a", "netns", &a_ns, "type", "veth", "peer", "name", "lan-c", "netns",
        &c_ns,
    ]);
    ip(h, 0, &["addr", "add", "192.168.60.1/30", "dev", "lan-a"]);
    ip(h, 0, &["link", "set", "lan-a", "up"]);
    ip(h, 2, &["addr", "add", "192.168.60.2/30", "dev", "lan-c"]);
    ip(h, 2, &["link", "set", "lan-c", "up"]);
    ip(h, 2, &["addr", "add", "10.60.1.1/32", "dev", "lo"]);
    ip(h, 2, &["addr", "add", "10.61.1.1/32", "dev", "lo"]);
    ip(h, 0, &["route", "add", "10.60.0.0/15", "via", "192.168.60.2"]);
    let b_overlay = format!("{}/32", h.overlay(1));
    ip(h, 2, &["route", "add", &b_overlay, "via", "192.168.60.1"]);
    // Forwarding on in a's namespace (/proc/sys/net is the opener's namespace's).
    let on = h.lab.in_site(0, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"));
    on.expect("enter a's namespace").expect("forwarding on a");
}

fn pings(h: &Harness, i: usize, to: &str) -> bool {
    h.lab.exec(i, &["ping", "-c", "1", "-W", "1", to]).is_ok_and(|o| o.status.success())
}

#[test]
fn a_prefix_learnt_over_bgp_inside_the_certified_range_is_routed_by_other_sites_until_withdrawn() {
    let mut h = Harness::with_options("bgpm", 3, 1, "adaptive", true);
    let a = h.name(0);
    init_ca(&h.sites[1].state_dir).expect("weft ca init on site b");
    h.start_agent(1);
    wait_for("the CA holder's API", Duration::from_secs(20), || h.get(1, "/api/v1/mesh"));
    let seed = format!("{}:7946", h.lab.sites()[1].uplinks[0].addr);
    let t = h.post(
        1,
        "/api/v1/mesh/tokens",
        &json!({"uses": 1, "ttl_s": 600, "learn": ["10.60.0.0/16"]}),
    );
    let token = t.expect("a token")["token"].as_str().unwrap().to_owned();
    let onprem = ["10.60.1.0/24", "10.61.1.0/24"];
    let (conf, socket) = start_router(&mut h, &onprem);
    wire_onprem_lan(&h);
    // a enrols learning 10.60.0.0/16, the range its token allows ...
    let base = std::fs::read_to_string(&h.sites[0].config).unwrap();
    std::fs::write(&h.sites[0].config, bgp_config(&h, &base, "\"10.60.0.0/16\"")).unwrap();
    let pid = h.start_agent_args(0, &["--join", &token, "--seed", &seed]);
    wait_for("a in b's mesh", Duration::from_secs(30), || prefixes_of(&h, 1, &a));
    // ... then its `learn` is widened without a new certificate.
    h.lab.kill(pid);
    let widened = bgp_config(&h, &base, "\"10.60.0.0/16\", \"10.61.0.0/16\"");
    std::fs::write(&h.sites[0].config, widened).unwrap();
    h.start_agent(0);
    let got = wait_for("a accepting both on-prem prefixes", Duration::from_secs(30), || {
        learnt(&h).filter(|l| l.iter().filter(|(_, why)| why.is_empty()).count() == 2)
    });
    assert_eq!(got.len(), 2, "{got:?}");
    let log = h.last_log(0);
    assert!(log.contains("learn range 10.61.0.0/16 is not in this site's certificate"), "{log}");
    let seen = wait_for("b taking 10.60.1.0/24 as a's", Duration::from_secs(30), || {
        prefixes_of(&h, 1, &a).filter(|p| p.iter().any(|x| x == "10.60.1.0/24"))
    });
    assert!(!seen.iter().any(|p| p == "10.61.1.0/24"), "outside a's certificate: {seen:?}");
    let iface = h.sites[1].interface.clone();
    let route = ip(&h, 1, &["route", "show", "10.60.1.0/24"]);
    assert!(route.contains(&format!("dev {iface}")), "b's route through its overlay: {route}");
    assert!(ip(&h, 1, &["route", "show", "10.61.1.0/24"]).trim().is_empty(), "no route outside");
    wait_for("b reaching 10.60.1.1 through a", Duration::from_secs(20), || {
        pings(&h, 1, "10.60.1.1").then_some(())
    });
    // The router withdraws 10.60.1.0/24: b loses it and its route.
    std::fs::write(&conf, router_conf(&h, &["10.61.1.0/24"])).unwrap();
    h.lab.exec_ok(2, &["birdc", "-s", socket.to_str().unwrap(), "configure"]).unwrap();
    wait_for("b losing 10.60.1.0/24", Duration::from_secs(30), || {
        prefixes_of(&h, 1, &a).filter(|p| !p.iter().any(|x| x == "10.60.1.0/24"))
    });
    wait_for("b's route to 10.60.1.0/24 removed", Duration::from_secs(10), || {
        ip(&h, 1, &["route", "show", "10.60.1.0/24"]).trim().is_empty().then_some(())
    });
    assert!(!pings(&h, 1, "10.60.1.1"), "no way to the withdrawn prefix");
}
