//! The flood defence in a running agent: a flood of spoofed handshake
//! initiations (`weft-flood-gen` in the lab's internet namespace) is limited
//! before any crypto, detected, and its sources end up in the agent's
//! nftables set, audited, while the tunnel keeps working. A flood from one
//! site toward another site's prefix, through the tunnel, is detected on
//! that prefix and its inner sources end up in the set of the overlay
//! interface.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Harness, wait_for};

/// The flood labs run one at a time: each floods at thousands of packets a
/// second, and two at once on two cores starve each other's agents.
static ONE_FLOOD_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_flood_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_FLOOD_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn dropped(d: &Value, reason: &str) -> u64 {
    d["dropped"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == reason))
        .and_then(|c| c["count"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_spoofed_handshake_flood_is_limited_detected_and_dropped_in_nftables() {
    let _one = one_flood_at_a_time();
    let mut h = Harness::new("flood", 2, 1, "adaptive");
    let config = h.sites[0].config.clone();
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str(
        "\n[flood]\nhandshakes = 50\nburst = 50\nmitigate = true\nnft_table = \"weft_test\"\n\
         detect_min_pps = 2000\nmin_source_pps = 20\n",
    );
    std::fs::write(&config, text).expect("write config");
    h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(20));
    // Let the baselines warm up on quiet traffic.
    std::thread::sleep(Duration::from_secs(6));

    let a_addr = h.lab.addr(0, 0).expect("a's uplink");
    let public = h.sites[0].public_key.to_base64();
    let _flood = Guard(
        Command::new("ip")
            .args(["netns", "exec", h.lab.inet_netns(), env!("CARGO_BIN_EXE_weft-flood-gen")])
            .args(["--dst", &format!("{a_addr}:51820"), "--pubkey", &public])
            .args(["--pps", "20000", "--secs", "8", "--sources", "64"])
            .spawn()
            .expect("start weft-flood-gen"),
    );

    let ddos = wait_for("the flood to be blocked in nftables", Duration::from_secs(15), || {
        let d = h.get(0, "/api/v1/ddos")?;
        let m = &d["mitigation"];
        let blocked = m["blocked"].as_array().map_or(0, Vec::len);
        (blocked > 0 && m["dropped_packets"].as_u64() > Some(0)).then_some(d)
    });
    eprintln!("ddos status under flood: {ddos}");
    assert!(dropped(&ddos, "rate_source") > 0, "per-source limit: {ddos}");
    assert!(dropped(&ddos, "cookie_required") > 0, "site limit and cookies: {ddos}");
    assert!(ddos["cookie_replies"].as_u64() > Some(0), "{ddos}");
    let detections = ddos["detections"].as_array().expect("detections");
    assert!(
        detections.iter().any(|d| d["dest"].as_str().is_some_and(|s| s.ends_with("/unauth"))),
        "{ddos}"
    );
    let blocked = ddos["mitigation"]["blocked"].as_array().expect("blocked");
    assert!(
        blocked.iter().all(|b| b["addr"].as_str().is_some_and(|a| a.starts_with("100.64.0."))),
        "only spoofed sources are blocked, never the peer: {ddos}"
    );
    // The tunnel works through the flood, and the peer was never blocked.
    assert_eq!(h.ping(1, h.overlay(0), 3), 3, "ping b -> a under the flood");
    let actions = h.audit_actions(0);
    assert!(actions.iter().any(|a| a == "flood.block"), "{actions:?}");
    let events = h.get(0, "/api/v1/events/history").expect("events");
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"flood_detected"), "{kinds:?}");
    let text = h.metrics_text(0);
    for line in ["weft_flood_dropped_total{reason=\"rate_source\"}", "weft_flood_nft_set_elements"]
    {
        assert!(text.contains(line), "no {line} in /metrics");
    }
}

#[test]
fn a_flood_through_the_tunnel_toward_a_prefix_is_detected_and_its_inner_sources_dropped() {
    let _one = one_flood_at_a_time();
    let mut h = Harness::new("pflood", 2, 1, "adaptive");
    let config = h.sites[0].config.clone();
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str(
        "\n[flood]\nmitigate = true\nnft_table = \"weft_ptest\"\nprefix_min_pps = 1000\n\
         min_source_pps = 20\n",
    );
    std::fs::write(&config, text).expect("write config");
    h.start_agent(0);
    h.start_agent(1);
    h.wait_ping(1, h.overlay(0), Duration::from_secs(20));
    // Let the baselines warm up on quiet traffic.
    std::thread::sleep(Duration::from_secs(6));

    // From b's namespace, UDP to a's overlay address from 8 addresses of
    // b's prefix (raw socket): b's agent encrypts them like any packet of
    // b's, a's decrypts them and counts them toward its prefix.
    let a_prefix = "prefix:10.77.1.0/24"; // the lab's prefix of site a
    let dst = format!("{}:9", h.overlay(0));
    let public = h.sites[0].public_key.to_base64();
    let mut flood = h.lab.command(1, env!("CARGO_BIN_EXE_weft-flood-gen")).expect("in b");
    flood.args(["--dst", &dst, "--pubkey", &public, "--pps", "4000", "--secs", "10"]).args([
        "--sources",
        "8",
        "--source-base",
        "10.77.2.100",
    ]);
    let _flood = Guard(flood.spawn().expect("start weft-flood-gen"));

    let ddos = wait_for("the inner sources in nftables", Duration::from_secs(15), || {
        let d = h.get(0, "/api/v1/ddos")?;
        let blocked = d["mitigation"]["blocked"].as_array()?;
        let inner = blocked
            .iter()
            .filter(|b| b["addr"].as_str().is_some_and(|a| a.starts_with("10.77.2.1")))
            .count();
        (inner == 8).then_some(d)
    });
    eprintln!("ddos status under the inner flood: {ddos}");
    let detections = ddos["detections"].as_array().expect("detections");
    let on_prefix = detections.iter().find(|d| d["dest"] == a_prefix);
    assert!(on_prefix.is_some_and(|d| d["sources_blocked"].as_u64() >= Some(8)), "{ddos}");
    let dests = ddos["destinations"].as_array().expect("destinations");
    let rate = dests.iter().find(|d| d["dest"] == a_prefix).expect("the prefix's rate");
    assert!(rate["baseline_pps"].as_f64() < Some(100.0), "the flood is not learnt: {rate}");
    // The set on the overlay interface holds them; b's own address, which
    // sent only pings, is not there.
    let set = h
        .lab
        .command(0, "nft")
        .expect("in a")
        .args(["list", "set", "inet", "weft_ptest", "inner_v4"])
        .output()
        .expect("nft list set");
    let set = String::from_utf8_lossy(&set.stdout);
    assert!(set.contains("10.77.2.100") && set.contains("10.77.2.107"), "{set}");
    assert!(!set.contains("10.77.2.1 ") && !set.contains("10.77.2.1,"), "{set}");
    wait_for("nftables dropping the inner flood", Duration::from_secs(5), || {
        let d = h.get(0, "/api/v1/ddos")?;
        (d["mitigation"]["dropped_packets"].as_u64() > Some(0)).then_some(())
    });
    assert_eq!(h.ping(1, h.overlay(0), 3), 3, "b's own address still reaches a");
    let actions = h.audit_actions(0);
    assert!(actions.iter().any(|a| a == "flood.block"), "{actions:?}");
    let events = h.get(0, "/api/v1/events/history").expect("events");
    let texts: Vec<&str> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "flood_detected")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains(a_prefix)), "{texts:?}");
    let text = h.metrics_text(0);
    let line = format!("weft_flood_detections_total{{dest=\"{a_prefix}\"}} ");
    assert!(
        text.lines().any(|l| l.starts_with(&line) && !l.ends_with(" 0")),
        "no {line}N (N > 0) in /metrics"
    );
}

/// Stops the generator when the test ends, panicking or not.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
