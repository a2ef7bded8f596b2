//! `wg set` against weftd with the real `wg` tool: a stock peer added at
//! run time carries traffic to a stock wireguard-go peer (also with a
//! preshared key), `wg show` lists it, removal works, and what Weft owns is
//! refused with an errno `wg` prints.

use std::time::Duration;

use crate::support::{Harness, wait_for};
use crate::{start_wireguard_go, wireguard_socket};

/// `wg ARGS…` in site 0; (exit success, stdout, stderr).
fn wg(h: &Harness, args: &[&str]) -> (bool, String, String) {
    let mut argv = vec!["wg"];
    argv.extend_from_slice(args);
    let out = h.lab.exec(0, &argv).expect("run wg");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn wg_set_adds_changes_and_removes_a_stock_peer_at_run_time_and_refuses_what_weft_owns() {
    let mut h = Harness::new("uapiset", 2, 1, "adaptive");
    let a_addr = h.lab.addr(0, 0).unwrap();
    let b_addr = h.lab.addr(1, 0).unwrap();
    let iface = h.sites[0].interface.clone();
    // Site a with no peer at all: b comes only through `wg set`.
    let config = h.dir.join("a-alone.toml");
    std::fs::write(
        &config,
        format!(
            "[site]\nname = \"a\"\nprivate_key_file = \"a.key\"\naddress = \"10.77.1.1/24\"\n\
             prefixes = [\"10.77.1.0/24\"]\ninterface = \"{iface}\"\nstate_dir = \"a-state\"\n\n\
             [[uplink]]\nname = \"u0\"\nbind = \"{a_addr}:51820\"\npriority = 1\n"
        ),
    )
    .unwrap();
    h.start_agent_with(0, &config);
    wait_for("weftd's UAPI socket", Duration::from_secs(10), || {
        wireguard_socket(&iface).exists().then_some(())
    });
    let b_iface = format!("wg{}", h.sites[1].interface);
    let go = start_wireguard_go(&mut h, &b_iface, a_addr, 0);
    let b_pub = h.sites[1].public_key.to_base64();
    let endpoint = format!("{b_addr}:51820");
    let (a, b) = (h.overlay(0), h.overlay(1));
    assert_eq!(h.ping(0, b, 1), 0, "no peer yet");

    // Add it.
    let add = [
        "set",
        &iface,
        "peer",
        &b_pub,
        "allowed-ips",
        "10.77.2.0/24",
        "endpoint",
        &endpoint,
        "persistent-keepalive",
        "1",
    ];
    let (ok, _, err) = wg(&h, &add);
    assert!(ok, "wg set: {err}");
    let (_, dump, _) = wg(&h, &["show", &iface, "dump"]);
    let row: Vec<&str> = dump.lines().nth(1).unwrap_or("").split('\t').collect();
    assert_eq!(row.first(), Some(&b_pub.as_str()), "{dump}");
    assert_eq!((row[2], row[3], row[7]), (endpoint.as_str(), "10.77.2.0/24", "1"), "{dump}");
    let t = h.wait_ping(0, b, Duration::from_secs(15));
    eprintln!("a -> b (added with wg set) answered after {t:?}");
    assert!(h.ping(1, a, 3) >= 2, "ping from wireguard-go's site to weftd's");
    let log = h.last_log(0);
    let name = format!("wg-{}", &h.sites[1].public_key.to_hex()[..8]);
    let line = format!(
        "wg set: stock peer {name} ({b_pub}) endpoint {endpoint}, allowed IPs [10.77.2.0/24]"
    );
    assert!(log.contains(&line), "{log}");
    // The API lists it as a site with its path.
    let sites = crate::api::client::local(&h, 0, "GET", "/api/v1/sites", None, &[]);
    assert_eq!(sites.code, 200, "{}", sites.text);
    let sites = sites.json();
    assert!(sites["items"].as_array().unwrap().iter().any(|s| s["id"] == name.as_str()), "{sites}");

    // A preshared key on both ends: a new session that still carries traffic
    // (with the key on one end only, no handshake would complete).
    let psk = h.dir.join("ab.psk");
    let key = h.lab.exec_ok(0, &["wg", "genpsk"]).unwrap();
    std::fs::write(&psk, key.trim()).unwrap();
    let psk = psk.to_str().unwrap();
    let (ok, _, err) = wg(&h, &["set", &iface, "peer", &b_pub, "preshared-key", psk]);
    assert!(ok, "wg set preshared-key: {err}");
    h.lab
        .exec_ok(
            1,
            &[
                "wg",
                "set",
                &b_iface,
                "peer",
                &h.sites[0].public_key.to_base64(),
                "preshared-key",
                psk,
            ],
        )
        .unwrap();
    let (_, keys, _) = wg(&h, &["show", &iface, "preshared-keys"]);
    assert!(keys.contains(key.trim()), "{keys}");
    let t = h.wait_ping(0, b, Duration::from_secs(15));
    eprintln!("a -> b with a preshared key answered after {t:?}");

    // Weft's settings: refused with EPERM and a logged reason; nothing changes.
    for (args, errno) in [
        (vec!["set", &iface, "listen-port", "4000"], "1"),
        (vec!["set", &iface, "fwmark", "7"], "1"),
        (vec!["set", &iface, "private-key", h.dir.join("b.key").to_str().unwrap()], "1"),
        // This site's own prefix.
        (
            vec![
                "set",
                &iface,
                "peer",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "endpoint",
                "192.0.2.1:1",
                "allowed-ips",
                "10.77.1.9/32",
            ],
            "98",
        ),
    ] {
        let (ok, _, err) = wg(&h, &args);
        assert!(!ok, "{args:?} was accepted");
        let expected =
            if errno == "1" { "Operation not permitted" } else { "Address already in use" };
        assert!(err.contains(expected), "{args:?}: {err}");
        let log = h.last_log(0);
        assert!(log.contains(&format!("wg set refused (errno {errno})")), "{log}");
    }
    let (_, port, _) = wg(&h, &["show", &iface, "listen-port"]);
    assert_eq!(port.trim(), "51820");
    assert!(h.ping(0, b, 3) >= 2, "the stock peer still carries traffic");

    // Remove it.
    let (ok, _, err) = wg(&h, &["set", &iface, "peer", &b_pub, "remove"]);
    assert!(ok, "wg set remove: {err}");
    let (_, peers, _) = wg(&h, &["show", &iface, "peers"]);
    assert_eq!(peers.trim(), "", "no peer left");
    assert_eq!(h.ping(0, b, 2), 0, "traffic stopped with the peer");
    h.lab.kill(go);
}
