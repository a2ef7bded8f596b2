//! IPsec gateways as paths in a namespace lab: sites a and b run `weftd`;
//! site c is a "cloud gateway" that is plain strongSwan (its own charon,
//! configured over VICI by the test, no Weft) serving b's prefix as well
//! (10.77.2.1 on its loopback). a declares the gateway with `prefer =
//! "wireguard"` and `via = "b"`, so the prefix is routed into a's Weft
//! interface and a's data plane steers each class:
//!
//! - failover: traffic goes over WireGuard to b; with b's uplink cut it
//!   goes over IPsec to c (counted by c's CHILD_SA); with the link back,
//!   over WireGuard again. Every move is an `ipsec_path_changed` event.
//!   a's charon, killed, is started again by the agent and the path comes
//!   back.
//! - per class: a policy route ranks the gateway first for one source and
//!   excludes it for another: the first goes over IPsec while the rest
//!   takes WireGuard, and with b cut off the excluded class is not failed
//!   over.
//!
//! [`certs`]: a gateway with certificates from the mesh CA instead of a PSK.

mod certs;
mod clients;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use weft_lab::Impairment;
use weft_vici::{Client, Message, SiteToSite, check_success, parse_list_sa};

use crate::support::{Harness, wait_for};

const PREFIX: &str = "10.77.2.0/24";
const TARGET: &str = "10.77.2.1";
const PSK: &str = "a lab secret that is long enough";

/// The gateway's charon in site `site`: strongSwan's defaults (it installs
/// its own routes), Ed25519 certificates readable (pkcs8).
fn start_gateway(h: &mut Harness, site: usize, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let d = dir.display();
    let conf = dir.join("strongswan.conf");
    std::fs::write(
        &conf,
        format!(
            "charon {{\n  load = random nonce openssl aes sha1 sha2 hmac gmp pem pkcs1 pkcs8 x509 pubkey constraints kdf kernel-libipsec kernel-netlink socket-default vici\n  filelog {{\n    log {{\n      path = {d}/charon.log\n      flush_line = yes\n      default = 1\n    }}\n  }}\n  plugins {{\n    vici {{\n      socket = unix://{d}/charon.vici\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let mut cmd = h.lab.command(site, "unshare").unwrap();
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" /run && exec /usr/lib/ipsec/charon --use-syslog no")
        .arg("sh")
        .arg(dir.join("run"))
        .env("STRONGSWAN_CONF", &conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    h.lab.spawn_command(cmd).expect("start the gateway's charon");
    h.add_log("gateway charon", dir.join("charon.log"));
    let vici = dir.join("charon.vici");
    wait_for("the gateway's VICI socket", Duration::from_secs(10), || vici.exists().then_some(()));
    vici
}

/// Bytes the gateway's CHILD_SA received so far (0 without one).
fn gateway_bytes_in(vici: &Path) -> u64 {
    gateway_children(vici).iter().map(|c| c.bytes_in).sum()
}

/// The gateway's installed CHILD_SAs `gw`.
fn gateway_children(vici: &Path) -> Vec<weft_vici::ChildSa> {
    let Ok(mut c) = Client::connect(vici) else { return Vec::new() };
    let Ok((events, _)) = c.call_streaming("list-sas", "list-sa", &Message::new()) else {
        return Vec::new();
    };
    events.iter().flat_map(parse_list_sa).filter_map(|s| s.installed_child("gw").cloned()).collect()
}

/// The device a's kernel route to the prefix goes out of.
fn route_dev(h: &Harness) -> String {
    let out = h.lab.exec_ok(0, &["ip", "route", "show", PREFIX]).unwrap_or_default();
    out.split_whitespace().skip_while(|w| *w != "dev").nth(1).unwrap_or_default().to_owned()
}

/// a's routing, for failure messages.
fn routing(h: &Harness) -> String {
    let rules = h.lab.exec_ok(0, &["ip", "rule"]).unwrap_or_default();
    let routes = h.lab.exec_ok(0, &["ip", "route", "show", "table", "all"]).unwrap_or_default();
    format!("{rules}\n{routes}")
}

/// Ten 1200-byte pings from a (from `source`, else the site's address) to
/// the target: how many were answered.
fn pings_from(h: &Harness, source: Option<&str>) -> u32 {
    let mut argv = vec!["ping", "-c", "10", "-i", "0.05", "-s", "1200", "-W", "1"];
    if let Some(s) = source {
        argv.extend(["-I", s]);
    }
    argv.push(TARGET);
    let out = h
        .lab
        .exec(0, &argv)
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split(',')
        .find_map(|p| p.trim().strip_suffix(" received").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Pings and returns (answered, bytes the gateway's CHILD_SA took meanwhile).
fn pings_counted(h: &Harness, vici: &Path) -> (u32, u64) {
    pings_counted_from(h, vici, None)
}

/// [`pings_counted`] from `source`.
fn pings_counted_from(h: &Harness, vici: &Path, source: Option<&str>) -> (u32, u64) {
    let before = gateway_bytes_in(vici);
    let answered = pings_from(h, source);
    (answered, gateway_bytes_in(vici).saturating_sub(before))
}

/// The lab: three sites, c's plain strongSwan gateway serving the target
/// too, a's `[[ipsec]]` gateway "cloud" (WireGuard first through b), both
/// agents started. Returns the gateway's VICI socket.
fn gateway_lab(h: &mut Harness) -> PathBuf {
    let (a_addr, g_addr) = (h.lab.addr(0, 0).unwrap(), h.lab.addr(2, 0).unwrap());
    h.lab.exec_ok(2, &["ip", "addr", "add", &format!("{TARGET}/32"), "dev", "lo"]).unwrap();
    let gw_dir = h.dir.join("gateway");
    let vici = start_gateway(h, 2, &gw_dir);
    let gw = SiteToSite::new("gw", &g_addr.to_string(), &a_addr.to_string())
        .with_ts([PREFIX], ["10.77.1.0/24"]);
    let mut c = Client::connect(&vici).unwrap();
    check_success(&c.call("load-conn", &gw.load_conn()).unwrap()).unwrap();
    check_success(&c.call("load-shared", &gw.load_psk(PSK)).unwrap()).unwrap();
    let psk = h.dir.join("cloud.psk");
    std::fs::write(&psk, format!("{PSK}\n")).unwrap();
    let mut text = std::fs::read_to_string(&h.sites[0].config).unwrap();
    let _ = write!(
        text,
        "\n[[ipsec]]\nname = \"cloud\"\nremote = \"{g_addr}\"\npsk_file = \"{}\"\nremote_prefixes = [\"{PREFIX}\"]\nprobe = \"{TARGET}\"\nprefer = \"wireguard\"\nvia = \"b\"\n",
        psk.display()
    );
    std::fs::write(&h.sites[0].config, text).unwrap();
    h.add_log("site a charon", h.sites[0].state_dir.join("ipsec").join("charon.log"));
    h.start_agent(0);
    h.start_agent(1);
    wait_for("a's IPsec path alive", Duration::from_secs(30), || {
        let g = h.get(0, "/api/v1/ipsec")?;
        (g["gateways"][0]["alive"] == true).then_some(())
    });
    h.wait_ping(0, TARGET.parse().unwrap(), Duration::from_secs(20));
    vici
}

/// Kills (`-9`) the one charon in site `site`'s namespace.
fn kill_charon(h: &Harness, site: usize) {
    let ns = h.lab.site(site).unwrap().netns.clone();
    let pids = h.lab.exec_ok(site, &["ip", "netns", "pids", &ns]).unwrap_or_default();
    let charon: Vec<&str> = pids
        .split_whitespace()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "charon")
        })
        .collect();
    assert_eq!(charon.len(), 1, "one charon in site {site}: {charon:?}");
    h.lab.exec_ok(site, &["kill", "-9", charon[0]]).unwrap();
}

/// a's gateway "cloud" as `GET /api/v1/ipsec` shows it.
fn cloud(h: &Harness) -> Option<serde_json::Value> {
    Some(h.get(0, "/api/v1/ipsec")?["gateways"][0].clone())
}

#[test]
fn the_gateways_prefix_fails_over_from_wireguard_to_ipsec_and_back() {
    let mut h = Harness::new("ipsec", 3, 1, "fast");
    let vici = gateway_lab(&mut h);
    let weft_if = h.sites[0].interface.clone();

    // Both paths up: the IPsec one is probed (alive) but unused. The prefix
    // is routed into weft's interface: the data plane steers.
    assert_eq!(route_dev(&h), weft_if, "the data plane steers the prefix");
    assert_eq!(cloud(&h).unwrap()["route"], "wireguard", "WireGuard first");
    let (answered, over_ipsec) = pings_counted(&h, &vici);
    assert_eq!(answered, 10, "b answers over WireGuard");
    assert!(
        over_ipsec < 5_000,
        "the pings did not take the tunnel ({over_ipsec} bytes)\n{}",
        routing(&h)
    );

    // b cut off: the prefix moves to IPsec, the gateway answers.
    h.lab.set_link(1, 0, Impairment::down()).unwrap();
    wait_for("best-effort traffic moved to the tunnel", Duration::from_secs(15), || {
        (cloud(&h)?["route"] == "ipsec").then_some(())
    });
    let steered_before = cloud(&h).unwrap()["steered_packets"].as_u64().unwrap();
    let (answered, over_ipsec) = pings_counted(&h, &vici);
    assert_eq!(answered, 10, "the gateway answers over IPsec");
    assert!(over_ipsec >= 10 * 1200, "the pings took the tunnel ({over_ipsec} bytes)");
    // The agent's view (its counters are read from charon every second).
    wait_for("a's API counting the pings out of the tunnel", Duration::from_secs(5), || {
        let g = h.get(0, "/api/v1/ipsec")?;
        let gw = &g["gateways"][0];
        (gw["route"] == "ipsec" && gw["bytes_out"].as_u64()? >= 10 * 1200).then_some(())
    });
    let steered = cloud(&h).unwrap()["steered_packets"].as_u64().unwrap() - steered_before;
    assert!(steered >= 10, "a's data plane handed the pings to the tunnel ({steered})");
    assert_eq!(route_dev(&h), weft_if, "the kernel route did not move");

    let m = h.metrics_text(0);
    for line in [
        "weft_ipsec_routed{gateway=\"cloud\"} 1",
        "weft_ipsec_path_alive{gateway=\"cloud\"} 1",
        "weft_ipsec_route_changes_total{gateway=\"cloud\"} 1",
    ] {
        assert!(m.lines().any(|l| l == line), "no {line:?} in /metrics");
    }

    // b back: WireGuard again.
    h.lab.set_link(1, 0, Impairment::default()).unwrap();
    wait_for("best-effort traffic back on WireGuard", Duration::from_secs(30), || {
        (cloud(&h)?["route"] == "wireguard").then_some(())
    });
    let (answered, over_ipsec) = pings_counted(&h, &vici);
    assert_eq!(answered, 10, "b answers over WireGuard again");
    assert!(over_ipsec < 5_000, "the pings left the tunnel ({over_ipsec} bytes)");
    let events = h.get(0, "/api/v1/events/history").unwrap();
    let moves: Vec<&str> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "ipsec_path_changed" && e["class"] == "best-effort")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(moves, ["ipsec", "wireguard"], "{events}");

    // a's charon killed: the agent starts it again and the path comes back.
    kill_charon(&h, 0);
    wait_for("a's charon started again, its path alive", Duration::from_secs(30), || {
        let g = h.get(0, "/api/v1/ipsec")?;
        (g["charon_starts"] == 2 && g["gateways"][0]["alive"] == true).then_some(())
    });
    assert_eq!(cloud(&h).unwrap()["route"], "wireguard", "still WireGuard first");
    let (answered, over_ipsec) = pings_counted(&h, &vici);
    assert_eq!(answered, 10, "b answers over WireGuard after charon's restart");
    assert!(over_ipsec < 5_000, "the pings stayed off the tunnel ({over_ipsec} bytes)");
}

/// A policy that ranks the gateway first for traffic from 10.77.1.77 and
/// excludes it for traffic from 10.77.1.88.
const PER_CLASS: &str = r#"[policy]
name = "per-class"
default = "allow"

[[route]]
name = "to-the-cloud"
from = "10.77.1.77/32"
class = "interactive"
uplinks = ["ipsec:cloud"]

[[route]]
name = "never-ipsec"
from = "10.77.1.88/32"
class = "bulk"
exclude_uplinks = ["ipsec:cloud"]
"#;

/// Applies `policy` at a through its API (with its token).
fn apply_policy(h: &Harness, policy: &str) {
    let file = h.dir.join("per-class.toml");
    std::fs::write(&file, policy).unwrap();
    let token = std::fs::read_to_string(h.sites[0].state_dir.join("api.token")).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {}", token.trim()))
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg("--unix-socket")
        .arg(h.socket(0))
        .arg("http://weft/api/v1/policy")
        .output()
        .expect("run curl");
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.trim_end().ends_with("200"), "policy apply failed: {out}");
}

/// The route of the profile of class `class` in the gateway's view.
fn class_route(gw: &serde_json::Value, class: &str) -> Option<String> {
    gw["classes"]
        .as_array()?
        .iter()
        .find(|c| c["class"] == class)
        .and_then(|c| c["route"].as_str().map(str::to_owned))
}

#[test]
fn a_policy_route_sends_one_class_over_ipsec_while_the_rest_takes_wireguard() {
    let mut h = Harness::new("ipsecc", 3, 1, "fast");
    for extra in ["10.77.1.77/32", "10.77.1.88/32"] {
        h.lab.exec_ok(0, &["ip", "addr", "add", extra, "dev", "lo"]).unwrap();
    }
    let vici = gateway_lab(&mut h);
    apply_policy(&h, PER_CLASS);
    wait_for("the classes' choices", Duration::from_secs(10), || {
        let gw = cloud(&h)?;
        (class_route(&gw, "interactive")? == "ipsec"
            && class_route(&gw, "bulk")? == "wireguard"
            && class_route(&gw, "best-effort")? == "wireguard")
            .then_some(())
    });

    // Both paths up: the class the route ranks the gateway first for takes
    // the tunnel, the rest WireGuard.
    let (answered, over_ipsec) = pings_counted_from(&h, &vici, Some("10.77.1.77"));
    assert_eq!(answered, 10, "the gateway answers the class routed over IPsec");
    assert!(over_ipsec >= 10 * 1200, "that class took the tunnel ({over_ipsec} bytes)");
    let (answered, over_ipsec) = pings_counted(&h, &vici);
    assert_eq!(answered, 10, "b answers best-effort traffic over WireGuard");
    assert!(over_ipsec < 5_000, "best-effort stayed off the tunnel ({over_ipsec} bytes)");
    let (answered, over_ipsec) = pings_counted_from(&h, &vici, Some("10.77.1.88"));
    assert_eq!(answered, 10, "b answers the class that excludes the gateway");
    assert!(over_ipsec < 5_000, "the excluded class stayed off the tunnel ({over_ipsec} bytes)");

    // b cut off: best-effort fails over to IPsec; the class that excludes
    // the gateway does not.
    h.lab.set_link(1, 0, Impairment::down()).unwrap();
    wait_for("best-effort failed over", Duration::from_secs(15), || {
        let gw = cloud(&h)?;
        (class_route(&gw, "best-effort")? == "ipsec").then_some(())
    });
    assert_eq!(class_route(&cloud(&h).unwrap(), "bulk").as_deref(), Some("wireguard"));
    let (answered, over_ipsec) = pings_counted(&h, &vici);
    assert_eq!(answered, 10, "best-effort reaches the gateway over IPsec");
    assert!(over_ipsec >= 10 * 1200, "best-effort took the tunnel ({over_ipsec} bytes)");
    let (answered, over_ipsec) = pings_counted_from(&h, &vici, Some("10.77.1.88"));
    assert_eq!(answered, 0, "the excluded class is not failed over to IPsec");
    assert!(over_ipsec < 5_000, "nothing of it entered the tunnel ({over_ipsec} bytes)");
    let events = h.get(0, "/api/v1/events/history").unwrap();
    let moved: Vec<&str> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "ipsec_path_changed")
        .filter_map(|e| e["class"].as_str())
        .collect();
    assert_eq!(moved, ["best-effort"], "{events}");
}
