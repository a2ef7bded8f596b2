//! An IPsec client of a connection profile: site a runs `weftd` (no
//! `[[ipsec]]` gateway); in site b's namespace a plain strongSwan charon
//! (no Weft) loads the `NAME.swanctl.conf` that `weft profile export
//! --ipsec` wrote, with the client's address on its loopback. a's agent
//! starts its own charon for the client and answers its IKE: the client's
//! pings to a's address go through the CHILD_SA (counted by the client's
//! SA). a's charon, killed, is started again by the agent with the client
//! loaded. After `weft profile revoke`, a's SA is gone and the pings are
//! not answered.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use weft_vici::{Client, Message, parse_list_sa};

use super::{kill_charon, start_gateway};
use crate::profiles::weft;
use crate::support::{Harness, wait_for};

/// `swanctl ARGS` against the charon of `vici` (its `strongswan.conf` beside it).
fn swanctl(vici: &Path, args: &[&str]) -> std::process::Output {
    let dir = vici.parent().unwrap();
    Command::new("swanctl")
        .args(args)
        .arg("--uri")
        .arg(format!("unix://{}", vici.display()))
        .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
        .output()
        .expect("run swanctl")
}

/// The installed CHILD_SAs `child` of the charon of `vici`.
fn children(vici: &Path, child: &str) -> Vec<weft_vici::ChildSa> {
    let Ok(mut c) = Client::connect(vici) else { return Vec::new() };
    let Ok((events, _)) = c.call_streaming("list-sas", "list-sa", &Message::new()) else {
        return Vec::new();
    };
    events
        .iter()
        .flat_map(parse_list_sa)
        .filter_map(|s| s.installed_child(child).cloned())
        .collect()
}

/// Ten pings from the client's address in b to `to`: how many were answered.
fn client_pings(h: &Harness, source: &str, to: &str) -> u32 {
    let argv = ["ping", "-c", "10", "-i", "0.05", "-W", "1", "-I", source, to];
    let out = h
        .lab
        .exec(1, &argv)
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split(',')
        .find_map(|p| p.trim().strip_suffix(" received").and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

#[test]
fn an_ipsec_client_from_an_exported_profile_reaches_the_site_until_revoked() {
    let mut h = Harness::new("ipsec-client", 2, 1, "adaptive");
    let a_charon = h.sites[0].state_dir.join("ipsec");
    h.add_log("site a charon", a_charon.join("charon.log"));
    h.start_agent(0);
    wait_for("a's API", Duration::from_secs(15), || h.get(0, "/api/v1/status"));
    let name = "roadwarrior";
    let site_a = h.name(0);
    let out_dir = h.dir.join("profiles");
    let out = out_dir.to_str().unwrap();
    let said =
        weft(&h, 0, &["profile", "export", name, "--sites", &site_a, "--out", out, "--ipsec"]);
    assert!(said.contains("IKEv2 with a pre-shared key"), "{said}");
    let text = std::fs::read_to_string(out_dir.join(format!("{name}.swanctl.conf"))).unwrap();
    let psk = text.lines().find_map(|l| l.trim().strip_prefix("secret = 0x")).unwrap();
    let address = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("local_ts = "))
        .and_then(|a| a.strip_suffix("/32"))
        .unwrap()
        .to_owned();
    // The site knows the client speaks IPsec, and never says its key.
    let listed = h.get(0, "/api/v1/profiles").unwrap();
    assert_eq!(listed["items"][0]["ipsec"], true, "{listed}");
    assert!(!listed.to_string().contains(psk), "the key came back: {listed}");

    h.lab.exec_ok(1, &["ip", "addr", "add", &format!("{address}/32"), "dev", "lo"]).unwrap();
    let client_dir = h.dir.join("client");
    let vici = start_gateway(&mut h, 1, &client_dir);
    wait_for("the client's charon", Duration::from_secs(10), || {
        swanctl(&vici, &["--stats"]).status.success().then_some(())
    });
    let file = out_dir.join(format!("{name}.swanctl.conf"));
    let load = swanctl(&vici, &["--load-all", "--noprompt", "--file", file.to_str().unwrap()]);
    assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stdout));
    let child = format!("weft-{site_a}");
    // a's charon starts on demand and loads the client within a second or two.
    wait_for("the client's CHILD_SA with a", Duration::from_secs(10), || {
        let out = swanctl(&vici, &["--initiate", "--child", &child, "--timeout", "3"]);
        out.status.success().then_some(())
    });
    let a_overlay = h.overlay(0).to_string();
    let before: u64 = children(&vici, &child).iter().map(|c| c.bytes_in).sum();
    let answered = client_pings(&h, &address, &a_overlay);
    let after: u64 = children(&vici, &child).iter().map(|c| c.bytes_in).sum();
    eprintln!("IPsec client: {answered}/10 pings answered by a, {} bytes in", after - before);
    assert!(answered >= 8, "the IPsec client reached a {answered}/10 times");
    assert!(after - before >= 8 * 84, "the replies came through the CHILD_SA: {}", after - before);

    // a's charon killed: the agent starts it again and loads the client
    // again; the client, starting afresh, is answered.
    kill_charon(&h, 0);
    let _ = swanctl(&vici, &["--terminate", "--ike", &child, "--force", "--timeout", "1"]);
    wait_for("the client's CHILD_SA with a's new charon", Duration::from_secs(10), || {
        let out = swanctl(&vici, &["--initiate", "--child", &child, "--timeout", "3"]);
        out.status.success().then_some(())
    });
    let answered = client_pings(&h, &address, &a_overlay);
    assert!(answered >= 8, "after a's charon restarted: {answered}/10");

    let said = weft(&h, 0, &["profile", "revoke", name]);
    assert!(said.contains("revoked client"), "{said}");
    let conn = format!("weft-client-{name}");
    wait_for("a's SA with the client gone", Duration::from_secs(5), || {
        children(&a_charon.join("charon.vici"), &conn).is_empty().then_some(())
    });
    assert_eq!(client_pings(&h, &address, &a_overlay), 0, "the revoked client still reaches a");
}
