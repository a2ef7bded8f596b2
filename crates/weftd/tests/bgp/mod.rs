//! BGP at a site's edge in a namespace lab: sites a and b run `weftd`,
//! site c is a router running BIRD 2 (real, as a data centre's router
//! would) that peers with the BIRD `weftd` runs at a (`[bgp]`). The router
//! learns b's prefix from a with a's community and MED once a reaches b,
//! loses it when b is cut off (its agent killed), and learns it again when
//! b is back.

use std::fmt::Write as _;
use std::time::Duration;

use crate::support::{Harness, wait_for};

/// What the router's BIRD has learnt from a (`birdc show route all`).
fn router_routes(h: &Harness, socket: &std::path::Path) -> String {
    let argv =
        ["birdc", "-s", socket.to_str().unwrap(), "show", "route", "all", "protocol", "weft_a"];
    h.lab.exec_ok(2, &argv).unwrap_or_default()
}

#[test]
fn a_router_learns_the_mesh_prefixes_a_site_reaches_and_loses_those_it_cannot() {
    let mut h = Harness::new("bgp", 3, 1, "adaptive");
    let (a_addr, c_addr) = (h.lab.addr(0, 0).unwrap(), h.lab.addr(2, 0).unwrap());
    // Site a announces to the router at c (two routed hops away).
    let mut text = std::fs::read_to_string(&h.sites[0].config).unwrap();
    let _ = write!(
        text,
        "\n[bgp]\nlocal_as = 65001\ncommunities = [\"65001:100\"]\nmed = 50\n\n[[bgp.neighbor]]\nname = \"router\"\naddress = \"{c_addr}\"\nremote_as = 65000\nmultihop = 4\n"
    );
    std::fs::write(&h.sites[0].config, text).unwrap();
    // The router: BIRD 2 in site c's namespace, no weftd.
    let router_dir = h.dir.join("router");
    std::fs::create_dir_all(&router_dir).unwrap();
    let conf = router_dir.join("bird.conf");
    let socket = router_dir.join("bird.ctl");
    std::fs::write(
        &conf,
        format!(
            "router id {c_addr};\nprotocol device {{}}\nprotocol kernel {{ ipv4 {{ import all; export none; }}; learn; scan time 1; }}\nprotocol bgp weft_a {{\n  local as 65000;\n  neighbor {a_addr} as 65001;\n  multihop 4;\n  ipv4 {{ import all; export none; }};\n}}\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(router_dir.join("bird.log")).unwrap();
    let mut cmd = h.lab.command(2, "bird").unwrap();
    cmd.args(["-f", "-c", conf.to_str().unwrap(), "-s", socket.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    h.lab.spawn_command(cmd).expect("start the router's bird");
    h.add_log("router bird", router_dir.join("bird.log"));
    h.add_log("site a bird", h.sites[0].state_dir.join("bird").join("bird.log"));
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
