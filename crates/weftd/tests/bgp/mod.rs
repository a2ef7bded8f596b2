//! BGP at a site's edge in a namespace lab: sites a and b run `weftd`,
//! site c is a router running BIRD 2 (real, as a data centre's router
//! would) that peers with the BIRD `weftd` runs at a (`[bgp]`).
//!
//! - The router learns b's prefix from a with a's community and MED once a
//!   reaches b, loses it when b is cut off (its agent killed), and learns
//!   it again when b is back.
//! - The router announces on-prem prefixes to a: a learns those inside its
//!   `learn` ranges that overlap no site's prefix, never sends them back,
//!   and loses them when the router withdraws them.

mod edges;
mod mesh;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Harness, wait_for};

/// What the router's BIRD has learnt from a (`birdc show route all`).
fn router_routes(h: &Harness, socket: &Path) -> String {
    let argv =
        ["birdc", "-s", socket.to_str().unwrap(), "show", "route", "all", "protocol", "weft_a"];
    h.lab.exec_ok(2, &argv).unwrap_or_default()
}

/// Gives site a a `[bgp]` section peering with the router at c; `extra`
/// goes into `[bgp]`.
fn configure_a(h: &Harness, extra: &str) {
    let c_addr = h.lab.addr(2, 0).unwrap();
    let mut text = std::fs::read_to_string(&h.sites[0].config).unwrap();
    let _ = write!(
        text,
        "\n[bgp]\nlocal_as = 65001\ncommunities = [\"65001:100\"]\nmed = 50\n{extra}\n[[bgp.neighbor]]\nname = \"router\"\naddress = \"{c_addr}\"\nremote_as = 65000\nmultihop = 4\n"
    );
    std::fs::write(&h.sites[0].config, text).unwrap();
}

/// The router's BIRD configuration: a session with a, announcing the
/// static `onprem` routes to it.
fn router_conf(h: &Harness, onprem: &[&str]) -> String {
    let (a_addr, c_addr) = (h.lab.addr(0, 0).unwrap(), h.lab.addr(2, 0).unwrap());
    let mut routes = String::new();
    for p in onprem {
        let _ = writeln!(routes, "  route {p} unreachable;");
    }
    format!(
        "router id {c_addr};\nprotocol device {{}}\nprotocol kernel {{ ipv4 {{ import all; export none; }}; learn; scan time 1; }}\nprotocol static onprem {{\n  ipv4;\n{routes}}}\nprotocol bgp weft_a {{\n  local as 65000;\n  neighbor {a_addr} as 65001;\n  multihop 4;\n  ipv4 {{ import all; export where proto = \"onprem\"; }};\n}}\n"
    )
}

/// Starts the router: BIRD 2 in site c's namespace, no weftd. Returns its
/// configuration file and control socket.
fn start_router(h: &mut Harness, onprem: &[&str]) -> (PathBuf, PathBuf) {
    let router_dir = h.dir.join("router");
    std::fs::create_dir_all(&router_dir).unwrap();
    let conf = router_dir.join("bird.conf");
    let socket = router_dir.join("bird.ctl");
    std::fs::write(&conf, router_conf(h, onprem)).unwrap();
    let log = std::fs::File::create(router_dir.join("bird.log")).unwrap();
    let mut cmd = h.lab.command(2, "bird").unwrap();
    cmd.args(["-f", "-c", conf.to_str().unwrap(), "-s", socket.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    h.lab.spawn_command(cmd).expect("start the router's bird");
    h.add_log("router bird", router_dir.join("bird.log"));
    h.add_log("site a bird", h.sites[0].state_dir.join("bird").join("bird.log"));
    (conf, socket)
}

#[test]
fn a_router_learns_the_mesh_prefixes_a_site_reaches_and_loses_those_it_cannot() {
    let mut h = Harness::new("bgp", 3, 1, "adaptive");
    configure_a(&h, "");
    let (_, socket) = start_router(&mut h, &[]);
    h.start_agent(0);
    let b = h.start_agent(1);
    let b_prefix = "10.77.2.0/24";
    let learnt = wait_for("the router learning b's prefix", Duration::from_secs(30), || {
        let routes = router_routes(&h, &socket);
        routes.contains(b_prefix).then_some(routes)
    });
    assert!(learnt.contains("(65001,100)"), "the community: {learnt}");
    assert!(learnt.contains("BGP.med: 50"), "the MED: {learnt}");
    assert!(!learnt.contains("10.77.1.0/24"), "a's own prefix is not announced: {learnt}");
    // b cut off: withdrawn; b back: announced again.
    h.lab.kill(b);
    wait_for("the router losing b's prefix", Duration::from_secs(30), || {
        (!router_routes(&h, &socket).contains(b_prefix)).then_some(())
    });
    h.start_agent(1);
    wait_for("the router learning b's prefix again", Duration::from_secs(30), || {
        router_routes(&h, &socket).contains(b_prefix).then_some(())
    });
}

/// `weft bgp status` against site a's agent (the CLI built beside
/// `weftd`): its output.
fn weft_bgp_status(h: &Harness) -> String {
    let cli = Path::new(env!("CARGO_BIN_EXE_weftd")).with_file_name("weft");
    assert!(cli.exists(), "{} is missing: build the workspace first", cli.display());
    let out = std::process::Command::new(cli)
        .args(["bgp", "status", "--socket"])
        .arg(h.socket(0))
        .output()
        .expect("run weft");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "weft bgp status: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Site a's learnt prefixes as `prefix → refusal` ("" when accepted).
fn learnt(h: &Harness) -> Option<Vec<(String, String)>> {
    let s: Value = h.get(0, "/api/v1/bgp")?;
    let list = s["learnt"].as_array()?;
    Some(
        list.iter()
            .map(|l| {
                let prefix = l["prefix"].as_str().unwrap_or_default().to_owned();
                let why = l["refused"].as_str().unwrap_or_default().to_owned();
                assert_eq!(l["accepted"].as_bool(), Some(why.is_empty()), "{l}");
                assert_eq!(l["neighbor"], "router", "{l}");
                (prefix, why)
            })
            .collect(),
    )
}

#[test]
fn a_site_learns_on_prem_prefixes_inside_learn_clear_of_the_mesh_until_the_router_withdraws_them() {
    let mut h = Harness::new("bgpl", 3, 1, "adaptive");
    configure_a(&h, "announce_local = true\nlearn = [\"10.60.0.0/16\", \"10.77.0.0/16\"]");
    // On-prem 10.60.1.0/24 and 10.60.2.0/24; 10.99.1.0/24 is outside
    // `learn`; 10.77.2.0/25 lies in b's prefix.
    let onprem = ["10.60.1.0/24", "10.60.2.0/24", "10.99.1.0/24", "10.77.2.0/25"];
    let (conf, socket) = start_router(&mut h, &onprem);
    h.start_agent(0);
    h.start_agent(1);
    let got = wait_for("a learning the on-prem prefixes", Duration::from_secs(30), || {
        learnt(&h).filter(|l| l.len() >= 3 && l.iter().any(|(p, _)| p == "10.77.2.0/25"))
    });
    let refusal = |prefix: &str| got.iter().find(|(p, _)| p == prefix).map(|(_, w)| w.clone());
    assert_eq!(refusal("10.60.1.0/24").as_deref(), Some(""), "accepted: {got:?}");
    assert_eq!(refusal("10.60.2.0/24").as_deref(), Some(""), "accepted: {got:?}");
    // BIRD's import filter keeps what lies outside `learn` out of its table.
    assert_eq!(refusal("10.99.1.0/24"), None, "outside learn: {got:?}");
    assert_eq!(
        refusal("10.77.2.0/25").as_deref(),
        Some("overlaps site b's prefix 10.77.2.0/24"),
        "{got:?}"
    );
    // Never sent back to the router it came from, though a announces its
    // own prefix and b's.
    wait_for("the router learning a's and b's prefixes", Duration::from_secs(30), || {
        let routes = router_routes(&h, &socket);
        (routes.contains("10.77.1.0/24") && routes.contains("10.77.2.0/24")).then_some(())
    });
    let routes = router_routes(&h, &socket);
    assert!(!routes.contains("10.60.1.0/24") && !routes.contains("10.60.2.0/24"), "{routes}");
    let status = h.get(0, "/api/v1/bgp").unwrap();
    assert_eq!(status["neighbors"][0]["import"], true, "{status}");
    assert_eq!(status["neighbors"][0]["session"], "up: Established", "{status}");
    let cli = weft_bgp_status(&h);
    for line in [
        "learns 10.60.0.0/16 10.77.0.0/16",
        "10.60.1.0/24",
        "accepted",
        "up: Established",
        "refused: overlaps site b's prefix 10.77.2.0/24",
    ] {
        assert!(cli.contains(line), "{line:?} not in: {cli}");
    }
    // The router withdraws 10.60.1.0/24: a loses it.
    std::fs::write(&conf, router_conf(&h, &["10.60.2.0/24", "10.99.1.0/24"])).unwrap();
    h.lab.exec_ok(2, &["birdc", "-s", socket.to_str().unwrap(), "configure"]).unwrap();
    let after = wait_for("a losing the withdrawn prefix", Duration::from_secs(30), || {
        learnt(&h).filter(|l| !l.iter().any(|(p, _)| p == "10.60.1.0/24"))
    });
    assert_eq!(after, vec![("10.60.2.0/24".to_owned(), String::new())]);
}
