//! Stock wireguard-go runs between two lab sites (the agent's reference peer).

use std::path::Path;
use std::time::{Duration, Instant};

use weft_lab::Impairment;

use crate::common::{lab, ping};

fn wg_key(cmd: &str, input: Option<&str>) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("wg")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("wg");
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "wg {cmd}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn wireguard_go_tunnels_between_two_sites_over_an_emulated_path() {
    let mut lab = lab(2, 1);
    lab.set_link("a", 0, Impairment::delay(Duration::from_millis(10))).unwrap();
    let dir = Path::new("/run/weft-lab").join(lab.name());
    let keys: Vec<(String, String)> = (0..2)
        .map(|_| {
            let private = wg_key("genkey", None);
            let public = wg_key("pubkey", Some(&private));
            (private, public)
        })
        .collect();
    // /var/run/wireguard/<iface>.sock is shared by all namespaces: names must differ.
    let ifaces: Vec<String> =
        ["a", "b"].iter().map(|s| format!("wg{}{s}", lab.name().replace('-', ""))).collect();
    for (i, site) in ["a", "b"].into_iter().enumerate() {
        let iface = &ifaces[i];
        assert!(iface.len() <= 15, "{iface}");
        let mut cmd = lab.command(site, "wireguard-go").unwrap();
        cmd.args(["-f", iface])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        lab.spawn_command(cmd).unwrap();
        let sock = Path::new("/var/run/wireguard").join(format!("{iface}.sock"));
        let t = Instant::now();
        while !sock.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "wireguard-go did not create {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let keyfile = dir.join(format!("{site}.key"));
        std::fs::write(&keyfile, &keys[i].0).unwrap();
        let peer = 1 - i;
        let endpoint = format!("{}:51820", lab.addr(["a", "b"][peer], 0).unwrap());
        let overlay = format!("10.99.0.{}/24", i + 1);
        let peer_ip = format!("10.99.0.{}/32", peer + 1);
        let k = keyfile.to_str().unwrap();
        let wg = [
            "wg",
            "set",
            iface,
            "private-key",
            k,
            "listen-port",
            "51820",
            "peer",
            &keys[peer].1,
            "endpoint",
            &endpoint,
            "allowed-ips",
            &peer_ip,
        ];
        lab.exec_ok(site, &wg).unwrap();
        lab.exec_ok(site, &["ip", "addr", "add", &overlay, "dev", iface]).unwrap();
        lab.exec_ok(site, &["ip", "link", "set", iface, "up"]).unwrap();
    }
    let p = ping(&lab, "a", "10.99.0.1".parse().unwrap(), "10.99.0.2".parse().unwrap(), 5, "0.1");
    assert!(p.received >= 4, "{p:?}");
    let rtt = p.avg_ms.unwrap();
    assert!((18.0..=40.0).contains(&rtt), "RTT through wireguard-go over a 10 ms uplink: {rtt} ms");
    let shown = lab.exec_ok("a", &["wg", "show", &ifaces[0], "latest-handshakes"]).unwrap();
    assert!(!shown.trim().ends_with("\t0"), "no handshake: {shown}");
}
