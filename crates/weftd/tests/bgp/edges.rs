//! Two edges of one data centre learning the same on-prem prefix: site b
//! holds the mesh CA; sites a and d join with tokens that let them bring in
//! `10.60.0.0/16`, and both peer with the router at c (plain BIRD), which
//! announces `10.60.1.0/24` to each and holds the on-prem host `10.60.1.1`,
//! behind a LAN link to each edge. d asks to be preferred
//! (`learn_preference = 200`).
//!
//! - b routes the prefix to d (its `GET /api/v1/bgp` shows a as standby)
//!   and pings the host through d (b's counters of d grow, a's do not);
//!   each edge keeps it for itself and announces it to nobody;
//! - d loses the data centre (its LAN link and BGP session cut, so it
//!   withdraws the prefix): b moves the prefix to a and pings through a;
//!   when d is back, b moves it back.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use weftd::mesh::files::init_ca;

use crate::support::{Harness, wait_for};

/// Site index of each role.
const A: usize = 0;
const B: usize = 1;
const ROUTER: usize = 2;
const D: usize = 3;

/// An edge's configuration: `[bgp]` learning `10.60.0.0/16` from the router.
fn edge_config(h: &Harness, i: usize, extra: &str) -> String {
    let c_addr = h.lab.addr(ROUTER, 0).unwrap();
    let mut text = std::fs::read_to_string(&h.sites[i].config).unwrap();
    let _ = write!(
        text,
        "\n[bgp]\nlocal_as = 65001\nlearn = [\"10.60.0.0/16\"]\n{extra}\n[[bgp.neighbor]]\nname = \"router\"\naddress = \"{c_addr}\"\nremote_as = 65000\nmultihop = 4\n"
    );
    text
}

/// The router: one session with each edge, announcing `10.60.1.0/24` to both.
fn start_router(h: &mut Harness) -> PathBuf {
    let dir = h.dir.join("router");
    std::fs::create_dir_all(&dir).unwrap();
    let (conf, socket) = (dir.join("bird.conf"), dir.join("bird.ctl"));
    let c_addr = h.lab.addr(ROUTER, 0).unwrap();
    let mut text = format!(
        "router id {c_addr};\nprotocol device {{}}\nprotocol static onprem {{\n  ipv4;\n  route 10.60.1.0/24 unreachable;\n}}\n"
    );
    for (name, i) in [("weft_a", A), ("weft_d", D)] {
        let addr = h.lab.addr(i, 0).unwrap();
        let _ = write!(
            text,
            "protocol bgp {name} {{\n  local as 65000;\n  neighbor {addr} as 65001;\n  multihop 4;\n  ipv4 {{ import all; export where proto = \"onprem\"; }};\n}}\n"
        );
    }
    std::fs::write(&conf, text).unwrap();
    let log = std::fs::File::create(dir.join("bird.log")).unwrap();
    let mut cmd = h.lab.command(ROUTER, "bird").unwrap();
    cmd.args(["-f", "-c", conf.to_str().unwrap(), "-s", socket.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    h.lab.spawn_command(cmd).expect("start the router's bird");
    h.add_log("router bird", dir.join("bird.log"));
    socket
}

/// Runs `ip ARGS` in site `i`'s namespace; its output.
fn ip(h: &Harness, i: usize, args: &[&str]) -> String {
    let mut argv = vec!["ip"];
    argv.extend_from_slice(args);
    h.lab.exec_ok(i, &argv).unwrap_or_else(|e| panic!("ip {args:?} in site {i}: {e}"))
}

/// The router's route back to b's overlay address through edge `i`'s LAN
/// (metric: d's first).
fn route_back(h: &Harness, i: usize) -> [String; 5] {
    let (via, metric) = if i == D { ("192.168.61.1", "10") } else { ("192.168.60.1", "20") };
    let b = format!("{}/32", h.overlay(B));
    [b, "via".into(), via.into(), "metric".into(), metric.into()]
}

/// A LAN link between edge `i` and the router (`net` is 60 or 61): the
/// edge routes the on-prem range to the router, the router routes b's
/// overlay address back through the edge.
fn wire_lan(h: &Harness, i: usize, net: u8) {
    let (edge_ns, c_ns) = (h.lab.sites()[i].netns.clone(), h.lab.sites()[ROUTER].netns.clone());
    let (edge_if, c_if) = (format!("lan{i}"), format!("lanc{i}"));
    let out = std::process::Command::new("ip")
        .args(["link", "add", &edge_if, "netns", &edge_ns, "type", "veth", "peer", "name"])
        .args([&c_if, "netns", &c_ns])
        .output()
        .expect("ip");
    assert!(out.status.success(), "veth: {}", String::from_utf8_lossy(&out.stderr));
    ip(h, i, &["addr", "add", &format!("192.168.{net}.1/30"), "dev", &edge_if]);
    ip(h, i, &["link", "set", &edge_if, "up"]);
    ip(h, ROUTER, &["addr", "add", &format!("192.168.{net}.2/30"), "dev", &c_if]);
    ip(h, ROUTER, &["link", "set", &c_if, "up"]);
    ip(h, i, &["route", "add", "10.60.0.0/16", "via", &format!("192.168.{net}.2")]);
    let back = route_back(h, i);
    let mut args = vec!["route", "add"];
    args.extend(back.iter().map(String::as_str));
    args.extend(["dev", &c_if]);
    ip(h, ROUTER, &args);
    let on = h.lab.in_site(i, || std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"));
    on.expect("enter the edge's namespace").expect("forwarding on");
}

/// b's `GET /api/v1/bgp` `shared` entry for 10.60.1.0/24: (via, standby).
fn shared_at(h: &Harness, i: usize) -> Option<(String, Vec<String>)> {
    let s: Value = h.get(i, "/api/v1/bgp")?;
    let e = s["shared"].as_array()?.iter().find(|e| e["prefix"] == "10.60.1.0/24")?;
    let standby = e["standby"].as_array()?.iter().filter_map(|x| x.as_str().map(str::to_owned));
    Some((e["via"].as_str()?.to_owned(), standby.collect()))
}

/// b's WireGuard peer for site `of` (`GET /api/v1/peers`).
fn peer(h: &Harness, of: &str) -> Value {
    let page = h.get(B, "/api/v1/peers?limit=100").expect("b's peers");
    let items = page["items"].as_array().or_else(|| page.as_array()).expect("peers");
    items.iter().find(|p| p["site"] == of).cloned().unwrap_or(Value::Null)
}

/// Packets edge `i` sent to the router on its LAN link so far.
fn lan_tx(h: &Harness, i: usize) -> u64 {
    let out = ip(h, i, &["-s", "-j", "link", "show", "dev", &format!("lan{i}")]);
    let v: Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["stats64"]["tx"]["packets"].as_u64().expect("tx packets")
}

/// Whether b's peer `of` has 10.60.1.0/24 among its `AllowedIPs`.
fn allows(h: &Harness, of: &str) -> bool {
    let p = peer(h, of);
    p["allowed_prefixes"].as_array().is_some_and(|l| l.iter().any(|x| x == "10.60.1.0/24"))
}

/// b reaches the on-prem host through edge `via` and not through edge
/// `other`: b's `AllowedIPs` give the prefix to `via` only, the pings
/// succeed, and they leave for the router on `via`'s LAN link, not
/// `other`'s.
fn reaches_through(h: &Harness, (via, via_i): (&str, usize), (other, other_i): (&str, usize)) {
    wait_for(&format!("b's AllowedIPs: {via}'s only"), Duration::from_secs(5), || {
        (allows(h, via) && !allows(h, other)).then_some(())
    });
    wait_for(&format!("b reaching 10.60.1.1 through {via}"), Duration::from_secs(10), || {
        let ping = ["ping", "-c", "1", "-W", "1", "10.60.1.1"];
        h.lab.exec(B, &ping).is_ok_and(|o| o.status.success()).then_some(())
    });
    // b's route: to `via`, directly (a peer whose prefixes change gets new
    // paths and is relayed for the moment they take to come up).
    wait_for(&format!("b's route to {via}, direct"), Duration::from_secs(15), || {
        let routes = h.get(B, "/api/v1/routes?limit=100")?;
        let items = routes["items"].as_array().or_else(|| routes.as_array())?;
        let r = items.iter().find(|r| r["prefix"] == "10.60.1.0/24")?;
        (r["site"] == via && r["via"] == via).then_some(())
    });
    let (via0, other0) = (lan_tx(h, via_i), lan_tx(h, other_i));
    h.lab.exec_ok(B, &["ping", "-c", "5", "-i", "0.2", "10.60.1.1"]).unwrap();
    let (via1, other1) = (lan_tx(h, via_i), lan_tx(h, other_i));
    assert!(via1 >= via0 + 5, "through {via}: {via0} → {via1} packets");
    assert!(other1 < other0 + 5, "not through {other}: {other0} → {other1} packets");
}

/// `birdc ARGS` on the router.
fn router_birdc(h: &Harness, socket: &Path, args: &[&str]) -> String {
    let mut argv = vec!["birdc", "-s", socket.to_str().unwrap()];
    argv.extend_from_slice(args);
    h.lab.exec_ok(ROUTER, &argv).unwrap_or_default()
}

#[test]
fn two_edges_learning_the_same_prefix_carry_it_one_at_a_time_by_preference_and_reachability() {
    let mut h = Harness::with_options("bgpe", 4, 1, "adaptive", true);
    let (a, d) = (h.name(A), h.name(D));
    init_ca(&h.sites[B].state_dir).expect("weft ca init on site b");
    h.start_agent(B);
    wait_for("the CA holder's API", Duration::from_secs(20), || h.get(B, "/api/v1/mesh"));
    let seed = format!("{}:7946", h.lab.sites()[B].uplinks[0].addr);
    let body = json!({"uses": 2, "ttl_s": 600, "learn": ["10.60.0.0/16"]});
    let t = h.post(B, "/api/v1/mesh/tokens", &body).expect("a token");
    let token = t["token"].as_str().unwrap().to_owned();
    let socket = start_router(&mut h);
    wire_lan(&h, A, 60);
    wire_lan(&h, D, 61);
    ip(&h, ROUTER, &["addr", "add", "10.60.1.1/32", "dev", "lo"]);
    for (i, extra) in [(A, ""), (D, "learn_preference = 200")] {
        std::fs::write(&h.sites[i].config, edge_config(&h, i, extra)).unwrap();
        h.start_agent_args(i, &["--join", &token, "--seed", &seed]);
    }
    h.add_log("site d bird", h.sites[D].state_dir.join("bird").join("bird.log"));
    let got = wait_for("b sending 10.60.1.0/24 to d", Duration::from_secs(30), || {
        shared_at(&h, B).filter(|(via, _)| *via == d)
    });
    assert_eq!(got.1, std::slice::from_ref(&a), "a is the standby");
    // `weft bgp status` at b (no [bgp] there) says the same.
    let cli = Path::new(env!("CARGO_BIN_EXE_weftd")).with_file_name("weft");
    let out = std::process::Command::new(cli)
        .args(["bgp", "status", "--socket"])
        .arg(h.socket(B))
        .output()
        .expect("run weft");
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().find(|l| l.starts_with("10.60.1.0/24")).unwrap_or_default();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["10.60.1.0/24", d.as_str(), a.as_str()], "{text}");
    let route = ip(&h, B, &["route", "show", "10.60.1.0/24"]);
    assert!(route.contains(&format!("dev {}", h.sites[B].interface)), "b's route: {route}");
    reaches_through(&h, (&d, D), (&a, A));
    // Each edge keeps it (accepted, routed to its router) and announces it
    // to nobody.
    for (i, me) in [(A, &a), (D, &d)] {
        let (via, _) = wait_for("the edge keeping it", Duration::from_secs(10), || {
            shared_at(&h, i).filter(|(via, _)| via == me)
        });
        assert_eq!(&via, me);
        let status = h.get(i, "/api/v1/bgp").unwrap();
        assert_eq!(status["learnt"][0]["accepted"], true, "at {me}: {status}");
        let route = ip(&h, i, &["route", "get", "10.60.1.1"]);
        assert!(route.contains("via 192.168.6"), "at {me}, to its router: {route}");
    }
    let exported = router_birdc(&h, &socket, &["show", "route", "10.60.1.0/24", "all"]);
    assert!(!exported.contains("weft_"), "no edge announced it back: {exported}");
    // d loses the data centre: its LAN link and its BGP session.
    ip(&h, ROUTER, &["link", "set", &format!("lanc{D}"), "down"]);
    router_birdc(&h, &socket, &["disable", "weft_d"]);
    wait_for("b moving 10.60.1.0/24 to a", Duration::from_secs(10), || {
        (allows(&h, &a) && !allows(&h, &d)).then_some(())
    });
    wait_for("b showing 10.60.1.0/24 as a's alone", Duration::from_secs(5), || {
        shared_at(&h, B).is_none().then_some(())
    });
    reaches_through(&h, (&a, A), (&d, D));
    // d is back: preferred again.
    ip(&h, ROUTER, &["link", "set", &format!("lanc{D}"), "up"]);
    let mut args = vec!["route", "replace"];
    let back = route_back(&h, D);
    args.extend(back.iter().map(String::as_str));
    let c_if = format!("lanc{D}");
    args.extend(["dev", c_if.as_str()]);
    ip(&h, ROUTER, &args);
    router_birdc(&h, &socket, &["enable", "weft_d"]);
    wait_for("b moving 10.60.1.0/24 back to d", Duration::from_secs(15), || {
        shared_at(&h, B).filter(|(via, _)| *via == d)
    });
    reaches_through(&h, (&d, D), (&a, A));
}
