//! The operator API against running agents: every endpoint over the unix
//! socket and over TCP with scoped tokens, 401/403 with audit records, ETags,
//! pagination past 500 records, the event stream resumed by last id (SSE and
//! WebSocket), and `kill -9` during writes losing nothing acknowledged.

pub(crate) mod client;
mod log;

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use weft_lab::Impairment;

use crate::support::{Harness, wait_for};
use client::{Reply, sse_ids, websocket_events};

/// Waits until every path of site `i` is up; returns the path ids.
fn paths_up(h: &Harness, i: usize, n: usize) -> Vec<u64> {
    wait_for(&format!("{n} paths up in site {i}"), Duration::from_secs(20), || {
        let page = h.get(i, "/api/v1/paths")?;
        let items = page["items"].as_array()?;
        (items.len() == n && items.iter().all(|p| p["state"] == "up"))
            .then(|| items.iter().filter_map(|p| p["id"].as_u64()).collect())
    })
}

fn token(h: &Harness, name: &str, scope: &str) -> String {
    let body = format!("{{\"name\":\"{name}\",\"scope\":\"{scope}\"}}");
    let r = client::local(h, 0, "POST", "/api/v1/tokens", Some(&body), &[]);
    assert_eq!(r.code, 201, "creating token {name}: {}", r.text);
    r.json()["secret"].as_str().expect("secret").to_owned()
}

#[test]
fn every_endpoint_answers_with_the_scopes_it_needs_and_refusals_are_audited() {
    let mut h = Harness::new("api", 2, 2, "adaptive");
    h.start_agent(0);
    h.start_agent(1);
    let ids = paths_up(&h, 0, 4);
    h.wait_ping(0, h.overlay(1), Duration::from_secs(10));
    let local = |m: &str, p: &str, b: Option<&str>| client::local(&h, 0, m, p, b, &[]);

    // State, over the socket (the local admin).
    let status = local("GET", "/api/v1/status", None).ok();
    assert_eq!((status["site"].as_str(), status["sites"].as_u64()), (Some("a"), Some(1)));
    assert_eq!(status["paths_up"], 4, "{status}");
    let sites = local("GET", "/api/v1/sites", None).ok();
    let states: Vec<(&str, &str)> = sites["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("a", "local"), ("b", "up")]);
    assert_eq!(local("GET", "/api/v1/sites/b", None).ok()["paths_up"], 4);
    assert_eq!(local("GET", "/api/v1/sites/nope", None).error(404), "not_found");
    // The status is republished every 200 ms: the handshake shows within that.
    wait_for("the handshake in /api/v1/peers", Duration::from_secs(2), || {
        let peers = local("GET", "/api/v1/peers", None).ok();
        (peers["items"][0]["handshakes"].as_u64()? >= 1
            && peers["items"][0]["tx_bytes"].as_u64()? > 0)
            .then_some(())
    });
    let id = ids[0];
    let path = local("GET", &format!("/api/v1/paths/{id}"), None).ok();
    assert_eq!((path["site"].as_str(), path["state"].as_str()), (Some("b"), Some("up")));
    assert_eq!(local("GET", "/api/v1/paths?site=b&state=down", None).ok()["total"], 0);
    assert_eq!(local("GET", "/api/v1/paths/999999", None).error(404), "not_found");
    assert_eq!(local("GET", "/api/v1/paths?colour=red", None).error(400), "bad_request");
    // The recorder stores a sample of every path 2 s after start, then every 10 s.
    let sample = wait_for("a stored sample of the path while up", Duration::from_secs(15), || {
        let history = local("GET", &format!("/api/v1/paths/{id}/metrics"), None).ok();
        history.as_array()?.last().filter(|p| p["up_ratio"] == 1.0).cloned()
    });
    assert!(sample["rtt_ms"].as_f64().is_some_and(|r| r > 0.0), "{sample}");
    assert!(sample["resolution_s"].as_u64().is_some_and(|r| (1..=11).contains(&r)), "{sample}");
    let test = local("POST", &format!("/api/v1/paths/{id}/test"), Some("{\"probes\":5}")).ok();
    assert_eq!((test["sent"].as_u64(), test["received"].as_u64()), (Some(5), Some(5)), "{test}");
    assert!(test["rtt_avg_ms"].as_f64().unwrap() > 0.0, "{test}");
    assert_eq!(
        local("POST", &format!("/api/v1/paths/{id}/test"), Some("{\"probes\":0}")).error(400),
        "bad_request"
    );
    let array = local("POST", &format!("/api/v1/paths/{id}/test"), Some("[]"));
    assert_eq!(array.error(400), "bad_request", "a body must be an object");

    // A flow: a ping from a to b shows as an allowed ICMP flow to b on a path.
    let b = h.overlay(1).to_string();
    let flow = wait_for("the ping's flow", Duration::from_secs(5), || {
        assert_eq!(h.ping(0, h.overlay(1), 1), 1);
        let page = local("GET", "/api/v1/flows?site=b", None).ok();
        page["items"]
            .as_array()?
            .iter()
            .find(|f| f["dst"] == b.as_str() && f["direction"] == "out")
            .cloned()
    });
    assert_eq!(
        (flow["verdict"].as_str(), flow["protocol"].as_str()),
        (Some("allow"), Some("icmp")),
        "{flow}"
    );
    assert!(flow["path"].is_u64(), "{flow}");
    let fid = flow["id"].as_str().unwrap();
    assert_eq!(
        local("GET", &format!("/api/v1/flows/{}", client::encode(fid)), None).ok()["id"],
        fid
    );
    let routes = local("GET", "/api/v1/routes", None).ok();
    assert_eq!(routes["items"][0]["site"], "b", "{routes}");
    let topo = local("GET", "/api/v1/topology", None).ok();
    assert_eq!(
        (topo["nodes"].as_array().unwrap().len(), topo["edges"].as_array().unwrap().len()),
        (2, 4)
    );
    let why = local(
        "GET",
        &format!("/api/v1/explain?proto=udp&src={}&dst={b}&dport=5060", h.overlay(0)),
        None,
    )
    .ok();
    assert_eq!(
        (why["verdict"].as_str(), why["site"].as_str()),
        (Some("allow"), Some("b")),
        "{why}"
    );
    assert_eq!(why["candidates"].as_array().unwrap().len(), 4, "{why}");
    assert!(why["chosen"].is_u64() && !why["summary"].as_str().unwrap().is_empty(), "{why}");
    let events = local("GET", "/api/v1/events/history", None).ok();
    let kinds: Vec<&str> =
        events["items"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in ["agent_started", "policy_applied", "path_up", "site_joined"] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    assert!(local("GET", "/api/v1/policy", None).ok()["name"].is_string());
    assert!(local("GET", "/api/v1/policy/versions", None).ok()["versions"].is_array());
    let doc = local("GET", "/api/v1/openapi.json", None).ok();
    assert!(doc["paths"]["/api/v1/paths/{id}/test"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/ddos"]["get"].is_object());
    let ddos = local("GET", "/api/v1/ddos", None).ok();
    let reasons: Vec<&str> =
        ddos["dropped"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(reasons, ["junk", "bad_mac1", "rate_source", "cookie_required"], "{ddos}");
    assert!(ddos["destinations"].is_array() && ddos.get("mitigation").is_none(), "{ddos}");
    let bgp = local("GET", "/api/v1/bgp", None).ok();
    assert_eq!(bgp["enabled"], false, "no [bgp]: {bgp}");
    assert!(doc["paths"]["/api/v1/bgp"]["get"].is_object());
    let metrics = local("GET", "/metrics", None);
    assert_eq!(metrics.code, 200);
    for family in
        ["weft_path_rtt_seconds_bucket", "weft_path_loss_ratio", "weft_tunnel_handshakes_total"]
    {
        assert!(metrics.text.contains(family), "no {family} in /metrics");
    }
    assert_eq!(local("GET", "/api/v1/nothing", None).error(404), "not_found");
    // The request bounds, on the agent's own router (api::bounds).
    let long = "a".repeat(300);
    assert_eq!(local("GET", &format!("/api/v1/sites/{long}"), None).error(400), "bad_request");
    let query = "b".repeat(5000);
    assert_eq!(local("GET", &format!("/api/v1/sites?q={query}"), None).error(414), "uri_too_long");
    let big = "v".repeat(20_000);
    let r = client::local(&h, 0, "GET", "/api/v1/status", None, &[("X-Big", &big)]);
    assert_eq!(r.error(431), "headers_too_large");
    let huge = u64::MAX;
    for bad in [
        format!("/api/v1/events/history?after={huge}"),
        "/api/v1/audit?cursor=99999999999999999999".to_owned(),
        format!("/api/v1/tokens?cursor={huge}"),
    ] {
        assert_eq!(local("GET", &bad, None).error(400), "bad_request", "{bad}");
    }
    assert_eq!(local("DELETE", &format!("/api/v1/tokens/{huge}"), None).error(404), "not_found");
    let too_big = "x".repeat(5 << 20);
    assert_eq!(local("POST", "/api/v1/policy/check", Some(&too_big)).error(413), "too_large");
    assert_eq!(local("PUT", "/api/v1/paths", None).error(405), "method_not_allowed");

    // Over TCP: tokens and scopes.
    let read = token(&h, "grafana", "read");
    let dup = client::local(
        &h,
        0,
        "POST",
        "/api/v1/tokens",
        Some("{\"name\":\"grafana\",\"scope\":\"admin\"}"),
        &[],
    );
    assert_eq!(dup.error(409), "conflict", "token names are unique");
    let operate = token(&h, "noc", "operate");
    let tcp = |m: &str, p: &str, t: Option<&str>| client::tcp(&h, 0, m, p, None, t);
    assert_eq!(tcp("GET", "/api/v1/health", None).code, 200, "health needs no token");
    assert_eq!(tcp("GET", "/api/v1/paths", None).error(401), "unauthorized");
    assert_eq!(tcp("GET", "/api/v1/paths", Some("weft_not_a_token")).error(401), "unauthorized");
    assert_eq!(tcp("GET", "/api/v1/paths", Some(&read)).ok()["total"], 4);
    assert_eq!(tcp("GET", "/metrics", Some(&read)).code, 200);
    let test_path = format!("/api/v1/paths/{id}/test");
    assert_eq!(tcp("POST", &test_path, Some(&read)).error(403), "forbidden");
    assert_eq!(tcp("POST", &test_path, Some(&operate)).ok()["sent"], 10);
    assert_eq!(tcp("POST", "/api/v1/policy/rollback", Some(&operate)).error(403), "forbidden");
    assert_eq!(tcp("GET", "/api/v1/tokens", Some(&operate)).error(403), "forbidden");
    assert_eq!(tcp("POST", "/api/v1/policy", None).error(401), "unauthorized");
    // Any token is an HTTP method; the request counter does not grow a label per one.
    let _ = tcp("A0001", "/api/v1/paths", Some(&read));
    let counted = wait_for(
        "the request counted (metrics are republished every 200 ms)",
        Duration::from_secs(2),
        || {
            let t = local("GET", "/metrics", None).text;
            t.contains("method=\"other\"").then_some(t)
        },
    );
    assert!(!counted.contains("A0001"), "custom methods are labelled other");
    let audit = local("GET", "/api/v1/audit?limit=1000", None).ok();
    let records = audit["items"].as_array().unwrap();
    let denied: Vec<&Value> = records.iter().filter(|r| r["action"] == "denied").collect();
    assert_eq!(denied.len(), 4, "every 403 is audited (the custom method needs admin): {audit}");
    assert!(denied[0]["who"].as_str().unwrap().starts_with("token:grafana"), "{}", denied[0]);
    assert_eq!(denied[0]["target"], format!("POST {test_path}"));
    assert!(records.iter().any(|r| r["action"] == "unauthorized"), "a 401 write is audited");
    assert!(records.iter().any(|r| r["action"] == "token.create"));
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "path.test"
                && r["who"].as_str().unwrap().starts_with("token:noc"))
    );

    // A revoked token stops working at once.
    let tokens = local("GET", "/api/v1/tokens", None).ok();
    let grafana =
        tokens["items"].as_array().unwrap().iter().find(|t| t["name"] == "grafana").unwrap()["id"]
            .as_u64()
            .unwrap();
    assert_eq!(local("DELETE", &format!("/api/v1/tokens/{grafana}"), None).code, 200);
    assert_eq!(tcp("GET", "/api/v1/paths", Some(&read)).error(401), "unauthorized");

    // ETag: unchanged state answers 304; a change gives a new tag.
    let first = local("GET", "/api/v1/routes", None);
    let tag = first.header("etag").expect("an ETag on GET");
    let again = client::local(&h, 0, "GET", "/api/v1/routes", None, &[("If-None-Match", &tag)]);
    assert_eq!((again.code, again.text.as_str()), (304, ""), "unchanged routes answer 304");
    let policy_tag = local("GET", "/api/v1/policy", None).header("etag").unwrap();
    let p =
        local("POST", "/api/v1/policy", Some("[policy]\nname = \"open\"\ndefault = \"allow\"\n"));
    assert_eq!(p.code, 200, "{}", p.text);
    let changed =
        client::local(&h, 0, "GET", "/api/v1/policy", None, &[("If-None-Match", &policy_tag)]);
    assert_eq!(changed.code, 200, "a new policy changes the tag");

    // Removing a site stops traffic both ways, probes included; restoring brings it back.
    let removed = local("DELETE", "/api/v1/sites/b", None).ok();
    assert_eq!(removed["state"], "removed");
    assert_eq!(h.ping(0, h.overlay(1), 2), 0, "a removed site gets no traffic");
    assert_eq!(h.ping(1, h.overlay(0), 2), 0, "nor is any accepted from it");
    assert_eq!(
        local("POST", &test_path, None).error(409),
        "conflict",
        "no tests to a removed site"
    );
    wait_for(
        "the removed site's paths down (its probes are dropped)",
        Duration::from_secs(10),
        || {
            let page = local("GET", "/api/v1/paths?site=b&state=down", None).ok();
            (page["total"] == 4).then_some(())
        },
    );
    assert_eq!(
        local("POST", "/api/v1/sites/b/restore", None).ok()["state"]
            .as_str()
            .map(|s| s != "removed"),
        Some(true)
    );
    h.wait_ping(0, h.overlay(1), Duration::from_secs(10));
    assert_eq!(local("DELETE", "/api/v1/sites/a", None).error(409), "conflict");
}

#[test]
fn the_event_stream_resumes_after_the_last_event_id_without_gaps_or_repeats() {
    let mut h = Harness::new("events", 2, 2, "adaptive");
    h.start_agent(0);
    h.start_agent(1);
    paths_up(&h, 0, 4);
    // Everything so far, then a path going down while nobody listens.
    let first = sse_ids(&h, 0, "/api/v1/events?after=0", &[], Duration::from_secs(2));
    assert!(first.len() >= 4, "startup events: {first:?}");
    assert!(first.windows(2).all(|w| w[1] == w[0] + 1), "ids are consecutive: {first:?}");
    let last = *first.last().unwrap();
    h.lab.set_link(0, 0, Impairment::down()).unwrap();
    wait_for("a path_down event", Duration::from_secs(10), || {
        let page = h.get(0, &format!("/api/v1/events/history?after={last}"))?;
        page["items"].as_array()?.iter().any(|e| e["kind"] == "path_down").then_some(())
    });
    // Reconnect with Last-Event-ID: exactly the missed events, in order.
    let header = last.to_string();
    let resumed =
        sse_ids(&h, 0, "/api/v1/events", &[("Last-Event-ID", &header)], Duration::from_secs(2));
    assert_eq!(resumed.first(), Some(&(last + 1)), "resumes right after {last}: {resumed:?}");
    assert!(resumed.windows(2).all(|w| w[1] == w[0] + 1), "{resumed:?}");
    // The WebSocket gives the same events.
    let ws = websocket_events(&h, 0, &format!("/api/v1/events/ws?after={last}"), resumed.len());
    let ws_ids: Vec<u64> = ws.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert_eq!(ws_ids, resumed, "WebSocket and SSE agree");
    assert!(ws.iter().any(|e| e["kind"] == "path_down" && e["site"] == "b"), "{ws:?}");
}

#[test]
fn pagination_returns_each_of_more_than_500_records_once_and_acknowledged_writes_survive_kill_9() {
    let mut h = Harness::new("durable", 2, 1, "adaptive");
    let pid = h.start_agent(0);
    wait_for("the agent's API", Duration::from_secs(10), || h.get(0, "/api/v1/status"));
    // 520 tokens (each an acknowledged, synced write with its audit record).
    let socket = h.socket(0);
    let names: Vec<String> = (0..520).map(|i| format!("t{i:04}")).collect();
    let created = client::create_tokens(&socket, &names);
    assert_eq!(created, names.len());
    for list in ["/api/v1/tokens", "/api/v1/audit"] {
        let mut seen = Vec::new();
        let mut path = format!("{list}?limit=100");
        loop {
            let page = h.get(0, &path).expect(list);
            seen.extend(
                page["items"].as_array().unwrap().iter().map(|x| x["id"].as_u64().unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("{list}?limit=100&cursor={c}"),
                None => break,
            }
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, seen, "{list}: every id once, in order");
        let total = h.get(0, &format!("{list}?limit=1")).unwrap()["total"].as_u64().unwrap();
        assert_eq!(seen.len() as u64, total, "{list}: the pages hold every record");
        assert!(total >= 520, "{list}: {total} records");
    }

    // Writes in flight when the agent is killed: every acknowledged one stays.
    let writer = {
        let socket = socket.clone();
        std::thread::spawn(move || client::create_tokens_until_error(&socket, "k"))
    };
    std::thread::sleep(Duration::from_millis(700));
    let killed =
        std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let acknowledged = writer.join().unwrap();
    assert!(acknowledged.len() > 5, "the writer got {} acknowledgements", acknowledged.len());
    h.lab.kill(pid);
    let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", h.sites[0].interface));
    // Rotating the admin token: delete the file; the restart makes a new one.
    let token_file = h.sites[0].state_dir.join("api.token");
    let old_secret = std::fs::read_to_string(&token_file).unwrap();
    std::fs::remove_file(&token_file).unwrap();
    h.start_agent(0);
    wait_for("the restarted agent", Duration::from_secs(10), || h.get(0, "/api/v1/status"));
    let new_secret = std::fs::read_to_string(&token_file).unwrap();
    assert_ne!(old_secret, new_secret);
    assert_eq!(
        client::tcp(&h, 0, "GET", "/api/v1/status", None, Some(new_secret.trim())).code,
        200
    );
    assert_eq!(
        client::tcp(&h, 0, "GET", "/api/v1/status", None, Some(old_secret.trim())).code,
        401
    );
    let mut have: Vec<String> = Vec::new();
    let mut path = "/api/v1/tokens?limit=1000".to_owned();
    loop {
        let page = h.get(0, &path).unwrap();
        let names = page["items"].as_array().unwrap().iter();
        have.extend(names.filter_map(|t| t["name"].as_str().map(str::to_owned)));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/tokens?limit=1000&cursor={c}"),
            None => break,
        }
    }
    let lost: Vec<&String> = acknowledged.iter().filter(|n| !have.contains(n)).collect();
    assert!(lost.is_empty(), "acknowledged tokens lost by kill -9: {lost:?}");
    assert!(names.iter().all(|n| have.contains(n)));
    let audit = h.get(0, "/api/v1/audit?limit=1000&cursor=500").unwrap();
    let total = audit["total"].as_u64().unwrap();
    assert!(total >= (520 + acknowledged.len()) as u64, "audit records survive: {total}");
}

#[test]
fn with_a_certificate_the_tcp_api_speaks_https_only() {
    let mut h = Harness::new("tls", 2, 1, "adaptive");
    let (cert, key) = (h.dir.join("api.crt"), h.dir.join("api.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/CN=weft-api", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let config = h.sites[0].config.clone();
    let mut text = std::fs::read_to_string(&config).unwrap();
    let _ = write!(
        text,
        "\n[api]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    std::fs::write(&config, text).unwrap();
    h.start_agent(0);
    wait_for("the agent's API", Duration::from_secs(10), || h.get(0, "/api/v1/status"));
    let curl = |args: &[&str]| {
        let mut argv =
            vec!["curl", "-s", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}"];
        argv.extend_from_slice(args);
        h.lab.exec(0, &argv).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap()
    };
    let ca = cert.to_str().unwrap();
    assert_eq!(curl(&["--cacert", ca, "https://127.0.0.1:7420/api/v1/health"]), "200");
    assert_eq!(
        curl(&["--cacert", ca, "https://127.0.0.1:7420/api/v1/paths"]),
        "401",
        "HTTPS still needs a token"
    );
    assert_eq!(
        curl(&["https://127.0.0.1:7420/api/v1/health"]),
        "000",
        "an unknown CA is refused by the client"
    );
    assert_eq!(
        curl(&["http://127.0.0.1:7420/api/v1/health"]),
        "000",
        "no plain HTTP on a TLS listener"
    );
}

impl Reply {
    fn ok(&self) -> Value {
        assert_eq!(self.code, 200, "expected 200, got {}: {}", self.code, self.text);
        self.json()
    }

    fn error(&self, code: u16) -> String {
        assert_eq!(self.code, code, "expected {code}, got {}: {}", self.code, self.text);
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}
