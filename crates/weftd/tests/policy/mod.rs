//! Policies in a running lab: applied through the agent's API, steering real
//! flows onto the uplinks their routes ask for, denying a segment, refusing a
//! policy whose own tests fail, rolling back, and surviving a restart.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use serde_json::Value;
use weft_lab::Impairment;

use super::Stream;
use super::support::{Harness, active_uplink, count, paths, wait_for};

/// Calls the agent API of site `i` with curl inside the site; (HTTP status, JSON).
fn api(
    h: &Harness,
    i: usize,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: bool,
) -> (u16, Value) {
    let mut args: Vec<String> =
        ["curl", "-s", "--max-time", "10", "-X", method, "-w", "\n%{http_code}"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    if token {
        let t = std::fs::read_to_string(h.sites[i].state_dir.join("api.token")).expect("api token");
        args.extend(["-H".to_owned(), format!("Authorization: Bearer {}", t.trim())]);
    }
    if let Some(b) = body {
        let file = h.dir.join(format!("body-{i}-{}.toml", std::process::id()));
        std::fs::write(&file, b).expect("write body");
        args.extend(["--data-binary".to_owned(), format!("@{}", file.display())]);
    }
    args.push(format!("127.0.0.1:7420{path}"));
    let out = h.lab.exec_ok(i, &args).expect("curl");
    let (json, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(json).unwrap_or(Value::Null))
}

/// Bytes site 0 has sent to peer `b` over each local uplink.
fn tx_by_uplink(status: &Value) -> (u64, u64) {
    let sum = |u: &str| {
        paths(status)
            .iter()
            .filter(|p| p["peer"] == "b" && p["uplink"] == u)
            .map(|p| p["tx_bytes"].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    (sum("u0"), sum("u1"))
}

/// Every uplink at the same priority (so preferences decide), and site a's
/// uplinks priced: u0 cheap, u1 dear.
fn equal_priorities_and_prices(h: &Harness) {
    for (i, g) in h.sites.iter().enumerate() {
        let mut text = std::fs::read_to_string(&g.config).unwrap();
        text = text.replace("priority = 2\n", "priority = 1\n");
        if i == 0 {
            text = text.replacen("priority = 1\n", "priority = 1\ncost_per_gb = 0.01\n", 1);
            text = text.replacen(
                "priority = 1\n\n[[peer]]",
                "priority = 1\ncost_per_gb = 1.0\n\n[[peer]]",
                1,
            );
        }
        std::fs::write(&g.config, text).unwrap();
    }
}

const STEERING: &str = r#"
[policy]
name = "steering"
default = "allow"

[groups]
vault = ["10.77.2.1/32"]

[apps.voip]
protocol = "udp"
ports = "5060-5061"

[apps.backup]
protocol = "tcp"
ports = 873

[[route]]
name = "voice"
app = "voip"
class = "realtime"
prefer = "lowest-latency"

[[route]]
name = "backups"
app = "backup"
class = "bulk"
prefer = "lowest-cost"

[[acl]]
name = "vault-udp-9000"
action = "deny"
to = "group:vault"
protocol = "udp"
ports = 9000

[[test]]
name = "voip is realtime"
app = "voip"
class = "realtime"
expect = "allow"

[[test]]
name = "the vault port is closed"
to = "group:vault"
protocol = "udp"
ports = 9000
expect = "deny"
"#;

#[test]
fn an_applied_policy_sends_voip_on_the_fast_uplink_bulk_on_the_cheap_one_and_denies_the_vault() {
    let mut h = Harness::new("steer", 2, 2, "adaptive");
    equal_priorities_and_prices(&h);
    // u0 of site a is cheap but 30 ms slower per round trip.
    h.lab.set_link(0, 0, Impairment::delay(Duration::from_millis(15))).unwrap();
    h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));

    let (code, body) = api(&h, 0, "POST", "/api/v1/policy", Some(STEERING), false);
    assert_eq!(code, 401, "an apply without the token must be refused: {body}");
    assert_eq!(body["code"], "unauthorized", "{body}");
    let (code, body) = api(&h, 0, "POST", "/api/v1/policy", Some(STEERING), true);
    assert_eq!(code, 200, "apply failed: {body}");
    assert_eq!(body["version"], 1);

    let s = wait_for("realtime on u1 and bulk on u0", Duration::from_secs(10), || {
        let s = h.try_status(0)?;
        // The status is published a little after the apply answers: wait for it.
        (s["policy"]["version"] == 1
            && active_uplink(&s, "b", "realtime")? == "u1"
            && active_uplink(&s, "b", "bulk")? == "u0")
            .then_some(s)
    });
    assert_eq!(s["policy"]["version"], 1, "{}", s["policy"]);

    // Voice traffic: 250 datagrams of 100 bytes, all on u1.
    let (u0, u1) = tx_by_uplink(&s);
    let stream = Stream::start(&h, 0, 1, 5060, Duration::from_millis(4));
    std::thread::sleep(Duration::from_secs(1));
    let (sent, got) = stream.finish();
    std::thread::sleep(Duration::from_millis(300));
    let after = h.try_status(0).unwrap();
    let (d0, d1) = (tx_by_uplink(&after).0 - u0, tx_by_uplink(&after).1 - u1);
    eprintln!("voip: {sent} sent, {} arrived; tx delta u0 {d0} B, u1 {d1} B", got.len());
    assert!(got.len() as u64 * 10 >= sent * 9, "voip lost: {} of {sent}", got.len());
    assert!(d1 >= sent * 100, "voip bytes did not go over u1: u1 +{d1}, u0 +{d0}");
    assert!(d0 < d1 / 10, "voip leaked onto u0: u0 +{d0}, u1 +{d1}");

    // Bulk traffic: 2 MiB over tcp/873, on u0.
    let listener = h.lab.in_site(1, || TcpListener::bind((h.overlay(1), 873))).unwrap().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        std::io::copy(&mut c, &mut std::io::sink()).unwrap()
    });
    let dst = SocketAddr::from((h.overlay(1), 873));
    let mut tcp = h
        .lab
        .in_site(0, || TcpStream::connect_timeout(&dst, Duration::from_secs(5)))
        .unwrap()
        .unwrap();
    tcp.write_all(&vec![7u8; 2 << 20]).unwrap();
    drop(tcp);
    assert_eq!(sink.join().unwrap(), 2 << 20);
    std::thread::sleep(Duration::from_millis(300));
    let end = h.try_status(0).unwrap();
    let (b0, b1) = (
        tx_by_uplink(&end).0 - tx_by_uplink(&after).0,
        tx_by_uplink(&end).1 - tx_by_uplink(&after).1,
    );
    eprintln!("bulk: tx delta u0 {b0} B, u1 {b1} B");
    assert!(b0 >= 2 << 20, "bulk did not go over u0: u0 +{b0}, u1 +{b1}");
    assert!(b1 < b0 / 10, "bulk leaked onto u1: u0 +{b0}, u1 +{b1}");

    // The vault: udp/9000 to b is dropped and counted by rule; udp/9001 passes.
    let denied_before = count(&end["policy"]["denied"], "vault-udp-9000");
    let blocked = Stream::start(&h, 0, 1, 9000, Duration::from_millis(10));
    let open = Stream::start(&h, 0, 1, 9001, Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(800));
    let ((bs, bgot), (os, ogot)) = (blocked.finish(), open.finish());
    std::thread::sleep(Duration::from_millis(300));
    let denied =
        count(&h.try_status(0).unwrap()["policy"]["denied"], "vault-udp-9000") - denied_before;
    eprintln!(
        "vault: {bs} sent, {} arrived, {denied} denied; open port {os} sent, {} arrived",
        bgot.len(),
        ogot.len()
    );
    assert!(bgot.is_empty(), "{} datagrams reached the denied port", bgot.len());
    assert!(denied >= bs - 1, "only {denied} of {bs} denied packets were counted");
    assert!(ogot.len() as u64 * 10 >= os * 9, "the open port lost traffic: {} of {os}", ogot.len());

    // Segmentation is stateful: b may start a flow from its port 9000 to a, and
    // a's replies (to b:9000, which the rule denies) pass as replies.
    let vault = h.udp_in(1, SocketAddr::from((h.overlay(1), 9000)));
    let client = h.udp_in(0, SocketAddr::from((h.overlay(0), 5555)));
    vault.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0u8; 64];
    let mut replies = 0;
    for _ in 0..5 {
        vault.send_to(b"hello", (h.overlay(0), 5555)).unwrap();
        if let Ok((_, from)) = client.recv_from(&mut buf) {
            client.send_to(b"reply", from).unwrap();
            if vault.recv(&mut buf).is_ok() {
                replies += 1;
            }
        }
    }
    assert!(replies >= 4, "only {replies} of 5 replies to a flow the vault started came back");
    // ...while a flow a starts to the same port stays denied.
    client.send_to(b"new", (h.overlay(1), 9000)).unwrap();
    let unsolicited = SocketAddr::from((h.overlay(0), 5556));
    let other = h.udp_in(0, unsolicited);
    other.send_to(b"new", (h.overlay(1), 9000)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut got_new = 0;
    while let Ok((n, from)) = vault.recv_from(&mut buf) {
        if from == unsolicited && &buf[..n] == b"new" {
            got_new += 1;
        }
    }
    assert_eq!(got_new, 0, "a flow a started to the denied port got through");
}

#[test]
fn a_policy_whose_tests_fail_is_refused_rollback_works_and_the_choice_survives_a_restart() {
    let mut h = Harness::new("refuse", 2, 1, "adaptive");
    let pid = h.start_agent(0);
    wait_for("the agent's API", Duration::from_secs(10), || h.try_status(0));
    let v1 = STEERING;
    let (code, body) = api(&h, 0, "POST", "/api/v1/policy", Some(v1), true);
    assert_eq!((code, body["version"].clone()), (200, Value::from(1)), "{body}");

    // Its test says the vault is closed, but a new allow at a lower number opens it.
    let broken = v1.replace(
        "[[test]]\nname = \"voip is realtime\"",
        "[[acl]]\nname = \"oops\"\naction = \"allow\"\npriority = 1\nto = \"10.77.0.0/16\"\n\n[[test]]\nname = \"voip is realtime\"",
    );
    let (code, body) = api(&h, 0, "POST", "/api/v1/policy", Some(&broken), true);
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["code"], "policy_tests_failed", "{body}");
    let failure = body["tests"].as_array().unwrap().iter().find(|t| t["passed"] == false).unwrap();
    assert!(failure["failure"].as_str().unwrap().contains("\"oops\""), "{failure}");
    let (_, running) = api(&h, 0, "GET", "/api/v1/policy", None, true);
    assert_eq!(running["version"], 1, "the refused policy must not run: {running}");

    // A syntax error names line and column.
    let (code, body) = api(
        &h,
        0,
        "POST",
        "/api/v1/policy",
        Some("[policy]\nname = \"x\"\ndefault = \"alow\"\n"),
        true,
    );
    assert_eq!((code, body["code"].as_str()), (422, Some("policy_invalid")), "{body}");
    assert!(body["findings"][0].as_str().unwrap().contains("candidate.toml:3:11"), "{body}");

    // Version 2, then back to 1.
    let v2 = v1.replace("name = \"steering\"", "name = \"steering-2\"");
    let (code, body) = api(&h, 0, "POST", "/api/v1/policy", Some(&v2), true);
    assert_eq!((code, body["version"].clone()), (200, Value::from(2)), "{body}");
    let (code, body) = api(&h, 0, "POST", "/api/v1/policy/rollback", None, true);
    assert_eq!((code, body["version"].clone()), (200, Value::from(1)), "{body}");
    let (_, running) = api(&h, 0, "GET", "/api/v1/policy", None, true);
    assert_eq!(
        (running["version"].clone(), running["name"].clone()),
        (Value::from(1), Value::from("steering"))
    );

    let (_, audit) = api(&h, 0, "GET", "/api/v1/audit", None, true);
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["policy.apply", "policy.refused", "policy.refused", "policy.apply", "policy.rollback"],
        "{audit}"
    );

    // kill -9 and restart: version 1 still runs.
    let killed =
        std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    h.lab.kill(pid);
    let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", h.sites[0].interface));
    std::thread::sleep(Duration::from_millis(200));
    h.start_agent(0);
    wait_for("the restarted agent", Duration::from_secs(10), || h.try_status(0));
    let (_, running) = api(&h, 0, "GET", "/api/v1/policy", None, true);
    assert_eq!(
        (running["version"].clone(), running["name"].clone()),
        (Value::from(1), Value::from("steering"))
    );
}
